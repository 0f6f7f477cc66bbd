//! Why a run, or a transform checked in ONNX Runtime, went wrong. The two
//! errors hold each other (a checked transform fails on a session error;
//! a run fails on its transform), so they live together.

use super::{
    inputs::{self, InputError},
    model_ref, runtime,
};
use crate::field::Field;
use crate::transform::{BudgetError, TransformError};

impl EngineError {
    /// A session error with no ONNX Runtime error behind it.
    pub fn session(message: impl Into<String>) -> Self {
        Self::Session {
            message: message.into(),
            source: None,
        }
    }
}

/// Why a run could not start or went wrong as a whole.
#[derive(Debug, thiserror::Error)]
pub enum EngineError {
    #[error(transparent)]
    Runtime(#[from] runtime::RuntimeError),
    #[error("invalid configuration: {0}")]
    Config(#[from] super::config::ConfigError),
    #[error(transparent)]
    Model(#[from] crate::model::ModelError),
    #[error("the model file {what} while the run was starting: {}; run again to use the new file", path.display())]
    ModelChanged {
        path: std::path::PathBuf,
        what: &'static str,
    },
    #[error("ONNX Runtime could not create a session for this model: {message}")]
    Session {
        /// ONNX Runtime's message, or what went wrong without one.
        message: String,
        #[source]
        source: Option<ort::Error>,
    },
    #[error(
        "the CUDA execution provider could not be registered: {reason}. \
         Choose the CPU with {}, or {} to run on the CPU with a warning.",
        Field::ExecutionProvider,
        Field::AllowFallback
    )]
    CudaUnavailable { reason: String },
    #[error(transparent)]
    Inputs(#[from] inputs::InputError),
    #[error(transparent)]
    NoModel(#[from] model_ref::NoModel),
    #[error("{generate}: {0}", generate = Field::Generate)]
    Generation(String),
    #[error("transform failed: {0}")]
    Transform(#[from] VerifyError),
    #[error(
        "the first inference failed, so the load was not started: {}",
        clean_ort_message(.0.message())
    )]
    FirstRun(#[source] ort::Error),
    #[error("could not start a thread: {0}")]
    Thread(#[source] std::io::Error),
    #[error("the run controller panicked: {0}")]
    Panicked(String),
}

/// Why a checked transform failed.
#[derive(Debug, thiserror::Error)]
pub enum VerifyError {
    /// The rewrite itself failed.
    #[error(transparent)]
    Transform(#[from] TransformError),
    /// The accuracy budget could not be met or searched.
    #[error(transparent)]
    Budget(#[from] BudgetError),
    /// ONNX Runtime could not be loaded, or could not load or run a model.
    #[error("ONNX Runtime: {0:#}")]
    Runtime(#[source] Box<EngineError>),
    /// The next-token comparison of a decoder could not run.
    #[error("the next-token comparison failed: {0}")]
    NextToken(String),
    /// ONNX Runtime rejected the transformed model.
    #[error("ONNX Runtime rejected the transformed model: {message}")]
    Rejected {
        /// ONNX Runtime's message.
        message: String,
        #[source]
        source: Option<ort::Error>,
    },
    /// A tensor could not be handed to ONNX Runtime, or an inference failed.
    #[error("ONNX Runtime: {message}")]
    Run {
        /// ONNX Runtime's message.
        message: String,
        #[source]
        source: ort::Error,
    },
    /// An output of the transformed model has another size than the original's.
    #[error(
        "ONNX Runtime: output {name:?} has {after} elements after the transform, {before} before"
    )]
    OutputSize {
        /// Output name.
        name: String,
        /// Elements before the transform.
        before: usize,
        /// Elements after the transform.
        after: usize,
    },
    /// The evaluation inputs could not be built (files, dims, dtypes).
    #[error("accuracy inputs: {0}")]
    Inputs(#[from] InputError),
    /// The labels do not fit the model's outputs or the evaluated rows.
    #[error("{} {}: {problem}", Field::Labels, path.display())]
    Labels {
        /// The labels file.
        path: std::path::PathBuf,
        /// What does not fit.
        problem: String,
    },
    /// A model output could not be read.
    #[error("ONNX Runtime: output {name:?} is {problem}")]
    Output {
        /// Output name.
        name: String,
        /// What is wrong with it, e.g. `missing`.
        problem: &'static str,
    },
}

impl From<EngineError> for VerifyError {
    fn from(err: EngineError) -> Self {
        Self::Runtime(Box::new(err))
    }
}

impl From<runtime::RuntimeError> for VerifyError {
    fn from(err: runtime::RuntimeError) -> Self {
        Self::Runtime(Box::new(EngineError::Runtime(err)))
    }
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
}
