//! What to do to a model: precision, int8 mode, pruning, the accuracy
//! check and budget, nodes to leave alone.

use std::collections::BTreeSet;

use serde::{Deserialize, Serialize};

use super::SyntheticKind;

/// Input sets compared by default when measuring accuracy.
pub const DEFAULT_ACCURACY_SAMPLES: usize = 8;

/// Numeric precision of the transformed model.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[cfg_attr(feature = "cli", derive(clap::ValueEnum))]
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

impl Precision {
    /// Every precision.
    pub const ALL: [Self; 3] = [Self::Fp32, Self::Fp16, Self::Int8];

    /// The precision's name: `fp32`, `fp16`, `int8`.
    pub fn name(self) -> &'static str {
        match self {
            Self::Fp32 => "fp32",
            Self::Fp16 => "fp16",
            Self::Int8 => "int8",
        }
    }
}

impl std::str::FromStr for Precision {
    type Err = ();

    /// A precision by its [`name`](Precision::name), in any case.
    fn from_str(text: &str) -> Result<Self, ()> {
        Self::ALL
            .into_iter()
            .find(|precision| precision.name().eq_ignore_ascii_case(text.trim()))
            .ok_or(())
    }
}

/// How int8 weights are used.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[cfg_attr(feature = "cli", derive(clap::ValueEnum))]
#[serde(rename_all = "snake_case")]
pub enum Int8Mode {
    /// DynamicQuantizeLinear + MatMulInteger/ConvInteger: integer compute.
    #[default]
    Dynamic,
    /// DequantizeLinear on the weights; float compute.
    Qdq,
}

/// Per-layer targets or one threshold over all layers.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[cfg_attr(feature = "cli", derive(clap::ValueEnum))]
#[serde(rename_all = "snake_case")]
pub enum PruneScope {
    /// Every layer reaches the target sparsity.
    #[default]
    PerLayer,
    /// The smallest weights over all layers, so layers differ.
    Global,
}

/// Which weights pruning removes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[cfg_attr(feature = "cli", derive(clap::ValueEnum))]
#[serde(rename_all = "snake_case")]
pub enum PruneMode {
    /// Single weights set to zero; shapes stay.
    #[default]
    Unstructured,
    /// Whole output channels removed (smallest L1 norm); tensors shrink.
    Structured,
}

/// The norm that scores a channel in structured pruning.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[cfg_attr(feature = "cli", derive(clap::ValueEnum))]
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
                structured_label_details(prune, &mut parts);
            }
        }
        let label = if parts.is_empty() {
            "none".to_owned()
        } else {
            parts.join(" + ")
        };
        label_suffix(label, self.accuracy_budget.as_ref())
    }
}

/// `label` of a spec with its budget appended (`int8 (dynamic) within min
/// cosine 0.999`).
pub fn label_suffix(label: String, budget: Option<&AccuracyBudget>) -> String {
    match budget.map(|b| b.limit) {
        None => label,
        Some(None) => format!("{label}, sensitivity only"),
        Some(Some(limit)) => format!("{label} within {limit}"),
    }
}

/// Most units a budget search takes on (each costs one ONNX Runtime check).
pub const MAX_BUDGET_UNITS: usize = 4096;

/// The limit a budget holds the transformed model to.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case", tag = "kind", content = "value")]
pub enum BudgetLimit {
    /// Minimum cosine similarity of every output against the original's,
    /// over all evaluation inputs (e.g. 0.999).
    MinCosine(f64),
    /// Maximum top-1 accuracy drop against labels, as a fraction
    /// (0.005 = 0.5 percentage points).
    MaxTop1Drop(f64),
}

impl BudgetLimit {
    /// Whether an error measurement stays within the limit.
    pub fn allows(&self, min_cosine: f64, top1_drop: Option<f64>) -> bool {
        match *self {
            Self::MinCosine(min) => min_cosine >= min,
            Self::MaxTop1Drop(max) => top1_drop.is_some_and(|drop| drop <= max + 1e-12),
        }
    }
}

impl std::fmt::Display for BudgetLimit {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::MinCosine(min) => write!(f, "min cosine {min}"),
            Self::MaxTop1Drop(max) => write!(f, "max top-1 drop {:.2}%", max * 100.0),
        }
    }
}

impl std::str::FromStr for BudgetLimit {
    type Err = BudgetError;

    /// `0.999` or `cos=0.999` (minimum cosine, 0 < c ≤ 1), `top1=0.5%` or
    /// `top1=0.005` (maximum top-1 drop, 0 ≤ d < 1).
    fn from_str(text: &str) -> Result<Self, Self::Err> {
        let bad = |why: &str| BudgetError::Parse {
            text: text.to_owned(),
            why: why.to_owned(),
        };
        let trimmed = text.trim();
        if let Some(rest) = trimmed.strip_prefix("top1=") {
            let (number, scale) = match rest.strip_suffix('%') {
                Some(number) => (number, 0.01),
                None => (rest, 1.0),
            };
            let value: f64 = number
                .trim()
                .parse()
                .map_err(|_| bad("the top-1 drop is not a number"))?;
            let drop = value * scale;
            if !(0.0..1.0).contains(&drop) {
                return Err(bad("the top-1 drop must be at least 0 and below 100%"));
            }
            return Ok(Self::MaxTop1Drop(drop));
        }
        let number = trimmed.strip_prefix("cos=").unwrap_or(trimmed);
        let value: f64 = number
            .trim()
            .parse()
            .map_err(|_| bad("expected a minimum cosine such as 0.999, or top1=0.5%"))?;
        if !(value > 0.0 && value <= 1.0) {
            return Err(bad("the minimum cosine must be above 0 and at most 1"));
        }
        Ok(Self::MinCosine(value))
    }
}

/// What the accuracy budget search is asked to do.
#[derive(Debug, Clone, Copy, PartialEq, Default, Serialize, Deserialize)]
#[serde(default)]
pub struct AccuracyBudget {
    /// The limit; `None` measures the sensitivity of every unit and converts
    /// nothing (`transform --sensitivity`).
    pub limit: Option<BudgetLimit>,
    /// When not even the least sensitive unit fits the budget: return the
    /// unconverted model instead of an error.
    pub allow_unconverted: bool,
}

/// Why a budget could not be parsed or met.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum BudgetError {
    /// The budget text is not a budget.
    #[error("bad accuracy budget {text:?}: {why}")]
    Parse {
        /// What was given.
        text: String,
        /// What is wrong with it.
        why: String,
    },
    /// The transform touches nothing a budget could choose from.
    #[error("the accuracy budget has nothing to choose from: {0}")]
    NoUnits(String),
    /// A top-1 budget without task accuracy.
    #[error(
        "a top-1 budget needs labels ({} FILE.npy) and a class output; the accuracy report has no top-1 figures",
        crate::field::Field::Labels
    )]
    NeedsLabels,
    /// More units than a search takes on.
    #[error(
        "the accuracy budget would check {0} units one by one, more than the {MAX_BUDGET_UNITS} a search takes on"
    )]
    TooManyUnits(usize),
    /// Not even the least sensitive unit stays within the budget.
    #[error(
        "not even the least sensitive unit ({unit}: {measured}) stays within the budget ({limit}); nothing converted. Loosen the budget, or ask for the unconverted model"
    )]
    Unreachable {
        /// The budget.
        limit: BudgetLimit,
        /// The least sensitive unit.
        unit: String,
        /// Its accuracy, in words.
        measured: String,
    },
    /// The transform did not leave a kept unit alone.
    #[error("{0}")]
    NotHonoured(String),
}

/// Appends the structured settings that differ from the defaults (channel
/// floor, rounding, L2 norm) to the last part of a spec label.
fn structured_label_details(spec: &PruneSpec, parts: &mut [String]) {
    let mut details = Vec::new();
    if spec.min_channels > 1 {
        details.push(format!("at least {} channels", spec.min_channels));
    }
    if spec.round_to > 1 {
        details.push(format!("multiples of {}", spec.round_to));
    }
    if spec.norm == PruneNorm::L2 {
        details.push("L2".to_owned());
    }
    if let (Some(last), false) = (parts.last_mut(), details.is_empty()) {
        last.push_str(&format!(" [{}]", details.join(", ")));
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
