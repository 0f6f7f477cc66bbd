//! The accuracy budget search on real checks: measure the sensitivity of
//! every unit (that unit converted alone), sort the units from least to most
//! sensitive, and bisect for the longest prefix whose combined model stays
//! within the budget, so the search costs one check per unit plus
//! O(log n) checks of combined models.
//!
//! Every check is a transform loaded in ONNX Runtime and compared with the
//! original on the same evaluation inputs; `engine::verify::apply_checked`
//! hands that check in as a closure (it owns the session building and the
//! accuracy probe), so this file only drives the search. The pure parts
//! (units, keep sets, the bisection, the report) are
//! [`crate::transform::budget`].

use std::collections::{BTreeMap, HashSet};
use std::time::Instant;

use crate::model::Model;
use crate::transform::budget;
use crate::transform::{
    AccuracyReport, BudgetError, BudgetLimit, BudgetReport, BudgetUnit, LayerSensitivity,
    TransformReport, TransformSpec,
};

/// One checked candidate: the model, its bytes, and its report with the
/// accuracy filled in.
#[derive(Debug, Clone)]
pub struct Candidate {
    /// The transformed model.
    pub model: Model,
    /// Its serialized bytes (self-contained).
    pub bytes: Vec<u8>,
    /// What was done, with `accuracy` set.
    pub report: TransformReport,
}

/// The two figures a budget reads from an accuracy report: the minimum
/// cosine over outputs and the top-1 drop (when labels were given).
pub fn budget_measures(accuracy: Option<&AccuracyReport>) -> (f64, Option<f64>) {
    let Some(accuracy) = accuracy else {
        return (0.0, None);
    };
    let min_cosine = accuracy
        .outputs
        .iter()
        .map(|o| o.cosine_similarity)
        .fold(1.0, f64::min);
    let drop = accuracy
        .task
        .as_ref()
        .map(|task| task.top1_before - task.top1_after);
    (min_cosine, drop)
}

/// Runs the budget search of `spec.accuracy_budget` over `model`.
///
/// `check` transforms with the given spec, loads the result in ONNX Runtime
/// and measures its accuracy; `unconverted` returns the original as a
/// candidate (for a sensitivity-only run, or when nothing fits and the user
/// asked for the unconverted model). The returned candidate's report holds
/// the [`BudgetReport`].
pub fn search<E: From<BudgetError>>(
    model: &Model,
    spec: &TransformSpec,
    check: &mut dyn FnMut(&TransformSpec) -> Result<Candidate, E>,
    unconverted: &mut dyn FnMut() -> Result<Candidate, E>,
) -> Result<Candidate, E> {
    let started = Instant::now();
    let budget_spec = spec.accuracy_budget.unwrap_or_default();
    let limit = budget_spec.limit;
    let empty = crate::model::onnx::GraphProto::default();
    let graph = model.proto.graph.as_ref().unwrap_or(&empty);

    // The fully converted model: finds the units, and is the check of the
    // longest prefix.
    let full = check(spec)?;
    let (_, full_drop) = budget_measures(full.report.accuracy.as_ref());
    if matches!(limit, Some(BudgetLimit::MaxTop1Drop(_))) && full_drop.is_none() {
        return Err(BudgetError::NeedsLabels.into());
    }
    let units = budget::units(graph, spec, &full.report);
    if units.is_empty() {
        return Err(BudgetError::NoUnits(format!(
            "{} converts no node that is not already in keep_nodes",
            spec.label()
        ))
        .into());
    }

    if units.len() > crate::transform::MAX_BUDGET_UNITS {
        return Err(BudgetError::TooManyUnits(units.len()).into());
    }
    let mut rows: Vec<LayerSensitivity> = Vec::with_capacity(units.len());
    for index in 0..units.len() {
        let keep = budget::keep_set(graph, spec, &units, &HashSet::from([index]));
        let candidate = check(&with_keep(spec, keep.clone()))?;
        check_honoured(&candidate.report, &keep)?;
        rows.push(sensitivity_row(&units, index, &candidate.report));
    }
    let sensitivity_checks = rows.len();
    budget::sort_by_sensitivity(&mut rows, limit);

    let mut report = BudgetReport {
        budget: budget_spec,
        units_described: budget::describe_units(spec),
        sensitivity_checks,
        notes: vec![
            "the search assumes that converting more units never improves accuracy (errors add up); each combined model is checked for real".to_owned(),
        ],
        ..BudgetReport::default()
    };
    let Some(limit) = limit else {
        let mut result = unconverted()?;
        result.report.notes.push(
            "sensitivity only: the model is left unconverted; each row below converts that unit alone".to_owned(),
        );
        report.sensitivity = rows;
        report.final_min_cosine = 1.0;
        report.elapsed_ms = elapsed_ms(started);
        report.keep_nodes = Vec::new();
        result.report.budget = Some(report);
        return Ok(result);
    };

    // Unit index (into `units`) of each row, least sensitive first.
    let order: Vec<usize> = rows
        .iter()
        .filter_map(|row| units.iter().position(|u| u.label == row.unit.label))
        .collect();
    let n = units.len();
    let mut checked: BTreeMap<usize, Candidate> = BTreeMap::new();
    let mut full = Some(full);
    let (converted, search_checks) = budget::longest_passing_prefix(n, |k| {
        let candidate = match full.take().filter(|_| k == n) {
            Some(full) => full,
            None => {
                let prefix: HashSet<usize> = order.iter().take(k).copied().collect();
                let keep = budget::keep_set(graph, spec, &units, &prefix);
                check(&with_keep(spec, keep))?
            }
        };
        let (cosine, drop) = budget_measures(candidate.report.accuracy.as_ref());
        let passes = limit.allows(cosine, drop);
        checked.insert(k, candidate);
        Ok::<bool, E>(passes)
    })?;

    for (rank, row) in rows.iter_mut().enumerate() {
        row.converted = rank < converted;
    }
    report.converted_units = converted;
    report.search_checks = search_checks;
    report.op_block_list = budget::op_block_list(&rows);
    let result = if converted == 0 {
        if !budget_spec.allow_unconverted {
            let least = rows.first();
            return Err(BudgetError::Unreachable {
                limit,
                unit: least.map(|r| r.unit.label.clone()).unwrap_or_default(),
                measured: least.map(describe_error).unwrap_or_default(),
            }
            .into());
        }
        report.notes.push(
            "not even the least sensitive unit fits the budget: the model is written unconverted, as asked".to_owned(),
        );
        unconverted()?
    } else {
        match checked.remove(&converted) {
            Some(candidate) => candidate,
            None => {
                let prefix: HashSet<usize> = order.iter().take(converted).copied().collect();
                let keep = budget::keep_set(graph, spec, &units, &prefix);
                check(&with_keep(spec, keep))?
            }
        }
    };
    let mut result = result;
    let (final_cosine, final_drop) = budget_measures(result.report.accuracy.as_ref());
    report.final_min_cosine = final_cosine;
    report.final_top1_drop = final_drop;
    report.keep_nodes = if converted == 0 {
        rows.iter()
            .flat_map(|r| r.unit.nodes.iter().cloned())
            .collect()
    } else {
        result.report.spec.keep_nodes.iter().cloned().collect()
    };
    report.sensitivity = rows;
    report.elapsed_ms = elapsed_ms(started);
    result.report.budget = Some(report);
    Ok(result)
}

/// `spec` with `keep` as its keep list.
fn with_keep(spec: &TransformSpec, keep: std::collections::BTreeSet<String>) -> TransformSpec {
    TransformSpec {
        keep_nodes: keep,
        ..spec.clone()
    }
}

/// Fails when a transform changed a node it was told to keep (pruning
/// that does not honour `keep_nodes` would make every sensitivity the same).
fn check_honoured(
    report: &TransformReport,
    keep: &std::collections::BTreeSet<String>,
) -> Result<(), BudgetError> {
    let touched = |label: &str| {
        // Reports name unnamed nodes `Op#index`; keep lists use `#index`.
        let id = label
            .find('#')
            .map_or(label, |at| label.get(at..).unwrap_or(label));
        keep.contains(label) || keep.contains(id)
    };
    // A kept layer keeps its output channels; it may still lose input
    // channels that a pruned layer before it no longer produces.
    if let Some(prune) = &report.prune
        && let Some(layer) = prune
            .layers
            .iter()
            .find(|l| touched(&l.node) && l.channels_after != l.channels_before)
    {
        return Err(BudgetError::NotHonoured(format!(
            "pruning changed {} although the budget asked to keep it dense: this pruning does not honour keep_nodes, so a budget cannot search over pruned layers",
            layer.node
        )));
    }
    if let Some(int8) = &report.int8
        && let Some(layer) = int8.quantized.iter().find(|l| touched(&l.node))
    {
        return Err(BudgetError::NotHonoured(format!(
            "int8 quantized {} although the budget asked to keep it float",
            layer.node
        )));
    }
    Ok(())
}

/// The table row of unit `index` converted alone.
fn sensitivity_row(
    units: &[BudgetUnit],
    index: usize,
    report: &TransformReport,
) -> LayerSensitivity {
    let (cosine, drop) = budget_measures(report.accuracy.as_ref());
    let relative_l2 = report
        .accuracy
        .as_ref()
        .map_or(0.0, AccuracyReport::worst_relative_l2_error);
    let flops_gain = report.prune.as_ref().map_or(0, |prune| {
        prune
            .model_flops_before
            .saturating_sub(prune.model_flops_after)
    });
    LayerSensitivity {
        unit: units.get(index).cloned().unwrap_or(BudgetUnit {
            label: String::new(),
            op_type: String::new(),
            nodes: Vec::new(),
        }),
        cosine_error: (1.0 - cosine).max(0.0),
        relative_l2_error: relative_l2,
        top1_drop: drop,
        size_gain_bytes: report.size_before_bytes as i64 - report.size_after_bytes as i64,
        flops_gain,
        converted: false,
    }
}

fn describe_error(row: &LayerSensitivity) -> String {
    let mut text = format!("cosine {:.6}", 1.0 - row.cosine_error);
    if let Some(drop) = row.top1_drop {
        text.push_str(&format!(", top-1 drop {:.2}%", drop * 100.0));
    }
    text
}

fn elapsed_ms(started: Instant) -> u64 {
    u64::try_from(started.elapsed().as_millis()).unwrap_or(u64::MAX)
}
