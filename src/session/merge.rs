//! `report --merge`: sessions recorded by the headless CLI on several load
//! machines against one server, merged into one session.
//!
//! The result is an ordinary [`SessionDocument`] (so `report`, the exports
//! and the GUI read it like any session) whose [`SessionDocument::merged_from`]
//! lists each machine's summary. The merge:
//! - refuses sessions of different models (sha256) or targets, sessions
//!   without a latency histogram (percentiles could not be true), and the
//!   same session given twice;
//! - aligns the 1-second windows on the wall clock of each measurement start
//!   (`measured_from_unix_micros`): a source window goes to the merged window
//!   that holds its middle, and each machine's rate in a merged window is its
//!   requests over the time it measured there, so throughputs add up;
//! - merges the HDR histograms (the whole run's and each window's) exactly,
//!   so the merged percentiles are those of all requests together.

use std::collections::BTreeMap;

use super::document::{MergedSource, SessionDocument};
use crate::{
    engine::{EncodedHistogram, LoadMode, RunRecord, RunStatus},
    metrics::{
        ErrorSummary, LatencyHistogram, MAX_ERROR_MESSAGES, RunSummary, WINDOW_NANOS, WindowStats,
        histogram::{HISTOGRAM_ENCODING, HistogramError},
        stability,
    },
};

/// Least overlap of the measured periods, relative to the shortest one,
/// below which the merge warns that throughputs add up machines that did not
/// all run at once.
pub const MIN_OVERLAP_FRACTION: f64 = 0.9;

/// Why sessions cannot be merged.
#[derive(Debug, thiserror::Error)]
pub enum MergeError {
    #[error("merging needs at least two sessions, got {0}")]
    TooFew(usize),
    #[error(
        "{file} has no latency histogram ({reason}); without it the percentiles of a merge \
         could not be true, so it is not merged"
    )]
    NoHistogram { file: String, reason: String },
    #[error("{file}: its latency histogram cannot be read: {source}")]
    BadHistogram {
        file: String,
        #[source]
        source: HistogramError,
    },
    #[error("{file} profiled another model than {first_file}: {found} vs {expected}")]
    DifferentModel {
        file: String,
        first_file: String,
        found: String,
        expected: String,
    },
    #[error("{file} ran against another target than {first_file}: {found} vs {expected}")]
    DifferentTarget {
        file: String,
        first_file: String,
        found: String,
        expected: String,
    },
    #[error("{file} and {other} are the same session (same machine, same start)")]
    SameSession { file: String, other: String },
    #[error("{file} has no start time to align its windows on (started_at {started_at:?})")]
    NoStartTime { file: String, started_at: String },
    #[error(
        "{file} is already a merge of {count} sessions; merge the source sessions instead, \
         so no machine is counted twice"
    )]
    AlreadyMerged { file: String, count: usize },
    #[error("cannot encode the merged histogram: {0}")]
    Encode(#[source] HistogramError),
}

/// A source, checked and decoded.
struct Source<'a> {
    file: &'a str,
    run: &'a RunRecord,
    histogram: LatencyHistogram,
    /// Wall clock of the measurement start, µs since the Unix epoch.
    measured_from_micros: u64,
}

/// Merges `sessions` (each with the file name it came from) into one.
pub fn merge_sessions(
    sessions: &[(String, SessionDocument)],
) -> Result<SessionDocument, MergeError> {
    if sessions.len() < 2 {
        return Err(MergeError::TooFew(sessions.len()));
    }
    if let Some((file, document)) = sessions
        .iter()
        .find(|(_, document)| !document.merged_from.is_empty())
    {
        return Err(MergeError::AlreadyMerged {
            file: file.clone(),
            count: document.merged_from.len(),
        });
    }
    let mut notes = Vec::new();
    let sources = sessions
        .iter()
        .map(|(file, document)| check_source(file, &document.run, &mut notes))
        .collect::<Result<Vec<_>, _>>()?;
    check_same_run(&sources)?;
    let origin_micros = sources
        .iter()
        .map(|source| source.measured_from_micros)
        .min()
        .unwrap_or(0);
    let offset_secs =
        |source: &Source<'_>| (source.measured_from_micros - origin_micros) as f64 / 1e6;

    let mut histogram = LatencyHistogram::new();
    for source in &sources {
        histogram.merge(&source.histogram);
    }
    let (timeseries, windows_complete) = merge_windows(&sources, origin_micros);
    if !windows_complete {
        notes.push(
            "some windows have no latency histogram (older sessions): their merged percentiles are left out"
                .to_owned(),
        );
    }
    let summaries: Vec<(&Source<'_>, &RunSummary)> = sources
        .iter()
        .filter_map(|source| source.run.summary.as_ref().map(|summary| (source, summary)))
        .collect();
    if let Some(note) = overlap_note(&summaries, &offset_secs) {
        notes.push(note);
    }
    notes.push(
        "queue and service-time percentiles, CPU and per-layer figures stay in the source sessions"
            .to_owned(),
    );

    let first = sources[0].run;
    let mut run = first.clone();
    // The load the server saw: every machine's clients and rates together.
    run.config.concurrency = sources
        .iter()
        .map(|source| source.run.config.concurrency)
        .sum();
    if let LoadMode::Open { rate_per_sec, .. } = &mut run.config.load {
        *rate_per_sec = sources
            .iter()
            .filter_map(|source| open_rate(source.run))
            .sum();
    }
    notes.push(format!(
        "concurrency and open-loop rate are the totals of all machines; the other settings are {}'s",
        first_file(&sources)
    ));
    run.status = merged_status(&sources);
    run.failure = joined(&sources, |run| run.failure.clone());
    run.started_at = sources
        .iter()
        .map(|source| source.run.started_at.clone())
        .min()
        .unwrap_or_default();
    run.finished_at = sources
        .iter()
        .map(|source| source.run.finished_at.clone())
        .max()
        .unwrap_or_default();
    let warmup_micros = (first.config.warmup_secs * 1e6) as u64;
    let epoch_micros = origin_micros.saturating_sub(warmup_micros);
    run.epoch_unix_micros = Some(epoch_micros);
    run.measured_from_unix_micros = Some(origin_micros);
    run.environment.host_name = sources
        .iter()
        .map(|source| host_name(source.run))
        .collect::<Vec<_>>()
        .join(", ");
    run.warnings = sources
        .iter()
        .flat_map(|source| {
            let host = host_name(source.run);
            source
                .run
                .warnings
                .iter()
                .map(move |warning| format!("[{host}] {warning}"))
        })
        .collect();
    run.notes = notes;
    run.timings = Default::default();
    run.summary = Some(merged_summary(
        &summaries,
        &histogram,
        &timeseries,
        &offset_secs,
    ));
    run.latency_histogram = Some(EncodedHistogram {
        encoding: HISTOGRAM_ENCODING.to_owned(),
        unit: "ns".to_owned(),
        data: histogram.encode().map_err(MergeError::Encode)?,
        outliers: histogram.outliers(),
    });
    run.timeseries = timeseries;
    run.telemetry = Vec::new();
    run.gpu_telemetry = server_gpu_series(&sources, epoch_micros);
    run.gpu_telemetry_note = run
        .gpu_telemetry
        .is_empty()
        .then(|| "merged session: each machine's own GPU readings stay in its session".to_owned());
    run.layers = None;
    run.layer_profiling_error = None;
    run.errors = merged_errors(&sources);
    run.trace = Default::default();
    run.host_copies = None;
    run.gpu_kernels = None;
    run.gpu_kernels_note = None;
    run.batching = None;
    if let Some(note) = keep_server_stats(&sources, &mut run) {
        run.notes.push(note);
    }

    let mut document = SessionDocument::new(run);
    document.merged_from = sources
        .iter()
        .map(|source| MergedSource {
            file_name: source.file.to_owned(),
            host_name: host_name(source.run),
            started_at: source.run.started_at.clone(),
            offset_secs: offset_secs(source),
            status: source.run.status,
            concurrency: source.run.config.concurrency,
            rate_per_sec: open_rate(source.run),
            summary: source.run.summary.clone(),
        })
        .collect();
    Ok(document)
}

/// The server's own times of a merged remote run. The server's counters are
/// its own (every machine's requests to the model together), so each source
/// read the same quantity: they are not summed. The source with the most
/// server windows is kept, and the note says whose it is.
fn keep_server_stats(sources: &[Source<'_>], run: &mut RunRecord) -> Option<String> {
    let best = sources
        .iter()
        .filter_map(|source| {
            let remote = source.run.remote.as_ref()?;
            remote
                .server_stats
                .offered
                .then_some((source, remote.server_stats.windows.len()))
        })
        .max_by_key(|(_, windows)| *windows)?
        .0;
    let remote = run.remote.as_mut()?;
    remote.server_stats = best.run.remote.as_ref()?.server_stats.clone();
    Some(format!(
        "the server's own times are {}'s reading of the server; its counters count every \
         machine's requests, so they are kept, not summed",
        best.file
    ))
}

/// The open-loop rate of a run, requests per second.
fn open_rate(run: &RunRecord) -> Option<f64> {
    match run.config.load {
        LoadMode::Open { rate_per_sec, .. } => Some(rate_per_sec),
        LoadMode::Closed => None,
    }
}

/// The file name of the first source.
fn first_file<'a>(sources: &[Source<'a>]) -> &'a str {
    sources.first().map_or("", |source| source.file)
}

/// The host name of a session, or a placeholder for older ones.
fn host_name(run: &RunRecord) -> String {
    if run.environment.host_name.is_empty() {
        "unknown host".to_owned()
    } else {
        run.environment.host_name.clone()
    }
}

/// Checks that `run` can be merged and decodes its histogram.
fn check_source<'a>(
    file: &'a str,
    run: &'a RunRecord,
    notes: &mut Vec<String>,
) -> Result<Source<'a>, MergeError> {
    let Some(encoded) = &run.latency_histogram else {
        let reason = match (&run.summary, &run.failure) {
            (None, Some(failure)) => format!("the run failed before measuring: {failure}"),
            (None, None) => "the run measured nothing".to_owned(),
            (Some(_), _) => "it was not recorded".to_owned(),
        };
        return Err(MergeError::NoHistogram {
            file: file.to_owned(),
            reason,
        });
    };
    if encoded.encoding != HISTOGRAM_ENCODING || encoded.unit != "ns" {
        return Err(MergeError::NoHistogram {
            file: file.to_owned(),
            reason: format!(
                "its histogram is {} in {}, not {HISTOGRAM_ENCODING} in ns",
                encoded.encoding, encoded.unit
            ),
        });
    }
    let histogram =
        LatencyHistogram::decode(&encoded.data, encoded.outliers).map_err(|source| {
            MergeError::BadHistogram {
                file: file.to_owned(),
                source,
            }
        })?;
    let measured_from_micros = match run.measured_from_unix_micros {
        Some(micros) => micros,
        None => {
            let started = humantime::parse_rfc3339_weak(&run.started_at)
                .ok()
                .and_then(|time| time.duration_since(std::time::UNIX_EPOCH).ok())
                .ok_or_else(|| MergeError::NoStartTime {
                    file: file.to_owned(),
                    started_at: run.started_at.clone(),
                })?;
            notes.push(format!(
                "{file} predates measurement timestamps: aligned on its start time plus warm-up, \
                 which misses the model load and session creation"
            ));
            u64::try_from(started.as_micros())
                .unwrap_or(u64::MAX)
                .saturating_add((run.config.warmup_secs * 1e6) as u64)
        }
    };
    Ok(Source {
        file,
        run,
        histogram,
        measured_from_micros,
    })
}

/// What a run ran against, as text: the remote server and model when the
/// run drove one (`config.remote`: URL, model name and version; read
/// through serde so this layer needs no remote types), else the local
/// execution provider.
fn target_of(run: &RunRecord) -> String {
    serde_json::to_value(&run.config)
        .ok()
        .and_then(|config| remote_target_text(&config))
        .unwrap_or_else(|| {
            format!(
                "local {}",
                run.execution_provider_used
                    .unwrap_or(run.config.execution_provider)
            )
        })
}

/// The remote target of a serialized run config, as text; `None` for a
/// local run. Timeouts and channel counts are client settings, not the
/// target, and are left out.
fn remote_target_text(config: &serde_json::Value) -> Option<String> {
    let remote = config.get("remote").filter(|remote| !remote.is_null())?;
    let field = |name: &str| {
        remote
            .get(name)
            .and_then(serde_json::Value::as_str)
            .unwrap_or_default()
            .to_owned()
    };
    let version = field("model_version");
    Some(format!(
        "{} model {}{}",
        field("url"),
        field("model_name"),
        if version.is_empty() {
            String::new()
        } else {
            format!(" version {version}")
        }
    ))
}

/// The model a run profiled, as text (sha256, or none recorded).
fn model_of(run: &RunRecord) -> String {
    run.model.as_ref().map_or_else(
        || "no model file".to_owned(),
        |model| format!("{} (sha256 {})", model.file_name, model.sha256),
    )
}

/// Refuses sources of different models or targets, or the same session twice.
fn check_same_run(sources: &[Source<'_>]) -> Result<(), MergeError> {
    let first = &sources[0];
    let first_model = first.run.model.as_ref().map(|model| &model.sha256);
    let first_target = target_of(first.run);
    let is_remote = !first_target.starts_with("local ");
    for (index, source) in sources.iter().enumerate().skip(1) {
        let model = source.run.model.as_ref().map(|model| &model.sha256);
        // A remote run names its model on the server (compared with the
        // target); a local model file, optional there, is compared when both
        // runs have one.
        let is_comparable = !is_remote || (model.is_some() && first_model.is_some());
        if is_comparable && model != first_model {
            return Err(MergeError::DifferentModel {
                file: source.file.to_owned(),
                first_file: first.file.to_owned(),
                found: model_of(source.run),
                expected: model_of(first.run),
            });
        }
        let target = target_of(source.run);
        if target != first_target {
            return Err(MergeError::DifferentTarget {
                file: source.file.to_owned(),
                first_file: first.file.to_owned(),
                found: target,
                expected: first_target,
            });
        }
        if let Some(other) = sources[..index].iter().find(|other| {
            other.measured_from_micros == source.measured_from_micros
                && other.run.environment.host_name == source.run.environment.host_name
        }) {
            return Err(MergeError::SameSession {
                file: source.file.to_owned(),
                other: other.file.to_owned(),
            });
        }
    }
    Ok(())
}

/// A merged window being filled.
#[derive(Default)]
struct WindowSum {
    requests: u64,
    errors: u64,
    inferences: u64,
    inferences_per_sec: f64,
    requests_per_sec: f64,
    duration_secs: f64,
    histogram: LatencyHistogram,
    /// Every contributing window had a histogram.
    is_complete: bool,
    has_source: bool,
}

/// One machine's share of a merged window.
#[derive(Default)]
struct Share {
    requests: u64,
    errors: u64,
    inferences: u64,
    duration_secs: f64,
}

/// The merged windows, and whether every source window had a histogram.
fn merge_windows(sources: &[Source<'_>], origin_micros: u64) -> (Vec<WindowStats>, bool) {
    let window_secs = WINDOW_NANOS as f64 / 1e9;
    let mut merged: BTreeMap<u64, WindowSum> = BTreeMap::new();
    let mut is_complete = true;
    for source in sources {
        let offset_secs = (source.measured_from_micros - origin_micros) as f64 / 1e6;
        let mut shares: BTreeMap<u64, Share> = BTreeMap::new();
        for window in &source.run.timeseries {
            let middle_secs = offset_secs + window.start_secs + window.duration_secs / 2.0;
            let index = (middle_secs / window_secs).floor().max(0.0) as u64;
            let share = shares.entry(index).or_default();
            share.requests += window.requests;
            share.errors += window.errors;
            share.inferences += window.inferences;
            share.duration_secs += window.duration_secs;
            let sum = merged.entry(index).or_insert_with(|| WindowSum {
                is_complete: true,
                ..WindowSum::default()
            });
            let decoded = window
                .latency_histogram
                .as_deref()
                .and_then(|data| LatencyHistogram::decode(data, 0).ok());
            match decoded {
                Some(histogram) => sum.histogram.merge(&histogram),
                // A window without requests has nothing to add.
                None if window.requests == window.errors => {}
                None => {
                    sum.is_complete = false;
                    is_complete = false;
                }
            }
        }
        for (index, share) in shares {
            let Some(sum) = merged.get_mut(&index) else {
                continue;
            };
            let rate = |count: u64| {
                if share.duration_secs > 0.0 {
                    count as f64 / share.duration_secs
                } else {
                    0.0
                }
            };
            sum.requests += share.requests;
            sum.errors += share.errors;
            sum.inferences += share.inferences;
            sum.inferences_per_sec += rate(share.inferences);
            sum.requests_per_sec += rate(share.requests);
            sum.duration_secs = sum.duration_secs.max(share.duration_secs.min(window_secs));
            sum.has_source = true;
        }
    }
    let windows = merged
        .into_iter()
        .filter(|(_, sum)| sum.has_source)
        .map(|(index, sum)| {
            let quantile = |q: f64| {
                (sum.is_complete && !sum.histogram.is_empty())
                    .then(|| sum.histogram.quantile_micros(q))
            };
            WindowStats {
                start_secs: index as f64 * window_secs,
                duration_secs: sum.duration_secs,
                requests: sum.requests,
                errors: sum.errors,
                inferences: sum.inferences,
                inferences_per_sec: sum.inferences_per_sec,
                requests_per_sec: sum.requests_per_sec,
                p50_micros: quantile(0.50),
                mean_micros: sum.histogram.mean_micros().filter(|_| sum.is_complete),
                p95_micros: quantile(0.95),
                p99_micros: quantile(0.99),
                queue_p50_micros: None,
                queue_p99_micros: None,
                service_p50_micros: None,
                service_p99_micros: None,
                lateness_p50_micros: None,
                lateness_p99_micros: None,
                process_cpu_percent: None,
                rss_bytes: None,
                mean_batch_size: None,
                latency_histogram: (sum.is_complete && !sum.histogram.is_empty())
                    .then(|| sum.histogram.encode().ok())
                    .flatten()
                    .map(Into::into),
                ttft_p50_micros: None,
                ttft_p99_micros: None,
                itl_p50_micros: None,
                itl_p99_micros: None,
                output_tokens_per_sec: None,
                kv_cache_bytes: None,
            }
        })
        .collect();
    (windows, is_complete)
}

/// A note when the measured periods overlap too little for summed
/// throughputs to mean load at the same time.
fn overlap_note(
    summaries: &[(&Source<'_>, &RunSummary)],
    offset_secs: &dyn Fn(&Source<'_>) -> f64,
) -> Option<String> {
    let start = summaries
        .iter()
        .map(|(source, _)| offset_secs(source))
        .fold(f64::MIN, f64::max);
    let end = summaries
        .iter()
        .map(|(source, summary)| offset_secs(source) + summary.measured_secs)
        .fold(f64::MAX, f64::min);
    let shortest = summaries
        .iter()
        .map(|(_, summary)| summary.measured_secs)
        .fold(f64::MAX, f64::min);
    let overlap = (end - start).max(0.0);
    (summaries.len() >= 2 && shortest > 0.0 && overlap < MIN_OVERLAP_FRACTION * shortest).then(
        || {
            format!(
                "the measured periods overlap for only {overlap:.1} s of the shortest {shortest:.1} s: \
                 the summed throughput adds machines that did not all run at once; \
                 start them together (see the README)"
            )
        },
    )
}

/// The summary over all machines: counts and rates added, percentiles from
/// the merged histogram.
fn merged_summary(
    summaries: &[(&Source<'_>, &RunSummary)],
    histogram: &LatencyHistogram,
    windows: &[WindowStats],
    offset_secs: &dyn Fn(&Source<'_>) -> f64,
) -> RunSummary {
    let sum = |field: fn(&RunSummary) -> u64| summaries.iter().map(|(_, s)| field(s)).sum::<u64>();
    let sum_f =
        |field: fn(&RunSummary) -> f64| summaries.iter().map(|(_, s)| field(s)).sum::<f64>();
    let decoded = crate::metrics::intervals::window_histograms(windows);
    let window_refs: Vec<&crate::metrics::CompactHistogram> = decoded.iter().flatten().collect();
    let latency = crate::metrics::intervals::summary_with_intervals(histogram, &window_refs);
    let stability = stability(windows);
    let dropped_samples = sum(|s| s.dropped_samples);
    let validity = crate::metrics::validity::judge(&crate::metrics::validity::Evidence {
        latency: latency.as_ref(),
        unstable: match &stability {
            crate::metrics::Stability::Unstable { reason, .. } => Some(reason.as_str()),
            _ => None,
        },
        dropped_samples,
        ..Default::default()
    });
    RunSummary {
        measured_secs: summaries
            .iter()
            .map(|(source, summary)| offset_secs(source) + summary.measured_secs)
            .fold(0.0, f64::max),
        requests_ok: sum(|s| s.requests_ok),
        requests_failed: sum(|s| s.requests_failed),
        inferences: sum(|s| s.inferences),
        batch_size: summaries
            .first()
            .map_or(1, |(_, summary)| summary.batch_size),
        inferences_per_sec: sum_f(|s| s.inferences_per_sec),
        requests_per_sec: sum_f(|s| s.requests_per_sec),
        latency,
        queue: None,
        service: None,
        lateness: None,
        stability,
        dropped_samples,
        profiled_requests: sum(|s| s.profiled_requests),
        after_stop_requests: sum(|s| s.after_stop_requests),
        unsent_requests: sum(|s| s.unsent_requests),
        dropped_windows: sum(|s| s.dropped_windows),
        capacity_per_sec: None,
        generator: None,
        slo: None,
        validity: Some(validity),
        across_runs: None,
        generation: None,
    }
}

/// Failed if any failed, else stopped if any stopped, else completed.
fn merged_status(sources: &[Source<'_>]) -> RunStatus {
    let statuses = || sources.iter().map(|source| source.run.status);
    if statuses().any(|status| status == RunStatus::Failed) {
        RunStatus::Failed
    } else if statuses().any(|status| status == RunStatus::Stopped) {
        RunStatus::Stopped
    } else {
        RunStatus::Completed
    }
}

/// `field` of each source that has it, prefixed with its host, one per line.
fn joined(sources: &[Source<'_>], field: impl Fn(&RunRecord) -> Option<String>) -> Option<String> {
    let parts: Vec<String> = sources
        .iter()
        .filter_map(|source| {
            field(source.run).map(|text| format!("[{}] {text}", host_name(source.run)))
        })
        .collect();
    (!parts.is_empty()).then(|| parts.join("\n"))
}

/// Failed requests of every machine; the first messages, host first.
fn merged_errors(sources: &[Source<'_>]) -> ErrorSummary {
    ErrorSummary {
        count: sources.iter().map(|source| source.run.errors.count).sum(),
        first_messages: sources
            .iter()
            .flat_map(|source| {
                let host = host_name(source.run);
                source
                    .run
                    .errors
                    .first_messages
                    .iter()
                    .map(move |message| format!("[{host}] {message}"))
            })
            .take(MAX_ERROR_MESSAGES)
            .collect(),
    }
}

/// The server's GPU series (scraped with `--metrics-url`) of the source with
/// the most readings, moved onto the merged epoch. Every machine scraped the
/// same server, so one series is enough; NVML readings of the load machines
/// are left in their sessions.
fn server_gpu_series(
    sources: &[Source<'_>],
    epoch_micros: u64,
) -> Vec<crate::telemetry::GpuSample> {
    use crate::telemetry::GpuSource;
    let scraped = |source: &&Source<'_>| {
        source
            .run
            .gpu_telemetry
            .iter()
            .filter(|sample| sample.source == GpuSource::Prometheus)
            .count()
    };
    let Some(best) = sources
        .iter()
        .filter(|s| scraped(s) > 0)
        .max_by_key(scraped)
    else {
        return Vec::new();
    };
    let Some(source_epoch) = best.run.epoch_unix_micros else {
        return Vec::new();
    };
    let shift_secs = (source_epoch as f64 - epoch_micros as f64) / 1e6;
    best.run
        .gpu_telemetry
        .iter()
        .filter(|sample| sample.source == GpuSource::Prometheus)
        .map(|sample| crate::telemetry::GpuSample {
            t_secs: sample.t_secs + shift_secs,
            ..sample.clone()
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::engine::ExecutionProviderKind;

    /// A histogram of `micros` values, in ns.
    fn histogram_of(micros: impl Iterator<Item = u64>) -> LatencyHistogram {
        let mut histogram = LatencyHistogram::new();
        for value in micros {
            histogram.record_nanos(value * 1000);
        }
        histogram
    }

    /// A window of `requests` latencies `first_micros..` (step 1 µs).
    fn window(start_secs: f64, requests: u64, first_micros: u64) -> WindowStats {
        let histogram = histogram_of(first_micros..first_micros + requests);
        WindowStats {
            ttft_p50_micros: None,
            ttft_p99_micros: None,
            itl_p50_micros: None,
            itl_p99_micros: None,
            output_tokens_per_sec: None,
            kv_cache_bytes: None,
            start_secs,
            duration_secs: 1.0,
            requests,
            errors: 0,
            inferences: requests,
            inferences_per_sec: requests as f64,
            requests_per_sec: requests as f64,
            p50_micros: Some(histogram.quantile_micros(0.5)),
            mean_micros: None,
            p95_micros: Some(histogram.quantile_micros(0.95)),
            p99_micros: Some(histogram.quantile_micros(0.99)),
            queue_p50_micros: None,
            queue_p99_micros: None,
            service_p50_micros: None,
            service_p99_micros: None,
            lateness_p50_micros: None,
            lateness_p99_micros: None,
            process_cpu_percent: None,
            rss_bytes: None,
            mean_batch_size: None,
            latency_histogram: histogram.encode().ok().map(Into::into),
        }
    }

    /// A session of three 1-second windows on `host`, measured from
    /// `measured_from_micros`, whose window `k` has `requests` latencies
    /// starting at `first_micros + k * 1000` µs.
    fn session(
        host: &str,
        measured_from_micros: u64,
        requests: u64,
        first_micros: u64,
    ) -> SessionDocument {
        let mut document = SessionDocument::from_json(
            include_str!("../../tests/data/sessions/v1.json"),
            std::path::Path::new("v1.json"),
        )
        .expect("the v1 fixture");
        let run = &mut document.run;
        run.environment.host_name = host.to_owned();
        run.measured_from_unix_micros = Some(measured_from_micros);
        run.epoch_unix_micros = Some(measured_from_micros);
        run.timeseries = (0..3)
            .map(|k| window(k as f64, requests, first_micros + k * 1000))
            .collect();
        let all = histogram_of(
            (0..3).flat_map(|k| first_micros + k * 1000..first_micros + k * 1000 + requests),
        );
        run.latency_histogram = Some(EncodedHistogram {
            encoding: HISTOGRAM_ENCODING.to_owned(),
            unit: "ns".to_owned(),
            data: all.encode().expect("encode"),
            outliers: 0,
        });
        let summary = run.summary.as_mut().expect("the fixture has a summary");
        summary.measured_secs = 3.0;
        summary.requests_ok = 3 * requests;
        summary.requests_failed = 0;
        summary.inferences = 3 * requests;
        summary.inferences_per_sec = requests as f64;
        summary.requests_per_sec = requests as f64;
        summary.latency = all.summary();
        document
    }

    fn pair() -> Vec<(String, SessionDocument)> {
        vec![
            ("a.json".to_owned(), session("load-a", 10_000_000, 100, 500)),
            // Half a second later, slower.
            (
                "b.json".to_owned(),
                session("load-b", 10_500_000, 300, 4000),
            ),
        ]
    }

    #[test]
    fn counts_add_up_and_percentiles_are_those_of_all_requests() {
        let merged = merge_sessions(&pair()).expect("merge");
        let summary = merged.run.summary.as_ref().expect("summary");
        assert_eq!(summary.requests_ok, 3 * 100 + 3 * 300);
        assert!((summary.inferences_per_sec - 400.0).abs() < 1e-9);
        // The percentiles of one histogram built from both sample sets.
        let both = histogram_of(
            (0..3)
                .flat_map(|k| 500 + k * 1000..500 + k * 1000 + 100)
                .chain((0..3).flat_map(|k| 4000 + k * 1000..4000 + k * 1000 + 300)),
        );
        let expected = both.summary().expect("non-empty");
        let latency = summary.latency.expect("latency");
        assert_eq!(latency.count, 1200);
        assert_eq!(latency.p50_micros, expected.p50_micros);
        assert_eq!(latency.p99_micros, expected.p99_micros);
        let (a, b) = (
            pair()[0]
                .1
                .run
                .summary
                .clone()
                .expect("a")
                .latency
                .expect("a"),
            pair()[1]
                .1
                .run
                .summary
                .clone()
                .expect("b")
                .latency
                .expect("b"),
        );
        assert!(a.p50_micros <= latency.p50_micros && latency.p50_micros <= b.p50_micros);
        assert!(a.p99_micros <= latency.p99_micros && latency.p99_micros <= b.p99_micros);
        assert_eq!(merged.merged_from.len(), 2);
        assert_eq!(merged.merged_from[1].host_name, "load-b");
        assert!((merged.merged_from[1].offset_secs - 0.5).abs() < 1e-9);
        assert_eq!(merged.run.environment.host_name, "load-a, load-b");
        let concurrency: u32 = pair().iter().map(|(_, d)| d.run.config.concurrency).sum();
        assert_eq!(merged.run.config.concurrency, concurrency);
    }

    #[test]
    fn windows_align_on_the_wall_clock() {
        let merged = merge_sessions(&pair()).expect("merge");
        let windows = &merged.run.timeseries;
        // b starts 0.5 s after a: its window k holds the middle of merged
        // window k + 1, so windows 1 and 2 hold both machines.
        let requests: Vec<u64> = windows.iter().map(|w| w.requests).collect();
        assert_eq!(requests, vec![100, 400, 400, 300]);
        let rates: Vec<f64> = windows.iter().map(|w| w.inferences_per_sec).collect();
        assert_eq!(rates, vec![100.0, 400.0, 400.0, 300.0]);
        let starts: Vec<f64> = windows.iter().map(|w| w.start_secs).collect();
        assert_eq!(starts, vec![0.0, 1.0, 2.0, 3.0]);
        // Merged window 1: a's window 1 and b's window 0, exactly.
        let both = histogram_of((1500..1600).chain(4000..4300));
        assert_eq!(windows[1].p50_micros, Some(both.quantile_micros(0.5)));
        assert_eq!(windows[1].p99_micros, Some(both.quantile_micros(0.99)));
        let total: u64 = requests.iter().sum();
        assert_eq!(
            total,
            merged.run.summary.as_ref().expect("summary").requests_ok
        );
    }

    #[test]
    fn open_loop_rates_add_up() {
        let mut sessions = pair();
        for ((_, document), rate) in sessions.iter_mut().zip([100.0, 50.0]) {
            document.run.config.load = LoadMode::Open {
                rate_per_sec: rate,
                arrival: crate::engine::Arrival::Poisson,
            };
        }
        let merged = merge_sessions(&sessions).expect("merge");
        assert!(matches!(
            merged.run.config.load,
            LoadMode::Open { rate_per_sec, .. } if (rate_per_sec - 150.0).abs() < 1e-9
        ));
        assert_eq!(merged.merged_from[1].rate_per_sec, Some(50.0));
        let report = super::super::render_report(&merged);
        assert!(report.contains("50 requests/s offered"), "{report}");
    }

    #[test]
    fn the_merged_document_loads_and_reports_like_a_session() {
        let merged = merge_sessions(&pair()).expect("merge");
        let text = serde_json::to_string(&merged).expect("json");
        let loaded =
            SessionDocument::from_json(&text, std::path::Path::new("m.json")).expect("loads");
        assert_eq!(loaded, merged);
        let err = merge_sessions(&[("m.json".to_owned(), loaded.clone()), pair().remove(0)])
            .expect_err("a merge merged again");
        assert!(
            matches!(err, MergeError::AlreadyMerged { count: 2, .. }),
            "{err}"
        );
        let report = super::super::render_report(&loaded);
        assert!(report.contains("Merged      2 sessions"), "{report}");
        assert!(report.contains("load-b (b.json"), "{report}");
    }

    #[test]
    fn other_models_targets_and_missing_histograms_are_refused() {
        let mut sessions = pair();
        if let Some(model) = sessions[1].1.run.model.as_mut() {
            model.sha256 = "0".repeat(64);
        }
        let err = merge_sessions(&sessions).expect_err("other model");
        assert!(matches!(err, MergeError::DifferentModel { .. }), "{err}");
        assert!(err.to_string().contains("b.json"), "{err}");

        let mut sessions = pair();
        sessions[1].1.run.execution_provider_used = Some(ExecutionProviderKind::Cuda);
        let err = merge_sessions(&sessions).expect_err("other target");
        assert!(matches!(err, MergeError::DifferentTarget { .. }), "{err}");

        let mut sessions = pair();
        sessions[0].1.run.latency_histogram = None;
        let err = merge_sessions(&sessions).expect_err("no histogram");
        assert!(matches!(err, MergeError::NoHistogram { .. }), "{err}");
        assert!(err.to_string().contains("a.json"), "{err}");

        let sessions = vec![pair().remove(0), pair().remove(0)];
        let err = merge_sessions(&sessions).expect_err("the same session");
        assert!(matches!(err, MergeError::SameSession { .. }), "{err}");

        let err = merge_sessions(&pair()[..1]).expect_err("one session");
        assert!(matches!(err, MergeError::TooFew(1)), "{err}");
    }

    #[test]
    fn remote_sessions_keep_one_reading_of_the_server() {
        use crate::engine::remote::{RemoteReport, ServerStatsReport, ServerWindow};
        let target =
            crate::engine::target::RemoteTarget::parse("grpc://server:8001", Some("m"), None, None)
                .expect("target");
        let window = |index| ServerWindow {
            index,
            requests: 400,
            queue_micros: 100.0,
            ..ServerWindow::default()
        };
        let mut sessions = pair();
        for (windows, (_, document)) in [1_u64, 3].into_iter().zip(sessions.iter_mut()) {
            document.run.config.remote = Some(target.clone());
            document.run.remote = Some(RemoteReport {
                server_stats: ServerStatsReport {
                    offered: true,
                    windows: (0..windows).map(window).collect(),
                    total: Some(window(0)),
                    ..ServerStatsReport::default()
                },
                ..RemoteReport::default()
            });
        }
        let merged = merge_sessions(&sessions).expect("merge");
        let stats = &merged.run.remote.as_ref().expect("remote").server_stats;
        // b.json read the server over more windows; nothing is summed.
        assert_eq!(stats.windows.len(), 3);
        assert_eq!(stats.total.expect("total").requests, 400);
        assert!(
            merged
                .run
                .notes
                .iter()
                .any(|note| note.contains("b.json") && note.contains("not summed")),
            "{:?}",
            merged.run.notes
        );
    }

    #[test]
    fn a_remote_target_is_its_url_model_and_version() {
        let local = serde_json::json!({ "concurrency": 2 });
        assert_eq!(remote_target_text(&local), None);
        let none = serde_json::json!({ "remote": null });
        assert_eq!(remote_target_text(&none), None);
        let remote = serde_json::json!({ "remote": {
            "url": "grpc://server:8001", "protocol": "grpc", "model_name": "cls",
            "model_version": "2", "timeout_millis": 5000, "grpc_channels": 4 } });
        let text = remote_target_text(&remote).expect("remote");
        assert_eq!(text, "grpc://server:8001 model cls version 2");
        // Client settings do not make another target.
        let mut other_client = remote.clone();
        other_client["remote"]["timeout_millis"] = serde_json::json!(100);
        assert_eq!(remote_target_text(&other_client), Some(text.clone()));
        let mut other_model = remote;
        other_model["remote"]["model_name"] = serde_json::json!("det");
        assert_ne!(remote_target_text(&other_model), Some(text));
        assert_eq!(target_of(&pair()[0].1.run), "local cpu");
    }
}
