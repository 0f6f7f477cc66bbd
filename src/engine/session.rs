//! Building ONNX Runtime sessions from a [`ProfileConfig`], with execution
//! provider registration that never falls back to CPU silently.

use std::path::Path;

use ort::{ep, session::Session};

use super::{
    config::{ExecutionProviderKind, ProfileConfig},
    cuda_libs,
    error::{EngineError, clean_ort_message},
    runtime::{Flavour, ORT_VERSION, Runtime, cache_dir_for},
};

/// What a model is loaded from.
#[derive(Debug, Clone, Copy)]
pub enum ModelSource<'a> {
    /// A file; external data resolves next to it.
    File(&'a Path),
    /// Serialized bytes (a transformed model).
    Memory(&'a [u8]),
}

impl ModelSource<'_> {
    /// Parses the model the sessions load.
    pub fn parse(self) -> Result<crate::model::Model, crate::model::ModelError> {
        match self {
            Self::File(path) => crate::model::Model::load(path),
            Self::Memory(bytes) => crate::model::Model::from_bytes(bytes, None),
        }
    }
}

/// A model source parsed at most once, on first use: the steps after a
/// profiling pass that read the model (the source mapping of every report,
/// weights for the FLOP counts, the model's own count) share one parse.
pub struct ParsedOnce<'a> {
    source: ModelSource<'a>,
    parsed: std::cell::OnceCell<Result<crate::model::Model, String>>,
}

impl<'a> ParsedOnce<'a> {
    pub fn new(source: ModelSource<'a>) -> Self {
        Self {
            source,
            parsed: std::cell::OnceCell::new(),
        }
    }

    /// Where the model comes from.
    pub fn source(&self) -> ModelSource<'a> {
        self.source
    }

    /// The model, or why it cannot be read.
    pub fn read(&self) -> Result<&crate::model::Model, &str> {
        self.parsed
            .get_or_init(|| self.source.parse().map_err(|err| format!("{err:#}")))
            .as_ref()
            .map_err(String::as_str)
    }

    /// The model; `None` when it cannot be read (the steps that need it are
    /// then left out).
    pub fn get(&self) -> Option<&crate::model::Model> {
        self.read()
            .inspect_err(|err| tracing::debug!("cannot read the model again: {err}"))
            .ok()
    }
}

/// A session and the provider it really runs on.
pub struct BuiltSession {
    pub session: Session,
    pub execution_provider: ExecutionProviderKind,
    /// Set when CUDA was asked for but the session fell back to CPU.
    pub fallback_warning: Option<String>,
}

/// Builds one session. `profiling_prefix` turns on session-level profiling.
pub fn build_session(
    runtime: &Runtime,
    model: ModelSource<'_>,
    config: &ProfileConfig,
    profiling_prefix: Option<&Path>,
) -> Result<BuiltSession, EngineError> {
    build_session_with_output(
        runtime,
        model,
        config,
        profiling_prefix,
        SessionOutputs::default(),
    )
}

/// Files ONNX Runtime writes about a session besides the profile.
#[derive(Debug, Clone, Copy, Default)]
pub struct SessionOutputs<'a> {
    /// The graph it optimized, at the session's optimization level (weights
    /// of 1 KiB and more in a file next to it).
    pub optimized_model: Option<&'a Path>,
    /// Per-node memory statistics (`session.collect_node_memory_stats_to_file`).
    pub node_memory_stats: Option<&'a Path>,
}

/// Like [`build_session`], with ONNX Runtime also writing `outputs`.
pub fn build_session_with_output(
    runtime: &Runtime,
    model: ModelSource<'_>,
    config: &ProfileConfig,
    profiling_prefix: Option<&Path>,
    outputs: SessionOutputs<'_>,
) -> Result<BuiltSession, EngineError> {
    fn session_error<E>(err: E) -> EngineError
    where
        ort::Error: From<E>,
    {
        let source = ort::Error::from(err);
        EngineError::Session {
            message: source.to_string(),
            source: Some(source),
        }
    }
    let mut builder = Session::builder(&runtime.env)
        .map_err(session_error)?
        .with_optimization_level(config.opt_level.to_ort())
        .map_err(session_error)?
        .with_intra_threads(config.intra_threads as usize)
        .map_err(session_error)?
        .with_inter_threads(config.inter_threads as usize)
        .map_err(session_error)?
        .with_parallel_execution(config.parallel_execution)
        .map_err(session_error)?;
    if let Some(prefix) = profiling_prefix {
        builder = builder.with_profiling(prefix).map_err(session_error)?;
    }
    if let Some(path) = outputs.node_memory_stats {
        builder = builder
            .with_config_entry(
                "session.collect_node_memory_stats_to_file",
                path.to_string_lossy(),
            )
            .map_err(session_error)?;
    }
    if let Some(path) = outputs.optimized_model {
        builder = builder
            .with_optimized_model_path(path)
            .map_err(session_error)?
            .with_config_entry(
                "session.optimized_model_external_initializers_file_name",
                "optimized.weights",
            )
            .map_err(session_error)?
            .with_config_entry(
                "session.optimized_model_external_initializers_min_size_in_bytes",
                "1024",
            )
            .map_err(session_error)?;
    }
    let mut execution_provider = ExecutionProviderKind::Cpu;
    let mut fallback_warning = None;
    if config.execution_provider == ExecutionProviderKind::Cuda {
        let registered = match cuda_prerequisites(runtime) {
            Err(reason) => Err((reason.to_string(), builder)),
            Ok(()) => {
                let cuda = ep::CUDA::default()
                    .with_device_id(config.device_id)
                    .with_conv_algorithm_search(config.cuda.conv_algo_search.to_ort())
                    .with_cuda_graph(config.cuda.cuda_graph)
                    .build()
                    .error_on_failure();
                builder.with_execution_providers([cuda]).map_err(|err| {
                    (
                        cuda_failure_reason(err.message(), &runtime.library_path),
                        err.recover(),
                    )
                })
            }
        };
        match registered {
            Ok(with_cuda) => {
                builder = with_cuda;
                execution_provider = ExecutionProviderKind::Cuda;
            }
            Err((reason, recovered)) => {
                if !config.allow_fallback {
                    return Err(EngineError::CudaUnavailable { reason });
                }
                fallback_warning = Some(format!(
                    "CUDA was requested but could not be registered, so this run uses the CPU ({}): {reason}",
                    crate::field::Field::AllowFallback
                ));
                builder = recovered;
            }
        }
    }
    let session = match model {
        ModelSource::File(path) => builder.commit_from_file(path),
        ModelSource::Memory(bytes) => builder.commit_from_memory(bytes),
    }
    .map_err(|err| EngineError::Session {
        message: clean_ort_message(err.message()),
        source: Some(err),
    })?;
    Ok(BuiltSession {
        session,
        execution_provider,
        fallback_warning,
    })
}

/// Why CUDA cannot be registered, found before ONNX Runtime is asked.
#[derive(Debug, thiserror::Error)]
enum CudaPrerequisiteError {
    #[error(
        "the loaded ONNX Runtime ({}) is the CPU build, which has no CUDA provider; \
         run `onnx-workbench setup --gpu` to fetch the GPU build (onnxruntime-gpu {ORT_VERSION}) \
         and the CUDA 13 libraries it needs",
        library.display()
    )]
    CpuBuild { library: std::path::PathBuf },
    #[error(
        "CUDA 13 libraries are missing: {missing}. Run `onnx-workbench setup --gpu` to fetch them, \
         or point {} at the folders that hold them",
        cuda_libs::ENV_CUDA_LIBS
    )]
    MissingLibraries { missing: String },
    #[error("{soname} was found but could not be loaded: {reason}")]
    LoadFailed { soname: String, reason: String },
}

/// Checks what can be checked before registering CUDA: the runtime is the GPU
/// build, and the CUDA and cuDNN libraries are found and loaded.
fn cuda_prerequisites(runtime: &Runtime) -> Result<(), CudaPrerequisiteError> {
    if runtime.flavour == Flavour::Cpu {
        return Err(CudaPrerequisiteError::CpuBuild {
            library: runtime.library_path.clone(),
        });
    }
    let loaded = cuda_libs::ensure_loaded(cache_dir_for(Flavour::Gpu).as_deref());
    let libraries = &loaded.libraries;
    if !libraries.provider_ready() {
        return Err(CudaPrerequisiteError::MissingLibraries {
            missing: libraries.describe_missing(),
        });
    }
    if let Some((soname, reason)) = loaded
        .failed
        .iter()
        .find(|(soname, _)| !soname.starts_with("libcupti"))
    {
        return Err(CudaPrerequisiteError::LoadFailed {
            soname: soname.clone(),
            reason: reason.to_string(),
        });
    }
    Ok(())
}

/// Explains a CUDA registration failure, naming the missing library when ONNX
/// Runtime's message does.
fn cuda_failure_reason(message: &str, library_path: &Path) -> String {
    let mut reason = message.trim().to_owned();
    let missing = message
        .find("cannot open shared object file")
        .and_then(|at| message.get(..at))
        .and_then(|before| {
            before
                .split_whitespace()
                .rev()
                .find(|word| word.contains(".so"))
        });
    if let Some(missing) = missing {
        let missing = missing.trim_end_matches(':');
        reason = format!("{reason} (first missing library: {missing})");
        if missing.starts_with(cuda_libs::DRIVER_LIBRARY) {
            reason.push_str(
                "; libcuda.so.1 belongs to the NVIDIA driver, so no NVIDIA driver is installed on this machine",
            );
        }
    }
    let is_cpu_build = library_path
        .parent()
        .is_some_and(|dir| !dir.join("libonnxruntime_providers_cuda.so").exists());
    if is_cpu_build {
        reason.push_str(&format!(
            "; the loaded ONNX Runtime ({}) is the CPU build, which has no CUDA provider library",
            library_path.display()
        ));
    }
    reason
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cuda_reason_names_the_missing_library() {
        let message = "Failed to load libonnxruntime_providers_cuda.so with error: libcublasLt.so.13: cannot open shared object file: No such file or directory";
        let reason = cuda_failure_reason(message, Path::new("/nonexistent/libonnxruntime.so"));
        assert!(
            reason.contains("first missing library: libcublasLt.so.13"),
            "{reason}"
        );
        assert!(reason.contains("CPU build"), "{reason}");
        let driver = "Failed to load libonnxruntime_providers_cuda.so with error: libcuda.so.1: cannot open shared object file: No such file or directory";
        let reason = cuda_failure_reason(driver, Path::new("/nonexistent/libonnxruntime.so"));
        assert!(reason.contains("no NVIDIA driver"), "{reason}");
    }
}
