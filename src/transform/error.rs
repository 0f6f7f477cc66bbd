//! Why a transform could not be made.

use crate::model::ModelError;

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

/// Why the opset cannot be raised.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum OpsetError {
    /// The model has no main graph.
    #[error("the model has no graph")]
    NoGraph,
    /// The target is below the model's opset.
    #[error("the model has opset {from}; lowering it to {target} is not supported")]
    Downgrade {
        /// The model's opset.
        from: i64,
        /// The requested opset.
        target: i64,
    },
    /// The target is beyond what the converter knows.
    #[error("opset {target} is not supported (the converter goes up to {max})")]
    TargetTooNew {
        /// The requested opset.
        target: i64,
        /// [`MAX_TARGET_OPSET`].
        max: i64,
    },
    /// A node's op changed between the two opsets and cannot be adapted.
    #[error(
        "cannot raise the opset from {from_opset} to {target}: {op} node {node} changes from {op}-{from_version} to {op}-{to_version}: {reason}"
    )]
    Blocked {
        /// Op type.
        op: String,
        /// The node, as `node_id` names it (`outer/attribute/node` inside subgraphs).
        node: String,
        /// The op's schema version at the model's opset.
        from_version: i64,
        /// The schema version that cannot be reached.
        to_version: i64,
        /// The model's opset.
        from_opset: i64,
        /// The requested opset.
        target: i64,
        /// What changed, or why the adapter cannot keep the node's meaning.
        reason: String,
    },
}
