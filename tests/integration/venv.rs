//! Python virtual environments the remote-target tests serve fixtures from
//! (`.venv-kserve`, `.venv-triton`): taken from an environment variable
//! when set, else created in the repository on first use (`python -m venv`,
//! then pip installs the pinned requirements from PyPI), as `.ci/run` does.
//! Where that cannot be done (no network, no venv module) the tests say why
//! and pass, except in CI (`CI` set), where they fail.

use std::{
    collections::HashMap,
    path::PathBuf,
    process::{Command, Stdio},
    sync::Mutex,
};

use super::repo_path;

/// One fixture's environment.
pub struct Venv {
    /// Folder under the repository root, e.g. `.venv-kserve`.
    pub dir: &'static str,
    /// Overrides the interpreter, e.g. `ONNX_WORKBENCH_KSERVE_PYTHON`.
    pub env_var: &'static str,
    /// The interpreters to create it from, first found first.
    pub base_pythons: &'static [&'static str],
    /// Requirements file under the repository root.
    pub requirements: &'static str,
    /// Modules the environment must import.
    pub imports: &'static str,
}

impl Venv {
    /// The Python of this environment, or why there is none.
    pub fn python(&self) -> Result<PathBuf, String> {
        let configured = std::env::var_os(self.env_var).map(PathBuf::from);
        let own = repo_path(&format!("{}/bin/python", self.dir));
        if configured.is_none() && !own.exists() {
            self.provision()?;
        }
        let python = configured.unwrap_or(own);
        if !python.exists() {
            return Err(format!(
                "{} does not exist (set {} or run .ci/run)",
                python.display(),
                self.env_var
            ));
        }
        let ok = Command::new(&python)
            .args(["-c", &format!("import {}", self.imports)])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status()
            .is_ok_and(|status| status.success());
        if ok {
            Ok(python)
        } else {
            Err(format!(
                "{} cannot import {}",
                python.display(),
                self.imports
            ))
        }
    }

    /// The Python, or `None` (with the reason printed) outside CI.
    pub fn python_or_skip(&self, what: &str) -> Option<PathBuf> {
        match self.python() {
            Ok(python) => Some(python),
            Err(reason) if std::env::var_os("CI").is_none() => {
                eprintln!("skipping {what}: {reason}");
                None
            }
            Err(reason) => panic!("CI must provide {}: {reason}", self.dir),
        }
    }

    /// Creates the environment, once per test process (the tests run in
    /// parallel).
    fn provision(&self) -> Result<(), String> {
        static PROVISIONED: Mutex<Option<HashMap<&'static str, Result<(), String>>>> =
            Mutex::new(None);
        let mut done = PROVISIONED
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        let done = done.get_or_insert_with(HashMap::new);
        if let Some(result) = done.get(self.dir) {
            return result.clone();
        }
        let venv = repo_path(self.dir);
        let run = |command: &mut Command| -> Result<(), String> {
            let output = command
                .output()
                .map_err(|err| format!("cannot run {command:?}: {err}"))?;
            if output.status.success() {
                Ok(())
            } else {
                Err(format!(
                    "{command:?} failed: {}",
                    String::from_utf8_lossy(&output.stderr)
                ))
            }
        };
        let base = self
            .base_pythons
            .iter()
            .find(|python| !python.starts_with('/') || std::path::Path::new(python).exists())
            .copied()
            .unwrap_or("python3");
        eprintln!("creating {} from PyPI (about a minute)", venv.display());
        let result = run(Command::new(base).args(["-m", "venv"]).arg(&venv)).and_then(|()| {
            run(Command::new(venv.join("bin/python"))
                .args(["-m", "pip", "install", "-q", "-r"])
                .arg(repo_path(self.requirements)))
        });
        done.insert(self.dir, result.clone());
        result
    }
}

/// KServe's Python ModelServer (`tests/remote/onnx_model_server.py`).
pub const KSERVE: Venv = Venv {
    dir: ".venv-kserve",
    env_var: "ONNX_WORKBENCH_KSERVE_PYTHON",
    base_pythons: &["python3"],
    requirements: "tests/remote/requirements.txt",
    imports: "kserve, onnxruntime",
};

/// PyTriton's bundled Triton Inference Server (`tests/remote/
/// triton_server.py`). Built from Debian's python3.11: with a pyenv 3.11.7
/// interpreter the python-backend stub fails at model load.
pub const TRITON: Venv = Venv {
    dir: ".venv-triton",
    env_var: "ONNX_WORKBENCH_TRITON_PYTHON",
    base_pythons: &["/usr/bin/python3.11", "python3"],
    requirements: "tests/remote/triton-requirements.txt",
    imports: "pytriton, onnxruntime",
};

/// The `onnx` wheel, for the published models its backend tests ship
/// (`tests/integration/model_zoo.rs`).
pub const ONNX: Venv = Venv {
    dir: ".venv-onnx",
    env_var: "ONNX_WORKBENCH_ONNX_PYTHON",
    base_pythons: &["python3"],
    requirements: "tests/data/models/requirements.txt",
    imports: "onnx",
};
