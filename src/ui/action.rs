//! What the panels ask the app to do. Drawing code never opens files, starts
//! runs or changes tabs itself: it pushes an [`Action`] into the app's
//! [`ActionQueue`], and [`super::WorkbenchApp`] applies the queue once per
//! frame, after everything is drawn.

use std::{collections::VecDeque, path::PathBuf};

use super::messages::Message;
use crate::tune::SweepSpec;

/// One request from a panel to the app.
#[derive(Debug, Clone, PartialEq)]
pub enum Action {
    /// Load a model file in the background.
    OpenModel(PathBuf),
    /// Open one of the bundled sample models, by file name.
    OpenSample(String),
    /// Read a saved session in the background and show it.
    OpenSession(PathBuf),
    /// Read a mix file into the Mix tab.
    OpenMix(PathBuf),
    /// Write the Mix tab's entries as a mix file.
    SaveMix(PathBuf),
    /// Ask the user for a file (native dialog, else the built-in picker).
    PickFile(PickPurpose),
    /// Write the shown session in the background; `purpose` is one of the
    /// export purposes and says which format.
    Export { purpose: PickPurpose, path: PathBuf },
    /// Start a run with the current config.
    StartRun,
    /// Stop the run; its partial results are kept.
    StopRun,
    /// Start a sweep; its base config is replaced by the Config panel's.
    StartSweep(Box<SweepSpec>),
    /// Stop the sweep; what was measured is kept.
    StopSweep,
    /// Show the session of a point of the last sweep (index into its points).
    ShowSweepPoint(usize),
    /// Switch the central panel to a tab.
    ShowTab(Tab),
    /// Show a message (info or error) at the bottom of the window.
    Message(Message),
}

impl Action {
    /// The folder of the file this action opens or writes, which the file
    /// dialogs open in next time.
    pub fn file_folder(&self) -> Option<PathBuf> {
        let path = match self {
            Self::OpenModel(path)
            | Self::OpenSession(path)
            | Self::OpenMix(path)
            | Self::SaveMix(path)
            | Self::Export { path, .. } => path,
            _ => return None,
        };
        let folder = if path.is_dir() {
            path.as_path()
        } else {
            path.parent()?
        };
        (!folder.as_os_str().is_empty()).then(|| folder.to_path_buf())
    }

    /// An error message for the user.
    pub fn error(text: impl Into<String>) -> Self {
        Self::Message(Message::error(text))
    }

    /// An informational message for the user.
    pub fn info(text: impl Into<String>) -> Self {
        Self::Message(Message::info(text))
    }
}

/// Actions pushed during a frame, applied in order after drawing.
#[derive(Debug, Default)]
pub struct ActionQueue {
    actions: VecDeque<Action>,
}

impl ActionQueue {
    /// Queues `action` after those already pushed.
    pub fn push(&mut self, action: Action) {
        self.actions.push_back(action);
    }

    /// The oldest queued action, removed from the queue.
    pub fn pop(&mut self) -> Option<Action> {
        self.actions.pop_front()
    }

    /// True when nothing is queued.
    pub fn is_empty(&self) -> bool {
        self.actions.is_empty()
    }
}

/// The central panel's tabs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Tab {
    /// Open a model: file, samples, recent files.
    Start,
    /// The open model's summary.
    Model,
    /// The running or shown session's plots.
    Live,
    /// Per-layer timings.
    Layers,
    /// The sessions of this app run, and their comparison.
    Sessions,
    /// A sweep under a latency SLO.
    Tune,
    /// Several models under load at once.
    Mix,
}

/// Why a file is being picked.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PickPurpose {
    /// An `.onnx` model to open.
    OpenModel,
    /// A saved `.json` session to open.
    OpenSession,
    /// Where to save the shown session as JSON.
    ExportJson,
    /// A folder for the shown session's CSV tables.
    ExportCsv,
    /// Where to save the shown session as a Chrome trace.
    ExportTrace,
    /// Where to save a copy of the session's model annotated with its timings.
    ExportAnnotated,
    /// A mix file (`.toml`) to open in the Mix tab.
    OpenMix,
    /// Where to save the Mix tab's entries as a mix file.
    SaveMix,
    /// Where to save the last sweep as JSON (as `sweep --export`).
    ExportSweep,
    /// Where to save the last sweep's points as CSV (as `sweep --export-csv`).
    ExportSweepCsv,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn actions_come_out_in_the_order_they_were_pushed() {
        let mut queue = ActionQueue::default();
        assert!(queue.is_empty());
        queue.push(Action::OpenSample("mlp.onnx".to_owned()));
        queue.push(Action::StartRun);
        queue.push(Action::ShowTab(Tab::Live));
        assert_eq!(queue.pop(), Some(Action::OpenSample("mlp.onnx".to_owned())));
        assert_eq!(queue.pop(), Some(Action::StartRun));
        assert_eq!(queue.pop(), Some(Action::ShowTab(Tab::Live)));
        assert_eq!(queue.pop(), None);
        assert!(queue.is_empty());
    }
}
