//! The version adapters: each rewrites one node across one schema change of
//! its op (the version named in the function, from the one before it), after
//! ONNX's own version converter (`onnx/version_converter/adapters`).
//!
//! An adapter takes the node by value and returns it rewritten, with the
//! nodes it needs before it (Constant nodes for attributes that became
//! inputs, Shape/Flatten) and after it (a Reshape back). The inserted nodes
//! are already in the form of the target opset; the node itself goes on to
//! the op's next schema change. An adapter that cannot keep the meaning of
//! a node returns the reason, which blocks the upgrade.

use std::collections::HashMap;

use half::f16;

use crate::model::node::{attr, attr_float, attr_int, attr_ints, attr_string};
use crate::model::onnx::{
    AttributeProto, NodeProto, TensorProto, attribute_proto::AttributeType, tensor_proto::DataType,
};

/// `TensorProto.DataType` code of float32.
const FLOAT: i32 = DataType::Float as i32;
/// `TensorProto.DataType` code of float16.
const FLOAT16: i32 = DataType::Float16 as i32;
/// `TensorProto.DataType` code of float64.
const DOUBLE: i32 = DataType::Double as i32;
/// `TensorProto.DataType` code of int64.
const INT64: i32 = DataType::Int64 as i32;

/// A node after an adapter: nodes to put before it, the node, nodes after it.
pub(super) struct Adapted {
    /// Inserted before the node (target-opset form).
    pub before: Vec<NodeProto>,
    /// The rewritten node; later schema changes of its op still apply.
    pub node: NodeProto,
    /// Inserted after the node (target-opset form).
    pub after: Vec<NodeProto>,
}

impl Adapted {
    fn node(node: NodeProto) -> Self {
        Self {
            before: Vec::new(),
            node,
            after: Vec::new(),
        }
    }
}

/// What an adapter knows of the graph around the node.
pub(super) struct Ctx<'a> {
    /// The opset being upgraded to.
    pub target: i64,
    /// Names used anywhere in the model; new names are reserved here.
    pub names: &'a mut NameSet,
    /// Rank of values of the main graph, where shape propagation knows it.
    pub ranks: &'a HashMap<String, usize>,
    /// Element type codes of the graph's values, where known.
    pub types: &'a HashMap<String, i32>,
    /// Small constant tensors visible in the graph (initializers and
    /// Constant nodes, outer graphs included), by value name.
    pub consts: &'a HashMap<String, TensorProto>,
}

/// A rewrite across one schema change; `Err` is why it cannot be done.
pub(super) type Adapter = fn(NodeProto, &mut Ctx) -> Result<Adapted, String>;

/// Every name in a model (values and nodes, subgraphs included), so that
/// inserted names are unique.
pub(super) type NameSet = crate::transform::graph::Names;

// ---------------------------------------------------------------- helpers

/// Removes and returns the attribute `name`.
fn take_attr(node: &mut NodeProto, name: &str) -> Option<AttributeProto> {
    let index = node.attribute.iter().position(|a| a.name() == name)?;
    Some(node.attribute.remove(index))
}

/// Sets (or replaces) an integer attribute.
fn set_int(node: &mut NodeProto, name: &str, value: i64) {
    let _ = take_attr(node, name);
    node.attribute.push(AttributeProto {
        name: Some(name.to_owned()),
        r#type: Some(AttributeType::Int as i32),
        i: Some(value),
        ..Default::default()
    });
}

/// Sets (or replaces) a list-of-ints attribute.
fn set_ints(node: &mut NodeProto, name: &str, values: &[i64]) {
    let _ = take_attr(node, name);
    node.attribute.push(AttributeProto {
        name: Some(name.to_owned()),
        r#type: Some(AttributeType::Ints as i32),
        ints: values.to_vec(),
        ..Default::default()
    });
}

/// Sets (or replaces) a string attribute.
fn set_string(node: &mut NodeProto, name: &str, value: &str) {
    let _ = take_attr(node, name);
    node.attribute.push(AttributeProto {
        name: Some(name.to_owned()),
        r#type: Some(AttributeType::String as i32),
        s: Some(value.as_bytes().to_vec()),
        ..Default::default()
    });
}

/// A tensor of int64 values.
fn int64_tensor(dims: &[i64], values: &[i64]) -> TensorProto {
    TensorProto {
        dims: dims.to_vec(),
        data_type: Some(INT64),
        raw_data: Some(values.iter().flat_map(|v| v.to_le_bytes()).collect()),
        ..Default::default()
    }
}

/// A tensor of float32 values.
fn float_tensor(dims: &[i64], values: &[f32]) -> TensorProto {
    TensorProto {
        dims: dims.to_vec(),
        data_type: Some(FLOAT),
        raw_data: Some(values.iter().flat_map(|v| v.to_le_bytes()).collect()),
        ..Default::default()
    }
}

/// A scalar `value` of the element type of `like` (float32 when unknown).
fn scalar_like(ctx: &Ctx, like: &str, value: f32) -> Result<TensorProto, String> {
    match ctx.types.get(like).copied().unwrap_or(FLOAT) {
        FLOAT => Ok(float_tensor(&[], &[value])),
        DOUBLE => Ok(TensorProto {
            data_type: Some(DOUBLE),
            raw_data: Some(f64::from(value).to_le_bytes().to_vec()),
            ..Default::default()
        }),
        FLOAT16 => Ok(TensorProto {
            data_type: Some(FLOAT16),
            raw_data: Some(f16::from_f32(value).to_le_bytes().to_vec()),
            ..Default::default()
        }),
        other => Err(format!(
            "input {like:?} has element type {} and the value attribute is a float",
            DataType::try_from(other)
                .map_or_else(|_| other.to_string(), |t| t.as_str_name().to_owned())
        )),
    }
}

/// A Constant node holding `tensor`; returns the node and its output name.
fn constant(ctx: &mut Ctx, base: &str, mut tensor: TensorProto) -> (NodeProto, String) {
    let output = ctx.names.fresh(base);
    tensor.name = Some(output.clone());
    let node = NodeProto {
        op_type: Some("Constant".to_owned()),
        name: Some(ctx.names.fresh(&format!("{output}_const"))),
        output: vec![output.clone()],
        attribute: vec![AttributeProto {
            name: Some("value".to_owned()),
            r#type: Some(AttributeType::Tensor as i32),
            t: Some(tensor),
            ..Default::default()
        }],
        ..Default::default()
    };
    (node, output)
}

/// A base for new names derived from the node: its name, else its first output.
fn base_name(node: &NodeProto) -> String {
    if node.name().is_empty() {
        node.output
            .first()
            .cloned()
            .unwrap_or_else(|| node.op_type().to_owned())
    } else {
        node.name().to_owned()
    }
}

/// Puts `name` at input `index`, padding skipped optional inputs with "".
fn set_input(node: &mut NodeProto, index: usize, name: String) {
    while node.input.len() < index {
        node.input.push(String::new());
    }
    if index < node.input.len() {
        node.input[index] = name;
    } else {
        node.input.push(name);
    }
}

/// Moves the ints attribute `name` to a Constant int64 input at `index`.
fn ints_attr_to_input(
    mut node: NodeProto,
    ctx: &mut Ctx,
    name: &str,
    index: usize,
) -> Result<Adapted, String> {
    let Some(values) = take_attr(&mut node, name).map(|a| a.ints) else {
        return Ok(Adapted::node(node));
    };
    let (constant, output) = constant(
        ctx,
        &format!("{}_{name}", base_name(&node)),
        int64_tensor(&[values.len() as i64], &values),
    );
    set_input(&mut node, index, output);
    Ok(Adapted {
        before: vec![constant],
        node,
        after: Vec::new(),
    })
}

/// The values of a small constant int64 or int32 tensor, if `name` is one.
fn const_ints(ctx: &Ctx, name: &str) -> Option<Vec<i64>> {
    int_values(ctx.consts.get(name)?)
}

/// The values of an inline int64 or int32 tensor.
pub(super) fn int_values(tensor: &TensorProto) -> Option<Vec<i64>> {
    match DataType::try_from(tensor.data_type()).ok()? {
        DataType::Int64 => Some(match tensor.raw_data.as_deref() {
            Some(raw) => raw
                .chunks_exact(8)
                .map(|c| i64::from_le_bytes([c[0], c[1], c[2], c[3], c[4], c[5], c[6], c[7]]))
                .collect(),
            None => tensor.int64_data.clone(),
        }),
        DataType::Int32 => Some(match tensor.raw_data.as_deref() {
            Some(raw) => raw
                .chunks_exact(4)
                .map(|c| i64::from(i32::from_le_bytes([c[0], c[1], c[2], c[3]])))
                .collect(),
            None => tensor.int32_data.iter().map(|&v| i64::from(v)).collect(),
        }),
        _ => None,
    }
}

/// The values of a small constant float32 tensor, if `name` is one.
fn const_floats(ctx: &Ctx, name: &str) -> Option<Vec<f32>> {
    let tensor = ctx.consts.get(name)?;
    if tensor.data_type() != FLOAT {
        return None;
    }
    Some(match tensor.raw_data.as_deref() {
        Some(raw) => raw
            .chunks_exact(4)
            .map(|c| f32::from_le_bytes([c[0], c[1], c[2], c[3]]))
            .collect(),
        None => tensor.float_data.clone(),
    })
}

/// A node of the target opset that appends `count` trailing axes of size 1
/// to `input` (rank `rank`); returns its nodes and its output.
fn unsqueeze_trailing(
    ctx: &mut Ctx,
    input: &str,
    rank: usize,
    count: usize,
) -> (Vec<NodeProto>, String) {
    let axes: Vec<i64> = (rank..rank + count).map(|axis| axis as i64).collect();
    let output = ctx.names.fresh(&format!("{input}_unsqueezed"));
    let mut node = NodeProto {
        op_type: Some("Unsqueeze".to_owned()),
        name: Some(ctx.names.fresh(&format!("{input}_unsqueeze"))),
        input: vec![input.to_owned()],
        output: vec![output.clone()],
        ..Default::default()
    };
    let mut nodes = Vec::new();
    if ctx.target >= 13 {
        let (axes_node, axes_name) = constant(
            ctx,
            &format!("{input}_unsqueeze_axes"),
            int64_tensor(&[axes.len() as i64], &axes),
        );
        node.input.push(axes_name);
        nodes.push(axes_node);
    } else {
        set_ints(&mut node, "axes", &axes);
    }
    nodes.push(node);
    (nodes, output)
}

// ---------------------------------------------------------------- adapters

/// Pad 1 -> 2: `paddings` renamed `pads`.
pub(super) fn pad_2(mut node: NodeProto, _ctx: &mut Ctx) -> Result<Adapted, String> {
    if let Some(mut paddings) = take_attr(&mut node, "paddings") {
        paddings.name = Some("pads".to_owned());
        node.attribute.push(paddings);
    }
    Ok(Adapted::node(node))
}

/// Split 1 -> 2: the optional `split` input becomes the `split` attribute.
pub(super) fn split_2(mut node: NodeProto, ctx: &mut Ctx) -> Result<Adapted, String> {
    let Some(split_input) = node.input.get(1).filter(|name| !name.is_empty()).cloned() else {
        node.input.truncate(1);
        return Ok(Adapted::node(node));
    };
    let Some(split) = const_ints(ctx, &split_input) else {
        return Err("its `split` input is not a constant".to_owned());
    };
    node.input.truncate(1);
    set_ints(&mut node, "split", &split);
    Ok(Adapted::node(node))
}

/// GlobalLpPool/LpPool 1 -> 2: `p` changed from float to int.
pub(super) fn lp_pool_2(mut node: NodeProto, _ctx: &mut Ctx) -> Result<Adapted, String> {
    if let Some(p) = attr_float(&node, "p") {
        if p.fract() != 0.0 {
            return Err(format!("p = {p} is not an integer"));
        }
        set_int(&mut node, "p", p as i64);
    }
    Ok(Adapted::node(node))
}

/// Concat 3 -> 4: `axis` became required (it defaulted to 1).
pub(super) fn concat_4(mut node: NodeProto, _ctx: &mut Ctx) -> Result<Adapted, String> {
    if attr(&node, "axis").is_none() {
        set_int(&mut node, "axis", 1);
    }
    Ok(Adapted::node(node))
}

/// Reshape 4 -> 5: the `shape` attribute became an input.
pub(super) fn reshape_5(mut node: NodeProto, ctx: &mut Ctx) -> Result<Adapted, String> {
    let _ = take_attr(&mut node, "consumed_inputs");
    if attr(&node, "shape").is_none() {
        return Err("it has no `shape` attribute".to_owned());
    }
    ints_attr_to_input(node, ctx, "shape", 1)
}

/// Opset 6: the legacy `consumed_inputs` attribute is gone.
pub(super) fn drop_consumed_inputs(mut node: NodeProto, _ctx: &mut Ctx) -> Result<Adapted, String> {
    let _ = take_attr(&mut node, "consumed_inputs");
    Ok(Adapted::node(node))
}

/// Cast 1 -> 6: `to` changed from a type name to a type code.
pub(super) fn cast_6(mut node: NodeProto, _ctx: &mut Ctx) -> Result<Adapted, String> {
    if let Some(name) = attr_string(&node, "to").filter(|_| attr_int(&node, "to").is_none()) {
        let Some(code) = DataType::from_str_name(&name.to_ascii_uppercase()) else {
            return Err(format!("unknown type name {name:?} in `to`"));
        };
        set_int(&mut node, "to", code as i64);
    }
    Ok(Adapted::node(node))
}

/// Add, Sub, Mul, Div, Pow and the comparisons/logical ops 6 -> 7: the
/// `broadcast`/`axis` attributes are gone, broadcasting is numpy-style.
/// With `axis`, B is aligned at that axis of A, so trailing axes of size 1
/// are appended to B.
pub(super) fn broadcast_7(mut node: NodeProto, ctx: &mut Ctx) -> Result<Adapted, String> {
    let broadcast = take_attr(&mut node, "broadcast")
        .and_then(|a| a.i)
        .unwrap_or(0);
    let axis = take_attr(&mut node, "axis").and_then(|a| a.i);
    let _ = take_attr(&mut node, "consumed_inputs");
    let (1, Some(axis)) = (broadcast, axis) else {
        return Ok(Adapted::node(node));
    };
    let (Some(a), Some(b)) = (node.input.first().cloned(), node.input.get(1).cloned()) else {
        return Err("it has fewer than two inputs".to_owned());
    };
    let (Some(&rank_a), Some(&rank_b)) = (ctx.ranks.get(&a), ctx.ranks.get(&b)) else {
        return Err(
            "legacy broadcasting with `axis` needs the ranks of both inputs, which are not known"
                .to_owned(),
        );
    };
    let axis = if axis < 0 { axis + rank_a as i64 } else { axis };
    let trailing = rank_a as i64 - axis - rank_b as i64;
    if axis < 0 || trailing < 0 {
        return Err(format!(
            "axis {axis} does not fit inputs of rank {rank_a} and {rank_b}"
        ));
    }
    if trailing == 0 {
        return Ok(Adapted::node(node));
    }
    let (before, unsqueezed) = unsqueeze_trailing(ctx, &b, rank_b, trailing as usize);
    node.input[1] = unsqueezed;
    Ok(Adapted {
        before,
        node,
        after: Vec::new(),
    })
}

/// Gemm 6 -> 7: `broadcast` is gone (C broadcasts unidirectionally).
pub(super) fn gemm_7(mut node: NodeProto, _ctx: &mut Ctx) -> Result<Adapted, String> {
    let _ = take_attr(&mut node, "broadcast");
    Ok(Adapted::node(node))
}

/// BatchNormalization and Dropout 6 -> 7: `is_test` is gone.
pub(super) fn drop_is_test(mut node: NodeProto, _ctx: &mut Ctx) -> Result<Adapted, String> {
    let _ = take_attr(&mut node, "is_test");
    Ok(Adapted::node(node))
}

/// GRU, LSTM and RNN 6 -> 7: `output_sequence` is gone (Y is optional).
pub(super) fn rnn_7(mut node: NodeProto, _ctx: &mut Ctx) -> Result<Adapted, String> {
    let _ = take_attr(&mut node, "output_sequence");
    Ok(Adapted::node(node))
}

/// Upsample 1 -> 7: `height_scale`/`width_scale` became `scales` (NCHW),
/// `bilinear` became `linear`.
pub(super) fn upsample_7(mut node: NodeProto, _ctx: &mut Ctx) -> Result<Adapted, String> {
    let height = take_attr(&mut node, "height_scale").and_then(|a| a.f);
    let width = take_attr(&mut node, "width_scale").and_then(|a| a.f);
    let (Some(height), Some(width)) = (height, width) else {
        return Err("height_scale or width_scale is missing".to_owned());
    };
    let _ = take_attr(&mut node, "scales");
    node.attribute.push(AttributeProto {
        name: Some("scales".to_owned()),
        r#type: Some(AttributeType::Floats as i32),
        floats: vec![1.0, 1.0, height, width],
        ..Default::default()
    });
    if attr_string(&node, "mode").as_deref() == Some("bilinear") {
        set_string(&mut node, "mode", "linear");
    }
    Ok(Adapted::node(node))
}

/// BatchNormalization 7 -> 9: `spatial` is gone (always 1 now).
pub(super) fn batch_normalization_9(
    mut node: NodeProto,
    _ctx: &mut Ctx,
) -> Result<Adapted, String> {
    match take_attr(&mut node, "spatial").and_then(|a| a.i) {
        None | Some(1) => Ok(Adapted::node(node)),
        Some(spatial) => Err(format!(
            "spatial = {spatial} (statistics per activation) has no equivalent from opset 9 on"
        )),
    }
}

/// Upsample 7 -> 9: the `scales` attribute became an input.
pub(super) fn upsample_9(mut node: NodeProto, ctx: &mut Ctx) -> Result<Adapted, String> {
    let Some(scales) = take_attr(&mut node, "scales").map(|a| a.floats) else {
        return Err("it has no `scales` attribute".to_owned());
    };
    let (constant, output) = constant(
        ctx,
        &format!("{}_scales", base_name(&node)),
        float_tensor(&[scales.len() as i64], &scales),
    );
    set_input(&mut node, 1, output);
    Ok(Adapted {
        before: vec![constant],
        node,
        after: Vec::new(),
    })
}

/// Upsample 9 -> 10: Upsample is deprecated; the same node as Resize-10.
pub(super) fn upsample_to_resize(mut node: NodeProto, _ctx: &mut Ctx) -> Result<Adapted, String> {
    node.op_type = Some("Resize".to_owned());
    if attr_string(&node, "mode").as_deref() == Some("bilinear") {
        set_string(&mut node, "mode", "linear");
    }
    Ok(Adapted::node(node))
}

/// Resize 10 -> 11: a `roi` input (empty here) comes before `scales`, and
/// the coordinate mapping of opset 10 is spelled out: `asymmetric`, with
/// nearest rounding down when upsampling and up when downsampling (ONNX
/// Runtime's behaviour for Resize-10 and Upsample).
pub(super) fn resize_11(mut node: NodeProto, ctx: &mut Ctx) -> Result<Adapted, String> {
    let Some(scales) = node.input.get(1).cloned() else {
        return Err("it has no `scales` input".to_owned());
    };
    let mode = attr_string(&node, "mode").unwrap_or_else(|| "nearest".to_owned());
    if mode == "nearest" {
        let nearest_mode = match const_floats(ctx, &scales) {
            Some(values) if values.iter().any(|&s| s < 1.0) => {
                if values.iter().any(|&s| s > 1.0) {
                    return Err(format!(
                        "nearest resize with scales {values:?} both up- and downsamples, which opset 11 cannot express"
                    ));
                }
                "ceil"
            }
            _ => "floor",
        };
        set_string(&mut node, "nearest_mode", nearest_mode);
    }
    set_string(&mut node, "coordinate_transformation_mode", "asymmetric");
    let (constant, roi) = constant(
        ctx,
        &format!("{}_roi", base_name(&node)),
        float_tensor(&[0], &[]),
    );
    node.input.truncate(1);
    node.input.push(roi);
    node.input.push(scales);
    Ok(Adapted {
        before: vec![constant],
        node,
        after: Vec::new(),
    })
}

/// Slice 1 -> 10: `starts`, `ends`, `axes` became inputs.
pub(super) fn slice_10(mut node: NodeProto, ctx: &mut Ctx) -> Result<Adapted, String> {
    let starts = take_attr(&mut node, "starts").map(|a| a.ints);
    let ends = take_attr(&mut node, "ends").map(|a| a.ints);
    let axes = take_attr(&mut node, "axes").map(|a| a.ints);
    let (Some(starts), Some(ends)) = (starts, ends) else {
        return Err("`starts` or `ends` is missing".to_owned());
    };
    let base = base_name(&node);
    let mut before = Vec::new();
    node.input.truncate(1);
    for (label, values) in [
        ("starts", Some(starts)),
        ("ends", Some(ends)),
        ("axes", axes),
    ] {
        let Some(values) = values else { continue };
        let (constant, output) = constant(
            ctx,
            &format!("{base}_{label}"),
            int64_tensor(&[values.len() as i64], &values),
        );
        before.push(constant);
        node.input.push(output);
    }
    Ok(Adapted {
        before,
        node,
        after: Vec::new(),
    })
}

/// TopK 1 -> 10: `k` became an input (int64, shape [1]).
pub(super) fn topk_10(mut node: NodeProto, ctx: &mut Ctx) -> Result<Adapted, String> {
    let Some(k) = take_attr(&mut node, "k").and_then(|a| a.i) else {
        return Err("it has no `k` attribute".to_owned());
    };
    let (constant, output) = constant(
        ctx,
        &format!("{}_k", base_name(&node)),
        int64_tensor(&[1], &[k]),
    );
    set_input(&mut node, 1, output);
    Ok(Adapted {
        before: vec![constant],
        node,
        after: Vec::new(),
    })
}

/// Clip 6 -> 11: `min` and `max` became optional inputs.
pub(super) fn clip_11(mut node: NodeProto, ctx: &mut Ctx) -> Result<Adapted, String> {
    let min = take_attr(&mut node, "min").and_then(|a| a.f);
    let max = take_attr(&mut node, "max").and_then(|a| a.f);
    let Some(x) = node.input.first().cloned() else {
        return Err("it has no input".to_owned());
    };
    let base = base_name(&node);
    let mut before = Vec::new();
    for (index, label, value) in [(1, "min", min), (2, "max", max)] {
        let Some(value) = value else { continue };
        let (constant, output) = constant(
            ctx,
            &format!("{base}_{label}"),
            scalar_like(ctx, &x, value)?,
        );
        before.push(constant);
        set_input(&mut node, index, output);
    }
    Ok(Adapted {
        before,
        node,
        after: Vec::new(),
    })
}

/// Pad 2 -> 11: `pads` and `value` became inputs.
pub(super) fn pad_11(mut node: NodeProto, ctx: &mut Ctx) -> Result<Adapted, String> {
    let value = take_attr(&mut node, "value").and_then(|a| a.f);
    let Some(x) = node.input.first().cloned() else {
        return Err("it has no input".to_owned());
    };
    if attr_ints(&node, "pads").is_none() {
        return Err("it has no `pads` attribute".to_owned());
    }
    let mut adapted = ints_attr_to_input(node, ctx, "pads", 1)?;
    if let Some(value) = value.filter(|&v| v != 0.0) {
        let tensor = scalar_like(ctx, &x, value)?;
        let (constant, output) =
            constant(ctx, &format!("{}_value", base_name(&adapted.node)), tensor);
        adapted.before.push(constant);
        set_input(&mut adapted.node, 2, output);
    }
    Ok(adapted)
}

/// Scatter 9 -> 11: deprecated, the same op as ScatterElements-11.
pub(super) fn scatter_11(mut node: NodeProto, _ctx: &mut Ctx) -> Result<Adapted, String> {
    node.op_type = Some("ScatterElements".to_owned());
    Ok(Adapted::node(node))
}

/// Dropout 10 -> 12: `ratio` became an optional input.
pub(super) fn dropout_12(mut node: NodeProto, ctx: &mut Ctx) -> Result<Adapted, String> {
    let Some(ratio) = take_attr(&mut node, "ratio").and_then(|a| a.f) else {
        return Ok(Adapted::node(node));
    };
    let (constant, output) = constant(
        ctx,
        &format!("{}_ratio", base_name(&node)),
        float_tensor(&[], &[ratio]),
    );
    set_input(&mut node, 1, output);
    Ok(Adapted {
        before: vec![constant],
        node,
        after: Vec::new(),
    })
}

/// Softmax, LogSoftmax and Hardmax 11 -> 13: `axis` used to flatten the
/// input to 2-D at `axis` (default 1) and normalize the second dim; from
/// 13 on it is the one axis normalized (default -1). The same when `axis`
/// is the last axis; otherwise Flatten -> op(axis=-1) -> Reshape back to
/// the input's shape.
pub(super) fn softmax_13(mut node: NodeProto, ctx: &mut Ctx) -> Result<Adapted, String> {
    let axis = attr_int(&node, "axis").unwrap_or(1);
    let Some(x) = node.input.first().cloned() else {
        return Err("it has no input".to_owned());
    };
    let Some(y) = node.output.first().cloned() else {
        return Err("it has no output".to_owned());
    };
    // Softmax keeps the rank, so the output's declared rank will do.
    if let Some(&rank) = ctx.ranks.get(&x).or_else(|| ctx.ranks.get(&y)) {
        let normalized = if axis < 0 { axis + rank as i64 } else { axis };
        if normalized == rank as i64 - 1 {
            set_int(&mut node, "axis", axis);
            return Ok(Adapted::node(node));
        }
    } else if axis == -1 {
        return Ok(Adapted::node(node));
    }
    let base = base_name(&node);
    let shape = ctx.names.fresh(&format!("{x}_shape"));
    let flat = ctx.names.fresh(&format!("{x}_2d"));
    let normalized_2d = ctx.names.fresh(&format!("{y}_2d"));
    let shape_node = NodeProto {
        op_type: Some("Shape".to_owned()),
        name: Some(ctx.names.fresh(&format!("{base}_shape"))),
        input: vec![x.clone()],
        output: vec![shape.clone()],
        ..Default::default()
    };
    let mut flatten = NodeProto {
        op_type: Some("Flatten".to_owned()),
        name: Some(ctx.names.fresh(&format!("{base}_flatten"))),
        input: vec![x],
        output: vec![flat.clone()],
        ..Default::default()
    };
    set_int(&mut flatten, "axis", axis);
    let reshape = NodeProto {
        op_type: Some("Reshape".to_owned()),
        name: Some(ctx.names.fresh(&format!("{base}_reshape"))),
        input: vec![normalized_2d.clone(), shape],
        output: vec![y],
        ..Default::default()
    };
    node.input[0] = flat;
    node.output[0] = normalized_2d;
    set_int(&mut node, "axis", -1);
    Ok(Adapted {
        before: vec![shape_node, flatten],
        node,
        after: vec![reshape],
    })
}

/// Squeeze, Unsqueeze, ReduceSum (13) and the other reductions (18): the
/// `axes` attribute became an input.
pub(super) fn axes_to_input(node: NodeProto, ctx: &mut Ctx) -> Result<Adapted, String> {
    ints_attr_to_input(node, ctx, "axes", 1)
}

/// Split 11 -> 13: the `split` attribute became an input.
pub(super) fn split_13(node: NodeProto, ctx: &mut Ctx) -> Result<Adapted, String> {
    ints_attr_to_input(node, ctx, "split", 1)
}

/// BatchNormalization 9 -> 14: the training outputs changed.
pub(super) fn batch_normalization_14(node: NodeProto, _ctx: &mut Ctx) -> Result<Adapted, String> {
    if node.output.iter().skip(1).any(|output| !output.is_empty()) {
        return Err(
            "it has training-mode outputs (mean, var, saved statistics), which changed at opset 14"
                .to_owned(),
        );
    }
    Ok(Adapted::node(node))
}

/// RoiAlign 10 -> 16: the default `coordinate_transformation_mode` became
/// `half_pixel`; the old behaviour is `output_half_pixel`.
pub(super) fn roi_align_16(mut node: NodeProto, _ctx: &mut Ctx) -> Result<Adapted, String> {
    if attr(&node, "coordinate_transformation_mode").is_none() {
        set_string(
            &mut node,
            "coordinate_transformation_mode",
            "output_half_pixel",
        );
    }
    Ok(Adapted::node(node))
}

/// Split 13 -> 18: without a `split` input, `num_outputs` is required.
pub(super) fn split_18(mut node: NodeProto, _ctx: &mut Ctx) -> Result<Adapted, String> {
    let has_split = node.input.get(1).is_some_and(|name| !name.is_empty());
    if !has_split && attr(&node, "num_outputs").is_none() {
        let count = node.output.len() as i64;
        set_int(&mut node, "num_outputs", count);
    }
    Ok(Adapted::node(node))
}
