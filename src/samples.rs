//! The sample models, bundled into the binary so the start page works from
//! any folder. They are written to the cache folder on first use, with the
//! labelled evaluation set of the trained digits sample.

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
    (
        "decoder.onnx",
        "Generative decoder with a KV cache (4 layers, vocabulary 8,192): run it with --generate",
        include_bytes!("../sample_models/decoder.onnx"),
    ),
    (
        DIGITS_SAMPLE,
        "Trained CNN on 8x8 digits (97.8% top-1), with a labelled evaluation set",
        include_bytes!("../sample_models/digits_cnn.onnx"),
    ),
];

/// The trained sample model that comes with a labelled evaluation set.
pub const DIGITS_SAMPLE: &str = "digits_cnn.onnx";

/// A bundled file: name and bytes.
type BundledFile = (&'static str, &'static [u8]);

/// Evaluation data of the bundled samples: model file, images file, images,
/// labels file, labels.
const SAMPLE_EVAL_DATA: &[(&str, &str, &[u8], BundledFile)] = &[(
    DIGITS_SAMPLE,
    "digits_eval_images.npy",
    include_bytes!("../sample_models/digits_eval_images.npy"),
    (
        "digits_eval_labels.npy",
        include_bytes!("../sample_models/digits_eval_labels.npy"),
    ),
)];

/// Whether `path` is a bundled sample's evaluation input written to the cache.
pub fn is_bundled_eval_data(path: &Path) -> bool {
    let in_samples_dir = path
        .parent()
        .and_then(Path::file_name)
        .and_then(|name| name.to_str())
        .is_some_and(|name| name.starts_with("sample_models-"));
    in_samples_dir
        && SAMPLE_EVAL_DATA
            .iter()
            .any(|(_, inputs, ..)| path.file_name().is_some_and(|name| name == *inputs))
}

/// A sample's evaluation set, written to the cache: the input `.npy` and the
/// labels `.npy`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SampleEvalData {
    /// Input images, `[N, ...]`, for the model's only input.
    pub inputs: PathBuf,
    /// Integer class ids, `[N]`.
    pub labels: PathBuf,
}

/// Writes the evaluation set of the bundled sample `file_name` to the cache
/// (if not there yet); `Ok(None)` when the sample has none.
pub fn sample_eval_data(file_name: &str) -> Result<Option<SampleEvalData>, SampleError> {
    let Some((_, inputs, input_bytes, (labels, label_bytes))) = SAMPLE_EVAL_DATA
        .iter()
        .find(|(model, ..)| *model == file_name)
    else {
        return Ok(None);
    };
    let dir = sample_dir(&cache_base()?)?;
    Ok(Some(SampleEvalData {
        inputs: write_if_changed(&dir, inputs, input_bytes)?,
        labels: write_if_changed(&dir, labels, label_bytes)?,
    }))
}

/// Writes the bundled sample `file_name` to the cache (if not there yet) and
/// returns its path.
pub fn sample_model_path(file_name: &str) -> Result<PathBuf, SampleError> {
    sample_model_path_in(&cache_base()?, file_name)
}

/// The cache folder (`ONNX_WORKBENCH_CACHE` or the user's cache folder).
fn cache_base() -> Result<PathBuf, SampleError> {
    Ok(
        match std::env::var_os(crate::engine::runtime::ENV_CACHE_DIR) {
            Some(dir) => PathBuf::from(dir),
            None => dirs::cache_dir()
                .ok_or(SampleError::NoCacheDir)?
                .join("onnx-workbench"),
        },
    )
}

/// The versioned samples folder under `base`, created if missing.
fn sample_dir(base: &Path) -> Result<PathBuf, SampleError> {
    let dir = base.join(format!("sample_models-{}", env!("CARGO_PKG_VERSION")));
    std::fs::create_dir_all(&dir).map_err(|source| SampleError::CreateDir {
        source,
        dir: dir.clone(),
    })?;
    Ok(dir)
}

/// Writes `bytes` to `dir/file_name` unless the file already holds them.
fn write_if_changed(dir: &Path, file_name: &str, bytes: &[u8]) -> Result<PathBuf, SampleError> {
    let path = dir.join(file_name);
    let is_current = std::fs::read(&path).is_ok_and(|existing| existing == bytes);
    if !is_current {
        crate::util::write_atomic(&path, bytes)?;
    }
    Ok(path)
}

fn sample_model_path_in(base: &Path, file_name: &str) -> Result<PathBuf, SampleError> {
    let Some((_, _, bytes)) = SAMPLE_MODELS.iter().find(|(name, _, _)| *name == file_name) else {
        return Err(SampleError::Unknown(file_name.to_owned()));
    };
    write_if_changed(&sample_dir(base)?, file_name, bytes)
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

    #[test]
    fn the_digits_sample_has_an_evaluation_set() {
        let (_, images, image_bytes, (labels, label_bytes)) = SAMPLE_EVAL_DATA[0];
        assert_eq!(SAMPLE_EVAL_DATA[0].0, DIGITS_SAMPLE);
        assert!(
            SAMPLE_MODELS
                .iter()
                .any(|(name, ..)| *name == DIGITS_SAMPLE)
        );
        let dir = tempfile::tempdir().expect("tempdir");
        let written = write_if_changed(dir.path(), images, image_bytes).expect("images");
        let (shape, _) = crate::engine::inputs::files::read_npy(
            "image",
            ort::value::TensorElementType::Float32,
            &written,
        )
        .expect("images read");
        assert_eq!(shape[1..], [1, 8, 8]);
        let written = write_if_changed(dir.path(), labels, label_bytes).expect("labels");
        let labels = crate::engine::inputs::files::read_labels(&written).expect("labels read");
        assert_eq!(labels.len(), shape[0]);
        assert!(labels.iter().all(|label| (0..10).contains(label)));
    }
}
