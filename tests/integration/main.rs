//! Integration tests against the real ONNX Runtime on every sample model.
//! One test binary (faster to build and link); modules by topic.

mod accuracy;
mod architecture;
mod bad_input;
mod batching;
mod budget;
mod cli;
mod fuzz;
mod generation;
mod gpu;
#[cfg(feature = "gui")]
mod graph_view;
mod inputs;
mod inspect;
mod merge;
mod mix;
mod model_zoo;
mod node_cost;
mod opset;
mod profile;
mod prune;
mod remote;
mod session_files;
mod source_map;
mod sweep;
mod transform;
mod triton;
#[cfg(feature = "gui")]
mod ui;
mod venv;
mod verdicts;

use std::path::{Path, PathBuf};

use onnx_workbench::engine::{LayerProfiling, ModelRef, ProfileConfig, RunHandle, RunRecord};

/// Runs the built binary with `args` and, for each `(name, value)` in
/// `envs`, that environment variable.
pub fn workbench_with_env(args: &[&str], envs: &[(&str, &str)]) -> std::process::Output {
    std::process::Command::new(env!("CARGO_BIN_EXE_onnx-workbench"))
        .args(args)
        .envs(envs.iter().copied())
        .output()
        .expect("run onnx-workbench")
}

/// Runs the built binary with `args`.
pub fn workbench(args: &[&str]) -> std::process::Output {
    workbench_with_env(args, &[])
}

/// Path of a file under the repository root.
pub fn repo_path(relative: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join(relative)
}

/// Every sample model.
pub const SAMPLE_MODELS: [&str; 4] = [
    "mlp.onnx",
    "cnn.onnx",
    "transformer.onnx",
    "multi_input.onnx",
];

/// A short run.
pub fn quick_config() -> ProfileConfig {
    ProfileConfig {
        duration_secs: Some(0.6),
        warmup_secs: 0.1,
        layer_profiling: LayerProfiling::SeparatePass { runs: 5 },
        ..ProfileConfig::default()
    }
}

/// Runs `model` with `config` to the end.
pub fn run(model: &Path, config: ProfileConfig) -> RunRecord {
    RunHandle::start(ModelRef::File(model.to_path_buf()), config)
        .expect("start")
        .join()
}
