//! Shape rules several op files share: broadcasting, axes, products, slice
//! lengths, reading integer attributes or inputs, and `Shape`.

use crate::model::node::{attr_int, attr_ints};
use crate::model::onnx::NodeProto;

use super::state::State;

/// Numpy-style multidirectional broadcasting; `None` if incompatible.
pub(crate) fn broadcast(shapes: &[&[i64]]) -> Option<Vec<i64>> {
    let rank = shapes.iter().map(|shape| shape.len()).max()?;
    let mut out = vec![1i64; rank];
    for shape in shapes {
        let offset = rank - shape.len();
        for (slot, &dim) in out.iter_mut().skip(offset).zip(shape.iter()) {
            if *slot == 1 {
                *slot = dim;
            } else if dim != 1 && dim != *slot {
                return None;
            }
        }
    }
    Some(out)
}

/// Product of dims, `None` on overflow.
pub(super) fn checked_product(dims: &[i64]) -> Option<i64> {
    dims.iter()
        .try_fold(1i64, |product, &dim| product.checked_mul(dim))
}

/// Normalizes a possibly negative axis against `rank`.
pub(super) fn normalize_axis(axis: i64, rank: usize) -> Option<usize> {
    let rank = i64::try_from(rank).ok()?;
    let axis = if axis < 0 { axis + rank } else { axis };
    (0..rank).contains(&axis).then_some(axis as usize)
}

/// Input or attribute holding a list of ints (`axes`, `split`, ...): the
/// attribute if present, else input `index` if given. `Some(None)` means
/// neither is given; `None` means the input is given but not a known constant.
pub(super) fn ints_from_attr_or_input(
    state: &State,
    node: &NodeProto,
    name: &str,
    index: usize,
) -> Option<Option<Vec<i64>>> {
    if let Some(values) = attr_ints(node, name) {
        return Some(Some(values));
    }
    if State::has_input(node, index) {
        return state
            .consts(node, index)
            .map(|values| Some(values.to_vec()));
    }
    Some(None)
}

/// Ceiling division for a positive denominator (truncating for non-positive numerators).
pub(super) fn div_ceil(numerator: i128, denominator: i128) -> i128 {
    if numerator <= 0 {
        numerator / denominator
    } else {
        (numerator + denominator - 1) / denominator
    }
}

/// Output length of slicing a dim of `size` with ONNX Slice semantics.
pub(super) fn slice_len(size: i64, start: i64, end: i64, step: i64) -> Option<i64> {
    if step == 0 {
        return None;
    }
    if size <= 0 {
        return Some(0);
    }
    let (size, start, end, step) = (
        i128::from(size),
        i128::from(start),
        i128::from(end),
        i128::from(step),
    );
    let start = if start < 0 { start + size } else { start };
    let end = if end < 0 { end + size } else { end };
    let len = if step > 0 {
        let start = start.clamp(0, size);
        let end = end.clamp(0, size);
        (end - start + step - 1).div_euclid(step)
    } else {
        let start = start.clamp(0, size - 1);
        let end = end.clamp(-1, size - 1);
        (start - end - step - 1).div_euclid(-step)
    };
    i64::try_from(len.max(0)).ok()
}

/// The values a Shape node produces (its input's dims, sliced by `start`/`end`).
pub(super) fn shape_op(state: &State, node: &NodeProto) -> Option<Vec<i64>> {
    let x = state.shape(node, 0)?;
    let rank = x.len() as i64;
    let clamp = |value: i64| (if value < 0 { value + rank } else { value }).clamp(0, rank) as usize;
    let start = clamp(attr_int(node, "start").unwrap_or(0));
    let end = clamp(attr_int(node, "end").unwrap_or(rank));
    Some(x.get(start..end.max(start))?.to_vec())
}
