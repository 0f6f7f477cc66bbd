//! onnx-workbench: profile ONNX models under concurrent load on ONNX Runtime.
//!
//! The crate is a library with a thin binary on top. Everything the CLI does is
//! reachable from here, so tests and the GUI drive the same code. The modules
//! are layers, each importing only those listed before it (ARCHITECTURE.md;
//! a test checks it): `util`, `model`, `transform`, `telemetry`, `metrics`,
//! `engine`, `tune`, `session`, `samples`, `ui`, `cli`.
//!
//! - [`model`] reads, validates and inspects ONNX protobuf files.
//! - [`transform`] rewrites a model (float16, int8 weights, unstructured or
//!   structured pruning): model in, model plus report out.
//! - [`engine`] finds and loads ONNX Runtime, builds sessions, generates inputs
//!   and runs closed- or open-loop load; [`engine::verify`] loads a transformed
//!   model and measures what the transform costs in accuracy.
//! - [`metrics`] turns raw request samples into HDR percentiles, 1-second
//!   windows and immutable [`metrics::Snapshot`]s, and parses ONNX Runtime's
//!   own profiler output into per-layer timings.
//! - [`telemetry`] samples process CPU and memory, the GPU through NVML, and
//!   GPU activity through CUPTI.
//! - [`tune`] sweeps run configurations under a latency SLO: grid or
//!   rate/concurrency search, stability, a binomial pass test, the Pareto set
//!   and a confirmed recommendation.
//! - [`session`] is the recorded profiling session with versioned export and
//!   import (JSON, CSV, Chrome trace).
//! - [`samples`] are the bundled sample models.
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

#[cfg(feature = "cli")]
pub mod cli;
pub mod engine;
pub mod field;
pub mod metrics;
pub mod mix;
pub mod model;
pub mod samples;
pub mod session;
pub mod telemetry;
pub mod transform;
pub mod tune;
#[cfg(feature = "gui")]
pub mod ui;
pub mod util;
