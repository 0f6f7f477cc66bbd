//! Unit tests of the matcher on hand-built graphs shaped like what ONNX
//! Runtime 1.31 writes.

use super::*;
use crate::metrics::layers::LayerStats;

use crate::model::test_util::named_node as node;

fn graph(nodes: Vec<NodeProto>, initializers: &[&str]) -> GraphProto {
    GraphProto {
        node: nodes,
        initializer: initializers
            .iter()
            .map(|name| crate::model::onnx::TensorProto {
                name: Some((*name).to_owned()),
                ..Default::default()
            })
            .collect(),
        ..GraphProto::default()
    }
}

fn mapped(map: &SourceMap, name: &str) -> (NodeOrigin, Vec<String>) {
    let found = map.lookup(name);
    (found.origin, found.source_nodes)
}

fn ids(list: &[&str]) -> Vec<String> {
    list.iter().map(|s| (*s).to_owned()).collect()
}

/// Conv+BatchNorm+Relu, Conv+Relu, residual Add and MatMul+Add, as ONNX
/// Runtime 1.31 rewrites them at level all on CPU.
fn conv_bn_relu() -> (GraphProto, GraphProto) {
    let source = graph(
        vec![
            node("Conv", "conv1", &["x", "w1"], &["c1"]),
            node(
                "BatchNormalization",
                "bn1",
                &["c1", "s", "b", "m", "v"],
                &["b1"],
            ),
            node("Relu", "relu1", &["b1"], &["r1"]),
            node("Conv", "conv2", &["r1", "w2", "b2"], &["c2"]),
            node("Relu", "relu2", &["c2"], &["r2"]),
            node("Add", "residual", &["r1", "r2"], &["sum"]),
            node("GlobalAveragePool", "gap", &["sum"], &["gap"]),
            node("Flatten", "flatten", &["gap"], &["flat"]),
            node("MatMul", "fc_matmul", &["flat", "fc_w"], &["mm"]),
            node("Add", "fc_add", &["mm", "fc_b"], &["y"]),
        ],
        &["w1", "s", "b", "m", "v", "w2", "b2", "fc_w", "fc_b"],
    );
    let mut optimized = graph(
        vec![
            node("Conv", "r1_nchwc", &["x", "reorder", "bn_b"], &["rt0"]),
            node("Conv", "r2_nchwc", &["rt0", "rt1", "b2"], &["rt2"]),
            node("Add", "residual", &["rt0", "rt2"], &["rt3"]),
            node("GlobalAveragePool", "gap_nchwc", &["rt3"], &["rt4"]),
            node("ReorderOutput", "ReorderOutput", &["rt4"], &["gap"]),
            node("Flatten", "flatten", &["gap"], &["flat"]),
            node(
                "Gemm",
                "fc_matmul/MatMulAddFusion",
                &["flat", "fc_w", "fc_b"],
                &["y"],
            ),
        ],
        &["reorder", "bn_b", "rt1", "b2", "fc_w", "fc_b"],
    );
    for position in [0, 1, 3, 4] {
        optimized.node[position].domain = Some("com.microsoft.nchwc".to_owned());
    }
    (source, optimized)
}

#[test]
fn fused_and_layout_nodes_list_the_nodes_they_execute() {
    let (source, optimized) = conv_bn_relu();
    let map = map_graphs(&source, &optimized);
    assert_eq!(
        mapped(&map, "r1_nchwc"),
        (NodeOrigin::Layout, ids(&["conv1", "bn1", "relu1"]))
    );
    assert_eq!(
        mapped(&map, "r2_nchwc"),
        (NodeOrigin::Layout, ids(&["conv2", "relu2"]))
    );
    assert_eq!(
        mapped(&map, "residual"),
        (NodeOrigin::Source, ids(&["residual"]))
    );
    assert_eq!(
        mapped(&map, "gap_nchwc"),
        (NodeOrigin::Layout, ids(&["gap"]))
    );
    assert_eq!(
        mapped(&map, "ReorderOutput"),
        (NodeOrigin::Inserted, vec![])
    );
    assert_eq!(
        mapped(&map, "flatten"),
        (NodeOrigin::Source, ids(&["flatten"]))
    );
    assert_eq!(
        mapped(&map, "fc_matmul/MatMulAddFusion"),
        (NodeOrigin::Fused, ids(&["fc_matmul", "fc_add"]))
    );
    assert_eq!(
        mapped(&map, "not_in_graph"),
        (NodeOrigin::Unmatched, vec![])
    );
    assert_eq!(map.runtime_source_nodes, 10);
}

#[test]
fn unnamed_nodes_are_found_by_ort_index_and_constants_are_not_claimed() {
    // Constant weights, unnamed nodes: ids are #<index in graph.node>,
    // profile names <op>_<index among non-Constant nodes>.
    let source = graph(
        vec![
            node("Constant", "", &[], &["w1"]),
            node("Conv", "", &["x", "w1"], &["t0"]),
            node("Relu", "", &["t0"], &["t1"]),
            node("Constant", "", &[], &["shape"]),
            node("Reshape", "", &["t1", "shape"], &["t2"]),
            node("Sigmoid", "", &["t2"], &["y"]),
        ],
        &[],
    );
    let optimized = graph(
        vec![
            node("FusedConv", "fused ", &["x", "w1"], &["t1"]),
            node("Reshape", "", &["t1", "shape"], &["t2"]),
            node("Sigmoid", "", &["t2"], &["y"]),
        ],
        &["w1", "shape"],
    );
    let map = map_graphs(&source, &optimized);
    assert_eq!(
        mapped(&map, "fused "),
        (NodeOrigin::Fused, ids(&["#1", "#2"]))
    );
    assert_eq!(
        mapped(&map, "Reshape_2"),
        (NodeOrigin::Source, ids(&["#4"]))
    );
    assert_eq!(
        mapped(&map, "Sigmoid_3"),
        (NodeOrigin::Source, ids(&["#5"]))
    );
    assert_eq!(map.runtime_source_nodes, 4);
}

#[test]
fn a_conv_with_a_sum_input_covers_the_add_it_absorbed() {
    // The NCHWc Conv is named after `t2` but also adds `t1` (its fourth
    // input): it computes `t3`, and the QuickGelu after it `t4`, `t5`.
    let source = graph(
        vec![
            node("Conv", "", &["t1", "w"], &["t2"]),
            node("Add", "", &["t1", "t2"], &["t3"]),
            node("Sigmoid", "", &["t3"], &["t4"]),
            node("Mul", "", &["t3", "t4"], &["t5"]),
        ],
        &["w"],
    );
    let optimized = graph(
        vec![
            node("Conv", "t2_nchwc", &["t1", "w", "", "t1"], &["rt3"]),
            node("QuickGelu", "/QuickGeluFusion/", &["rt3"], &["t5"]),
        ],
        &["w"],
    );
    let map = map_graphs(&source, &optimized);
    assert_eq!(
        mapped(&map, "t2_nchwc"),
        (NodeOrigin::Layout, ids(&["#0", "#1"]))
    );
    assert_eq!(
        mapped(&map, "/QuickGeluFusion/"),
        (NodeOrigin::Fused, ids(&["#2", "#3"]))
    );
}

#[test]
fn a_walk_into_another_nodes_work_is_unmatched_not_guessed() {
    // The first node's output was renamed and its name says nothing:
    // walking back from `t5` for the second node reaches `t1`, which is
    // not its input, so neither is placed.
    let source = graph(
        vec![
            node("Conv", "", &["t1", "w"], &["t2"]),
            node("Add", "", &["t1", "t2"], &["t3"]),
            node("Sigmoid", "", &["t3"], &["t4"]),
            node("Mul", "", &["t3", "t4"], &["t5"]),
        ],
        &["w"],
    );
    let optimized = graph(
        vec![
            node("FusedConv", "opaque", &["t1", "w"], &["rt3"]),
            node("QuickGelu", "/QuickGeluFusion/", &["rt3"], &["t5"]),
        ],
        &["w"],
    );
    let map = map_graphs(&source, &optimized);
    assert_eq!(mapped(&map, "opaque"), (NodeOrigin::Unmatched, vec![]));
    assert_eq!(
        mapped(&map, "/QuickGeluFusion/"),
        (NodeOrigin::Unmatched, vec![])
    );
}

#[test]
fn an_activation_fused_after_naming_is_covered_and_nchwc_reshapes_are_inserted() {
    // ResNet-style: Conv+BN+Sum+Relu as one NCHWc Conv named after the
    // BatchNorm output; the residual Add of a MobileNet block runs in
    // NCHWc between Reshapes ONNX Runtime inserted.
    let source = graph(
        vec![
            node("Conv", "c", &["r0", "w"], &["a"]),
            node(
                "BatchNormalization",
                "bn",
                &["a", "s", "b", "m", "v"],
                &["r75"],
            ),
            node("Sum", "sum", &["r75", "r0"], &["r76"]),
            node("Relu", "relu", &["r76"], &["r77"]),
            node("Add", "add", &["r77", "r0"], &["y"]),
        ],
        &["w", "s", "b", "m", "v"],
    );
    let mut conv = node("Conv", "r75_nchwc", &["n0", "wr", "bias", "n0"], &["n1"]);
    conv.attribute.push(crate::model::onnx::AttributeProto {
        name: Some("activation".to_owned()),
        s: Some(b"Relu".to_vec()),
        ..Default::default()
    });
    let optimized = graph(
        vec![
            node("ReorderInput", "ReorderInput", &["r0"], &["n0"]),
            conv,
            node("Reshape", "Reshape", &["n1", "shape"], &["n2"]),
            node("Reshape", "Reshape_token_4", &["n0", "shape"], &["n3"]),
            node("Add", "add", &["n2", "n3"], &["n4"]),
            node("Reshape", "Reshape_token_5", &["n4", "shape2"], &["n5"]),
            node("ReorderOutput", "ReorderOutput", &["n5"], &["y"]),
        ],
        &["wr", "bias", "shape", "shape2"],
    );
    let map = map_graphs(&source, &optimized);
    assert_eq!(
        mapped(&map, "r75_nchwc"),
        (NodeOrigin::Layout, ids(&["c", "bn", "sum", "relu"]))
    );
    assert_eq!(mapped(&map, "add"), (NodeOrigin::Source, ids(&["add"])));
    assert_eq!(index_derived(&source, "r75_bn_nchwc"), Some(1));
    assert_eq!(index_derived(&source, "y_add_nchwc"), Some(4));
    assert_eq!(index_derived(&source, "nothing_bn_nchwc"), None);
    for inserted in ["Reshape", "Reshape_token_4", "Reshape_token_5"] {
        assert_eq!(mapped(&map, inserted), (NodeOrigin::Inserted, vec![]));
    }
}

#[test]
fn memcpy_is_inserted_and_passes_lineage_through() {
    let source = graph(
        vec![
            node("MatMul", "mm", &["x", "w"], &["a"]),
            node("Relu", "relu", &["a"], &["y"]),
        ],
        &["w"],
    );
    let optimized = graph(
        vec![
            node("MemcpyFromHost", "Memcpy", &["x"], &["x_dev"]),
            node("MatMul", "mm", &["x_dev", "w"], &["a"]),
            node("Relu", "relu", &["a"], &["y_dev"]),
            node("MemcpyToHost", "Memcpy_token_1", &["y_dev"], &["y"]),
        ],
        &["w"],
    );
    let map = map_graphs(&source, &optimized);
    assert_eq!(mapped(&map, "Memcpy"), (NodeOrigin::Inserted, vec![]));
    assert_eq!(
        mapped(&map, "Memcpy_token_1"),
        (NodeOrigin::Inserted, vec![])
    );
    assert_eq!(mapped(&map, "mm"), (NodeOrigin::Source, ids(&["mm"])));
    assert_eq!(mapped(&map, "relu"), (NodeOrigin::Source, ids(&["relu"])));
}

#[test]
fn gemm_reshapes_are_inserted_and_the_gemm_takes_matmul_and_add() {
    let source = graph(
        vec![
            node("LayerNormalization", "ln", &["x", "g", "b"], &["ln_out"]),
            node("MatMul", "proj_matmul", &["ln_out", "w"], &["proj"]),
            node("Add", "proj_add", &["proj", "bias"], &["y"]),
        ],
        &["g", "b", "w", "bias"],
    );
    let optimized = graph(
        vec![
            node("LayerNormalization", "ln", &["x", "g", "b"], &["ln_out"]),
            node(
                "Reshape",
                "gemm_input_reshape",
                &["ln_out", "s1"],
                &["in_arg"],
            ),
            node(
                "Gemm",
                "proj_matmul/MatMulAddFusion",
                &["in_arg", "w", "bias"],
                &["out_arg"],
            ),
            node(
                "Reshape",
                "gemm_output_reshape_token_3",
                &["out_arg", "s2"],
                &["y"],
            ),
        ],
        &["g", "b", "w", "bias", "s1", "s2"],
    );
    let map = map_graphs(&source, &optimized);
    assert_eq!(
        mapped(&map, "proj_matmul/MatMulAddFusion"),
        (NodeOrigin::Fused, ids(&["proj_matmul", "proj_add"]))
    );
    assert_eq!(
        mapped(&map, "gemm_input_reshape"),
        (NodeOrigin::Inserted, vec![])
    );
    assert_eq!(
        mapped(&map, "gemm_output_reshape_token_3"),
        (NodeOrigin::Inserted, vec![])
    );
    assert_eq!(mapped(&map, "ln"), (NodeOrigin::Source, ids(&["ln"])));
}

fn index_derived(source: &GraphProto, name: &str) -> Option<usize> {
    SourceIndex::new(source).derived(name)
}

fn stats(node: &str, micros: u64) -> LayerStats {
    LayerStats {
        node: node.to_owned(),
        total_micros: micros,
        ..LayerStats::default()
    }
}

#[test]
fn apply_fills_the_report_and_the_summary_counts_time() {
    let (source, optimized) = conv_bn_relu();
    let map = map_graphs(&source, &optimized);
    let mut report = LayerReport::for_tests(
        vec![
            stats("r1_nchwc", 600),
            stats("ReorderOutput", 100),
            stats("mystery", 50),
            stats("fc_matmul/MatMulAddFusion", 250),
        ],
        1000,
    );
    assert_eq!(summary_line(&report), None);
    apply(&mut report, &map, None);
    assert_eq!(
        report.nodes[0].source_nodes,
        ids(&["conv1", "bn1", "relu1"])
    );
    assert_eq!(report.nodes[2].origin, NodeOrigin::Unmatched);
    let summary = summary(&report).expect("mapped");
    assert_eq!(summary.mapped_optimized, 2);
    assert_eq!(summary.covered_source, 5);
    assert_eq!(summary.runtime_source_nodes, 10);
    assert!((summary.inserted_share - 0.1).abs() < 1e-9);
    assert!((summary.unmatched_share - 0.05).abs() < 1e-9);
    assert_eq!(
        summary.to_string(),
        "source mapping: 2 of 4 optimized nodes map to 5 of 10 source nodes; 10.0 % of kernel time inserted by ONNX Runtime, 5.0 % unmatched"
    );
    let mut failed = report.clone();
    for node in &mut failed.nodes {
        node.origin = NodeOrigin::Unknown;
    }
    mark_unavailable(&mut failed, "ONNX Runtime did not write it".to_owned());
    assert_eq!(
        summary_line(&failed).as_deref(),
        Some("source mapping: none (ONNX Runtime did not write it)")
    );
}
