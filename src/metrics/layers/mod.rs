//! Per-layer timings from ONNX Runtime's own profiler.
//!
//! ONNX Runtime writes a JSON array of Chrome-trace-like events. The ones that
//! matter here:
//! - `cat:"Node"` events named `<node>_kernel_time`, whose `args` carry
//!   `op_name`, `provider` and the input/output shapes;
//! - `cat:"Session"` events `model_run` (one per run), `session_initialization`
//!   and `model_loading_*`.
//!
//! `args.thread_scheduling_stats` is `""` with one intra-op thread and an
//! object with more; it is ignored. Node names are the *optimized* graph's
//! names (fusions rename nodes), so they only match the model file at
//! `--opt-level disable`.

mod aggregate;
mod profile;
mod report;
#[cfg(test)]
mod tests;

/// Node events kept for the Chrome trace export.
pub const MAX_TRACE_NODE_EVENTS: usize = 50_000;
/// Columns kept in the per-layer timeline (the newest win).
pub const MAX_TIMELINE_COLUMNS: usize = 600;

pub use aggregate::LayerAggregator;
pub use profile::{
    NodeEvent, ParsedProfile, ProfileError, RunSpan, parse_profile, parse_profile_file,
};
pub use report::{
    LayerReport, LayerSource, LayerStats, LayerTimeline, MachinePeaks, MappingInfo, ModelFlops,
    NodeOrigin, OpTypeStats, ProviderNodes, ProviderSummary, TimelineAxis, TimelineColumn,
    is_gpu_provider, short_provider,
};
