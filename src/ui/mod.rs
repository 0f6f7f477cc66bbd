//! The desktop workbench: an eframe app (wgpu renderer) over the same engine,
//! model and session code as the CLI. The UI adds no measurement logic of its
//! own: it starts runs through [`crate::engine::RunHandle`], reads the
//! published snapshots once per frame, and sends everything slow (model
//! loading, exports, session files) to named background threads.

mod app;
mod compare;
mod heatmap;
mod layers;
mod live;
mod settings;
mod tasks;
mod theme;

pub use crate::samples::{SAMPLE_MODELS, sample_model_path};
pub use app::{GuiOptions, PickPurpose, Tab, WorkbenchApp};
pub use compare::{SessionComparison, compare_sessions};
pub use settings::Settings;

/// Application id used for persisted settings.
pub const APP_ID: &str = "onnx-workbench";

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
