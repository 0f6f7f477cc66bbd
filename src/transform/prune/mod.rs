//! Magnitude pruning of Conv, Gemm and MatMul weights: the report types, the
//! entry point that checks the spec and picks the mode, and what both modes
//! share. Unstructured pruning (single weights set to zero) is in
//! `unstructured.rs`; structured pruning (whole channels removed, tensors
//! shrink, on a channel dependency graph) in `structured/`; the text
//! rendering of the report in `render.rs`.

mod render;
mod structured;
mod unstructured;

use std::collections::{BTreeMap, BTreeSet};

use serde::{Deserialize, Serialize};

use super::{PruneMode, PruneScope, PruneSpec, SkippedLayer, TransformError};
use crate::model::onnx::ModelProto;
use crate::model::{Model, estimate_flops};

pub(crate) use render::write_prune_text;
pub use structured::{channels_to_keep, smallest_l1_channels};
pub use unstructured::smallest_magnitudes;

/// One pruned (or skipped) layer.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PrunedLayer {
    /// Node name.
    pub node: String,
    /// Op type.
    pub op_type: String,
    /// The weight tensor.
    pub weight: String,
    /// Requested sparsity, 0..1 (for global scope, the global target).
    pub requested_sparsity: f64,
    /// Fraction of the weight's elements that are zero afterwards, 0..1.
    pub achieved_sparsity: f64,
    /// Elements of the weight before.
    pub params_before: u64,
    /// Elements of the weight after (fewer only with structured pruning).
    pub params_after: u64,
    /// Non-zero elements before and after.
    pub nonzero_params_before: u64,
    /// See `nonzero_params_before`.
    pub nonzero_params_after: u64,
    /// Output channels (filters / units) before, for structured pruning.
    pub channels_before: Option<u64>,
    /// Output channels after, for structured pruning.
    pub channels_after: Option<u64>,
    /// FLOPs of the node before (symbolic dims bound to 1).
    pub flops_before: u64,
    /// FLOPs of the node after: unchanged by unstructured pruning, whose
    /// zeros dense kernels still multiply.
    pub flops_after: u64,
    /// FLOPs if zero weights were skipped: after × (1 − achieved sparsity).
    pub flops_nonzero_after: u64,
    /// The channel group (index into [`PruneReport::groups`]) the layer was
    /// pruned with: its channels go as one unit (structured pruning only).
    #[serde(default)]
    pub group: Option<usize>,
}

/// A set of layers whose channels are removed together (structured
/// pruning): residual Adds, squeeze-excitation Muls, depthwise Convs and
/// Concats couple them.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct PruneGroup {
    /// Index in [`PruneReport::groups`].
    pub id: usize,
    /// The layers whose output channels the group is (node ids).
    pub members: Vec<String>,
    /// Other layers that shrink with it: depthwise Convs and the layers
    /// whose input channels drop (node ids).
    pub coupled: Vec<String>,
    /// Channels of each member before.
    pub channels_before: u64,
    /// Channels of each member after (equal to before when unprunable).
    pub channels_after: u64,
    /// Why the group cannot be pruned, naming the node; `None` when pruned.
    pub unprunable: Option<String>,
}

/// What pruning did.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct PruneReport {
    /// Pruned layers in graph order.
    pub layers: Vec<PrunedLayer>,
    /// Layers not pruned, with the reason.
    pub skipped: Vec<SkippedLayer>,
    /// Unstructured: zero weights over all pruned layers, 0..1.
    /// Structured: the fraction of the model's float weights removed.
    pub overall_sparsity: f64,
    /// Channel groups (structured pruning), pruned or not.
    pub groups: Vec<PruneGroup>,
    /// Float32 weight elements of the whole model before (initializers,
    /// `Constant` and `ConstantOfShape` values); 0 when not counted.
    pub model_params_before: u64,
    /// See `model_params_before`.
    pub model_params_after: u64,
    /// Model FLOPs (dims of 1) before and after; equal for unstructured pruning.
    pub model_flops_before: u64,
    /// See `model_flops_before`.
    pub model_flops_after: u64,
}

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

/// Dense FLOPs per main-graph node index (symbolic dims bound to 1).
pub(crate) fn flops_by_node(proto: &ModelProto) -> BTreeMap<usize, u64> {
    let model = Model::from_proto(proto.clone(), None);
    estimate_flops(&model, &BTreeMap::new())
        .by_node
        .into_iter()
        .map(|node| (node.node_index, node.flops))
        .collect()
}
