//! The pruning report, and the FLOP count per node both modes fill it with.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::model::onnx::ModelProto;
use crate::model::{Model, estimate_flops};
use crate::transform::SkippedLayer;

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

/// Dense FLOPs per main-graph node index (symbolic dims bound to 1).
pub(crate) fn flops_by_node(proto: &ModelProto) -> BTreeMap<usize, u64> {
    let model = Model::from_proto(proto.clone(), None);
    estimate_flops(&model, &BTreeMap::new())
        .by_node
        .into_iter()
        .map(|node| (node.node_index, node.flops))
        .collect()
}
