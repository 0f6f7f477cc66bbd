//! Structured pruning on the MobileNetV2-style fixture (depthwise, residual,
//! squeeze-excitation, Concat, Flatten into Gemm): what is removed, which
//! layers go together, and that ONNX Runtime runs the result.

use std::collections::BTreeMap;
use std::process::Command;

use onnx_workbench::{
    engine::{ProfileConfig, verify},
    model::{Model, infer_shapes},
    transform::{PruneGroup, PruneMode, PruneReport, PruneSpec, TransformSpec},
};

use crate::repo_path;

const FIXTURE: &str = "tests/data/models/mobilenet_v2_blocks.onnx";

fn structured(sparsity: f64) -> TransformSpec {
    TransformSpec {
        prune: Some(PruneSpec {
            sparsity,
            mode: PruneMode::Structured,
            ..PruneSpec::default()
        }),
        ..TransformSpec::default()
    }
}

fn group_with<'r>(report: &'r PruneReport, member: &str) -> &'r PruneGroup {
    report
        .groups
        .iter()
        .find(|g| g.members.iter().any(|m| m == member))
        .unwrap_or_else(|| panic!("no group with {member}: {:?}", report.groups))
}

fn output_shapes(model: &Model) -> BTreeMap<String, Vec<i64>> {
    let shapes = infer_shapes(model, &BTreeMap::new()).shapes;
    model
        .proto
        .graph
        .as_ref()
        .expect("graph")
        .output
        .iter()
        .map(|o| {
            let name = o.name().to_owned();
            let shape = shapes.get(&name).cloned().unwrap_or_default();
            (name, shape)
        })
        .collect()
}

#[test]
fn half_the_channels_of_a_mobilenet_stack_go_and_it_still_runs() {
    let model = Model::load(&repo_path(FIXTURE)).expect("fixture loads");
    let result = verify::apply_checked(&model, &structured(0.5), &ProfileConfig::default())
        .expect("pruned model loads and runs in ONNX Runtime");
    let prune = result.report.prune.as_ref().expect("prune report");

    // The headline numbers are model-wide and real.
    let params_removed = 1.0 - prune.model_params_after as f64 / prune.model_params_before as f64;
    let flops_removed = 1.0 - prune.model_flops_after as f64 / prune.model_flops_before as f64;
    assert!(params_removed >= 0.25, "{params_removed}");
    assert!(flops_removed >= 0.25, "{flops_removed}");
    assert!((prune.overall_sparsity - params_removed).abs() < 1e-9);
    let text = result.report.render_text();
    assert!(text.contains("of the model's parameters"), "{text}");
    assert!(!text.contains("overall sparsity"), "{text}");

    // Residual Adds couple the stem with b1's projection, b2's with b3's.
    assert!(
        group_with(prune, "stem")
            .members
            .contains(&"b1.project".to_owned())
    );
    assert!(
        group_with(prune, "b2.project")
            .members
            .contains(&"b3.project".to_owned())
    );
    // Squeeze-excitation: the gate's channels are the expansion's.
    let se = group_with(prune, "b2.expand");
    assert!(se.members.contains(&"b2.se_expand".to_owned()), "{se:?}");
    assert_eq!((se.channels_before, se.channels_after), (48, 24));
    // The depthwise Convs (unnamed) shrink with their producers.
    let depthwise: Vec<_> = prune
        .layers
        .iter()
        .filter(|l| l.node.starts_with('#') && l.op_type == "Conv")
        .collect();
    assert_eq!(depthwise.len(), 3, "{:?}", prune.layers);
    assert!(
        depthwise
            .iter()
            .all(|l| l.channels_after.unwrap_or(0) * 2 == l.channels_before.unwrap_or(0))
    );
    // Only the classifier, which feeds the graph output, stays.
    let unprunable: Vec<&str> = prune
        .groups
        .iter()
        .filter_map(|g| g.unprunable.as_deref())
        .collect();
    assert_eq!(
        unprunable,
        vec!["fc: its output reaches the graph output \"logits\""]
    );
    // The Gemm lost the input rows of the head's pruned channels.
    let fc = prune.layers.iter().find(|l| l.node == "fc").expect("fc");
    assert_eq!((fc.params_before, fc.params_after), (640, 320));
    assert_eq!(fc.group, Some(group_with(prune, "head").id));

    // Same outputs, same shapes; the values differ (nothing was fine-tuned).
    assert_eq!(output_shapes(&model), output_shapes(&result.model));
    let accuracy = result.report.accuracy.as_ref().expect("accuracy measured");
    assert!(accuracy.outputs.iter().all(|o| o.relative_l2_error > 0.0));
}

#[test]
fn the_channel_floor_and_rounding_hold_from_the_command_line() {
    let dir = tempfile::tempdir().expect("tempdir");
    let out = dir.path().join("pruned.onnx");
    let output = Command::new(env!("CARGO_BIN_EXE_onnx-workbench"))
        .args(["transform", repo_path(FIXTURE).to_str().expect("utf-8")])
        .args(["--prune", "0.7", "--prune-mode", "structured"])
        .args(["--prune-min-channels", "8", "--prune-round", "8", "--json"])
        .arg("--output")
        .arg(&out)
        .output()
        .expect("run onnx-workbench");
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(output.status.success(), "{stderr}");
    let json: serde_json::Value =
        serde_json::from_slice(&output.stdout).expect("the report is JSON");
    let report: PruneReport =
        serde_json::from_value(json["prune"].clone()).expect("a prune report");
    for group in report.groups.iter().filter(|g| g.unprunable.is_none()) {
        let (before, after) = (group.channels_before, group.channels_after);
        assert!(after >= before.min(8), "{group:?}");
        assert!(after % 8 == 0 || after == before, "{group:?}");
        assert!(after < before || before <= 8, "{group:?}");
    }
    // The 48-channel SE group keeps 16 (70 % of 48 is 33.6 removed: 15 kept,
    // rounded up to 16).
    assert_eq!(group_with(&report, "b2.expand").channels_after, 16);
    let written = Model::load(&out).expect("the written model loads");
    assert_eq!(
        output_shapes(&written),
        output_shapes(&Model::load(&repo_path(FIXTURE)).expect("fixture"))
    );
}

#[test]
fn a_kept_node_blocks_its_group_and_says_so() {
    let model = Model::load(&repo_path(FIXTURE)).expect("fixture loads");
    let spec = TransformSpec {
        keep_nodes: ["b2.se_expand".to_owned()].into(),
        ..structured(0.5)
    };
    let result = verify::apply_checked(&model, &spec, &ProfileConfig::default())
        .expect("pruned model loads and runs");
    let prune = result.report.prune.as_ref().expect("prune report");
    let se = group_with(prune, "b2.expand");
    let reason = se.unprunable.as_deref().expect("blocked");
    assert_eq!(reason, "b2.se_expand: kept as it is (keep list)");
    assert!(prune.skipped.iter().any(|s| {
        s.node == "b2.expand"
            && s.reason
                .ends_with("through b2.se_expand, kept as it is (keep list)")
    }));
    // The other groups are still pruned.
    assert_eq!(group_with(prune, "stem").channels_after, 8);
}

/// Zeroes the odd indices along `axis` of a float32 tensor in `raw_data`.
fn zero_odd(tensor: &mut onnx_workbench::model::onnx::TensorProto, axis: usize) {
    let dims: Vec<usize> = tensor.dims.iter().map(|d| *d as usize).collect();
    let inner: usize = dims.iter().skip(axis + 1).product();
    let channels = dims[axis];
    let raw = tensor.raw_data.as_mut().expect("raw float data");
    for (index, chunk) in raw.chunks_exact_mut(4).enumerate() {
        if (index / inner) % channels % 2 == 1 {
            chunk.copy_from_slice(&0f32.to_le_bytes());
        }
    }
}

#[test]
fn pruning_dead_channels_changes_no_output() {
    // Make every odd channel of the fixture dead: zero filters, biases and
    // BatchNormalization scale and bias, and zero input columns wherever it
    // is read. Every group's channel count is even (the Concat's offset of
    // 16 too), so the odd channels are the same in every coupled layer, and
    // at 50 % exactly they (scored 0) are removed. If every coupled tensor
    // is sliced at the right indices, the outputs do not change.
    let mut model = Model::load(&repo_path(FIXTURE)).expect("fixture loads");
    let graph = model.proto.graph.as_mut().expect("graph");
    let mut edits: Vec<(String, usize)> = Vec::new();
    for node in &graph.node {
        let input = |i: usize| node.input.get(i).cloned().unwrap_or_default();
        let group = node
            .attribute
            .iter()
            .find(|a| a.name() == "group")
            .and_then(|a| a.i)
            .unwrap_or(1);
        match node.op_type() {
            "Conv" => {
                edits.push((input(1), 0));
                edits.push((input(2), 0));
                if group == 1 && input(0) != "x" {
                    edits.push((input(1), 1));
                }
            }
            "BatchNormalization" => {
                edits.push((input(1), 0));
                edits.push((input(2), 0));
            }
            // fc: [10, 64] with transB; its 64 inputs are the head's channels.
            "Gemm" => edits.push((input(1), 1)),
            _ => {}
        }
    }
    for (name, axis) in edits {
        let tensor = match graph.initializer.iter_mut().find(|t| t.name() == name) {
            Some(tensor) => tensor,
            None => graph
                .node
                .iter_mut()
                .filter(|n| n.op_type() == "Constant" && n.output.first() == Some(&name))
                .find_map(|n| n.attribute.iter_mut().find_map(|a| a.t.as_mut()))
                .unwrap_or_else(|| panic!("no constant {name}")),
        };
        zero_odd(tensor, axis);
    }
    let dead = Model::from_proto(model.proto.clone(), None);
    let result = verify::apply_checked(&dead, &structured(0.5), &ProfileConfig::default())
        .expect("pruned model runs");
    let prune = result.report.prune.as_ref().expect("prune report");
    assert!(
        prune
            .groups
            .iter()
            .filter(|g| g.unprunable.is_none())
            .all(|g| g.channels_after * 2 == g.channels_before),
        "{:?}",
        prune.groups
    );
    let accuracy = result.report.accuracy.as_ref().expect("accuracy measured");
    for output in &accuracy.outputs {
        assert!(output.max_abs_error < 1e-4, "{output:?}");
        assert!(output.cosine_similarity > 0.999_999, "{output:?}");
    }
}
