//! Propagation proper: seeds the state from the graph, runs each node's
//! rule (here, or in the op files) in graph order, and reports where
//! shapes were lost.

use std::collections::{BTreeMap, BTreeSet, HashMap};

use serde::{Deserialize, Serialize};

use super::fold::fold_constants;
use super::more_ops;
use super::rules::{
    broadcast, checked_product, div_ceil, ints_from_attr_or_input, normalize_axis, shape_op,
    slice_len,
};
use super::spatial::{conv, conv_transpose, pool};
use super::state::{MAX_CONST_ELEMENTS, NodeShapes, ShapeBinding, State, float_values};
use super::tables::{BROADCAST_OPS, REDUCE_OPS, SAME_SHAPE_OPS};
use crate::model::Model;
use crate::model::node::{attr_int, attr_ints, is_default_domain, node_id};
use crate::model::onnx::{self, NodeProto};
use crate::model::types::{Dim, TensorInfo, element_count};

/// Why a node is where a shape was lost first: all its inputs had shapes,
/// but its outputs have none.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum LossReason {
    /// The op has no shape rule here.
    NoRule,
    /// The output shape depends on the input data (NonZero, Unique, ...).
    DataDependent,
    /// The rule needs an input's values (a shape, scales, pads, axes) that
    /// are not a constant it could fold, or the inputs do not fit together.
    ValuesUnknown,
}

impl LossReason {
    /// A short phrase for reports.
    pub fn describe(self) -> &'static str {
        match self {
            Self::NoRule => "no shape rule",
            Self::DataDependent => "output shape depends on the data",
            Self::ValuesUnknown => {
                "rule failed: an input value not folded, or shapes that do not fit"
            }
        }
    }
}

/// A node where shape propagation stopped although its inputs were known.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ShapeLoss {
    /// The node, as [`crate::model::node::node_id`] names it.
    pub node: String,
    /// Its op type (with `domain:` outside the default domain).
    pub op_type: String,
    /// Why.
    pub reason: LossReason,
}

/// Result of shape propagation for one dims binding.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct InferredShapes {
    /// Concrete shape of every value whose shape is known, by value name.
    pub shapes: BTreeMap<String, Vec<i64>>,
    /// The binding actually used: each symbolic dim name found on a graph
    /// input, plus [`UNNAMED_DIM_KEY`] if any input has unnamed dims.
    pub dims_used: BTreeMap<String, i64>,
    /// Op types (with `domain:` prefix outside the default domain) that have
    /// no shape rule, sorted.
    pub unsupported_ops: Vec<String>,
    /// The nodes where shapes were lost first (inputs known, outputs not),
    /// in graph order. Nodes after them that lack shapes only inherit the loss.
    pub losses: Vec<ShapeLoss>,
}

/// Propagates concrete shapes through the model's main graph.
///
/// `dims` binds symbolic dim names (e.g. `"batch" => 8`) and, under
/// [`UNNAMED_DIM_KEY`], unnamed ones; anything missing is
/// [`DEFAULT_DIM_VALUE`].
pub fn infer_shapes(model: &Model, dims: &BTreeMap<String, i64>) -> InferredShapes {
    infer_shapes_with(model, &ShapeBinding::from_dims(dims))
}

/// [`infer_shapes`] with whole input shapes as well as named dims.
pub fn infer_shapes_with(model: &Model, binding: &ShapeBinding) -> InferredShapes {
    infer_state(model, binding).0
}

/// Propagation proper: the result and the state (with folded values) behind it.
pub(crate) fn infer_state(model: &Model, binding: &ShapeBinding) -> (InferredShapes, State) {
    let Some(graph) = model.proto.graph.as_ref() else {
        return (InferredShapes::default(), State::default());
    };
    let mut state = State::default();
    state.seed_initializers(model, graph);
    state.seed_inputs(graph, binding);
    let declared = declared_shapes(graph, &state.dims_used);

    let mut unsupported_ops = BTreeSet::new();
    let mut losses = Vec::new();
    for (node_index, node) in graph.node.iter().enumerate() {
        let inputs_known = (0..node.input.len())
            .filter(|&index| State::has_input(node, index))
            .all(|index| state.shape(node, index).is_some());
        let (outputs, reason) = match infer_node(&mut state, node) {
            NodeShapes::Known(outputs) => (outputs, None),
            NodeShapes::Missing => (Vec::new(), Some(LossReason::ValuesUnknown)),
            NodeShapes::DataDependent => (Vec::new(), Some(LossReason::DataDependent)),
            NodeShapes::Unsupported => {
                unsupported_ops.insert(qualified_op_type(node));
                (Vec::new(), Some(LossReason::NoRule))
            }
        };
        let mut lost = false;
        for (index, output_name) in node.output.iter().enumerate() {
            if output_name.is_empty() {
                continue;
            }
            let shape = outputs
                .get(index)
                .cloned()
                .flatten()
                .or_else(|| declared.get(output_name.as_str()).cloned());
            // A negative dim (e.g. from a ConstantOfShape of -1) is no shape.
            match shape.filter(|shape| shape.iter().all(|&dim| dim >= 0)) {
                Some(shape) => {
                    state.shapes.insert(output_name.clone(), shape);
                }
                None => lost |= index == 0,
            }
        }
        if lost && inputs_known {
            losses.push(ShapeLoss {
                node: node_id(node, node_index),
                op_type: qualified_op_type(node),
                reason: reason.unwrap_or(LossReason::ValuesUnknown),
            });
        }
    }
    let inferred = InferredShapes {
        shapes: state
            .shapes
            .iter()
            .map(|(name, shape)| (name.clone(), shape.clone()))
            .collect(),
        dims_used: state.dims_used.clone(),
        unsupported_ops: unsupported_ops.into_iter().collect(),
        losses,
    };
    (inferred, state)
}

/// `op_type`, prefixed with `domain:` when not the default ONNX domain.
pub(crate) fn qualified_op_type(node: &NodeProto) -> String {
    if is_default_domain(node) {
        node.op_type().to_owned()
    } else {
        format!("{}:{}", node.domain(), node.op_type())
    }
}

/// Declared shapes from `value_info` and graph outputs whose dims are all
/// fixed or bound symbolic names.
fn declared_shapes<'a>(
    graph: &'a onnx::GraphProto,
    dims_used: &BTreeMap<String, i64>,
) -> HashMap<&'a str, Vec<i64>> {
    let mut ignored_warnings = Vec::new();
    let mut declared = HashMap::new();
    for value in graph.value_info.iter().chain(&graph.output) {
        let info = TensorInfo::from_value_info(value, &mut ignored_warnings);
        let Some(shape) = info.shape else { continue };
        let concrete = shape
            .iter()
            .map(|dim| match dim {
                Dim::Fixed(size) => Some(*size),
                Dim::Symbolic(name) => dims_used.get(name).copied(),
                Dim::Unnamed => None,
            })
            .collect::<Option<Vec<_>>>();
        if let Some(concrete) = concrete {
            declared.insert(value.name(), concrete);
        }
    }
    declared
}

fn infer_node(state: &mut State, node: &NodeProto) -> NodeShapes {
    if !is_default_domain(node) {
        return NodeShapes::Unsupported;
    }
    let op_type = node.op_type();
    if op_type == "Constant" {
        return constant_node(node, state);
    }
    let shapes = if SAME_SHAPE_OPS.contains(&op_type) {
        same_shape(state, node)
    } else if BROADCAST_OPS.contains(&op_type) {
        let inputs = (0..node.input.len())
            .filter(|&index| State::has_input(node, index))
            .map(|index| state.shape(node, index))
            .collect::<Option<Vec<_>>>();
        inputs
            .and_then(|inputs| broadcast(&inputs))
            .map(|shape| vec![Some(shape)])
    } else if REDUCE_OPS.contains(&op_type) {
        reduce(state, node).map(|shape| vec![Some(shape)])
    } else {
        let single = match op_type {
            "Conv" => conv(state, node),
            "ConvTranspose" => conv_transpose(state, node),
            "MaxPool" | "AveragePool" | "LpPool" => pool(state, node),
            "GlobalAveragePool" | "GlobalMaxPool" | "GlobalLpPool" => {
                state.shape(node, 0).filter(|x| x.len() >= 2).map(|x| {
                    x.iter()
                        .take(2)
                        .copied()
                        .chain(x.iter().skip(2).map(|_| 1))
                        .collect()
                })
            }
            "Flatten" => flatten(state, node),
            "Gemm" => gemm_dims(state, node).map(|dims| vec![dims.m, dims.n]),
            "MatMul" => matmul_dims(state, node).map(|dims| dims.output),
            "Reshape" => reshape(state, node),
            "Transpose" => transpose(state, node),
            "Gather" => gather(state, node),
            "Unsqueeze" => unsqueeze(state, node),
            "Squeeze" => squeeze(state, node),
            "ArgMax" | "ArgMin" => arg_reduce(state, node),
            "Concat" => concat(state, node),
            "Slice" => slice(state, node),
            "Expand" => state
                .shape(node, 0)
                .zip(state.consts(node, 1))
                .and_then(|(x, target)| broadcast(&[x, target])),
            "ConstantOfShape" => state.consts(node, 0).map(<[i64]>::to_vec),
            "Shape" => shape_op(state, node).map(|values| vec![values.len() as i64]),
            "Size" => state.shape(node, 0).map(|_| Vec::new()),
            "Split" => return split(state, node),
            "Resize" | "Upsample" => more_ops::resize(state, node),
            "Tile" => more_ops::tile(state, node),
            "Pad" => more_ops::pad(state, node),
            "Range" => more_ops::range(state, node),
            "Einsum" => more_ops::einsum(state, node).map(|einsum| einsum.output),
            "DepthToSpace" | "SpaceToDepth" => more_ops::depth_space(state, node),
            "GatherElements" => state.shape(node, 1).map(<[i64]>::to_vec),
            "ScatterElements" | "ScatterND" | "Scatter" => {
                state.shape(node, 0).map(<[i64]>::to_vec)
            }
            "GatherND" => more_ops::gather_nd(state, node),
            "TopK" => return more_ops::top_k(state, node),
            "OneHot" => more_ops::one_hot(state, node),
            "NonZero" | "Unique" | "NonMaxSuppression" | "Compress" | "StringSplit" => {
                return NodeShapes::DataDependent;
            }
            _ => return NodeShapes::Unsupported,
        };
        single.map(|shape| vec![Some(shape)])
    };
    let Some(shapes) = shapes else {
        return NodeShapes::Missing;
    };
    fold_constants(state, node, &shapes);
    NodeShapes::Known(shapes)
}

fn constant_node(node: &NodeProto, state: &mut State) -> NodeShapes {
    let Some(attr) = node.attribute.first() else {
        return NodeShapes::Missing;
    };
    let mut floats = None;
    let (shape, values) = match attr.name() {
        "value" => {
            let Some(tensor) = attr.t.as_ref() else {
                return NodeShapes::Missing;
            };
            let small =
                element_count(&tensor.dims).is_some_and(|count| count <= MAX_CONST_ELEMENTS);
            let values = small
                .then(|| crate::model::tensor::inline_int_values(tensor))
                .flatten();
            if small && values.is_none() {
                floats = float_values(tensor);
            }
            (tensor.dims.clone(), values)
        }
        "sparse_value" => match attr.sparse_tensor.as_ref() {
            Some(sparse) => (sparse.dims.clone(), None),
            None => return NodeShapes::Missing,
        },
        "value_int" => (Vec::new(), Some(vec![attr.i()])),
        "value_ints" => (vec![attr.ints.len() as i64], Some(attr.ints.clone())),
        "value_float" => {
            floats = Some(vec![f64::from(attr.f())]);
            (Vec::new(), None)
        }
        "value_string" => (Vec::new(), None),
        "value_floats" => {
            if attr.floats.len() as u64 <= MAX_CONST_ELEMENTS {
                floats = Some(attr.floats.iter().map(|&v| f64::from(v)).collect());
            }
            (vec![attr.floats.len() as i64], None)
        }
        "value_strings" => (vec![attr.strings.len() as i64], None),
        _ => return NodeShapes::Missing,
    };
    if shape.iter().any(|&dim| dim < 0) {
        return NodeShapes::Missing;
    }
    if let Some(output) = node.output.first() {
        if let Some(values) = values {
            state.consts.insert(output.clone(), values);
        } else if let Some(floats) = floats {
            state.floats.insert(output.clone(), floats);
        }
    }
    NodeShapes::Known(vec![Some(shape)])
}

fn same_shape(state: &State, node: &NodeProto) -> Option<Vec<Option<Vec<i64>>>> {
    let x = state.shape(node, 0)?.to_vec();
    let second = match node.op_type() {
        // Dropout's mask has the input's shape.
        "Dropout" => Some(x.clone()),
        // LayerNormalization's Mean and InvStdDev keep the dims before `axis`.
        "LayerNormalization" => {
            let axis = normalize_axis(attr_int(node, "axis").unwrap_or(-1), x.len())?;
            Some(
                x.iter()
                    .enumerate()
                    .map(|(i, &d)| if i < axis { d } else { 1 })
                    .collect(),
            )
        }
        _ => None,
    };
    let third = (node.op_type() == "LayerNormalization")
        .then(|| second.clone())
        .flatten();
    Some(vec![Some(x), second, third])
}

fn flatten(state: &State, node: &NodeProto) -> Option<Vec<i64>> {
    let x = state.shape(node, 0)?;
    let axis = attr_int(node, "axis").unwrap_or(1);
    let axis = if axis == x.len() as i64 {
        x.len()
    } else {
        normalize_axis(axis, x.len())?
    };
    Some(vec![
        checked_product(&x[..axis])?,
        checked_product(&x[axis..])?,
    ])
}

/// Dims of a Gemm: `[M, K] x [K, N]` after applying `transA` / `transB`.
pub(crate) struct GemmDims {
    pub m: i64,
    pub n: i64,
    pub k: i64,
}

pub(crate) fn gemm_dims(state: &State, node: &NodeProto) -> Option<GemmDims> {
    let a = state.shape(node, 0)?;
    let b = state.shape(node, 1)?;
    let (&[a0, a1], &[b0, b1]) = (a, b) else {
        return None;
    };
    let (m, k) = if attr_int(node, "transA").unwrap_or(0) != 0 {
        (a1, a0)
    } else {
        (a0, a1)
    };
    let (k2, n) = if attr_int(node, "transB").unwrap_or(0) != 0 {
        (b1, b0)
    } else {
        (b0, b1)
    };
    (k == k2).then_some(GemmDims { m, n, k })
}

/// Dims of a (batched, broadcasting) MatMul.
pub(crate) struct MatMulDims {
    /// The output shape.
    pub output: Vec<i64>,
    /// The contracted dim.
    pub k: i64,
}

pub(crate) fn matmul_dims(state: &State, node: &NodeProto) -> Option<MatMulDims> {
    let a = state.shape(node, 0)?;
    let b = state.shape(node, 1)?;
    let (batch_a, m, k) = match a {
        [] => return None,
        [k] => (&[][..], None, *k),
        [batch @ .., m, k] => (batch, Some(*m), *k),
    };
    let (batch_b, k2, n) = match b {
        [] => return None,
        [k] => (&[][..], *k, None),
        [batch @ .., k, n] => (batch, *k, Some(*n)),
    };
    if k != k2 {
        return None;
    }
    let batch = if batch_a.is_empty() && batch_b.is_empty() {
        Vec::new()
    } else {
        broadcast(&[batch_a, batch_b])?
    };
    let output = batch.into_iter().chain(m).chain(n).collect();
    Some(MatMulDims { output, k })
}

fn reshape(state: &State, node: &NodeProto) -> Option<Vec<i64>> {
    let x = state.shape(node, 0)?;
    let target = match state.consts(node, 1) {
        Some(values) => values.to_vec(),
        // Reshape-1 had the shape as an attribute.
        None => attr_ints(node, "shape")?,
    };
    let allow_zero = attr_int(node, "allowzero").unwrap_or(0) != 0;
    let total = checked_product(x)?;
    let mut inferred_axis = None;
    let mut out = Vec::with_capacity(target.len());
    for (axis, &dim) in target.iter().enumerate() {
        match dim {
            0 if !allow_zero => out.push(*x.get(axis)?),
            -1 if inferred_axis.is_none() => {
                inferred_axis = Some(axis);
                out.push(1);
            }
            dim if dim >= 0 => out.push(dim),
            _ => return None,
        }
    }
    let known = checked_product(&out)?;
    match inferred_axis {
        Some(axis) => {
            if known == 0 || total % known != 0 {
                return None;
            }
            *out.get_mut(axis)? = total / known;
        }
        None if known != total => return None,
        None => {}
    }
    Some(out)
}

fn transpose(state: &State, node: &NodeProto) -> Option<Vec<i64>> {
    let x = state.shape(node, 0)?;
    let perm = attr_ints(node, "perm").unwrap_or_else(|| (0..x.len() as i64).rev().collect());
    if perm.len() != x.len() {
        return None;
    }
    let mut seen = vec![false; x.len()];
    perm.iter()
        .map(|&axis| {
            let axis = usize::try_from(axis).ok()?;
            let seen_slot = seen.get_mut(axis)?;
            if *seen_slot {
                return None;
            }
            *seen_slot = true;
            x.get(axis).copied()
        })
        .collect()
}

fn gather(state: &State, node: &NodeProto) -> Option<Vec<i64>> {
    let data = state.shape(node, 0)?;
    let indices = state.shape(node, 1)?;
    let axis = normalize_axis(attr_int(node, "axis").unwrap_or(0), data.len())?;
    Some(
        data[..axis]
            .iter()
            .chain(indices)
            .chain(&data[axis + 1..])
            .copied()
            .collect(),
    )
}

fn unsqueeze(state: &State, node: &NodeProto) -> Option<Vec<i64>> {
    let x = state.shape(node, 0)?;
    let axes = ints_from_attr_or_input(state, node, "axes", 1)??;
    let out_rank = x.len() + axes.len();
    let mut axes = axes
        .iter()
        .map(|&axis| normalize_axis(axis, out_rank))
        .collect::<Option<Vec<_>>>()?;
    axes.sort_unstable();
    axes.dedup();
    if axes.len() + x.len() != out_rank {
        return None;
    }
    let mut input_dims = x.iter();
    (0..out_rank)
        .map(|axis| {
            if axes.binary_search(&axis).is_ok() {
                Some(1)
            } else {
                input_dims.next().copied()
            }
        })
        .collect()
}

fn squeeze(state: &State, node: &NodeProto) -> Option<Vec<i64>> {
    let x = state.shape(node, 0)?;
    match ints_from_attr_or_input(state, node, "axes", 1)? {
        None => Some(x.iter().copied().filter(|&dim| dim != 1).collect()),
        Some(axes) => {
            let axes = axes
                .iter()
                .map(|&axis| normalize_axis(axis, x.len()))
                .collect::<Option<Vec<_>>>()?;
            if axes.iter().any(|&axis| x.get(axis) != Some(&1)) {
                return None;
            }
            Some(
                x.iter()
                    .enumerate()
                    .filter(|(axis, _)| !axes.contains(axis))
                    .map(|(_, &dim)| dim)
                    .collect(),
            )
        }
    }
}

fn reduce_axes(x: &[i64], axes: &[usize], keep_dims: bool) -> Vec<i64> {
    x.iter()
        .enumerate()
        .filter_map(|(axis, &dim)| match (axes.contains(&axis), keep_dims) {
            (false, _) => Some(dim),
            (true, true) => Some(1),
            (true, false) => None,
        })
        .collect()
}

fn reduce(state: &State, node: &NodeProto) -> Option<Vec<i64>> {
    let x = state.shape(node, 0)?;
    let keep_dims = attr_int(node, "keepdims").unwrap_or(1) != 0;
    let axes = ints_from_attr_or_input(state, node, "axes", 1)?.unwrap_or_default();
    let axes = if axes.is_empty() {
        if attr_int(node, "noop_with_empty_axes").unwrap_or(0) != 0 {
            return Some(x.to_vec());
        }
        (0..x.len()).collect()
    } else {
        axes.iter()
            .map(|&axis| normalize_axis(axis, x.len()))
            .collect::<Option<Vec<_>>>()?
    };
    Some(reduce_axes(x, &axes, keep_dims))
}

fn arg_reduce(state: &State, node: &NodeProto) -> Option<Vec<i64>> {
    let x = state.shape(node, 0)?;
    let axis = normalize_axis(attr_int(node, "axis").unwrap_or(0), x.len())?;
    let keep_dims = attr_int(node, "keepdims").unwrap_or(1) != 0;
    Some(reduce_axes(x, &[axis], keep_dims))
}

fn concat(state: &State, node: &NodeProto) -> Option<Vec<i64>> {
    let inputs = (0..node.input.len())
        .filter(|&index| State::has_input(node, index))
        .map(|index| state.shape(node, index))
        .collect::<Option<Vec<_>>>()?;
    let first = inputs.first()?;
    let axis = normalize_axis(attr_int(node, "axis")?, first.len())?;
    let mut out = first.to_vec();
    for shape in inputs.iter().skip(1) {
        if shape.len() != out.len() {
            return None;
        }
        for (index, (slot, &dim)) in out.iter_mut().zip(shape.iter()).enumerate() {
            if index == axis {
                *slot = slot.checked_add(dim)?;
            } else if *slot != dim {
                return None;
            }
        }
    }
    Some(out)
}

fn slice(state: &State, node: &NodeProto) -> Option<Vec<i64>> {
    let x = state.shape(node, 0)?;
    let (starts, ends, axes, steps) = if let Some(starts) = attr_ints(node, "starts") {
        // Slice-1: starts, ends and axes are attributes.
        (
            starts,
            attr_ints(node, "ends")?,
            attr_ints(node, "axes"),
            None,
        )
    } else {
        let optional = |index| {
            if State::has_input(node, index) {
                state
                    .consts(node, index)
                    .map(|values| Some(values.to_vec()))
            } else {
                Some(None)
            }
        };
        (
            state.consts(node, 1)?.to_vec(),
            state.consts(node, 2)?.to_vec(),
            optional(3)?,
            optional(4)?,
        )
    };
    let axes = axes.unwrap_or_else(|| (0..starts.len() as i64).collect());
    let steps = steps.unwrap_or_else(|| vec![1; starts.len()]);
    if ends.len() != starts.len() || axes.len() != starts.len() || steps.len() != starts.len() {
        return None;
    }
    let mut out = x.to_vec();
    for (((&start, &end), &axis), &step) in starts.iter().zip(&ends).zip(&axes).zip(&steps) {
        let axis = normalize_axis(axis, x.len())?;
        let slot = out.get_mut(axis)?;
        *slot = slice_len(*slot, start, end, step)?;
    }
    Some(out)
}

fn split(state: &State, node: &NodeProto) -> NodeShapes {
    let Some(x) = state.shape(node, 0) else {
        return NodeShapes::Missing;
    };
    let Some(axis) = normalize_axis(attr_int(node, "axis").unwrap_or(0), x.len()) else {
        return NodeShapes::Missing;
    };
    let size = x[axis];
    let sizes = match ints_from_attr_or_input(state, node, "split", 1) {
        None => return NodeShapes::Missing,
        Some(Some(sizes)) => sizes,
        Some(None) => {
            // Equal parts, one per output (opset 18's `num_outputs` must match
            // the outputs); the last part may be smaller.
            let parts = node.output.len().max(1) as i64;
            let Ok(chunk) = i64::try_from(div_ceil(i128::from(size), i128::from(parts))) else {
                return NodeShapes::Missing;
            };
            (0..parts)
                .map(|part| chunk.min(size - part * chunk).max(0))
                .collect()
        }
    };
    if sizes
        .iter()
        .try_fold(0i64, |sum, &part| sum.checked_add(part))
        != Some(size)
    {
        return NodeShapes::Missing;
    }
    let shapes = sizes
        .iter()
        .map(|&part| {
            let mut shape = x.to_vec();
            shape[axis] = part;
            Some(shape)
        })
        .collect();
    NodeShapes::Known(shapes)
}
