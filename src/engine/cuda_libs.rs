//! Finding and loading the CUDA 13 user-space libraries that ONNX Runtime's
//! CUDA execution provider needs, and reading their versions.
//!
//! The provider library (`libonnxruntime_providers_cuda.so`) links against
//! cudart, cuBLAS/cuBLASLt and cuRAND, and opens cuFFT, NVRTC and cuDNN 9 at
//! run time, all by soname. Those libraries come from the `nvidia-*` pip
//! packages (ours, provisioned by `setup --gpu`, or any installed Python
//! environment's, such as PyTorch's) or from a CUDA toolkit. We look for each
//! one by file name in a fixed list of folders, then open them in dependency
//! order with `RTLD_GLOBAL`, so that the provider's own `dlopen` by soname
//! finds the copy that is already loaded. The driver (`libcuda.so.1`) is never
//! shipped in a package; it comes from the system's NVIDIA driver.
//!
//! Search order (the first folder holding a file wins):
//! 1. `ONNX_WORKBENCH_CUDA_LIBS`, a `:`-separated list of folders;
//! 2. `nvidia/*/lib` under the GPU runtime's cache folder (from `setup --gpu`);
//! 3. `nvidia/*/lib` of the `nvidia` Python namespace package, if installed;
//! 4. `$CUDA_HOME`, `$CUDA_PATH`, `/usr/local/cuda` (`lib64`, `lib`,
//!    `extras/CUPTI/lib64`);
//! 5. `LD_LIBRARY_PATH` and the system library folders.

#![allow(unsafe_code)] // dlopen and calls of version functions; each has a SAFETY note.

use std::{
    collections::BTreeSet,
    ffi::{c_int, c_uint},
    fmt::Write as _,
    path::{Path, PathBuf},
    process::Command,
    sync::OnceLock,
};

use serde::{Deserialize, Serialize};

/// Environment variable with extra folders to search first.
pub const ENV_CUDA_LIBS: &str = "ONNX_WORKBENCH_CUDA_LIBS";

/// Why a CUDA library could not be opened. The message is the dynamic
/// loader's own.
#[derive(Debug, thiserror::Error)]
pub enum CudaLibError {
    /// A library found on disk did not load.
    #[error("{source}")]
    Open {
        path: PathBuf,
        #[source]
        source: libloading::Error,
    },
    /// A library looked up by soname (the driver's) did not load.
    #[error("{source}")]
    OpenBySoname {
        soname: &'static str,
        #[source]
        source: libloading::Error,
    },
}

/// What a library is for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum LibraryGroup {
    /// CUDA runtime, math libraries and NVRTC: required by the provider.
    Cuda,
    /// cuDNN 9: required for convolutions and many other ops.
    Cudnn,
    /// CUPTI: optional, for per-kernel GPU timings.
    Cupti,
}

/// One library we look for, in load order within its group.
#[derive(Debug, Clone, Copy)]
pub struct LibrarySpec {
    /// The file name the provider opens, e.g. `libcudart.so.13`.
    pub soname: &'static str,
    /// What it is for.
    pub group: LibraryGroup,
    /// The pip package that ships it.
    pub package: &'static str,
}

const fn spec(soname: &'static str, group: LibraryGroup, package: &'static str) -> LibrarySpec {
    LibrarySpec {
        soname,
        group,
        package,
    }
}

/// Every library, in the order they are loaded (dependencies first).
pub const LIBRARIES: &[LibrarySpec] = &[
    spec("libcudart.so.13", LibraryGroup::Cuda, "nvidia-cuda-runtime"),
    spec("libnvJitLink.so.13", LibraryGroup::Cuda, "nvidia-nvjitlink"),
    spec("libcublasLt.so.13", LibraryGroup::Cuda, "nvidia-cublas"),
    spec("libcublas.so.13", LibraryGroup::Cuda, "nvidia-cublas"),
    spec("libcurand.so.10", LibraryGroup::Cuda, "nvidia-curand"),
    spec("libcufft.so.12", LibraryGroup::Cuda, "nvidia-cufft"),
    spec("libnvrtc.so.13", LibraryGroup::Cuda, "nvidia-cuda-nvrtc"),
    spec(
        "libcudnn_graph.so.9",
        LibraryGroup::Cudnn,
        "nvidia-cudnn-cu13",
    ),
    spec(
        "libcudnn_engines_precompiled.so.9",
        LibraryGroup::Cudnn,
        "nvidia-cudnn-cu13",
    ),
    spec(
        "libcudnn_engines_runtime_compiled.so.9",
        LibraryGroup::Cudnn,
        "nvidia-cudnn-cu13",
    ),
    spec(
        "libcudnn_heuristic.so.9",
        LibraryGroup::Cudnn,
        "nvidia-cudnn-cu13",
    ),
    spec(
        "libcudnn_ops.so.9",
        LibraryGroup::Cudnn,
        "nvidia-cudnn-cu13",
    ),
    spec(
        "libcudnn_cnn.so.9",
        LibraryGroup::Cudnn,
        "nvidia-cudnn-cu13",
    ),
    spec(
        "libcudnn_adv.so.9",
        LibraryGroup::Cudnn,
        "nvidia-cudnn-cu13",
    ),
    spec("libcudnn.so.9", LibraryGroup::Cudnn, "nvidia-cudnn-cu13"),
    spec("libcupti.so.13", LibraryGroup::Cupti, "nvidia-cuda-cupti"),
];

/// The NVIDIA driver's CUDA library, which no package ships.
pub const DRIVER_LIBRARY: &str = "libcuda.so.1";

/// A library found on disk.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct FoundLibrary {
    /// The file name looked for.
    pub soname: String,
    /// What it is for.
    pub group: LibraryGroup,
    /// Where it was found.
    pub path: PathBuf,
}

/// The result of a search.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct CudaLibraries {
    /// Libraries found, in load order.
    pub found: Vec<FoundLibrary>,
    /// Sonames not found anywhere, in load order.
    pub missing: Vec<String>,
    /// The folders searched, in order.
    pub searched: Vec<PathBuf>,
}

impl CudaLibraries {
    /// Looks for every library in `dirs`, in order.
    pub fn search(dirs: &[PathBuf]) -> Self {
        let mut result = Self {
            searched: dirs.to_vec(),
            ..Self::default()
        };
        for library in LIBRARIES {
            match dirs
                .iter()
                .map(|dir| dir.join(library.soname))
                .find(|path| path.is_file())
            {
                Some(path) => result.found.push(FoundLibrary {
                    soname: library.soname.to_owned(),
                    group: library.group,
                    path,
                }),
                None => result.missing.push(library.soname.to_owned()),
            }
        }
        result
    }

    /// Missing libraries of one group.
    pub fn missing_in(&self, group: LibraryGroup) -> Vec<&str> {
        self.missing
            .iter()
            .filter(|soname| spec_of(soname).is_some_and(|spec| spec.group == group))
            .map(String::as_str)
            .collect()
    }

    /// The path of a found library.
    pub fn path_of(&self, soname: &str) -> Option<&Path> {
        self.found
            .iter()
            .find(|found| found.soname == soname)
            .map(|found| found.path.as_path())
    }

    /// Whether everything the CUDA provider needs (CUDA and cuDNN) was found.
    pub fn provider_ready(&self) -> bool {
        self.missing_in(LibraryGroup::Cuda).is_empty()
            && self.missing_in(LibraryGroup::Cudnn).is_empty()
    }

    /// The pip packages that would supply the missing CUDA and cuDNN libraries.
    pub fn missing_packages(&self) -> BTreeSet<&'static str> {
        self.missing
            .iter()
            .filter_map(|soname| spec_of(soname))
            .filter(|spec| spec.group != LibraryGroup::Cupti)
            .map(|spec| spec.package)
            .collect()
    }

    /// A multi-line explanation of what is missing and where we looked.
    pub fn describe_missing(&self) -> String {
        let mut text = String::new();
        let required: Vec<&str> = self
            .missing
            .iter()
            .map(String::as_str)
            .filter(|soname| spec_of(soname).is_some_and(|spec| spec.group != LibraryGroup::Cupti))
            .collect();
        if let Some(first) = required.first() {
            let _ = write!(
                text,
                "first missing library: {first} ({} missing in all: {})",
                required.len(),
                required.join(", ")
            );
        }
        let _ = write!(text, "; searched: ");
        if self.searched.is_empty() {
            text.push_str("no folders");
        } else {
            let folders: Vec<String> = self
                .searched
                .iter()
                .map(|dir| dir.display().to_string())
                .collect();
            text.push_str(&folders.join(", "));
        }
        text
    }
}

fn spec_of(soname: &str) -> Option<&'static LibrarySpec> {
    LIBRARIES.iter().find(|spec| spec.soname == soname)
}

/// The folders to search, in order, that exist. `gpu_cache` is the GPU
/// runtime's cache folder.
pub fn search_dirs(gpu_cache: Option<&Path>) -> Vec<PathBuf> {
    let mut dirs: Vec<PathBuf> = Vec::new();
    if let Some(list) = std::env::var_os(ENV_CUDA_LIBS) {
        dirs.extend(std::env::split_paths(&list));
    }
    if let Some(cache) = gpu_cache {
        dirs.extend(nvidia_lib_dirs(&cache.join("nvidia")));
    }
    for root in python_nvidia_roots() {
        dirs.extend(nvidia_lib_dirs(&root));
    }
    let toolkits = ["CUDA_HOME", "CUDA_PATH"]
        .iter()
        .filter_map(std::env::var_os)
        .map(PathBuf::from)
        .chain([PathBuf::from("/usr/local/cuda")]);
    for toolkit in toolkits {
        for sub in [
            "lib64",
            "lib",
            "targets/x86_64-linux/lib",
            "extras/CUPTI/lib64",
        ] {
            dirs.push(toolkit.join(sub));
        }
    }
    if let Some(list) = std::env::var_os("LD_LIBRARY_PATH") {
        dirs.extend(std::env::split_paths(&list));
    }
    for system in [
        "/usr/lib/x86_64-linux-gnu",
        "/usr/lib/aarch64-linux-gnu",
        "/usr/lib64",
        "/usr/local/lib",
        "/usr/local/nvidia/lib64",
    ] {
        dirs.push(PathBuf::from(system));
    }
    let mut seen = BTreeSet::new();
    dirs.retain(|dir| dir.is_dir() && seen.insert(dir.clone()));
    dirs
}

/// `nvidia/<package>/lib` folders under an `nvidia` package root (the layout
/// of the `nvidia-*` wheels: `nvidia/cu13/lib`, `nvidia/cudnn/lib`, …).
pub fn nvidia_lib_dirs(root: &Path) -> Vec<PathBuf> {
    let Ok(entries) = std::fs::read_dir(root) else {
        return Vec::new();
    };
    let mut dirs: Vec<PathBuf> = entries
        .filter_map(Result::ok)
        .map(|entry| entry.path().join("lib"))
        .filter(|dir| dir.is_dir())
        .collect();
    dirs.sort();
    dirs
}

/// The folders of the `nvidia` namespace package in the Python environment
/// (`ONNX_WORKBENCH_PYTHON`, else `python3`), if it has one.
fn python_nvidia_roots() -> Vec<PathBuf> {
    let python = std::env::var("ONNX_WORKBENCH_PYTHON").unwrap_or_else(|_| "python3".to_owned());
    let Ok(output) = Command::new(python)
        .args([
            "-c",
            "import importlib.util as u\n\
             s = u.find_spec('nvidia')\n\
             print('\\n'.join(s.submodule_search_locations or []) if s else '')",
        ])
        .output()
    else {
        return Vec::new();
    };
    if !output.status.success() {
        return Vec::new();
    }
    String::from_utf8_lossy(&output.stdout)
        .lines()
        .map(str::trim)
        .filter(|line| !line.is_empty())
        .map(PathBuf::from)
        .collect()
}

/// The outcome of loading the libraries, computed once per process.
#[derive(Debug, Default)]
pub struct LoadedLibraries {
    /// What the search found and missed.
    pub libraries: CudaLibraries,
    /// Libraries that were found but failed to load (soname, the loader's reason).
    pub failed: Vec<(String, CudaLibError)>,
}

static LOADED: OnceLock<LoadedLibraries> = OnceLock::new();

/// Finds the libraries and loads every one found, once per process. Loading
/// is what makes the provider's later `dlopen` by soname succeed.
pub fn ensure_loaded(gpu_cache: Option<&Path>) -> &'static LoadedLibraries {
    LOADED.get_or_init(|| {
        let libraries = CudaLibraries::search(&search_dirs(gpu_cache));
        let mut failed = Vec::new();
        for found in &libraries.found {
            if let Err(reason) = open_global(&found.path) {
                tracing::debug!(path = %found.path.display(), %reason, "CUDA library failed to load");
                failed.push((found.soname.clone(), reason));
            }
        }
        LoadedLibraries { libraries, failed }
    })
}

/// Opens a library with `RTLD_NOW | RTLD_GLOBAL` and keeps it loaded for the
/// life of the process.
fn open_global(path: &Path) -> Result<(), CudaLibError> {
    use libloading::os::unix::{Library, RTLD_GLOBAL, RTLD_NOW};
    // SAFETY: these are NVIDIA's CUDA libraries, whose initialisers have no
    // preconditions; the handle is leaked on purpose so the library stays
    // loaded for the provider.
    let library =
        unsafe { Library::open(Some(path), RTLD_NOW | RTLD_GLOBAL) }.map_err(|source| {
            CudaLibError::Open {
                path: path.to_path_buf(),
                source,
            }
        })?;
    std::mem::forget(library);
    Ok(())
}

/// Versions read from the libraries themselves.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct CudaVersions {
    /// `cudaRuntimeGetVersion`, e.g. `13.0`.
    pub cuda_runtime: Option<String>,
    /// The CUDA version the driver supports (`cudaDriverGetVersion`); `None`
    /// without a driver.
    pub cuda_driver: Option<String>,
    /// `cudnnGetVersion`, e.g. `9.19.1`.
    pub cudnn: Option<String>,
    /// `cuptiGetVersion` (the CUPTI API version number).
    pub cupti_api: Option<u32>,
    /// Why `libcuda.so.1` (the NVIDIA driver) cannot be opened; `None` when
    /// it can.
    pub driver_library_error: Option<String>,
}

/// Reads the versions of what was found. Each call opens the library by
/// path; nothing here initialises a GPU context.
pub fn probe_versions(libraries: &CudaLibraries) -> CudaVersions {
    let mut versions = CudaVersions {
        driver_library_error: open_by_soname(DRIVER_LIBRARY)
            .err()
            .map(|err| err.to_string()),
        ..CudaVersions::default()
    };
    if let Some(path) = libraries.path_of("libcudart.so.13") {
        versions.cuda_runtime =
            call_int_getter(path, b"cudaRuntimeGetVersion\0").map(format_cuda_version);
        if versions.driver_library_error.is_none() {
            versions.cuda_driver = call_int_getter(path, b"cudaDriverGetVersion\0")
                .filter(|version| *version > 0)
                .map(format_cuda_version);
        }
    }
    if let Some(path) = libraries.path_of("libcudnn.so.9") {
        versions.cudnn = call_size_getter(path, b"cudnnGetVersion\0").map(format_cudnn_version);
    }
    if let Some(path) = libraries.path_of("libcupti.so.13") {
        versions.cupti_api = call_u32_out(path, b"cuptiGetVersion\0");
    }
    versions
}

fn open_by_soname(soname: &'static str) -> Result<(), CudaLibError> {
    // SAFETY: opening the NVIDIA driver library runs no code with
    // preconditions; it is closed again at once.
    unsafe { libloading::Library::new(soname) }
        .map(drop)
        .map_err(|source| CudaLibError::OpenBySoname { soname, source })
}

/// Calls `int f(int*)` (the CUDA runtime's version getters).
fn call_int_getter(path: &Path, symbol: &[u8]) -> Option<i32> {
    // SAFETY: the symbol is a CUDA runtime version getter with the C
    // signature `cudaError_t f(int*)`; it writes one int and returns 0 on
    // success. The library stays open for the duration of the call.
    unsafe {
        let library = libloading::Library::new(path).ok()?;
        let getter: libloading::Symbol<'_, unsafe extern "C" fn(*mut c_int) -> c_int> =
            library.get(symbol).ok()?;
        let mut value: c_int = 0;
        (getter(&mut value) == 0).then_some(value)
    }
}

/// Calls `size_t f(void)` (`cudnnGetVersion`).
fn call_size_getter(path: &Path, symbol: &[u8]) -> Option<usize> {
    // SAFETY: `cudnnGetVersion` has the C signature `size_t f(void)` and no
    // preconditions.
    unsafe {
        let library = libloading::Library::new(path).ok()?;
        let getter: libloading::Symbol<'_, unsafe extern "C" fn() -> usize> =
            library.get(symbol).ok()?;
        Some(getter())
    }
}

/// Calls `int f(unsigned*)` (`cuptiGetVersion`).
fn call_u32_out(path: &Path, symbol: &[u8]) -> Option<u32> {
    // SAFETY: `cuptiGetVersion` has the C signature `CUptiResult f(uint32_t*)`
    // and returns 0 on success.
    unsafe {
        let library = libloading::Library::new(path).ok()?;
        let getter: libloading::Symbol<'_, unsafe extern "C" fn(*mut c_uint) -> c_int> =
            library.get(symbol).ok()?;
        let mut value: c_uint = 0;
        (getter(&mut value) == 0).then_some(value)
    }
}

/// `13000` → `13.0`, `12080` → `12.8`.
pub fn format_cuda_version(version: i32) -> String {
    format!("{}.{}", version / 1000, (version % 1000) / 10)
}

/// cuDNN 9 encodes `major * 10000 + minor * 100 + patch`: `91901` → `9.19.1`.
pub fn format_cudnn_version(version: usize) -> String {
    if version >= 90000 {
        format!(
            "{}.{}.{}",
            version / 10000,
            (version % 10000) / 100,
            version % 100
        )
    } else {
        format!(
            "{}.{}.{}",
            version / 1000,
            (version % 1000) / 100,
            version % 100
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn touch(path: &Path) {
        std::fs::create_dir_all(path.parent().expect("parent")).expect("mkdir");
        std::fs::write(path, b"").expect("write");
    }

    #[test]
    fn finds_libraries_in_the_pip_layout_and_names_what_is_missing() {
        let root = tempfile::tempdir().expect("tempdir");
        let nvidia = root.path().join("nvidia");
        for soname in ["libcudart.so.13", "libcublas.so.13", "libcurand.so.10"] {
            touch(&nvidia.join("cu13/lib").join(soname));
        }
        touch(&nvidia.join("cudnn/lib/libcudnn.so.9"));
        let dirs = nvidia_lib_dirs(&nvidia);
        assert_eq!(
            dirs,
            vec![nvidia.join("cu13/lib"), nvidia.join("cudnn/lib")]
        );
        let libraries = CudaLibraries::search(&dirs);
        assert_eq!(
            libraries.path_of("libcudart.so.13"),
            Some(nvidia.join("cu13/lib/libcudart.so.13").as_path())
        );
        assert!(!libraries.provider_ready());
        // libnvJitLink comes before cuBLASLt in load order, so it is named first.
        assert_eq!(
            libraries.missing_in(LibraryGroup::Cuda),
            vec![
                "libnvJitLink.so.13",
                "libcublasLt.so.13",
                "libcufft.so.12",
                "libnvrtc.so.13"
            ]
        );
        let description = libraries.describe_missing();
        assert!(
            description.starts_with("first missing library: libnvJitLink.so.13"),
            "{description}"
        );
        assert!(description.contains("cu13/lib"), "{description}");
        let packages = libraries.missing_packages();
        assert!(packages.contains("nvidia-cublas"));
        assert!(packages.contains("nvidia-cudnn-cu13"));
        assert!(!packages.contains("nvidia-cuda-runtime"));
        assert!(!packages.contains("nvidia-cuda-cupti"));
    }

    #[test]
    fn an_earlier_folder_wins() {
        let first = tempfile::tempdir().expect("tempdir");
        let second = tempfile::tempdir().expect("tempdir");
        touch(&first.path().join("libcudart.so.13"));
        touch(&second.path().join("libcudart.so.13"));
        let libraries =
            CudaLibraries::search(&[first.path().to_path_buf(), second.path().to_path_buf()]);
        assert_eq!(
            libraries.path_of("libcudart.so.13"),
            Some(first.path().join("libcudart.so.13").as_path())
        );
    }

    #[test]
    fn every_library_but_cupti_is_needed_by_the_provider() {
        let all: Vec<PathBuf> = Vec::new();
        let libraries = CudaLibraries::search(&all);
        assert_eq!(libraries.missing.len(), LIBRARIES.len());
        assert!(
            libraries
                .describe_missing()
                .contains("searched: no folders")
        );
        let mut complete = CudaLibraries::default();
        complete.missing.push("libcupti.so.13".to_owned());
        assert!(complete.provider_ready());
    }

    #[test]
    fn versions_are_formatted_like_nvidia_writes_them() {
        assert_eq!(format_cuda_version(13000), "13.0");
        assert_eq!(format_cuda_version(12080), "12.8");
        assert_eq!(format_cudnn_version(91901), "9.19.1");
        assert_eq!(format_cudnn_version(8902), "8.9.2");
    }
}
