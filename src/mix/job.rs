//! A mix or its scale search on its own thread, for the window: a line
//! saying what it does now, a watch on each run under way (for the live
//! plots), a stop flag, and the document at the end.

use std::{
    sync::{
        Arc, Mutex,
        atomic::{AtomicBool, Ordering},
    },
    thread::JoinHandle,
};

use super::{
    MixDocument, MixError, MixEvent, MixSpec, ScaleDocument, ScaleOptions, run_mix, search_scale,
};
use crate::engine::RunWatch;

/// What a job is doing now.
#[derive(Clone, Default)]
pub struct MixLive {
    /// `solo det`, `mix`, or the scale search's progress line.
    pub phase: String,
    /// The runs under way (the last phase's), by entry name.
    pub runs: Vec<(String, RunWatch)>,
}

/// A mix job on its own thread.
pub struct MixJob<T> {
    thread: Option<JoinHandle<Result<T, MixError>>>,
    stop: Arc<AtomicBool>,
    live: Arc<Mutex<MixLive>>,
}

impl<T: Send + 'static> MixJob<T> {
    fn spawn(
        name: &str,
        work: impl FnOnce(&AtomicBool, &Mutex<MixLive>) -> Result<T, MixError> + Send + 'static,
    ) -> Result<Self, MixError> {
        let stop = Arc::new(AtomicBool::new(false));
        let live = Arc::new(Mutex::new(MixLive::default()));
        let (thread_stop, thread_live) = (Arc::clone(&stop), Arc::clone(&live));
        let thread = std::thread::Builder::new()
            .name(name.to_owned())
            .spawn(crate::field::carried(move || {
                work(&thread_stop, &thread_live)
            }))
            .map_err(|err| MixError::Thread(err.to_string()))?;
        Ok(Self {
            thread: Some(thread),
            stop,
            live,
        })
    }

    /// What it is doing now.
    pub fn live(&self) -> MixLive {
        self.live
            .lock()
            .map(|live| live.clone())
            .unwrap_or_default()
    }

    /// Stops the runs under way (what they measured is kept) and what was
    /// still to come.
    pub fn stop(&self) {
        self.stop.store(true, Ordering::Relaxed);
    }

    pub fn is_finished(&self) -> bool {
        self.thread.as_ref().is_none_or(JoinHandle::is_finished)
    }

    /// Waits for the end; a panic of the thread is an error.
    pub fn join(mut self) -> Result<T, MixError> {
        let thread = self
            .thread
            .take()
            .ok_or_else(|| MixError::Thread("joined twice".to_owned()))?;
        thread
            .join()
            .map_err(|payload| MixError::Thread(crate::util::panic_message(payload.as_ref())))?
    }
}

impl<T> Drop for MixJob<T> {
    fn drop(&mut self) {
        if let Some(thread) = self.thread.take() {
            self.stop.store(true, Ordering::Relaxed);
            let _ = thread.join();
        }
    }
}

fn set(live: &Mutex<MixLive>, change: impl FnOnce(&mut MixLive)) {
    if let Ok(mut live) = live.lock() {
        change(&mut live);
    }
}

/// Starts [`run_mix`] on its own thread.
pub fn start_mix(spec: MixSpec, solo: bool) -> Result<MixJob<MixDocument>, MixError> {
    MixJob::spawn("wb-mix", move |stop, live| {
        let mut events = |event: MixEvent<'_>| match event {
            MixEvent::Phase(phase) => set(live, |live| {
                live.phase = phase.to_owned();
                live.runs.clear();
            }),
            MixEvent::Started(runs) => set(live, |live| live.runs = runs),
        };
        run_mix(&spec, solo, &mut events, stop)
    })
}

/// Starts [`search_scale`] on its own thread.
pub fn start_scale(
    spec: MixSpec,
    options: ScaleOptions,
) -> Result<MixJob<ScaleDocument>, MixError> {
    MixJob::spawn("wb-mix-scale", move |stop, live| {
        let mut progress = |line: &str| set(live, |live| live.phase = line.to_owned());
        search_scale(&spec, &options, &mut progress, stop)
    })
}
