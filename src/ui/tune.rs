//! The Tune tab: a sweep of run configurations under a latency SLO
//! ([`crate::tune`]). The form builds a [`SweepSpec`] over the Config panel's
//! configuration (the values to vary, as in `sweep --vary`, the SLO, the
//! search and the budget). While the sweep runs on its `wb-sweep` thread the
//! tab reads its published progress once per frame: points done and left,
//! the ETA, and a scatter with the SLO percentile's latency on x (ms) and
//! inferences/s on y, the SLO bound, the Pareto front and the recommended
//! point. Once the sweep has ended (finished, out of budget or stopped) a
//! click on a point or on a row of the table opens that point's session in
//! the Live and Layers tabs.

use egui::{Color32, RichText, Ui};
use egui_plot::{
    Corner, HLine, Legend, Line, LineStyle, MarkerShape, PlotPoint, PlotPoints, Points, VLine,
};

use super::{
    PickPurpose,
    action::{Action, ActionQueue},
    theme,
};
use crate::{
    engine::ProfileConfig,
    metrics::{
        generation::GenerationSlo,
        validity::{Validity, Verdict},
    },
    tune::{
        DEFAULT_STABILITY, Percentile, SearchMode, Slo, SweepHandle, SweepProgress, SweepResult,
        SweepSpec, TuneError, VaryDimension, VaryKey,
        stats::{Decision, PointStability},
    },
    util::format_micros,
};

/// How near (in points on screen) a click must land to pick a scatter point.
const PICK_RADIUS_POINTS: f32 = 12.0;
/// Colour of undecided points.
const UNDECIDED: Color32 = theme::WARNING;
/// Colour of the word "unstable" in the table.
const UNSTABLE: Color32 = Color32::from_gray(140);
/// Colour of the Pareto front.
const PARETO: Color32 = Color32::from_rgb(0x9a, 0xa6, 0xb8);

/// The Tune tab's form; the sweep itself is the app's.
pub struct TuneTab {
    /// One comma-separated list of values per key, in [`VaryKey::ALL`]
    /// order; an empty field does not vary that key.
    pub values: [String; VaryKey::ALL.len()],
    /// The latency percentile the SLO bounds.
    pub percentile: Percentile,
    /// The bound on it, in milliseconds.
    pub bound_millis: f64,
    /// Least inferences per second; empty for none.
    pub min_throughput: String,
    /// Generative runs with objectives (Config, Generation section): the share of
    /// requests, in percent, that must meet all of them.
    pub goodput_percent: f64,
    /// Grid, or the rate or concurrency search.
    pub search: SearchMode,
    /// Wall-clock budget of the whole sweep in seconds; 0 for none.
    pub budget_secs: f64,
    /// Rerun the recommended point to confirm it.
    pub confirm: bool,
    /// How far the last windows of a stable point may differ, in percent.
    pub stability_percent: f64,
}

impl Default for TuneTab {
    fn default() -> Self {
        Self {
            values: Default::default(),
            percentile: Percentile::P99,
            bound_millis: 20.0,
            min_throughput: String::new(),
            goodput_percent: crate::tune::DEFAULT_GOODPUT_SHARE * 100.0,
            search: SearchMode::Grid,
            budget_secs: 300.0,
            confirm: true,
            stability_percent: DEFAULT_STABILITY * 100.0,
        }
    }
}

/// What the Tune tab draws from.
pub struct TuneView<'a> {
    /// The configuration every point starts from (the Config panel's).
    pub base: &'a ProfileConfig,
    /// Why a sweep cannot start now (no model, a run or a sweep active).
    pub blocked: Option<String>,
    /// The sweep in progress.
    pub sweep: Option<&'a SweepHandle>,
    /// The last sweep's result, once it has ended.
    pub result: Option<&'a SweepResult>,
    /// Writes the command that reproduces the recommendation (the CLI's);
    /// `None` in a window the binary did not start.
    pub reproduce: Option<crate::session::Reproduce>,
}

/// One point of the scatter and the table.
#[derive(Debug, Clone, PartialEq)]
pub struct PointRow {
    /// The varied values, `concurrency=2 batch=4`.
    pub label: String,
    /// Measured inferences per second.
    pub throughput_per_sec: f64,
    /// The SLO's percentile, in µs; `None` when nothing was measured.
    pub latency_micros: Option<f64>,
    /// The pass test's outcome.
    pub decision: Decision,
    /// The last windows agreed within the tolerance.
    pub stable: bool,
    /// Why it is unstable, once the sweep has ended.
    pub unstable_reason: Option<String>,
    /// The run's validity verdict, and its reasons once the sweep has ended.
    pub validity: Option<Verdict>,
    pub validity_reasons: Option<String>,
}

/// The points, the Pareto set and the recommendation, from the progress of a
/// running sweep or from a finished one's result.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct PointTable {
    /// In the order they were measured.
    pub rows: Vec<PointRow>,
    /// Indices into `rows`.
    pub pareto: Vec<usize>,
    /// Index into `rows`.
    pub recommended: Option<usize>,
}

impl PointTable {
    /// The points a running sweep has published so far.
    pub fn from_progress(progress: &SweepProgress) -> Self {
        Self {
            rows: progress
                .points
                .iter()
                .map(|brief| PointRow {
                    label: brief.label.clone(),
                    throughput_per_sec: brief.throughput_per_sec,
                    latency_micros: brief.latency_micros,
                    decision: brief.decision,
                    stable: brief.stable,
                    unstable_reason: None,
                    validity: brief.validity,
                    validity_reasons: None,
                })
                .collect(),
            pareto: progress.pareto.clone(),
            recommended: progress.recommendation,
        }
    }

    /// The points of a sweep that has ended.
    pub fn from_result(result: &SweepResult) -> Self {
        let percentile = result.spec.slo.chosen_percentile();
        Self {
            rows: result
                .points
                .iter()
                .map(|point| PointRow {
                    label: point.label.clone(),
                    throughput_per_sec: point.throughput_per_sec(),
                    latency_micros: point.latency_micros(percentile),
                    decision: point.verdict.decision,
                    stable: point.stability.is_stable(),
                    unstable_reason: match &point.stability {
                        PointStability::Stable { .. } => None,
                        PointStability::Unstable { reason } => Some(reason.clone()),
                    },
                    validity: point_validity(point).map(|validity| validity.verdict),
                    validity_reasons: point_validity(point).map(Validity::line),
                })
                .collect(),
            pareto: result.pareto.clone(),
            recommended: result.recommendation.as_ref().map(|r| r.point),
        }
    }
}

fn point_validity(point: &crate::tune::MeasuredPoint) -> Option<&Validity> {
    point
        .record
        .summary
        .as_ref()
        .and_then(|summary| summary.validity.as_ref())
}

impl TuneTab {
    /// The sweep the form describes over `base`, checked.
    pub fn spec(&self, base: &ProfileConfig) -> Result<SweepSpec, TuneError> {
        let mut dimensions = Vec::new();
        for (key, text) in VaryKey::ALL.iter().zip(&self.values) {
            if text.trim().is_empty() {
                continue;
            }
            dimensions.push(format!("{}={}", key.name(), text.trim()).parse::<VaryDimension>()?);
        }
        let mut slo = Slo::default();
        if let Some(objectives) = generation_objectives(base) {
            // A generative point passes on its requests: the share that met
            // every objective in the Generation section of Config, ranked by goodput.
            slo.generation = objectives;
            slo.add(&format!("goodput>={}", self.goodput_percent / 100.0))?;
        } else if self.bound_millis > 0.0 {
            slo.add(&format!("{}={}", self.percentile, self.bound_millis))?;
        }
        if !self.min_throughput.trim().is_empty() {
            slo.add(&format!("throughput>={}", self.min_throughput.trim()))?;
        }
        let mut spec = SweepSpec::new(base.clone(), dimensions, slo);
        spec.search = self.search;
        spec.budget_secs = (self.budget_secs > 0.0).then_some(self.budget_secs);
        spec.confirm = self.confirm;
        spec.stability = self.stability_percent / 100.0;
        spec.validate()?;
        Ok(spec)
    }

    /// The Tune tab: the form, Start/Stop, the progress, the scatter and the
    /// table of points.
    pub fn tune_ui(&mut self, ui: &mut Ui, view: &TuneView<'_>, actions: &mut ActionQueue) {
        ui.label(
            "Sweep run configurations and find the highest throughput that meets a latency SLO. \
             Each point is a full run of the Config panel's configuration with the values below.",
        );
        ui.add_space(6.0);
        let running = view.sweep.is_some();
        ui.add_enabled_ui(!running, |ui| self.form_ui(ui, view.base));
        ui.add_space(6.0);
        let spec = self.spec(view.base);
        ui.horizontal(|ui| {
            if let Some(sweep) = view.sweep {
                if ui
                    .button(RichText::new("Stop sweep").color(theme::ERROR))
                    .on_hover_text("Stops the point in flight; what was measured is kept.")
                    .clicked()
                {
                    actions.push(Action::StopSweep);
                }
                progress_ui(ui, &sweep.progress());
                return;
            }
            let reason = view
                .blocked
                .clone()
                .or_else(|| spec.as_ref().err().map(form_error));
            let start = ui.add_enabled(
                reason.is_none(),
                egui::Button::new(RichText::new("Start sweep").strong()),
            );
            if let Some(reason) = &reason {
                ui.label(RichText::new(reason).color(theme::WARNING));
            }
            if start.clicked()
                && let Ok(spec) = &spec
            {
                actions.push(Action::StartSweep(Box::new(spec.clone())));
            }
        });
        ui.add_space(6.0);

        let (table, slo) = match (view.sweep, view.result) {
            (Some(sweep), _) => {
                let progress = sweep.progress();
                let slo = spec.as_ref().map(|s| s.slo.clone()).unwrap_or_default();
                // Finished points carry their run record, so they open
                // while the sweep goes on.
                (PointTable::from_progress(&progress), slo)
            }
            (None, Some(result)) => (PointTable::from_result(result), result.spec.slo.clone()),
            (None, None) => {
                ui.label(
                    RichText::new("No sweep yet: the points appear here as they finish.")
                        .color(theme::MUTED),
                );
                return;
            }
        };
        if let Some(result) = view.result.filter(|_| view.sweep.is_none()) {
            result_summary_ui(ui, result, view.reproduce, actions);
        }
        if let Some(index) = scatter_ui(ui, &table, &slo) {
            actions.push(Action::ShowSweepPoint(index));
        }
        if let Some(index) = points_table_ui(ui, &table, &slo) {
            actions.push(Action::ShowSweepPoint(index));
        }
        if let Some(result) = view.result.filter(|_| view.sweep.is_none()) {
            skipped_and_notes_ui(ui, result);
        }
    }

    /// The values to vary, the SLO, the search and the budget.
    fn form_ui(&mut self, ui: &mut Ui, base: &ProfileConfig) {
        ui.label(RichText::new("Vary (comma-separated values; empty = not varied)").strong());
        egui::Grid::new("tune_vary")
            .num_columns(4)
            .spacing([8.0, 4.0])
            .show(ui, |ui| {
                for (index, (key, text)) in
                    VaryKey::ALL.iter().zip(self.values.iter_mut()).enumerate()
                {
                    let label = ui.label(key.name());
                    ui.add_sized(
                        [200.0, ui.spacing().interact_size.y],
                        egui::TextEdit::singleline(text).hint_text(hint(*key)),
                    )
                    .labelled_by(label.id);
                    if index % 2 == 1 {
                        ui.end_row();
                    }
                }
            });
        ui.add_space(4.0);
        if let Some(objectives) = generation_objectives(base) {
            ui.horizontal(|ui| {
                ui.label(RichText::new("SLO").strong());
                ui.label(format!(
                    "{objectives} (Generation section of Config), met by at least"
                ));
                let share = ui.add(
                    egui::DragValue::new(&mut self.goodput_percent)
                        .range(1.0..=99.99)
                        .speed(0.1)
                        .suffix(" %"),
                );
                share.on_hover_text(
                    "Each request passes when its TTFT, every inter-token gap, TPOT and \
                     end-to-end time meet the objectives. A point passes when this share of its \
                     requests passed (binomial test at 95 % confidence); points rank by goodput, \
                     the passing requests per second.",
                );
                ui.label("of requests");
            });
            self.throughput_floor_ui(ui);
        } else {
            if base.generation.is_some() {
                ui.label(
                    RichText::new(
                        "Generative run without objectives: set TTFT / ITL / TPOT / end-to-end \
                         objectives in the Generation section of Config to sweep for goodput; until then the \
                         bound below applies to each request's end-to-end time.",
                    )
                    .color(theme::MUTED),
                );
            }
            self.latency_slo_ui(ui);
        }
        self.search_ui(ui);
    }

    /// The latency percentile bound and the throughput floor.
    fn latency_slo_ui(&mut self, ui: &mut Ui) {
        ui.horizontal(|ui| {
            let label = ui.label("SLO");
            egui::ComboBox::from_id_salt("tune_percentile")
                .selected_text(self.percentile.to_string())
                .show_ui(ui, |ui| {
                    for percentile in [
                        Percentile::P50,
                        Percentile::P90,
                        Percentile::P95,
                        Percentile::P99,
                        Percentile::P999,
                    ] {
                        ui.selectable_value(
                            &mut self.percentile,
                            percentile,
                            percentile.to_string(),
                        );
                    }
                })
                .response
                .labelled_by(label.id);
            let bound = ui.label("≤ (ms)");
            ui.add(
                egui::DragValue::new(&mut self.bound_millis)
                    .range(0.001..=600_000.0)
                    .speed(0.1),
            )
            .labelled_by(bound.id);
            self.throughput_floor_edit(ui);
        });
    }

    fn throughput_floor_ui(&mut self, ui: &mut Ui) {
        ui.horizontal(|ui| self.throughput_floor_edit(ui));
    }

    fn throughput_floor_edit(&mut self, ui: &mut Ui) {
        let floor = ui.label("throughput ≥ (inf/s)");
        ui.add(
            egui::TextEdit::singleline(&mut self.min_throughput)
                .hint_text("optional")
                .desired_width(80.0),
        )
        .labelled_by(floor.id);
    }

    /// The search, the budget, stability and confirmation.
    fn search_ui(&mut self, ui: &mut Ui) {
        ui.horizontal(|ui| {
            let label = ui.label("Search");
            egui::ComboBox::from_id_salt("tune_search")
                .selected_text(self.search.to_string())
                .show_ui(ui, |ui| {
                    for mode in [SearchMode::Grid, SearchMode::Rate, SearchMode::Concurrency] {
                        ui.selectable_value(&mut self.search, mode, mode.to_string());
                    }
                })
                .response
                .on_hover_text(
                    "grid: every combination; rate / concurrency: for each combination, \
                     the highest open-loop rate / client count that passes",
                )
                .labelled_by(label.id);
            let budget = ui.label("Budget (s, 0 = none)");
            ui.add(
                egui::DragValue::new(&mut self.budget_secs)
                    .range(0.0..=86_400.0)
                    .speed(1.0),
            )
            .labelled_by(budget.id);
            let stability = ui.label("Stability (%)");
            ui.add(
                egui::DragValue::new(&mut self.stability_percent)
                    .range(0.5..=100.0)
                    .speed(0.5),
            )
            .on_hover_text(
                "A point is stable when its last 3 one-second windows agree within this \
                 on throughput and the SLO percentile; unstable points are retried, then \
                 never recommended.",
            )
            .labelled_by(stability.id);
            ui.checkbox(&mut self.confirm, "Confirm the recommendation");
        });
    }
}

/// The per-request objectives of a generative base configuration, when set.
fn generation_objectives(base: &ProfileConfig) -> Option<GenerationSlo> {
    base.generation
        .as_ref()
        .map(|generation| generation.slo)
        .filter(GenerationSlo::is_set)
}

/// A spec error in the form's words where the sweep's own names flags.
fn form_error(err: &TuneError) -> String {
    match err {
        TuneError::NothingToSweep => {
            "Nothing to sweep: enter values to vary, or pick the rate or concurrency search."
                .to_owned()
        }
        TuneError::NoSlo => "Set a latency bound or a throughput floor.".to_owned(),
        TuneError::SearchVaried { search, key } => {
            format!("The {search} search varies {key} itself: clear the {key} field.")
        }
        other => other.to_string(),
    }
}

fn hint(key: VaryKey) -> &'static str {
    match key {
        VaryKey::Concurrency => "e.g. 1,2,4,8",
        VaryKey::Rate => "requests/s, e.g. 100,200",
        VaryKey::Batch => "e.g. 1,4,16",
        VaryKey::Instances => "e.g. 1,2",
        VaryKey::IntraThreads => "e.g. 1,2,4",
        VaryKey::MaxBatch => "e.g. 8,16",
        VaryKey::BatchDelay => "e.g. 500us,2ms",
        VaryKey::Precision => "fp32,fp16,int8",
    }
}

/// Points done and left, the ETA and the point in flight.
fn progress_ui(ui: &mut Ui, progress: &SweepProgress) {
    let total = progress.points_done + progress.points_left;
    let fraction = if total == 0 {
        0.0
    } else {
        progress.points_done as f32 / total as f32
    };
    let eta = progress
        .eta_secs
        .map_or_else(|| "-".to_owned(), |secs| format!("{secs:.0} s"));
    ui.add(
        egui::ProgressBar::new(fraction)
            .desired_width(220.0)
            .text(format!(
                "{} done, ~{} left, ETA {eta}",
                progress.points_done, progress.points_left
            )),
    );
    ui.label(format!(
        "{:.0} s · now: {}",
        progress.elapsed_secs,
        progress.current.as_deref().unwrap_or("-")
    ));
}

/// How the sweep ended and the recommendation.
fn result_summary_ui(
    ui: &mut Ui,
    result: &SweepResult,
    reproduce: Option<crate::session::Reproduce>,
    actions: &mut ActionQueue,
) {
    ui.horizontal(|ui| {
        if ui
            .button("Export sweep…")
            .on_hover_text("The whole sweep as JSON, as sweep --export writes it")
            .clicked()
        {
            actions.push(Action::PickFile(PickPurpose::ExportSweep));
        }
        if ui
            .button("Export points CSV…")
            .on_hover_text("A row per point, as sweep --export-csv writes it")
            .clicked()
        {
            actions.push(Action::PickFile(PickPurpose::ExportSweepCsv));
        }
    });
    ui.label(format!(
        "Sweep {}: {} points measured, {} skipped, {:.0} s ({:.0} s in points).",
        result.status,
        result.points.len(),
        result.skipped.len(),
        result.wall_secs,
        result.points_secs
    ));
    match &result.recommendation {
        Some(recommendation) => {
            let label = result
                .points
                .get(recommendation.point)
                .map_or("?", |p| p.label.as_str());
            let margin = recommendation.margin.map_or_else(String::new, |m| {
                format!(", {:.0} % under the SLO", m * 100.0)
            });
            let confirmed = match (&recommendation.confirmation, recommendation.confirmed) {
                (None, _) => "not confirmed (no confirmation run)",
                (Some(_), true) => "confirmed by a fresh run",
                (Some(_), false) => "NOT confirmed by a fresh run",
            };
            ui.label(
                RichText::new(format!("Recommended: {label}{margin}; {confirmed}."))
                    .strong()
                    .color(if recommendation.confirmed {
                        theme::GOOD
                    } else {
                        theme::WARNING
                    }),
            );
            if let Some(confirmation) = &recommendation.confirmation {
                let percentile = result.spec.slo.chosen_percentile();
                ui.label(
                    RichText::new(format!(
                        "Fresh run: {:.0} inferences/s, {percentile} {}, {}, {}{}",
                        confirmation.throughput_per_sec(),
                        confirmation
                            .latency_micros(percentile)
                            .map_or_else(|| "-".to_owned(), format_micros),
                        confirmation.verdict.decision,
                        match &confirmation.stability {
                            PointStability::Stable { .. } => "stable".to_owned(),
                            PointStability::Unstable { reason } => format!("unstable: {reason}"),
                        },
                        if confirmation.verdict.details.is_empty() {
                            String::new()
                        } else {
                            format!(" ({})", confirmation.verdict.details.join("; "))
                        }
                    ))
                    .small()
                    .color(theme::MUTED),
                );
            }
            // The whole command, wrapped, and a button that copies it.
            let Some(reproduce) = reproduce else {
                return;
            };
            let command = reproduce(result.model.as_deref(), &recommendation.config);
            ui.horizontal(|ui| {
                if ui
                    .button("Copy command")
                    .on_hover_text("Copies the profile command that reproduces the recommendation")
                    .clicked()
                {
                    ui.ctx().copy_text(command.clone());
                }
                ui.add(
                    egui::TextEdit::multiline(&mut command.as_str())
                        .code_editor()
                        .desired_rows(1)
                        .desired_width(f32::INFINITY),
                );
            });
        }
        None => {
            ui.label(
                RichText::new("No stable point passed the SLO: nothing to recommend.")
                    .color(theme::WARNING),
            );
        }
    }
}

/// The points that did not run and the sweep's notes.
fn skipped_and_notes_ui(ui: &mut Ui, result: &SweepResult) {
    if !result.skipped.is_empty() {
        ui.collapsing(format!("Skipped ({})", result.skipped.len()), |ui| {
            for skipped in &result.skipped {
                ui.label(format!("{}: {}", skipped.label, skipped.reason));
            }
        });
    }
    for note in &result.notes {
        ui.label(RichText::new(note).small().color(theme::MUTED));
    }
}

/// The scatter's series: the decision sets the colour and the shape, an
/// unstable point (never silently used) is drawn hollow.
const SERIES: [(&str, Color32, MarkerShape, bool); 6] = [
    ("pass", theme::GOOD, MarkerShape::Circle, true),
    ("fail", theme::ERROR, MarkerShape::Cross, true),
    ("undecided", UNDECIDED, MarkerShape::Diamond, true),
    ("pass (unstable)", theme::GOOD, MarkerShape::Circle, false),
    ("fail (unstable)", theme::ERROR, MarkerShape::Square, false),
    (
        "undecided (unstable)",
        UNDECIDED,
        MarkerShape::Diamond,
        false,
    ),
];

/// What a point's throughput is: goodput when points are judged on their
/// requests' objectives.
fn throughput_label(slo: &Slo) -> &'static str {
    if slo.generation.is_set() {
        "goodput (requests/s)"
    } else {
        "inferences/s"
    }
}

/// Which of [`SERIES`] a point belongs to.
fn category(row: &PointRow) -> usize {
    let decision = match row.decision {
        Decision::Pass => 0,
        Decision::Fail => 1,
        Decision::Undecided => 2,
    };
    if row.stable { decision } else { decision + 3 }
}

/// The scatter: latency of the SLO percentile (ms) on x, inferences/s on y.
/// Returns the index of a point the user clicked.
fn scatter_ui(ui: &mut Ui, table: &PointTable, slo: &Slo) -> Option<usize> {
    let percentile = slo.chosen_percentile();
    let xy = |row: &PointRow| {
        row.latency_micros
            .map(|micros| [micros / 1e3, row.throughput_per_sec])
    };
    let mut series: [Vec<[f64; 2]>; SERIES.len()] = Default::default();
    for row in &table.rows {
        if let Some(point) = xy(row) {
            series[category(row)].push(point);
        }
    }
    let mut front: Vec<[f64; 2]> = table
        .pareto
        .iter()
        .filter_map(|&index| table.rows.get(index).and_then(xy))
        .collect();
    front.sort_by(|a, b| a[0].total_cmp(&b[0]));
    let recommended = table
        .recommended
        .and_then(|index| table.rows.get(index).and_then(xy));
    let positions: Vec<Option<[f64; 2]>> = table.rows.iter().map(xy).collect();
    let doubtful: Vec<[f64; 2]> = table
        .rows
        .iter()
        .filter(|row| matches!(row.validity, Some(Verdict::Doubtful | Verdict::Invalid)))
        .filter_map(xy)
        .collect();
    super::plot_axes::plot("tune_scatter")
        .height(300.0)
        .legend(Legend::default().position(Corner::RightBottom))
        .x_axis_label(format!("{percentile} latency"))
        .x_axis_formatter(super::plot_axes::millis)
        .y_axis_formatter(super::plot_axes::number)
        .y_axis_label(throughput_label(slo))
        .include_x(0.0)
        .include_y(0.0)
        .allow_scroll(false)
        .show(ui, |plot_ui| {
            for (points, (name, colour, shape, filled)) in series.into_iter().zip(SERIES) {
                if points.is_empty() {
                    continue;
                }
                plot_ui.points(
                    Points::new(name, PlotPoints::from(points))
                        .color(colour)
                        .shape(shape)
                        .filled(filled)
                        .radius(5.0),
                );
            }
            if front.len() > 1 {
                plot_ui.line(
                    Line::new("Pareto front", PlotPoints::from(front))
                        .color(PARETO)
                        .style(LineStyle::dashed_loose()),
                );
            }
            if !doubtful.is_empty() {
                plot_ui.points(
                    Points::new("doubtful or invalid", PlotPoints::from(doubtful))
                        .color(theme::WARNING)
                        .shape(MarkerShape::Square)
                        .filled(false)
                        .radius(8.0),
                );
            }
            if let Some(point) = recommended {
                plot_ui.points(
                    Points::new("recommended", PlotPoints::from(vec![point]))
                        .color(theme::THROUGHPUT)
                        .shape(MarkerShape::Circle)
                        .filled(false)
                        .radius(10.0),
                );
            }
            for bound in &slo.latency {
                plot_ui.vline(
                    VLine::new(
                        format!(
                            "SLO {}≤{}",
                            bound.percentile,
                            format_micros(bound.bound_micros)
                        ),
                        bound.bound_micros / 1e3,
                    )
                    .color(theme::P99)
                    .style(LineStyle::dashed_dense()),
                );
            }
            if let Some(floor) = slo.min_throughput_per_sec {
                plot_ui.hline(
                    HLine::new(format!("SLO throughput≥{floor}/s"), floor)
                        .color(theme::P99)
                        .style(LineStyle::dashed_dense()),
                );
            }
            let click = plot_ui
                .response()
                .clicked()
                .then(|| plot_ui.response().interact_pointer_pos())
                .flatten()?;
            positions
                .iter()
                .enumerate()
                .filter_map(|(index, point)| {
                    let [x, y] = (*point)?;
                    let distance = plot_ui
                        .screen_from_plot(PlotPoint::new(x, y))
                        .distance(click);
                    (distance <= PICK_RADIUS_POINTS).then_some((index, distance))
                })
                .min_by(|a, b| a.1.total_cmp(&b.1))
                .map(|(index, _)| index)
        })
        .inner
}

/// The table of points; a point's button opens its session once the sweep
/// has ended. Returns the index of the clicked row.
fn points_table_ui(ui: &mut Ui, table: &PointTable, slo: &Slo) -> Option<usize> {
    let percentile = slo.chosen_percentile();
    let mut clicked = None;
    egui::Grid::new("tune_points")
        .striped(true)
        .spacing([12.0, 4.0])
        .show(ui, |ui| {
            for header in [
                "point".to_owned(),
                throughput_label(slo).to_owned(),
                percentile.to_string(),
                "verdict".to_owned(),
                "stable".to_owned(),
                "validity".to_owned(),
                String::new(),
            ] {
                ui.label(RichText::new(header).strong());
            }
            ui.end_row();
            for (index, row) in table.rows.iter().enumerate() {
                let button = ui
                    .button(&row.label)
                    .on_hover_text("Open this point's session (Live and Layers)");
                if button.clicked() {
                    clicked = Some(index);
                }
                ui.label(format!("{:.0}", row.throughput_per_sec));
                ui.label(
                    row.latency_micros
                        .map_or_else(|| "-".to_owned(), format_micros),
                );
                let colour = match row.decision {
                    Decision::Pass => theme::GOOD,
                    Decision::Fail => theme::ERROR,
                    Decision::Undecided => UNDECIDED,
                };
                ui.label(RichText::new(row.decision.to_string()).color(colour));
                if row.stable {
                    ui.label("yes");
                } else {
                    let label = ui.label(RichText::new("unstable").color(UNSTABLE));
                    if let Some(reason) = &row.unstable_reason {
                        label.on_hover_text(reason);
                    }
                }
                let (text, colour) = match row.validity {
                    Some(Verdict::Valid) => ("valid", theme::GOOD),
                    Some(Verdict::Doubtful) => ("doubtful", theme::WARNING),
                    Some(Verdict::Invalid) => ("invalid", theme::ERROR),
                    None => ("-", theme::MUTED),
                };
                let label = ui.label(RichText::new(text).color(colour));
                if let Some(reasons) = &row.validity_reasons {
                    label.on_hover_text(reasons);
                }
                let mut marks = Vec::new();
                if table.recommended == Some(index) {
                    marks.push("recommended");
                }
                if table.pareto.contains(&index) {
                    marks.push("Pareto");
                }
                ui.label(marks.join(", "));
                ui.end_row();
            }
        });
    clicked
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_form_becomes_a_checked_spec_over_the_base_config() {
        let mut tab = TuneTab::default();
        let base = ProfileConfig::default();
        assert!(matches!(tab.spec(&base), Err(TuneError::NothingToSweep)));
        tab.values[0] = "1, 2,4".to_owned();
        tab.values[6] = "500us,2ms".to_owned();
        tab.bound_millis = 15.0;
        tab.min_throughput = "100".to_owned();
        tab.budget_secs = 0.0;
        tab.confirm = false;
        let spec = tab.spec(&base).expect("spec");
        assert_eq!(spec.base, base);
        assert_eq!(spec.dimensions.len(), 2);
        assert_eq!(spec.dimensions[0].key, VaryKey::Concurrency);
        assert_eq!(spec.dimensions[0].values, ["1", "2", "4"]);
        assert_eq!(spec.dimensions[1].values, ["500", "2000"]);
        assert_eq!(spec.slo.latency.len(), 1);
        assert_eq!(spec.slo.latency[0].percentile, Percentile::P99);
        assert!((spec.slo.latency[0].bound_micros - 15_000.0).abs() < 1e-9);
        assert_eq!(spec.slo.min_throughput_per_sec, Some(100.0));
        assert_eq!(spec.budget_secs, None);
        assert!(!spec.confirm);
        assert!((spec.stability - DEFAULT_STABILITY).abs() < 1e-12);
        tab.stability_percent = 0.0;
        assert!(matches!(tab.spec(&base), Err(TuneError::BadStability(_))));
        tab.stability_percent = 25.0;
        assert!((tab.spec(&base).expect("spec").stability - 0.25).abs() < 1e-12);

        tab.values[0] = "1,zero".to_owned();
        let err = tab.spec(&base).expect_err("bad value");
        assert!(err.to_string().contains("concurrency"), "{err}");
        tab.values[0] = "1".to_owned();
        tab.min_throughput = "lots".to_owned();
        assert!(matches!(tab.spec(&base), Err(TuneError::BadSlo(_))));
    }

    #[test]
    fn a_generative_base_with_objectives_sweeps_for_goodput() {
        let mut tab = TuneTab {
            search: SearchMode::Concurrency,
            ..TuneTab::default()
        };
        let mut generation = crate::engine::generate::GenerationConfig::fixed(64, 16);
        let mut base = ProfileConfig {
            generation: Some(generation.clone()),
            ..ProfileConfig::default()
        };
        // Without objectives the latency bound applies (to end-to-end time).
        let spec = tab.spec(&base).expect("spec");
        assert_eq!(spec.slo.latency.len(), 1);
        assert!(!spec.slo.generation.is_set());
        assert_eq!(throughput_label(&spec.slo), "inferences/s");

        generation.slo.parse_into("ttft=60ms,itl=3ms").expect("slo");
        base.generation = Some(generation);
        tab.goodput_percent = 95.0;
        let spec = tab.spec(&base).expect("spec");
        assert!(spec.slo.latency.is_empty());
        assert_eq!(spec.slo.generation.ttft_micros, Some(60_000.0));
        assert!((spec.slo.required_goodput_share() - 0.95).abs() < 1e-12);
        assert_eq!(throughput_label(&spec.slo), "goodput (requests/s)");
        tab.goodput_percent = 100.0;
        assert!(matches!(tab.spec(&base), Err(TuneError::BadSlo(_))));
    }

    #[test]
    fn unstable_points_get_their_own_marker_whatever_the_decision() {
        let row = |decision, stable| PointRow {
            label: String::new(),
            throughput_per_sec: 1.0,
            latency_micros: Some(1.0),
            decision,
            stable,
            unstable_reason: None,
            validity: None,
            validity_reasons: None,
        };
        assert_eq!(category(&row(Decision::Pass, true)), 0);
        assert_eq!(category(&row(Decision::Fail, true)), 1);
        assert_eq!(category(&row(Decision::Undecided, true)), 2);
        assert_eq!(category(&row(Decision::Pass, false)), 3);
        assert_eq!(category(&row(Decision::Fail, false)), 4);
        assert!(SERIES.iter().skip(3).all(|(_, _, _, filled)| !filled));
    }
}
