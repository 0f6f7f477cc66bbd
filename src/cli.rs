//! The headless commands: `doctor`, `setup`, `inspect`, `profile`, `report`,
//! `transform`.
//!
//! Each command returns an [`ExitCode`]-like number so `main.rs` stays thin:
//! 0 success, 1 error, 2 usage error (from clap), 3 a run that finished but
//! had failed requests.

use std::{
    io::IsTerminal as _,
    path::{Path, PathBuf},
    time::{Duration, Instant},
};

use anyhow::{Context as _, bail};
use clap::{Args, Parser, Subcommand};

use crate::{
    engine::{
        Arrival, ConvAlgoSearch, CudaOptions, ExecutionProviderKind, InputFile, LayerProfiling,
        LoadMode, OptLevel, ProfileConfig, RunHandle, RunStatus, config, runtime,
    },
    metrics::{RunPhase, Snapshot},
    model::Model,
    session::{SessionDocument, render_report, write_chrome_trace, write_csv, write_json},
    transform::{
        DEFAULT_ACCURACY_SAMPLES, Int8Mode, Precision, PruneMode, PruneScope, PruneSpec,
        TransformSpec,
    },
    util::{format_count, format_micros, write_atomic},
};

/// Exit status of a finished run with failed requests.
pub const EXIT_REQUESTS_FAILED: u8 = 3;

/// Profile ONNX models under concurrent load on ONNX Runtime.
#[derive(Debug, Parser)]
#[command(name = "onnx-workbench", disable_version_flag = true)]
pub struct Cli {
    /// Print the version, the ONNX Runtime version and library path, and the execution providers.
    #[arg(short = 'V', long = "version", global = false)]
    pub version: bool,
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
    /// Override the remembered concurrency.
    #[arg(long)]
    pub concurrency: Option<u32>,
    /// Override the remembered duration, e.g. 15s.
    #[arg(long, value_parser = parse_duration)]
    pub duration: Option<Duration>,
    /// Use sampled per-layer profiling, every Nth run.
    #[arg(long)]
    pub profile_every: Option<u32>,
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
    /// Zero single weights (unstructured) or remove whole output channels with the smallest L1 norm (structured).
    #[arg(long, value_enum, default_value_t = PruneMode::Unstructured, requires = "prune", help_heading = "Transform")]
    pub prune_mode: PruneMode,
    /// Pruning target per layer, or one threshold over all layers (unstructured only).
    #[arg(long, value_enum, default_value_t = PruneScope::PerLayer, requires = "prune", help_heading = "Transform")]
    pub prune_scope: PruneScope,
    /// Leave the first and the last prunable layer dense.
    #[arg(long, requires = "prune", help_heading = "Transform")]
    pub skip_first_last: bool,
    /// Seeded input sets compared to measure accuracy (ignored with --input).
    #[arg(long, default_value_t = DEFAULT_ACCURACY_SAMPLES, help_heading = "Transform")]
    pub accuracy_samples: usize,
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
            }),
            accuracy_samples: self.accuracy_samples,
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
    #[arg(short = 'o', long = "output")]
    pub output: PathBuf,
    /// Print the report as JSON instead of text.
    #[arg(long)]
    pub json: bool,
    /// Execution provider the result must load on (and accuracy is measured on).
    #[arg(long, value_enum, default_value_t = ExecutionProviderKind::Cpu)]
    pub ep: ExecutionProviderKind,
    /// First dimension of the accuracy inputs, when it is symbolic (default 1).
    #[arg(long)]
    pub batch: Option<i64>,
    /// Another symbolic dimension of the accuracy inputs, NAME=VALUE (repeatable).
    #[arg(long = "dim", value_parser = parse_dim)]
    pub dims: Vec<(String, i64)>,
    /// Real data for the accuracy comparison, NAME=FILE.npy (repeatable).
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
}

/// `report` arguments.
#[derive(Debug, Args)]
pub struct ReportArgs {
    /// A session file written by `profile --export`.
    pub session: PathBuf,
    /// Print the session JSON (normalized) instead of text.
    #[arg(long)]
    pub json: bool,
}

/// `profile` arguments.
#[derive(Debug, Args)]
pub struct ProfileArgs {
    /// The .onnx file.
    pub model: PathBuf,

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

    /// First dimension, when it is symbolic (default 1).
    #[arg(long, help_heading = "Inputs")]
    pub batch: Option<i64>,
    /// Another symbolic dimension, NAME=VALUE (repeatable).
    #[arg(long = "dim", value_parser = parse_dim, help_heading = "Inputs")]
    pub dims: Vec<(String, i64)>,
    /// Real data for an input, NAME=FILE.npy (repeatable; several files for one input are cycled per request).
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
}

fn parse_dim(text: &str) -> Result<(String, i64), String> {
    let (name, value) = text
        .split_once('=')
        .ok_or_else(|| format!("expected NAME=VALUE, got '{text}'"))?;
    let value: i64 = value
        .trim()
        .parse()
        .map_err(|_| format!("'{value}' is not a whole number (in --dim {text})"))?;
    if name.trim().is_empty() {
        return Err(format!("missing the dimension name in '{text}'"));
    }
    if value < 1 {
        return Err(format!("a dimension must be at least 1 (in --dim {text})"));
    }
    Ok((name.trim().to_owned(), value))
}

fn parse_input(text: &str) -> Result<InputFile, String> {
    let (name, path) = text
        .split_once('=')
        .ok_or_else(|| format!("expected NAME=FILE.npy, got '{text}'"))?;
    if name.is_empty() || path.is_empty() {
        return Err(format!("expected NAME=FILE.npy, got '{text}'"));
    }
    Ok(InputFile {
        name: name.to_owned(),
        path: PathBuf::from(path),
    })
}

fn parse_sparsity(text: &str) -> Result<f64, String> {
    let text = text.trim();
    let (number, scale) = match text.strip_suffix('%') {
        Some(percent) => (percent, 100.0),
        None => (text, 1.0),
    };
    let value: f64 = number
        .trim()
        .parse()
        .map_err(|_| format!("'{text}' is not a sparsity like 0.5 or 50%"))?;
    let sparsity = value / scale;
    if (0.0..1.0).contains(&sparsity) {
        Ok(sparsity)
    } else {
        Err(format!(
            "sparsity must be at least 0 and below 1 (100%), got '{text}'"
        ))
    }
}

fn parse_duration(text: &str) -> Result<Duration, String> {
    let text = text.trim();
    if let Ok(secs) = text.parse::<f64>() {
        return if secs.is_finite() && secs >= 0.0 {
            Ok(Duration::from_secs_f64(secs))
        } else {
            Err(format!("'{text}' is not a duration"))
        };
    }
    humantime::parse_duration(text)
        .map_err(|err| format!("'{text}' is not a duration like 10s or 500ms ({err})"))
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
            batch: self.batch,
            dims: self.dims.iter().cloned().collect(),
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
        }
    }
}

/// Runs a parsed command line; returns the process exit status.
pub fn run(cli: Cli) -> anyhow::Result<u8> {
    if cli.version {
        print_version();
        return Ok(0);
    }
    match cli.command {
        None => gui(GuiArgs {
            model: None,
            autorun: false,
            exit_after_run: false,
            frame_stats: None,
            concurrency: None,
            duration: None,
            profile_every: None,
        }),
        Some(Command::Gui(args)) => gui(args),
        Some(Command::Doctor) => doctor(),
        Some(Command::Setup(args)) => setup(&args),
        Some(Command::Inspect(args)) => inspect(&args),
        Some(Command::Profile(args)) => profile(&args),
        Some(Command::Report(args)) => report(&args),
        Some(Command::Transform(args)) => transform(&args),
    }
}

fn gui(args: GuiArgs) -> anyhow::Result<u8> {
    crate::ui::run(crate::ui::GuiOptions {
        model: args.model,
        autorun: args.autorun,
        exit_after_run: args.exit_after_run,
        frame_stats: args.frame_stats,
        concurrency: args.concurrency,
        duration_secs: args.duration.map(|d| d.as_secs_f64()),
        profile_every: args.profile_every,
    })?;
    Ok(0)
}

fn print_version() {
    println!("onnx-workbench {}", env!("CARGO_PKG_VERSION"));
    match runtime::runtime() {
        Ok(runtime) => {
            println!("ONNX Runtime {} ({})", runtime.version, runtime.source);
            println!("library: {}", runtime.library_path.display());
            println!("execution providers: {}", available_providers().join(", "));
        }
        Err(err) => println!("ONNX Runtime: not available: {err:#}"),
    }
}

fn available_providers() -> Vec<String> {
    use ort::ep::ExecutionProvider as _;
    let mut providers = vec!["CPUExecutionProvider".to_owned()];
    match ort::ep::CUDA::is_available() {
        Ok(true) => providers.push("CUDAExecutionProvider".to_owned()),
        Ok(false) => {
            providers.push("(no CUDAExecutionProvider in this ONNX Runtime build)".to_owned())
        }
        Err(err) => providers.push(format!("(cannot query CUDA: {err})")),
    }
    providers
}

/// Prints where each group of CUDA libraries was found.
fn print_cuda_libraries(libraries: &crate::engine::cuda_libs::CudaLibraries) {
    use crate::engine::cuda_libs::LibraryGroup;
    for (group, label) in [
        (
            LibraryGroup::Cuda,
            "CUDA 13 runtime, cuBLAS, cuRAND, cuFFT, NVRTC",
        ),
        (LibraryGroup::Cudnn, "cuDNN 9"),
        (LibraryGroup::Cupti, "CUPTI (optional, per-kernel GPU time)"),
    ] {
        let missing = libraries.missing_in(group);
        let mut folders: Vec<String> = libraries
            .found
            .iter()
            .filter(|found| found.group == group)
            .filter_map(|found| found.path.parent().map(|dir| dir.display().to_string()))
            .collect();
        folders.dedup();
        if missing.is_empty() {
            println!("  {label}: found in {}", folders.join(", "));
        } else {
            println!("  {label}: MISSING {}", missing.join(", "));
        }
    }
}

/// The CUDA part of `doctor`: the build, the libraries and their versions,
/// the driver, and whether the provider really registers.
fn doctor_cuda(runtime: &runtime::Runtime) {
    use crate::engine::{cuda_libs, session::ModelSource};
    println!("CUDA execution provider:");
    println!("  ONNX Runtime: {}", runtime.flavour);
    let gpu_cache = runtime::cache_dir_for(runtime::Flavour::Gpu);
    let libraries = cuda_libs::CudaLibraries::search(&cuda_libs::search_dirs(gpu_cache.as_deref()));
    print_cuda_libraries(&libraries);
    let versions = cuda_libs::probe_versions(&libraries);
    let or_unknown = |value: &Option<String>| value.clone().unwrap_or_else(|| "-".to_owned());
    println!(
        "  versions: CUDA runtime {}, cuDNN {}, CUPTI API {}",
        or_unknown(&versions.cuda_runtime),
        or_unknown(&versions.cudnn),
        versions
            .cupti_api
            .map_or_else(|| "-".to_owned(), |v| v.to_string())
    );
    match &versions.driver_library_error {
        None => println!(
            "  NVIDIA driver: {} loads; supports CUDA {}",
            cuda_libs::DRIVER_LIBRARY,
            or_unknown(&versions.cuda_driver)
        ),
        Some(reason) => println!("  NVIDIA driver: not found ({reason})"),
    }
    let probe = crate::samples::SAMPLE_MODELS
        .iter()
        .find(|(name, _, _)| *name == "mlp.onnx")
        .map(|(_, _, bytes)| *bytes);
    if let Some(bytes) = probe {
        let config = ProfileConfig {
            execution_provider: ExecutionProviderKind::Cuda,
            ..ProfileConfig::default()
        };
        match crate::engine::session::build_session(
            runtime,
            ModelSource::Memory(bytes),
            &config,
            None,
        ) {
            Ok(_) => println!("  provider: loads (a session was created on CUDA device 0)"),
            Err(err) => println!("  provider: does not load: {err}"),
        }
    }
}

fn doctor() -> anyhow::Result<u8> {
    println!("onnx-workbench {}", env!("CARGO_PKG_VERSION"));
    let runtime = match runtime::runtime() {
        Ok(runtime) => runtime,
        Err(err) => {
            println!("ONNX Runtime: NOT AVAILABLE");
            println!("{err:#}");
            return Ok(1);
        }
    };
    println!("ONNX Runtime {} from {}", runtime.version, runtime.source);
    println!("  library: {}", runtime.library_path.display());
    println!("  build: {}", ort::info());
    println!(
        "  execution providers: {}",
        available_providers().join(", ")
    );
    let environment = crate::telemetry::EnvironmentInfo::probe();
    println!(
        "machine: {} {} ({}), {} ({} logical cores), {} memory",
        environment.os,
        environment.os_version,
        environment.arch,
        environment.cpu_model,
        environment.logical_cores,
        crate::util::format_bytes(environment.total_memory_bytes)
    );
    if environment.gpus.is_empty() {
        println!(
            "GPU: {}",
            environment
                .gpu_note
                .unwrap_or_else(|| "none found".to_owned())
        );
    } else {
        for gpu in &environment.gpus {
            println!(
                "GPU: {} ({} memory, driver {})",
                gpu.name,
                crate::util::format_bytes(gpu.memory_total_bytes),
                gpu.driver_version
            );
        }
    }
    doctor_cuda(runtime);
    Ok(0)
}

fn setup(args: &SetupArgs) -> anyhow::Result<u8> {
    if args.gpu {
        let report = runtime::provision_gpu(args.wheels.as_deref())
            .context("the GPU build of ONNX Runtime could not be set up")?;
        println!(
            "ONNX Runtime {} GPU build ready: {}",
            runtime::ORT_VERSION,
            report.library.display()
        );
        if report.fetched_packages.is_empty() {
            println!("  nothing fetched: everything was already in place");
        } else {
            println!("  fetched: {}", report.fetched_packages.join(", "));
        }
        print_cuda_libraries(&report.cuda_libraries);
        if !report.cuda_libraries.provider_ready() {
            println!(
                "CUDA libraries still missing: {}",
                report.cuda_libraries.describe_missing()
            );
            return Ok(1);
        }
        println!(
            "The GPU build is now used by default (it runs the CPU provider too); set {}=cpu to use the CPU build.",
            runtime::ENV_FLAVOUR
        );
        return Ok(0);
    }
    let (path, source) =
        runtime::locate_or_provision().context("ONNX Runtime could not be set up")?;
    println!(
        "ONNX Runtime {} ready ({source}): {}",
        runtime::ORT_VERSION,
        path.display()
    );
    Ok(0)
}

fn inspect(args: &InspectArgs) -> anyhow::Result<u8> {
    let model = Model::load(&args.model)?;
    let summary = model.summary();
    if args.json {
        println!("{}", serde_json::to_string_pretty(&summary)?);
    } else {
        print!("{summary}");
    }
    Ok(0)
}

fn report(args: &ReportArgs) -> anyhow::Result<u8> {
    let document = SessionDocument::load(&args.session)?;
    if args.json {
        println!("{}", serde_json::to_string_pretty(&document)?);
    } else {
        print!("{}", render_report(&document));
    }
    Ok(0)
}

fn transform(args: &TransformArgs) -> anyhow::Result<u8> {
    let spec = args.transform.to_spec();
    if spec.is_identity() {
        bail!("nothing to do: give --precision fp16|int8 and/or --prune SPARSITY");
    }
    let config = ProfileConfig {
        execution_provider: args.ep,
        batch: args.batch,
        dims: args.dims.iter().cloned().collect(),
        input_files: args.inputs.clone(),
        seed: args.seed,
        ..ProfileConfig::default()
    };
    config.validate()?;
    let model = Model::load(&args.model)?;
    let checked = crate::engine::verify::apply_checked(&model, &spec, &config)?;
    write_atomic(&args.output, &checked.bytes)?;
    if args.json {
        println!("{}", serde_json::to_string_pretty(&checked.report)?);
    } else {
        print!("{}", checked.report.render_text());
        println!("written to {}", args.output.display());
    }
    Ok(0)
}

fn profile(args: &ProfileArgs) -> anyhow::Result<u8> {
    let config = args.to_config();
    config.validate()?;
    check_output_paths(args)?;
    let handle = RunHandle::start(args.model.clone(), config)?;
    let stopper = handle.stopper();
    if let Err(err) = ctrlc::set_handler(move || stopper.stop()) {
        tracing::warn!("Ctrl-C will not stop the run cleanly: {err}");
    }
    show_progress(&handle, args.quiet);
    let record = handle.join();
    let document = SessionDocument::new(record);

    let mut export_failed = false;
    let mut report_line = |result: Result<String, crate::session::SessionError>| match result {
        Ok(message) => eprintln!("{message}"),
        Err(err) => {
            eprintln!("error: {err:#}");
            export_failed = true;
        }
    };
    if let Some(path) = &args.export {
        report_line(
            write_json(&document, path).map(|()| format!("session written to {}", path.display())),
        );
    }
    if let Some(dir) = &args.export_csv {
        report_line(
            write_csv(&document, dir)
                .map(|paths| format!("{} CSV files written to {}", paths.len(), dir.display())),
        );
    }
    if let Some(path) = &args.export_trace {
        report_line(
            write_chrome_trace(&document, path)
                .map(|()| format!("trace written to {}", path.display())),
        );
    }
    if args.json {
        println!("{}", serde_json::to_string_pretty(&document)?);
    } else {
        print!("{}", render_report(&document));
    }
    let run = &document.run;
    if run.status == RunStatus::Failed {
        if let Some(failure) = &run.failure {
            eprintln!("error: {failure}");
        }
        return Ok(1);
    }
    if export_failed {
        return Ok(1);
    }
    if run.errors.count > 0 {
        return Ok(EXIT_REQUESTS_FAILED);
    }
    Ok(0)
}

/// Fails early when an export destination cannot be written, before the run.
fn check_output_paths(args: &ProfileArgs) -> anyhow::Result<()> {
    for path in [&args.export, &args.export_trace].into_iter().flatten() {
        let dir = match path.parent() {
            Some(dir) if !dir.as_os_str().is_empty() => dir,
            _ => Path::new("."),
        };
        if !dir.is_dir() {
            bail!(
                "cannot write {}: the folder {} does not exist",
                path.display(),
                dir.display()
            );
        }
        if path.is_dir() {
            bail!("cannot write {}: it is a folder", path.display());
        }
    }
    Ok(())
}

fn progress_line(snapshot: &Snapshot, phase: RunPhase) -> String {
    let p99 = snapshot.latency.map_or_else(
        || "-".to_owned(),
        |latency| format_micros(latency.p99_micros),
    );
    let recent = snapshot
        .windows
        .last()
        .map_or(snapshot.inferences_per_sec, |w| w.inferences_per_sec);
    format!(
        "[{phase}] {:>6.1}s  {} ok  {} failed  {:.0} inf/s (last 1 s: {:.0})  p99 {p99}",
        snapshot.elapsed_secs,
        format_count(snapshot.requests_ok),
        format_count(snapshot.requests_failed),
        snapshot.inferences_per_sec,
        recent
    )
}

/// Shows the live progress line until the run finishes.
fn show_progress(handle: &RunHandle, quiet: bool) {
    let interval = crate::metrics::DEFAULT_PUBLISH_INTERVAL;
    if quiet {
        while !handle.is_finished() {
            std::thread::sleep(interval);
        }
        return;
    }
    if std::io::stderr().is_terminal() {
        let bar = indicatif::ProgressBar::new_spinner();
        bar.set_draw_target(indicatif::ProgressDrawTarget::stderr());
        while !handle.is_finished() {
            bar.set_message(progress_line(&handle.snapshot(), handle.phase()));
            bar.tick();
            std::thread::sleep(interval);
        }
        bar.finish_and_clear();
    } else {
        let mut last_print = Instant::now();
        while !handle.is_finished() {
            std::thread::sleep(interval);
            if last_print.elapsed() >= Duration::from_secs(1) {
                eprintln!("{}", progress_line(&handle.snapshot(), handle.phase()));
                last_print = Instant::now();
            }
        }
    }
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
        assert_eq!(parse_duration("10s"), Ok(Duration::from_secs(10)));
        assert_eq!(parse_duration("500ms"), Ok(Duration::from_millis(500)));
        assert_eq!(parse_duration("1.5"), Ok(Duration::from_millis(1500)));
        assert!(parse_duration("soon").is_err());
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
