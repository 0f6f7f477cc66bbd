//! Shared between a run's handle and its controller thread: how a stop
//! reaches a run in flight, and why a run failed.

use std::sync::{Arc, Mutex, atomic::AtomicBool};

use ort::session::RunOptions;

use crate::engine::{EngineError, binding::BindingError};

/// Shared between the handle and the controller thread (and the phases it
/// runs): how a stop reaches a run in flight.
#[derive(Default)]
pub(super) struct Control {
    /// Set by [`RunStopper::stop`].
    pub(super) user_stop: AtomicBool,
    /// The run options of the load, so a stop can abort in-flight runs.
    pub(super) terminator: Mutex<Option<Arc<RunOptions>>>,
}

/// Why a run failed. Whatever was measured before is kept in the record.
#[derive(Debug, thiserror::Error)]
pub(super) enum RunError {
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
