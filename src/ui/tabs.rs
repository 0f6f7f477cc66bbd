//! The central panel's tabs: the start page, the model, the live (or shown
//! session's) plots and the per-layer view. The Sessions tab is drawn by
//! [`super::sessions::Sessions`], the Tune tab by [`super::tune::TuneTab`].

use egui::{Color32, RichText, Ui};

use super::{
    PickPurpose, Tab,
    action::{Action, ActionQueue},
    files,
    graph::{GraphInput, GraphView},
    layers::{self, LayersState},
    live::{self, LiveData},
    loaded_model::LoadedModel,
    model_flops::ConfigFlopsView,
    selection::Selection,
    sessions::ShownSession,
    settings::Settings,
    theme,
};
use crate::{
    engine::{OptLevel, ProfileConfig, RunHandle},
    model::format_flops,
    samples::SAMPLE_MODELS,
    telemetry::EnvironmentInfo,
    util::{format_bytes, format_count, format_micros},
};

/// The row of tab buttons.
pub fn tab_bar_ui(ui: &mut Ui, tab: &mut Tab) {
    ui.horizontal(|ui| {
        for (value, label) in [
            (Tab::Start, "Start"),
            (Tab::Model, "Model"),
            (Tab::Live, "Live"),
            (Tab::Layers, "Layers"),
            (Tab::Sessions, "Sessions"),
            (Tab::Tune, "Tune"),
            (Tab::Mix, "Mix"),
        ] {
            ui.selectable_value(tab, value, label);
        }
    });
}

/// The start page: open a model, the sample models, the recent files.
pub fn start_ui(ui: &mut Ui, settings: &mut Settings, actions: &mut ActionQueue) {
    ui.heading("onnx-workbench");
    ui.label("Profile an ONNX model under concurrent load: throughput, latency percentiles, per-layer timings, CPU and memory.");
    ui.add_space(12.0);
    if ui.button(RichText::new("Open a model…").strong()).clicked() {
        actions.push(Action::PickFile(PickPurpose::OpenModel));
    }
    ui.label(
        RichText::new("or drop a .onnx model (or a saved .json session) onto the window")
            .small()
            .color(theme::MUTED),
    );
    ui.add_space(12.0);
    ui.label(RichText::new("Sample models").strong());
    for (name, description, _) in SAMPLE_MODELS {
        ui.horizontal(|ui| {
            if ui.button(*name).clicked() {
                actions.push(Action::OpenSample((*name).to_owned()));
            }
            ui.label(*description);
        });
    }
    ui.add_space(12.0);
    files::recent_files_ui(ui, settings, actions);
}

/// The Model tab: file, sizes, the rendered summary of the open model, and
/// the graph view (coloured by the shown session's per-layer timings).
pub fn model_ui(
    ui: &mut Ui,
    model: Option<&LoadedModel>,
    config_flops: Option<ConfigFlopsView<'_>>,
    graph_view: &mut GraphView,
    shown: Option<&ShownSession>,
    selection: &mut Selection,
) {
    let Some(model) = model else {
        ui.label("No model open.");
        return;
    };
    let summary = &model.summary;
    ui.heading(
        model
            .path
            .file_name()
            .map_or_else(String::new, |n| n.to_string_lossy().into_owned()),
    );
    ui.label(
        RichText::new(model.path.display().to_string())
            .small()
            .color(theme::MUTED),
    );
    ui.label(format!(
        "{} nodes · {} parameters ({}) · file {}",
        summary.node_count,
        format_count(summary.param_count),
        format_bytes(summary.param_bytes),
        format_bytes(model.size_bytes)
    ));
    match config_flops {
        Some(ConfigFlopsView::Counted(count)) => {
            let estimate = &count.flops;
            let shapes = estimate
                .input_shapes
                .iter()
                .map(|(name, shape)| {
                    let dims: Vec<String> = shape.iter().map(i64::to_string).collect();
                    format!("{name}={}", dims.join("×"))
                })
                .collect::<Vec<_>>()
                .join(", ");
            ui.label(format!(
                "{} per inference at the Config's shapes ({shapes}){}",
                format_flops(estimate.total),
                if estimate.not_counted.is_empty() {
                    ""
                } else {
                    "; some ops not counted (see Summary)"
                }
            ))
            .on_hover_text(
                "Conv, ConvTranspose, Einsum, Gemm and MatMul, a multiply-add being 2, as `inspect --batch/--dim/--shape` counts them; the Summary below counts at batch 1 with the chosen default dims.",
            );
        }
        Some(ConfigFlopsView::Counting) => {
            ui.label(RichText::new("Counting FLOPs at the Config's shapes…").color(theme::MUTED));
        }
        Some(ConfigFlopsView::Failed(message)) => {
            ui.label(
                RichText::new(format!(
                    "FLOPs at the Config's shapes: not counted ({message})"
                ))
                .color(theme::MUTED),
            );
        }
        None => {}
    }
    if let Some(layout) = &summary.generative {
        ui.label(
            RichText::new(format!(
                "Generative decoder ({}): {} layers, {} key/value heads of {}, KV cache {} per token{}",
                layout.kind.describe(),
                layout.layers.len(),
                layout.kv_heads,
                layout.head_size,
                format_bytes(layout.kv_bytes_per_token),
                layout
                    .max_positions
                    .map(|max| format!(", {} at its {max} positions", format_bytes(layout.kv_bytes(1, max))))
                    .unwrap_or_default(),
            ))
            .color(theme::THROUGHPUT),
        );
    }
    ui.collapsing("Summary", |ui| {
        egui::ScrollArea::vertical()
            .id_salt("model_summary")
            .max_height(360.0)
            .show(ui, |ui| {
                ui.add(
                    egui::Label::new(RichText::new(summary.render_text()).monospace())
                        .wrap_mode(egui::TextWrapMode::Extend),
                );
            });
    });
    ui.add_space(4.0);
    // A session of another model would colour nodes that merely share names.
    let file_name = model
        .path
        .file_name()
        .map(|name| name.to_string_lossy().into_owned());
    let shown = shown.filter(|shown| {
        let of_this_model = shown
            .document
            .run
            .model
            .as_ref()
            .is_none_or(|info| Some(info.file_name.as_str()) == file_name.as_deref());
        if !of_this_model {
            ui.label(
                RichText::new("The shown session is of another model: the graph is not coloured.")
                    .color(theme::MUTED),
            );
        }
        of_this_model
    });
    let input = GraphInput {
        graph: &model.graph,
        report: shown.and_then(|shown| {
            shown
                .document
                .run
                .layers
                .as_ref()
                .map(|report| (std::sync::Arc::as_ptr(&shown.document) as usize, report))
        }),
        model_flops: match shown {
            Some(shown) => shown
                .document
                .run
                .model
                .as_ref()
                .and_then(|info| info.summary.flops.as_ref()),
            None => match config_flops {
                Some(ConfigFlopsView::Counted(count)) => Some(&count.flops),
                _ => summary.flops.as_ref(),
            },
        },
        config_shapes: match config_flops {
            Some(ConfigFlopsView::Counted(count)) => Some(&count.shapes),
            _ => None,
        },
    };
    let height = (ui.available_height() - 60.0).max(420.0);
    graph_view.ui(ui, &input, selection, height);
}

/// What the Live and Layers tabs draw from: the active run, else the shown session.
pub struct RunView<'a> {
    /// The active run, if any.
    pub run: Option<&'a RunHandle>,
    /// The config of the active run.
    pub config: &'a ProfileConfig,
    /// The machine, before any run has finished (from the runtime probe).
    pub environment: Option<&'a EnvironmentInfo>,
    /// The session on screen when no run is active.
    pub shown: Option<&'a ShownSession>,
}

/// The Live tab: the active run's latest snapshot, else the shown session.
pub fn live_tab_ui(ui: &mut Ui, view: &RunView<'_>) {
    if let Some(run) = view.run {
        let snapshot = run.snapshot();
        summary_line_ui(
            ui,
            snapshot.inferences_per_sec,
            snapshot.latency.map(|l| (l.p50_micros, l.p99_micros)),
            snapshot.requests_ok,
            snapshot.requests_failed,
        );
        if let Some(generation) = &snapshot.generation {
            generation_line_ui(ui, generation);
        }
        live::live_ui(
            ui,
            &LiveData {
                windows: &snapshot.windows,
                histogram: &snapshot.histogram,
                errors: &snapshot.errors,
                environment: view.environment,
                gpu_samples: &[],
                gpu_latest: snapshot.gpu.as_ref(),
                has_queue: view.config.has_queue(),
                batch_sizes: view
                    .config
                    .batching
                    .as_ref()
                    .map(|_| snapshot.batch_sizes.as_slice()),
            },
        );
        return;
    }
    let Some(shown) = view.shown else {
        ui.label("Press Run to start a profiling run; the plots update live.");
        return;
    };
    let run = &shown.document.run;
    if let Some(path) = &shown.from_file {
        ui.label(
            RichText::new(format!("Saved session (read-only): {}", path.display()))
                .color(theme::WARNING),
        );
    }
    if let Some(failure) = &run.failure {
        ui.label(RichText::new(format!("The run failed: {failure}")).color(theme::ERROR));
    }
    for warning in &run.warnings {
        ui.label(RichText::new(warning).color(theme::WARNING));
    }
    if let Some(transform) = &run.transform {
        transform_accuracy_ui(ui, transform);
        ui.collapsing(format!("Transform: {}", transform.spec.label()), |ui| {
            if let Some(budget) = &transform.budget {
                super::sensitivity::chart_ui(ui, budget);
            }
            ui.label(RichText::new(transform.render_text()).monospace());
        });
    }
    if let Some(summary) = &run.summary {
        summary_line_ui(
            ui,
            summary.inferences_per_sec,
            summary.latency.map(|l| (l.p50_micros, l.p99_micros)),
            summary.requests_ok,
            summary.requests_failed,
        );
        if let Some(generation) = &summary.generation {
            generation_line_ui(ui, generation);
        }
        ui.label(summary.stability.to_string());
    }
    live::live_ui(
        ui,
        &LiveData {
            windows: &run.timeseries,
            histogram: &shown.histogram,
            errors: &run.errors,
            environment: Some(&run.environment),
            gpu_samples: &run.gpu_telemetry,
            gpu_latest: None,
            has_queue: run.config.has_queue(),
            batch_sizes: run
                .batching
                .as_ref()
                .map(|batching| batching.batch_sizes.as_slice()),
        },
    );
    if let Some(remote) = &run.remote {
        ui.add_space(8.0);
        super::server_view::server_ui(
            ui,
            &remote.server_stats,
            &run.timeseries,
            run.config.warmup_secs,
        );
    }
}

/// The Layers tab; owns how its node table is sorted and shown.
#[derive(Default)]
pub struct LayersTab {
    pub state: LayersState,
    /// Generative sessions: all runs (`None`), or one phase's report.
    phase: Option<usize>,
}

impl LayersTab {
    /// The per-layer table and charts of the active run, else the shown session.
    pub fn layers_tab_ui(
        &mut self,
        ui: &mut Ui,
        view: &RunView<'_>,
        has_heatmap_renderer: bool,
        selection: &mut Selection,
    ) {
        let live_layers = view.run.and_then(|run| run.snapshot().layers.clone());
        if let Some(layers) = &live_layers {
            layers::layers_ui(
                ui,
                Some(layers),
                &mut self.state,
                selection,
                view.config.opt_level != OptLevel::Disable,
                None,
                layers::GpuKernels::default(),
            );
        } else if let Some(shown) = view.shown {
            let run = &shown.document.run;
            if !run.phase_layers.is_empty() {
                ui.horizontal(|ui| {
                    ui.label("Phase");
                    ui.selectable_value(&mut self.phase, None, "All runs");
                    for (index, report) in run.phase_layers.iter().enumerate() {
                        let name = report.phase.as_deref().unwrap_or("phase");
                        ui.selectable_value(&mut self.phase, Some(index), name)
                            .on_hover_text(format!(
                                "{} runs, mean {} each",
                                report.runs,
                                format_micros(report.model_run_mean_micros)
                            ));
                    }
                });
            }
            let report = match self.phase.and_then(|index| run.phase_layers.get(index)) {
                Some(phase) => Some(phase),
                None => run.layers.as_ref(),
            };
            layers::layers_ui(
                ui,
                report,
                &mut self.state,
                selection,
                run.config.opt_level != OptLevel::Disable,
                run.layer_profiling_error.as_deref(),
                layers::GpuKernels {
                    attribution: run.gpu_kernels.as_ref(),
                    note: run.gpu_kernels_note.as_deref(),
                },
            );
        } else {
            layers::layers_ui(
                ui,
                None,
                &mut self.state,
                selection,
                false,
                None,
                layers::GpuKernels::default(),
            );
        }
        if !has_heatmap_renderer {
            ui.label(
                RichText::new("The heatmap needs storage buffers in fragment shaders, which this graphics adapter lacks (OpenGL); Vulkan, Metal or DX12 have them.")
                    .small()
                    .color(theme::MUTED),
            );
        }
    }
}

/// The generative headline: output tokens per second, TTFT and ITL
/// percentiles, and goodput when the run has objectives.
fn generation_line_ui(ui: &mut Ui, generation: &crate::metrics::generation::GenerationSummary) {
    ui.horizontal_wrapped(|ui| {
        ui.label(
            RichText::new(format!("{:.0} tokens/s", generation.output_tokens_per_sec))
                .size(18.0)
                .color(theme::THROUGHPUT),
        );
        for (label, latency, color) in [
            ("TTFT", generation.ttft.as_ref(), theme::QUEUE),
            ("ITL", generation.itl.as_ref(), theme::P50),
        ] {
            if let Some(latency) = latency {
                ui.label(
                    RichText::new(format!(
                        "{label} p50 {} p99 {}",
                        format_micros(latency.p50_micros),
                        format_micros(latency.p99_micros)
                    ))
                    .size(18.0)
                    .color(color),
                );
            }
        }
        if let (Some(goodput), Some(share), Some(slo)) = (
            generation.goodput_per_sec,
            generation.slo_pass_share,
            generation.slo.as_ref(),
        ) {
            ui.label(
                RichText::new(format!(
                    "goodput {goodput:.2}/s ({:.0} % met {slo})",
                    share * 100.0
                ))
                .size(18.0)
                .color(if share >= 0.99 {
                    theme::GOOD
                } else {
                    theme::WARNING
                }),
            );
        }
    })
    .response
    .on_hover_text(
        "Tokens/s counts output tokens. TTFT runs from the intended arrival to the first token; \
         ITL is every gap between tokens. Goodput counts the requests that met every objective.",
    );
}

/// The headline: throughput, p50 and p99 latency, ok and failed requests.
fn summary_line_ui(
    ui: &mut Ui,
    inferences_per_sec: f64,
    latency: Option<(f64, f64)>,
    ok: u64,
    failed: u64,
) {
    ui.horizontal(|ui| {
        ui.label(
            RichText::new(format!("{inferences_per_sec:.0} inferences/s"))
                .size(20.0)
                .color(theme::THROUGHPUT),
        );
        if let Some((p50, p99)) = latency {
            ui.label(
                RichText::new(format!("p50 {}", format_micros(p50)))
                    .size(20.0)
                    .color(theme::P50),
            );
            ui.label(
                RichText::new(format!("p99 {}", format_micros(p99)))
                    .size(20.0)
                    .color(theme::P99),
            );
        }
        ui.label(format!("{} ok", format_count(ok)));
        let failed_color = if failed > 0 {
            theme::ERROR
        } else {
            Color32::GRAY
        };
        ui.label(RichText::new(format!("{} failed", format_count(failed))).color(failed_color));
    });
}

/// The transform's accuracy headline above its report: warnings on
/// degenerate reference outputs in warning colour, and the task accuracy.
fn transform_accuracy_ui(ui: &mut Ui, transform: &crate::transform::TransformReport) {
    let Some(accuracy) = &transform.accuracy else {
        return;
    };
    for warning in &accuracy.warnings {
        ui.label(RichText::new(format!("Accuracy warning: {warning}")).color(theme::WARNING));
    }
    if let Some(speed) = &accuracy.speed {
        let colour = if speed.speedup_high < 1.0 {
            theme::WARNING
        } else {
            ui.visuals().text_color()
        };
        ui.label(RichText::new(format!("Speed: {}", speed.line())).color(colour))
            .on_hover_text(
                "Measured beside the accuracy: the original and the transformed model, one request at a time, interleaved on the same input set with the same session options. The load run below measures the transformed model under concurrency.",
            );
    }
    if let Some(task) = &accuracy.task {
        ui.label(format!(
            "Task accuracy ({} labelled rows): top-1 {:.2}% -> {:.2}% ({:+.2} pt), top-5 {:.2}% -> {:.2}%",
            task.num_labels,
            task.top1_before * 100.0,
            task.top1_after * 100.0,
            (task.top1_after - task.top1_before) * 100.0,
            task.top5_before * 100.0,
            task.top5_after * 100.0
        ));
    }
}
