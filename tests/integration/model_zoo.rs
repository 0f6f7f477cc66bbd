//! Published models from ONNX's own backend test data (the `onnx` wheel's
//! "light" model zoo: ResNet50, DenseNet-121, Inception v2, ... whose
//! weights are `ConstantOfShape` fills, some reshaped by `Unsqueeze`).

use std::path::PathBuf;
use std::process::Command;

use onnx_workbench::model::Model;

use super::{venv, workbench};

/// The folder of the light models, or `None` when the test is skipped.
fn light_models() -> Option<PathBuf> {
    let python = venv::ONNX.python_or_skip("the model-zoo test")?;
    let output = Command::new(python)
        .args([
            "-c",
            "import onnx, os; print(os.path.join(os.path.dirname(onnx.__file__), 'backend', 'test', 'data', 'light'))",
        ])
        .output()
        .expect("run python");
    assert!(output.status.success(), "{output:?}");
    Some(PathBuf::from(
        String::from_utf8_lossy(&output.stdout).trim(),
    ))
}

/// Weights made by `ConstantOfShape` are weights for inspection, pruning
/// and int8 alike: one count, and every Conv and Gemm quantized.
#[test]
fn constant_of_shape_weights_are_weights_everywhere() {
    let Some(dir) = light_models() else {
        return;
    };
    let resnet = dir.join("light_resnet50.onnx");
    let summary = Model::load(&resnet).expect("load").summary();
    // ResNet-50's published 25.6 M parameters (BatchNormalization's four
    // vectors included); the file holds only their shapes.
    assert_eq!(summary.param_count, 25_610_155);

    let out = std::env::temp_dir().join(format!("zoo-{}", std::process::id()));
    std::fs::create_dir_all(&out).expect("temp dir");
    let resnet_arg = resnet.to_string_lossy().into_owned();
    let int8_path = out.join("int8.onnx").to_string_lossy().into_owned();
    let output = workbench(&[
        "transform",
        &resnet_arg,
        "--precision",
        "int8",
        "--accuracy-samples",
        "1",
        "--json",
        "-o",
        &int8_path,
    ]);
    assert!(output.status.success(), "{output:?}");
    let report: serde_json::Value = serde_json::from_slice(&output.stdout).expect("json");
    let int8 = &report["int8"];
    // 53 Conv + 1 Gemm, none skipped.
    assert_eq!(
        int8["quantized"].as_array().map(Vec::len),
        Some(54),
        "{int8}"
    );
    assert_eq!(int8["skipped"].as_array().map(Vec::len), Some(0), "{int8}");
    // The quantized weights replaced their fills; the others stay fills.
    let quantized = Model::load(std::path::Path::new(&int8_path)).expect("load int8");
    let graph = quantized.proto.graph.as_ref().expect("graph");
    let fills = graph
        .node
        .iter()
        .filter(|node| node.op_type() == "ConstantOfShape")
        .count();
    assert_eq!(fills, 239 - 54);

    let output = workbench(&[
        "transform",
        &resnet_arg,
        "--prune",
        "0.5",
        "--prune-mode",
        "structured",
        "--accuracy-samples",
        "1",
        "--json",
        "-o",
        &out.join("pruned.onnx").to_string_lossy(),
    ]);
    assert!(output.status.success(), "{output:?}");
    let report: serde_json::Value = serde_json::from_slice(&output.stdout).expect("json");
    let prune = &report["prune"];
    assert_eq!(
        prune["model_params_before"].as_u64(),
        Some(summary.param_count - 2),
        "pruning counts the float32 weights inspection counts (all but the Reshape's int64 shape of 2)"
    );

    // A reshaped fill (DenseNet's BatchNormalization-like Mul/Add vectors
    // come through Unsqueeze) counts once, as the weight the runtime reads.
    let densenet = Model::load(&dir.join("light_densenet121.onnx"))
        .expect("load")
        .summary();
    assert_eq!(densenet.param_count, 8_146_152);
    let _ = std::fs::remove_dir_all(&out);
}
