//! The pruning section of the transform report as plain text: a headline
//! with what was really removed model-wide, the channel groups (structured
//! pruning), the per-layer table and the skipped layers.

use std::fmt::Write as _;

use super::report::PruneReport;
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
        let prunable = prune
            .groups
            .iter()
            .filter(|g| g.unprunable.is_none())
            .count();
        let pruned = prune
            .groups
            .iter()
            .filter(|g| g.unprunable.is_none() && g.channels_after < g.channels_before)
            .count();
        let whole = if prunable > pruned {
            format!(
                ", {} kept whole (channel floor or rounding)",
                prunable - pruned
            )
        } else {
            String::new()
        };
        writeln!(
            out,
            "  channel groups: {pruned} pruned{whole}, {} unprunable",
            prune.groups.len() - prunable
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::transform::{PruneGroup, PruneMode, PruneNorm, PruneSpec, TransformSpec};

    #[test]
    fn the_headline_states_what_was_removed_model_wide() {
        let report = PruneReport {
            overall_sparsity: 0.25,
            groups: vec![
                PruneGroup {
                    id: 0,
                    members: vec!["a".to_owned(), "b".to_owned()],
                    coupled: vec!["c".to_owned()],
                    channels_before: 8,
                    channels_after: 4,
                    unprunable: None,
                },
                PruneGroup {
                    id: 1,
                    members: vec!["c".to_owned()],
                    channels_before: 2,
                    channels_after: 2,
                    unprunable: Some("c: its output reaches the graph output \"y\"".to_owned()),
                    ..PruneGroup::default()
                },
            ],
            model_params_before: 1000,
            model_params_after: 750,
            model_flops_before: 4000,
            model_flops_after: 1000,
            ..PruneReport::default()
        };
        let mut text = String::new();
        write_prune_text(&mut text, &report).expect("writes");
        assert!(
            text.starts_with(
                "Pruning     removed 25.0% of the model's parameters (1,000 -> 750) and 75.0% of its FLOPs"
            ),
            "{text}"
        );
        assert!(
            text.contains("channel groups: 1 pruned, 1 unprunable"),
            "{text}"
        );
        assert!(
            text.contains("8 -> 4     channels: a, b; also shrinks c"),
            "{text}"
        );
        assert!(
            text.contains("group 1    unprunable: c: its output reaches the graph output \"y\""),
            "{text}"
        );
    }

    #[test]
    fn the_label_names_non_default_structured_settings() {
        let spec = TransformSpec {
            prune: Some(PruneSpec {
                sparsity: 0.5,
                mode: PruneMode::Structured,
                min_channels: 8,
                round_to: 8,
                norm: PruneNorm::L2,
                ..PruneSpec::default()
            }),
            ..TransformSpec::default()
        };
        assert_eq!(
            spec.label(),
            "50% structured pruning (per layer) [at least 8 channels, multiples of 8, L2]"
        );
    }
}
