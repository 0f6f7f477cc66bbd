//! The Config panel: execution provider, threads, batch and dims, dynamic
//! batching, load, duration, per-layer profiling, and the precision and
//! pruning transform.
//! The config it edits is part of the persisted [`super::Settings`].

use egui::{RichText, Ui};

use super::{loaded_model::LoadedModel, theme};
use crate::{
    engine::{
        Arrival, BatchingConfig, ConvAlgoSearch, ExecutionProviderKind, LayerProfiling, LoadMode,
        OptLevel, ProfileConfig,
        config::{DEFAULT_PROFILE_RUNS, MAX_BATCH_DELAY_MICROS, MAX_BATCH_ROWS},
        generate::GenerationConfig,
    },
    transform::{Int8Mode, Precision, PruneMode, PruneNorm, PruneSpec, TransformSpec},
};

/// Adapts the run settings to a newly opened model: what belonged to the
/// previous one (its dims, shapes and input files by name, its precision
/// and pruning) is dropped; returns a line per thing dropped, for the
/// message that tells the user.
pub fn adopt_model(config: &mut ProfileConfig, model: &LoadedModel) -> Vec<String> {
    let mut dropped = Vec::new();
    let symbols: Vec<&str> = model
        .batch_symbol
        .iter()
        .chain(&model.other_symbols)
        .map(String::as_str)
        .collect();
    let stale: Vec<String> = config
        .dims
        .keys()
        .filter(|name| !symbols.contains(&name.as_str()))
        .cloned()
        .collect();
    for name in stale {
        if let Some(value) = config.dims.remove(&name) {
            dropped.push(format!("dim {name}={value}"));
        }
    }
    let inputs: Vec<&str> = model
        .summary
        .inputs
        .iter()
        .map(|input| input.name.as_str())
        .collect();
    let stale: Vec<String> = config
        .shapes
        .keys()
        .filter(|name| !inputs.contains(&name.as_str()))
        .cloned()
        .collect();
    for name in stale {
        config.shapes.remove(&name);
        dropped.push(format!("shape of {name}"));
    }
    let before = config.input_files.len();
    config
        .input_files
        .retain(|file| file.name.is_empty() || inputs.contains(&file.name.as_str()));
    if config.input_files.len() < before {
        dropped.push(format!(
            "{} input file(s)",
            before - config.input_files.len()
        ));
    }
    let transform = &mut config.transform;
    if transform.precision != Precision::Fp32 {
        dropped.push(format!(
            "precision {}",
            format!("{:?}", transform.precision).to_lowercase()
        ));
        transform.precision = Precision::Fp32;
        transform.int8_mode = Int8Mode::default();
        transform.fp16_io = false;
    }
    if transform.prune.take().is_some() {
        dropped.push("pruning".to_owned());
    }
    dropped
}

/// Hover help for the Config panel's terms of art.
fn jargon_help(label: &str) -> Option<&'static str> {
    Some(match label {
        "Intra-op threads" => {
            "Threads ONNX Runtime uses inside one operator (a MatMul split across cores), per session. 0: one per core."
        }
        "Inter-op threads" => {
            "Threads that run independent branches of the graph at once; used only with parallel execution. 0: ONNX Runtime's default."
        }
        "Concurrency" => {
            "Clients sending requests at once. Closed loop: each sends its next request when the last returns."
        }
        "Profiled runs" => {
            "Runs of the separate per-layer profiling pass after the load (ONNX Runtime's profiler times every node)."
        }
        "Profile every Nth run" => {
            "Sampled profiling: every Nth request of the load itself is profiled, so per-layer times come from the run under load."
        }
        _ => return None,
    })
}

/// The window's label of `field`, as the window's errors name it: the
/// Config panel's, the Tune form's or the remote form's; a setting the
/// window has no control for is named with the command line's flag.
pub fn label_of(field: crate::field::Field) -> &'static str {
    use crate::field::Field;
    match field {
        Field::Concurrency => "Concurrency",
        Field::Rate => "Rate (req/s)",
        Field::Instances => "Session instances",
        Field::Batch => "Batch",
        Field::Dims => "Dimensions",
        Field::Shapes => "Input shapes",
        Field::Inputs => "Inputs (.npy or folder)",
        Field::MaxInputBytes => "input size limit (gui --max-input-bytes)",
        Field::Synthetic => "Synthetic data",
        Field::Labels => "Labels (.npy)",
        Field::LabelsOutput => "labels output (profile --labels-output)",
        Field::Duration => "Duration (s)",
        Field::Warmup => "Warm-up (s)",
        Field::Confidence => "SLO confidence",
        Field::ProfileRuns => "Profiled runs",
        Field::ProfileEvery => "Per-layer profiling: sampled",
        Field::IoBinding => "I/O binding",
        Field::CudaGraph => "CUDA graph",
        Field::ExecutionProvider => "Execution provider",
        Field::AllowFallback => "Allow CPU fallback",
        Field::OptLevel => "Optimization",
        Field::MaxBatch => "Max batch (rows)",
        Field::BatchDelay => "Batch delay (µs)",
        Field::PreferredBatch => "Preferred sizes",
        Field::Target => "Server URL",
        Field::ModelName => "Model name",
        Field::Timeout => "request timeout (profile --timeout)",
        Field::GrpcChannels => "gRPC channels (profile --grpc-channels)",
        Field::Header => "Header",
        Field::MetricsUrl => "Metrics URL",
        Field::Generate => "Generate",
        Field::MaxKvBytes => "KV cache limit (profile --max-kv-bytes)",
        Field::Transform => "Precision / Prune weights",
        Field::SkipFirstLast => "Keep first and last layer dense",
        Field::Vary => "values to vary",
        Field::Slo => "SLO",
        Field::Search => "Search",
        Field::Stability => "Stability (%)",
        Field::Mix => "Mix",
    }
}

/// [`label_of`] in quotes: the [`FieldNames`](crate::field::FieldNames)
/// the window speaks.
pub fn quoted_label(field: crate::field::Field) -> String {
    format!("\"{}\"", label_of(field))
}

/// Problems that stop `config` from running `model`, for the Config panel.
/// `runtime_has_cuda` is `None` while ONNX Runtime is unknown or unavailable.
pub fn config_problems(
    config: &ProfileConfig,
    model: Option<&LoadedModel>,
    runtime_has_cuda: Option<bool>,
) -> Vec<String> {
    let mut problems = Vec::new();
    if let Err(err) = config.validate() {
        // The window's thread names fields by their labels.
        problems.push(err.to_string());
    }
    if let Some(model) = model
        && let (Some(fixed), Some(batch)) = (model.fixed_batch, config.batch)
        && fixed != batch
    {
        problems.push(format!(
            "This model has a fixed batch of {fixed}; batch {batch} cannot run."
        ));
    }
    if let Some(model) = model
        && config.batching.is_some()
        && let Some(fixed) = model.fixed_batch
    {
        problems.push(format!(
            "Dynamic batching needs a dynamic first dimension; this model's batch is fixed at {fixed}."
        ));
    }
    if config.execution_provider == ExecutionProviderKind::Cuda
        && runtime_has_cuda == Some(false)
        && !config.allow_fallback
    {
        problems.push(
            "This ONNX Runtime build has no CUDA provider. Run `onnx-workbench setup --gpu` for the GPU build, choose CPU, or allow the CPU fallback."
                .to_owned(),
        );
    }
    problems
}

/// The Config panel: the run configuration, then the problems that stop it
/// from running. Disabled while a run is active.
pub fn config_ui(
    ui: &mut Ui,
    config: &mut ProfileConfig,
    model: Option<&LoadedModel>,
    remote_inputs: Option<&[crate::model::TensorInfo]>,
    runtime_has_cuda: Option<bool>,
    is_running: bool,
) {
    let fixed_batch = model.and_then(|m| m.fixed_batch);
    let batch_symbol = model.and_then(|m| m.batch_symbol.as_deref());
    let other_symbols: &[String] = model.map_or(&[], |m| &m.other_symbols);
    let has_unnamed = model.is_some_and(|m| m.has_unnamed_dims);
    ui.add_enabled_ui(!is_running, |ui| {
        egui::Grid::new("config_grid")
            .num_columns(2)
            .spacing([8.0, 6.0])
            .show(ui, |ui| {
                let label = ui.label("Execution provider");
                egui::ComboBox::from_id_salt("ep")
                    .selected_text(config.execution_provider.to_string())
                    .show_ui(ui, |ui| {
                        ui.selectable_value(
                            &mut config.execution_provider,
                            ExecutionProviderKind::Cpu,
                            "cpu",
                        );
                        ui.selectable_value(
                            &mut config.execution_provider,
                            ExecutionProviderKind::Cuda,
                            "cuda",
                        );
                    })
                    .response
                    .labelled_by(label.id);
                ui.end_row();
                if config.execution_provider == ExecutionProviderKind::Cuda {
                    ui.label("");
                    ui.checkbox(
                        &mut config.allow_fallback,
                        "Allow CPU fallback (with a warning)",
                    );
                    ui.end_row();
                    labelled_drag(ui, "CUDA device", &mut config.device_id, 0..=15);
                    let label = ui.label("cuDNN conv search");
                    egui::ComboBox::from_id_salt("conv_algo")
                        .selected_text(config.cuda.conv_algo_search.to_string())
                        .show_ui(ui, |ui| {
                            for search in [
                                ConvAlgoSearch::Exhaustive,
                                ConvAlgoSearch::Heuristic,
                                ConvAlgoSearch::Default,
                            ] {
                                ui.selectable_value(
                                    &mut config.cuda.conv_algo_search,
                                    search,
                                    search.to_string(),
                                );
                            }
                        })
                        .response
                        .labelled_by(label.id);
                    ui.end_row();
                    ui.label("");
                    ui.checkbox(
                        &mut config.cuda.cuda_graph,
                        "CUDA graph (needs I/O binding)",
                    )
                    .on_hover_text(
                        "Capture the model into a CUDA graph on the first run and replay it. \
                             Needs fixed shapes and every node on CUDA.",
                    );
                    ui.end_row();
                }
                labelled_drag(ui, "Intra-op threads", &mut config.intra_threads, 0..=256);
                labelled_drag(ui, "Inter-op threads", &mut config.inter_threads, 0..=256);
                ui.label("");
                ui.checkbox(&mut config.parallel_execution, "Parallel execution");
                ui.end_row();
                ui.label("");
                ui.checkbox(&mut config.io_binding, "I/O binding")
                    .on_hover_text(
                        "Keep inputs and outputs in the provider's device memory; \
                         each request is compute only and host copies are timed separately.",
                    );
                ui.end_row();
                let label = ui.label("Optimization");
                egui::ComboBox::from_id_salt("opt")
                    .selected_text(config.opt_level.to_string())
                    .show_ui(ui, |ui| {
                        for level in [
                            OptLevel::Disable,
                            OptLevel::Basic,
                            OptLevel::Extended,
                            OptLevel::All,
                        ] {
                            ui.selectable_value(&mut config.opt_level, level, level.to_string());
                        }
                    })
                    .response
                    .labelled_by(label.id);
                ui.end_row();

                let mut batch = config.batch.unwrap_or(fixed_batch.unwrap_or(1));
                let label = ui.label("Batch");
                let response = ui
                    .add(egui::DragValue::new(&mut batch).range(1..=65_536))
                    .labelled_by(label.id);
                if response.changed() {
                    config.batch = Some(batch);
                }
                ui.end_row();
                if let Some(fixed) = fixed_batch
                    && batch != fixed
                {
                    ui.label("");
                    ui.label(
                        RichText::new(format!("The model's batch is fixed at {fixed}."))
                            .color(theme::ERROR),
                    );
                    ui.end_row();
                } else if let Some(symbol) = &batch_symbol {
                    ui.label("");
                    ui.label(
                        RichText::new(format!("sets '{symbol}'"))
                            .small()
                            .color(theme::MUTED),
                    );
                    ui.end_row();
                }
                // The token loop sets the sequence dims of each call itself.
                let other_symbols = if config.generation.is_some() {
                    &[][..]
                } else {
                    other_symbols
                };
                let defaults = model.map_or(&[][..], |model| &model.summary.dim_defaults[..]);
                for symbol in other_symbols {
                    let chosen = super::input_shapes::chosen_default(defaults, symbol)
                        .filter(|_| !config.dims.contains_key(symbol));
                    let mut value = config
                        .dims
                        .get(symbol)
                        .copied()
                        .or(chosen.map(|chosen| chosen.value))
                        .unwrap_or(1);
                    let label = ui.label(format!("Dim '{symbol}'"));
                    if ui
                        .add(egui::DragValue::new(&mut value).range(1..=1_000_000))
                        .labelled_by(label.id)
                        .changed()
                    {
                        config.dims.insert(symbol.clone(), value);
                    }
                    ui.end_row();
                    if let Some(chosen) = chosen {
                        ui.label("");
                        // The kind ("image height"), the why on hover: the
                        // panel keeps its width.
                        let kind = chosen.reason.split(':').next().unwrap_or_default();
                        ui.label(
                            RichText::new(format!("chosen default: {kind}"))
                                .small()
                                .color(theme::MUTED),
                        )
                        .on_hover_text(format!(
                            "{}. The model leaves this dim open: a run uses this size until you set one, and warns that it was chosen.",
                            chosen.reason
                        ));
                        ui.end_row();
                    }
                }
                if let Some(inputs) = remote_inputs {
                    use super::input_shapes::{ShapeModel, shapes_ui};
                    shapes_ui(ui, config, ShapeModel::remote(inputs));
                } else if has_unnamed && let Some(model) = model {
                    super::input_shapes::shapes_ui(ui, config, model.into());
                }

                labelled_drag(ui, "Concurrency", &mut config.concurrency, 1..=1024);
                // What the run will use: clients beyond the cores queue
                // for cores / intra-op threads sessions unless set.
                let cores = crate::engine::arrivals::CoreBudget::of_machine().cores();
                let queued = config.queued_sessions(cores);
                let mut instances = queued.unwrap_or_else(|| config.num_instances());
                let label = ui.label("Session instances").on_hover_text(
                    "ONNX Runtime sessions serving the clients; each runs one request at a time. By default one per client, or, when the clients would oversubscribe the cores, as many as the cores run at once (the other clients queue).",
                );
                if ui
                    .add(egui::DragValue::new(&mut instances).range(1..=1024))
                    .labelled_by(label.id)
                    .changed()
                {
                    config.instances = Some(instances);
                }
                ui.end_row();
                if let Some(sessions) = queued {
                    ui.label("");
                    ui.label(
                        RichText::new(format!(
                            "{} clients on {cores} cores: {sessions} session(s) serve them, the others queue in arrival order (set a value to choose).",
                            config.concurrency
                        ))
                        .small()
                        .weak(),
                    );
                    ui.end_row();
                }
                if instances > config.concurrency {
                    ui.label("");
                    ui.label(
                        RichText::new("More sessions than workers: the extra ones stay idle.")
                            .small()
                            .color(theme::WARNING),
                    );
                    ui.end_row();
                }
                batching_ui(ui, config);

                ui.label("Load");
                let mut is_open = matches!(config.load, LoadMode::Open { .. });
                ui.horizontal(|ui| {
                    ui.radio_value(&mut is_open, false, "Closed loop");
                    ui.radio_value(&mut is_open, true, "Open loop");
                });
                ui.end_row();
                match (is_open, &mut config.load) {
                    (true, LoadMode::Closed) => {
                        config.load = LoadMode::Open {
                            rate_per_sec: 100.0,
                            arrival: Arrival::Poisson,
                        };
                    }
                    (false, LoadMode::Open { .. }) => config.load = LoadMode::Closed,
                    _ => {}
                }
                if let LoadMode::Open {
                    rate_per_sec,
                    arrival,
                } = &mut config.load
                {
                    let label = ui.label("Rate (req/s)");
                    ui.add(
                        egui::DragValue::new(rate_per_sec)
                            .range(0.1..=1_000_000.0)
                            .speed(10.0),
                    )
                    .labelled_by(label.id);
                    ui.end_row();
                    ui.label("Arrivals");
                    ui.horizontal(|ui| {
                        ui.radio_value(arrival, Arrival::Poisson, "Poisson");
                        ui.radio_value(arrival, Arrival::Constant, "Constant");
                    });
                    ui.end_row();
                }
                let mut duration = config.duration_secs.unwrap_or(10.0);
                let label = ui.label("Duration (s)");
                if ui
                    .add(
                        egui::DragValue::new(&mut duration)
                            .range(0.5..=86_400.0)
                            .speed(0.5),
                    )
                    .labelled_by(label.id)
                    .changed()
                {
                    config.duration_secs = Some(duration);
                }
                ui.end_row();
                let label = ui.label("Warm-up (s)");
                ui.add(
                    egui::DragValue::new(&mut config.warmup_secs)
                        .range(0.0..=600.0)
                        .speed(0.1),
                )
                .labelled_by(label.id);
                ui.end_row();

                ui.label("Per-layer profiling");
                let mut mode = match config.layer_profiling {
                    LayerProfiling::Off => 0,
                    LayerProfiling::SeparatePass { .. } => 1,
                    LayerProfiling::Sampled { .. } => 2,
                };
                ui.vertical(|ui| {
                    ui.radio_value(&mut mode, 1, "Separate pass after the load");
                    ui.radio_value(&mut mode, 2, "Sampled during the load");
                    ui.radio_value(&mut mode, 0, "Off");
                });
                ui.end_row();
                config.layer_profiling = match (mode, config.layer_profiling) {
                    (0, _) => LayerProfiling::Off,
                    (1, LayerProfiling::SeparatePass { runs }) => {
                        LayerProfiling::SeparatePass { runs }
                    }
                    (1, _) => LayerProfiling::SeparatePass {
                        runs: DEFAULT_PROFILE_RUNS,
                    },
                    (_, LayerProfiling::Sampled { every }) => LayerProfiling::Sampled { every },
                    _ => LayerProfiling::Sampled { every: 20 },
                };
                match &mut config.layer_profiling {
                    LayerProfiling::SeparatePass { runs } => {
                        labelled_drag(ui, "Profiled runs", runs, 1..=10_000)
                    }
                    LayerProfiling::Sampled { every } => {
                        labelled_drag(ui, "Profile every Nth run", every, 1..=100_000)
                    }
                    LayerProfiling::Off => {}
                }
                labelled_drag(ui, "Seed", &mut config.seed, 0..=u64::MAX);
            });
        if let Some(layout) = model.and_then(|m| m.summary.generative.as_ref()) {
            ui.separator();
            generation_ui(ui, config, layout);
        }
        ui.separator();
        ui.label(RichText::new("Precision and pruning").strong());
        transform_ui(ui, &mut config.transform);
        super::eval_data::eval_data_ui(ui, &mut config.transform);
    });
    for problem in config_problems(config, model, runtime_has_cuda) {
        ui.label(RichText::new(problem).color(theme::ERROR));
    }
}

/// Turns the token loop on for a generative model (lengths that fit its
/// positions) and off for any other.
pub fn adapt_generation(
    config: &mut ProfileConfig,
    layout: Option<&crate::model::generative::DecoderLayout>,
) {
    let Some(layout) = layout else {
        config.generation = None;
        return;
    };
    if config.generation.is_none() {
        let positions = layout
            .max_positions
            .and_then(|max| u32::try_from(max).ok())
            .unwrap_or(u32::MAX);
        let prompt = 128.min(positions / 2).max(1);
        let output = 32.min(positions.saturating_sub(prompt)).max(1);
        config.generation = Some(GenerationConfig::fixed(prompt, output));
    }
}

/// The Generation section of a generative model: the token loop, prompt
/// and output lengths, and the per-request objectives of goodput.
fn generation_ui(
    ui: &mut Ui,
    config: &mut ProfileConfig,
    layout: &crate::model::generative::DecoderLayout,
) {
    ui.label(RichText::new("Generation").strong());
    let mut enabled = config.generation.is_some();
    ui.checkbox(
        &mut enabled,
        "Token loop: prefill, then decode with the KV cache",
    )
    .on_hover_text(
        "Each request is one generation: the prompt in one call, then one call per output token, \
             feeding the cache back. Measured as TTFT, inter-token latency, TPOT and tokens/s.",
    );
    match (enabled, config.generation.is_some()) {
        (true, false) => adapt_generation(config, Some(layout)),
        (false, true) => config.generation = None,
        _ => {}
    }
    let Some(generation) = config.generation.as_mut() else {
        return;
    };
    egui::Grid::new("generation_grid")
        .num_columns(2)
        .spacing([8.0, 6.0])
        .show(ui, |ui| {
            for (label, range) in [
                ("Prompt tokens", &mut generation.prompt_tokens),
                ("Output tokens", &mut generation.new_tokens),
            ] {
                ui.label(label);
                ui.horizontal(|ui| {
                    ui.add(egui::DragValue::new(&mut range.min).range(1..=1_000_000))
                        .on_hover_text("shortest");
                    ui.label("to");
                    ui.add(egui::DragValue::new(&mut range.max).range(1..=1_000_000))
                        .on_hover_text("longest (equal: a fixed length)");
                });
                range.max = range.max.max(range.min);
                ui.end_row();
            }
            let slo = &mut generation.slo;
            for (label, bound) in [
                ("TTFT objective (ms)", &mut slo.ttft_micros),
                ("ITL objective (ms)", &mut slo.itl_micros),
                ("TPOT objective (ms)", &mut slo.tpot_micros),
                ("End-to-end objective (ms)", &mut slo.e2e_micros),
            ] {
                let mut millis = bound.map_or(0.0, |micros| micros / 1000.0);
                let label = ui.label(label);
                if ui
                    .add(
                        egui::DragValue::new(&mut millis)
                            .range(0.0..=600_000.0)
                            .speed(1.0),
                    )
                    .labelled_by(label.id)
                    .on_hover_text("0: no objective. A request passes when each of its own measures is within its bound; goodput counts those.")
                    .changed()
                {
                    *bound = (millis > 0.0).then_some(millis * 1000.0);
                }
                ui.end_row();
            }
        });
    ui.label(
        RichText::new(format!(
            "KV cache {} per token, {} at {} tokens per sequence; batch runs sequences in lockstep",
            crate::util::format_bytes(layout.kv_bytes_per_token),
            crate::util::format_bytes(layout.kv_bytes(
                1,
                u64::from(generation.prompt_tokens.max + generation.new_tokens.max)
            )),
            generation.prompt_tokens.max + generation.new_tokens.max,
        ))
        .small()
        .color(theme::MUTED),
    );
}

/// Precision and pruning controls; the model is rewritten in memory before
/// the run, and the report (size, accuracy) is saved with the session.
fn transform_ui(ui: &mut Ui, spec: &mut TransformSpec) {
    egui::Grid::new("transform_grid")
        .num_columns(2)
        .spacing([8.0, 6.0])
        .show(ui, |ui| {
            ui.label("Precision");
            ui.horizontal(|ui| {
                ui.radio_value(&mut spec.precision, Precision::Fp32, "fp32");
                ui.radio_value(&mut spec.precision, Precision::Fp16, "fp16");
                ui.radio_value(&mut spec.precision, Precision::Int8, "int8");
            });
            ui.end_row();
            match spec.precision {
                Precision::Int8 => {
                    ui.label("int8 format");
                    ui.horizontal(|ui| {
                        ui.radio_value(
                            &mut spec.int8_mode,
                            Int8Mode::Dynamic,
                            "dynamic (integer kernels)",
                        );
                        ui.radio_value(&mut spec.int8_mode, Int8Mode::Qdq, "QDQ weights")
                            .on_hover_text("QuantizeLinear/DequantizeLinear pairs around int8 weights: the model stays float to ONNX Runtime, which fuses the pairs into integer kernels where it can.");
                    });
                    ui.end_row();
                }
                Precision::Fp16 => {
                    ui.label("");
                    ui.checkbox(&mut spec.fp16_io, "fp16 inputs and outputs");
                    ui.end_row();
                }
                Precision::Fp32 => {}
            }
            let mut is_pruning = spec.prune.is_some();
            ui.label("");
            ui.checkbox(&mut is_pruning, "Prune weights");
            ui.end_row();
            match (is_pruning, spec.prune.is_some()) {
                (true, false) => {
                    spec.prune = Some(PruneSpec {
                        sparsity: 0.5,
                        min_channels: 1,
                        round_to: 1,
                        ..PruneSpec::default()
                    });
                }
                (false, true) => spec.prune = None,
                _ => {}
            }
            if let Some(prune) = &mut spec.prune {
                let mut percent = prune.sparsity * 100.0;
                let label = ui.label("Sparsity (%)");
                if ui
                    .add(egui::Slider::new(&mut percent, 0.0..=95.0))
                    .labelled_by(label.id)
                    .changed()
                {
                    prune.sparsity = percent / 100.0;
                }
                ui.end_row();
                ui.label("Pruning");
                ui.horizontal(|ui| {
                    ui.radio_value(&mut prune.mode, PruneMode::Unstructured, "unstructured");
                    ui.radio_value(&mut prune.mode, PruneMode::Structured, "structured");
                });
                ui.end_row();
                ui.label("");
                ui.checkbox(
                    &mut prune.skip_first_last,
                    "Keep first and last layer dense",
                );
                ui.end_row();
                if prune.mode == PruneMode::Structured {
                    structured_prune_ui(ui, prune);
                }
                if prune.mode == PruneMode::Unstructured {
                    ui.label("");
                    ui.label(
                        RichText::new("Zeros in dense kernels: smaller compressed, rarely faster.")
                            .small()
                            .color(theme::MUTED),
                    );
                    ui.end_row();
                }
            }
            super::sensitivity::budget_ui(ui, spec);
        });
}

/// The structured pruning controls: channel floor, rounding and norm.
fn structured_prune_ui(ui: &mut Ui, prune: &mut PruneSpec) {
    let label = ui.label("Min channels");
    ui.add(egui::DragValue::new(&mut prune.min_channels).range(1..=4096))
        .labelled_by(label.id);
    ui.end_row();
    let label = ui.label("Round channels to");
    ui.add(egui::DragValue::new(&mut prune.round_to).range(1..=256))
        .labelled_by(label.id)
        .on_hover_text("Channel counts after pruning are a multiple of this (e.g. 8)");
    ui.end_row();
    ui.label("Channel score");
    ui.horizontal(|ui| {
        ui.radio_value(&mut prune.norm, PruneNorm::L1, "L1");
        ui.radio_value(&mut prune.norm, PruneNorm::L2, "L2");
    });
    ui.end_row();
}

/// Dynamic batching: on or off, the largest batch, the delay and the
/// preferred sizes (typed as a comma-separated list, kept as typed in egui's
/// memory so a trailing comma survives the next frame).
fn batching_ui(ui: &mut Ui, config: &mut ProfileConfig) {
    let mut is_on = config.batching.is_some();
    let label = ui.label("Dynamic batching");
    ui.checkbox(&mut is_on, "Group queued requests into one run")
        .labelled_by(label.id);
    ui.end_row();
    match (is_on, config.batching.is_some()) {
        (true, false) => config.batching = Some(BatchingConfig::default()),
        (false, true) => config.batching = None,
        _ => {}
    }
    let Some(batching) = &mut config.batching else {
        return;
    };
    labelled_drag(
        ui,
        "Max batch (rows)",
        &mut batching.max_batch,
        1..=MAX_BATCH_ROWS,
    );
    let label = ui.label("Batch delay (µs)");
    ui.add(
        egui::DragValue::new(&mut batching.delay_micros)
            .range(0..=MAX_BATCH_DELAY_MICROS)
            .speed(10.0),
    )
    .labelled_by(label.id);
    ui.end_row();
    let id = ui.scope_id().with("preferred_batch_text");
    let current = batching
        .preferred
        .iter()
        .map(u32::to_string)
        .collect::<Vec<_>>()
        .join(",");
    let mut text = ui
        .data_mut(|data| data.get_temp::<String>(id))
        .unwrap_or(current);
    let label = ui.label("Preferred sizes");
    let response = ui
        .add(egui::TextEdit::singleline(&mut text).hint_text("e.g. 4,8,16"))
        .labelled_by(label.id);
    ui.end_row();
    if response.changed() {
        batching.preferred = parse_sizes(&text);
    }
    ui.data_mut(|data| data.insert_temp(id, text));
}

/// The whole numbers of a comma-separated list; anything else is skipped.
fn parse_sizes(text: &str) -> Vec<u32> {
    text.split(',')
        .filter_map(|part| part.trim().parse().ok())
        .collect()
}

fn labelled_drag<T: egui::emath::Numeric>(
    ui: &mut Ui,
    label: &str,
    value: &mut T,
    range: std::ops::RangeInclusive<T>,
) {
    let label = match jargon_help(label) {
        Some(help) => ui.label(label).on_hover_text(help),
        None => ui.label(label),
    };
    ui.add(egui::DragValue::new(value).range(range))
        .labelled_by(label.id);
    ui.end_row();
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn preferred_sizes_parse_from_a_typed_list() {
        assert_eq!(parse_sizes("4, 8,16,"), vec![4, 8, 16]);
        assert_eq!(parse_sizes("x,2"), vec![2]);
        assert!(parse_sizes("").is_empty());
    }

    #[test]
    fn cuda_without_the_provider_is_a_problem_unless_fallback_is_allowed() {
        let mut config = ProfileConfig {
            execution_provider: ExecutionProviderKind::Cuda,
            ..ProfileConfig::default()
        };
        assert!(config_problems(&config, None, None).is_empty());
        assert!(config_problems(&config, None, Some(true)).is_empty());
        let problems = config_problems(&config, None, Some(false));
        assert_eq!(problems.len(), 1, "{problems:?}");
        assert!(problems[0].contains("setup --gpu"), "{problems:?}");
        config.allow_fallback = true;
        assert!(config_problems(&config, None, Some(false)).is_empty());
    }
}
