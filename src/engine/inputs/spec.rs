//! How each input of a run is fed, as the session records it.

use std::path::PathBuf;

use serde::{Deserialize, Serialize};

/// How one model input is fed.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct InputSpec {
    pub name: String,
    /// ONNX Runtime's name for the dtype, e.g. `f32`, `i64`.
    pub dtype: String,
    /// The concrete shape used.
    pub shape: Vec<i64>,
    /// The shape as the model declares it (`-1` for symbolic).
    pub declared_shape: Vec<i64>,
    /// Symbol names as the model declares them (empty for fixed or unnamed).
    pub dim_symbols: Vec<String>,
    /// `synthetic` or the files fed, in the order they are cycled.
    pub source: InputSource,
}

/// Where an input's values come from.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case", tag = "kind")]
pub enum InputSource {
    Synthetic,
    Files { paths: Vec<PathBuf> },
}
