//! The per-worker side of the metrics: each load thread records its own
//! requests into its own histograms, and hands the aggregator one
//! [`WindowPartial`] per window boundary or [`FLUSH_INTERVAL_NANOS`],
//! never a message per request.
//!
//! Recording a request is a few additions into histograms the worker alone
//! touches (hot in its cache); the aggregator only merges partials, a few
//! times a second per worker. So the harness's cost per request stays a
//! clock read and a histogram increment, on the worker's own core.

use std::{
    collections::BTreeMap,
    sync::{Arc, atomic::Ordering},
};

use crossbeam_channel::{Sender, TrySendError};

use super::{
    LatencyHistogram, MAX_REQUEST_SPANS, RequestSpan, RunShared, Sample, WINDOW_NANOS,
    generation::{GenerationPartial, GenerationSlo, TokenTimes},
};

/// Longest time a worker keeps its partial before handing it over, so the
/// live view stays current.
pub const FLUSH_INTERVAL_NANOS: u64 = 250_000_000;

/// What one worker measured in one window (or part of one).
#[derive(Debug, Clone)]
pub struct WindowPartial {
    /// Index of the 1-second window of the measured period.
    pub window: u64,
    /// Successful requests, profiled ones included.
    pub requests_ok: u64,
    pub errors: u64,
    /// Requests profiled with run-level profiling (counted in throughput,
    /// left out of the percentiles).
    pub profiled: u64,
    /// Time inside the runs of the profiled requests.
    pub profiled_service_nanos: u64,
    /// Time inside the runs of the other successful requests.
    pub service_nanos: u64,
    /// Requests that ended after the measured period.
    pub after_stop: u64,
    pub latency: LatencyHistogram,
    /// Waiting for a free worker or session (`None` when nothing can wait).
    pub queue: Option<LatencyHistogram>,
    /// Inside the run (`None` when it equals latency).
    pub service: Option<LatencyHistogram>,
    /// Open loop: the generator's own delay (`None` in closed loop).
    pub lateness: Option<LatencyHistogram>,
    /// The first requests, for the trace.
    pub spans: Vec<RequestSpan>,
    /// Dynamic batching: executed batches by rows.
    pub batch_sizes: BTreeMap<u32, u64>,
    /// End of the last request counted, nanos since the epoch.
    pub last_end_nanos: u64,
    /// Samples in this partial (for the drop count when it is lost).
    pub samples: u64,
    /// Generative runs: tokens, TTFT and every inter-token gap.
    pub generation: Option<Box<GenerationPartial>>,
}

/// Which parts of a request are kept apart.
#[derive(Debug, Clone, Copy, PartialEq, Default)]
pub struct Tracked {
    /// Queue and run time (open loop, pools, batching).
    pub queue: bool,
    /// Send lateness (open loop without the batcher).
    pub lateness: bool,
    /// Generative runs: token times, judged against these objectives.
    pub generation: Option<GenerationSlo>,
}

impl WindowPartial {
    /// An empty partial of `window`.
    pub fn new(window: u64, tracked: Tracked) -> Self {
        Self {
            window,
            requests_ok: 0,
            errors: 0,
            profiled: 0,
            profiled_service_nanos: 0,
            service_nanos: 0,
            after_stop: 0,
            latency: LatencyHistogram::new(),
            queue: tracked.queue.then(LatencyHistogram::new),
            service: tracked.queue.then(LatencyHistogram::new),
            lateness: tracked.lateness.then(LatencyHistogram::new),
            spans: Vec::new(),
            batch_sizes: BTreeMap::new(),
            last_end_nanos: 0,
            samples: 0,
            generation: tracked.generation.map(|_| Box::default()),
        }
    }

    /// Adds one measured request.
    #[inline]
    pub fn add(&mut self, sample: &Sample, keep_span: bool) {
        self.samples += 1;
        self.last_end_nanos = self.last_end_nanos.max(sample.end_nanos);
        if sample.is_batch_lead && sample.batch_rows > 0 {
            *self.batch_sizes.entry(sample.batch_rows).or_default() += 1;
        }
        if !sample.is_ok {
            self.errors += 1;
            return;
        }
        self.requests_ok += 1;
        if keep_span {
            self.spans.push(RequestSpan {
                worker: sample.worker,
                scheduled_micros: sample.scheduled_nanos / 1000,
                start_micros: sample.start_nanos / 1000,
                end_micros: sample.end_nanos / 1000,
                is_ok: sample.is_ok,
            });
        }
        let service = sample.end_nanos.saturating_sub(sample.start_nanos);
        if sample.is_profiled {
            self.profiled += 1;
            self.profiled_service_nanos += service;
            return;
        }
        self.service_nanos += service;
        self.latency
            .record_nanos(sample.end_nanos.saturating_sub(sample.scheduled_nanos));
        let late = u64::from(sample.late_nanos);
        if let Some(queue) = &mut self.queue {
            queue.record_nanos(
                sample
                    .start_nanos
                    .saturating_sub(sample.scheduled_nanos)
                    .saturating_sub(late),
            );
        }
        if let Some(histogram) = &mut self.service {
            histogram.record_nanos(service);
        }
        if let Some(lateness) = &mut self.lateness {
            lateness.record_nanos(late);
        }
    }

    /// Adds everything of `other` (another worker's part of the same window).
    pub fn merge(&mut self, other: &Self) {
        self.merge_counts(other);
        self.merge_histograms(other);
    }

    /// Adds the histograms of `other`.
    pub fn merge_histograms(&mut self, other: &Self) {
        self.latency.merge(&other.latency);
        merge_optional(&mut self.queue, other.queue.as_ref());
        merge_optional(&mut self.service, other.service.as_ref());
        merge_optional(&mut self.lateness, other.lateness.as_ref());
        match (self.generation.as_mut(), other.generation.as_ref()) {
            (Some(into), Some(from)) => into.merge(from),
            (None, Some(from)) => self.generation = Some(from.clone()),
            _ => {}
        }
    }

    /// Adds the counts of `other`, not its histograms.
    pub fn merge_counts(&mut self, other: &Self) {
        self.requests_ok += other.requests_ok;
        self.errors += other.errors;
        self.profiled += other.profiled;
        self.profiled_service_nanos += other.profiled_service_nanos;
        self.service_nanos += other.service_nanos;
        self.after_stop += other.after_stop;
        self.samples += other.samples;
        for (rows, count) in &other.batch_sizes {
            *self.batch_sizes.entry(*rows).or_default() += count;
        }
        self.last_end_nanos = self.last_end_nanos.max(other.last_end_nanos);
    }

    /// Executed batches and their rows.
    pub fn batches(&self) -> (u64, u64) {
        self.batch_sizes
            .iter()
            .fold((0, 0), |(batches, rows), (size, count)| {
                (batches + count, rows + u64::from(*size) * count)
            })
    }
}

fn merge_optional(into: &mut Option<LatencyHistogram>, from: Option<&LatencyHistogram>) {
    match (into.as_mut(), from) {
        (Some(into), Some(from)) => into.merge(from),
        (None, Some(from)) => *into = Some(from.clone()),
        _ => {}
    }
}

/// One load thread's recorder.
#[derive(Debug)]
pub struct Recorder {
    shared: Arc<RunShared>,
    sender: Sender<WindowPartial>,
    tracked: Tracked,
    measure_start: u64,
    partial: WindowPartial,
    /// End of the partial's window, nanos since the epoch.
    window_end: u64,
    /// When the partial is handed over at the latest (a sample ending
    /// later flushes it).
    flush_at: u64,
    /// Spans are still wanted (the run has fewer than the cap so far).
    keep_spans: bool,
}

impl Recorder {
    /// A recorder handing its partials to `sender`.
    pub fn new(shared: Arc<RunShared>, sender: Sender<WindowPartial>, tracked: Tracked) -> Self {
        let measure_start = shared.measure_start_nanos.load(Ordering::Relaxed);
        Self {
            shared,
            sender,
            tracked,
            measure_start,
            partial: WindowPartial::new(0, tracked),
            window_end: measure_start + WINDOW_NANOS,
            flush_at: measure_start + FLUSH_INTERVAL_NANOS,
            keep_spans: true,
        }
    }

    /// Records one finished request (warm-up ones are ignored).
    #[inline]
    pub fn record(&mut self, sample: &Sample) {
        if self.place(sample) {
            let keep_span = self.keep_spans && self.partial.spans.len() < MAX_REQUEST_SPANS;
            self.partial.add(sample, keep_span);
        }
    }

    /// Records one finished generation, a sample per sequence of the
    /// lockstep request with its tokens and their times, judged against one
    /// reading of the measured period's end, so a request is counted whole
    /// or not at all even when the run stops between its rows.
    pub fn record_generation_rows<'a>(
        &mut self,
        rows: impl IntoIterator<Item = (Sample, TokenTimes<'a>)>,
    ) {
        let measure_end = self.shared.measure_end_nanos.load(Ordering::Relaxed);
        for (sample, times) in rows {
            self.record_generation_until(&sample, &times, measure_end);
        }
    }

    fn record_generation_until(
        &mut self,
        sample: &Sample,
        times: &TokenTimes<'_>,
        measure_end: u64,
    ) {
        if !self.place_until(sample, measure_end) {
            return;
        }
        let keep_span = self.keep_spans && self.partial.spans.len() < MAX_REQUEST_SPANS;
        self.partial.add(sample, keep_span);
        if sample.is_ok
            && !sample.is_profiled
            && let Some(generation) = self.partial.generation.as_mut()
        {
            generation.add(times, self.tracked.generation.as_ref());
        }
    }

    /// Moves the partial to the window `sample` ends in; false when the
    /// sample is not measured (warm-up, or after the measured period).
    #[inline]
    fn place(&mut self, sample: &Sample) -> bool {
        let measure_end = self.shared.measure_end_nanos.load(Ordering::Relaxed);
        self.place_until(sample, measure_end)
    }

    /// [`Recorder::place`] against a given end of the measured period.
    #[inline]
    fn place_until(&mut self, sample: &Sample, measure_end: u64) -> bool {
        if sample.scheduled_nanos < self.measure_start {
            return false;
        }
        if sample.end_nanos > measure_end {
            self.partial.after_stop += 1;
            return false;
        }
        // Compared, not divided, on the hot path: samples of one recorder
        // end in order, so the window only moves forward.
        if sample.end_nanos >= self.window_end || sample.end_nanos >= self.flush_at {
            self.flush();
            let window = sample.end_nanos.saturating_sub(self.measure_start) / WINDOW_NANOS;
            self.partial.window = window;
            self.window_end = self.measure_start + (window + 1) * WINDOW_NANOS;
            self.flush_at = sample.end_nanos + FLUSH_INTERVAL_NANOS;
        }
        true
    }

    /// Hands the partial over without waiting: a full channel drops it and
    /// counts its samples.
    pub fn flush(&mut self) {
        if self.partial.samples == 0 && self.partial.after_stop == 0 {
            return;
        }
        let window = self.partial.window;
        let partial =
            std::mem::replace(&mut self.partial, WindowPartial::new(window, self.tracked));
        self.keep_spans = self.shared.spans_wanted();
        match self.sender.try_send(partial) {
            Ok(()) => {}
            Err(TrySendError::Full(lost) | TrySendError::Disconnected(lost)) => {
                self.shared
                    .dropped_samples
                    .fetch_add(lost.samples, Ordering::Relaxed);
            }
        }
    }
}

impl Drop for Recorder {
    fn drop(&mut self) {
        self.flush();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample(scheduled_ms: u64, start_ms: u64, end_ms: u64) -> Sample {
        Sample {
            scheduled_nanos: scheduled_ms * 1_000_000,
            start_nanos: start_ms * 1_000_000,
            end_nanos: end_ms * 1_000_000,
            worker: 0,
            is_ok: true,
            is_profiled: false,
            batch_rows: 0,
            is_batch_lead: false,
            late_nanos: 0,
        }
    }

    #[test]
    fn partials_are_cut_at_window_boundaries() {
        let shared = Arc::new(RunShared::new(0));
        let (sender, receiver) = crossbeam_channel::bounded(16);
        let tracked = Tracked {
            generation: None,
            queue: true,
            lateness: true,
        };
        let mut recorder = Recorder::new(Arc::clone(&shared), sender, tracked);
        recorder.record(&sample(0, 0, 10));
        recorder.record(&sample(100, 100, 110));
        recorder.record(&Sample {
            late_nanos: 2_000_000,
            ..sample(1000, 1005, 1010)
        });
        drop(recorder);
        let partials: Vec<WindowPartial> = receiver.try_iter().collect();
        assert_eq!(partials.len(), 2);
        assert_eq!(partials[0].window, 0);
        assert_eq!(partials[0].requests_ok, 2);
        assert_eq!(partials[1].window, 1);
        let lateness = partials[1].lateness.as_ref().expect("lateness");
        assert!((lateness.quantile_micros(0.5) - 2000.0).abs() < 5.0);
        // Start 5 ms after the schedule, 2 ms of it the generator's own.
        let queue = partials[1].queue.as_ref().expect("queue");
        assert!((queue.quantile_micros(0.5) - 3000.0).abs() < 5.0);
    }

    #[test]
    fn a_full_channel_counts_the_lost_samples() {
        let shared = Arc::new(RunShared::new(0));
        let (sender, _receiver) = crossbeam_channel::bounded(1);
        let mut recorder = Recorder::new(Arc::clone(&shared), sender, Tracked::default());
        for second in 0..3 {
            recorder.record(&sample(second * 1000, second * 1000, second * 1000 + 1));
        }
        drop(recorder);
        assert_eq!(shared.dropped_samples.load(Ordering::Relaxed), 2);
    }
}
