//! The Config panel's evaluation data for the accuracy check of a
//! transform: an input `.npy` file or folder, a labels `.npy` (top-1/top-5
//! before and after), and the kind of synthetic data used without them.
//! Picked with the native dialog (rfd) or typed; kept in the transform spec,
//! so it is saved with the rest of the config. Opening the digits sample
//! fills in its bundled evaluation set.

use std::path::PathBuf;

use egui::{RichText, Ui};

use super::theme;
use crate::{
    samples::{self, SampleError},
    transform::{SyntheticKind, TransformSpec},
};

/// What a picker button asks for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Pick {
    /// One `.npy` file of inputs.
    InputFile,
    /// A folder of `.npy` files, one sample each.
    InputFolder,
    /// A `.npy` file of class ids.
    Labels,
}

impl Pick {
    fn button_text(self) -> &'static str {
        match self {
            Self::InputFile => "File…",
            Self::InputFolder => "Folder…",
            Self::Labels => "Labels…",
        }
    }
}

/// The evaluation data controls, under the transform settings.
pub fn eval_data_ui(ui: &mut Ui, spec: &mut TransformSpec) {
    ui.label(RichText::new("Evaluation data").strong());
    egui::Grid::new("eval_data_grid")
        .num_columns(2)
        .spacing([8.0, 6.0])
        .show(ui, |ui| {
            let label = ui.label("Inputs (.npy or folder)");
            path_row(
                ui,
                label.id,
                &mut spec.eval_input,
                &[Pick::InputFile, Pick::InputFolder],
            );
            ui.end_row();
            let label = ui.label("Labels (.npy)");
            path_row(ui, label.id, &mut spec.labels, &[Pick::Labels]);
            ui.end_row();
            ui.label("Synthetic data");
            ui.horizontal(|ui| {
                ui.radio_value(&mut spec.synthetic, SyntheticKind::Auto, "auto")
                    .on_hover_text(
                        "image-like where an input looks like an image, noise otherwise",
                    );
                ui.radio_value(&mut spec.synthetic, SyntheticKind::Image, "image-like");
                ui.radio_value(&mut spec.synthetic, SyntheticKind::Noise, "noise");
            });
            ui.end_row();
        });
    let hint = match (&spec.eval_input, &spec.labels) {
        (None, _) => {
            "Without inputs, accuracy is measured on seeded synthetic data; real data gives figures you can trust."
        }
        (Some(_), None) => {
            "Each .npy file is one sample; its shape sets the model's dynamic dims. Add labels for top-1/top-5."
        }
        (Some(_), Some(_)) => {
            "Top-1 and top-5 against the labels are reported before and after the transform."
        }
    };
    ui.label(RichText::new(hint).small().color(theme::MUTED));
}

/// A path as an editable line, picker buttons (when a native dialog can
/// open) and a clear button.
fn path_row(ui: &mut Ui, label: egui::Id, slot: &mut Option<PathBuf>, picks: &[Pick]) {
    ui.horizontal(|ui| {
        let mut text = slot
            .as_ref()
            .map(|path| path.display().to_string())
            .unwrap_or_default();
        let response = ui
            .add(
                egui::TextEdit::singleline(&mut text)
                    .hint_text("none")
                    .desired_width(220.0),
            )
            .labelled_by(label);
        if response.changed() {
            let trimmed = text.trim();
            *slot = (!trimmed.is_empty()).then(|| PathBuf::from(trimmed));
        }
        if native_dialog_available() {
            for pick in picks {
                if ui.button(pick.button_text()).clicked()
                    && let Some(path) = pick_native(*pick)
                {
                    *slot = Some(path);
                }
            }
        }
        if slot.is_some() && ui.small_button("Clear").clicked() {
            *slot = None;
        }
    });
}

/// Whether the native dialog can open (it needs a desktop bus on Linux).
fn native_dialog_available() -> bool {
    !cfg!(target_os = "linux") || std::env::var_os("DBUS_SESSION_BUS_ADDRESS").is_some()
}

/// Opens the native dialog (blocking, on the UI thread).
fn pick_native(pick: Pick) -> Option<PathBuf> {
    let dialog = rfd::FileDialog::new();
    match pick {
        Pick::InputFile => dialog.add_filter("NumPy array", &["npy"]).pick_file(),
        Pick::InputFolder => dialog.pick_folder(),
        Pick::Labels => dialog.add_filter("NumPy array", &["npy"]).pick_file(),
    }
}

/// When the bundled sample `file_name` is opened: its evaluation set (if it
/// has one) becomes the evaluation data; another sample clears evaluation
/// data that belongs to a bundled sample.
pub fn fill_for_sample(spec: &mut TransformSpec, file_name: &str) -> Result<(), SampleError> {
    match samples::sample_eval_data(file_name)? {
        Some(data) => {
            spec.eval_input = Some(data.inputs);
            spec.labels = Some(data.labels);
        }
        None => {
            if spec
                .eval_input
                .as_deref()
                .is_some_and(samples::is_bundled_eval_data)
            {
                spec.eval_input = None;
                spec.labels = None;
            }
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn another_sample_clears_only_bundled_evaluation_data() {
        let bundled = PathBuf::from("cache")
            .join("sample_models-1.0.0")
            .join("digits_eval_images.npy");
        let mut spec = TransformSpec {
            eval_input: Some(bundled),
            labels: Some(PathBuf::from("labels.npy")),
            ..TransformSpec::default()
        };
        fill_for_sample(&mut spec, "mlp.onnx").expect("no evaluation set to write");
        assert_eq!((spec.eval_input, spec.labels), (None, None));
        let mine = PathBuf::from("data").join("my_images.npy");
        let mut spec = TransformSpec {
            eval_input: Some(mine.clone()),
            ..TransformSpec::default()
        };
        fill_for_sample(&mut spec, "cnn.onnx").expect("no evaluation set to write");
        assert_eq!(spec.eval_input, Some(mine));
    }
}
