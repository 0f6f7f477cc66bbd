//! Channel edits of structured pruning: keeping some indices along an axis
//! of a weight (stored values, or a fill's shape operand), and the per-index
//! norms that rank them.

use crate::model::onnx::GraphProto;
use crate::transform::TransformError;
use crate::transform::graph::{self, const_tensor_mut};
use crate::transform::weights::{Source, lookup, set_int64_values, values};

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
