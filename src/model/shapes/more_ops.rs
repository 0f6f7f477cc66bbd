//! Shape rules for resampling (Resize, Upsample), padding, tiling, ranges,
//! Einsum, depth/space rearrangement, GatherND, TopK and OneHot, and the
//! reading of small float tensors (scales, ranges) they need.

use std::collections::BTreeMap;

use super::rules::{broadcast, normalize_axis};
use super::state::{NodeShapes, State};
use crate::model::node::{attr, attr_int, attr_ints, attr_string};
use crate::model::onnx::NodeProto;

/// Largest dim a float computation (scales, ranges) may give; above it the
/// value is taken as nonsense rather than a shape.
const MAX_FLOAT_DIM: f64 = 1e15;

/// A float computed for a dim, as a dim: finite, not negative, not absurd.
fn float_dim(value: f64) -> Option<i64> {
    (value.is_finite() && (0.0..=MAX_FLOAT_DIM).contains(&value)).then_some(value as i64)
}

/// Resize (opset 10: `X, scales`; 11+: `X, roi, scales, sizes`; 18+: `axes`
/// and `keep_aspect_ratio_policy`) and Upsample (scales as attribute in
/// opset 7, as input 1 in opset 9).
pub(super) fn resize(state: &State, node: &NodeProto) -> Option<Vec<i64>> {
    let x = state.shape(node, 0)?;
    let rank = x.len();
    if let Some(scales) = attr(node, "scales") {
        let scales = scales
            .floats
            .iter()
            .map(|&v| f64::from(v))
            .collect::<Vec<_>>();
        return scaled(x, &(0..rank).collect::<Vec<_>>(), &scales);
    }
    let axes = match attr_ints(node, "axes") {
        Some(axes) => axes
            .iter()
            .map(|&axis| normalize_axis(axis, rank))
            .collect::<Option<Vec<_>>>()?,
        None => (0..rank).collect(),
    };
    // Two inputs: Resize-10 or Upsample-9, scales at 1.
    let (scales_index, sizes_index) = if node.input.len() == 2 {
        (1, None)
    } else {
        (2, Some(3))
    };
    if let Some(sizes_index) = sizes_index.filter(|&index| State::has_input(node, index)) {
        let sizes = state.consts(node, sizes_index)?;
        return sized(node, x, &axes, sizes);
    }
    // The spec scales by the roi's extent under tf_crop_and_resize; ONNX
    // Runtime, which runs the model, does not: its sizes are followed.
    scaled(x, &axes, &state.numbers(node, scales_index)?)
}

/// Output dims `floor(x * scale)`.
fn scaled(x: &[i64], axes: &[usize], scales: &[f64]) -> Option<Vec<i64>> {
    if scales.len() != axes.len() {
        return None;
    }
    let mut out = x.to_vec();
    for (&axis, &scale) in axes.iter().zip(scales) {
        let size = *x.get(axis)? as f64;
        *out.get_mut(axis)? = float_dim((size * scale).floor())?;
    }
    Some(out)
}

/// Output dims from Resize's `sizes`, with the aspect-ratio policy.
fn sized(node: &NodeProto, x: &[i64], axes: &[usize], sizes: &[i64]) -> Option<Vec<i64>> {
    if sizes.len() != axes.len() || sizes.iter().any(|&size| size < 0) {
        return None;
    }
    let mut out = x.to_vec();
    let policy = attr_string(node, "keep_aspect_ratio_policy").unwrap_or_else(|| "stretch".into());
    match policy.as_str() {
        "stretch" => {
            for (&axis, &size) in axes.iter().zip(sizes) {
                *out.get_mut(axis)? = size;
            }
        }
        "not_larger" | "not_smaller" => {
            let ratios = axes
                .iter()
                .zip(sizes)
                .map(|(&axis, &size)| {
                    let input = *x.get(axis)?;
                    (input > 0).then(|| size as f64 / input as f64)
                })
                .collect::<Option<Vec<_>>>()?;
            let pick = if policy == "not_larger" {
                f64::min
            } else {
                f64::max
            };
            let scale = ratios.into_iter().reduce(pick)?;
            for &axis in axes {
                let size = *x.get(axis)? as f64;
                // round(scale * size), halves away from zero as std::round.
                *out.get_mut(axis)? = float_dim((scale * size).round())?;
            }
        }
        _ => return None,
    }
    Some(out)
}

/// Tile (opset 6+): each dim times its repeat count.
pub(super) fn tile(state: &State, node: &NodeProto) -> Option<Vec<i64>> {
    let x = state.shape(node, 0)?;
    let repeats = state.consts(node, 1)?;
    if repeats.len() != x.len() {
        return None;
    }
    x.iter()
        .zip(repeats)
        .map(|(&dim, &times)| (times >= 0).then(|| dim.checked_mul(times)).flatten())
        .collect()
}

/// Pad: `paddings` (opset 1) or `pads` (opset 2) attribute, or the `pads`
/// input (11+) with optional `axes` (18+); begins then ends.
pub(super) fn pad(state: &State, node: &NodeProto) -> Option<Vec<i64>> {
    let x = state.shape(node, 0)?;
    let rank = x.len();
    let pads = match attr_ints(node, "pads").or_else(|| attr_ints(node, "paddings")) {
        Some(pads) => pads,
        None => state.consts(node, 1)?.to_vec(),
    };
    let axes = if State::has_input(node, 3) {
        state
            .consts(node, 3)?
            .iter()
            .map(|&axis| normalize_axis(axis, rank))
            .collect::<Option<Vec<_>>>()?
    } else {
        (0..rank).collect()
    };
    if pads.len() != 2 * axes.len() {
        return None;
    }
    let mut out = x.to_vec();
    for (i, &axis) in axes.iter().enumerate() {
        let slot = out.get_mut(axis)?;
        let padded = slot
            .checked_add(*pads.get(i)?)?
            .checked_add(*pads.get(i + axes.len())?)?;
        *slot = (padded >= 0).then_some(padded)?;
    }
    Some(out)
}

/// Range: `max(ceil((limit - start) / delta), 0)` elements.
pub(super) fn range(state: &State, node: &NodeProto) -> Option<Vec<i64>> {
    let scalar = |index| match state.numbers(node, index)?.as_slice() {
        &[value] => Some(value),
        _ => None,
    };
    let (start, limit, delta) = (scalar(0)?, scalar(1)?, scalar(2)?);
    if delta == 0.0 {
        return None;
    }
    let count = ((limit - start) / delta).ceil().max(0.0);
    Some(vec![float_dim(count)?])
}

/// The dims of an Einsum: its output and every label's size.
pub(crate) struct EinsumDims {
    /// The output shape.
    pub output: Vec<i64>,
    /// Product of the sizes of every distinct label (and the broadcast
    /// ellipsis dims): the number of terms of the full sum.
    pub label_product: i64,
    /// Number of operands.
    pub operands: usize,
}

/// Einsum: labels sized from the operands, `...` broadcast, implicit output
/// (ellipsis, then the labels seen once, sorted) when there is no `->`.
pub(crate) fn einsum(state: &State, node: &NodeProto) -> Option<EinsumDims> {
    let equation: String = attr_string(node, "equation")?
        .chars()
        .filter(|c| !c.is_whitespace())
        .collect();
    let (lhs, rhs) = match equation.split_once("->") {
        Some((lhs, rhs)) => (lhs, Some(rhs)),
        None => (equation.as_str(), None),
    };
    let terms = lhs.split(',').collect::<Vec<_>>();
    if terms.len() != node.input.len() {
        return None;
    }
    let mut sizes: BTreeMap<char, i64> = BTreeMap::new();
    let mut seen: BTreeMap<char, usize> = BTreeMap::new();
    let mut ellipses: Vec<Vec<i64>> = Vec::new();
    for (index, term) in terms.iter().enumerate() {
        let shape = state.shape(node, index)?;
        let (before, after) = match term.split_once("...") {
            Some((before, after)) => (before, Some(after)),
            None => (*term, None),
        };
        let labels_before = before.chars().collect::<Vec<_>>();
        let labels_after = after.map(|a| a.chars().collect::<Vec<_>>());
        let letters = labels_before.len() + labels_after.as_ref().map_or(0, Vec::len);
        if letters > shape.len() || (labels_after.is_none() && letters != shape.len()) {
            return None;
        }
        let ellipsis_rank = shape.len() - letters;
        let mut dims = shape.iter().copied();
        let mut label = |c: char, dim: i64| -> Option<()> {
            if !c.is_ascii_alphabetic() {
                return None;
            }
            *seen.entry(c).or_default() += 1;
            let slot = sizes.entry(c).or_insert(dim);
            if *slot == 1 {
                *slot = dim;
            } else if dim != 1 && dim != *slot {
                return None;
            }
            Some(())
        };
        for &c in &labels_before {
            label(c, dims.next()?)?;
        }
        if let Some(labels_after) = labels_after {
            ellipses.push(dims.by_ref().take(ellipsis_rank).collect());
            for c in labels_after {
                label(c, dims.next()?)?;
            }
        }
    }
    let ellipsis = if ellipses.is_empty() {
        Vec::new()
    } else {
        broadcast(&ellipses.iter().map(Vec::as_slice).collect::<Vec<_>>())?
    };
    let output = match rhs {
        Some(rhs) => {
            let (before, after) = match rhs.split_once("...") {
                Some((before, after)) => (before, Some(after)),
                None => (rhs, None),
            };
            let mut output = before
                .chars()
                .map(|c| sizes.get(&c).copied())
                .collect::<Option<Vec<_>>>()?;
            if let Some(after) = after {
                output.extend(&ellipsis);
                for c in after.chars() {
                    output.push(*sizes.get(&c)?);
                }
            }
            output
        }
        None => ellipsis
            .iter()
            .copied()
            .chain(
                seen.iter()
                    .filter(|(_, count)| **count == 1)
                    .filter_map(|(c, _)| sizes.get(c).copied()),
            )
            .collect(),
    };
    let label_product = sizes
        .values()
        .chain(&ellipsis)
        .try_fold(1i64, |product, &dim| product.checked_mul(dim))?;
    Some(EinsumDims {
        output,
        label_product,
        operands: terms.len(),
    })
}

/// DepthToSpace and SpaceToDepth on `[N, C, H, W]`.
pub(super) fn depth_space(state: &State, node: &NodeProto) -> Option<Vec<i64>> {
    let &[n, c, h, w] = state.shape(node, 0)? else {
        return None;
    };
    let block = attr_int(node, "blocksize")?;
    let square = block.checked_mul(block).filter(|&square| square > 0)?;
    if node.op_type() == "DepthToSpace" {
        (c % square == 0).then_some(vec![
            n,
            c / square,
            h.checked_mul(block)?,
            w.checked_mul(block)?,
        ])
    } else {
        (h % block == 0 && w % block == 0).then_some(vec![
            n,
            c.checked_mul(square)?,
            h / block,
            w / block,
        ])
    }
}

/// GatherND: `indices[:-1] + data[batch_dims + indices[-1]:]`.
pub(super) fn gather_nd(state: &State, node: &NodeProto) -> Option<Vec<i64>> {
    let data = state.shape(node, 0)?;
    let (&last, outer) = state.shape(node, 1)?.split_last()?;
    let batch_dims = usize::try_from(attr_int(node, "batch_dims").unwrap_or(0)).ok()?;
    let tail = batch_dims.checked_add(usize::try_from(last).ok()?)?;
    Some(outer.iter().chain(data.get(tail..)?).copied().collect())
}

/// TopK: values and indices with `k` along `axis` (`k` an attribute in
/// opset 1, input 1 later).
pub(super) fn top_k(state: &State, node: &NodeProto) -> NodeShapes {
    let shape = (|| {
        let x = state.shape(node, 0)?;
        let axis = normalize_axis(attr_int(node, "axis").unwrap_or(-1), x.len())?;
        let k = match attr_int(node, "k") {
            Some(k) => k,
            None => match state.consts(node, 1)? {
                &[k] => k,
                _ => return None,
            },
        };
        let mut out = x.to_vec();
        *out.get_mut(axis)? = (0..=x[axis]).contains(&k).then_some(k)?;
        Some(out)
    })();
    match shape {
        Some(shape) => NodeShapes::Known(vec![Some(shape.clone()), Some(shape)]),
        None => NodeShapes::Missing,
    }
}

/// OneHot: the indices' shape with `depth` inserted at `axis`.
pub(super) fn one_hot(state: &State, node: &NodeProto) -> Option<Vec<i64>> {
    let indices = state.shape(node, 0)?;
    let depth = match state.numbers(node, 1)?.as_slice() {
        &[depth] => float_dim(depth.floor())?,
        _ => return None,
    };
    let axis = normalize_axis(attr_int(node, "axis").unwrap_or(-1), indices.len() + 1)?;
    let mut out = indices.to_vec();
    out.insert(axis, depth);
    Some(out)
}
