//! Latency objectives as the metrics judge them: a bound on one percentile,
//! and the live tally of requests over it that early stopping reads.

use serde::{Deserialize, Serialize};

/// A latency percentile an SLO can bound.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Percentile {
    P50,
    P90,
    P95,
    P99,
    P999,
}

impl Percentile {
    /// As a quantile (0.99 for p99).
    pub fn quantile(self) -> f64 {
        match self {
            Self::P50 => 0.50,
            Self::P90 => 0.90,
            Self::P95 => 0.95,
            Self::P99 => 0.99,
            Self::P999 => 0.999,
        }
    }

    /// The value of this percentile in a summary.
    pub fn of(self, summary: &super::LatencySummary) -> f64 {
        match self {
            Self::P50 => summary.p50_micros,
            Self::P90 => summary.p90_micros,
            Self::P95 => summary.p95_micros,
            Self::P99 => summary.p99_micros,
            Self::P999 => summary.p999_micros,
        }
    }
}

impl Percentile {
    /// The 95 % interval of this percentile in a summary, when it has one.
    pub fn interval_of(self, summary: &super::LatencySummary) -> Option<[f64; 2]> {
        match self {
            Self::P50 => summary.p50_ci_micros,
            Self::P90 => summary.p90_ci_micros,
            Self::P95 => summary.p95_ci_micros,
            Self::P99 => summary.p99_ci_micros,
            Self::P999 => summary.p999_ci_micros,
        }
    }
}

impl std::fmt::Display for Percentile {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Self::P50 => "p50",
            Self::P90 => "p90",
            Self::P95 => "p95",
            Self::P99 => "p99",
            Self::P999 => "p99.9",
        })
    }
}

/// A bound on one latency percentile.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct LatencyBound {
    pub percentile: Percentile,
    pub bound_micros: f64,
}

/// The live pass test of one latency bound: requests so far, those over the
/// bound, and the same per closed window (for the autocorrelation
/// correction of [`super::confidence::early_stop`]).
#[derive(Debug, Clone, PartialEq)]
pub struct SloProgress {
    pub bound: LatencyBound,
    pub total: u64,
    pub over: u64,
    pub windows: Vec<(u64, u64)>,
}
