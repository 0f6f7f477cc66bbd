//! Profiling runs on the sample models and fixtures.

use std::{collections::BTreeSet, time::Instant};

use ndarray::{Array2, ArrayD};
use ndarray_npy::WriteNpyExt as _;
use onnx_workbench::{
    engine::{
        Arrival, ExecutionProviderKind, InputFile, LayerProfiling, LoadMode, ModelRef, OptLevel,
        ProfileConfig, RunHandle, RunStatus, StopReason, inputs::InputSource,
    },
    metrics::layers::LayerSource,
    model::Model,
};

use crate::{SAMPLE_MODELS, quick_config, repo_path, run};

fn graph_node_names(model: &std::path::Path) -> BTreeSet<String> {
    let model = Model::load(model).expect("model loads");
    model
        .proto
        .graph
        .as_ref()
        .map(|graph| {
            graph
                .node
                .iter()
                .map(|node| node.name().to_owned())
                .collect()
        })
        .unwrap_or_default()
}

#[test]
fn every_sample_model_runs_under_load_with_per_layer_timings() {
    for name in SAMPLE_MODELS {
        let path = repo_path(&format!("sample_models/{name}"));
        let record = run(
            &path,
            ProfileConfig {
                concurrency: 2,
                batch: Some(2),
                opt_level: OptLevel::Disable,
                ..quick_config()
            },
        );
        assert_eq!(
            record.status,
            RunStatus::Completed,
            "{name}: {:?}",
            record.failure
        );
        assert_eq!(
            record.execution_provider_used,
            Some(ExecutionProviderKind::Cpu)
        );
        let summary = record.summary.as_ref().expect("summary");
        assert!(
            summary.requests_ok > 10,
            "{name}: {} requests",
            summary.requests_ok
        );
        assert_eq!(summary.requests_failed, 0, "{name}");
        assert_eq!(summary.batch_size, 2);
        assert_eq!(summary.inferences, summary.requests_ok * 2);
        assert!(summary.inferences_per_sec > 0.0);
        let latency = summary.latency.expect("latency");
        assert!(latency.min_micros > 0.0 && latency.min_micros <= latency.p50_micros);
        assert!(
            latency.p50_micros <= latency.p99_micros && latency.p99_micros <= latency.max_micros
        );
        assert!(
            record.inputs.iter().all(|input| input.shape[0] == 2),
            "{name}: batch applied"
        );

        // Per-layer: real node names of the file (optimizations off), timings measured.
        let layers = record
            .layers
            .as_ref()
            .unwrap_or_else(|| panic!("{name}: {:?}", record.layer_profiling_error));
        assert_eq!(layers.source, LayerSource::SeparatePass);
        assert_eq!(layers.runs, 5, "{name}: warm-up run excluded");
        let graph_nodes = graph_node_names(&path);
        assert!(!layers.nodes.is_empty());
        for node in &layers.nodes {
            assert!(
                graph_nodes.contains(&node.node),
                "{name}: '{}' is not a graph node",
                node.node
            );
            assert_eq!(node.calls, 5, "{name}: {}", node.node);
            assert_eq!(node.provider, "CPUExecutionProvider");
        }
        assert!(
            layers
                .nodes
                .iter()
                .map(|node| node.total_micros)
                .sum::<u64>()
                > 0
        );
        assert!(layers.model_run_total_micros > 0);
        let share_sum: f64 = layers.nodes.iter().map(|node| node.share).sum();
        assert!(
            share_sum > 0.0 && share_sum <= 1.0 + 1e-9,
            "{name}: shares sum to {share_sum}"
        );
        assert!(record.timings.first_run_micros.is_some());
        assert_eq!(record.timings.session_create_micros.len(), 2);
        let model = record.model.as_ref().expect("model info");
        assert_eq!(model.sha256.len(), 64);
        assert!(model.summary.node_count > 0);
    }
}

#[test]
fn optimized_graphs_report_fused_nodes() {
    let record = run(&repo_path("sample_models/mlp.onnx"), quick_config());
    let layers = record.layers.expect("layers");
    let op_types: BTreeSet<&str> = layers
        .op_types
        .iter()
        .map(|op| op.op_type.as_str())
        .collect();
    // ORT fuses Gemm+Relu at the default level; the per-layer table must show what really ran.
    assert!(op_types.contains("FusedGemm"), "{op_types:?}");
}

#[test]
fn request_limit_stops_after_exactly_that_many() {
    let record = run(
        &repo_path("sample_models/cnn.onnx"),
        ProfileConfig {
            concurrency: 2,
            duration_secs: None,
            max_requests: Some(57),
            warmup_secs: 0.0,
            layer_profiling: LayerProfiling::Off,
            ..ProfileConfig::default()
        },
    );
    assert_eq!(record.status, RunStatus::Completed, "{:?}", record.failure);
    assert_eq!(record.stop_reason, Some(StopReason::RequestLimit));
    let summary = record.summary.expect("summary");
    assert_eq!(summary.requests_ok, 57);
    assert!(record.layers.is_none());
}

#[test]
fn open_loop_keeps_the_schedule_and_splits_queue_and_run_time() {
    let record = run(
        &repo_path("sample_models/mlp.onnx"),
        ProfileConfig {
            load: LoadMode::Open {
                rate_per_sec: 200.0,
                arrival: Arrival::Constant,
            },
            duration_secs: Some(1.5),
            warmup_secs: 0.2,
            layer_profiling: LayerProfiling::Off,
            ..ProfileConfig::default()
        },
    );
    assert_eq!(record.status, RunStatus::Completed, "{:?}", record.failure);
    let summary = record.summary.expect("summary");
    // 200 req/s for 1.5 s: about 300 requests; the machine is shared with other tests.
    assert!(
        (240..=330).contains(&summary.requests_ok),
        "{} requests",
        summary.requests_ok
    );
    let queue = summary.queue.expect("open loop reports queue time");
    let service = summary.service.expect("run time");
    let latency = summary.latency.expect("latency");
    assert!(latency.p50_micros + 1.0 >= service.p50_micros);
    assert!(queue.min_micros >= 0.0);
    assert!(
        record
            .timeseries
            .iter()
            .all(|window| window.queue_p50_micros.is_some() || window.requests == 0)
    );
}

#[test]
fn overloaded_open_loop_shows_the_queue_growing() {
    // 50 000 req/s on one worker is far beyond this model's capacity: latency
    // measured from the schedule must be far above the run time.
    let record = run(
        &repo_path("sample_models/cnn.onnx"),
        ProfileConfig {
            load: LoadMode::Open {
                rate_per_sec: 50_000.0,
                arrival: Arrival::Poisson,
            },
            duration_secs: Some(1.0),
            warmup_secs: 0.0,
            layer_profiling: LayerProfiling::Off,
            ..ProfileConfig::default()
        },
    );
    let summary = record.summary.expect("summary");
    let latency = summary.latency.expect("latency");
    let service = summary.service.expect("service");
    assert!(
        latency.p99_micros > 10.0 * service.p99_micros,
        "coordinated omission: latency p99 {} vs run p99 {}",
        latency.p99_micros,
        service.p99_micros
    );
    assert!(summary.unsent_requests > 0);
    assert!(
        record
            .warnings
            .iter()
            .any(|w| w.contains("offered rate exceeded")),
        "{:?}",
        record.warnings
    );
}

#[test]
fn stop_is_prompt_and_keeps_partial_results() {
    let handle = RunHandle::start(
        ModelRef::File(repo_path("sample_models/transformer.onnx")),
        ProfileConfig {
            duration_secs: Some(120.0),
            warmup_secs: 0.0,
            ..ProfileConfig::default()
        },
    )
    .expect("start");
    let started = Instant::now();
    while handle.snapshot().requests_ok < 20 {
        assert!(started.elapsed().as_secs() < 30, "no progress");
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
    let stopped_at = Instant::now();
    handle.stop();
    let record = handle.join();
    assert!(
        stopped_at.elapsed().as_secs_f64() < 5.0,
        "stop took {:?}",
        stopped_at.elapsed()
    );
    assert_eq!(record.status, RunStatus::Stopped);
    assert_eq!(record.stop_reason, Some(StopReason::User));
    let summary = record.summary.expect("partial summary kept");
    assert!(summary.requests_ok >= 20);
    assert!(
        record.layers.is_none(),
        "the profiling pass is skipped after a stop"
    );
}

#[test]
fn sampled_profiling_collects_layers_during_the_load() {
    let record = run(
        &repo_path("sample_models/cnn.onnx"),
        ProfileConfig {
            concurrency: 2,
            duration_secs: Some(1.0),
            layer_profiling: LayerProfiling::Sampled { every: 10 },
            ..quick_config()
        },
    );
    assert_eq!(record.status, RunStatus::Completed, "{:?}", record.failure);
    let summary = record.summary.expect("summary");
    assert!(summary.profiled_requests > 0);
    let layers = record
        .layers
        .unwrap_or_else(|| panic!("{:?}", record.layer_profiling_error));
    assert_eq!(layers.source, LayerSource::Sampled);
    assert!(layers.runs > 0);
    assert!(
        layers.op_types.iter().any(|op| op.op_type.contains("Conv")),
        "{:?}",
        layers.op_types
    );
}

#[test]
fn a_smaller_pool_than_workers_shows_waiting_as_queue_time() {
    let record = run(
        &repo_path("sample_models/mlp.onnx"),
        ProfileConfig {
            concurrency: 3,
            instances: Some(1),
            layer_profiling: LayerProfiling::Off,
            ..quick_config()
        },
    );
    assert_eq!(record.status, RunStatus::Completed, "{:?}", record.failure);
    assert_eq!(record.timings.session_create_micros.len(), 1);
    let summary = record.summary.expect("summary");
    let queue = summary.queue.expect("pool wait is reported");
    assert!(queue.p99_micros > 0.0);
    assert!(summary.requests_ok > 10);
}

fn write_npy<A: ndarray_npy::WritableElement>(path: &std::path::Path, array: &ArrayD<A>) {
    let file = std::fs::File::create(path).expect("create npy");
    array.write_npy(file).expect("write npy");
}

#[test]
fn failing_requests_are_counted_and_the_run_goes_on() {
    let dir = tempfile::tempdir().expect("tempdir");
    let good = dir.path().join("good_ids.npy");
    let bad = dir.path().join("bad_ids.npy");
    write_npy(&good, &Array2::<i64>::from_elem((1, 4), 3).into_dyn());
    write_npy(&bad, &Array2::<i64>::from_elem((1, 4), 5000).into_dyn());
    let record = run(
        &repo_path("sample_models/multi_input.onnx"),
        ProfileConfig {
            dims: [("seq".to_owned(), 4)].into(),
            input_files: vec![
                InputFile {
                    name: "input_ids".to_owned(),
                    path: good.clone(),
                },
                InputFile {
                    name: "input_ids".to_owned(),
                    path: bad,
                },
            ],
            ..quick_config()
        },
    );
    assert_eq!(record.status, RunStatus::Completed, "{:?}", record.failure);
    let summary = record.summary.as_ref().expect("summary");
    assert!(summary.requests_ok > 0 && summary.requests_failed > 0);
    let ratio =
        summary.requests_failed as f64 / (summary.requests_ok + summary.requests_failed) as f64;
    assert!(
        (0.4..=0.6).contains(&ratio),
        "half the variants fail, got {ratio}"
    );
    // The error log also counts failures during warm-up.
    assert!(record.errors.count >= summary.requests_failed);
    assert!(
        record.errors.first_messages[0].contains("out of data bounds"),
        "{:?}",
        record.errors.first_messages
    );
    assert!(matches!(&record.inputs[0].source, InputSource::Files { paths } if paths.len() == 2));
}

#[test]
fn fixtures_with_every_dtype_unnamed_dims_and_odd_weights_run() {
    for (fixture, expect_note) in [
        ("tests/data/models/all_dtypes.onnx", false),
        ("tests/data/models/fp16_model.onnx", false),
        ("tests/data/models/unnamed_dims.onnx", true),
        ("tests/data/models/constant_weights.onnx", false),
        ("tests/data/models/external_data/model.onnx", false),
    ] {
        let record = run(
            &repo_path(fixture),
            ProfileConfig {
                batch: Some(3),
                duration_secs: Some(0.3),
                layer_profiling: LayerProfiling::Off,
                ..quick_config()
            },
        );
        assert_eq!(
            record.status,
            RunStatus::Completed,
            "{fixture}: {:?}",
            record.failure
        );
        assert!(
            record.summary.expect("summary").requests_ok > 0,
            "{fixture}"
        );
        let has_unnamed_note = record.notes.iter().any(|note| note.contains("unnamed"));
        assert_eq!(
            has_unnamed_note, expect_note,
            "{fixture}: {:?}",
            record.notes
        );
    }
}

#[test]
fn cuda_without_a_gpu_is_a_clear_error_or_a_visible_fallback() {
    let config = ProfileConfig {
        execution_provider: ExecutionProviderKind::Cuda,
        layer_profiling: LayerProfiling::Off,
        duration_secs: Some(0.3),
        ..quick_config()
    };
    // The run's failure is written on its own thread in the words of the
    // front end that started it.
    onnx_workbench::field::speak(Some(|field| format!("<{}>", field.key())));
    let record = run(&repo_path("sample_models/mlp.onnx"), config.clone());
    if record.execution_provider_used == Some(ExecutionProviderKind::Cuda) {
        // A machine with a working CUDA provider: nothing to check here.
        return;
    }
    assert_eq!(record.status, RunStatus::Failed);
    let failure = record.failure.expect("failure message");
    assert!(
        failure.contains("CUDA execution provider could not be registered"),
        "{failure}"
    );
    assert!(failure.contains("<allow_fallback>"), "{failure}");

    let record = run(
        &repo_path("sample_models/mlp.onnx"),
        ProfileConfig {
            allow_fallback: true,
            ..config
        },
    );
    assert_eq!(record.status, RunStatus::Completed, "{:?}", record.failure);
    assert_eq!(
        record.execution_provider_used,
        Some(ExecutionProviderKind::Cpu)
    );
    assert!(
        record.warnings.iter().any(|w| w.contains("uses the CPU")),
        "{:?}",
        record.warnings
    );
}

#[test]
fn io_binding_runs_bound_and_times_host_copies_apart() {
    let record = run(
        &repo_path("sample_models/cnn.onnx"),
        ProfileConfig {
            io_binding: true,
            concurrency: 2,
            layer_profiling: LayerProfiling::Sampled { every: 50 },
            duration_secs: Some(0.5),
            ..quick_config()
        },
    );
    assert_eq!(record.status, RunStatus::Completed, "{:?}", record.failure);
    let summary = record.summary.as_ref().expect("summary");
    assert!(summary.requests_ok > 0);
    assert_eq!(summary.requests_failed, 0);
    let copies = record.host_copies.expect("host copies are timed");
    assert_eq!(copies.device, ExecutionProviderKind::Cpu);
    // One f32 [1, 1, 28, 28] image in, ten f32 logits out.
    assert_eq!(copies.host_to_device.bytes, 28 * 28 * 4);
    assert_eq!(copies.device_to_host.bytes, 10 * 4);
    assert!(copies.host_to_device.median_micros > 0.0);
    assert!(
        record.layers.is_some(),
        "sampled profiling works on bound runs"
    );
}

#[test]
fn io_binding_with_a_session_pool_is_refused() {
    let record = run(
        &repo_path("sample_models/mlp.onnx"),
        ProfileConfig {
            io_binding: true,
            concurrency: 2,
            instances: Some(1),
            ..quick_config()
        },
    );
    assert_eq!(record.status, RunStatus::Failed);
    assert!(
        record
            .failure
            .as_deref()
            .is_some_and(|failure| failure.contains("one session per worker")),
        "{:?}",
        record.failure
    );
}

/// A stop in each phase of a run (start-up, warm-up, measured load,
/// profiling pass) ends it promptly with a valid record: status Stopped,
/// the reason, and whatever was measured before the stop.
#[test]
fn a_stop_in_every_phase_ends_cleanly_with_partial_results() {
    use onnx_workbench::metrics::RunPhase;
    use onnx_workbench::session::SessionDocument;
    for target in [
        RunPhase::Starting,
        RunPhase::Warmup,
        RunPhase::Running,
        RunPhase::Profiling,
    ] {
        let handle = RunHandle::start(
            ModelRef::File(repo_path("sample_models/transformer.onnx")),
            ProfileConfig {
                duration_secs: Some(1.5),
                warmup_secs: 1.0,
                layer_profiling: LayerProfiling::SeparatePass { runs: 100_000 },
                ..ProfileConfig::default()
            },
        )
        .expect("start");
        let started = Instant::now();
        // (In the measured load, wait for the first counted request.)
        let reached = |handle: &RunHandle| {
            handle.phase() == target
                && (target != RunPhase::Running || handle.snapshot().requests_ok > 0)
        };
        while !reached(&handle) && !handle.is_finished() {
            assert!(started.elapsed().as_secs() < 60, "never reached {target:?}");
            std::thread::sleep(std::time::Duration::from_millis(2));
        }
        let stopped_at = Instant::now();
        handle.stop();
        let record = handle.join();
        assert!(
            stopped_at.elapsed().as_secs_f64() < 10.0,
            "{target:?}: stop took {:?}",
            stopped_at.elapsed()
        );
        assert_eq!(record.status, RunStatus::Stopped, "{target:?}");
        // A stop in the profiling pass comes after the load ended on its
        // own: the reason stays the load's.
        let reason = if target == RunPhase::Profiling {
            StopReason::Duration
        } else {
            StopReason::User
        };
        assert_eq!(record.stop_reason, Some(reason), "{target:?}");
        if matches!(target, RunPhase::Running | RunPhase::Profiling) {
            let summary = record.summary.as_ref().expect("partial summary kept");
            assert!(summary.requests_ok > 0, "{target:?}");
        }
        // Whatever the phase, the record is a complete session document.
        let document = SessionDocument::new(record);
        let text = serde_json::to_string(&document).expect("serializes");
        SessionDocument::from_json(&text, std::path::Path::new("stopped.json"))
            .expect("reads back");
    }
}

/// A model file replaced while the run starts: the sessions run the bytes
/// that were read and hashed, never a mix. Whichever file the run read
/// (the race is the point), the recorded hash and inputs are that file's;
/// and a file deleted before it was read is a clear error, not a panic.
#[test]
fn a_model_file_replaced_while_starting_runs_what_was_hashed() {
    let dir = tempfile::tempdir().expect("temp dir");
    let path = dir.path().join("model.onnx");
    let first = std::fs::read(repo_path("sample_models/mlp.onnx")).expect("read mlp");
    let second = std::fs::read(repo_path("sample_models/transformer.onnx")).expect("read");
    let input_of = |bytes: &[u8]| {
        let model = Model::from_bytes(bytes, None).expect("model");
        model.summary().inputs[0].name.clone()
    };
    let hash = |bytes: &[u8]| {
        use sha2::Digest as _;
        format!("{:x}", sha2::Sha256::digest(bytes))
    };
    for delay_ms in [0, 1, 5, 20] {
        std::fs::write(&path, &first).expect("write");
        let handle = RunHandle::start(
            ModelRef::File(path.clone()),
            ProfileConfig {
                duration_secs: Some(0.2),
                warmup_secs: 0.0,
                layer_profiling: LayerProfiling::Off,
                ..ProfileConfig::default()
            },
        )
        .expect("start");
        std::thread::sleep(std::time::Duration::from_millis(delay_ms));
        // Replaced as tools replace files: a whole new file renamed over it.
        let staged = dir.path().join("staged.onnx");
        std::fs::write(&staged, &second).expect("stage");
        std::fs::rename(&staged, &path).expect("replace");
        let record = handle.join();
        let model = record
            .model
            .as_ref()
            .unwrap_or_else(|| panic!("delay {delay_ms} ms: no model read: {:?}", record.failure));
        let ran = if model.sha256 == hash(&first) {
            &first
        } else {
            assert_eq!(model.sha256, hash(&second), "hash of neither file");
            &second
        };
        assert_eq!(record.status, RunStatus::Completed, "{:?}", record.failure);
        assert_eq!(record.inputs[0].name, input_of(ran), "delay {delay_ms} ms");
    }
    std::fs::remove_file(&path).expect("delete");
    let record = RunHandle::start(ModelRef::File(path.clone()), ProfileConfig::default())
        .expect("start")
        .join();
    assert_eq!(record.status, RunStatus::Failed);
    let failure = record.failure.expect("failure text");
    assert!(failure.contains("model.onnx"), "{failure}");
}

/// While a run starts it says what it does (the window shows it instead of
/// a clock at 0.0 s): a transformed model is converted and checked, then
/// each session is created in turn.
#[test]
fn the_start_up_says_what_it_does() {
    let config = ProfileConfig {
        concurrency: 2,
        duration_secs: Some(0.2),
        warmup_secs: 0.0,
        layer_profiling: LayerProfiling::Off,
        transform: onnx_workbench::transform::TransformSpec {
            precision: onnx_workbench::transform::Precision::Fp16,
            ..Default::default()
        },
        ..ProfileConfig::default()
    };
    let handle = RunHandle::start(ModelRef::File(repo_path("sample_models/mlp.onnx")), config)
        .expect("start");
    let mut seen = BTreeSet::new();
    while !handle.is_finished() {
        seen.insert(handle.stage());
        std::thread::sleep(std::time::Duration::from_micros(200));
    }
    seen.insert(handle.stage());
    let last = handle.stage();
    let record = handle.join();
    assert_eq!(record.status, RunStatus::Completed, "{:?}", record.failure);
    assert_eq!(last, "creating session 2 of 2", "{seen:?}");
    assert!(
        seen.iter().all(|stage| stage.is_empty()
            || stage == "loading the model"
            || stage.starts_with("transforming the model (fp16")
            || stage.starts_with("creating session")),
        "{seen:?}"
    );
}
