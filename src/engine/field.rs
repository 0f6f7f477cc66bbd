//! The settings of a run as the core names them in its errors. A core
//! error says which [`Field`] is wrong; each front end names the field its
//! own way: the CLI by its flag (`--max-batch`), the window by its label
//! ("Max batch"), a mix file by its key (`max_batch`, the default
//! rendering).

/// One setting of a [`ProfileConfig`](super::ProfileConfig).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Field {
    Concurrency,
    Rate,
    Instances,
    Batch,
    Dims,
    Inputs,
    Duration,
    Warmup,
    Confidence,
    ProfileRuns,
    ProfileEvery,
    IoBinding,
    CudaGraph,
    ExecutionProvider,
    MaxBatch,
    BatchDelay,
    PreferredBatch,
    Target,
    Generate,
    Transform,
}

impl Field {
    /// The key in a mix file, which is also the config's own name: the
    /// flag in snake_case.
    pub fn key(self) -> &'static str {
        match self {
            Self::Concurrency => "concurrency",
            Self::Rate => "rate",
            Self::Instances => "instances",
            Self::Batch => "batch",
            Self::Dims => "dims",
            Self::Inputs => "inputs",
            Self::Duration => "duration",
            Self::Warmup => "warmup",
            Self::Confidence => "confidence",
            Self::ProfileRuns => "profile_runs",
            Self::ProfileEvery => "profile_every",
            Self::IoBinding => "io_binding",
            Self::CudaGraph => "cuda_graph",
            Self::ExecutionProvider => "ep",
            Self::MaxBatch => "max_batch",
            Self::BatchDelay => "batch_delay",
            Self::PreferredBatch => "preferred_batch",
            Self::Target => "target",
            Self::Generate => "generate",
            Self::Transform => "precision/prune",
        }
    }
}

impl std::fmt::Display for Field {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.key())
    }
}
