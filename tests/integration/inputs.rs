//! Inputs that respect the graph: indices within the table they index,
//! valid shape operands, synthetic strings, `--shape` per input, and the
//! memory budget that refuses a huge declared dim before allocating.

use std::process::Command;

use onnx_workbench::engine::{LayerProfiling, ProfileConfig, RunRecord, RunStatus};

use crate::{quick_config, repo_path, run};

fn run_fixture(name: &str, config: ProfileConfig) -> RunRecord {
    run(
        &repo_path(&format!("tests/data/models/{name}")),
        ProfileConfig {
            layer_profiling: LayerProfiling::Off,
            duration_secs: Some(0.3),
            warmup_secs: 0.0,
            ..config
        },
    )
}

/// Runs `profile` on `model` with `extra` flags; returns (success, stderr).
fn profile(model: &str, extra: &[&str]) -> (bool, String) {
    let model = repo_path(model);
    let output = Command::new(env!("CARGO_BIN_EXE_onnx-workbench"))
        .args(["profile", model.to_str().expect("utf-8 path")])
        .args([
            "--requests",
            "1",
            "--warmup",
            "0s",
            "--no-layer-profile",
            "--quiet",
        ])
        .args(extra)
        .output()
        .expect("run onnx-workbench");
    let stderr = String::from_utf8_lossy(&output.stderr).into_owned();
    assert!(!stderr.contains("panicked"), "{stderr}");
    assert!(
        !stderr.contains("memory allocation"),
        "aborted on allocation: {stderr}"
    );
    (output.status.success(), stderr)
}

#[test]
fn gather_indices_stay_within_the_table() {
    let record = run_fixture(
        "gather_table.onnx",
        ProfileConfig {
            batch: Some(8),
            ..quick_config()
        },
    );
    assert_eq!(record.status, RunStatus::Completed, "{:?}", record.failure);
    assert!(
        record
            .notes
            .iter()
            .any(|note| note.contains("'ids'") && note.contains("0..4")),
        "{:?}",
        record.notes
    );
    assert_eq!(record.inputs[0].shape, vec![8, 6]);
}

#[test]
fn shape_operands_get_values_the_ops_accept() {
    let record = run_fixture("shape_inputs.onnx", quick_config());
    assert_eq!(record.status, RunStatus::Completed, "{:?}", record.failure);
    let notes = record.notes.join("\n");
    assert!(
        notes.contains("'target'") && notes.contains("[1, 1]"),
        "{notes}"
    );
    assert!(
        notes.contains("'new_shape'") && notes.contains("[1, 1, -1]"),
        "{notes}"
    );
}

#[test]
fn string_inputs_get_synthetic_strings() {
    let record = run_fixture(
        "string_input.onnx",
        ProfileConfig {
            batch: Some(3),
            ..quick_config()
        },
    );
    assert_eq!(record.status, RunStatus::Completed, "{:?}", record.failure);
    assert_eq!(record.inputs[0].shape, vec![3]);
    assert!(
        record
            .summary
            .as_ref()
            .is_some_and(|summary| summary.requests_ok > 0)
    );
}

#[test]
fn a_huge_declared_dim_is_a_clear_error_not_an_abort() {
    let (ok, stderr) = profile("tests/data/models/huge_dim.onnx", &[]);
    assert!(!ok, "{stderr}");
    assert!(
        stderr.contains("'x'")
            && stderr.contains("[2147483648, 3]")
            && stderr.contains("GiB")
            && stderr.contains("--max-input-bytes"),
        "{stderr}"
    );
    // The flag lowers the limit for ordinary models too.
    let (ok, stderr) = profile("sample_models/mlp.onnx", &["--max-input-bytes", "16"]);
    assert!(!ok, "{stderr}");
    assert!(stderr.contains("--max-input-bytes 16"), "{stderr}");
    let (ok, stderr) = profile("sample_models/mlp.onnx", &["--max-input-bytes", "lots"]);
    assert!(!ok && stderr.contains("8GiB"), "{stderr}");
}

#[test]
fn shape_sets_each_unnamed_dim() {
    let record = run_fixture(
        "two_unnamed_dims.onnx",
        ProfileConfig {
            shapes: [("x".to_owned(), vec![2, 3, 5, 7])].into(),
            ..quick_config()
        },
    );
    assert_eq!(record.status, RunStatus::Completed, "{:?}", record.failure);
    assert_eq!(record.inputs[0].shape, vec![2, 3, 5, 7]);
    assert!(
        !record.notes.iter().any(|note| note.contains("unnamed")),
        "{:?}",
        record.notes
    );

    let model = "tests/data/models/two_unnamed_dims.onnx";
    let (ok, stderr) = profile(model, &["--shape", "x=2,4,5,7"]);
    assert!(!ok, "{stderr}");
    assert!(
        stderr.contains("fixes it at 3") && stderr.contains("[?, 3, ?, ?]"),
        "{stderr}"
    );
    let (ok, stderr) = profile(model, &["--shape", "x=2,3,5"]);
    assert!(
        !ok && stderr.contains("3 dims given, the input has 4"),
        "{stderr}"
    );
    let (ok, stderr) = profile(model, &["--shape", "y=2,3,5,7"]);
    assert!(
        !ok && stderr.contains("no input of that name") && stderr.contains(": x"),
        "{stderr}"
    );
    let (ok, stderr) = profile(model, &["--shape", "x=2,3,0,7"]);
    assert!(!ok && stderr.contains("at least 1"), "{stderr}");
    let (ok, stderr) = profile(model, &["--shape", "x=1,3,5,7", "--batch", "2"]);
    assert!(!ok && stderr.contains("--batch 2"), "{stderr}");
    let (ok, stderr) = profile(model, &["--shape", "x=1,3,16,24"]);
    assert!(ok, "{stderr}");
}

/// `transform` takes `--shape` for its accuracy inputs, with the same checks.
#[test]
fn transform_takes_shape_for_its_accuracy_inputs() {
    let dir = tempfile::tempdir().expect("tempdir");
    let out = dir.path().join("fp16.onnx");
    let transform = |shape: &str| {
        Command::new(env!("CARGO_BIN_EXE_onnx-workbench"))
            .args(["transform"])
            .arg(repo_path("tests/data/models/two_unnamed_dims.onnx"))
            .args(["--precision", "fp16", "--shape", shape, "-o"])
            .arg(&out)
            .output()
            .expect("run onnx-workbench")
    };
    let output = transform("x=2,3,5,7");
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let output = transform("x=2,4,5,7");
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        !output.status.success() && stderr.contains("fixes it at 3"),
        "{stderr}"
    );
}
