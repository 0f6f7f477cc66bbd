//! The open-loop schedule, shared by the workers without a hand-off.
//!
//! Free workers wait for the next intended send time of one
//! [`ArrivalSchedule`] themselves: each sleeps until shortly before and,
//! when spinning is allowed, spins the last stretch ([`Waiter::wait_until`]);
//! then it takes the arrival with one compare-and-swap. There is no
//! dispatcher thread to wake a worker and no channel between them, so the
//! time between the intended send and the real one (the *send lateness*)
//! is the wait's own precision, not a thread hand-over.
//!
//! Each worker claims its own arrival ahead of time, so a burst finds
//! every free worker already waiting. One more free worker, the *backup*,
//! waits for the earliest claimed arrival not yet sent, and whichever of
//! the two gets there first sends it ([`ArrivalSchedule::wait_for_next`]).
//! On a VM whose vCPU is taken away for a few hundred microseconds now and
//! then, the other one, on another core, still sends on time. This costs
//! one more wake-up per arrival, not one per idle worker.
//!
//! Arrivals stay exact: evenly spaced times are `index × gap`, and Poisson
//! gaps are drawn from a counter-based generator keyed by the previous
//! arrival, so the sequence does not depend on which worker takes which
//! arrival. Latency still counts from the intended time (no coordinated
//! omission).

use std::{
    sync::{
        Arc,
        atomic::{AtomicBool, AtomicU32, AtomicU64, Ordering},
    },
    time::{Duration, Instant},
};

use super::config::Arrival;
pub use super::config::SpinMode;
use crate::metrics::RunShared;

/// How close to the intended time a waiting worker stops sleeping and
/// spins (when it may). Covers the sleep's own overshoot on a busy VM.
const SPIN_STRETCH_NANOS: u64 = 200_000;
/// Longest single sleep, so stop requests are seen promptly.
const MAX_SLEEP: Duration = Duration::from_millis(20);
/// Longest wait to push into a full queue before the stop flag is checked.
const QUEUE_POLL: Duration = Duration::from_millis(20);
/// A claim slot that holds no arrival.
const UNCLAIMED: u64 = u64::MAX;

/// Nanoseconds since `epoch`, saturating.
#[inline]
pub(crate) fn nanos_since(epoch: Instant) -> u64 {
    u64::try_from(epoch.elapsed().as_nanos()).unwrap_or(u64::MAX)
}

/// The arrival sequence of an open-loop run, taken one arrival at a time by
/// whichever worker is free.
#[derive(Debug)]
pub struct ArrivalSchedule {
    arrival: Arrival,
    mean_gap_nanos: f64,
    seed: u64,
    /// Constant arrivals: index of the next arrival.
    next_index: AtomicU64,
    /// Poisson arrivals: intended time of the next arrival.
    next_nanos: AtomicU64,
    /// Intended time of the latest arrival a worker took.
    latest_taken: AtomicU64,
    /// Arrivals taken so far.
    taken: AtomicU64,
    /// Per worker: the intended time of the arrival it claimed and has not
    /// sent yet, or `UNCLAIMED`. Whoever clears it sends that arrival.
    claims: Box<[AtomicU64]>,
    /// A free worker is waiting as the backup of the earliest claim.
    backup_taken: AtomicBool,
}

impl ArrivalSchedule {
    /// A schedule of `rate_per_sec` arrivals from time 0 of the run.
    pub fn new(rate_per_sec: f64, arrival: Arrival, seed: u64) -> Self {
        Self {
            arrival,
            mean_gap_nanos: 1e9 / rate_per_sec.max(1e-9),
            seed,
            next_index: AtomicU64::new(0),
            next_nanos: AtomicU64::new(0),
            latest_taken: AtomicU64::new(0),
            taken: AtomicU64::new(0),
            claims: Box::default(),
            backup_taken: AtomicBool::new(false),
        }
    }

    /// Gives each of `workers` workers a claim slot for
    /// [`Self::wait_for_next`] (indexed by worker).
    pub fn with_workers(mut self, workers: usize) -> Self {
        self.claims = (0..workers).map(|_| AtomicU64::new(UNCLAIMED)).collect();
        self
    }

    /// Takes the next arrival: its intended time, in nanos since the epoch.
    #[inline]
    pub fn take(&self) -> u64 {
        let due = match self.arrival {
            Arrival::Constant => {
                let index = self.next_index.fetch_add(1, Ordering::Relaxed);
                (index as f64 * self.mean_gap_nanos) as u64
            }
            Arrival::Poisson => {
                let mut current = self.next_nanos.load(Ordering::Relaxed);
                loop {
                    let gap = exponential_gap(self.seed, current, self.mean_gap_nanos);
                    match self.next_nanos.compare_exchange_weak(
                        current,
                        current.saturating_add(gap),
                        Ordering::Relaxed,
                        Ordering::Relaxed,
                    ) {
                        Ok(_) => break current,
                        Err(actual) => current = actual,
                    }
                }
            }
        };
        self.latest_taken.fetch_max(due, Ordering::Relaxed);
        self.taken.fetch_add(1, Ordering::Relaxed);
        due
    }

    /// Waits for the next arrival that worker `worker` sends, and returns
    /// its intended time and how the last wait ended: either as the backup
    /// of the earliest claimed arrival (when no other free worker is), or
    /// for an arrival it claims itself. It sends the arrival only if it
    /// gets there before the other of the two, and otherwise goes on to
    /// the next one. `on_wait` sees every wait, including those for
    /// arrivals the other sent. `None` when the run stops.
    pub fn wait_for_next(
        &self,
        worker: usize,
        waiter: &Waiter,
        epoch: Instant,
        shared: &RunShared,
        mut on_wait: impl FnMut(Waited),
    ) -> Option<(u64, Waited)> {
        let claim = match self.claims.get(worker) {
            Some(claim) if self.claims.len() > 1 => claim,
            _ => {
                // A lone worker (or one without a slot): nobody backs it up.
                let due = self.take();
                let waited = waiter.wait_until(epoch, due, shared);
                on_wait(waited);
                return (!shared.is_stopping()).then_some((due, waited));
            }
        };
        loop {
            if shared.is_stopping() {
                return None;
            }
            // The backup role is held through the wait, and given back
            // when it ends.
            if let Some(_backup) = self.backup_role()
                && let Some((owner, due)) = self.earliest_claim()
            {
                let waited = waiter.wait_until(epoch, due, shared);
                on_wait(waited);
                if shared.is_stopping() {
                    return None;
                }
                if self.send_claim(owner, due) {
                    return Some((due, waited));
                }
                continue;
            }
            let due = self.take();
            claim.store(due, Ordering::Release);
            let waited = waiter.wait_until(epoch, due, shared);
            on_wait(waited);
            if shared.is_stopping() {
                claim.store(UNCLAIMED, Ordering::Relaxed);
                return None;
            }
            if self.send_claim(worker, due) {
                return Some((due, waited));
            }
        }
    }

    /// Takes the backup role unless another free worker has it.
    fn backup_role(&self) -> Option<BackupRole<'_>> {
        self.backup_taken
            .compare_exchange(false, true, Ordering::Acquire, Ordering::Relaxed)
            .ok()
            .map(|_| BackupRole(&self.backup_taken))
    }

    /// The worker holding the earliest claimed arrival not sent yet, and
    /// that arrival's intended time.
    fn earliest_claim(&self) -> Option<(usize, u64)> {
        self.claims
            .iter()
            .enumerate()
            .map(|(owner, claim)| (owner, claim.load(Ordering::Acquire)))
            .filter(|(_, due)| *due != UNCLAIMED)
            .min_by_key(|(_, due)| *due)
    }

    /// Clears `owner`'s claim on the arrival due at `due`: true for the one
    /// of the two waiting workers that gets there first, which sends it.
    #[inline]
    fn send_claim(&self, owner: usize, due: u64) -> bool {
        self.claims.get(owner).is_some_and(|claim| {
            claim
                .compare_exchange(due, UNCLAIMED, Ordering::AcqRel, Ordering::Relaxed)
                .is_ok()
        })
    }

    /// Intended time of the latest arrival taken so far.
    pub fn latest_taken(&self) -> u64 {
        self.latest_taken.load(Ordering::Relaxed)
    }

    /// Arrivals taken so far.
    pub fn taken(&self) -> u64 {
        self.taken.load(Ordering::Relaxed)
    }

    /// Arrivals due by `now_nanos` that no worker took (at most ten
    /// million are counted).
    pub fn due_untaken(&self, now_nanos: u64) -> u64 {
        const CAP: u64 = 10_000_000;
        match self.arrival {
            Arrival::Constant => {
                let due = (now_nanos as f64 / self.mean_gap_nanos).floor() as u64 + 1;
                due.saturating_sub(self.next_index.load(Ordering::Relaxed))
                    .min(CAP)
            }
            Arrival::Poisson => {
                let mut next = self.next_nanos.load(Ordering::Relaxed);
                let mut count = 0;
                while next <= now_nanos && count < CAP {
                    next =
                        next.saturating_add(exponential_gap(self.seed, next, self.mean_gap_nanos));
                    count += 1;
                }
                count
            }
        }
    }

    /// How far behind the schedule the workers are at `now_nanos`: now minus
    /// the intended time of the latest arrival taken, in seconds. About zero
    /// or negative (a worker already holds a future arrival) while they keep
    /// up; it grows with real time when the offered rate exceeds capacity.
    pub fn lag_secs(&self, now_nanos: u64) -> f64 {
        (now_nanos as f64 - self.latest_taken() as f64) / 1e9
    }
}

/// An exponential gap with mean `mean_nanos`, drawn from a counter-based
/// generator (SplitMix64) keyed by the seed and the previous arrival time.
#[inline]
fn exponential_gap(seed: u64, previous_nanos: u64, mean_nanos: f64) -> u64 {
    let bits = splitmix64(seed ^ previous_nanos.wrapping_mul(0x9E37_79B9_7F4A_7C15));
    // 53 random bits in (0, 1]: never 0, so the logarithm is finite.
    let uniform = ((bits >> 11) as f64 + 1.0) / (1u64 << 53) as f64;
    (-uniform.ln() * mean_nanos).round().max(1.0) as u64
}

#[inline]
fn splitmix64(mut state: u64) -> u64 {
    state = state.wrapping_add(0x9E37_79B9_7F4A_7C15);
    let mut z = state;
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

/// Gives the backup role back on drop.
#[derive(Debug)]
struct BackupRole<'a>(&'a AtomicBool);

impl Drop for BackupRole<'_> {
    fn drop(&mut self) {
        self.0.store(false, Ordering::Release);
    }
}

/// Counts the run's busy threads, so `SpinMode::Auto` spins only while a
/// core is left idle for it.
#[derive(Debug)]
pub struct CoreBudget {
    cores: u32,
    /// Threads currently running the model (workers in a run times the
    /// threads each run uses) or spinning.
    busy: AtomicU32,
}

impl CoreBudget {
    /// A budget of `cores` cores.
    pub fn new(cores: u32) -> Self {
        Self {
            cores: cores.max(1),
            busy: AtomicU32::new(0),
        }
    }

    /// The machine's cores as the OS reports them (read once: the answer
    /// reads cgroup files, and the window asks every frame).
    pub fn of_machine() -> Self {
        static CORES: std::sync::OnceLock<u32> = std::sync::OnceLock::new();
        Self::new(*CORES.get_or_init(|| {
            std::thread::available_parallelism()
                .map_or(1, |n| u32::try_from(n.get()).unwrap_or(u32::MAX))
        }))
    }

    /// The cores of the budget.
    pub fn cores(&self) -> u32 {
        self.cores
    }

    /// Marks `threads` threads busy until the guard drops.
    #[inline]
    pub fn busy(&self, threads: u32) -> BusyGuard<'_> {
        self.busy.fetch_add(threads, Ordering::Relaxed);
        BusyGuard {
            budget: self,
            threads,
        }
    }

    /// True when every core is taken by threads running the model or
    /// spinning.
    #[inline]
    fn is_full(&self) -> bool {
        self.busy.load(Ordering::Relaxed) >= self.cores
    }

    /// True when a core is idle: no more threads run the model or spin
    /// than the machine has cores, counting the caller.
    #[inline]
    fn has_idle_core(&self) -> bool {
        self.busy.load(Ordering::Relaxed) < self.cores
    }
}

/// Returns the busy threads to the budget on drop.
#[derive(Debug)]
pub struct BusyGuard<'a> {
    budget: &'a CoreBudget,
    threads: u32,
}

impl Drop for BusyGuard<'_> {
    fn drop(&mut self) {
        self.budget.busy.fetch_sub(self.threads, Ordering::Relaxed);
    }
}

/// How a worker waits for its arrivals.
#[derive(Debug, Clone)]
pub struct Waiter {
    pub mode: SpinMode,
    pub cores: Arc<CoreBudget>,
}

/// How one wait ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Waited {
    /// The intended time had already passed (or the wait was cut short by
    /// a stop).
    NotAtAll,
    /// Slept, then spun the last stretch for this many nanoseconds (CPU
    /// the wait used).
    Spun(u64),
    /// Slept the whole way. `contended`: when it woke, every core was
    /// running the model for other workers, so the delay until it got a
    /// core is waiting for CPU (queue), not the generator's own.
    Slept { contended: bool },
}

impl Waiter {
    /// Waits until `due_nanos` after `epoch`, or until the run stops.
    pub fn wait_until(&self, epoch: Instant, due_nanos: u64, shared: &RunShared) -> Waited {
        let mut waited = Waited::NotAtAll;
        loop {
            let now = nanos_since(epoch);
            if now >= due_nanos || shared.is_stopping() {
                return waited;
            }
            let remaining = due_nanos - now;
            if remaining > SPIN_STRETCH_NANOS {
                std::thread::sleep(
                    Duration::from_nanos(remaining - SPIN_STRETCH_NANOS).min(MAX_SLEEP),
                );
                waited = Waited::Slept {
                    contended: self.cores.is_full(),
                };
                continue;
            }
            let may_spin = match self.mode {
                SpinMode::On => true,
                SpinMode::Off => false,
                SpinMode::Auto => self.cores.has_idle_core(),
            };
            if !may_spin {
                std::thread::sleep(Duration::from_nanos(remaining));
                return Waited::Slept {
                    contended: self.cores.is_full(),
                };
            }
            let _spinning = self.cores.busy(1);
            let mut spun_until = now;
            while spun_until < due_nanos {
                std::hint::spin_loop();
                spun_until = nanos_since(epoch);
            }
            return Waited::Spun(spun_until - now);
        }
    }
}

/// Asks the kernel to wake this thread's sleeps on time: Linux delays
/// timers by up to 50 µs by default (`timer_slack_ns`) to batch wake-ups.
pub fn tighten_timer_slack() {
    #[cfg(target_os = "linux")]
    {
        // 1 ns: as precise as the kernel's timers allow. A failure only
        // leaves the default slack, which lateness then shows.
        let _ = rustix::thread::set_current_timer_slack(std::num::NonZeroU64::new(1));
    }
}

/// Sends the schedule's arrivals into `queue` when they are due, for the
/// dynamic batcher (whose one thread takes arrivals from a queue). Returns
/// the number of due arrivals never taken from the queue.
pub fn feed_queue(
    schedule: &ArrivalSchedule,
    queue: &crossbeam_channel::Sender<u64>,
    shared: &RunShared,
    epoch: Instant,
    waiter: &Waiter,
) -> u64 {
    tighten_timer_slack();
    loop {
        if shared.is_stopping() {
            return queue.len() as u64;
        }
        let due = schedule.take();
        waiter.wait_until(epoch, due, shared);
        let mut pending = due;
        loop {
            match queue.send_timeout(pending, QUEUE_POLL) {
                Ok(()) => break,
                Err(crossbeam_channel::SendTimeoutError::Timeout(value))
                    if !shared.is_stopping() =>
                {
                    pending = value;
                }
                Err(_) => return queue.len() as u64 + 1,
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn waiter(mode: SpinMode, cores: u32) -> Waiter {
        Waiter {
            mode,
            cores: Arc::new(CoreBudget::new(cores)),
        }
    }

    #[test]
    fn constant_arrivals_are_evenly_spaced() {
        let schedule = ArrivalSchedule::new(1000.0, Arrival::Constant, 1);
        let times: Vec<u64> = (0..20).map(|_| schedule.take()).collect();
        for (index, time) in times.iter().enumerate() {
            assert_eq!(*time, index as u64 * 1_000_000);
        }
        assert_eq!(schedule.latest_taken(), 19_000_000);
        assert_eq!(schedule.taken(), 20);
    }

    #[test]
    fn poisson_arrivals_have_the_requested_mean_rate_and_spread() {
        let schedule = ArrivalSchedule::new(20_000.0, Arrival::Poisson, 7);
        let times: Vec<u64> = (0..20_000).map(|_| schedule.take()).collect();
        let gaps: Vec<f64> = times
            .windows(2)
            .map(|pair| (pair[1] - pair[0]) as f64)
            .collect();
        let mean = gaps.iter().sum::<f64>() / gaps.len() as f64;
        // 50 µs expected; the mean of 20,000 exponential gaps is within ~2 %.
        assert!((mean - 50_000.0).abs() < 1_500.0, "mean gap {mean} ns");
        // An exponential's standard deviation equals its mean.
        let variance = gaps.iter().map(|g| (g - mean).powi(2)).sum::<f64>() / gaps.len() as f64;
        let cv = variance.sqrt() / mean;
        assert!((cv - 1.0).abs() < 0.05, "coefficient of variation {cv}");
        // P(gap < mean/2) = 1 - e^-0.5 ≈ 0.393.
        let short = gaps.iter().filter(|g| **g < 25_000.0).count() as f64 / gaps.len() as f64;
        assert!((short - 0.393).abs() < 0.02, "{short}");
    }

    #[test]
    fn workers_taking_arrivals_concurrently_get_the_same_sequence() {
        let single = ArrivalSchedule::new(5_000.0, Arrival::Poisson, 3);
        let expected: Vec<u64> = (0..4000).map(|_| single.take()).collect();
        let shared = Arc::new(ArrivalSchedule::new(5_000.0, Arrival::Poisson, 3));
        let handles: Vec<_> = (0..4)
            .map(|index| {
                let schedule = Arc::clone(&shared);
                std::thread::Builder::new()
                    .name(format!("test-take-{index}"))
                    .spawn(move || (0..1000).map(|_| schedule.take()).collect::<Vec<u64>>())
                    .expect("spawn")
            })
            .collect();
        let mut taken: Vec<u64> = handles
            .into_iter()
            .flat_map(|handle| handle.join().expect("join"))
            .collect();
        taken.sort_unstable();
        assert_eq!(taken, expected);
    }

    #[test]
    fn lag_grows_when_nobody_takes_arrivals() {
        let schedule = ArrivalSchedule::new(1000.0, Arrival::Constant, 1);
        schedule.take();
        assert!((schedule.lag_secs(500_000_000) - 0.5).abs() < 1e-9);
        schedule.take();
        assert!((schedule.lag_secs(500_000_000) - 0.499).abs() < 1e-9);
    }

    #[test]
    fn a_spinning_wait_ends_on_time() {
        let shared = RunShared::new(0);
        let waiter = waiter(SpinMode::On, 2);
        let epoch = Instant::now();
        // Within the spin stretch: no sleep, a spin to the due time.
        let due = nanos_since(epoch) + 100_000;
        assert!(matches!(
            waiter.wait_until(epoch, due, &shared),
            Waited::Spun(nanos) if nanos > 0
        ));
        assert!(nanos_since(epoch) >= due);
        // Further ahead: a sleep first (which a loaded machine may overshoot).
        let due = nanos_since(epoch) + 2_000_000;
        assert_ne!(waiter.wait_until(epoch, due, &shared), Waited::NotAtAll);
        assert!(nanos_since(epoch) >= due);
        // Already due: no wait at all.
        assert_eq!(waiter.wait_until(epoch, 0, &shared), Waited::NotAtAll);
    }

    #[test]
    fn auto_spins_only_with_an_idle_core() {
        let shared = RunShared::new(0);
        let cores = Arc::new(CoreBudget::new(2));
        let waiter = Waiter {
            mode: SpinMode::Auto,
            cores: Arc::clone(&cores),
        };
        let epoch = Instant::now();
        let due = nanos_since(epoch) + 50_000;
        assert!(matches!(
            waiter.wait_until(epoch, due, &shared),
            Waited::Spun(_)
        ));
        let _busy = cores.busy(2);
        let due = nanos_since(epoch) + 50_000;
        assert_eq!(
            waiter.wait_until(epoch, due, &shared),
            Waited::Slept { contended: true }
        );
    }

    #[test]
    fn workers_and_their_backup_send_each_arrival_once_in_schedule_order() {
        let single = ArrivalSchedule::new(100_000.0, Arrival::Poisson, 5);
        let expected: Vec<u64> = (0..2100).map(|_| single.take()).collect();
        let workers = 4;
        let schedule =
            Arc::new(ArrivalSchedule::new(100_000.0, Arrival::Poisson, 5).with_workers(workers));
        let shared = Arc::new(RunShared::new(0));
        let epoch = Instant::now();
        let handles: Vec<_> = (0..workers)
            .map(|worker| {
                let schedule = Arc::clone(&schedule);
                let shared = Arc::clone(&shared);
                std::thread::Builder::new()
                    .name(format!("test-worker-{worker}"))
                    .spawn(move || {
                        let waiter = waiter(SpinMode::On, 8);
                        let mut sent = Vec::new();
                        let mut waits = 0;
                        while let Some((due, _)) =
                            schedule.wait_for_next(worker, &waiter, epoch, &shared, |_| waits += 1)
                        {
                            sent.push(due);
                            if schedule.taken() >= 2000 {
                                shared.stop.store(true, Ordering::Relaxed);
                            }
                        }
                        (sent, waits)
                    })
                    .expect("spawn")
            })
            .collect();
        let mut sent = Vec::new();
        let mut waits = 0;
        for handle in handles {
            let (mut one, their_waits) = handle.join().expect("join");
            sent.append(&mut one);
            waits += their_waits;
        }
        sent.sort_unstable();
        let before_dedup = sent.len();
        sent.dedup();
        // No arrival is sent twice, every one sent is the schedule's, and
        // none is skipped but the claims the stop left unsent.
        assert_eq!(sent.len(), before_dedup, "an arrival was sent twice");
        assert!(sent.len() >= 2000 - workers, "{} sent", sent.len());
        assert!(
            sent.iter().all(|due| expected.binary_search(due).is_ok()),
            "an arrival off the schedule was sent"
        );
        let through_last = sent.last().map_or(0, |last| {
            expected.binary_search(last).map_or(0, |index| index + 1)
        });
        assert!(
            through_last - sent.len() <= workers,
            "{} arrivals skipped",
            through_last - sent.len()
        );
        // Backups waited too: more waits than arrivals sent.
        assert!(
            waits > sent.len(),
            "{waits} waits for {} arrivals",
            sent.len()
        );
    }

    #[test]
    fn a_lone_worker_claims_its_own_arrivals() {
        let schedule = ArrivalSchedule::new(100_000.0, Arrival::Constant, 1).with_workers(1);
        let shared = RunShared::new(0);
        let waiter = waiter(SpinMode::On, 2);
        let epoch = Instant::now();
        let sent: Vec<u64> = (0..5)
            .map(|_| {
                schedule
                    .wait_for_next(0, &waiter, epoch, &shared, |_| {})
                    .expect("not stopped")
                    .0
            })
            .collect();
        assert_eq!(sent, [0, 10_000, 20_000, 30_000, 40_000]);
        assert!(nanos_since(epoch) >= 40_000);
    }

    #[test]
    fn the_backup_sends_a_claim_its_owner_has_not() {
        let schedule = ArrivalSchedule::new(1_000.0, Arrival::Constant, 1).with_workers(2);
        let shared = RunShared::new(0);
        let waiter = waiter(SpinMode::On, 2);
        let epoch = Instant::now();
        // Worker 0 claimed arrival 0 and stalls (never comes back to it).
        let due = schedule.take();
        schedule.claims[0].store(due, Ordering::Release);
        assert_eq!(schedule.earliest_claim(), Some((0, 0)));
        // Worker 1, free, backs it up and sends it.
        let (sent, _) = schedule
            .wait_for_next(1, &waiter, epoch, &shared, |_| {})
            .expect("not stopped");
        assert_eq!(sent, 0);
        // The owner, back late, finds it sent.
        assert!(!schedule.send_claim(0, due));
        // No claim left to back up: the next free worker claims arrival 1.
        let (sent, _) = schedule
            .wait_for_next(1, &waiter, epoch, &shared, |_| {})
            .expect("not stopped");
        assert_eq!(sent, 1_000_000);
    }

    #[test]
    fn a_stopped_run_leaves_no_claim_behind() {
        let schedule = ArrivalSchedule::new(10.0, Arrival::Constant, 1).with_workers(2);
        let shared = Arc::new(RunShared::new(0));
        schedule.take();
        let stopper = {
            let shared = Arc::clone(&shared);
            std::thread::Builder::new()
                .name("test-stopper".to_owned())
                .spawn(move || {
                    std::thread::sleep(Duration::from_millis(30));
                    shared.stop.store(true, Ordering::Relaxed);
                })
                .expect("spawn")
        };
        let waiter = waiter(SpinMode::Off, 2);
        // Arrival 1 is due in 100 ms; the stop comes first.
        assert_eq!(
            schedule.wait_for_next(0, &waiter, Instant::now(), &shared, |_| {}),
            None
        );
        stopper.join().expect("join");
        assert_eq!(schedule.earliest_claim(), None);
    }
}
