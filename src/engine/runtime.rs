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

use std::{
    collections::BTreeSet,
    fmt::Write as _,
    fs,
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
                other => Err(RuntimeError::Provision(format!(
                    "{ENV_FLAVOUR}={other} is not one of cpu, gpu, auto"
                ))),
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

/// The GPU wheels of `onnxruntime-gpu==1.31.1` (cp311, like the CPU ones).
const GPU_WHEELS: &[PinnedWheel] = &[
    PinnedWheel {
        arch: "x86_64",
        platform_tag: "manylinux_2_28_x86_64",
        file_name: "onnxruntime_gpu-1.31.1-cp311-cp311-manylinux_2_28_x86_64.whl",
        sha256: "e26c475fe361b2015f45b4b824bd13f0bb20204e59b62814e6f0acd5f3d491a6",
    },
    PinnedWheel {
        arch: "aarch64",
        platform_tag: "manylinux_2_34_aarch64",
        file_name: "onnxruntime_gpu-1.31.1-cp311-cp311-manylinux_2_34_aarch64.whl",
        sha256: "dc878916611b8a816000ffedacc5f5988f77bb93bf9655ad20144ee3acb08e55",
    },
];

/// A CUDA library wheel, pinned to the CUDA 13.0 generation (which the R580
/// drivers support) with its hash per architecture.
struct PinnedCudaWheel {
    package: &'static str,
    version: &'static str,
    /// `(arch, sha256)`.
    hashes: [(&'static str, &'static str); 2],
}

const CUDA_WHEELS: &[PinnedCudaWheel] = &[
    PinnedCudaWheel {
        package: "nvidia-cuda-runtime",
        version: "13.0.96",
        hashes: [
            (
                "x86_64",
                "7f82250d7782aa23b6cfe765ecc7db554bd3c2870c43f3d1821f1d18aebf0548",
            ),
            (
                "aarch64",
                "ef9bcbe90493a2b9d810e43d249adb3d02e98dd30200d86607d8d02687c43f55",
            ),
        ],
    },
    PinnedCudaWheel {
        package: "nvidia-nvjitlink",
        version: "13.0.88",
        hashes: [
            (
                "x86_64",
                "13a74f429e23b921c1109976abefacc69835f2f433ebd323d3946e11d804e47b",
            ),
            (
                "aarch64",
                "e931536ccc7d467a98ba1d8b89ff7fa7f1fa3b13f2b0069118cd7f47bff07d0c",
            ),
        ],
    },
    PinnedCudaWheel {
        package: "nvidia-cublas",
        version: "13.0.2.14",
        hashes: [
            (
                "x86_64",
                "0cf238ffdbe46c00cb9aa98e7bca745c223a5ca5a53e686ac8b3e5a08fe80d6c",
            ),
            (
                "aarch64",
                "17165c296de689662b96e0ef4f21dfbff3092ff00d0e3e59470f5acb08c0f87d",
            ),
        ],
    },
    PinnedCudaWheel {
        package: "nvidia-curand",
        version: "10.4.0.35",
        hashes: [
            (
                "x86_64",
                "1aee33a5da6e1db083fe2b90082def8915f30f3248d5896bcec36a579d941bfc",
            ),
            (
                "aarch64",
                "133df5a7509c3e292aaa2b477afd0194f06ce4ea24d714d616ff36439cee349a",
            ),
        ],
    },
    PinnedCudaWheel {
        package: "nvidia-cufft",
        version: "12.0.0.61",
        hashes: [
            (
                "x86_64",
                "6c44f692dce8fd5ffd3e3df134b6cdb9c2f72d99cf40b62c32dde45eea9ddad3",
            ),
            (
                "aarch64",
                "2708c852ef8cd89d1d2068bdbece0aa188813a0c934db3779b9b1faa8442e5f5",
            ),
        ],
    },
    PinnedCudaWheel {
        package: "nvidia-cuda-nvrtc",
        version: "13.0.88",
        hashes: [
            (
                "x86_64",
                "ad9b6d2ead2435f11cbb6868809d2adeeee302e9bb94bcf0539c7a40d80e8575",
            ),
            (
                "aarch64",
                "d27f20a0ca67a4bb34268a5e951033496c5b74870b868bacd046b1b8e0c3267b",
            ),
        ],
    },
    PinnedCudaWheel {
        package: "nvidia-cudnn-cu13",
        version: "9.19.1.2",
        hashes: [
            (
                "x86_64",
                "7609f4bbcde269c4aa8869e12112a1924fb6e032a00842912caafcb4e15d42d6",
            ),
            (
                "aarch64",
                "d2901fcdc526f661c1973cd302888f129b5b3c9eb5b99f7238947fb5758564c0",
            ),
        ],
    },
    PinnedCudaWheel {
        package: "nvidia-cuda-cupti",
        version: "13.0.85",
        hashes: [
            (
                "x86_64",
                "4eb01c08e859bf924d222250d2e8f8b8ff6d3db4721288cf35d14252a4d933c8",
            ),
            (
                "aarch64",
                "796bd679890ee55fb14a94629b698b6db54bcfd833d391d5e94017dd9d7d3151",
            ),
        ],
    },
];

/// Platform tags pip may pick the CUDA wheels from, per architecture.
fn cuda_platform_tags(arch: &str) -> &'static [&'static str] {
    match arch {
        "aarch64" => &[
            "manylinux_2_34_aarch64",
            "manylinux_2_28_aarch64",
            "manylinux_2_27_aarch64",
            "manylinux_2_25_aarch64",
            "manylinux_2_17_aarch64",
            "manylinux2014_aarch64",
        ],
        _ => &[
            "manylinux_2_28_x86_64",
            "manylinux_2_27_x86_64",
            "manylinux_2_25_x86_64",
            "manylinux_2_17_x86_64",
            "manylinux2014_x86_64",
            "manylinux_2_12_x86_64",
            "manylinux2010_x86_64",
        ],
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
    let wanted = Flavour::from_env()?;
    let flavours: &[Flavour] = match wanted {
        Some(Flavour::Cpu) => &[Flavour::Cpu],
        Some(Flavour::Gpu) => &[Flavour::Gpu],
        None => &[Flavour::Gpu, Flavour::Cpu],
    };

    for &flavour in flavours {
        match cache_dir_for(flavour) {
            Some(dir) => {
                let path = dir.join(LIB_FILE_NAME);
                if path.is_file() {
                    return Ok((path, LibrarySource::Cache));
                }
                let _ = writeln!(
                    attempts,
                    "- cache ({flavour}): no {LIB_FILE_NAME} in {}",
                    dir.display()
                );
            }
            None => {
                let _ = writeln!(
                    attempts,
                    "- cache: no cache folder could be determined (set {ENV_CACHE_DIR})"
                );
            }
        }
    }

    match python_package_library(wanted) {
        Ok(path) => return Ok((path, LibrarySource::PythonPackage)),
        Err(reason) => {
            let _ = writeln!(attempts, "- installed onnxruntime Python package: {reason}");
        }
    }

    let flavour = wanted.unwrap_or(Flavour::Cpu);
    let provisioned = match flavour {
        Flavour::Cpu => provision(),
        Flavour::Gpu => provision_gpu(None).map(|report| report.library),
    };
    match provisioned {
        Ok(path) => Ok((path, LibrarySource::Provisioned)),
        Err(err) => {
            let _ = writeln!(
                attempts,
                "- pip download of {}=={ORT_VERSION}: {err}",
                flavour.distribution()
            );
            Err(RuntimeError::NotFound { attempts })
        }
    }
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

fn python() -> String {
    std::env::var(ENV_PYTHON).unwrap_or_else(|_| "python3".to_owned())
}

/// Looks for an installed `onnxruntime` (or `onnxruntime-gpu`) package of
/// exactly [`ORT_VERSION`]; with `wanted`, only that flavour's distribution.
fn python_package_library(wanted: Option<Flavour>) -> Result<PathBuf, String> {
    let distributions = match wanted {
        Some(flavour) => vec![flavour.distribution()],
        None => vec![Flavour::Gpu.distribution(), Flavour::Cpu.distribution()],
    };
    let script = format!(
        "import importlib.util as u, importlib.metadata as m, os\n\
         s = u.find_spec('onnxruntime')\n\
         v = ''\n\
         for d in {distributions:?}:\n\
         \x20   try:\n\
         \x20       v = m.version(d); break\n\
         \x20   except Exception: pass\n\
         print(v if s else '')\n\
         print(os.path.dirname(s.origin) if s else '')"
    );
    let output = Command::new(python())
        .args(["-c", &script])
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

fn pinned_wheel(flavour: Flavour) -> Result<&'static PinnedWheel, RuntimeError> {
    let arch = std::env::consts::ARCH;
    if std::env::consts::OS != "linux" {
        return Err(RuntimeError::UnsupportedPlatform(format!(
            "{}-{arch}",
            std::env::consts::OS
        )));
    }
    let wheels = match flavour {
        Flavour::Cpu => CPU_WHEELS,
        Flavour::Gpu => GPU_WHEELS,
    };
    wheels
        .iter()
        .find(|wheel| wheel.arch == arch)
        .ok_or_else(|| RuntimeError::UnsupportedPlatform(format!("linux-{arch}")))
}

/// Creates and locks a flavour's cache folder. The lock serialises
/// provisioning between processes; it is released when dropped.
fn locked_cache_dir(flavour: Flavour) -> Result<(PathBuf, fs::File), RuntimeError> {
    let dir = cache_dir_for(flavour).ok_or_else(|| {
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
    Ok((dir, lock))
}

/// Downloads the pinned CPU wheel with pip, verifies its sha256 and extracts
/// the library into [`cache_dir`]. Returns the library path. Safe to call
/// from several processes at once: a file lock serialises them.
pub fn provision() -> Result<PathBuf, RuntimeError> {
    let wheel = pinned_wheel(Flavour::Cpu)?;
    let (dir, _lock) = locked_cache_dir(Flavour::Cpu)?;
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
    let requirements = format!(
        "{}=={ORT_VERSION} --hash=sha256:{}\n",
        Flavour::Cpu.distribution(),
        wheel.sha256
    );
    pip_download(
        &requirements,
        &[wheel.platform_tag],
        download_dir.path(),
        None,
    )?;
    let wheel_path = download_dir.path().join(wheel.file_name);
    verify_sha256(&wheel_path, wheel.sha256)?;
    extract_from_wheel(&wheel_path, &dir, ort_library_entry)?;
    if target.is_file() {
        Ok(target)
    } else {
        Err(RuntimeError::Provision(format!(
            "{LIB_FILE_NAME} was not in {}",
            wheel.file_name
        )))
    }
}

/// What `setup --gpu` did.
#[derive(Debug, Clone)]
pub struct GpuProvisionReport {
    /// The GPU build's main library.
    pub library: PathBuf,
    /// CUDA library packages that were fetched (empty when all were found).
    pub fetched_packages: Vec<String>,
    /// Where the CUDA libraries are now found, and what is still missing.
    pub cuda_libraries: super::cuda_libs::CudaLibraries,
}

/// Provisions the GPU flavour: the pinned `onnxruntime-gpu` wheel, plus the
/// pinned `nvidia-*` wheels of every CUDA library (CUPTI included) that is not
/// already found elsewhere (an installed PyTorch, a CUDA toolkit). With
/// `wheel_dir`, pip reads only from that folder (`--no-index`), for machines
/// without network access. Hashes are pinned and checked for every wheel.
pub fn provision_gpu(wheel_dir: Option<&Path>) -> Result<GpuProvisionReport, RuntimeError> {
    use super::cuda_libs::{CudaLibraries, LIBRARIES, search_dirs};

    let wheel = pinned_wheel(Flavour::Gpu)?;
    let arch = wheel.arch;
    let (dir, _lock) = locked_cache_dir(Flavour::Gpu)?;
    let target = dir.join(LIB_FILE_NAME);
    let needs_runtime = !(target.is_file() && dir.join(CUDA_PROVIDER_FILE_NAME).is_file());
    let before = CudaLibraries::search(&search_dirs(Some(&dir)));
    let missing_packages: BTreeSet<&str> = before
        .missing
        .iter()
        .filter_map(|soname| LIBRARIES.iter().find(|spec| spec.soname == soname))
        .map(|spec| spec.package)
        .collect();
    let cuda_wheels: Vec<&PinnedCudaWheel> = CUDA_WHEELS
        .iter()
        .filter(|pinned| missing_packages.contains(pinned.package))
        .collect();
    if !needs_runtime && cuda_wheels.is_empty() {
        return Ok(GpuProvisionReport {
            library: target,
            fetched_packages: Vec::new(),
            cuda_libraries: before,
        });
    }

    let mut requirements = String::new();
    if needs_runtime {
        let _ = writeln!(
            requirements,
            "{}=={ORT_VERSION} --hash=sha256:{}",
            Flavour::Gpu.distribution(),
            wheel.sha256
        );
    }
    for pinned in &cuda_wheels {
        let Some((_, sha256)) = pinned
            .hashes
            .iter()
            .find(|(wheel_arch, _)| *wheel_arch == arch)
        else {
            return Err(RuntimeError::UnsupportedPlatform(format!("linux-{arch}")));
        };
        let _ = writeln!(
            requirements,
            "{}=={} --hash=sha256:{sha256}",
            pinned.package, pinned.version
        );
    }
    let mut fetched: Vec<String> = Vec::new();
    if needs_runtime {
        fetched.push(format!("{}=={ORT_VERSION}", Flavour::Gpu.distribution()));
    }
    fetched.extend(
        cuda_wheels
            .iter()
            .map(|pinned| format!("{}=={}", pinned.package, pinned.version)),
    );
    eprintln!(
        "onnx-workbench: fetching the GPU build of ONNX Runtime into {}: {}",
        dir.display(),
        fetched.join(", ")
    );
    let download_dir = tempfile::tempdir_in(&dir).map_err(|err| {
        RuntimeError::Provision(format!("cannot create a temporary folder: {err}"))
    })?;
    let mut tags = vec![wheel.platform_tag];
    tags.extend(cuda_platform_tags(arch).iter().copied());
    tags.dedup();
    pip_download(&requirements, &tags, download_dir.path(), wheel_dir)?;

    if needs_runtime {
        let wheel_path = download_dir.path().join(wheel.file_name);
        verify_sha256(&wheel_path, wheel.sha256)?;
        extract_from_wheel(&wheel_path, &dir, ort_library_entry)?;
    }
    for pinned in &cuda_wheels {
        let prefix = format!("{}-{}-", pinned.package.replace('-', "_"), pinned.version);
        let wheel_path = find_file_with_prefix(download_dir.path(), &prefix)?;
        if let Some((_, sha256)) = pinned
            .hashes
            .iter()
            .find(|(wheel_arch, _)| *wheel_arch == arch)
        {
            verify_sha256(&wheel_path, sha256)?;
        }
        extract_from_wheel(&wheel_path, &dir, nvidia_library_entry)?;
    }
    if !target.is_file() {
        return Err(RuntimeError::Provision(format!(
            "{LIB_FILE_NAME} was not in {}",
            wheel.file_name
        )));
    }
    Ok(GpuProvisionReport {
        library: target,
        fetched_packages: fetched,
        cuda_libraries: CudaLibraries::search(&search_dirs(Some(&dir))),
    })
}

fn find_file_with_prefix(dir: &Path, prefix: &str) -> Result<PathBuf, RuntimeError> {
    let entries = fs::read_dir(dir)
        .map_err(|err| RuntimeError::Provision(format!("cannot list {}: {err}", dir.display())))?;
    entries
        .filter_map(Result::ok)
        .map(|entry| entry.path())
        .find(|path| {
            path.file_name()
                .and_then(|name| name.to_str())
                .is_some_and(|name| name.starts_with(prefix) && name.ends_with(".whl"))
        })
        .ok_or_else(|| RuntimeError::Provision(format!("pip did not save a {prefix}*.whl")))
}

/// Runs `pip download` of hash-pinned `requirements` (one per line) for the
/// given platform tags, into `into`. With `wheel_dir`, offline from there.
fn pip_download(
    requirements: &str,
    platform_tags: &[&str],
    into: &Path,
    wheel_dir: Option<&Path>,
) -> Result<(), RuntimeError> {
    let requirements_path = into.join("requirements.txt");
    fs::write(&requirements_path, requirements).map_err(|err| {
        RuntimeError::Provision(format!(
            "cannot write {}: {err}",
            requirements_path.display()
        ))
    })?;
    let mut command = Command::new(python());
    command
        .args(["-m", "pip", "download", "--no-deps", "--only-binary=:all:"])
        .args(["--python-version", "3.11", "--implementation", "cp"])
        .args(["--disable-pip-version-check", "--progress-bar", "off"]);
    for tag in platform_tags {
        command.args(["--platform", tag]);
    }
    if let Some(wheel_dir) = wheel_dir {
        command.arg("--no-index").arg("--find-links").arg(wheel_dir);
    }
    let output = command
        .arg("-d")
        .arg(into)
        .arg("-r")
        .arg(&requirements_path)
        .output()
        .map_err(|err| {
            RuntimeError::Provision(format!("could not run `{} -m pip`: {err}", python()))
        })?;
    if output.status.success() {
        return Ok(());
    }
    let stderr = String::from_utf8_lossy(&output.stderr);
    let last = stderr
        .lines()
        .rev()
        .find(|line| !line.trim().is_empty())
        .unwrap_or("");
    Err(RuntimeError::Provision(format!(
        "pip download failed: {last}"
    )))
}

/// Lowercase hex sha256 of `bytes`.
pub fn sha256_hex(bytes: &[u8]) -> String {
    hex(&Sha256::digest(bytes))
}

fn hex(digest: &[u8]) -> String {
    digest
        .iter()
        .fold(String::with_capacity(64), |mut out, byte| {
            let _ = write!(out, "{byte:02x}");
            out
        })
}

/// Checks a file's sha256 against the pinned one, streaming it.
fn verify_sha256(path: &Path, expected: &str) -> Result<(), RuntimeError> {
    let mut file = fs::File::open(path)
        .map_err(|err| RuntimeError::Provision(format!("cannot read {}: {err}", path.display())))?;
    let mut hasher = Sha256::new();
    std::io::copy(&mut file, &mut hasher)
        .map_err(|err| RuntimeError::Provision(format!("cannot read {}: {err}", path.display())))?;
    let digest = hex(&hasher.finalize());
    if digest == expected {
        Ok(())
    } else {
        Err(RuntimeError::Provision(format!(
            "sha256 mismatch for {}: expected {expected}, got {digest}",
            path.display()
        )))
    }
}

/// `onnxruntime/capi/libonnxruntime*.so*` → its file name, except the
/// TensorRT provider, which we do not use.
fn ort_library_entry(name: &str) -> Option<PathBuf> {
    let file_name = name.strip_prefix("onnxruntime/capi/")?;
    let wanted = file_name.starts_with("libonnxruntime")
        && file_name.contains(".so")
        && !file_name.contains('/')
        && !file_name.contains("tensorrt");
    wanted.then(|| PathBuf::from(file_name))
}

/// `nvidia/<package>/lib/<file>.so*` → the same relative path.
fn nvidia_library_entry(name: &str) -> Option<PathBuf> {
    let parts: Vec<&str> = name.split('/').collect();
    let wanted = parts.len() == 4
        && parts[0] == "nvidia"
        && parts[2] == "lib"
        && parts[3].contains(".so")
        && !parts[1].is_empty()
        && !parts[1].contains("..");
    wanted.then(|| PathBuf::from(name))
}

/// Extracts the entries of a wheel that `select` maps to a relative path,
/// streaming each through a temporary file and a rename.
fn extract_from_wheel(
    wheel_path: &Path,
    dir: &Path,
    select: fn(&str) -> Option<PathBuf>,
) -> Result<(), RuntimeError> {
    let file = fs::File::open(wheel_path).map_err(|err| {
        RuntimeError::Provision(format!("cannot read {}: {err}", wheel_path.display()))
    })?;
    let mut archive = zip::ZipArchive::new(std::io::BufReader::new(file))
        .map_err(|err| RuntimeError::Provision(format!("the wheel is not a valid zip: {err}")))?;
    for index in 0..archive.len() {
        let mut entry = archive
            .by_index(index)
            .map_err(|err| RuntimeError::Provision(format!("cannot read the wheel: {err}")))?;
        let Ok(name) = entry.name().map(std::borrow::Cow::into_owned) else {
            continue;
        };
        let Some(relative) = select(&name) else {
            continue;
        };
        let target = dir.join(relative);
        let parent = target.parent().unwrap_or(dir);
        fs::create_dir_all(parent).map_err(|err| {
            RuntimeError::Provision(format!("cannot create {}: {err}", parent.display()))
        })?;
        let mut temp = tempfile::NamedTempFile::new_in(parent).map_err(|err| {
            RuntimeError::Provision(format!("cannot write in {}: {err}", parent.display()))
        })?;
        std::io::copy(&mut entry, &mut temp)
            .map_err(|err| RuntimeError::Provision(format!("cannot extract {name}: {err}")))?;
        temp.persist(&target).map_err(|err| {
            RuntimeError::Provision(format!("cannot write {}: {err}", target.display()))
        })?;
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
    fn wheel_entries_are_selected_by_path() {
        assert_eq!(
            ort_library_entry("onnxruntime/capi/libonnxruntime_providers_cuda.so"),
            Some(PathBuf::from("libonnxruntime_providers_cuda.so"))
        );
        assert_eq!(
            ort_library_entry("onnxruntime/capi/libonnxruntime_providers_tensorrt.so"),
            None
        );
        assert_eq!(
            ort_library_entry("onnxruntime/capi/onnxruntime_pybind11_state.so"),
            None
        );
        assert_eq!(
            nvidia_library_entry("nvidia/cu13/lib/libcublasLt.so.13"),
            Some(PathBuf::from("nvidia/cu13/lib/libcublasLt.so.13"))
        );
        assert_eq!(nvidia_library_entry("nvidia/cu13/include/cublas.h"), None);
        assert_eq!(nvidia_library_entry("nvidia/../lib/libx.so"), None);
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

    #[test]
    fn every_cuda_wheel_supplies_a_library_we_look_for() {
        for pinned in CUDA_WHEELS {
            assert!(
                super::super::cuda_libs::LIBRARIES
                    .iter()
                    .any(|spec| spec.package == pinned.package),
                "{} supplies nothing we load",
                pinned.package
            );
            for (_, sha256) in pinned.hashes {
                assert_eq!(sha256.len(), 64);
            }
        }
        for spec in super::super::cuda_libs::LIBRARIES {
            assert!(
                CUDA_WHEELS
                    .iter()
                    .any(|pinned| pinned.package == spec.package),
                "no pinned wheel ships {}",
                spec.soname
            );
        }
    }

    #[test]
    fn every_pinned_wheel_names_the_pinned_version() {
        for wheel in CPU_WHEELS.iter().chain(GPU_WHEELS) {
            assert!(wheel.file_name.contains(ORT_VERSION));
            assert!(wheel.file_name.contains(wheel.platform_tag));
            assert_eq!(wheel.sha256.len(), 64);
        }
    }
}
