//! Unstructured magnitude pruning: the smallest-magnitude weights are set to
//! zero until the target sparsity is reached, per layer or with one
//! threshold over all layers (global). Tensors keep their shapes: dense
//! kernels still multiply the zeros, so neither FLOPs nor file size drop
//! (the report says so).

use std::collections::HashSet;

use super::report::{PruneReport, PrunedLayer, flops_by_node};
use crate::model::onnx::ModelProto;
use crate::transform::graph::{self, is_default_domain, node_label};
use crate::transform::weights::{self, ConstInfo};
use crate::transform::{PruneScope, PruneSpec, SkippedLayer, TransformError};

/// Indices of the `count` smallest-magnitude values (ties by position), so
/// the zeroed count is exact.
pub fn smallest_magnitudes(values: &[f32], count: usize) -> Vec<usize> {
    let mut order: Vec<usize> = (0..values.len()).collect();
    order.sort_by(|a, b| {
        let magnitude = |i: &usize| values.get(*i).map_or(0.0, |v| v.abs());
        magnitude(a).total_cmp(&magnitude(b)).then(a.cmp(b))
    });
    order.truncate(count);
    order
}

/// Weights chosen for pruning.
struct Candidate {
    node_index: usize,
    label: String,
    op_type: String,
    weight: String,
    info: ConstInfo,
    values: Vec<f32>,
}

/// Zeroes the smallest-magnitude Conv/Gemm/MatMul weights, per layer or with
/// one global threshold; shapes stay.
pub(super) fn prune_unstructured(
    proto: &mut ModelProto,
    spec: &PruneSpec,
) -> Result<PruneReport, TransformError> {
    let flops_before = flops_by_node(proto);
    let Some(graph) = proto.graph.as_mut() else {
        return Err(TransformError::NoGraph);
    };
    let mut report = PruneReport::default();
    let mut candidates: Vec<Candidate> = Vec::new();
    let mut seen_weights: HashSet<String> = HashSet::new();
    for (node_index, node) in graph.node.iter().enumerate() {
        if !is_default_domain(node) || !matches!(node.op_type(), "Conv" | "Gemm" | "MatMul") {
            continue;
        }
        let label = node_label(node, node_index);
        let weight = node.input.get(1).cloned().unwrap_or_default();
        let skip = |reason: &str| SkippedLayer {
            node: label.clone(),
            op_type: node.op_type().to_owned(),
            reason: reason.to_owned(),
        };
        let Some(info) = weights::lookup(graph, &weight) else {
            report.skipped.push(skip(
                "weight is not a float32 constant (an activation, or another type)",
            ));
            continue;
        };
        if !seen_weights.insert(weight.clone()) {
            report
                .skipped
                .push(skip("weight shared with an earlier layer (pruned there)"));
            continue;
        }
        candidates.push(Candidate {
            node_index,
            label,
            op_type: node.op_type().to_owned(),
            values: weights::values(graph, &info)?,
            weight,
            info,
        });
    }
    if candidates.is_empty() {
        return Err(TransformError::NothingToPrune(
            "no Conv, Gemm or MatMul with a constant float32 weight".to_owned(),
        ));
    }
    if spec.skip_first_last {
        let last = candidates.len() - 1;
        for (position, reason) in [
            (last, "last prunable layer (skip first/last)"),
            (0, "first prunable layer (skip first/last)"),
        ] {
            if position < candidates.len() {
                let removed = candidates.remove(position);
                report.skipped.push(SkippedLayer {
                    node: removed.label,
                    op_type: removed.op_type,
                    reason: reason.to_owned(),
                });
            }
        }
        if candidates.is_empty() {
            return Err(TransformError::NothingToPrune(format!(
                "every prunable layer is the first or the last one ({})",
                crate::field::Field::SkipFirstLast
            )));
        }
    }

    let zeroed: Vec<Vec<usize>> = match spec.scope {
        PruneScope::PerLayer => candidates
            .iter()
            .map(|c| {
                smallest_magnitudes(
                    &c.values,
                    (spec.sparsity * c.values.len() as f64).floor() as usize,
                )
            })
            .collect(),
        PruneScope::Global => {
            let mut all: Vec<(f32, usize, usize)> = candidates
                .iter()
                .enumerate()
                .flat_map(|(layer, c)| {
                    c.values
                        .iter()
                        .enumerate()
                        .map(move |(i, v)| (v.abs(), layer, i))
                })
                .collect();
            let count = (spec.sparsity * all.len() as f64).floor() as usize;
            all.sort_by(|a, b| a.0.total_cmp(&b.0).then(a.1.cmp(&b.1)).then(a.2.cmp(&b.2)));
            let mut per_layer = vec![Vec::new(); candidates.len()];
            for (_, layer, index) in all.into_iter().take(count) {
                if let Some(list) = per_layer.get_mut(layer) {
                    list.push(index);
                }
            }
            per_layer
        }
    };

    let mut total = 0u64;
    let mut total_zero = 0u64;
    let mut names = graph::Names::new(graph);
    let mut dead_fills: HashSet<String> = HashSet::new();
    for (candidate, indices) in candidates.iter_mut().zip(zeroed) {
        let params = candidate.values.len() as u64;
        let nonzero_before = candidate.values.iter().filter(|v| **v != 0.0).count() as u64;
        for index in indices {
            if let Some(value) = candidate.values.get_mut(index) {
                *value = 0.0;
            }
        }
        let nonzero_after = candidate.values.iter().filter(|v| **v != 0.0).count() as u64;
        dead_fills.extend(weights::store_values(
            graph,
            &candidate.weight,
            &candidate.info,
            &candidate.values,
            &mut names,
        ));
        let achieved = if params == 0 {
            0.0
        } else {
            1.0 - nonzero_after as f64 / params as f64
        };
        let flops_dense = flops_before
            .get(&candidate.node_index)
            .copied()
            .unwrap_or(0);
        total += params;
        total_zero += params - nonzero_after;
        report.layers.push(PrunedLayer {
            node: candidate.label.clone(),
            op_type: candidate.op_type.clone(),
            weight: candidate.weight.clone(),
            requested_sparsity: spec.sparsity,
            achieved_sparsity: achieved,
            params_before: params,
            params_after: params,
            nonzero_params_before: nonzero_before,
            nonzero_params_after: nonzero_after,
            channels_before: None,
            channels_after: None,
            flops_before: flops_dense,
            flops_after: flops_dense,
            flops_nonzero_after: (flops_dense as f64 * (1.0 - achieved)).round() as u64,
            group: None,
        });
    }
    graph::remove_dead(graph, &dead_fills);
    report.overall_sparsity = if total == 0 {
        0.0
    } else {
        total_zero as f64 / total as f64
    };
    // Saturating: a model may declare dims whose FLOPs overflow u64.
    report.model_flops_before = flops_before.values().fold(0, |a, b| a.saturating_add(*b));
    report.model_flops_after = flops_by_node(proto)
        .values()
        .fold(0, |a, b| a.saturating_add(*b));
    Ok(report)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn smallest_magnitudes_rank_by_absolute_value_then_position() {
        let values = [0.5, -0.1, 0.0, 2.0, 0.1, -0.3];
        // |v| order: 0.0 (2), 0.1 (1 and 4, by position), 0.3 (5), 0.5 (0), 2.0 (3).
        assert_eq!(smallest_magnitudes(&values, 3), vec![2, 1, 4]);
        assert_eq!(smallest_magnitudes(&values, 0), Vec::<usize>::new());
        assert_eq!(smallest_magnitudes(&values, 6), vec![2, 1, 4, 5, 0, 3]);
    }
}
