//! The Mix tab: several models under load at once. The user opens a mix
//! file (the `--mix` TOML) or adds the open model with the Config panel's
//! settings, sets each entry's load and SLO, and runs the mix (live
//! throughput and p99, one line per entry; then a table of per-entry
//! verdicts, queue and run time, and the interference against a solo
//! baseline) or its scale search (how much more load the mix can take).

use std::path::PathBuf;

use egui::{Color32, RichText, Ui};
use egui_plot::{Line, PlotPoints};

use super::{
    PickPurpose,
    action::{Action, ActionQueue},
    live::{series, time_plot},
    plot_axes, theme,
};
use crate::{
    engine::{Arrival, LoadMode, ProfileConfig},
    metrics::{RunPhase, WindowStats},
    mix::{
        MixDocument, MixEntry, MixJob, MixSpec, MixSummaryRow, ScaleDocument, ScaleOptions,
        render_scale_report, start_mix, start_scale,
    },
    tune::Slo,
    util::{format_micros, format_value},
};

/// Line colours of the entries, in order.
const ENTRY_COLOURS: [Color32; 6] = [
    theme::THROUGHPUT,
    theme::P95,
    theme::P50,
    theme::QUEUE,
    theme::MEMORY,
    theme::CPU,
];

/// One entry as the tab edits it.
#[derive(Debug, Clone)]
pub struct MixRow {
    pub name: String,
    /// The model file; `None` for a served model given by name only.
    pub model: Option<PathBuf>,
    /// Its settings; load and SLO are edited here, the rest comes from the
    /// mix file or the Config panel when the entry was added.
    pub config: ProfileConfig,
    /// The SLO as typed: `p99=10ms`, several separated by commas.
    pub slo_text: String,
}

impl MixRow {
    fn new(name: String, model: Option<PathBuf>, config: ProfileConfig) -> Self {
        let slo_text = config
            .slo
            .iter()
            .map(|bound| format!("{}={}", bound.percentile, bound_text(bound.bound_micros)))
            .collect::<Vec<_>>()
            .join(", ");
        Self {
            name,
            model,
            config,
            slo_text,
        }
    }

    /// The SLO typed, or why it does not parse.
    fn slo(&self) -> Result<Vec<crate::metrics::slo::LatencyBound>, String> {
        let mut slo = Slo::default();
        for item in self
            .slo_text
            .split(',')
            .map(str::trim)
            .filter(|i| !i.is_empty())
        {
            slo.add(item).map_err(|err| err.to_string())?;
        }
        Ok(slo.latency)
    }
}

/// `400ms` or `850us`, as an SLO is typed.
fn bound_text(micros: f64) -> String {
    if micros >= 1000.0 && (micros / 1000.0).fract() == 0.0 {
        format!("{}ms", micros / 1000.0)
    } else {
        format!("{micros}us")
    }
}

/// The Mix tab's state.
pub struct MixTab {
    pub rows: Vec<MixRow>,
    /// The file the mix was opened from or saved to.
    pub file: Option<PathBuf>,
    pub duration_secs: f64,
    pub warmup_secs: f64,
    /// Run each entry alone first (for the interference figures).
    pub solo: bool,
    job: Option<MixJob<MixDocument>>,
    scale: Option<MixJob<ScaleDocument>>,
    /// The last finished mix.
    pub result: Option<MixDocument>,
    /// The last finished scale search.
    pub scale_result: Option<ScaleDocument>,
    /// Why the last job failed.
    pub error: Option<String>,
}

impl Default for MixTab {
    fn default() -> Self {
        Self {
            rows: Vec::new(),
            file: None,
            duration_secs: 10.0,
            warmup_secs: 1.0,
            solo: true,
            job: None,
            scale: None,
            result: None,
            scale_result: None,
            error: None,
        }
    }
}

impl MixTab {
    /// Replaces the entries by those of a mix file.
    pub fn load(&mut self, spec: MixSpec, file: PathBuf) {
        if let Some(first) = spec.entries.first() {
            self.duration_secs = first.config.duration_secs.unwrap_or(self.duration_secs);
            self.warmup_secs = first.config.warmup_secs;
        }
        self.rows = spec
            .entries
            .into_iter()
            .map(|entry| MixRow::new(entry.name, entry.model, entry.config))
            .collect();
        self.file = Some(file);
    }

    /// Adds a model with `config` (the Config panel's), named after its
    /// file (made unique).
    pub fn add(&mut self, model: PathBuf, config: ProfileConfig) {
        let stem = model
            .file_stem()
            .map_or_else(|| "model".to_owned(), |s| s.to_string_lossy().into_owned());
        let mut name = stem.clone();
        let mut n = 2;
        while self.rows.iter().any(|row| row.name == name) {
            name = format!("{stem}-{n}");
            n += 1;
        }
        self.rows.push(MixRow::new(name, Some(model), config));
    }

    /// True while a mix or a scale search runs.
    pub fn is_busy(&self) -> bool {
        self.job.is_some() || self.scale.is_some()
    }

    /// The mix the rows describe, or what is wrong with it (each problem
    /// names the entry and the field as the window labels it).
    pub fn spec(&self) -> Result<MixSpec, Vec<String>> {
        let mut problems = Vec::new();
        if self.rows.is_empty() {
            problems.push(
                "Add models: open a mix file, or open a model and add it with its Config settings."
                    .to_owned(),
            );
        }
        let mut entries = Vec::with_capacity(self.rows.len());
        for (index, row) in self.rows.iter().enumerate() {
            let name = row.name.trim();
            if name.is_empty() {
                problems.push(format!("Entry {}: give it a name.", index + 1));
            } else if self.rows[..index]
                .iter()
                .any(|other| other.name.trim() == name)
            {
                problems.push(format!(
                    "Entry {}: the name {name:?} is used twice.",
                    index + 1
                ));
            }
            let mut config = row.config.clone();
            config.duration_secs = Some(self.duration_secs);
            config.max_requests = None;
            config.warmup_secs = self.warmup_secs;
            match row.slo() {
                Ok(bounds) => config.slo = bounds,
                Err(err) => problems.push(format!("{name}: SLO: {err}")),
            }
            if let Err(err) = config.validate() {
                problems.push(format!("{name}: {err}"));
            }
            entries.push(MixEntry {
                name: name.to_owned(),
                model: row.model.clone(),
                config,
            });
        }
        if problems.is_empty() {
            Ok(MixSpec { entries })
        } else {
            Err(problems)
        }
    }

    /// Starts the mix (with the solo baseline when asked).
    pub fn start(&mut self) {
        let Ok(spec) = self.spec() else { return };
        match start_mix(spec, self.solo) {
            Ok(job) => {
                self.job = Some(job);
                self.error = None;
            }
            Err(err) => self.error = Some(err.to_string()),
        }
    }

    /// Starts the scale search.
    pub fn start_scale(&mut self) {
        let Ok(spec) = self.spec() else { return };
        match start_scale(spec, ScaleOptions::default()) {
            Ok(job) => {
                self.scale = Some(job);
                self.error = None;
            }
            Err(err) => self.error = Some(err.to_string()),
        }
    }

    /// Stops what runs; what it measured is kept.
    pub fn stop(&self) {
        if let Some(job) = &self.job {
            job.stop();
        }
        if let Some(job) = &self.scale {
            job.stop();
        }
    }

    /// Collects a finished job's document.
    pub fn poll(&mut self) {
        if self.job.as_ref().is_some_and(MixJob::is_finished)
            && let Some(job) = self.job.take()
        {
            match job.join() {
                Ok(document) => self.result = Some(document),
                Err(err) => self.error = Some(err.to_string()),
            }
        }
        if self.scale.as_ref().is_some_and(MixJob::is_finished)
            && let Some(job) = self.scale.take()
        {
            match job.join() {
                Ok(document) => self.scale_result = Some(document),
                Err(err) => self.error = Some(err.to_string()),
            }
        }
    }

    /// Draws the tab. `open_model` is the model open in the window with
    /// the Config panel's settings, which "Add the open model" adds.
    pub fn mix_ui(
        &mut self,
        ui: &mut Ui,
        open_model: Option<(PathBuf, ProfileConfig)>,
        actions: &mut ActionQueue,
    ) {
        self.poll();
        if self.is_busy() {
            ui.ctx()
                .request_repaint_after(std::time::Duration::from_millis(250));
        }
        ui.heading("Mix");
        ui.label(
            "Several models under load at once on this machine, each with its own load and SLO: who slows whom down, and how much more load the mix can take.",
        );
        ui.add_space(6.0);
        let busy = self.is_busy();
        ui.horizontal(|ui| {
            if ui
                .add_enabled(!busy, egui::Button::new("Open mix…"))
                .clicked()
            {
                actions.push(Action::PickFile(PickPurpose::OpenMix));
            }
            if ui
                .add_enabled(!self.rows.is_empty(), egui::Button::new("Save mix…"))
                .clicked()
            {
                actions.push(Action::PickFile(PickPurpose::SaveMix));
            }
            let add = ui
                .add_enabled(
                    !busy && open_model.is_some(),
                    egui::Button::new("Add the open model"),
                )
                .on_hover_text(
                    "Adds the model open in the window, with the Config panel's settings.",
                );
            if add.clicked()
                && let Some((model, config)) = open_model
            {
                self.add(model, config);
            }
            if let Some(file) = &self.file {
                ui.label(
                    RichText::new(file.display().to_string())
                        .small()
                        .color(theme::MUTED),
                );
            }
        });
        ui.add_space(6.0);
        self.entries_ui(ui, busy);
        ui.add_space(6.0);
        ui.add_enabled_ui(!busy, |ui| {
            ui.horizontal(|ui| {
                let label = ui.label("Duration (s)");
                ui.add(egui::DragValue::new(&mut self.duration_secs).range(0.5..=3600.0))
                    .labelled_by(label.id);
                let label = ui.label("Warm-up (s)");
                ui.add(egui::DragValue::new(&mut self.warmup_secs).range(0.0..=600.0))
                    .labelled_by(label.id);
                ui.checkbox(&mut self.solo, "Solo baseline first")
                    .on_hover_text("Runs each entry alone (at most 5 s) before the mix, so the table gives each one's p99 in the mix against its p99 alone.");
            });
        });
        let problems = self.spec().err().unwrap_or_default();
        for problem in &problems {
            ui.label(RichText::new(problem).color(theme::ERROR));
        }
        ui.horizontal(|ui| {
            if busy {
                if ui.button("Stop").clicked() {
                    self.stop();
                }
            } else {
                let ready = problems.is_empty();
                if ui
                    .add_enabled(ready, egui::Button::new(RichText::new("Run mix").strong()))
                    .clicked()
                {
                    self.start();
                }
                if ui
                    .add_enabled(ready, egui::Button::new("Find capacity (scale search)"))
                    .on_hover_text("Multiplies every entry's load by a common factor and finds the largest factor at which every entry meets its SLO, confirmed by a fresh run (as `sweep --mix --search scale`).")
                    .clicked()
                {
                    self.start_scale();
                }
            }
        });
        if let Some(error) = &self.error {
            ui.label(RichText::new(error).color(theme::ERROR));
        }
        egui::ScrollArea::vertical()
            .id_salt("mix_results")
            .show(ui, |ui| {
                self.live_ui(ui);
                self.result_ui(ui);
                self.scale_ui(ui);
            });
    }

    /// The entries, each editable.
    fn entries_ui(&mut self, ui: &mut Ui, busy: bool) {
        let mut remove = None;
        ui.add_enabled_ui(!busy, |ui| {
            egui::Grid::new("mix_entries")
                .striped(true)
                .num_columns(5)
                .show(ui, |ui| {
                    let headers: Vec<egui::Id> = ["Name", "Model", "Load", "SLO", ""]
                        .into_iter()
                        .map(|header| ui.label(RichText::new(header).strong()).id)
                        .collect();
                    ui.end_row();
                    for (index, row) in self.rows.iter_mut().enumerate() {
                        ui.add_sized(
                            [90.0, 20.0],
                            egui::TextEdit::singleline(&mut row.name).id_salt(("mix_name", index)),
                        )
                        .labelled_by(headers[0]);
                        let (model, file) = match (&row.config.remote, &row.model) {
                            (Some(target), _) => (target.describe(), target.describe()),
                            (None, Some(path)) => (
                                path.file_name()
                                    .map_or_else(String::new, |n| n.to_string_lossy().into_owned()),
                                path.display().to_string(),
                            ),
                            (None, None) => (String::new(), String::new()),
                        };
                        ui.label(model).on_hover_text(file);
                        load_ui(ui, index, &mut row.config, headers[2]);
                        ui.add_sized(
                            [130.0, 20.0],
                            egui::TextEdit::singleline(&mut row.slo_text)
                                .hint_text("p99=10ms")
                                .id_salt(("mix_slo", index)),
                        )
                        .labelled_by(headers[3]);
                        if ui.button("Remove").clicked() {
                            remove = Some(index);
                        }
                        ui.end_row();
                    }
                });
        });
        if let Some(index) = remove {
            self.rows.remove(index);
        }
    }

    /// The live plots while a mix runs: one line per entry.
    fn live_ui(&self, ui: &mut Ui) {
        let live = self
            .job
            .as_ref()
            .map(MixJob::live)
            .or_else(|| self.scale.as_ref().map(MixJob::live));
        let Some(live) = live else { return };
        ui.label(RichText::new(format!("Now: {}", live.phase)).strong());
        if live.runs.is_empty() {
            return;
        }
        let snapshots: Vec<(String, std::sync::Arc<crate::metrics::Snapshot>)> = live
            .runs
            .iter()
            .map(|(name, watch)| (name.clone(), watch.snapshot()))
            .collect();
        for ((name, snapshot), (_, watch)) in snapshots.iter().zip(&live.runs) {
            let phase = match snapshot.phase {
                RunPhase::Starting => match watch.stage() {
                    stage if stage.is_empty() => "starting".to_owned(),
                    stage => stage,
                },
                RunPhase::Warmup => "warming up".to_owned(),
                RunPhase::Running => format!(
                    "{} inf/s, p99 {}",
                    format_value(snapshot.inferences_per_sec),
                    snapshot
                        .latency
                        .map_or_else(|| "-".to_owned(), |l| format_micros(l.p99_micros))
                ),
                other => format!("{other:?}").to_lowercase(),
            };
            ui.label(format!("{name}: {phase}"));
        }
        let max_points = (ui.available_width() as usize).max(64);
        let lines = |value: fn(&WindowStats) -> Option<f64>| -> Vec<(String, Vec<[f64; 2]>)> {
            snapshots
                .iter()
                .map(|(name, snapshot)| {
                    (name.clone(), series(&snapshot.windows, max_points, value))
                })
                .collect()
        };
        let throughput = lines(|w| Some(w.inferences_per_sec));
        let p99 = lines(|w| w.p99_micros.map(|micros| micros / 1000.0));
        ui.columns(2, |columns| {
            columns[0].label(RichText::new("Throughput per entry").strong());
            time_plot("mix_throughput", "inferences/s")
                .y_axis_formatter(plot_axes::per_second)
                .show(&mut columns[0], |plot| {
                    for (index, (name, points)) in throughput.into_iter().enumerate() {
                        plot.line(
                            Line::new(name, PlotPoints::from(points))
                                .color(ENTRY_COLOURS[index % ENTRY_COLOURS.len()]),
                        );
                    }
                });
            columns[1].label(RichText::new("p99 latency per entry").strong());
            time_plot("mix_p99", "p99 latency")
                .y_axis_formatter(plot_axes::millis)
                .show(&mut columns[1], |plot| {
                    for (index, (name, points)) in p99.into_iter().enumerate() {
                        plot.line(
                            Line::new(name, PlotPoints::from(points))
                                .color(ENTRY_COLOURS[index % ENTRY_COLOURS.len()]),
                        );
                    }
                });
        });
    }

    /// The last mix's table: per-entry figures, verdicts, interference.
    fn result_ui(&self, ui: &mut Ui) {
        let Some(document) = &self.result else { return };
        ui.add_space(8.0);
        ui.label(RichText::new("Last mix").strong());
        for warning in &document.warnings {
            ui.label(RichText::new(format!("warning: {warning}")).color(theme::WARNING));
        }
        egui::Grid::new("mix_result")
            .striped(true)
            .num_columns(MixSummaryRow::HEADERS.len())
            .show(ui, |ui| {
                for header in MixSummaryRow::HEADERS {
                    ui.label(RichText::new(header).strong());
                }
                ui.end_row();
                for (row, model) in document.summary_rows().into_iter().zip(&document.models) {
                    let [name, load, rate, p50, p99, queue, run, slo, validity, alone, ratio, cpu] =
                        row.cells();
                    for cell in [name, load, rate, p50, p99, queue, run] {
                        ui.label(cell);
                    }
                    let colour = if slo.ends_with("pass") {
                        theme::GOOD
                    } else if slo.ends_with("fail") {
                        theme::ERROR
                    } else {
                        theme::MUTED
                    };
                    ui.label(RichText::new(slo).color(colour));
                    let validity = ui.label(validity);
                    if let Some(line) = model
                        .session
                        .run
                        .summary
                        .as_ref()
                        .and_then(|summary| summary.validity.as_ref())
                        .map(crate::metrics::validity::Validity::line)
                    {
                        validity.on_hover_text(line);
                    }
                    ui.label(alone);
                    let colour = match row.interference_ratio {
                        Some(r) if r > 1.5 => theme::ERROR,
                        Some(r) if r > 1.1 => theme::WARNING,
                        _ => ui.visuals().text_color(),
                    };
                    ui.label(RichText::new(ratio).color(colour));
                    ui.label(cpu).on_hover_text("Cores the entry's load threads kept busy (thread CPU clocks; with one intra-op thread ONNX Runtime runs the model on them). \"-\": the model runs on ONNX Runtime's pools, whose threads are not the entry's to count.");
                    ui.end_row();
                }
            });
        ui.label(
            RichText::new("Client-side figures: latency counts from the intended send time; queue is the wait before a session ran the request, run the time inside it. p99 alone comes from a short solo run of the same settings.")
                .small()
                .color(theme::MUTED),
        );
    }

    /// The last scale search's report.
    fn scale_ui(&self, ui: &mut Ui) {
        let Some(document) = &self.scale_result else {
            return;
        };
        ui.add_space(8.0);
        ui.label(RichText::new("Last scale search").strong());
        ui.label(RichText::new(render_scale_report(document)).monospace());
    }
}

/// An entry's load: closed loop with its clients, or an open-loop rate.
fn load_ui(ui: &mut Ui, index: usize, config: &mut ProfileConfig, label: egui::Id) {
    ui.horizontal(|ui| {
        let mut open = matches!(config.load, LoadMode::Open { .. });
        let before = open;
        ui.radio_value(&mut open, false, "closed");
        ui.radio_value(&mut open, true, "open");
        if open != before {
            config.load = if open {
                LoadMode::Open {
                    rate_per_sec: 10.0,
                    arrival: Arrival::Poisson,
                }
            } else {
                LoadMode::Closed
            };
        }
        match &mut config.load {
            LoadMode::Closed => {
                ui.add(
                    egui::DragValue::new(&mut config.concurrency)
                        .range(1..=1024)
                        .prefix("clients: "),
                )
                .labelled_by(label)
                .on_hover_text(format!("Entry {}: clients", index + 1));
            }
            LoadMode::Open { rate_per_sec, .. } => {
                ui.add(
                    egui::DragValue::new(rate_per_sec)
                        .range(0.01..=1e6)
                        .speed(1.0)
                        .suffix("/s"),
                )
                .labelled_by(label)
                .on_hover_text(format!("Entry {}: requests per second", index + 1));
            }
        }
    });
}
