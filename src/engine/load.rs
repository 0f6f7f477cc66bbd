//! The load generator: worker threads that call `Session::run` back to back
//! (closed loop) or serve a schedule (open loop), and the dispatcher that
//! produces the open-loop schedule.
//!
//! The hot path is: read the clock, run, read the clock, push a [`Sample`]
//! into a local buffer. Buffers are handed to the aggregator with `try_send`
//! every [`FLUSH_SAMPLES`] samples or [`FLUSH_INTERVAL_NANOS`]; if the channel
//! is full the batch is dropped and counted, never waited for.
//!
//! `Session::run` takes `&mut self`, so a session serves one request at a
//! time. With as many instances as workers each worker owns its session and
//! nothing is shared. With fewer, workers borrow sessions from a pool (a
//! bounded channel of sessions); time spent waiting for one is queue time.

use std::{
    path::{Path, PathBuf},
    sync::{
        Arc,
        atomic::{AtomicU64, Ordering},
    },
    time::{Duration, Instant},
};

use crossbeam_channel::{Receiver, RecvTimeoutError, Sender, TrySendError};
use ort::{
    session::{IoBinding, RunOptions, Session, SessionInputValue},
    value::DynValue,
};
use rand::SeedableRng as _;

use rand_distr::{Distribution as _, Exp};

use super::{config::Arrival, session::clean_ort_message};
use crate::metrics::{RunShared, Sample};

/// Samples buffered by a worker before a flush.
pub const FLUSH_SAMPLES: usize = 512;
/// Longest time a worker keeps samples before a flush.
pub const FLUSH_INTERVAL_NANOS: u64 = 50_000_000;
/// Poll interval for blocking waits, so stop requests are seen promptly.
pub(crate) const POLL: Duration = Duration::from_millis(20);

/// Why one request of a worker failed. Failed requests are data: the
/// message is counted and kept by [`RunShared::record_error`].
#[derive(Debug, thiserror::Error)]
pub enum LoadError {
    /// ONNX Runtime failed the inference (or aborted it on stop).
    #[error("{}", clean_ort_message(.0.message()))]
    Run(#[source] ort::Error),
    /// The run options of a profiled run could not be created.
    #[error("{0}")]
    ProfiledOptions(#[source] ort::Error),
    /// A request to a remote server failed.
    #[error("{0}")]
    Remote(#[source] super::remote::RemoteError),
}

/// Where a worker gets its session.
pub enum SessionSlot {
    /// The worker owns a session.
    Owned(Box<Session>),
    /// Sessions are borrowed from a shared pool.
    Pooled {
        /// Where a free session is taken from.
        take: Receiver<Session>,
        /// Where it goes back after the request.
        give_back: Sender<Session>,
    },
    /// Requests go to an inference server (the worker's `inputs` are then
    /// empty per variant; the executor holds the encoded requests).
    Remote(Box<super::remote::RemoteExecutor>),
}

/// Where a worker gets its requests.
pub enum RequestSource {
    /// Closed loop: the next request right after the last one returns.
    Closed,
    /// Open loop: scheduled send times from the dispatcher.
    Open(Receiver<u64>),
}

/// Run-level profiling of every `every`-th run of a worker.
#[derive(Debug, Clone)]
pub struct SampledProfiling {
    /// Profile one run in this many.
    pub every: u32,
    /// Where ONNX Runtime writes the run profiles.
    pub dir: PathBuf,
    /// Receives `(file prefix, end nanos)` of each profiled run.
    pub files: Sender<(PathBuf, u64)>,
}

/// Everything one worker needs.
pub struct Worker {
    /// The worker's number, recorded in each sample.
    pub index: u16,
    /// Its own session, or the pool it borrows from.
    pub slot: SessionSlot,
    /// Closed or open loop.
    pub requests: RequestSource,
    /// Input values per variant, in the session's input order.
    pub inputs: Vec<Vec<DynValue>>,
    /// Stop flag, measure window and error log of the run.
    pub shared: Arc<RunShared>,
    /// Batches of samples for the aggregator.
    pub samples: Sender<Vec<Sample>>,
    /// Time zero of the run; samples are in nanos from it.
    pub epoch: Instant,
    /// Shared counter of measured requests issued, with the limit.
    pub request_limit: Option<(Arc<AtomicU64>, u64)>,
    /// Lets the controller abort in-flight runs on stop.
    pub run_options: Arc<RunOptions>,
    /// Run-level profiling of some runs, in sampled mode.
    pub sampled_profiling: Option<SampledProfiling>,
    /// With I/O binding: one binding per input variant of this worker's own
    /// session (empty otherwise).
    pub bindings: Vec<IoBinding>,
}

#[inline]
pub(crate) fn nanos_since(epoch: Instant) -> u64 {
    u64::try_from(epoch.elapsed().as_nanos()).unwrap_or(u64::MAX)
}

impl Worker {
    /// Runs until the shared stop flag is set (or the request limit is hit).
    pub fn run(mut self) {
        let views: Vec<Vec<SessionInputValue<'_>>> = self
            .inputs
            .iter()
            .map(|variant| variant.iter().map(SessionInputValue::from).collect())
            .collect();
        if views.is_empty() {
            return;
        }
        let mut buffer: Vec<Sample> = Vec::with_capacity(FLUSH_SAMPLES);
        let mut last_flush = nanos_since(self.epoch);
        let mut run_count: u64 = 0;
        let measure_start = self.shared.measure_start_nanos.load(Ordering::Relaxed);
        loop {
            if self.shared.is_stopping() {
                break;
            }
            let scheduled = match &self.requests {
                RequestSource::Closed => nanos_since(self.epoch),
                RequestSource::Open(schedule) => match schedule.recv_timeout(POLL) {
                    Ok(scheduled) => scheduled,
                    Err(RecvTimeoutError::Timeout) => continue,
                    Err(RecvTimeoutError::Disconnected) => break,
                },
            };
            if scheduled >= measure_start
                && let Some((issued, limit)) = &self.request_limit
                && issued.fetch_add(1, Ordering::Relaxed) >= *limit
            {
                self.shared.stop.store(true, Ordering::Relaxed);
                break;
            }
            let variant_index = (run_count % views.len() as u64) as usize;
            let variant = &views[variant_index];
            let profile_prefix = self.sampled_profiling.as_ref().and_then(|sampling| {
                let every = u64::from(sampling.every.max(1));
                (run_count % every == every - 1)
                    .then(|| sampling.dir.join(format!("w{}_r{run_count}", self.index)))
            });
            run_count += 1;

            let (start, end, result) = match &mut self.slot {
                SessionSlot::Owned(session) => {
                    let start = nanos_since(self.epoch);
                    let result = match self.bindings.get(variant_index) {
                        Some(binding) => run_bound(
                            session,
                            binding,
                            &self.run_options,
                            profile_prefix.as_deref(),
                        ),
                        None => run_once(
                            session,
                            variant,
                            &self.run_options,
                            profile_prefix.as_deref(),
                        ),
                    };
                    (start, nanos_since(self.epoch), result)
                }
                SessionSlot::Pooled { take, give_back } => {
                    let Some(mut session) = acquire(take, &self.shared) else {
                        break;
                    };
                    let start = nanos_since(self.epoch);
                    let result = run_once(
                        &mut session,
                        variant,
                        &self.run_options,
                        profile_prefix.as_deref(),
                    );
                    let end = nanos_since(self.epoch);
                    let _ = give_back.send(session);
                    (start, end, result)
                }
                SessionSlot::Remote(executor) => {
                    let start = nanos_since(self.epoch);
                    let result = executor
                        .run(variant_index, &self.shared, start)
                        .map_err(LoadError::Remote);
                    (start, nanos_since(self.epoch), result)
                }
            };

            let is_ok = match result {
                Ok(()) => true,
                Err(_) if self.shared.is_stopping() => {
                    // A run aborted by the stop request is not a failure of the model.
                    continue;
                }
                Err(err) => {
                    self.shared.record_error(|| err.to_string());
                    false
                }
            };
            let is_profiled = profile_prefix.is_some();
            if let (Some(prefix), Some(sampling)) = (profile_prefix, &self.sampled_profiling)
                && is_ok
            {
                let _ = sampling.files.try_send((prefix, end));
            }
            buffer.push(Sample {
                scheduled_nanos: scheduled,
                start_nanos: start,
                end_nanos: end,
                worker: self.index,
                is_ok,
                is_profiled,
                batch_rows: 0,
                is_batch_lead: false,
            });
            if buffer.len() >= FLUSH_SAMPLES
                || end.saturating_sub(last_flush) >= FLUSH_INTERVAL_NANOS
            {
                self.flush(&mut buffer);
                last_flush = end;
            }
        }
        self.flush(&mut buffer);
    }

    fn flush(&self, buffer: &mut Vec<Sample>) {
        flush_samples(&self.samples, &self.shared, buffer);
    }
}

/// Hands buffered samples to the aggregator without waiting: a full channel
/// drops them and counts them.
pub(crate) fn flush_samples(
    samples: &Sender<Vec<Sample>>,
    shared: &RunShared,
    buffer: &mut Vec<Sample>,
) {
    if buffer.is_empty() {
        return;
    }
    let batch = std::mem::replace(buffer, Vec::with_capacity(FLUSH_SAMPLES));
    match samples.try_send(batch) {
        Ok(()) => {}
        Err(TrySendError::Full(batch) | TrySendError::Disconnected(batch)) => {
            shared
                .dropped_samples
                .fetch_add(batch.len() as u64, Ordering::Relaxed);
        }
    }
}

fn acquire(take: &Receiver<Session>, shared: &RunShared) -> Option<Session> {
    loop {
        match take.recv_timeout(POLL) {
            Ok(session) => return Some(session),
            Err(RecvTimeoutError::Timeout) if !shared.is_stopping() => {}
            Err(_) => return None,
        }
    }
}

/// One inference; outputs are dropped at once.
#[inline]
fn run_once(
    session: &mut Session,
    inputs: &[SessionInputValue<'_>],
    options: &RunOptions,
    profile_prefix: Option<&Path>,
) -> Result<(), LoadError> {
    let result = match profile_prefix {
        None => session.run_with_options(inputs, options).map(drop),
        Some(prefix) => session
            .run_with_options(inputs, &profiled_options(prefix)?)
            .map(drop),
    };
    result.map_err(LoadError::Run)
}

/// Run options that write a run-level profile under `prefix`.
fn profiled_options(prefix: &Path) -> Result<RunOptions, LoadError> {
    let mut options = RunOptions::new().map_err(LoadError::ProfiledOptions)?;
    options
        .enable_profiling(prefix)
        .map_err(LoadError::ProfiledOptions)?;
    Ok(options)
}

/// One inference on bound inputs and outputs; the outputs stay on the device
/// and are dropped at once.
#[inline]
fn run_bound(
    session: &mut Session,
    binding: &IoBinding,
    options: &RunOptions,
    profile_prefix: Option<&Path>,
) -> Result<(), LoadError> {
    let result = match profile_prefix {
        None => session.run_binding_with_options(binding, options).map(drop),
        Some(prefix) => session
            .run_binding_with_options(binding, &profiled_options(prefix)?)
            .map(drop),
    };
    result.map_err(LoadError::Run)
}

/// Produces the open-loop schedule: send times at `rate_per_sec`, evenly
/// spaced or Poisson, from `start_nanos` until stopped. Times are pushed into
/// a bounded queue; when it is full the dispatcher waits, but the schedule
/// itself never shifts, so latency stays measured from the intended time.
/// Returns the number of scheduled requests no worker took.
pub fn dispatch(
    schedule: &Sender<u64>,
    shared: &RunShared,
    epoch: Instant,
    rate_per_sec: f64,
    arrival: Arrival,
    seed: u64,
) -> u64 {
    let mean_gap_nanos = 1e9 / rate_per_sec;
    let mut rng = rand::rngs::StdRng::seed_from_u64(seed);
    let exponential = Exp::new(rate_per_sec / 1e9).ok();
    let mut next = 0.0f64;
    loop {
        if shared.is_stopping() {
            break;
        }
        let due = next as u64;
        let now = nanos_since(epoch);
        if due > now {
            let wait = Duration::from_nanos(due - now).min(POLL);
            if wait > Duration::from_micros(50) {
                std::thread::sleep(wait - Duration::from_micros(30));
            } else {
                std::hint::spin_loop();
            }
            continue;
        }
        let mut pending = due;
        loop {
            match schedule.send_timeout(pending, POLL) {
                Ok(()) => break,
                Err(crossbeam_channel::SendTimeoutError::Timeout(value))
                    if !shared.is_stopping() =>
                {
                    pending = value
                }
                Err(_) => return schedule.len() as u64 + 1,
            }
        }
        next += match (arrival, &exponential) {
            (Arrival::Poisson, Some(exponential)) => exponential.sample(&mut rng),
            _ => mean_gap_nanos,
        };
    }
    schedule.len() as u64
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn constant_arrivals_are_evenly_spaced() {
        let shared = Arc::new(RunShared::new(0));
        let (sender, receiver) = crossbeam_channel::bounded(1024);
        let epoch = Instant::now();
        let thread_shared = Arc::clone(&shared);
        let dispatcher = std::thread::Builder::new()
            .name("test-dispatch".into())
            .spawn(move || dispatch(&sender, &thread_shared, epoch, 1000.0, Arrival::Constant, 1))
            .expect("spawn");
        let times: Vec<u64> = (0..20)
            .map(|_| receiver.recv().expect("scheduled time"))
            .collect();
        shared.stop.store(true, Ordering::Relaxed);
        drop(receiver);
        let _ = dispatcher.join();
        for (index, time) in times.iter().enumerate() {
            assert_eq!(*time, index as u64 * 1_000_000);
        }
    }

    #[test]
    fn poisson_arrivals_have_the_requested_mean_rate() {
        let shared = Arc::new(RunShared::new(0));
        let (sender, receiver) = crossbeam_channel::bounded(100_000);
        let epoch = Instant::now();
        let thread_shared = Arc::clone(&shared);
        let dispatcher = std::thread::Builder::new()
            .name("test-dispatch".into())
            .spawn(move || {
                dispatch(
                    &sender,
                    &thread_shared,
                    epoch,
                    20_000.0,
                    Arrival::Poisson,
                    7,
                )
            })
            .expect("spawn");
        let times: Vec<u64> = (0..2000)
            .map(|_| receiver.recv().expect("scheduled time"))
            .collect();
        shared.stop.store(true, Ordering::Relaxed);
        drop(receiver);
        let _ = dispatcher.join();
        let mean_gap = (times[1999] - times[0]) as f64 / 1999.0;
        // 50 µs expected; the mean of 2000 exponential gaps is within ~7 %.
        assert!(
            (mean_gap - 50_000.0).abs() < 5_000.0,
            "mean gap {mean_gap} ns"
        );
        let gaps: Vec<u64> = times.windows(2).map(|pair| pair[1] - pair[0]).collect();
        assert!(gaps.iter().any(|gap| *gap < 25_000) && gaps.iter().any(|gap| *gap > 100_000));
    }
}
