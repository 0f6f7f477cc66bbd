//! Why a command failed before or apart from its run, and the exit
//! statuses a run or a sweep ends with.

use std::path::PathBuf;

use crate::engine::runtime::RuntimeError;

/// Exit status of a finished run with failed requests.
pub const EXIT_REQUESTS_FAILED: u8 = 3;
/// Exit status of a sweep in which no stable point passed the SLO.
pub const EXIT_NO_PASSING_POINT: u8 = 4;

/// Why a command failed before or apart from its run.
#[derive(Debug, thiserror::Error)]
pub enum CliError {
    #[error("ONNX Runtime could not be set up: {0}")]
    Setup(#[source] RuntimeError),
    #[error("the GPU build of ONNX Runtime could not be set up: {0}")]
    SetupGpu(#[source] RuntimeError),
    #[error("nothing to do: give --precision fp16|int8 and/or --prune SPARSITY")]
    NothingToDo,
    #[error("--compare takes two mixes or two sessions; got a {a} and a {b}")]
    CompareKinds { a: String, b: String },
    #[error(
        "cannot write {}: the folder {} does not exist",
        path.display(),
        dir.display()
    )]
    MissingFolder { path: PathBuf, dir: PathBuf },
    #[error("cannot write {}: it is a folder", path.display())]
    IsAFolder { path: PathBuf },
    /// `gui`, or no command, in a binary built without the `gui` feature.
    #[error(
        "this onnx-workbench was built without the GUI (the `gui` cargo feature is off); \
         build it with the default features (`cargo build --release`, without \
         `--no-default-features`) to get the desktop workbench, or use the headless \
         commands (see --help)"
    )]
    NoGui,
}
