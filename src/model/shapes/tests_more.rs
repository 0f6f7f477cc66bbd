//! Tests of the resampling, padding, tiling, range, Einsum and data-dependent
//! shape rules, float folding, whole input shapes and the loss report.

use std::collections::BTreeMap;

use super::*;
use crate::model::Model;
use crate::model::estimate_flops_with;
use crate::model::onnx::AttributeProto;
use crate::model::onnx::{self, NodeProto, TensorProto};
use crate::model::test_util::*;
use crate::model::{ElemType, UncountedReason};

/// A model with one float input `x` of the given dims.
fn model(x_dims: &[&str], nodes: Vec<NodeProto>, initializers: Vec<TensorProto>) -> Model {
    let proto = model_proto(
        graph(
            "test",
            vec![value_info("x", ElemType::Float, x_dims)],
            vec![],
            nodes,
            initializers,
        ),
        18,
    );
    Model::from_proto(proto, None)
}

/// A float32 tensor in `float_data`.
fn floats(name: &str, dims: &[i64], values: &[f32]) -> TensorProto {
    TensorProto {
        name: Some(name.to_owned()),
        data_type: Some(ElemType::Float.code()),
        dims: dims.to_vec(),
        float_data: values.to_vec(),
        ..Default::default()
    }
}

/// A scalar int64 tensor.
fn scalar(name: &str, value: i64) -> TensorProto {
    TensorProto {
        dims: vec![],
        ..int64s(name, &[value])
    }
}

fn floats_attr(name: &str, values: &[f32]) -> AttributeProto {
    AttributeProto {
        name: Some(name.to_owned()),
        r#type: Some(onnx::attribute_proto::AttributeType::Floats as i32),
        floats: values.to_vec(),
        ..Default::default()
    }
}

fn shapes(model: &Model) -> BTreeMap<String, Vec<i64>> {
    infer_shapes(model, &BTreeMap::new()).shapes
}

#[test]
fn resize_takes_scales_from_initializers_constants_and_attributes() {
    let m = model(
        &["1", "8", "20", "30"],
        vec![
            // Opset 11+ form: X, roi, scales.
            node("Resize", &["x", "", "scales"], &["up2"], vec![]),
            // Scales from a Constant node; floor(20 * 1.5) = 30, and
            // floor(30 * 0.7f) = 20, as 0.7 in float32 is 0.69999999.
            node(
                "Constant",
                &[],
                &["odd_scales"],
                vec![tensor_attr(
                    "value",
                    floats("", &[4], &[1.0, 1.0, 1.5, 0.7]),
                )],
            ),
            node("Resize", &["x", "", "odd_scales"], &["odd"], vec![]),
            // Resize-10 / Upsample-9 form: X, scales.
            node("Upsample", &["x", "scales"], &["up9"], vec![]),
            // Upsample-7: scales attribute.
            node(
                "Upsample",
                &["x"],
                &["up7"],
                vec![floats_attr("scales", &[1.0, 1.0, 3.0, 3.0])],
            ),
            // Opset 18 axes: scales of the last two axes only.
            node(
                "Resize",
                &["x", "", "hw_scales"],
                &["axes"],
                vec![ints_attr("axes", &[2, 3])],
            ),
            // Cropping: ONNX Runtime sizes the output by the scales alone.
            node(
                "Resize",
                &["x", "roi", "scales"],
                &["crop"],
                vec![string_attr(
                    "coordinate_transformation_mode",
                    "tf_crop_and_resize",
                )],
            ),
        ],
        vec![
            floats("scales", &[4], &[1.0, 1.0, 2.0, 2.0]),
            floats("hw_scales", &[2], &[0.5, 0.5]),
            floats("roi", &[8], &[0.0, 0.0, 0.0, 0.0, 1.0, 1.0, 0.5, 0.5]),
        ],
    );
    let inferred = shapes(&m);
    assert_eq!(inferred.get("up2"), Some(&vec![1, 8, 40, 60]));
    assert_eq!(inferred.get("odd"), Some(&vec![1, 8, 30, 20]));
    assert_eq!(inferred.get("up9"), Some(&vec![1, 8, 40, 60]));
    assert_eq!(inferred.get("up7"), Some(&vec![1, 8, 60, 90]));
    assert_eq!(inferred.get("axes"), Some(&vec![1, 8, 10, 15]));
    assert_eq!(inferred.get("crop"), Some(&vec![1, 8, 40, 60]));
}

#[test]
fn resize_takes_sizes_from_folded_shape_arithmetic() {
    // sizes = Concat(Shape(x)[0:2], Cast(Cast(Shape(x)[2:4], float) * 2.5, int64)).
    let m = model(
        &["batch", "3", "H", "W"],
        vec![
            node("Shape", &["x"], &["s"], vec![]),
            node("Slice", &["s", "zero", "two"], &["nc"], vec![]),
            node("Slice", &["s", "two", "four"], &["hw"], vec![]),
            node("Cast", &["hw"], &["hw_f"], vec![int_attr("to", 1)]),
            node("Mul", &["hw_f", "factor"], &["hw_scaled"], vec![]),
            node("Floor", &["hw_scaled"], &["hw_floor"], vec![]),
            node("Cast", &["hw_floor"], &["hw_i"], vec![int_attr("to", 7)]),
            node(
                "Concat",
                &["nc", "hw_i"],
                &["sizes"],
                vec![int_attr("axis", 0)],
            ),
            node("Resize", &["x", "", "", "sizes"], &["y"], vec![]),
            node("Conv", &["y", "w"], &["z"], vec![]),
            // Sizes of two axes, keeping the aspect ratio (not larger than 50x50).
            node(
                "Resize",
                &["x", "", "", "box"],
                &["fit"],
                vec![
                    ints_attr("axes", &[2, 3]),
                    string_attr("keep_aspect_ratio_policy", "not_larger"),
                ],
            ),
        ],
        vec![
            int64s("zero", &[0]),
            int64s("two", &[2]),
            int64s("four", &[4]),
            floats("factor", &[], &[2.5]),
            zeros("w", &[4, 3, 1, 1]),
            int64s("box", &[50, 50]),
        ],
    );
    let binding = ShapeBinding {
        dims: BTreeMap::new(),
        input_shapes: [("x".to_owned(), vec![2, 3, 10, 25])].into(),
    };
    let inferred = infer_shapes_with(&m, &binding);
    // floor(10 * 2.5) = 25, floor(25 * 2.5) = 62.
    assert_eq!(inferred.shapes.get("y"), Some(&vec![2, 3, 25, 62]));
    assert_eq!(inferred.shapes.get("z"), Some(&vec![2, 4, 25, 62]));
    // scale min(50/10, 50/25) = 2: 20 x 50.
    assert_eq!(inferred.shapes.get("fit"), Some(&vec![2, 3, 20, 50]));
    assert_eq!(
        inferred.dims_used,
        [("H", 10), ("W", 25), ("batch", 2)]
            .map(|(k, v)| (k.to_owned(), v))
            .into()
    );
    let estimate = estimate_flops_with(&m, &binding);
    assert_eq!(estimate.total, 2 * (2 * 4 * 25 * 62) * 3);
    assert_eq!(estimate.input_shapes.get("x"), Some(&vec![2, 3, 10, 25]));
    assert!(estimate.not_counted.is_empty());
}

#[test]
fn tile_pad_expand_and_constant_of_shape() {
    let m = model(
        &["1", "4", "6"],
        vec![
            node("Tile", &["x", "repeats"], &["tiled"], vec![]),
            node("Pad", &["x", "pads"], &["padded"], vec![]),
            node(
                "Pad",
                &["x", "hw_pads", "", "pad_axes"],
                &["padded_axes"],
                vec![],
            ),
            node(
                "Pad",
                &["x"],
                &["padded_v2"],
                vec![ints_attr("pads", &[0, 1, 0, 0, 1, 0])],
            ),
            node("Shape", &["x"], &["s"], vec![]),
            node("ConstantOfShape", &["s"], &["filled"], vec![]),
            node("Expand", &["x", "big"], &["expanded"], vec![]),
            node("Mul", &["expanded", "filled"], &["product"], vec![]),
        ],
        vec![
            int64s("repeats", &[2, 1, 3]),
            int64s("pads", &[0, 1, 2, 0, 1, -1]),
            int64s("hw_pads", &[3, 3]),
            int64s("pad_axes", &[-1]),
            int64s("big", &[5, 1, 1, 1]),
        ],
    );
    let inferred = shapes(&m);
    assert_eq!(inferred.get("tiled"), Some(&vec![2, 4, 18]));
    assert_eq!(inferred.get("padded"), Some(&vec![1, 6, 7]));
    assert_eq!(inferred.get("padded_axes"), Some(&vec![1, 4, 12]));
    assert_eq!(inferred.get("padded_v2"), Some(&vec![1, 6, 6]));
    assert_eq!(inferred.get("filled"), Some(&vec![1, 4, 6]));
    assert_eq!(inferred.get("expanded"), Some(&vec![5, 1, 4, 6]));
    assert_eq!(inferred.get("product"), Some(&vec![5, 1, 4, 6]));
}

#[test]
fn range_from_int_and_float_scalars() {
    let m = model(
        &["2", "7"],
        vec![
            node("Shape", &["x"], &["s"], vec![]),
            node("Gather", &["s", "one"], &["len"], vec![]),
            node("Range", &["zero", "len", "step"], &["ints"], vec![]),
            node(
                "Range",
                &["f_start", "f_limit", "f_delta"],
                &["float_range"],
                vec![],
            ),
            node("Range", &["len", "zero", "step"], &["empty"], vec![]),
        ],
        vec![
            scalar("zero", 0),
            scalar("one", 1),
            scalar("step", 2),
            floats("f_start", &[], &[1.0]),
            floats("f_limit", &[], &[2.0]),
            floats("f_delta", &[], &[0.3]),
        ],
    );
    let inferred = shapes(&m);
    // ceil(7 / 2) = 4; ceil(1 / 0.3) = 4; a negative count is 0.
    assert_eq!(inferred.get("ints"), Some(&vec![4]));
    assert_eq!(inferred.get("float_range"), Some(&vec![4]));
    assert_eq!(inferred.get("empty"), Some(&vec![0]));
}

#[test]
fn einsum_shapes_and_flops() {
    let m = model(
        &["2", "4", "8"],
        vec![
            node(
                "Einsum",
                &["x", "w"],
                &["batched"],
                vec![string_attr("equation", "bij, jk -> bik")],
            ),
            // Implicit output: the labels seen once, sorted (i, k).
            node(
                "Einsum",
                &["a", "w"],
                &["implicit"],
                vec![string_attr("equation", "ij,jk")],
            ),
            node(
                "Einsum",
                &["x", "w"],
                &["ellipsis"],
                vec![string_attr("equation", "...j,jk->...k")],
            ),
            node(
                "Einsum",
                &["x"],
                &["transposed"],
                vec![string_attr("equation", "bij->bji")],
            ),
            // Operand count does not match the equation.
            node(
                "Einsum",
                &["x"],
                &["bad"],
                vec![string_attr("equation", "ij,jk->ik")],
            ),
        ],
        vec![zeros("w", &[8, 5]), zeros("a", &[3, 8])],
    );
    let inferred = shapes(&m);
    assert_eq!(inferred.get("batched"), Some(&vec![2, 4, 5]));
    assert_eq!(inferred.get("implicit"), Some(&vec![3, 5]));
    assert_eq!(inferred.get("ellipsis"), Some(&vec![2, 4, 5]));
    assert_eq!(inferred.get("transposed"), Some(&vec![2, 8, 4]));
    assert_eq!(inferred.get("bad"), None);
    let estimate = estimate_flops_with(&m, &ShapeBinding::default());
    let by_node = estimate
        .by_node
        .iter()
        .map(|node| (node.node_name.as_str(), node.flops))
        .collect::<Vec<_>>();
    assert_eq!(
        by_node,
        vec![
            ("Einsum_batched", 2 * 2 * 4 * 8 * 5),
            ("Einsum_implicit", 2 * 3 * 8 * 5),
            ("Einsum_ellipsis", 2 * 2 * 4 * 8 * 5),
            ("Einsum_transposed", 0),
        ]
    );
    assert_eq!(
        estimate.not_counted,
        vec![crate::model::UncountedOp {
            op_type: "Einsum".to_owned(),
            nodes: 1,
            reason: UncountedReason::ShapesUnknown,
        }]
    );
}

#[test]
fn rearranging_and_indexing_ops() {
    let m = model(
        &["1", "8", "4", "6"],
        vec![
            node(
                "DepthToSpace",
                &["x"],
                &["d2s"],
                vec![int_attr("blocksize", 2)],
            ),
            node(
                "SpaceToDepth",
                &["x"],
                &["s2d"],
                vec![int_attr("blocksize", 2)],
            ),
            node("TopK", &["x", "k"], &["values", "indices"], vec![]),
            node("GatherND", &["x", "nd_indices"], &["gathered"], vec![]),
            node(
                "GatherElements",
                &["x", "el_indices"],
                &["elements"],
                vec![],
            ),
            node(
                "ScatterND",
                &["x", "nd_indices", "x"],
                &["scattered"],
                vec![],
            ),
            node(
                "OneHot",
                &["labels", "depth", "on_off"],
                &["one_hot"],
                vec![int_attr("axis", 1)],
            ),
        ],
        vec![
            int64s("k", &[3]),
            TensorProto {
                dims: vec![5, 2],
                ..int64s("nd_indices", &[0; 10])
            },
            TensorProto {
                dims: vec![1, 8, 4, 2],
                ..int64s("el_indices", &[0; 64])
            },
            int64s("labels", &[1, 2, 3]),
            scalar("depth", 10),
            floats("on_off", &[2], &[0.0, 1.0]),
        ],
    );
    let inferred = shapes(&m);
    assert_eq!(inferred.get("d2s"), Some(&vec![1, 2, 8, 12]));
    assert_eq!(inferred.get("s2d"), Some(&vec![1, 32, 2, 3]));
    assert_eq!(inferred.get("values"), Some(&vec![1, 8, 4, 3]));
    assert_eq!(inferred.get("indices"), Some(&vec![1, 8, 4, 3]));
    assert_eq!(inferred.get("gathered"), Some(&vec![5, 4, 6]));
    assert_eq!(inferred.get("elements"), Some(&vec![1, 8, 4, 2]));
    assert_eq!(inferred.get("scattered"), Some(&vec![1, 8, 4, 6]));
    assert_eq!(inferred.get("one_hot"), Some(&vec![3, 10]));
}

#[test]
fn data_dependent_and_unknown_ops_are_reported_where_shapes_are_lost_first() {
    let m = model(
        &["batch", "16"],
        vec![
            node("NonZero", &["x"], &["nz"], vec![]),
            node("Transpose", &["nz"], &["nz_t"], vec![]),
            node("MyOp", &["x"], &["custom"], vec![]),
            node("MatMul", &["custom", "w"], &["after_custom"], vec![]),
            // Reshape to a shape that is graph data: values unknown.
            node("Reshape", &["x", "runtime_shape"], &["reshaped"], vec![]),
            node("MatMul", &["x", "w"], &["counted"], vec![]),
        ],
        vec![zeros("w", &[16, 4])],
    );
    let mut proto = m.proto.clone();
    if let Some(graph) = proto.graph.as_mut() {
        graph
            .input
            .push(value_info("runtime_shape", ElemType::Int64, &["2"]));
    }
    let m = Model::from_proto(proto, None);
    let inferred = infer_shapes(&m, &BTreeMap::new());
    let losses = inferred
        .losses
        .iter()
        .map(|loss| (loss.node.as_str(), loss.op_type.as_str(), loss.reason))
        .collect::<Vec<_>>();
    // The Transpose after NonZero and the MatMul after MyOp only inherit.
    assert_eq!(
        losses,
        vec![
            ("NonZero_nz", "NonZero", LossReason::DataDependent),
            ("MyOp_custom", "MyOp", LossReason::NoRule),
            ("Reshape_reshaped", "Reshape", LossReason::ValuesUnknown),
        ]
    );
    assert_eq!(inferred.unsupported_ops, vec!["MyOp".to_owned()]);
    let estimate = estimate_flops_with(&m, &ShapeBinding::default());
    assert_eq!(estimate.total, 2 * 16 * 4);
    assert_eq!(estimate.nodes_without_shapes, 1);
    assert_eq!(estimate.shape_losses, inferred.losses);
    let summary = m.summary();
    let text = summary.render_text();
    assert!(text.contains("MatMul  1 node  shapes unknown"), "{text}");
    assert!(
        text.contains("Shapes lost first at: NonZero_nz (NonZero: output shape depends on the data), MyOp_custom (MyOp: no shape rule)"),
        "{text}"
    );
}

#[test]
fn whole_input_shapes_override_dims() {
    let m = model(
        &["batch", "?", "8"],
        vec![node("MatMul", &["x", "w"], &["y"], vec![])],
        vec![zeros("w", &[8, 2])],
    );
    let binding = ShapeBinding {
        dims: [("batch".to_owned(), 7)].into(),
        input_shapes: [("x".to_owned(), vec![3, 5, 8])].into(),
    };
    let inferred = infer_shapes_with(&m, &binding);
    assert_eq!(inferred.shapes.get("y"), Some(&vec![3, 5, 2]));
    assert_eq!(inferred.dims_used, [("batch".to_owned(), 3)].into());
    // A shape of the wrong rank is ignored: the dims apply.
    let wrong_rank = ShapeBinding {
        dims: [("batch".to_owned(), 7)].into(),
        input_shapes: [("x".to_owned(), vec![3, 8])].into(),
    };
    assert_eq!(
        infer_shapes_with(&m, &wrong_rank).shapes.get("y"),
        Some(&vec![7, 1, 2])
    );
}

#[test]
fn exported_expand_pattern_folds_through_equal_and_where() {
    // Expand(x, Where(Equal(target, -1), 1, target)) with target = [3, -1, -1]:
    // the -1s keep x's dims.
    let m = model(
        &["1", "4", "6"],
        vec![
            node("Equal", &["target", "minus_one"], &["is_minus_one"], vec![]),
            node(
                "Where",
                &["is_minus_one", "one", "target"],
                &["fixed"],
                vec![],
            ),
            node("Neg", &["target"], &["negated"], vec![]),
            node("Max", &["negated", "one"], &["at_least_one"], vec![]),
            node("Expand", &["x", "fixed"], &["expanded"], vec![]),
            node("ConstantOfShape", &["at_least_one"], &["ones"], vec![]),
        ],
        vec![
            int64s("target", &[3, -1, -1]),
            int64s("minus_one", &[-1]),
            int64s("one", &[1]),
        ],
    );
    let inferred = shapes(&m);
    assert_eq!(inferred.get("expanded"), Some(&vec![3, 4, 6]));
    // Max(-[3, -1, -1], 1) = [1, 1, 1].
    assert_eq!(inferred.get("ones"), Some(&vec![1, 1, 1]));
}
