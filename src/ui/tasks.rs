//! Background work for the UI: a named thread whose result the UI polls once
//! per frame. A panic in the thread becomes an error message.

use std::thread::JoinHandle;

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
    ) -> Result<Self, String> {
        let handle = std::thread::Builder::new()
            .name("wb-ui-task".to_owned())
            .spawn(work)
            .map_err(|err| format!("could not start a background thread: {err}"))?;
        Ok(Self {
            label: label.into(),
            handle: Some(handle),
        })
    }

    /// The result once the work is done; `Err` if it panicked.
    pub fn poll(&mut self) -> Option<Result<T, String>> {
        if !self.handle.as_ref().is_some_and(JoinHandle::is_finished) {
            return None;
        }
        let handle = self.handle.take()?;
        Some(handle.join().map_err(|payload| {
            let message = crate::util::panic_message(payload.as_ref());
            format!("{} failed unexpectedly (a bug): {message}", self.label)
        }))
    }

    /// Waits for the result (tests).
    #[cfg(test)]
    pub fn wait(mut self) -> Result<T, String> {
        while self
            .handle
            .as_ref()
            .is_some_and(|handle| !handle.is_finished())
        {
            std::thread::sleep(std::time::Duration::from_millis(5));
        }
        self.poll()
            .unwrap_or_else(|| Err("the task was already collected".to_owned()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn results_and_panics_come_back() {
        let task = Task::spawn("adding", || 2 + 2).expect("spawn");
        assert_eq!(task.wait(), Ok(4));
        let task: Task<()> = Task::spawn("exploding", || panic!("boom")).expect("spawn");
        let err = task.wait().expect_err("panic");
        assert!(err.contains("exploding") && err.contains("boom"), "{err}");
    }
}
