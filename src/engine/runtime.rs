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
//! ONNX Runtime allows one environment per process, so [`runtime`] creates it
//! once and hands out the same one afterwards.

use std::{
    fmt::Write as _,
    fs,
    io::Read as _,
    path::{Path, PathBuf},
    process::Command,
    sync::OnceLock,
};

use sha2::{Digest as _, Sha256};

/// The ONNX Runtime version this build targets (the `api-31` feature of `ort`).
pub const ORT_VERSION: &str = "1.31.1";

/// Environment variable that overrides the library path.
pub const ENV_DYLIB_PATH: &str = "ORT_DYLIB_PATH";
/// Environment variable that overrides the cache folder.
pub const ENV_CACHE_DIR: &str = "ONNX_WORKBENCH_CACHE";
/// Environment variable that names the Python interpreter used for pip.
pub const ENV_PYTHON: &str = "ONNX_WORKBENCH_PYTHON";

/// A wheel we know the hash of.
struct PinnedWheel {
    arch: &'static str,
    platform_tag: &'static str,
    file_name: &'static str,
    sha256: &'static str,
}

/// The CPU wheels of `onnxruntime==1.31.1`. We always ask pip for the cp311
/// build, whatever the local Python is, so the hash is fixed; the shared library
/// inside does not depend on the Python version.
const CPU_WHEELS: &[PinnedWheel] = &[
    PinnedWheel {
        arch: "x86_64",
        platform_tag: "manylinux_2_28_x86_64",
        file_name: "onnxruntime-1.31.1-cp311-cp311-manylinux_2_28_x86_64.whl",
        sha256: "5752bd508126ae7c49894d3b9d2e83f0c3d487319246d04c444b393308d7ad7f",
    },
    PinnedWheel {
        arch: "aarch64",
        platform_tag: "manylinux_2_28_aarch64",
        file_name: "onnxruntime-1.31.1-cp311-cp311-manylinux_2_28_aarch64.whl",
        sha256: "da05378364c44d4407e463982d2bf8d5e4cfea873283757e48beeb41df97b7f3",
    },
];

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
    #[error("ONNX Runtime library at {path} could not be loaded: {reason}")]
    Load { path: PathBuf, reason: String },
    #[error("creating the ONNX Runtime environment failed: {0}")]
    Environment(String),
    /// The first attempt in this process failed; ONNX Runtime cannot be
    /// initialised twice, so the same error is returned again.
    #[error("{0}")]
    Earlier(String),
    #[error(
        "no pinned onnxruntime wheel for this platform ({0}); set {ENV_DYLIB_PATH} to a libonnxruntime.so {ORT_VERSION}"
    )]
    UnsupportedPlatform(String),
    #[error("provisioning ONNX Runtime failed: {0}")]
    Provision(String),
}

/// Where the library came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum LibrarySource {
    EnvOverride,
    Cache,
    PythonPackage,
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
}

impl std::fmt::Debug for Runtime {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Runtime")
            .field("library_path", &self.library_path)
            .field("source", &self.source)
            .field("version", &self.version)
            .finish_non_exhaustive()
    }
}

static RUNTIME: OnceLock<Result<Runtime, String>> = OnceLock::new();

/// Returns the process-wide runtime, loading ONNX Runtime on first use.
///
/// The result (success or failure) is computed once per process: ONNX Runtime
/// cannot be initialised twice.
pub fn runtime() -> Result<&'static Runtime, RuntimeError> {
    RUNTIME
        .get_or_init(|| init_runtime().map_err(|err| format!("{err:#}")))
        .as_ref()
        .map_err(|message| RuntimeError::Earlier(message.clone()))
}

fn init_runtime() -> Result<Runtime, RuntimeError> {
    let (library_path, source) = locate_or_provision()?;
    let builder = ort::init_from(&library_path).map_err(|err| RuntimeError::Load {
        path: library_path.clone(),
        reason: err.to_string(),
    })?;
    let env = builder
        .with_name("onnx-workbench")
        .with_telemetry(false)
        .build()
        .map_err(|err| RuntimeError::Environment(err.to_string()))?;
    let version = version_from_build_info(ort::info())
        .or_else(|| version_from_file_name(&library_path))
        .unwrap_or_else(|| {
            format!(
                "1.{}.x or newer (exact version unknown)",
                ort::MINOR_VERSION
            )
        });
    tracing::debug!(path = %library_path.display(), %source, %version, "ONNX Runtime loaded");
    Ok(Runtime {
        env,
        library_path,
        source,
        version,
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

/// Finds the library without loading it, provisioning it if needed.
pub fn locate_or_provision() -> Result<(PathBuf, LibrarySource), RuntimeError> {
    let mut attempts = String::new();
    if let Some(path) = std::env::var_os(ENV_DYLIB_PATH) {
        let path = PathBuf::from(path);
        if path.is_file() {
            return Ok((path, LibrarySource::EnvOverride));
        }
        return Err(RuntimeError::Load {
            path,
            reason: format!("{ENV_DYLIB_PATH} is set but no file exists there"),
        });
    }
    let _ = writeln!(attempts, "- {ENV_DYLIB_PATH}: not set");

    match cache_dir() {
        Some(dir) => {
            let path = dir.join(LIB_FILE_NAME);
            if path.is_file() {
                return Ok((path, LibrarySource::Cache));
            }
            let _ = writeln!(attempts, "- cache: no {LIB_FILE_NAME} in {}", dir.display());
        }
        None => {
            let _ = writeln!(
                attempts,
                "- cache: no cache folder could be determined (set {ENV_CACHE_DIR})"
            );
        }
    }

    match python_package_library() {
        Ok(path) => return Ok((path, LibrarySource::PythonPackage)),
        Err(reason) => {
            let _ = writeln!(attempts, "- installed onnxruntime Python package: {reason}");
        }
    }

    match provision() {
        Ok(path) => Ok((path, LibrarySource::Provisioned)),
        Err(err) => {
            let _ = writeln!(
                attempts,
                "- pip download of onnxruntime=={ORT_VERSION}: {err}"
            );
            Err(RuntimeError::NotFound { attempts })
        }
    }
}

/// The folder that holds the extracted library.
pub fn cache_dir() -> Option<PathBuf> {
    let base = match std::env::var_os(ENV_CACHE_DIR) {
        Some(dir) => PathBuf::from(dir),
        None => dirs::cache_dir()?.join("onnx-workbench"),
    };
    Some(base.join(format!("onnxruntime-{ORT_VERSION}-cpu")))
}

fn python() -> String {
    std::env::var(ENV_PYTHON).unwrap_or_else(|_| "python3".to_owned())
}

/// Looks for an installed `onnxruntime` package of exactly [`ORT_VERSION`].
fn python_package_library() -> Result<PathBuf, String> {
    let output = Command::new(python())
        .args([
            "-c",
            "import importlib.util as u, importlib.metadata as m, os\n\
             s = u.find_spec('onnxruntime')\n\
             print(m.version('onnxruntime') if s else '')\n\
             print(os.path.dirname(s.origin) if s else '')",
        ])
        .output()
        .map_err(|err| format!("could not run {}: {err}", python()))?;
    if !output.status.success() {
        return Err("not installed".to_owned());
    }
    let stdout = String::from_utf8_lossy(&output.stdout);
    let mut lines = stdout.lines();
    let version = lines.next().unwrap_or_default().trim();
    let package_dir = lines.next().unwrap_or_default().trim();
    if version.is_empty() || package_dir.is_empty() {
        return Err("not installed".to_owned());
    }
    if version != ORT_VERSION {
        return Err(format!("version {version} installed, {ORT_VERSION} needed"));
    }
    let path = Path::new(package_dir).join("capi").join(LIB_FILE_NAME);
    if path.is_file() {
        Ok(path)
    } else {
        Err(format!("no {LIB_FILE_NAME} in {}", path.display()))
    }
}

fn pinned_wheel() -> Result<&'static PinnedWheel, RuntimeError> {
    let arch = std::env::consts::ARCH;
    if std::env::consts::OS != "linux" {
        return Err(RuntimeError::UnsupportedPlatform(format!(
            "{}-{arch}",
            std::env::consts::OS
        )));
    }
    CPU_WHEELS
        .iter()
        .find(|wheel| wheel.arch == arch)
        .ok_or_else(|| RuntimeError::UnsupportedPlatform(format!("linux-{arch}")))
}

/// Downloads the pinned wheel with pip, verifies its sha256 and extracts the
/// library into [`cache_dir`]. Returns the library path. Safe to call from
/// several processes at once: a file lock serialises them.
pub fn provision() -> Result<PathBuf, RuntimeError> {
    let wheel = pinned_wheel()?;
    let dir = cache_dir().ok_or_else(|| {
        RuntimeError::Provision(format!(
            "no cache folder could be determined; set {ENV_CACHE_DIR}"
        ))
    })?;
    fs::create_dir_all(&dir).map_err(|err| {
        RuntimeError::Provision(format!("cannot create {}: {err}", dir.display()))
    })?;
    let lock_path = dir.join(".lock");
    let lock = fs::File::create(&lock_path).map_err(|err| {
        RuntimeError::Provision(format!("cannot create {}: {err}", lock_path.display()))
    })?;
    lock.lock().map_err(|err| {
        RuntimeError::Provision(format!("cannot lock {}: {err}", lock_path.display()))
    })?;

    let target = dir.join(LIB_FILE_NAME);
    if target.is_file() {
        return Ok(target);
    }
    eprintln!(
        "onnx-workbench: fetching ONNX Runtime {ORT_VERSION} (PyPI wheel {}) into {}",
        wheel.file_name,
        dir.display()
    );
    let download_dir = tempfile::tempdir_in(&dir).map_err(|err| {
        RuntimeError::Provision(format!("cannot create a temporary folder: {err}"))
    })?;
    let requirements = download_dir.path().join("requirements.txt");
    fs::write(
        &requirements,
        format!(
            "onnxruntime=={ORT_VERSION} --hash=sha256:{}\n",
            wheel.sha256
        ),
    )
    .map_err(|err| {
        RuntimeError::Provision(format!("cannot write {}: {err}", requirements.display()))
    })?;
    let output = Command::new(python())
        .args(["-m", "pip", "download", "--no-deps", "--only-binary=:all:"])
        .args([
            "--python-version",
            "3.11",
            "--implementation",
            "cp",
            "--platform",
            wheel.platform_tag,
        ])
        .arg("--disable-pip-version-check")
        .arg("-d")
        .arg(download_dir.path())
        .arg("-r")
        .arg(&requirements)
        .output()
        .map_err(|err| {
            RuntimeError::Provision(format!("could not run `{} -m pip`: {err}", python()))
        })?;
    if !output.status.success() {
        let stderr = String::from_utf8_lossy(&output.stderr);
        let last = stderr
            .lines()
            .rev()
            .find(|line| !line.trim().is_empty())
            .unwrap_or("");
        return Err(RuntimeError::Provision(format!(
            "pip download failed: {last}"
        )));
    }
    let wheel_path = download_dir.path().join(wheel.file_name);
    let wheel_bytes = fs::read(&wheel_path).map_err(|err| {
        RuntimeError::Provision(format!("cannot read {}: {err}", wheel_path.display()))
    })?;
    let digest = sha256_hex(&wheel_bytes);
    if digest != wheel.sha256 {
        return Err(RuntimeError::Provision(format!(
            "sha256 mismatch for {}: expected {}, got {digest}",
            wheel.file_name, wheel.sha256
        )));
    }
    extract_libraries(&wheel_bytes, &dir)?;
    if target.is_file() {
        Ok(target)
    } else {
        Err(RuntimeError::Provision(format!(
            "{LIB_FILE_NAME} was not in {}",
            wheel.file_name
        )))
    }
}

/// Lowercase hex sha256 of `bytes`.
pub fn sha256_hex(bytes: &[u8]) -> String {
    let digest = Sha256::digest(bytes);
    digest
        .iter()
        .fold(String::with_capacity(64), |mut out, byte| {
            let _ = write!(out, "{byte:02x}");
            out
        })
}

/// Extracts every `onnxruntime/capi/libonnxruntime*.so*` of the wheel into
/// `dir`, each through a temporary file and a rename.
fn extract_libraries(wheel_bytes: &[u8], dir: &Path) -> Result<(), RuntimeError> {
    let mut archive = zip::ZipArchive::new(std::io::Cursor::new(wheel_bytes))
        .map_err(|err| RuntimeError::Provision(format!("the wheel is not a valid zip: {err}")))?;
    for index in 0..archive.len() {
        let mut entry = archive
            .by_index(index)
            .map_err(|err| RuntimeError::Provision(format!("cannot read the wheel: {err}")))?;
        let Ok(name) = entry.name().map(std::borrow::Cow::into_owned) else {
            continue;
        };
        let Some(file_name) = name.strip_prefix("onnxruntime/capi/") else {
            continue;
        };
        if !file_name.starts_with("libonnxruntime")
            || !file_name.contains(".so")
            || file_name.contains('/')
        {
            continue;
        }
        let mut contents = Vec::with_capacity(usize::try_from(entry.size()).unwrap_or(0));
        entry
            .read_to_end(&mut contents)
            .map_err(|err| RuntimeError::Provision(format!("cannot extract {name}: {err}")))?;
        crate::util::write_atomic(&dir.join(file_name), &contents)
            .map_err(|err| RuntimeError::Provision(format!("{err:#}")))?;
    }
    Ok(())
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
    fn sha256_matches_known_vector() {
        assert_eq!(
            sha256_hex(b"abc"),
            "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
        );
    }

    #[test]
    fn every_pinned_wheel_names_the_pinned_version() {
        for wheel in CPU_WHEELS {
            assert!(wheel.file_name.contains(ORT_VERSION));
            assert!(wheel.file_name.contains(wheel.platform_tag));
            assert_eq!(wheel.sha256.len(), 64);
        }
    }
}
