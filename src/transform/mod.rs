//! Model transforms: float16, int8 weight quantization and magnitude
//! pruning, each reported with what it changed.
//!
//! The module is pure: model in, model plus [`TransformReport`] out. It
//! imports nothing but [`crate::model`] (and the small helpers in
//! [`crate::util`]); it never loads ONNX Runtime. [`apply`] inlines external
//! data first, so the result is self-contained and loads from memory.
//! Pruning runs before the precision change.
//!
//! Loading the result in ONNX Runtime, keeping float16 ops the provider has
//! no kernel for in float32, and measuring the accuracy against the original
//! is the engine's work (`engine::verify::apply_checked`); [`accuracy`] holds
//! the report types and the statistics it fills in.
//!
//! Nothing here prints; the CLI and the GUI render [`TransformReport`].

pub mod accuracy;
pub mod budget;
pub mod fp16;
mod graph;
pub mod int8;
pub mod opset;
pub mod prune;
mod weights;

use std::collections::BTreeSet;
use std::fmt::Write as _;

use serde::{Deserialize, Serialize};

use crate::model::{Model, ModelError};
pub use accuracy::{
    AccuracyReport, NextTokenAgreement, OutputAccuracy, OutputComparison, SpeedCheck,
    SyntheticKind, TaskAccuracy,
};
pub use budget::{AccuracyBudget, BudgetLimit, BudgetReport, LayerSensitivity};
pub use fp16::{Fp16Report, KeptNode};
pub use int8::{Int8Report, QuantizedLayer};
pub use opset::{OpsetError, OpsetUpgrade};
pub use prune::{PruneGroup, PruneReport, PrunedLayer};

/// Input sets compared by default when measuring accuracy.
pub const DEFAULT_ACCURACY_SAMPLES: usize = 8;

/// Numeric precision of the transformed model.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize, clap::ValueEnum)]
#[serde(rename_all = "snake_case")]
pub enum Precision {
    /// Unchanged float32.
    #[default]
    Fp32,
    /// float16 weights and compute, with float32 islands.
    Fp16,
    /// int8 weights (see [`Int8Mode`]).
    Int8,
}

/// How int8 weights are used.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize, clap::ValueEnum)]
#[serde(rename_all = "snake_case")]
pub enum Int8Mode {
    /// DynamicQuantizeLinear + MatMulInteger/ConvInteger: integer compute.
    #[default]
    Dynamic,
    /// DequantizeLinear on the weights; float compute.
    Qdq,
}

/// Per-layer targets or one threshold over all layers.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize, clap::ValueEnum)]
#[serde(rename_all = "snake_case")]
pub enum PruneScope {
    /// Every layer reaches the target sparsity.
    #[default]
    PerLayer,
    /// The smallest weights over all layers, so layers differ.
    Global,
}

/// Which weights pruning removes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize, clap::ValueEnum)]
#[serde(rename_all = "snake_case")]
pub enum PruneMode {
    /// Single weights set to zero; shapes stay.
    #[default]
    Unstructured,
    /// Whole output channels removed (smallest L1 norm); tensors shrink.
    Structured,
}

/// The norm that scores a channel in structured pruning.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize, clap::ValueEnum)]
#[serde(rename_all = "snake_case")]
pub enum PruneNorm {
    /// Sum of absolute values.
    #[default]
    L1,
    /// Square root of the sum of squares.
    L2,
}

/// Magnitude pruning settings.
#[derive(Debug, Clone, Copy, PartialEq, Default, Serialize, Deserialize)]
#[serde(default)]
pub struct PruneSpec {
    /// Target fraction of zero weights (unstructured) or of removed output
    /// channels (structured), 0 ≤ sparsity < 1.
    pub sparsity: f64,
    /// Unstructured or structured.
    pub mode: PruneMode,
    /// Per layer or global threshold.
    pub scope: PruneScope,
    /// Leave the first and the last prunable layer dense.
    pub skip_first_last: bool,
    /// Structured: no group keeps fewer channels than this (0 counts as 1).
    pub min_channels: usize,
    /// Structured: channel counts after pruning are a multiple of this where
    /// the layer has enough channels (0 and 1: no rounding).
    pub round_to: usize,
    /// Structured: the norm that scores channels.
    pub norm: PruneNorm,
}

/// What to do to a model. The default changes nothing.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct TransformSpec {
    /// Target precision.
    pub precision: Precision,
    /// int8 format, with [`Precision::Int8`].
    pub int8_mode: Int8Mode,
    /// With [`Precision::Fp16`]: float16 graph inputs and outputs.
    pub fp16_io: bool,
    /// Pruning, if any.
    pub prune: Option<PruneSpec>,
    /// Input sets compared when measuring accuracy.
    pub accuracy_samples: usize,
    /// Nodes every transform leaves as they are (float32, dense), named as
    /// [`crate::model::node::node_id`] names them. The accuracy budget fills
    /// this with the layers that are too sensitive.
    pub keep_nodes: BTreeSet<String>,
    /// Raise the default-domain opset to this first (int8 raises models
    /// below [`opset::INT8_OPSET`] on its own).
    pub target_opset: Option<i64>,
    /// Convert only as much as this accuracy budget allows (the search
    /// runs in `engine::verify::apply_checked`).
    pub accuracy_budget: Option<AccuracyBudget>,
    /// Synthetic data of the accuracy check when no `.npy` files are given.
    pub synthetic: SyntheticKind,
    /// Evaluation data for the accuracy check only (a `.npy` file or a
    /// folder of them, for the model's only input); the run's own inputs
    /// stay as configured. Overrides the run's `.npy` inputs for accuracy.
    pub eval_input: Option<std::path::PathBuf>,
    /// Integer class ids (`.npy`, one per evaluated row) for top-1/top-5.
    pub labels: Option<std::path::PathBuf>,
    /// The class output the labels go with (default: the first `[rows, classes]` output).
    pub labels_output: Option<String>,
}

impl Default for TransformSpec {
    fn default() -> Self {
        Self {
            precision: Precision::Fp32,
            int8_mode: Int8Mode::Dynamic,
            fp16_io: false,
            prune: None,
            accuracy_samples: DEFAULT_ACCURACY_SAMPLES,
            keep_nodes: BTreeSet::new(),
            target_opset: None,
            accuracy_budget: None,
            synthetic: SyntheticKind::Auto,
            eval_input: None,
            labels: None,
            labels_output: None,
        }
    }
}

impl TransformSpec {
    /// True when the spec leaves the model as it is.
    pub fn is_identity(&self) -> bool {
        self.precision == Precision::Fp32 && self.prune.is_none() && self.target_opset.is_none()
    }

    /// A short label such as `int8 (dynamic) + 50% unstructured pruning`.
    pub fn label(&self) -> String {
        let mut parts = Vec::new();
        if let Some(opset) = self.target_opset {
            parts.push(format!("opset {opset}"));
        }
        match self.precision {
            Precision::Fp32 => {}
            Precision::Fp16 => parts.push(if self.fp16_io {
                "fp16 (fp16 io)".to_owned()
            } else {
                "fp16".to_owned()
            }),
            Precision::Int8 => parts.push(match self.int8_mode {
                Int8Mode::Dynamic => "int8 (dynamic)".to_owned(),
                Int8Mode::Qdq => "int8 (qdq)".to_owned(),
            }),
        }
        if let Some(prune) = &self.prune {
            parts.push(format!(
                "{:.0}% {} pruning ({}{})",
                prune.sparsity * 100.0,
                match prune.mode {
                    PruneMode::Unstructured => "unstructured",
                    PruneMode::Structured => "structured",
                },
                match prune.scope {
                    PruneScope::PerLayer => "per layer",
                    PruneScope::Global => "global",
                },
                if prune.skip_first_last {
                    ", first/last kept"
                } else {
                    ""
                }
            ));
            if prune.mode == PruneMode::Structured {
                prune::structured_label_details(prune, &mut parts);
            }
        }
        let label = if parts.is_empty() {
            "none".to_owned()
        } else {
            parts.join(" + ")
        };
        budget::label_suffix(label, self.accuracy_budget.as_ref())
    }
}

/// Why a transform leaves a layer alone: a sentence for the report, such as
/// "weight is not a constant". Not an error: the transform goes on.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct SkipReason(pub String);

impl From<String> for SkipReason {
    fn from(reason: String) -> Self {
        Self(reason)
    }
}

impl From<&str> for SkipReason {
    fn from(reason: &str) -> Self {
        Self(reason.to_owned())
    }
}

/// A layer a transform left alone, and why.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SkippedLayer {
    /// Node name.
    pub node: String,
    /// Op type.
    pub op_type: String,
    /// Why it was skipped.
    pub reason: String,
}

impl std::fmt::Display for SkippedLayer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "skipped {} ({}): {}",
            self.node, self.op_type, self.reason
        )
    }
}

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

/// Why a transform failed.
#[derive(Debug, thiserror::Error)]
pub enum TransformError {
    /// The model has no main graph.
    #[error("the model has no graph")]
    NoGraph,
    /// The model could not be read (e.g. external data).
    #[error(transparent)]
    Model(#[from] ModelError),
    /// Pruning found nothing to prune.
    #[error("nothing to prune: {0}")]
    NothingToPrune(String),
    /// int8 found nothing to quantize.
    #[error("nothing to quantize: {0}")]
    NothingToQuantize(String),
    /// The sparsity is outside 0 ≤ s < 1.
    #[error("sparsity must be at least 0 and below 1, got {0}")]
    BadSparsity(f64),
    /// A model feature the transform does not handle.
    #[error("not supported: {0}")]
    Unsupported(String),
    /// The opset could not be raised.
    #[error(transparent)]
    Opset(#[from] OpsetError),
}

/// Applies `spec` to `model`: pruning first, then the precision change.
/// The result has all external data inlined.
pub fn apply(
    model: &Model,
    spec: &TransformSpec,
) -> Result<(Model, TransformReport), TransformError> {
    apply_with_blocked_ops(model, spec, &BTreeSet::new())
}

/// [`apply`], with op types that must stay float32 on top of the float16
/// block list (the ones ONNX Runtime has no float16 kernel for on the chosen
/// execution provider).
pub fn apply_with_blocked_ops(
    model: &Model,
    spec: &TransformSpec,
    extra_blocked_ops: &BTreeSet<String>,
) -> Result<(Model, TransformReport), TransformError> {
    let mut proto = graph::inline_external_data(model)?;
    let mut report = TransformReport {
        spec: spec.clone(),
        size_before_bytes: prost::Message::encoded_len(&proto) as u64,
        ..TransformReport::default()
    };
    report.opset_upgrade = opset::upgrade_for(&mut proto, spec, &mut report.notes)?;
    let fills_before = weights::fill_count(&proto);
    if let Some(prune_spec) = &spec.prune {
        report.prune = Some(prune::prune(&mut proto, prune_spec, &spec.keep_nodes)?);
        if prune_spec.mode == PruneMode::Unstructured {
            report.notes.push(
                "unstructured sparsity keeps tensor shapes: dense kernels multiply the zeros, so FLOPs and file size do not drop".to_owned(),
            );
        }
    }
    match spec.precision {
        Precision::Fp32 => {}
        Precision::Fp16 => {
            let options = fp16::Fp16Options {
                fp16_io: spec.fp16_io,
                extra_blocked_ops: extra_blocked_ops.clone(),
                keep_nodes: keep_nodes_with_reason(spec),
            };
            let fp16_report = fp16::convert(&mut proto, &options)?;
            if fp16_report.already_fp16 {
                report.notes.push(
                    "the model is already float16 (no float32 tensors): left unchanged".to_owned(),
                );
            }
            report.fp16 = Some(fp16_report);
        }
        Precision::Int8 => {
            let int8_report =
                int8::quantize_keeping(&mut proto, spec.int8_mode, &keep_nodes_with_reason(spec))?;
            if int8_report.quantized.is_empty() {
                return Err(TransformError::NothingToQuantize(
                    "no MatMul, Gemm or Conv with a constant float32 weight".to_owned(),
                ));
            }
            report.int8 = Some(int8_report);
        }
    }
    let written_out = fills_before.saturating_sub(weights::fill_count(&proto));
    if written_out > 0 {
        report.notes.push(format!(
            "{written_out} weight{} stored as ConstantOfShape fills (a few bytes each) {} written out as values, so the file grows",
            if written_out == 1 { "" } else { "s" },
            if written_out == 1 { "is" } else { "are" },
        ));
    }
    report.size_after_bytes = prost::Message::encoded_len(&proto) as u64;
    Ok((Model::from_proto(proto, None), report))
}

/// `spec.keep_nodes` and the reason the reports give for them.
fn keep_nodes_with_reason(spec: &TransformSpec) -> (BTreeSet<String>, &'static str) {
    let reason = if spec.accuracy_budget.is_some() {
        budget::KEPT_BY_BUDGET
    } else {
        budget::KEPT_BY_REQUEST
    };
    (spec.keep_nodes.clone(), reason)
}

/// `model` with its external data inlined, so that it loads from memory
/// (the reference a transformed model is compared against).
pub fn self_contained(model: &Model) -> Result<Model, TransformError> {
    Ok(Model::from_proto(graph::inline_external_data(model)?, None))
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn default_spec_is_identity_and_labels_read_well() {
        assert!(TransformSpec::default().is_identity());
        let spec = TransformSpec {
            precision: Precision::Int8,
            prune: Some(PruneSpec {
                sparsity: 0.5,
                mode: PruneMode::Unstructured,
                scope: PruneScope::Global,
                skip_first_last: true,
                ..PruneSpec::default()
            }),
            ..TransformSpec::default()
        };
        assert!(!spec.is_identity());
        assert_eq!(
            spec.label(),
            "int8 (dynamic) + 50% unstructured pruning (global, first/last kept)"
        );
    }
}
