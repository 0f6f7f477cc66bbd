//! The run controller: everything a profiling run does, on its own thread,
//! producing a [`RunRecord`] even when it fails part-way.
//!
//! - `control`: how a stop reaches a run in flight, and why a run failed.
//! - `record`: the record types and how measurements become parts of them.
//! - `controller`: [`RunHandle`], [`RunStopper`] and the `wb-run` thread,
//!   written as phase functions that return `Result`.
//! - `load_phase`: the warm-up and the measured load, with their threads.
//! - `profile_pass`: the separate per-layer profiling pass.
//! - `gpu_time`: CUPTI kernel time joined to the profile's nodes.
//! - `metrics_url`: the `--metrics-url` scraper of a run.
//! - `verdict`: the saturation watch, early stopping, the live and final
//!   validity verdicts and the generator's own cost.
//! - `pass_outputs`: what ONNX Runtime writes beside the profile (the optimized
//!   model, tying nodes to the model file; per-node memory).

mod control;
mod controller;
mod generation_phase;
mod gpu_time;
mod load_phase;
mod metrics_url;
mod pass_outputs;
mod profile_pass;
mod record;
mod remote_phase;
mod verdict;

pub use controller::{RunHandle, RunStopper, RunWatch};
pub use record::{
    BatchingReport, EncodedHistogram, ModelInfo, RunRecord, RunStatus, StartupTimings, StopReason,
    TraceData,
};
