//! Layers a transform leaves alone, and why: not errors, the transform
//! goes on.

use serde::{Deserialize, Serialize};

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
