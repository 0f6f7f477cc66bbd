//! Dynamic batching on the real ONNX Runtime: closed and open loop on the
//! sample models, outputs split back to their requests, and models that
//! cannot be batched refused with a clear message.

use std::{path::Path, process::Command, sync::Arc};

use onnx_workbench::{
    engine::{
        Arrival, BatchingConfig, LoadMode, ProfileConfig, RunRecord, RunStatus,
        batcher::{
            Pending,
            serve::{Request, run_batch},
        },
        inputs::{self, PreparedInputs, TensorData},
        runtime::runtime,
        session::{ModelSource, build_session},
    },
    session::{SessionDocument, render_report},
};
use ort::session::RunOptions;

use crate::{SAMPLE_MODELS, quick_config, repo_path, run};

fn batched(concurrency: u32, max_batch: u32, delay_micros: u64) -> ProfileConfig {
    ProfileConfig {
        concurrency,
        batching: Some(BatchingConfig {
            max_batch,
            delay_micros,
            preferred: Vec::new(),
        }),
        ..quick_config()
    }
}

/// Checks what every batched run must have: a batching report whose sizes
/// respect the limit and account for the requests, and a queue/service split.
fn assert_batched(record: &RunRecord, max_batch: u32, rows_per_request: u64, name: &str) {
    assert_eq!(
        record.status,
        RunStatus::Completed,
        "{name}: {:?}",
        record.failure
    );
    let summary = record.summary.as_ref().expect("summary");
    assert!(summary.requests_ok > 10, "{name}: {}", summary.requests_ok);
    assert_eq!(summary.requests_failed, 0, "{name}: {:?}", record.errors);
    let queue = summary.queue.expect("queue time is tracked with batching");
    let service = summary.service.expect("service time");
    let latency = summary.latency.expect("latency");
    assert!(queue.p50_micros <= latency.p50_micros + 1.0, "{name}");
    assert!(service.p50_micros <= latency.p50_micros + 1.0, "{name}");
    let batching = record.batching.as_ref().expect("batching report");
    assert_eq!(batching.max_batch, max_batch);
    assert!(!batching.batch_sizes.is_empty(), "{name}");
    assert!(
        batching
            .batch_sizes
            .iter()
            .all(|entry| entry.size >= 1 && entry.size <= max_batch),
        "{name}: {:?}",
        batching.batch_sizes
    );
    let rows: u64 = batching
        .batch_sizes
        .iter()
        .map(|entry| u64::from(entry.size) * entry.count)
        .sum();
    let expected_rows = summary.requests_ok * rows_per_request;
    // Batches are counted by their first request; at the window edges a batch
    // may straddle the boundary.
    assert!(
        rows.abs_diff(expected_rows) <= expected_rows / 20 + u64::from(max_batch) * 4,
        "{name}: {rows} batched rows for {expected_rows} request rows"
    );
    assert!(
        record
            .timeseries
            .iter()
            .any(|window| window.mean_batch_size.is_some()),
        "{name}: batch size per window"
    );
}

#[test]
fn closed_loop_clients_are_batched_on_every_sample_model() {
    for name in SAMPLE_MODELS {
        let path = repo_path(&format!("sample_models/{name}"));
        let record = run(
            &path,
            ProfileConfig {
                batch: Some(2),
                ..batched(6, 8, 2000)
            },
        );
        assert_batched(&record, 8, 2, name);
        assert!(
            record.inputs.iter().all(|input| input.shape[0] == 2),
            "{name}: each request has --batch rows"
        );
        assert_eq!(record.config.num_instances(), 1);
        // Six clients on one session: while a batch runs the others queue,
        // so batches hold more than one request.
        let mean = record
            .batching
            .as_ref()
            .and_then(|batching| batching.mean_batch_size)
            .expect("mean");
        assert!(mean > 2.0, "{name}: mean batch {mean} rows");
    }
}

#[test]
fn every_dtype_is_concatenated() {
    let record = run(
        &repo_path("tests/data/models/all_dtypes.onnx"),
        batched(4, 16, 500),
    );
    assert_batched(&record, 16, 1, "all_dtypes");
}

#[test]
fn open_loop_arrivals_are_batched_and_timed_from_the_schedule() {
    let record = run(
        &repo_path("sample_models/mlp.onnx"),
        ProfileConfig {
            load: LoadMode::Open {
                rate_per_sec: 2000.0,
                arrival: Arrival::Poisson,
            },
            instances: Some(2),
            batching: Some(BatchingConfig {
                max_batch: 16,
                delay_micros: 1000,
                preferred: vec![4],
            }),
            ..quick_config()
        },
    );
    assert_batched(&record, 16, 1, "open loop");
    let summary = record.summary.as_ref().expect("summary");
    // About 2000 requests/s were offered and served.
    assert!(
        summary.requests_per_sec > 1000.0 && summary.requests_per_sec < 3000.0,
        "{}",
        summary.requests_per_sec
    );
    let batching = record.batching.as_ref().expect("batching");
    assert_eq!(batching.preferred, vec![4]);
    // Two executors, whatever the (unused) worker count.
    assert_eq!(record.timings.session_create_micros.len(), 2);
    let document = SessionDocument::new(record.clone());
    let text = render_report(&document);
    assert!(
        text.contains("Batching    max batch 16, delay 1.00 ms, preferred 4"),
        "{text}"
    );
    let json = serde_json::to_value(&document).expect("json");
    assert!(
        json["batching"]["batch_sizes"][0]["size"].is_u64(),
        "{json}"
    );
    assert!(json["batching"]["mean_batch_size"].is_f64());
}

#[test]
fn request_limits_end_a_batched_run() {
    let record = run(
        &repo_path("sample_models/mlp.onnx"),
        ProfileConfig {
            duration_secs: None,
            max_requests: Some(300),
            ..batched(4, 4, 100)
        },
    );
    assert_eq!(record.status, RunStatus::Completed, "{:?}", record.failure);
    let summary = record.summary.as_ref().expect("summary");
    assert!(
        summary.requests_ok >= 300 && summary.requests_ok <= 300 + 4,
        "{}",
        summary.requests_ok
    );
}

#[test]
fn a_fixed_first_dim_is_refused_with_the_input_and_its_shape() {
    let record = run(
        &repo_path("tests/data/models/fixed_batch.onnx"),
        batched(2, 8, 1000),
    );
    assert_eq!(record.status, RunStatus::Failed);
    let failure = record.failure.expect("failure");
    assert!(
        failure.contains("input 'x'") && failure.contains("[1, 16]"),
        "{failure}"
    );
    let output = Command::new(env!("CARGO_BIN_EXE_onnx-workbench"))
        .args(["profile", "--max-batch", "4", "--duration", "0.3s", "-q"])
        .arg(repo_path("tests/data/models/fixed_batch.onnx"))
        .output()
        .expect("run the binary");
    assert!(!output.status.success());
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        stderr.contains("dynamic first dimension") && stderr.contains("'x'"),
        "{stderr}"
    );
    let output = Command::new(env!("CARGO_BIN_EXE_onnx-workbench"))
        .args(["profile", "--max-batch", "4", "--batch", "8", "-q"])
        .arg(repo_path("sample_models/mlp.onnx"))
        .output()
        .expect("run the binary");
    assert!(!output.status.success());
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.contains("larger than --max-batch 4"), "{stderr}");
}

#[test]
fn the_cli_prints_the_batching_line() {
    let output = Command::new(env!("CARGO_BIN_EXE_onnx-workbench"))
        .args([
            "profile",
            "--max-batch",
            "8",
            "--batch-delay",
            "500us",
            "--preferred-batch",
            "2,4",
            "--concurrency",
            "4",
            "--duration",
            "0.5s",
            "--warmup",
            "0.1s",
            "--no-layer-profile",
            "-q",
        ])
        .arg(repo_path("sample_models/mlp.onnx"))
        .output()
        .expect("run the binary");
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(output.status.success(), "{stdout}");
    assert!(
        stdout.contains("Batching    max batch 8, delay 500 µs, preferred 2,4"),
        "{stdout}"
    );
    assert!(stdout.contains("batch sizes (rows×batches)"), "{stdout}");
}

/// Two synthetic variants of the model's inputs, with different seeds.
fn two_variants(session: &ort::session::Session, config: &ProfileConfig) -> PreparedInputs {
    let declared = inputs::declared_inputs(session).expect("inputs");
    let mut prepared = inputs::prepare(&declared, config, &Default::default()).expect("prepare");
    let other = inputs::prepare(
        &declared,
        &ProfileConfig {
            seed: config.seed + 1,
            ..config.clone()
        },
        &Default::default(),
    )
    .expect("prepare");
    prepared.variants.extend(other.variants);
    prepared
}

fn request(variant: usize, rows: u32) -> Pending<Request> {
    Pending {
        arrived_nanos: 0,
        rows,
        key: 0,
        item: Request {
            variant,
            client: None,
        },
    }
}

fn as_f32(data: &TensorData) -> &[f32] {
    match data {
        TensorData::F32(values) => values,
        other => panic!("expected f32 output, got {other:?}"),
    }
}

#[test]
fn outputs_are_split_back_to_their_requests() {
    for name in ["mlp.onnx", "multi_input.onnx"] {
        let path = repo_path(&format!("sample_models/{name}"));
        let config = ProfileConfig {
            batch: Some(2),
            ..ProfileConfig::default()
        };
        let mut session = build_session(
            runtime().expect("ONNX Runtime"),
            ModelSource::File(Path::new(&path)),
            &config,
            None,
        )
        .expect("session")
        .session;
        let prepared = Arc::new(two_variants(&session, &config));
        let options = RunOptions::new().expect("options");
        let batch = [request(0, 2), request(1, 2), request(0, 2)];
        let together = run_batch(&mut session, &prepared, &batch, &options).expect("batched run");
        assert_eq!(together.len(), 3);
        let alone: Vec<Vec<TensorData>> = [0, 1]
            .iter()
            .map(|variant| {
                run_batch(&mut session, &prepared, &[request(*variant, 2)], &options)
                    .expect("single run")
                    .remove(0)
            })
            .collect();
        for (position, variant) in [0usize, 1, 0].into_iter().enumerate() {
            assert_eq!(together[position].len(), alone[variant].len(), "{name}");
            for (got, want) in together[position].iter().zip(&alone[variant]) {
                let (got, want) = (as_f32(got), as_f32(want));
                assert_eq!(got.len(), want.len(), "{name}: rows of request {position}");
                let worst = got
                    .iter()
                    .zip(want)
                    .map(|(a, b)| (a - b).abs())
                    .fold(0.0f32, f32::max);
                assert!(
                    worst < 1e-4,
                    "{name}: request {position} differs by {worst}"
                );
            }
        }
        // The two variants really differ, so a mix-up would be caught.
        assert_ne!(as_f32(&alone[0][0]), as_f32(&alone[1][0]), "{name}");
    }
}

#[test]
fn a_user_stop_ends_a_batched_run_and_keeps_what_was_measured() {
    let handle = onnx_workbench::engine::RunHandle::start(
        onnx_workbench::engine::ModelRef::File(repo_path("sample_models/mlp.onnx")),
        ProfileConfig {
            duration_secs: Some(60.0),
            ..batched(8, 8, 5000)
        },
    )
    .expect("start");
    let started = std::time::Instant::now();
    while handle.snapshot().requests_ok < 50 && started.elapsed().as_secs() < 30 {
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
    handle.stop();
    let record = handle.join();
    assert!(started.elapsed().as_secs() < 30, "the stop was not prompt");
    assert_eq!(record.status, RunStatus::Stopped, "{:?}", record.failure);
    let summary = record.summary.as_ref().expect("summary kept");
    assert!(summary.requests_ok >= 50, "{}", summary.requests_ok);
    assert!(record.batching.is_some());
}

/// The Config panel's batching controls drive a real batched run, and the
/// Live tab shows the executed batch size.
#[cfg(feature = "gui")]
#[test]
fn the_window_configures_batching_and_plots_the_batch_size() {
    use egui_kittest::kittest::Queryable as _;

    use crate::ui::{harness_of_height, run_to_the_end, step_until};

    let mut harness = harness_of_height(1200.0);
    harness.step();
    harness.get_by_label("mlp.onnx").click();
    step_until(&mut harness, "the model to load", |app| app.model.is_some());
    harness
        .get_by_role_and_label(egui::accesskit::Role::CheckBox, "Dynamic batching")
        .click();
    harness.step();
    harness
        .get_by_label("Max batch (rows)")
        .set_value_accesskit(4.0);
    harness.get_by_label("Concurrency").set_value_accesskit(4.0);
    harness
        .get_by_label("Duration (s)")
        .set_value_accesskit(1.0);
    harness.get_by_label("Warm-up (s)").set_value_accesskit(0.2);
    harness
        .get_by_label("Profiled runs")
        .set_value_accesskit(5.0);
    harness.step();
    let config = harness.state().settings.config.clone();
    let batching = config.batching.as_ref().expect("batching is on");
    assert_eq!(batching.max_batch, 4);
    assert_eq!(config.num_instances(), 1);

    let document = run_to_the_end(&mut harness);
    let report = document.run.batching.as_ref().expect("batching report");
    assert!(report.batch_sizes.iter().all(|entry| entry.size <= 4));
    harness.get_by_label("Live").click();
    harness.step();
    let mean = report.mean_batch_size.expect("mean batch size");
    let title = format!("Executed batch size (mean {mean:.2} rows)");
    assert!(harness.query_by_label(&title).is_some(), "no '{title}'");
    assert!(harness.query_by_label("Batch sizes").is_some());
    assert!(
        harness
            .query_by_label("Queue time vs run time (p50 / p99)")
            .is_some()
    );
}
