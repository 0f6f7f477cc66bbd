//! The run controller: everything a profiling run does, on its own thread,
//! producing a [`RunRecord`] even when it fails part-way.
//!
//! - `record`: the record types and how measurements become parts of them.
//! - `controller`: [`RunHandle`], [`RunStopper`] and the `wb-run` thread,
//!   written as phase functions that return `Result`.
//! - `load_phase`: the warm-up and the measured load, with their threads.
//! - `profile_pass`: the separate per-layer profiling pass.
//! - `gpu_time`: CUPTI kernel time joined to the profile's nodes.
//! - `metrics_url`: the `--metrics-url` scraper of a run.
//! - `verdict`: the saturation watch, early stopping, the live and final
//!   validity verdicts and the generator's own cost.
//! - `pass_outputs`: what ONNX Runtime writes beside the profile (the optimized
//!   model, tying nodes to the model file; per-node memory).

mod controller;
mod generation_phase;
mod gpu_time;
mod load_phase;
mod metrics_url;
mod pass_outputs;
mod profile_pass;
mod record;
mod remote_phase;
mod verdict;

pub use controller::{RunHandle, RunStopper, RunWatch};
pub use record::{
    BatchingReport, EncodedHistogram, ModelInfo, RunRecord, RunStatus, StartupTimings, StopReason,
    TraceData,
};

use std::sync::{Arc, Mutex, atomic::AtomicBool};

use ort::session::RunOptions;

use super::{EngineError, binding::BindingError};

/// Shared between the handle and the controller thread (and the phases it
/// runs): how a stop reaches a run in flight.
#[derive(Default)]
struct Control {
    /// Set by [`RunStopper::stop`].
    user_stop: AtomicBool,
    /// The run options of the load, so a stop can abort in-flight runs.
    terminator: Mutex<Option<Arc<RunOptions>>>,
}

/// Why a run failed. Whatever was measured before is kept in the record.
#[derive(Debug, thiserror::Error)]
enum RunError {
    #[error(transparent)]
    Engine(#[from] EngineError),
    #[error("ONNX Runtime could not create a session for this model: no session was created")]
    NoSession,
    #[error("ONNX Runtime could not create a session for this model: I/O binding failed: {0}")]
    Binding(#[source] BindingError),
    #[error("cannot create run options: {0}")]
    RunOptions(#[source] ort::Error),
    #[error("could not start every worker thread: {0}")]
    WorkerSpawn(#[source] std::io::Error),
    #[error("a load worker panicked: {}", .0.join("; "))]
    WorkerPanicked(Vec<String>),
    #[error("the metrics aggregator failed; no metrics were kept")]
    AggregatorFailed,
    #[error(transparent)]
    Remote(#[from] crate::engine::remote::RemoteError),
}
