//! The measured period as a run keeps it: 1-second windows, totals, the
//! stability verdict, failed requests, the generator's cost and the SLO
//! outcome.

use serde::{Deserialize, Serialize};

use super::{LatencySummary, confidence, generation, slo, validity};

/// Windows kept in a time series (one hour of 1-second windows); older ones
/// are dropped and counted.
pub const MAX_WINDOWS: usize = 3600;
/// Error messages kept verbatim.
pub const MAX_ERROR_MESSAGES: usize = 10;
/// Full windows a run needs before its stability is judged.
pub const STABILITY_WINDOWS: usize = 3;

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

/// Failed requests: a count and the first messages.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct ErrorSummary {
    /// Every failed request of the run, warm-up included (the summary's
    /// `requests_failed` counts the measured period only).
    pub count: u64,
    pub first_messages: Vec<String>,
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
    pub across_runs: Option<AcrossRuns>,
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

/// One figure over the runs.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RepeatedFigure {
    /// `inferences_per_sec`, `p50_micros`, ... as in the summary.
    pub name: String,
    /// Each run's value, in order.
    pub values: Vec<f64>,
    pub mean: f64,
    /// Sample standard deviation over the runs.
    pub sd: f64,
    /// Interval of the mean at the stated confidence.
    pub mean_ci: [f64; 2],
    /// Where one more run's value should fall, at the stated confidence.
    pub next_run: [f64; 2],
}

/// The figures of repeated runs.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AcrossRuns {
    pub runs: u32,
    pub confidence: f64,
    pub figures: Vec<RepeatedFigure>,
}

impl AcrossRuns {
    /// The figure called `name`.
    pub fn figure(&self, name: &str) -> Option<&RepeatedFigure> {
        self.figures.iter().find(|figure| figure.name == name)
    }
}
