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
mod error;
pub mod generate;
pub mod headers;
pub mod inputs;
pub mod load;
pub mod model_ref;
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
pub use error::{EngineError, VerifyError, clean_ort_message};
pub use model_ref::ModelRef;
pub use run::{
    BatchingReport, EncodedHistogram, ModelInfo, RunHandle, RunRecord, RunStatus, RunStopper,
    RunWatch, StartupTimings, StopReason, TraceData,
};
