//! The pure batch-forming rule: time is passed in, so it is tested
//! without threads.

use std::{
    collections::VecDeque,
    hash::{Hash as _, Hasher as _},
};

use crate::engine::config::BatchingConfig;

/// Most requests the batcher holds while forming batches; beyond it new
/// arrivals stay in the bounded queue in front of it.
pub const MAX_PENDING_REQUESTS: usize = 1 << 16;

/// When a batch runs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BatchPolicy {
    /// Most rows in one batch.
    pub max_rows: u32,
    /// Longest wait after the oldest request, in nanos.
    pub delay_nanos: u64,
    /// Sizes (rows) that run as soon as they fill, sorted and unique.
    pub preferred: Vec<u32>,
}

impl BatchPolicy {
    /// The policy of a batching config.
    pub fn from_config(config: &BatchingConfig) -> Self {
        let mut preferred = config.preferred.clone();
        preferred.sort_unstable();
        preferred.dedup();
        Self {
            max_rows: config.max_batch.max(1),
            delay_nanos: config.delay_micros.saturating_mul(1000),
            preferred,
        }
    }
}

/// A queued request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Pending<T> {
    /// When the request was issued (closed loop) or scheduled (open loop).
    pub arrived_nanos: u64,
    /// Rows of dim 0 it brings.
    pub rows: u32,
    /// Requests are merged only with requests of the same key (their
    /// shapes past dim 0; see [`shape_key`]).
    pub key: u64,
    /// What the caller needs back with the batch.
    pub item: T,
}

/// A key for "same shapes past dim 0": a hash of each input's trailing dims.
pub fn shape_key(shapes: &[Vec<i64>]) -> u64 {
    let mut hasher = std::collections::hash_map::DefaultHasher::new();
    for shape in shapes {
        shape.get(1..).unwrap_or_default().hash(&mut hasher);
    }
    hasher.finish()
}

/// The queue of requests waiting for a batch, and the rule that forms them.
#[derive(Debug)]
pub struct BatchFormer<T> {
    policy: BatchPolicy,
    queue: VecDeque<Pending<T>>,
}

impl<T> BatchFormer<T> {
    /// An empty queue under `policy`.
    pub fn new(policy: BatchPolicy) -> Self {
        Self {
            policy,
            queue: VecDeque::new(),
        }
    }

    /// Queued requests.
    pub fn len(&self) -> usize {
        self.queue.len()
    }

    /// True when nothing is queued.
    pub fn is_empty(&self) -> bool {
        self.queue.is_empty()
    }

    /// Queues a request.
    pub fn push(&mut self, pending: Pending<T>) {
        self.queue.push_back(pending);
    }

    /// When the oldest request's delay runs out, in nanos.
    pub fn deadline_nanos(&self) -> Option<u64> {
        self.queue
            .front()
            .map(|oldest| oldest.arrived_nanos.saturating_add(self.policy.delay_nanos))
    }

    /// Positions (in queue order) of the requests that would form the next
    /// batch if it ran now, their rows, and whether no further request could
    /// join (the next compatible one does not fit).
    fn candidates(&self) -> (Vec<usize>, u32, bool) {
        let Some(oldest) = self.queue.front() else {
            return (Vec::new(), 0, false);
        };
        let mut chosen = Vec::new();
        let mut rows = 0u32;
        for (position, pending) in self.queue.iter().enumerate() {
            if pending.key != oldest.key {
                continue;
            }
            if rows.saturating_add(pending.rows) > self.policy.max_rows {
                return (chosen, rows, true);
            }
            rows += pending.rows;
            chosen.push(position);
            if rows == self.policy.max_rows {
                return (chosen, rows, true);
            }
        }
        (chosen, rows, false)
    }

    /// The batch to run at `now_nanos`, if one is due: a full batch at once;
    /// else the largest preferred size the queue can form; else, once the
    /// oldest request has waited the delay, whatever is compatible with it.
    /// With `flush`, whatever is queued (the run is ending).
    pub fn take_ready(&mut self, now_nanos: u64, flush: bool) -> Option<Vec<Pending<T>>> {
        let (chosen, rows, is_full) = self.candidates();
        if chosen.is_empty() {
            return None;
        }
        let count = if is_full || flush || self.deadline_nanos().is_some_and(|at| now_nanos >= at) {
            chosen.len()
        } else {
            // Largest prefix whose rows are a preferred size.
            let mut running = 0u32;
            let mut best = None;
            for (index, position) in chosen.iter().enumerate() {
                running += self.queue[*position].rows;
                if self.policy.preferred.binary_search(&running).is_ok() {
                    best = Some(index + 1);
                }
            }
            debug_assert!(running == rows);
            best?
        };
        Some(self.remove_positions(&chosen[..count]))
    }

    fn remove_positions(&mut self, positions: &[usize]) -> Vec<Pending<T>> {
        // Positions are ascending: remove from the back so earlier ones stay valid.
        let mut batch: Vec<Pending<T>> = positions
            .iter()
            .rev()
            .filter_map(|position| self.queue.remove(*position))
            .collect();
        batch.reverse();
        batch
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn policy(max_rows: u32, delay_micros: u64, preferred: &[u32]) -> BatchPolicy {
        BatchPolicy::from_config(&BatchingConfig {
            max_batch: max_rows,
            delay_micros,
            preferred: preferred.to_vec(),
        })
    }

    fn request(arrived_micros: u64, rows: u32, key: u64, id: u32) -> Pending<u32> {
        Pending {
            arrived_nanos: arrived_micros * 1000,
            rows,
            key,
            item: id,
        }
    }

    fn ids(batch: &[Pending<u32>]) -> Vec<u32> {
        batch.iter().map(|pending| pending.item).collect()
    }

    #[test]
    fn a_partial_batch_waits_for_the_delay_after_the_oldest_request() {
        let mut former = BatchFormer::new(policy(8, 1000, &[]));
        former.push(request(0, 1, 7, 0));
        former.push(request(400, 1, 7, 1));
        assert!(former.take_ready(999_000, false).is_none());
        assert_eq!(former.deadline_nanos(), Some(1_000_000));
        let batch = former.take_ready(1_000_000, false).expect("delay over");
        assert_eq!(ids(&batch), vec![0, 1]);
        assert!(former.is_empty());
    }

    #[test]
    fn a_full_batch_runs_at_once_and_the_rest_waits() {
        let mut former = BatchFormer::new(policy(4, 1_000_000, &[]));
        for id in 0..6 {
            former.push(request(u64::from(id), 1, 7, id));
        }
        assert_eq!(
            ids(&former.take_ready(10, false).expect("full")),
            [0, 1, 2, 3]
        );
        assert!(former.take_ready(10, false).is_none());
        assert_eq!(former.len(), 2);
        // Rows count, not requests: 3 + 3 does not fit 4.
        let mut former = BatchFormer::new(policy(4, 1_000_000, &[]));
        former.push(request(0, 3, 7, 0));
        former.push(request(1, 3, 7, 1));
        assert_eq!(ids(&former.take_ready(2, false).expect("full")), [0]);
    }

    #[test]
    fn preferred_sizes_run_as_soon_as_they_fill() {
        let mut former = BatchFormer::new(policy(16, 1_000_000, &[4, 8]));
        for id in 0..3 {
            former.push(request(u64::from(id), 1, 7, id));
        }
        assert!(former.take_ready(5, false).is_none(), "3 is not preferred");
        former.push(request(3, 1, 7, 3));
        assert_eq!(former.take_ready(5, false).expect("4 rows").len(), 4);
        // With 6 queued, the largest preferred size that can form (4) runs.
        for id in 10..16 {
            former.push(request(u64::from(id), 1, 7, id));
        }
        assert_eq!(
            ids(&former.take_ready(20, false).expect("4")),
            [10, 11, 12, 13]
        );
        for id in 20..26 {
            former.push(request(u64::from(id), 1, 7, id));
        }
        // 2 + 6 = 8 rows: the larger preferred size wins.
        assert_eq!(former.take_ready(30, false).expect("8").len(), 8);
    }

    #[test]
    fn mixed_shapes_are_never_merged() {
        let mut former = BatchFormer::new(policy(8, 100, &[]));
        former.push(request(0, 1, 1, 0));
        former.push(request(1, 1, 2, 1));
        former.push(request(2, 1, 1, 2));
        former.push(request(3, 1, 2, 3));
        let first = former.take_ready(1_000_000, false).expect("due");
        assert_eq!(ids(&first), [0, 2]);
        assert!(first.iter().all(|pending| pending.key == 1));
        let second = former.take_ready(1_000_000, false).expect("due");
        assert_eq!(ids(&second), [1, 3]);
        assert!(former.is_empty());
        assert_ne!(
            shape_key(&[vec![1, 3, 8]]),
            shape_key(&[vec![1, 3, 9]]),
            "trailing dims differ"
        );
        assert_eq!(shape_key(&[vec![1, 3, 8]]), shape_key(&[vec![4, 3, 8]]));
    }

    #[test]
    fn zero_delay_runs_what_is_queued_and_flush_empties_the_queue() {
        let mut former = BatchFormer::new(policy(8, 0, &[]));
        former.push(request(5, 1, 7, 0));
        assert_eq!(former.take_ready(5_000, false).expect("no delay").len(), 1);
        let mut former = BatchFormer::new(policy(8, 1_000_000, &[]));
        former.push(request(5, 1, 7, 0));
        assert!(former.take_ready(6, false).is_none());
        assert_eq!(former.take_ready(6, true).expect("flush").len(), 1);
        assert!(former.take_ready(6, true).is_none());
    }
}
