//! A model opened in the app, with what the config panel needs to know about
//! its dims (the batch dim, other symbolic dims, unnamed dims).

use std::{
    path::{Path, PathBuf},
    sync::Arc,
};

use super::graph::ModelGraph;

use crate::model::{Dim, Model, ModelError, ModelSummary};

/// A model opened in the app.
#[derive(Debug, Clone)]
pub struct LoadedModel {
    /// The model file.
    pub path: PathBuf,
    /// Inputs, outputs, ops and parameter counts.
    pub summary: ModelSummary,
    /// Size of the model file, in bytes.
    pub size_bytes: u64,
    /// Name of the symbolic first dim, if any.
    pub batch_symbol: Option<String>,
    /// The first dim when it is fixed.
    pub fixed_batch: Option<i64>,
    /// Other symbolic dims, sorted.
    pub other_symbols: Vec<String>,
    /// Some input has a dim with neither a value nor a name.
    pub has_unnamed_dims: bool,
    /// The graph for the graph view (read here, off the UI thread).
    pub graph: Arc<ModelGraph>,
}

impl LoadedModel {
    /// Reads and inspects the model at `path` (slow: run it in a background task).
    pub fn load(path: &Path) -> Result<Self, ModelError> {
        let model = Model::load(path)?;
        let summary = model.summary();
        let size_bytes = std::fs::metadata(path).map(|m| m.len()).unwrap_or(0);
        let mut batch_symbol = None;
        let mut fixed_batch = None;
        let mut other_symbols = Vec::new();
        let mut has_unnamed_dims = false;
        for input in &summary.inputs {
            for (axis, dim) in input.shape.iter().flatten().enumerate() {
                match (axis, dim) {
                    (0, Dim::Symbolic(name)) => batch_symbol = Some(name.clone()),
                    (0, Dim::Fixed(value)) => fixed_batch = Some(*value),
                    (_, Dim::Symbolic(name)) => other_symbols.push(name.clone()),
                    (_, Dim::Unnamed) => has_unnamed_dims = true,
                    _ => {}
                }
            }
        }
        other_symbols.sort();
        other_symbols.dedup();
        if let Some(batch) = &batch_symbol {
            other_symbols.retain(|symbol| symbol != batch);
        }
        let graph = Arc::new(ModelGraph::from_model(&model));
        Ok(Self {
            graph,
            path: path.to_path_buf(),
            summary,
            size_bytes,
            batch_symbol,
            fixed_batch,
            other_symbols,
            has_unnamed_dims,
        })
    }
}
