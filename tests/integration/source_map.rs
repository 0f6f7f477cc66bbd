//! Source mapping on models ONNX Runtime rewrites: fused nodes list every
//! node they fused, layout nodes the node they came from, inserted nodes
//! none; unnamed nodes are `#<index>`.

use std::collections::BTreeMap;

use onnx_workbench::{
    engine::{LayerProfiling, OptLevel, ProfileConfig, RunStatus},
    metrics::{
        layers::{LayerReport, NodeOrigin},
        source_map,
    },
};

use super::{quick_config, repo_path, run};

fn profile(fixture: &str, config: ProfileConfig) -> LayerReport {
    let record = run(&repo_path(&format!("tests/data/models/{fixture}")), config);
    assert_eq!(record.status, RunStatus::Completed, "{:?}", record.failure);
    record
        .layers
        .unwrap_or_else(|| panic!("{:?}", record.layer_profiling_error))
}

/// Optimized node name → (origin, source nodes).
fn mapping(report: &LayerReport) -> BTreeMap<String, (NodeOrigin, Vec<String>)> {
    report
        .nodes
        .iter()
        .map(|node| (node.node.clone(), (node.origin, node.source_nodes.clone())))
        .collect()
}

fn ids(list: &[&str]) -> Vec<String> {
    list.iter().map(|s| (*s).to_owned()).collect()
}

/// The optimized node that executes `source`.
fn executing<'a>(
    map: &'a BTreeMap<String, (NodeOrigin, Vec<String>)>,
    source: &str,
) -> (&'a String, &'a (NodeOrigin, Vec<String>)) {
    map.iter()
        .find(|(_, (_, nodes))| nodes.iter().any(|node| node == source))
        .unwrap_or_else(|| panic!("no node executes {source}: {map:#?}"))
}

#[test]
fn conv_batchnorm_relu_and_gemm_fusions_list_their_source_nodes() {
    let report = profile("fusion_conv_bn_relu.onnx", quick_config());
    let map = mapping(&report);
    // ONNX Runtime 1.31 at level all on CPU: BatchNorm folded into the Conv,
    // Relu fused, NCHWc layout, MatMul+Add as Gemm.
    let (name, (origin, nodes)) = executing(&map, "bn1");
    assert_eq!(nodes, &ids(&["conv1", "bn1", "relu1"]), "{name}");
    assert!(matches!(origin, NodeOrigin::Layout | NodeOrigin::Fused));
    let (_, (_, nodes)) = executing(&map, "conv2");
    assert_eq!(nodes, &ids(&["conv2", "relu2"]));
    let (name, (origin, nodes)) = executing(&map, "fc_add");
    assert_eq!(*origin, NodeOrigin::Fused, "{name}");
    assert_eq!(nodes, &ids(&["fc_matmul", "fc_add"]));
    assert!(
        map.values()
            .any(|(origin, nodes)| *origin == NodeOrigin::Inserted && nodes.is_empty()),
        "no ReorderOutput seen as inserted: {map:#?}"
    );
    assert!(
        map.values()
            .all(|(origin, _)| *origin != NodeOrigin::Unmatched),
        "{map:#?}"
    );
    let summary = source_map::summary(&report).expect("a mapping");
    assert_eq!(summary.runtime_source_nodes, 10);
    assert_eq!(summary.covered_source, 10);
    assert!(summary.inserted_share > 0.0);
}

#[test]
fn layer_norm_pattern_maps_to_one_layer_normalization() {
    let report = profile("fusion_layer_norm.onnx", quick_config());
    let map = mapping(&report);
    let (name, (origin, nodes)) = executing(&map, "ln_sqrt");
    assert_eq!(*origin, NodeOrigin::Fused, "{name}");
    assert_eq!(
        nodes,
        &ids(&[
            "ln_mean",
            "ln_sub",
            "ln_pow",
            "ln_var",
            "ln_add_eps",
            "ln_sqrt",
            "ln_div",
            "ln_scale",
            "ln_shift"
        ])
    );
    let (_, (_, nodes)) = executing(&map, "proj_add");
    assert_eq!(nodes, &ids(&["proj_matmul", "proj_add"]));
}

#[test]
fn unnamed_nodes_map_to_their_index_and_constants_are_never_listed() {
    let report = profile("unnamed_nodes.onnx", quick_config());
    let map = mapping(&report);
    // Conv #2 + Relu #3 fused in NCHWc; the last GlobalAveragePool (#9)
    // keeps its place and ONNX Runtime names it by its own index.
    let (_, (_, nodes)) = executing(&map, "#3");
    assert_eq!(nodes, &ids(&["#2", "#3"]));
    let (name, (origin, nodes)) = executing(&map, "#9");
    assert_eq!(
        (origin, nodes),
        (&NodeOrigin::Source, &ids(&["#9"])),
        "{name}"
    );
    for constant in ["#0", "#1", "#4"] {
        assert!(
            map.values()
                .all(|(_, nodes)| !nodes.iter().any(|n| n == constant)),
            "{constant} is a Constant: {map:#?}"
        );
    }
    // Nothing is placed by guess: every node is mapped, inserted or
    // unmatched, and unmatched ones list nothing.
    for (name, (origin, nodes)) in &map {
        assert_ne!(*origin, NodeOrigin::Unknown, "{name}");
        assert_eq!(
            nodes.is_empty(),
            matches!(origin, NodeOrigin::Inserted | NodeOrigin::Unmatched),
            "{name}"
        );
    }
}

#[test]
fn without_optimization_every_node_is_itself() {
    let report = profile(
        "fusion_conv_bn_relu.onnx",
        ProfileConfig {
            opt_level: OptLevel::Disable,
            ..quick_config()
        },
    );
    for node in &report.nodes {
        assert_eq!(node.origin, NodeOrigin::Source, "{}", node.node);
        assert_eq!(node.source_nodes, vec![node.node.clone()]);
    }
}

#[test]
fn sampled_profiling_is_mapped_too() {
    let report = profile(
        "fusion_conv_bn_relu.onnx",
        ProfileConfig {
            duration_secs: Some(1.0),
            layer_profiling: LayerProfiling::Sampled { every: 5 },
            ..quick_config()
        },
    );
    let map = mapping(&report);
    let (_, (_, nodes)) = executing(&map, "bn1");
    assert_eq!(nodes, &ids(&["conv1", "bn1", "relu1"]));
    let line = source_map::summary_line(&report).expect("a summary");
    assert!(line.starts_with("source mapping: "), "{line}");
}

#[test]
fn annotated_model_carries_the_timings_and_still_runs() {
    use onnx_workbench::{
        model::Model,
        session::{
            SessionDocument,
            annotate::{DOC_MARKER, METADATA_KEY, write_annotated_model},
        },
    };
    let model_path = repo_path("tests/data/models/fusion_conv_bn_relu.onnx");
    let record = run(&model_path, quick_config());
    assert_eq!(record.status, RunStatus::Completed, "{:?}", record.failure);
    let document = SessionDocument::new(record);
    let dir = tempfile::tempdir().expect("temp dir");
    let output = dir.path().join("annotated.onnx");
    let summary = write_annotated_model(&document, &model_path, &output).expect("annotated");
    assert_eq!(summary.annotated_nodes, 10, "{summary}");

    let original = Model::load(&model_path).expect("original").proto;
    let annotated = Model::load(&output).expect("annotated").proto;
    let graph = annotated.graph.as_ref().expect("graph");
    let bn = graph
        .node
        .iter()
        .find(|node| node.name() == "bn1")
        .expect("bn1");
    let doc = bn.doc_string();
    assert!(doc.starts_with(DOC_MARKER), "{doc}");
    assert!(
        doc.contains("mean per run") && doc.contains("% of model_run"),
        "{doc}"
    );
    assert!(doc.contains("provider: CPU"), "{doc}");
    assert!(doc.contains("shared with: conv1, relu1"), "{doc}");
    let meta = annotated
        .metadata_props
        .iter()
        .find(|entry| entry.key() == METADATA_KEY)
        .expect("session metadata");
    let sha = &document.run.model.as_ref().expect("model info").sha256;
    assert!(meta.value().contains(sha.as_str()), "{}", meta.value());

    // Apart from the doc strings and the metadata entry, the same model.
    let mut stripped = annotated.clone();
    stripped
        .metadata_props
        .retain(|entry| entry.key() != METADATA_KEY);
    if let (Some(stripped), Some(original)) = (stripped.graph.as_mut(), original.graph.as_ref()) {
        for (node, before) in stripped.node.iter_mut().zip(&original.node) {
            node.doc_string = before.doc_string.clone();
        }
    }
    assert_eq!(stripped, original);

    // It still loads and runs in ONNX Runtime.
    let rerun = run(&output, quick_config());
    assert_eq!(rerun.status, RunStatus::Completed, "{:?}", rerun.failure);

    // Annotating the annotated copy replaces the annotation, not appends.
    let again = dir.path().join("again.onnx");
    let mut changed = document.clone();
    if let Some(info) = changed.run.model.as_mut() {
        info.sha256 = onnx_workbench::engine::runtime::sha256_hex(
            &std::fs::read(&output).expect("read annotated"),
        );
    }
    write_annotated_model(&changed, &output, &again).expect("re-annotated");
    let twice = Model::load(&again).expect("again").proto;
    let doc = twice.graph.as_ref().expect("graph").node[1].doc_string();
    assert_eq!(doc.matches(DOC_MARKER).count(), 1, "{doc}");
}

#[test]
fn annotating_a_missing_or_changed_model_is_a_clear_error() {
    use onnx_workbench::session::{
        SessionDocument,
        annotate::{write_annotated_model, write_annotated_session_model},
    };
    let model_path = repo_path("tests/data/models/unnamed_nodes.onnx");
    let record = run(&model_path, quick_config());
    let document = SessionDocument::new(record);
    let dir = tempfile::tempdir().expect("temp dir");
    let output = dir.path().join("out.onnx");
    let missing = dir.path().join("gone.onnx");
    let err = write_annotated_model(&document, &missing, &output)
        .expect_err("missing model")
        .to_string();
    assert!(
        err.contains("missing or unreadable") && err.contains("gone.onnx"),
        "{err}"
    );
    let other = repo_path("tests/data/models/fusion_layer_norm.onnx");
    let err = write_annotated_model(&document, &other, &output)
        .expect_err("other model")
        .to_string();
    assert!(err.contains("changed since the session"), "{err}");
    let err = write_annotated_model(&document, &model_path, &model_path)
        .expect_err("same file")
        .to_string();
    assert!(err.contains("replace the model file"), "{err}");
    assert!(!output.exists());
    // The GUI's route: the session's own model path.
    let summary = write_annotated_session_model(&document, &output).expect("annotated");
    assert!(summary.annotated_nodes > 0);
}

#[test]
fn separate_pass_records_node_memory_and_the_arena_peak() {
    let report = profile("fusion_conv_bn_relu.onnx", quick_config());
    let memory = report.memory.as_ref().expect("memory report");
    assert_eq!(memory.note, None);
    let map = mapping(&report);
    let (conv, _) = executing(&map, "bn1");
    let node = memory
        .nodes
        .iter()
        .find(|node| &node.node == conv)
        .unwrap_or_else(|| panic!("{conv} not in {:?}", memory.nodes));
    // float32 [1, 16, 32, 32]
    assert_eq!(node.output_bytes, 16 * 32 * 32 * 4);
    let peak = memory.arena_peak_bytes.expect("arena peak");
    assert!(peak >= node.output_bytes, "{peak}");
    assert!(memory.arena_held_bytes.expect("held") >= peak);
    let text = onnx_workbench::metrics::memory::summary_lines(memory).join("\n");
    assert!(text.contains("arena peak"), "{text}");
}

#[test]
fn profile_command_prints_the_mapping_and_writes_the_annotated_model() {
    let dir = tempfile::tempdir().expect("temp dir");
    let output_path = dir.path().join("annotated.onnx");
    let model = repo_path("tests/data/models/fusion_layer_norm.onnx");
    let output = std::process::Command::new(env!("CARGO_BIN_EXE_onnx-workbench"))
        .args(["profile", "--quiet", "--requests", "5", "--warmup", "0s"])
        .arg(&model)
        .arg("--export-annotated")
        .arg(&output_path)
        .output()
        .expect("run onnx-workbench");
    let stdout = String::from_utf8_lossy(&output.stdout);
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(output.status.success(), "{stderr}");
    assert!(stdout.contains("source mapping: "), "{stdout}");
    assert!(stdout.contains("memory: arena peak"), "{stdout}");
    assert!(stderr.contains("annotated model written to"), "{stderr}");
    let annotated = onnx_workbench::model::Model::load(&output_path).expect("annotated");
    let graph = annotated.proto.graph.expect("graph");
    assert!(
        graph
            .node
            .iter()
            .all(|node| node.doc_string().contains("time: "))
    );
}
