//! The eframe app: state, panels and the glue between the UI and the engine.

use std::{
    collections::VecDeque,
    path::{Path, PathBuf},
    sync::Arc,
    time::{Duration, Instant},
};

use egui::{Color32, RichText, Ui};

use super::{
    compare, heatmap, layers,
    layers::TableSort,
    live::{self, LiveData},
    settings::{Settings, remember},
    tasks::Task,
    theme,
};
use crate::{
    engine::{
        Arrival, ConvAlgoSearch, ExecutionProviderKind, LayerProfiling, LoadMode, OptLevel,
        RunHandle, RunStatus, config::DEFAULT_PROFILE_RUNS,
    },
    metrics::{HistogramBucket, LatencyHistogram, RunPhase, Snapshot},
    model::{Dim, Model, ModelSummary},
    samples::{SAMPLE_MODELS, sample_model_path},
    session::{SessionDocument, write_chrome_trace, write_csv, write_json},
    telemetry::EnvironmentInfo,
    transform::{Int8Mode, Precision, PruneMode, PruneSpec, TransformSpec},
    util::{format_bytes, format_count, format_micros},
};

/// Frame times kept for the statistics (at most).
const MAX_FRAME_SAMPLES: usize = 100_000;
/// Sessions kept in memory for comparison.
const MAX_HISTORY: usize = 12;
/// How often the UI repaints while a run is active.
const RUN_REPAINT_INTERVAL: Duration = crate::metrics::DEFAULT_PUBLISH_INTERVAL;
/// Buckets in a finished session's latency histogram.
const HISTOGRAM_BUCKETS: usize = 60;
/// A native dialog that returns nothing faster than this had no backend.
const DIALOG_BACKEND_MISSING: Duration = Duration::from_millis(150);

/// Start-up options from the command line.
#[derive(Debug, Clone, Default)]
pub struct GuiOptions {
    /// A model to open at start.
    pub model: Option<PathBuf>,
    /// Start a run as soon as the model is loaded.
    pub autorun: bool,
    /// Close the window when that run finishes.
    pub exit_after_run: bool,
    /// Write frame-time statistics (JSON) here on exit.
    pub frame_stats: Option<PathBuf>,
    /// Overrides of the remembered config.
    pub concurrency: Option<u32>,
    pub duration_secs: Option<f64>,
    pub profile_every: Option<u32>,
}

/// The central panel's tabs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Tab {
    Start,
    Model,
    Live,
    Layers,
    Sessions,
}

/// A model opened in the app.
#[derive(Debug, Clone)]
pub struct LoadedModel {
    pub path: PathBuf,
    pub summary: ModelSummary,
    pub size_bytes: u64,
    /// Name of the symbolic first dim, if any.
    pub batch_symbol: Option<String>,
    /// The first dim when it is fixed.
    pub fixed_batch: Option<i64>,
    /// Other symbolic dims, sorted.
    pub other_symbols: Vec<String>,
    pub has_unnamed_dims: bool,
}

impl LoadedModel {
    fn load(path: &Path) -> Result<Self, String> {
        let model = Model::load(path).map_err(|err| format!("{err:#}"))?;
        let summary = model.summary();
        let size_bytes = std::fs::metadata(path).map(|m| m.len()).unwrap_or(0);
        let mut batch_symbol = None;
        let mut fixed_batch = None;
        let mut other_symbols = Vec::new();
        let mut has_unnamed_dims = false;
        for input in &summary.inputs {
            for (axis, dim) in input.shape.iter().flatten().enumerate() {
                match (axis, dim) {
                    (0, Dim::Symbolic(name)) => batch_symbol = Some(name.clone()),
                    (0, Dim::Fixed(value)) => fixed_batch = Some(*value),
                    (_, Dim::Symbolic(name)) => other_symbols.push(name.clone()),
                    (_, Dim::Unnamed) => has_unnamed_dims = true,
                    _ => {}
                }
            }
        }
        other_symbols.sort();
        other_symbols.dedup();
        if let Some(batch) = &batch_symbol {
            other_symbols.retain(|symbol| symbol != batch);
        }
        Ok(Self {
            path: path.to_path_buf(),
            summary,
            size_bytes,
            batch_symbol,
            fixed_batch,
            other_symbols,
            has_unnamed_dims,
        })
    }
}

/// What ONNX Runtime offers, found once at start-up.
#[derive(Debug, Clone)]
pub struct RuntimeStatus {
    pub version: String,
    pub source: String,
    pub has_cuda: bool,
    /// The machine, for the GPU panel before any run has finished.
    pub environment: EnvironmentInfo,
}

/// A user-visible message.
#[derive(Debug, Clone, PartialEq)]
pub struct Message {
    pub is_error: bool,
    pub text: String,
}

/// Why a file is being picked.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PickPurpose {
    OpenModel,
    OpenSession,
    ExportJson,
    ExportCsv,
    ExportTrace,
}

/// A session shown in the app, with what is expensive to derive from it.
pub struct ShownSession {
    pub document: Arc<SessionDocument>,
    pub name: String,
    pub histogram: Vec<HistogramBucket>,
    /// Opened from a file (read-only) rather than run here.
    pub from_file: Option<PathBuf>,
}

impl ShownSession {
    fn new(document: SessionDocument, from_file: Option<PathBuf>) -> Self {
        let histogram = document
            .run
            .latency_histogram
            .as_ref()
            .and_then(|encoded| LatencyHistogram::decode(&encoded.data, encoded.outliers).ok())
            .map(|histogram| histogram.buckets(HISTOGRAM_BUCKETS))
            .unwrap_or_default();
        let model = document
            .run
            .model
            .as_ref()
            .map_or("?", |m| m.file_name.as_str())
            .to_owned();
        let name = format!(
            "{model} {} c{}{}",
            document.run.started_at.get(11..19).unwrap_or(""),
            document.run.config.concurrency,
            match document.run.status {
                RunStatus::Completed => "",
                RunStatus::Stopped => " (stopped)",
                RunStatus::Failed => " (failed)",
            }
        );
        Self {
            document: Arc::new(document),
            name,
            histogram,
            from_file,
        }
    }
}

/// The workbench app.
pub struct WorkbenchApp {
    pub settings: Settings,
    pub tab: Tab,
    pub model: Option<LoadedModel>,
    model_task: Option<Task<Result<LoadedModel, String>>>,
    runtime_task: Option<Task<Result<RuntimeStatus, String>>>,
    pub runtime_status: Option<Result<RuntimeStatus, String>>,
    run: Option<RunHandle>,
    /// Sessions of this app run (newest last); `shown` indexes into it.
    pub history: Vec<ShownSession>,
    pub shown: Option<usize>,
    pub compare_pair: (Option<usize>, Option<usize>),
    file_task: Option<Task<Result<FileOutcome, String>>>,
    pub messages: Vec<Message>,
    layer_sort: TableSort,
    picker: Option<(egui_file::FileDialog, PickPurpose)>,
    frame_cpu_secs: VecDeque<f32>,
    options: GuiOptions,
    autorun_pending: bool,
    has_heatmap_renderer: bool,
}

/// What a background file operation produced.
enum FileOutcome {
    Written(String),
    Opened(Box<SessionDocument>, PathBuf),
}

impl WorkbenchApp {
    /// Creates the app, restoring persisted settings.
    pub fn new(cc: &eframe::CreationContext<'_>, options: GuiOptions) -> Self {
        let mut settings: Settings = cc
            .storage
            .and_then(|storage| eframe::get_value(storage, eframe::APP_KEY))
            .unwrap_or_default();
        if let Some(concurrency) = options.concurrency {
            settings.config.concurrency = concurrency;
        }
        if let Some(duration) = options.duration_secs {
            settings.config.duration_secs = Some(duration);
        }
        if let Some(every) = options.profile_every {
            settings.config.layer_profiling = LayerProfiling::Sampled { every };
        }
        let has_heatmap_renderer = cc.wgpu_render_state.as_ref().is_some_and(|render_state| {
            heatmap::install(render_state);
            true
        });
        let runtime_task = Task::spawn("finding ONNX Runtime", || {
            crate::engine::runtime::runtime()
                .map(|runtime| RuntimeStatus {
                    version: runtime.version.clone(),
                    source: runtime.source.to_string(),
                    has_cuda: {
                        use ort::ep::ExecutionProvider as _;
                        ort::ep::CUDA::is_available().unwrap_or(false)
                    },
                    environment: EnvironmentInfo::probe(),
                })
                .map_err(|err| format!("{err:#}"))
        })
        .ok();
        let mut app = Self {
            settings,
            tab: Tab::Start,
            model: None,
            model_task: None,
            runtime_task,
            runtime_status: None,
            run: None,
            history: Vec::new(),
            shown: None,
            compare_pair: (None, None),
            file_task: None,
            messages: Vec::new(),
            layer_sort: TableSort::default(),
            picker: None,
            frame_cpu_secs: VecDeque::new(),
            autorun_pending: options.autorun,
            has_heatmap_renderer,
            options,
        };
        if let Some(path) = app.options.model.clone() {
            app.open_model(path);
        }
        app
    }

    fn info(&mut self, text: impl Into<String>) {
        self.messages.push(Message {
            is_error: false,
            text: text.into(),
        });
    }

    fn error(&mut self, text: impl Into<String>) {
        self.messages.push(Message {
            is_error: true,
            text: text.into(),
        });
    }

    /// Loads a model in the background.
    pub fn open_model(&mut self, path: PathBuf) {
        let task_path = path.clone();
        match Task::spawn(format!("loading {}", path.display()), move || {
            LoadedModel::load(&task_path)
        }) {
            Ok(task) => self.model_task = Some(task),
            Err(err) => self.error(err),
        }
    }

    /// Opens one of the bundled sample models.
    pub fn open_sample(&mut self, file_name: &str) {
        match sample_model_path(file_name) {
            Ok(path) => self.open_model(path),
            Err(err) => self.error(format!("{err:#}")),
        }
    }

    /// Reads a saved session in the background and shows it read-only.
    pub fn open_session(&mut self, path: PathBuf) {
        let task_path = path.clone();
        let task = Task::spawn(format!("opening {}", path.display()), move || {
            SessionDocument::load(&task_path)
                .map(|document| FileOutcome::Opened(Box::new(document), task_path))
                .map_err(|err| format!("{err:#}"))
        });
        match task {
            Ok(task) => self.file_task = Some(task),
            Err(err) => self.error(err),
        }
    }

    /// Writes the shown session in the background.
    pub fn export(&mut self, purpose: PickPurpose, path: PathBuf) {
        let Some(document) = self
            .shown_session()
            .map(|shown| Arc::clone(&shown.document))
        else {
            self.error("Nothing to export yet: run a profile or open a session first.");
            return;
        };
        let task = Task::spawn(format!("writing {}", path.display()), move || {
            let result = match purpose {
                PickPurpose::ExportCsv => {
                    write_csv(&document, &path).map(|files| format!("{} CSV files", files.len()))
                }
                PickPurpose::ExportTrace => {
                    write_chrome_trace(&document, &path).map(|()| "Chrome trace".to_owned())
                }
                _ => write_json(&document, &path).map(|()| "session".to_owned()),
            };
            result
                .map(|what| FileOutcome::Written(format!("Wrote {what} to {}", path.display())))
                .map_err(|err| format!("Export failed: {err:#}"))
        });
        match task {
            Ok(task) => self.file_task = Some(task),
            Err(err) => self.error(err),
        }
    }

    /// True while a run is in progress.
    pub fn is_running(&self) -> bool {
        self.run.is_some()
    }

    /// The session on screen.
    pub fn shown_session(&self) -> Option<&ShownSession> {
        self.shown.and_then(|index| self.history.get(index))
    }

    /// Problems that stop the current config from running, for the Config panel.
    pub fn config_problems(&self) -> Vec<String> {
        let config = &self.settings.config;
        let mut problems = Vec::new();
        if let Err(err) = config.validate() {
            problems.push(err.to_string());
        }
        if let Some(model) = &self.model
            && let (Some(fixed), Some(batch)) = (model.fixed_batch, config.batch)
            && fixed != batch
        {
            problems.push(format!(
                "This model has a fixed batch of {fixed}; batch {batch} cannot run."
            ));
        }
        if config.execution_provider == ExecutionProviderKind::Cuda
            && let Some(Ok(status)) = &self.runtime_status
            && !status.has_cuda
            && !config.allow_fallback
        {
            problems.push(
                "This ONNX Runtime build has no CUDA provider. Run `onnx-workbench setup --gpu` for the GPU build, choose CPU, or allow the CPU fallback."
                    .to_owned(),
            );
        }
        problems
    }

    /// Starts a run with the current config.
    pub fn start_run(&mut self) {
        let Some(model) = &self.model else {
            self.error("Open a model first.");
            return;
        };
        let problems = self.config_problems();
        if !problems.is_empty() {
            self.error(format!("Cannot run: {}", problems.join(" ")));
            return;
        }
        let mut config = self.settings.config.clone();
        if model.batch_symbol.is_none() {
            config.batch = None;
        }
        config
            .dims
            .retain(|name, _| model.other_symbols.contains(name));
        match RunHandle::start(model.path.clone(), config) {
            Ok(handle) => {
                self.run = Some(handle);
                self.frame_cpu_secs.clear();
                self.tab = Tab::Live;
            }
            Err(err) => self.error(format!("Could not start the run: {err:#}")),
        }
    }

    /// Stops the run; its partial results are kept.
    pub fn stop_run(&self) {
        if let Some(run) = &self.run {
            run.stop();
        }
    }

    fn add_session(&mut self, shown: ShownSession) {
        self.history.push(shown);
        if self.history.len() > MAX_HISTORY {
            self.history.remove(0);
            self.compare_pair = (None, None);
        }
        self.shown = Some(self.history.len() - 1);
    }

    /// Collects finished background work. Called once per frame.
    pub fn poll(&mut self) {
        if let Some(task) = &mut self.runtime_task
            && let Some(result) = task.poll()
        {
            self.runtime_task = None;
            self.runtime_status = Some(result.and_then(|inner| inner));
        }
        if let Some(task) = &mut self.model_task
            && let Some(result) = task.poll()
        {
            self.model_task = None;
            match result.and_then(|inner| inner) {
                Ok(model) => {
                    remember(&mut self.settings.recent_models, model.path.clone());
                    if self.settings.config.batch.is_some() && model.batch_symbol.is_none() {
                        self.settings.config.batch = None;
                    }
                    self.model = Some(model);
                    self.tab = Tab::Model;
                    if self.autorun_pending {
                        self.autorun_pending = false;
                        self.start_run();
                    }
                }
                Err(err) => self.error(format!("Could not open the model: {err}")),
            }
        }
        if let Some(task) = &mut self.file_task
            && let Some(result) = task.poll()
        {
            self.file_task = None;
            match result.and_then(|inner| inner) {
                Ok(FileOutcome::Written(message)) => self.info(message),
                Ok(FileOutcome::Opened(document, path)) => {
                    remember(&mut self.settings.recent_sessions, path.clone());
                    self.add_session(ShownSession::new(*document, Some(path)));
                    self.tab = Tab::Live;
                }
                Err(err) => self.error(err),
            }
        }
        if self.run.as_ref().is_some_and(RunHandle::is_finished)
            && let Some(run) = self.run.take()
        {
            let record = run.join();
            match (&record.status, &record.failure) {
                (RunStatus::Failed, Some(failure)) => {
                    self.error(format!("The run failed: {failure}"))
                }
                (RunStatus::Stopped, _) => self.info("Run stopped; the partial results are kept."),
                _ => {}
            }
            self.add_session(ShownSession::new(SessionDocument::new(record), None));
        }
    }

    fn frame_stats_json(&self) -> serde_json::Value {
        let mut millis: Vec<f64> = self
            .frame_cpu_secs
            .iter()
            .map(|s| f64::from(*s) * 1000.0)
            .collect();
        millis.sort_by(f64::total_cmp);
        let quantile = |q: f64| {
            millis
                .get(((millis.len() as f64 - 1.0) * q).round().max(0.0) as usize)
                .copied()
        };
        serde_json::json!({
            "frames": millis.len(),
            "p50_ms": quantile(0.5),
            "p99_ms": quantile(0.99),
            "max_ms": millis.last(),
            "measure": "eframe frame CPU time (ui + tessellation + paint submission) while a run was active",
        })
    }

    fn write_frame_stats(&self) {
        if let Some(path) = &self.options.frame_stats {
            let text = self.frame_stats_json().to_string();
            if let Err(err) = crate::util::write_atomic(path, text.as_bytes()) {
                tracing::warn!("frame statistics not written: {err:#}");
            }
        }
    }

    fn pick(&mut self, purpose: PickPurpose) {
        let native_possible = !self.settings.use_builtin_picker
            && std::env::var_os("DBUS_SESSION_BUS_ADDRESS").is_some();
        if native_possible {
            let started = Instant::now();
            let dialog = rfd::FileDialog::new();
            let picked = match purpose {
                PickPurpose::OpenModel => dialog.add_filter("ONNX model", &["onnx"]).pick_file(),
                PickPurpose::OpenSession => dialog.add_filter("Session", &["json"]).pick_file(),
                PickPurpose::ExportJson => dialog.set_file_name("session.json").save_file(),
                PickPurpose::ExportTrace => dialog.set_file_name("trace.json").save_file(),
                PickPurpose::ExportCsv => dialog.pick_folder(),
            };
            match picked {
                Some(path) => {
                    self.picked(purpose, path);
                    return;
                }
                None if started.elapsed() > DIALOG_BACKEND_MISSING => return, // cancelled
                None => {
                    self.info("No native file dialog is available here; using the built-in picker.")
                }
            }
        }
        let initial = std::env::current_dir().unwrap_or_default();
        let mut dialog = match purpose {
            PickPurpose::OpenModel => {
                egui_file::FileDialog::open_file().show_files_filter(Box::new(|path: &Path| {
                    path.extension().is_some_and(|ext| ext == "onnx")
                }))
            }
            PickPurpose::OpenSession => {
                egui_file::FileDialog::open_file().show_files_filter(Box::new(|path: &Path| {
                    path.extension().is_some_and(|ext| ext == "json")
                }))
            }
            PickPurpose::ExportJson => {
                egui_file::FileDialog::save_file().default_filename("session.json")
            }
            PickPurpose::ExportTrace => {
                egui_file::FileDialog::save_file().default_filename("trace.json")
            }
            PickPurpose::ExportCsv => egui_file::FileDialog::select_folder(),
        }
        .initial_path(initial);
        dialog.open();
        self.picker = Some((dialog, purpose));
    }

    fn picked(&mut self, purpose: PickPurpose, path: PathBuf) {
        match purpose {
            PickPurpose::OpenModel => self.open_model(path),
            PickPurpose::OpenSession => self.open_session(path),
            PickPurpose::ExportJson | PickPurpose::ExportCsv | PickPurpose::ExportTrace => {
                self.export(purpose, path)
            }
        }
    }

    fn handle_dropped_files(&mut self, ui: &Ui) {
        let dropped: Vec<PathBuf> = ui.input(|input| {
            input
                .raw
                .dropped_files
                .iter()
                .map(|file| file.path().to_path_buf())
                .filter(|path| !path.as_os_str().is_empty())
                .collect()
        });
        for path in dropped {
            match path.extension().and_then(|ext| ext.to_str()) {
                Some("onnx") => self.open_model(path),
                Some("json") => self.open_session(path),
                _ => self.error(format!(
                    "Drop a .onnx model or a .json session; {} is neither.",
                    path.display()
                )),
            }
        }
    }

    fn top_bar_ui(&mut self, ui: &mut Ui) {
        ui.horizontal(|ui| {
            if ui.button("Open model…").clicked() {
                self.pick(PickPurpose::OpenModel);
            }
            if ui.button("Open session…").clicked() {
                self.pick(PickPurpose::OpenSession);
            }
            ui.separator();
            if self.is_running() {
                if ui
                    .button(RichText::new("Stop").color(theme::ERROR))
                    .clicked()
                {
                    self.stop_run();
                }
            } else {
                let can_run = self.model.is_some() && self.config_problems().is_empty();
                let response =
                    ui.add_enabled(can_run, egui::Button::new(RichText::new("Run").strong()));
                if response.clicked() {
                    self.start_run();
                }
            }
            ui.separator();
            let has_session = self.shown_session().is_some();
            ui.add_enabled_ui(has_session && self.file_task.is_none(), |ui| {
                ui.menu_button("Export", |ui| {
                    if ui.button("Session (JSON)…").clicked() {
                        self.pick(PickPurpose::ExportJson);
                    }
                    if ui.button("Tables (CSV folder)…").clicked() {
                        self.pick(PickPurpose::ExportCsv);
                    }
                    if ui.button("Chrome trace…").clicked() {
                        self.pick(PickPurpose::ExportTrace);
                    }
                });
            });
            ui.separator();
            self.status_ui(ui);
        });
    }

    fn status_ui(&self, ui: &mut Ui) {
        if let Some(run) = &self.run {
            let snapshot = run.snapshot();
            let phase = run.phase();
            ui.label(format!(
                "{phase} {:.1} s · {} ok · {:.0} inf/s · p99 {}",
                snapshot.elapsed_secs,
                format_count(snapshot.requests_ok),
                snapshot.inferences_per_sec,
                snapshot
                    .latency
                    .map_or_else(|| "-".to_owned(), |l| format_micros(l.p99_micros))
            ));
            if phase == RunPhase::Starting {
                ui.spinner();
            }
        }
        for label in [
            self.model_task.as_ref().map(|t| t.label.clone()),
            self.file_task.as_ref().map(|t| t.label.clone()),
        ]
        .into_iter()
        .flatten()
        {
            ui.spinner();
            ui.label(label);
        }
        ui.with_layout(
            egui::Layout::right_to_left(egui::Align::Center),
            |ui| match &self.runtime_status {
                Some(Ok(status)) => {
                    ui.label(
                        RichText::new(format!(
                            "ONNX Runtime {} ({})",
                            status.version, status.source
                        ))
                        .small()
                        .color(theme::MUTED),
                    );
                }
                Some(Err(err)) => {
                    ui.label(RichText::new("ONNX Runtime unavailable").color(theme::ERROR))
                        .on_hover_text(err);
                }
                None => {
                    ui.spinner();
                    ui.label(RichText::new("finding ONNX Runtime…").small());
                }
            },
        );
    }

    fn messages_ui(&mut self, ui: &mut Ui) {
        let mut dismiss = None;
        for (index, message) in self.messages.iter().enumerate().rev().take(3) {
            ui.horizontal(|ui| {
                let color = if message.is_error {
                    theme::ERROR
                } else {
                    theme::GOOD
                };
                ui.label(
                    RichText::new(if message.is_error { "error" } else { "ok" })
                        .color(color)
                        .strong(),
                );
                ui.label(&message.text);
                if ui.small_button("dismiss").clicked() {
                    dismiss = Some(index);
                }
            });
        }
        if let Some(index) = dismiss {
            self.messages.remove(index);
        }
    }

    fn config_ui(&mut self, ui: &mut Ui) {
        let is_running = self.is_running();
        let fixed_batch = self.model.as_ref().and_then(|m| m.fixed_batch);
        let batch_symbol = self.model.as_ref().and_then(|m| m.batch_symbol.clone());
        let other_symbols = self
            .model
            .as_ref()
            .map(|m| m.other_symbols.clone())
            .unwrap_or_default();
        let has_unnamed = self.model.as_ref().is_some_and(|m| m.has_unnamed_dims);
        let config = &mut self.settings.config;
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
                                ui.selectable_value(
                                    &mut config.opt_level,
                                    level,
                                    level.to_string(),
                                );
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
                    for symbol in &other_symbols {
                        let mut value = config.dims.get(symbol).copied().unwrap_or(1);
                        let label = ui.label(format!("Dim '{symbol}'"));
                        if ui
                            .add(egui::DragValue::new(&mut value).range(1..=1_000_000))
                            .labelled_by(label.id)
                            .changed()
                        {
                            config.dims.insert(symbol.clone(), value);
                        }
                        ui.end_row();
                    }
                    if has_unnamed {
                        ui.label("");
                        ui.label(
                            RichText::new("Unnamed dims use 1.")
                                .small()
                                .color(theme::MUTED),
                        );
                        ui.end_row();
                    }

                    labelled_drag(ui, "Concurrency", &mut config.concurrency, 1..=1024);
                    let mut instances = config.instances.unwrap_or(config.concurrency);
                    let label = ui.label("Session instances");
                    if ui
                        .add(egui::DragValue::new(&mut instances).range(1..=1024))
                        .labelled_by(label.id)
                        .changed()
                    {
                        config.instances = Some(instances);
                    }
                    ui.end_row();
                    if instances > config.concurrency {
                        ui.label("");
                        ui.label(
                            RichText::new("More sessions than workers: the extra ones stay idle.")
                                .small()
                                .color(theme::WARNING),
                        );
                        ui.end_row();
                    }

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
            ui.separator();
            ui.label(RichText::new("Precision and pruning").strong());
            transform_ui(ui, &mut config.transform);
        });
        for problem in self.config_problems() {
            ui.label(RichText::new(problem).color(theme::ERROR));
        }
    }

    fn start_ui(&mut self, ui: &mut Ui) {
        ui.heading("onnx-workbench");
        ui.label("Profile an ONNX model under concurrent load: throughput, latency percentiles, per-layer timings, CPU and memory.");
        ui.add_space(12.0);
        if ui.button(RichText::new("Open a model…").strong()).clicked() {
            self.pick(PickPurpose::OpenModel);
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
                    self.open_sample(name);
                }
                ui.label(*description);
            });
        }
        ui.add_space(12.0);
        ui.label(RichText::new("Recent models").strong());
        if self.settings.recent_models.is_empty() {
            ui.label(RichText::new("none yet").color(theme::MUTED));
        }
        for path in self.settings.recent_models.clone() {
            if ui.link(path.display().to_string()).clicked() {
                self.open_model(path);
            }
        }
        ui.add_space(8.0);
        ui.label(RichText::new("Recent sessions").strong());
        if self.settings.recent_sessions.is_empty() {
            ui.label(RichText::new("none yet").color(theme::MUTED));
        }
        for path in self.settings.recent_sessions.clone() {
            if ui.link(path.display().to_string()).clicked() {
                self.open_session(path);
            }
        }
        ui.add_space(8.0);
        ui.checkbox(
            &mut self.settings.use_builtin_picker,
            "Always use the built-in file picker",
        );
    }

    fn model_ui(&self, ui: &mut Ui) {
        let Some(model) = &self.model else {
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
        ui.add_space(6.0);
        egui::ScrollArea::vertical().show(ui, |ui| {
            ui.add(
                egui::Label::new(RichText::new(summary.render_text()).monospace())
                    .wrap_mode(egui::TextWrapMode::Extend),
            );
        });
    }

    fn live_tab_ui(&self, ui: &mut Ui) {
        let snapshot: Option<Arc<Snapshot>> = self.run.as_ref().map(RunHandle::snapshot);
        if let Some(snapshot) = &snapshot {
            summary_line_ui(
                ui,
                snapshot.inferences_per_sec,
                snapshot.latency.map(|l| (l.p50_micros, l.p99_micros)),
                snapshot.requests_ok,
                snapshot.requests_failed,
            );
            let has_queue = self.settings.config.has_queue();
            live::live_ui(
                ui,
                &LiveData {
                    windows: &snapshot.windows,
                    histogram: &snapshot.histogram,
                    errors: &snapshot.errors,
                    environment: match &self.runtime_status {
                        Some(Ok(status)) => Some(&status.environment),
                        _ => None,
                    },
                    gpu_samples: &[],
                    gpu_latest: snapshot.gpu.as_ref(),
                    has_queue,
                },
            );
            return;
        }
        let Some(shown) = self.shown_session() else {
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
            ui.collapsing(format!("Transform: {}", transform.spec.label()), |ui| {
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
            ui.label(summary.stability.to_string());
        }
        let has_queue = run.config.has_queue();
        live::live_ui(
            ui,
            &LiveData {
                windows: &run.timeseries,
                histogram: &shown.histogram,
                errors: &run.errors,
                environment: Some(&run.environment),
                gpu_samples: &run.gpu_telemetry,
                gpu_latest: None,
                has_queue,
            },
        );
    }

    fn layers_tab_ui(&mut self, ui: &mut Ui) {
        let live_layers = self
            .run
            .as_ref()
            .and_then(|run| run.snapshot().layers.clone());
        let mut sort = self.layer_sort;
        if let Some(layers) = &live_layers {
            layers::layers_ui(
                ui,
                Some(layers),
                &mut sort,
                self.settings.config.opt_level != OptLevel::Disable,
                None,
                layers::GpuKernels::default(),
            );
        } else if let Some(shown) = self.shown_session() {
            let run = &shown.document.run;
            layers::layers_ui(
                ui,
                run.layers.as_ref(),
                &mut sort,
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
                &mut sort,
                false,
                None,
                layers::GpuKernels::default(),
            );
        }
        self.layer_sort = sort;
        if !self.has_heatmap_renderer {
            ui.label(
                RichText::new("The heatmap needs the wgpu renderer.")
                    .small()
                    .color(theme::MUTED),
            );
        }
    }

    fn sessions_ui(&mut self, ui: &mut Ui) {
        ui.label(RichText::new("Sessions of this app run").strong());
        if self.history.is_empty() {
            ui.label("None yet: run a profile or open a saved session.");
            return;
        }
        let mut show = None;
        egui::Grid::new("history").striped(true).show(ui, |ui| {
            ui.label(RichText::new("session").strong());
            ui.label(RichText::new("throughput").strong());
            ui.label(RichText::new("p99").strong());
            ui.label(RichText::new("A").strong());
            ui.label(RichText::new("B").strong());
            ui.label("");
            ui.end_row();
            for (index, shown) in self.history.iter().enumerate() {
                ui.label(&shown.name);
                let summary = shown.document.run.summary.as_ref();
                ui.label(summary.map_or_else(
                    || "-".to_owned(),
                    |s| format!("{:.0} inf/s", s.inferences_per_sec),
                ));
                ui.label(
                    summary
                        .and_then(|s| s.latency)
                        .map_or_else(|| "-".to_owned(), |l| format_micros(l.p99_micros)),
                );
                ui.radio_value(&mut self.compare_pair.0, Some(index), "")
                    .on_hover_text("baseline A");
                ui.radio_value(&mut self.compare_pair.1, Some(index), "")
                    .on_hover_text("candidate B");
                if ui.button("Show").clicked() {
                    show = Some(index);
                }
                ui.end_row();
            }
        });
        if let Some(index) = show {
            self.shown = Some(index);
            self.tab = Tab::Live;
        }
        ui.add_space(8.0);
        match self.compare_pair {
            (Some(a), Some(b)) if a != b => {
                if let (Some(first), Some(second)) = (self.history.get(a), self.history.get(b)) {
                    let comparison = compare::compare_sessions(&first.document, &second.document);
                    ui.separator();
                    ui.label(RichText::new("Comparison").strong());
                    compare::compare_ui(ui, &comparison, &first.name, &second.name);
                }
            }
            _ => {
                ui.label(
                    RichText::new("Pick a baseline (A) and a candidate (B) to compare them.")
                        .color(theme::MUTED),
                );
            }
        }
    }

    fn picker_ui(&mut self, ctx: &egui::Context) {
        let Some((dialog, purpose)) = &mut self.picker else {
            return;
        };
        let purpose = *purpose;
        let selected = dialog
            .show(ctx)
            .selected()
            .then(|| dialog.path().map(Path::to_path_buf))
            .flatten();
        let is_open = dialog.visible();
        if let Some(path) = selected {
            self.picker = None;
            self.picked(purpose, path);
        } else if !is_open {
            self.picker = None;
        }
    }
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
                        ui.radio_value(&mut spec.int8_mode, Int8Mode::Qdq, "QDQ weights");
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
        });
}

fn labelled_drag<T: egui::emath::Numeric>(
    ui: &mut Ui,
    label: &str,
    value: &mut T,
    range: std::ops::RangeInclusive<T>,
) {
    let label = ui.label(label);
    ui.add(egui::DragValue::new(value).range(range))
        .labelled_by(label.id);
    ui.end_row();
}

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

impl eframe::App for WorkbenchApp {
    fn ui(&mut self, ui: &mut Ui, frame: &mut eframe::Frame) {
        if self.is_running()
            && let Some(cpu_secs) = frame.info().cpu_usage
        {
            if self.frame_cpu_secs.len() >= MAX_FRAME_SAMPLES {
                self.frame_cpu_secs.pop_front();
            }
            self.frame_cpu_secs.push_back(cpu_secs);
        }
        let was_running = self.is_running();
        self.poll();
        self.handle_dropped_files(ui);
        if was_running && !self.is_running() && self.options.exit_after_run {
            self.write_frame_stats();
            ui.ctx().send_viewport_cmd(egui::ViewportCommand::Close);
        }

        egui::Panel::top("top_bar").show(ui, |ui| {
            ui.add_space(4.0);
            self.top_bar_ui(ui);
            ui.add_space(2.0);
        });
        if !self.messages.is_empty() {
            egui::Panel::bottom("messages").show(ui, |ui| self.messages_ui(ui));
        }
        egui::Panel::left("config_panel")
            .resizable(true)
            .default_size(320.0)
            .show(ui, |ui| {
                egui::ScrollArea::vertical().show(ui, |ui| {
                    ui.heading("Config");
                    self.config_ui(ui);
                });
            });
        egui::CentralPanel::default().show(ui, |ui| {
            ui.horizontal(|ui| {
                for (tab, label) in [
                    (Tab::Start, "Start"),
                    (Tab::Model, "Model"),
                    (Tab::Live, "Live"),
                    (Tab::Layers, "Layers"),
                    (Tab::Sessions, "Sessions"),
                ] {
                    ui.selectable_value(&mut self.tab, tab, label);
                }
            });
            ui.separator();
            egui::ScrollArea::vertical()
                .id_salt("central")
                .show(ui, |ui| match self.tab {
                    Tab::Start => self.start_ui(ui),
                    Tab::Model => self.model_ui(ui),
                    Tab::Live => self.live_tab_ui(ui),
                    Tab::Layers => self.layers_tab_ui(ui),
                    Tab::Sessions => self.sessions_ui(ui),
                });
        });
        let ctx = ui.ctx().clone();
        self.picker_ui(&ctx);

        if self.is_running() {
            ctx.request_repaint_after(RUN_REPAINT_INTERVAL);
        } else if self.model_task.is_some()
            || self.file_task.is_some()
            || self.runtime_task.is_some()
        {
            ctx.request_repaint_after(Duration::from_millis(50));
        }
    }

    fn save(&mut self, storage: &mut dyn eframe::Storage) {
        eframe::set_value(storage, eframe::APP_KEY, &self.settings);
    }

    fn on_exit(&mut self) {
        self.stop_run();
        self.write_frame_stats();
    }
}
