//! One measured point of a sweep: its run record, stability and SLO
//! verdict.

use serde::{Deserialize, Serialize};

use super::{
    Slo, VaryKey,
    stats::{Decision, PASS_CONFIDENCE, PointStability},
};
use crate::{
    engine::{LoadMode, ProfileConfig, RunRecord},
    metrics::{LatencyHistogram, confidence::SloDecision},
};

/// Share of the offered open-loop rate a point must reach; below it (by
/// more than the arrivals' Poisson noise) the point is saturated and fails.
pub const SATURATION_SHARE: f64 = 0.95;

/// Share of the measured period's scheduled requests that may be left
/// unsent at its end (the queue in flight at the deadline) before the point
/// counts as saturated.
pub const UNSENT_SHARE: f64 = 0.01;

/// The SLO verdict of a point.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Verdict {
    /// Pass only when every SLO item passed with confidence.
    pub decision: Decision,
    /// One line per SLO item (value, count over the bound, its decision).
    pub details: Vec<String>,
    /// True when a latency bound (not only throughput) clearly failed.
    pub latency_failed: bool,
    /// Headroom to the first latency bound: `1 - value / bound`
    /// (0.25: 25 % under it; negative: over it).
    pub margin: Option<f64>,
}

/// Judges `record` against `slo`: a binomial test per latency bound on the
/// requests over it (failed requests count as over), the throughput floor,
/// and, in open loop, saturation (throughput below [`SATURATION_SHARE`] of
/// the offered rate, or more than [`UNSENT_SHARE`] of the scheduled requests
/// left unsent).
pub fn judge(record: &RunRecord, slo: &Slo) -> Verdict {
    let mut details = Vec::new();
    let mut decisions = Vec::new();
    let mut latency_failed = false;
    let Some(summary) = &record.summary else {
        return Verdict {
            decision: Decision::Fail,
            details: vec!["the run measured nothing".to_owned()],
            latency_failed: false,
            margin: None,
        };
    };
    let histogram = record
        .latency_histogram
        .as_ref()
        .and_then(|encoded| LatencyHistogram::decode(&encoded.data, encoded.outliers).ok());
    let mut margin = None;
    for (i, bound) in slo.latency.iter().enumerate() {
        let value = summary.latency.map(|l| bound.percentile.of(&l));
        if i == 0 {
            margin = value.map(|v| 1.0 - v / bound.bound_micros);
        }
        let Some(histogram) = &histogram else {
            details.push(format!("{}: no latency histogram", bound.percentile));
            decisions.push(Decision::Undecided);
            continue;
        };
        let bound_nanos = (bound.bound_micros * 1e3) as u64;
        let over_ok = histogram.count_above_nanos(bound_nanos);
        let total = histogram.len() + summary.requests_failed;
        let over = over_ok + summary.requests_failed;
        // The autocorrelation-corrected test (batch means over the windows),
        // as early stopping uses it.
        let decision = match crate::metrics::confidence::early_stop(
            total,
            over,
            &window_counts(record, bound_nanos),
            bound.percentile.quantile(),
            PASS_CONFIDENCE,
        )
        .decision
        {
            SloDecision::Pass => Decision::Pass,
            SloDecision::Fail => Decision::Fail,
            SloDecision::Undecided => Decision::Undecided,
        };
        latency_failed |= decision == Decision::Fail;
        details.push(format!(
            "{} {} (bound {}): {over} of {total} requests over, {decision}",
            bound.percentile,
            value.map_or_else(|| "-".to_owned(), crate::util::format_micros),
            crate::util::format_micros(bound.bound_micros),
        ));
        decisions.push(decision);
    }
    if slo.generation.is_set() {
        let decision = judge_goodput(summary.generation.as_ref(), slo, &mut details);
        latency_failed |= decision == Decision::Fail;
        decisions.push(decision);
    }
    if let Some(min) = slo.min_throughput_per_sec {
        let decision = if summary.inferences_per_sec >= min {
            Decision::Pass
        } else {
            Decision::Fail
        };
        details.push(format!(
            "throughput {:.1}/s (floor {min}/s): {decision}",
            summary.inferences_per_sec
        ));
        decisions.push(decision);
    }
    if let LoadMode::Open { rate_per_sec, .. } = record.config.load {
        let offered = rate_per_sec;
        let achieved = summary.requests_per_sec;
        let scheduled = offered * summary.measured_secs;
        let backlog = summary.unsent_requests as f64;
        // Poisson arrivals put about √scheduled requests more or fewer in
        // the measured period than the rate says: a shortfall counts only
        // beyond three of those (a few requests at a low rate are noise).
        let served = achieved * summary.measured_secs;
        let short = served < SATURATION_SHARE * scheduled - 3.0 * scheduled.sqrt();
        if record.stop_reason == Some(crate::engine::StopReason::Saturated)
            || short
            || backlog > UNSENT_SHARE * scheduled
        {
            details.push(format!(
                "saturated: {} of {} requests/s served, {} left unsent",
                crate::util::format_value(achieved),
                crate::util::format_value(offered),
                summary.unsent_requests
            ));
            decisions.push(Decision::Fail);
        }
    }
    if record.status == crate::engine::RunStatus::Failed {
        details.push(format!(
            "the run failed: {}",
            record.failure.as_deref().unwrap_or("no reason recorded")
        ));
        decisions.push(Decision::Fail);
    }
    let decision = Decision::all(decisions);
    Verdict {
        decision,
        details,
        latency_failed,
        margin,
    }
}

/// The goodput test of a generative point: at least the required share of
/// its requests met every objective, at [`PASS_CONFIDENCE`] (the binomial
/// test early stopping uses, on the requests that missed).
fn judge_goodput(
    generation: Option<&crate::metrics::generation::GenerationSummary>,
    slo: &Slo,
    details: &mut Vec<String>,
) -> Decision {
    let Some((generation, share)) = generation
        .and_then(|generation| generation.slo_pass_share.map(|share| (generation, share)))
    else {
        details.push("no per-request objectives were measured (not a generative run)".to_owned());
        return Decision::Undecided;
    };
    let required = slo.required_goodput_share();
    let total = generation.requests;
    let missed = total - ((share * total as f64).round() as u64).min(total);
    let decision =
        match crate::metrics::confidence::early_stop(total, missed, &[], required, PASS_CONFIDENCE)
            .decision
        {
            SloDecision::Pass => Decision::Pass,
            SloDecision::Fail => Decision::Fail,
            SloDecision::Undecided => Decision::Undecided,
        };
    details.push(format!(
        "goodput {:.2}/s: {} of {total} requests met {} ({:.1} %, {:.0} % needed), {decision}",
        generation.goodput_per_sec.unwrap_or(0.0),
        total - missed,
        slo.generation,
        share * 100.0,
        required * 100.0
    ));
    decision
}

/// `(requests, over the bound)` per window of the run, from the windows'
/// histograms.
fn window_counts(record: &RunRecord, bound_nanos: u64) -> Vec<(u64, u64)> {
    record
        .timeseries
        .iter()
        .filter_map(|window| window.latency_histogram.as_deref())
        .filter_map(|encoded| LatencyHistogram::decode(encoded, 0).ok())
        .map(|histogram| (histogram.len(), histogram.count_above_nanos(bound_nanos)))
        .collect()
}

/// A point that ran.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct MeasuredPoint {
    /// `concurrency=4 batch=8`, or `base` when nothing varies.
    pub label: String,
    /// The varied values of this point.
    pub values: Vec<(VaryKey, String)>,
    /// The configuration the (last) run used.
    pub config: ProfileConfig,
    /// The last run of the point.
    pub record: RunRecord,
    pub stability: PointStability,
    pub verdict: Verdict,
    /// Runs made (1 plus retries).
    pub attempts: u32,
    /// Wall time of every attempt together.
    pub wall_secs: f64,
}

impl MeasuredPoint {
    /// Inferences per second over the measured period; for a generative
    /// run with objectives, its goodput (requests per second that met them).
    pub fn throughput_per_sec(&self) -> f64 {
        self.record.summary.as_ref().map_or(0.0, |s| {
            s.generation
                .as_ref()
                .and_then(|generation| generation.goodput_per_sec)
                .unwrap_or(s.inferences_per_sec)
        })
    }

    /// End-to-end latency at `percentile`, in µs.
    pub fn latency_micros(&self, percentile: super::Percentile) -> Option<f64> {
        self.record
            .summary
            .as_ref()
            .and_then(|s| s.latency.as_ref())
            .map(|l| percentile.of(l))
    }

    /// Mean process CPU over the measured windows (100 = one core).
    pub fn cpu_percent(&self) -> Option<f64> {
        let values: Vec<f64> = self
            .record
            .timeseries
            .iter()
            .filter_map(|w| w.process_cpu_percent)
            .collect();
        (!values.is_empty()).then(|| values.iter().sum::<f64>() / values.len() as f64)
    }

    /// Peak resident memory over the measured windows.
    pub fn rss_bytes(&self) -> Option<u64> {
        self.record
            .timeseries
            .iter()
            .filter_map(|w| w.rss_bytes)
            .max()
    }

    /// True when the point can be recommended: stable and passing.
    pub fn is_usable_pass(&self) -> bool {
        self.stability.is_stable() && self.verdict.decision == Decision::Pass
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::engine::Arrival;

    /// A real recorded run: 300 closed-loop requests, p99 about 132 µs.
    fn fixture_record() -> RunRecord {
        serde_json::from_str(include_str!("../../tests/data/sessions/v1.json")).expect("fixture")
    }

    fn slo(items: &[&str]) -> Slo {
        let mut slo = Slo::default();
        for item in items {
            slo.add(item).expect("slo");
        }
        slo
    }

    #[test]
    fn the_verdict_counts_requests_over_the_bound_with_confidence() {
        let record = fixture_record();
        // None of 300 over 10 ms: enough for p50 (7 needed), not for p99 (459).
        let verdict = judge(&record, &slo(&["p50=10ms"]));
        assert_eq!(verdict.decision, Decision::Pass, "{verdict:?}");
        assert!(verdict.details[0].contains("0 of 300"), "{verdict:?}");
        let margin = verdict.margin.expect("margin");
        assert!(margin > 0.9 && margin < 1.0, "{margin}");
        let verdict = judge(&record, &slo(&["p99=10ms"]));
        assert_eq!(verdict.decision, Decision::Undecided, "{verdict:?}");
        // Every request over 1 µs: a clear latency failure.
        let verdict = judge(&record, &slo(&["p50=0.001ms", "p99=10ms"]));
        assert_eq!(verdict.decision, Decision::Fail);
        assert!(verdict.latency_failed);
        assert!(verdict.margin.expect("margin") < 0.0);
        // A throughput floor far above the run fails, but not on latency.
        let verdict = judge(&record, &slo(&["p50=10ms", "throughput>=1e9"]));
        assert_eq!(verdict.decision, Decision::Fail);
        assert!(!verdict.latency_failed);
        // The same requests offered at a far higher open-loop rate: saturated.
        let mut open = record.clone();
        open.config.load = LoadMode::Open {
            rate_per_sec: 1e9,
            arrival: Arrival::Poisson,
        };
        let verdict = judge(&open, &slo(&["p50=10ms"]));
        assert_eq!(verdict.decision, Decision::Fail);
        assert!(
            verdict.details.iter().any(|d| d.contains("saturated")),
            "{verdict:?}"
        );
        let mut failed = record;
        failed.status = crate::engine::RunStatus::Failed;
        assert_eq!(judge(&failed, &slo(&["p50=10ms"])).decision, Decision::Fail);
    }

    #[test]
    fn a_generative_point_passes_on_its_goodput_share_and_ranks_by_goodput() {
        let generative = |requests: u64, share: f64| {
            let mut record = fixture_record();
            let summary = record.summary.as_mut().expect("summary");
            summary.generation = Some(
                serde_json::from_value(serde_json::json!({
                    "requests": requests,
                    "prompt_tokens": requests * 64,
                    "output_tokens": requests * 16,
                    "output_tokens_per_sec": 800.0,
                    "prompt_tokens_per_sec": 3200.0,
                    "requests_per_sec": 50.0,
                    "goodput_per_sec": 50.0 * share,
                    "slo_pass_share": share,
                }))
                .expect("generation summary"),
            );
            record
        };
        let objectives = slo(&["ttft=60ms,itl=3ms"]);
        assert!(objectives.generation.is_set());
        // 2000 of 2000 met: above 99 % with confidence.
        let verdict = judge(&generative(2000, 1.0), &objectives);
        assert_eq!(verdict.decision, Decision::Pass, "{verdict:?}");
        assert!(verdict.details.iter().any(|d| d.contains("2000 of 2000")));
        // 90 % met: a clear failure, counted as a latency failure.
        let verdict = judge(&generative(2000, 0.9), &objectives);
        assert_eq!(verdict.decision, Decision::Fail, "{verdict:?}");
        assert!(verdict.latency_failed);
        // 100 requests cannot show 99 % at this confidence.
        let verdict = judge(&generative(100, 1.0), &objectives);
        assert_eq!(verdict.decision, Decision::Undecided, "{verdict:?}");
        // A lower required share passes the 90 % point.
        let verdict = judge(
            &generative(2000, 0.9),
            &slo(&["ttft=60ms,itl=3ms", "goodput>=0.8"]),
        );
        assert_eq!(verdict.decision, Decision::Pass, "{verdict:?}");
        // Without per-request measures (a one-shot run) it cannot decide.
        let verdict = judge(&fixture_record(), &objectives);
        assert_eq!(verdict.decision, Decision::Undecided, "{verdict:?}");
        let record = generative(2000, 0.5);
        let point = MeasuredPoint {
            label: "concurrency=1".to_owned(),
            values: Vec::new(),
            config: record.config.clone(),
            verdict: judge(&record, &objectives),
            record,
            stability: PointStability::Unstable {
                reason: "not measured".to_owned(),
            },
            attempts: 1,
            wall_secs: 1.0,
        };
        assert!((point.throughput_per_sec() - 25.0).abs() < 1e-9);
    }
}
