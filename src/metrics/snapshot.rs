//! What readers see of a run while it goes: where it is, and an immutable
//! snapshot published at a fixed interval.

use std::time::Duration;

use serde::{Deserialize, Serialize};

use super::{
    HistogramBucket, LatencySummary, generation, layers, slo,
    summary::{BatchSizeCount, ErrorSummary, WindowStats},
    validity,
};
use crate::telemetry::TelemetrySample;

/// How often snapshots are published.
pub const DEFAULT_PUBLISH_INTERVAL: Duration = Duration::from_millis(200);

/// Where a run is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum RunPhase {
    #[default]
    Starting,
    Warmup,
    Running,
    Draining,
    Profiling,
    Finished,
}

impl RunPhase {
    pub(crate) fn from_u8(value: u8) -> Self {
        match value {
            1 => Self::Warmup,
            2 => Self::Running,
            3 => Self::Draining,
            4 => Self::Profiling,
            5 => Self::Finished,
            _ => Self::Starting,
        }
    }

    pub(crate) fn as_u8(self) -> u8 {
        match self {
            Self::Starting => 0,
            Self::Warmup => 1,
            Self::Running => 2,
            Self::Draining => 3,
            Self::Profiling => 4,
            Self::Finished => 5,
        }
    }
}

impl std::fmt::Display for RunPhase {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Self::Starting => "starting",
            Self::Warmup => "warm-up",
            Self::Running => "running",
            Self::Draining => "draining",
            Self::Profiling => "per-layer profiling",
            Self::Finished => "finished",
        })
    }
}

/// What readers see of a run, published at a fixed interval. Immutable.
#[derive(Debug, Clone, Default)]
pub struct Snapshot {
    pub phase: RunPhase,
    /// Since the load started (warm-up included).
    pub elapsed_secs: f64,
    /// Since the measurement started.
    pub measured_secs: f64,
    pub requests_ok: u64,
    pub requests_failed: u64,
    pub inferences: u64,
    /// Over the whole measured period.
    pub inferences_per_sec: f64,
    pub requests_per_sec: f64,
    pub latency: Option<LatencySummary>,
    pub queue: Option<LatencySummary>,
    pub service: Option<LatencySummary>,
    pub lateness: Option<LatencySummary>,
    /// Closed windows so far; shared between snapshots.
    pub windows: std::sync::Arc<Vec<WindowStats>>,
    /// Log-spaced latency histogram for plotting.
    pub histogram: Vec<HistogramBucket>,
    pub dropped_samples: u64,
    pub errors: ErrorSummary,
    pub telemetry: Option<TelemetrySample>,
    /// The latest GPU reading, when NVML sees a GPU.
    pub gpu: Option<crate::telemetry::GpuSample>,
    /// Per-layer timings so far (sampled profiling) or final (separate pass).
    pub layers: Option<std::sync::Arc<layers::LayerReport>>,
    /// Dynamic batching: executed batch sizes so far, smallest first.
    pub batch_sizes: Vec<BatchSizeCount>,
    /// The run's latency objective: requests over its bound so far.
    pub slo: Option<slo::SloProgress>,
    /// The validity verdict so far.
    pub validity: Option<std::sync::Arc<validity::Validity>>,
    /// Generative runs: TTFT, ITL and tokens per second so far (closed
    /// windows).
    pub generation: Option<std::sync::Arc<generation::GenerationSummary>>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn phases_round_trip_through_u8() {
        for phase in [
            RunPhase::Starting,
            RunPhase::Warmup,
            RunPhase::Running,
            RunPhase::Draining,
            RunPhase::Profiling,
            RunPhase::Finished,
        ] {
            assert_eq!(RunPhase::from_u8(phase.as_u8()), phase);
        }
    }
}
