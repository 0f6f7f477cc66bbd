//! Building ONNX Runtime sessions from a [`ProfileConfig`], with execution
//! provider registration that never falls back to CPU silently.

use std::path::Path;

use ort::{ep, session::Session};

use super::{
    EngineError,
    config::{ExecutionProviderKind, ProfileConfig},
    runtime::Runtime,
};

/// What a model is loaded from.
#[derive(Debug, Clone, Copy)]
pub enum ModelSource<'a> {
    /// A file; external data resolves next to it.
    File(&'a Path),
    /// Serialized bytes (a transformed model).
    Memory(&'a [u8]),
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
    let session_error = |err: &dyn std::fmt::Display| EngineError::Session(err.to_string());
    let mut builder = Session::builder(&runtime.env)
        .map_err(|err| session_error(&err))?
        .with_optimization_level(config.opt_level.to_ort())
        .map_err(|err| session_error(&err))?
        .with_intra_threads(config.intra_threads as usize)
        .map_err(|err| session_error(&err))?
        .with_inter_threads(config.inter_threads as usize)
        .map_err(|err| session_error(&err))?
        .with_parallel_execution(config.parallel_execution)
        .map_err(|err| session_error(&err))?;
    if let Some(prefix) = profiling_prefix {
        builder = builder
            .with_profiling(prefix)
            .map_err(|err| session_error(&err))?;
    }
    let mut execution_provider = ExecutionProviderKind::Cpu;
    let mut fallback_warning = None;
    if config.execution_provider == ExecutionProviderKind::Cuda {
        let cuda = ep::CUDA::default()
            .with_device_id(config.device_id)
            .build()
            .error_on_failure();
        match builder.with_execution_providers([cuda]) {
            Ok(with_cuda) => {
                builder = with_cuda;
                execution_provider = ExecutionProviderKind::Cuda;
            }
            Err(err) => {
                let reason = cuda_failure_reason(err.message(), &runtime.library_path);
                if !config.allow_fallback {
                    return Err(EngineError::CudaUnavailable { reason });
                }
                fallback_warning = Some(format!(
                    "CUDA was requested but could not be registered, so this run uses the CPU (--allow-fallback): {reason}"
                ));
                builder = err.recover();
            }
        }
    }
    let session = match model {
        ModelSource::File(path) => builder.commit_from_file(path),
        ModelSource::Memory(bytes) => builder.commit_from_memory(bytes),
    }
    .map_err(|err| EngineError::Session(clean_ort_message(err.message())))?;
    Ok(BuiltSession {
        session,
        execution_provider,
        fallback_warning,
    })
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
        reason = format!(
            "{reason} (first missing library: {})",
            missing.trim_end_matches(':')
        );
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

/// ONNX Runtime prefixes messages with `[ONNXRuntimeError] : 10 : INVALID_GRAPH :`;
/// keep the category, drop the numeric code.
pub fn clean_ort_message(message: &str) -> String {
    let trimmed = message.trim();
    let Some(rest) = trimmed.strip_prefix("[ONNXRuntimeError] :") else {
        return trimmed.to_owned();
    };
    let mut parts = rest.splitn(3, ':');
    let _code = parts.next();
    match (parts.next(), parts.next()) {
        (Some(category), Some(detail)) => format!("{}: {}", category.trim(), detail.trim()),
        _ => trimmed.to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ort_messages_lose_their_numeric_prefix() {
        let message = "[ONNXRuntimeError] : 10 : INVALID_GRAPH : Load model failed: No Op registered for NoSuchOp";
        assert_eq!(
            clean_ort_message(message),
            "INVALID_GRAPH: Load model failed: No Op registered for NoSuchOp"
        );
        assert_eq!(clean_ort_message("plain"), "plain");
    }

    #[test]
    fn cuda_reason_names_the_missing_library() {
        let message = "Failed to load libonnxruntime_providers_cuda.so with error: libcublasLt.so.13: cannot open shared object file: No such file or directory";
        let reason = cuda_failure_reason(message, Path::new("/nonexistent/libonnxruntime.so"));
        assert!(
            reason.contains("first missing library: libcublasLt.so.13"),
            "{reason}"
        );
        assert!(reason.contains("CPU build"), "{reason}");
    }
}
