//! The state a run's threads share: stop flag, phase, error counts, the
//! latest snapshot, telemetry and layer report, and the harness's own CPU
//! time. Workers touch only atomics here, never a lock, except on the error
//! path.

use std::sync::{
    Mutex,
    atomic::{AtomicBool, AtomicU8, AtomicU64, Ordering},
};

use arc_swap::{ArcSwap, ArcSwapOption};

use super::{
    ErrorSummary, MAX_ERROR_MESSAGES, RunPhase, Snapshot, layers::LayerReport, validity::Validity,
};
use crate::telemetry::TelemetrySample;

/// State shared by the controller, the workers, the aggregator and readers.
/// Workers only touch atomics here, never a lock, except on the error path.
#[derive(Debug)]
pub struct RunShared {
    /// Set to stop the load.
    pub stop: AtomicBool,
    phase: AtomicU8,
    /// Samples lost because the metrics channel was full.
    pub dropped_samples: AtomicU64,
    /// Measurement start, nanos since the epoch (end of warm-up).
    pub measure_start_nanos: AtomicU64,
    /// Measurement end, nanos since the epoch; `u64::MAX` while running.
    pub measure_end_nanos: AtomicU64,
    error_count: AtomicU64,
    error_messages: Mutex<Vec<String>>,
    /// The latest snapshot.
    pub snapshot: ArcSwap<Snapshot>,
    /// The latest telemetry sample.
    pub telemetry: ArcSwapOption<TelemetrySample>,
    /// The latest GPU sample.
    pub gpu: ArcSwapOption<crate::telemetry::GpuSample>,
    /// Per-layer timings, when available.
    pub layers: ArcSwapOption<LayerReport>,
    /// Set once the run holds as many request spans as it keeps.
    pub spans_full: AtomicBool,
    /// CPU time of the harness's own threads (aggregator, telemetry,
    /// controller, schedule feeders), added by each when it ends.
    pub harness_cpu_nanos: AtomicU64,
    /// The validity verdict so far, set by the controller while the load runs.
    pub live_validity: ArcSwapOption<Validity>,
    /// Open loop: waits for an arrival that spun their last stretch, and
    /// that slept all the way.
    pub spun_waits: AtomicU64,
    pub slept_waits: AtomicU64,
    /// Time the load threads spun before arrivals.
    pub spin_nanos: AtomicU64,
    /// CPU the load threads used outside the model's runs (their own
    /// bookkeeping, waits and spins), added by each when it ends.
    pub worker_outside_run_nanos: AtomicU64,
    /// Load threads whose CPU time could not be read.
    pub workers_without_cpu: AtomicU64,
    /// CPU time and wall time of the load threads, whole lives, added by
    /// each when it ends.
    pub worker_cpu_nanos: AtomicU64,
    pub worker_wall_nanos: AtomicU64,
    /// Load threads whose CPU and wall time were added.
    pub workers_timed: AtomicU64,
    /// What the start-up is doing (`loading the model`, `creating session
    /// 2 of 4`...), shown while the phase is `Starting`.
    stage: Mutex<String>,
}

impl RunShared {
    /// Fresh state with the measurement starting at `measure_start_nanos`.
    pub fn new(measure_start_nanos: u64) -> Self {
        Self {
            stop: AtomicBool::new(false),
            phase: AtomicU8::new(RunPhase::Starting.as_u8()),
            dropped_samples: AtomicU64::new(0),
            measure_start_nanos: AtomicU64::new(measure_start_nanos),
            measure_end_nanos: AtomicU64::new(u64::MAX),
            error_count: AtomicU64::new(0),
            error_messages: Mutex::new(Vec::new()),
            snapshot: ArcSwap::from_pointee(Snapshot::default()),
            telemetry: ArcSwapOption::empty(),
            gpu: ArcSwapOption::empty(),
            layers: ArcSwapOption::empty(),
            spans_full: AtomicBool::new(false),
            harness_cpu_nanos: AtomicU64::new(0),
            live_validity: ArcSwapOption::empty(),
            spun_waits: AtomicU64::new(0),
            slept_waits: AtomicU64::new(0),
            spin_nanos: AtomicU64::new(0),
            worker_outside_run_nanos: AtomicU64::new(0),
            workers_without_cpu: AtomicU64::new(0),
            worker_cpu_nanos: AtomicU64::new(0),
            worker_wall_nanos: AtomicU64::new(0),
            workers_timed: AtomicU64::new(0),
            stage: Mutex::new(String::new()),
        }
    }

    /// Adds what one load thread did: its spun and slept waits, and its CPU
    /// outside the model's runs and its spins (`None` when it could not be
    /// read).
    pub fn add_worker_tally(
        &self,
        spun: u64,
        slept: u64,
        spin_nanos: u64,
        outside_runs_nanos: Option<u64>,
        cpu_and_wall_nanos: Option<(u64, u64)>,
    ) {
        if let Some((cpu, wall)) = cpu_and_wall_nanos {
            self.worker_cpu_nanos.fetch_add(cpu, Ordering::Relaxed);
            self.worker_wall_nanos.fetch_add(wall, Ordering::Relaxed);
            self.workers_timed.fetch_add(1, Ordering::Relaxed);
        }
        self.spun_waits.fetch_add(spun, Ordering::Relaxed);
        self.slept_waits.fetch_add(slept, Ordering::Relaxed);
        self.spin_nanos.fetch_add(spin_nanos, Ordering::Relaxed);
        match outside_runs_nanos {
            Some(nanos) => {
                self.worker_outside_run_nanos
                    .fetch_add(nanos, Ordering::Relaxed);
            }
            None => {
                self.workers_without_cpu.fetch_add(1, Ordering::Relaxed);
            }
        }
    }

    /// Says what the start-up does now.
    pub fn set_stage(&self, stage: impl Into<String>) {
        if let Ok(mut current) = self.stage.lock() {
            *current = stage.into();
        }
    }

    /// What the start-up does now (empty before it says).
    pub fn stage(&self) -> String {
        self.stage.lock().map(|s| s.clone()).unwrap_or_default()
    }

    /// Whether the recorders should still keep request spans.
    pub fn spans_wanted(&self) -> bool {
        !self.spans_full.load(Ordering::Relaxed)
    }

    /// Adds the calling thread's CPU time so far to the harness's own.
    pub fn add_harness_cpu_of_this_thread(&self) {
        if let Some(nanos) = crate::telemetry::thread_cpu_nanos() {
            self.harness_cpu_nanos.fetch_add(nanos, Ordering::Relaxed);
        }
    }

    /// The current phase.
    pub fn phase(&self) -> RunPhase {
        RunPhase::from_u8(self.phase.load(Ordering::Relaxed))
    }

    /// Moves to `phase`.
    pub fn set_phase(&self, phase: RunPhase) {
        self.phase.store(phase.as_u8(), Ordering::Relaxed);
    }

    /// True once a stop was requested.
    #[inline]
    pub fn is_stopping(&self) -> bool {
        self.stop.load(Ordering::Relaxed)
    }

    /// Records a failed request (cold path).
    pub fn record_error(&self, message: impl FnOnce() -> String) {
        let previous = self.error_count.fetch_add(1, Ordering::Relaxed);
        if previous < MAX_ERROR_MESSAGES as u64
            && let Ok(mut messages) = self.error_messages.lock()
            && messages.len() < MAX_ERROR_MESSAGES
        {
            messages.push(message());
        }
    }

    /// Count and first messages of failed requests.
    pub fn errors(&self) -> ErrorSummary {
        ErrorSummary {
            count: self.error_count.load(Ordering::Relaxed),
            first_messages: self
                .error_messages
                .lock()
                .map(|m| m.clone())
                .unwrap_or_default(),
        }
    }
}
