//! Structured pruning on a channel dependency graph: whole output channels
//! are removed, so tensors and FLOPs really shrink.
//!
//! `groups.rs` builds the channel-coupling groups (layers whose channels
//! must be dropped together: residual Adds, squeeze-excitation Muls,
//! depthwise Convs, Concat, Flatten into a Gemm); this file scores each
//! group per channel (the summed L1 or L2 norms of its members' weights,
//! each member normalised by its mean so big layers do not dominate),
//! chooses the channels to remove (the requested fraction, at least the
//! floor, rounded to a multiple), shrinks every member and what reads it
//! (`apply.rs`), and reports the real parameter and FLOP fractions removed.

mod apply;
mod channels;
mod fold;
mod groups;
mod plan;
#[cfg(test)]
mod tests;

use std::collections::{BTreeMap, BTreeSet, HashMap};

use super::report::{PruneGroup, PruneReport, PrunedLayer, flops_by_node};
use crate::model::Model;
use crate::model::node::node_id;
use crate::model::onnx::{GraphProto, ModelProto};
use crate::transform::weights;
use crate::transform::{PruneNorm, PruneSpec, SkippedLayer, TransformError};
use plan::{Plan, seg_total};

/// Output channels with the smallest L1 norm along `axis` of a tensor laid
/// out with `dims`: the `count` channels to remove, ascending by (norm,
/// index), then sorted by index.
pub fn smallest_l1_channels(
    values: &[f32],
    dims: &[usize],
    axis: usize,
    count: usize,
) -> Vec<usize> {
    let norms = channels::axis_norms(values, dims, axis, false);
    lowest(&norms, count)
}

/// The `count` lowest scores (ties by index), sorted by index.
fn lowest(scores: &[f64], count: usize) -> Vec<usize> {
    let mut order: Vec<usize> = (0..scores.len()).collect();
    order.sort_by(|a, b| {
        let score = |i: &usize| scores.get(*i).copied().unwrap_or(0.0);
        score(a).total_cmp(&score(b)).then(a.cmp(b))
    });
    order.truncate(count);
    order.sort_unstable();
    order
}

/// How many of `channels` channels stay: `channels × (1 − sparsity)`
/// rounded down to whole removals, at least `min_channels` (0 counts as 1),
/// then rounded up to a multiple of `round` when that multiple fits.
pub fn channels_to_keep(
    channels: usize,
    sparsity: f64,
    min_channels: usize,
    round: usize,
) -> usize {
    let removed = (sparsity.clamp(0.0, 1.0) * channels as f64).floor() as usize;
    let mut keep = channels.saturating_sub(removed).max(min_channels.max(1));
    let round = round.max(1);
    if !keep.is_multiple_of(round) {
        let up = keep.div_ceil(round) * round;
        if up <= channels {
            keep = up;
        }
    }
    keep.min(channels)
}

/// Removes the lowest-scored channels of every prunable group.
pub(crate) fn prune_structured(
    proto: &mut ModelProto,
    spec: &PruneSpec,
    keep_nodes: &BTreeSet<String>,
) -> Result<PruneReport, TransformError> {
    let flops_before = flops_by_node(proto);
    let Some(graph) = proto.graph.as_mut() else {
        return Err(TransformError::NoGraph);
    };
    let params_before = weights::float_weight_elements(graph);
    let maybe_dead = fold::fold_constant_reshapes(graph);
    let shapes =
        crate::model::infer_shapes(&Model::from_proto(proto.clone(), None), &BTreeMap::new())
            .shapes;
    let Some(graph) = proto.graph.as_mut() else {
        return Err(TransformError::NoGraph);
    };
    let mut plan = groups::build(graph, &shapes, keep_nodes);
    if plan.spaces.is_empty() {
        return Err(TransformError::NothingToPrune(
            "no Conv, ConvTranspose, Gemm or MatMul with a constant float32 weight".to_owned(),
        ));
    }
    if spec.skip_first_last {
        let last = plan.spaces.len() - 1;
        plan.block(0, "first prunable layer (skip first/last)");
        plan.block(last, "last prunable layer (skip first/last)");
    }
    let groups = plan.groups();
    let mut report = PruneReport::default();
    // Kept channels per group root; groups absent here keep everything.
    let mut kept: HashMap<usize, Vec<usize>> = HashMap::new();
    let mut group_ids: HashMap<usize, usize> = HashMap::new();
    for (id, (root, members)) in groups.iter().enumerate() {
        group_ids.insert(*root, id);
        let channels = plan.spaces.get(*root).map_or(0, |s| s.channels);
        let labels: Vec<String> = members
            .iter()
            .filter_map(|m| plan.spaces.get(*m).map(|s| s.label.clone()))
            .collect();
        let reason = plan.group_reason(members);
        let mut group = PruneGroup {
            id,
            members: labels,
            coupled: Vec::new(),
            channels_before: channels as u64,
            channels_after: channels as u64,
            unprunable: reason
                .as_ref()
                .map(|(label, reason)| format!("{label}: {reason}")),
        };
        if let Some((blocked, reason)) = reason {
            for member in members {
                if let Some(space) = plan.spaces.get(*member) {
                    let via = if space.label == blocked {
                        String::new()
                    } else {
                        format!("through {blocked}, ")
                    };
                    report.skipped.push(SkippedLayer {
                        node: space.label.clone(),
                        op_type: space.op.clone(),
                        reason: format!("group {id}: {via}{reason}"),
                    });
                }
            }
        } else {
            let scores = group_scores(graph, &mut plan, *root, channels, spec.norm)?;
            let keep_count =
                channels_to_keep(channels, spec.sparsity, spec.min_channels, spec.round_to);
            let remove = lowest(&scores, channels - keep_count);
            let keep: Vec<usize> = (0..channels)
                .filter(|c| remove.binary_search(c).is_err())
                .collect();
            group.channels_after = keep.len() as u64;
            kept.insert(*root, keep);
        }
        report.groups.push(group);
    }
    if kept.is_empty() {
        let reasons: Vec<String> = report
            .groups
            .iter()
            .filter_map(|g| g.unprunable.clone())
            .collect();
        return Err(TransformError::NothingToPrune(format!(
            "no layer can be pruned structurally ({})",
            reasons.join("; ")
        )));
    }

    let before = layer_weights(graph, &plan);
    apply::apply(graph, &mut plan, &kept)?;
    let after = layer_weights(graph, &plan);
    // Coupled nodes per group, for the report.
    for edit in plan.edits.clone() {
        let Some(space) = edit.segs.iter().find_map(|s| s.space) else {
            continue;
        };
        let root = plan.root(space);
        let member_spaces: Vec<usize> = (0..plan.spaces.len())
            .filter(|s| plan.spaces.get(*s).is_some_and(|sp| sp.node == edit.node))
            .collect();
        let is_member = member_spaces.into_iter().any(|s| plan.root(s) == root);
        if !kept.contains_key(&root) || is_member {
            continue;
        }
        if let (Some(id), Some(node)) = (group_ids.get(&root), graph.node.get(edit.node)) {
            let label = node_id(node, edit.node);
            if let Some(group) = report.groups.get_mut(*id)
                && !group.coupled.contains(&label)
            {
                group.coupled.push(label);
            }
        }
    }
    let flops_after = flops_by_node(proto);
    let Some(graph) = proto.graph.as_ref() else {
        return Err(TransformError::NoGraph);
    };
    for (node_index, (weight, dims_before, nonzero_before)) in &before {
        let Some((_, dims_after, nonzero_after)) = after.get(node_index) else {
            continue;
        };
        let Some(node) = graph.node.get(*node_index) else {
            continue;
        };
        if dims_before == dims_after {
            continue;
        }
        let params = |dims: &[usize]| {
            dims.iter()
                .fold(1u64, |count, d| count.saturating_mul(*d as u64))
        };
        let (params_before, params_after) = (params(dims_before), params(dims_after));
        let group =
            plan_group_of(&mut plan, *node_index, &kept).and_then(|r| group_ids.get(&r).copied());
        report.layers.push(PrunedLayer {
            node: node_id(node, *node_index),
            op_type: node.op_type().to_owned(),
            weight: weight.clone(),
            requested_sparsity: spec.sparsity,
            achieved_sparsity: if params_before == 0 {
                0.0
            } else {
                1.0 - params_after as f64 / params_before as f64
            },
            params_before,
            params_after,
            nonzero_params_before: *nonzero_before,
            nonzero_params_after: *nonzero_after,
            channels_before: output_channels(node, dims_before).map(|c| c as u64),
            channels_after: output_channels(node, dims_after).map(|c| c as u64),
            flops_before: flops_before.get(node_index).copied().unwrap_or(0),
            flops_after: flops_after.get(node_index).copied().unwrap_or(0),
            flops_nonzero_after: flops_after.get(node_index).copied().unwrap_or(0),
            group,
        });
    }
    for (index, op, reason) in &plan.not_producers {
        let touched = plan.edits.iter().any(|e| e.node == *index && e.scored);
        if let Some(node) = graph.node.get(*index)
            && !touched
        {
            report.skipped.push(SkippedLayer {
                node: node_id(node, *index),
                op_type: op.clone(),
                reason: reason.clone(),
            });
        }
    }
    let Some(graph) = proto.graph.as_mut() else {
        return Err(TransformError::NoGraph);
    };
    // Node indices change from here on: the report is complete.
    crate::transform::graph::remove_dead(graph, &maybe_dead);
    report.model_params_before = params_before;
    report.model_params_after = weights::float_weight_elements(graph);
    report.overall_sparsity = if params_before == 0 {
        0.0
    } else {
        1.0 - report.model_params_after as f64 / params_before as f64
    };
    // Saturating: a model may declare dims whose FLOPs overflow u64.
    report.model_flops_before = flops_before.values().fold(0, |a, b| a.saturating_add(*b));
    report.model_flops_after = flops_after.values().fold(0, |a, b| a.saturating_add(*b));
    Ok(report)
}

/// The group a layer was pruned with: the one it starts when that group
/// was pruned, else the first pruned group whose channels it reads.
fn plan_group_of(plan: &mut Plan, node: usize, kept: &HashMap<usize, Vec<usize>>) -> Option<usize> {
    let own = plan.spaces.iter().position(|s| s.node == node);
    let read: Vec<usize> = plan
        .edits
        .iter()
        .filter(|e| e.node == node)
        .flat_map(|e| e.segs.iter().filter_map(|s| s.space))
        .collect();
    own.into_iter()
        .chain(read)
        .map(|space| plan.root(space))
        .find(|root| kept.contains_key(root))
}

/// Output channels of a layer from its weight dims.
fn output_channels(node: &crate::model::onnx::NodeProto, dims: &[usize]) -> Option<usize> {
    let group = crate::transform::graph::attr_int(node, "group")
        .unwrap_or(1)
        .max(1) as usize;
    match node.op_type() {
        "Conv" => dims.first().copied(),
        "ConvTranspose" => dims.get(1).map(|d| d * group),
        "Gemm" => {
            let trans_b = crate::transform::graph::attr_int(node, "transB").unwrap_or(0) != 0;
            dims.get(if trans_b { 0 } else { 1 }).copied()
        }
        "MatMul" => dims.last().copied(),
        _ => None,
    }
}

/// Weight name, dims and non-zero count of every layer with a scored edit.
fn layer_weights(graph: &GraphProto, plan: &Plan) -> BTreeMap<usize, (String, Vec<usize>, u64)> {
    let mut out = BTreeMap::new();
    for edit in plan.edits.iter().filter(|e| e.scored) {
        if out.contains_key(&edit.node) {
            continue;
        }
        if let Some(info) = weights::lookup(graph, &edit.tensor) {
            let nonzero = weights::values(graph, &info)
                .map(|v| v.iter().filter(|x| **x != 0.0).count() as u64)
                .unwrap_or(0);
            out.insert(edit.node, (edit.tensor.clone(), info.dims, nonzero));
        }
    }
    out
}

/// Per-channel importance of a group: over every scored member weight, the
/// channel's norm divided by that member's mean channel norm, summed.
fn group_scores(
    graph: &GraphProto,
    plan: &mut Plan,
    root: usize,
    channels: usize,
    norm: PruneNorm,
) -> Result<Vec<f64>, TransformError> {
    let squared = norm == PruneNorm::L2;
    let mut scores = vec![0f64; channels];
    let edits: Vec<plan::Edit> = plan.edits.iter().filter(|e| e.scored).cloned().collect();
    for edit in edits {
        let in_group: Vec<bool> = edit
            .segs
            .iter()
            .map(|s| s.space.is_some_and(|sp| plan.root(sp) == root))
            .collect();
        if !in_group.contains(&true) {
            continue;
        }
        let Some(info) = weights::lookup(graph, &edit.tensor) else {
            continue;
        };
        let values = weights::values(graph, &info)?;
        let index_norms = channels::axis_norms(&values, &info.dims, edit.axis, squared);
        if index_norms.len() != seg_total(&edit.segs) {
            continue;
        }
        let mut offset = 0;
        for (seg, member) in edit.segs.iter().zip(in_group) {
            let span = seg.len * seg.block;
            if member && seg.len == channels {
                let mut per_channel: Vec<f64> = (0..seg.len)
                    .map(|c| {
                        let start = offset + c * seg.block;
                        index_norms
                            .get(start..start + seg.block)
                            .map_or(0.0, |b| b.iter().sum())
                    })
                    .collect();
                if squared {
                    per_channel.iter_mut().for_each(|v| *v = v.sqrt());
                }
                let mean = per_channel.iter().sum::<f64>() / seg.len.max(1) as f64;
                if mean > 0.0 {
                    for (score, value) in scores.iter_mut().zip(per_channel) {
                        *score += value / mean;
                    }
                }
            }
            offset += span;
        }
    }
    Ok(scores)
}
