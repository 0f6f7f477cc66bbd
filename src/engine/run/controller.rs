//! The run controller: everything a profiling run does, on its own thread,
//! producing a [`RunRecord`] even when it fails part-way.

use std::{
    path::{Path, PathBuf},
    sync::{
        Arc, Mutex,
        atomic::{AtomicBool, AtomicU64, Ordering},
    },
    thread::JoinHandle,
    time::{Duration, Instant},
};

use ort::session::{IoBinding, RunOptions, Session, SessionInputValue};
use serde::{Deserialize, Serialize};

pub use super::binding::HostCopyTimings;
use super::{
    EngineError, binding,
    config::{ExecutionProviderKind, LayerProfiling, LoadMode, ProfileConfig},
    inputs::{self, InputSpec},
    load::{self, RequestSource, SampledProfiling, SessionSlot, Worker},
    runtime::{self, Runtime},
    session::{ModelSource, build_session, clean_ort_message},
};
use crate::{
    metrics::{
        Aggregator, AggregatorOutput, AggregatorSettings, DEFAULT_PUBLISH_INTERVAL, ErrorSummary,
        RequestSpan, RunPhase, RunShared, RunSummary, Snapshot, WindowStats,
        gpu_attribution::GpuAttribution,
        histogram::HISTOGRAM_ENCODING,
        layers::{
            LayerAggregator, LayerReport, LayerSource, NodeEvent, RunSpan, parse_profile_file,
        },
        stability,
    },
    model::{Model, ModelSummary},
    telemetry::{
        DEFAULT_SAMPLE_INTERVAL, EnvironmentInfo, GpuSample, GpuSampler, TelemetrySample,
        TelemetrySampler, gpu::DEFAULT_GPU_SAMPLE_INTERVAL,
    },
};

/// Batches of samples the metrics channel holds before workers start
/// dropping (and counting) them.
const SAMPLE_CHANNEL_BATCHES: usize = 4096;
/// Scheduled requests the open-loop queue holds.
const SCHEDULE_QUEUE: usize = 1 << 16;
/// Profiled runs waiting to be parsed in sampled mode.
const PROFILE_FILE_QUEUE: usize = 256;
/// How often the controller checks the stop flag. It sleeps exactly until the
/// deadline when that is nearer; a user stop aborts in-flight runs at once
/// through `RunOptions::terminate`, so this only bounds the bookkeeping.
const CONTROLLER_TICK: Duration = Duration::from_millis(50);

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
    Duration,
    RequestLimit,
    User,
    WorkersExited,
}

/// The model a session profiled.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ModelInfo {
    pub path: PathBuf,
    pub file_name: String,
    pub sha256: String,
    pub size_bytes: u64,
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
}

/// Everything a run measured. Saved as the body of a session document.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RunRecord {
    pub status: RunStatus,
    pub stop_reason: Option<StopReason>,
    /// Why the run failed, if it did.
    pub failure: Option<String>,
    pub started_at: String,
    pub finished_at: String,
    pub environment: EnvironmentInfo,
    pub model: Option<ModelInfo>,
    pub config: ProfileConfig,
    /// The provider the sessions really run on.
    pub execution_provider_used: Option<ExecutionProviderKind>,
    /// Things the user must see (a CUDA fallback, dropped samples).
    pub warnings: Vec<String>,
    /// Choices made for the user (dims defaulted to 1).
    pub notes: Vec<String>,
    pub inputs: Vec<InputSpec>,
    pub timings: StartupTimings,
    pub summary: Option<RunSummary>,
    /// The end-to-end latency histogram, encoded.
    pub latency_histogram: Option<EncodedHistogram>,
    pub timeseries: Vec<WindowStats>,
    pub telemetry: Vec<TelemetrySample>,
    /// NVML readings at about 10 Hz, when a GPU is present.
    #[serde(default)]
    pub gpu_telemetry: Vec<GpuSample>,
    /// Why there are no GPU readings, when there are none.
    #[serde(default)]
    pub gpu_telemetry_note: Option<String>,
    pub layers: Option<LayerReport>,
    /// Why per-layer profiling produced nothing, if it did not.
    pub layer_profiling_error: Option<String>,
    pub errors: ErrorSummary,
    pub trace: TraceData,
    /// The transform applied before loading, with its accuracy impact.
    #[serde(default)]
    pub transform: Option<crate::transform::TransformReport>,
    /// With I/O binding: host copies timed apart from the bound runs.
    #[serde(default)]
    pub host_copies: Option<HostCopyTimings>,
    /// GPU kernel time per node from CUPTI, on the CUDA provider.
    #[serde(default)]
    pub gpu_kernels: Option<crate::metrics::gpu_attribution::GpuAttribution>,
    /// Why there is no per-node GPU time on a CUDA run (CUPTI missing, …).
    #[serde(default)]
    pub gpu_kernels_note: Option<String>,
}

/// Host copies timed per run with I/O binding.
const HOST_COPY_REPETITIONS: u32 = 20;

/// An HDR histogram in a portable encoding.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct EncodedHistogram {
    /// See [`HISTOGRAM_ENCODING`].
    pub encoding: String,
    /// Unit of the recorded values.
    pub unit: String,
    pub data: String,
    pub outliers: u64,
}

impl RunRecord {
    fn new(config: ProfileConfig) -> Self {
        Self {
            status: RunStatus::Failed,
            stop_reason: None,
            failure: None,
            started_at: crate::util::rfc3339_now(),
            finished_at: String::new(),
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
        }
    }

    fn fail(mut self, error: &EngineError) -> Self {
        self.status = RunStatus::Failed;
        self.failure = Some(format!("{error:#}"));
        self.finished_at = crate::util::rfc3339_now();
        self
    }
}

/// Shared between the handle and the controller thread.
#[derive(Default)]
struct Control {
    user_stop: AtomicBool,
    terminator: Mutex<Option<Arc<RunOptions>>>,
}

/// Stops a run from another thread.
#[derive(Clone)]
pub struct RunStopper {
    shared: Arc<RunShared>,
    control: Arc<Control>,
}

impl RunStopper {
    /// See [`RunHandle::stop`].
    pub fn stop(&self) {
        self.control.user_stop.store(true, Ordering::Relaxed);
        self.shared.stop.store(true, Ordering::Relaxed);
        if let Ok(terminator) = self.control.terminator.lock()
            && let Some(options) = terminator.as_ref()
        {
            let _ = options.terminate();
        }
    }
}

/// A running (or finished) profiling run.
pub struct RunHandle {
    shared: Arc<RunShared>,
    control: Arc<Control>,
    thread: Option<JoinHandle<RunRecord>>,
    config: ProfileConfig,
}

impl RunHandle {
    /// Starts a run of `model_path` with `config` on a new thread and returns
    /// at once. Every failure, including a missing ONNX Runtime, ends up in the
    /// returned [`RunRecord`].
    pub fn start(model_path: PathBuf, config: ProfileConfig) -> Result<Self, EngineError> {
        let shared = Arc::new(RunShared::new(u64::MAX));
        let control = Arc::new(Control::default());
        let thread_shared = Arc::clone(&shared);
        let thread_control = Arc::clone(&control);
        let thread_config = config.clone();
        let thread = std::thread::Builder::new()
            .name("wb-run".to_owned())
            .spawn(move || {
                let record = RunRecord::new(thread_config);
                let record = controller(&model_path, record, &thread_shared, &thread_control);
                thread_shared.set_phase(RunPhase::Finished);
                record
            })
            .map_err(|err| EngineError::Thread(err.to_string()))?;
        Ok(Self {
            shared,
            control,
            thread: Some(thread),
            config,
        })
    }

    /// The latest published snapshot.
    pub fn snapshot(&self) -> Arc<Snapshot> {
        self.shared.snapshot.load_full()
    }

    /// The current phase.
    pub fn phase(&self) -> RunPhase {
        self.shared.phase()
    }

    /// Asks the run to stop now. In-flight inferences are aborted; what was
    /// measured is kept.
    pub fn stop(&self) {
        self.stopper().stop();
    }

    /// A handle that can stop the run from elsewhere (a Ctrl-C handler).
    pub fn stopper(&self) -> RunStopper {
        RunStopper {
            shared: Arc::clone(&self.shared),
            control: Arc::clone(&self.control),
        }
    }

    /// True once the controller thread has finished.
    pub fn is_finished(&self) -> bool {
        self.thread.as_ref().is_none_or(JoinHandle::is_finished)
    }

    /// Waits for the run and returns its record. A panic of the controller
    /// becomes a failed record.
    pub fn join(mut self) -> RunRecord {
        let Some(thread) = self.thread.take() else {
            return RunRecord::new(self.config.clone())
                .fail(&EngineError::Panicked("joined twice".to_owned()));
        };
        match thread.join() {
            Ok(record) => record,
            Err(payload) => {
                let message = crate::util::panic_message(payload.as_ref());
                RunRecord::new(self.config.clone()).fail(&EngineError::Panicked(message))
            }
        }
    }
}

impl Drop for RunHandle {
    fn drop(&mut self) {
        if let Some(thread) = self.thread.take() {
            self.stop();
            let _ = thread.join();
        }
    }
}

fn micros_since(start: Instant) -> u64 {
    u64::try_from(start.elapsed().as_micros()).unwrap_or(u64::MAX)
}

/// Reads and checks the model file, and hashes it.
pub(crate) fn load_model_info(model_path: &Path) -> Result<(ModelInfo, u64, Model), EngineError> {
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
    Ok((info, parse_micros, model))
}

/// Fills the ONNX Runtime fields of the environment.
pub(crate) fn describe_runtime(environment: &mut EnvironmentInfo, runtime: &Runtime) {
    environment.ort_version = runtime.version.clone();
    environment.ort_library = runtime.library_path.display().to_string();
    environment.ort_source = format!("{}, {}", runtime.source, runtime.flavour);
}

fn controller(
    model_path: &Path,
    mut record: RunRecord,
    shared: &Arc<RunShared>,
    control: &Arc<Control>,
) -> RunRecord {
    record.environment = EnvironmentInfo::probe();
    if let Err(err) = record.config.validate() {
        return record.fail(&err.into());
    }
    let model = match load_model_info(model_path) {
        Ok((info, parse_micros, model)) => {
            record.model = Some(info);
            record.timings.model_parse_micros = Some(parse_micros);
            model
        }
        Err(err) => return record.fail(&err),
    };
    let runtime = match runtime::runtime() {
        Ok(runtime) => runtime,
        Err(err) => return record.fail(&err.into()),
    };
    describe_runtime(&mut record.environment, runtime);
    // A transformed model is self-contained and every session loads it
    // from memory.
    let transformed_bytes = if record.config.transform.is_identity() {
        None
    } else {
        match crate::transform::apply_checked(&model, &record.config.transform, &record.config) {
            Ok(checked) => {
                record.transform = Some(checked.report);
                Some(checked.bytes)
            }
            Err(err) => return record.fail(&EngineError::Transform(err)),
        }
    };
    drop(model);
    let model_source = match &transformed_bytes {
        Some(bytes) => ModelSource::Memory(bytes),
        None => ModelSource::File(model_path),
    };

    let config = record.config.clone();
    let num_workers = config.num_workers() as usize;
    let num_instances = (config.num_instances() as usize).min(num_workers);
    if config.num_instances() as usize > num_workers {
        record.notes.push(format!(
            "{} session instances requested for {num_workers} workers; only {num_workers} can be used",
            config.num_instances()
        ));
    }
    let mut sessions: Vec<Session> = Vec::with_capacity(num_instances);
    for _ in 0..num_instances {
        if control.user_stop.load(Ordering::Relaxed) {
            record.status = RunStatus::Stopped;
            record.finished_at = crate::util::rfc3339_now();
            record
                .notes
                .push("stopped before the load started".to_owned());
            return record;
        }
        let started = Instant::now();
        match build_session(runtime, model_source, &config, None) {
            Ok(built) => {
                record
                    .timings
                    .session_create_micros
                    .push(micros_since(started));
                record.execution_provider_used = Some(built.execution_provider);
                if let Some(warning) = built.fallback_warning
                    && !record.warnings.contains(&warning)
                {
                    record.warnings.push(warning);
                }
                sessions.push(built.session);
            }
            Err(err) => return record.fail(&err),
        }
    }
    let Some(first_session) = sessions.first_mut() else {
        return record.fail(&EngineError::Session("no session was created".to_owned()));
    };
    let prepared = match inputs::declared_inputs(first_session)
        .and_then(|declared| inputs::prepare(&declared, &config))
    {
        Ok(prepared) => prepared,
        Err(err) => return record.fail(&err.into()),
    };
    record.inputs = prepared.specs.clone();
    record.notes.extend(prepared.notes.iter().cloned());
    let batch_size = prepared.batch_size();

    let mut worker_inputs = Vec::with_capacity(num_workers);
    for _ in 0..num_workers {
        match prepared.to_values() {
            Ok(values) => worker_inputs.push(values),
            Err(err) => return record.fail(&err.into()),
        }
    }
    // I/O binding: each worker's own session gets its inputs on the device
    // once (validation guarantees one session per worker).
    let placement = binding::Placement {
        provider: record
            .execution_provider_used
            .unwrap_or(ExecutionProviderKind::Cpu),
        device_id: config.device_id,
    };
    let mut worker_bindings: Vec<Vec<IoBinding>> = Vec::new();
    if config.io_binding {
        for (session, inputs) in sessions.iter().zip(&worker_inputs) {
            match binding::bind_variants(session, inputs, placement) {
                Ok(bindings) => worker_bindings.push(bindings),
                Err(message) => {
                    return record.fail(&EngineError::Session(format!(
                        "I/O binding failed: {message}"
                    )));
                }
            }
        }
    }
    // The first inference pays for lazy initialisation (and, with CUDA
    // graphs, the capture); time it on its own.
    if let (Some(values), Some(first_session)) = (worker_inputs.first(), sessions.first_mut()) {
        let started = Instant::now();
        let result = match worker_bindings
            .first()
            .and_then(|bindings| bindings.first())
        {
            Some(bound) => first_session.run_binding(bound).map(drop),
            None => {
                let views: Vec<SessionInputValue<'_>> = values
                    .first()
                    .map(|variant| variant.iter().map(SessionInputValue::from).collect())
                    .unwrap_or_default();
                first_session.run(&views[..]).map(drop)
            }
        };
        record.timings.first_run_micros = Some(micros_since(started));
        if let Err(err) = result {
            return record.fail(&EngineError::FirstRun(clean_ort_message(err.message())));
        }
        if let (Some(bound), Some(host_inputs)) = (
            worker_bindings
                .first()
                .and_then(|bindings| bindings.first()),
            values.first(),
        ) {
            match binding::measure_host_copies(
                first_session,
                bound,
                host_inputs,
                placement,
                HOST_COPY_REPETITIONS,
            ) {
                Ok(timings) => record.host_copies = Some(timings),
                Err(message) => record
                    .warnings
                    .push(format!("host copies could not be timed: {message}")),
            }
        }
    }

    run_load(
        &mut record,
        sessions,
        worker_bindings,
        worker_inputs,
        batch_size,
        shared,
        control,
    );

    if !control.user_stop.load(Ordering::Relaxed)
        && let LayerProfiling::SeparatePass { runs } = config.layer_profiling
    {
        shared.set_phase(RunPhase::Profiling);
        match separate_profiling_pass(runtime, model_source, &config, &prepared, runs, control) {
            Ok((aggregator, gpu)) => {
                match gpu {
                    Some(Ok(attribution)) => record.gpu_kernels = Some(attribution),
                    Some(Err(note)) => record.gpu_kernels_note = Some(note),
                    None => {}
                }
                let report = aggregator.report();
                record.timings.ort_session_initialization_micros =
                    report.session_initialization_micros;
                record.trace.node_events = aggregator.trace_events;
                record.trace.model_runs = aggregator.trace_runs;
                shared.layers.store(Some(Arc::new(report.clone())));
                record.layers = Some(report);
            }
            Err(message) => record.layer_profiling_error = Some(message),
        }
    }
    if record.execution_provider_used == Some(ExecutionProviderKind::Cuda)
        && matches!(config.layer_profiling, LayerProfiling::Sampled { .. })
        && record.gpu_kernels_note.is_none()
    {
        record.gpu_kernels_note = Some(
            "per-node GPU time (CUPTI) is recorded in the separate profiling pass only; with --profile-every the node times are launch times".to_owned(),
        );
    }
    record.finished_at = crate::util::rfc3339_now();
    record.status = if record.failure.is_some() {
        RunStatus::Failed
    } else if control.user_stop.load(Ordering::Relaxed) {
        RunStatus::Stopped
    } else {
        RunStatus::Completed
    };
    record
}

/// Runs the warm-up and the measured load, filling the record's metrics.
fn run_load(
    record: &mut RunRecord,
    sessions: Vec<Session>,
    worker_bindings: Vec<Vec<IoBinding>>,
    worker_inputs: Vec<Vec<Vec<ort::value::DynValue>>>,
    batch_size: u64,
    shared: &Arc<RunShared>,
    control: &Arc<Control>,
) {
    let config = record.config.clone();
    let num_workers = worker_inputs.len();
    let run_options = match RunOptions::new() {
        Ok(options) => Arc::new(options),
        Err(err) => {
            record.status = RunStatus::Failed;
            record.failure = Some(format!("cannot create run options: {err}"));
            return;
        }
    };
    if let Ok(mut terminator) = control.terminator.lock() {
        *terminator = Some(Arc::clone(&run_options));
    }

    let epoch = Instant::now();
    let warmup_nanos = (config.warmup_secs * 1e9) as u64;
    shared
        .measure_start_nanos
        .store(warmup_nanos, Ordering::Relaxed);
    shared.set_phase(if warmup_nanos > 0 {
        RunPhase::Warmup
    } else {
        RunPhase::Running
    });

    let (sample_tx, sample_rx) = crossbeam_channel::bounded(SAMPLE_CHANNEL_BATCHES);
    let aggregator = Aggregator::new(
        AggregatorSettings {
            batch_size,
            publish_interval: DEFAULT_PUBLISH_INTERVAL,
            epoch,
            track_queue: config.has_queue(),
        },
        Arc::clone(shared),
    );
    let aggregator_thread = std::thread::Builder::new()
        .name("wb-aggregator".to_owned())
        .spawn(move || aggregator.run(&sample_rx));

    let telemetry_shared = Arc::clone(shared);
    let telemetry = TelemetrySampler::start(epoch, DEFAULT_SAMPLE_INTERVAL, move |sample| {
        telemetry_shared
            .telemetry
            .store(Some(Arc::new(sample.clone())));
    });

    let gpu_shared = Arc::clone(shared);
    let gpu_device = u32::try_from(config.device_id).unwrap_or(0);
    let gpu_sampler = match GpuSampler::start(
        epoch,
        gpu_device,
        DEFAULT_GPU_SAMPLE_INTERVAL,
        move |sample| {
            gpu_shared.gpu.store(Some(Arc::new(sample.clone())));
        },
    ) {
        Ok(sampler) => Some(sampler),
        Err(note) => {
            record.gpu_telemetry_note = Some(note);
            None
        }
    };

    let profile_dir = match config.layer_profiling {
        LayerProfiling::Sampled { .. } => tempfile::Builder::new()
            .prefix("onnx-workbench-profile-")
            .tempdir()
            .ok(),
        _ => None,
    };
    let (profile_tx, profile_rx) = crossbeam_channel::bounded::<(PathBuf, u64)>(PROFILE_FILE_QUEUE);
    let sampled = match (config.layer_profiling, &profile_dir) {
        (LayerProfiling::Sampled { every }, Some(dir)) => Some(SampledProfiling {
            every,
            dir: dir.path().to_path_buf(),
            files: profile_tx.clone(),
        }),
        _ => None,
    };
    drop(profile_tx);
    let parser_thread = sampled.as_ref().map(|_| {
        let parser_shared = Arc::clone(shared);
        std::thread::Builder::new()
            .name("wb-layer-parser".to_owned())
            .spawn(move || parse_sampled_profiles(&profile_rx, &parser_shared))
    });

    let (schedule_tx, schedule_rx) = crossbeam_channel::bounded::<u64>(SCHEDULE_QUEUE);
    let dispatcher = match config.load {
        LoadMode::Open {
            rate_per_sec,
            arrival,
        } => {
            let dispatch_shared = Arc::clone(shared);
            let seed = config.seed;
            Some(
                std::thread::Builder::new()
                    .name("wb-dispatcher".to_owned())
                    .spawn(move || {
                        load::dispatch(
                            &schedule_tx,
                            &dispatch_shared,
                            epoch,
                            rate_per_sec,
                            arrival,
                            seed,
                        )
                    }),
            )
        }
        LoadMode::Closed => {
            drop(schedule_tx);
            None
        }
    };

    let request_limit = config
        .max_requests
        .map(|limit| (Arc::new(AtomicU64::new(0)), limit));
    let pooled = sessions.len() < num_workers;
    let (pool_tx, pool_rx) = crossbeam_channel::bounded::<Session>(sessions.len().max(1));
    let mut owned: Vec<(Session, Vec<IoBinding>)> = Vec::new();
    if pooled {
        for session in sessions {
            let _ = pool_tx.send(session);
        }
    } else {
        let mut bindings = worker_bindings.into_iter();
        owned = sessions
            .into_iter()
            .map(|session| (session, bindings.next().unwrap_or_default()))
            .collect();
        // Workers pop from the end; keep worker 0 on session 0.
        owned.reverse();
    }
    let mut workers = Vec::with_capacity(num_workers);
    let mut spawn_error = None;
    for (index, inputs) in worker_inputs.into_iter().enumerate() {
        let mut bindings = Vec::new();
        let slot = if pooled {
            SessionSlot::Pooled {
                take: pool_rx.clone(),
                give_back: pool_tx.clone(),
            }
        } else {
            match owned.pop() {
                Some((session, session_bindings)) => {
                    bindings = session_bindings;
                    SessionSlot::Owned(Box::new(session))
                }
                None => break,
            }
        };
        let worker = Worker {
            index: u16::try_from(index).unwrap_or(u16::MAX),
            slot,
            requests: match config.load {
                LoadMode::Closed => RequestSource::Closed,
                LoadMode::Open { .. } => RequestSource::Open(schedule_rx.clone()),
            },
            inputs,
            shared: Arc::clone(shared),
            samples: sample_tx.clone(),
            epoch,
            request_limit: request_limit.clone(),
            run_options: Arc::clone(&run_options),
            sampled_profiling: sampled.clone(),
            bindings,
        };
        match std::thread::Builder::new()
            .name(format!("wb-worker-{index}"))
            .spawn(move || worker.run())
        {
            Ok(handle) => workers.push(handle),
            Err(err) => {
                spawn_error = Some(err.to_string());
                shared.stop.store(true, Ordering::Relaxed);
                break;
            }
        }
    }
    drop(sample_tx);
    drop(sampled);
    drop(schedule_rx);

    // Wait for the end: duration, request count, user stop, or every worker gone.
    let deadline_nanos = config
        .duration_secs
        .map(|secs| warmup_nanos + (secs * 1e9) as u64);
    let stop_reason = loop {
        let now = u64::try_from(epoch.elapsed().as_nanos()).unwrap_or(u64::MAX);
        let next_event = [Some(warmup_nanos), deadline_nanos]
            .into_iter()
            .flatten()
            .filter(|at| *at > now)
            .min()
            .map_or(CONTROLLER_TICK, |at| Duration::from_nanos(at - now));
        std::thread::sleep(next_event.min(CONTROLLER_TICK));
        let now = u64::try_from(epoch.elapsed().as_nanos()).unwrap_or(u64::MAX);
        if now >= warmup_nanos && shared.phase() == RunPhase::Warmup {
            shared.set_phase(RunPhase::Running);
        }
        if control.user_stop.load(Ordering::Relaxed) {
            shared
                .measure_end_nanos
                .store(now.max(warmup_nanos), Ordering::Relaxed);
            break StopReason::User;
        }
        if let Some(deadline) = deadline_nanos
            && now >= deadline
        {
            shared.measure_end_nanos.store(deadline, Ordering::Relaxed);
            shared.stop.store(true, Ordering::Relaxed);
            let _ = run_options.terminate();
            break StopReason::Duration;
        }
        if shared.is_stopping() {
            // A worker hit the request limit; in-flight requests still count.
            break StopReason::RequestLimit;
        }
        if workers.iter().all(JoinHandle::is_finished) {
            shared.stop.store(true, Ordering::Relaxed);
            break StopReason::WorkersExited;
        }
    };
    record.stop_reason = Some(stop_reason);
    shared.set_phase(RunPhase::Draining);
    let mut worker_panics = Vec::new();
    for worker in workers {
        if let Err(payload) = worker.join() {
            worker_panics.push(crate::util::panic_message(payload.as_ref()));
        }
    }
    drop(pool_tx);
    let unsent_requests = match dispatcher {
        Some(Ok(thread)) => thread.join().unwrap_or(0),
        _ => 0,
    };
    if let Some(Ok(parser)) = parser_thread
        && let Ok(aggregator) = parser.join()
    {
        if aggregator.is_empty() {
            record.layer_profiling_error =
                Some("no sampled run was profiled; run longer or sample more often".to_owned());
        } else {
            record.trace.node_events = aggregator.trace_events.clone();
            record.trace.model_runs = aggregator.trace_runs.clone();
            record.layers = Some(aggregator.report());
        }
    }
    record.telemetry = telemetry.map(TelemetrySampler::finish).unwrap_or_default();
    record.gpu_telemetry = gpu_sampler.map(GpuSampler::finish).unwrap_or_default();
    let output = match aggregator_thread {
        Ok(thread) => thread.join().ok(),
        Err(_) => None,
    };
    record.errors = shared.errors();
    let dropped_samples = shared.dropped_samples.load(Ordering::Relaxed);
    if dropped_samples > 0 {
        record.warnings.push(format!(
            "{dropped_samples} samples were dropped because the metrics channel was full; percentiles miss them"
        ));
    }
    if let Some(message) = spawn_error {
        record.status = RunStatus::Failed;
        record.failure = Some(format!("could not start every worker thread: {message}"));
    }
    if !worker_panics.is_empty() {
        record.status = RunStatus::Failed;
        record.failure = Some(format!(
            "a load worker panicked: {}",
            worker_panics.join("; ")
        ));
    }
    let Some(output) = output else {
        record.status = RunStatus::Failed;
        record.failure = Some("the metrics aggregator failed; no metrics were kept".to_owned());
        return;
    };
    if unsent_requests > 0 {
        record.warnings.push(format!(
            "{unsent_requests} scheduled requests were never started: the offered rate exceeded what the workers could serve"
        ));
    }
    let measure_start = shared.measure_start_nanos.load(Ordering::Relaxed);
    let measure_end = shared.measure_end_nanos.load(Ordering::Relaxed);
    apply_output(
        record,
        output,
        batch_size,
        measure_end.saturating_sub(measure_start),
        dropped_samples,
        unsent_requests,
    );
}

fn apply_output(
    record: &mut RunRecord,
    output: AggregatorOutput,
    batch_size: u64,
    measured_nanos: u64,
    dropped_samples: u64,
    unsent_requests: u64,
) {
    let measured_secs = measured_nanos as f64 / 1e9;
    let per_sec = |count: u64| {
        if measured_secs > 0.0 {
            count as f64 / measured_secs
        } else {
            0.0
        }
    };
    record.summary = Some(RunSummary {
        measured_secs,
        requests_ok: output.requests_ok,
        requests_failed: output.requests_failed,
        inferences: output.requests_ok * batch_size,
        batch_size,
        inferences_per_sec: per_sec(output.requests_ok * batch_size),
        requests_per_sec: per_sec(output.requests_ok + output.requests_failed),
        latency: output.latency.summary(),
        queue: if record.config.has_queue() {
            output.queue.summary()
        } else {
            None
        },
        service: output.service.summary(),
        stability: stability(&output.windows),
        dropped_samples,
        profiled_requests: output.profiled_requests,
        after_stop_requests: output.after_stop_requests,
        unsent_requests,
        dropped_windows: output.dropped_windows,
    });
    record.latency_histogram = output.latency.encode().ok().map(|data| EncodedHistogram {
        encoding: HISTOGRAM_ENCODING.to_owned(),
        unit: "ns".to_owned(),
        data,
        outliers: output.latency.outliers(),
    });
    record.timeseries = output.windows;
    record.trace.request_spans = output.spans;
}

/// Parses run-level profiles as they arrive and publishes per-layer timings.
fn parse_sampled_profiles(
    files: &crossbeam_channel::Receiver<(PathBuf, u64)>,
    shared: &RunShared,
) -> LayerAggregator {
    let mut aggregator = LayerAggregator::new(LayerSource::Sampled);
    let mut last_publish = Instant::now();
    for (prefix, end_nanos) in files {
        let measure_start = shared.measure_start_nanos.load(Ordering::Relaxed);
        for path in files_with_prefix(&prefix) {
            // Runs profiled during the warm-up are discarded like their latencies.
            if end_nanos >= measure_start
                && let Ok(profile) = parse_profile_file(&path)
            {
                aggregator.add_at(
                    profile,
                    (end_nanos - measure_start) / crate::metrics::WINDOW_NANOS,
                );
            }
            let _ = std::fs::remove_file(&path);
        }
        if last_publish.elapsed() >= Duration::from_secs(1) && !aggregator.is_empty() {
            shared.layers.store(Some(Arc::new(aggregator.report())));
            last_publish = Instant::now();
        }
    }
    if !aggregator.is_empty() {
        shared.layers.store(Some(Arc::new(aggregator.report())));
    }
    aggregator
}

/// ONNX Runtime appends a timestamp to the profiling prefix; find the files.
fn files_with_prefix(prefix: &Path) -> Vec<PathBuf> {
    let (Some(dir), Some(stem)) = (
        prefix.parent(),
        prefix.file_name().and_then(|name| name.to_str()),
    ) else {
        return Vec::new();
    };
    let Ok(entries) = std::fs::read_dir(dir) else {
        return Vec::new();
    };
    let stem_with_separator = format!("{stem}_");
    let mut paths: Vec<PathBuf> = entries
        .filter_map(Result::ok)
        .map(|entry| entry.path())
        .filter(|path| {
            path.file_name()
                .and_then(|name| name.to_str())
                .is_some_and(|name| {
                    name.starts_with(&stem_with_separator) && name.ends_with(".json")
                })
        })
        .collect();
    paths.sort();
    paths
}

/// A separate session with session-level profiling: one warm-up run, then
/// `runs` profiled runs.
fn separate_profiling_pass(
    runtime: &Runtime,
    model_source: ModelSource<'_>,
    config: &ProfileConfig,
    prepared: &inputs::PreparedInputs,
    runs: u32,
    control: &Control,
) -> Result<(LayerAggregator, Option<Result<GpuAttribution, String>>), String> {
    let dir = tempfile::Builder::new()
        .prefix("onnx-workbench-profile-")
        .tempdir()
        .map_err(|err| format!("cannot create a folder for the profile: {err}"))?;
    let prefix = dir.path().join("profile");
    let mut built = build_session(runtime, model_source, config, Some(&prefix))
        .map_err(|err| format!("{err:#}"))?;
    let values = prepared.to_values().map_err(|err| format!("{err:#}"))?;
    // On CUDA, record GPU kernels next to ORT's launch windows.
    let recorder = (built.execution_provider == ExecutionProviderKind::Cuda).then(start_cupti);
    let views: Vec<Vec<SessionInputValue<'_>>> = values
        .iter()
        .map(|variant| variant.iter().map(SessionInputValue::from).collect())
        .collect();
    let mut failures = 0u32;
    for run in 0..=runs {
        if control.user_stop.load(Ordering::Relaxed) {
            break;
        }
        let variant = &views[run as usize % views.len().max(1)];
        if built.session.run(&variant[..]).is_err() {
            failures += 1;
        }
    }
    let recording = recorder.map(|started| started.map(crate::telemetry::cupti::Recorder::finish));
    let profiling_start_nanos = built.session.profiling_start_ns().ok();
    let profile_path = built
        .session
        .end_profiling()
        .map_err(|err| format!("ONNX Runtime could not write the profile: {err}"))?;
    let parsed = parse_profile_file(Path::new(&profile_path)).map_err(|err| format!("{err:#}"))?;
    let gpu = recording.map(|recording| {
        let recording = recording?;
        let start =
            profiling_start_nanos.ok_or("ONNX Runtime did not give its profiling start time")?;
        attribute_gpu_time(&parsed.nodes, start, &recording)
    });
    let mut aggregator = LayerAggregator::new(LayerSource::SeparatePass);
    aggregator.add(parsed, 1);
    if aggregator.is_empty() {
        return Err(format!(
            "the profile has no node events ({failures} of {} profiled runs failed)",
            runs + 1
        ));
    }
    Ok((aggregator, gpu))
}

/// Starts CUPTI, or says why it cannot.
fn start_cupti() -> Result<crate::telemetry::cupti::Recorder, String> {
    let loaded =
        super::cuda_libs::ensure_loaded(runtime::cache_dir_for(runtime::Flavour::Gpu).as_deref());
    let library = loaded.libraries.path_of("libcupti.so.13").ok_or_else(|| {
        "CUPTI (libcupti.so.13) was not found, so only launch times are shown; \
         `onnx-workbench setup --gpu` fetches it (nvidia-cuda-cupti)"
            .to_owned()
    })?;
    crate::telemetry::cupti::Recorder::start(library)
        .map_err(|err| format!("{err}; only launch times are shown"))
}

/// Joins CUPTI's kernels to the profile's node windows. ORT's node `ts` is
/// in µs from `profiling_start_nanos` (its system clock); CUPTI's clock is
/// related to the host clocks by the offsets taken when recording started,
/// and the offset that explains more kernels is used.
fn attribute_gpu_time(
    nodes: &[NodeEvent],
    profiling_start_nanos: u64,
    recording: &crate::telemetry::cupti::Recording,
) -> Result<GpuAttribution, String> {
    use crate::metrics::gpu_attribution::{NodeWindow, attribute_with_best_offset};
    if recording.kernels.is_empty() {
        return Err("CUPTI recorded no GPU kernels".to_owned());
    }
    let windows: Vec<NodeWindow> = nodes
        .iter()
        .map(|event| {
            let start = profiling_start_nanos + event.ts_micros * 1_000;
            NodeWindow {
                node: event.node.clone(),
                thread_id: event.thread_id,
                start_nanos: start,
                end_nanos: start + event.dur_micros * 1_000,
            }
        })
        .collect();
    let offsets = [
        recording.offset_from_realtime,
        recording.offset_from_monotonic,
        0,
    ];
    let (attribution, _) =
        attribute_with_best_offset(&windows, &recording.launches, &recording.kernels, &offsets)
            .ok_or("no clock offset to try")?;
    if attribution.nodes.iter().all(|node| node.kernels == 0) {
        return Err(format!(
            "none of the {} GPU kernels CUPTI recorded fell in an ONNX Runtime node window, so they could not be attributed",
            recording.kernels.len()
        ));
    }
    Ok(attribution)
}
