//! The loaded library and the process's one ONNX Runtime environment, with
//! ONNX Runtime's log lines routed into `tracing`.

use std::{
    path::{Path, PathBuf},
    sync::{Arc, OnceLock},
};

use ort::logging::LogLevel;

use super::{
    error::RuntimeError,
    library::{Flavour, LibrarySource, flavour_of},
    locate::locate_or_provision,
};

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
}
