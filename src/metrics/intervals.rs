//! Where the statistics of [`super::confidence`] meet the run's figures:
//! confidence intervals attached to each percentile summary, and the
//! run-level stability verdict from the 1-second windows.

use super::{
    CompactHistogram, LatencyHistogram, LatencySummary, STABILITY_WINDOWS, Stability, WindowStats,
    confidence::{self, DEFAULT_CONFIDENCE, IntervalStability, WindowView},
};

/// Fills the `pNN_ci_micros` fields of `summary` from the run's histogram
/// and its windows' (batch means over the windows; see
/// [`confidence::quantile_interval`]).
pub fn attach_intervals(
    summary: &mut LatencySummary,
    total: &LatencyHistogram,
    windows: &[&CompactHistogram],
) {
    let interval = |quantile: f64| {
        confidence::quantile_interval(total, windows, quantile, DEFAULT_CONFIDENCE).map(
            |interval| {
                [
                    interval.low_nanos as f64 / 1000.0,
                    interval.high_nanos as f64 / 1000.0,
                ]
            },
        )
    };
    summary.p50_ci_micros = interval(0.50);
    summary.p90_ci_micros = interval(0.90);
    summary.p95_ci_micros = interval(0.95);
    summary.p99_ci_micros = interval(0.99);
    summary.p999_ci_micros = interval(0.999);
}

/// The summary of `total` with its intervals over `windows`.
pub fn summary_with_intervals(
    total: &LatencyHistogram,
    windows: &[&CompactHistogram],
) -> Option<LatencySummary> {
    let mut summary = total.summary()?;
    attach_intervals(&mut summary, total, windows);
    Some(summary)
}

/// The latency histogram of each window, decoded one at a time and kept
/// compact (`None` where a window has none: empty, or an older session).
pub fn window_histograms(windows: &[WindowStats]) -> Vec<Option<CompactHistogram>> {
    windows
        .iter()
        .map(|window| {
            window
                .latency_histogram
                .as_deref()
                .and_then(|encoded| LatencyHistogram::decode(encoded, 0).ok())
                .map(|histogram| CompactHistogram::of(&histogram))
        })
        .collect()
}

/// Stability of a run from its full 1-second windows: unstable when the
/// windows disagree beyond their intervals on `quantile`, or throughput
/// drifts ([`confidence::interval_stability`]). `histograms[i]` is the
/// latency histogram of `windows[i]`, when known.
pub fn stability_of(
    windows: &[WindowStats],
    histograms: &[Option<&CompactHistogram>],
    quantile: Option<f64>,
) -> Stability {
    stability_with_drift(windows, histograms, quantile, confidence::DEFAULT_MAX_DRIFT)
}

/// [`stability_of`] with the largest accepted throughput drift (a share of
/// the mean) as a parameter.
pub fn stability_with_drift(
    windows: &[WindowStats],
    histograms: &[Option<&CompactHistogram>],
    quantile: Option<f64>,
    max_drift: f64,
) -> Stability {
    let full: Vec<(usize, &WindowStats)> = windows
        .iter()
        .enumerate()
        .filter(|(_, window)| window.duration_secs >= 0.999)
        .collect();
    if full.len() < STABILITY_WINDOWS {
        return Stability::NotEnoughData {
            reason: format!(
                "{} full 1-second windows, {STABILITY_WINDOWS} needed; run longer",
                full.len()
            ),
        };
    }
    let views: Vec<WindowView<'_>> = full
        .iter()
        .map(|(index, window)| WindowView {
            // Requests, the arrivals' unit: the jump rule's Poisson
            // allowance counts them (a batch of 8 is one arrival).
            throughput_per_sec: window.requests_per_sec,
            latency: histograms.get(*index).copied().flatten(),
        })
        .collect();
    let rates: Vec<f64> = full.iter().map(|(_, w)| w.inferences_per_sec).collect();
    let mean = rates.iter().sum::<f64>() / rates.len() as f64;
    if mean <= 0.0 {
        return Stability::NotEnoughData {
            reason: "no inferences completed in the windows".to_owned(),
        };
    }
    let max = rates.iter().copied().fold(f64::MIN, f64::max);
    let min = rates.iter().copied().fold(f64::MAX, f64::min);
    let spread = (max - min) / mean;
    match confidence::interval_stability_with_drift(&views, quantile, DEFAULT_CONFIDENCE, max_drift)
    {
        IntervalStability::Stable => Stability::Stable { spread },
        IntervalStability::Unstable { reason } => Stability::Unstable { spread, reason },
        IntervalStability::NotEnoughData { reason } => Stability::NotEnoughData { reason },
    }
}

/// Judges the full windows of a run (see [`stability_of`]),
/// decoding each window's latency histogram; p99 is the percentile judged.
pub fn stability(windows: &[WindowStats]) -> Stability {
    let histograms = window_histograms(windows);
    let refs: Vec<Option<&CompactHistogram>> = histograms.iter().map(Option::as_ref).collect();
    // Older sessions keep no window histograms: throughput alone is judged.
    let quantile = histograms.iter().any(Option::is_some).then_some(0.99);
    stability_of(windows, &refs, quantile)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn window(rate: f64, duration_secs: f64) -> WindowStats {
        WindowStats {
            start_secs: 0.0,
            duration_secs,
            requests: rate as u64,
            inferences: rate as u64,
            inferences_per_sec: rate,
            requests_per_sec: rate,
            ..WindowStats::default()
        }
    }

    #[test]
    fn stability_needs_three_full_windows() {
        let windows = [window(100.0, 1.0), window(100.0, 1.0), window(100.0, 0.4)];
        assert!(matches!(
            stability(&windows),
            Stability::NotEnoughData { .. }
        ));
    }

    #[test]
    fn stability_flags_a_throughput_jump() {
        let stable = [
            window(1000.0, 1.0),
            window(1040.0, 1.0),
            window(1000.0, 1.0),
        ];
        let Stability::Stable { spread } = stability(&stable) else {
            panic!("expected stable")
        };
        assert!((spread - 40.0 / (3040.0 / 3.0)).abs() < 1e-9);
        let unstable = [window(1000.0, 1.0), window(600.0, 1.0), window(1000.0, 1.0)];
        let verdict = stability(&unstable);
        assert!(matches!(verdict, Stability::Unstable { .. }), "{verdict}");
        assert!(verdict.to_string().contains("600"), "{verdict}");
    }
}
