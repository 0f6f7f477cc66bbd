//! Session documents: export/import round trips and old-version fixtures.

use onnx_workbench::{
    engine::{LayerProfiling, ProfileConfig, RunStatus},
    metrics::LatencyHistogram,
    session::{FORMAT_VERSION, SessionDocument, render_report, write_json},
};

use crate::{quick_config, repo_path, run};

#[test]
fn export_then_import_round_trips_everything() {
    let record = run(
        &repo_path("sample_models/transformer.onnx"),
        ProfileConfig {
            dims: [("seq".to_owned(), 8)].into(),
            ..quick_config()
        },
    );
    assert_eq!(record.status, RunStatus::Completed, "{:?}", record.failure);
    let document = SessionDocument::new(record);
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("session.json");
    write_json(&document, &path).expect("write");
    let loaded = SessionDocument::load(&path).expect("load");
    assert_eq!(loaded, document);
    assert_eq!(render_report(&loaded), render_report(&document));

    // The encoded histogram decodes to the same percentiles as the summary.
    let encoded = loaded.run.latency_histogram.as_ref().expect("histogram");
    let histogram = LatencyHistogram::decode(&encoded.data, encoded.outliers).expect("decode");
    let summary = loaded
        .run
        .summary
        .as_ref()
        .and_then(|s| s.latency)
        .expect("latency");
    // The intervals come from the windows, not from the run's histogram.
    let [low, high] = summary.p99_ci_micros.expect("p99 interval");
    assert!(low <= summary.p99_micros && summary.p99_micros <= high);
    let without_intervals = onnx_workbench::metrics::LatencySummary {
        p50_ci_micros: None,
        p90_ci_micros: None,
        p95_ci_micros: None,
        p99_ci_micros: None,
        p999_ci_micros: None,
        ..summary
    };
    assert_eq!(histogram.summary(), Some(without_intervals));
}

#[test]
fn every_released_format_version_still_imports() {
    let dir = repo_path("tests/data/sessions");
    let mut found = 0;
    for entry in std::fs::read_dir(&dir).expect("fixtures folder") {
        let path = entry.expect("entry").path();
        if path.extension().is_none_or(|ext| ext != "json") {
            continue;
        }
        let document = SessionDocument::load(&path)
            .unwrap_or_else(|err| panic!("{}: {err:#}", path.display()));
        assert!(document.format_version <= FORMAT_VERSION);
        let summary = document.run.summary.as_ref().expect("summary");
        assert!(summary.requests_ok > 0);
        assert!(render_report(&document).contains("Throughput"));
        found += 1;
    }
    assert!(
        found >= FORMAT_VERSION as usize,
        "one fixture per format version"
    );
}

#[test]
fn a_failed_run_is_still_a_valid_session() {
    let record = run(
        &repo_path("tests/data/models/unsupported_op.onnx"),
        ProfileConfig {
            layer_profiling: LayerProfiling::Off,
            ..quick_config()
        },
    );
    assert_eq!(record.status, RunStatus::Failed);
    let document = SessionDocument::new(record);
    let text = serde_json::to_string(&document).expect("serialize");
    let back = SessionDocument::from_json(&text, std::path::Path::new("x.json")).expect("import");
    assert_eq!(back, document);
    assert!(render_report(&back).contains("NoSuchOp"));
}

/// Damaged session files are clear errors from `report`, naming the file
/// and what is wrong: truncated, not JSON, a future format, a folder.
#[test]
fn damaged_session_files_are_clear_errors() {
    let dir = tempfile::tempdir().expect("tempdir");
    let good = std::fs::read(repo_path("tests/data/sessions/v1.json")).expect("fixture");
    let report = |path: &std::path::Path| {
        let output = std::process::Command::new(env!("CARGO_BIN_EXE_onnx-workbench"))
            .arg("report")
            .arg(path)
            .output()
            .expect("run onnx-workbench");
        let stderr = String::from_utf8_lossy(&output.stderr).into_owned();
        assert!(!stderr.contains("panicked"), "{stderr}");
        (output.status.code(), stderr)
    };

    let truncated = dir.path().join("truncated.json");
    std::fs::write(&truncated, &good[..good.len() / 2]).expect("write");
    let (code, stderr) = report(&truncated);
    assert_eq!(code, Some(1), "{stderr}");
    assert!(
        stderr.contains("invalid JSON") && stderr.contains("truncated.json"),
        "{stderr}"
    );

    let future = dir.path().join("future.json");
    let mut value: serde_json::Value = serde_json::from_slice(&good).expect("json");
    value["format_version"] = serde_json::json!(FORMAT_VERSION + 1);
    std::fs::write(&future, value.to_string()).expect("write");
    let (code, stderr) = report(&future);
    assert_eq!(code, Some(1), "{stderr}");
    assert!(
        stderr.contains(&format!("{}", FORMAT_VERSION + 1)) && stderr.contains("newer"),
        "{stderr}"
    );

    let (code, stderr) = report(dir.path());
    assert_eq!(code, Some(1), "{stderr}");
}

/// An export into a location that cannot be written (here a read-only
/// file system) fails with the path and the reason, after the run's report,
/// and leaves nothing behind.
#[test]
fn an_export_into_a_read_only_location_fails_clearly() {
    let target = std::path::Path::new("/sys/onnx-workbench-session.json");
    if !std::path::Path::new("/sys").is_dir() || std::fs::write(target, b"x").is_ok() {
        let _ = std::fs::remove_file(target);
        return; // no read-only file system to try on this machine
    }
    let model = repo_path("sample_models/mlp.onnx");
    let output = std::process::Command::new(env!("CARGO_BIN_EXE_onnx-workbench"))
        .arg("profile")
        .arg(&model)
        .args([
            "--requests",
            "5",
            "--warmup",
            "0s",
            "--no-layer-profile",
            "--quiet",
        ])
        .arg("--export")
        .arg(target)
        .output()
        .expect("run onnx-workbench");
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(output.status.code(), Some(1), "{stderr}");
    assert!(
        stderr.contains("/sys") && !stderr.contains("panicked"),
        "{stderr}"
    );
    assert!(String::from_utf8_lossy(&output.stdout).contains("Throughput"));
    assert!(!target.exists());
}

/// An export that runs out of space half way (here the file size limit of
/// `ulimit -f`, whose write error is what a full disk gives) fails with the
/// path and the reason, after the run's report, and leaves no file, whole
/// or partial, behind.
#[test]
fn an_export_that_runs_out_of_space_leaves_nothing_behind() {
    let dir = tempfile::tempdir().expect("temp dir");
    let target = dir.path().join("session.json");
    let model = repo_path("sample_models/mlp.onnx");
    // SIGXFSZ ignored, so the write fails with EFBIG instead of killing.
    let output = std::process::Command::new("sh")
        .arg("-c")
        .arg(r#"trap "" XFSZ; ulimit -f 4; exec "$0" "$@""#)
        .arg(env!("CARGO_BIN_EXE_onnx-workbench"))
        .arg("profile")
        .arg(&model)
        .args([
            "--requests",
            "5",
            "--warmup",
            "0s",
            "--no-layer-profile",
            "--quiet",
        ])
        .arg("--export")
        .arg(&target)
        .output()
        .expect("run onnx-workbench");
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(output.status.code(), Some(1), "{stderr}");
    assert!(
        stderr.contains("session.json") && !stderr.contains("panicked"),
        "{stderr}"
    );
    assert!(String::from_utf8_lossy(&output.stdout).contains("Throughput"));
    let left: Vec<_> = std::fs::read_dir(dir.path())
        .expect("read dir")
        .map(|entry| entry.expect("entry").file_name())
        .collect();
    assert!(left.is_empty(), "left behind: {left:?}");
}

/// Ctrl-C at each phase of a CLI run (start-up, warm-up, measured load,
/// profiling pass, and the exports after it): the process ends promptly and
/// the exported session is whole, with what was measured before the stop.
#[test]
fn ctrl_c_at_each_phase_of_a_cli_run_keeps_a_whole_session() {
    let model = repo_path("sample_models/transformer.onnx");
    let cases: Vec<_> = [100u64, 700, 1_800, 3_300, 4_500]
        .into_iter()
        .map(|delay_ms| {
            let model = model.clone();
            std::thread::Builder::new()
                .name(format!("ctrl-c-{delay_ms}"))
                .spawn(move || {
                    let dir = tempfile::tempdir().expect("temp dir");
                    let target = dir.path().join("session.json");
                    let child = std::process::Command::new(env!("CARGO_BIN_EXE_onnx-workbench"))
                        .arg("profile")
                        .arg(&model)
                        .args(["--duration", "2s", "--warmup", "1s", "--quiet"])
                        .args(["--profile-runs", "3000"])
                        .arg("--export")
                        .arg(&target)
                        .stdout(std::process::Stdio::null())
                        .stderr(std::process::Stdio::piped())
                        .spawn()
                        .expect("start onnx-workbench");
                    std::thread::sleep(std::time::Duration::from_millis(delay_ms));
                    let interrupted = std::time::Instant::now();
                    let _ = std::process::Command::new("kill")
                        .args(["-INT", &child.id().to_string()])
                        .status();
                    let output = child.wait_with_output().expect("wait");
                    let waited = interrupted.elapsed();
                    let stderr = String::from_utf8_lossy(&output.stderr).into_owned();
                    let document = SessionDocument::load(&target)
                        .unwrap_or_else(|err| panic!("{delay_ms} ms: {err}; {stderr}"));
                    (delay_ms, output.status.code(), waited, document, stderr)
                })
                .expect("thread")
        })
        .collect();
    for case in cases {
        let (delay_ms, code, waited, document, stderr) = case.join().expect("case");
        assert!(
            waited.as_secs_f64() < 15.0,
            "{delay_ms} ms: took {waited:?}"
        );
        assert_eq!(code, Some(0), "{delay_ms} ms: {stderr}");
        assert!(!stderr.contains("panicked"), "{stderr}");
        let run = &document.run;
        assert!(
            matches!(run.status, RunStatus::Stopped | RunStatus::Completed),
            "{delay_ms} ms: {:?}",
            run.status
        );
        if delay_ms >= 1_800 {
            let summary = run.summary.as_ref().expect("partial summary kept");
            assert!(summary.requests_ok > 0, "{delay_ms} ms");
        }
    }
}
