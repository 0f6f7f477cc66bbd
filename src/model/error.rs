//! The error type of the `model` module.
//!
//! Messages name what went wrong first and the file last, for example
//! `cannot read model: No such file or directory (os error 2): foo.onnx`.
//! I/O errors are part of the message rather than a `source()`, so that
//! printing with `{err:#}` (which appends sources) does not repeat them.

use std::path::{Path, PathBuf};

/// Everything that can go wrong while reading, validating or inspecting a model.
#[derive(Debug, thiserror::Error)]
pub enum ModelError {
    /// The model file could not be opened or read.
    #[error("cannot read model: {error}: {}", .path.display())]
    Read {
        /// The underlying I/O error.
        error: std::io::Error,
        /// The model file.
        path: PathBuf,
    },

    /// A size read from the model (the file, an external data length) does
    /// not fit in the memory the machine has; nothing was allocated.
    #[error("cannot read model: {0}")]
    TooLarge(#[from] crate::util::MemoryError),

    /// The model path exists but is a directory or another non-file.
    #[error(
        "cannot read model: not a regular file{}: {}",
        if .path.is_dir() { " (it is a directory; give the .onnx file inside it)" } else { "" },
        .path.display()
    )]
    NotAFile {
        /// The path that was given as a model.
        path: PathBuf,
    },

    /// The file or byte buffer is empty.
    #[error("cannot read model: empty file{}", path_suffix(.path.as_deref()))]
    Empty {
        /// The model file, if the bytes came from one.
        path: Option<PathBuf>,
    },

    /// The bytes are not a protobuf message that decodes as `ModelProto`.
    #[error("not a valid ONNX protobuf: {error}{}", path_suffix(.path.as_deref()))]
    Decode {
        /// The decoder's message.
        error: prost::DecodeError,
        /// The model file, if the bytes came from one.
        path: Option<PathBuf>,
    },

    /// The bytes decode as protobuf but lack what every ONNX model has.
    #[error("not an ONNX model: {reason}{}", path_suffix(.path.as_deref()))]
    NotAModel {
        /// What is missing, e.g. `no graph, no ir_version`.
        reason: String,
        /// The model file, if the bytes came from one.
        path: Option<PathBuf>,
    },

    /// An external data `location` is absolute, contains `..`, or resolves
    /// (through symlinks) to a file outside the model's folder. Never read.
    #[error(
        "external data location {location:?} rejected: {reason}; it must stay inside the model folder: {}",
        .base_dir.display()
    )]
    ExternalDataEscapes {
        /// The `location` value from the tensor's `external_data`.
        location: String,
        /// Why it was rejected.
        reason: &'static str,
        /// The model's folder.
        base_dir: PathBuf,
    },

    /// The external data file is missing, unreadable or not a regular file.
    #[error("cannot read external data: {error}: {}", .path.display())]
    ExternalDataRead {
        /// The underlying I/O error.
        error: std::io::Error,
        /// The external data file.
        path: PathBuf,
    },

    /// A tensor's `external_data` entries are malformed or inconsistent with
    /// the file (bad offset, length past the end of the file, ...).
    #[error("invalid external data for tensor {tensor:?}: {reason}")]
    ExternalDataInvalid {
        /// The tensor's name.
        tensor: String,
        /// What is wrong.
        reason: String,
    },

    /// A tensor uses external data but the model was not loaded from a file,
    /// so there is no folder to resolve it against.
    #[error("tensor {tensor:?} uses external data but the model has no base folder")]
    NoBaseDir {
        /// The tensor's name.
        tensor: String,
    },

    /// A tensor's inline data cannot be turned into raw bytes.
    #[error("cannot read data of tensor {tensor:?}: {reason}")]
    TensorData {
        /// The tensor's name.
        tensor: String,
        /// What is wrong.
        reason: String,
    },
}

/// Formats `: <path>` for messages whose path is optional.
fn path_suffix(path: Option<&Path>) -> String {
    match path {
        Some(path) => format!(": {}", path.display()),
        None => String::new(),
    }
}

impl ModelError {
    /// Attaches the model file to errors that came from decoding bytes.
    pub(crate) fn with_path(self, model_path: &Path) -> Self {
        match self {
            Self::Empty { path: None } => Self::Empty {
                path: Some(model_path.to_path_buf()),
            },
            Self::Decode { error, path: None } => Self::Decode {
                error,
                path: Some(model_path.to_path_buf()),
            },
            Self::NotAModel { reason, path: None } => Self::NotAModel {
                reason,
                path: Some(model_path.to_path_buf()),
            },
            other => other,
        }
    }
}
