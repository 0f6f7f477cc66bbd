//! The recorded profiling session: a versioned JSON document, plus CSV and
//! Chrome-trace exports, and the human report.
//!
//! A session document is a [`RunRecord`] with a header (format version, tool
//! version, export time). Import reads every version listed in
//! [`SUPPORTED_FORMAT_VERSIONS`]; `tests/data/sessions/` keeps one fixture per
//! version. All writes are atomic (temporary file, then rename).
//!
//! `merge` merges sessions of several load machines into one session
//! (`report --merge`), listed in [`SessionDocument::merged_from`].
//! `annotate` writes a copy of the model with the measurements in each
//! node's `doc_string` (for Netron).
//!
//! `sweep` is the sweep document (`kind: "sweep"`): the points of a sweep,
//! each with its embedded session, the Pareto set and the recommendation.

pub mod annotate;
mod cost_report;
mod document;
mod error;
pub mod export;
pub mod kinds;
mod merge;
mod merge_report;
mod report;
mod sweep;

pub use cost_report::{LayerCsvRow, NodeRates, format_flops, node_rates, source_cell};
pub use document::{
    FORMAT_VERSION, MergedSource, SUPPORTED_FORMAT_VERSIONS, SessionDocument, TOOL_NAME, ToolInfo,
};
pub use error::SessionError;
pub use export::{write_chrome_trace, write_csv, write_json};
pub use merge::{MergeError, merge_sessions};
pub use report::render_report;
pub use sweep::{
    Reproduce, SUPPORTED_SWEEP_VERSIONS, SWEEP_FORMAT_VERSION, SWEEP_KIND, SweepDocument,
    SweepPoint, SweepRecommendation, render_sweep_report,
};
