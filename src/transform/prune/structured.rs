//! Structured pruning: whole Conv filters and Gemm/MatMul output units with
//! the smallest L1 norm are removed, so tensors really shrink.
//!
//! The removed channels are followed from the layer's output through ops
//! that keep the channel layout (BatchNormalization, elementwise
//! activations, pools, elementwise ops with constants or with tensors of the
//! same chain) to the next Conv/Gemm/MatMul, whose matching input channels
//! are removed too. A layer whose output reaches anything else (a residual
//! Add with another activation, Concat, Reshape, Flatten, a graph output,
//! ...) is skipped with the reason.

use std::collections::{HashMap, HashSet};

use super::{PruneReport, PrunedLayer, flops_by_node};
use crate::model::onnx::{GraphProto, ModelProto};
use crate::transform::graph::{
    self, FLOAT, attr_int, const_tensor, const_tensor_mut, find_const, is_default_domain,
    node_label,
};
use crate::transform::{PruneSpec, SkipReason, SkippedLayer, TransformError};

/// Ops applied element by element: the channel layout passes through.
const ELEMENTWISE_UNARY: &[&str] = &[
    "Relu",
    "LeakyRelu",
    "Sigmoid",
    "Tanh",
    "Elu",
    "Selu",
    "HardSigmoid",
    "HardSwish",
    "Softplus",
    "Softsign",
    "Gelu",
    "Erf",
    "Identity",
    "Dropout",
    "Neg",
    "Abs",
    "Exp",
    "Sqrt",
    "Clip",
    "Mish",
];

/// Elementwise binary ops (with a constant or a tensor of the same chain).
const ELEMENTWISE_BINARY: &[&str] = &["Add", "Sub", "Mul", "Div"];

/// Channel-preserving pools (Conv layout only).
const POOLS: &[&str] = &[
    "MaxPool",
    "AveragePool",
    "GlobalAveragePool",
    "GlobalMaxPool",
    "LpPool",
];

/// Output channels with the smallest L1 norm along `axis` of a tensor laid
/// out with `dims`: the `count` channels to remove, ascending by (norm,
/// index), then sorted by index.
pub fn smallest_l1_channels(
    values: &[f32],
    dims: &[usize],
    axis: usize,
    count: usize,
) -> Vec<usize> {
    let channels = dims.get(axis).copied().unwrap_or(0);
    let inner: usize = dims.iter().skip(axis + 1).product();
    let mut norms = vec![0f64; channels];
    for (index, value) in values.iter().enumerate() {
        let channel = (index / inner.max(1)) % channels.max(1);
        if let Some(norm) = norms.get_mut(channel) {
            *norm += f64::from(value.abs());
        }
    }
    let mut order: Vec<usize> = (0..channels).collect();
    order.sort_by(|a, b| {
        let norm = |i: &usize| norms.get(*i).copied().unwrap_or(0.0);
        norm(a).total_cmp(&norm(b)).then(a.cmp(b))
    });
    order.truncate(count);
    order.sort_unstable();
    order
}

/// Keeps the indices in `keep` (sorted) along `axis`.
fn keep_along_axis(values: &[f32], dims: &[usize], axis: usize, keep: &[usize]) -> Vec<f32> {
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

/// One tensor to shrink along an axis.
#[derive(Debug, Clone)]
struct Edit {
    name: String,
    axis: usize,
}

/// How channels sit in the activations of a chain.
#[derive(Debug, Clone, Copy)]
struct Layout {
    /// Channels on the last axis (Gemm/MatMul) rather than axis 1 (Conv).
    last_axis: bool,
    /// Rank of the activations when known (Conv: weight rank; Gemm: 2).
    rank: Option<usize>,
}

/// Follows the layer's output to its consumers and lists the tensors to
/// shrink, or says why the layer cannot be pruned structurally.
fn plan_chain(
    graph: &GraphProto,
    consumers: &HashMap<&str, Vec<usize>>,
    graph_outputs: &HashSet<&str>,
    start: &str,
    channels: usize,
    layout: Layout,
) -> Result<(Vec<Edit>, Vec<String>), SkipReason> {
    let mut edits: Vec<Edit> = Vec::new();
    let mut chain: Vec<String> = vec![start.to_owned()];
    let mut queue: Vec<String> = vec![start.to_owned()];
    let mut visited: HashSet<usize> = HashSet::new();
    let mut pending: std::collections::BTreeMap<usize, String> = std::collections::BTreeMap::new();
    let constant = |name: &str| -> Result<Option<Vec<usize>>, SkipReason> {
        let Some(at) = find_const(graph, name) else {
            return Ok(None);
        };
        let Some(tensor) = const_tensor(graph, at) else {
            return Ok(None);
        };
        if tensor.data_type() != FLOAT {
            return Err(SkipReason::from(format!(
                "constant {name:?} is not float32"
            )));
        }
        if consumers.get(name).map_or(0, Vec::len) > 1 {
            return Err(SkipReason::from(format!(
                "constant {name:?} is shared with other nodes"
            )));
        }
        Ok(Some(tensor.dims.iter().map(|d| *d as usize).collect()))
    };
    while let Some(tensor) = queue.pop() {
        if graph_outputs.contains(tensor.as_str()) {
            return Err(SkipReason::from(format!(
                "its output reaches the graph output {tensor:?}"
            )));
        }
        for &index in consumers
            .get(tensor.as_str())
            .map_or(&[][..], Vec::as_slice)
        {
            if !visited.insert(index) {
                continue;
            }
            let Some(node) = graph.node.get(index) else {
                continue;
            };
            let op = node.op_type();
            let label = node_label(node, index);
            pending.remove(&index);
            let is_first_input = node.input.first().is_some_and(|i| *i == tensor);
            if !is_default_domain(node) {
                return Err(SkipReason::from(format!(
                    "it feeds the custom op {op} ({label})"
                )));
            }
            if ELEMENTWISE_UNARY.contains(&op) && is_first_input {
                if op == "Dropout" && node.output.len() > 1 {
                    return Err(SkipReason::from(format!(
                        "it feeds a Dropout with a mask output ({label})"
                    )));
                }
                follow(&mut chain, &mut queue, node.output.first());
            } else if op == "BatchNormalization" && is_first_input {
                if layout.last_axis && layout.rank != Some(2) {
                    return Err(SkipReason::from(format!(
                        "it feeds a BatchNormalization over another axis ({label})"
                    )));
                }
                for name in node.input.iter().skip(1) {
                    match constant(name)? {
                        Some(dims) if dims == [channels] => edits.push(Edit {
                            name: name.clone(),
                            axis: 0,
                        }),
                        _ => {
                            return Err(SkipReason::from(format!(
                                "BatchNormalization {label} has a non-constant parameter"
                            )));
                        }
                    }
                }
                follow(&mut chain, &mut queue, node.output.first());
            } else if POOLS.contains(&op) && is_first_input && !layout.last_axis {
                if node.output.len() > 1 {
                    return Err(SkipReason::from(format!(
                        "it feeds a pool with an indices output ({label})"
                    )));
                }
                follow(&mut chain, &mut queue, node.output.first());
            } else if ELEMENTWISE_BINARY.contains(&op) {
                let Some(other) = node.input.iter().find(|i| **i != tensor) else {
                    // x op x: both inputs in the chain.
                    follow(&mut chain, &mut queue, node.output.first());
                    continue;
                };
                if chain.contains(other) {
                    follow(&mut chain, &mut queue, node.output.first());
                    continue;
                }
                let Some(dims) = constant(other)? else {
                    // The other input may join the chain later (x * f(x));
                    // look again when it does.
                    visited.remove(&index);
                    pending.insert(
                        index,
                        if op == "Add" {
                            format!("it feeds a residual Add ({label})")
                        } else {
                            format!("it meets another activation in {op} ({label})")
                        },
                    );
                    continue;
                };
                // Right-aligned broadcasting: where is the channel dim?
                let rank = dims.len();
                let channel_index = if layout.last_axis {
                    rank.checked_sub(1)
                } else {
                    layout.rank.and_then(|r| rank.checked_sub(r - 1))
                };
                match channel_index.and_then(|i| dims.get(i).map(|d| (i, *d))) {
                    Some((axis, dim)) if dim == channels && channels > 1 => edits.push(Edit {
                        name: other.clone(),
                        axis,
                    }),
                    Some((_, 1)) | None => {}
                    Some((_, dim)) => {
                        return Err(SkipReason::from(format!(
                            "{op} {label} broadcasts a constant of {dim} over {channels} channels"
                        )));
                    }
                }
                follow(&mut chain, &mut queue, node.output.first());
            } else if is_first_input && matches!(op, "Conv" | "Gemm" | "MatMul") {
                let weight = node.input.get(1).map(String::as_str).unwrap_or_default();
                let Some(dims) = constant(weight)? else {
                    return Err(SkipReason::from(format!(
                        "the next {op} ({label}) has no constant weight"
                    )));
                };
                let axis = match op {
                    "Conv" if !layout.last_axis && attr_int(node, "group").unwrap_or(1) == 1 => 1,
                    "Gemm" if layout.last_axis && attr_int(node, "transA").unwrap_or(0) == 0 => {
                        usize::from(attr_int(node, "transB").unwrap_or(0) != 0)
                    }
                    "MatMul" if layout.last_axis && dims.len() == 2 => 0,
                    _ => {
                        return Err(SkipReason::from(format!(
                            "the next {op} ({label}) cannot drop input channels"
                        )));
                    }
                };
                if dims.get(axis) != Some(&channels) {
                    return Err(SkipReason::from(format!(
                        "the next {op} ({label}) does not read these channels"
                    )));
                }
                edits.push(Edit {
                    name: weight.to_owned(),
                    axis,
                });
            } else {
                return Err(SkipReason::from(format!("it feeds a {op} ({label})")));
            }
        }
    }
    if let Some(reason) = pending.into_values().next() {
        return Err(SkipReason::from(reason));
    }
    Ok((edits, chain))
}

/// Adds a node's output to the chain and the work queue.
fn follow(chain: &mut Vec<String>, queue: &mut Vec<String>, output: Option<&String>) {
    if let Some(output) = output.filter(|o| !o.is_empty()) {
        chain.push(output.clone());
        queue.push(output.clone());
    }
}

/// Shrinks the named constant along `axis` to the `keep` indices.
fn apply_edit(graph: &mut GraphProto, edit: &Edit, keep: &[usize]) -> Result<(), TransformError> {
    let Some(at) = find_const(graph, &edit.name) else {
        return Ok(());
    };
    let Some(tensor) = const_tensor_mut(graph, at) else {
        return Ok(());
    };
    let values = graph::float_values(tensor)?;
    let dims: Vec<usize> = tensor.dims.iter().map(|d| *d as usize).collect();
    let kept = keep_along_axis(&values, &dims, edit.axis, keep);
    if let Some(dim) = tensor.dims.get_mut(edit.axis) {
        *dim = keep.len() as i64;
    }
    graph::set_float_values(tensor, &kept);
    Ok(())
}

/// Removes the output channels with the smallest L1 norm from every prunable
/// layer, per layer, and shrinks what reads them.
pub(crate) fn prune_structured(
    proto: &mut ModelProto,
    spec: &PruneSpec,
) -> Result<PruneReport, TransformError> {
    let flops_before = flops_by_node(proto);
    let Some(graph) = proto.graph.as_mut() else {
        return Err(TransformError::NoGraph);
    };
    let mut report = PruneReport::default();
    // Layers with a constant float32 weight, in graph order.
    let mut layers: Vec<(usize, String)> = Vec::new();
    for (index, node) in graph.node.iter().enumerate() {
        if !is_default_domain(node) || !matches!(node.op_type(), "Conv" | "Gemm" | "MatMul") {
            continue;
        }
        let weight = node.input.get(1).cloned().unwrap_or_default();
        let is_float_const = find_const(graph, &weight)
            .and_then(|at| const_tensor(graph, at))
            .is_some_and(|t| t.data_type() == FLOAT);
        if is_float_const {
            layers.push((index, node_label(node, index)));
        } else {
            report.skipped.push(SkippedLayer {
                node: node_label(node, index),
                op_type: node.op_type().to_owned(),
                reason: "weight is not a constant float32 tensor".to_owned(),
            });
        }
    }
    if layers.is_empty() {
        return Err(TransformError::NothingToPrune(
            "no Conv, Gemm or MatMul with a constant float32 weight".to_owned(),
        ));
    }
    let mut skip_indices: HashSet<usize> = HashSet::new();
    if spec.skip_first_last {
        for (position, which) in [(0, "first"), (layers.len() - 1, "last")] {
            if let Some((index, label)) = layers.get(position)
                && skip_indices.insert(*index)
            {
                report.skipped.push(SkippedLayer {
                    node: label.clone(),
                    op_type: graph
                        .node
                        .get(*index)
                        .map(|n| n.op_type().to_owned())
                        .unwrap_or_default(),
                    reason: format!("{which} prunable layer (skip first/last)"),
                });
            }
        }
    }

    let graph_outputs: HashSet<String> = graph.output.iter().map(|o| o.name().to_owned()).collect();
    let mut pruned: Vec<(usize, PrunedLayer)> = Vec::new();
    let mut shrunk_tensors: HashSet<String> = HashSet::new();
    for (index, label) in layers {
        if skip_indices.contains(&index) {
            continue;
        }
        let Some(node) = graph.node.get(index) else {
            continue;
        };
        let op_type = node.op_type().to_owned();
        let skip = |reason: String| SkippedLayer {
            node: label.clone(),
            op_type: op_type.clone(),
            reason,
        };
        let consumers = consumer_map(graph);
        let outputs: HashSet<&str> = graph_outputs.iter().map(String::as_str).collect();
        let weight = node.input.get(1).cloned().unwrap_or_default();
        let Some(weight_tensor) = find_const(graph, &weight).and_then(|at| const_tensor(graph, at))
        else {
            continue;
        };
        let dims: Vec<usize> = weight_tensor.dims.iter().map(|d| *d as usize).collect();
        let (axis, layout) = match op_type.as_str() {
            "Conv" if attr_int(node, "group").unwrap_or(1) == 1 && dims.len() >= 3 => (
                0,
                Layout {
                    last_axis: false,
                    rank: Some(dims.len()),
                },
            ),
            "Conv" => {
                report
                    .skipped
                    .push(skip("grouped or depthwise Conv".to_owned()));
                continue;
            }
            "Gemm" if dims.len() == 2 => (
                usize::from(attr_int(node, "transB").unwrap_or(0) == 0),
                Layout {
                    last_axis: true,
                    rank: Some(2),
                },
            ),
            "MatMul" if dims.len() == 2 => (
                1,
                Layout {
                    last_axis: true,
                    rank: None,
                },
            ),
            _ => {
                report
                    .skipped
                    .push(skip(format!("weight of rank {}", dims.len())));
                continue;
            }
        };
        if consumers.get(weight.as_str()).map_or(0, Vec::len) > 1 {
            report
                .skipped
                .push(skip("weight shared with other nodes".to_owned()));
            continue;
        }
        let channels = dims.get(axis).copied().unwrap_or(0);
        let remove_count =
            ((spec.sparsity * channels as f64).floor() as usize).min(channels.saturating_sub(1));
        let Some(output) = node.output.first().cloned() else {
            continue;
        };
        let mut edits = vec![Edit {
            name: weight.clone(),
            axis,
        }];
        // The layer's own bias: Conv B [M]; Gemm C with N on its last axis.
        if let Some(bias) = node.input.get(2).filter(|b| !b.is_empty()) {
            let bias_dims = find_const(graph, bias)
                .and_then(|at| const_tensor(graph, at))
                .map(|t| t.dims.iter().map(|d| *d as usize).collect::<Vec<_>>());
            match bias_dims {
                Some(bias_dims)
                    if bias_dims.last() == Some(&channels)
                        && consumers.get(bias.as_str()).map_or(0, Vec::len) == 1 =>
                {
                    edits.push(Edit {
                        name: bias.clone(),
                        axis: bias_dims.len() - 1,
                    });
                }
                Some(bias_dims) if bias_dims.iter().product::<usize>() == 1 => {}
                _ => {
                    report
                        .skipped
                        .push(skip("bias is not a prunable constant".to_owned()));
                    continue;
                }
            }
        }
        let (chain_edits, chain) =
            match plan_chain(graph, &consumers, &outputs, &output, channels, layout) {
                Ok(plan) => plan,
                Err(reason) => {
                    report.skipped.push(skip(reason.0));
                    continue;
                }
            };
        edits.extend(chain_edits);
        let values = graph::float_values(weight_tensor)?;
        let remove = smallest_l1_channels(&values, &dims, axis, remove_count);
        let keep: Vec<usize> = (0..channels)
            .filter(|c| remove.binary_search(c).is_err())
            .collect();
        let params_before = values.len() as u64;
        let nonzero_before = values.iter().filter(|v| **v != 0.0).count() as u64;
        for edit in &edits {
            apply_edit(graph, edit, &keep)?;
        }
        shrunk_tensors.extend(chain);
        let (params_after, nonzero_after) = find_const(graph, &weight)
            .and_then(|at| const_tensor(graph, at))
            .and_then(|t| graph::float_values(t).ok())
            .map_or((0, 0), |v| {
                (
                    v.len() as u64,
                    v.iter().filter(|x| **x != 0.0).count() as u64,
                )
            });
        pruned.push((
            index,
            PrunedLayer {
                node: label.clone(),
                op_type: op_type.clone(),
                weight: weight.clone(),
                requested_sparsity: spec.sparsity,
                achieved_sparsity: if channels == 0 {
                    0.0
                } else {
                    remove.len() as f64 / channels as f64
                },
                params_before,
                params_after,
                nonzero_params_before: nonzero_before,
                nonzero_params_after: nonzero_after,
                channels_before: Some(channels as u64),
                channels_after: Some(keep.len() as u64),
                flops_before: flops_before.get(&index).copied().unwrap_or(0),
                flops_after: 0,
                flops_nonzero_after: 0,
            },
        ));
    }
    // Declared shapes of the shrunk activations are stale now.
    graph
        .value_info
        .retain(|info| !shrunk_tensors.contains(info.name()));
    if pruned.is_empty() {
        let reasons: Vec<String> = report
            .skipped
            .iter()
            .map(|s| format!("{}: {}", s.node, s.reason))
            .collect();
        return Err(TransformError::NothingToPrune(format!(
            "no layer can be pruned structurally ({})",
            reasons.join("; ")
        )));
    }
    let flops_after = flops_by_node(proto);
    for (index, mut layer) in pruned {
        layer.flops_after = flops_after.get(&index).copied().unwrap_or(0);
        layer.flops_nonzero_after = layer.flops_after;
        report.layers.push(layer);
    }
    let total_before: u64 = report
        .layers
        .iter()
        .map(|l| l.channels_before.unwrap_or(0))
        .sum();
    let total_after: u64 = report
        .layers
        .iter()
        .map(|l| l.channels_after.unwrap_or(0))
        .sum();
    report.overall_sparsity = if total_before == 0 {
        0.0
    } else {
        1.0 - total_after as f64 / total_before as f64
    };
    report.model_flops_before = flops_before.values().sum();
    report.model_flops_after = flops_after.values().sum();
    Ok(report)
}

/// Node indices reading each tensor (graph outputs are not nodes).
fn consumer_map(graph: &GraphProto) -> HashMap<&str, Vec<usize>> {
    let mut consumers: HashMap<&str, Vec<usize>> = HashMap::new();
    for (index, node) in graph.node.iter().enumerate() {
        for input in &node.input {
            let list = consumers.entry(input.as_str()).or_default();
            if list.last() != Some(&index) {
                list.push(index);
            }
        }
    }
    consumers
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn l1_ranking_matches_hand_values() {
        // Conv weight [M=3, C=1, 1, 2]: L1 norms 3.0, 0.5, 1.5.
        let values = [1.0, -2.0, 0.25, -0.25, 1.0, 0.5];
        assert_eq!(smallest_l1_channels(&values, &[3, 1, 1, 2], 0, 1), vec![1]);
        assert_eq!(
            smallest_l1_channels(&values, &[3, 1, 1, 2], 0, 2),
            vec![1, 2]
        );
        // MatMul weight [K=2, N=3], units along axis 1: column norms
        // |1|+|-0.25| = 1.25, |-2|+|1| = 3, |0.25|+|0.5| = 0.75.
        assert_eq!(smallest_l1_channels(&values, &[2, 3], 1, 1), vec![2]);
        // Ties go to the lower index.
        assert_eq!(smallest_l1_channels(&[1.0, -1.0, 2.0], &[3], 0, 1), vec![0]);
    }

    #[test]
    fn keeping_channels_slices_the_right_axis() {
        let values = [1.0, 2.0, 3.0, 4.0, 5.0, 6.0];
        // [2, 3], keep columns 0 and 2.
        assert_eq!(
            keep_along_axis(&values, &[2, 3], 1, &[0, 2]),
            vec![1.0, 3.0, 4.0, 6.0]
        );
        // [3, 2], keep row 1.
        assert_eq!(keep_along_axis(&values, &[3, 2], 0, &[1]), vec![3.0, 4.0]);
    }
}
