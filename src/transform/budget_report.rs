//! What an accuracy budget search did: its units, each unit's sensitivity,
//! what was converted and kept, and the report as text.

use std::fmt::Write as _;

use serde::{Deserialize, Serialize};

use super::{AccuracyBudget, BudgetLimit};

/// One unit of a budget search: the nodes converted or kept together.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct BudgetUnit {
    /// The name in tables: the node id, or `group N` for a channel group.
    pub label: String,
    /// Op type (of the first node).
    pub op_type: String,
    /// Node ids ([`crate::model::node::node_id`]) in the unit.
    pub nodes: Vec<String>,
}

/// The sensitivity of one unit: that unit converted alone.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct LayerSensitivity {
    /// The unit.
    pub unit: BudgetUnit,
    /// 1 − the minimum cosine over outputs.
    pub cosine_error: f64,
    /// The worst relative L2 error over outputs.
    pub relative_l2_error: f64,
    /// Top-1 accuracy drop (fraction) when labels were given.
    pub top1_drop: Option<f64>,
    /// Bytes saved by converting this unit alone (negative: grew).
    pub size_gain_bytes: i64,
    /// FLOPs saved by converting this unit alone (pruning).
    pub flops_gain: u64,
    /// Whether the budgeted model converts this unit.
    pub converted: bool,
}

impl LayerSensitivity {
    /// The error the units are sorted by: the budget's own measure first
    /// (top-1 drop for a top-1 budget), then the cosine error, then rel L2.
    pub(super) fn sort_key(&self, limit: Option<BudgetLimit>) -> (f64, f64, f64) {
        let primary = match limit {
            Some(BudgetLimit::MaxTop1Drop(_)) => self.top1_drop.unwrap_or(0.0),
            _ => self.cosine_error,
        };
        (primary, self.cosine_error, self.relative_l2_error)
    }
}

/// The outcome of a budget search.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct BudgetReport {
    /// The budget asked for.
    pub budget: AccuracyBudget,
    /// What a unit is, in words.
    pub units_described: String,
    /// Every unit, least sensitive first.
    pub sensitivity: Vec<LayerSensitivity>,
    /// Units converted (a prefix of `sensitivity`).
    pub converted_units: usize,
    /// Node ids left float32 / dense: the resulting block list.
    pub keep_nodes: Vec<String>,
    /// Op types whose every unit was kept (an ORT-style `op_block_list`).
    pub op_block_list: Vec<String>,
    /// ONNX Runtime checks of one unit alone.
    pub sensitivity_checks: usize,
    /// ONNX Runtime checks of combined models during the bisection.
    pub search_checks: usize,
    /// The minimum cosine of the final model over outputs.
    pub final_min_cosine: f64,
    /// The top-1 drop of the final model, when labels were given.
    pub final_top1_drop: Option<f64>,
    /// Wall time of the whole search, in milliseconds.
    pub elapsed_ms: u64,
    /// Things the user should know about the search.
    pub notes: Vec<String>,
}

impl BudgetReport {
    /// Writes the budget section of a transform report.
    pub fn write_text(&self, out: &mut String) -> std::fmt::Result {
        match self.budget.limit {
            Some(limit) => writeln!(
                out,
                "Budget      {limit}: {} of {} units converted, final min cosine {:.6}{}, {} + {} ONNX Runtime checks, {:.1} s",
                self.converted_units,
                self.sensitivity.len(),
                self.final_min_cosine,
                self.final_top1_drop
                    .map(|d| format!(", top-1 drop {:.2}%", d * 100.0))
                    .unwrap_or_default(),
                self.sensitivity_checks,
                self.search_checks,
                self.elapsed_ms as f64 / 1000.0
            )?,
            None => writeln!(
                out,
                "Sensitivity {} units, each converted alone ({} ONNX Runtime checks, {:.1} s)",
                self.sensitivity.len(),
                self.sensitivity_checks,
                self.elapsed_ms as f64 / 1000.0
            )?,
        }
        writeln!(out, "  units: {}", self.units_described)?;
        for note in &self.notes {
            writeln!(out, "  note: {note}")?;
        }
        writeln!(
            out,
            "  {:>4} {:<24} {:<14} {:>10} {:>10} {:>7} {:>10} {:>10}  state",
            "rank", "unit", "op", "1-cosine", "rel L2", "top-1", "size gain", "FLOPs"
        )?;
        for (rank, row) in self.sensitivity.iter().enumerate() {
            let state = match (self.budget.limit, row.converted) {
                (None, _) => "",
                (Some(_), true) => "converted",
                (Some(_), false) => "kept",
            };
            writeln!(
                out,
                "  {:>4} {:<24} {:<14} {:>10.3e} {:>10} {:>7} {:>10} {:>10}  {state}",
                rank + 1,
                truncate(&row.unit.label, 24),
                truncate(&row.unit.op_type, 14),
                row.cosine_error,
                finite_or_overflow(row.relative_l2_error),
                row.top1_drop
                    .map(|d| format!("{:.2}%", d * 100.0))
                    .unwrap_or_else(|| "-".to_owned()),
                signed_bytes(row.size_gain_bytes),
                if row.flops_gain == 0 {
                    "-".to_owned()
                } else {
                    crate::model::format_flops(row.flops_gain)
                },
            )?;
        }
        if self.budget.limit.is_some() {
            writeln!(
                out,
                "  node block list ({}): {}",
                self.keep_nodes.len(),
                list_or_none(&self.keep_nodes)
            )?;
            writeln!(
                out,
                "  op_block_list: {}",
                list_or_none(&self.op_block_list)
            )?;
        }
        Ok(())
    }
}

/// A relative error as `1.234e-3`, or `overflow` for the stand-in of a
/// non-finite value.
fn finite_or_overflow(value: f64) -> String {
    if value >= f64::MAX || !value.is_finite() {
        "overflow".to_owned()
    } else {
        format!("{value:.3e}")
    }
}

fn signed_bytes(bytes: i64) -> String {
    let magnitude = crate::util::format_bytes(bytes.unsigned_abs());
    if bytes < 0 {
        format!("-{magnitude}")
    } else {
        magnitude
    }
}

fn list_or_none(items: &[String]) -> String {
    if items.is_empty() {
        "none".to_owned()
    } else {
        items.join(", ")
    }
}

fn truncate(text: &str, width: usize) -> String {
    if text.chars().count() <= width {
        text.to_owned()
    } else {
        let head: String = text.chars().take(width.saturating_sub(1)).collect();
        format!("{head}…")
    }
}
