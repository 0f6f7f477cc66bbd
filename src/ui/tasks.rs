//! Background work for the UI: a named thread whose result the UI polls once
//! per frame. A panic in the thread becomes a [`TaskError`], shown as an
//! error message.

use std::thread::JoinHandle;

/// A background task could not start, or panicked.
#[derive(Debug, thiserror::Error)]
pub enum TaskError {
    /// The operating system refused a new thread.
    #[error("could not start a background thread: {source}")]
    Spawn {
        #[source]
        source: std::io::Error,
    },
    /// The work panicked (a bug); `message` is the panic payload.
    #[error("{label} failed unexpectedly (a bug): {message}")]
    Panicked { label: String, message: String },
}

/// A piece of work running off the UI thread.
pub struct Task<T> {
    /// What the user sees while it runs.
    pub label: String,
    handle: Option<JoinHandle<T>>,
}

impl<T: Send + 'static> Task<T> {
    /// Starts `work` on a thread named `wb-ui-task`.
    pub fn spawn(
        label: impl Into<String>,
        work: impl FnOnce() -> T + Send + 'static,
    ) -> Result<Self, TaskError> {
        let handle = std::thread::Builder::new()
            .name("wb-ui-task".to_owned())
            .spawn(crate::field::carried(work))
            .map_err(|source| TaskError::Spawn { source })?;
        Ok(Self {
            label: label.into(),
            handle: Some(handle),
        })
    }

    /// The result once the work is done; `Err` if it panicked.
    pub fn poll(&mut self) -> Option<Result<T, TaskError>> {
        if !self.handle.as_ref().is_some_and(JoinHandle::is_finished) {
            return None;
        }
        let handle = self.handle.take()?;
        Some(handle.join().map_err(|payload| TaskError::Panicked {
            label: self.label.clone(),
            message: crate::util::panic_message(payload.as_ref()),
        }))
    }

    /// Waits for the result (tests).
    #[cfg(test)]
    pub fn wait(mut self) -> Result<T, TaskError> {
        loop {
            if let Some(result) = self.poll() {
                return result;
            }
            std::thread::sleep(std::time::Duration::from_millis(5));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn results_and_panics_come_back() {
        let task = Task::spawn("adding", || 2 + 2).expect("spawn");
        assert_eq!(task.wait().expect("result"), 4);
        let task: Task<()> = Task::spawn("exploding", || panic!("boom")).expect("spawn");
        let err = task.wait().expect_err("panic");
        assert!(matches!(err, TaskError::Panicked { .. }), "{err:?}");
        let text = err.to_string();
        assert_eq!(text, "exploding failed unexpectedly (a bug): boom");
    }
}
