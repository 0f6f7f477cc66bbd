//! Magnitude pruning of Conv, Gemm and MatMul weights: the entry point that
//! checks the spec and picks the mode. The report types and what both
//! modes share are in `report.rs`. Unstructured pruning (single weights set to zero) is in
//! `unstructured.rs`; structured pruning (whole channels removed, tensors
//! shrink, on a channel dependency graph) in `structured/`; the text
//! rendering of the report in `render.rs`.

mod render;
mod report;
mod structured;
mod unstructured;

use std::collections::BTreeSet;

use super::{PruneMode, PruneScope, PruneSpec, TransformError};
use crate::model::onnx::ModelProto;

pub(crate) use render::write_prune_text;
pub use report::{PruneGroup, PruneReport, PrunedLayer};
pub use structured::{channels_to_keep, smallest_l1_channels};
pub use unstructured::smallest_magnitudes;

/// Prunes the main graph's Conv/Gemm/MatMul weights in place.
/// Nodes named in `keep_nodes` ([`crate::model::node::node_id`]) stay as
/// they are.
pub(crate) fn prune(
    proto: &mut ModelProto,
    spec: &PruneSpec,
    keep_nodes: &BTreeSet<String>,
) -> Result<PruneReport, TransformError> {
    if !(0.0..1.0).contains(&spec.sparsity) {
        return Err(TransformError::BadSparsity(spec.sparsity));
    }
    if spec.mode == PruneMode::Structured {
        if spec.scope == PruneScope::Global {
            return Err(TransformError::Unsupported(
                "global scope with structured pruning (channel norms of different layers are not comparable); use per-layer".to_owned(),
            ));
        }
        return structured::prune_structured(proto, spec, keep_nodes);
    }
    unstructured::prune_unstructured(proto, spec)
}
