//! Checks that need an NVIDIA GPU, the GPU build (`onnx-workbench setup
//! --gpu`) and its CUDA libraries. Ignored in ordinary runs; run them with
//! `scripts/gpu_check.sh` (or `cargo test -- --ignored gpu::`).

use onnx_workbench::{
    engine::{ExecutionProviderKind, LayerProfiling, ProfileConfig, RunStatus},
    metrics::layers::is_gpu_provider,
    model::Model,
};

use crate::{SAMPLE_MODELS, quick_config, repo_path, run};

fn cuda_config() -> ProfileConfig {
    ProfileConfig {
        execution_provider: ExecutionProviderKind::Cuda,
        duration_secs: Some(1.0),
        warmup_secs: 0.5,
        layer_profiling: LayerProfiling::SeparatePass { runs: 20 },
        ..quick_config()
    }
}

#[test]
#[ignore = "needs an NVIDIA GPU"]
fn every_sample_runs_on_cuda_with_nodes_on_the_gpu() {
    for name in SAMPLE_MODELS {
        let record = run(&repo_path(&format!("sample_models/{name}")), cuda_config());
        assert_eq!(
            record.status,
            RunStatus::Completed,
            "{name}: {:?}",
            record.failure
        );
        assert_eq!(
            record.execution_provider_used,
            Some(ExecutionProviderKind::Cuda)
        );
        let layers = record.layers.as_ref().expect("per-layer timings");
        let providers = layers.provider_summary();
        assert!(providers.has_gpu_nodes(), "{name}: {providers}");
        println!("{name}: {providers}");
    }
}

#[test]
#[ignore = "needs an NVIDIA GPU"]
fn cupti_gpu_time_adds_up_and_the_heavy_ops_dominate() {
    for name in ["cnn.onnx", "mlp.onnx", "transformer.onnx"] {
        let record = run(&repo_path(&format!("sample_models/{name}")), cuda_config());
        assert_eq!(
            record.status,
            RunStatus::Completed,
            "{name}: {:?}",
            record.failure
        );
        let kernels = record.gpu_kernels.as_ref().unwrap_or_else(|| {
            panic!(
                "{name}: no CUPTI attribution: {:?}",
                record.gpu_kernels_note
            )
        });
        let attributed = kernels.attributed_nanos();
        assert!(kernels.gpu_busy_nanos > 0);
        // Kernels can overlap on several streams, so the sum may exceed the
        // busy time a little; it must not fall far short of it.
        let ratio = attributed as f64 / kernels.gpu_busy_nanos as f64;
        assert!(
            (0.8..=1.2).contains(&ratio),
            "{name}: attributed/busy = {ratio:.2}"
        );
        let layers = record.layers.as_ref().expect("layers");
        let top = &kernels.nodes[0];
        let op = layers
            .nodes
            .iter()
            .find(|node| node.node == top.node)
            .map(|node| node.op_type.as_str())
            .unwrap_or("?");
        println!(
            "{name}: busy {} µs, attributed {} µs ({:.0} %), top node {} ({op}) {} µs",
            kernels.gpu_busy_nanos / 1000,
            attributed / 1000,
            ratio * 100.0,
            top.node,
            top.gpu_nanos / 1000
        );
        assert!(
            [
                "Conv",
                "FusedConv",
                "MatMul",
                "Gemm",
                "FusedGemm",
                "FusedMatMul",
                "Attention",
                "MultiHeadAttention"
            ]
            .iter()
            .any(|heavy| op.contains(heavy)),
            "{name}: the top GPU node is {op}"
        );
        assert!(
            layers
                .nodes
                .iter()
                .any(|node| is_gpu_provider(&node.provider))
        );
    }
}

#[test]
#[ignore = "needs an NVIDIA GPU"]
fn nvml_telemetry_is_recorded_during_a_cuda_run() {
    let record = run(&repo_path("sample_models/cnn.onnx"), cuda_config());
    assert_eq!(record.status, RunStatus::Completed, "{:?}", record.failure);
    assert!(
        !record.gpu_telemetry.is_empty(),
        "no NVML samples: {:?}",
        record.gpu_telemetry_note
    );
    let sample = &record.gpu_telemetry[record.gpu_telemetry.len() / 2];
    assert!(sample.utilization_percent.is_some());
    assert!(sample.memory_used_bytes.unwrap_or(0) > 0);
}

#[test]
#[ignore = "needs an NVIDIA GPU"]
fn io_binding_and_cuda_graphs_run_on_the_gpu() {
    let model = repo_path("sample_models/cnn.onnx");
    assert!(Model::load(&model).is_ok());
    let mut config = cuda_config();
    config.io_binding = true;
    config.batch = Some(8);
    let bound = run(&model, config.clone());
    assert_eq!(bound.status, RunStatus::Completed, "{:?}", bound.failure);
    let copies = bound.host_copies.expect("host copies");
    assert_eq!(copies.device, ExecutionProviderKind::Cuda);
    assert_eq!(copies.host_to_device.bytes, 8 * 28 * 28 * 4);
    println!(
        "host to device {:.1} µs, device to host {:.1} µs",
        copies.host_to_device.median_micros, copies.device_to_host.median_micros
    );
    config.cuda.cuda_graph = true;
    let graph = run(&model, config);
    assert_eq!(graph.status, RunStatus::Completed, "{:?}", graph.failure);
    assert!(graph.summary.expect("summary").requests_ok > 0);
}
