//! The full configuration of a profiling run. It is saved in every session
//! document, so every field is serde and has a default.

use std::{collections::BTreeMap, path::PathBuf};

use serde::{Deserialize, Serialize};

use crate::field::Field;

/// Default number of separate-pass profiling runs.
pub const DEFAULT_PROFILE_RUNS: u32 = 50;
/// Default measured duration in seconds when neither duration nor a request
/// count is given.
pub const DEFAULT_DURATION_SECS: f64 = 10.0;
/// Default warm-up in seconds.
pub const DEFAULT_WARMUP_SECS: f64 = 2.0;
/// Default seed for synthetic inputs and Poisson arrivals.
pub const DEFAULT_SEED: u64 = 42;
/// Largest executed batch, in rows, dynamic batching accepts.
pub const MAX_BATCH_ROWS: u32 = 65_536;
/// Longest batching delay accepted, in µs (10 s).
pub const MAX_BATCH_DELAY_MICROS: u64 = 10_000_000;

/// Which execution provider to run on.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[cfg_attr(feature = "cli", derive(clap::ValueEnum))]
#[serde(rename_all = "snake_case")]
pub enum ExecutionProviderKind {
    /// ONNX Runtime's default CPU provider.
    #[default]
    Cpu,
    /// NVIDIA CUDA (needs the GPU build of ONNX Runtime and a GPU).
    Cuda,
}

impl std::fmt::Display for ExecutionProviderKind {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Self::Cpu => "cpu",
            Self::Cuda => "cuda",
        })
    }
}

/// How cuDNN picks a convolution algorithm (the CUDA provider's
/// `cudnn_conv_algo_search`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[cfg_attr(feature = "cli", derive(clap::ValueEnum))]
#[serde(rename_all = "snake_case")]
pub enum ConvAlgoSearch {
    /// Benchmark every algorithm on first use and keep the fastest (slow
    /// first run, most memory, best steady state).
    #[default]
    Exhaustive,
    /// cuDNN's heuristics, no benchmarking.
    Heuristic,
    /// Always cuDNN's default algorithm.
    Default,
}

impl ConvAlgoSearch {
    pub(crate) fn to_ort(self) -> ort::ep::cuda::ConvAlgorithmSearch {
        match self {
            Self::Exhaustive => ort::ep::cuda::ConvAlgorithmSearch::Exhaustive,
            Self::Heuristic => ort::ep::cuda::ConvAlgorithmSearch::Heuristic,
            Self::Default => ort::ep::cuda::ConvAlgorithmSearch::Default,
        }
    }
}

impl std::fmt::Display for ConvAlgoSearch {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Self::Exhaustive => "exhaustive",
            Self::Heuristic => "heuristic",
            Self::Default => "default",
        })
    }
}

/// Options of the CUDA execution provider.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(default)]
pub struct CudaOptions {
    pub conv_algo_search: ConvAlgoSearch,
    /// Capture the model into a CUDA graph on the first run and replay it
    /// afterwards. Needs I/O binding, fixed shapes, every node on CUDA and
    /// one session per worker.
    pub cuda_graph: bool,
}

/// Graph optimization level, as ONNX Runtime names them.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[cfg_attr(feature = "cli", derive(clap::ValueEnum))]
#[serde(rename_all = "snake_case")]
pub enum OptLevel {
    /// No graph optimizations: node names match the model file.
    Disable,
    /// Constant folding and redundant-node removal.
    Basic,
    /// Basic plus complex fusions.
    Extended,
    /// Everything, including layout optimizations.
    #[default]
    All,
}

impl OptLevel {
    pub(crate) fn to_ort(self) -> ort::session::builder::GraphOptimizationLevel {
        use ort::session::builder::GraphOptimizationLevel as Level;
        match self {
            Self::Disable => Level::Disable,
            Self::Basic => Level::Level1,
            Self::Extended => Level::Level2,
            Self::All => Level::All,
        }
    }
}

impl std::fmt::Display for OptLevel {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Self::Disable => "disable",
            Self::Basic => "basic",
            Self::Extended => "extended",
            Self::All => "all",
        })
    }
}

/// Whether waiting workers spin the last stretch before an arrival.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[cfg_attr(feature = "cli", derive(clap::ValueEnum))]
#[serde(rename_all = "snake_case")]
pub enum SpinMode {
    /// Spin only while a core is idle for it (the threads running the
    /// model or spinning, counted live, are fewer than the cores).
    #[default]
    Auto,
    /// Always spin the last stretch: lowest lateness, costs a core per
    /// waiting worker near each arrival.
    On,
    /// Never spin: sleep until the intended time (lateness is then the
    /// sleep's precision, tens of µs).
    Off,
}

impl std::fmt::Display for SpinMode {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Self::Auto => "auto",
            Self::On => "on",
            Self::Off => "off",
        })
    }
}

/// How requests arrive in open-loop mode.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[cfg_attr(feature = "cli", derive(clap::ValueEnum))]
#[serde(rename_all = "snake_case")]
pub enum Arrival {
    /// Exponential inter-arrival times (a Poisson process), seeded.
    #[default]
    Poisson,
    /// Evenly spaced requests.
    Constant,
}

/// Closed loop (each client waits for its answer) or open loop (a target rate).
#[derive(Debug, Clone, Copy, PartialEq, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case", tag = "mode")]
pub enum LoadMode {
    /// Each worker sends its next request when the last one returns.
    #[default]
    Closed,
    /// Requests scheduled at `rate_per_sec` and served by the workers;
    /// latency counts from the scheduled time.
    Open { rate_per_sec: f64, arrival: Arrival },
}

/// Dynamic batching: a batcher thread groups queued requests into one run,
/// as Triton's dynamic batcher does. Each request still has `batch` rows.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct BatchingConfig {
    /// Most rows in one executed batch.
    pub max_batch: u32,
    /// Longest wait after the oldest queued request before a partial batch
    /// runs, in µs.
    pub delay_micros: u64,
    /// Batch sizes (rows) that run as soon as they fill, smallest first.
    pub preferred: Vec<u32>,
}

impl Default for BatchingConfig {
    fn default() -> Self {
        Self {
            max_batch: 8,
            delay_micros: 1000,
            preferred: Vec::new(),
        }
    }
}

/// How per-layer timings are collected.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case", tag = "mode")]
pub enum LayerProfiling {
    /// No per-layer timings.
    Off,
    /// A separate pass of `runs` runs on its own session after the load, so the
    /// profiler does not skew throughput.
    SeparatePass { runs: u32 },
    /// Every `every`-th run of each worker is profiled during the load; those
    /// runs are left out of the latency percentiles.
    Sampled { every: u32 },
}

impl Default for LayerProfiling {
    fn default() -> Self {
        Self::SeparatePass {
            runs: DEFAULT_PROFILE_RUNS,
        }
    }
}

/// One user-supplied input file: `NAME=FILE.npy`. Several files for the same
/// name are cycled through, one per request.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct InputFile {
    pub name: String,
    pub path: PathBuf,
}

/// Everything that defines a profiling run.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct ProfileConfig {
    pub execution_provider: ExecutionProviderKind,
    /// Fall back to CPU (with a visible warning) when CUDA cannot register.
    pub allow_fallback: bool,
    /// CUDA device index.
    pub device_id: i32,
    /// CUDA provider options (used when the provider is CUDA).
    pub cuda: CudaOptions,
    /// Bind inputs and outputs to the provider's device memory once (I/O
    /// binding), so each request is compute only; host copies are then
    /// measured separately. Needs one session per worker.
    pub io_binding: bool,
    /// Intra-op threads per session; 0 lets ONNX Runtime decide.
    pub intra_threads: u32,
    /// Inter-op threads per session; 0 lets ONNX Runtime decide.
    pub inter_threads: u32,
    /// Parallel (rather than sequential) execution of independent nodes.
    pub parallel_execution: bool,
    pub opt_level: OptLevel,
    /// Sessions in the pool; `None` means one per worker.
    pub instances: Option<u32>,
    /// Value of the first dim when it is symbolic; `None` means 1.
    pub batch: Option<i64>,
    /// Values of other symbolic dims, by name.
    pub dims: BTreeMap<String, i64>,
    /// Whole shapes of single inputs, by input name (`--shape`); they set
    /// unnamed dims one by one and bind the named ones.
    pub shapes: BTreeMap<String, Vec<i64>>,
    /// Most bytes input preparation may allocate for a run's inputs (all
    /// input sets times workers); `None` means the default, 4 GiB. The
    /// machine's available memory caps it too.
    pub max_input_bytes: Option<u64>,
    pub input_files: Vec<InputFile>,
    pub seed: u64,
    /// Worker threads: clients in closed loop, servers of the queue in open loop.
    pub concurrency: u32,
    pub load: LoadMode,
    /// Dynamic batching of requests before they run; `None` runs each
    /// request on its own.
    pub batching: Option<BatchingConfig>,
    /// Measured duration; `None` with `max_requests` set means "until done".
    pub duration_secs: Option<f64>,
    /// Stop after this many measured requests.
    pub max_requests: Option<u64>,
    pub warmup_secs: f64,
    pub layer_profiling: LayerProfiling,
    /// Transform applied in memory before the model is loaded (default: none).
    pub transform: crate::transform::TransformSpec,
    /// A Prometheus text endpoint (Triton's `/metrics`) scraped once per
    /// window for GPU utilization and memory; `None`: not scraped.
    pub metrics_url: Option<String>,
    /// Send the requests to an inference server instead of local sessions.
    pub remote: Option<super::target::RemoteTarget>,
    /// Open loop: whether waiting workers spin the last stretch before an
    /// arrival (lower send lateness, more CPU).
    pub spin: SpinMode,
    /// Latency objectives the run is judged against (`--slo p99=2ms`); the
    /// first one is the run's pass test.
    pub slo: Vec<crate::metrics::slo::LatencyBound>,
    /// Confidence of the pass test (MLPerf LoadGen uses 0.99).
    pub slo_confidence: f64,
    /// Stop the load as soon as the pass test decides (after
    /// [`MIN_EARLY_STOP_WINDOWS`] windows), rather than at the duration.
    pub early_stop: bool,
    /// A generative run: each request is a token loop (prefill, then
    /// decode steps feeding the KV cache back) instead of one call.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub generation: Option<super::generate::GenerationConfig>,
}

/// Full windows a run measures before early stopping may end it, so that
/// stability can be judged too.
pub const MIN_EARLY_STOP_WINDOWS: u64 = 4;
/// Default confidence of an SLO's pass test.
pub const DEFAULT_SLO_CONFIDENCE: f64 = 0.99;

impl Default for ProfileConfig {
    fn default() -> Self {
        Self {
            execution_provider: ExecutionProviderKind::Cpu,
            allow_fallback: false,
            device_id: 0,
            cuda: CudaOptions::default(),
            io_binding: false,
            intra_threads: 1,
            inter_threads: 1,
            parallel_execution: false,
            opt_level: OptLevel::All,
            instances: None,
            batch: None,
            dims: BTreeMap::new(),
            shapes: BTreeMap::new(),
            max_input_bytes: None,
            input_files: Vec::new(),
            seed: DEFAULT_SEED,
            concurrency: 1,
            load: LoadMode::Closed,
            batching: None,
            duration_secs: Some(DEFAULT_DURATION_SECS),
            max_requests: None,
            warmup_secs: DEFAULT_WARMUP_SECS,
            layer_profiling: LayerProfiling::default(),
            transform: crate::transform::TransformSpec::default(),
            metrics_url: None,
            remote: None,
            spin: SpinMode::Auto,
            slo: Vec::new(),
            slo_confidence: DEFAULT_SLO_CONFIDENCE,
            early_stop: true,
            generation: None,
        }
    }
}

/// Why a config cannot run. The message names each [`Field`] through the
/// namer given to [`ConfigError::render`]; `Display` names them as the
/// thread does ([`crate::field::speak`]): the CLI's flags, the window's
/// labels, or the mix-file keys ([`Field::key`]).
#[derive(Debug, PartialEq)]
pub enum ConfigError {
    Remote(super::target::TargetError),
    ZeroConcurrency,
    Generation(String),
    /// A generative run with a setting it cannot use.
    GenerationWith(Field),
    BadRate(f64),
    ZeroInstances,
    BadBatch(i64),
    BadDim {
        name: String,
        value: i64,
    },
    Unbounded,
    BadDuration(f64),
    BadWarmup(f64),
    BadConfidence(f64),
    BadProfiling,
    IoBindingWithPool,
    CudaGraphNeedsBinding,
    BadMaxBatch(u32),
    BatchOverMaxBatch {
        batch: i64,
        max_batch: u32,
    },
    BadBatchDelay(u64),
    BadPreferredBatch(u32, u32),
    BatchingWith(Field),
}

impl From<super::target::TargetError> for ConfigError {
    fn from(err: super::target::TargetError) -> Self {
        Self::Remote(err)
    }
}

impl ConfigError {
    /// The message, each field named by `name`.
    pub fn render(&self, name: &dyn Fn(Field) -> String) -> String {
        use Field as F;
        match self {
            Self::Remote(super::target::TargetError::NotRemote(field)) => format!(
                "{} has no meaning against a remote server: {}",
                name(*field),
                super::target::not_remote_reason(*field)
            ),
            Self::Remote(err) => err.to_string(),
            Self::ZeroConcurrency => format!("{} must be at least 1", name(F::Concurrency)),
            Self::Generation(message) => message.clone(),
            Self::GenerationWith(field) => format!(
                "{} cannot be combined with {}: each worker runs its own token loop on its own session",
                name(F::Generate),
                name(*field)
            ),
            Self::BadRate(rate) => format!(
                "{} must be a positive number of requests per second, got {rate}",
                name(F::Rate)
            ),
            Self::ZeroInstances => format!("{} must be at least 1", name(F::Instances)),
            Self::BadBatch(batch) => format!("{} must be at least 1, got {batch}", name(F::Batch)),
            Self::BadDim { name: dim, value } => format!(
                "{} {dim}={value}: a dimension must be at least 1",
                name(F::Dims)
            ),
            Self::Unbounded => "the run has no end: give a duration or a request count".to_owned(),
            Self::BadDuration(secs) => {
                format!("{} must be positive, got {secs} s", name(F::Duration))
            }
            Self::BadWarmup(secs) => {
                format!("{} must be zero or positive, got {secs} s", name(F::Warmup))
            }
            Self::BadConfidence(confidence) => format!(
                "{} must be between 0.5 and 1 (exclusive), got {confidence}",
                name(F::Confidence)
            ),
            Self::BadProfiling => format!(
                "{} and {} must be at least 1",
                name(F::ProfileRuns),
                name(F::ProfileEvery)
            ),
            Self::IoBindingWithPool => format!(
                "{} needs one session per worker: leave {} unset or equal to {}",
                name(F::IoBinding),
                name(F::Instances),
                name(F::Concurrency)
            ),
            Self::CudaGraphNeedsBinding => format!(
                "{} needs the CUDA execution provider ({}) and {} (inputs and outputs must stay at fixed device addresses)",
                name(F::CudaGraph),
                name(F::ExecutionProvider),
                name(F::IoBinding)
            ),
            Self::BadMaxBatch(max) => format!(
                "{} must be between 1 and {MAX_BATCH_ROWS}, got {max}",
                name(F::MaxBatch)
            ),
            Self::BatchOverMaxBatch { batch, max_batch } => format!(
                "{} {batch} is larger than {} {max_batch}: a request never fits a batch",
                name(F::Batch),
                name(F::MaxBatch)
            ),
            Self::BadBatchDelay(micros) => format!(
                "{} must be at most 10 s, got {micros} µs",
                name(F::BatchDelay)
            ),
            Self::BadPreferredBatch(size, max) => format!(
                "{} {size} must be between 1 and {} {max}",
                name(F::PreferredBatch),
                name(F::MaxBatch)
            ),
            Self::BatchingWith(field) => format!(
                "dynamic batching cannot be combined with {}: batches are built per run from host tensors",
                name(*field)
            ),
        }
    }
}

impl std::fmt::Display for ConfigError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.render(&Field::name))
    }
}

impl std::error::Error for ConfigError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            Self::Remote(err) => err.source(),
            _ => None,
        }
    }
}

/// How requests reach the sessions, decided once from the config; the
/// run's stages match on it instead of each testing for batching.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Dispatch {
    /// Each worker runs its own requests, one at a time, on its own
    /// session or one borrowed from the pool; each has its own input values.
    PerWorker {
        /// The workers.
        workers: u32,
    },
    /// Clients queue requests; one batch executor per session concatenates
    /// queued requests along the first dim and runs them together. Inputs
    /// and outputs must batch, and profiled shapes vary with the batch.
    Batched,
}

impl Dispatch {
    /// The sessions worth creating for `instances` requested: a session
    /// beyond the workers would idle; with batching each session has an
    /// executor of its own.
    pub fn usable_sessions(self, instances: u32) -> u32 {
        match self {
            Self::PerWorker { workers } => instances.min(workers),
            Self::Batched => instances,
        }
    }

    /// Sets of input values to make: one per worker, or one (the first run;
    /// batches are built from the prepared data).
    pub fn value_sets(self) -> usize {
        match self {
            Self::PerWorker { workers } => workers as usize,
            Self::Batched => 1,
        }
    }
}

impl ProfileConfig {
    /// Number of load workers.
    pub fn num_workers(&self) -> u32 {
        self.concurrency.max(1)
    }

    /// How requests reach the sessions.
    pub fn dispatch(&self) -> Dispatch {
        if self.batching.is_some() {
            Dispatch::Batched
        } else {
            Dispatch::PerWorker {
                workers: self.num_workers(),
            }
        }
    }

    /// Number of ONNX Runtime sessions in the pool: one per worker by
    /// default, one with dynamic batching.
    pub fn num_instances(&self) -> u32 {
        let default = if self.batching.is_some() {
            1
        } else {
            self.num_workers()
        };
        self.instances.unwrap_or(default).max(1)
    }

    /// A local closed loop whose clients would keep more threads busy than
    /// the machine has cores gets, unless `instances` says otherwise, as
    /// many sessions as the cores run at once; the other clients' requests
    /// wait for one in arrival order, as at a server, and that wait is
    /// queue time. With one session per client instead, the OS time-slices
    /// the clients: one keeps a core for a whole slice while the others'
    /// requests sit unseen, so p99 stays at the bare run time while the mean
    /// (clients / throughput) grows. Returns the note that says so, when it
    /// applies.
    pub fn queue_clients_beyond_cores(&mut self, cores: u32) -> Option<String> {
        let sessions = self.queued_sessions(cores)?;
        self.instances = Some(sessions);
        Some(format!(
            "{} clients at {} thread(s) each would oversubscribe {cores} cores: {sessions} session(s) serve them and the other requests queue in arrival order, as at a server (set instances to choose)",
            self.num_workers(),
            self.intra_threads
        ))
    }

    /// The sessions [`Self::queue_clients_beyond_cores`] would give this
    /// config on `cores` cores; `None` where the rule does not apply.
    pub fn queued_sessions(&self, cores: u32) -> Option<u32> {
        let threads = self.intra_threads;
        let applies = self.instances.is_none()
            && self.remote.is_none()
            && self.batching.is_none()
            && self.generation.is_none()
            && !self.io_binding
            && matches!(self.load, LoadMode::Closed)
            && threads >= 1
            && u64::from(self.num_workers()) * u64::from(threads) > u64::from(cores.max(1));
        applies.then(|| (cores / threads).max(1))
    }

    /// Whether requests can wait before they run: an open loop queues them
    /// behind the schedule, and a pool with fewer sessions than workers makes
    /// workers wait for a free session, and dynamic batching holds requests
    /// until their batch runs. Queue time is tracked and shown only then.
    pub fn has_queue(&self) -> bool {
        matches!(self.load, LoadMode::Open { .. })
            || self.batching.is_some()
            || self.num_instances() < self.num_workers()
    }

    /// Checks the values that can be checked without the model.
    pub fn validate(&self) -> Result<(), ConfigError> {
        if self.concurrency == 0 {
            return Err(ConfigError::ZeroConcurrency);
        }
        if let LoadMode::Open { rate_per_sec, .. } = self.load
            && !(rate_per_sec.is_finite() && rate_per_sec > 0.0)
        {
            return Err(ConfigError::BadRate(rate_per_sec));
        }
        if self.instances == Some(0) {
            return Err(ConfigError::ZeroInstances);
        }
        if let Some(batch) = self.batch
            && batch < 1
        {
            return Err(ConfigError::BadBatch(batch));
        }
        if let Some((name, value)) = self.dims.iter().find(|(_, value)| **value < 1) {
            return Err(ConfigError::BadDim {
                name: name.clone(),
                value: *value,
            });
        }
        match (self.duration_secs, self.max_requests) {
            (None, None) => return Err(ConfigError::Unbounded),
            (Some(secs), _) if !(secs.is_finite() && secs > 0.0) => {
                return Err(ConfigError::BadDuration(secs));
            }
            _ => {}
        }
        if !(self.warmup_secs.is_finite() && self.warmup_secs >= 0.0) {
            return Err(ConfigError::BadWarmup(self.warmup_secs));
        }
        if !(self.slo_confidence > 0.5 && self.slo_confidence < 1.0) {
            return Err(ConfigError::BadConfidence(self.slo_confidence));
        }
        if self.io_binding && self.num_instances() != self.num_workers() {
            return Err(ConfigError::IoBindingWithPool);
        }
        if self.cuda.cuda_graph
            && (!self.io_binding || self.execution_provider != ExecutionProviderKind::Cuda)
        {
            return Err(ConfigError::CudaGraphNeedsBinding);
        }
        if let Some(target) = &self.remote {
            target.check(&self.remote_conflicts())?;
        }
        match self.layer_profiling {
            LayerProfiling::SeparatePass { runs: 0 } | LayerProfiling::Sampled { every: 0 } => {
                return Err(ConfigError::BadProfiling);
            }
            _ => {}
        }
        if let Some(generation) = &self.generation {
            self.validate_generation(generation)?;
        }
        match &self.batching {
            Some(batching) => self.validate_batching(batching),
            None => Ok(()),
        }
    }

    /// The rules of a generative run: lengths of at least one token, each
    /// worker with its own session, and no option made for one-shot calls.
    fn validate_generation(
        &self,
        generation: &super::generate::GenerationConfig,
    ) -> Result<(), ConfigError> {
        generation.validate().map_err(ConfigError::Generation)?;
        let conflicts = [
            (Field::MaxBatch, self.batching.is_some()),
            (Field::Target, self.remote.is_some()),
            (Field::IoBinding, self.io_binding),
            (Field::Inputs, !self.input_files.is_empty()),
            (
                Field::ProfileEvery,
                matches!(self.layer_profiling, LayerProfiling::Sampled { .. }),
            ),
            (Field::Instances, self.num_instances() != self.num_workers()),
        ];
        if let Some((field, _)) = conflicts.iter().find(|(_, is_set)| *is_set) {
            return Err(ConfigError::GenerationWith(*field));
        }
        Ok(())
    }

    /// Local-only options and whether each is set (refused with a remote
    /// target).
    fn remote_conflicts(&self) -> [(Field, bool); 5] {
        [
            (Field::MaxBatch, self.batching.is_some()),
            (Field::Transform, !self.transform.is_identity()),
            (
                Field::ProfileEvery,
                matches!(self.layer_profiling, LayerProfiling::Sampled { .. }),
            ),
            (Field::IoBinding, self.io_binding),
            (
                Field::ExecutionProvider,
                self.execution_provider != ExecutionProviderKind::Cpu,
            ),
        ]
    }

    /// The rules of dynamic batching: sizes in range, a request fits a
    /// batch, and no feature that needs fixed per-worker tensors.
    fn validate_batching(&self, batching: &BatchingConfig) -> Result<(), ConfigError> {
        if batching.max_batch == 0 || batching.max_batch > MAX_BATCH_ROWS {
            return Err(ConfigError::BadMaxBatch(batching.max_batch));
        }
        let rows = self.batch.unwrap_or(1);
        if rows > i64::from(batching.max_batch) {
            return Err(ConfigError::BatchOverMaxBatch {
                batch: rows,
                max_batch: batching.max_batch,
            });
        }
        if batching.delay_micros > MAX_BATCH_DELAY_MICROS {
            return Err(ConfigError::BadBatchDelay(batching.delay_micros));
        }
        if let Some(bad) = batching
            .preferred
            .iter()
            .find(|size| **size == 0 || **size > batching.max_batch)
        {
            return Err(ConfigError::BadPreferredBatch(*bad, batching.max_batch));
        }
        if self.io_binding {
            return Err(ConfigError::BatchingWith(Field::IoBinding));
        }
        if matches!(self.layer_profiling, LayerProfiling::Sampled { .. }) {
            return Err(ConfigError::BatchingWith(Field::ProfileEvery));
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {

    #[test]
    fn the_dispatch_is_decided_once_from_the_config() {
        let per_worker = ProfileConfig {
            concurrency: 4,
            ..ProfileConfig::default()
        };
        assert_eq!(per_worker.dispatch(), Dispatch::PerWorker { workers: 4 });
        assert_eq!(per_worker.dispatch().value_sets(), 4);
        // Sessions beyond the workers would idle.
        assert_eq!(per_worker.dispatch().usable_sessions(6), 4);
        let batched = ProfileConfig {
            concurrency: 4,
            batching: Some(BatchingConfig::default()),
            ..ProfileConfig::default()
        };
        assert_eq!(batched.dispatch(), Dispatch::Batched);
        assert_eq!(batched.dispatch().value_sets(), 1);
        // Each session has a batch executor of its own.
        assert_eq!(batched.dispatch().usable_sessions(6), 6);
    }
    use super::*;

    #[test]
    fn errors_name_fields_the_way_each_front_end_does() {
        let config = ProfileConfig {
            batch: Some(8),
            batching: Some(BatchingConfig {
                max_batch: 4,
                ..BatchingConfig::default()
            }),
            ..ProfileConfig::default()
        };
        let err = config.validate().expect_err("batch over max batch");
        assert_eq!(
            err.to_string(),
            "batch 8 is larger than max_batch 4: a request never fits a batch",
            "mix-file keys by default"
        );
        let labelled = err.render(&|field| format!("<{field:?}>"));
        assert_eq!(
            labelled,
            "<Batch> 8 is larger than <MaxBatch> 4: a request never fits a batch"
        );
        let remote = ProfileConfig {
            io_binding: true,
            remote: Some(
                super::super::target::RemoteTarget::parse("http://h:1", Some("m"), None, None)
                    .expect("target"),
            ),
            ..ProfileConfig::default()
        };
        let err = remote.validate().expect_err("local-only option");
        assert!(
            err.render(&|field| format!("<{field:?}>"))
                .starts_with("<IoBinding> has no meaning against a remote server"),
            "{err}"
        );
    }

    #[test]
    fn default_config_is_valid_and_round_trips() {
        let config = ProfileConfig::default();
        assert_eq!(config.validate(), Ok(()));
        let json = serde_json::to_string(&config).expect("serialize");
        let back: ProfileConfig = serde_json::from_str(&json).expect("deserialize");
        assert_eq!(back, config);
    }

    #[test]
    fn missing_fields_take_defaults() {
        let config: ProfileConfig = serde_json::from_str(r#"{"batch": 4}"#).expect("deserialize");
        assert_eq!(config.batch, Some(4));
        assert_eq!(config.seed, DEFAULT_SEED);
    }

    #[test]
    fn invalid_values_are_rejected() {
        let mut config = ProfileConfig {
            concurrency: 0,
            ..ProfileConfig::default()
        };
        assert_eq!(config.validate(), Err(ConfigError::ZeroConcurrency));
        config.concurrency = 1;
        config.load = LoadMode::Open {
            rate_per_sec: -1.0,
            arrival: Arrival::Poisson,
        };
        assert_eq!(config.validate(), Err(ConfigError::BadRate(-1.0)));
        config.load = LoadMode::Closed;
        config.duration_secs = None;
        assert_eq!(config.validate(), Err(ConfigError::Unbounded));
        config.max_requests = Some(10);
        assert_eq!(config.validate(), Ok(()));
        config.dims.insert("seq".into(), 0);
        assert!(matches!(config.validate(), Err(ConfigError::BadDim { .. })));
    }

    #[test]
    fn io_binding_and_cuda_graphs_are_checked() {
        let mut config = ProfileConfig {
            concurrency: 2,
            io_binding: true,
            ..ProfileConfig::default()
        };
        assert_eq!(config.validate(), Ok(()));
        config.instances = Some(1);
        assert_eq!(config.validate(), Err(ConfigError::IoBindingWithPool));
        config.instances = None;
        config.cuda.cuda_graph = true;
        assert_eq!(config.validate(), Err(ConfigError::CudaGraphNeedsBinding));
        config.execution_provider = ExecutionProviderKind::Cuda;
        assert_eq!(config.validate(), Ok(()));
        config.io_binding = false;
        assert_eq!(config.validate(), Err(ConfigError::CudaGraphNeedsBinding));
        let old: ProfileConfig = serde_json::from_str(r#"{"device_id": 1}"#).expect("deserialize");
        assert_eq!(old.cuda, CudaOptions::default());
        assert!(!old.io_binding);
    }

    #[test]
    fn batching_rules_are_checked() {
        let mut config = ProfileConfig {
            concurrency: 8,
            batching: Some(BatchingConfig::default()),
            ..ProfileConfig::default()
        };
        assert_eq!(config.validate(), Ok(()));
        assert_eq!(config.num_instances(), 1);
        assert!(config.has_queue());
        config.batch = Some(16);
        assert_eq!(
            config.validate(),
            Err(ConfigError::BatchOverMaxBatch {
                batch: 16,
                max_batch: 8
            })
        );
        config.batch = Some(2);
        config.batching = Some(BatchingConfig {
            max_batch: 0,
            ..BatchingConfig::default()
        });
        assert_eq!(config.validate(), Err(ConfigError::BadMaxBatch(0)));
        config.batching = Some(BatchingConfig {
            preferred: vec![4, 9],
            ..BatchingConfig::default()
        });
        assert_eq!(config.validate(), Err(ConfigError::BadPreferredBatch(9, 8)));
        config.batching = Some(BatchingConfig {
            delay_micros: MAX_BATCH_DELAY_MICROS + 1,
            ..BatchingConfig::default()
        });
        assert!(matches!(
            config.validate(),
            Err(ConfigError::BadBatchDelay(_))
        ));
        config.batching = Some(BatchingConfig::default());
        config.io_binding = true;
        config.instances = Some(8);
        assert_eq!(
            config.validate(),
            Err(ConfigError::BatchingWith(Field::IoBinding))
        );
        config.io_binding = false;
        config.layer_profiling = LayerProfiling::Sampled { every: 10 };
        assert_eq!(
            config.validate(),
            Err(ConfigError::BatchingWith(Field::ProfileEvery))
        );
        let old: ProfileConfig = serde_json::from_str(r#"{"concurrency": 2}"#).expect("old");
        assert_eq!(old.batching, None);
    }

    #[test]
    fn workers_and_instances_follow_the_load_mode() {
        let mut config = ProfileConfig {
            concurrency: 4,
            ..ProfileConfig::default()
        };
        assert_eq!((config.num_workers(), config.num_instances()), (4, 4));
        config.instances = Some(2);
        assert_eq!((config.num_workers(), config.num_instances()), (4, 2));
    }

    #[test]
    fn clients_beyond_the_cores_queue_for_sessions() {
        let mut config = ProfileConfig {
            concurrency: 16,
            intra_threads: 1,
            ..ProfileConfig::default()
        };
        let note = config
            .queue_clients_beyond_cores(2)
            .expect("oversubscribed");
        assert!(note.contains("2 session(s)"), "{note}");
        assert_eq!(config.num_instances(), 2);
        assert!(config.has_queue());
        // Once set (or set by the user), nothing changes again.
        assert_eq!(config.queue_clients_beyond_cores(2), None);
        let mut fits = ProfileConfig {
            concurrency: 2,
            intra_threads: 1,
            ..ProfileConfig::default()
        };
        assert_eq!(fits.queue_clients_beyond_cores(2), None);
        assert_eq!(fits.instances, None);
        let mut wide = ProfileConfig {
            concurrency: 3,
            intra_threads: 4,
            ..ProfileConfig::default()
        };
        wide.queue_clients_beyond_cores(2);
        assert_eq!(wide.instances, Some(1));
        let mut open = ProfileConfig {
            concurrency: 16,
            load: LoadMode::Open {
                rate_per_sec: 100.0,
                arrival: Default::default(),
            },
            ..ProfileConfig::default()
        };
        assert_eq!(open.queue_clients_beyond_cores(2), None);
    }
}
