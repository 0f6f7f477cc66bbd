//! Tests of the shape rules.

use std::collections::BTreeMap;

use super::rules::slice_len;
use super::*;
use crate::model::ElemType;
use crate::model::Model;
use crate::model::estimate_flops;
use crate::model::onnx::AttributeProto;
use crate::model::onnx::{self, NodeProto, TensorProto};
use crate::model::test_util::*;

/// A model with one float input `x` of the given dims, these nodes and
/// initializers, at the given opset.
fn model(
    x_dims: &[&str],
    nodes: Vec<NodeProto>,
    initializers: Vec<TensorProto>,
    opset: i64,
) -> Model {
    let proto = model_proto(
        graph(
            "test",
            vec![value_info("x", ElemType::Float, x_dims)],
            vec![],
            nodes,
            initializers,
        ),
        opset,
    );
    Model::from_proto(proto, None)
}

fn dims(pairs: &[(&str, i64)]) -> BTreeMap<String, i64> {
    pairs
        .iter()
        .map(|(name, value)| ((*name).to_owned(), *value))
        .collect()
}

/// The inferred shape of `value`, binding `batch` = 1.
fn shape_of(model: &Model, value: &str) -> Option<Vec<i64>> {
    infer_shapes(model, &BTreeMap::new())
        .shapes
        .get(value)
        .cloned()
}

#[test]
fn conv_output_sizes() {
    let cases: Vec<(Vec<AttributeProto>, Vec<i64>)> = vec![
        (vec![], vec![1, 8, 30, 30]),
        (
            vec![
                ints_attr("pads", &[1, 1, 1, 1]),
                ints_attr("strides", &[2, 2]),
            ],
            vec![1, 8, 16, 16],
        ),
        (vec![ints_attr("dilations", &[2, 2])], vec![1, 8, 28, 28]),
        (
            vec![
                string_attr("auto_pad", "SAME_UPPER"),
                ints_attr("strides", &[2, 2]),
            ],
            vec![1, 8, 16, 16],
        ),
        (
            vec![
                string_attr("auto_pad", "VALID"),
                ints_attr("strides", &[2, 2]),
            ],
            vec![1, 8, 15, 15],
        ),
        (vec![ints_attr("pads", &[0, 1, 2, 3])], vec![1, 8, 32, 34]),
    ];
    for (attrs, expected) in cases {
        let m = model(
            &["1", "3", "32", "32"],
            vec![node("Conv", &["x", "W"], &["y"], attrs)],
            vec![zeros("W", &[8, 3, 3, 3])],
            17,
        );
        assert_eq!(shape_of(&m, "y"), Some(expected));
    }
    let wrong_channels = model(
        &["1", "3", "32", "32"],
        vec![node("Conv", &["x", "W"], &["y"], vec![])],
        vec![zeros("W", &[8, 2, 3, 3])],
        17,
    );
    assert_eq!(shape_of(&wrong_channels, "y"), None);
}

#[test]
fn pools_follow_ceil_mode_and_global_pools_keep_channels() {
    let pool = |attrs: Vec<AttributeProto>| {
        let m = model(
            &["1", "2", "5", "5"],
            vec![node("MaxPool", &["x"], &["y"], attrs)],
            vec![],
            17,
        );
        shape_of(&m, "y")
    };
    let k2s2 = || {
        vec![
            ints_attr("kernel_shape", &[2, 2]),
            ints_attr("strides", &[2, 2]),
        ]
    };
    assert_eq!(pool(k2s2()), Some(vec![1, 2, 2, 2]));
    assert_eq!(
        pool([k2s2(), vec![int_attr("ceil_mode", 1)]].concat()),
        Some(vec![1, 2, 3, 3])
    );
    assert_eq!(
        pool(vec![
            ints_attr("kernel_shape", &[3, 3]),
            ints_attr("pads", &[1, 1, 1, 1])
        ]),
        Some(vec![1, 2, 5, 5])
    );
    assert_eq!(pool(vec![]), None, "kernel_shape is required");

    let m = model(
        &["4", "2", "5", "5"],
        vec![node("GlobalAveragePool", &["x"], &["y"], vec![])],
        vec![],
        17,
    );
    assert_eq!(shape_of(&m, "y"), Some(vec![4, 2, 1, 1]));
}

#[test]
fn reshape_handles_zero_and_minus_one() {
    let reshape = |target: &[i64], attrs: Vec<AttributeProto>| {
        let m = model(
            &["2", "3", "4"],
            vec![node("Reshape", &["x", "shape"], &["y"], attrs)],
            vec![int64s("shape", target)],
            17,
        );
        shape_of(&m, "y")
    };
    assert_eq!(reshape(&[0, -1], vec![]), Some(vec![2, 12]));
    assert_eq!(reshape(&[-1, 0, 2, 2], vec![]), Some(vec![2, 3, 2, 2]));
    assert_eq!(reshape(&[4, 6], vec![]), Some(vec![4, 6]));
    assert_eq!(reshape(&[5, -1], vec![]), None, "24 is not divisible by 5");
    assert_eq!(reshape(&[-1, -1], vec![]), None, "two -1");
    assert_eq!(
        reshape(&[0, 24], vec![int_attr("allowzero", 1)]),
        None,
        "0 x 24 != 24"
    );
    assert_eq!(reshape(&[7, 7], vec![]), None, "wrong element count");
}

#[test]
fn constant_nodes_feed_shapes_and_values() {
    let m = model(
        &["2", "3", "4"],
        vec![
            node(
                "Constant",
                &[],
                &["target"],
                vec![tensor_attr("value", int64s("", &[-1, 4]))],
            ),
            node("Reshape", &["x", "target"], &["y"], vec![]),
            node(
                "Constant",
                &[],
                &["axes"],
                vec![ints_attr("value_ints", &[0])],
            ),
            node("Unsqueeze", &["y", "axes"], &["z"], vec![]),
            node(
                "Constant",
                &[],
                &["w"],
                vec![tensor_attr("value", zeros("", &[4, 7]))],
            ),
            node("MatMul", &["z", "w"], &["out"], vec![]),
        ],
        vec![],
        17,
    );
    assert_eq!(shape_of(&m, "target"), Some(vec![2]));
    assert_eq!(shape_of(&m, "y"), Some(vec![6, 4]));
    assert_eq!(shape_of(&m, "z"), Some(vec![1, 6, 4]));
    assert_eq!(shape_of(&m, "out"), Some(vec![1, 6, 7]));
    assert_eq!(estimate_flops(&m, &BTreeMap::new()).total, 2 * 6 * 7 * 4);
}

#[test]
fn unsqueeze_and_squeeze_take_axes_from_attribute_or_input() {
    let opset11 = model(
        &["3", "4"],
        vec![node(
            "Unsqueeze",
            &["x"],
            &["y"],
            vec![ints_attr("axes", &[0, -1])],
        )],
        vec![],
        11,
    );
    assert_eq!(shape_of(&opset11, "y"), Some(vec![1, 3, 4, 1]));

    let opset13 = model(
        &["3", "4"],
        vec![
            node("Unsqueeze", &["x", "axes"], &["y"], vec![]),
            node("Squeeze", &["y", "squeeze_axes"], &["z"], vec![]),
            node("Squeeze", &["y"], &["all"], vec![]),
        ],
        vec![int64s("axes", &[1]), int64s("squeeze_axes", &[-2])],
        13,
    );
    assert_eq!(shape_of(&opset13, "y"), Some(vec![3, 1, 4]));
    assert_eq!(shape_of(&opset13, "z"), Some(vec![3, 4]));
    assert_eq!(shape_of(&opset13, "all"), Some(vec![3, 4]));
}

#[test]
fn reductions_follow_keepdims_and_axes() {
    let m = model(
        &["2", "3", "4"],
        vec![
            node(
                "ReduceMean",
                &["x"],
                &["mean"],
                vec![ints_attr("axes", &[1]), int_attr("keepdims", 0)],
            ),
            node("ReduceSum", &["x", "axes"], &["sum"], vec![]),
            node("ReduceMax", &["x"], &["all"], vec![int_attr("keepdims", 0)]),
            node(
                "ReduceSum",
                &["x"],
                &["noop"],
                vec![int_attr("noop_with_empty_axes", 1)],
            ),
            node("ArgMax", &["x"], &["arg"], vec![int_attr("axis", -1)]),
        ],
        vec![int64s("axes", &[0, 2])],
        17,
    );
    assert_eq!(shape_of(&m, "mean"), Some(vec![2, 4]));
    assert_eq!(shape_of(&m, "sum"), Some(vec![1, 3, 1]));
    assert_eq!(shape_of(&m, "all"), Some(vec![]));
    assert_eq!(shape_of(&m, "noop"), Some(vec![2, 3, 4]));
    assert_eq!(shape_of(&m, "arg"), Some(vec![2, 3, 1]));
}

#[test]
fn broadcasting_gather_concat_flatten_transpose() {
    let m = model(
        &["2", "3", "4"],
        vec![
            node("Add", &["x", "bias"], &["add"], vec![]),
            node("Where", &["cond", "x", "col"], &["where"], vec![]),
            node("Gather", &["table", "ids"], &["emb"], vec![]),
            node("Concat", &["x", "x"], &["cat"], vec![int_attr("axis", -1)]),
            node("Flatten", &["x"], &["flat"], vec![int_attr("axis", 2)]),
            node("Flatten", &["x"], &["flat0"], vec![int_attr("axis", 0)]),
            node("Transpose", &["x"], &["rev"], vec![]),
            node(
                "Transpose",
                &["x"],
                &["perm"],
                vec![ints_attr("perm", &[1, 0, 2])],
            ),
            node("Mul", &["x", "bad"], &["mismatch"], vec![]),
            node("Relu", &["mismatch"], &["after_mismatch"], vec![]),
        ],
        vec![
            zeros("bias", &[4]),
            zeros("cond", &[3, 1]),
            zeros("col", &[2, 1, 1]),
            zeros("table", &[1000, 32]),
            int64s("ids", &[1, 2, 3, 4, 5]),
            zeros("bad", &[5]),
        ],
        17,
    );
    assert_eq!(shape_of(&m, "add"), Some(vec![2, 3, 4]));
    assert_eq!(shape_of(&m, "where"), Some(vec![2, 3, 4]));
    assert_eq!(shape_of(&m, "emb"), Some(vec![5, 32]));
    assert_eq!(shape_of(&m, "cat"), Some(vec![2, 3, 8]));
    assert_eq!(shape_of(&m, "flat"), Some(vec![6, 4]));
    assert_eq!(shape_of(&m, "flat0"), Some(vec![1, 24]));
    assert_eq!(shape_of(&m, "rev"), Some(vec![4, 3, 2]));
    assert_eq!(shape_of(&m, "perm"), Some(vec![3, 2, 4]));
    assert_eq!(shape_of(&m, "mismatch"), None, "4 and 5 do not broadcast");
    assert_eq!(shape_of(&m, "after_mismatch"), None);
}

#[test]
fn shape_arithmetic_is_folded_into_reshape() {
    // x [batch, seq, 64] -> Reshape to [batch, -1, 16] built from Shape(x).
    let m = model(
        &["batch", "seq", "64"],
        vec![
            node("Shape", &["x"], &["s"], vec![]),
            node("Gather", &["s", "zero"], &["b"], vec![]),
            node("Unsqueeze", &["b", "axes0"], &["b1"], vec![]),
            node(
                "Concat",
                &["b1", "tail"],
                &["target"],
                vec![int_attr("axis", 0)],
            ),
            node("Reshape", &["x", "target"], &["y"], vec![]),
            node("MatMul", &["y", "W"], &["z"], vec![]),
            node("Slice", &["s", "one", "three"], &["last_two"], vec![]),
            node(
                "Split",
                &["x"],
                &["half1", "half2"],
                vec![int_attr("axis", 2)],
            ),
            node(
                "Split",
                &["x", "sizes"],
                &["part1", "part2"],
                vec![int_attr("axis", -1)],
            ),
        ],
        vec![
            TensorProto {
                dims: vec![],
                ..int64s("zero", &[0])
            },
            int64s("axes0", &[0]),
            int64s("tail", &[-1, 16]),
            zeros("W", &[16, 8]),
            int64s("one", &[1]),
            int64s("three", &[3]),
            int64s("sizes", &[48, 16]),
        ],
        17,
    );
    let inferred = infer_shapes(&m, &dims(&[("batch", 2), ("seq", 5), ("unused", 9)]));
    assert_eq!(inferred.dims_used, dims(&[("batch", 2), ("seq", 5)]));
    assert_eq!(inferred.shapes.get("s"), Some(&vec![3]));
    assert_eq!(inferred.shapes.get("b"), Some(&vec![]));
    assert_eq!(inferred.shapes.get("target"), Some(&vec![3]));
    assert_eq!(inferred.shapes.get("y"), Some(&vec![2, 20, 16]));
    assert_eq!(inferred.shapes.get("z"), Some(&vec![2, 20, 8]));
    assert_eq!(inferred.shapes.get("last_two"), Some(&vec![2]));
    assert_eq!(inferred.shapes.get("half1"), Some(&vec![2, 5, 32]));
    assert_eq!(inferred.shapes.get("part2"), Some(&vec![2, 5, 16]));
    assert!(inferred.unsupported_ops.is_empty());
    let flops = estimate_flops(&m, &dims(&[("batch", 2), ("seq", 5)]));
    assert_eq!(flops.total, 2 * (2 * 20) * 8 * 16);
}

#[test]
fn slice_lengths_follow_onnx_clamping() {
    assert_eq!(slice_len(10, 0, 3, 1), Some(3));
    assert_eq!(slice_len(10, -3, i64::MAX, 1), Some(3));
    assert_eq!(slice_len(10, 0, 10, 3), Some(4));
    assert_eq!(slice_len(10, -1, i64::MIN, -1), Some(10));
    assert_eq!(slice_len(10, 8, 2, 1), Some(0));
    assert_eq!(slice_len(10, 0, 5, 0), None);
}

#[test]
fn absurd_attributes_and_dims_do_not_panic() {
    let huge = i64::MAX;
    let m = model(
        &["9223372036854775807", "3", "4", "4"],
        vec![
            node(
                "Conv",
                &["x", "W"],
                &["c1"],
                vec![ints_attr("pads", &[huge, huge, huge, huge])],
            ),
            node(
                "Conv",
                &["x", "W"],
                &["c2"],
                vec![ints_attr("dilations", &[huge, huge])],
            ),
            node(
                "Conv",
                &["x", "W"],
                &["c3"],
                vec![ints_attr("strides", &[0, 0])],
            ),
            node(
                "ConvTranspose",
                &["x", "W"],
                &["ct"],
                vec![ints_attr("strides", &[huge, huge])],
            ),
            node(
                "MaxPool",
                &["x"],
                &["p"],
                vec![ints_attr("kernel_shape", &[huge, 1])],
            ),
            node("Flatten", &["big"], &["f"], vec![]),
            node("Reshape", &["big", "shape"], &["r"], vec![]),
            node(
                "Concat",
                &["big", "big"],
                &["cat"],
                vec![int_attr("axis", 0)],
            ),
            node("Size", &["big"], &["size"], vec![]),
            node(
                "Split",
                &["x"],
                &["s1", "s2"],
                vec![int_attr("num_outputs", huge)],
            ),
            node("Slice", &["empty", "minus_one", "min"], &["sl"], vec![]),
            node("Shape", &["empty"], &["es"], vec![]),
            node(
                "Slice",
                &["es", "minus_one", "min", "zero", "minus_one"],
                &["esl"],
                vec![],
            ),
            node(
                "Gather",
                &["x", "ids"],
                &["g"],
                vec![int_attr("axis", i64::MIN)],
            ),
            node("MatMul", &["big", "big"], &["mm"], vec![]),
            node("Gemm", &["big", "big"], &["gemm"], vec![]),
        ],
        vec![
            zeros("W", &[2, 3, 3, 3]),
            TensorProto {
                dims: vec![huge, huge, 0],
                ..zeros("big", &[0])
            },
            int64s("shape", &[-1, 0]),
            zeros("empty", &[0]),
            int64s("minus_one", &[-1]),
            int64s("min", &[i64::MIN]),
            int64s("zero", &[0]),
            int64s("ids", &[0]),
        ],
        17,
    );
    let inferred = infer_shapes(&m, &BTreeMap::new());
    assert_eq!(inferred.shapes.get("c1"), None);
    assert_eq!(inferred.shapes.get("sl"), Some(&vec![0]));
    assert_eq!(inferred.shapes.get("esl"), Some(&vec![1]));
    let estimate = estimate_flops(&m, &dims(&[("batch", huge)]));
    assert_eq!(
        (estimate.total, estimate.nodes_without_shapes),
        (0, 6),
        "{:?}",
        estimate.by_node
    );
}

#[test]
fn unknown_ops_stop_propagation_unless_declared() {
    let mut m = model(
        &["batch", "4"],
        vec![
            node("NoSuchOp", &["x"], &["h"], vec![]),
            node("MatMul", &["h", "W"], &["y"], vec![]),
            onnx::NodeProto {
                domain: Some("com.example".to_owned()),
                ..node("Custom", &["x"], &["c"], vec![])
            },
            node("MatMul", &["c", "W"], &["d"], vec![]),
        ],
        vec![zeros("W", &[4, 4])],
        17,
    );
    let inferred = infer_shapes(&m, &dims(&[("batch", 3)]));
    assert_eq!(inferred.shapes.get("h"), None);
    assert_eq!(inferred.shapes.get("y"), None);
    assert_eq!(
        inferred.unsupported_ops,
        vec!["NoSuchOp", "com.example:Custom"]
    );
    let flops = estimate_flops(&m, &dims(&[("batch", 3)]));
    assert_eq!((flops.total, flops.nodes_without_shapes), (0, 2));

    // A declared shape for `h` in terms of a bound input dim fills the gap;
    // one with an unknown symbol does not.
    if let Some(graph) = m.proto.graph.as_mut() {
        graph
            .value_info
            .push(value_info("h", ElemType::Float, &["batch", "4"]));
        graph
            .value_info
            .push(value_info("c", ElemType::Float, &["unk__0", "4"]));
    }
    let flops = estimate_flops(&m, &dims(&[("batch", 3)]));
    assert_eq!(
        (flops.total, flops.nodes_without_shapes),
        (2 * 3 * 4 * 4, 1)
    );
}

#[test]
fn unnamed_dims_bind_through_the_question_mark_key() -> Result<(), crate::model::ModelError> {
    let m = Model::load(&fixture("unnamed_dims.onnx"))?;
    let inferred = infer_shapes(&m, &BTreeMap::new());
    assert_eq!(inferred.dims_used, dims(&[("?", 1), ("batch", 1)]));
    assert_eq!(inferred.shapes.get("x"), Some(&vec![1, 1, 8]));
    let inferred = infer_shapes(&m, &dims(&[("?", 5), ("batch", 2)]));
    assert_eq!(inferred.shapes.get("x"), Some(&vec![2, 5, 8]));
    assert_eq!(inferred.shapes.get("y"), Some(&vec![2, 8]));
    Ok(())
}

#[test]
fn multi_input_sample_propagates_through_gather_and_reduce() -> Result<(), crate::model::ModelError>
{
    let m = Model::load(&sample_model("multi_input.onnx"))?;
    let inferred = infer_shapes(&m, &dims(&[("batch", 8), ("seq", 16)]));
    assert!(inferred.unsupported_ops.is_empty());
    assert_eq!(inferred.shapes.get("scores"), Some(&vec![8, 4]));
    let graph = m
        .proto
        .graph
        .as_ref()
        .map(|g| g.node.as_slice())
        .unwrap_or_default();
    let gather_output = graph
        .iter()
        .find(|n| n.op_type() == "Gather")
        .and_then(|n| n.output.first());
    assert_eq!(
        gather_output.and_then(|name| inferred.shapes.get(name)),
        Some(&vec![8, 16, 32])
    );
    Ok(())
}
