//! One measured point of a sweep: its run record, stability, SLO verdict,
//! and the `profile` command that reproduces it.

use std::path::Path;

use serde::{Deserialize, Serialize};

use super::{
    Slo, VaryKey,
    stats::{Decision, PASS_CONFIDENCE, PointStability},
};
use crate::{
    engine::{
        Arrival, ExecutionProviderKind, LayerProfiling, LoadMode, OptLevel, ProfileConfig,
        RunRecord, config::DEFAULT_SEED,
    },
    metrics::{LatencyHistogram, confidence::SloDecision},
    transform::{Int8Mode, Precision},
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

fn value_name<T: clap::ValueEnum>(value: &T) -> String {
    value
        .to_possible_value()
        .map_or_else(String::new, |v| v.get_name().to_owned())
}

fn shell_quote(text: &str) -> String {
    let plain = !text.is_empty()
        && text
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || "-_./=:,+@%".contains(c));
    if plain {
        text.to_owned()
    } else {
        format!("'{}'", text.replace('\'', r"'\''"))
    }
}

fn secs_flag(secs: f64) -> String {
    let millis = (secs * 1e3).round();
    if millis % 1000.0 == 0.0 {
        format!("{}s", millis / 1e3)
    } else {
        format!("{millis}ms")
    }
}

/// The `profile` command line that runs `config` on `model` again.
pub fn profile_command(model: &Path, config: &ProfileConfig) -> String {
    let mut args: Vec<String> = vec!["onnx-workbench".to_owned(), "profile".to_owned()];
    if !model.as_os_str().is_empty() {
        args.push(shell_quote(&model.display().to_string()));
    }
    for (name, value) in profile_flags(config) {
        args.push(format!("--{name}"));
        if let Some(value) = value {
            args.push(shell_quote(&value));
        }
    }
    args.join(" ")
}

/// The `profile` flags that set `config` (those that differ from the
/// defaults), in order, each with its value (`None` for a switch). A
/// header's value is never included: the user fills it in again.
pub fn profile_flags(config: &ProfileConfig) -> Vec<(&'static str, Option<String>)> {
    let defaults = ProfileConfig::default();
    let mut args = Vec::new();
    let mut flag = |name: &'static str, value: Option<String>| args.push((name, value));
    if let Some(target) = &config.remote {
        flag("target", Some(target.url.clone()));
        flag("model-name", Some(target.model_name.clone()));
        if let Some(version) = &target.model_version {
            flag("model-version", Some(version.clone()));
        }
        if target.timeout_millis != crate::engine::target::DEFAULT_TIMEOUT_MILLIS {
            flag("timeout", Some(format!("{}ms", target.timeout_millis)));
        }
        if let Some(channels) = target.grpc_channels {
            flag("grpc-channels", Some(channels.to_string()));
        }
        // Values are never printed: the user fills them in again.
        for header in target.headers.iter() {
            flag("header", Some(header.to_string()));
        }
    }
    if config.execution_provider != ExecutionProviderKind::Cpu {
        flag("ep", Some(value_name(&config.execution_provider)));
        if config.device_id != 0 {
            flag("device-id", Some(config.device_id.to_string()));
        }
    }
    if config.allow_fallback {
        flag("allow-fallback", None);
    }
    if config.io_binding {
        flag("io-binding", None);
    }
    if config.cuda.cuda_graph {
        flag("cuda-graph", None);
    }
    if config.cuda.conv_algo_search != defaults.cuda.conv_algo_search {
        flag(
            "cudnn-conv-algo",
            Some(value_name(&config.cuda.conv_algo_search)),
        );
    }
    if config.intra_threads != defaults.intra_threads {
        flag("intra-threads", Some(config.intra_threads.to_string()));
    }
    if config.inter_threads != defaults.inter_threads {
        flag("inter-threads", Some(config.inter_threads.to_string()));
    }
    if config.parallel_execution {
        flag("parallel", None);
    }
    if config.opt_level != OptLevel::All {
        flag("opt-level", Some(value_name(&config.opt_level)));
    }
    if let Some(instances) = config.instances {
        flag("instances", Some(instances.to_string()));
    }
    if let Some(batch) = config.batch {
        flag("batch", Some(batch.to_string()));
    }
    for (name, value) in &config.dims {
        flag("dim", Some(format!("{name}={value}")));
    }
    for (name, shape) in &config.shapes {
        let dims: Vec<String> = shape.iter().map(i64::to_string).collect();
        flag("shape", Some(format!("{name}={}", dims.join(","))));
    }
    if let Some(bytes) = config.max_input_bytes {
        flag("max-input-bytes", Some(bytes.to_string()));
    }
    for file in &config.input_files {
        let value = if file.name.is_empty() {
            file.path.display().to_string()
        } else {
            format!("{}={}", file.name, file.path.display())
        };
        flag("input", Some(value));
    }
    if config.seed != DEFAULT_SEED {
        flag("seed", Some(config.seed.to_string()));
    }
    if config.concurrency != 1 {
        flag("concurrency", Some(config.concurrency.to_string()));
    }
    if let LoadMode::Open {
        rate_per_sec,
        arrival,
    } = config.load
    {
        flag("rate", Some(rate_per_sec.to_string()));
        if arrival != Arrival::Poisson {
            flag("arrival", Some(value_name(&arrival)));
        }
    }
    if let Some(batching) = &config.batching {
        flag("max-batch", Some(batching.max_batch.to_string()));
        flag("batch-delay", Some(format!("{}us", batching.delay_micros)));
        if !batching.preferred.is_empty() {
            let sizes: Vec<String> = batching.preferred.iter().map(u32::to_string).collect();
            flag("preferred-batch", Some(sizes.join(",")));
        }
    }
    if let Some(secs) = config.duration_secs {
        flag("duration", Some(secs_flag(secs)));
    }
    if let Some(requests) = config.max_requests {
        flag("requests", Some(requests.to_string()));
    }
    if config.warmup_secs != defaults.warmup_secs {
        flag("warmup", Some(secs_flag(config.warmup_secs)));
    }
    match config.layer_profiling {
        LayerProfiling::Off => flag("no-layer-profile", None),
        LayerProfiling::Sampled { every } => flag("profile-every", Some(every.to_string())),
        LayerProfiling::SeparatePass { runs }
            if runs != crate::engine::config::DEFAULT_PROFILE_RUNS =>
        {
            flag("profile-runs", Some(runs.to_string()));
        }
        LayerProfiling::SeparatePass { .. } => {}
    }
    if let Some(url) = &config.metrics_url {
        flag("metrics-url", Some(url.clone()));
    }
    if config.spin != defaults.spin {
        flag("spin", Some(value_name(&config.spin)));
    }
    for bound in &config.slo {
        flag(
            "slo",
            Some(format!("{}={}us", bound.percentile, bound.bound_micros)),
        );
    }
    if let Some(generation) = &config.generation {
        flag("generate", None);
        if let Some(file) = &generation.lengths_file {
            flag("lengths", Some(file.display().to_string()));
        } else {
            flag("prompt-tokens", Some(generation.prompt_tokens.to_string()));
            flag("new-tokens", Some(generation.new_tokens.to_string()));
        }
        if let Some(bytes) = generation.max_kv_bytes {
            flag("max-kv-bytes", Some(bytes.to_string()));
        }
        if generation.slo.is_set() {
            flag("slo", Some(generation.slo.to_string()));
        }
    }
    if config.slo_confidence != defaults.slo_confidence {
        flag("confidence", Some(config.slo_confidence.to_string()));
    }
    if !config.early_stop {
        flag("no-early-stop", None);
    }
    let transform = &config.transform;
    if transform.precision != Precision::Fp32 {
        flag("precision", Some(value_name(&transform.precision)));
        if transform.precision == Precision::Int8 && transform.int8_mode != Int8Mode::default() {
            flag("int8-mode", Some(value_name(&transform.int8_mode)));
        }
        if transform.fp16_io {
            flag("fp16-io", None);
        }
    }
    if let Some(prune) = &transform.prune {
        flag("prune", Some(prune.sparsity.to_string()));
        flag("prune-mode", Some(value_name(&prune.mode)));
        flag("prune-scope", Some(value_name(&prune.scope)));
        if prune.skip_first_last {
            flag("skip-first-last", None);
        }
    }
    args
}

#[cfg(test)]
mod tests {
    use super::*;

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
    fn the_command_names_what_differs_from_the_defaults() {
        let mut config = ProfileConfig {
            concurrency: 4,
            batch: Some(8),
            duration_secs: Some(3.0),
            warmup_secs: 0.5,
            layer_profiling: LayerProfiling::Off,
            ..ProfileConfig::default()
        };
        VaryKey::Rate.apply("250", &mut config).expect("rate");
        VaryKey::MaxBatch
            .apply("16", &mut config)
            .expect("max-batch");
        VaryKey::Precision
            .apply("int8", &mut config)
            .expect("precision");
        let command = profile_command(Path::new("my model.onnx"), &config);
        assert_eq!(
            command,
            "onnx-workbench profile 'my model.onnx' --batch 8 --concurrency 4 --rate 250 \
             --max-batch 16 --batch-delay 1000us --duration 3s --warmup 500ms \
             --no-layer-profile --precision int8"
        );
        let plain = profile_command(Path::new("m.onnx"), &ProfileConfig::default());
        assert_eq!(plain, "onnx-workbench profile m.onnx --duration 10s");
    }

    #[test]
    fn the_command_keeps_input_shapes_and_the_input_budget() {
        let config = ProfileConfig {
            shapes: [("x".to_owned(), vec![1, 3, 48, 192])].into(),
            max_input_bytes: Some(1 << 30),
            ..ProfileConfig::default()
        };
        let command = profile_command(Path::new("m.onnx"), &config);
        assert!(
            command.contains("--shape x=1,3,48,192 --max-input-bytes 1073741824"),
            "{command}"
        );
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

    #[test]
    fn the_command_keeps_the_token_loop_and_its_objectives() {
        let mut config = ProfileConfig::default();
        let mut generation = crate::engine::generate::GenerationConfig::fixed(64, 16);
        generation
            .slo
            .parse_into("ttft=60ms,itl=1500us")
            .expect("slo");
        config.generation = Some(generation);
        let command = profile_command(Path::new("decoder.onnx"), &config);
        assert!(
            command.ends_with(
                "--generate --prompt-tokens 64 --new-tokens 16 --slo ttft=60ms,itl=1500us"
            ),
            "{command}"
        );
        let parsed = <crate::cli::Cli as clap::Parser>::try_parse_from(
            command.split(' ').collect::<Vec<_>>(),
        );
        assert!(parsed.is_ok(), "{command}: {:?}", parsed.err());
    }

    #[test]
    fn the_command_keeps_a_remote_target_without_header_values() {
        let mut target = crate::engine::target::RemoteTarget::parse(
            "grpc://server:8001",
            Some("resnet"),
            Some("2"),
            None,
        )
        .expect("target");
        target.headers =
            crate::engine::headers::Headers::parse(["x-access-token=hush"]).expect("header");
        let config = ProfileConfig {
            remote: Some(target),
            ..ProfileConfig::default()
        };
        let command = profile_command(Path::new(""), &config);
        assert_eq!(
            command,
            "onnx-workbench profile --target grpc://server:8001 --model-name resnet \
             --model-version 2 --header 'x-access-token=***' --duration 10s"
        );
    }

    #[test]
    fn the_command_keeps_the_metrics_url() {
        let config = ProfileConfig {
            metrics_url: Some("http://server:8002/metrics".to_owned()),
            ..ProfileConfig::default()
        };
        let command = profile_command(Path::new("m.onnx"), &config);
        assert!(
            command.ends_with("--metrics-url http://server:8002/metrics"),
            "{command}"
        );
    }
}
