//! How much a run's figures can be trusted, while it runs and at its end:
//! the open-loop saturation watch, early stopping on the SLO's pass test,
//! the live validity badge, the generator's own cost, and the final
//! validity verdict.

use std::sync::{Arc, atomic::Ordering};

use crate::{
    engine::{arrivals::ArrivalSchedule, config::ProfileConfig},
    metrics::{
        AggregatorOutput, CompactHistogram, GeneratorReport, RunShared, RunSummary, SloOutcome,
        Stability,
        confidence::{self, SaturationDetector, SloDecision},
        slo::{LatencyBound, Percentile},
        validity::{self, Evidence, Validity},
    },
    telemetry::TelemetrySample,
};

/// Why a watched load ends before its duration.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum EarlyEnd {
    /// The open-loop backlog grows without bound.
    Saturated,
    /// The SLO's pass test decided.
    SloDecided,
}

/// How far back the completion rate of a saturated run is measured.
const CAPACITY_SPAN_SECS: f64 = 2.0;

/// Windows the live validity looks back over for stability.
const LIVE_STABILITY_WINDOWS: usize = 10;

/// Watches a running load for a reason to end it before its duration: a
/// saturated open loop, or an SLO pass test that has decided.
pub(super) struct EndWatch {
    schedule: Option<Arc<ArrivalSchedule>>,
    detector: SaturationDetector,
    slo: Option<(LatencyBound, f64)>,
    early_stop: bool,
    capacity_per_sec: Option<f64>,
    /// The start of the newest closed window at the last look at the
    /// snapshot. (Not their count: once the history is capped at an hour,
    /// the count stays the same while windows keep closing.)
    seen_window_start: Option<f64>,
    /// `(seconds, arrivals taken)` over the last [`CAPACITY_SPAN_SECS`]:
    /// a saturated loop takes arrivals as fast as it completes requests.
    taken: std::collections::VecDeque<(f64, u64)>,
    /// The controller thread's CPU when the watch began.
    cpu_at_start: Option<u64>,
}

impl EndWatch {
    /// A watch for a run of `config`, open loop when `schedule` is given.
    pub(super) fn new(config: &ProfileConfig, schedule: Option<Arc<ArrivalSchedule>>) -> Self {
        Self {
            schedule,
            detector: SaturationDetector::new(),
            slo: config
                .slo
                .first()
                .map(|bound| (*bound, config.slo_confidence)),
            early_stop: config.early_stop,
            capacity_per_sec: None,
            seen_window_start: None,
            taken: std::collections::VecDeque::new(),
            cpu_at_start: crate::telemetry::thread_cpu_nanos(),
        }
    }

    /// The capacity estimated when the run was found saturated.
    pub(super) fn capacity_per_sec(&self) -> Option<f64> {
        self.capacity_per_sec
    }

    /// Looks at the run at `now_nanos` (measured from `measure_start`);
    /// returns why it should stop now, if it should.
    pub(super) fn check(
        &mut self,
        now_nanos: u64,
        measure_start: u64,
        shared: &RunShared,
    ) -> Option<EarlyEnd> {
        if now_nanos < measure_start {
            return None;
        }
        let measured_secs = (now_nanos - measure_start) as f64 / 1e9;
        if let Some(schedule) = &self.schedule {
            self.taken.push_back((measured_secs, schedule.taken()));
            while self
                .taken
                .front()
                .is_some_and(|(t, _)| measured_secs - t > CAPACITY_SPAN_SECS)
            {
                self.taken.pop_front();
            }
            if self
                .detector
                .observe(measured_secs, schedule.lag_secs(now_nanos))
            {
                // Requests still owed from before the measurement count
                // here too: each taken arrival is a request a worker served.
                if let (Some((t0, n0)), Some((t1, n1))) = (self.taken.front(), self.taken.back())
                    && t1 > t0
                {
                    self.capacity_per_sec = Some((n1 - n0) as f64 / (t1 - t0));
                }
                return Some(EarlyEnd::Saturated);
            }
        }
        let snapshot = shared.snapshot.load();
        let newest = snapshot.windows.last().map(|window| window.start_secs);
        if newest == self.seen_window_start {
            return None;
        }
        self.seen_window_start = newest;
        shared.live_validity.store(Some(Arc::new(live_validity(
            &snapshot,
            self.slo.map(|s| s.0),
        ))));
        if self.early_stop
            && let (Some((bound, confidence)), Some(progress)) = (self.slo, &snapshot.slo)
            && progress.windows.len() as u64 >= crate::engine::config::MIN_EARLY_STOP_WINDOWS
        {
            let decision = confidence::early_stop(
                progress.total,
                progress.over,
                &progress.windows,
                bound.percentile.quantile(),
                confidence,
            );
            if decision.decision != SloDecision::Undecided {
                return Some(EarlyEnd::SloDecided);
            }
        }
        None
    }

    /// Adds the controller thread's CPU over the watch to the harness's.
    pub(super) fn finish(&self, shared: &RunShared) {
        if let (Some(before), Some(after)) =
            (self.cpu_at_start, crate::telemetry::thread_cpu_nanos())
        {
            shared
                .harness_cpu_nanos
                .fetch_add(after.saturating_sub(before), Ordering::Relaxed);
        }
    }
}

/// The verdict shown while a run goes on: from the snapshot's totals and
/// its last windows.
fn live_validity(snapshot: &crate::metrics::Snapshot, slo: Option<LatencyBound>) -> Validity {
    let windows = &snapshot.windows;
    let start = windows.len().saturating_sub(LIVE_STABILITY_WINDOWS);
    let stability = crate::metrics::stability(&windows[start..]);
    let unstable = match &stability {
        Stability::Unstable { reason, .. } => Some(reason.as_str()),
        _ => None,
    };
    validity::judge(&Evidence {
        latency: snapshot.latency.as_ref(),
        lateness: snapshot.lateness.as_ref(),
        judged: slo.map(|bound| bound.percentile),
        slo_bound_micros: slo.map(|bound| bound.bound_micros),
        unstable,
        dropped_samples: snapshot.dropped_samples,
        ..Evidence::default()
    })
}

/// Cores the load threads kept busy, where they run the model themselves
/// (one intra-op thread, no inter-op pool, local sessions without dynamic
/// batching, whose batcher thread runs the model instead).
fn load_thread_cores(config: &ProfileConfig, shared: &RunShared) -> Option<f64> {
    let own_thread = config.intra_threads == 1
        && !config.parallel_execution
        && config.remote.is_none()
        && config.batching.is_none();
    let wall = shared.worker_wall_nanos.load(Ordering::Relaxed);
    let workers = shared.workers_timed.load(Ordering::Relaxed);
    (own_thread && wall > 0 && workers > 0).then(|| {
        // The workers' summed CPU over their mean life.
        let cpu = shared.worker_cpu_nanos.load(Ordering::Relaxed) as f64;
        cpu / (wall as f64 / workers as f64)
    })
}

/// What the generator did and cost over the run, and the harness's CPU
/// over it in nanoseconds (`None` when a thread's CPU could not be read),
/// and the time spent spinning (open loop).
pub(super) fn generator_report(
    config: &ProfileConfig,
    shared: &RunShared,
    telemetry: &[TelemetrySample],
) -> (GeneratorReport, Option<u64>, Option<u64>) {
    let is_open = matches!(config.load, crate::engine::LoadMode::Open { .. });
    let spun = shared.spun_waits.load(Ordering::Relaxed);
    let slept = shared.slept_waits.load(Ordering::Relaxed);
    let harness_nanos = shared.harness_cpu_nanos.load(Ordering::Relaxed)
        + shared.worker_outside_run_nanos.load(Ordering::Relaxed);
    let cpu_known = shared.workers_without_cpu.load(Ordering::Relaxed) == 0
        && crate::telemetry::thread_cpu_nanos().is_some();
    // Process CPU over the run, from the telemetry samples (percent of one
    // core, once a second).
    let process_cpu_secs: f64 = telemetry
        .windows(2)
        .map(|pair| (pair[1].t_secs - pair[0].t_secs) * pair[1].process_cpu_percent / 100.0)
        .sum();
    let report = GeneratorReport {
        spin: is_open.then(|| config.spin.to_string()),
        spun_share: (is_open && spun + slept > 0).then(|| spun as f64 / (spun + slept) as f64),
        harness_cpu_micros_per_request: None,
        spin_cpu_micros_per_request: None,
        harness_cpu_share: (cpu_known && process_cpu_secs > 0.0)
            .then(|| (harness_nanos as f64 / 1e9 / process_cpu_secs).min(1.0)),
        process_cores_share: process_cores_share(telemetry),
        load_thread_cores: load_thread_cores(config, shared).filter(|_| cpu_known),
    };
    let spin_nanos = shared.spin_nanos.load(Ordering::Relaxed);
    (
        report,
        cpu_known.then_some(harness_nanos),
        is_open.then_some(spin_nanos),
    )
}

/// The machine's cores as the OS reports them.
fn machine_cores() -> f64 {
    f64::from(crate::engine::arrivals::CoreBudget::of_machine().cores())
}

/// The process's CPU over the telemetry's span as a share of all cores.
fn process_cores_share(telemetry: &[TelemetrySample]) -> Option<f64> {
    let cores = machine_cores();
    let readings: Vec<f64> = telemetry
        .iter()
        .skip(1)
        .map(|sample| sample.process_cpu_percent)
        .collect();
    (!readings.is_empty())
        .then(|| readings.iter().sum::<f64>() / readings.len() as f64 / 100.0 / cores)
}

/// Completes a run's summary: the intervals of every percentile, the
/// run-level stability, the SLO outcome, the generator's cost per request
/// and the validity verdict.
pub(super) fn finish_summary(
    summary: &mut RunSummary,
    output: &AggregatorOutput,
    config: &ProfileConfig,
    early_stopped: bool,
    harness_cpu_nanos: Option<u64>,
    spin_nanos: Option<u64>,
) {
    use crate::metrics::intervals::{attach_intervals, stability_of};
    let parts = &output.window_parts;
    let windows_of = |pick: fn(&crate::metrics::WindowParts) -> Option<&CompactHistogram>| {
        parts.iter().filter_map(pick).collect::<Vec<_>>()
    };
    if let Some(latency) = &mut summary.latency {
        attach_intervals(
            latency,
            &output.latency,
            &windows_of(|p| p.latency.as_ref()),
        );
    }
    if let Some(queue) = &mut summary.queue {
        attach_intervals(queue, &output.queue, &windows_of(|p| p.queue.as_ref()));
    }
    if let Some(service) = &mut summary.service {
        let windows = if parts.iter().any(|p| p.service.is_some()) {
            windows_of(|p| p.service.as_ref())
        } else {
            windows_of(|p| p.latency.as_ref())
        };
        attach_intervals(service, &output.service, &windows);
    }
    if let Some(lateness) = &mut summary.lateness {
        attach_intervals(
            lateness,
            &output.lateness,
            &windows_of(|p| p.lateness.as_ref()),
        );
    }
    let slo = config.slo.first().copied();
    let histograms: Vec<Option<&CompactHistogram>> =
        parts.iter().map(|p| p.latency.as_ref()).collect();
    summary.stability = stability_of(
        &output.windows,
        &histograms,
        Some(slo.map_or(0.99, |bound| bound.percentile.quantile())),
    );
    summary.slo = slo.map(|bound| slo_outcome(bound, config.slo_confidence, output, early_stopped));
    let requests = summary.requests_ok + summary.requests_failed + summary.profiled_requests;
    if let Some(generator) = &mut summary.generator {
        generator.harness_cpu_micros_per_request = harness_cpu_nanos
            .filter(|_| requests > 0)
            .map(|nanos| nanos as f64 / 1000.0 / requests as f64);
        generator.spin_cpu_micros_per_request = spin_nanos
            .filter(|_| requests > 0)
            .map(|nanos| nanos as f64 / 1000.0 / requests as f64);
    }
    let profiler_slowdown = profiler_slowdown(output);
    summary.validity = Some(final_validity(
        summary,
        slo,
        profiler_slowdown,
        cores_wanted(config),
    ));
}

/// The pass test of `bound` over the whole run.
fn slo_outcome(
    bound: LatencyBound,
    confidence: f64,
    output: &AggregatorOutput,
    early_stopped: bool,
) -> SloOutcome {
    let bound_nanos = (bound.bound_micros * 1000.0) as u64;
    let total = output.latency.len();
    let over = output.latency.count_above_nanos(bound_nanos);
    let windows: Vec<(u64, u64)> = output
        .window_parts
        .iter()
        .filter_map(|p| p.latency.as_ref())
        .map(|h| (h.len(), h.count_above_nanos(bound_nanos)))
        .collect();
    let test = confidence::early_stop(
        total,
        over,
        &windows,
        bound.percentile.quantile(),
        confidence,
    );
    SloOutcome {
        bound,
        decision: test.decision,
        confidence,
        requests: total,
        over_bound: over,
        effective_requests: test.effective_samples,
        requests_needed: test.requests_needed,
        stopped_early: early_stopped,
    }
}

/// How much sampled per-layer profiling slowed the run: the extra time its
/// profiled requests spent in their runs, as a share of all run time.
fn profiler_slowdown(output: &AggregatorOutput) -> Option<f64> {
    let plain = output.requests_ok.checked_sub(output.profiled_requests)?;
    if output.profiled_requests == 0 || plain == 0 {
        return None;
    }
    let mean_plain = output.service_nanos as f64 / plain as f64;
    let mean_profiled = output.profiled_service_nanos as f64 / output.profiled_requests as f64;
    let extra = (mean_profiled - mean_plain).max(0.0) * output.profiled_requests as f64;
    let total = (output.service_nanos + output.profiled_service_nanos) as f64;
    (total > 0.0).then(|| extra / total)
}

/// Cores a local closed loop keeps busy (its workers' threads, at most the
/// machine's); `None` for loads that wait (open loop, pools, batching,
/// remote targets), whose CPU use says nothing about contention.
fn cores_wanted(config: &ProfileConfig) -> Option<f64> {
    let waits = matches!(config.load, crate::engine::LoadMode::Open { .. })
        || config.has_queue()
        || config.remote.is_some();
    let cores = machine_cores();
    let threads = f64::from(config.num_workers()) * f64::from(config.intra_threads.max(1));
    (!waits && config.intra_threads > 0).then(|| threads.min(cores))
}

/// The validity of a finished run.
fn final_validity(
    summary: &RunSummary,
    slo: Option<LatencyBound>,
    profiler_slowdown: Option<f64>,
    cores_wanted: Option<f64>,
) -> Validity {
    let cores = machine_cores();
    let cores_got = summary
        .generator
        .as_ref()
        .and_then(|generator| generator.process_cores_share)
        .map(|share| share * cores);
    let unstable = match &summary.stability {
        Stability::Unstable { reason, .. } => Some(reason.as_str()),
        _ => None,
    };
    validity::judge(&Evidence {
        latency: summary.latency.as_ref(),
        lateness: summary.lateness.as_ref(),
        judged: Some(slo.map_or(Percentile::P99, |bound| bound.percentile)),
        slo_bound_micros: slo.map(|bound| bound.bound_micros),
        unstable,
        saturated_capacity: summary.capacity_per_sec,
        harness_cpu_share: summary
            .generator
            .as_ref()
            .and_then(|generator| generator.harness_cpu_share),
        process_cores_share: summary
            .generator
            .as_ref()
            .and_then(|generator| generator.process_cores_share),
        profiler_slowdown,
        dropped_samples: summary.dropped_samples,
        cores_wanted_and_got: cores_wanted.zip(cores_got),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::metrics::{Snapshot, WindowStats};

    /// A snapshot holding the hour of windows the history keeps, the last
    /// one starting at `last_start` seconds.
    fn capped_history(last_start: f64) -> Snapshot {
        let windows = (0..3600)
            .map(|k| WindowStats {
                start_secs: last_start - f64::from(3599 - k),
                duration_secs: 1.0,
                requests: 100,
                ..WindowStats::default()
            })
            .collect();
        Snapshot {
            windows: Arc::new(windows),
            ..Snapshot::default()
        }
    }

    #[test]
    fn the_live_verdict_keeps_up_after_the_history_is_capped() {
        let shared = RunShared::new(0);
        let mut watch = EndWatch::new(&ProfileConfig::default(), None);
        shared.snapshot.store(Arc::new(capped_history(4000.0)));
        assert_eq!(watch.check(1, 0, &shared), None);
        assert!(shared.live_validity.load().is_some());
        // The same windows again: nothing new to judge.
        shared.live_validity.store(None);
        assert_eq!(watch.check(2, 0, &shared), None);
        assert!(shared.live_validity.load().is_none());
        // One more window closed and the oldest dropped: as many windows as
        // before, but a new one to judge.
        shared.snapshot.store(Arc::new(capped_history(4001.0)));
        assert_eq!(watch.check(3, 0, &shared), None);
        assert!(shared.live_validity.load().is_some());
    }
}
