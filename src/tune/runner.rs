//! [`SweepHandle`]: the `wb-sweep` thread that walks a [`SweepSpec`] one
//! point at a time through the engine's `RunHandle`, publishes a
//! [`SweepProgress`] after each point, can be stopped (what was measured is
//! kept) and returns a [`SweepResult`].

use std::{
    path::PathBuf,
    sync::{
        Arc, Mutex,
        atomic::{AtomicBool, Ordering},
    },
    thread::JoinHandle,
    time::Instant,
};

use arc_swap::ArcSwap;
use serde::{Deserialize, Serialize};

use super::{
    SearchMode, SweepSpec, TuneError, VaryKey,
    point::{MeasuredPoint, judge},
    search::{Probe, SATURATION_GAIN, early_stop_reason, grid_order, search_highest_passing},
    stats::{Decision, lowest_latency_near_best, pareto_indices, point_stability},
};
use crate::engine::{LayerProfiling, ProfileConfig, RunHandle, RunRecord, RunStatus, RunStopper};

/// Tolerance of the rate and concurrency searches (5 %).
pub const SEARCH_TOLERANCE: f64 = 0.05;
/// First rate of a rate search when neither the base configuration nor a
/// closed-loop calibration run gives one.
pub const DEFAULT_START_RATE: f64 = 100.0;
/// Highest rate a rate search tries.
pub const MAX_SEARCH_RATE: f64 = 1e6;
/// Highest client count a concurrency search tries.
pub const MAX_SEARCH_CONCURRENCY: f64 = 1024.0;
/// Longest a retried undecided point's measured period grows to, as a
/// multiple of the base duration.
const MAX_DURATION_GROWTH: f64 = 4.0;
/// Recommendations confirmed at most, when fresh runs do not uphold them.
const MAX_CONFIRMATIONS: usize = 3;

/// A point that did not run, and why.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SkippedPoint {
    pub label: String,
    pub reason: String,
}

/// The recommended point.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Recommendation {
    /// Index into the points.
    pub point: usize,
    pub config: ProfileConfig,
    /// Headroom to the first latency bound (0.25 = 25 % under it).
    pub margin: Option<f64>,
    /// True when the fresh confirmation run passed too.
    pub confirmed: bool,
    /// The confirmation run, when one was made.
    pub confirmation: Option<Box<MeasuredPoint>>,
}

/// How a sweep ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum SweepStatus {
    /// Every planned point was measured or skipped for a reason.
    Completed,
    /// The budget ran out; the rest is listed as skipped.
    BudgetSpent,
    /// Stopped by the user; what was measured is kept.
    Stopped,
}

impl std::fmt::Display for SweepStatus {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Self::Completed => "completed",
            Self::BudgetSpent => "budget spent",
            Self::Stopped => "stopped by the user",
        })
    }
}

/// Everything a sweep produced.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SweepResult {
    /// The model file; `None` for a served model given by name only.
    pub model: Option<PathBuf>,
    pub spec: SweepSpec,
    pub status: SweepStatus,
    pub points: Vec<MeasuredPoint>,
    pub skipped: Vec<SkippedPoint>,
    /// Indices into `points`, highest throughput first.
    pub pareto: Vec<usize>,
    pub recommendation: Option<Recommendation>,
    /// What the searches found, and other remarks.
    pub notes: Vec<String>,
    /// Wall time of the whole sweep, confirmation included.
    pub wall_secs: f64,
    /// Sum of the points' wall times (every attempt, confirmation included).
    pub points_secs: f64,
}

/// A finished point as the progress shows it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PointBrief {
    pub label: String,
    pub throughput_per_sec: f64,
    /// The SLO's chosen percentile, in µs.
    pub latency_micros: Option<f64>,
    pub decision: Decision,
    pub stable: bool,
    /// The run's validity verdict.
    pub validity: Option<crate::metrics::validity::Verdict>,
}

/// What a reader sees of a running sweep. Immutable, swapped after each point.
#[derive(Debug, Clone, Default)]
pub struct SweepProgress {
    pub points_done: usize,
    /// Points still planned (a search's count is an estimate).
    pub points_left: usize,
    pub elapsed_secs: f64,
    /// Mean point time × points left.
    pub eta_secs: Option<f64>,
    /// The point being measured.
    pub current: Option<String>,
    pub points: Vec<PointBrief>,
    /// The run record of each finished point (same order as `points`), so
    /// a reader can open a point's session while the sweep goes on.
    pub records: Vec<Arc<RunRecord>>,
    pub pareto: Vec<usize>,
    /// Index of the best passing point so far.
    pub recommendation: Option<usize>,
    pub finished: bool,
}

/// Shared between the handle and the sweep thread.
#[derive(Default)]
struct Shared {
    stop: AtomicBool,
    current: Mutex<Option<RunStopper>>,
    progress: ArcSwap<SweepProgress>,
}

/// A running (or finished) sweep.
pub struct SweepHandle {
    shared: Arc<Shared>,
    thread: Option<JoinHandle<SweepResult>>,
}

impl SweepHandle {
    /// Checks `spec` and starts the sweep of `model` on the `wb-sweep`
    /// thread. Points run one at a time through the engine.
    pub fn start(model: Option<PathBuf>, spec: SweepSpec) -> Result<Self, TuneError> {
        spec.validate()?;
        let shared = Arc::new(Shared::default());
        let thread_shared = Arc::clone(&shared);
        let thread = std::thread::Builder::new()
            .name("wb-sweep".to_owned())
            .spawn(crate::field::carried(move || {
                let mut runner = Runner::new(model, spec, thread_shared);
                runner.run();
                runner.finish()
            }))
            .map_err(|err| TuneError::Thread(err.to_string()))?;
        Ok(Self {
            shared,
            thread: Some(thread),
        })
    }

    /// The latest progress.
    pub fn progress(&self) -> Arc<SweepProgress> {
        self.shared.progress.load_full()
    }

    /// Stops the sweep: the point in flight is stopped (its partial run is
    /// kept), no new point starts, and no confirmation runs.
    pub fn stop(&self) {
        self.shared.stop.store(true, Ordering::Relaxed);
        if let Ok(current) = self.shared.current.lock()
            && let Some(stopper) = current.as_ref()
        {
            stopper.stop();
        }
    }

    /// A stop function for another thread (a Ctrl-C handler).
    pub fn stopper(&self) -> impl Fn() + Send + Sync + 'static {
        let shared = Arc::clone(&self.shared);
        move || {
            shared.stop.store(true, Ordering::Relaxed);
            if let Ok(current) = shared.current.lock()
                && let Some(stopper) = current.as_ref()
            {
                stopper.stop();
            }
        }
    }

    /// True once the sweep thread has finished.
    pub fn is_finished(&self) -> bool {
        self.thread.as_ref().is_none_or(JoinHandle::is_finished)
    }

    /// Waits for the sweep and returns its result. A panic of the sweep
    /// thread is returned as an error message.
    pub fn join(mut self) -> Result<SweepResult, TuneError> {
        let Some(thread) = self.thread.take() else {
            return Err(TuneError::Thread("joined twice".to_owned()));
        };
        thread
            .join()
            .map_err(|payload| TuneError::Thread(crate::util::panic_message(payload.as_ref())))
    }
}

impl Drop for SweepHandle {
    fn drop(&mut self) {
        if let Some(thread) = self.thread.take() {
            self.stop();
            let _ = thread.join();
        }
    }
}

/// What measuring a point led to.
enum Measured {
    /// Index into the points.
    Point(usize),
    /// Skipped (invalid for the model); listed.
    Skipped,
    /// The sweep must end (stop or budget).
    Halt,
    /// The point was stopped part-way (kept, at this index); the sweep ends.
    PointThenHalt(usize),
}

/// The state of the sweep thread.
struct Runner {
    model: Option<PathBuf>,
    spec: SweepSpec,
    shared: Arc<Shared>,
    started: Instant,
    status: SweepStatus,
    points: Vec<MeasuredPoint>,
    /// Shared copies of the points' records, for the progress.
    records: Vec<Arc<RunRecord>>,
    skipped: Vec<SkippedPoint>,
    notes: Vec<String>,
    points_secs: f64,
    planned_left: usize,
    recommendation: Option<Recommendation>,
}

fn label_of(values: &[(VaryKey, String)]) -> String {
    if values.is_empty() {
        return "base".to_owned();
    }
    values
        .iter()
        .map(|(key, value)| match key {
            VaryKey::BatchDelay => format!("{key}={value}us"),
            _ => format!("{key}={value}"),
        })
        .collect::<Vec<_>>()
        .join(" ")
}

impl Runner {
    fn new(model: Option<PathBuf>, mut spec: SweepSpec, shared: Arc<Shared>) -> Self {
        // The sweep measures load; per-layer timings are for `profile` of the
        // recommendation.
        spec.base.layer_profiling = LayerProfiling::Off;
        // Each generative run judges its requests against the objectives.
        if spec.slo.generation.is_set()
            && let Some(generation) = spec.base.generation.as_mut()
        {
            generation.slo = spec.slo.generation;
        }
        Self {
            model,
            spec,
            shared,
            started: Instant::now(),
            status: SweepStatus::Completed,
            points: Vec::new(),
            records: Vec::new(),
            skipped: Vec::new(),
            notes: Vec::new(),
            points_secs: 0.0,
            planned_left: 0,
            recommendation: None,
        }
    }

    fn stopped(&self) -> bool {
        self.shared.stop.load(Ordering::Relaxed)
    }

    /// Estimated wall time of one run of `config`.
    fn estimate_secs(&self, config: &ProfileConfig) -> f64 {
        let measured = config.duration_secs.unwrap_or(1.0) + config.warmup_secs;
        let attempts = self
            .points
            .iter()
            .map(|p| f64::from(p.attempts))
            .sum::<f64>();
        if attempts > 0.0 {
            // Mean observed wall time per attempt, at least the run's length.
            (self.points_secs / attempts).max(measured)
        } else {
            measured + 0.5
        }
    }

    fn budget_allows(&self, config: &ProfileConfig) -> bool {
        self.spec.budget_secs.is_none_or(|budget| {
            self.started.elapsed().as_secs_f64() + self.estimate_secs(config) <= budget
        })
    }

    fn publish(&self, current: Option<String>, finished: bool) {
        let percentile = self.spec.slo.chosen_percentile();
        let points: Vec<PointBrief> = self
            .points
            .iter()
            .map(|p| PointBrief {
                label: p.label.clone(),
                throughput_per_sec: p.throughput_per_sec(),
                latency_micros: p.latency_micros(percentile),
                decision: p.verdict.decision,
                stable: p.stability.is_stable(),
                validity: p
                    .record
                    .summary
                    .as_ref()
                    .and_then(|summary| summary.validity.as_ref())
                    .map(|validity| validity.verdict),
            })
            .collect();
        let eta_secs = (!self.points.is_empty())
            .then(|| self.estimate_secs(&self.spec.base) * self.planned_left as f64);
        self.shared.progress.store(Arc::new(SweepProgress {
            points_done: self.points.len(),
            points_left: self.planned_left,
            elapsed_secs: self.started.elapsed().as_secs_f64(),
            eta_secs,
            current,
            points,
            records: self.records.clone(),
            pareto: self.pareto(),
            recommendation: self.best_passing(),
            finished,
        }));
    }

    fn pareto(&self) -> Vec<usize> {
        let percentile = self.spec.slo.chosen_percentile();
        let pairs: Vec<(f64, f64)> = self
            .points
            .iter()
            .map(|p| {
                (
                    p.throughput_per_sec(),
                    p.latency_micros(percentile).unwrap_or(f64::NAN),
                )
            })
            .collect();
        pareto_indices(&pairs)
    }

    /// The highest-throughput stable passing point (outside a rate search,
    /// the lowest-latency one within [`SATURATION_GAIN`] of it). A rate search answers
    /// with an open-loop rate, so its closed-loop calibration run is not a
    /// candidate.
    fn best_passing(&self) -> Option<usize> {
        self.best_passing_except(&[])
    }

    /// The recommendation as [`Self::best_passing`] picks it, leaving out
    /// `rejected` (points whose confirmation run failed).
    fn best_passing_except(&self, rejected: &[usize]) -> Option<usize> {
        let rate_search = self.spec.search == SearchMode::Rate;
        let candidates: Vec<usize> = (0..self.points.len())
            .filter(|i| !rejected.contains(i))
            .filter(|&i| self.points[i].is_usable_pass())
            .filter(|&i| {
                !(rate_search
                    && matches!(self.points[i].config.load, crate::engine::LoadMode::Closed))
            })
            .collect();
        let throughput = |i: usize| self.points[i].throughput_per_sec();
        if rate_search {
            // The offered rate is the answer: no trading it for latency.
            return candidates
                .into_iter()
                .max_by(|&a, &b| throughput(a).total_cmp(&throughput(b)));
        }
        let percentile = self.spec.slo.chosen_percentile();
        let judged: Vec<(usize, f64, f64)> = candidates
            .into_iter()
            .map(|i| {
                let latency = self.points[i]
                    .latency_micros(percentile)
                    .unwrap_or(f64::INFINITY);
                (i, throughput(i), latency)
            })
            .collect();
        lowest_latency_near_best(&judged, SATURATION_GAIN)
    }

    /// Runs `config` once through the engine; `Err` is the reason the
    /// configuration cannot run on this model.
    fn run_once(
        &mut self,
        config: &ProfileConfig,
    ) -> Result<(crate::engine::RunRecord, f64), String> {
        let started = Instant::now();
        let handle = crate::engine::ModelRef::of(self.model.clone(), config)
            .map_err(|err| err.to_string())
            .and_then(|model| {
                RunHandle::start(model, config.clone()).map_err(|err| err.to_string())
            })?;
        if let Ok(mut current) = self.shared.current.lock() {
            *current = Some(handle.stopper());
        }
        if self.stopped() {
            handle.stop();
        }
        let mut record = handle.join();
        // The raw request spans (about 1 MB a run) are for one session's
        // Chrome trace; a sweep keeps its points small so a long grid stays
        // bounded in memory and on disk.
        if !record.trace.request_spans.is_empty() {
            record.trace.request_spans = Vec::new();
            record
                .notes
                .push("request spans are not kept for sweep points (no Chrome trace)".to_owned());
        }
        if let Ok(mut current) = self.shared.current.lock() {
            *current = None;
        }
        let wall_secs = started.elapsed().as_secs_f64();
        self.points_secs += wall_secs;
        let measured_nothing = record.summary.as_ref().is_none_or(|s| s.requests_ok == 0);
        if record.status == RunStatus::Failed && measured_nothing {
            return Err(record
                .failure
                .clone()
                .unwrap_or_else(|| "the run failed".to_owned()));
        }
        Ok((record, wall_secs))
    }

    /// Measures one point with retries: an unstable point reruns as it
    /// was, an undecided one with a longer measured period (up to
    /// [`MAX_DURATION_GROWTH`] times), while the budget allows.
    fn measure_with(
        &mut self,
        mut config: ProfileConfig,
        values: Vec<(VaryKey, String)>,
    ) -> (Measured, Option<MeasuredPoint>) {
        let label = label_of(&values);
        if let Err(err) = config.validate() {
            self.skipped.push(SkippedPoint {
                label,
                reason: err.to_string(),
            });
            return (Measured::Skipped, None);
        }
        if self.stopped() {
            return (Measured::Halt, None);
        }
        if !self.budget_allows(&config) {
            self.status = SweepStatus::BudgetSpent;
            return (Measured::Halt, None);
        }
        self.publish(Some(label.clone()), false);
        let base_duration = config.duration_secs;
        let percentile = self.spec.slo.latency.first().map(|b| b.percentile);
        let mut attempts = 0;
        let mut wall = 0.0;
        loop {
            attempts += 1;
            let (record, secs) = match self.run_once(&config) {
                Ok(done) => done,
                Err(reason) => {
                    self.skipped.push(SkippedPoint { label, reason });
                    return (Measured::Skipped, None);
                }
            };
            wall += secs;
            let stability = point_stability(&record.timeseries, percentile, self.spec.stability);
            let verdict = judge(&record, &self.spec.slo);
            let done = stability.is_stable() && verdict.decision != Decision::Undecided;
            let point = MeasuredPoint {
                label: label.clone(),
                values: values.clone(),
                config: config.clone(),
                record,
                stability,
                verdict,
                attempts,
                wall_secs: wall,
            };
            if self.stopped() {
                return (Measured::Halt, Some(point));
            }
            if done || attempts > self.spec.max_retries {
                return (Measured::Point(0), Some(point));
            }
            if point.verdict.decision == Decision::Undecided
                && let (Some(base), Some(current)) = (base_duration, config.duration_secs)
            {
                config.duration_secs = Some((current * 2.0).min(base * MAX_DURATION_GROWTH));
            }
            if !self.budget_allows(&config) {
                return (Measured::Point(0), Some(point));
            }
        }
    }

    /// Measures and records a point; returns what happened.
    fn measure(&mut self, config: ProfileConfig, values: Vec<(VaryKey, String)>) -> Measured {
        let (outcome, point) = self.measure_with(config, values);
        let Some(point) = point else {
            return outcome;
        };
        let index = self.push_point(point);
        match outcome {
            Measured::Halt => Measured::PointThenHalt(index),
            _ => Measured::Point(index),
        }
    }

    /// Keeps a measured point and publishes the progress; returns its index.
    fn push_point(&mut self, point: MeasuredPoint) -> usize {
        self.records.push(Arc::new(point.record.clone()));
        self.points.push(point);
        self.publish(None, false);
        self.points.len() - 1
    }

    fn config_for(&self, values: &[(VaryKey, String)]) -> Result<ProfileConfig, String> {
        let mut config = self.spec.base.clone();
        for (key, value) in values {
            key.apply(value, &mut config)
                .map_err(|err| err.to_string())?;
        }
        Ok(config)
    }

    fn run(&mut self) {
        match self.spec.search {
            SearchMode::Grid => self.run_grid(),
            SearchMode::Rate | SearchMode::Concurrency => self.run_searches(),
            // Refused by `SweepSpec::validate`: a mix scales in `mix::scale`.
            SearchMode::Scale => {}
        }
        if self.stopped() {
            self.status = SweepStatus::Stopped;
        }
        self.recommend();
    }

    fn combinations(&self, ascending: bool) -> Vec<Vec<usize>> {
        let sizes: Vec<usize> = self
            .spec
            .dimensions
            .iter()
            .map(|d| d.values.len())
            .collect();
        let load_like: Vec<bool> = self
            .spec
            .dimensions
            .iter()
            .map(|d| ascending && d.key.is_load_like())
            .collect();
        grid_order(&sizes, &load_like)
    }

    fn values_of(&self, indices: &[usize]) -> Vec<(VaryKey, String)> {
        self.spec
            .dimensions
            .iter()
            .zip(indices)
            .map(|(d, &i)| (d.key, d.values[i].clone()))
            .collect()
    }

    fn run_grid(&mut self) {
        let order = self.combinations(true);
        let mut measured: Vec<(Vec<usize>, usize)> = Vec::new();
        self.planned_left = order.len();
        let mut halted = false;
        for indices in order {
            self.planned_left = self.planned_left.saturating_sub(1);
            let values = self.values_of(&indices);
            let label = label_of(&values);
            if halted {
                self.skipped.push(SkippedPoint {
                    label,
                    reason: self.halt_reason(),
                });
                continue;
            }
            if let Some(reason) = self.early_stop(&indices, &measured) {
                self.skipped.push(SkippedPoint { label, reason });
                continue;
            }
            let config = match self.config_for(&values) {
                Ok(config) => config,
                Err(reason) => {
                    self.skipped.push(SkippedPoint { label, reason });
                    continue;
                }
            };
            match self.measure(config, values) {
                Measured::Point(index) => measured.push((indices, index)),
                Measured::Skipped => {}
                Measured::PointThenHalt(index) => {
                    halted = true;
                    measured.push((indices, index));
                }
                Measured::Halt => {
                    halted = true;
                    self.skipped.push(SkippedPoint {
                        label,
                        reason: self.halt_reason(),
                    });
                }
            }
        }
    }

    fn halt_reason(&self) -> String {
        if self.stopped() {
            "not run: the sweep was stopped".to_owned()
        } else {
            "not run: the budget was spent".to_owned()
        }
    }

    /// The early-stop rule along each dimension of `indices`.
    fn early_stop(&self, indices: &[usize], measured: &[(Vec<usize>, usize)]) -> Option<String> {
        for (dim, dimension) in self.spec.dimensions.iter().enumerate() {
            let line: Vec<(usize, f64, bool)> = measured
                .iter()
                .filter(|(other, _)| {
                    other
                        .iter()
                        .zip(indices)
                        .enumerate()
                        .all(|(d, (a, b))| d == dim || a == b)
                })
                .map(|(other, point)| {
                    let p = &self.points[*point];
                    (other[dim], p.throughput_per_sec(), p.verdict.latency_failed)
                })
                .collect();
            if let Some(reason) =
                early_stop_reason(indices[dim], &line, dimension.key.is_load_like())
            {
                return Some(format!("{}: {reason}", dimension.key));
            }
        }
        None
    }

    fn run_searches(&mut self) {
        let combos = self.combinations(false);
        let total = combos.len();
        for (n, indices) in combos.into_iter().enumerate() {
            let values = self.values_of(&indices);
            let label = label_of(&values);
            if self.stopped() || self.status == SweepStatus::BudgetSpent {
                self.skipped.push(SkippedPoint {
                    label,
                    reason: self.halt_reason(),
                });
                continue;
            }
            // A search makes about 8 probes; the estimate is refined as it goes.
            self.planned_left = (total - n) * 8;
            let config = match self.config_for(&values) {
                Ok(config) => config,
                Err(reason) => {
                    self.skipped.push(SkippedPoint { label, reason });
                    continue;
                }
            };
            self.search_one(config, values, &label);
        }
        self.planned_left = 0;
    }

    fn search_one(&mut self, config: ProfileConfig, values: Vec<(VaryKey, String)>, label: &str) {
        let (key, start, max, integer) = match self.spec.search {
            SearchMode::Rate => {
                let start = match config.load {
                    crate::engine::LoadMode::Open { rate_per_sec, .. } => rate_per_sec,
                    crate::engine::LoadMode::Closed => match self.calibrate(&config, &values) {
                        Some(start) => start,
                        None => return,
                    },
                };
                (VaryKey::Rate, start, MAX_SEARCH_RATE, false)
            }
            _ => (
                VaryKey::Concurrency,
                f64::from(config.concurrency.max(1)),
                MAX_SEARCH_CONCURRENCY,
                true,
            ),
        };
        let mut skipped_reason = None;
        let outcome = search_highest_passing(start, 1.0, max, SEARCH_TOLERANCE, integer, |value| {
            let text = if integer {
                format!("{}", value as u64)
            } else {
                format!("{:.2}", value)
                    .trim_end_matches('0')
                    .trim_end_matches('.')
                    .to_owned()
            };
            let mut probe_config = config.clone();
            if let Err(err) = key.apply(&text, &mut probe_config) {
                skipped_reason = Some(err.to_string());
                return Probe::Stop;
            }
            let mut probe_values = values.clone();
            probe_values.push((key, text));
            self.planned_left = self.planned_left.saturating_sub(1);
            match self.measure(probe_config, probe_values) {
                // The knee is found by the pass test (an undecided point
                // counts as failing); stability decides only whether a
                // passing point can be recommended.
                Measured::Point(index) => {
                    if self.points[index].verdict.decision == Decision::Pass {
                        Probe::Pass
                    } else {
                        Probe::Fail
                    }
                }
                Measured::Skipped | Measured::Halt | Measured::PointThenHalt(_) => Probe::Stop,
            }
        });
        if let Some(reason) = skipped_reason {
            self.skipped.push(SkippedPoint {
                label: label.to_owned(),
                reason,
            });
        }
        let unit = if integer { " clients" } else { " requests/s" };
        let note = match (outcome.best, outcome.failed_above) {
            (Some(best), Some(high)) => format!(
                "{label}: highest passing {key} {best:.1}{unit} (fails at {high:.1}{unit}), {} probes",
                outcome.probes.len()
            ),
            (Some(best), None) => format!(
                "{label}: every {key} tried passed, up to {best:.1}{unit}{}",
                if outcome.cut_short {
                    " (search cut short)"
                } else {
                    ""
                }
            ),
            (None, _) => format!(
                "{label}: no {key} passed the SLO{}",
                if outcome.cut_short {
                    " (search cut short)"
                } else {
                    ""
                }
            ),
        };
        self.notes.push(note);
    }

    /// A rate search without `--rate` starts from a closed-loop run of the
    /// same configuration: half its request rate (at least 1/s), which is
    /// below the knee and saves the doubling steps from a guess. The
    /// closed-loop point is kept with the others. `None` when the sweep must
    /// end or the configuration cannot run.
    fn calibrate(&mut self, config: &ProfileConfig, values: &[(VaryKey, String)]) -> Option<f64> {
        let mut calibration_values = values.to_vec();
        calibration_values.push((VaryKey::Rate, "closed-loop".to_owned()));
        let label = label_of(&calibration_values);
        let (outcome, point) = self.measure_with(config.clone(), values.to_vec());
        let mut point = point?;
        point.label = label;
        let requests_per_sec = point
            .record
            .summary
            .as_ref()
            .map_or(0.0, |s| s.requests_per_sec);
        self.push_point(point);
        if matches!(outcome, Measured::Halt) {
            return None;
        }
        Some(if requests_per_sec > 0.0 {
            (requests_per_sec / 2.0).max(1.0)
        } else {
            DEFAULT_START_RATE
        })
    }

    fn recommend(&mut self) {
        let mut rejected = Vec::new();
        loop {
            let Some(index) = self.best_passing_except(&rejected) else {
                if rejected.is_empty() {
                    self.notes
                        .push("no stable point passed the SLO: nothing to recommend".to_owned());
                }
                return;
            };
            let confirmed = self.recommend_point(index);
            // A recommendation its fresh run does not uphold gives way to
            // the next passing point (run-to-run variation near the knee),
            // a few times at most.
            if confirmed != Some(false) || rejected.len() + 1 >= MAX_CONFIRMATIONS {
                return;
            }
            rejected.push(index);
            if self.best_passing_except(&rejected).is_some() {
                self.notes.push(format!(
                    "{} was not upheld by its confirmation run; the next passing point is tried",
                    self.points[index].label
                ));
            }
        }
    }

    /// Recommends point `index` and confirms it with a fresh run when asked;
    /// returns whether the confirmation passed (`None`: none was made).
    fn recommend_point(&mut self, index: usize) -> Option<bool> {
        let point = &self.points[index];
        let config = point.config.clone();
        let margin = point.verdict.margin;
        let mut recommendation = Recommendation {
            point: index,
            config: config.clone(),
            margin,
            confirmed: false,
            confirmation: None,
        };
        let mut confirmed = None;
        if !self.spec.confirm {
            self.notes
                .push("the recommendation was not confirmed (confirmation off)".to_owned());
        } else if self.stopped() {
            self.notes
                .push("the recommendation was not confirmed: the sweep was stopped".to_owned());
        } else {
            self.publish(Some(format!("confirming {}", point.label)), false);
            let values = point.values.clone();
            // The confirmation has no budget check: it is part of the answer.
            let budget = self.spec.budget_secs.take();
            let (_, confirmation) = self.measure_with(config, values);
            self.spec.budget_secs = budget;
            match confirmation {
                Some(run) => {
                    recommendation.confirmed = run.is_usable_pass();
                    confirmed = Some(recommendation.confirmed);
                    recommendation.confirmation = Some(Box::new(run));
                }
                None => self
                    .notes
                    .push("the confirmation run could not be made".to_owned()),
            }
        }
        self.recommendation = Some(recommendation);
        confirmed
    }

    fn finish(self) -> SweepResult {
        self.publish(None, true);
        SweepResult {
            pareto: self.pareto(),
            model: self.model,
            status: self.status,
            skipped: self.skipped,
            recommendation: self.recommendation,
            notes: self.notes,
            wall_secs: self.started.elapsed().as_secs_f64(),
            points_secs: self.points_secs,
            points: self.points,
            spec: self.spec,
        }
    }
}
