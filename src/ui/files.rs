//! Files and dialogs: the native file dialog (rfd), the built-in `egui_file`
//! picker where no native dialog is available, files dropped onto the
//! window, and the lists of recent files. What the user picks becomes an
//! [`Action`] for the app.

use std::{
    path::{Path, PathBuf},
    time::{Duration, Instant},
};

use egui::{RichText, Ui};

use super::{
    action::{Action, ActionQueue, PickPurpose},
    settings::Settings,
    theme,
};

/// A native dialog that returns nothing faster than this had no backend.
const DIALOG_BACKEND_MISSING: Duration = Duration::from_millis(150);

impl PickPurpose {
    /// What to do with the file picked for this purpose.
    pub fn action(self, path: PathBuf) -> Action {
        match self {
            Self::OpenModel => Action::OpenModel(path),
            Self::OpenSession => Action::OpenSession(path),
            Self::OpenMix => Action::OpenMix(path),
            Self::SaveMix => Action::SaveMix(path),
            Self::ExportJson
            | Self::ExportCsv
            | Self::ExportTrace
            | Self::ExportAnnotated
            | Self::ExportSweep
            | Self::ExportSweepCsv => Action::Export {
                purpose: self,
                path,
            },
        }
    }
}

/// The file dialogs; owns the built-in picker while it is open.
#[derive(Default)]
pub struct FileDialogs {
    picker: Option<(egui_file::FileDialog, PickPurpose)>,
}

impl FileDialogs {
    /// Asks the user for a file: the native dialog (blocking, on the UI
    /// thread) unless `use_builtin_picker` or there is no desktop bus,
    /// otherwise the built-in picker, which stays open over the next frames.
    pub fn pick(
        &mut self,
        purpose: PickPurpose,
        use_builtin_picker: bool,
        last_folder: Option<&Path>,
        actions: &mut ActionQueue,
    ) {
        let start = last_folder
            .filter(|folder| folder.is_dir())
            .map(Path::to_path_buf)
            .or_else(|| std::env::current_dir().ok())
            .unwrap_or_default();
        let native_possible =
            !use_builtin_picker && std::env::var_os("DBUS_SESSION_BUS_ADDRESS").is_some();
        if native_possible {
            let started = Instant::now();
            let dialog = rfd::FileDialog::new().set_directory(&start);
            let picked = match purpose {
                PickPurpose::OpenModel => dialog.add_filter("ONNX model", &["onnx"]).pick_file(),
                PickPurpose::OpenSession => dialog.add_filter("Session", &["json"]).pick_file(),
                PickPurpose::ExportJson => dialog.set_file_name("session.json").save_file(),
                PickPurpose::ExportTrace => dialog.set_file_name("trace.json").save_file(),
                PickPurpose::ExportAnnotated => dialog.set_file_name("annotated.onnx").save_file(),
                PickPurpose::ExportCsv => dialog.pick_folder(),
                PickPurpose::OpenMix => dialog.add_filter("Mix", &["toml"]).pick_file(),
                PickPurpose::SaveMix => dialog.set_file_name("mix.toml").save_file(),
                PickPurpose::ExportSweep => dialog.set_file_name("sweep.json").save_file(),
                PickPurpose::ExportSweepCsv => dialog.set_file_name("sweep_points.csv").save_file(),
            };
            match picked {
                Some(path) => {
                    actions.push(purpose.action(path));
                    return;
                }
                None if started.elapsed() > DIALOG_BACKEND_MISSING => return, // cancelled
                None => actions.push(Action::info(
                    "No native file dialog is available here; using the built-in picker.",
                )),
            }
        }
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
            PickPurpose::ExportAnnotated => {
                egui_file::FileDialog::save_file().default_filename("annotated.onnx")
            }
            PickPurpose::ExportCsv => egui_file::FileDialog::select_folder(),
            PickPurpose::OpenMix => {
                egui_file::FileDialog::open_file().show_files_filter(Box::new(|path: &Path| {
                    path.extension().is_some_and(|ext| ext == "toml")
                }))
            }
            PickPurpose::SaveMix => egui_file::FileDialog::save_file().default_filename("mix.toml"),
            PickPurpose::ExportSweep => {
                egui_file::FileDialog::save_file().default_filename("sweep.json")
            }
            PickPurpose::ExportSweepCsv => {
                egui_file::FileDialog::save_file().default_filename("sweep_points.csv")
            }
        }
        .initial_path(start);
        dialog.open();
        self.picker = Some((dialog, purpose));
    }

    /// Draws the built-in picker while it is open; a picked file becomes an action.
    pub fn picker_ui(&mut self, ctx: &egui::Context, actions: &mut ActionQueue) {
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
            actions.push(purpose.action(path));
        } else if !is_open {
            self.picker = None;
        }
    }
}

/// Files dropped onto the window this frame: models and sessions are opened,
/// anything else is an error message.
pub fn dropped_files(ui: &Ui, actions: &mut ActionQueue) {
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
        actions.push(match path.extension().and_then(|ext| ext.to_str()) {
            Some("onnx") => Action::OpenModel(path),
            Some("json") => Action::OpenSession(path),
            _ => Action::error(format!(
                "Drop a .onnx model or a .json session; {} is neither.",
                path.display()
            )),
        });
    }
}

/// The recent models and sessions as links that open them, and the
/// built-in picker setting.
pub fn recent_files_ui(ui: &mut Ui, settings: &mut Settings, actions: &mut ActionQueue) {
    ui.label(RichText::new("Recent models").strong());
    if settings.recent_models.is_empty() {
        ui.label(RichText::new("none yet").color(theme::MUTED));
    }
    for path in &settings.recent_models {
        if ui.link(path.display().to_string()).clicked() {
            actions.push(Action::OpenModel(path.clone()));
        }
    }
    ui.add_space(8.0);
    ui.label(RichText::new("Recent sessions").strong());
    if settings.recent_sessions.is_empty() {
        ui.label(RichText::new("none yet").color(theme::MUTED));
    }
    for path in &settings.recent_sessions {
        if ui.link(path.display().to_string()).clicked() {
            actions.push(Action::OpenSession(path.clone()));
        }
    }
    ui.add_space(8.0);
    ui.checkbox(
        &mut settings.use_builtin_picker,
        "Always use the built-in file picker",
    );
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_picked_file_becomes_the_matching_action() {
        let path = PathBuf::from("x.json");
        assert_eq!(
            PickPurpose::OpenModel.action(path.clone()),
            Action::OpenModel(path.clone())
        );
        assert_eq!(
            PickPurpose::OpenSession.action(path.clone()),
            Action::OpenSession(path.clone())
        );
        for purpose in [
            PickPurpose::ExportJson,
            PickPurpose::ExportCsv,
            PickPurpose::ExportTrace,
            PickPurpose::ExportAnnotated,
        ] {
            assert_eq!(
                purpose.action(path.clone()),
                Action::Export {
                    purpose,
                    path: path.clone()
                }
            );
        }
    }
}
