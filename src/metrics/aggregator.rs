//! The aggregator thread: drains sample batches, keeps histograms and
//! windows, and publishes snapshots at a fixed interval.

use std::{
    collections::BTreeMap,
    sync::{Arc, atomic::Ordering},
    time::{Duration, Instant},
};

use crossbeam_channel::{Receiver, TryRecvError};

use super::{
    BatchSizeCount, CompactHistogram, LatencyHistogram, MAX_REQUEST_SPANS, MAX_WINDOWS,
    RequestSpan, RunShared, Sample, Snapshot, WINDOW_NANOS, WindowStats,
    generation::{GenerationPartial, GenerationSummary},
    recorder::{Recorder, Tracked, WindowPartial},
    slo::{LatencyBound, SloProgress},
};
use crate::telemetry::TelemetrySample;

/// Late samples are still assigned to a window this long after it ends.
const WINDOW_GRACE_NANOS: u64 = 300_000_000;
/// Longest sleep of the aggregator between drains of the sample channel.
const DRAIN_INTERVAL: Duration = Duration::from_millis(100);
/// Buckets in the snapshot's latency histogram.
const SNAPSHOT_HISTOGRAM_BUCKETS: usize = 60;

/// Fixed parameters of an aggregation.
#[derive(Debug, Clone)]
pub struct AggregatorSettings {
    /// Inferences per request.
    pub batch_size: u64,
    pub publish_interval: Duration,
    /// The run's epoch: sample times count from here.
    pub epoch: Instant,
    /// What the recorders keep apart (queue and run time, lateness).
    pub tracked: Tracked,
    /// A latency bound whose pass test the snapshots carry (for early
    /// stopping and the live verdict).
    pub slo: Option<LatencyBound>,
}

/// Everything the aggregator measured, returned when it finishes.
#[derive(Debug, Clone)]
pub struct AggregatorOutput {
    pub latency: LatencyHistogram,
    pub queue: LatencyHistogram,
    pub service: LatencyHistogram,
    pub lateness: LatencyHistogram,
    pub requests_ok: u64,
    pub requests_failed: u64,
    pub profiled_requests: u64,
    /// Time inside the runs of the profiled requests, and of the others.
    pub profiled_service_nanos: u64,
    pub service_nanos: u64,
    pub after_stop_requests: u64,
    pub windows: Vec<WindowStats>,
    /// Per closed window, the queue, run and lateness histograms (for their
    /// confidence intervals; the latency one is in the window itself).
    pub window_parts: Vec<WindowParts>,
    pub dropped_windows: u64,
    pub spans: Vec<RequestSpan>,
    /// End of the last counted request, nanos since the epoch.
    pub last_end_nanos: u64,
    /// Dynamic batching: executed batches by rows, smallest first.
    pub batch_sizes: Vec<BatchSizeCount>,
    /// Generative runs: tokens, TTFT and inter-token gaps of the measured
    /// period.
    pub generation: Option<GenerationPartial>,
}

/// The histograms of one closed window besides its latency, kept in memory
/// only.
#[derive(Debug, Clone, Default)]
pub struct WindowParts {
    pub latency: Option<CompactHistogram>,
    pub queue: Option<CompactHistogram>,
    pub service: Option<CompactHistogram>,
    pub lateness: Option<CompactHistogram>,
    /// Generative runs: the window's TTFT and inter-token gaps.
    pub generation: Option<Box<GenerationPartial>>,
}

/// The aggregation state; [`Aggregator::run`] drives it on its own thread.
#[derive(Debug)]
pub struct Aggregator {
    settings: AggregatorSettings,
    shared: Arc<RunShared>,
    /// Totals of the measured period.
    totals: WindowPartial,
    open_windows: BTreeMap<u64, WindowPartial>,
    /// Index of the next window to close.
    next_window: u64,
    windows: Arc<Vec<WindowStats>>,
    window_parts: Vec<WindowParts>,
    /// `(total, over the SLO bound)` per closed window.
    slo_counts: Vec<(u64, u64)>,
    dropped_windows: u64,
    spans: Vec<RequestSpan>,
}

impl Aggregator {
    /// A new aggregator publishing into `shared`.
    pub fn new(settings: AggregatorSettings, shared: Arc<RunShared>) -> Self {
        let totals = WindowPartial::new(0, settings.tracked);
        Self {
            settings,
            shared,
            totals,
            open_windows: BTreeMap::new(),
            next_window: 0,
            windows: Arc::new(Vec::new()),
            window_parts: Vec::new(),
            slo_counts: Vec::new(),
            dropped_windows: 0,
            spans: Vec::new(),
        }
    }

    /// Drains `partials` until every sender is gone, publishing snapshots on
    /// the way, then publishes a final one and returns the totals.
    pub fn run(mut self, partials: &Receiver<WindowPartial>) -> AggregatorOutput {
        crate::util::lower_this_thread_priority();
        // Sleep and drain rather than block on the channel: a receiver that is
        // not waiting costs the workers no wake-up syscalls.
        let mut next_publish = Instant::now() + self.settings.publish_interval;
        loop {
            std::thread::sleep(
                next_publish
                    .saturating_duration_since(Instant::now())
                    .min(DRAIN_INTERVAL),
            );
            let mut is_disconnected = false;
            loop {
                match partials.try_recv() {
                    Ok(partial) => self.add_partial(partial),
                    Err(TryRecvError::Empty) => break,
                    Err(TryRecvError::Disconnected) => {
                        is_disconnected = true;
                        break;
                    }
                }
            }
            if is_disconnected {
                break;
            }
            if Instant::now() >= next_publish {
                self.close_windows(self.now_nanos(), false);
                self.publish();
                next_publish = Instant::now() + self.settings.publish_interval;
            }
        }
        let shared = Arc::clone(&self.shared);
        let output = self.finish();
        shared.add_harness_cpu_of_this_thread();
        output
    }

    fn now_nanos(&self) -> u64 {
        u64::try_from(self.settings.epoch.elapsed().as_nanos()).unwrap_or(u64::MAX)
    }

    fn measure_start(&self) -> u64 {
        self.shared.measure_start_nanos.load(Ordering::Relaxed)
    }

    /// Adds one worker's partial of a window.
    pub fn add_partial(&mut self, mut partial: WindowPartial) {
        let room = MAX_REQUEST_SPANS.saturating_sub(self.spans.len());
        if room > 0 {
            let take = partial.spans.len().min(room);
            self.spans.extend(partial.spans.drain(..take));
            if self.spans.len() >= MAX_REQUEST_SPANS {
                self.shared.spans_full.store(true, Ordering::Relaxed);
            }
        }
        partial.spans.clear();
        // The totals' histograms take each window once, when it closes: one
        // merge per partial on this thread, not two.
        if partial.window >= self.next_window {
            self.totals.merge_counts(&partial);
            match self.open_windows.entry(partial.window) {
                std::collections::btree_map::Entry::Occupied(mut open) => {
                    open.get_mut().merge(&partial)
                }
                std::collections::btree_map::Entry::Vacant(slot) => {
                    slot.insert(partial);
                }
            }
        } else {
            // A partial of a window already closed still counts in the totals.
            self.totals.merge(&partial);
        }
    }

    /// Adds samples through a recorder of this aggregator's settings; for
    /// tests and benchmarks.
    pub fn add_samples(&mut self, samples: &[Sample]) {
        let (sender, receiver) = crossbeam_channel::bounded(samples.len() + 1);
        let mut recorder = Recorder::new(Arc::clone(&self.shared), sender, self.settings.tracked);
        for sample in samples {
            recorder.record(sample);
        }
        drop(recorder);
        for partial in receiver.try_iter() {
            self.add_partial(partial);
        }
    }

    /// Closes every window that ended more than the grace period before
    /// `now_nanos`, or all of them when `is_final` (the last one partial).
    fn close_windows(&mut self, now_nanos: u64, is_final: bool) {
        let measure_start = self.measure_start();
        if !is_final && now_nanos < measure_start {
            return;
        }
        let measure_end = self.shared.measure_end_nanos.load(Ordering::Relaxed);
        let end_nanos = if is_final {
            measure_end
        } else {
            now_nanos.saturating_sub(WINDOW_GRACE_NANOS)
        };
        let measured = end_nanos.saturating_sub(measure_start);
        let full_windows = measured / WINDOW_NANOS;
        let last_index = if is_final && measured % WINDOW_NANOS > 0 {
            full_windows + 1
        } else {
            full_windows
        };
        if self.next_window >= last_index {
            return;
        }
        let telemetry = self.shared.telemetry.load_full();
        let windows = Arc::make_mut(&mut self.windows);
        while self.next_window < last_index {
            let index = self.next_window;
            let accumulator = self
                .open_windows
                .remove(&index)
                .unwrap_or_else(|| WindowPartial::new(index, self.settings.tracked));
            self.totals.merge_histograms(&accumulator);
            let duration_nanos = if index < full_windows {
                WINDOW_NANOS
            } else {
                measured % WINDOW_NANOS
            };
            windows.push(window_stats(
                index,
                duration_nanos,
                &accumulator,
                self.settings.batch_size,
                telemetry.as_deref(),
            ));
            if let Some(slo) = &self.settings.slo {
                let bound = (slo.bound_micros * 1000.0) as u64;
                self.slo_counts.push((
                    accumulator.latency.len(),
                    accumulator.latency.count_above_nanos(bound),
                ));
            }
            let compact = |histogram: Option<&LatencyHistogram>| {
                histogram
                    .filter(|histogram| !histogram.is_empty())
                    .map(CompactHistogram::of)
            };
            self.window_parts.push(WindowParts {
                latency: compact(Some(&accumulator.latency)),
                queue: compact(accumulator.queue.as_ref()),
                service: compact(accumulator.service.as_ref()),
                lateness: compact(accumulator.lateness.as_ref()),
                generation: accumulator.generation,
            });
            if windows.len() > MAX_WINDOWS {
                windows.remove(0);
                self.window_parts.remove(0);
                if !self.slo_counts.is_empty() {
                    self.slo_counts.remove(0);
                }
                self.dropped_windows += 1;
            }
            self.next_window += 1;
        }
    }

    /// The live pass test of the SLO bound, on the closed windows so far.
    fn slo_progress(&self) -> Option<SloProgress> {
        let slo = self.settings.slo?;
        let total: u64 = self.slo_counts.iter().map(|(total, _)| total).sum();
        let over: u64 = self.slo_counts.iter().map(|(_, over)| over).sum();
        Some(SloProgress {
            bound: slo,
            total,
            over,
            windows: self.slo_counts.clone(),
        })
    }

    fn publish(&self) {
        let now_nanos = self.now_nanos();
        let measure_start = self.measure_start();
        let measure_end = self.shared.measure_end_nanos.load(Ordering::Relaxed);
        let measured_secs = now_nanos.min(measure_end).saturating_sub(measure_start) as f64 / 1e9;
        let totals = &self.totals;
        let requests = totals.requests_ok + totals.errors;
        let rate = |count: u64| {
            if measured_secs > 0.0 {
                count as f64 / measured_secs
            } else {
                0.0
            }
        };
        let snapshot = Snapshot {
            phase: self.shared.phase(),
            elapsed_secs: now_nanos as f64 / 1e9,
            measured_secs,
            requests_ok: totals.requests_ok,
            requests_failed: totals.errors,
            inferences: totals.requests_ok * self.settings.batch_size,
            inferences_per_sec: rate(totals.requests_ok * self.settings.batch_size),
            requests_per_sec: rate(requests),
            latency: totals.latency.summary(),
            queue: totals.queue.as_ref().and_then(LatencyHistogram::summary),
            service: totals.service.as_ref().unwrap_or(&totals.latency).summary(),
            lateness: totals.lateness.as_ref().and_then(LatencyHistogram::summary),
            windows: Arc::clone(&self.windows),
            histogram: totals.latency.buckets(SNAPSHOT_HISTOGRAM_BUCKETS),
            dropped_samples: self.shared.dropped_samples.load(Ordering::Relaxed),
            errors: self.shared.errors(),
            telemetry: self.shared.telemetry.load_full().as_deref().cloned(),
            gpu: self.shared.gpu.load_full().as_deref().cloned(),
            layers: self.shared.layers.load_full(),
            batch_sizes: batch_size_counts(&totals.batch_sizes),
            slo: self.slo_progress(),
            validity: self.shared.live_validity.load_full(),
            generation: totals.generation.as_deref().map(|generation| {
                Arc::new(GenerationSummary::from_totals(
                    generation,
                    totals.latency.summary(),
                    measured_secs,
                    self.settings.tracked.generation,
                ))
            }),
        };
        self.shared.snapshot.store(Arc::new(snapshot));
    }

    /// Closes the remaining windows, publishes the last snapshot and returns
    /// the totals.
    pub fn finish(mut self) -> AggregatorOutput {
        // Without an explicit end (a request-count limit), the measured period
        // ends with the last counted request.
        if self.shared.measure_end_nanos.load(Ordering::Relaxed) == u64::MAX {
            let end = self.totals.last_end_nanos.max(self.measure_start());
            self.shared.measure_end_nanos.store(end, Ordering::Relaxed);
        }
        let now = self.now_nanos();
        self.close_windows(now, true);
        self.publish();
        let totals = self.totals;
        let service = totals.service.unwrap_or_else(|| totals.latency.clone());
        AggregatorOutput {
            batch_sizes: batch_size_counts(&totals.batch_sizes),
            queue: totals.queue.unwrap_or_default(),
            lateness: totals.lateness.unwrap_or_default(),
            service,
            latency: totals.latency,
            requests_ok: totals.requests_ok,
            requests_failed: totals.errors,
            profiled_requests: totals.profiled,
            profiled_service_nanos: totals.profiled_service_nanos,
            service_nanos: totals.service_nanos,
            after_stop_requests: totals.after_stop,
            windows: Arc::unwrap_or_clone(self.windows),
            window_parts: self.window_parts,
            dropped_windows: self.dropped_windows,
            spans: self.spans,
            last_end_nanos: totals.last_end_nanos,
            generation: totals.generation.map(|generation| *generation),
        }
    }
}

fn batch_size_counts(sizes: &BTreeMap<u32, u64>) -> Vec<BatchSizeCount> {
    sizes
        .iter()
        .map(|(size, count)| BatchSizeCount {
            size: *size,
            count: *count,
        })
        .collect()
}

fn window_stats(
    index: u64,
    duration_nanos: u64,
    accumulator: &WindowPartial,
    batch_size: u64,
    telemetry: Option<&TelemetrySample>,
) -> WindowStats {
    let duration_secs = duration_nanos as f64 / 1e9;
    let per_sec = |count: u64| {
        if duration_secs > 0.0 {
            count as f64 / duration_secs
        } else {
            0.0
        }
    };
    let quantile = |histogram: Option<&LatencyHistogram>, q: f64| {
        histogram
            .filter(|histogram| !histogram.is_empty())
            .map(|histogram| histogram.quantile_micros(q))
    };
    let ok_requests = accumulator.requests_ok;
    let latency = Some(&accumulator.latency);
    // Run time was not recorded apart when it equals latency.
    let service = accumulator.service.as_ref().or(latency);
    let (batches, batch_rows) = accumulator.batches();
    let generation = accumulator.generation.as_deref();
    WindowStats {
        start_secs: (index * WINDOW_NANOS) as f64 / 1e9,
        duration_secs,
        requests: ok_requests + accumulator.errors,
        errors: accumulator.errors,
        inferences: ok_requests * batch_size,
        inferences_per_sec: per_sec(ok_requests * batch_size),
        requests_per_sec: per_sec(ok_requests + accumulator.errors),
        p50_micros: quantile(latency, 0.50),
        mean_micros: accumulator.latency.mean_micros(),
        p95_micros: quantile(latency, 0.95),
        p99_micros: quantile(latency, 0.99),
        queue_p50_micros: quantile(accumulator.queue.as_ref(), 0.50),
        queue_p99_micros: quantile(accumulator.queue.as_ref(), 0.99),
        service_p50_micros: quantile(service, 0.50),
        service_p99_micros: quantile(service, 0.99),
        lateness_p50_micros: quantile(accumulator.lateness.as_ref(), 0.50),
        lateness_p99_micros: quantile(accumulator.lateness.as_ref(), 0.99),
        process_cpu_percent: telemetry.map(|t| t.process_cpu_percent),
        rss_bytes: telemetry.map(|t| t.rss_bytes),
        mean_batch_size: (batches > 0).then(|| batch_rows as f64 / batches as f64),
        latency_histogram: (!accumulator.latency.is_empty())
            .then(|| accumulator.latency.encode().ok())
            .flatten()
            .map(Into::into),
        ttft_p50_micros: quantile(generation.map(|g| &g.ttft), 0.50),
        ttft_p99_micros: quantile(generation.map(|g| &g.ttft), 0.99),
        itl_p50_micros: quantile(generation.map(|g| &g.itl), 0.50),
        itl_p99_micros: quantile(generation.map(|g| &g.itl), 0.99),
        output_tokens_per_sec: generation.map(|g| per_sec(g.output_tokens)),
        kv_cache_bytes: generation
            .map(|g| g.kv_cache_bytes)
            .filter(|&bytes| bytes > 0),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::metrics::MAX_ERROR_MESSAGES;

    fn sample(scheduled_ms: u64, start_ms: u64, end_ms: u64, is_ok: bool) -> Sample {
        Sample {
            scheduled_nanos: scheduled_ms * 1_000_000,
            start_nanos: start_ms * 1_000_000,
            end_nanos: end_ms * 1_000_000,
            worker: 0,
            is_ok,
            is_profiled: false,
            batch_rows: 0,
            is_batch_lead: false,
            late_nanos: 0,
        }
    }

    fn aggregator(measure_start_ms: u64) -> Aggregator {
        let shared = Arc::new(RunShared::new(measure_start_ms * 1_000_000));
        Aggregator::new(
            AggregatorSettings {
                batch_size: 4,
                publish_interval: Duration::from_millis(200),
                epoch: Instant::now(),
                tracked: Tracked {
                    generation: None,
                    queue: true,
                    lateness: false,
                },
                slo: None,
            },
            shared,
        )
    }

    #[test]
    fn executed_batches_are_counted_once_per_batch() {
        let mut aggregator = aggregator(0);
        let batched = |start_ms: u64, rows: u32, is_lead: bool| Sample {
            batch_rows: rows,
            is_batch_lead: is_lead,
            ..sample(start_ms, start_ms + 1, start_ms + 5, true)
        };
        aggregator.add_samples(&[
            batched(10, 3, true),
            batched(10, 3, false),
            batched(10, 3, false),
            batched(20, 1, true),
            batched(1500, 4, true),
            batched(1500, 4, false),
        ]);
        aggregator
            .shared
            .measure_end_nanos
            .store(2_000_000_000, Ordering::Relaxed);
        let output = aggregator.finish();
        assert_eq!(
            output.batch_sizes,
            vec![
                BatchSizeCount { size: 1, count: 1 },
                BatchSizeCount { size: 3, count: 1 },
                BatchSizeCount { size: 4, count: 1 },
            ]
        );
        assert_eq!(output.windows[0].mean_batch_size, Some(2.0));
        assert_eq!(output.windows[1].mean_batch_size, Some(4.0));
        assert_eq!(
            crate::metrics::mean_batch_size(&output.batch_sizes),
            Some(8.0 / 3.0)
        );
    }

    #[test]
    fn warmup_samples_are_ignored_and_windows_are_split_by_end_time() {
        let mut aggregator = aggregator(1000);
        aggregator.add_samples(&[
            sample(500, 500, 510, true),    // warm-up
            sample(1000, 1000, 1010, true), // window 0, 10 ms
            sample(1500, 1500, 1530, true), // window 0, 30 ms
            sample(2100, 2100, 2120, true), // window 1, 20 ms
            sample(2200, 2200, 2300, false),
        ]);
        aggregator
            .shared
            .measure_end_nanos
            .store(3_000_000_000, Ordering::Relaxed);
        let output = aggregator.finish();
        assert_eq!(output.requests_ok, 3);
        assert_eq!(output.requests_failed, 1);
        assert_eq!(output.windows.len(), 2);
        assert_eq!(output.windows[0].requests, 2);
        assert!((output.windows[0].inferences_per_sec - 8.0).abs() < 1e-9);
        assert_eq!(output.windows[1].errors, 1);
        assert_eq!(output.latency.len(), 3);
        let summary = output.latency.summary().expect("latency");
        assert!(
            (summary.max_micros - 30_000.0).abs() < 30.0,
            "{}",
            summary.max_micros
        );
    }

    #[test]
    fn open_loop_latency_counts_from_the_schedule() {
        let mut aggregator = aggregator(0);
        // Scheduled at 0, started 40 ms late, ran 10 ms: latency 50 ms.
        aggregator.add_samples(&[sample(0, 40, 50, true)]);
        let output = aggregator.finish();
        let latency = output.latency.summary().expect("latency");
        let queue = output.queue.summary().expect("queue");
        let service = output.service.summary().expect("service");
        assert!((latency.p50_micros - 50_000.0).abs() < 50.0);
        assert!((queue.p50_micros - 40_000.0).abs() < 40.0);
        assert!((service.p50_micros - 10_000.0).abs() < 10.0);
    }

    #[test]
    fn samples_after_the_measured_end_are_set_aside() {
        let mut aggregator = aggregator(0);
        aggregator
            .shared
            .measure_end_nanos
            .store(100_000_000, Ordering::Relaxed);
        aggregator.add_samples(&[sample(0, 0, 50, true), sample(60, 60, 150, true)]);
        let output = aggregator.finish();
        assert_eq!(output.requests_ok, 1);
        assert_eq!(output.after_stop_requests, 1);
        assert_eq!(output.windows.len(), 1);
        assert!((output.windows[0].duration_secs - 0.1).abs() < 1e-9);
    }

    #[test]
    fn errors_keep_the_first_messages_only() {
        let shared = RunShared::new(0);
        for index in 0..25 {
            shared.record_error(|| format!("failure {index}"));
        }
        let errors = shared.errors();
        assert_eq!(errors.count, 25);
        assert_eq!(errors.first_messages.len(), MAX_ERROR_MESSAGES);
        assert_eq!(errors.first_messages[0], "failure 0");
    }
}
