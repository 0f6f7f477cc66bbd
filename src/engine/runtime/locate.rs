//! Finding the library on disk, in the order the module docs of
//! [`super`] give: `ORT_DYLIB_PATH`, the cache, an installed Python package,
//! and provisioning as the last resort.

use std::{
    fmt::Write as _,
    path::{Path, PathBuf},
    process::Command,
};

use super::{
    error::RuntimeError,
    library::{
        ENV_CACHE_DIR, ENV_DYLIB_PATH, Flavour, LIB_FILE_NAME, LibrarySource, ORT_VERSION,
        cache_dir_for, python,
    },
    provision::{provision, provision_gpu},
};

/// Why an installed `onnxruntime` Python package cannot be used.
#[derive(Debug, thiserror::Error)]
pub enum PackageError {
    #[error("could not run {python}: {source}")]
    RunPython {
        python: String,
        #[source]
        source: std::io::Error,
    },
    #[error("not installed")]
    NotInstalled,
    #[error("version {installed} installed, {ORT_VERSION} needed")]
    WrongVersion { installed: String },
    #[error("no {LIB_FILE_NAME} in {}", path.display())]
    NoLibrary { path: PathBuf },
}

/// Finds the library without loading it, provisioning it if needed.
pub fn locate_or_provision() -> Result<(PathBuf, LibrarySource), RuntimeError> {
    let mut attempts = String::new();
    if let Some(path) = std::env::var_os(ENV_DYLIB_PATH) {
        let path = PathBuf::from(path);
        if path.is_file() {
            return Ok((path, LibrarySource::EnvOverride));
        }
        return Err(RuntimeError::DylibPathMissing { path });
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
            // Each failed step is one line of the report the user sees.
            let _ = writeln!(
                attempts,
                "- pip download of {}=={ORT_VERSION}: {err}",
                flavour.distribution()
            );
            Err(RuntimeError::NotFound { attempts })
        }
    }
}

/// Looks for an installed `onnxruntime` (or `onnxruntime-gpu`) package of
/// exactly [`ORT_VERSION`]; with `wanted`, only that flavour's distribution.
fn python_package_library(wanted: Option<Flavour>) -> Result<PathBuf, PackageError> {
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
        .map_err(|source| PackageError::RunPython {
            python: python(),
            source,
        })?;
    if !output.status.success() {
        return Err(PackageError::NotInstalled);
    }
    let stdout = String::from_utf8_lossy(&output.stdout);
    let mut lines = stdout.lines();
    let version = lines.next().unwrap_or_default().trim();
    let package_dir = lines.next().unwrap_or_default().trim();
    if version.is_empty() || package_dir.is_empty() {
        return Err(PackageError::NotInstalled);
    }
    if version != ORT_VERSION {
        return Err(PackageError::WrongVersion {
            installed: version.to_owned(),
        });
    }
    let path = Path::new(package_dir).join("capi").join(LIB_FILE_NAME);
    if path.is_file() {
        Ok(path)
    } else {
        Err(PackageError::NoLibrary { path })
    }
}
