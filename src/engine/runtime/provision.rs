//! Provisioning: fetching the pinned ONNX Runtime wheels (and, for the GPU
//! build, the CUDA library wheels) with `pip download`, checking each one's
//! sha256 and extracting the shared libraries into the cache.
//!
//! Nothing is downloaded from anywhere but PyPI (or a local wheel folder), and
//! every wheel's hash is pinned in [`super::wheels`]: pip checks it, and we
//! check it again before extracting anything.

use std::{
    collections::BTreeSet,
    fmt::Write as _,
    fs,
    path::{Path, PathBuf},
    process::Command,
};

use sha2::{Digest as _, Sha256};

use super::{
    error::{ProvisionError, RuntimeError},
    library::{
        CUDA_PROVIDER_FILE_NAME, Flavour, LIB_FILE_NAME, ORT_VERSION, cache_dir_for, python,
    },
    wheels::{
        CPU_WHEELS, CUDA_PLATFORM_TAGS_AARCH64, CUDA_PLATFORM_TAGS_X86_64, CUDA_WHEELS, GPU_WHEELS,
        PinnedCudaWheel, PinnedWheel,
    },
};
use crate::engine::cuda_libs::{CudaLibraries, LIBRARIES, search_dirs};

/// The pinned wheel of a flavour for this machine.
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

/// Platform tags pip may pick the CUDA wheels from, per architecture.
fn cuda_platform_tags(arch: &str) -> &'static [&'static str] {
    match arch {
        "aarch64" => CUDA_PLATFORM_TAGS_AARCH64,
        _ => CUDA_PLATFORM_TAGS_X86_64,
    }
}

/// Creates and locks a flavour's cache folder. The lock serialises
/// provisioning between processes; it is released when dropped.
fn locked_cache_dir(flavour: Flavour) -> Result<(PathBuf, fs::File), ProvisionError> {
    let dir = cache_dir_for(flavour).ok_or(ProvisionError::NoCacheDir)?;
    fs::create_dir_all(&dir).map_err(|source| ProvisionError::Create {
        path: dir.clone(),
        source,
    })?;
    let lock_path = dir.join(".lock");
    let lock = fs::File::create(&lock_path).map_err(|source| ProvisionError::Create {
        path: lock_path.clone(),
        source,
    })?;
    lock.lock().map_err(|source| ProvisionError::Lock {
        path: lock_path.clone(),
        source,
    })?;
    Ok((dir, lock))
}

/// A temporary download folder inside the cache folder `dir`.
fn download_dir_in(dir: &Path) -> Result<tempfile::TempDir, ProvisionError> {
    tempfile::tempdir_in(dir).map_err(|source| ProvisionError::TempDir { source })
}

/// Downloads the pinned CPU wheel with pip, verifies its sha256 and extracts
/// the library into [`super::cache_dir`]. Returns the library path. Safe to
/// call from several processes at once: a file lock serialises them.
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
    let download_dir = download_dir_in(&dir)?;
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
        Err(ProvisionError::LibraryNotInWheel {
            wheel: wheel.file_name,
        }
        .into())
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
    pub cuda_libraries: CudaLibraries,
}

/// The pinned sha256 of a CUDA wheel for `arch`, if there is one.
fn cuda_wheel_sha256(pinned: &PinnedCudaWheel, arch: &str) -> Option<&'static str> {
    pinned
        .hashes
        .iter()
        .find(|(wheel_arch, _)| *wheel_arch == arch)
        .map(|(_, sha256)| *sha256)
}

/// Provisions the GPU flavour: the pinned `onnxruntime-gpu` wheel, plus the
/// pinned `nvidia-*` wheels of every CUDA library (CUPTI included) that is not
/// already found elsewhere (an installed PyTorch, a CUDA toolkit). With
/// `wheel_dir`, pip reads only from that folder (`--no-index`), for machines
/// without network access. Hashes are pinned and checked for every wheel.
pub fn provision_gpu(wheel_dir: Option<&Path>) -> Result<GpuProvisionReport, RuntimeError> {
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
        let Some(sha256) = cuda_wheel_sha256(pinned, arch) else {
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
    let download_dir = download_dir_in(&dir)?;
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
        if let Some(sha256) = cuda_wheel_sha256(pinned, arch) {
            verify_sha256(&wheel_path, sha256)?;
        }
        extract_from_wheel(&wheel_path, &dir, nvidia_library_entry)?;
    }
    if !target.is_file() {
        return Err(ProvisionError::LibraryNotInWheel {
            wheel: wheel.file_name,
        }
        .into());
    }
    Ok(GpuProvisionReport {
        library: target,
        fetched_packages: fetched,
        cuda_libraries: CudaLibraries::search(&search_dirs(Some(&dir))),
    })
}

fn find_file_with_prefix(dir: &Path, prefix: &str) -> Result<PathBuf, ProvisionError> {
    let entries = fs::read_dir(dir).map_err(|source| ProvisionError::List {
        path: dir.to_path_buf(),
        source,
    })?;
    entries
        .filter_map(Result::ok)
        .map(|entry| entry.path())
        .find(|path| {
            path.file_name()
                .and_then(|name| name.to_str())
                .is_some_and(|name| name.starts_with(prefix) && name.ends_with(".whl"))
        })
        .ok_or_else(|| ProvisionError::WheelNotSaved {
            prefix: prefix.to_owned(),
        })
}

/// Runs `pip download` of hash-pinned `requirements` (one per line) for the
/// given platform tags, into `into`. With `wheel_dir`, offline from there.
fn pip_download(
    requirements: &str,
    platform_tags: &[&str],
    into: &Path,
    wheel_dir: Option<&Path>,
) -> Result<(), ProvisionError> {
    let requirements_path = into.join("requirements.txt");
    fs::write(&requirements_path, requirements).map_err(|source| ProvisionError::Write {
        path: requirements_path.clone(),
        source,
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
        .map_err(|source| ProvisionError::RunPip {
            python: python(),
            source,
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
    Err(ProvisionError::PipFailed {
        last_line: last.to_owned(),
    })
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
fn verify_sha256(path: &Path, expected: &str) -> Result<(), ProvisionError> {
    let read_error = |source| ProvisionError::Read {
        path: path.to_path_buf(),
        source,
    };
    let mut file = fs::File::open(path).map_err(read_error)?;
    let mut hasher = Sha256::new();
    std::io::copy(&mut file, &mut hasher).map_err(read_error)?;
    let digest = hex(&hasher.finalize());
    if digest == expected {
        Ok(())
    } else {
        Err(ProvisionError::Sha256Mismatch {
            path: path.to_path_buf(),
            expected: expected.to_owned(),
            actual: digest,
        })
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
) -> Result<(), ProvisionError> {
    let file = fs::File::open(wheel_path).map_err(|source| ProvisionError::Read {
        path: wheel_path.to_path_buf(),
        source,
    })?;
    let mut archive = zip::ZipArchive::new(std::io::BufReader::new(file))
        .map_err(|source| ProvisionError::InvalidZip { source })?;
    for index in 0..archive.len() {
        let mut entry = archive
            .by_index(index)
            .map_err(|source| ProvisionError::ReadWheel { source })?;
        let Ok(name) = entry.name().map(std::borrow::Cow::into_owned) else {
            continue;
        };
        let Some(relative) = select(&name) else {
            continue;
        };
        let target = dir.join(relative);
        let parent = target.parent().unwrap_or(dir);
        fs::create_dir_all(parent).map_err(|source| ProvisionError::Create {
            path: parent.to_path_buf(),
            source,
        })?;
        let mut temp =
            tempfile::NamedTempFile::new_in(parent).map_err(|source| ProvisionError::WriteIn {
                dir: parent.to_path_buf(),
                source,
            })?;
        std::io::copy(&mut entry, &mut temp).map_err(|source| ProvisionError::Extract {
            name: name.clone(),
            source,
        })?;
        temp.persist(&target)
            .map_err(|source| ProvisionError::Persist {
                path: target.clone(),
                source,
            })?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

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
    fn a_wrong_hash_names_both_digests() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("x.whl");
        fs::write(&path, b"abc").expect("write");
        let err = verify_sha256(&path, "00").expect_err("mismatch");
        let message = RuntimeError::from(err).to_string();
        assert!(
            message.starts_with("provisioning ONNX Runtime failed: sha256 mismatch for "),
            "{message}"
        );
        assert!(
            message.ends_with(
                "expected 00, got ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
            ),
            "{message}"
        );
    }
}
