//! What is known of the ONNX Runtime library before it is loaded: the
//! pinned version, the two flavours, where each is cached, and where it came
//! from.

use std::{
    fs,
    path::{Path, PathBuf},
};

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
    pub fn from_env() -> Result<Option<Self>, UnknownFlavour> {
        match std::env::var(ENV_FLAVOUR) {
            Err(_) => Ok(None),
            Ok(value) => match value.trim().to_ascii_lowercase().as_str() {
                "" | "auto" => Ok(None),
                "cpu" => Ok(Some(Self::Cpu)),
                "gpu" | "cuda" => Ok(Some(Self::Gpu)),
                other => Err(UnknownFlavour {
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
pub(super) const LIB_FILE_NAME: &str = "libonnxruntime.so.1.31.1";

/// [`ENV_FLAVOUR`] names no flavour.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("provisioning ONNX Runtime failed: {ENV_FLAVOUR}={value} is not one of cpu, gpu, auto")]
pub struct UnknownFlavour {
    pub value: String,
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
pub(super) fn python() -> String {
    std::env::var(ENV_PYTHON).unwrap_or_else(|_| "python3".to_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

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
