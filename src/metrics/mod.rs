//! From raw request samples to what users read: HDR percentiles, 1-second
//! windows, a stability verdict, and immutable [`Snapshot`]s published at a
//! fixed interval. Also per-layer timings parsed from ONNX Runtime profiles
//! ([`layers`]).
//!
//! Data flow: load workers `try_send` batches of [`Sample`]s into a bounded
//! channel; the aggregator thread drains it, and every
//! [`DEFAULT_PUBLISH_INTERVAL`] swaps a new `Arc<Snapshot>` into place. Readers
//! (the CLI progress line, the GUI) load the pointer and never block workers.

mod aggregator;
pub mod confidence;
pub mod generation;
pub mod gpu_attribution;
pub mod histogram;
pub mod intervals;
pub mod layers;
pub mod memory;
pub mod model_flops;
pub mod node_cost;
pub mod recorder;
pub mod repeats;
mod run_shared;
pub mod slo;
pub mod source_map;
pub mod source_view;
pub mod validity;

use std::time::Duration;

pub use aggregator::{Aggregator, AggregatorOutput, AggregatorSettings, WindowParts};
pub use histogram::{CompactHistogram, HistogramBucket, LatencyHistogram, LatencySummary};
pub use run_shared::RunShared;
use serde::{Deserialize, Serialize};

use crate::telemetry::TelemetrySample;

/// How often snapshots are published.
pub const DEFAULT_PUBLISH_INTERVAL: Duration = Duration::from_millis(200);
/// Width of a time-series window.
pub const WINDOW_NANOS: u64 = 1_000_000_000;
/// Windows kept in a time series (one hour of 1-second windows); older ones
/// are dropped and counted.
pub const MAX_WINDOWS: usize = 3600;
/// Request spans kept for the Chrome trace export.
pub const MAX_REQUEST_SPANS: usize = 10_000;
/// Error messages kept verbatim.
pub const MAX_ERROR_MESSAGES: usize = 10;
/// Full windows a run needs before its stability is judged.
pub const STABILITY_WINDOWS: usize = 3;

/// One finished request. Times are nanoseconds since the run's epoch.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Sample {
    /// When the request was meant to be sent: the schedule in open loop, the
    /// moment the client issued it in closed loop.
    pub scheduled_nanos: u64,
    /// When `Session::run` was called.
    pub start_nanos: u64,
    /// When `Session::run` returned.
    pub end_nanos: u64,
    pub worker: u16,
    pub is_ok: bool,
    /// Profiled with run-level profiling: counted in throughput, left out of
    /// latency percentiles.
    pub is_profiled: bool,
    /// Dynamic batching: rows of the executed batch this request ran in;
    /// 0 when requests run on their own.
    pub batch_rows: u32,
    /// The first request of its batch, so each batch is counted once.
    pub is_batch_lead: bool,
    /// Open loop: the generator's own delay, from when the request could
    /// go (its intended time, or when a worker became free for it if
    /// later) to when it went. Part of `start - scheduled`; the rest is
    /// queue.
    pub late_nanos: u32,
}

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

/// One 1-second window of the measured period.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct WindowStats {
    /// Start, in seconds since the measurement began.
    pub start_secs: f64,
    /// Usually 1; shorter for the last, partial window.
    pub duration_secs: f64,
    pub requests: u64,
    pub errors: u64,
    pub inferences: u64,
    pub inferences_per_sec: f64,
    pub requests_per_sec: f64,
    pub p50_micros: Option<f64>,
    /// End-to-end mean: what a server's per-request means compare with.
    #[serde(default)]
    pub mean_micros: Option<f64>,
    pub p95_micros: Option<f64>,
    pub p99_micros: Option<f64>,
    /// Open loop: time from the scheduled send to the start of the run.
    pub queue_p50_micros: Option<f64>,
    pub queue_p99_micros: Option<f64>,
    /// Time inside `Session::run`.
    pub service_p50_micros: Option<f64>,
    pub service_p99_micros: Option<f64>,
    /// Open loop: the generator's own send lateness.
    #[serde(default)]
    pub lateness_p50_micros: Option<f64>,
    #[serde(default)]
    pub lateness_p99_micros: Option<f64>,
    /// Process CPU at the end of the window (100 = one core).
    pub process_cpu_percent: Option<f64>,
    pub rss_bytes: Option<u64>,
    /// Dynamic batching: mean rows per executed batch in the window.
    #[serde(default)]
    pub mean_batch_size: Option<f64>,
    /// The window's end-to-end latency histogram, encoded as
    /// [`histogram::HISTOGRAM_ENCODING`] (a few hundred bytes), so windows of
    /// several sessions merge exactly; `None` when empty or older. Shared,
    /// not copied, when the run's history is copied for a snapshot: a
    /// window is never changed once closed.
    #[serde(default)]
    pub latency_histogram: Option<std::sync::Arc<str>>,
    /// Generative runs: time to first token and inter-token gaps (always
    /// written, so every row of `timeseries.csv` has the same columns).
    #[serde(default)]
    pub ttft_p50_micros: Option<f64>,
    #[serde(default)]
    pub ttft_p99_micros: Option<f64>,
    #[serde(default)]
    pub itl_p50_micros: Option<f64>,
    #[serde(default)]
    pub itl_p99_micros: Option<f64>,
    #[serde(default)]
    pub output_tokens_per_sec: Option<f64>,
    /// Generative runs: the most KV cache bytes the running sequences held
    /// together, sampled as each request of the window finished.
    #[serde(default)]
    pub kv_cache_bytes: Option<u64>,
}

/// Whether throughput settled.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case", tag = "verdict")]
pub enum Stability {
    Stable { spread: f64 },
    Unstable { spread: f64, reason: String },
    NotEnoughData { reason: String },
}

impl std::fmt::Display for Stability {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Stable { spread } => write!(
                f,
                "stable: the windows agree within their 95 % intervals and throughput does not drift (window throughputs within {:.1} %)",
                spread * 100.0
            ),
            Self::Unstable { reason, .. } => write!(f, "unstable: {reason}"),
            Self::NotEnoughData { reason } => write!(f, "not enough data: {reason}"),
        }
    }
}

/// Judges the full windows of a run (see [`intervals::stability_of`]),
/// decoding each window's latency histogram; p99 is the percentile judged.
pub fn stability(windows: &[WindowStats]) -> Stability {
    let histograms = intervals::window_histograms(windows);
    let refs: Vec<Option<&CompactHistogram>> = histograms.iter().map(Option::as_ref).collect();
    // Older sessions keep no window histograms: throughput alone is judged.
    let quantile = histograms.iter().any(Option::is_some).then_some(0.99);
    intervals::stability_of(windows, &refs, quantile)
}

/// Failed requests: a count and the first messages.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct ErrorSummary {
    /// Every failed request of the run, warm-up included (the summary's
    /// `requests_failed` counts the measured period only).
    pub count: u64,
    pub first_messages: Vec<String>,
}

/// A request, for the Chrome trace.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct RequestSpan {
    pub worker: u16,
    pub scheduled_micros: u64,
    pub start_micros: u64,
    pub end_micros: u64,
    pub is_ok: bool,
}

/// Totals of the measured period.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RunSummary {
    pub measured_secs: f64,
    pub requests_ok: u64,
    pub requests_failed: u64,
    pub inferences: u64,
    pub batch_size: u64,
    pub inferences_per_sec: f64,
    pub requests_per_sec: f64,
    /// End-to-end latency (from the scheduled time in open loop).
    pub latency: Option<LatencySummary>,
    /// Open loop: time waiting before the run started.
    pub queue: Option<LatencySummary>,
    /// Time inside `Session::run`.
    pub service: Option<LatencySummary>,
    /// Open loop: the generator's own send lateness (`None` in closed loop
    /// and with the dynamic batcher).
    #[serde(default)]
    pub lateness: Option<LatencySummary>,
    pub stability: Stability,
    /// Samples lost because the metrics channel was full.
    pub dropped_samples: u64,
    /// Requests profiled with run-level profiling (not in the percentiles).
    pub profiled_requests: u64,
    /// Requests that finished after the measured period ended.
    pub after_stop_requests: u64,
    /// Open loop: scheduled requests never started when the run ended.
    pub unsent_requests: u64,
    /// Windows dropped from the front of the time series.
    pub dropped_windows: u64,
    /// Open loop ended as saturated: the requests the workers completed
    /// per second while the backlog grew, an estimate of capacity.
    #[serde(default)]
    pub capacity_per_sec: Option<f64>,
    /// What the load generator itself did and cost.
    #[serde(default)]
    pub generator: Option<GeneratorReport>,
    /// The pass test of the run's latency objective, when it had one.
    #[serde(default)]
    pub slo: Option<SloOutcome>,
    /// How far the figures above can be trusted.
    #[serde(default)]
    pub validity: Option<validity::Validity>,
    /// `profile --repeat N`: the figures over all N runs of the config (set
    /// on the last run's summary).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub across_runs: Option<repeats::AcrossRuns>,
    /// Generative runs: TTFT, ITL, TPOT, tokens per second and goodput.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub generation: Option<generation::GenerationSummary>,
}

/// What the load generator did and what it cost.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct GeneratorReport {
    /// Open loop: the spin setting.
    pub spin: Option<String>,
    /// Open loop: share of the waits that spun their last stretch (the
    /// rest slept all the way).
    pub spun_share: Option<f64>,
    /// CPU the harness used per request: its own threads (aggregator,
    /// telemetry, controller) plus the workers' time outside the model's
    /// runs, in µs. Spinning before arrivals is counted apart.
    pub harness_cpu_micros_per_request: Option<f64>,
    /// Open loop: CPU spent spinning before arrivals, per request, in µs
    /// (on cores that were idle, with `spin auto`).
    #[serde(default)]
    pub spin_cpu_micros_per_request: Option<f64>,
    /// That CPU as a share of the process's CPU over the measured period.
    pub harness_cpu_share: Option<f64>,
    /// The process's CPU as a share of all the machine's cores.
    #[serde(default)]
    pub process_cores_share: Option<f64>,
    /// Cores the run's load threads kept busy over their lives (their
    /// thread CPU time over their wall time, warm-up included). With one
    /// intra-op thread and no inter-op pool ONNX Runtime runs the model on
    /// the load thread, so this is the run's whole CPU, and a mix splits
    /// the machine by entry with it; otherwise `None`: the pools' threads
    /// are ONNX Runtime's, not attributable to a run.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub load_thread_cores: Option<f64>,
}

/// The outcome of a run's latency objective.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SloOutcome {
    pub bound: slo::LatencyBound,
    pub decision: confidence::SloDecision,
    /// Confidence of the test.
    pub confidence: f64,
    pub requests: u64,
    pub over_bound: u64,
    /// Requests the test was worth after the autocorrelation correction.
    pub effective_requests: f64,
    /// Undecided: about how many more requests a decision needs.
    pub requests_needed: Option<u64>,
    /// The run stopped as soon as the decision was made.
    pub stopped_early: bool,
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

/// How many executed batches had `size` rows.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct BatchSizeCount {
    /// Rows of dim 0 in the batch.
    pub size: u32,
    /// Batches of that size.
    pub count: u64,
}

/// Mean rows per batch of a batch-size histogram; `None` when empty.
pub fn mean_batch_size(counts: &[BatchSizeCount]) -> Option<f64> {
    let batches: u64 = counts.iter().map(|entry| entry.count).sum();
    let rows: u64 = counts
        .iter()
        .map(|entry| u64::from(entry.size) * entry.count)
        .sum();
    (batches > 0).then(|| rows as f64 / batches as f64)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn window(rate: f64, duration_secs: f64) -> WindowStats {
        WindowStats {
            start_secs: 0.0,
            duration_secs,
            requests: rate as u64,
            inferences: rate as u64,
            inferences_per_sec: rate,
            requests_per_sec: rate,
            ..WindowStats::default()
        }
    }

    #[test]
    fn stability_needs_three_full_windows() {
        let windows = [window(100.0, 1.0), window(100.0, 1.0), window(100.0, 0.4)];
        assert!(matches!(
            stability(&windows),
            Stability::NotEnoughData { .. }
        ));
    }

    #[test]
    fn stability_flags_a_throughput_jump() {
        let stable = [
            window(1000.0, 1.0),
            window(1040.0, 1.0),
            window(1000.0, 1.0),
        ];
        let Stability::Stable { spread } = stability(&stable) else {
            panic!("expected stable")
        };
        assert!((spread - 40.0 / (3040.0 / 3.0)).abs() < 1e-9);
        let unstable = [window(1000.0, 1.0), window(600.0, 1.0), window(1000.0, 1.0)];
        let verdict = stability(&unstable);
        assert!(matches!(verdict, Stability::Unstable { .. }), "{verdict}");
        assert!(verdict.to_string().contains("600"), "{verdict}");
    }

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
