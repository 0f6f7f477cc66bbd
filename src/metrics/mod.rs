//! From raw request samples to what users read: HDR percentiles, 1-second
//! windows, a stability verdict, and immutable [`Snapshot`]s published at a
//! fixed interval. Also per-layer timings parsed from ONNX Runtime profiles
//! ([`layers`]).
//!
//! Data flow: load workers `try_send` batches of [`Sample`]s into a bounded
//! channel; the aggregator thread drains it, and every
//! [`DEFAULT_PUBLISH_INTERVAL`] swaps a new `Arc<Snapshot>` into place. Readers
//! (the CLI progress line, the GUI) load the pointer and never block workers.

mod aggregator;
pub mod confidence;
pub mod generation;
pub mod gpu_attribution;
pub mod histogram;
pub mod intervals;
pub mod layers;
pub mod memory;
pub mod model_flops;
pub mod node_cost;
pub mod recorder;
pub mod repeats;
mod run_shared;
mod sample;
pub mod slo;
mod snapshot;
pub mod source_map;
pub mod source_view;
mod summary;
pub mod validity;

pub use aggregator::{Aggregator, AggregatorOutput, AggregatorSettings, WindowParts};
pub use histogram::{CompactHistogram, HistogramBucket, LatencyHistogram, LatencySummary};
pub use intervals::stability;
pub use run_shared::RunShared;
pub use sample::{MAX_REQUEST_SPANS, RequestSpan, Sample, WINDOW_NANOS};
pub use snapshot::{DEFAULT_PUBLISH_INTERVAL, RunPhase, Snapshot};
pub use summary::{
    BatchSizeCount, ErrorSummary, GeneratorReport, MAX_ERROR_MESSAGES, MAX_WINDOWS, RunSummary,
    STABILITY_WINDOWS, SloOutcome, Stability, WindowStats, mean_batch_size,
};
