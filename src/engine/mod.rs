//! ONNX Runtime setup, sessions, inputs and the load generator.
//!
//! [`RunHandle::start`] is the one entry point for a profiling run: it returns
//! at once and does everything (model checks, session creation, warm-up, load,
//! per-layer profiling) on a named controller thread. Readers poll
//! [`RunHandle::snapshot`]; [`RunHandle::stop`] ends the load early and keeps
//! what was measured.

pub mod arrivals;
pub mod batcher;
pub mod binding;
pub mod budget;
pub mod config;
pub mod cuda_libs;
pub mod generate;
pub mod headers;
pub mod inputs;
pub mod load;
pub mod peaks;
pub mod remote;
mod run;
pub mod runtime;
pub mod session;
mod speed_check;
pub mod target;
pub mod verify;

pub use config::{
    Arrival, BatchingConfig, ConvAlgoSearch, CudaOptions, Dispatch, ExecutionProviderKind,
    InputFile, LayerProfiling, LoadMode, OptLevel, ProfileConfig,
};
pub use run::{
    BatchingReport, EncodedHistogram, ModelInfo, RunHandle, RunRecord, RunStatus, RunStopper,
    RunWatch, StartupTimings, StopReason, TraceData,
};

impl EngineError {
    /// A session error with no ONNX Runtime error behind it.
    pub fn session(message: impl Into<String>) -> Self {
        Self::Session {
            message: message.into(),
            source: None,
        }
    }
}

/// Why a run could not start or went wrong as a whole.
#[derive(Debug, thiserror::Error)]
pub enum EngineError {
    #[error(transparent)]
    Runtime(#[from] runtime::RuntimeError),
    #[error("invalid configuration: {0}")]
    Config(#[from] config::ConfigError),
    #[error(transparent)]
    Model(#[from] crate::model::ModelError),
    #[error("the model file {what} while the run was starting: {}; run again to use the new file", path.display())]
    ModelChanged {
        path: std::path::PathBuf,
        what: &'static str,
    },
    #[error("ONNX Runtime could not create a session for this model: {message}")]
    Session {
        /// ONNX Runtime's message, or what went wrong without one.
        message: String,
        #[source]
        source: Option<ort::Error>,
    },
    #[error(
        "the CUDA execution provider could not be registered: {reason}. \
         Choose the CPU with {}, or {} to run on the CPU with a warning.",
        crate::field::Field::ExecutionProvider,
        crate::field::Field::AllowFallback
    )]
    CudaUnavailable { reason: String },
    #[error(transparent)]
    Inputs(#[from] inputs::InputError),
    #[error("{generate}: {0}", generate = crate::field::Field::Generate)]
    Generation(String),
    #[error("transform failed: {0}")]
    Transform(#[from] verify::VerifyError),
    #[error(
        "the first inference failed, so the load was not started: {}",
        session::clean_ort_message(.0.message())
    )]
    FirstRun(#[source] ort::Error),
    #[error("could not start a thread: {0}")]
    Thread(#[source] std::io::Error),
    #[error("the run controller panicked: {0}")]
    Panicked(String),
}
