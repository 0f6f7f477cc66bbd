//! Folds `Reshape` and `Unsqueeze` of a float32 constant into a `Constant`
//! node (of a `ConstantOfShape` fill into a `ConstantOfShape` of the new
//! shape), in place: node indices stay. Exporters such as Paddle2ONNX write a
//! Conv bias as `Add(conv, Reshape(bias [C], [1, C, 1, 1]))`; folded, the
//! bias is a per-channel constant the channel rules can slice.

use std::collections::HashSet;

use crate::model::onnx::{AttributeProto, GraphProto, TensorProto, attribute_proto::AttributeType};
use crate::transform::graph::{self, attr, const_tensor, find_const};
use crate::transform::weights::{self, Source};

/// The dims a Reshape to `shape` gives a tensor of `dims` (0 copies, -1
/// takes the rest), if valid.
fn reshaped(dims: &[usize], shape: &[i64]) -> Option<Vec<usize>> {
    let total = dims.iter().try_fold(1usize, |a, d| a.checked_mul(*d))?;
    let mut out: Vec<Option<usize>> = Vec::with_capacity(shape.len());
    for (index, &dim) in shape.iter().enumerate() {
        out.push(match dim {
            0 => Some(*dims.get(index)?),
            -1 => None,
            d if d > 0 => Some(d as usize),
            _ => return None,
        });
    }
    let known = out
        .iter()
        .flatten()
        .try_fold(1usize, |a, d| a.checked_mul(*d))?;
    let unknown = out.iter().filter(|d| d.is_none()).count();
    let result: Vec<usize> = match unknown {
        0 => out.into_iter().flatten().collect(),
        1 if known > 0 && total.is_multiple_of(known) => out
            .into_iter()
            .map(|d| d.unwrap_or(total / known))
            .collect(),
        _ => return None,
    };
    (result.iter().product::<usize>() == total).then_some(result)
}

/// The dims after inserting size-1 axes at `axes` (of the output rank).
fn unsqueezed(dims: &[usize], axes: &[i64]) -> Option<Vec<usize>> {
    let rank = dims.len() + axes.len();
    let mut at: Vec<usize> = axes
        .iter()
        .map(|&a| usize::try_from(if a < 0 { a + rank as i64 } else { a }).ok())
        .collect::<Option<_>>()?;
    at.sort_unstable();
    at.dedup();
    if at.len() != axes.len() || at.iter().any(|a| *a >= rank) {
        return None;
    }
    let mut rest = dims.iter();
    (0..rank)
        .map(|i| {
            if at.contains(&i) {
                Some(1)
            } else {
                rest.next().copied()
            }
        })
        .collect()
}

/// Folds every Reshape/Unsqueeze whose data is a float32 constant read by
/// nothing else. Returns the names of the constants that may be dead now.
pub(super) fn fold_constant_reshapes(graph: &mut GraphProto) -> HashSet<String> {
    let mut maybe_dead = HashSet::new();
    for index in 0..graph.node.len() {
        let Some(node) = graph.node.get(index) else {
            continue;
        };
        if !graph::is_default_domain(node) || !matches!(node.op_type(), "Reshape" | "Unsqueeze") {
            continue;
        }
        let data = node.input.first().cloned().unwrap_or_default();
        let uses = graph
            .node
            .iter()
            .filter(|n| n.input.contains(&data))
            .count();
        let Some(info) = weights::lookup(graph, &data) else {
            continue;
        };
        if uses != 1 {
            continue;
        }
        let second = node.input.get(1).cloned().unwrap_or_default();
        let operand = find_const(graph, &second)
            .and_then(|at| const_tensor(graph, at))
            .and_then(weights::int64_values);
        let dims = match node.op_type() {
            "Reshape" => operand.and_then(|shape| reshaped(&info.dims, &shape)),
            _ => match attr(node, "axes") {
                Some(axes) => unsqueezed(&info.dims, &axes.ints),
                None => operand.and_then(|axes| unsqueezed(&info.dims, &axes)),
            },
        };
        let Some(dims) = dims.map(|d| d.iter().map(|v| *v as i64).collect::<Vec<i64>>()) else {
            continue;
        };
        let output = node.output.first().cloned().unwrap_or_default();
        let replacement = match info.source {
            // A fill stays a fill, of the new shape.
            Source::Fill { value, .. } => {
                let shape_name = fresh_name(graph, &format!("{output}__shape"));
                let mut shape = TensorProto {
                    name: Some(shape_name.clone()),
                    dims: vec![dims.len() as i64],
                    ..Default::default()
                };
                weights::set_int64_values(&mut shape, &dims);
                graph.initializer.push(shape);
                let fill = graph::float_tensor("", &[1], &[value]);
                ("ConstantOfShape", vec![shape_name], fill)
            }
            Source::Values(_) => {
                let Ok(values) = weights::values(graph, &info) else {
                    continue;
                };
                let tensor = graph::float_tensor(&output, &dims, &values);
                ("Constant", Vec::new(), tensor)
            }
        };
        if let Some(node) = graph.node.get_mut(index) {
            let (op, inputs, tensor) = replacement;
            node.op_type = Some(op.to_owned());
            node.input = inputs;
            node.attribute = vec![AttributeProto {
                name: Some("value".to_owned()),
                r#type: Some(AttributeType::Tensor as i32),
                t: Some(tensor),
                ..Default::default()
            }];
        }
        maybe_dead.insert(data);
        if !second.is_empty() {
            maybe_dead.insert(second);
        }
    }
    maybe_dead
}

/// `base`, or `base_2`, `base_3`, ...: a name no tensor of the graph has.
fn fresh_name(graph: &GraphProto, base: &str) -> String {
    let taken = |name: &str| {
        graph.initializer.iter().any(|t| t.name() == name)
            || graph.input.iter().any(|i| i.name() == name)
            || graph
                .node
                .iter()
                .any(|n| n.output.iter().any(|o| o == name))
    };
    let mut candidate = base.to_owned();
    let mut counter = 2;
    while taken(&candidate) {
        candidate = format!("{base}_{counter}");
        counter += 1;
    }
    candidate
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reshape_and_unsqueeze_dims() {
        assert_eq!(reshaped(&[8], &[1, -1, 1, 1]), Some(vec![1, 8, 1, 1]));
        assert_eq!(reshaped(&[2, 4], &[0, 2, 2]), Some(vec![2, 2, 2]));
        assert_eq!(reshaped(&[8], &[3, -1]), None);
        assert_eq!(unsqueezed(&[8], &[0, 2, 3]), Some(vec![1, 8, 1, 1]));
        assert_eq!(unsqueezed(&[8], &[-1]), Some(vec![8, 1]));
        assert_eq!(unsqueezed(&[8], &[5]), None);
    }
}
