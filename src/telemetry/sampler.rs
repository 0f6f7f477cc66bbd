//! One shell for every periodic sampler: a named thread that reads a probe
//! on a fixed schedule, hands each reading to a callback, and keeps the most
//! recent ones in a bounded ring until it is finished.

use std::{
    collections::VecDeque,
    sync::{
        Arc,
        atomic::{AtomicBool, Ordering},
    },
    thread::JoinHandle,
    time::{Duration, Instant},
};

use super::TelemetryError;

/// When a sampler reads its probe.
#[derive(Debug, Clone, Copy)]
pub struct Schedule {
    /// Time between readings.
    pub interval: Duration,
    /// Time before the first reading.
    pub first_after: Duration,
    /// Longest sleep between checks of the stop flag, so finishing is prompt.
    pub poll_step: Duration,
    /// Readings kept; the oldest are dropped beyond it.
    pub capacity: usize,
}

/// A running sampler of readings `T`.
pub struct PeriodicSampler<T> {
    stop: Arc<AtomicBool>,
    thread: Option<JoinHandle<VecDeque<T>>>,
}

impl<T: Send + 'static> PeriodicSampler<T> {
    /// Starts the thread `thread_name`. On it, `open` builds the probe once
    /// (`None`: nothing can be read, the sampler ends with no readings); the
    /// probe is then called on `schedule` (`None`: no reading this time), and
    /// each reading is handed to `on_sample`, which must not block.
    pub fn start<P>(
        thread_name: &'static str,
        schedule: Schedule,
        open: impl FnOnce() -> Option<P> + Send + 'static,
        on_sample: impl Fn(&T) + Send + 'static,
    ) -> Result<Self, TelemetryError>
    where
        P: FnMut() -> Option<T>,
    {
        let stop = Arc::new(AtomicBool::new(false));
        let thread_stop = Arc::clone(&stop);
        let thread = std::thread::Builder::new()
            .name(thread_name.to_owned())
            .spawn(move || {
                crate::util::lower_this_thread_priority();
                let mut readings = VecDeque::new();
                let Some(mut probe) = open() else {
                    return readings;
                };
                let mut next = Instant::now() + schedule.first_after;
                while !thread_stop.load(Ordering::Relaxed) {
                    let now = Instant::now();
                    if now < next {
                        std::thread::sleep(schedule.poll_step.min(next - now));
                        continue;
                    }
                    next += schedule.interval;
                    let Some(reading) = probe() else {
                        continue;
                    };
                    on_sample(&reading);
                    push_bounded(&mut readings, reading, schedule.capacity);
                }
                readings
            })
            .map_err(|source| TelemetryError::Thread {
                thread: thread_name,
                source,
            })?;
        Ok(Self {
            stop,
            thread: Some(thread),
        })
    }

    /// Stops the thread and returns the readings, oldest first.
    pub fn finish(mut self) -> Vec<T> {
        self.stop.store(true, Ordering::Relaxed);
        self.thread
            .take()
            .and_then(|thread| thread.join().ok())
            .map(Vec::from)
            .unwrap_or_default()
    }
}

impl<T> Drop for PeriodicSampler<T> {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

/// Appends `value`, dropping the oldest entries beyond `capacity`.
fn push_bounded<T>(ring: &mut VecDeque<T>, value: T, capacity: usize) {
    while ring.len() >= capacity.max(1) {
        ring.pop_front();
    }
    ring.push_back(value);
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Every 5 ms from the start, at most 4 kept.
    fn fast_schedule() -> Schedule {
        Schedule {
            interval: Duration::from_millis(5),
            first_after: Duration::ZERO,
            poll_step: Duration::from_millis(1),
            capacity: 4,
        }
    }

    #[test]
    fn the_ring_keeps_the_newest_values() {
        let mut ring = VecDeque::new();
        for value in 0..5 {
            push_bounded(&mut ring, value, 3);
        }
        assert_eq!(Vec::from(ring), vec![2, 3, 4]);
    }

    #[test]
    fn readings_are_handed_over_and_kept_in_order() {
        let (sender, receiver) = crossbeam_channel::bounded(64);
        let mut counter = 0u32;
        let sampler = PeriodicSampler::start(
            "wb-test-sampler",
            fast_schedule(),
            move || {
                Some(move || {
                    counter += 1;
                    // Every third reading is missing, as a probe may be.
                    (!counter.is_multiple_of(3)).then_some(counter)
                })
            },
            move |reading: &u32| {
                let _ = sender.try_send(*reading);
            },
        )
        .expect("start");
        let mut seen = Vec::new();
        while seen.len() < 6 {
            seen.push(
                receiver
                    .recv_timeout(Duration::from_secs(5))
                    .expect("a reading"),
            );
        }
        let kept = sampler.finish();
        assert_eq!(&seen[..6], &[1, 2, 4, 5, 7, 8]);
        assert!(kept.len() <= 4 && !kept.is_empty());
        assert!(kept.windows(2).all(|pair| pair[0] < pair[1]));
    }

    #[test]
    fn a_probe_that_cannot_open_ends_with_no_readings() {
        let sampler: PeriodicSampler<u32> = PeriodicSampler::start(
            "wb-test-sampler",
            fast_schedule(),
            || None::<fn() -> Option<u32>>,
            |_| {},
        )
        .expect("start");
        assert!(sampler.finish().is_empty());
    }
}
