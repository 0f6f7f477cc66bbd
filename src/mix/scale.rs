//! The capacity of a mix (`sweep --mix MIX.toml --search scale`): every
//! entry's load (its open-loop rate, or its closed-loop clients) times a
//! common factor, and the largest factor at which every entry meets its own
//! SLO. It uses the single-model sweep's tools: the search brackets by
//! doubling and bisects to 5 % ([`search_highest_passing`]), each entry is
//! judged by the sweep's pass test ([`judge`]: the binomial test on the
//! requests over each bound, and saturation in open loop) and stability
//! rule ([`point_stability`]), an unstable or undecided probe reruns (an
//! undecided one longer), and the recommendation is confirmed by a fresh
//! run of the whole mix.

use std::{
    sync::atomic::{AtomicBool, Ordering},
    time::Instant,
};

use super::{
    MixDocument, MixEntry, MixError, MixModel, MixSpec,
    document::load_text,
    run::{mix_config, run_together, thread_budget_warning},
    scale_document::{
        EntryJudgement, Limiting, SCALE_FORMAT_VERSION, SCALE_KIND, ScaleDocument, ScaleProbe,
        ScaleRecommendation,
    },
};
use crate::{
    engine::{LoadMode, ProfileConfig, RunRecord},
    session::{SessionDocument, ToolInfo},
    tune::{
        DEFAULT_RETRIES, DEFAULT_STABILITY, Percentile, Slo, judge,
        search::{Probe, search_highest_passing},
        stats::{Decision, PASS_CONFIDENCE, point_stability},
    },
    util::format_value,
};

/// The factors searched: `[MIN_SCALE, MAX_SCALE]`.
pub const MIN_SCALE: f64 = 1.0 / 64.0;
pub const MAX_SCALE: f64 = 256.0;
/// The search ends when the passing and failing factors are this close
/// (a fraction of the passing one), as the sweep's rate search does.
const TOLERANCE: f64 = 0.05;
/// An undecided probe reruns longer, up to this many times its duration.
const MAX_DURATION_GROWTH: f64 = 4.0;
/// Recommendations confirmed at most when fresh runs do not uphold them.
const MAX_CONFIRMATIONS: usize = 3;
/// Longest measured period of one probe. A slow entry's percentile needs
/// enough requests to pass the test (459 for a p99), so a probe lasts at
/// least that many of its arrivals; past this the search stops and says so.
pub const MAX_PROBE_SECS: f64 = 300.0;
/// Margin on the fewest requests that can pass (windows' edges, warm-up).
const DECISION_MARGIN: f64 = 1.2;

/// How the scale search runs.
#[derive(Debug, Clone, PartialEq)]
pub struct ScaleOptions {
    /// The first factor tried (the mix as written: 1).
    pub start: f64,
    /// Largest throughput drift accepted as stable (a fraction).
    pub stability: f64,
    /// Reruns of an unstable or undecided probe.
    pub max_retries: u32,
    /// Confirm the recommendation with a fresh run.
    pub confirm: bool,
    /// Wall-clock budget; probes that do not fit are not run.
    pub budget_secs: Option<f64>,
}

impl Default for ScaleOptions {
    fn default() -> Self {
        Self {
            start: 1.0,
            stability: DEFAULT_STABILITY,
            max_retries: DEFAULT_RETRIES,
            confirm: true,
            budget_secs: None,
        }
    }
}

/// Entry `entry`'s config at `factor`: its rate times the factor, or its
/// clients times the factor (at least one).
pub fn scaled_config(entry: &MixEntry, factor: f64) -> ProfileConfig {
    let mut config = mix_config(entry);
    match &mut config.load {
        LoadMode::Open { rate_per_sec, .. } => *rate_per_sec *= factor,
        LoadMode::Closed => {
            config.concurrency = ((f64::from(config.concurrency) * factor).round() as u32).max(1);
        }
    }
    config
}

/// The SLO an entry is judged against: its latency bounds and, for a
/// generative entry, its per-request objectives.
fn entry_slo(config: &ProfileConfig) -> Slo {
    Slo {
        latency: config.slo.clone(),
        generation: config
            .generation
            .as_ref()
            .map(|generation| generation.slo)
            .unwrap_or_default(),
        ..Slo::default()
    }
}

/// The measured period an open-loop entry needs so its highest latency
/// percentile can pass the test, and the fewest requests (none over the
/// bound) that pass it; `None` for a closed loop or without a bound.
fn decision_secs(config: &ProfileConfig) -> Option<(f64, u64)> {
    let LoadMode::Open { rate_per_sec, .. } = config.load else {
        return None;
    };
    let quantile = config
        .slo
        .iter()
        .map(|bound| bound.percentile.quantile())
        .reduce(f64::max)?;
    let requests = crate::metrics::confidence::min_requests_to_pass(quantile, PASS_CONFIDENCE);
    let secs = DECISION_MARGIN * requests as f64 / rate_per_sec.max(f64::MIN_POSITIVE);
    Some((secs, requests))
}

/// The configs of every entry at `factor`, all with one measured period
/// (the longest asked for, or the longest an entry needs to decide). `Err`
/// names the entry whose decision would take longer than
/// [`MAX_PROBE_SECS`].
fn probe_configs(spec: &MixSpec, factor: f64) -> Result<Vec<ProfileConfig>, String> {
    let mut configs: Vec<ProfileConfig> = spec
        .entries
        .iter()
        .map(|entry| scaled_config(entry, factor))
        .collect();
    let asked = configs
        .iter()
        .filter_map(|config| config.duration_secs)
        .fold(0.0, f64::max);
    let mut duration = asked;
    for (entry, config) in spec.entries.iter().zip(&configs) {
        let Some((needed, requests)) = decision_secs(config) else {
            continue;
        };
        if needed > MAX_PROBE_SECS.max(asked) {
            let bound = config.slo.iter().map(|b| b.percentile.to_string());
            return Err(format!(
                "at ×{} {}'s {} needs about {:.0} s per probe to be decided ({} requests at {}); lower its percentile or raise its rate",
                format_value(factor),
                entry.name,
                bound.collect::<Vec<_>>().join("/"),
                needed,
                requests,
                load_text(config)
            ));
        }
        duration = f64::max(duration, needed.ceil());
    }
    for config in &mut configs {
        config.duration_secs = Some(duration);
        config.max_requests = None;
    }
    Ok(configs)
}

/// Judges one entry's run at a factor.
fn judge_entry(name: &str, record: &RunRecord, stability: f64) -> EntryJudgement {
    let slo = entry_slo(&record.config);
    let verdict = judge(record, &slo);
    let judged = slo.latency.first().map(|bound| bound.percentile);
    let stable = point_stability(&record.timeseries, judged, stability);
    let percentile = judged.unwrap_or(Percentile::P99);
    let mut details = verdict.details;
    if let crate::tune::stats::PointStability::Unstable { reason } = &stable {
        details.push(format!("unstable: {reason}"));
    }
    let summary = record.summary.as_ref();
    EntryJudgement {
        name: name.to_owned(),
        load: load_text(&record.config),
        decision: verdict.decision,
        stable: stable.is_stable(),
        details,
        requests_per_sec: summary.map_or(0.0, |s| s.requests_per_sec),
        percentile,
        latency_micros: summary
            .and_then(|s| s.latency.as_ref())
            .map(|latency| percentile.of(latency)),
        margin: verdict.margin,
    }
}

/// Pass when every entry passed, fail when one failed, else undecided.
fn combined(entries: &[EntryJudgement]) -> Decision {
    Decision::all(entries.iter().map(|entry| entry.decision))
}

/// The search under way.
struct Search<'a> {
    spec: &'a MixSpec,
    options: &'a ScaleOptions,
    stop: &'a AtomicBool,
    progress: &'a mut dyn FnMut(&str),
    started: Instant,
    probes: Vec<ScaleProbe>,
    notes: Vec<String>,
    budget_spent: bool,
    error: Option<MixError>,
}

impl Search<'_> {
    fn stopped(&self) -> bool {
        self.stop.load(Ordering::Relaxed)
    }

    /// Seconds one run of the mix at `configs` takes, start-up aside.
    fn run_secs(configs: &[ProfileConfig]) -> f64 {
        configs
            .iter()
            .map(|config| config.warmup_secs + config.duration_secs.unwrap_or(0.0))
            .fold(0.0, f64::max)
    }

    fn budget_allows(&self, configs: &[ProfileConfig]) -> bool {
        self.options.budget_secs.is_none_or(|budget| {
            self.started.elapsed().as_secs_f64() + Self::run_secs(configs) <= budget
        })
    }

    /// Probes still to come: the bisection steps left once the factor is
    /// bracketed, a guess before; and the confirmation.
    fn probes_left(&self) -> usize {
        let best = self
            .probes
            .iter()
            .filter(|p| p.decision == Decision::Pass)
            .map(|p| p.factor)
            .fold(None, |best: Option<f64>, f| {
                Some(best.map_or(f, |b| b.max(f)))
            });
        let failed = self
            .probes
            .iter()
            .filter(|p| p.decision != Decision::Pass && best.is_none_or(|b| p.factor > b))
            .map(|p| p.factor)
            .fold(None, |low: Option<f64>, f| {
                Some(low.map_or(f, |l| l.min(f)))
            });
        let bisections = match (best, failed) {
            (Some(low), Some(high)) => ((high - low) / (TOLERANCE * low)).log2().ceil().max(0.0),
            _ => 6.0,
        };
        bisections as usize + usize::from(self.options.confirm)
    }

    fn say(&mut self, what: &str) {
        let done = self.probes.len();
        let mean = if done == 0 {
            None
        } else {
            Some(self.probes.iter().map(|p| p.wall_secs).sum::<f64>() / done as f64)
        };
        let eta = mean.map_or_else(
            || "ETA -".to_owned(),
            |mean| format!("ETA {:.0} s", mean * self.probes_left() as f64),
        );
        (self.progress)(&format!("{what} ({done} probes done, {eta})"));
    }

    /// Runs the mix at `factor` (again, while unstable or undecided, up to
    /// the retries). `None` when it could not run: stopped, out of budget,
    /// or an entry failed to start (kept in `self.error`).
    fn measure(&mut self, factor: f64) -> Option<(ScaleProbe, Vec<RunRecord>)> {
        let mut configs = match probe_configs(self.spec, factor) {
            Ok(configs) => configs,
            Err(reason) => {
                self.notes.push(format!("the search stops: {reason}"));
                return None;
            }
        };
        let base: Vec<Option<f64>> = configs.iter().map(|c| c.duration_secs).collect();
        let mut attempts = 0;
        let mut wall = 0.0;
        loop {
            if self.stopped() {
                return None;
            }
            if !self.budget_allows(&configs) {
                self.budget_spent = true;
                return None;
            }
            attempts += 1;
            let loads = self
                .spec
                .entries
                .iter()
                .zip(&configs)
                .map(|(entry, config)| format!("{} {}", entry.name, load_text(config)))
                .collect::<Vec<_>>()
                .join(", ");
            let rerun = if attempts > 1 {
                format!(" (run {attempts}: an entry was unstable or undecided)")
            } else {
                String::new()
            };
            self.say(&format!("×{}: {loads}{rerun}", format_value(factor)));
            let started = Instant::now();
            let records =
                match run_together(&self.spec.entries, configs.clone(), self.stop, &mut |_| {}) {
                    Ok(records) => records,
                    Err(err) => {
                        self.error = Some(err);
                        return None;
                    }
                };
            wall += started.elapsed().as_secs_f64();
            let entries: Vec<EntryJudgement> = self
                .spec
                .entries
                .iter()
                .zip(&records)
                .map(|(entry, record)| judge_entry(&entry.name, record, self.options.stability))
                .collect();
            let probe = ScaleProbe {
                factor,
                decision: combined(&entries),
                entries,
                attempts,
                wall_secs: wall,
            };
            if self.stopped() {
                // A stopped run is not a verdict on the factor.
                return None;
            }
            let settled = probe.decision != Decision::Undecided
                && probe.entries.iter().all(|entry| entry.stable);
            // An entry that failed with settled windows fails the mix
            // however the others settle.
            let failed = probe
                .entries
                .iter()
                .any(|entry| entry.decision == Decision::Fail && entry.stable);
            if settled || failed || attempts > self.options.max_retries {
                return Some((probe, records));
            }
            if probe.decision == Decision::Undecided {
                for (config, base) in configs.iter_mut().zip(&base) {
                    if let (Some(base), Some(current)) = (base, config.duration_secs) {
                        config.duration_secs =
                            Some((current * 2.0).min(base * MAX_DURATION_GROWTH));
                    }
                }
            }
        }
    }

    /// Searches the highest passing factor.
    fn search(&mut self) -> (Option<f64>, Option<f64>) {
        let outcome = search_highest_passing(
            self.options.start,
            MIN_SCALE,
            MAX_SCALE,
            TOLERANCE,
            false,
            |factor| match self.measure(factor) {
                Some((probe, _records)) => {
                    let passed = probe.decision == Decision::Pass;
                    self.probes.push(probe);
                    if passed { Probe::Pass } else { Probe::Fail }
                }
                None => Probe::Stop,
            },
        );
        match (outcome.best, outcome.failed_above) {
            (Some(best), None) if !outcome.cut_short => self.notes.push(format!(
                "every factor tried passed, up to ×{} (the largest searched)",
                format_value(best)
            )),
            (None, _) if !outcome.cut_short => self.notes.push(format!(
                "no factor passed, down to ×{}: the mix as written is far beyond this machine",
                format_value(MIN_SCALE)
            )),
            _ => {}
        }
        (outcome.best, outcome.failed_above)
    }

    /// Recommends the highest usable passing factor and confirms it with a
    /// fresh run; a factor whose confirmation fails gives way to the next.
    fn recommend(&mut self) -> Option<ScaleRecommendation> {
        let mut candidates: Vec<f64> = self
            .probes
            .iter()
            .filter(|probe| probe.is_usable_pass())
            .map(|probe| probe.factor)
            .collect();
        candidates.sort_by(|a, b| b.total_cmp(a));
        candidates.dedup();
        if let Some(unstable) = self
            .probes
            .iter()
            .filter(|p| p.decision == Decision::Pass && !p.is_usable_pass())
            .map(|p| p.factor)
            .reduce(f64::max)
            && candidates.first().is_none_or(|&best| unstable > best)
        {
            self.notes.push(format!(
                "×{} passed but an entry's windows did not agree (unstable): not recommended",
                format_value(unstable)
            ));
        }
        for (tried, factor) in candidates.into_iter().enumerate() {
            let loads = self
                .spec
                .entries
                .iter()
                .map(|entry| {
                    format!(
                        "{}: {}",
                        entry.name,
                        load_text(&scaled_config(entry, factor))
                    )
                })
                .collect();
            let mut recommendation = ScaleRecommendation {
                factor,
                loads,
                confirmed: false,
                confirmation: None,
            };
            if !self.options.confirm {
                self.notes
                    .push("the recommendation was not confirmed (confirmation off)".to_owned());
                return Some(recommendation);
            }
            self.say(&format!("confirming ×{}", format_value(factor)));
            let Some((probe, records)) = self.measure(factor) else {
                self.notes.push(
                    "the recommendation was not confirmed: the search was stopped or ran out of budget"
                        .to_owned(),
                );
                return Some(recommendation);
            };
            recommendation.confirmed = probe.is_usable_pass();
            recommendation.confirmation = Some(confirmation_document(self.spec, records));
            if recommendation.confirmed || tried + 1 >= MAX_CONFIRMATIONS {
                if !recommendation.confirmed {
                    self.notes.push(format!(
                        "×{} was not upheld by its confirmation run either; no confirmed factor",
                        format_value(factor)
                    ));
                }
                return Some(recommendation);
            }
            self.notes.push(format!(
                "×{} was not upheld by its confirmation run; the next passing factor is tried",
                format_value(factor)
            ));
        }
        None
    }
}

/// The confirmation run as a mix document.
fn confirmation_document(spec: &MixSpec, records: Vec<RunRecord>) -> MixDocument {
    let models = spec
        .entries
        .iter()
        .zip(records)
        .map(|(entry, record)| MixModel {
            name: entry.name.clone(),
            session: SessionDocument::new(record),
            solo: None,
            interference: None,
        })
        .collect();
    MixDocument::new(models, Vec::new())
}

/// The entries that failed at `factor`, worst margin first.
fn limiting_at(probes: &[ScaleProbe], factor: f64) -> Vec<Limiting> {
    let Some(probe) = probes.iter().rev().find(|p| p.factor == factor) else {
        return Vec::new();
    };
    let mut failed: Vec<&EntryJudgement> = probe
        .entries
        .iter()
        .filter(|entry| entry.decision != Decision::Pass)
        .collect();
    failed.sort_by(|a, b| {
        a.margin
            .unwrap_or(f64::NEG_INFINITY)
            .total_cmp(&b.margin.unwrap_or(f64::NEG_INFINITY))
    });
    failed
        .into_iter()
        .map(|entry| Limiting {
            factor,
            entry: entry.name.clone(),
            details: entry.details.clone(),
        })
        .collect()
}

/// Searches the largest factor on every entry's load at which every entry
/// meets its SLO, then confirms it. `progress` hears each probe as it
/// starts, with an ETA. Setting `stop` ends the search, keeping what was
/// measured.
pub fn search_scale(
    spec: &MixSpec,
    options: &ScaleOptions,
    progress: &mut dyn FnMut(&str),
    stop: &AtomicBool,
) -> Result<ScaleDocument, MixError> {
    let judged = |entry: &&MixEntry| {
        !entry_slo(&entry.config).latency.is_empty()
            || entry_slo(&entry.config).generation.is_set()
            || matches!(entry.config.load, LoadMode::Open { .. })
    };
    if !spec.entries.iter().any(|entry| judged(&entry)) {
        return Err(MixError::NothingToScale);
    }
    let mut warnings = Vec::new();
    let cores = crate::engine::arrivals::CoreBudget::of_machine().cores();
    if let Some(warning) = thread_budget_warning(&spec.entries, cores) {
        warnings.push(warning);
    }
    for entry in spec.entries.iter().filter(|entry| !judged(entry)) {
        warnings.push(format!(
            "{} has no SLO and runs a closed loop: nothing it measures can fail the mix",
            entry.name
        ));
    }
    let mut search = Search {
        spec,
        options,
        stop,
        progress,
        started: Instant::now(),
        probes: Vec::new(),
        notes: Vec::new(),
        budget_spent: false,
        error: None,
    };
    let (best_factor, failed_above) = search.search();
    if let Some(err) = search.error.take() {
        return Err(err);
    }
    let recommendation = if search.stopped() {
        None
    } else {
        search.recommend()
    };
    if let Some(err) = search.error.take() {
        return Err(err);
    }
    let status = if search.stopped() {
        "stopped"
    } else if search.budget_spent {
        "budget spent"
    } else {
        "completed"
    };
    let limiting = failed_above.map_or_else(Vec::new, |f| limiting_at(&search.probes, f));
    Ok(ScaleDocument {
        format_version: SCALE_FORMAT_VERSION,
        kind: SCALE_KIND.to_owned(),
        tool: ToolInfo::this_build(),
        exported_at: crate::util::rfc3339_now(),
        base_loads: spec
            .entries
            .iter()
            .map(|entry| format!("{}: {}", entry.name, load_text(&entry.config)))
            .collect(),
        best_factor,
        failed_above,
        limiting,
        recommendation,
        status: status.to_owned(),
        notes: search.notes,
        warnings,
        wall_secs: search.started.elapsed().as_secs_f64(),
        probes: search.probes,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::engine::Arrival;

    fn entry(name: &str, load: LoadMode, concurrency: u32) -> MixEntry {
        MixEntry {
            name: name.to_owned(),
            model: Some(std::path::PathBuf::from("m.onnx")),
            config: ProfileConfig {
                load,
                concurrency,
                ..ProfileConfig::default()
            },
        }
    }

    #[test]
    fn a_factor_scales_rates_and_clients() {
        let open = entry(
            "det",
            LoadMode::Open {
                rate_per_sec: 3.0,
                arrival: Arrival::Poisson,
            },
            1,
        );
        let config = scaled_config(&open, 2.5);
        assert!(matches!(
            config.load,
            LoadMode::Open { rate_per_sec, .. } if (rate_per_sec - 7.5).abs() < 1e-12
        ));
        assert!(!config.early_stop, "an entry runs its full duration");
        let closed = entry("cls", LoadMode::Closed, 3);
        assert_eq!(scaled_config(&closed, 2.0).concurrency, 6);
        assert_eq!(scaled_config(&closed, 0.1).concurrency, 1, "at least one");
        assert_eq!(scaled_config(&closed, 1.5).concurrency, 5, "4.5 rounds");
    }

    fn judgement(name: &str, decision: Decision, margin: f64) -> EntryJudgement {
        EntryJudgement {
            name: name.to_owned(),
            load: String::new(),
            decision,
            stable: true,
            details: vec![format!("{name} {decision}")],
            requests_per_sec: 1.0,
            percentile: Percentile::P99,
            latency_micros: Some(1.0),
            margin: Some(margin),
        }
    }

    #[test]
    fn the_mix_passes_when_every_entry_does_and_the_worst_entry_limits() {
        let pass = judgement("a", Decision::Pass, 0.5);
        let fail = judgement("b", Decision::Fail, -0.3);
        let worse = judgement("c", Decision::Fail, -0.9);
        let undecided = judgement("d", Decision::Undecided, 0.0);
        assert_eq!(combined(std::slice::from_ref(&pass)), Decision::Pass);
        assert_eq!(
            combined(&[pass.clone(), undecided.clone()]),
            Decision::Undecided
        );
        assert_eq!(combined(&[undecided, fail.clone()]), Decision::Fail);
        let probes = vec![ScaleProbe {
            factor: 4.0,
            decision: Decision::Fail,
            entries: vec![pass, fail, worse],
            attempts: 1,
            wall_secs: 1.0,
        }];
        let limiting = limiting_at(&probes, 4.0);
        assert_eq!(
            limiting
                .iter()
                .map(|l| l.entry.as_str())
                .collect::<Vec<_>>(),
            ["c", "b"],
            "worst margin first, passing entries left out"
        );
        assert!(limiting_at(&probes, 2.0).is_empty());
    }

    #[test]
    fn a_mix_with_nothing_that_can_fail_is_refused() {
        let spec = MixSpec {
            entries: vec![entry("cls", LoadMode::Closed, 2)],
        };
        let err = search_scale(
            &spec,
            &ScaleOptions::default(),
            &mut |_| {},
            &AtomicBool::new(false),
        )
        .expect_err("nothing to scale");
        assert!(err.to_string().contains("SLO"), "{err}");
    }
}
