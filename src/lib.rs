//! onnx-workbench: profile ONNX models under concurrent load on ONNX Runtime.
//!
//! The crate is a library with a thin binary on top. Everything the CLI does is
//! reachable from here, so tests and the (future) GUI drive the same code:
//!
//! - [`model`] reads, validates and inspects ONNX protobuf files.
//! - [`engine`] finds and loads ONNX Runtime, builds sessions, generates inputs
//!   and runs closed- or open-loop load.
//! - [`metrics`] turns raw request samples into HDR percentiles, 1-second
//!   windows and immutable [`metrics::Snapshot`]s, and parses ONNX Runtime's
//!   own profiler output into per-layer timings.
//! - [`telemetry`] samples process CPU and memory (and reports GPU presence).
//! - [`session`] is the recorded profiling session with versioned export and
//!   import (JSON, CSV, Chrome trace).
//! - [`transform`] rewrites a model (float16, int8 weights, unstructured or
//!   structured pruning) and measures what it costs in accuracy.
//! - [`cli`] implements the headless commands.
//! - `ui` is the desktop workbench (eframe, wgpu); the only module that uses
//!   egui. It is built with the `gui` cargo feature, which is on by default;
//!   `--no-default-features` builds the library and the headless CLI alone.
//!
//! # Failure handling
//!
//! Bad input is normal input. Every module has its own `thiserror` enum whose
//! messages say what went wrong and, where it applies, how to fix it; file
//! paths come last. Nothing on a user-reachable path panics: a missing or
//! incompatible ONNX Runtime, a malformed model, an unsupported input dtype or a
//! failed write all become errors. A failed inference during a run is data: it
//! is counted, the first messages are kept, and the run goes on. A run that is
//! stopped or fails part-way still returns its partial results. Writes that
//! matter go to a temporary file that is then renamed.

pub mod cli;
pub mod engine;
pub mod metrics;
pub mod model;
pub mod samples;
pub mod session;
pub mod telemetry;
pub mod transform;
#[cfg(feature = "gui")]
pub mod ui;
pub mod util;
