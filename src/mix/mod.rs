//! Model mixes: several models under load at once in one process, each with
//! its own load, SLO, measurement, stability and validity, sharing the
//! machine as a service's models do. A mix is a list of [`MixEntry`] (a
//! model and its full [`ProfileConfig`]); [`run_mix`] runs every entry at
//! the same time (each entry is an ordinary run on its own threads) and,
//! with the solo baseline, each entry alone first, so the report can say
//! who hurts whom: each entry's p99 in the mix against its p99 alone.
//!
//! The file format (`--mix mix.toml`, keys mirroring the `profile` flags)
//! is read by the CLI (`cli::mix`); this module holds the mix itself, its
//! run, its document (`kind: "mix"`) and its report.

use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use crate::{
    engine::{LayerProfiling, ProfileConfig, RunHandle, RunRecord, RunStatus},
    session::{SessionDocument, SessionError, ToolInfo},
    util::format_micros,
};

/// The `kind` of a mix document.
pub const MIX_KIND: &str = "mix";
/// The mix document's format version.
pub const MIX_FORMAT_VERSION: u32 = 1;
/// Longest solo baseline run of an entry.
pub const SOLO_MAX_SECS: f64 = 5.0;

/// One model of a mix.
#[derive(Debug, Clone, PartialEq)]
pub struct MixEntry {
    /// Unique within the mix.
    pub name: String,
    /// The model file (empty for a remote entry).
    pub model: PathBuf,
    /// Its run: load, SLO, session settings.
    pub config: ProfileConfig,
}

/// A mix as read from its file.
#[derive(Debug, Clone, PartialEq)]
pub struct MixSpec {
    pub entries: Vec<MixEntry>,
}

/// How each entry's p99 in the mix compares with its p99 alone.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct Interference {
    pub p99_alone_micros: f64,
    pub p99_mix_micros: f64,
    /// In the mix over alone (1.0: no interference).
    pub ratio: f64,
    /// Throughput alone and in the mix.
    pub throughput_alone_per_sec: f64,
    pub throughput_mix_per_sec: f64,
}

/// One entry of a mix document.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct MixModel {
    pub name: String,
    /// The entry's run in the mix, a full session document.
    pub session: SessionDocument,
    /// Its solo baseline run, when one was made.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub solo: Option<SessionDocument>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub interference: Option<Interference>,
}

/// A mix run as saved on disk.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct MixDocument {
    pub format_version: u32,
    /// Always [`MIX_KIND`].
    pub kind: String,
    pub tool: ToolInfo,
    pub exported_at: String,
    pub models: Vec<MixModel>,
    /// The thread budget and other warnings about the mix as a whole.
    #[serde(default)]
    pub warnings: Vec<String>,
}

/// Why a mix could not run.
#[derive(Debug, thiserror::Error)]
pub enum MixError {
    #[error("entry {name:?}: {message}")]
    Entry { name: String, message: String },
}

/// Threads the entries keep busy against the cores: each worker's run uses
/// its intra-op threads. `None` when they fit.
pub fn thread_budget_warning(entries: &[MixEntry], cores: u32) -> Option<String> {
    let parts: Vec<(String, u32)> = entries
        .iter()
        .filter(|entry| entry.config.remote.is_none())
        .map(|entry| {
            let workers = entry.config.num_workers();
            let threads = workers * entry.config.intra_threads.max(1);
            (
                format!(
                    "{} {workers}×{}",
                    entry.name,
                    entry.config.intra_threads.max(1)
                ),
                threads,
            )
        })
        .collect();
    let total: u32 = parts.iter().map(|(_, threads)| threads).sum();
    (total > cores).then(|| {
        format!(
            "oversubscribed: the entries keep up to {total} threads busy (workers × intra-op threads: {}) on {cores} cores; they will wait for CPU, which shows as queue time and interference",
            parts
                .iter()
                .map(|(part, _)| part.as_str())
                .collect::<Vec<_>>()
                .join(", ")
        )
    })
}

/// The config an entry runs with in a mix: the full duration whatever its
/// SLO decides (an entry that stopped early would change the others'
/// load), and per-layer profiling only where the entry asked for it.
fn mix_config(entry: &MixEntry) -> ProfileConfig {
    ProfileConfig {
        early_stop: false,
        ..entry.config.clone()
    }
}

/// The solo baseline of an entry: the same config, alone, at most
/// [`SOLO_MAX_SECS`], without per-layer profiling.
fn solo_config(entry: &MixEntry) -> ProfileConfig {
    let mut config = mix_config(entry);
    config.duration_secs = Some(
        config
            .duration_secs
            .unwrap_or(SOLO_MAX_SECS)
            .min(SOLO_MAX_SECS),
    );
    config.max_requests = None;
    config.layer_profiling = LayerProfiling::Off;
    config
}

fn start(entry: &MixEntry, config: ProfileConfig) -> Result<RunHandle, MixError> {
    RunHandle::start(entry.model.clone(), config).map_err(|err| MixError::Entry {
        name: entry.name.clone(),
        message: err.to_string(),
    })
}

/// Runs the mix: with `solo`, each entry alone first (one after the other),
/// then every entry at once. A failed entry keeps its (partial) record; the
/// others go on. `progress` hears each phase as it starts: `solo NAME` or
/// `mix`.
pub fn run_mix(
    spec: &MixSpec,
    solo: bool,
    progress: &mut dyn FnMut(&str),
) -> Result<MixDocument, MixError> {
    let mut warnings = Vec::new();
    let cores = crate::engine::arrivals::CoreBudget::of_machine().cores();
    if let Some(warning) = thread_budget_warning(&spec.entries, cores) {
        warnings.push(warning);
    }
    let mut alone: Vec<Option<RunRecord>> = Vec::with_capacity(spec.entries.len());
    for entry in &spec.entries {
        if solo {
            progress(&format!("solo {}", entry.name));
            alone.push(Some(start(entry, solo_config(entry))?.join()));
        } else {
            alone.push(None);
        }
    }
    progress("mix");
    let handles = spec
        .entries
        .iter()
        .map(|entry| start(entry, mix_config(entry)))
        .collect::<Result<Vec<_>, _>>()?;
    let records: Vec<RunRecord> = handles.into_iter().map(RunHandle::join).collect();
    let models = spec
        .entries
        .iter()
        .zip(records)
        .zip(alone)
        .map(|((entry, record), solo)| MixModel {
            name: entry.name.clone(),
            interference: solo.as_ref().and_then(|solo| interference(solo, &record)),
            session: SessionDocument::new(record),
            solo: solo.map(SessionDocument::new),
        })
        .collect();
    Ok(MixDocument::new(models, warnings))
}

/// The entry's p99 and throughput in the mix against alone.
fn interference(alone: &RunRecord, mix: &RunRecord) -> Option<Interference> {
    let p99 = |record: &RunRecord| {
        record
            .summary
            .as_ref()
            .and_then(|summary| summary.latency.as_ref())
            .map(|latency| latency.p99_micros)
            .filter(|p99| *p99 > 0.0)
    };
    let throughput = |record: &RunRecord| {
        record
            .summary
            .as_ref()
            .map_or(0.0, |summary| summary.inferences_per_sec)
    };
    let (p99_alone_micros, p99_mix_micros) = (p99(alone)?, p99(mix)?);
    Some(Interference {
        p99_alone_micros,
        p99_mix_micros,
        ratio: p99_mix_micros / p99_alone_micros,
        throughput_alone_per_sec: throughput(alone),
        throughput_mix_per_sec: throughput(mix),
    })
}

impl MixDocument {
    pub fn new(models: Vec<MixModel>, warnings: Vec<String>) -> Self {
        Self {
            format_version: MIX_FORMAT_VERSION,
            kind: MIX_KIND.to_owned(),
            tool: ToolInfo {
                name: crate::session::TOOL_NAME.to_owned(),
                version: env!("CARGO_PKG_VERSION").to_owned(),
            },
            exported_at: crate::util::rfc3339_now(),
            models,
            warnings,
        }
    }

    /// True when `text` is JSON with `"kind": "mix"`.
    pub fn is_mix_json(text: &str) -> bool {
        serde_json::from_str::<serde_json::Value>(text)
            .ok()
            .and_then(|value| {
                value
                    .get("kind")
                    .and_then(|k| k.as_str().map(str::to_owned))
            })
            .is_some_and(|kind| kind == MIX_KIND)
    }

    /// Parses a mix document; `path` is only used in messages.
    pub fn from_json(text: &str, path: &Path) -> Result<Self, SessionError> {
        let document: Self =
            serde_json::from_str(text).map_err(|err| SessionError::NotASession {
                reason: format!("not a mix document ({err})"),
                path: path.to_path_buf(),
            })?;
        if document.format_version != MIX_FORMAT_VERSION {
            return Err(SessionError::UnsupportedVersion {
                found: document.format_version,
                supported: vec![MIX_FORMAT_VERSION],
                path: path.to_path_buf(),
            });
        }
        Ok(document)
    }

    /// Writes the document as pretty JSON, atomically.
    pub fn write_json(&self, path: &Path) -> Result<(), SessionError> {
        let text =
            serde_json::to_vec_pretty(self).map_err(|err| SessionError::Encode(err.to_string()))?;
        crate::util::write_atomic(path, &text)?;
        Ok(())
    }

    /// One CSV row per entry.
    pub fn to_csv(&self) -> Result<Vec<u8>, SessionError> {
        crate::session::export::to_csv(&self.models.iter().map(MixCsvRow::new).collect::<Vec<_>>())
    }

    /// Every entry false when a run of the mix failed.
    pub fn all_completed(&self) -> bool {
        self.models
            .iter()
            .all(|model| model.session.run.status == RunStatus::Completed)
    }
}

/// `mix.csv`: one row per entry.
#[derive(Debug, Serialize)]
struct MixCsvRow {
    name: String,
    model: String,
    status: String,
    load: String,
    requests_ok: u64,
    requests_failed: u64,
    inferences_per_sec: f64,
    p50_micros: Option<f64>,
    p99_micros: Option<f64>,
    queue_p50_micros: Option<f64>,
    run_p50_micros: Option<f64>,
    slo: String,
    validity: String,
    p99_alone_micros: Option<f64>,
    interference_ratio: Option<f64>,
}

impl MixCsvRow {
    fn new(model: &MixModel) -> Self {
        let run = &model.session.run;
        let summary = run.summary.as_ref();
        let latency = summary.and_then(|s| s.latency.as_ref());
        Self {
            name: model.name.clone(),
            model: run
                .model
                .as_ref()
                .map(|model| model.path.display().to_string())
                .or_else(|| run.config.remote.as_ref().map(|target| target.describe()))
                .unwrap_or_default(),
            status: format!("{:?}", run.status).to_lowercase(),
            load: load_text(&run.config),
            requests_ok: summary.map_or(0, |s| s.requests_ok),
            requests_failed: summary.map_or(0, |s| s.requests_failed),
            inferences_per_sec: summary.map_or(0.0, |s| s.inferences_per_sec),
            p50_micros: latency.map(|l| l.p50_micros),
            p99_micros: latency.map(|l| l.p99_micros),
            queue_p50_micros: summary.and_then(|s| s.queue.as_ref()).map(|q| q.p50_micros),
            run_p50_micros: summary
                .and_then(|s| s.service.as_ref())
                .map(|s| s.p50_micros),
            slo: slo_text(run),
            validity: summary
                .and_then(|s| s.validity.as_ref())
                .map(|v| format!("{:?}", v.verdict).to_lowercase())
                .unwrap_or_default(),
            p99_alone_micros: model.interference.map(|i| i.p99_alone_micros),
            interference_ratio: model.interference.map(|i| i.ratio),
        }
    }
}

/// `closed 4` or `open 200/s poisson`.
fn load_text(config: &ProfileConfig) -> String {
    match config.load {
        crate::engine::LoadMode::Closed => format!("closed {}", config.concurrency),
        crate::engine::LoadMode::Open {
            rate_per_sec,
            arrival,
        } => format!(
            "open {rate_per_sec}/s {}",
            format!("{arrival:?}").to_lowercase()
        ),
    }
}

/// The entry's SLO verdict: `p99<=10ms pass`, or `-` without an SLO.
fn slo_text(run: &RunRecord) -> String {
    match run.summary.as_ref().and_then(|s| s.slo.as_ref()) {
        Some(outcome) => format!(
            "{}<={} {}",
            outcome.bound.percentile,
            format_micros(outcome.bound.bound_micros),
            format!("{:?}", outcome.decision).to_lowercase()
        ),
        None => "-".to_owned(),
    }
}

/// The mix report: one row per entry, the interference, the warnings.
pub fn render_mix_report(document: &MixDocument) -> String {
    use std::fmt::Write as _;
    let mut text = String::new();
    let _ = writeln!(
        text,
        "Mix of {} models ({} {})",
        document.models.len(),
        document.tool.name,
        document.tool.version
    );
    for warning in &document.warnings {
        let _ = writeln!(text, "warning: {warning}");
    }
    let _ = writeln!(
        text,
        "\n{:<14} {:<18} {:>10} {:>10} {:>10} {:>10} {:>10}  {:<22} {:<9} {:>10} {:>7}",
        "entry",
        "load",
        "inf/s",
        "p50",
        "p99",
        "queue p50",
        "run p50",
        "SLO",
        "validity",
        "p99 alone",
        "mix/alone"
    );
    let micros = |value: Option<f64>| value.map_or_else(|| "-".to_owned(), format_micros);
    for model in &document.models {
        let row = MixCsvRow::new(model);
        let status = if model.session.run.status == RunStatus::Completed {
            String::new()
        } else {
            format!(
                "  ({}: {})",
                row.status,
                model.session.run.failure.as_deref().unwrap_or("")
            )
        };
        let _ = writeln!(
            text,
            "{:<14} {:<18} {:>10.1} {:>10} {:>10} {:>10} {:>10}  {:<22} {:<9} {:>10} {:>7}{status}",
            row.name,
            row.load,
            row.inferences_per_sec,
            micros(row.p50_micros),
            micros(row.p99_micros),
            micros(row.queue_p50_micros),
            micros(row.run_p50_micros),
            row.slo,
            row.validity,
            micros(row.p99_alone_micros),
            row.interference_ratio
                .map_or_else(|| "-".to_owned(), |ratio| format!("{ratio:.2}×")),
        );
    }
    let hurt: Vec<String> = document
        .models
        .iter()
        .filter_map(|model| {
            let interference = model.interference?;
            (interference.ratio > 1.1).then(|| {
                format!(
                    "{}'s p99 is {:.2}× its p99 alone ({} against {})",
                    model.name,
                    interference.ratio,
                    format_micros(interference.p99_mix_micros),
                    format_micros(interference.p99_alone_micros)
                )
            })
        })
        .collect();
    if !hurt.is_empty() {
        let _ = writeln!(text, "\nInterference: {}", hurt.join("; "));
    }
    for model in &document.models {
        if let Some(validity) = model
            .session
            .run
            .summary
            .as_ref()
            .and_then(|summary| summary.validity.as_ref())
            .filter(|validity| validity.verdict != crate::metrics::validity::Verdict::Valid)
        {
            let _ = writeln!(text, "{}: {}", model.name, validity.line());
        }
    }
    let _ = writeln!(
        text,
        "\nEach entry is a full session (its latency counts from the intended send time, its own stability and validity); `report` of the document's sessions gives each one's details. p99 alone is a solo run of the same config (at most {SOLO_MAX_SECS:.0} s) before the mix."
    );
    text
}
