//! The validity verdict of a run: whether its figures can be decided from,
//! and the specific reasons when not. Each rule states its threshold; the
//! verdict is the worst of the reasons.

use serde::{Deserialize, Serialize};

use super::{LatencySummary, slo::Percentile};

/// Lateness p99 above this share of the judged latency percentile makes a
/// run doubtful: the generator, not the model, is a visible part of it.
pub const LATE_DOUBTFUL_SHARE: f64 = 0.10;
/// ... and above this share, invalid.
pub const LATE_INVALID_SHARE: f64 = 0.50;
/// Harness CPU above this share of the process's CPU makes a run doubtful,
/// when the cores were busy (on idle cores it takes nothing from the model).
pub const HARNESS_CPU_SHARE: f64 = 0.05;
/// Process CPU, as a share of all cores, above which the cores count as
/// busy for the harness rule.
pub const BUSY_CORES_SHARE: f64 = 0.75;
/// Sampled per-layer profiling that slowed the run by more than this share.
pub const PROFILER_SLOWDOWN_SHARE: f64 = 0.05;
/// A closed loop that got less than this share of the cores its workers
/// keep busy was competing with other processes for them.
pub const MIN_CORES_GOT_SHARE: f64 = 0.8;
/// Requests beyond a percentile needed for it to mean something: with
/// fewer than ten samples above p99, p99 is one of the largest values.
pub const MIN_TAIL_SAMPLES: f64 = 10.0;

/// The verdict, best to worst.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Verdict {
    Valid,
    Doubtful,
    Invalid,
}

impl std::fmt::Display for Verdict {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Self::Valid => "valid",
            Self::Doubtful => "doubtful",
            Self::Invalid => "invalid",
        })
    }
}

/// What made a run doubtful or invalid.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ReasonKind {
    GeneratorLate,
    HarnessCpu,
    ProfilerOverhead,
    Unstable,
    IntervalTooWide,
    Saturated,
    TooFewSamples,
    DroppedSamples,
    CpuStarved,
}

/// One reason, with its numbers in `message`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Reason {
    pub kind: ReasonKind,
    pub severity: Verdict,
    pub message: String,
}

/// The verdict and its reasons (none when valid).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Validity {
    pub verdict: Verdict,
    pub reasons: Vec<Reason>,
}

impl Validity {
    /// One line: `valid`, or `doubtful: reason; reason`.
    pub fn line(&self) -> String {
        if self.reasons.is_empty() {
            return format!("{}", self.verdict);
        }
        let reasons: Vec<&str> = self.reasons.iter().map(|r| r.message.as_str()).collect();
        format!("{}: {}", self.verdict, reasons.join("; "))
    }
}

/// What the rules look at. Every field is optional evidence: a rule whose
/// evidence is missing says nothing.
#[derive(Debug, Clone, Default)]
pub struct Evidence<'a> {
    /// End-to-end latency.
    pub latency: Option<&'a LatencySummary>,
    /// Open loop: the generator's send lateness.
    pub lateness: Option<&'a LatencySummary>,
    /// The percentile the run is judged on (its SLO's, else p99).
    pub judged: Option<Percentile>,
    /// The SLO bound on that percentile, in µs.
    pub slo_bound_micros: Option<f64>,
    /// Why the run is unstable, when it is.
    pub unstable: Option<&'a str>,
    /// Saturated open loop: the estimated capacity, requests/s.
    pub saturated_capacity: Option<f64>,
    /// Harness CPU as a share of the process's CPU.
    pub harness_cpu_share: Option<f64>,
    /// The process's CPU as a share of all cores over the run.
    pub process_cores_share: Option<f64>,
    /// How much sampled per-layer profiling slowed the run, as a share.
    pub profiler_slowdown: Option<f64>,
    /// Samples lost before the aggregator.
    pub dropped_samples: u64,
    /// A local closed loop: the cores its workers keep busy, and the cores
    /// the process got on average.
    pub cores_wanted_and_got: Option<(f64, f64)>,
}

fn percent(share: f64) -> String {
    format!("{:.1} %", share * 100.0)
}

/// Applies every rule to `evidence`.
pub fn judge(evidence: &Evidence<'_>) -> Validity {
    let mut reasons = Vec::new();
    let mut push = |kind, severity, message: String| {
        reasons.push(Reason {
            kind,
            severity,
            message,
        });
    };
    let judged = evidence.judged.unwrap_or(Percentile::P99);
    let judged_value = evidence.latency.map(|latency| judged.of(latency));
    if let Some(capacity) = evidence.saturated_capacity {
        push(
            ReasonKind::Saturated,
            Verdict::Invalid,
            format!(
                "saturated: the offered rate exceeds what the model serves (about {capacity:.0} requests/s), so latency grows with the run's length"
            ),
        );
    }
    if let (Some(lateness), Some(value)) = (evidence.lateness, judged_value)
        && value > 0.0
    {
        let share = lateness.p99_micros / value;
        if share > LATE_DOUBTFUL_SHARE {
            let severity = if share > LATE_INVALID_SHARE {
                Verdict::Invalid
            } else {
                Verdict::Doubtful
            };
            push(
                ReasonKind::GeneratorLate,
                severity,
                format!(
                    "generator late: send lateness p99 {} is {} of the {judged} latency {} (limit {})",
                    crate::util::format_micros(lateness.p99_micros),
                    percent(share),
                    crate::util::format_micros(value),
                    percent(LATE_DOUBTFUL_SHARE)
                ),
            );
        }
    }
    if let (Some(share), Some(busy)) = (evidence.harness_cpu_share, evidence.process_cores_share)
        && share > HARNESS_CPU_SHARE
        && busy >= BUSY_CORES_SHARE
    {
        push(
            ReasonKind::HarnessCpu,
            Verdict::Doubtful,
            format!(
                "the harness used {} of the process's CPU while the cores were {} busy (limit {})",
                percent(share),
                percent(busy),
                percent(HARNESS_CPU_SHARE)
            ),
        );
    }
    if let Some(slowdown) = evidence.profiler_slowdown
        && slowdown > PROFILER_SLOWDOWN_SHARE
    {
        push(
            ReasonKind::ProfilerOverhead,
            Verdict::Doubtful,
            format!(
                "profiler overhead: sampled per-layer profiling slowed the run by {} (limit {})",
                percent(slowdown),
                percent(PROFILER_SLOWDOWN_SHARE)
            ),
        );
    }
    if let Some(reason) = evidence.unstable {
        push(
            ReasonKind::Unstable,
            Verdict::Doubtful,
            format!("unstable: {reason}"),
        );
    }
    if let Some(latency) = evidence.latency {
        let tail = latency.count as f64 * (1.0 - judged.quantile());
        if tail < MIN_TAIL_SAMPLES {
            push(
                ReasonKind::TooFewSamples,
                Verdict::Doubtful,
                format!(
                    "too few samples for {judged}: {} requests leave {tail:.1} above it, {MIN_TAIL_SAMPLES:.0} needed (about {} requests)",
                    latency.count,
                    (MIN_TAIL_SAMPLES / (1.0 - judged.quantile())).ceil()
                ),
            );
        }
        if let (Some(bound), Some([low, high])) =
            (evidence.slo_bound_micros, judged.interval_of(latency))
            && low <= bound
            && bound <= high
        {
            push(
                ReasonKind::IntervalTooWide,
                Verdict::Doubtful,
                format!(
                    "the {judged} interval {}–{} contains the SLO bound {}: run longer to decide",
                    crate::util::format_micros(low),
                    crate::util::format_micros(high),
                    crate::util::format_micros(bound)
                ),
            );
        }
    }
    if let Some((wanted, got)) = evidence.cores_wanted_and_got
        && wanted > 0.0
        && got < MIN_CORES_GOT_SHARE * wanted
    {
        push(
            ReasonKind::CpuStarved,
            Verdict::Doubtful,
            format!(
                "the load got {got:.2} of the {wanted:.0} cores its workers keep busy: other processes competed for the CPU"
            ),
        );
    }
    if evidence.dropped_samples > 0 {
        push(
            ReasonKind::DroppedSamples,
            Verdict::Doubtful,
            format!(
                "{} samples were dropped before the aggregator",
                evidence.dropped_samples
            ),
        );
    }
    let verdict = reasons
        .iter()
        .map(|reason| reason.severity)
        .max()
        .unwrap_or(Verdict::Valid);
    Validity { verdict, reasons }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn latency(count: u64, p99_micros: f64) -> LatencySummary {
        let mut histogram = super::super::LatencyHistogram::new();
        histogram.record_nanos(1000);
        let mut summary = histogram.summary().expect("summary");
        summary.count = count;
        summary.p99_micros = p99_micros;
        summary
    }

    #[test]
    fn a_clean_run_is_valid() {
        let latency = latency(100_000, 1000.0);
        let validity = judge(&Evidence {
            latency: Some(&latency),
            ..Evidence::default()
        });
        assert_eq!(validity.verdict, Verdict::Valid);
        assert_eq!(validity.line(), "valid");
    }

    #[test]
    fn lateness_is_judged_against_the_judged_percentile() {
        let latency = latency(100_000, 1000.0);
        let small = self::latency(100_000, 50.0);
        let large = self::latency(100_000, 200.0);
        let huge = self::latency(100_000, 800.0);
        let with = |lateness| {
            judge(&Evidence {
                latency: Some(&latency),
                lateness: Some(lateness),
                ..Evidence::default()
            })
        };
        assert_eq!(with(&small).verdict, Verdict::Valid);
        let doubtful = with(&large);
        assert_eq!(doubtful.verdict, Verdict::Doubtful);
        assert_eq!(doubtful.reasons[0].kind, ReasonKind::GeneratorLate);
        assert!(doubtful.line().contains("20.0 %"), "{}", doubtful.line());
        assert_eq!(with(&huge).verdict, Verdict::Invalid);
    }

    #[test]
    fn saturation_makes_a_run_invalid_and_few_samples_doubtful() {
        let few = latency(500, 1000.0);
        let validity = judge(&Evidence {
            latency: Some(&few),
            saturated_capacity: Some(1234.0),
            ..Evidence::default()
        });
        assert_eq!(validity.verdict, Verdict::Invalid);
        let kinds: Vec<ReasonKind> = validity.reasons.iter().map(|r| r.kind).collect();
        assert_eq!(
            kinds,
            vec![ReasonKind::Saturated, ReasonKind::TooFewSamples]
        );
        assert!(validity.line().contains("1234"), "{}", validity.line());
    }

    #[test]
    fn an_interval_across_the_bound_cannot_decide() {
        let mut summary = latency(100_000, 1900.0);
        summary.p99_ci_micros = Some([1800.0, 2100.0]);
        let near = judge(&Evidence {
            latency: Some(&summary),
            slo_bound_micros: Some(2000.0),
            ..Evidence::default()
        });
        assert_eq!(near.reasons[0].kind, ReasonKind::IntervalTooWide);
        let far = judge(&Evidence {
            latency: Some(&summary),
            slo_bound_micros: Some(5000.0),
            ..Evidence::default()
        });
        assert_eq!(far.verdict, Verdict::Valid);
    }

    #[test]
    fn harness_profiler_instability_and_drops_are_doubtful() {
        let latency = latency(100_000, 1000.0);
        let validity = judge(&Evidence {
            latency: Some(&latency),
            harness_cpu_share: Some(0.08),
            process_cores_share: Some(0.95),
            profiler_slowdown: Some(0.12),
            unstable: Some("throughput drifted"),
            dropped_samples: 3,
            cores_wanted_and_got: Some((2.0, 0.97)),
            ..Evidence::default()
        });
        assert_eq!(validity.verdict, Verdict::Doubtful);
        assert_eq!(validity.reasons.len(), 5);
        assert!(
            validity.line().contains("0.97 of the 2 cores"),
            "{}",
            validity.line()
        );
        // On idle cores the harness's CPU takes nothing from the model.
        let idle = judge(&Evidence {
            latency: Some(&latency),
            harness_cpu_share: Some(0.30),
            process_cores_share: Some(0.2),
            ..Evidence::default()
        });
        assert_eq!(idle.verdict, Verdict::Valid);
        let within = judge(&Evidence {
            latency: Some(&latency),
            harness_cpu_share: Some(0.01),
            process_cores_share: Some(0.95),
            profiler_slowdown: Some(0.02),
            cores_wanted_and_got: Some((2.0, 1.9)),
            ..Evidence::default()
        });
        assert_eq!(within.verdict, Verdict::Valid);
    }

    #[test]
    fn verdicts_round_trip_through_json() {
        let validity = Validity {
            verdict: Verdict::Doubtful,
            reasons: vec![Reason {
                kind: ReasonKind::GeneratorLate,
                severity: Verdict::Doubtful,
                message: "late".to_owned(),
            }],
        };
        let json = serde_json::to_string(&validity).expect("json");
        assert!(json.contains("\"verdict\":\"doubtful\""), "{json}");
        assert!(json.contains("\"generator_late\""), "{json}");
        let back: Validity = serde_json::from_str(&json).expect("parse");
        assert_eq!(back, validity);
    }
}
