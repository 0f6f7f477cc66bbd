//! Why ONNX Runtime could not be made available: not found, not loadable,
//! or not provisioned.

use std::path::PathBuf;

use super::library::{ENV_CACHE_DIR, ENV_DYLIB_PATH, LIB_FILE_NAME, ORT_VERSION, UnknownFlavour};

/// Why ONNX Runtime could not be made available.
#[derive(Debug, thiserror::Error)]
pub enum RuntimeError {
    #[error(
        "ONNX Runtime could not be loaded.\n{attempts}\nHow to fix: set {ENV_DYLIB_PATH} to a libonnxruntime.so of version {ORT_VERSION}, \
         or make sure `python3 -m pip` can reach PyPI so onnx-workbench can fetch the pinned wheel (run `onnx-workbench setup`)."
    )]
    NotFound { attempts: String },
    #[error(
        "ONNX Runtime library at {} could not be loaded: {ENV_DYLIB_PATH} is set but no file exists there",
        path.display()
    )]
    DylibPathMissing { path: PathBuf },
    #[error("ONNX Runtime library at {} could not be loaded: {source}", path.display())]
    Load {
        path: PathBuf,
        #[source]
        source: ort::LoadDynamicError,
    },
    #[error("creating the ONNX Runtime environment failed: {0}")]
    Environment(#[source] ort::Error),
    /// The first attempt in this process failed; ONNX Runtime cannot be
    /// initialised twice, so the same error is returned again.
    #[error(transparent)]
    Earlier(&'static RuntimeError),
    #[error(
        "no pinned onnxruntime wheel for this platform ({0}); set {ENV_DYLIB_PATH} to a libonnxruntime.so {ORT_VERSION}"
    )]
    UnsupportedPlatform(String),
    #[error(transparent)]
    UnknownFlavour(#[from] UnknownFlavour),
    #[error("provisioning ONNX Runtime failed: {0}")]
    Provision(#[from] ProvisionError),
}

/// Why a provisioning step failed. [`RuntimeError::Provision`] wraps it.
#[derive(Debug, thiserror::Error)]
pub enum ProvisionError {
    #[error("no cache folder could be determined; set {ENV_CACHE_DIR}")]
    NoCacheDir,
    #[error("cannot create {}: {source}", path.display())]
    Create {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("cannot lock {}: {source}", path.display())]
    Lock {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("cannot create a temporary folder: {source}")]
    TempDir {
        #[source]
        source: std::io::Error,
    },
    #[error("cannot list {}: {source}", path.display())]
    List {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("cannot read {}: {source}", path.display())]
    Read {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("cannot write {}: {source}", path.display())]
    Write {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("cannot write in {}: {source}", dir.display())]
    WriteIn {
        dir: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("cannot write {}: {source}", path.display())]
    Persist {
        path: PathBuf,
        #[source]
        source: tempfile::PersistError,
    },
    #[error("could not run `{python} -m pip`: {source}")]
    RunPip {
        python: String,
        #[source]
        source: std::io::Error,
    },
    /// pip exited with an error; `last_line` is the last line it printed.
    #[error("pip download failed: {last_line}")]
    PipFailed { last_line: String },
    #[error("pip did not save a {prefix}*.whl")]
    WheelNotSaved { prefix: String },
    #[error("sha256 mismatch for {}: expected {expected}, got {actual}", path.display())]
    Sha256Mismatch {
        path: PathBuf,
        expected: String,
        actual: String,
    },
    #[error("the wheel is not a valid zip: {source}")]
    InvalidZip {
        #[source]
        source: zip::result::ZipError,
    },
    #[error("cannot read the wheel: {source}")]
    ReadWheel {
        #[source]
        source: zip::result::ZipError,
    },
    #[error("cannot extract {name}: {source}")]
    Extract {
        name: String,
        #[source]
        source: std::io::Error,
    },
    /// The wheel was fetched and checked but held no main library.
    #[error("{LIB_FILE_NAME} was not in {wheel}")]
    LibraryNotInWheel { wheel: &'static str },
}
