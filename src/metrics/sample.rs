//! What load workers hand the aggregator: one finished request, and the
//! requests kept for the Chrome trace.

use serde::{Deserialize, Serialize};

/// Width of a time-series window.
pub const WINDOW_NANOS: u64 = 1_000_000_000;
/// Request spans kept for the Chrome trace export.
pub const MAX_REQUEST_SPANS: usize = 10_000;

/// One finished request. Times are nanoseconds since the run's epoch.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Sample {
    /// When the request was meant to be sent: the schedule in open loop, the
    /// moment the client issued it in closed loop.
    pub scheduled_nanos: u64,
    /// When `Session::run` was called.
    pub start_nanos: u64,
    /// When `Session::run` returned.
    pub end_nanos: u64,
    pub worker: u16,
    pub is_ok: bool,
    /// Profiled with run-level profiling: counted in throughput, left out of
    /// latency percentiles.
    pub is_profiled: bool,
    /// Dynamic batching: rows of the executed batch this request ran in;
    /// 0 when requests run on their own.
    pub batch_rows: u32,
    /// The first request of its batch, so each batch is counted once.
    pub is_batch_lead: bool,
    /// Open loop: the generator's own delay, from when the request could
    /// go (its intended time, or when a worker became free for it if
    /// later) to when it went. Part of `start - scheduled`; the rest is
    /// queue.
    pub late_nanos: u32,
}

/// A request, for the Chrome trace.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct RequestSpan {
    pub worker: u16,
    pub scheduled_micros: u64,
    pub start_micros: u64,
    pub end_micros: u64,
    pub is_ok: bool,
}
