//! The load generator: worker threads that call `Session::run` back to back
//! (closed loop) or take arrivals from the shared open-loop schedule
//! ([`super::arrivals`]) and wait for them themselves.
//!
//! The hot path of the closed loop is: run, read the clock once (the end of
//! one request is the issue of the next), record the request into the
//! worker's own histograms ([`Recorder`]). Nothing is sent per request: the
//! recorder hands the aggregator one partial per window or 250 ms, and a
//! full channel drops it and counts it, never waits.
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

use crossbeam_channel::{Receiver, RecvTimeoutError, Sender};
use ort::{
    session::{IoBinding, RunOptions, Session, SessionInputValue},
    value::DynValue,
};

use super::{
    arrivals::{ArrivalSchedule, Waited, Waiter},
    error::clean_ort_message,
};
use crate::metrics::{RunShared, Sample, recorder::Recorder};

/// Lateness above which an oversubscribed worker asks the kernel how long
/// it waited for a core.
const CPU_WAIT_CHECK_NANOS: u64 = 20_000;

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
    /// A generation (token loop) failed.
    #[error("{0}")]
    Generate(#[source] super::generate::GenerateError),
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
    /// Each request is a generation: a token loop on the worker's own
    /// session.
    Generate(Box<super::generate::Generator>),
}

/// Where a worker gets its requests.
pub enum RequestSource {
    /// Closed loop: the next request right after the last one returns.
    Closed,
    /// Closed loop with more clients than sessions: the worker is one of
    /// the sessions' executors. Each request it ends is its client's next
    /// request, which joins the back of the queue; the worker then serves
    /// the oldest queued one. The queue holds the clients' issue times, so
    /// the wait is queue time and every client always has one request out.
    Queued(Arc<ClientQueue>),
    /// Open loop: the next arrival of the shared schedule, waited for by
    /// the worker itself.
    Open {
        schedule: Arc<ArrivalSchedule>,
        waiter: Waiter,
        /// Threads one run keeps busy (for the spin budget).
        run_threads: u32,
        /// More threads run the model than the machine has cores: a woken
        /// worker may wait for a core, which the kernel's run-queue delay
        /// tells apart from the generator's own lateness.
        oversubscribed: bool,
    },
}

/// The issue times of the closed-loop requests that wait for a session, in
/// arrival order. A lock held for one push and one pop per request: with as
/// many executors as cores it is seldom contended.
#[derive(Debug, Default)]
pub struct ClientQueue(std::sync::Mutex<std::collections::VecDeque<u64>>);

impl ClientQueue {
    /// A queue of `waiting` requests, all issued at `issued_nanos`.
    pub fn new(waiting: usize, issued_nanos: u64) -> Self {
        Self(std::sync::Mutex::new(
            std::iter::repeat_n(issued_nanos, waiting).collect(),
        ))
    }

    /// Queues the request issued at `issued_nanos` and takes the oldest
    /// one (which is that one when nothing else waits).
    #[inline]
    pub fn swap_oldest(&self, issued_nanos: u64) -> u64 {
        let mut queue = self
            .0
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        queue.push_back(issued_nanos);
        queue.pop_front().unwrap_or(issued_nanos)
    }
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
    /// The worker's own histograms, handed to the aggregator per window.
    pub recorder: Recorder,
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

pub(crate) use super::arrivals::nanos_since;

/// What a worker adds to the run's generator figures when it ends.
#[derive(Debug, Default)]
struct WorkerTally {
    spun: u64,
    slept: u64,
    /// Time spent spinning before arrivals (CPU on an idle core).
    spin_nanos: u64,
    /// Wall time inside the model's runs.
    run_nanos: u64,
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
        if matches!(self.requests, RequestSource::Open { .. }) {
            super::arrivals::tighten_timer_slack();
        }
        let cpu_at_start = crate::telemetry::thread_cpu_nanos();
        let wall_at_start = std::time::Instant::now();
        let mut tally = WorkerTally::default();
        let mut run_count: u64 = 0;
        let mut variant_index = 0usize;
        let measure_start = self.shared.measure_start_nanos.load(Ordering::Relaxed);
        // The end of one request is the issue of the next: one clock read
        // per request in the closed loop.
        let mut now = nanos_since(self.epoch);
        loop {
            if self.shared.is_stopping() {
                break;
            }
            let (scheduled, late_nanos, run_threads) = match &self.requests {
                RequestSource::Closed => (now, 0, 0),
                RequestSource::Queued(clients) => (clients.swap_oldest(now), 0, 0),
                RequestSource::Open {
                    schedule,
                    waiter,
                    run_threads,
                    oversubscribed,
                } => {
                    // Free since `now`: take the next arrival and wait for it.
                    let free_since = now;
                    let run_delay_before = if *oversubscribed {
                        crate::telemetry::thread_run_delay_nanos()
                    } else {
                        None
                    };
                    let Some((due, waited)) = schedule.wait_for_next(
                        usize::from(self.index),
                        waiter,
                        self.epoch,
                        &self.shared,
                        |waited| match waited {
                            Waited::Spun(nanos) => {
                                tally.spun += 1;
                                tally.spin_nanos += nanos;
                            }
                            Waited::Slept { .. } => tally.slept += 1,
                            Waited::NotAtAll => {}
                        },
                    ) else {
                        break;
                    };
                    now = nanos_since(self.epoch);
                    let ready = due.max(free_since);
                    // Woken while every core ran the model: the wait for a
                    // core is CPU queueing, which any server with this many
                    // threads would see, not the generator's delay.
                    let mut late = now.saturating_sub(ready);
                    if matches!(waited, Waited::Slept { contended: true }) {
                        late = 0;
                    } else if late > CPU_WAIT_CHECK_NANOS
                        && let (Some(before), Some(after)) =
                            (run_delay_before, crate::telemetry::thread_run_delay_nanos())
                    {
                        late = late.saturating_sub(after.saturating_sub(before));
                    }
                    let late = u32::try_from(late).unwrap_or(u32::MAX);
                    (due, late, *run_threads)
                }
            };
            if scheduled >= measure_start
                && let Some((issued, limit)) = &self.request_limit
                && issued.fetch_add(1, Ordering::Relaxed) >= *limit
            {
                self.shared.stop.store(true, Ordering::Relaxed);
                break;
            }
            let variant = &views[variant_index];
            let profile_prefix = self.sampled_profiling.as_ref().and_then(|sampling| {
                let every = u64::from(sampling.every.max(1));
                (run_count % every == every - 1)
                    .then(|| sampling.dir.join(format!("w{}_r{run_count}", self.index)))
            });
            run_count += 1;
            let busy = match &self.requests {
                RequestSource::Open { waiter, .. } if run_threads > 0 => {
                    Some(waiter.cores.busy(run_threads))
                }
                _ => None,
            };

            let (start, end, result) = match &mut self.slot {
                SessionSlot::Owned(session) => {
                    let start = now;
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
                    let start = now;
                    let result = executor
                        .run(variant_index, &self.shared, start)
                        .map_err(LoadError::Remote);
                    (start, nanos_since(self.epoch), result)
                }
                SessionSlot::Generate(generator) => {
                    let start = now;
                    let result = generator
                        .generate(self.epoch, &self.run_options)
                        .map_err(LoadError::Generate);
                    (start, nanos_since(self.epoch), result)
                }
            };
            drop(busy);
            now = end;
            tally.run_nanos += end.saturating_sub(start);
            variant_index += 1;
            if variant_index == views.len() {
                variant_index = 0;
            }

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
            let sample = Sample {
                scheduled_nanos: scheduled,
                start_nanos: start,
                end_nanos: end,
                worker: self.index,
                is_ok,
                is_profiled,
                batch_rows: 0,
                is_batch_lead: false,
                late_nanos,
            };
            match &self.slot {
                SessionSlot::Generate(generator) if is_ok => {
                    record_generated(&mut self.recorder, &sample, &generator.generated);
                }
                _ => self.recorder.record(&sample),
            }
        }
        self.recorder.flush();
        let outside_runs = match (cpu_at_start, crate::telemetry::thread_cpu_nanos()) {
            (Some(before), Some(after)) => Some(
                after
                    .saturating_sub(before)
                    .saturating_sub(tally.run_nanos)
                    .saturating_sub(tally.spin_nanos),
            ),
            _ => None,
        };
        let cpu_and_wall = match (cpu_at_start, crate::telemetry::thread_cpu_nanos()) {
            (Some(before), Some(after)) => Some((
                after.saturating_sub(before),
                u64::try_from(wall_at_start.elapsed().as_nanos()).unwrap_or(u64::MAX),
            )),
            _ => None,
        };
        self.shared.add_worker_tally(
            tally.spun,
            tally.slept,
            tally.spin_nanos,
            outside_runs,
            cpu_and_wall,
        );
    }
}

/// Records each sequence of a lockstep generation as a request that ends
/// with its own last token.
fn record_generated(
    recorder: &mut Recorder,
    sample: &Sample,
    generated: &super::generate::Generated,
) {
    let rows = generated
        .rows
        .iter()
        .filter_map(|(prompt_tokens, output_tokens)| {
            let tokens = (*output_tokens as usize).min(generated.token_nanos.len());
            let first = generated.token_nanos.first()?;
            let last = generated.token_nanos.get(tokens.checked_sub(1)?)?;
            let row = Sample {
                end_nanos: *last,
                ..*sample
            };
            let times = crate::metrics::generation::TokenTimes {
                ttft_nanos: first.saturating_sub(sample.scheduled_nanos),
                gaps_nanos: &generated.gaps_nanos[..tokens - 1],
                e2e_nanos: last.saturating_sub(sample.scheduled_nanos),
                prompt_tokens: *prompt_tokens,
                output_tokens: tokens as u32,
                kv_cache_bytes: generated.kv_cache_bytes,
            };
            Some((row, times))
        });
    recorder.record_generation_rows(rows);
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

#[cfg(test)]
mod tests {
    use super::ClientQueue;

    #[test]
    fn queued_clients_are_served_in_arrival_order() {
        // Two clients wait since t=5; each served request issues a new one.
        let queue = ClientQueue::new(2, 5);
        assert_eq!(queue.swap_oldest(10), 5);
        assert_eq!(queue.swap_oldest(11), 5);
        assert_eq!(queue.swap_oldest(12), 10);
        assert_eq!(queue.swap_oldest(13), 11);
        // With nobody waiting a request is its own oldest.
        assert_eq!(ClientQueue::new(0, 0).swap_oldest(7), 7);
    }
}
