//! Model mixes: several models under load at once in one process, each with
//! its own load, SLO, measurement, stability and validity, sharing the
//! machine as a service's models do. A mix is a list of [`MixEntry`] (a
//! model and its full [`ProfileConfig`]); [`run_mix`] runs every entry at
//! the same time (each entry is an ordinary run on its own threads) and,
//! with the solo baseline, each entry alone first, so the report can say
//! who hurts whom: each entry's p99 in the mix against its p99 alone.
//!
//! The file format (`--mix mix.toml`, keys mirroring the `profile` flags)
//! is read by the CLI (`cli::mix`); this module holds the mix itself, its
//! run, its document (`kind: "mix"`) and its report.

mod allocation;
mod compare;
mod document;
mod job;
mod run;
mod scale;
mod scale_document;

pub use allocation::{
    ALLOCATION_KIND, AllocationDocument, AllocationSearch, EntryVary, render_allocation_report,
    search_allocations,
};
pub use compare::{Change, render_mix_comparison, render_session_comparison};
pub use document::{
    Interference, MIX_FORMAT_VERSION, MIX_KIND, MixDocument, MixModel, MixSummaryRow,
    render_mix_report,
};
pub use job::{MixJob, MixLive, start_mix, start_scale};
pub use run::{
    MixEntry, MixError, MixEvent, MixSpec, SOLO_MAX_SECS, run_mix, thread_budget_warning,
};
pub use scale::{MAX_PROBE_SECS, ScaleOptions, scaled_config, search_scale};
pub use scale_document::{
    EntryJudgement, Limiting, SCALE_FORMAT_VERSION, SCALE_KIND, ScaleDocument, ScaleProbe,
    ScaleRecommendation, render_scale_report,
};
