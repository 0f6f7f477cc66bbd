//! Per-node cost from a real profile: FLOPs from ONNX Runtime's recorded
//! shapes, bytes, the machine's peaks, and where they land in the session.

use onnx_workbench::{
    engine::{OptLevel, ProfileConfig},
    metrics::layers::{LayerReport, LayerStats},
    session::{SessionDocument, render_report, write_csv},
};

use crate::{quick_config, repo_path, run};

/// Hand-computed FLOPs of `tests/data/models/conv_cost.onnx` (see the
/// generator): 2 · outputs · products per output.
const GROUPED: f64 = 2.0 * 32.0 * 32.0 * 32.0 * 4.0 * 9.0;
const DILATED: f64 = 2.0 * 16.0 * 28.0 * 28.0 * 32.0 * 9.0;
const STRIDED: f64 = 2.0 * 24.0 * 14.0 * 14.0 * 16.0 * 9.0;
const TRANSPOSED: f64 = 2.0 * 24.0 * 14.0 * 14.0 * 8.0 * 4.0;
const GEMM: f64 = 2.0 * 8.0 * 10.0 * 784.0;
const BATCHED: f64 = 2.0 * 8.0 * 28.0 * 28.0 * 28.0;

fn profile(opt_level: OptLevel) -> onnx_workbench::engine::RunRecord {
    let record = run(
        &repo_path("tests/data/models/conv_cost.onnx"),
        ProfileConfig {
            opt_level,
            ..quick_config()
        },
    );
    assert!(
        record.layers.is_some(),
        "{:?}",
        record.layer_profiling_error
    );
    record
}

fn node<'a>(layers: &'a LayerReport, name: &str) -> &'a LayerStats {
    layers
        .nodes
        .iter()
        .find(|node| node.node == name)
        .unwrap_or_else(|| {
            let names: Vec<&str> = layers.nodes.iter().map(|n| n.node.as_str()).collect();
            panic!("no node {name} in {names:?}")
        })
}

#[test]
fn flops_of_the_unoptimized_graph_match_hand_counts() {
    let record = profile(OptLevel::Disable);
    let layers = record.layers.as_ref().expect("layers");
    for (name, flops) in [
        ("conv_grouped", GROUPED),
        ("conv_dilated", DILATED),
        ("conv_strided", STRIDED),
        ("conv_transpose", TRANSPOSED),
        ("fc", GEMM),
        ("batched_matmul", BATCHED),
        ("flatten_rows", 0.0),
    ] {
        assert_eq!(node(layers, name).flops, Some(flops), "{name}");
    }
    let grouped = node(layers, "conv_grouped");
    assert_eq!(grouped.output_shapes, "float[1,32,32,32]");
    // Input, weight and output, float32.
    assert_eq!(
        grouped.bytes,
        Some(4.0 * (16.0 * 1024.0 + 32.0 * 4.0 * 9.0 + 32.0 * 1024.0))
    );
    // The Gemm's weight is prepacked (not in the profile) and still counted.
    assert_eq!(
        node(layers, "fc").bytes,
        Some(4.0 * (8.0 * 784.0 + 8.0 * 10.0 + 10.0 * 784.0))
    );

    let peaks = layers.machine_peaks.as_ref().expect("machine peaks");
    assert!(
        peaks.gflops_per_s.is_finite() && peaks.gflops_per_s > 0.0,
        "{peaks:?}"
    );
    assert!(
        peaks.gbytes_per_s.is_finite() && peaks.gbytes_per_s > 0.0,
        "{peaks:?}"
    );
    assert_eq!(peaks.provider, "CPU");

    // The session document carries the figures; the report and CSV show them.
    let document = SessionDocument::new(record);
    let json = serde_json::to_value(&document).expect("json");
    let nodes = json["layers"]["nodes"].as_array().expect("nodes");
    assert!(nodes.iter().all(|node| node.get("bytes").is_some()));
    assert!(
        nodes
            .iter()
            .any(|node| node["node"] == "conv_dilated" && node["flops"] == DILATED)
    );
    assert!(json["layers"]["machine_peaks"]["gflops_per_s"].as_f64() > Some(0.0));
    let report = render_report(&document);
    assert!(report.contains("GFLOP/s"), "{report}");
    assert!(report.contains("machine peaks (CPU"), "{report}");
    let dir = tempfile::tempdir().expect("tempdir");
    write_csv(&document, dir.path()).expect("csv");
    let csv = std::fs::read_to_string(dir.path().join("layers.csv")).expect("layers.csv");
    let header = csv.lines().next().expect("header");
    for column in ["flops", "bytes", "source_nodes"] {
        assert!(header.split(',').any(|c| c == column), "{header}");
    }
    assert!(
        csv.lines()
            .any(|line| line.starts_with("conv_dilated,") && line.contains(",7225344")),
        "{csv}"
    );
}

#[test]
fn nchwc_convolutions_count_the_model_channels_and_keep_the_padded_work_apart() {
    let record = profile(OptLevel::All);
    let layers = record.layers.as_ref().expect("layers");
    // The dilated and strided Convs run as NCHWc Convs named after their
    // outputs; 16 output channels need no padding.
    assert_eq!(node(layers, "b_nchwc").flops, Some(DILATED));
    // 24 output channels are padded to the block size (8 or 16) by ONNX
    // Runtime: the node counts the model's 24, and the kernel's padded
    // work is kept apart.
    let strided = node(layers, "c_nchwc");
    let channels: f64 = strided
        .output_shapes
        .trim_start_matches("float[")
        .split(',')
        .nth(1)
        .and_then(|dim| dim.parse().ok())
        .expect("output channels");
    assert!(channels >= 24.0 && channels % 8.0 == 0.0, "{channels}");
    assert_eq!(strided.flops, Some(STRIDED));
    let model = layers.model_flops.as_ref().expect("the model's count");
    if channels > 24.0 {
        assert_eq!(
            model.kernel_flops.get("c_nchwc"),
            Some(&(STRIDED * channels / 24.0))
        );
    }
    assert_eq!(node(layers, "conv_transpose").flops, Some(TRANSPOSED));
    assert_eq!(node(layers, "fc").flops, Some(GEMM));
}

#[test]
fn per_node_flops_add_up_to_what_inspect_counts() {
    use onnx_workbench::model::{Model, ShapeBinding, estimate_flops_with};
    for (fixture, batch) in [
        ("tests/data/models/conv_cost.onnx", None),
        ("tests/data/models/mobilenet_v2_blocks.onnx", Some(2)),
    ] {
        let record = run(
            &repo_path(fixture),
            ProfileConfig {
                opt_level: OptLevel::All,
                batch,
                ..quick_config()
            },
        );
        let layers = record.layers.as_ref().expect("layers");
        // What `inspect` counts at the shapes the run used.
        let binding = ShapeBinding {
            input_shapes: record
                .inputs
                .iter()
                .map(|input| (input.name.clone(), input.shape.clone()))
                .collect(),
            ..ShapeBinding::default()
        };
        let inspect =
            estimate_flops_with(&Model::load(&repo_path(fixture)).expect("model"), &binding).total
                as f64;
        let model = layers.model_flops.as_ref().expect("the model's count");
        assert_eq!(model.total, inspect, "{fixture}");
        assert_eq!(model.on_profiled_nodes, inspect, "{fixture}");
        // The session's model summary is at the run's shapes too.
        let summary = record.model.as_ref().expect("model info");
        assert_eq!(
            summary
                .summary
                .flops
                .as_ref()
                .map(|flops| flops.total as f64),
            Some(inspect),
            "{fixture}"
        );
        // The nodes that do the model's arithmetic add up to it; the rest
        // are element-wise.
        let convs_and_products: f64 = layers
            .nodes
            .iter()
            .filter(|node| {
                [
                    "Conv",
                    "FusedConv",
                    "Gemm",
                    "FusedGemm",
                    "MatMul",
                    "ConvTranspose",
                ]
                .contains(&node.op_type.as_str())
            })
            .filter_map(|node| node.flops)
            .sum();
        assert_eq!(convs_and_products, inspect, "{fixture}");
        let report = render_report(&SessionDocument::new(record));
        assert!(
            report.contains("are the model's own count at the run's shapes"),
            "{report}"
        );
    }
}

#[test]
fn peaks_are_measured_through_onnx_runtime_and_cached() {
    use onnx_workbench::engine::{peaks, runtime::runtime};
    let runtime = runtime().expect("runtime");
    let started = std::time::Instant::now();
    let measured = peaks::measure(runtime, &quick_config()).expect("measured");
    let took = started.elapsed();
    assert!(
        measured.gflops_per_s.is_finite() && measured.gflops_per_s > 0.1,
        "{measured:?}"
    );
    assert!(
        measured.gbytes_per_s.is_finite() && measured.gbytes_per_s > 0.1,
        "{measured:?}"
    );
    assert!(measured.method.contains("MatMul"), "{}", measured.method);
    // Debug builds are slower than the shipped binary; still well bounded.
    assert!(took.as_secs_f64() < 10.0, "{took:?}");

    let dir = tempfile::tempdir().expect("tempdir");
    let cache = dir.path().join(peaks::CACHE_FILE_NAME);
    let first = peaks::machine_peaks(runtime, &quick_config(), "test machine", Some(&cache))
        .expect("measured");
    let second = peaks::machine_peaks(runtime, &quick_config(), "test machine", Some(&cache))
        .expect("cached");
    assert_eq!(first, second, "the second call reads the cache");
    let stored = peaks::load_cache(&cache).expect("cache");
    assert_eq!(stored.entries.len(), 1);
}

#[test]
fn sampled_profiling_gets_the_costs_and_peaks_too() {
    use onnx_workbench::engine::LayerProfiling;
    let record = run(
        &repo_path("tests/data/models/conv_cost.onnx"),
        ProfileConfig {
            opt_level: OptLevel::Disable,
            layer_profiling: LayerProfiling::Sampled { every: 3 },
            ..quick_config()
        },
    );
    let layers = record
        .layers
        .as_ref()
        .unwrap_or_else(|| panic!("{:?}", record.layer_profiling_error));
    assert_eq!(node(layers, "conv_strided").flops, Some(STRIDED));
    // The prepacked ConvTranspose weight comes from the model file.
    assert_eq!(node(layers, "conv_transpose").flops, Some(TRANSPOSED));
    assert!(layers.machine_peaks.is_some(), "{:?}", record.notes);
}
