//! Finding, provisioning and loading the ONNX Runtime shared library.
//!
//! `ort` is built with `load-dynamic`, so the library is opened at run time.
//! The official build comes from the PyPI wheel `onnxruntime==1.31.1`; nothing
//! is downloaded from anywhere else. Resolution order:
//!
//! 1. `ORT_DYLIB_PATH`, if set, overrides everything (and is an error if it
//!    does not load).
//! 2. The project's cache (`$ONNX_WORKBENCH_CACHE`, else the user cache dir),
//!    where an earlier provisioning extracted the library.
//! 3. An `onnxruntime` Python package of exactly the pinned version that is
//!    already installed.
//! 4. Provisioning: `python3 -m pip download` of the pinned wheel with its
//!    sha256 pinned, verified again here, and `libonnxruntime.so*` extracted
//!    into the cache.
//!
//! There are two flavours. The CPU one (`onnxruntime`, 24 MB) is the default.
//! The GPU one (`onnxruntime-gpu`, 256 MB, built for CUDA 13 and cuDNN 9) is
//! provisioned by `onnx-workbench setup --gpu`, together with whichever
//! `nvidia-*` CUDA library wheels are not already installed (see
//! [`super::cuda_libs`]). Once the GPU flavour is in the cache it is preferred,
//! since it runs the CPU provider too; `ONNX_WORKBENCH_FLAVOUR=cpu|gpu` forces
//! one.
//!
//! ONNX Runtime allows one environment per process, so [`runtime`] creates it
//! once and hands out the same one afterwards.
//!
//! `loaded.rs` loads the library and owns the environment; `library.rs`
//! holds what is known of the library (version, flavours, cache folders),
//! `locate` finds it on disk, `provision` fetches and extracts wheels,
//! `wheels` is the table of pinned wheels, and `error.rs` says why the
//! library is not available.

mod error;
mod library;
mod loaded;
mod locate;
mod provision;
mod wheels;

pub use error::{ProvisionError, RuntimeError};
pub use library::{
    CUDA_PROVIDER_FILE_NAME, ENV_CACHE_DIR, ENV_DYLIB_PATH, ENV_FLAVOUR, ENV_PYTHON, Flavour,
    LibrarySource, ORT_VERSION, UnknownFlavour, cache_dir, cache_dir_for, flavour_of,
};
pub use loaded::{ORT_LOG_TARGET, Runtime, runtime};
pub use locate::{PackageError, locate_or_provision};
pub use provision::{GpuProvisionReport, provision, provision_gpu, sha256_hex};
