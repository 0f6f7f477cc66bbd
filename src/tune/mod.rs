//! The serving tuner: a sweep of run configurations under a latency SLO.
//!
//! Each point is a full run through the engine's [`RunHandle`](crate::engine::RunHandle)
//! (warm-up, then measured windows), judged for stability
//! ([`stats::point_stability`]) and for the SLO with a binomial test on the
//! requests over each latency bound ([`stats::binomial_decision`]). The grid
//! runs corners first and stops a dimension once it saturates or clearly
//! fails; `rate` and `concurrency` searches bracket and bisect the knee
//! ([`search::search_highest_passing`]). The Pareto set and the
//! recommendation, confirmed by a fresh run, close the sweep.
//!
//! - `spec`: what to sweep (dimensions, SLO, search, budget) and the parsers
//!   of `--vary` and `--slo`.
//! - `stats`: stability, the pass test, the Pareto set.
//! - `search`: the searches, generic over a measuring function.
//! - `point`: a measured point, its verdict and its `profile` command.
//! - `runner`: [`SweepHandle`], the `wb-sweep` thread, progress and results.

mod point;
mod runner;
pub mod search;
mod spec;
pub mod stats;

use crate::field::Field;
pub use point::{MeasuredPoint, Verdict, judge};
pub use runner::{
    PointBrief, Recommendation, SkippedPoint, SweepHandle, SweepProgress, SweepResult, SweepStatus,
};
pub use spec::{
    DEFAULT_GOODPUT_SHARE, DEFAULT_RETRIES, DEFAULT_STABILITY, LatencyBound, Percentile,
    SearchMode, Slo, SweepSpec, VaryDimension, VaryKey,
};

/// Why a sweep could not be set up or a value not parsed.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum TuneError {
    #[error(
        "unknown {vary} key '{0}': use concurrency, rate, batch, instances, intra-threads, max-batch, batch-delay or precision", vary = Field::Vary)]
    UnknownKey(String),
    #[error("expected KEY=v1,v2,... in {vary}, got '{0}'", vary = Field::Vary)]
    NotKeyValues(String),
    #[error("{} {key}: '{value}' is not a valid value ({reason})", Field::Vary)]
    BadValue {
        key: String,
        value: String,
        reason: String,
    },
    #[error("{vary} {0} is given twice", vary = Field::Vary)]
    DuplicateKey(String),
    #[error(
        "expected an SLO like p99=20ms or throughput>=500, got '{0}' (percentiles: p50, p90, p95, p99, p99.9)"
    )]
    BadSlo(String),
    #[error("give at least one {} (for example p99=20ms)", Field::Slo)]
    NoSlo,
    #[error(
        "{} {search} varies {key} itself: do not also give {key} in {}",
        Field::Search,
        Field::Vary
    )]
    SearchVaried { search: SearchMode, key: VaryKey },
    #[error(
        "{} scale scales the entries of a mix: give a mix file ({})",
        Field::Search,
        Field::Mix
    )]
    ScaleNeedsMix,
    #[error(
        "nothing to sweep: give {} KEY=v1,v2,... or {} rate|concurrency",
        Field::Vary,
        Field::Search
    )]
    NothingToSweep,
    #[error("the grid has {0} points; at most {max} are allowed", max = spec::MAX_GRID_POINTS)]
    TooManyPoints(usize),
    #[error("{stability} must be a percentage above 0, got {0}", stability = Field::Stability)]
    BadStability(f64),
    #[error("the base configuration is invalid: {0}")]
    BaseConfig(String),
    #[error("cannot start the sweep thread: {0}")]
    Thread(String),
}
