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
//! This file loads the library and owns the environment; `locate` finds the
//! library on disk, `provision` fetches and extracts wheels, and `wheels` is
//! the table of pinned wheels.

mod locate;
mod provision;
mod wheels;

use std::{
    fs,
    path::{Path, PathBuf},
    sync::{Arc, OnceLock},
};

use ort::logging::LogLevel;

pub use locate::{PackageError, locate_or_provision};
pub use provision::{GpuProvisionReport, ProvisionError, provision, provision_gpu, sha256_hex};

/// The ONNX Runtime version this build targets (the `api-31` feature of `ort`).
pub const ORT_VERSION: &str = "1.31.1";

/// Environment variable that overrides the library path.
pub const ENV_DYLIB_PATH: &str = "ORT_DYLIB_PATH";
/// Environment variable that overrides the cache folder.
pub const ENV_CACHE_DIR: &str = "ONNX_WORKBENCH_CACHE";
/// Environment variable that names the Python interpreter used for pip.
pub const ENV_PYTHON: &str = "ONNX_WORKBENCH_PYTHON";
/// Environment variable that forces a flavour (`cpu` or `gpu`).
pub const ENV_FLAVOUR: &str = "ONNX_WORKBENCH_FLAVOUR";

/// The two builds of ONNX Runtime on PyPI.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Flavour {
    /// `onnxruntime`: the CPU execution provider only.
    Cpu,
    /// `onnxruntime-gpu`: CPU and CUDA execution providers.
    Gpu,
}

impl Flavour {
    /// The PyPI distribution name.
    pub fn distribution(self) -> &'static str {
        match self {
            Self::Cpu => "onnxruntime",
            Self::Gpu => "onnxruntime-gpu",
        }
    }

    /// The flavour asked for through [`ENV_FLAVOUR`], if any.
    pub fn from_env() -> Result<Option<Self>, RuntimeError> {
        match std::env::var(ENV_FLAVOUR) {
            Err(_) => Ok(None),
            Ok(value) => match value.trim().to_ascii_lowercase().as_str() {
                "" | "auto" => Ok(None),
                "cpu" => Ok(Some(Self::Cpu)),
                "gpu" | "cuda" => Ok(Some(Self::Gpu)),
                other => Err(RuntimeError::UnknownFlavour {
                    value: other.to_owned(),
                }),
            },
        }
    }
}

impl std::fmt::Display for Flavour {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Self::Cpu => "CPU build",
            Self::Gpu => "GPU build (CUDA 13, cuDNN 9)",
        })
    }
}

/// File name of the CUDA provider library, next to the main library in the
/// GPU build.
pub const CUDA_PROVIDER_FILE_NAME: &str = "libonnxruntime_providers_cuda.so";

/// Whether the library at `path` is the GPU build (has the CUDA provider
/// library beside it).
pub fn flavour_of(library_path: &Path) -> Flavour {
    let resolved = fs::canonicalize(library_path).unwrap_or_else(|_| library_path.to_path_buf());
    let has_provider = [library_path, resolved.as_path()].iter().any(|path| {
        path.parent()
            .is_some_and(|dir| dir.join(CUDA_PROVIDER_FILE_NAME).is_file())
    });
    if has_provider {
        Flavour::Gpu
    } else {
        Flavour::Cpu
    }
}

/// File name of the main library inside the wheel and in the cache.
const LIB_FILE_NAME: &str = "libonnxruntime.so.1.31.1";

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
    #[error("provisioning ONNX Runtime failed: {ENV_FLAVOUR}={value} is not one of cpu, gpu, auto")]
    UnknownFlavour { value: String },
    #[error("provisioning ONNX Runtime failed: {0}")]
    Provision(#[from] ProvisionError),
}

/// Where the library came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum LibrarySource {
    /// The path in [`ENV_DYLIB_PATH`].
    EnvOverride,
    /// The project's cache, provisioned earlier.
    Cache,
    /// An installed `onnxruntime` Python package.
    PythonPackage,
    /// The pinned wheel, fetched just now.
    Provisioned,
}

impl std::fmt::Display for LibrarySource {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Self::EnvOverride => "ORT_DYLIB_PATH",
            Self::Cache => "onnx-workbench cache",
            Self::PythonPackage => "installed onnxruntime Python package",
            Self::Provisioned => "pinned PyPI wheel, just provisioned",
        })
    }
}

/// The process-wide ONNX Runtime: the loaded library and its one environment.
pub struct Runtime {
    /// The one environment of this process.
    pub env: ort::environment::Environment,
    /// Absolute path of the loaded library.
    pub library_path: PathBuf,
    /// Where the library came from.
    pub source: LibrarySource,
    /// The version the library reports (from its build info), or the pinned one.
    pub version: String,
    /// CPU or GPU build.
    pub flavour: Flavour,
}

impl std::fmt::Debug for Runtime {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Runtime")
            .field("library_path", &self.library_path)
            .field("source", &self.source)
            .field("version", &self.version)
            .field("flavour", &self.flavour)
            .finish_non_exhaustive()
    }
}

static RUNTIME: OnceLock<Result<Runtime, RuntimeError>> = OnceLock::new();

/// Returns the process-wide runtime, loading ONNX Runtime on first use.
///
/// The result (success or failure) is computed once per process: ONNX Runtime
/// cannot be initialised twice.
pub fn runtime() -> Result<&'static Runtime, RuntimeError> {
    RUNTIME
        .get_or_init(init_runtime)
        .as_ref()
        .map_err(RuntimeError::Earlier)
}

/// How much ONNX Runtime should tell us: as much as the `onnxruntime`
/// tracing target will show, so nothing is formatted only to be dropped.
fn ort_log_level() -> LogLevel {
    if tracing::enabled!(target: ORT_LOG_TARGET, tracing::Level::TRACE) {
        LogLevel::Verbose
    } else if tracing::enabled!(target: ORT_LOG_TARGET, tracing::Level::DEBUG) {
        LogLevel::Warning
    } else if tracing::enabled!(target: ORT_LOG_TARGET, tracing::Level::INFO) {
        LogLevel::Error
    } else {
        LogLevel::Fatal
    }
}

/// The `tracing` target of ONNX Runtime's own log lines.
pub const ORT_LOG_TARGET: &str = "onnxruntime";

/// ONNX Runtime's logger, routed into `tracing` one level lower than ORT
/// rates it: an ORT error comes with a failed call whose message our own
/// error text already carries, so by default it is not printed twice; `-v`
/// shows ORT's errors and warnings, `-vv` everything.
fn ort_log(level: LogLevel, category: &str, _id: &str, code_location: &str, message: &str) {
    match level {
        LogLevel::Fatal => {
            tracing::warn!(target: ORT_LOG_TARGET, category, code_location, "{message}");
        }
        LogLevel::Error => {
            tracing::info!(target: ORT_LOG_TARGET, category, code_location, "{message}");
        }
        LogLevel::Warning => {
            tracing::debug!(target: ORT_LOG_TARGET, category, code_location, "{message}");
        }
        LogLevel::Info | LogLevel::Verbose => {
            tracing::trace!(target: ORT_LOG_TARGET, category, code_location, "{message}");
        }
    }
}

fn init_runtime() -> Result<Runtime, RuntimeError> {
    let (library_path, source) = locate_or_provision()?;
    let builder = ort::init_from(&library_path).map_err(|source| RuntimeError::Load {
        path: library_path.clone(),
        source,
    })?;
    let env = builder
        .with_name("onnx-workbench")
        .with_telemetry(false)
        .with_logger(Arc::new(ort_log))
        .build()
        .map_err(RuntimeError::Environment)?;
    env.set_log_level(ort_log_level());
    let version = version_from_build_info(ort::info())
        .or_else(|| version_from_file_name(&library_path))
        .unwrap_or_else(|| {
            format!(
                "1.{}.x or newer (exact version unknown)",
                ort::MINOR_VERSION
            )
        });
    tracing::debug!(path = %library_path.display(), %source, %version, "ONNX Runtime loaded");
    let flavour = flavour_of(&library_path);
    Ok(Runtime {
        env,
        library_path,
        source,
        version,
        flavour,
    })
}

/// Extracts `1.31.1` from ONNX Runtime's build info string, which carries the
/// release branch (`git-branch=rel-1.31.1`).
fn version_from_build_info(info: &str) -> Option<String> {
    let start = info.find("rel-")? + "rel-".len();
    let rest = info.get(start..)?;
    let version: String = rest
        .chars()
        .take_while(|c| c.is_ascii_digit() || *c == '.')
        .collect();
    (!version.is_empty()).then_some(version)
}

/// Extracts `1.31.1` from `libonnxruntime.so.1.31.1` (following symlinks).
fn version_from_file_name(path: &Path) -> Option<String> {
    let resolved = std::fs::canonicalize(path).unwrap_or_else(|_| path.to_path_buf());
    let name = resolved.file_name()?.to_str()?;
    let version = name.split_once(".so.")?.1;
    let is_version = version.split('.').count() == 3
        && version.split('.').all(|part| part.parse::<u32>().is_ok());
    is_version.then(|| version.to_owned())
}

/// The cache folder of the CPU flavour (kept for callers that only know one).
pub fn cache_dir() -> Option<PathBuf> {
    cache_dir_for(Flavour::Cpu)
}

/// The folder that holds the extracted library of a flavour.
pub fn cache_dir_for(flavour: Flavour) -> Option<PathBuf> {
    let base = match std::env::var_os(ENV_CACHE_DIR) {
        Some(dir) => PathBuf::from(dir),
        None => dirs::cache_dir()?.join("onnx-workbench"),
    };
    let suffix = match flavour {
        Flavour::Cpu => "cpu",
        Flavour::Gpu => "gpu",
    };
    Some(base.join(format!("onnxruntime-{ORT_VERSION}-{suffix}")))
}

/// The Python interpreter used for pip ([`ENV_PYTHON`], else `python3`).
fn python() -> String {
    std::env::var(ENV_PYTHON).unwrap_or_else(|_| "python3".to_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn version_is_read_from_build_info() {
        let info = "ORT Build Info: git-branch=rel-1.31.1, git-commit-id=abc, build type=Release";
        assert_eq!(version_from_build_info(info).as_deref(), Some("1.31.1"));
        assert_eq!(version_from_build_info("no branch here"), None);
    }

    #[test]
    fn version_is_read_from_the_file_name() {
        assert_eq!(
            version_from_file_name(Path::new("/nonexistent/libonnxruntime.so.1.31.1")).as_deref(),
            Some("1.31.1")
        );
        assert_eq!(
            version_from_file_name(Path::new("/nonexistent/libonnxruntime.so")),
            None
        );
    }

    #[test]
    fn the_flavour_follows_the_provider_library() {
        let dir = tempfile::tempdir().expect("tempdir");
        let library = dir.path().join(LIB_FILE_NAME);
        fs::write(&library, b"").expect("write");
        assert_eq!(flavour_of(&library), Flavour::Cpu);
        fs::write(dir.path().join(CUDA_PROVIDER_FILE_NAME), b"").expect("write");
        assert_eq!(flavour_of(&library), Flavour::Gpu);
    }
}
