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

mod apply;
mod budget_report;
mod error;
mod report;
mod skip;
mod spec;

pub use accuracy::{
    AccuracyReport, NextTokenAgreement, OutputAccuracy, OutputComparison, SpeedCheck,
    SyntheticKind, TaskAccuracy,
};
pub use apply::{apply, apply_with_blocked_ops, self_contained};
pub use budget_report::{BudgetReport, BudgetUnit, LayerSensitivity};
pub use error::{OpsetError, TransformError};
pub use fp16::{Fp16Report, KeptNode};
pub use int8::{Int8Report, QuantizedLayer};
pub use opset::OpsetUpgrade;
pub use prune::{PruneGroup, PruneReport, PrunedLayer};
pub use report::TransformReport;
pub use skip::{SkipReason, SkippedLayer};
pub use spec::{
    AccuracyBudget, BudgetError, BudgetLimit, DEFAULT_ACCURACY_SAMPLES, Int8Mode, MAX_BUDGET_UNITS,
    Precision, PruneMode, PruneNorm, PruneScope, PruneSpec, TransformSpec,
};
