//! `sweep` end to end on the MLP sample: the document, the skipped points,
//! the Pareto set, the recommendation and its confirmation, the CSV, and
//! `report` on the exported file; and a stopped sweep keeping its points.

use std::{process::Command, time::Duration};

use onnx_workbench::{
    engine::ProfileConfig,
    session::SweepDocument,
    tune::{Slo, SweepHandle, SweepSpec, SweepStatus, stats::Decision},
};

use crate::repo_path;

fn workbench(args: &[&str]) -> std::process::Output {
    Command::new(env!("CARGO_BIN_EXE_onnx-workbench"))
        .args(args)
        .output()
        .expect("run onnx-workbench")
}

#[test]
fn a_small_sweep_writes_the_document_pareto_and_a_confirmed_recommendation() {
    let dir = tempfile::tempdir().expect("tempdir");
    let export = dir.path().join("sweep.json");
    let model = repo_path("sample_models/mlp.onnx");
    let model_arg = model.to_str().expect("utf-8 path");
    let export_arg = export.to_str().expect("utf-8 path");
    let csv_dir = dir.path().join("csv");
    // I/O binding needs one session per worker, so with one instance the
    // concurrency=2 points are invalid and must be listed as skipped.
    // Three 1-second windows are needed for stability; the tolerance is wide
    // because the test shares the machine.
    let output = workbench(&[
        "sweep",
        model_arg,
        "--io-binding",
        "--instances",
        "1",
        "--duration",
        "3.2s",
        "--warmup",
        "0.3s",
        "--vary",
        "concurrency=1,2",
        "--vary",
        "intra-threads=1,2",
        "--slo",
        "p99=200ms",
        "--stability",
        "60",
        "--retries",
        "1",
        "--quiet",
        "--export",
        export_arg,
        "--export-csv",
        csv_dir.to_str().expect("utf-8 path"),
    ]);
    let stdout = String::from_utf8_lossy(&output.stdout);
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        output.status.code() == Some(0) || output.status.code() == Some(4),
        "{stdout}\n{stderr}"
    );
    let document = SweepDocument::load(&export).expect("load the sweep");
    assert_eq!(document.kind, "sweep");
    assert_eq!(document.format_version, 1);
    assert_eq!(document.status, SweepStatus::Completed);
    assert_eq!(document.points.len(), 2, "{stdout}");
    assert_eq!(document.skipped.len(), 2, "{stdout}");
    for skipped in &document.skipped {
        assert!(skipped.label.contains("concurrency=2"), "{skipped:?}");
        assert!(skipped.reason.contains("--io-binding"), "{skipped:?}");
    }
    for point in &document.points {
        assert_eq!(point.config.concurrency, 1);
        assert_eq!(point.session.run.config, point.config);
        assert_eq!(point.session.run.summary, point.summary);
        let summary = point.summary.as_ref().expect("summary");
        assert!(summary.requests_ok > 459, "{summary:?}");
        // 200 ms is far above the MLP's latency: every point passes.
        assert_eq!(point.verdict, Decision::Pass, "{:?}", point.verdict_details);
        assert!(point.session.run.timeseries.len() >= 3);
    }
    let threads: Vec<u32> = document
        .points
        .iter()
        .map(|p| p.config.intra_threads)
        .collect();
    assert_eq!(threads, [1, 2]);

    // The Pareto set: no point dominates one in it; every other is dominated.
    let pairs: Vec<(f64, f64)> = document
        .points
        .iter()
        .map(|p| {
            let s = p.summary.as_ref().expect("summary");
            (s.inferences_per_sec, s.latency.expect("latency").p99_micros)
        })
        .collect();
    assert!(!document.pareto.is_empty());
    let dominates =
        |a: (f64, f64), b: (f64, f64)| a.0 >= b.0 && a.1 <= b.1 && (a.0 > b.0 || a.1 < b.1);
    for i in 0..pairs.len() {
        let dominated = pairs.iter().any(|&other| dominates(other, pairs[i]));
        assert_eq!(
            document.pareto.contains(&i),
            !dominated,
            "{pairs:?} {:?}",
            document.pareto
        );
    }

    // The recommendation is the highest-throughput stable passing point,
    // confirmed by a fresh run, with the command that reproduces it.
    let usable: Vec<usize> = (0..document.points.len())
        .filter(|&i| document.points[i].stable && document.points[i].verdict == Decision::Pass)
        .collect();
    match &document.recommendation {
        None => {
            assert!(usable.is_empty(), "{stdout}");
            assert_eq!(output.status.code(), Some(4));
        }
        Some(rec) => {
            let best = usable
                .iter()
                .copied()
                .max_by(|&a, &b| pairs[a].0.total_cmp(&pairs[b].0))
                .expect("a usable point");
            // The best one, unless its confirmation run did not uphold it:
            // then the next passing point, with a note saying so.
            if rec.point != best {
                assert!(usable.contains(&rec.point), "{stdout}");
                assert!(
                    document
                        .notes
                        .iter()
                        .any(|note| note.contains("not upheld by its confirmation run")),
                    "{stdout}"
                );
            }
            let best = rec.point;
            assert_eq!(rec.config, document.points[best].config);
            assert!(
                rec.command.starts_with("onnx-workbench profile "),
                "{}",
                rec.command
            );
            for flag in [
                "--io-binding",
                "--instances 1",
                "--duration 3200ms",
                "--no-layer-profile",
            ] {
                assert!(rec.command.contains(flag), "{flag}: {}", rec.command);
            }
            let margin = rec.margin.expect("margin");
            assert!(margin > 0.5 && margin < 1.0, "{margin}");
            let confirmation = rec.confirmation.as_ref().expect("confirmed by a run");
            assert_eq!(confirmation.config, rec.config);
            assert_eq!(
                rec.confirmed,
                confirmation.stable && confirmation.verdict == Decision::Pass
            );
            assert!(stdout.contains("Recommendation: #"), "{stdout}");
            assert!(stdout.contains(&rec.command), "{stdout}");
        }
    }
    // Overhead bookkeeping: the sweep's wall time covers its points.
    assert!(document.points_secs > 2.0 * 3.2);
    assert!(document.wall_secs >= document.points_secs * 0.99);

    let csv = std::fs::read_to_string(csv_dir.join("sweep_points.csv")).expect("csv");
    let lines: Vec<&str> = csv.lines().collect();
    assert_eq!(lines.len(), 3, "{csv}");
    assert!(lines[0].starts_with("point,label,concurrency,intra-threads,inferences_per_sec"));

    // `report` reprints the sweep, as text and as JSON.
    let report = workbench(&["report", export_arg]);
    assert!(report.status.success());
    let text = String::from_utf8_lossy(&report.stdout);
    assert!(text.contains("Sweep of mlp.onnx"), "{text}");
    assert!(text.contains("concurrency=1 intra-threads=2"), "{text}");
    assert!(text.contains("Pareto set: #"), "{text}");
    assert!(
        text.contains("--io-binding needs one session per worker"),
        "{text}"
    );
    let json = workbench(&["report", "--json", export_arg]);
    assert!(json.status.success());
    let reread: SweepDocument = serde_json::from_slice(&json.stdout).expect("sweep JSON");
    assert_eq!(reread, document);
}

#[test]
fn a_stopped_sweep_keeps_what_it_measured() {
    let mut slo = Slo::default();
    slo.add("p99=200ms").expect("slo");
    let base = ProfileConfig {
        duration_secs: Some(1.0),
        warmup_secs: 0.1,
        ..ProfileConfig::default()
    };
    let mut spec = SweepSpec::new(
        base,
        vec!["intra-threads=1,2,3,4".parse().expect("dimension")],
        slo,
    );
    spec.max_retries = 0;
    let handle =
        SweepHandle::start(Some(repo_path("sample_models/mlp.onnx")), spec).expect("start");
    let deadline = std::time::Instant::now() + Duration::from_secs(60);
    while handle.progress().points_done == 0 && std::time::Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(50));
    }
    let progress = handle.progress();
    assert_eq!(progress.points_done, 1);
    assert_eq!(progress.points.len(), 1);
    assert!(progress.points[0].throughput_per_sec > 0.0);
    assert_eq!(progress.records.len(), 1);
    assert_eq!(progress.records[0].config.intra_threads, 1);
    assert!(progress.points_left <= 3 && progress.points_left >= 1);
    handle.stop();
    let result = handle.join().expect("join");
    assert_eq!(result.status, SweepStatus::Stopped);
    assert!(
        !result.points.is_empty() && result.points.len() < 4,
        "{}",
        result.points.len()
    );
    assert!(
        result.skipped.iter().any(|s| s.reason.contains("stopped")),
        "{:?}",
        result.skipped
    );
    // Every point is either measured or listed as not run, never both.
    assert_eq!(result.points.len() + result.skipped.len(), 4);
    for skipped in &result.skipped {
        assert!(
            result.points.iter().all(|p| p.label != skipped.label),
            "{skipped:?}"
        );
    }
    // A stopped sweep makes no confirmation run.
    assert!(
        result
            .recommendation
            .as_ref()
            .is_none_or(|r| r.confirmation.is_none() && !r.confirmed)
    );
}

#[test]
fn a_batch_over_a_fixed_batch_dim_is_skipped_with_the_engines_reason() {
    let model = repo_path("tests/data/models/fixed_batch.onnx");
    let output = workbench(&[
        "sweep",
        model.to_str().expect("utf-8 path"),
        "--duration",
        "1s",
        "--warmup",
        "0.1s",
        "--vary",
        "batch=1,2",
        "--slo",
        "p99=500ms",
        "--retries",
        "0",
        "--no-confirm",
        "--quiet",
        "--json",
    ]);
    let stdout = String::from_utf8_lossy(&output.stdout);
    let document: SweepDocument = serde_json::from_str(&stdout).expect("sweep JSON");
    assert_eq!(document.points.len(), 1, "{stdout}");
    assert_eq!(document.points[0].config.batch, Some(1));
    // One second holds fewer than the 3 windows stability needs: unstable,
    // so never recommended, and the exit status says nothing passed.
    assert!(!document.points[0].stable);
    assert!(document.recommendation.is_none());
    assert_eq!(output.status.code(), Some(4));
    assert_eq!(document.skipped.len(), 1);
    assert_eq!(document.skipped[0].label, "batch=2");
    assert!(
        document.skipped[0].reason.contains("fixed first dimension"),
        "{:?}",
        document.skipped[0]
    );

    let missing = workbench(&[
        "sweep",
        "no_such_model.onnx",
        "--vary",
        "batch=1",
        "--slo",
        "p99=1ms",
    ]);
    assert_eq!(missing.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&missing.stderr).contains("cannot read model"));
}
