//! The eframe app: the state that is not a panel's own, the background work
//! (model loading, the ONNX Runtime probe, session files, the run, the
//! sweep), and the actions the panels push, applied once per frame after
//! drawing.

use std::{
    collections::VecDeque,
    path::{Path, PathBuf},
    sync::Arc,
    time::Duration,
};

use egui::Ui;

use super::{
    action::{Action, ActionQueue, PickPurpose, Tab},
    config_panel,
    error::{UiError, flatten},
    eval_data,
    files::{self, FileDialogs},
    graph::GraphView,
    heatmap,
    loaded_model::LoadedModel,
    messages::{Message, Messages},
    runtime_status::RuntimeStatus,
    selection::Selection,
    sessions::{self, FileOutcome, Sessions, ShownSession},
    settings::{Settings, remember},
    tabs::{self, LayersTab, RunView},
    tasks::Task,
    top_bar::{self, TopBar},
    tune::{TuneTab, TuneView},
};
use crate::{
    engine::{
        LayerProfiling, ModelRef, ProfileConfig, RunHandle, RunRecord, RunStatus,
        runtime::RuntimeError,
    },
    model::ModelError,
    samples::sample_model_path,
    session::SessionDocument,
    tune::{SweepHandle, SweepResult, SweepSpec, SweepStatus},
};

/// Frame times kept for the statistics (at most).
const MAX_FRAME_SAMPLES: usize = 100_000;
/// How often the UI repaints while a run is active.
const RUN_REPAINT_INTERVAL: Duration = crate::metrics::DEFAULT_PUBLISH_INTERVAL;
/// How often the UI repaints while background work is in progress.
const TASK_REPAINT_INTERVAL: Duration = Duration::from_millis(50);

/// Application id used for persisted settings.
pub const APP_ID: &str = "onnx-workbench";

/// What the window borrows from the command line, which `ui` cannot
/// import: the mix file format (its keys are the CLI's flags) and the
/// `profile` command that runs a config again.
#[derive(Debug, Clone, Copy)]
pub struct CommandLine {
    /// Reads a mix file: the mix, or the error as text.
    pub read_mix: fn(&std::path::Path) -> Result<crate::mix::MixSpec, String>,
    /// Writes a mix as a mix file.
    pub write_mix: fn(&crate::mix::MixSpec) -> String,
    /// The `profile` command line that runs a config on a model again.
    pub reproduce: crate::session::Reproduce,
}

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
    /// Write the first finished run's session (JSON) here, e.g. for long
    /// unattended runs with `autorun`.
    pub export_session: Option<PathBuf>,
    /// Overrides of the remembered config: concurrency (workers).
    pub concurrency: Option<u32>,
    /// Overrides of the remembered config: the memory limit of a run's
    /// inputs, in bytes (the window has no field for it).
    pub max_input_bytes: Option<u64>,
    /// Overrides of the remembered config: run duration, in seconds.
    pub duration_secs: Option<f64>,
    /// Overrides of the remembered config: profile every Nth run.
    pub profile_every: Option<u32>,
    /// Overrides of the remembered config: an open-loop rate, requests/s.
    pub rate: Option<f64>,
    /// Overrides of the remembered config: the batch, dims and shapes.
    pub batch: Option<i64>,
    pub dims: Vec<(String, i64)>,
    pub shapes: Vec<(String, Vec<i64>)>,
    /// A mix file to open in the Mix tab at start.
    pub mix: Option<PathBuf>,
    /// The command line's mix files and `profile` command. `None` (a window
    /// not started by the binary): the Mix tab cannot read or save files,
    /// and the Tune tab shows no command.
    pub command_line: Option<CommandLine>,
}

/// The workbench app.
pub struct WorkbenchApp {
    /// What is remembered between starts, including the run config.
    pub settings: Settings,
    /// The central panel's tab.
    pub tab: Tab,
    /// The open model.
    pub model: Option<LoadedModel>,
    /// The start page's remote-server choice.
    remote: super::remote::RemotePanel,
    model_task: Option<Task<Result<LoadedModel, ModelError>>>,
    runtime_task: Option<Task<Result<RuntimeStatus, RuntimeError>>>,
    /// ONNX Runtime, once the probe at start-up has finished.
    pub runtime_status: Option<Result<RuntimeStatus, UiError>>,
    run: Option<RunHandle>,
    sweep: Option<SweepHandle>,
    sweep_result: Option<Box<SweepResult>>,
    /// The Tune tab's form.
    pub tune: TuneTab,
    /// The Mix tab.
    pub mix: super::MixTab,
    /// The sessions of this app run, the shown one and the comparison pair.
    pub sessions: Sessions,
    file_task: Option<Task<Result<FileOutcome, UiError>>>,
    /// Messages at the bottom of the window (bounded).
    pub messages: Messages,
    /// Actions pushed by the panels, applied after drawing.
    actions: ActionQueue,
    layers_tab: LayersTab,
    /// The Model tab's FLOP count at the Config's shapes.
    config_flops: super::model_flops::ConfigFlops,
    /// The Model tab's graph view.
    pub graph_view: GraphView,
    /// The node selected in the graph, the Layers table or the roofline.
    pub selection: Selection,
    files: FileDialogs,
    frame_cpu_secs: VecDeque<f32>,
    options: GuiOptions,
    autorun_pending: bool,
    has_heatmap_renderer: bool,
}

impl WorkbenchApp {
    /// Creates the app, restoring persisted settings.
    pub fn new(cc: &eframe::CreationContext<'_>, options: GuiOptions) -> Self {
        // Errors and notes made for the window name its labels, not flags.
        crate::field::speak(Some(super::config_panel::quoted_label));
        let stored: Option<Settings> = cc
            .storage
            .and_then(|storage| eframe::get_value(storage, eframe::APP_KEY));
        // Saved text that no longer parses (a corrupted file, or one from an
        // incompatible version): defaults, and the user is told.
        // (eframe drops a file that does not parse and starts empty.)
        let unreadable_settings = stored.is_none()
            && (cc
                .storage
                .and_then(|storage| storage.get_string(eframe::APP_KEY))
                .is_some()
                || cc.storage.is_some()
                    && eframe::storage_dir(APP_ID)
                        .and_then(|dir| std::fs::metadata(dir.join("app.ron")).ok())
                        .is_some_and(|file| file.len() > 0));
        let mut settings = stored.unwrap_or_default();
        if let Some(bytes) = options.max_input_bytes {
            settings.config.max_input_bytes = Some(bytes);
        }
        if let Some(concurrency) = options.concurrency {
            settings.config.concurrency = concurrency;
        }
        if let Some(duration) = options.duration_secs {
            settings.config.duration_secs = Some(duration);
        }
        if let Some(every) = options.profile_every {
            settings.config.layer_profiling = LayerProfiling::Sampled { every };
        }
        if options.batch.is_some() {
            settings.config.batch = options.batch;
        }
        settings.config.dims.extend(options.dims.iter().cloned());
        settings
            .config
            .shapes
            .extend(options.shapes.iter().cloned());
        if let Some(rate_per_sec) = options.rate {
            settings.config.load = crate::engine::LoadMode::Open {
                rate_per_sec,
                arrival: crate::engine::Arrival::Poisson,
            };
        }
        let has_heatmap_renderer = cc.wgpu_render_state.as_ref().is_some_and(heatmap::install);
        let runtime_task = Task::spawn("finding ONNX Runtime", RuntimeStatus::probe).ok();
        let mut app = Self {
            settings,
            tab: Tab::Start,
            model: None,
            remote: super::remote::RemotePanel::default(),
            model_task: None,
            runtime_task,
            runtime_status: None,
            run: None,
            sweep: None,
            sweep_result: None,
            tune: TuneTab::default(),
            mix: super::MixTab::default(),
            sessions: Sessions::default(),
            file_task: None,
            messages: Messages::default(),
            actions: ActionQueue::default(),
            layers_tab: LayersTab::default(),
            config_flops: super::model_flops::ConfigFlops::default(),
            graph_view: GraphView::default(),
            selection: Selection::default(),
            files: FileDialogs::default(),
            frame_cpu_secs: VecDeque::new(),
            autorun_pending: options.autorun,
            has_heatmap_renderer,
            options,
        };
        if unreadable_settings {
            app.error(
                "The saved settings could not be read (a damaged file, or one from another version); the defaults are used, and the settings are saved again when the window closes.",
            );
        }
        if let Some(path) = app.options.model.clone() {
            app.open_model(path);
        }
        if let Some(path) = app.options.mix.clone() {
            app.open_mix(path);
            app.tab = Tab::Mix;
        }
        app
    }

    /// Reads a mix file into the Mix tab.
    pub fn open_mix(&mut self, path: PathBuf) {
        let Some(command_line) = self.options.command_line else {
            self.error("This window cannot read mix files; open it with onnx-workbench gui.");
            return;
        };
        match (command_line.read_mix)(&path) {
            Ok(spec) => {
                let count = spec.entries.len();
                self.mix.load(spec, path.clone());
                self.info(format!("{count} models read from {}", path.display()));
            }
            Err(err) => self.error(err),
        }
    }

    /// Writes the Mix tab's entries as a mix file.
    fn save_mix(&mut self, path: PathBuf) {
        let Some(command_line) = self.options.command_line else {
            self.error("This window cannot write mix files; open it with onnx-workbench gui.");
            return;
        };
        let spec = match self.mix.spec() {
            Ok(spec) => spec,
            Err(problems) => {
                self.error(format!("The mix is not saved: {}", problems.join(" ")));
                return;
            }
        };
        match crate::util::write_atomic(&path, (command_line.write_mix)(&spec).as_bytes()) {
            Ok(()) => {
                self.info(format!("Mix saved to {}", path.display()));
                self.mix.file = Some(path);
            }
            Err(err) => self.error(format!("The mix is not saved: {err}")),
        }
    }

    fn info(&mut self, text: impl Into<String>) {
        self.messages.push(Message::info(text));
    }

    fn error(&mut self, text: impl Into<String>) {
        self.messages.push(Message::error(text));
    }

    /// Loads a model in the background.
    pub fn open_model(&mut self, path: PathBuf) {
        // The digits sample brings its evaluation set, however it is opened
        // (start page, file dialog, command line); another model drops it.
        if let Some(file_name) = path.file_name().and_then(|name| name.to_str())
            && let Err(err) =
                eval_data::fill_for_sample(&mut self.settings.config.transform, file_name)
        {
            self.error(format!("{err:#}"));
        }
        let task_path = path.clone();
        match Task::spawn(format!("loading {}", path.display()), move || {
            LoadedModel::load(&task_path)
        }) {
            Ok(task) => self.model_task = Some(task),
            Err(err) => self.error(format!("{err:#}")),
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
        match Task::spawn(format!("opening {}", path.display()), move || {
            sessions::open_session_file(task_path)
        }) {
            Ok(task) => self.file_task = Some(task),
            Err(err) => self.error(format!("{err:#}")),
        }
    }

    /// Writes the shown session in the background.
    pub fn export(&mut self, purpose: PickPurpose, path: PathBuf) {
        if matches!(
            purpose,
            PickPurpose::ExportSweep | PickPurpose::ExportSweepCsv
        ) {
            self.export_sweep(purpose, path);
            return;
        }
        let Some(document) = self
            .shown_session()
            .map(|shown| Arc::clone(&shown.document))
        else {
            self.error("Nothing to export yet: run a profile or open a session first.");
            return;
        };
        match Task::spawn(format!("writing {}", path.display()), move || {
            sessions::export_session(&document, purpose, &path)
        }) {
            Ok(task) => self.file_task = Some(task),
            Err(err) => self.error(format!("{err:#}")),
        }
    }

    /// Writes the last sweep as `sweep --export` (JSON) or `--export-csv`
    /// (its points) would.
    fn export_sweep(&mut self, purpose: PickPurpose, path: PathBuf) {
        let Some(result) = self.sweep_result.as_deref().cloned() else {
            self.error("Nothing to export yet: run a sweep first.");
            return;
        };
        let Some(command_line) = self.options.command_line else {
            self.error("This window cannot write sweeps; open it with onnx-workbench gui.");
            return;
        };
        match Task::spawn(format!("writing {}", path.display()), move || {
            let document = crate::session::SweepDocument::new(result, command_line.reproduce);
            let written = if purpose == PickPurpose::ExportSweepCsv {
                document.write_csv(&path).map(|()| "sweep points (CSV)")
            } else {
                document.write_json(&path).map(|()| "sweep")
            };
            written
                .map(|what| FileOutcome::Written(format!("Wrote the {what} to {}", path.display())))
                .map_err(super::error::UiError::Export)
        }) {
            Ok(task) => self.file_task = Some(task),
            Err(err) => self.error(format!("{err:#}")),
        }
    }

    /// True while a run is in progress.
    pub fn is_running(&self) -> bool {
        self.run.is_some()
    }

    /// The validity verdict of the run in progress, once a window closed.
    pub fn live_validity(&self) -> Option<std::sync::Arc<crate::metrics::validity::Validity>> {
        self.run
            .as_ref()
            .and_then(|run| run.snapshot().validity.clone())
    }

    /// True while a sweep is in progress.
    pub fn is_sweeping(&self) -> bool {
        self.sweep.is_some()
    }

    /// The last sweep's result, once it has ended (finished, out of budget
    /// or stopped).
    pub fn sweep_result(&self) -> Option<&SweepResult> {
        self.sweep_result.as_deref()
    }

    /// The session on screen.
    pub fn shown_session(&self) -> Option<&ShownSession> {
        self.sessions.shown()
    }

    /// Whether the ONNX Runtime build has CUDA; `None` until it is known.
    fn runtime_has_cuda(&self) -> Option<bool> {
        match &self.runtime_status {
            Some(Ok(status)) => Some(status.has_cuda),
            _ => None,
        }
    }

    /// Problems that stop the current config from running, for the Config panel.
    pub fn config_problems(&self) -> Vec<String> {
        config_panel::config_problems(
            &self.settings.config,
            self.model.as_ref(),
            self.runtime_has_cuda(),
        )
    }

    /// The current config as a run of the open model uses it (a batch size
    /// only when the model has a batch symbol, only its own named dims), or
    /// why it cannot run.
    fn run_config(&self) -> Result<(ModelRef, ProfileConfig), String> {
        if let Some(target) = self.remote.target() {
            let mut config = self.settings.config.clone();
            config.remote = Some(target);
            // The token loop belongs to a local generative model; a server
            // is driven one request at a time.
            config.generation = None;
            if let Some(url) = self.remote.metrics_url() {
                config.metrics_url = Some(url);
            }
            let inputs = self.remote.inputs().unwrap_or_default();
            super::input_shapes::sync_shapes(
                &mut config,
                super::input_shapes::ShapeModel::remote(&inputs),
            );
            let file = self.model.as_ref().map(|m| m.path.clone());
            let model = ModelRef::of(file, &config).map_err(|err| err.to_string())?;
            return Ok((model, config));
        }
        let Some(model) = &self.model else {
            return Err("Open a model first.".to_owned());
        };
        let problems = self.config_problems();
        if !problems.is_empty() {
            return Err(problems.join(" "));
        }
        let mut config = self.settings.config.clone();
        if model.batch_symbol.is_none() {
            config.batch = None;
        }
        config
            .dims
            .retain(|name, _| model.other_symbols.contains(name));
        super::input_shapes::sync_shapes(&mut config, model.into());
        Ok((ModelRef::File(model.path.clone()), config))
    }

    /// Why a run or a sweep cannot start now, if it cannot.
    fn start_blocked(&self) -> Option<String> {
        if self.model.is_none() && self.remote.target().is_none() {
            return Some("Open a model first.".to_owned());
        }
        if self.run.is_some() {
            return Some("A run is in progress.".to_owned());
        }
        if self.sweep.is_some() {
            return Some("A sweep is in progress.".to_owned());
        }
        self.run_config().err()
    }

    /// Starts a run with the current config.
    pub fn start_run(&mut self) {
        if self.sweep.is_some() {
            self.error("A sweep is in progress: stop it or wait for it before a run.");
            return;
        }
        let (model, config) = match self.run_config() {
            Ok(run) => run,
            Err(reason) => {
                self.error(format!("Cannot run: {reason}"));
                return;
            }
        };
        match RunHandle::start(model, config) {
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

    /// Starts `spec` over the current config (which replaces its base) on
    /// the open model; the previous sweep's result is dropped.
    pub fn start_sweep(&mut self, mut spec: SweepSpec) {
        if let Some(reason) = self.start_blocked() {
            self.error(format!("Cannot start the sweep: {reason}"));
            return;
        }
        let (model, config) = match self.run_config() {
            Ok(run) => run,
            Err(reason) => {
                self.error(format!("Cannot start the sweep: {reason}"));
                return;
            }
        };
        spec.base = config;
        match SweepHandle::start(model.file().map(Path::to_path_buf), spec) {
            Ok(handle) => {
                self.sweep = Some(handle);
                self.sweep_result = None;
                self.tab = Tab::Tune;
            }
            Err(err) => self.error(format!("Could not start the sweep: {err}")),
        }
    }

    /// Stops the sweep: the point in flight is stopped, what was measured is
    /// kept.
    pub fn stop_sweep(&self) {
        if let Some(sweep) = &self.sweep {
            sweep.stop();
        }
    }

    /// Shows the session of point `index` of the last sweep in the Live and
    /// Layers tabs (added to the sessions of this app run).
    pub fn show_sweep_point(&mut self, index: usize) {
        let found = match &self.sweep {
            // A running sweep publishes each finished point's record.
            Some(sweep) => {
                let progress = sweep.progress();
                progress
                    .points
                    .get(index)
                    .zip(progress.records.get(index))
                    .map(|(point, record)| (point.label.clone(), RunRecord::clone(record)))
            }
            None => self
                .sweep_result
                .as_ref()
                .and_then(|result| result.points.get(index))
                .map(|point| (point.label.clone(), point.record.clone())),
        };
        let Some((label, record)) = found else {
            self.error("That point's session is not available.");
            return;
        };
        let mut shown = ShownSession::new(SessionDocument::new(record), None);
        shown.name = format!("sweep: {label}");
        if let Some(dropped) = self.sessions.add(shown) {
            self.info(format!(
                "The oldest session left the list ({dropped}); export sessions you want to keep."
            ));
        }
        self.tab = Tab::Live;
    }

    /// Applies the actions the panels pushed, in order. An action may push
    /// more (a picked file becomes an open or an export); those are applied
    /// in the same call.
    fn apply_actions(&mut self) {
        while let Some(action) = self.actions.pop() {
            if let Some(folder) = action.file_folder() {
                self.settings.last_folder = Some(folder);
            }
            match action {
                Action::OpenModel(path) => self.open_model(path),
                Action::OpenSample(file_name) => self.open_sample(&file_name),
                Action::OpenSession(path) => self.open_session(path),
                Action::OpenMix(path) => self.open_mix(path),
                Action::SaveMix(path) => self.save_mix(path),
                Action::PickFile(purpose) => {
                    self.files.pick(
                        purpose,
                        self.settings.use_builtin_picker,
                        self.settings.last_folder.as_deref(),
                        &mut self.actions,
                    );
                }
                Action::Export { purpose, path } => self.export(purpose, path),
                Action::StartRun => self.start_run(),
                Action::StopRun => self.stop_run(),
                Action::StartSweep(spec) => self.start_sweep(*spec),
                Action::StopSweep => self.stop_sweep(),
                Action::ShowSweepPoint(index) => self.show_sweep_point(index),
                Action::ShowTab(tab) => self.tab = tab,
                Action::Message(message) => self.messages.push(message),
            }
        }
    }

    /// Collects finished background work. Called once per frame.
    pub fn poll(&mut self) {
        if let Some(task) = &mut self.runtime_task
            && let Some(result) = task.poll()
        {
            self.runtime_task = None;
            self.runtime_status = Some(flatten(result));
        }
        if let Some(task) = &mut self.model_task
            && let Some(result) = task.poll()
        {
            self.model_task = None;
            match flatten(result) {
                Ok(model) => {
                    remember(&mut self.settings.recent_models, model.path.clone());
                    // Per-model state belongs to the model it was set for.
                    let mut dropped =
                        super::config_panel::adopt_model(&mut self.settings.config, &model);
                    if self.remote.deactivate() {
                        dropped.push("the remote target (runs now go to this model)".to_owned());
                    }
                    self.selection = Selection::default();
                    self.graph_view = self.graph_view.for_another_model();
                    self.layers_tab.state.source_ops = model
                        .graph
                        .nodes
                        .iter()
                        .map(|node| (node.id.clone(), node.op_type.clone()))
                        .collect();
                    if !dropped.is_empty() && self.model.is_some() {
                        self.info(format!(
                            "Settings of the previous model were not kept: {}.",
                            dropped.join(", ")
                        ));
                    }
                    if self.settings.config.batch.is_some() && model.batch_symbol.is_none() {
                        self.settings.config.batch = None;
                    }
                    super::config_panel::adapt_generation(
                        &mut self.settings.config,
                        model.summary.generative.as_ref(),
                    );
                    self.model = Some(model);
                    self.tab = Tab::Model;
                    if self.autorun_pending {
                        self.autorun_pending = false;
                        self.start_run();
                    }
                }
                Err(err) => self.error(format!("Could not open the model: {err:#}")),
            }
        }
        if let Some(task) = &mut self.file_task
            && let Some(result) = task.poll()
        {
            self.file_task = None;
            match flatten(result) {
                Ok(FileOutcome::Written(message)) => self.info(message),
                Ok(FileOutcome::Opened(document, path)) => {
                    remember(&mut self.settings.recent_sessions, path.clone());
                    if let Some(dropped) =
                        self.sessions.add(ShownSession::new(*document, Some(path)))
                    {
                        self.info(format!(
                            "The oldest session left the list ({dropped}); export sessions you want to keep."
                        ));
                    }
                    self.tab = Tab::Live;
                }
                Err(err) => self.error(format!("{err:#}")),
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
            let document = SessionDocument::new(record);
            if let Some(path) = self.options.export_session.take() {
                match crate::session::write_json(&document, &path) {
                    Ok(()) => self.info(format!("Session written to {}", path.display())),
                    Err(err) => self.error(format!("Session not written: {err:#}")),
                }
            }
            if let Some(dropped) = self.sessions.add(ShownSession::new(document, None)) {
                self.info(format!(
                    "The oldest session left the list ({dropped}); export sessions you want to keep."
                ));
            }
        }
        if self.sweep.as_ref().is_some_and(SweepHandle::is_finished)
            && let Some(sweep) = self.sweep.take()
        {
            match sweep.join() {
                Ok(result) => {
                    match result.status {
                        SweepStatus::Stopped => {
                            self.info("Sweep stopped; the measured points are kept.");
                        }
                        SweepStatus::BudgetSpent => {
                            self.info("Sweep budget spent; the measured points are kept.");
                        }
                        SweepStatus::Completed => self.info(format!(
                            "Sweep finished: {} points measured.",
                            result.points.len()
                        )),
                    }
                    self.sweep_result = Some(Box::new(result));
                }
                Err(err) => self.error(format!("The sweep failed: {err}")),
            }
        }
    }

    /// The content of the selected tab.
    fn central_ui(&mut self, ui: &mut Ui) {
        let environment = match &self.runtime_status {
            Some(Ok(status)) => Some(&status.environment),
            _ => None,
        };
        let view = RunView {
            run: self.run.as_ref(),
            config: &self.settings.config,
            environment,
            shown: self.sessions.shown(),
        };
        match self.tab {
            Tab::Start => {
                tabs::start_ui(ui, &mut self.settings, &mut self.actions);
                self.remote.ui(ui);
            }
            Tab::Model => {
                if !(self.remote.metadata_ui(ui) && self.model.is_none()) {
                    let config_flops = self.model.as_ref().and_then(|model| {
                        let shapes =
                            super::input_shapes::run_shapes(&self.settings.config, model.into());
                        self.config_flops.update(model, shapes)
                    });
                    tabs::model_ui(
                        ui,
                        self.model.as_ref(),
                        config_flops,
                        &mut self.graph_view,
                        view.shown,
                        &mut self.selection,
                    );
                }
            }
            Tab::Live => tabs::live_tab_ui(ui, &view),
            Tab::Layers => {
                self.layers_tab.layers_tab_ui(
                    ui,
                    &view,
                    self.has_heatmap_renderer,
                    &mut self.selection,
                );
            }
            Tab::Sessions => self.sessions.sessions_ui(ui, &mut self.actions),
            Tab::Mix => {
                let open_model = self
                    .model
                    .as_ref()
                    .map(|model| (model.path.clone(), self.settings.config.clone()));
                self.mix.mix_ui(ui, open_model, &mut self.actions);
            }
            Tab::Tune => {
                let tune_view = TuneView {
                    base: &self.settings.config,
                    blocked: self.start_blocked(),
                    sweep: self.sweep.as_ref(),
                    result: self.sweep_result.as_deref(),
                    reproduce: self.options.command_line.map(|line| line.reproduce),
                };
                self.tune.tune_ui(ui, &tune_view, &mut self.actions);
            }
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
        files::dropped_files(ui, &mut self.actions);
        if was_running && !self.is_running() && self.options.exit_after_run {
            self.write_frame_stats();
            ui.ctx().send_viewport_cmd(egui::ViewportCommand::Close);
        }

        let bar = TopBar {
            run: self.run.as_ref(),
            can_run: (self.model.is_some() || self.remote.target().is_some())
                && self.sweep.is_none()
                && self.config_problems().is_empty(),
            can_export: self.shown_session().is_some() && self.file_task.is_none(),
            busy: [
                self.model_task.as_ref().map(|task| task.label.as_str()),
                self.file_task.as_ref().map(|task| task.label.as_str()),
            ]
            .into_iter()
            .flatten()
            .collect(),
            runtime_status: self.runtime_status.as_ref(),
        };
        egui::Panel::top("top_bar").show(ui, |ui| {
            ui.add_space(4.0);
            top_bar::top_bar_ui(ui, &bar, &mut self.actions);
            ui.add_space(2.0);
        });
        if !self.messages.is_empty() {
            egui::Panel::bottom("messages").show(ui, |ui| self.messages.messages_ui(ui));
        }
        let runtime_has_cuda = self.runtime_has_cuda();
        egui::Panel::left("config_panel")
            .resizable(true)
            .default_size(320.0)
            .show(ui, |ui| {
                egui::ScrollArea::vertical().show(ui, |ui| {
                    ui.heading("Config");
                    let remote_inputs = self.remote.inputs();
                    config_panel::config_ui(
                        ui,
                        &mut self.settings.config,
                        self.model.as_ref(),
                        remote_inputs.as_deref(),
                        runtime_has_cuda,
                        self.run.is_some() || self.sweep.is_some(),
                    );
                });
            });
        egui::CentralPanel::default().show(ui, |ui| {
            tabs::tab_bar_ui(ui, &mut self.tab);
            ui.separator();
            egui::ScrollArea::vertical()
                .id_salt("central")
                .show(ui, |ui| self.central_ui(ui));
        });
        let ctx = ui.ctx().clone();
        self.files.picker_ui(&ctx, &mut self.actions);
        self.apply_actions();

        if self.is_running() || self.is_sweeping() {
            ctx.request_repaint_after(RUN_REPAINT_INTERVAL);
        } else if self.model_task.is_some()
            || self.file_task.is_some()
            || self.runtime_task.is_some()
        {
            ctx.request_repaint_after(TASK_REPAINT_INTERVAL);
        }
    }

    fn save(&mut self, storage: &mut dyn eframe::Storage) {
        eframe::set_value(storage, eframe::APP_KEY, &self.settings);
    }

    fn on_exit(&mut self) {
        self.stop_run();
        self.stop_sweep();
        self.write_frame_stats();
    }
}
