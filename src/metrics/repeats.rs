//! Figures across repeated runs of one configuration (`profile --repeat N`).
//!
//! A run's own percentile intervals ([`super::confidence`]) hold the
//! uncertainty of that run's sampling. They cannot hold what changes from
//! run to run and stays fixed within one (a session's memory layout, the
//! machine's state over minutes, neighbours on a VM), which on a shared
//! machine is often larger. Repeating the run measures it: each figure gets
//! the mean over the runs, an interval for that mean (Student's t on the
//! run values) and a prediction interval for one more run, the range a
//! fresh run of the same configuration should fall in.

use statrs::distribution::{ContinuousCDF as _, StudentsT};

pub use super::summary::{AcrossRuns, RepeatedFigure};
use super::{slo::Percentile, summary::RunSummary};

/// Mean, intervals of the mean and of one more value, from `values`
/// (at least two).
pub fn repeated_figure(name: &str, values: &[f64], confidence: f64) -> Option<RepeatedFigure> {
    let n = values.len();
    if n < 2 || values.iter().any(|value| !value.is_finite()) {
        return None;
    }
    let count = n as f64;
    let mean = values.iter().sum::<f64>() / count;
    let variance = values.iter().map(|v| (v - mean).powi(2)).sum::<f64>() / (count - 1.0);
    let sd = variance.sqrt();
    let t = StudentsT::new(0.0, 1.0, count - 1.0)
        .ok()?
        .inverse_cdf(0.5 + confidence / 2.0);
    let mean_half = t * sd / count.sqrt();
    let next_half = t * sd * (1.0 + 1.0 / count).sqrt();
    // Latencies and rates are never negative.
    Some(RepeatedFigure {
        name: name.to_owned(),
        values: values.to_vec(),
        mean,
        sd,
        mean_ci: [(mean - mean_half).max(0.0), mean + mean_half],
        next_run: [(mean - next_half).max(0.0), mean + next_half],
    })
}

/// The figures of `summaries` (one per run, in order): throughput and the
/// end-to-end percentiles. `None` with fewer than two runs.
pub fn across_runs(summaries: &[&RunSummary], confidence: f64) -> Option<AcrossRuns> {
    if summaries.len() < 2 {
        return None;
    }
    let mut figures = Vec::new();
    let throughput: Vec<f64> = summaries.iter().map(|s| s.inferences_per_sec).collect();
    figures.extend(repeated_figure(
        "inferences_per_sec",
        &throughput,
        confidence,
    ));
    let percentiles = [
        ("p50_micros", Percentile::P50),
        ("p90_micros", Percentile::P90),
        ("p95_micros", Percentile::P95),
        ("p99_micros", Percentile::P99),
        ("p999_micros", Percentile::P999),
    ];
    for (name, percentile) in percentiles {
        let values: Option<Vec<f64>> = summaries
            .iter()
            .map(|summary| summary.latency.as_ref().map(|l| percentile.of(l)))
            .collect();
        if let Some(values) = values {
            figures.extend(repeated_figure(name, &values, confidence));
        }
    }
    Some(AcrossRuns {
        runs: u32::try_from(summaries.len()).unwrap_or(u32::MAX),
        confidence,
        figures,
    })
}

#[cfg(test)]
mod tests {
    use rand::{Rng as _, SeedableRng as _, rngs::StdRng};
    use rand_distr::{Distribution as _, Normal};

    use super::*;

    #[test]
    fn known_values_give_the_textbook_intervals() {
        let figure = repeated_figure("x", &[10.0, 12.0, 14.0], 0.95).expect("figure");
        assert!((figure.mean - 12.0).abs() < 1e-12);
        assert!((figure.sd - 2.0).abs() < 1e-12);
        // t(0.975, 2) = 4.3027.
        let half = 4.302_652_7 * 2.0 / 3f64.sqrt();
        assert!((figure.mean_ci[1] - 12.0 - half).abs() < 1e-4, "{figure:?}");
        let next = 4.302_652_7 * 2.0 * (1.0 + 1.0 / 3.0f64).sqrt();
        assert!((figure.next_run[0] - (12.0 - next)).abs() < 1e-4);
        assert!(repeated_figure("x", &[1.0], 0.95).is_none());
    }

    /// Runs whose level shifts from run to run (a run effect, fixed within
    /// a run) plus sampling noise: the next run falls in the prediction
    /// interval of five earlier runs about 95 % of the time, where a
    /// single run's own sampling interval would hold it far less often.
    #[test]
    fn a_fresh_run_falls_in_the_prediction_interval_at_the_claimed_rate() {
        let mut rng = StdRng::seed_from_u64(20261206);
        let run_effect = Normal::new(0.0, 3.0).expect("normal");
        let trials = 4000;
        let mut inside = 0;
        let mut inside_single = 0;
        for _ in 0..trials {
            let mut run = || 100.0 + run_effect.sample(&mut rng) + rng.random_range(-0.5..0.5);
            let earlier: Vec<f64> = (0..5).map(|_| run()).collect();
            let fresh = run();
            let figure = repeated_figure("p99", &earlier, 0.95).expect("figure");
            if figure.next_run[0] <= fresh && fresh <= figure.next_run[1] {
                inside += 1;
            }
            // A single run's sampling interval (±1, about its noise).
            if (earlier[0] - 1.0..=earlier[0] + 1.0).contains(&fresh) {
                inside_single += 1;
            }
        }
        let share = f64::from(inside) / f64::from(trials);
        let single = f64::from(inside_single) / f64::from(trials);
        assert!(
            (0.93..=0.97).contains(&share),
            "prediction coverage {share}"
        );
        assert!(single < 0.3, "single-run interval coverage {single}");
    }
}
