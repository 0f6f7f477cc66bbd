//! The run record: what a run produces (status, stop reason, startup
//! timings, metrics, layers, warnings), and how the model file and the
//! aggregator's output become parts of it.

use std::{
    path::{Path, PathBuf},
    time::Instant,
};

use serde::{Deserialize, Serialize};

use crate::{
    engine::{
        EngineError,
        binding::HostCopyTimings,
        config::{BatchingConfig, ExecutionProviderKind, ProfileConfig},
        inputs::InputSpec,
        runtime::{self, Runtime},
    },
    metrics::{
        AggregatorOutput, BatchSizeCount, ErrorSummary, GeneratorReport, RequestSpan, RunSummary,
        WindowStats,
        gpu_attribution::GpuAttribution,
        histogram::HISTOGRAM_ENCODING,
        layers::{LayerReport, NodeEvent, RunSpan},
        mean_batch_size, stability,
    },
    model::{Model, ModelSummary},
    telemetry::{EnvironmentInfo, GpuSample, TelemetrySample},
};

/// How a run ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum RunStatus {
    /// Ran to its duration or request count.
    Completed,
    /// Stopped by the user; results are partial.
    Stopped,
    /// Failed; whatever was measured before is kept.
    Failed,
}

impl std::fmt::Display for RunStatus {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Self::Completed => "completed",
            Self::Stopped => "stopped by the user",
            Self::Failed => "failed",
        })
    }
}

/// What ended the load.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum StopReason {
    /// The configured duration elapsed.
    Duration,
    /// The configured number of requests was issued.
    RequestLimit,
    /// The user stopped the run.
    User,
    /// Every worker ended on its own.
    WorkersExited,
    /// A burst of failed requests (a remote server gone) stopped the load.
    Failures,
    /// The open-loop backlog grew without bound: the offered rate exceeds
    /// what the model serves (`summary.capacity_per_sec` estimates it).
    Saturated,
    /// The SLO's pass test decided, pass or fail, before the duration.
    SloDecided,
}

/// The model a session profiled.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ModelInfo {
    /// The model file as given.
    pub path: PathBuf,
    /// Its file name alone.
    pub file_name: String,
    /// SHA-256 of the file, in hex.
    pub sha256: String,
    /// Size of the file.
    pub size_bytes: u64,
    /// Inputs, outputs, ops and parameters of the graph.
    pub summary: ModelSummary,
}

/// One-off costs, measured apart from the load.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct StartupTimings {
    /// Reading and checking the model file in onnx-workbench.
    pub model_parse_micros: Option<u64>,
    /// Creating each session of the pool.
    pub session_create_micros: Vec<u64>,
    /// The first inference on the first session.
    pub first_run_micros: Option<u64>,
    /// ONNX Runtime's own `session_initialization` event (profiling session).
    pub ort_session_initialization_micros: Option<u64>,
}

/// Raw events for the Chrome trace export.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct TraceData {
    /// The first measured requests.
    pub request_spans: Vec<RequestSpan>,
    /// ONNX Runtime node events from the per-layer profiling.
    pub node_events: Vec<NodeEvent>,
    /// ONNX Runtime `model_run` spans from the per-layer profiling.
    pub model_runs: Vec<RunSpan>,
    /// Generative runs: the first measured output tokens.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub token_events: Vec<crate::metrics::generation::TokenEvent>,
}

/// Everything a run measured. Saved as the body of a session document.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RunRecord {
    /// How the run ended.
    pub status: RunStatus,
    /// What ended the load, once it started.
    pub stop_reason: Option<StopReason>,
    /// Why the run failed, if it did.
    pub failure: Option<String>,
    /// When the run started (RFC 3339).
    pub started_at: String,
    /// When the run ended (RFC 3339).
    pub finished_at: String,
    /// Wall clock of the run's epoch (the zero of telemetry `t_secs`), in µs
    /// since the Unix epoch; `None` in sessions that predate it.
    #[serde(default)]
    pub epoch_unix_micros: Option<u64>,
    /// Wall clock of the start of the measurement (the zero of the windows'
    /// `start_secs`), in µs since the Unix epoch: what `report --merge`
    /// aligns sessions on.
    #[serde(default)]
    pub measured_from_unix_micros: Option<u64>,
    /// The machine and the ONNX Runtime the run used.
    pub environment: EnvironmentInfo,
    /// The model, once its file was read.
    pub model: Option<ModelInfo>,
    /// The settings of the run.
    pub config: ProfileConfig,
    /// The provider the sessions really run on.
    pub execution_provider_used: Option<ExecutionProviderKind>,
    /// Things the user must see (a CUDA fallback, dropped samples).
    pub warnings: Vec<String>,
    /// Choices made for the user (dims defaulted to 1).
    pub notes: Vec<String>,
    /// The inputs fed to the model, as resolved.
    pub inputs: Vec<InputSpec>,
    /// One-off costs: parsing, session creation, first run.
    pub timings: StartupTimings,
    /// Throughput and latency over the measured window.
    pub summary: Option<RunSummary>,
    /// The end-to-end latency histogram, encoded.
    pub latency_histogram: Option<EncodedHistogram>,
    /// Statistics per window of the measured load.
    pub timeseries: Vec<WindowStats>,
    /// CPU and memory readings.
    pub telemetry: Vec<TelemetrySample>,
    /// NVML readings at about 10 Hz, when a GPU is present.
    #[serde(default)]
    pub gpu_telemetry: Vec<GpuSample>,
    /// Why there are no GPU readings, when there are none.
    #[serde(default)]
    pub gpu_telemetry_note: Option<String>,
    /// Per-layer timings, when per-layer profiling ran.
    pub layers: Option<LayerReport>,
    /// Why per-layer profiling produced nothing, if it did not.
    pub layer_profiling_error: Option<String>,
    /// Count and first messages of failed requests.
    pub errors: ErrorSummary,
    /// Raw events for the Chrome trace export.
    pub trace: TraceData,
    /// The transform applied before loading, with its accuracy impact.
    #[serde(default)]
    pub transform: Option<crate::transform::TransformReport>,
    /// With I/O binding: host copies timed apart from the bound runs.
    #[serde(default)]
    pub host_copies: Option<HostCopyTimings>,
    /// GPU kernel time per node from CUPTI, on the CUDA provider.
    #[serde(default)]
    pub gpu_kernels: Option<GpuAttribution>,
    /// Why there is no per-node GPU time on a CUDA run (CUPTI missing, …).
    #[serde(default)]
    pub gpu_kernels_note: Option<String>,
    /// Dynamic batching: the settings and the executed batch sizes.
    #[serde(default)]
    pub batching: Option<BatchingReport>,
    /// Remote targets: the server, the model metadata, the server's times.
    #[serde(default)]
    pub remote: Option<crate::engine::remote::RemoteReport>,
    /// Generative runs: the decoder layout the token loop drove.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub generation_layout: Option<crate::model::generative::DecoderLayout>,
    /// Generative runs: the KV cache's size per token, estimate and peak.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub kv_cache: Option<crate::metrics::generation::KvCacheUsage>,
    /// Generative runs: the per-layer timings of each phase (`prefill`,
    /// `decode`); every row carries its phase.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub phase_layers: Vec<LayerReport>,
}

/// What dynamic batching did in the measured period.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct BatchingReport {
    /// Most rows in one batch.
    pub max_batch: u32,
    /// Longest wait after the oldest queued request, in µs.
    pub delay_micros: u64,
    /// Sizes that run as soon as they fill.
    pub preferred: Vec<u32>,
    /// Mean rows per executed batch; `None` when no batch ran.
    pub mean_batch_size: Option<f64>,
    /// Executed batches by rows, smallest first.
    pub batch_sizes: Vec<BatchSizeCount>,
}

impl BatchingReport {
    /// The report of a run under `config` that executed `batch_sizes`.
    pub fn new(config: &BatchingConfig, batch_sizes: Vec<BatchSizeCount>) -> Self {
        Self {
            max_batch: config.max_batch,
            delay_micros: config.delay_micros,
            preferred: config.preferred.clone(),
            mean_batch_size: mean_batch_size(&batch_sizes),
            batch_sizes,
        }
    }

    /// Executed batches.
    pub fn num_batches(&self) -> u64 {
        self.batch_sizes.iter().map(|entry| entry.count).sum()
    }
}

/// An HDR histogram in a portable encoding.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct EncodedHistogram {
    /// See [`HISTOGRAM_ENCODING`].
    pub encoding: String,
    /// Unit of the recorded values.
    pub unit: String,
    /// The encoded histogram.
    pub data: String,
    /// Values above the histogram's clamped maximum.
    pub outliers: u64,
}

impl RunRecord {
    /// An empty record of a run with `config`, started now.
    pub(super) fn new(config: ProfileConfig) -> Self {
        Self {
            status: RunStatus::Failed,
            stop_reason: None,
            failure: None,
            started_at: crate::util::rfc3339_now(),
            finished_at: String::new(),
            epoch_unix_micros: None,
            measured_from_unix_micros: None,
            environment: EnvironmentInfo::default(),
            model: None,
            config,
            execution_provider_used: None,
            warnings: Vec::new(),
            notes: Vec::new(),
            inputs: Vec::new(),
            timings: StartupTimings::default(),
            summary: None,
            latency_histogram: None,
            timeseries: Vec::new(),
            telemetry: Vec::new(),
            gpu_telemetry: Vec::new(),
            gpu_telemetry_note: None,
            layers: None,
            layer_profiling_error: None,
            errors: ErrorSummary::default(),
            trace: TraceData::default(),
            transform: None,
            host_copies: None,
            gpu_kernels: None,
            gpu_kernels_note: None,
            batching: None,
            remote: None,
            generation_layout: None,
            kv_cache: None,
            phase_layers: Vec::new(),
        }
    }

    /// Notes the wall clock of the run's epoch (now) and of the measurement
    /// start, `warmup_nanos` later.
    pub(super) fn mark_epoch(&mut self, warmup_nanos: u64) {
        let now_micros = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |since| {
                u64::try_from(since.as_micros()).unwrap_or(u64::MAX)
            });
        self.epoch_unix_micros = Some(now_micros);
        self.measured_from_unix_micros = Some(now_micros.saturating_add(warmup_nanos / 1000));
    }

    /// Marks the run failed with `error`; what was measured is kept.
    pub(super) fn fail(mut self, error: &dyn std::error::Error) -> Self {
        self.status = RunStatus::Failed;
        self.failure = Some(format!("{error:#}"));
        self.finished_at = crate::util::rfc3339_now();
        self
    }

    /// Fills the summary, the latency histogram, the time series and the
    /// request spans from the aggregator's output and the load's figures.
    pub(super) fn apply_output(&mut self, output: AggregatorOutput, figures: LoadFigures) {
        let LoadFigures {
            batch_size,
            measured_nanos,
            dropped_samples,
            unsent_requests,
            generator: (generator, harness_cpu_nanos, spin_nanos),
            capacity_per_sec,
            early_stopped,
        } = figures;
        let measured_secs = measured_nanos as f64 / 1e9;
        let per_sec = |count: u64| {
            if measured_secs > 0.0 {
                count as f64 / measured_secs
            } else {
                0.0
            }
        };
        let mut summary = RunSummary {
            measured_secs,
            requests_ok: output.requests_ok,
            requests_failed: output.requests_failed,
            inferences: output.requests_ok * batch_size,
            batch_size,
            inferences_per_sec: per_sec(output.requests_ok * batch_size),
            requests_per_sec: per_sec(output.requests_ok + output.requests_failed),
            latency: output.latency.summary(),
            queue: if self.config.has_queue() {
                output.queue.summary()
            } else {
                None
            },
            service: output.service.summary(),
            lateness: output.lateness.summary(),
            stability: stability(&[]),
            dropped_samples,
            profiled_requests: output.profiled_requests,
            after_stop_requests: output.after_stop_requests,
            unsent_requests,
            dropped_windows: output.dropped_windows,
            capacity_per_sec,
            generator: Some(generator),
            slo: None,
            validity: None,
            across_runs: None,
            generation: output.generation.as_ref().map(|generation| {
                crate::metrics::generation::GenerationSummary::from_totals(
                    generation,
                    output.latency.summary(),
                    measured_secs,
                    self.config.generation.as_ref().map(|config| config.slo),
                )
            }),
        };
        super::verdict::finish_summary(
            &mut summary,
            &output,
            &self.config,
            early_stopped,
            harness_cpu_nanos,
            spin_nanos,
        );
        self.summary = Some(summary);
        self.latency_histogram = output.latency.encode().ok().map(|data| EncodedHistogram {
            encoding: HISTOGRAM_ENCODING.to_owned(),
            unit: "ns".to_owned(),
            data,
            outliers: output.latency.outliers(),
        });
        self.batching = self
            .config
            .batching
            .as_ref()
            .map(|batching| BatchingReport::new(batching, output.batch_sizes.clone()));
        self.timeseries = output.windows;
        self.trace.request_spans = output.spans;
    }
}

/// What the load phase measured besides the aggregator's output.
pub(super) struct LoadFigures {
    /// Inferences per request.
    pub(super) batch_size: u64,
    pub(super) measured_nanos: u64,
    pub(super) dropped_samples: u64,
    pub(super) unsent_requests: u64,
    /// The generator's report, the harness's CPU and the spin time, in
    /// nanoseconds.
    pub(super) generator: (GeneratorReport, Option<u64>, Option<u64>),
    /// Saturated open loop: the estimated capacity.
    pub(super) capacity_per_sec: Option<f64>,
    /// The SLO's pass test ended the run.
    pub(super) early_stopped: bool,
}

/// Microseconds elapsed since `start`, saturating.
pub(super) fn micros_since(start: Instant) -> u64 {
    u64::try_from(start.elapsed().as_micros()).unwrap_or(u64::MAX)
}

/// Reads and checks the model file, and hashes it. Returns the model's
/// description, the parse time in µs and the parsed model.
/// Also returns the file's bytes: what was hashed is what the sessions run.
pub(crate) fn load_model_info(
    model_path: &Path,
) -> Result<(ModelInfo, u64, Model, Vec<u8>), EngineError> {
    let started = Instant::now();
    let (model, bytes) = Model::load_with_bytes(model_path)?;
    let summary = model.summary();
    let parse_micros = micros_since(started);
    let info = ModelInfo {
        path: model_path.to_path_buf(),
        file_name: model_path
            .file_name()
            .map(|name| name.to_string_lossy().into_owned())
            .unwrap_or_default(),
        sha256: runtime::sha256_hex(&bytes),
        size_bytes: bytes.len() as u64,
        summary,
    };
    Ok((info, parse_micros, model, bytes))
}

/// Fills the ONNX Runtime fields of the environment.
pub(crate) fn describe_runtime(environment: &mut EnvironmentInfo, runtime: &Runtime) {
    environment.ort_version = runtime.version.clone();
    environment.ort_library = runtime.library_path.display().to_string();
    environment.ort_source = format!("{}, {}", runtime.source, runtime.flavour);
}
