//! The constant tensors structured pruning reads and shrinks: float32 values
//! in an initializer or a `Constant` node, or the fill of a `ConstantOfShape`
//! (old model zoo exports), where shrinking rewrites the shape operand.

use crate::model::Model;
use crate::model::onnx::{GraphProto, ModelProto, TensorProto};
use crate::transform::TransformError;
use crate::transform::graph::{self, ConstRef, FLOAT, const_tensor, const_tensor_mut, find_const};

/// `TensorProto.DataType` code of int64.
const INT64: i32 = crate::model::onnx::tensor_proto::DataType::Int64 as i32;

/// Where a constant's values come from.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(super) enum Source {
    /// A float32 tensor.
    Values(ConstRef),
    /// `ConstantOfShape(shape)` filled with `value`.
    Fill {
        /// The int64 shape operand.
        shape: ConstRef,
        /// The fill value.
        value: f32,
    },
}

/// A float32 constant and its dims.
#[derive(Debug, Clone, PartialEq)]
pub(super) struct ConstInfo {
    /// Where the values are.
    pub source: Source,
    /// Its dims.
    pub dims: Vec<usize>,
}

/// The float32 constant named `name`, if it is one.
pub(super) fn lookup(graph: &GraphProto, name: &str) -> Option<ConstInfo> {
    if let Some(at) = find_const(graph, name) {
        let tensor = const_tensor(graph, at)?;
        if tensor.data_type() != FLOAT {
            return None;
        }
        return Some(ConstInfo {
            source: Source::Values(at),
            dims: tensor.dims.iter().map(|d| (*d).max(0) as usize).collect(),
        });
    }
    let node = graph.node.iter().find(|node| {
        node.op_type() == "ConstantOfShape" && node.output.first().is_some_and(|o| o == name)
    })?;
    let shape_at = find_const(graph, node.input.first()?)?;
    let shape = int64_values(const_tensor(graph, shape_at)?)?;
    let value = match graph::attr(node, "value").and_then(|a| a.t.as_ref()) {
        None => 0.0,
        Some(tensor) if tensor.data_type() == FLOAT => {
            graph::float_values(tensor).ok()?.first().copied()?
        }
        Some(_) => return None,
    };
    if shape.iter().any(|d| *d < 0) {
        return None;
    }
    Some(ConstInfo {
        source: Source::Fill {
            shape: shape_at,
            value,
        },
        dims: shape.iter().map(|d| *d as usize).collect(),
    })
}

/// The most elements a `ConstantOfShape` weight is expanded to (1 GiB of
/// float32); a model declaring more is refused rather than allocated.
const MAX_FILL_ELEMENTS: usize = 1 << 28;

/// The constant's values (a fill is expanded).
pub(super) fn values(graph: &GraphProto, info: &ConstInfo) -> Result<Vec<f32>, TransformError> {
    match info.source {
        Source::Values(at) => match const_tensor(graph, at) {
            Some(tensor) => graph::float_values(tensor),
            None => Ok(Vec::new()),
        },
        Source::Fill { value, .. } => {
            let len = info
                .dims
                .iter()
                .try_fold(1usize, |count, dim| count.checked_mul(*dim))
                .filter(|len| *len <= MAX_FILL_ELEMENTS)
                .ok_or_else(|| {
                    TransformError::Unsupported(format!(
                        "a ConstantOfShape weight of shape {:?} is too large to expand (over {MAX_FILL_ELEMENTS} elements)",
                        info.dims
                    ))
                })?;
            Ok(vec![value; len])
        }
    }
}

/// Keeps the indices in `keep` (sorted) along `axis` of the constant `name`.
pub(super) fn shrink(
    graph: &mut GraphProto,
    name: &str,
    axis: usize,
    keep: &[usize],
) -> Result<(), TransformError> {
    let Some(info) = lookup(graph, name) else {
        return Err(TransformError::Unsupported(format!(
            "constant {name:?} disappeared while pruning"
        )));
    };
    if info
        .dims
        .get(axis)
        .is_none_or(|d| keep.iter().any(|k| k >= d))
    {
        return Err(TransformError::Unsupported(format!(
            "constant {name:?} has no axis {axis} with the channels to keep"
        )));
    }
    match info.source {
        Source::Values(at) => {
            let values = values(graph, &info)?;
            let kept = keep_along_axis(&values, &info.dims, axis, keep);
            if let Some(tensor) = const_tensor_mut(graph, at) {
                if let Some(dim) = tensor.dims.get_mut(axis) {
                    *dim = keep.len() as i64;
                }
                graph::set_float_values(tensor, &kept);
            }
        }
        Source::Fill { shape, .. } => {
            let mut dims: Vec<i64> = info.dims.iter().map(|d| *d as i64).collect();
            if let Some(dim) = dims.get_mut(axis) {
                *dim = keep.len() as i64;
            }
            if let Some(tensor) = const_tensor_mut(graph, shape) {
                set_int64_values(tensor, &dims);
            }
        }
    }
    Ok(())
}

/// Keeps the indices in `keep` (sorted) along `axis`.
pub(super) fn keep_along_axis(
    values: &[f32],
    dims: &[usize],
    axis: usize,
    keep: &[usize],
) -> Vec<f32> {
    let outer: usize = dims.iter().take(axis).product();
    let channels = dims.get(axis).copied().unwrap_or(1);
    let inner: usize = dims.iter().skip(axis + 1).product();
    let mut out = Vec::with_capacity(outer * keep.len() * inner);
    for o in 0..outer {
        for &c in keep {
            let start = (o * channels + c) * inner;
            if let Some(block) = values.get(start..start + inner) {
                out.extend_from_slice(block);
            }
        }
    }
    out
}

/// Per index along `axis`: the sum of |v| (L1) or of v² (squared L2).
pub(super) fn axis_norms(values: &[f32], dims: &[usize], axis: usize, squared: bool) -> Vec<f64> {
    let channels = dims.get(axis).copied().unwrap_or(0);
    let inner: usize = dims.iter().skip(axis + 1).product::<usize>().max(1);
    let mut norms = vec![0f64; channels];
    if channels == 0 {
        return norms;
    }
    for (index, value) in values.iter().enumerate() {
        let channel = (index / inner) % channels;
        if let Some(norm) = norms.get_mut(channel) {
            let v = f64::from(*value);
            *norm += if squared { v * v } else { v.abs() };
        }
    }
    norms
}

/// The values of a small int64 tensor.
pub(super) fn int64_values(tensor: &TensorProto) -> Option<Vec<i64>> {
    if tensor.data_type() != INT64 {
        return None;
    }
    let model = Model::from_proto(ModelProto::default(), None);
    let bytes = model.tensor_bytes(tensor).ok()?;
    Some(
        bytes
            .chunks_exact(8)
            .map(|c| i64::from_le_bytes([c[0], c[1], c[2], c[3], c[4], c[5], c[6], c[7]]))
            .collect(),
    )
}

/// Replaces an int64 tensor's values (same count), as `raw_data`.
pub(super) fn set_int64_values(tensor: &mut TensorProto, values: &[i64]) {
    tensor.data_type = Some(INT64);
    tensor.int64_data.clear();
    tensor.raw_data = Some(values.iter().flat_map(|v| v.to_le_bytes()).collect());
}

/// Float32 weight elements of the main graph: initializers, `Constant`
/// values and `ConstantOfShape` fills.
pub(super) fn float_weight_elements(graph: &GraphProto) -> u64 {
    let count = |t: &TensorProto| -> u64 {
        if t.data_type() == FLOAT {
            t.dims
                .iter()
                .fold(1u64, |count, d| count.saturating_mul((*d).max(0) as u64))
        } else {
            0
        }
    };
    let initializers: u64 = graph
        .initializer
        .iter()
        .map(count)
        .fold(0, u64::saturating_add);
    let nodes: u64 = graph
        .node
        .iter()
        .map(|node| match node.op_type() {
            "Constant" => graph::attr(node, "value")
                .and_then(|a| a.t.as_ref())
                .map_or(0, count),
            "ConstantOfShape" => {
                node.output
                    .first()
                    .and_then(|o| lookup(graph, o))
                    .map_or(0, |info| {
                        info.dims
                            .iter()
                            .fold(1u64, |count, d| count.saturating_mul(*d as u64))
                    })
            }
            _ => 0,
        })
        .fold(0, u64::saturating_add);
    initializers.saturating_add(nodes)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keeping_channels_slices_the_right_axis() {
        let values = [1.0, 2.0, 3.0, 4.0, 5.0, 6.0];
        assert_eq!(
            keep_along_axis(&values, &[2, 3], 1, &[0, 2]),
            vec![1.0, 3.0, 4.0, 6.0]
        );
        assert_eq!(keep_along_axis(&values, &[3, 2], 0, &[1]), vec![3.0, 4.0]);
    }

    #[test]
    fn norms_per_index_along_an_axis() {
        // [3, 2]: rows 1+2, 3+4, 5+6.
        let values = [1.0, -2.0, 3.0, 4.0, -5.0, 6.0];
        assert_eq!(axis_norms(&values, &[3, 2], 0, false), vec![3.0, 7.0, 11.0]);
        // Columns, squared: 1+9+25, 4+16+36.
        assert_eq!(axis_norms(&values, &[3, 2], 1, true), vec![35.0, 56.0]);
    }
}
