//! The sample models, bundled into the binary so the start page works from
//! any folder. They are written to the cache folder on first use.

use std::path::{Path, PathBuf};

/// Why a bundled sample could not be written to the cache.
#[derive(Debug, thiserror::Error)]
pub enum SampleError {
    #[error("no cache folder could be determined; set ONNX_WORKBENCH_CACHE")]
    NoCacheDir,
    #[error("no bundled sample model named {0}")]
    Unknown(String),
    #[error("cannot create {}: {source}", dir.display())]
    CreateDir {
        #[source]
        source: std::io::Error,
        dir: PathBuf,
    },
    #[error(transparent)]
    Write(#[from] crate::util::WriteError),
}

/// Bundled sample models: file name, description, bytes.
pub const SAMPLE_MODELS: &[(&str, &str, &[u8])] = &[
    (
        "mlp.onnx",
        "MLP, 256-512-256-10, dynamic batch",
        include_bytes!("../sample_models/mlp.onnx"),
    ),
    (
        "cnn.onnx",
        "MNIST-style CNN: Conv, BatchNorm, Relu, MaxPool, Gemm",
        include_bytes!("../sample_models/cnn.onnx"),
    ),
    (
        "transformer.onnx",
        "Transformer encoder block, dynamic batch and sequence",
        include_bytes!("../sample_models/transformer.onnx"),
    ),
    (
        "multi_input.onnx",
        "int64 token ids plus a float mask",
        include_bytes!("../sample_models/multi_input.onnx"),
    ),
];

/// Writes the bundled sample `file_name` to the cache (if not there yet) and
/// returns its path.
pub fn sample_model_path(file_name: &str) -> Result<PathBuf, SampleError> {
    let base = match std::env::var_os(crate::engine::runtime::ENV_CACHE_DIR) {
        Some(dir) => PathBuf::from(dir),
        None => dirs::cache_dir()
            .ok_or(SampleError::NoCacheDir)?
            .join("onnx-workbench"),
    };
    sample_model_path_in(&base, file_name)
}

fn sample_model_path_in(base: &Path, file_name: &str) -> Result<PathBuf, SampleError> {
    let Some((_, _, bytes)) = SAMPLE_MODELS.iter().find(|(name, _, _)| *name == file_name) else {
        return Err(SampleError::Unknown(file_name.to_owned()));
    };
    let dir = base.join(format!("sample_models-{}", env!("CARGO_PKG_VERSION")));
    std::fs::create_dir_all(&dir).map_err(|source| SampleError::CreateDir {
        source,
        dir: dir.clone(),
    })?;
    let path = dir.join(file_name);
    let is_current = std::fs::read(&path).is_ok_and(|existing| existing == *bytes);
    if !is_current {
        crate::util::write_atomic(&path, bytes)?;
    }
    Ok(path)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bundled_samples_are_written_and_load() {
        let dir = tempfile::tempdir().expect("tempdir");
        for (name, _, _) in SAMPLE_MODELS {
            let path = sample_model_path_in(dir.path(), name).expect("written");
            assert!(path.starts_with(dir.path()));
            let model = crate::model::Model::load(&path).expect("a valid model");
            assert!(!model.summary().inputs.is_empty());
            // A second call finds the same bytes and leaves the file alone.
            assert_eq!(sample_model_path_in(dir.path(), name).expect("again"), path);
        }
        assert!(sample_model_path_in(dir.path(), "nope.onnx").is_err());
    }
}
