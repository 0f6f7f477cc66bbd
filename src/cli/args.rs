//! The command line as clap parses it: the argument types, the value parsers
//! of `--dim`, `--input`, `--prune` and durations, and the translation of
//! flags into a [`ProfileConfig`] or a [`TransformSpec`].

use std::{path::PathBuf, time::Duration};

use clap::{Args, Parser, Subcommand};

use crate::{
    engine::{
        Arrival, BatchingConfig, ConvAlgoSearch, CudaOptions, ExecutionProviderKind, InputFile,
        LayerProfiling, LoadMode, OptLevel, ProfileConfig,
        arrivals::SpinMode,
        config,
        generate::{GenerationConfig, LengthRange},
    },
    transform::{
        AccuracyBudget, BudgetLimit, DEFAULT_ACCURACY_SAMPLES, Int8Mode, Precision, PruneMode,
        PruneNorm, PruneScope, PruneSpec, SyntheticKind, TransformSpec,
    },
};

/// Profile ONNX models under concurrent load on ONNX Runtime.
#[derive(Debug, Parser)]
#[command(name = "onnx-workbench", disable_version_flag = true)]
pub struct Cli {
    /// Print the version, the ONNX Runtime version and library path, and the execution providers.
    #[arg(short = 'V', long = "version", global = false)]
    pub version: bool,
    /// More log output on stderr: -v adds debug messages and ONNX Runtime's
    /// warnings, -vv everything ONNX Runtime says. ONNX_WORKBENCH_LOG
    /// (a tracing filter such as `onnxruntime=debug`) overrides it.
    #[arg(short = 'v', long = "verbose", action = clap::ArgAction::Count, global = true)]
    pub verbose: u8,
    #[command(subcommand)]
    pub command: Option<Command>,
}

/// A headless command.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Check the setup: ONNX Runtime library and version, execution providers, GPU.
    Doctor,
    /// Fetch the pinned ONNX Runtime (PyPI wheel onnxruntime==1.31.1) into the cache now.
    Setup(SetupArgs),
    /// Inspect a model: inputs, outputs, ops, parameters, FLOPs.
    Inspect(InspectArgs),
    /// Run load against a model and report throughput, latency and per-layer timings.
    Profile(Box<ProfileArgs>),
    /// Print a saved session.
    Report(ReportArgs),
    /// Open the desktop workbench (the default when no command is given).
    Gui(GuiArgs),
    /// Rewrite a model (fp16, int8, pruning), write it, and report size and accuracy.
    Transform(Box<TransformArgs>),
    /// Sweep configurations under a latency SLO: grid or rate/concurrency search, Pareto set, recommendation.
    Sweep(Box<SweepArgs>),
}

/// `gui` arguments.
#[derive(Debug, Args)]
pub struct GuiArgs {
    /// A model to open.
    pub model: Option<PathBuf>,
    /// Start a run as soon as the model is loaded.
    #[arg(long, requires = "model")]
    pub autorun: bool,
    /// Close the window when that run finishes.
    #[arg(long, requires = "autorun")]
    pub exit_after_run: bool,
    /// Write frame-time statistics (JSON) here when the window closes.
    #[arg(long)]
    pub frame_stats: Option<PathBuf>,
    /// Write the first finished run's session (JSON) here (with --autorun: unattended runs).
    #[arg(long, value_name = "FILE.json")]
    pub export: Option<PathBuf>,
    /// Override the remembered concurrency.
    #[arg(long)]
    pub concurrency: Option<u32>,
    /// Override the remembered duration, e.g. 15s.
    #[arg(long, value_parser = parse_duration)]
    pub duration: Option<Duration>,
    /// Use sampled per-layer profiling, every Nth run.
    #[arg(long)]
    pub profile_every: Option<u32>,
    /// Override the remembered input shapes.
    #[command(flatten)]
    pub shape: ShapeArgs,
    /// Open this mix file (TOML, as `profile --mix` reads) in the Mix tab.
    #[arg(long, value_name = "MIX.toml")]
    pub mix: Option<PathBuf>,
    /// Override the remembered load with an open loop at this rate (requests/s, Poisson).
    #[arg(long)]
    pub rate: Option<f64>,
    /// Most memory for the inputs of a run, e.g. 8GiB (as `profile --max-input-bytes`; the window has no field for it).
    #[arg(long, value_name = "BYTES", value_parser = crate::engine::inputs::budget::parse_bytes)]
    pub max_input_bytes: Option<u64>,
}

/// Transform flags, shared by `transform` and `profile`.
#[derive(Debug, Clone, Args)]
pub struct TransformFlags {
    /// Target precision.
    #[arg(long, value_enum, default_value_t = Precision::Fp32, help_heading = "Transform")]
    pub precision: Precision,
    /// With --precision int8: integer compute (dynamic) or DequantizeLinear weights (qdq).
    #[arg(long, value_enum, default_value_t = Int8Mode::Dynamic, help_heading = "Transform")]
    pub int8_mode: Int8Mode,
    /// With --precision fp16: keep graph inputs and outputs float16 (default: float32 with Casts).
    #[arg(long, help_heading = "Transform")]
    pub fp16_io: bool,
    /// Magnitude pruning to this sparsity (fraction of weights or channels): 0.5 or 50%.
    #[arg(long, value_parser = parse_sparsity, help_heading = "Transform")]
    pub prune: Option<f64>,
    /// Zero single weights (unstructured) or remove whole output channels, coupled layers together (structured).
    #[arg(long, value_enum, default_value_t = PruneMode::Unstructured, requires = "prune", help_heading = "Transform")]
    pub prune_mode: PruneMode,
    /// Pruning target per layer, or one threshold over all layers (unstructured only).
    #[arg(long, value_enum, default_value_t = PruneScope::PerLayer, requires = "prune", help_heading = "Transform")]
    pub prune_scope: PruneScope,
    /// Leave the first and the last prunable layer dense.
    #[arg(long, requires = "prune", help_heading = "Transform")]
    pub skip_first_last: bool,
    /// Structured: no channel group keeps fewer channels than this.
    #[arg(long, default_value_t = 1, value_parser = clap::value_parser!(u32).range(1..), requires = "prune", help_heading = "Transform")]
    pub prune_min_channels: u32,
    /// Structured: channel counts after pruning are a multiple of K where the layer has enough channels (e.g. 8).
    #[arg(long, value_name = "K", default_value_t = 1, value_parser = clap::value_parser!(u32).range(1..), requires = "prune", help_heading = "Transform")]
    pub prune_round: u32,
    /// Structured: the norm that scores a channel (summed over its group).
    #[arg(long, value_enum, default_value_t = PruneNorm::L1, requires = "prune", help_heading = "Transform")]
    pub prune_norm: PruneNorm,
    /// Seeded input sets compared to measure accuracy (ignored with --input).
    #[arg(long, default_value_t = DEFAULT_ACCURACY_SAMPLES, help_heading = "Transform")]
    pub accuracy_samples: usize,
    /// Raise the model's default-domain opset to N first, adapting the ops that changed (int8 raises models below 13 on its own).
    #[arg(long, value_name = "N", value_parser = clap::value_parser!(i64).range(1..=crate::transform::opset::MAX_TARGET_OPSET), help_heading = "Transform")]
    pub opset: Option<i64>,
    /// Convert as much as stays within this accuracy: a minimum cosine over
    /// outputs and evaluation inputs (0.999), or top1=0.5% (maximum top-1
    /// drop, needs labels). Too sensitive layers stay float32 / dense.
    #[arg(long, value_parser = parse_budget, help_heading = "Transform")]
    pub accuracy_budget: Option<BudgetLimit>,
    /// With --accuracy-budget: when not even the least sensitive layer fits,
    /// return the unconverted model instead of an error.
    #[arg(long, requires = "accuracy_budget", help_heading = "Transform")]
    pub budget_allow_unconverted: bool,
    /// Synthetic accuracy inputs: image-like where an input looks like an image (auto), for every float [N,C,H,W] input (image), or N(0,1) noise.
    #[arg(long, value_enum, default_value_t = SyntheticKind::Auto, help_heading = "Transform")]
    pub synthetic: SyntheticKind,
    /// Evaluation data for the accuracy check only (a .npy file or a folder of them, for the model's only input); with `profile`, the load itself keeps its own inputs. Overrides --input for accuracy.
    #[arg(long, value_name = "FILE.npy|DIR", help_heading = "Transform")]
    pub eval_input: Option<PathBuf>,
    /// Integer class ids (.npy, one per evaluated row) for top-1/top-5 before and after the transform.
    #[arg(long, value_name = "FILE.npy", help_heading = "Transform")]
    pub labels: Option<PathBuf>,
    /// The [rows, classes] output the labels go with (default: the first such output).
    #[arg(
        long,
        value_name = "NAME",
        requires = "labels",
        help_heading = "Transform"
    )]
    pub labels_output: Option<String>,
}

impl TransformFlags {
    /// The transform these flags describe.
    pub fn to_spec(&self) -> TransformSpec {
        TransformSpec {
            precision: self.precision,
            int8_mode: self.int8_mode,
            fp16_io: self.fp16_io,
            prune: self.prune.map(|sparsity| PruneSpec {
                sparsity,
                mode: self.prune_mode,
                scope: self.prune_scope,
                skip_first_last: self.skip_first_last,
                min_channels: self.prune_min_channels as usize,
                round_to: self.prune_round as usize,
                norm: self.prune_norm,
            }),
            accuracy_samples: self.accuracy_samples,
            target_opset: self.opset,
            accuracy_budget: self.accuracy_budget.map(|limit| AccuracyBudget {
                limit: Some(limit),
                allow_unconverted: self.budget_allow_unconverted,
            }),
            synthetic: self.synthetic,
            eval_input: self.eval_input.clone(),
            labels: self.labels.clone(),
            labels_output: self.labels_output.clone(),
            ..TransformSpec::default()
        }
    }
}

/// `transform` arguments.
#[derive(Debug, Args)]
pub struct TransformArgs {
    /// The .onnx file.
    pub model: PathBuf,
    #[command(flatten)]
    pub transform: TransformFlags,
    /// Where to write the transformed model (written atomically).
    #[arg(short = 'o', long = "output", required_unless_present = "sensitivity")]
    pub output: Option<PathBuf>,
    /// Print each layer's sensitivity (that layer converted alone) and write
    /// no model; with --accuracy-budget also what the budget would convert.
    #[arg(long)]
    pub sensitivity: bool,
    /// Print the report as JSON instead of text.
    #[arg(long)]
    pub json: bool,
    /// Execution provider the result must load on (and accuracy is measured on).
    #[arg(long, value_enum, default_value_t = ExecutionProviderKind::Cpu)]
    pub ep: ExecutionProviderKind,
    /// The shapes of the accuracy inputs.
    #[command(flatten)]
    pub shape: ShapeArgs,
    /// Real data for the accuracy comparison, one sample per file: NAME=FILE.npy, NAME=DIR (every .npy in DIR, by name) or DIR / FILE.npy for a single-input model (repeatable). The files set the symbolic dims.
    #[arg(long = "input", value_parser = parse_input)]
    pub inputs: Vec<InputFile>,
    /// Seed of the synthetic accuracy inputs.
    #[arg(long, default_value_t = config::DEFAULT_SEED)]
    pub seed: u64,
}

/// `setup` arguments.
#[derive(Debug, Args)]
pub struct SetupArgs {
    /// Fetch the GPU build (onnxruntime-gpu, CUDA 13, cuDNN 9) and the CUDA
    /// libraries that are not already installed (about 1.5 GB from PyPI).
    #[arg(long)]
    pub gpu: bool,
    /// Install from wheels in this folder instead of PyPI (offline machines).
    #[arg(long, value_name = "DIR", requires = "gpu")]
    pub wheels: Option<PathBuf>,
}

/// `inspect` arguments.
#[derive(Debug, Args)]
pub struct InspectArgs {
    /// The .onnx file.
    pub model: PathBuf,
    /// Print JSON instead of text.
    #[arg(long)]
    pub json: bool,
    /// The input shapes of the FLOPs estimate.
    #[command(flatten)]
    pub shape: ShapeArgs,
}

/// `--batch`, `--dim` and `--shape`: the input shapes, one group for every
/// command that takes them.
#[derive(Debug, Clone, Default, Args)]
pub struct ShapeArgs {
    /// First dimension, when it is symbolic (default 1).
    #[arg(long)]
    pub batch: Option<i64>,
    /// Another symbolic dimension, NAME=VALUE (repeatable).
    #[arg(long = "dim", value_parser = parse_dim)]
    pub dims: Vec<(String, i64)>,
    /// One input's whole shape, INPUT=d0,d1,... (repeatable); sets unnamed dims one by one.
    #[arg(long = "shape", value_name = "INPUT=DIMS", value_parser = crate::engine::inputs::parse_shape_flag)]
    pub shapes: Vec<(String, Vec<i64>)>,
}

/// `report` arguments.
#[derive(Debug, Args)]
pub struct ReportArgs {
    /// A session file written by `profile --export`, or a sweep file written by `sweep --export`.
    pub session: PathBuf,
    /// With --merge: the other sessions to merge with the first.
    #[arg(requires = "merge", value_name = "MORE")]
    pub more_sessions: Vec<PathBuf>,
    /// Merge sessions of several load machines against one server (same model and target).
    #[arg(long)]
    pub merge: bool,
    /// Print the session JSON (normalized) instead of text.
    #[arg(long)]
    pub json: bool,
    /// With --merge: write the merged session (JSON) here.
    #[arg(long, requires = "merge")]
    pub export: Option<PathBuf>,
    /// Compare with another document of the same kind: two mixes entry by entry, or two
    /// sessions; a change is better or worse only beyond the runs' noise.
    #[arg(long, value_name = "OTHER.json", conflicts_with = "merge")]
    pub compare: Option<PathBuf>,
}

/// Where a mix entry's "alone" figures come from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Baseline {
    /// A short solo run of each entry before the mix.
    Solo,
}

/// `profile` arguments.
#[derive(Debug, Args)]
pub struct ProfileArgs {
    /// The .onnx file (optional with --target, where it serves inspection and shapes).
    #[arg(required_unless_present_any = ["target", "mix"])]
    pub model: Option<PathBuf>,

    /// Run a mix: several models under load at once, each with its own load and SLO,
    /// from a TOML file whose keys are these flags in snake_case (see the README). With
    /// `sweep --search scale`: the largest common factor on every entry's load that every
    /// entry's SLO allows.
    /// The run's settings are the file's: a setting flag beside it is refused rather
    /// than silently ignored (set it in the file, at the top for every entry).
    #[arg(
        long,
        value_name = "MIX.toml",
        conflicts_with_all = [
            "model", "duration", "warmup", "requests", "concurrency", "rate", "arrival",
            "batch", "dims", "shapes", "inputs", "instances", "intra_threads",
            "inter_threads", "slo", "ep", "max_batch", "target", "generate",
            "profile_runs", "profile_every",
        ],
        help_heading = "Mix"
    )]
    pub mix: Option<PathBuf>,
    /// With --mix: run each entry alone first (same config, at most 5 s), so the report
    /// gives each one's p99 in the mix against its p99 alone.
    #[arg(long, value_enum, requires = "mix", help_heading = "Mix")]
    pub baseline: Option<Baseline>,

    /// Execution provider. CUDA never falls back to CPU silently.
    #[arg(long, value_enum, default_value_t = ExecutionProviderKind::Cpu, help_heading = "Session")]
    pub ep: ExecutionProviderKind,
    /// With --ep cuda: run on the CPU (with a warning) if CUDA cannot register.
    #[arg(long, help_heading = "Session")]
    pub allow_fallback: bool,
    /// With --ep cuda: how cuDNN picks convolution algorithms.
    #[arg(long, value_enum, default_value_t = ConvAlgoSearch::Exhaustive, help_heading = "Session")]
    pub cudnn_conv_algo: ConvAlgoSearch,
    /// With --ep cuda and --io-binding: capture a CUDA graph on the first run and replay it.
    #[arg(long, requires = "io_binding", help_heading = "Session")]
    pub cuda_graph: bool,
    /// Keep inputs and outputs in the provider's device memory (I/O binding); host copies are timed separately.
    #[arg(long, help_heading = "Session")]
    pub io_binding: bool,
    /// CUDA device index.
    #[arg(long, default_value_t = 0, help_heading = "Session")]
    pub device_id: i32,
    /// Intra-op threads per session (0 = ONNX Runtime's default, all cores).
    #[arg(long, default_value_t = 1, help_heading = "Session")]
    pub intra_threads: u32,
    /// Inter-op threads per session (0 = ONNX Runtime's default).
    #[arg(long, default_value_t = 1, help_heading = "Session")]
    pub inter_threads: u32,
    /// Parallel execution of independent nodes (uses the inter-op threads).
    #[arg(long, help_heading = "Session")]
    pub parallel: bool,
    /// Graph optimization level.
    #[arg(long, value_enum, default_value_t = OptLevel::All, help_heading = "Session")]
    pub opt_level: OptLevel,
    /// Sessions in the pool. Default: one per worker (no sharing). Fewer makes
    /// workers wait for a free session, which shows as queue time.
    #[arg(long, help_heading = "Session")]
    pub instances: Option<u32>,

    #[command(flatten, next_help_heading = "Inputs")]
    pub shape: ShapeArgs,
    /// Most memory for the inputs of a run (all input sets times workers), e.g. 8GiB, 512MiB or bytes (default 4GiB; the available memory caps it).
    #[arg(long, value_name = "BYTES", value_parser = crate::engine::inputs::budget::parse_bytes, help_heading = "Inputs")]
    pub max_input_bytes: Option<u64>,
    /// Real data for an input: NAME=FILE.npy, NAME=DIR (every .npy in DIR, by name) or DIR / FILE.npy for a single-input model (repeatable; several files are cycled per request and must share one shape). The files set the symbolic dims.
    #[arg(long = "input", value_parser = parse_input, help_heading = "Inputs")]
    pub inputs: Vec<InputFile>,
    /// Seed for synthetic inputs and Poisson arrivals.
    #[arg(long, default_value_t = config::DEFAULT_SEED, help_heading = "Inputs")]
    pub seed: u64,

    /// Worker threads: clients in closed loop, servers of the queue in open loop.
    #[arg(long, default_value_t = 1, help_heading = "Load")]
    pub concurrency: u32,
    /// Open loop: target requests per second (latency counts from the scheduled time).
    #[arg(long, help_heading = "Load")]
    pub rate: Option<f64>,
    /// Open-loop arrival process.
    #[arg(long, value_enum, default_value_t = Arrival::Poisson, help_heading = "Load")]
    pub arrival: Arrival,
    /// Measured duration, e.g. 10s, 500ms, 2m (default 10s unless --requests is given).
    #[arg(long, value_parser = parse_duration, help_heading = "Load")]
    pub duration: Option<Duration>,
    /// Stop after this many measured requests.
    #[arg(long, help_heading = "Load")]
    pub requests: Option<u64>,
    /// Warm-up before measuring, e.g. 2s (0 for none).
    #[arg(long, value_parser = parse_duration, default_value = "2s", help_heading = "Load")]
    pub warmup: Duration,
    /// Open loop: whether waiting workers spin the last stretch before each arrival
    /// (auto: only while a core is idle). Spinning keeps send lateness to a few µs.
    #[arg(long, value_enum, default_value_t = SpinMode::Auto, help_heading = "Load")]
    pub spin: SpinMode,

    /// Generative decoders: each request is a token loop (prefill the prompt, then decode
    /// greedily feeding the KV cache back), measured as TTFT, inter-token latency, TPOT
    /// and tokens/s. --batch B runs B sequences in lockstep.
    #[arg(long, help_heading = "Generation")]
    pub generate: bool,
    /// Prompt tokens per request: 128, or a uniform range such as 64..256.
    #[arg(long, default_value = "128", value_parser = parse_length_range, help_heading = "Generation")]
    pub prompt_tokens: LengthRange,
    /// Output tokens per request (EOS is ignored): 32, or a range such as 16..64.
    #[arg(long, default_value = "32", value_parser = parse_length_range, help_heading = "Generation")]
    pub new_tokens: LengthRange,
    /// Replay lengths from a file of `prompt,output` lines (replaces --prompt-tokens/--new-tokens).
    #[arg(long, value_name = "FILE", value_parser = parse_lengths_file, help_heading = "Generation")]
    pub lengths: Option<LengthsFile>,
    /// Memory budget of the KV cache of all concurrent sequences at full length, e.g. 4GB
    /// (default: the memory available). A run over it is refused before it starts.
    #[arg(long, value_name = "BYTES", value_parser = crate::engine::inputs::budget::parse_bytes, help_heading = "Generation")]
    pub max_kv_bytes: Option<u64>,

    /// The SLO: p50|p90|p95|p99|p99.9=DURATION (e.g. p99=20ms), or (sweep) throughput>=N
    /// (repeatable). A run stops as soon as its pass test decides (see --no-early-stop).
    /// With --generate, per-request objectives: ttft=, itl=, tpot=, e2e= (goodput).
    #[arg(long = "slo", value_name = "METRIC=VALUE", value_parser = parse_slo_item, help_heading = "Verdict")]
    pub slo: Vec<String>,
    /// Confidence of the SLO's pass test (MLPerf LoadGen uses 0.99).
    #[arg(long, default_value_t = config::DEFAULT_SLO_CONFIDENCE, help_heading = "Verdict")]
    pub confidence: f64,
    /// Run the whole duration even when the SLO's pass test has decided.
    #[arg(long, help_heading = "Verdict")]
    pub no_early_stop: bool,
    /// Run the same configuration N times (fresh sessions each time) and report each
    /// figure's mean, its interval and where one more run should fall: the run-to-run
    /// variation that a single run's intervals cannot hold.
    #[arg(long, value_name = "N", default_value_t = 1, value_parser = clap::value_parser!(u32).range(1..=100), help_heading = "Verdict")]
    pub repeat: u32,

    /// Dynamic batching: group queued requests into runs of up to N rows
    /// (inputs joined along dim 0; the model needs a dynamic first dim).
    #[arg(long, value_name = "N", help_heading = "Dynamic batching")]
    pub max_batch: Option<u32>,
    /// Longest wait after the oldest queued request before a partial batch runs, e.g. 500us, 2ms (default 1ms).
    #[arg(long, value_name = "DUR", value_parser = parse_duration, requires = "max_batch", help_heading = "Dynamic batching")]
    pub batch_delay: Option<Duration>,
    /// Batch sizes that run as soon as they fill, e.g. 4,8,16.
    #[arg(
        long,
        value_name = "N,N,...",
        value_delimiter = ',',
        requires = "max_batch",
        help_heading = "Dynamic batching"
    )]
    pub preferred_batch: Vec<u32>,

    /// Runs of the separate per-layer profiling pass (after the load, on its own session).
    #[arg(long, default_value_t = config::DEFAULT_PROFILE_RUNS, help_heading = "Per-layer profiling")]
    pub profile_runs: u32,
    /// Instead of a separate pass, profile every Nth run of each worker during the load.
    #[arg(
        long,
        conflicts_with = "no_layer_profile",
        help_heading = "Per-layer profiling"
    )]
    pub profile_every: Option<u32>,
    /// No per-layer profiling.
    #[arg(long, help_heading = "Per-layer profiling")]
    pub no_layer_profile: bool,

    #[command(flatten)]
    pub transform: TransformFlags,

    /// Scrape this Prometheus endpoint (e.g. Triton's http://HOST:8002/metrics) once per window for GPU utilization and memory.
    #[arg(long, value_name = "URL", value_parser = crate::telemetry::prometheus::check_url, help_heading = "Telemetry")]
    pub metrics_url: Option<String>,
    #[command(flatten)]
    pub remote: super::remote::RemoteFlags,

    /// No live progress on stderr.
    #[arg(long, short, help_heading = "Output")]
    pub quiet: bool,
    /// Print the session as JSON on stdout instead of the text summary.
    #[arg(long, help_heading = "Output")]
    pub json: bool,
    /// Write the session document (JSON) here.
    #[arg(long, help_heading = "Output")]
    pub export: Option<PathBuf>,
    /// Write layers.csv, op_types.csv, timeseries.csv, telemetry.csv and gpu.csv into this folder.
    #[arg(long, help_heading = "Output")]
    pub export_csv: Option<PathBuf>,
    /// Write a Chrome/Perfetto trace (request spans and ONNX Runtime node events) here.
    #[arg(long, help_heading = "Output")]
    pub export_trace: Option<PathBuf>,
    /// Write a copy of the model whose nodes carry the measured time, FLOPs, bytes and provider in their doc_string (for Netron).
    #[arg(long, value_name = "OUT.onnx", help_heading = "Output")]
    pub export_annotated: Option<PathBuf>,
}

/// `sweep` arguments: every `profile` flag (the base configuration of each
/// point), plus what to vary, the SLO and how to search.
#[derive(Debug, Args)]
pub struct SweepArgs {
    #[command(flatten)]
    pub profile: ProfileArgs,
    /// A dimension to vary, KEY=v1,v2,... (repeatable). Keys: concurrency, rate, batch,
    /// instances, intra-threads, max-batch, batch-delay (e.g. 500us,2ms), precision.
    #[arg(long = "vary", value_name = "KEY=V1,V2,...", help_heading = "Sweep")]
    pub vary: Vec<String>,
    /// Every combination (grid), or for each combination the highest passing open-loop rate or client count.
    #[arg(long, value_enum, default_value_t = crate::tune::SearchMode::Grid, help_heading = "Sweep")]
    pub search: crate::tune::SearchMode,
    /// Wall-clock budget of the sweep, e.g. 5m; points that do not fit are listed as not run.
    #[arg(long, value_parser = parse_duration, help_heading = "Sweep")]
    pub budget: Option<Duration>,
    /// Largest throughput drift over a point accepted as stable, in percent (the drift must also be significant); the SLO percentile must agree across the point's windows within their 95 % intervals.
    #[arg(
        long,
        default_value_t = 10.0,
        value_name = "PCT",
        help_heading = "Sweep"
    )]
    pub stability: f64,
    /// Reruns of an unstable or undecided point (an undecided one runs longer) before it is kept as such.
    #[arg(long, default_value_t = crate::tune::DEFAULT_RETRIES, help_heading = "Sweep")]
    pub retries: u32,
    /// Do not confirm the recommendation with a fresh run.
    #[arg(long, help_heading = "Sweep")]
    pub no_confirm: bool,
}

/// Why a flag's value was rejected. clap prints the message after the flag.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum ArgError {
    #[error("expected NAME=VALUE, got '{text}'")]
    NotNameValue { text: String },
    #[error("'{value}' is not a whole number (in --dim {text})")]
    NotWholeNumber {
        value: String,
        text: String,
        #[source]
        source: std::num::ParseIntError,
    },
    #[error("missing the dimension name in '{text}'")]
    MissingDimensionName { text: String },
    #[error("a dimension must be at least 1 (in --dim {text})")]
    DimensionTooSmall { text: String },
    #[error("expected NAME=FILE.npy, NAME=DIR, or an existing file or folder, got '{text}'")]
    NotNameFile { text: String },
    #[error("'{text}' is not a sparsity like 0.5 or 50%")]
    NotSparsity {
        text: String,
        #[source]
        source: std::num::ParseFloatError,
    },
    #[error("sparsity must be at least 0 and below 1 (100%), got '{text}'")]
    SparsityOutOfRange { text: String },
    #[error("'{text}' is not a duration")]
    InvalidSeconds { text: String },
    #[error("'{text}' is not a duration like 10s or 500ms ({source})")]
    NotDuration {
        text: String,
        #[source]
        source: humantime::DurationError,
    },
}

fn parse_dim(text: &str) -> Result<(String, i64), ArgError> {
    let (name, value) = text.split_once('=').ok_or_else(|| ArgError::NotNameValue {
        text: text.to_owned(),
    })?;
    let value: i64 = value
        .trim()
        .parse()
        .map_err(|source| ArgError::NotWholeNumber {
            value: value.to_owned(),
            text: text.to_owned(),
            source,
        })?;
    if name.trim().is_empty() {
        return Err(ArgError::MissingDimensionName {
            text: text.to_owned(),
        });
    }
    if value < 1 {
        return Err(ArgError::DimensionTooSmall {
            text: text.to_owned(),
        });
    }
    Ok((name.trim().to_owned(), value))
}

fn parse_input(text: &str) -> Result<InputFile, ArgError> {
    let not_name_file = || ArgError::NotNameFile {
        text: text.to_owned(),
    };
    // A file or folder without NAME=: the model's only input.
    if std::path::Path::new(text).exists() {
        return Ok(InputFile {
            name: String::new(),
            path: PathBuf::from(text),
        });
    }
    let (name, path) = text.split_once('=').ok_or_else(not_name_file)?;
    if name.is_empty() || path.is_empty() {
        return Err(not_name_file());
    }
    Ok(InputFile {
        name: name.to_owned(),
        path: PathBuf::from(path),
    })
}

/// Checks one `--slo` item (a latency bound, or a generation objective);
/// the text is kept and parsed again into the config and the sweep's SLO.
fn parse_slo_item(text: &str) -> Result<String, crate::tune::TuneError> {
    if crate::metrics::generation::GenerationSlo::default()
        .parse_into(text)
        .is_ok()
    {
        return Ok(text.to_owned());
    }
    crate::tune::Slo::default().add(text)?;
    Ok(text.to_owned())
}

/// The generation objectives among `--slo` items.
pub fn generation_slo(items: &[String]) -> crate::metrics::generation::GenerationSlo {
    let mut slo = crate::metrics::generation::GenerationSlo::default();
    for item in items {
        let _ = slo.parse_into(item);
    }
    slo
}

/// A `--lengths` file, read when the flag is parsed.
#[derive(Debug, Clone)]
pub struct LengthsFile {
    pub path: PathBuf,
    pub pairs: Vec<(u32, u32)>,
}

fn parse_lengths_file(text: &str) -> Result<LengthsFile, String> {
    let path = PathBuf::from(text);
    let pairs = crate::engine::generate::read_lengths_file(&path)?;
    Ok(LengthsFile { path, pairs })
}

fn parse_length_range(text: &str) -> Result<LengthRange, String> {
    text.parse()
}

/// The latency bounds of `--slo` items already checked by the parser.
pub fn latency_bounds(items: &[String]) -> Vec<crate::metrics::slo::LatencyBound> {
    let mut slo = crate::tune::Slo::default();
    for item in items {
        let _ = slo.add(item);
    }
    slo.latency
}

fn parse_budget(text: &str) -> Result<BudgetLimit, crate::transform::BudgetError> {
    text.parse()
}

fn parse_sparsity(text: &str) -> Result<f64, ArgError> {
    let text = text.trim();
    let (number, scale) = match text.strip_suffix('%') {
        Some(percent) => (percent, 100.0),
        None => (text, 1.0),
    };
    let value: f64 = number
        .trim()
        .parse()
        .map_err(|source| ArgError::NotSparsity {
            text: text.to_owned(),
            source,
        })?;
    let sparsity = value / scale;
    if (0.0..1.0).contains(&sparsity) {
        Ok(sparsity)
    } else {
        Err(ArgError::SparsityOutOfRange {
            text: text.to_owned(),
        })
    }
}

fn parse_duration(text: &str) -> Result<Duration, ArgError> {
    let text = text.trim();
    if let Ok(secs) = text.parse::<f64>() {
        return if secs.is_finite() && secs >= 0.0 {
            Ok(Duration::from_secs_f64(secs))
        } else {
            Err(ArgError::InvalidSeconds {
                text: text.to_owned(),
            })
        };
    }
    humantime::parse_duration(text).map_err(|source| ArgError::NotDuration {
        text: text.to_owned(),
        source,
    })
}

impl ProfileArgs {
    /// The run configuration these flags describe.
    pub fn to_config(&self) -> ProfileConfig {
        let duration_secs = match (self.duration, self.requests) {
            (Some(duration), _) => Some(duration.as_secs_f64()),
            (None, Some(_)) => None,
            (None, None) => Some(config::DEFAULT_DURATION_SECS),
        };
        ProfileConfig {
            execution_provider: self.ep,
            allow_fallback: self.allow_fallback,
            device_id: self.device_id,
            cuda: CudaOptions {
                conv_algo_search: self.cudnn_conv_algo,
                cuda_graph: self.cuda_graph,
            },
            io_binding: self.io_binding,
            intra_threads: self.intra_threads,
            inter_threads: self.inter_threads,
            parallel_execution: self.parallel,
            opt_level: self.opt_level,
            instances: self.instances,
            batch: self.shape.batch,
            dims: self.shape.dims.iter().cloned().collect(),
            shapes: self.shape.shapes.iter().cloned().collect(),
            max_input_bytes: self.max_input_bytes,
            input_files: self.inputs.clone(),
            seed: self.seed,
            concurrency: self.concurrency,
            load: match self.rate {
                Some(rate_per_sec) => LoadMode::Open {
                    rate_per_sec,
                    arrival: self.arrival,
                },
                None => LoadMode::Closed,
            },
            batching: self.max_batch.map(|max_batch| BatchingConfig {
                max_batch,
                delay_micros: self
                    .batch_delay
                    .map_or(BatchingConfig::default().delay_micros, |delay| {
                        u64::try_from(delay.as_micros()).unwrap_or(u64::MAX)
                    }),
                preferred: self.preferred_batch.clone(),
            }),
            duration_secs,
            max_requests: self.requests,
            warmup_secs: self.warmup.as_secs_f64(),
            layer_profiling: if self.no_layer_profile {
                LayerProfiling::Off
            } else if let Some(every) = self.profile_every {
                LayerProfiling::Sampled { every }
            } else {
                LayerProfiling::SeparatePass {
                    runs: self.profile_runs,
                }
            },
            transform: self.transform.to_spec(),
            metrics_url: self.metrics_url.clone(),
            remote: self.remote.to_target(),
            spin: self.spin,
            slo: latency_bounds(&self.slo),
            slo_confidence: self.confidence,
            early_stop: !self.no_early_stop,
            generation: self.generate.then(|| GenerationConfig {
                prompt_tokens: self.prompt_tokens,
                new_tokens: self.new_tokens,
                lengths_file: self.lengths.as_ref().map(|file| file.path.clone()),
                lengths: self
                    .lengths
                    .as_ref()
                    .map(|file| file.pairs.clone())
                    .unwrap_or_default(),
                slo: generation_slo(&self.slo),
                seed: self.seed,
                max_kv_bytes: self.max_kv_bytes,
            }),
        }
    }
}

/// The flag that sets `field`, as CLI errors name it.
pub fn flag_of(field: crate::field::Field) -> &'static str {
    use crate::field::Field;
    match field {
        Field::Concurrency => "--concurrency",
        Field::Rate => "--rate",
        Field::Instances => "--instances",
        Field::Batch => "--batch",
        Field::Dims => "--dim",
        Field::Shapes => "--shape",
        Field::Inputs => "--input",
        Field::MaxInputBytes => "--max-input-bytes",
        Field::Synthetic => "--synthetic",
        Field::Labels => "--labels",
        Field::LabelsOutput => "--labels-output",
        Field::Duration => "--duration",
        Field::Warmup => "--warmup",
        Field::Confidence => "--confidence",
        Field::ProfileRuns => "--profile-runs",
        Field::ProfileEvery => "--profile-every",
        Field::IoBinding => "--io-binding",
        Field::CudaGraph => "--cuda-graph",
        Field::ExecutionProvider => "--ep",
        Field::AllowFallback => "--allow-fallback",
        Field::OptLevel => "--opt-level",
        Field::MaxBatch => "--max-batch",
        Field::BatchDelay => "--batch-delay",
        Field::PreferredBatch => "--preferred-batch",
        Field::Target => "--target",
        Field::ModelName => "--model-name",
        Field::Timeout => "--timeout",
        Field::GrpcChannels => "--grpc-channels",
        Field::Header => "--header",
        Field::MetricsUrl => "--metrics-url",
        Field::Generate => "--generate",
        Field::MaxKvBytes => "--max-kv-bytes",
        Field::Transform => "--precision/--prune",
        Field::SkipFirstLast => "--skip-first-last",
        Field::Vary => "--vary",
        Field::Slo => "--slo",
        Field::Search => "--search",
        Field::Stability => "--stability",
        Field::Mix => "--mix",
    }
}

/// [`flag_of`] as the [`FieldNames`](crate::field::FieldNames)
/// the CLI speaks.
pub fn flag_name(field: crate::field::Field) -> String {
    flag_of(field).to_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dims_inputs_and_durations_parse() {
        assert_eq!(parse_dim("seq=128"), Ok(("seq".to_owned(), 128)));
        assert!(parse_dim("seq").is_err());
        assert!(parse_dim("seq=0").is_err());
        assert!(parse_dim("seq=abc").is_err());
        assert_eq!(
            parse_input("ids=a.npy").map(|f| f.name),
            Ok("ids".to_owned())
        );
        assert!(parse_input("ids").is_err());
        let folder = parse_input(env!("CARGO_MANIFEST_DIR")).expect("an existing folder");
        assert!(folder.name.is_empty() && folder.path.is_dir());
        assert_eq!(parse_duration("10s"), Ok(Duration::from_secs(10)));
        assert_eq!(parse_duration("500ms"), Ok(Duration::from_millis(500)));
        assert_eq!(parse_duration("1.5"), Ok(Duration::from_millis(1500)));
        assert!(parse_duration("soon").is_err());
    }

    #[test]
    fn batching_flags_become_the_config() {
        let parse = |extra: &[&str]| {
            let mut argv = vec!["onnx-workbench", "profile", "m.onnx"];
            argv.extend_from_slice(extra);
            Cli::try_parse_from(argv).map(|cli| match cli.command {
                Some(Command::Profile(args)) => args.to_config(),
                _ => panic!("expected profile"),
            })
        };
        let config = parse(&[
            "--max-batch",
            "16",
            "--batch-delay",
            "500us",
            "--preferred-batch",
            "4,8",
        ])
        .expect("parse");
        assert_eq!(
            config.batching,
            Some(BatchingConfig {
                max_batch: 16,
                delay_micros: 500,
                preferred: vec![4, 8],
            })
        );
        let config = parse(&["--max-batch", "8"]).expect("parse");
        assert_eq!(config.batching, Some(BatchingConfig::default()));
        assert_eq!(parse(&[]).expect("parse").batching, None);
        assert!(
            parse(&["--batch-delay", "1ms"]).is_err(),
            "needs --max-batch"
        );
    }

    #[test]
    fn flags_become_the_config() {
        let cli = Cli::try_parse_from([
            "onnx-workbench",
            "profile",
            "m.onnx",
            "--rate",
            "200",
            "--arrival",
            "constant",
            "--concurrency",
            "2",
            "--requests",
            "100",
            "--dim",
            "seq=8",
            "--profile-every",
            "10",
        ])
        .expect("parse");
        let Some(Command::Profile(args)) = cli.command else {
            panic!("expected profile")
        };
        let config = args.to_config();
        assert_eq!(
            config.load,
            LoadMode::Open {
                rate_per_sec: 200.0,
                arrival: Arrival::Constant
            }
        );
        assert_eq!(config.duration_secs, None);
        assert_eq!(config.max_requests, Some(100));
        assert_eq!(config.dims.get("seq"), Some(&8));
        assert_eq!(
            config.layer_profiling,
            LayerProfiling::Sampled { every: 10 }
        );
        assert_eq!(config.validate(), Ok(()));
    }
}
