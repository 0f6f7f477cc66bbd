//! The statistics a sweep judges points with: per-point stability (the last
//! windows agree on throughput and the SLO percentile), the binomial pass
//! test on the requests over a latency bound, and the Pareto set.

use serde::{Deserialize, Serialize};

use super::Percentile;
use crate::metrics::WindowStats;

/// Windows that must agree for a point to be stable (perf_analyzer's rule).
pub const STABLE_WINDOWS: usize = crate::metrics::STABILITY_WINDOWS;
/// Confidence of the pass/fail test (MLPerf LoadGen's early stopping uses 99 %).
pub const PASS_CONFIDENCE: f64 = 0.99;

/// Whether a point's measurement settled.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case", tag = "verdict")]
pub enum PointStability {
    /// Throughput and the percentile of the last windows are within the
    /// tolerance; spreads as fractions of their means.
    Stable {
        throughput_spread: f64,
        /// `None` when the windows had too few requests for the percentile
        /// to mean anything per window (see [`min_window_requests`]); the
        /// pass test over the whole run still judges it.
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

/// The window value of `percentile`. Windows keep p50, p95 and p99; p90 is
/// judged on p95 and p99.9 on p99 (the nearest kept value above or at it).
fn window_percentile(window: &WindowStats, percentile: Percentile) -> Option<f64> {
    match percentile {
        Percentile::P50 => window.p50_micros,
        Percentile::P90 | Percentile::P95 => window.p95_micros,
        Percentile::P99 | Percentile::P999 => window.p99_micros,
    }
}

fn spread(values: &[f64]) -> Option<f64> {
    let mean = values.iter().sum::<f64>() / values.len() as f64;
    if mean.is_nan() || mean <= 0.0 {
        return None;
    }
    let max = values.iter().copied().fold(f64::MIN, f64::max);
    let min = values.iter().copied().fold(f64::MAX, f64::min);
    Some((max - min) / mean)
}

/// Requests a window needs for its `percentile` to be judged: ten times
/// the count at which that percentile stops being the window's maximum
/// (1000 for p99; p99.9 is judged on the windows' p99, so also 1000).
pub fn min_window_requests(percentile: Percentile) -> u64 {
    let quantile = match percentile {
        Percentile::P999 => Percentile::P99.quantile(),
        other => other.quantile(),
    };
    (10.0 / (1.0 - quantile)).round() as u64
}

/// Stable when the last [`STABLE_WINDOWS`] full one-second windows agree
/// within `tolerance` (0.10 = 10 %) on throughput and, when given, on the
/// SLO `percentile`: `(max - min) / mean` of each. The percentile is only
/// judged when every one of those windows has [`min_window_requests`]
/// requests; below that its per-window value is noise.
pub fn point_stability(
    windows: &[WindowStats],
    percentile: Option<Percentile>,
    tolerance: f64,
) -> PointStability {
    let full: Vec<&WindowStats> = windows
        .iter()
        .filter(|w| w.duration_secs >= 0.999)
        .collect();
    if full.len() < STABLE_WINDOWS {
        return PointStability::Unstable {
            reason: format!(
                "{} full 1-second windows, {STABLE_WINDOWS} needed (measure longer)",
                full.len()
            ),
        };
    }
    let last = &full[full.len() - STABLE_WINDOWS..];
    let rates: Vec<f64> = last.iter().map(|w| w.inferences_per_sec).collect();
    let Some(throughput_spread) = spread(&rates) else {
        return PointStability::Unstable {
            reason: "no inferences completed in the last windows".to_owned(),
        };
    };
    if throughput_spread > tolerance {
        return PointStability::Unstable {
            reason: format!(
                "throughput of the last {STABLE_WINDOWS} windows varied by {:.1} %, more than {:.0} %",
                throughput_spread * 100.0,
                tolerance * 100.0
            ),
        };
    }
    let mut latency_spread = None;
    if let Some(percentile) = percentile
        && last
            .iter()
            .all(|w| w.requests >= min_window_requests(percentile))
    {
        let values: Option<Vec<f64>> = last
            .iter()
            .map(|w| window_percentile(w, percentile))
            .collect();
        let Some(found) = values.as_deref().and_then(spread) else {
            return PointStability::Unstable {
                reason: format!("the last windows have no {percentile} latency"),
            };
        };
        if found > tolerance {
            return PointStability::Unstable {
                reason: format!(
                    "{percentile} latency of the last {STABLE_WINDOWS} windows varied by {:.1} %, more than {:.0} %",
                    found * 100.0,
                    tolerance * 100.0
                ),
            };
        }
        latency_spread = Some(found);
    }
    PointStability::Stable {
        throughput_spread,
        latency_spread,
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

    fn window(rate: f64, p99: f64) -> WindowStats {
        WindowStats {
            start_secs: 0.0,
            duration_secs: 1.0,
            requests: rate as u64,
            errors: 0,
            inferences: rate as u64,
            inferences_per_sec: rate,
            requests_per_sec: rate,
            p50_micros: Some(p99 / 2.0),
            p95_micros: Some(p99 * 0.9),
            p99_micros: Some(p99),
            queue_p50_micros: None,
            queue_p99_micros: None,
            service_p50_micros: None,
            service_p99_micros: None,
            process_cpu_percent: None,
            rss_bytes: None,
            mean_batch_size: None,
            latency_histogram: None,
        }
    }

    #[test]
    fn stability_needs_throughput_and_the_percentile_to_agree() {
        let steady = [
            window(10.0, 900.0),
            window(1000.0, 100.0),
            window(1020.0, 104.0),
            window(1010.0, 98.0),
        ];
        let verdict = point_stability(&steady, Some(Percentile::P99), 0.10);
        let PointStability::Stable {
            throughput_spread,
            latency_spread,
        } = verdict
        else {
            panic!("expected stable, got {verdict:?}")
        };
        assert!((throughput_spread - 20.0 / (3030.0 / 3.0)).abs() < 1e-9);
        let latency_spread = latency_spread.expect("judged: 1000 requests per window");
        assert!((latency_spread - 6.0 / (302.0 / 3.0)).abs() < 1e-9);

        // Throughput steady but p99 jumps: unstable, and the reason says p99.
        let jumpy = [
            window(1000.0, 100.0),
            window(1000.0, 150.0),
            window(1000.0, 100.0),
        ];
        let PointStability::Unstable { reason } =
            point_stability(&jumpy, Some(Percentile::P99), 0.10)
        else {
            panic!("expected unstable")
        };
        assert!(reason.contains("p99"), "{reason}");
        // Without a percentile only throughput counts; a wider tolerance passes.
        assert!(point_stability(&jumpy, None, 0.10).is_stable());
        assert!(point_stability(&jumpy, Some(Percentile::P99), 0.5).is_stable());
        // With too few requests per window the p99 is not judged.
        let sparse = [
            window(50.0, 100.0),
            window(50.0, 300.0),
            window(50.0, 100.0),
        ];
        assert_eq!(min_window_requests(Percentile::P99), 1000);
        assert_eq!(min_window_requests(Percentile::P50), 20);
        assert_eq!(
            point_stability(&sparse, Some(Percentile::P99), 0.10),
            PointStability::Stable {
                throughput_spread: 0.0,
                latency_spread: None
            }
        );
        assert!(!point_stability(&sparse, Some(Percentile::P50), 0.10).is_stable());
        // Two windows are not enough.
        assert!(!point_stability(&jumpy[..2], None, 0.10).is_stable());
        let throughput = [
            window(1000.0, 100.0),
            window(800.0, 100.0),
            window(1000.0, 100.0),
        ];
        let PointStability::Unstable { reason } = point_stability(&throughput, None, 0.10) else {
            panic!("expected unstable")
        };
        assert!(reason.contains("throughput"), "{reason}");
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
