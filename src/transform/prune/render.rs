//! The pruning section of the transform report as plain text: a headline
//! with what was really removed model-wide, the channel groups (structured
//! pruning), the per-layer table and the skipped layers.

use std::fmt::Write as _;

use super::PruneReport;
use crate::model::format_flops;
use crate::util::format_count;

/// Percent removed going from `before` to `after`.
fn removed_percent(before: u64, after: u64) -> f64 {
    if before == 0 {
        0.0
    } else {
        (1.0 - after as f64 / before as f64) * 100.0
    }
}

/// Writes the pruning section of the report.
pub(crate) fn write_prune_text(out: &mut String, prune: &PruneReport) -> std::fmt::Result {
    if prune.groups.is_empty() {
        writeln!(
            out,
            "Pruning     overall sparsity {:.1}%, model FLOPs {} -> {}",
            prune.overall_sparsity * 100.0,
            format_flops(prune.model_flops_before),
            format_flops(prune.model_flops_after)
        )?;
    } else {
        writeln!(
            out,
            "Pruning     removed {:.1}% of the model's parameters ({} -> {}) and {:.1}% of its FLOPs ({} -> {})",
            removed_percent(prune.model_params_before, prune.model_params_after),
            format_count(prune.model_params_before),
            format_count(prune.model_params_after),
            removed_percent(prune.model_flops_before, prune.model_flops_after),
            format_flops(prune.model_flops_before),
            format_flops(prune.model_flops_after)
        )?;
        let pruned = prune
            .groups
            .iter()
            .filter(|g| g.unprunable.is_none())
            .count();
        writeln!(
            out,
            "  channel groups: {pruned} pruned, {} unprunable",
            prune.groups.len() - pruned
        )?;
        for group in &prune.groups {
            match &group.unprunable {
                None => {
                    let coupled = if group.coupled.is_empty() {
                        String::new()
                    } else {
                        format!("; also shrinks {}", group.coupled.join(", "))
                    };
                    writeln!(
                        out,
                        "  group {:<4} {:>5} -> {:<5} channels: {}{coupled}",
                        group.id,
                        group.channels_before,
                        group.channels_after,
                        group.members.join(", ")
                    )?;
                }
                Some(reason) if group.members.len() > 1 => writeln!(
                    out,
                    "  group {:<4} unprunable: {reason} (members {})",
                    group.id,
                    group.members.join(", ")
                )?,
                Some(reason) => writeln!(out, "  group {:<4} unprunable: {reason}", group.id)?,
            }
        }
    }
    writeln!(
        out,
        "  {:<20} {:<6} {:>5} {:>9} {:>9} {:>9} {:>21} {:>21} {:>10}",
        "layer",
        "op",
        "group",
        "requested",
        "achieved",
        "channels",
        "params (nonzero)",
        "FLOPs before -> after",
        "nonzero"
    )?;
    for layer in &prune.layers {
        let channels = match (layer.channels_before, layer.channels_after) {
            (Some(before), Some(after)) => format!("{before}->{after}"),
            _ => "-".to_owned(),
        };
        writeln!(
            out,
            "  {:<20} {:<6} {:>5} {:>8.1}% {:>8.1}% {:>9} {:>21} {:>21} {:>10}",
            layer.node,
            layer.op_type,
            layer
                .group
                .map_or_else(|| "-".to_owned(), |g| g.to_string()),
            layer.requested_sparsity * 100.0,
            layer.achieved_sparsity * 100.0,
            channels,
            format!(
                "{}->{} ({})",
                format_count(layer.params_before),
                format_count(layer.params_after),
                format_count(layer.nonzero_params_after)
            ),
            format!(
                "{} -> {}",
                format_flops(layer.flops_before),
                format_flops(layer.flops_after)
            ),
            format_flops(layer.flops_nonzero_after)
        )?;
    }
    for skip in &prune.skipped {
        writeln!(out, "  {skip}")?;
    }
    Ok(())
}
