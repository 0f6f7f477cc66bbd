//! Unit tests of the channel groups, the channel choice and the rewrite,
//! on small hand-built graphs.

use std::collections::{BTreeMap, BTreeSet};

use super::*;
use crate::model::onnx::{
    AttributeProto, GraphProto, ModelProto, NodeProto, OperatorSetIdProto, TensorProto,
    TensorShapeProto, TypeProto, ValueInfoProto, attribute_proto::AttributeType,
    tensor_shape_proto, type_proto,
};
use crate::transform::graph::float_tensor;
use crate::transform::{PruneMode, PruneSpec};

/// A float tensor with values `seed`, `seed + 1`, ... (distinct L1 norms).
fn ramp(name: &str, dims: &[i64], seed: f32) -> TensorProto {
    let count = dims.iter().product::<i64>() as usize;
    let values: Vec<f32> = (0..count).map(|i| seed + i as f32).collect();
    float_tensor(name, dims, &values)
}

fn int_attr(name: &str, value: i64) -> AttributeProto {
    AttributeProto {
        name: Some(name.to_owned()),
        r#type: Some(AttributeType::Int as i32),
        i: Some(value),
        ..Default::default()
    }
}

use crate::model::test_util::named_node as node;

fn with(mut node: NodeProto, attribute: AttributeProto) -> NodeProto {
    node.attribute.push(attribute);
    node
}

fn value_info(name: &str, dims: &[i64]) -> ValueInfoProto {
    ValueInfoProto {
        name: Some(name.to_owned()),
        r#type: Some(TypeProto {
            value: Some(type_proto::Value::TensorType(type_proto::Tensor {
                elem_type: Some(1),
                shape: Some(TensorShapeProto {
                    dim: dims
                        .iter()
                        .map(|d| tensor_shape_proto::Dimension {
                            value: Some(tensor_shape_proto::dimension::Value::DimValue(*d)),
                            denotation: None,
                        })
                        .collect(),
                }),
            })),
            denotation: None,
        }),
        ..Default::default()
    }
}

fn model(
    input: &[i64],
    output: &str,
    nodes: Vec<NodeProto>,
    initializer: Vec<TensorProto>,
) -> ModelProto {
    ModelProto {
        ir_version: Some(8),
        opset_import: vec![OperatorSetIdProto {
            domain: Some(String::new()),
            version: Some(13),
        }],
        graph: Some(GraphProto {
            name: Some("test".to_owned()),
            input: vec![value_info("x", input)],
            output: vec![value_info(output, &[])],
            node: nodes,
            initializer,
            ..Default::default()
        }),
        ..Default::default()
    }
}

fn plan_of(proto: &ModelProto, keep: &BTreeSet<String>) -> Plan {
    let shapes =
        crate::model::infer_shapes(&Model::from_proto(proto.clone(), None), &BTreeMap::new())
            .shapes;
    groups::build(proto.graph.as_ref().expect("graph"), &shapes, keep)
}

fn spec(sparsity: f64) -> PruneSpec {
    PruneSpec {
        sparsity,
        mode: PruneMode::Structured,
        ..PruneSpec::default()
    }
}

fn dims(proto: &ModelProto, name: &str) -> Vec<i64> {
    let graph = proto.graph.as_ref().expect("graph");
    weights::lookup(graph, name)
        .map(|info| info.dims.iter().map(|d| *d as i64).collect())
        .unwrap_or_default()
}

fn values(proto: &ModelProto, name: &str) -> Vec<f32> {
    let graph = proto.graph.as_ref().expect("graph");
    let info = weights::lookup(graph, name).expect("constant");
    weights::values(graph, &info).expect("values")
}

/// x → a (Conv 8) → Relu → b (Conv 8→8) → Add(relu, b) → c (Conv 8→2).
fn residual() -> ModelProto {
    model(
        &[1, 3, 4, 4],
        "y",
        vec![
            node("Conv", "a", &["x", "wa"], &["ya"]),
            node("Relu", "r", &["ya"], &["ra"]),
            node("Conv", "b", &["ra", "wb", "bb"], &["yb"]),
            node("Add", "add", &["ra", "yb"], &["s"]),
            node("Conv", "c", &["s", "wc"], &["y"]),
        ],
        vec![
            ramp("wa", &[8, 3, 1, 1], 0.0),
            ramp("wb", &[8, 8, 1, 1], 0.0),
            ramp("bb", &[8], 0.0),
            ramp("wc", &[2, 8, 1, 1], 0.0),
        ],
    )
}

#[test]
fn a_residual_add_unites_its_inputs_groups() {
    let proto = residual();
    let mut plan = plan_of(&proto, &BTreeSet::new());
    assert_eq!(plan.spaces.len(), 3);
    assert_eq!(plan.root(0), plan.root(1), "a and b drop the same channels");
    let groups = plan.groups();
    let first = groups.values().next().expect("a group");
    assert_eq!(first, &vec![0, 1]);
    assert_eq!(plan.group_reason(first), None);
    // c's output is the graph output.
    let (label, reason) = plan.group_reason(&[2]).expect("c is blocked");
    assert_eq!(label, "c");
    assert!(reason.contains("graph output \"y\""), "{reason}");

    let mut pruned = proto.clone();
    let report = prune_structured(&mut pruned, &spec(0.5), &BTreeSet::new()).expect("prunes");
    assert_eq!(dims(&pruned, "wa"), vec![4, 3, 1, 1]);
    assert_eq!(dims(&pruned, "wb"), vec![4, 4, 1, 1]);
    assert_eq!(dims(&pruned, "bb"), vec![4]);
    assert_eq!(dims(&pruned, "wc"), vec![2, 4, 1, 1]);
    let group = report.groups.first().expect("group");
    assert_eq!(group.members, vec!["a", "b"]);
    assert_eq!((group.channels_before, group.channels_after), (8, 4));
    assert!(group.coupled.contains(&"c".to_owned()));
    assert_eq!(
        report.layers.iter().filter(|l| l.group == Some(0)).count(),
        3
    );
    assert!(report.model_params_after < report.model_params_before);
    assert!(report.model_flops_after < report.model_flops_before);
    // The ramps make low channels the smallest: 0..4 go, 4..8 stay.
    assert_eq!(values(&pruned, "bb"), vec![4.0, 5.0, 6.0, 7.0]);
}

#[test]
fn a_depthwise_conv_passes_its_producers_channels() {
    let proto = model(
        &[1, 3, 4, 4],
        "y",
        vec![
            node("Conv", "a", &["x", "wa"], &["ya"]),
            with(
                node("Conv", "dw", &["ya", "wd", "bd"], &["yd"]),
                int_attr("group", 8),
            ),
            node(
                "BatchNormalization",
                "bn",
                &["yd", "s", "o", "m", "v"],
                &["yn"],
            ),
            node("Conv", "c", &["yn", "wc"], &["y"]),
        ],
        vec![
            ramp("wa", &[8, 3, 1, 1], 0.0),
            ramp("wd", &[8, 1, 3, 3], 0.0),
            ramp("bd", &[8], 0.0),
            ramp("s", &[8], 1.0),
            ramp("o", &[8], 0.0),
            ramp("m", &[8], 0.0),
            ramp("v", &[8], 1.0),
            ramp("wc", &[2, 8, 1, 1], 0.0),
        ],
    );
    let plan = plan_of(&proto, &BTreeSet::new());
    assert_eq!(plan.spaces.len(), 2, "the depthwise Conv starts no space");
    assert!(
        plan.not_producers
            .iter()
            .any(|(_, _, r)| r.contains("grouped Conv (8 groups)"))
    );
    let mut pruned = proto.clone();
    prune_structured(&mut pruned, &spec(0.5), &BTreeSet::new()).expect("prunes");
    assert_eq!(dims(&pruned, "wd"), vec![4, 1, 3, 3]);
    assert_eq!(dims(&pruned, "bd"), vec![4]);
    assert_eq!(dims(&pruned, "v"), vec![4]);
    assert_eq!(dims(&pruned, "wc"), vec![2, 4, 1, 1]);
    let graph = pruned.graph.as_ref().expect("graph");
    let dw = graph.node.iter().find(|n| n.name() == "dw").expect("dw");
    assert_eq!(crate::transform::graph::attr_int(dw, "group"), Some(4));
}

#[test]
fn concat_maps_channels_by_offset() {
    let proto = model(
        &[1, 3, 2, 2],
        "y",
        vec![
            node("Conv", "a", &["x", "wa"], &["ya"]),
            node("Conv", "b", &["x", "wb"], &["yb"]),
            with(
                node("Concat", "cat", &["ya", "yb"], &["yc"]),
                int_attr("axis", 1),
            ),
            node("Conv", "c", &["yc", "wc"], &["y"]),
        ],
        vec![
            ramp("wa", &[4, 3, 1, 1], 0.0),
            ramp("wb", &[6, 3, 1, 1], 0.0),
            // One row of 10 input channels: values 0..10.
            ramp("wc", &[1, 10, 1, 1], 0.0),
        ],
    );
    let mut plan = plan_of(&proto, &BTreeSet::new());
    assert_ne!(
        plan.root(0),
        plan.root(1),
        "a Concat does not couple its inputs"
    );
    let mut pruned = proto.clone();
    prune_structured(&mut pruned, &spec(0.5), &BTreeSet::new()).expect("prunes");
    assert_eq!(dims(&pruned, "wa"), vec![2, 3, 1, 1]);
    assert_eq!(dims(&pruned, "wb"), vec![3, 3, 1, 1]);
    // a keeps its channels 2, 3 (offset 0), b its channels 3, 4, 5 (offset 4).
    assert_eq!(values(&pruned, "wc"), vec![2.0, 3.0, 7.0, 8.0, 9.0]);
}

#[test]
fn flatten_into_gemm_drops_blocks_of_features() {
    let proto = model(
        &[1, 1, 2, 2],
        "y",
        vec![
            node("Conv", "a", &["x", "wa"], &["ya"]),
            node("Flatten", "flat", &["ya"], &["f"]),
            node("Gemm", "fc", &["f", "wf"], &["y"]),
        ],
        vec![
            ramp("wa", &[4, 1, 1, 1], 0.0),
            // [16 features = 4 channels × 4 positions, 1 unit].
            ramp("wf", &[16, 1], 0.0),
        ],
    );
    let mut pruned = proto.clone();
    prune_structured(&mut pruned, &spec(0.5), &BTreeSet::new()).expect("prunes");
    assert_eq!(dims(&pruned, "wa"), vec![2, 1, 1, 1]);
    // Channels 2 and 3 stay: features 8..16.
    assert_eq!(
        values(&pruned, "wf"),
        (8..16).map(|v| v as f32).collect::<Vec<_>>()
    );
}

#[test]
fn an_unknown_op_makes_a_group_unprunable_with_the_reason() {
    let proto = model(
        &[1, 3, 2, 2],
        "y",
        vec![
            node("Conv", "a", &["x", "wa"], &["ya"]),
            node("Transpose", "t", &["ya"], &["y"]),
        ],
        vec![ramp("wa", &[4, 3, 1, 1], 0.0)],
    );
    let plan = plan_of(&proto, &BTreeSet::new());
    let (label, reason) = plan.group_reason(&[0]).expect("blocked");
    assert_eq!(label, "a");
    assert_eq!(
        reason,
        "its channels reach Transpose t, which no channel rule covers"
    );
    let mut pruned = proto.clone();
    let err = prune_structured(&mut pruned, &spec(0.5), &BTreeSet::new()).expect_err("nothing");
    assert!(
        err.to_string()
            .contains("a: its channels reach Transpose t"),
        "{err}"
    );
    // A kept node keeps its own output channels, so its group stays...
    let keep: BTreeSet<String> = ["b".to_owned()].into();
    let plan = plan_of(&residual(), &keep);
    let (_, reason) = plan
        .group_reason(&[0, 1])
        .expect("blocked by the keep list");
    assert!(reason.contains("kept as it is"), "{reason}");
    // ...but a kept layer that only reads the channels may lose inputs (as
    // Torch-Pruning's ignored layers do).
    let keep: BTreeSet<String> = ["c".to_owned()].into();
    let plan = plan_of(&residual(), &keep);
    assert_eq!(plan.group_reason(&[0, 1]), None);
}

#[test]
fn min_channels_and_rounding() {
    assert_eq!(channels_to_keep(64, 0.5, 1, 1), 32);
    assert_eq!(channels_to_keep(10, 0.75, 1, 1), 3);
    // The floor.
    assert_eq!(channels_to_keep(10, 0.9, 4, 1), 4);
    assert_eq!(channels_to_keep(3, 0.9, 8, 1), 3);
    // 0 counts as 1: a layer keeps a channel.
    assert_eq!(channels_to_keep(4, 0.99, 0, 0), 1);
    // Rounded up to a multiple of 8 where it fits.
    assert_eq!(channels_to_keep(100, 0.5, 1, 8), 56);
    assert_eq!(channels_to_keep(24, 0.5, 1, 8), 16);
    assert_eq!(channels_to_keep(12, 0.5, 1, 8), 8);
    assert_eq!(channels_to_keep(6, 0.5, 1, 8), 3, "no multiple of 8 fits");

    // Through the rewrite: a group of 8 keeps 4 at most, here at least 6.
    let mut pruned = residual();
    let spec = PruneSpec {
        min_channels: 6,
        ..spec(0.5)
    };
    prune_structured(&mut pruned, &spec, &BTreeSet::new()).expect("prunes");
    assert_eq!(dims(&pruned, "wa"), vec![6, 3, 1, 1]);
}

#[test]
fn lowest_scores_break_ties_by_index() {
    assert_eq!(lowest(&[3.0, 1.0, 2.0, 1.0], 2), vec![1, 3]);
    assert_eq!(lowest(&[1.0, 1.0, 1.0], 1), vec![0]);
    let values = [1.0, -2.0, 0.25, -0.25, 1.0, 0.5];
    assert_eq!(smallest_l1_channels(&values, &[3, 1, 1, 2], 0, 1), vec![1]);
}

#[test]
fn l1_and_l2_scores_can_choose_different_channels() {
    // Channel 0: four ones (L1 4, L2 2); channel 1: one three (L1 3, L2 3).
    let proto = model(
        &[1, 4, 1, 1],
        "y",
        vec![
            node("Conv", "a", &["x", "wa"], &["ya"]),
            node("Conv", "c", &["ya", "wc"], &["y"]),
        ],
        vec![
            float_tensor(
                "wa",
                &[2, 4, 1, 1],
                &[1.0, 1.0, 1.0, 1.0, 3.0, 0.0, 0.0, 0.0],
            ),
            float_tensor("wc", &[1, 2, 1, 1], &[1.0, 1.0]),
        ],
    );
    let mut l1 = proto.clone();
    prune_structured(&mut l1, &spec(0.5), &BTreeSet::new()).expect("prunes");
    assert_eq!(values(&l1, "wa"), vec![1.0, 1.0, 1.0, 1.0]);
    let mut l2 = proto;
    let spec = PruneSpec {
        norm: PruneNorm::L2,
        ..spec(0.5)
    };
    prune_structured(&mut l2, &spec, &BTreeSet::new()).expect("prunes");
    assert_eq!(values(&l2, "wa"), vec![3.0, 0.0, 0.0, 0.0]);
}

fn int64s(name: &str, values: &[i64]) -> TensorProto {
    let mut tensor = TensorProto {
        name: Some(name.to_owned()),
        dims: vec![values.len() as i64],
        ..Default::default()
    };
    weights::set_int64_values(&mut tensor, values);
    tensor
}

fn fill(name: &str, shape: &str, value: f32) -> NodeProto {
    let mut node = node("ConstantOfShape", "", &[shape], &[name]);
    node.attribute.push(AttributeProto {
        name: Some("value".to_owned()),
        r#type: Some(AttributeType::Tensor as i32),
        t: Some(float_tensor("", &[1], &[value])),
        ..Default::default()
    });
    node
}

#[test]
fn exported_biases_and_fills_are_folded_and_sliced() {
    // Old exporters: a weight from ConstantOfShape, a bias Reshape'd to
    // [1, C, 1, 1], a scale Unsqueeze'd from a fill.
    let proto = model(
        &[1, 3, 2, 2],
        "y",
        vec![
            fill("wa", "wa_shape", 0.5),
            node("Conv", "a", &["x", "wa"], &["ya"]),
            node("Reshape", "", &["b", "b_shape"], &["b4"]),
            node("Add", "add", &["ya", "b4"], &["yb"]),
            fill("s", "s_shape", 2.0),
            node("Unsqueeze", "", &["s", "s_axes"], &["s3"]),
            node("Mul", "mul", &["yb", "s3"], &["ys"]),
            node("Conv", "c", &["ys", "wc"], &["y"]),
        ],
        vec![
            int64s("wa_shape", &[8, 3, 1, 1]),
            ramp("b", &[8], 0.0),
            int64s("b_shape", &[1, -1, 1, 1]),
            int64s("s_shape", &[8]),
            int64s("s_axes", &[1, 2]),
            ramp("wc", &[2, 8, 1, 1], 0.0),
        ],
    );
    let mut pruned = proto;
    let report = prune_structured(&mut pruned, &spec(0.5), &BTreeSet::new()).expect("prunes");
    assert_eq!(dims(&pruned, "wa"), vec![4, 3, 1, 1]);
    assert_eq!(dims(&pruned, "b4"), vec![1, 4, 1, 1]);
    assert_eq!(dims(&pruned, "s3"), vec![4, 1, 1]);
    assert_eq!(dims(&pruned, "wc"), vec![2, 4, 1, 1]);
    // The fill stayed a fill; the folded-away sources are gone.
    let graph = pruned.graph.as_ref().expect("graph");
    let ops: Vec<&str> = graph.node.iter().map(|n| n.op_type()).collect();
    assert_eq!(
        ops,
        vec![
            "ConstantOfShape",
            "Conv",
            "Constant",
            "Add",
            "ConstantOfShape",
            "Mul",
            "Conv"
        ]
    );
    assert!(graph.initializer.iter().all(|t| t.name() != "b"));
    // 24 + 8 + 8 + 16 before; 12 + 4 + 4 + 8 after.
    assert_eq!(
        (report.model_params_before, report.model_params_after),
        (56, 28)
    );
}

#[test]
fn unsorted_nodes_and_subgraph_reads_block_with_a_reason() {
    // The residual model with its nodes reversed: not topological.
    let mut reversed = residual();
    if let Some(graph) = reversed.graph.as_mut() {
        graph.node.reverse();
    }
    let plan = plan_of(&reversed, &BTreeSet::new());
    let (_, reason) = plan.group_reason(&[0]).expect("blocked");
    assert!(reason.contains("not in topological order"), "{reason}");

    // An If whose branch reads a's activations by name.
    let mut captured = residual();
    if let Some(graph) = captured.graph.as_mut() {
        let branch = GraphProto {
            node: vec![node("Identity", "inner", &["ra"], &["z"])],
            output: vec![value_info("z", &[])],
            ..Default::default()
        };
        let mut branch_if = node("If", "if", &["cond"], &["w"]);
        for name in ["then_branch", "else_branch"] {
            branch_if.attribute.push(AttributeProto {
                name: Some(name.to_owned()),
                r#type: Some(AttributeType::Graph as i32),
                g: Some(branch.clone()),
                ..Default::default()
            });
        }
        graph.node.push(branch_if);
    }
    let plan = plan_of(&captured, &BTreeSet::new());
    let (_, reason) = plan.group_reason(&[0, 1]).expect("blocked");
    assert_eq!(reason, "its channels are read inside a subgraph (\"ra\")");
}

#[test]
fn a_spatial_reduce_mean_passes_channels_and_a_channel_one_blocks() {
    let squeeze_excite = |axes: &[i64]| {
        model(
            &[1, 3, 4, 4],
            "y",
            vec![
                node("Conv", "a", &["x", "wa"], &["ya"]),
                with(
                    node("ReduceMean", "mean", &["ya", "axes"], &["m"]),
                    int_attr("keepdims", 1),
                ),
                node("Conv", "c", &["m", "wc"], &["y"]),
            ],
            vec![
                ramp("wa", &[8, 3, 1, 1], 0.0),
                int64s("axes", axes),
                ramp("wc", &[2, 8, 1, 1], 0.0),
            ],
        )
    };
    let mut pruned = squeeze_excite(&[2, 3]);
    prune_structured(&mut pruned, &spec(0.5), &BTreeSet::new()).expect("prunes");
    assert_eq!(dims(&pruned, "wc"), vec![2, 4, 1, 1]);
    let plan = plan_of(&squeeze_excite(&[1]), &BTreeSet::new());
    let (_, reason) = plan.group_reason(&[0]).expect("blocked");
    assert_eq!(
        reason,
        "its channels reach ReduceMean mean, which does not reduce spatial axes only"
    );
}
