//! Confidence intervals for latency percentiles, early stopping of latency
//! SLOs, run stability and open-loop saturation.
//!
//! Latencies of a load test are not independent: a slow stretch (a GC pause, a
//! throttled GPU, a queue building up) makes neighbouring requests slow
//! together, and textbook intervals that assume independence are then far too
//! narrow. So everything here measures the autocorrelation from the run itself,
//! from the per-second windows the aggregator keeps.
//!
//! - [`quantile_interval`]: **batch means (sectioning) on the indicator**. The
//!   percentile `x` of all samples is fixed and each window's fraction `f_i` of
//!   samples at or below `x` counted; the spread of the `f_i` (a ratio
//!   estimator, as windows differ in size) gives the standard error of the
//!   fraction whatever the autocorrelation inside a window. The half-width is
//!   `max(t_{k−1} · se_bm, z · se_iid)`: never narrower than for independent
//!   samples. The band `q ± half` maps back to order statistics of the
//!   histogram with a half-sample continuity correction on each side. With
//!   fewer than three windows it is the classic order-statistic interval for
//!   independent samples ([`IntervalMethod::Independent`]).
//! - [`early_stop`], [`min_requests_to_pass`]: **MLPerf LoadGen early
//!   stopping**. An SLO "p99 <= bound" allows a fraction `1 − q` of requests
//!   over the bound; one-sided binomial tests tell whether the count over the
//!   bound proves the SLO met or missed at the confidence, so a run can stop as
//!   soon as the answer is certain. The design effect of the over-bound
//!   indicator (batch means again) shrinks the sample when slow requests
//!   cluster.
//! - [`interval_stability`]: a run is unstable when the percentile intervals of
//!   its two halves are apart by a material gap (5 %), when its throughput drifts (least-squares
//!   slope, t-test) or when one window's throughput jumps.
//! - [`SaturationDetector`]: an open-loop generator offered more than its
//!   capacity builds a backlog whose lag grows linearly; the detector fits the
//!   lag over the last two seconds and flags a sustained rise.
//!
//! Distributions come from `statrs`. Its binomial CDF (a continued fraction)
//! is inaccurate near the centre for huge counts, so above a binomial variance
//! of `1e5` the normal approximation with continuity correction is used.

use std::collections::VecDeque;

use serde::{Deserialize, Serialize};
use statrs::distribution::{Binomial, ContinuousCDF, DiscreteCDF, Normal, StudentsT};

use super::histogram::{CompactHistogram, LatencyHistogram};

/// Confidence used when a caller has no preference.
pub const DEFAULT_CONFIDENCE: f64 = 0.95;

/// Binomial variance above which the normal approximation is used.
const EXACT_BINOMIAL_MAX_VARIANCE: f64 = 1e5;
/// Largest effective sample size [`early_stop`] searches for a decision.
const MAX_SEARCH_SAMPLES: u64 = 1_000_000_000_000;

/// How an interval was computed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum IntervalMethod {
    /// Batch means on the indicator across at least three windows.
    BatchMeans,
    /// Independent samples assumed (fewer than two non-empty windows).
    Independent,
}

/// A confidence interval for one latency percentile.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct QuantileInterval {
    /// Lower end, in nanoseconds.
    pub low_nanos: u64,
    /// Upper end, in nanoseconds.
    pub high_nanos: u64,
    /// n for independent samples; less when latencies are autocorrelated
    /// (n * var_iid / var_batch), never more than n.
    pub effective_samples: f64,
    /// The upper end reached the largest recorded value: too few samples
    /// above the percentile to bound it from above.
    pub is_open_above: bool,
    /// How the interval was computed.
    pub method: IntervalMethod,
    /// Batches (windows with at least one sample) given; used only when there
    /// are at least three ([`IntervalMethod::BatchMeans`]).
    pub batches: usize,
}

/// Outcome of an SLO test.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum SloDecision {
    /// The SLO is met at the requested confidence.
    Pass,
    /// The SLO is missed at the requested confidence.
    Fail,
    /// Not enough requests yet to tell.
    Undecided,
}

/// Result of [`early_stop`].
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct EarlyStop {
    /// Pass, fail or undecided.
    pub decision: SloDecision,
    /// Requests the test was worth after the autocorrelation correction.
    pub effective_samples: f64,
    /// Undecided only: about how many more requests (real, not effective) a
    /// decision needs if the observed over-fraction holds; None when the
    /// observed fraction equals the allowed one (cannot be decided), when no
    /// decision comes within 10^12 effective requests, or when decided.
    pub requests_needed: Option<u64>,
}

/// One full window for the stability rule.
pub struct WindowView<'a> {
    /// Completed requests per second in the window.
    pub throughput_per_sec: f64,
    /// Latencies of the window, if recorded.
    pub latency: Option<&'a CompactHistogram>,
}

/// Verdict of [`interval_stability`].
#[derive(Debug, Clone, PartialEq)]
pub enum IntervalStability {
    /// Windows agree within their intervals and throughput is steady.
    Stable,
    /// `reason` is a full English sentence with the numbers, e.g. "p99 of the
    /// first half (1.20–1.31 ms) and the second half (1.52–1.70 ms) do not
    /// overlap" or "throughput drifted by −7.2 % over 8 windows (significant
    /// at 99 %)".
    Unstable {
        /// Why, with the numbers.
        reason: String,
    },
    /// Too little data to judge.
    NotEnoughData {
        /// What is missing, as a sentence.
        reason: String,
    },
}

/// Fewest batches for batch means: with two, Student's t has one degree of
/// freedom (12.7 at 95 %) and the interval spans most of the data.
const MIN_BATCHES: f64 = 3.0;

/// Batch-means variance of the ratio estimator `F = Σ part / Σ size` over the
/// batches of positive size, with their number; `None` with fewer than
/// [`MIN_BATCHES`].
fn batch_means_variance(pairs: impl Iterator<Item = (u64, u64)>) -> Option<(f64, usize)> {
    let pairs: Vec<(f64, f64)> = pairs
        .filter(|(size, _)| *size > 0)
        .map(|(size, part)| (size as f64, part.min(size) as f64))
        .collect();
    let k = pairs.len() as f64;
    if k < MIN_BATCHES {
        return None;
    }
    let (size, part) = pairs
        .iter()
        .fold((0.0, 0.0), |(s, p), (n, b)| (s + n, p + b));
    let (fraction, mean_size) = (part / size, size / k);
    let squares: f64 = pairs.iter().map(|(n, b)| (b - fraction * n).powi(2)).sum();
    Some((
        squares / (k * (k - 1.0) * mean_size * mean_size),
        pairs.len(),
    ))
}

/// Confidence clamped to `[0.5, 1)`; NaN becomes [`DEFAULT_CONFIDENCE`].
fn sanitize_confidence(confidence: f64) -> f64 {
    if confidence.is_nan() {
        DEFAULT_CONFIDENCE
    } else {
        confidence.clamp(0.5, 1.0 - 1e-9)
    }
}

fn normal_quantile(p: f64) -> f64 {
    Normal::standard().inverse_cdf(p)
}

fn t_quantile(df: f64, p: f64) -> f64 {
    StudentsT::new(0.0, 1.0, df).map_or_else(|_| normal_quantile(p), |t| t.inverse_cdf(p))
}

/// `P(X <= x)` for `X ~ Binomial(n, p)`.
fn binomial_cdf(n: u64, p: f64, x: u64) -> f64 {
    let variance = n as f64 * p * (1.0 - p);
    if x >= n || p <= 0.0 {
        1.0
    } else if p >= 1.0 {
        0.0
    } else if variance > EXACT_BINOMIAL_MAX_VARIANCE {
        Normal::standard().cdf((x as f64 + 0.5 - n as f64 * p) / variance.sqrt())
    } else {
        Binomial::new(p, n).map_or(f64::NAN, |b| b.cdf(x).clamp(0.0, 1.0))
    }
}

/// One-sided binomial tests of `over` of `n` against the allowed fraction.
fn decide(n: u64, over: u64, allowed_fraction: f64, confidence: f64) -> SloDecision {
    let alpha = 1.0 - confidence;
    let at_least = over
        .checked_sub(1)
        .map_or(1.0, |below| 1.0 - binomial_cdf(n, allowed_fraction, below));
    if n == 0 {
        SloDecision::Undecided
    } else if binomial_cdf(n, allowed_fraction, over) <= alpha {
        SloDecision::Pass
    } else if at_least <= alpha {
        SloDecision::Fail
    } else {
        SloDecision::Undecided
    }
}

/// Value at 1-based order statistic `rank` of `histogram` (below 1: lowest).
fn value_at_rank(histogram: &LatencyHistogram, rank: f64, n: f64) -> u64 {
    if rank < 1.0 {
        histogram.quantile_nanos(0.0)
    } else {
        // hdrhistogram returns order statistic ceil(p * n): aim half a rank low.
        histogram.quantile_nanos(((rank - 0.5) / n).min(1.0))
    }
}

/// Order-statistic ranks of the band `q ± half` of `n` samples, each widened
/// by half a sample (continuity correction).
fn order_ranks(n: f64, q: f64, half: f64) -> (f64, f64) {
    (
        (n * (q - half) + 0.5).floor(),
        (n * (q + half) + 0.5).ceil(),
    )
}

/// A confidence interval for the `quantile` (0..=1) latency of `total`.
///
/// `total` is all samples; `batches` are consecutive time windows of the same
/// samples (1-second windows; their union is (about) `total`). None when
/// `total` is empty or `quantile` is NaN.
///
/// With `x` the quantile of `total` and, per non-empty batch, `f_i` the
/// fraction of samples at or below `x`: `se_bm² = Σ n_i² (f_i − F)² / (k (k−1)
/// n̄²)`, `se_iid² = q(1−q)/n` and `half = max(t_{k−1} · se_bm, z · se_iid)`
/// (the iid floor is a known variance, so it keeps the normal quantile). The
/// probabilities `q ± half` become order-statistic ranks with a half-sample
/// continuity correction: lower rank `floor(n(q − half) + 0.5)`, upper rank
/// `ceil(n(q + half) + 0.5)`, so that `P(r <= B <= s − 1)` for the binomial
/// count `B` of samples below the true quantile reaches the nominal level.
pub fn quantile_interval(
    total: &LatencyHistogram,
    batches: &[&CompactHistogram],
    quantile: f64,
    confidence: f64,
) -> Option<QuantileInterval> {
    if total.is_empty() || quantile.is_nan() {
        return None;
    }
    let (q, n) = (quantile.clamp(0.0, 1.0), total.len() as f64);
    let p = (1.0 + sanitize_confidence(confidence)) / 2.0;
    let x = total.quantile_nanos(q);
    let var_iid = q * (1.0 - q) / n;
    let half_iid = normal_quantile(p) * var_iid.sqrt();
    let given = batches.iter().filter(|h| !h.is_empty()).count();
    let batch = batch_means_variance(
        batches
            .iter()
            .map(|h| (h.len(), h.len().saturating_sub(h.count_above_nanos(x)))),
    );
    let (half, method, effective_samples) = match batch {
        Some((var_bm, k)) => {
            let half = (t_quantile((k - 1) as f64, p) * var_bm.sqrt()).max(half_iid);
            let effective = if var_bm > var_iid {
                n * var_iid / var_bm
            } else {
                n
            };
            (half, IntervalMethod::BatchMeans, effective)
        }
        None => (half_iid, IntervalMethod::Independent, n),
    };
    let (low_rank, high_rank) = order_ranks(n, q, half);
    let low = value_at_rank(total, low_rank, n).min(x);
    let high = value_at_rank(total, high_rank, n).max(x);
    Some(QuantileInterval {
        low_nanos: low,
        high_nanos: high,
        effective_samples,
        is_open_above: high_rank >= n || high >= total.max_nanos(),
        method,
        batches: given,
    })
}

/// MLPerf-LoadGen-style early stopping of a latency SLO "p<q> <= bound".
///
/// `total` requests of which `over` took longer than the bound; `batches` the
/// same counts per window, `(total_i, over_i)`. The SLO allows a fraction
/// `1 − q` over the bound. One-sided binomial tests at `confidence`: Pass when
/// `P(X ≤ over | n, 1−q) ≤ 1−c`, Fail when `P(X ≥ over | n, 1−q) ≤ 1−c`, else
/// Undecided. Autocorrelation: with the design effect `d = max(1, var_bm /
/// var_iid)` of the over-indicator (at least three windows with a request, else
/// `d = 1`) the test runs on `n / d` requests with `over / d` over the bound.
pub fn early_stop(
    total: u64,
    over: u64,
    batches: &[(u64, u64)],
    quantile: f64,
    confidence: f64,
) -> EarlyStop {
    let (over, confidence) = (over.min(total), sanitize_confidence(confidence));
    let d = design_effect(batches);
    let mut result = EarlyStop {
        decision: SloDecision::Undecided,
        effective_samples: total as f64 / d,
        requests_needed: None,
    };
    if quantile.is_nan() {
        return result;
    }
    let allowed = 1.0 - quantile.clamp(0.0, 1.0);
    let n_eff = (total as f64 / d).round() as u64;
    let over_eff = ((over as f64 / d).round() as u64).min(n_eff);
    result.decision = decide(n_eff, over_eff, allowed, confidence);
    // Unless decided, or the observed fraction is the allowed one.
    if result.decision != SloDecision::Undecided
        || total == 0
        || (over as f64 - total as f64 * allowed).abs() <= 1e-9 * total as f64
    {
        return result;
    }
    let observed = over as f64 / total as f64;
    let decides = |m: u64| {
        let over_m = ((observed * m as f64).round() as u64).min(m);
        decide(m, over_m, allowed, confidence) != SloDecision::Undecided
    };
    // Doubling, then bisection between `low` (undecided) and `high` (decided).
    let (mut low, mut high) = (n_eff.max(1), n_eff.max(1));
    while !decides(high) {
        (low, high) = (high, high.saturating_mul(2));
        if high > MAX_SEARCH_SAMPLES {
            return result;
        }
    }
    while high - low > 1 {
        let mid = low + (high - low) / 2;
        *(if decides(mid) { &mut high } else { &mut low }) = mid;
    }
    let real = (high as f64 * d).ceil() as u64;
    result.requests_needed = Some(real.saturating_sub(total).max(1));
    result
}

/// Design effect `max(1, var_bm / var_iid)` of the over-bound indicator.
fn design_effect(batches: &[(u64, u64)]) -> f64 {
    let Some((var_bm, _)) = batch_means_variance(batches.iter().copied()) else {
        return 1.0;
    };
    let size: u64 = batches.iter().map(|(size, _)| size).sum();
    let over: u64 = batches.iter().map(|(size, over)| over.min(size)).sum();
    let fraction = over as f64 / size as f64;
    let var_iid = fraction * (1.0 - fraction) / size as f64;
    if var_iid > 0.0 {
        (var_bm / var_iid).max(1.0)
    } else {
        1.0
    }
}

/// Fewest requests with none over the bound that pass (459 for q = 0.99 at
/// c = 0.99); `u64::MAX` when none can (q ≥ 1).
pub fn min_requests_to_pass(quantile: f64, confidence: f64) -> u64 {
    if quantile.is_nan() || quantile >= 1.0 {
        return u64::MAX;
    }
    let (q, confidence) = (quantile.max(0.0), sanitize_confidence(confidence));
    let passes = |n: u64| decide(n, 0, 1.0 - q, confidence) == SloDecision::Pass;
    // q^n <= 1 − c, then a step or two over rounding at the boundary.
    let estimate = ((1.0 - confidence).ln() / q.ln()).ceil().max(1.0);
    let mut n = estimate.min(MAX_SEARCH_SAMPLES as f64) as u64;
    while n > 1 && passes(n - 1) {
        n -= 1;
    }
    while n < MAX_SEARCH_SAMPLES && !passes(n) {
        n += 1;
    }
    n
}

/// "p99", "p99.9", "p50".
fn quantile_label(quantile: f64) -> String {
    let text = format!("{:.4}", quantile * 100.0);
    format!("p{}", text.trim_end_matches('0').trim_end_matches('.'))
}

/// `value` to three significant figures.
fn three_figures(value: f64) -> String {
    let decimals = |v: f64| (2 - v.abs().log10().floor() as i32).max(0) as usize;
    if value == 0.0 || !value.is_finite() {
        return format!("{value}");
    }
    let mut places = decimals(value);
    // 99.96 rounds to "100.0": one place fewer.
    let rounded: f64 = format!("{value:.places$}").parse().unwrap_or(value);
    if rounded != 0.0 {
        places = places.min(decimals(rounded));
    }
    format!("{value:.places$}")
}

/// A nanosecond range, µs below 1 ms and ms otherwise: "1.20–1.31 ms",
/// "950 µs–1.02 ms".
fn format_range(low: u64, high: u64) -> String {
    let unit = |nanos: u64| {
        if nanos < 1_000_000 {
            ("µs", 1e3)
        } else {
            ("ms", 1e6)
        }
    };
    let ((low_unit, low_scale), (high_unit, high_scale)) = (unit(low), unit(high));
    let low_text = three_figures(low as f64 / low_scale);
    let high_text = three_figures(high as f64 / high_scale);
    if low_unit == high_unit {
        format!("{low_text}–{high_text} {high_unit}")
    } else {
        format!("{low_text} {low_unit}–{high_text} {high_unit}")
    }
}

/// A run is unstable when its windows disagree beyond their intervals, or when
/// its throughput drifts. Needs at least 3 windows.
///
/// (a) With a quantile, the windows are split into a first and a second half
/// (an odd middle window dropped); each half's interval of the quantile is
/// [`quantile_interval`] over that half's windows at `confidence`; unstable
/// when the two intervals are apart by more than [`MATERIAL_SHIFT`]. (b) Throughput: least-squares slope
/// on window index; `drift = slope·(k−1)/mean`; unstable when `|drift| > 5 %`
/// and the slope differs from 0 at 99 % (t-test, `df = k−2`), or when a window
/// deviates from the mean of the others by more than 25 % (a gross jump).
pub fn interval_stability(
    windows: &[WindowView<'_>],
    quantile: Option<f64>,
    confidence: f64,
) -> IntervalStability {
    interval_stability_with_drift(windows, quantile, confidence, DEFAULT_MAX_DRIFT)
}

/// Gap between the two halves' percentile intervals (a share of the lower
/// one's upper end) under which a shift counts as immaterial: a long run's
/// intervals are so narrow that a 1 % drift is "significant" without being
/// anything a verdict could turn on.
pub const MATERIAL_SHIFT: f64 = 0.05;

/// Throughput drift over a run accepted as stable by [`interval_stability`].
pub const DEFAULT_MAX_DRIFT: f64 = 0.05;

/// [`interval_stability`] with the largest accepted throughput drift
/// (a share of the mean over the run) as a parameter.
pub fn interval_stability_with_drift(
    windows: &[WindowView<'_>],
    quantile: Option<f64>,
    confidence: f64,
    max_drift: f64,
) -> IntervalStability {
    let k = windows.len();
    let not_enough = |reason| IntervalStability::NotEnoughData { reason };
    if k < 3 {
        return not_enough(format!("only {k} full windows; stability needs at least 3"));
    }
    if let Some(quantile) = quantile {
        let label = quantile_label(quantile);
        let halves = (
            half_interval(&windows[..k / 2], quantile, confidence),
            half_interval(&windows[k - k / 2..], quantile, confidence),
        );
        let (Some(first), Some(second)) = halves else {
            return not_enough(format!("{label} needs latencies in both halves of the run"));
        };
        let (lower, upper) = if first.high_nanos < second.low_nanos {
            (first, second)
        } else {
            (second, first)
        };
        // An interval open above (too few requests for its upper rank)
        // bounds nothing above it: no gap can be shown.
        let gap = if lower.is_open_above {
            0.0
        } else {
            upper.low_nanos.saturating_sub(lower.high_nanos) as f64
        };
        if gap > 0.0 && gap > MATERIAL_SHIFT * lower.high_nanos as f64 {
            return IntervalStability::Unstable {
                reason: format!(
                    "{label} of the first half ({}) and the second half ({}) do not overlap",
                    format_range(first.low_nanos, first.high_nanos),
                    format_range(second.low_nanos, second.high_nanos),
                ),
            };
        }
    }
    let finite = |rate: f64| if rate.is_finite() { rate.max(0.0) } else { 0.0 };
    let throughput: Vec<f64> = windows
        .iter()
        .map(|w| finite(w.throughput_per_sec))
        .collect();
    let (kf, sum) = (k as f64, throughput.iter().sum::<f64>());
    if sum <= 0.0 {
        return not_enough(format!("no requests completed in any of the {k} windows"));
    }
    if let Some(reason) = throughput_drift(&throughput, sum / kf, max_drift) {
        return IntervalStability::Unstable { reason };
    }
    for (index, value) in throughput.iter().enumerate() {
        let others = (sum - value) / (kf - 1.0);
        let deviation = if others > 0.0 {
            (value - others) / others
        } else {
            f64::INFINITY
        };
        // A one-second window holds about `others` requests; Poisson
        // arrivals alone move that count by √others, so a jump counts only
        // beyond three of those (a 20/s stream's windows vary by ~22 %).
        let allowed = WINDOW_JUMP.max(3.0 / others.max(1.0).sqrt());
        if deviation.abs() > allowed {
            let direction = if deviation < 0.0 { "below" } else { "above" };
            return IntervalStability::Unstable {
                reason: format!(
                    "throughput of window {} of {k} ({} requests/s) is {:.1} % {direction} \
                     the mean of the other windows ({} requests/s)",
                    index + 1,
                    three_figures(*value),
                    deviation.abs() * 100.0,
                    three_figures(others),
                ),
            };
        }
    }
    IntervalStability::Stable
}

/// Largest deviation of one window's throughput from the others' mean
/// that is not a jump (beyond the arrivals' own noise).
const WINDOW_JUMP: f64 = 0.25;

/// The quantile interval of a group of windows, merged.
fn half_interval(windows: &[WindowView<'_>], q: f64, confidence: f64) -> Option<QuantileInterval> {
    let batches: Vec<&CompactHistogram> = windows.iter().filter_map(|w| w.latency).collect();
    let mut merged = LatencyHistogram::new();
    batches
        .iter()
        .for_each(|histogram| histogram.merge_into(&mut merged));
    quantile_interval(&merged, &batches, q, confidence)
}

/// The drift sentence when throughput drifts significantly by more than `max_drift`.
fn throughput_drift(throughput: &[f64], mean: f64, max_drift: f64) -> Option<String> {
    let points: Vec<(f64, f64)> = throughput
        .iter()
        .enumerate()
        .map(|(i, y)| (i as f64, *y))
        .collect();
    let (kf, mean_index) = (points.len() as f64, (points.len() as f64 - 1.0) / 2.0);
    let slope = slope(points.iter());
    let drift = slope * (kf - 1.0) / mean;
    if drift.abs() <= max_drift {
        return None;
    }
    let sxx: f64 = points.iter().map(|(i, _)| (i - mean_index).powi(2)).sum();
    let residuals: f64 = points
        .iter()
        .map(|(i, y)| (y - mean - slope * (i - mean_index)).powi(2))
        .sum();
    let se = (residuals / (kf - 2.0) / sxx).sqrt();
    let significant = se <= 0.0 || (slope / se).abs() > t_quantile(kf - 2.0, 0.995);
    let sign = if drift < 0.0 { "−" } else { "+" };
    significant.then(|| {
        format!(
            "throughput drifted by {sign}{:.1} % over {} windows (significant at 99 %)",
            drift.abs() * 100.0,
            points.len()
        )
    })
}

/// Least-squares slope of `(x, y)` points; 0 when undefined.
fn slope<'a>(points: impl Iterator<Item = &'a (f64, f64)> + Clone) -> f64 {
    let (n, sum_x, sum_y) = points.clone().fold((0.0, 0.0, 0.0), |(n, sx, sy), (x, y)| {
        (n + 1.0, sx + x, sy + y)
    });
    let (mean_x, mean_y) = (sum_x / n, sum_y / n);
    let (sxy, sxx) = points.fold((0.0, 0.0), |(sxy, sxx), (x, y)| {
        (
            sxy + (x - mean_x) * (y - mean_y),
            sxx + (x - mean_x).powi(2),
        )
    });
    if n >= 2.0 && sxx > 0.0 {
        sxy / sxx
    } else {
        0.0
    }
}

// Saturation rule (seconds): the window kept, the span it needs, the slope of
// the lag over it, the latest lag, the rise per second of span, how far below
// the window's peak a lag counts as draining, the spacing below which an
// observation replaces the latest one, and a hard cap on observations kept.
const SATURATION_WINDOW: f64 = 2.0;
const SATURATION_MIN_SPAN: f64 = 1.5;
const SATURATION_MIN_SLOPE: f64 = 0.1;
const SATURATION_MIN_LAG: f64 = 0.25;
const SATURATION_MIN_RISE: f64 = 0.1;
const SATURATION_DRAIN_TOLERANCE: f64 = 0.1;
const SATURATION_MIN_SPACING: f64 = 0.005;
const SATURATION_MAX_POINTS: usize = 1024;

/// Detects an open-loop backlog that grows without bound.
///
/// `observe` is called every ~50 ms with the time since measurement start and
/// the lag: now minus the intended send time of the latest arrival a worker
/// took (negative or ~0 while workers keep up; it grows linearly when the
/// offered rate exceeds capacity).
#[derive(Debug, Clone, Default)]
pub struct SaturationDetector {
    points: VecDeque<(f64, f64)>,
    saturated: bool,
}

impl SaturationDetector {
    /// A detector that has seen nothing.
    pub fn new() -> Self {
        Self::default()
    }

    /// True once saturated (and stays true). Rule: over the last 2 s of
    /// observations (needs ≥ 1.5 s of span), the least-squares slope of lag is
    /// ≥ 0.1 s/s, the latest lag ≥ 0.25 s, and the latest lag exceeds the
    /// first lag of that span by ≥ 0.1 × span. A burst that already drains is
    /// told from a growing backlog by two more conditions: the lag also grew
    /// over the older half of the span (slope ≥ 0.05 s/s), and the latest lag
    /// is within 0.1 s of the span's peak. Bounded memory. Non-finite
    /// observations are ignored; time going backwards starts over.
    pub fn observe(&mut self, now_secs: f64, lag_secs: f64) -> bool {
        if self.saturated || !now_secs.is_finite() || !lag_secs.is_finite() {
            return self.saturated;
        }
        if self.points.back().is_some_and(|(t, _)| now_secs < *t) {
            self.points.clear();
        }
        let before_last = self
            .points
            .len()
            .checked_sub(2)
            .and_then(|i| self.points.get(i));
        if before_last.is_some_and(|(t, _)| now_secs - t < SATURATION_MIN_SPACING) {
            self.points.pop_back();
        }
        self.points.push_back((now_secs, lag_secs));
        while self.points.len() > SATURATION_MAX_POINTS
            || self
                .points
                .front()
                .is_some_and(|(t, _)| *t < now_secs - SATURATION_WINDOW)
        {
            self.points.pop_front();
        }
        self.saturated = self.is_growing(now_secs, lag_secs);
        self.saturated
    }

    fn is_growing(&self, now_secs: f64, lag_secs: f64) -> bool {
        let Some(&(first_t, first_lag)) = self.points.front() else {
            return false;
        };
        let span = now_secs - first_t;
        if span < SATURATION_MIN_SPAN
            || lag_secs < SATURATION_MIN_LAG
            || lag_secs - first_lag < SATURATION_MIN_RISE * span
        {
            return false;
        }
        let peak = self
            .points
            .iter()
            .map(|(_, lag)| *lag)
            .fold(lag_secs, f64::max);
        let older = self
            .points
            .iter()
            .filter(|(t, _)| *t <= first_t + span / 2.0);
        lag_secs >= peak - SATURATION_DRAIN_TOLERANCE
            && slope(self.points.iter()) >= SATURATION_MIN_SLOPE
            && slope(older) >= SATURATION_MIN_SLOPE / 2.0
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::rngs::StdRng;
    use rand::{Rng, SeedableRng};
    use rand_distr::{Distribution, Exp, StandardNormal};

    const WINDOWS: usize = 20;
    const PER_WINDOW: usize = 500;
    /// Debug builds scan histograms at opt-level 0, so simulated latencies are
    /// small (short scans); coverage does not depend on the scale beyond the
    /// histogram's 0.1 % resolution.
    const MEAN_NANOS: f64 = 1_000.0;

    /// 20 windows of 500 samples, their union, and the union of the first 10.
    struct Run {
        windows: Vec<LatencyHistogram>,
        total: LatencyHistogram,
        first_half: LatencyHistogram,
    }

    impl Run {
        fn new() -> Self {
            let windows = (0..WINDOWS).map(|_| LatencyHistogram::new()).collect();
            let (total, first_half) = (LatencyHistogram::new(), LatencyHistogram::new());
            Self {
                windows,
                total,
                first_half,
            }
        }

        fn fill(&mut self, with_first_half: bool, mut next: impl FnMut() -> u64) {
            // Cloning an empty histogram is a memcpy; `reset` loops at opt-level 0.
            let empty = LatencyHistogram::new();
            self.total.clone_from(&empty);
            self.first_half.clone_from(&empty);
            for (index, window) in self.windows.iter_mut().enumerate() {
                window.clone_from(&empty);
                for nanos in (0..PER_WINDOW).map(|_| next()) {
                    window.record_nanos(nanos);
                    self.total.record_nanos(nanos);
                    if with_first_half && index < WINDOWS / 2 {
                        self.first_half.record_nanos(nanos);
                    }
                }
            }
        }

        /// The interval over all windows (`batches`) or none, or over the first half.
        fn interval(&self, quantile: f64, batches: usize) -> QuantileInterval {
            let compact: Vec<CompactHistogram> = self.windows[..batches]
                .iter()
                .map(CompactHistogram::of)
                .collect();
            let windows: Vec<&CompactHistogram> = compact.iter().collect();
            let total = if batches == WINDOWS / 2 {
                &self.first_half
            } else {
                &self.total
            };
            quantile_interval(total, &windows, quantile, DEFAULT_CONFIDENCE).expect("samples")
        }
    }

    fn covers(interval: &QuantileInterval, truth: f64) -> bool {
        interval.low_nanos as f64 <= truth && truth <= interval.high_nanos as f64
    }

    fn rate(hits: usize, runs: usize) -> f64 {
        hits as f64 / runs as f64
    }

    fn exponential_quantile(q: f64) -> f64 {
        -(1.0 - q).ln() * MEAN_NANOS
    }

    #[test]
    fn iid_exponential_coverage_is_near_nominal() {
        const RUNS: usize = 400;
        let quantiles = [0.5, 0.9, 0.99];
        let exp = Exp::new(1.0).expect("rate");
        let mut rng = StdRng::seed_from_u64(7);
        let (mut run, mut hits) = (Run::new(), [0usize; 3]);
        for _ in 0..RUNS {
            run.fill(false, || (exp.sample(&mut rng) * MEAN_NANOS).round() as u64);
            for (hit, q) in hits.iter_mut().zip(quantiles) {
                let interval = run.interval(q, WINDOWS);
                assert_eq!(
                    (interval.method, interval.batches),
                    (IntervalMethod::BatchMeans, 20)
                );
                *hit += usize::from(covers(&interval, exponential_quantile(q)));
            }
        }
        for (hit, q) in hits.iter().zip(quantiles) {
            let (coverage, label) = (rate(*hit, RUNS), quantile_label(q));
            eprintln!("iid exponential {label} (n = 10000): coverage {coverage:.3}");
            assert!((0.92..=0.985).contains(&coverage), "{label}: {coverage}");
        }
    }

    #[test]
    fn iid_exponential_tail_is_covered_or_open() {
        const RUNS: usize = 300;
        let truth = exponential_quantile(0.999);
        let exp = Exp::new(1.0).expect("rate");
        let mut rng = StdRng::seed_from_u64(8);
        let (mut run, mut hits, mut open) = (Run::new(), [0usize; 2], [0usize; 2]);
        for _ in 0..RUNS {
            run.fill(true, || (exp.sample(&mut rng) * MEAN_NANOS).round() as u64);
            for (i, batches) in [WINDOWS, WINDOWS / 2].into_iter().enumerate() {
                let interval = run.interval(0.999, batches);
                let open_ok = interval.is_open_above && interval.low_nanos as f64 <= truth;
                hits[i] += usize::from(covers(&interval, truth) || open_ok);
                open[i] += usize::from(interval.is_open_above);
            }
        }
        for (i, n) in [10_000, 5_000].into_iter().enumerate() {
            let (coverage, open) = (rate(hits[i], RUNS), rate(open[i], RUNS));
            eprintln!(
                "iid exponential p99.9 (n = {n}): covered or open {coverage:.3}, open {open:.3}"
            );
            assert!(coverage >= 0.90, "{n}: {coverage}");
        }
        // Five samples above p99.9 cannot bound it at 95 %; ten usually can.
        assert_eq!(open[1], RUNS);
        assert!(rate(open[0], RUNS) < 0.5);
    }

    #[test]
    fn batch_means_cover_autocorrelated_latencies_where_iid_fails() {
        const RUNS: usize = 300;
        const PHI: f64 = 0.9;
        const SD: f64 = 0.5; // stationary variance 0.25
        let innovation_sd = SD * (1.0 - PHI * PHI).sqrt();
        let quantiles = [0.5, 0.99];
        let truth = quantiles.map(|q| MEAN_NANOS * (SD * normal_quantile(q)).exp());
        let mut rng = StdRng::seed_from_u64(11);
        let mut run = Run::new();
        let (mut batch_hits, mut iid_hits, mut effective) = ([0usize; 2], [0usize; 2], [0.0; 2]);
        for _ in 0..RUNS {
            let mut state = SD * rng.sample::<f64, _>(StandardNormal);
            run.fill(false, || {
                state = PHI * state + innovation_sd * rng.sample::<f64, _>(StandardNormal);
                (MEAN_NANOS * state.exp()).round() as u64
            });
            for i in 0..2 {
                let (batch, iid) = (
                    run.interval(quantiles[i], WINDOWS),
                    run.interval(quantiles[i], 0),
                );
                assert_eq!(iid.method, IntervalMethod::Independent);
                batch_hits[i] += usize::from(covers(&batch, truth[i]));
                iid_hits[i] += usize::from(covers(&iid, truth[i]));
                effective[i] += batch.effective_samples / RUNS as f64;
            }
        }
        for i in 0..2 {
            let (batch, iid) = (rate(batch_hits[i], RUNS), rate(iid_hits[i], RUNS));
            eprintln!(
                "AR(1) {}: batch means coverage {batch:.3}, iid-only {iid:.3}, effective samples {:.0} of 10000",
                quantile_label(quantiles[i]),
                effective[i]
            );
            assert!((0.90..=0.99).contains(&batch), "{batch}");
            assert!(iid < 0.85, "{iid}");
            assert!(effective[i] < 5_000.0);
        }
    }

    #[test]
    fn rank_mapping_has_exact_binomial_coverage() {
        // B = samples at or below the true quantile ~ Binomial(n, q) for iid
        // samples; [X_(r), X_(s)] covers it exactly when r <= B <= s − 1.
        // Without the half-sample correction the worst case drops to 0.935.
        let z = normal_quantile(0.975);
        for q in [0.5, 0.9, 0.99, 0.999] {
            let (mut sum, mut worst, mut count) = (0.0, 1.0f64, 0.0);
            for n in (500..=20_000u64).step_by(97) {
                let (r, s) = order_ranks(n as f64, q, z * (q * (1.0 - q) / n as f64).sqrt());
                if r >= 1.0 && s < n as f64 {
                    let coverage =
                        binomial_cdf(n, q, s as u64 - 1) - binomial_cdf(n, q, r as u64 - 1);
                    (sum, worst, count) = (sum + coverage, worst.min(coverage), count + 1.0);
                }
            }
            let mean = sum / count;
            eprintln!(
                "exact iid coverage of the rank mapping, q = {q}: mean {mean:.4}, worst {worst:.4}"
            );
            assert!(worst >= 0.9495 && mean <= 0.97, "{q}: {mean} {worst}");
        }
        let mut total = LatencyHistogram::new();
        (1..=1000u64).for_each(|micros| total.record_nanos(micros * 1000));
        for rank in [1, 10, 500, 990, 1000] {
            let value = value_at_rank(&total, rank as f64, 1000.0);
            assert!(
                (rank * 1000..=rank * 1001).contains(&value),
                "{rank}: {value}"
            );
        }
    }

    #[test]
    fn interval_brackets_the_estimate_and_handles_edges() {
        assert!(quantile_interval(&LatencyHistogram::new(), &[], 0.99, 0.95).is_none());
        let mut one = LatencyHistogram::new();
        one.record_nanos(1_000);
        let interval = quantile_interval(&one, &[&CompactHistogram::of(&one)], 0.99, 0.95)
            .expect("one sample");
        assert!(interval.low_nanos <= 1_000 && interval.high_nanos >= 1_000);
        assert!(interval.is_open_above && interval.method == IntervalMethod::Independent);
        let mut total = LatencyHistogram::new();
        (1..=1000u64).for_each(|micros| total.record_nanos(micros * 1000));
        for q in [0.0, 0.5, 0.99, 1.0] {
            let interval = quantile_interval(&total, &[], q, 0.95).expect("samples");
            let x = total.quantile_nanos(q);
            assert!(interval.low_nanos <= x && x <= interval.high_nanos, "{q}");
            assert_eq!(interval.effective_samples, 1000.0);
        }
        let p99 = quantile_interval(&total, &[], 0.99, 0.95).expect("samples");
        assert!(!p99.is_open_above);
        assert!(
            p99.low_nanos >= 980_000 && p99.high_nanos <= 998_000,
            "{p99:?}"
        );
    }

    #[test]
    fn early_stopping_decides_like_loadgen() {
        let stop =
            |total, over, batches: &[(u64, u64)]| early_stop(total, over, batches, 0.99, 0.99);
        let even = |total: u64, over: u64| vec![(total / 20, over / 20); 20];
        let pass = stop(10_000, 20, &even(10_000, 20));
        assert_eq!(
            (pass.decision, pass.effective_samples),
            (SloDecision::Pass, 10_000.0)
        );
        assert_eq!(pass.requests_needed, None);
        assert_eq!(
            stop(10_000, 300, &even(10_000, 300)).decision,
            SloDecision::Fail
        );
        for over in [2u64, 9] {
            let undecided = stop(500, over, &even(500, 0));
            assert_eq!(undecided.decision, SloDecision::Undecided);
            let needed = undecided.requests_needed.expect("decidable");
            eprintln!("500 requests, {over} over: {needed} more needed");
            let at = |total: u64| {
                stop(
                    total,
                    (over as f64 / 500.0 * total as f64).round() as u64,
                    &[],
                )
            };
            assert_ne!(at(500 + needed).decision, SloDecision::Undecided);
            // Plausible, not a loose bound: a quarter as many does not decide.
            assert_eq!(at(500 + needed / 4).decision, SloDecision::Undecided);
        }
        // 5 of 500 is exactly the allowed 1 %: no amount of data decides.
        let at_limit = stop(500, 5, &[]);
        assert_eq!(
            (at_limit.decision, at_limit.requests_needed),
            (SloDecision::Undecided, None)
        );
        // 70 of 10,000 passes when spread out, not when packed into 2 windows.
        assert_eq!(stop(10_000, 70, &[]).decision, SloDecision::Pass);
        let packed: Vec<(u64, u64)> = (0..20).map(|i| (500, if i < 2 { 35 } else { 0 })).collect();
        let clustered = stop(10_000, 70, &packed);
        eprintln!(
            "clustered over-requests: effective samples {:.0}",
            clustered.effective_samples
        );
        assert!(clustered.effective_samples < 2_000.0);
        assert_eq!(clustered.decision, SloDecision::Undecided);
        assert!(clustered.requests_needed.is_some());
        assert_eq!(min_requests_to_pass(0.99, 0.99), 459);
        assert_eq!(stop(459, 0, &[]).decision, SloDecision::Pass);
        assert_eq!(stop(458, 0, &[]).decision, SloDecision::Undecided);
        assert_eq!(stop(0, 0, &[]).requests_needed, None);
        // Past the exact binomial's range the normal approximation takes over.
        let n = 10_000_000_000u64;
        assert!((binomial_cdf(n, 0.01, n / 100) - 0.5).abs() < 0.01);
        assert_eq!(
            stop(n, n / 100 - 1_000_000, &[]).decision,
            SloDecision::Pass
        );
    }

    /// Ten windows of 1,000 latencies, those from `shift_from` on doubled.
    fn stability_windows(shift_from: usize) -> Vec<LatencyHistogram> {
        scaled_windows(shift_from, 2.0, 1_000)
    }

    /// Ten windows of `size` latencies, those from `shift_from` on scaled.
    fn scaled_windows(shift_from: usize, shift: f64, size: usize) -> Vec<LatencyHistogram> {
        let exp = Exp::new(1.0).expect("rate");
        let mut rng = StdRng::seed_from_u64(3);
        (0..10)
            .map(|i| {
                let scale = if i < shift_from { 1.0 } else { shift };
                let mut histogram = LatencyHistogram::new();
                for _ in 0..size {
                    histogram.record_nanos((scale * 1e5 * (2.0 + exp.sample(&mut rng))) as u64);
                }
                histogram
            })
            .collect()
    }

    fn stability(
        histograms: &[LatencyHistogram],
        rates: &[f64],
        q: Option<f64>,
    ) -> IntervalStability {
        let compact: Vec<CompactHistogram> = histograms.iter().map(CompactHistogram::of).collect();
        let windows: Vec<WindowView<'_>> = rates
            .iter()
            .zip(&compact)
            .map(|(rate, histogram)| WindowView {
                throughput_per_sec: *rate,
                latency: Some(histogram),
            })
            .collect();
        interval_stability(&windows, q, 0.95)
    }

    fn unstable_reason(verdict: IntervalStability) -> String {
        match verdict {
            IntervalStability::Unstable { reason } => reason,
            other => panic!("expected unstable, got {other:?}"),
        }
    }

    #[test]
    fn stability_flags_shifts_drift_and_jumps() {
        let (steady, shifted) = (stability_windows(10), stability_windows(5));
        let noise = [0.3, -0.5, 0.1, 0.4, -0.2, -0.4, 0.5, 0.0, -0.1, 0.2];
        let flat: Vec<f64> = noise.iter().map(|e| 1000.0 + 10.0 * e).collect();
        assert_eq!(
            stability(&steady, &flat, Some(0.99)),
            IntervalStability::Stable
        );

        let reason = unstable_reason(stability(&shifted, &flat, Some(0.99)));
        eprintln!("{reason}");
        assert!(
            reason.starts_with("p99 of the first half (") && reason.ends_with("do not overlap")
        );

        // A 2 % shift over 400,000 requests is significant but immaterial;
        // 8 % is not.
        let nudged = scaled_windows(5, 1.02, 40_000);
        assert_eq!(
            stability(&nudged, &flat, Some(0.99)),
            IntervalStability::Stable
        );
        let moved = scaled_windows(5, 1.08, 40_000);
        let reason = unstable_reason(stability(&moved, &flat, Some(0.99)));
        assert!(reason.ends_with("do not overlap"), "{reason}");

        let ramp: Vec<f64> = flat
            .iter()
            .enumerate()
            .map(|(i, r)| r + 20.0 * i as f64)
            .collect();
        let reason = unstable_reason(stability(&steady, &ramp, Some(0.99)));
        eprintln!("{reason}");
        assert!(reason.contains("drifted by +") && reason.contains("over 10 windows"));
        let falling: Vec<f64> = ramp.iter().rev().copied().collect();
        let reason = unstable_reason(stability(&steady, &falling, None));
        assert!(reason.starts_with("throughput drifted by −"), "{reason}");

        let mut dip = flat.clone();
        dip[4] = 500.0;
        let reason = unstable_reason(stability(&steady, &dip, None));
        eprintln!("{reason}");
        assert!(reason.contains("window 5 of 10") && reason.contains("below"));

        // A few requests a window (a low rate): the p99's upper bound is
        // open, so a 2× shift of its point value is no evidence.
        let sparse = scaled_windows(5, 2.0, 3);
        let rates: Vec<f64> = vec![3.0; 10];
        assert_eq!(
            stability(&sparse, &rates, Some(0.99)),
            IntervalStability::Stable
        );

        // At 20 requests/s a window of 28 against 20 is Poisson noise; at
        // 2,000/s the same 40 % is a jump.
        let mut slow = vec![20.0; 10];
        slow[0] = 28.0;
        assert_eq!(stability(&steady, &slow, None), IntervalStability::Stable);
        let fast: Vec<f64> = slow.iter().map(|rate| rate * 100.0).collect();
        let reason = unstable_reason(stability(&steady, &fast, None));
        assert!(reason.contains("window 1 of 10"), "{reason}");

        let not_enough = |v| matches!(v, IntervalStability::NotEnoughData { .. });
        assert!(not_enough(stability(&steady[..2], &flat, Some(0.99))));
        let rates_only: Vec<WindowView<'_>> = flat
            .iter()
            .map(|r| WindowView {
                throughput_per_sec: *r,
                latency: None,
            })
            .collect();
        assert!(not_enough(interval_stability(
            &rates_only,
            Some(0.99),
            0.95
        )));
        assert_eq!(
            interval_stability(&rates_only, None, 0.95),
            IntervalStability::Stable
        );
    }

    #[test]
    fn formats_times_and_quantiles() {
        assert_eq!(
            [0.5, 0.99, 0.999].map(quantile_label),
            ["p50", "p99", "p99.9"]
        );
        assert_eq!(format_range(1_200_000, 1_310_000), "1.20–1.31 ms");
        assert_eq!(format_range(950_000, 1_020_000), "950 µs–1.02 ms");
        assert_eq!(format_range(9_500, 12_340), "9.50–12.3 µs");
        assert_eq!(three_figures(99.96), "100");
    }

    /// Feeds `lag(t)` every 50 ms for 10 s; the first saturated time.
    fn saturation_time(mut lag: impl FnMut(f64) -> f64) -> Option<f64> {
        let mut detector = SaturationDetector::new();
        (0..200)
            .map(|i| i as f64 * 0.05)
            .find(|t| detector.observe(*t, lag(*t)))
    }

    #[test]
    fn saturation_needs_a_sustained_rising_lag() {
        let mut rng = StdRng::seed_from_u64(5);
        assert_eq!(saturation_time(|_| rng.random_range(-0.05..0.05)), None);

        let growth =
            |t: f64, rng: &mut StdRng| 0.3 * (t - 3.0).max(0.0) + rng.random_range(-0.05..0.05);
        let mut rng = StdRng::seed_from_u64(6);
        let at = saturation_time(|t| growth(t, &mut rng));
        eprintln!("lag growing at 0.3 s/s from 3 s: saturated at {at:?} s");
        assert!(at.is_some_and(|at| (3.5..=5.5).contains(&at)), "{at:?}");

        // Rises to 0.4 s (within 0.05 to 0.5 s), then drains within 1 s.
        for rise in [0.05, 0.2, 0.5] {
            let burst = |t: f64| match t - 3.0 {
                d if (0.0..rise).contains(&d) => 0.4 * d / rise,
                d if (rise..rise + 1.0).contains(&d) => 0.4 * (rise + 1.0 - d),
                _ => 0.0,
            };
            assert_eq!(saturation_time(burst), None, "burst rising in {rise} s");
        }

        // Sticky; memory stays bounded under very frequent calls.
        let mut detector = SaturationDetector::new();
        assert!(
            (0..200).any(|i| detector.observe(i as f64 * 0.05, growth(i as f64 * 0.05, &mut rng)))
        );
        assert!(detector.observe(10.0, 0.0));
        let mut detector = SaturationDetector::new();
        (0..100_000).for_each(|i| _ = detector.observe(i as f64 * 1e-4, 0.0));
        assert!(detector.points.len() <= 410, "{}", detector.points.len());
        assert!(!detector.observe(f64::NAN, 1.0));
    }
}
