//! The statistics a sweep judges points with: per-point stability (the last
//! windows agree on throughput and the SLO percentile), the binomial pass
//! test on the requests over a latency bound, and the Pareto set.

use serde::{Deserialize, Serialize};

use super::Percentile;
use crate::metrics::{CompactHistogram, Stability, WindowStats, intervals};

/// Windows that must agree for a point to be stable (perf_analyzer's rule).
pub const STABLE_WINDOWS: usize = crate::metrics::STABILITY_WINDOWS;
/// Confidence of the pass/fail test (MLPerf LoadGen's early stopping uses 99 %).
pub const PASS_CONFIDENCE: f64 = 0.99;

/// Whether a point's measurement settled.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case", tag = "verdict")]
pub enum PointStability {
    /// The windows agree within their intervals on the SLO percentile and
    /// throughput does not drift; `throughput_spread` is the spread of the
    /// window throughputs as a fraction of their mean (for the record).
    Stable {
        throughput_spread: f64,
        /// Older sweep documents: the spread of the percentile over the last
        /// windows. `None` since the interval rule.
        #[serde(default)]
        latency_spread: Option<f64>,
    },
    /// They are not, or there were too few windows; `reason` says which.
    Unstable { reason: String },
}

impl PointStability {
    /// True for [`Self::Stable`].
    pub fn is_stable(&self) -> bool {
        matches!(self, Self::Stable { .. })
    }
}

/// Stable when the point's full one-second windows agree within their
/// 95 % intervals on the SLO `percentile` (first half against second half)
/// and throughput does not drift by more than `max_drift` (a fraction of
/// the mean, and significantly): [`confidence::interval_stability_with_drift`].
/// A window's latency histogram comes from the window itself.
pub fn point_stability(
    windows: &[WindowStats],
    percentile: Option<Percentile>,
    max_drift: f64,
) -> PointStability {
    let histograms = intervals::window_histograms(windows);
    let refs: Vec<Option<&CompactHistogram>> = histograms.iter().map(Option::as_ref).collect();
    match intervals::stability_with_drift(
        windows,
        &refs,
        percentile.map(Percentile::quantile),
        max_drift,
    ) {
        Stability::Stable { spread } => PointStability::Stable {
            throughput_spread: spread,
            latency_spread: None,
        },
        Stability::Unstable { reason, .. } | Stability::NotEnoughData { reason } => {
            PointStability::Unstable { reason }
        }
    }
}

/// The outcome of the pass test of one latency bound.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Decision {
    /// With 99 % confidence, fewer than the allowed fraction of requests are
    /// over the bound.
    Pass,
    /// With 99 % confidence, more are.
    Fail,
    /// Too few requests to tell either way.
    Undecided,
}

impl Decision {
    /// The decision of several tests that must all pass: a failure fails
    /// them, else one undecided leaves them undecided, else they pass
    /// (none at all pass).
    pub fn all(decisions: impl IntoIterator<Item = Self>) -> Self {
        decisions
            .into_iter()
            .fold(Self::Pass, |all, decision| match (all, decision) {
                (Self::Fail, _) | (_, Self::Fail) => Self::Fail,
                (Self::Undecided, _) | (_, Self::Undecided) => Self::Undecided,
                _ => Self::Pass,
            })
    }
}

impl std::fmt::Display for Decision {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Self::Pass => "pass",
            Self::Fail => "fail",
            Self::Undecided => "undecided",
        })
    }
}

/// `ln P(X = k)` for `X ~ Binomial(n, q)`, 0 < q < 1, computed by the
/// recurrence from `k = 0` and summed in log space by the callers.
fn log_pmf_terms(n: u64, q: f64, upto: u64) -> impl Iterator<Item = f64> {
    let ln_q_ratio = (q / (1.0 - q)).ln();
    let mut log_pmf = n as f64 * (1.0 - q).ln();
    (0..=upto.min(n)).map(move |i| {
        let current = log_pmf;
        log_pmf += ((n - i) as f64 / (i + 1) as f64).ln() + ln_q_ratio;
        current
    })
}

fn log_sum_exp(values: impl Iterator<Item = f64>) -> f64 {
    let values: Vec<f64> = values.collect();
    let max = values.iter().copied().fold(f64::NEG_INFINITY, f64::max);
    if max == f64::NEG_INFINITY {
        return max;
    }
    max + values.iter().map(|v| (v - max).exp()).sum::<f64>().ln()
}

/// `P(X <= k)` for `X ~ Binomial(n, q)`.
pub fn binomial_cdf(k: u64, n: u64, q: f64) -> f64 {
    if k >= n || q <= 0.0 {
        return 1.0;
    }
    if q >= 1.0 {
        return 0.0;
    }
    log_sum_exp(log_pmf_terms(n, q, k)).exp().min(1.0)
}

/// The binomial test of MLPerf LoadGen's early stopping: `over` of `total`
/// requests took longer than the bound; the SLO allows a fraction
/// `1 - quantile` over it. Pass when, were the true fraction exactly the
/// allowed one, seeing this few over would have probability at most
/// `1 - confidence`; fail when seeing this many would; else undecided.
pub fn binomial_decision(total: u64, over: u64, quantile: f64, confidence: f64) -> Decision {
    let alpha = 1.0 - confidence;
    let allowed = 1.0 - quantile;
    if total == 0 || !(allowed > 0.0 && allowed < 1.0) {
        return Decision::Undecided;
    }
    let over = over.min(total);
    if binomial_cdf(over, total, allowed) <= alpha {
        return Decision::Pass;
    }
    // P(X >= over) = 1 - P(X <= over - 1).
    let upper = if over == 0 {
        1.0
    } else {
        1.0 - binomial_cdf(over - 1, total, allowed)
    };
    if upper <= alpha {
        Decision::Fail
    } else {
        Decision::Undecided
    }
}

/// The fewest requests with none over the bound that can pass `quantile` at
/// `confidence` (459 for p99 at 99 %).
pub fn min_requests_to_pass(quantile: f64, confidence: f64) -> u64 {
    let allowed = 1.0 - quantile;
    if !(allowed > 0.0 && allowed < 1.0) {
        return u64::MAX;
    }
    ((1.0 - confidence).ln() / (1.0 - allowed).ln()).ceil() as u64
}

/// Of `(index, throughput, latency)` candidates, the one a user would
/// serve with: the lowest latency among those within `gain` (a fraction) of
/// the best throughput. Past saturation more clients or threads add only
/// waiting, so the highest throughput alone would pick the longest queue.
pub fn lowest_latency_near_best(candidates: &[(usize, f64, f64)], gain: f64) -> Option<usize> {
    let best = candidates
        .iter()
        .map(|&(_, throughput, _)| throughput)
        .max_by(f64::total_cmp)?;
    let floor = best * (1.0 - gain);
    candidates
        .iter()
        .filter(|&&(_, throughput, _)| throughput >= floor)
        .min_by(|a, b| a.2.total_cmp(&b.2).then(b.1.total_cmp(&a.1)))
        .map(|&(index, _, _)| index)
}

/// Indices of the Pareto set of `(throughput, latency)` points: no other
/// point has at least the throughput and at most the latency with one of
/// them strictly better. Sorted by throughput, highest first; duplicates are
/// all kept.
pub fn pareto_indices(points: &[(f64, f64)]) -> Vec<usize> {
    let mut front: Vec<usize> = (0..points.len())
        .filter(|&i| {
            let (t, l) = points[i];
            t.is_finite()
                && l.is_finite()
                && !points.iter().any(|&(ot, ol)| {
                    ot.is_finite() && ol.is_finite() && ot >= t && ol <= l && (ot > t || ol < l)
                })
        })
        .collect();
    front.sort_by(|&a, &b| points[b].0.total_cmp(&points[a].0).then(a.cmp(&b)));
    front
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::metrics::LatencyHistogram;

    #[test]
    fn saturated_points_prefer_the_shorter_queue() {
        // Four clients saturate; eight add only waiting.
        let points = [
            (0, 100.0, 10.0),
            (1, 180.0, 12.0),
            (2, 185.0, 20.0),
            (3, 184.0, 40.0),
        ];
        assert_eq!(lowest_latency_near_best(&points, 0.05), Some(1));
        // A point more than 5 % slower is not traded for latency.
        assert_eq!(lowest_latency_near_best(&points[..1], 0.05), Some(0));
        let far = [(0, 150.0, 5.0), (1, 185.0, 20.0)];
        assert_eq!(lowest_latency_near_best(&far, 0.05), Some(1));
        assert_eq!(lowest_latency_near_best(&[], 0.05), None);
        // Equal latency: the higher throughput.
        let tie = [(0, 180.0, 12.0), (1, 185.0, 12.0)];
        assert_eq!(lowest_latency_near_best(&tie, 0.05), Some(1));
    }

    /// A full window of `rate` requests whose latencies spread evenly
    /// around `median_micros` (±20 %).
    fn window(rate: f64, median_micros: f64) -> WindowStats {
        let mut histogram = LatencyHistogram::new();
        let count = rate as u64;
        for index in 0..count {
            let spread = 0.8 + 0.4 * index as f64 / count as f64;
            histogram.record_nanos((median_micros * spread * 1000.0) as u64);
        }
        WindowStats {
            start_secs: 0.0,
            duration_secs: 1.0,
            requests: count,
            inferences: count,
            inferences_per_sec: rate,
            requests_per_sec: rate,
            latency_histogram: histogram.encode().ok().map(Into::into),
            ..WindowStats::default()
        }
    }

    #[test]
    fn stability_needs_the_windows_to_agree_within_their_intervals() {
        let steady: Vec<WindowStats> = [1000.0, 1010.0, 995.0, 1005.0, 1000.0, 990.0]
            .iter()
            .map(|rate| window(*rate, 100.0))
            .collect();
        let verdict = point_stability(&steady, Some(Percentile::P99), 0.10);
        assert!(verdict.is_stable(), "{verdict:?}");
        // Throughput steady but p99 doubles in the second half: unstable,
        // and the reason names p99.
        let mut shifted = steady.clone();
        for window in &mut shifted[3..] {
            *window = self::window(1000.0, 200.0);
        }
        let PointStability::Unstable { reason } =
            point_stability(&shifted, Some(Percentile::P99), 0.10)
        else {
            panic!("expected unstable")
        };
        assert!(reason.contains("p99"), "{reason}");
        // Without a percentile only throughput counts.
        assert!(point_stability(&shifted, None, 0.10).is_stable());
        // A throughput ramp of 4 % a window drifts.
        let ramp: Vec<WindowStats> = (0..8)
            .map(|index| window(1000.0 * (1.0 + 0.04 * f64::from(index)), 100.0))
            .collect();
        let PointStability::Unstable { reason } = point_stability(&ramp, None, 0.10) else {
            panic!("expected unstable")
        };
        assert!(reason.contains("drift"), "{reason}");
        // Two windows are not enough.
        assert!(!point_stability(&steady[..2], None, 0.10).is_stable());
    }

    #[test]
    fn binomial_cdf_matches_known_values() {
        // Binomial(10, 0.5): P(X <= 5) = 638/1024.
        assert!((binomial_cdf(5, 10, 0.5) - 638.0 / 1024.0).abs() < 1e-12);
        // P(X <= 0) = (1 - q)^n.
        assert!((binomial_cdf(0, 100, 0.01) - 0.99f64.powi(100)).abs() < 1e-12);
        assert_eq!(binomial_cdf(10, 10, 0.3), 1.0);
        // Large n stays finite: Binomial(1e6, 0.01) has mean 10 000, sd ~99.5.
        let cdf = binomial_cdf(10_000, 1_000_000, 0.01);
        assert!((cdf - 0.5).abs() < 0.01, "{cdf}");
    }

    #[test]
    fn pass_test_known_cases() {
        // p99 at 99 %: with none over the bound, 459 requests are needed
        // (0.99^458 > 0.01 >= 0.99^459).
        assert_eq!(min_requests_to_pass(0.99, 0.99), 459);
        assert_eq!(binomial_decision(458, 0, 0.99, 0.99), Decision::Undecided);
        assert_eq!(binomial_decision(459, 0, 0.99, 0.99), Decision::Pass);
        // p90 needs 44 (0.9^44 = 0.0097).
        assert_eq!(min_requests_to_pass(0.90, 0.99), 44);
        assert_eq!(binomial_decision(44, 0, 0.90, 0.99), Decision::Pass);
        // 10 000 requests, 1 % allowed (100 expected at the boundary):
        // 70 over passes, 100 over (exactly at the bound) is undecided,
        // 130 over fails.
        assert_eq!(binomial_decision(10_000, 70, 0.99, 0.99), Decision::Pass);
        assert_eq!(
            binomial_decision(10_000, 100, 0.99, 0.99),
            Decision::Undecided
        );
        assert_eq!(binomial_decision(10_000, 130, 0.99, 0.99), Decision::Fail);
        // Few requests but clearly over: 5 of 10 over a p99 bound fails.
        assert_eq!(binomial_decision(10, 5, 0.99, 0.99), Decision::Fail);
        assert_eq!(binomial_decision(0, 0, 0.99, 0.99), Decision::Undecided);
    }

    #[test]
    fn pareto_keeps_the_non_dominated_points() {
        let points = [
            (100.0, 10.0), // 0: dominated by 2
            (200.0, 20.0), // 1: front
            (150.0, 5.0),  // 2: front
            (250.0, 40.0), // 3: front
            (240.0, 45.0), // 4: dominated by 3
            (150.0, 5.0),  // 5: equal to 2, kept
            (f64::NAN, 1.0),
        ];
        assert_eq!(pareto_indices(&points), vec![3, 1, 2, 5]);
        assert!(pareto_indices(&[]).is_empty());
    }
}
