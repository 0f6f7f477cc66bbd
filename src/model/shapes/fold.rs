//! Constant folding of small integer tensors (shape arithmetic), and of
//! small float tensors where scales or sizes go through float arithmetic
//! (`Shape -> Cast -> Mul -> Cast` before a Resize).

use super::rules::{checked_product, shape_op, slice_len};
use super::state::{MAX_CONST_ELEMENTS, State};
use crate::model::node::{attr, attr_int};
use crate::model::onnx::NodeProto;
use crate::model::types::element_count;

/// Folds small integer tensors through shape arithmetic so that a later
/// Reshape / Unsqueeze / Slice sees its constant inputs.
pub(super) fn fold_constants(state: &mut State, node: &NodeProto, shapes: &[Option<Vec<i64>>]) {
    let Some(output) = node.output.first().filter(|name| !name.is_empty()) else {
        return;
    };
    let Some(Some(out_shape)) = shapes.first() else {
        return;
    };
    if element_count(out_shape).is_none_or(|count| count > MAX_CONST_ELEMENTS) {
        return;
    }
    let values = match node.op_type() {
        "Shape" => shape_op(state, node),
        "Size" => state
            .shape(node, 0)
            .and_then(checked_product)
            .map(|size| vec![size]),
        "Identity" | "Reshape" | "Unsqueeze" | "Squeeze" | "Flatten" => {
            state.consts(node, 0).map(<[i64]>::to_vec)
        }
        // Only casts to integer types keep integer values; floats truncate.
        "Cast" => matches!(attr_int(node, "to"), Some(2..=7 | 12 | 13))
            .then(|| match state.consts(node, 0) {
                Some(values) => Some(values.to_vec()),
                None => state
                    .floats
                    .get(node.input.first()?)?
                    .iter()
                    .map(|&value| {
                        (value.is_finite() && value.abs() < 9.0e18).then_some(value as i64)
                    })
                    .collect(),
            })
            .flatten(),
        "Concat" => (0..node.input.len())
            .map(|index| state.consts(node, index))
            .collect::<Option<Vec<_>>>()
            .filter(|_| out_shape.len() == 1)
            .map(|parts| parts.concat()),
        "Gather" => fold_gather(state, node),
        "Slice" => {
            let data = state.consts(node, 0);
            let x = state.shape(node, 0);
            match (data, x, state.consts(node, 1), state.consts(node, 2)) {
                (Some(data), Some(&[size]), Some(&[start]), Some(&[end])) => {
                    let step = state
                        .consts(node, 4)
                        .and_then(|s| s.first().copied())
                        .unwrap_or(1);
                    fold_slice(data, size, start, end, step)
                }
                _ => None,
            }
        }
        "ConstantOfShape" => {
            let fill =
                attr(node, "value")
                    .and_then(|attr| attr.t.as_ref())
                    .map_or(Some(0), |tensor| {
                        crate::model::tensor::inline_int_values(tensor)
                            .and_then(|values| values.first().copied())
                    });
            fill.zip(element_count(out_shape))
                .map(|(fill, count)| vec![fill; count as usize])
        }
        "Add" | "Sub" | "Mul" | "Div" | "Equal" | "Max" | "Min" => {
            fold_arithmetic(state, node, out_shape)
        }
        "Where" => fold_where(state, node, out_shape),
        "Neg" => state
            .consts(node, 0)
            .and_then(|values| values.iter().map(|value| value.checked_neg()).collect()),
        _ => None,
    };
    let count = element_count(out_shape);
    if let Some(values) = values
        && count == Some(values.len() as u64)
    {
        state.consts.insert(output.clone(), values);
    } else if let Some(values) = fold_floats(state, node, out_shape)
        && count == Some(values.len() as u64)
    {
        state.floats.insert(output.clone(), values);
    }
}

/// Float results: casts to float types, arithmetic with a float operand,
/// rounding, and the ops that only move values.
fn fold_floats(state: &State, node: &NodeProto, out_shape: &[i64]) -> Option<Vec<f64>> {
    let has_float = (0..node.input.len()).any(|index| {
        node.input
            .get(index)
            .is_some_and(|name| state.floats.contains_key(name))
    });
    match node.op_type() {
        "Cast" => matches!(attr_int(node, "to"), Some(1 | 10 | 11 | 16))
            .then(|| state.numbers(node, 0))
            .flatten(),
        _ if !has_float => None,
        "Identity" | "Reshape" | "Unsqueeze" | "Squeeze" | "Flatten" => state.numbers(node, 0),
        "Floor" => Some(
            state
                .numbers(node, 0)?
                .into_iter()
                .map(f64::floor)
                .collect(),
        ),
        "Ceil" => Some(state.numbers(node, 0)?.into_iter().map(f64::ceil).collect()),
        // Round halves to even, as ONNX does.
        "Round" => Some(
            state
                .numbers(node, 0)?
                .into_iter()
                .map(f64::round_ties_even)
                .collect(),
        ),
        "Concat" if out_shape.len() == 1 => Some(
            (0..node.input.len())
                .map(|index| state.numbers(node, index))
                .collect::<Option<Vec<_>>>()?
                .concat(),
        ),
        "Add" | "Sub" | "Mul" | "Div" => {
            let a = state.numbers(node, 0)?;
            let b = state.numbers(node, 1)?;
            let count = usize::try_from(element_count(out_shape)?).ok()?;
            let pick = |values: &[f64], i: usize| broadcast_pick(values, count, i);
            (0..count)
                .map(|i| {
                    let (x, y) = (pick(&a, i)?, pick(&b, i)?);
                    Some(match node.op_type() {
                        "Add" => x + y,
                        "Sub" => x - y,
                        "Mul" => x * y,
                        _ => x / y,
                    })
                })
                .collect()
        }
        _ => None,
    }
}

fn fold_gather(state: &State, node: &NodeProto) -> Option<Vec<i64>> {
    let data = state.consts(node, 0)?;
    let indices = state.consts(node, 1)?;
    // Only 1-D tables (the usual `Shape -> Gather`).
    if state.shape(node, 0)?.len() != 1 || attr_int(node, "axis").unwrap_or(0) != 0 {
        return None;
    }
    let size = data.len() as i64;
    indices
        .iter()
        .map(|&index| {
            let index = if index < 0 { index + size } else { index };
            data.get(usize::try_from(index).ok()?).copied()
        })
        .collect()
}

fn fold_slice(data: &[i64], size: i64, start: i64, end: i64, step: i64) -> Option<Vec<i64>> {
    let len = slice_len(size, start, end, step)?;
    if len == 0 {
        return Some(Vec::new());
    }
    let start = if start < 0 {
        start.saturating_add(size)
    } else {
        start
    };
    let start = if step > 0 {
        start.clamp(0, size)
    } else {
        start.clamp(0, size - 1)
    };
    (0..len)
        .map(|i| {
            let index = i.checked_mul(step)?.checked_add(start)?;
            data.get(usize::try_from(index).ok()?).copied()
        })
        .collect()
}

/// Element `i` of an operand broadcast to `count` elements: a single value
/// repeats, a full-length operand is indexed; other broadcasts are not
/// folded (`None`).
fn broadcast_pick<T: Copy>(values: &[T], count: usize, i: usize) -> Option<T> {
    match values.len() {
        1 => values.first().copied(),
        len if len == count => values.get(i).copied(),
        _ => None,
    }
}

fn fold_arithmetic(state: &State, node: &NodeProto, out_shape: &[i64]) -> Option<Vec<i64>> {
    let a = state.consts(node, 0)?;
    let b = state.consts(node, 1)?;
    let count = usize::try_from(element_count(out_shape)?).ok()?;
    // Same length, or one side a single value; other broadcasts are not folded.
    let pick = |values: &[i64], i: usize| broadcast_pick(values, count, i);
    (0..count)
        .map(|i| {
            let (x, y) = (pick(a, i)?, pick(b, i)?);
            match node.op_type() {
                "Add" => x.checked_add(y),
                "Sub" => x.checked_sub(y),
                "Mul" => x.checked_mul(y),
                // Equal gives a bool, kept as 0 or 1 for a later Where.
                "Equal" => Some(i64::from(x == y)),
                "Max" => Some(x.max(y)),
                "Min" => Some(x.min(y)),
                // Integer Div truncates like C, as ONNX Runtime does.
                _ => x.checked_div(y),
            }
        })
        .collect()
}

/// `Where(cond, a, b)` on folded integers (`cond` from a folded Equal),
/// the `Where(Equal(shape, -1), 1, shape)` of exported Expands.
fn fold_where(state: &State, node: &NodeProto, out_shape: &[i64]) -> Option<Vec<i64>> {
    let cond = state.consts(node, 0)?;
    let a = state.consts(node, 1)?;
    let b = state.consts(node, 2)?;
    let count = usize::try_from(element_count(out_shape)?).ok()?;
    let pick = |values: &[i64], i: usize| broadcast_pick(values, count, i);
    (0..count)
        .map(|i| {
            if pick(cond, i)? != 0 {
                pick(a, i)
            } else {
                pick(b, i)
            }
        })
        .collect()
}
