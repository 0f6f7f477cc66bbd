//! The Sessions panel and the sessions of this app run: the bounded history,
//! which one is shown, the A/B pair picked for comparison, and the
//! background work that opens and exports session files.

use std::{path::PathBuf, sync::Arc};

use egui::{RichText, Ui};

use super::{
    PickPurpose, Tab,
    action::{Action, ActionQueue},
    compare,
    error::UiError,
    theme,
};
use crate::{
    engine::RunStatus,
    metrics::{HistogramBucket, LatencyHistogram},
    session::{SessionDocument, write_chrome_trace, write_csv, write_json},
    util::format_micros,
};

/// Sessions kept in memory for comparison.
const MAX_HISTORY: usize = 12;
/// Buckets in a finished session's latency histogram.
const HISTOGRAM_BUCKETS: usize = 60;

/// A session shown in the app, with what is expensive to derive from it.
pub struct ShownSession {
    /// The session itself.
    pub document: Arc<SessionDocument>,
    /// Model, start time, concurrency and status, for lists.
    pub name: String,
    /// The decoded latency histogram.
    pub histogram: Vec<HistogramBucket>,
    /// Opened from a file (read-only) rather than run here.
    pub from_file: Option<PathBuf>,
}

impl ShownSession {
    /// Prepares `document` for display; `from_file` is the file it was read from.
    pub fn new(document: SessionDocument, from_file: Option<PathBuf>) -> Self {
        let histogram = document
            .run
            .latency_histogram
            .as_ref()
            .and_then(|encoded| LatencyHistogram::decode(&encoded.data, encoded.outliers).ok())
            .map(|histogram| histogram.buckets(HISTOGRAM_BUCKETS))
            .unwrap_or_default();
        let name = session_label(&document, from_file.as_deref());
        Self {
            document: Arc::new(document),
            name,
            histogram,
            from_file,
        }
    }
}

/// A session's line in lists, enough to tell runs apart: the model (or the
/// server's model), the start time, the load, and what differs from the
/// defaults (batch, dims, precision, pruning, sessions, threads); a
/// session read from a file says so.
pub fn session_label(document: &SessionDocument, from_file: Option<&std::path::Path>) -> String {
    let run = &document.run;
    let config = &run.config;
    let model = match &config.remote {
        Some(target) => format!("{} on {}", target.model_name, target.authority),
        None => run
            .model
            .as_ref()
            .map_or_else(|| "?".to_owned(), |m| m.file_name.clone()),
    };
    let mut parts = vec![model, run.started_at.get(11..19).unwrap_or("").to_owned()];
    parts.push(match config.load {
        crate::engine::LoadMode::Closed => format!("c{}", config.concurrency),
        crate::engine::LoadMode::Open { rate_per_sec, .. } => {
            format!("{}/s", crate::util::format_value(rate_per_sec))
        }
    });
    if let Some(batch) = config.batch {
        parts.push(format!("b{batch}"));
    }
    for (name, value) in &config.dims {
        parts.push(format!("{name}={value}"));
    }
    let transform = &config.transform;
    if transform.precision != crate::transform::Precision::Fp32 {
        parts.push(format!("{:?}", transform.precision).to_lowercase());
    }
    if let Some(prune) = &transform.prune {
        parts.push(format!("pruned {:.0} %", prune.sparsity * 100.0));
    }
    if let Some(instances) = config.instances {
        parts.push(format!("{instances} sessions"));
    }
    if config.intra_threads != 1 {
        parts.push(format!("{} threads", config.intra_threads));
    }
    if config.generation.is_some() {
        parts.push("generate".to_owned());
    }
    if !document.merged_from.is_empty() {
        parts.push(format!("merged x{}", document.merged_from.len()));
    }
    match run.status {
        RunStatus::Completed => {}
        RunStatus::Stopped => parts.push("(stopped)".to_owned()),
        RunStatus::Failed => parts.push("(failed)".to_owned()),
    }
    if let Some(file) = from_file.and_then(|path| path.file_name()) {
        parts.push(format!("[file {}]", file.to_string_lossy()));
    }
    parts.join(" ")
}

/// The sessions of this app run and the panel that lists and compares them.
#[derive(Default)]
pub struct Sessions {
    /// Sessions of this app run (newest last); `shown` indexes into it.
    pub history: Vec<ShownSession>,
    /// The session on screen.
    pub shown: Option<usize>,
    /// Baseline (A) and candidate (B) picked for comparison.
    pub compare_pair: (Option<usize>, Option<usize>),
}

impl Sessions {
    /// Adds a session and shows it; the oldest is dropped beyond
    /// [`MAX_HISTORY`] (which also clears the comparison pair), and its
    /// label returned so the user is told.
    pub fn add(&mut self, shown: ShownSession) -> Option<String> {
        self.history.push(shown);
        let dropped = (self.history.len() > MAX_HISTORY).then(|| {
            self.compare_pair = (None, None);
            self.history.remove(0).name
        });
        self.shown = Some(self.history.len() - 1);
        dropped
    }

    /// The session on screen.
    pub fn shown(&self) -> Option<&ShownSession> {
        self.shown.and_then(|index| self.history.get(index))
    }

    /// The Sessions tab: the history with A/B selection, and the comparison.
    pub fn sessions_ui(&mut self, ui: &mut Ui, actions: &mut ActionQueue) {
        ui.label(RichText::new("Sessions of this app run").strong());
        ui.label(
            RichText::new(format!(
                "The last {MAX_HISTORY} are kept in memory; export a session (JSON) to keep it."
            ))
            .small()
            .color(theme::MUTED),
        );
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
            actions.push(Action::ShowTab(Tab::Live));
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
}

/// What a background file operation produced.
pub enum FileOutcome {
    /// A session was exported; the message says what and where.
    Written(String),
    /// A saved session was read from the path.
    Opened(Box<SessionDocument>, PathBuf),
}

/// Reads a saved session (background work).
pub fn open_session_file(path: PathBuf) -> Result<FileOutcome, UiError> {
    SessionDocument::load(&path)
        .map(|document| FileOutcome::Opened(Box::new(document), path))
        .map_err(UiError::OpenSession)
}

/// Writes `document` in the format `purpose` names (background work).
pub fn export_session(
    document: &SessionDocument,
    purpose: PickPurpose,
    path: &std::path::Path,
) -> Result<FileOutcome, UiError> {
    if purpose == PickPurpose::ExportAnnotated {
        let summary = crate::session::annotate::write_annotated_session_model(document, path)
            .map_err(UiError::Annotate)?;
        return Ok(FileOutcome::Written(format!(
            "Wrote the annotated model ({summary}) to {}",
            path.display()
        )));
    }
    let what = match purpose {
        PickPurpose::ExportCsv => {
            write_csv(document, path).map(|files| format!("{} CSV files", files.len()))
        }
        PickPurpose::ExportTrace => {
            write_chrome_trace(document, path).map(|()| "Chrome trace".to_owned())
        }
        _ => write_json(document, path).map(|()| "session".to_owned()),
    }
    .map_err(UiError::Export)?;
    Ok(FileOutcome::Written(format!(
        "Wrote {what} to {}",
        path.display()
    )))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn labels_tell_runs_apart_and_files_from_runs() {
        let mut document: SessionDocument =
            serde_json::from_str(include_str!("../../tests/data/sessions/v2.json"))
                .expect("fixture");
        let plain = session_label(&document, None);
        assert!(plain.starts_with("mlp.onnx "), "{plain}");
        let config = &mut document.run.config;
        config.transform.precision = crate::transform::Precision::Int8;
        config.dims.insert("seq".to_owned(), 64);
        config.load = crate::engine::LoadMode::Open {
            rate_per_sec: 250.0,
            arrival: crate::engine::Arrival::Poisson,
        };
        let label = session_label(&document, Some(std::path::Path::new("/runs/base.json")));
        for part in ["int8", "seq=64", "250/s", "[file base.json]"] {
            assert!(label.contains(part), "{part} in {label}");
        }
        assert_ne!(plain, label);
    }
}
