//! The measures of generative runs: time to first token (TTFT), every
//! inter-token gap (ITL), time per output token (TPOT), end-to-end time,
//! token throughput and goodput against per-request objectives.
//!
//! A load worker records each finished generation as a [`TokenTimes`] into
//! its window partial ([`GenerationPartial`]); the aggregator merges the
//! partials as it merges the request histograms. ITL is recorded per gap,
//! not as a per-request mean, so its percentiles are those of the gaps a
//! streaming client sees.

use serde::{Deserialize, Serialize};

use super::{LatencyHistogram, LatencySummary};

/// One finished generation, as the worker measured it.
#[derive(Debug, Clone, Copy)]
pub struct TokenTimes<'a> {
    /// From the intended arrival to the first output token.
    pub ttft_nanos: u64,
    /// Every gap between consecutive output tokens.
    pub gaps_nanos: &'a [u64],
    /// From the intended arrival to the last output token.
    pub e2e_nanos: u64,
    pub prompt_tokens: u32,
    pub output_tokens: u32,
    /// KV cache bytes all running sequences held together while this one
    /// ran (its own at full length included).
    pub kv_cache_bytes: u64,
}

impl TokenTimes<'_> {
    /// (E2E − TTFT) / (N − 1); `None` for a single output token.
    pub fn tpot_nanos(&self) -> Option<u64> {
        (self.output_tokens > 1).then(|| {
            self.e2e_nanos.saturating_sub(self.ttft_nanos) / u64::from(self.output_tokens - 1)
        })
    }
}

/// Per-request objectives of a generative run. A request passes when each
/// of its own measures is within its bound (`itl`: its largest gap), so no
/// percentile is involved: goodput counts the requests that passed.
#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize, Deserialize)]
pub struct GenerationSlo {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ttft_micros: Option<f64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub itl_micros: Option<f64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tpot_micros: Option<f64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub e2e_micros: Option<f64>,
}

/// A `--slo` term that is not a generative objective.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error(
    "{0:?} is not a generation objective: write ttft=200ms, itl=50ms, tpot=40ms or e2e=2s (comma-separated for several)"
)]
pub struct GenerationSloError(pub String);

impl GenerationSlo {
    /// Whether any objective is set.
    pub fn is_set(&self) -> bool {
        self.ttft_micros.is_some()
            || self.itl_micros.is_some()
            || self.tpot_micros.is_some()
            || self.e2e_micros.is_some()
    }

    /// Adds the objectives of `ttft=200ms,itl=50ms`.
    pub fn parse_into(&mut self, text: &str) -> Result<(), GenerationSloError> {
        for term in text
            .split(',')
            .map(str::trim)
            .filter(|term| !term.is_empty())
        {
            let error = || GenerationSloError(term.to_owned());
            let (key, value) = term.split_once('=').ok_or_else(error)?;
            let micros = humantime::parse_duration(value.trim())
                .map_err(|_| error())?
                .as_secs_f64()
                * 1e6;
            if micros <= 0.0 {
                return Err(error());
            }
            let slot = match key.trim().to_ascii_lowercase().as_str() {
                "ttft" => &mut self.ttft_micros,
                "itl" => &mut self.itl_micros,
                "tpot" => &mut self.tpot_micros,
                "e2e" => &mut self.e2e_micros,
                _ => return Err(error()),
            };
            *slot = Some(micros);
        }
        Ok(())
    }

    /// Whether one request met every objective.
    pub fn passes(&self, times: &TokenTimes<'_>) -> bool {
        let within = |bound: Option<f64>, nanos: Option<u64>| match (bound, nanos) {
            (Some(bound), Some(nanos)) => nanos as f64 / 1000.0 <= bound,
            _ => true,
        };
        let largest_gap = times.gaps_nanos.iter().copied().max();
        within(self.ttft_micros, Some(times.ttft_nanos))
            && within(self.itl_micros, largest_gap)
            && within(self.tpot_micros, times.tpot_nanos())
            && within(self.e2e_micros, Some(times.e2e_nanos))
    }
}

impl std::fmt::Display for GenerationSlo {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let terms: Vec<String> = [
            ("ttft", self.ttft_micros),
            ("itl", self.itl_micros),
            ("tpot", self.tpot_micros),
            ("e2e", self.e2e_micros),
        ]
        .into_iter()
        .filter_map(|(key, bound)| {
            bound.map(|micros| format!("{key}={}", parseable_duration(micros)))
        })
        .collect();
        f.write_str(&terms.join(","))
    }
}

/// A bound written back the way `--slo` reads it: `50ms`, `1500us`, no spaces,
/// so a printed objective can be pasted into a command.
fn parseable_duration(micros: f64) -> String {
    let nanos = (micros * 1e3).round() as u64;
    if nanos.is_multiple_of(1_000_000) {
        format!("{}ms", nanos / 1_000_000)
    } else if nanos.is_multiple_of(1_000) {
        format!("{}us", nanos / 1_000)
    } else {
        format!("{nanos}ns")
    }
}

/// What one worker measured of its generations in one window.
#[derive(Debug, Clone, Default)]
pub struct GenerationPartial {
    pub ttft: LatencyHistogram,
    pub itl: LatencyHistogram,
    pub tpot: LatencyHistogram,
    pub requests: u64,
    pub prompt_tokens: u64,
    pub output_tokens: u64,
    /// Requests that met every objective (when the run has some).
    pub passed: u64,
    /// The most KV cache bytes held together, as its requests saw it.
    pub kv_cache_bytes: u64,
}

impl GenerationPartial {
    /// Adds one finished generation.
    pub fn add(&mut self, times: &TokenTimes<'_>, slo: Option<&GenerationSlo>) {
        self.requests += 1;
        self.prompt_tokens += u64::from(times.prompt_tokens);
        self.output_tokens += u64::from(times.output_tokens);
        self.ttft.record_nanos(times.ttft_nanos);
        for gap in times.gaps_nanos {
            self.itl.record_nanos(*gap);
        }
        if let Some(tpot) = times.tpot_nanos() {
            self.tpot.record_nanos(tpot);
        }
        if slo.is_some_and(|slo| slo.passes(times)) {
            self.passed += 1;
        }
        self.kv_cache_bytes = self.kv_cache_bytes.max(times.kv_cache_bytes);
    }

    /// Adds another worker's part of the same window.
    pub fn merge(&mut self, other: &Self) {
        self.ttft.merge(&other.ttft);
        self.itl.merge(&other.itl);
        self.tpot.merge(&other.tpot);
        self.requests += other.requests;
        self.prompt_tokens += other.prompt_tokens;
        self.output_tokens += other.output_tokens;
        self.passed += other.passed;
        self.kv_cache_bytes = self.kv_cache_bytes.max(other.kv_cache_bytes);
    }
}

/// Most token events kept for the trace and `tokens.csv`.
pub const MAX_TOKEN_EVENTS: usize = 50_000;

/// One output token of a measured request, for the trace and the CSV.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct TokenEvent {
    pub worker: u16,
    /// The worker's request number.
    pub request: u64,
    /// The sequence within a lockstep batch.
    pub row: u16,
    /// 0 for the first token (the prefill's).
    pub token: u32,
    /// When the token was chosen, µs since the run's epoch.
    pub micros: u64,
}

/// The KV cache of a generative run.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct KvCacheUsage {
    pub bytes_per_token: u64,
    /// The estimate checked before the run: every concurrent sequence at
    /// full length (past and present both alive during a step).
    pub budget_estimate_bytes: u64,
    /// The most cache bytes alive at once, as the workers held them.
    pub peak_bytes: u64,
}

/// `summary.generation` of a session.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct GenerationSummary {
    /// From the intended arrival to the first output token.
    pub ttft: Option<LatencySummary>,
    /// Every gap between consecutive output tokens.
    pub itl: Option<LatencySummary>,
    /// (E2E − TTFT) / (N − 1) per request.
    pub tpot: Option<LatencySummary>,
    /// From the intended arrival to the last output token.
    pub e2e: Option<LatencySummary>,
    pub requests: u64,
    pub prompt_tokens: u64,
    pub output_tokens: u64,
    pub output_tokens_per_sec: f64,
    pub prompt_tokens_per_sec: f64,
    pub requests_per_sec: f64,
    /// The objectives the requests were judged against.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub slo: Option<GenerationSlo>,
    /// Requests per second that met every objective.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub goodput_per_sec: Option<f64>,
    /// Share of the requests that met every objective.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub slo_pass_share: Option<f64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub kv_cache: Option<KvCacheUsage>,
}

impl GenerationSummary {
    /// The summary of a run's totals over `measured_secs`; `e2e` is the
    /// run's end-to-end latency.
    pub fn from_totals(
        totals: &GenerationPartial,
        e2e: Option<LatencySummary>,
        measured_secs: f64,
        slo: Option<GenerationSlo>,
    ) -> Self {
        let rate = |count: u64| {
            if measured_secs > 0.0 {
                count as f64 / measured_secs
            } else {
                0.0
            }
        };
        let slo = slo.filter(GenerationSlo::is_set);
        Self {
            ttft: totals.ttft.summary(),
            itl: totals.itl.summary(),
            tpot: totals.tpot.summary(),
            e2e,
            requests: totals.requests,
            prompt_tokens: totals.prompt_tokens,
            output_tokens: totals.output_tokens,
            output_tokens_per_sec: rate(totals.output_tokens),
            prompt_tokens_per_sec: rate(totals.prompt_tokens),
            requests_per_sec: rate(totals.requests),
            goodput_per_sec: slo.map(|_| rate(totals.passed)),
            slo_pass_share: slo.and_then(|_| {
                (totals.requests > 0).then(|| totals.passed as f64 / totals.requests as f64)
            }),
            slo,
            kv_cache: None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn times(gaps: &[u64]) -> TokenTimes<'_> {
        let ttft = 100_000_000;
        TokenTimes {
            ttft_nanos: ttft,
            gaps_nanos: gaps,
            e2e_nanos: ttft + gaps.iter().sum::<u64>(),
            prompt_tokens: 8,
            output_tokens: u32::try_from(gaps.len()).expect("small") + 1,
            kv_cache_bytes: 0,
        }
    }

    #[test]
    fn tpot_is_the_mean_gap_after_the_first_token() {
        let gaps = [10_000_000, 30_000_000];
        assert_eq!(times(&gaps).tpot_nanos(), Some(20_000_000));
        assert_eq!(times(&[]).tpot_nanos(), None);
    }

    #[test]
    fn a_request_passes_only_when_every_objective_holds() {
        let mut slo = GenerationSlo::default();
        slo.parse_into("ttft=150ms, itl=25ms").expect("parses");
        assert_eq!(slo.ttft_micros, Some(150_000.0));
        assert!(slo.passes(&times(&[10_000_000, 20_000_000])));
        // One gap over the ITL bound fails the request, whatever its mean.
        assert!(!slo.passes(&times(&[10_000_000, 30_000_000])));
        slo.parse_into("ttft=50ms").expect("parses");
        assert!(!slo.passes(&times(&[10_000_000])));
        assert_eq!(slo.to_string(), "ttft=50ms,itl=25ms");
        slo.parse_into("tpot=1500us").expect("parses");
        let printed = slo.to_string();
        let mut again = GenerationSlo::default();
        again
            .parse_into(&printed)
            .expect("what is printed parses back");
        assert_eq!(again, slo, "{printed}");
    }

    #[test]
    fn other_terms_are_refused_by_name() {
        let mut slo = GenerationSlo::default();
        let err = slo.parse_into("p99=2ms").expect_err("fails");
        assert!(err.to_string().contains("p99=2ms"), "{err}");
        assert!(slo.parse_into("ttft=-1ms").is_err());
        assert!(slo.parse_into("ttft").is_err());
    }

    #[test]
    fn goodput_counts_passing_requests_per_second() {
        let mut slo = GenerationSlo::default();
        slo.parse_into("itl=25ms").expect("parses");
        let mut totals = GenerationPartial::default();
        totals.add(&times(&[10_000_000, 20_000_000]), Some(&slo));
        totals.add(&times(&[40_000_000]), Some(&slo));
        let mut other = GenerationPartial::default();
        other.add(&times(&[5_000_000; 3]), Some(&slo));
        totals.merge(&other);
        let summary = GenerationSummary::from_totals(&totals, None, 2.0, Some(slo));
        assert_eq!(summary.requests, 3);
        assert_eq!(summary.output_tokens, 3 + 2 + 4);
        assert!((summary.output_tokens_per_sec - 4.5).abs() < 1e-9);
        assert_eq!(summary.goodput_per_sec, Some(1.0));
        assert!((summary.slo_pass_share.expect("share") - 2.0 / 3.0).abs() < 1e-9);
        // Every gap is recorded, not a per-request mean.
        assert_eq!(summary.itl.expect("itl").count, 6);
    }
}
