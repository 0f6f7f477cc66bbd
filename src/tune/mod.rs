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
//! - `spec`: what to sweep (dimensions, SLO, search, budget), the parsers
//!   of `--vary` and `--slo`, and [`TuneError`].
//! - `stats`: stability, the pass test, the Pareto set.
//! - `search`: the searches, generic over a measuring function.
//! - `point`: a measured point and its verdict.
//! - `runner`: [`SweepHandle`], the `wb-sweep` thread, progress and results.

mod point;
mod runner;
pub mod search;
mod spec;
pub mod stats;

pub use point::{MeasuredPoint, Verdict, judge};
pub use runner::{
    PointBrief, Recommendation, SkippedPoint, SweepHandle, SweepProgress, SweepResult, SweepStatus,
};
pub use spec::{
    DEFAULT_GOODPUT_SHARE, DEFAULT_RETRIES, DEFAULT_STABILITY, LatencyBound, Percentile,
    SearchMode, Slo, SweepSpec, TuneError, VaryDimension, VaryKey,
};
