//! The top bar: open buttons, Run/Stop, the Export menu, and the status of
//! the run, of background work and of ONNX Runtime.

use egui::{RichText, Ui};

use super::{
    PickPurpose,
    action::{Action, ActionQueue},
    error::UiError,
    runtime_status::RuntimeStatus,
    theme,
};
use crate::{
    engine::RunHandle,
    metrics::{
        RunPhase,
        validity::{Validity, Verdict},
    },
    util::{format_count, format_micros},
};

/// What the top bar shows.
pub struct TopBar<'a> {
    /// The active run, if any.
    pub run: Option<&'a RunHandle>,
    /// A model is open and its config has no problems.
    pub can_run: bool,
    /// A session is shown and no file operation is in progress.
    pub can_export: bool,
    /// Labels of the background work in progress.
    pub busy: Vec<&'a str>,
    /// ONNX Runtime, once the probe at start-up has finished.
    pub runtime_status: Option<&'a Result<RuntimeStatus, UiError>>,
}

/// Size of the Run/Stop button, the wider label's.
const RUN_BUTTON_SIZE: egui::Vec2 = egui::vec2(44.0, 0.0);

/// Draws the top bar; buttons push actions.
pub fn top_bar_ui(ui: &mut Ui, bar: &TopBar<'_>, actions: &mut ActionQueue) {
    ui.horizontal(|ui| {
        if ui.button("Open model…").clicked() {
            actions.push(Action::PickFile(PickPurpose::OpenModel));
        }
        if ui.button("Open session…").clicked() {
            actions.push(Action::PickFile(PickPurpose::OpenSession));
        }
        ui.separator();
        // Run and Stop share one width, so nothing after them moves when a
        // run starts or ends.
        if bar.run.is_some() {
            if ui
                .add(
                    egui::Button::new(RichText::new("Stop").color(theme::ERROR))
                        .min_size(RUN_BUTTON_SIZE),
                )
                .clicked()
            {
                actions.push(Action::StopRun);
            }
        } else {
            let response = ui.add_enabled(
                bar.can_run,
                egui::Button::new(RichText::new("Run").strong()).min_size(RUN_BUTTON_SIZE),
            );
            if response.clicked() {
                actions.push(Action::StartRun);
            }
        }
        ui.separator();
        ui.add_enabled_ui(bar.can_export, |ui| {
            ui.menu_button("Export", |ui| {
                if ui.button("Session (JSON)…").clicked() {
                    actions.push(Action::PickFile(PickPurpose::ExportJson));
                }
                if ui.button("Tables (CSV folder)…").clicked() {
                    actions.push(Action::PickFile(PickPurpose::ExportCsv));
                }
                if ui.button("Chrome trace…").clicked() {
                    actions.push(Action::PickFile(PickPurpose::ExportTrace));
                }
                if ui.button("Annotated model (ONNX, for Netron)…").clicked() {
                    actions.push(Action::PickFile(PickPurpose::ExportAnnotated));
                }
            });
        });
        ui.separator();
        status_ui(ui, bar);
    });
}

/// The live validity verdict as a coloured badge; the reasons on hover.
pub fn validity_badge(ui: &mut Ui, validity: &Validity) {
    let (text, color) = match validity.verdict {
        Verdict::Valid => ("✔ valid", theme::GOOD),
        Verdict::Doubtful => ("⚠ doubtful", theme::WARNING),
        Verdict::Invalid => ("✖ invalid", theme::ERROR),
    };
    let response = ui.label(RichText::new(text).strong().color(color));
    let hover = if validity.reasons.is_empty() {
        "Validity: no reason to doubt these figures so far (generator lateness, stability, samples, drops are checked).".to_owned()
    } else {
        let reasons: Vec<String> = validity
            .reasons
            .iter()
            .map(|reason| format!("• {}", reason.message))
            .collect();
        format!("Validity: {}\n{}", validity.verdict, reasons.join("\n"))
    };
    response.on_hover_text(hover);
}

/// The run's progress, background work, and ONNX Runtime (right-aligned).
fn status_ui(ui: &mut Ui, bar: &TopBar<'_>) {
    if let Some(run) = bar.run {
        let snapshot = run.snapshot();
        let phase = run.phase();
        let stage = run.stage();
        // While starting, what the start-up does (converting, checking,
        // creating sessions) rather than a clock that stands at 0.0 s.
        let doing = if phase == RunPhase::Starting && !stage.is_empty() {
            stage
        } else {
            format!("{phase} {:.1} s", snapshot.elapsed_secs)
        };
        ui.label(format!(
            "{doing} · {} ok · {:.0} inf/s · p99 {}",
            format_count(snapshot.requests_ok),
            snapshot.inferences_per_sec,
            snapshot
                .latency
                .map_or_else(|| "-".to_owned(), |l| format_micros(l.p99_micros))
        ));
        if phase == RunPhase::Starting {
            ui.spinner();
        }
        if let Some(validity) = &snapshot.validity {
            validity_badge(ui, validity);
        }
    }
    for label in &bar.busy {
        ui.spinner();
        ui.label(*label);
    }
    ui.with_layout(
        egui::Layout::right_to_left(egui::Align::Center),
        |ui| match bar.runtime_status {
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
                    .on_hover_text(format!("{err:#}"));
            }
            None => {
                ui.spinner();
                ui.label(RichText::new("finding ONNX Runtime…").small());
            }
        },
    );
}
