//! What a transform did: per-stage reports, sizes, notes, and the report
//! as text.

use std::fmt::Write as _;

use serde::{Deserialize, Serialize};

use super::{
    AccuracyReport, BudgetReport, Fp16Report, Int8Report, OpsetUpgrade, PruneReport, TransformSpec,
    opset, prune,
};

/// What a transform did, and what it cost.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct TransformReport {
    /// The spec that was applied.
    pub spec: TransformSpec,
    /// Serialized size of the original (external data inlined), in bytes.
    pub size_before_bytes: u64,
    /// Serialized size of the result, in bytes.
    pub size_after_bytes: u64,
    /// Things the user should know (e.g. "already float16, left alone").
    pub notes: Vec<String>,
    /// Pruning details.
    pub prune: Option<PruneReport>,
    /// float16 details.
    pub fp16: Option<Fp16Report>,
    /// int8 details.
    pub int8: Option<Int8Report>,
    /// Accuracy against the original, when measured.
    pub accuracy: Option<AccuracyReport>,
    /// The opset upgrade done first, if any.
    pub opset_upgrade: Option<OpsetUpgrade>,
    /// The accuracy budget search, when one ran.
    pub budget: Option<BudgetReport>,
}

impl TransformReport {
    /// The report as plain text (for the CLI and the session report).
    pub fn render_text(&self) -> String {
        let mut out = String::new();
        let _ = self.write_text(&mut out);
        out
    }

    fn write_text(&self, out: &mut String) -> std::fmt::Result {
        use crate::util::format_bytes;
        writeln!(out, "Transform   {}", self.spec.label())?;
        let change = if self.size_before_bytes > 0 {
            (self.size_after_bytes as f64 / self.size_before_bytes as f64 - 1.0) * 100.0
        } else {
            0.0
        };
        writeln!(
            out,
            "Size        {} -> {} ({change:+.1}%)",
            format_bytes(self.size_before_bytes),
            format_bytes(self.size_after_bytes)
        )?;
        opset::write_text(out, self.opset_upgrade.as_ref())?;
        for note in &self.notes {
            writeln!(out, "note: {note}")?;
        }
        if let Some(prune) = &self.prune {
            prune::write_prune_text(out, prune)?;
        }
        if let Some(fp16) = &self.fp16 {
            writeln!(
                out,
                "float16     {} tensors converted, {} values clamped, {} casts, io {}",
                fp16.tensors_converted,
                fp16.values_clamped,
                fp16.casts_inserted,
                if fp16.fp16_io { "float16" } else { "float32" }
            )?;
            for kept in &fp16.kept_fp32 {
                writeln!(
                    out,
                    "  kept float32: {} ({}): {}",
                    kept.node, kept.op_type, kept.reason
                )?;
            }
            for (op, message) in &fp16.rejected_by_runtime {
                writeln!(out, "  rejected by ONNX Runtime: {op}: {message}")?;
            }
        }
        if let Some(int8) = &self.int8 {
            writeln!(out, "int8        {} layers quantized", int8.quantized.len())?;
            for layer in &int8.quantized {
                writeln!(
                    out,
                    "  {:<20} {:<6} {:>5} scale{} weights {} -> {}",
                    layer.node,
                    layer.op_type,
                    layer.num_scales,
                    if layer.num_scales == 1 { "" } else { "s" },
                    format_bytes(layer.weight_bytes_before),
                    format_bytes(layer.weight_bytes_after)
                )?;
            }
            for skip in &int8.skipped {
                writeln!(out, "  {skip}")?;
            }
        }
        if let Some(accuracy) = &self.accuracy {
            accuracy.write_text(out)?;
        }
        if let Some(budget) = &self.budget {
            budget.write_text(out)?;
        }
        Ok(())
    }
}
