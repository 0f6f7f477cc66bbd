//! The commands as a user runs them.

use std::process::Command;

use crate::repo_path;

fn workbench_ok(args: &[&str]) -> String {
    let output = Command::new(env!("CARGO_BIN_EXE_onnx-workbench"))
        .args(args)
        .output()
        .expect("run onnx-workbench");
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(output.status.success(), "{args:?} failed: {stderr}");
    String::from_utf8_lossy(&output.stdout).into_owned()
}

#[test]
fn version_and_doctor_name_the_runtime() {
    let version = workbench_ok(&["--version"]);
    assert!(version.contains("ONNX Runtime 1.31"), "{version}");
    assert!(version.contains("libonnxruntime"), "{version}");
    assert!(version.contains("CPUExecutionProvider"), "{version}");
    let doctor = workbench_ok(&["doctor"]);
    assert!(
        doctor.contains("library:") && doctor.contains("GPU"),
        "{doctor}"
    );
}

#[test]
fn inspect_shows_inputs_ops_and_parameters() {
    let mlp = repo_path("sample_models/mlp.onnx");
    let text = workbench_ok(&["inspect", mlp.to_str().expect("utf-8")]);
    assert!(text.contains("batch"), "{text}");
    assert!(text.contains("Gemm"), "{text}");
    let json: serde_json::Value = serde_json::from_str(&workbench_ok(&[
        "inspect",
        mlp.to_str().expect("utf-8"),
        "--json",
    ]))
    .expect("json");
    assert_eq!(json["param_count"], 265_482);
    assert_eq!(json["node_count"], 5);
    assert_eq!(json["inputs"][0]["name"], "input");
}

#[test]
fn profile_exports_and_report_reprints() {
    let dir = tempfile::tempdir().expect("tempdir");
    let session = dir.path().join("s.json");
    let trace = dir.path().join("trace.json");
    let csv_dir = dir.path().join("csv");
    let model = repo_path("sample_models/cnn.onnx");
    let stdout = workbench_ok(&[
        "profile",
        model.to_str().expect("utf-8"),
        "--duration",
        "1s",
        "--warmup",
        "200ms",
        "--concurrency",
        "2",
        "--profile-runs",
        "5",
        "--quiet",
        "--export",
        session.to_str().expect("utf-8"),
        "--export-trace",
        trace.to_str().expect("utf-8"),
        "--export-csv",
        csv_dir.to_str().expect("utf-8"),
    ]);
    assert!(
        stdout.contains("Throughput") && stdout.contains("p99"),
        "{stdout}"
    );
    assert!(stdout.contains("Per-layer"), "{stdout}");

    let report = workbench_ok(&["report", session.to_str().expect("utf-8")]);
    assert_eq!(report, stdout, "the reprint matches the original summary");

    let trace: serde_json::Value =
        serde_json::from_slice(&std::fs::read(&trace).expect("trace")).expect("json");
    let events = trace["traceEvents"].as_array().expect("events");
    assert!(
        events
            .iter()
            .any(|e| e["name"] == "request" && e["ph"] == "X")
    );
    assert!(
        events.iter().any(|e| e["cat"] == "Node"),
        "ORT node events are in the trace"
    );

    let layers = std::fs::read_to_string(csv_dir.join("layers.csv")).expect("layers.csv");
    assert!(
        layers.starts_with("node,op_type,provider,calls,total_micros"),
        "{layers}"
    );
    assert!(layers.lines().count() > 3);
    let series = std::fs::read_to_string(csv_dir.join("timeseries.csv")).expect("timeseries.csv");
    assert!(series.lines().count() >= 2, "{series}");
}

#[test]
fn json_output_is_a_session_document() {
    let model = repo_path("sample_models/multi_input.onnx");
    let stdout = workbench_ok(&[
        "profile",
        model.to_str().expect("utf-8"),
        "--requests",
        "40",
        "--warmup",
        "0s",
        "--dim",
        "seq=16",
        "--batch",
        "4",
        "--no-layer-profile",
        "--quiet",
        "--json",
    ]);
    let json: serde_json::Value = serde_json::from_str(&stdout).expect("json");
    assert_eq!(
        json["format_version"],
        onnx_workbench::session::FORMAT_VERSION
    );
    assert_eq!(json["summary"]["requests_ok"], 40);
    assert_eq!(json["summary"]["inferences"], 160);
    assert_eq!(json["inputs"][0]["shape"], serde_json::json!([4, 16]));
    assert_eq!(json["inputs"][1]["dtype"], "f32");
}

/// Without the `gui` feature (`--no-default-features`), asking for the window
/// is an error that says how to get it, not a crash.
#[cfg(not(feature = "gui"))]
#[test]
fn gui_without_the_feature_says_how_to_build_it() {
    for args in [&["gui"][..], &[]] {
        let output = Command::new(env!("CARGO_BIN_EXE_onnx-workbench"))
            .args(args)
            .output()
            .expect("run onnx-workbench");
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert_eq!(output.status.code(), Some(1), "{args:?}: {stderr}");
        assert!(
            stderr.contains("built without the GUI") && stderr.contains("default features"),
            "{args:?}: {stderr}"
        );
    }
}

/// ONNX Runtime's own log lines go through our logger: none by default, and
/// with `-v` in our format, without terminal colour codes when stderr is a
/// pipe. An unused initializer makes ORT log a warning.
#[test]
fn onnx_runtime_logs_are_quiet_by_default_and_routed_with_verbose() {
    use onnx_workbench::model::{Model, onnx::TensorProto};
    let dir = tempfile::tempdir().expect("tempdir");
    let mut model = Model::load(&repo_path("sample_models/mlp.onnx")).expect("mlp");
    let graph = model.proto.graph.as_mut().expect("graph");
    graph.initializer.push(TensorProto {
        name: Some("unused_weight".to_owned()),
        dims: vec![4],
        data_type: Some(1),
        float_data: vec![0.0; 4],
        ..TensorProto::default()
    });
    let path = dir.path().join("unused.onnx");
    std::fs::write(&path, model.to_bytes()).expect("write");
    let run = |verbose: bool| {
        let mut command = Command::new(env!("CARGO_BIN_EXE_onnx-workbench"));
        if verbose {
            command.arg("-v");
        }
        let output = command
            .args(["profile", path.to_str().expect("utf-8")])
            .args(["--requests", "3", "--no-layer-profile", "--quiet"])
            .env_remove("ONNX_WORKBENCH_LOG")
            .output()
            .expect("run onnx-workbench");
        assert!(output.status.success());
        String::from_utf8_lossy(&output.stderr).into_owned()
    };
    let quiet = run(false);
    assert!(!quiet.contains("unused_weight"), "{quiet}");
    let verbose = run(true);
    let line = verbose
        .lines()
        .find(|line| line.contains("Removing initializer 'unused_weight'"))
        .unwrap_or_else(|| panic!("ORT's warning is missing: {verbose}"));
    assert!(line.contains("onnxruntime"), "{line}");
    assert!(
        !verbose.contains('\u{1b}'),
        "colour codes in a pipe: {verbose}"
    );
}

/// Output into a pipe whose reader has gone (`| head`) ends quietly: no
/// panic, and the command's own exit status.
#[test]
fn a_closed_stdout_is_not_a_crash() {
    let (reader, writer) = std::io::pipe().expect("pipe");
    drop(reader);
    let session = repo_path("tests/data/sessions/v1.json");
    let output = Command::new(env!("CARGO_BIN_EXE_onnx-workbench"))
        .args(["report", session.to_str().expect("utf-8")])
        .stdout(writer)
        .output()
        .expect("run onnx-workbench");
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(!stderr.contains("panicked"), "{stderr}");
    assert_eq!(output.status.code(), Some(0), "{stderr}");
}

#[test]
fn repeated_runs_report_the_figures_across_runs() {
    let model = repo_path("tests/data/models/tiny_mlp.onnx");
    let stdout = workbench_ok(&[
        "profile",
        model.to_str().expect("utf-8"),
        "--repeat",
        "3",
        "--duration",
        "0.4s",
        "--warmup",
        "0.1s",
        "--no-layer-profile",
        "--quiet",
        "--json",
    ]);
    let json: serde_json::Value = serde_json::from_str(&stdout).expect("json");
    let across = &json["summary"]["across_runs"];
    assert_eq!(across["runs"], 3);
    let figures = across["figures"].as_array().expect("figures");
    let p99 = figures
        .iter()
        .find(|figure| figure["name"] == "p99_micros")
        .expect("p99 across runs");
    assert_eq!(p99["values"].as_array().expect("values").len(), 3);
    let (mean, low, high) = (
        p99["mean"].as_f64().expect("mean"),
        p99["next_run"][0].as_f64().expect("low"),
        p99["next_run"][1].as_f64().expect("high"),
    );
    assert!(low <= mean && mean <= high, "{p99}");
    // The last run's own p99 is one of the three.
    let last = json["summary"]["latency"]["p99_micros"]
        .as_f64()
        .expect("p99");
    assert!(
        p99["values"]
            .as_array()
            .expect("values")
            .iter()
            .any(|value| (value.as_f64().unwrap_or(f64::NAN) - last).abs() < 1e-9)
    );
}
