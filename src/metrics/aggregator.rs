//! The aggregator thread: drains sample batches, keeps histograms and
//! windows, and publishes snapshots at a fixed interval.

use std::{
    collections::BTreeMap,
    sync::{
        Arc, Mutex,
        atomic::{AtomicBool, AtomicU8, AtomicU64, Ordering},
    },
    time::{Duration, Instant},
};

use arc_swap::{ArcSwap, ArcSwapOption};
use crossbeam_channel::{Receiver, TryRecvError};

use super::{
    BatchSizeCount, ErrorSummary, LatencyHistogram, MAX_ERROR_MESSAGES, MAX_REQUEST_SPANS,
    MAX_WINDOWS, RequestSpan, RunPhase, Sample, Snapshot, WINDOW_NANOS, WindowStats,
    layers::LayerReport,
};
use crate::telemetry::TelemetrySample;

/// Late samples are still assigned to a window this long after it ends.
const WINDOW_GRACE_NANOS: u64 = 300_000_000;
/// Longest sleep of the aggregator between drains of the sample channel.
const DRAIN_INTERVAL: Duration = Duration::from_millis(50);
/// Buckets in the snapshot's latency histogram.
const SNAPSHOT_HISTOGRAM_BUCKETS: usize = 60;

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

/// Fixed parameters of an aggregation.
#[derive(Debug, Clone)]
pub struct AggregatorSettings {
    /// Inferences per request.
    pub batch_size: u64,
    pub publish_interval: Duration,
    /// The run's epoch: sample times count from here.
    pub epoch: Instant,
    /// Keep queue and run time apart. Off when requests never wait (closed
    /// loop, a session per worker): then run time equals latency and is not
    /// recorded twice.
    pub track_queue: bool,
}

/// Everything the aggregator measured, returned when it finishes.
#[derive(Debug, Clone)]
pub struct AggregatorOutput {
    pub latency: LatencyHistogram,
    pub queue: LatencyHistogram,
    pub service: LatencyHistogram,
    pub requests_ok: u64,
    pub requests_failed: u64,
    pub profiled_requests: u64,
    pub after_stop_requests: u64,
    pub windows: Vec<WindowStats>,
    pub dropped_windows: u64,
    pub spans: Vec<RequestSpan>,
    /// End of the last counted request, nanos since the epoch.
    pub last_end_nanos: u64,
    /// Dynamic batching: executed batches by rows, smallest first.
    pub batch_sizes: Vec<BatchSizeCount>,
}

#[derive(Debug, Default)]
struct WindowAccumulator {
    requests: u64,
    errors: u64,
    latency: LatencyHistogram,
    queue: LatencyHistogram,
    service: LatencyHistogram,
    batches: u64,
    batch_rows: u64,
}

/// The aggregation state; [`Aggregator::run`] drives it on its own thread.
#[derive(Debug)]
pub struct Aggregator {
    settings: AggregatorSettings,
    shared: Arc<RunShared>,
    latency: LatencyHistogram,
    queue: LatencyHistogram,
    service: LatencyHistogram,
    requests_ok: u64,
    requests_failed: u64,
    profiled_requests: u64,
    after_stop_requests: u64,
    open_windows: BTreeMap<u64, WindowAccumulator>,
    /// Index of the next window to close.
    next_window: u64,
    windows: Arc<Vec<WindowStats>>,
    dropped_windows: u64,
    spans: Vec<RequestSpan>,
    last_end_nanos: u64,
    /// Executed batches by rows (at most `MAX_BATCH_ROWS` keys).
    batch_sizes: BTreeMap<u32, u64>,
}

impl Aggregator {
    /// A new aggregator publishing into `shared`.
    pub fn new(settings: AggregatorSettings, shared: Arc<RunShared>) -> Self {
        Self {
            settings,
            shared,
            latency: LatencyHistogram::new(),
            queue: LatencyHistogram::new(),
            service: LatencyHistogram::new(),
            requests_ok: 0,
            requests_failed: 0,
            profiled_requests: 0,
            after_stop_requests: 0,
            open_windows: BTreeMap::new(),
            next_window: 0,
            windows: Arc::new(Vec::new()),
            dropped_windows: 0,
            spans: Vec::new(),
            last_end_nanos: 0,
            batch_sizes: BTreeMap::new(),
        }
    }

    /// Drains `samples` until every sender is gone, publishing snapshots on
    /// the way, then publishes a final one and returns the totals.
    pub fn run(mut self, samples: &Receiver<Vec<Sample>>) -> AggregatorOutput {
        // Sleep and drain rather than block on the channel: a receiver that is
        // not waiting costs the workers no wake-up syscalls, and the thread
        // wakes a few times per publish interval instead of once per batch.
        let mut next_publish = Instant::now() + self.settings.publish_interval;
        loop {
            std::thread::sleep(
                next_publish
                    .saturating_duration_since(Instant::now())
                    .min(DRAIN_INTERVAL),
            );
            let mut is_disconnected = false;
            loop {
                match samples.try_recv() {
                    Ok(batch) => self.add_batch(&batch),
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
        self.finish()
    }

    fn now_nanos(&self) -> u64 {
        u64::try_from(self.settings.epoch.elapsed().as_nanos()).unwrap_or(u64::MAX)
    }

    fn measure_start(&self) -> u64 {
        self.shared.measure_start_nanos.load(Ordering::Relaxed)
    }

    /// Adds samples; exposed for tests and benchmarks.
    pub fn add_batch(&mut self, batch: &[Sample]) {
        // Taken out for the loop so a window and the totals can be updated together.
        let mut open_windows = std::mem::take(&mut self.open_windows);
        let measure_start = self.measure_start();
        let measure_end = self.shared.measure_end_nanos.load(Ordering::Relaxed);
        for sample in batch {
            if sample.scheduled_nanos < measure_start {
                continue;
            }
            if sample.end_nanos > measure_end {
                self.after_stop_requests += 1;
                continue;
            }
            self.last_end_nanos = self.last_end_nanos.max(sample.end_nanos);
            let window_index = (sample.end_nanos.saturating_sub(measure_start)) / WINDOW_NANOS;
            let is_batch = sample.is_batch_lead && sample.batch_rows > 0;
            if is_batch {
                *self.batch_sizes.entry(sample.batch_rows).or_default() += 1;
            }
            if window_index < self.next_window {
                // Arrived after its window closed: it still counts in the totals.
                self.add_totals(sample, None);
            } else {
                let window = open_windows.entry(window_index).or_default();
                if is_batch {
                    window.batches += 1;
                    window.batch_rows += u64::from(sample.batch_rows);
                }
                self.add_totals(sample, Some(window));
            }
        }
        self.open_windows = open_windows;
    }

    fn add_totals(&mut self, sample: &Sample, window: Option<&mut WindowAccumulator>) {
        let latency = sample.end_nanos.saturating_sub(sample.scheduled_nanos);
        let queue = sample.start_nanos.saturating_sub(sample.scheduled_nanos);
        let service = sample.end_nanos.saturating_sub(sample.start_nanos);
        if !sample.is_ok {
            self.requests_failed += 1;
            if let Some(window) = window {
                window.errors += 1;
            }
            return;
        }
        self.requests_ok += 1;
        if self.spans.len() < MAX_REQUEST_SPANS {
            self.spans.push(RequestSpan {
                worker: sample.worker,
                scheduled_micros: sample.scheduled_nanos / 1000,
                start_micros: sample.start_nanos / 1000,
                end_micros: sample.end_nanos / 1000,
                is_ok: sample.is_ok,
            });
        }
        if sample.is_profiled {
            self.profiled_requests += 1;
            if let Some(window) = window {
                window.requests += 1;
            }
            return;
        }
        self.latency.record_nanos(latency);
        if self.settings.track_queue {
            self.queue.record_nanos(queue);
            self.service.record_nanos(service);
        }
        if let Some(window) = window {
            window.requests += 1;
            window.latency.record_nanos(latency);
            if self.settings.track_queue {
                window.queue.record_nanos(queue);
                window.service.record_nanos(service);
            }
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
            let accumulator = self.open_windows.remove(&index).unwrap_or_default();
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
            if windows.len() > MAX_WINDOWS {
                windows.remove(0);
                self.dropped_windows += 1;
            }
            self.next_window += 1;
        }
    }

    fn publish(&self) {
        let now_nanos = self.now_nanos();
        let measure_start = self.measure_start();
        let measure_end = self.shared.measure_end_nanos.load(Ordering::Relaxed);
        let measured_secs = now_nanos.min(measure_end).saturating_sub(measure_start) as f64 / 1e9;
        let requests = self.requests_ok + self.requests_failed;
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
            requests_ok: self.requests_ok,
            requests_failed: self.requests_failed,
            inferences: self.requests_ok * self.settings.batch_size,
            inferences_per_sec: rate(self.requests_ok * self.settings.batch_size),
            requests_per_sec: rate(requests),
            latency: self.latency.summary(),
            queue: self.queue.summary(),
            service: if self.settings.track_queue {
                self.service.summary()
            } else {
                self.latency.summary()
            },
            windows: Arc::clone(&self.windows),
            histogram: self.latency.buckets(SNAPSHOT_HISTOGRAM_BUCKETS),
            dropped_samples: self.shared.dropped_samples.load(Ordering::Relaxed),
            errors: self.shared.errors(),
            telemetry: self.shared.telemetry.load_full().as_deref().cloned(),
            gpu: self.shared.gpu.load_full().as_deref().cloned(),
            layers: self.shared.layers.load_full(),
            batch_sizes: self.batch_size_counts(),
        };
        self.shared.snapshot.store(Arc::new(snapshot));
    }

    fn batch_size_counts(&self) -> Vec<BatchSizeCount> {
        self.batch_sizes
            .iter()
            .map(|(size, count)| BatchSizeCount {
                size: *size,
                count: *count,
            })
            .collect()
    }

    /// Closes the remaining windows, publishes the last snapshot and returns
    /// the totals.
    pub fn finish(mut self) -> AggregatorOutput {
        // Without an explicit end (a request-count limit), the measured period
        // ends with the last counted request.
        if self.shared.measure_end_nanos.load(Ordering::Relaxed) == u64::MAX {
            let end = self.last_end_nanos.max(self.measure_start());
            self.shared.measure_end_nanos.store(end, Ordering::Relaxed);
        }
        let now = self.now_nanos();
        self.close_windows(now, true);
        self.publish();
        if !self.settings.track_queue {
            self.service = self.latency.clone();
        }
        let batch_sizes = self.batch_size_counts();
        AggregatorOutput {
            batch_sizes,
            latency: self.latency,
            queue: self.queue,
            service: self.service,
            requests_ok: self.requests_ok,
            requests_failed: self.requests_failed,
            profiled_requests: self.profiled_requests,
            after_stop_requests: self.after_stop_requests,
            windows: Arc::unwrap_or_clone(self.windows),
            dropped_windows: self.dropped_windows,
            spans: self.spans,
            last_end_nanos: self.last_end_nanos,
        }
    }
}

fn window_stats(
    index: u64,
    duration_nanos: u64,
    accumulator: &WindowAccumulator,
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
    let quantile = |histogram: &LatencyHistogram, q: f64| {
        (!histogram.is_empty()).then(|| histogram.quantile_micros(q))
    };
    let ok_requests = accumulator.requests;
    // Run time was not recorded apart when it equals latency.
    let service = if accumulator.service.is_empty() {
        &accumulator.latency
    } else {
        &accumulator.service
    };
    WindowStats {
        start_secs: (index * WINDOW_NANOS) as f64 / 1e9,
        duration_secs,
        requests: ok_requests + accumulator.errors,
        errors: accumulator.errors,
        inferences: ok_requests * batch_size,
        inferences_per_sec: per_sec(ok_requests * batch_size),
        requests_per_sec: per_sec(ok_requests + accumulator.errors),
        p50_micros: quantile(&accumulator.latency, 0.50),
        p95_micros: quantile(&accumulator.latency, 0.95),
        p99_micros: quantile(&accumulator.latency, 0.99),
        queue_p50_micros: quantile(&accumulator.queue, 0.50),
        queue_p99_micros: quantile(&accumulator.queue, 0.99),
        service_p50_micros: quantile(service, 0.50),
        service_p99_micros: quantile(service, 0.99),
        process_cpu_percent: telemetry.map(|t| t.process_cpu_percent),
        rss_bytes: telemetry.map(|t| t.rss_bytes),
        mean_batch_size: (accumulator.batches > 0)
            .then(|| accumulator.batch_rows as f64 / accumulator.batches as f64),
        latency_histogram: (!accumulator.latency.is_empty())
            .then(|| accumulator.latency.encode().ok())
            .flatten(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

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
        }
    }

    fn aggregator(measure_start_ms: u64) -> Aggregator {
        let shared = Arc::new(RunShared::new(measure_start_ms * 1_000_000));
        Aggregator::new(
            AggregatorSettings {
                batch_size: 4,
                publish_interval: Duration::from_millis(200),
                epoch: Instant::now(),
                track_queue: true,
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
        aggregator.add_batch(&[
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
        aggregator.add_batch(&[
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
        aggregator.add_batch(&[sample(0, 40, 50, true)]);
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
        aggregator.add_batch(&[sample(0, 0, 50, true), sample(60, 60, 150, true)]);
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
