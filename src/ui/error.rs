//! The error type of the UI: what a background task of the app can end with.
//! Each variant keeps the error it came from as its source; the text shown
//! to the user is the error's display.

use super::tasks::TaskError;
use crate::{engine::runtime::RuntimeError, model::ModelError, session::SessionError};

/// Why a piece of background work of the app failed.
#[derive(Debug, thiserror::Error)]
pub enum UiError {
    /// The task did not start, or it panicked.
    #[error(transparent)]
    Task(#[from] TaskError),
    /// ONNX Runtime could not be found or loaded.
    #[error(transparent)]
    Runtime(#[from] RuntimeError),
    /// The model could not be read.
    #[error(transparent)]
    Model(#[from] ModelError),
    /// A saved session could not be read.
    #[error(transparent)]
    OpenSession(SessionError),
    /// The shown session could not be written.
    #[error("Export failed: {0}")]
    Export(#[source] SessionError),
    /// The annotated model could not be written.
    #[error("Export of the annotated model failed: {0}")]
    Annotate(#[source] crate::session::annotate::AnnotateError),
}

/// Joins the result of a task with the result of its work.
pub fn flatten<T, E: Into<UiError>>(result: Result<Result<T, E>, TaskError>) -> Result<T, UiError> {
    result?.map_err(Into::into)
}
