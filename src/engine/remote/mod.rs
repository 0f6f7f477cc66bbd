//! Remote targets: a model served by an Open Inference Protocol (KServe v2)
//! server such as Triton, KServe, MLServer or OpenVINO Model Server, driven
//! by the same load workers as local sessions.
//!
//! - `types.rs`: what the server says (server, model metadata, index),
//!   the encoded requests and [`RemoteError`].
//! - `client.rs`: the client enum ([`Client`]), readiness and metadata, and
//!   the per-worker [`RemoteExecutor`] the load calls.
//! - `counters.rs`: the server's cumulative counters of a model
//!   ([`StatsTotals`]) from the statistics API or Prometheus metrics.
//! - `report.rs`: what a remote run records ([`RemoteReport`]).
//! - `grpc.rs`: gRPC over `tonic` (tensors as `raw_input_contents`).
//! - `rest.rs`: REST over `ureq` (JSON, or the binary tensor data extension).
//! - `encode.rs`: tensor data to the protocol's datatypes, raw bytes and JSON.
//! - `stats.rs`: the statistics extension, sampled once per window.
//! - `proto/`: the prost code generated from `proto/grpc_predict_v2.proto`.

mod client;
mod counters;
mod encode;
mod grpc;
pub mod proto;
mod report;
mod rest;
pub mod stats;
mod types;

pub use client::{
    Client, FAILURE_BURST_QUIET, FAILURE_BURST_REQUESTS, FailureBurst, RemoteExecutor,
    encode_requests,
};
pub use counters::{ServerWindow, StatsSource, StatsTotals};
pub use encode::{declared_from_metadata, element_type};
pub use grpc::SharedChannels;
pub use report::{RemoteReport, report_text};
pub use stats::ServerStatsReport;
pub use types::{
    EncodedRequest, Encoding, IndexEntry, ModelMetadata, RemoteError, ServerInfo, TensorMetadata,
};
