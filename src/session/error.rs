//! Why a session file could not be written or read.

use std::path::PathBuf;

/// A session file could not be written or read.
#[derive(Debug, thiserror::Error)]
pub enum SessionError {
    #[error(transparent)]
    Write(#[from] crate::util::WriteError),
    #[error("cannot read the session file: {source}: {}", path.display())]
    Read {
        source: std::io::Error,
        path: PathBuf,
    },
    #[error(transparent)]
    TooLarge(#[from] crate::util::MemoryError),
    #[error("not an onnx-workbench session file: {reason}: {}", path.display())]
    NotASession { reason: String, path: PathBuf },
    #[error(
        "session format version {found} is not supported by this build (it reads {supported:?}); \
         a newer onnx-workbench wrote it: {}",
        path.display()
    )]
    UnsupportedVersion {
        found: u32,
        supported: Vec<u32>,
        path: PathBuf,
    },
    #[error("cannot encode the session: {0}")]
    Encode(String),
    #[error("cannot create the folder {}: {source}", path.display())]
    CreateDir {
        source: std::io::Error,
        path: PathBuf,
    },
}
