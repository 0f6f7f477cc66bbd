//! The desktop workbench: an eframe app (wgpu renderer) over the same engine,
//! model and session code as the CLI. The UI adds no measurement logic of its
//! own: it starts runs through [`crate::engine::RunHandle`], reads the
//! published snapshots once per frame, and sends everything slow (model
//! loading, exports, session files) to named background threads.
//!
//! Panels draw and push `Action`s (`action.rs`); [`WorkbenchApp`] applies them
//! once per frame, after drawing. Each panel owns its state: the config
//! panel (`config_panel.rs`), files and dialogs (`files.rs`), the sessions
//! (`sessions.rs`), the tabs (`tabs.rs`), the sweep (`tune.rs`), the top bar
//! (`top_bar.rs`) and the messages (`messages.rs`).

mod action;
mod app;
mod compare;
mod config_panel;
mod error;
mod eval_data;
mod files;
pub mod graph;
mod heatmap;
mod input_shapes;
mod layers;
mod live;
mod loaded_model;
mod memory_view;
mod messages;
mod mix;
mod model_flops;
mod plot_axes;
mod remote;
mod roofline;
mod runtime_status;
mod selection;
mod sensitivity;
mod server_view;
mod sessions;
mod settings;
mod tabs;
mod tasks;
mod theme;
mod top_bar;
mod tune;

pub use crate::samples::{SAMPLE_MODELS, sample_model_path};
pub use action::{PickPurpose, Tab};
pub use app::{APP_ID, CommandLine, GuiOptions, WorkbenchApp};
pub use compare::{SessionComparison, compare_sessions, compare_ui};
pub use mix::{MixRow, MixTab};
pub use runtime_status::RuntimeStatus;
pub use selection::Selection;
pub use sensitivity::SensitivityChart;
pub use settings::Settings;
pub use tune::{PointRow, PointTable, TuneTab};

/// Opens the window; returns when it is closed.
pub fn run(options: GuiOptions) -> anyhow::Result<()> {
    let native_options = eframe::NativeOptions {
        viewport: egui::ViewportBuilder::default()
            .with_title("onnx-workbench")
            .with_inner_size([1280.0, 820.0])
            .with_min_inner_size([720.0, 480.0])
            .with_drag_and_drop(true),
        renderer: eframe::Renderer::Wgpu,
        ..Default::default()
    };
    eframe::run_native(
        APP_ID,
        native_options,
        Box::new(move |cc| Ok(Box::new(WorkbenchApp::new(cc, options)))),
    )
    .map_err(|err| anyhow::anyhow!("the window could not be opened: {err}"))
}
