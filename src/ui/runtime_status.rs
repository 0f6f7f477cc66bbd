//! What the window knows about ONNX Runtime and the machine, probed once at
//! start-up on a background task.

use crate::{engine::runtime::RuntimeError, telemetry::EnvironmentInfo};

/// What ONNX Runtime offers, found once at start-up.
#[derive(Debug, Clone)]
pub struct RuntimeStatus {
    /// The ONNX Runtime version.
    pub version: String,
    /// Where the library was found.
    pub source: String,
    /// The build has the CUDA execution provider.
    pub has_cuda: bool,
    /// The machine, for the GPU panel before any run has finished.
    pub environment: EnvironmentInfo,
}

impl RuntimeStatus {
    /// Finds ONNX Runtime and probes the machine (slow: run it in a background task).
    pub(super) fn probe() -> Result<Self, RuntimeError> {
        crate::engine::runtime::runtime().map(|runtime| Self {
            version: runtime.version.clone(),
            source: runtime.source.to_string(),
            has_cuda: {
                use ort::ep::ExecutionProvider as _;
                ort::ep::CUDA::is_available().unwrap_or(false)
            },
            environment: EnvironmentInfo::probe(),
        })
    }
}
