//! The mix document (`kind: "mix"`): each entry's session, its solo
//! baseline and interference; its CSV and its text report.

use serde::{Deserialize, Serialize};

use crate::{
    engine::{ProfileConfig, RunRecord, RunStatus},
    session::{SessionDocument, SessionError, ToolInfo},
    util::{format_micros, format_value},
};

/// The `kind` of a mix document.
pub const MIX_KIND: &str = "mix";
/// The mix document's format version.
pub const MIX_FORMAT_VERSION: u32 = 1;

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

impl MixDocument {
    pub fn new(models: Vec<MixModel>, warnings: Vec<String>) -> Self {
        Self {
            format_version: MIX_FORMAT_VERSION,
            kind: MIX_KIND.to_owned(),
            tool: ToolInfo::this_build(),
            exported_at: crate::util::rfc3339_now(),
            models,
            warnings,
        }
    }

    /// True when `text` is JSON with `"kind": "mix"`.
    pub fn is_mix_json(text: &str) -> bool {
        crate::session::kinds::document_kind(text).as_deref() == Some(MIX_KIND)
    }

    /// Parses the document; `path` is only used in messages.
    pub fn from_json(text: &str, path: &std::path::Path) -> Result<Self, SessionError> {
        crate::session::kinds::parse_kind(text, path, Some(MIX_KIND), &[MIX_FORMAT_VERSION])
    }

    /// Writes the document as pretty JSON, atomically.
    pub fn write_json(&self, path: &std::path::Path) -> Result<(), SessionError> {
        crate::session::kinds::write_pretty_json(self, path)
    }

    /// Each entry's figures, in order.
    pub fn summary_rows(&self) -> Vec<MixSummaryRow> {
        self.models.iter().map(MixSummaryRow::new).collect()
    }

    /// One CSV row per entry.
    pub fn to_csv(&self) -> Result<Vec<u8>, SessionError> {
        crate::session::export::to_csv(
            &self
                .models
                .iter()
                .map(MixSummaryRow::new)
                .collect::<Vec<_>>(),
        )
    }

    /// Every entry false when a run of the mix failed.
    pub fn all_completed(&self) -> bool {
        self.models
            .iter()
            .all(|model| model.session.run.status == RunStatus::Completed)
    }
}

/// One entry's figures: a row of `mix.csv`, of the report and of the
/// window's table.
#[derive(Debug, Clone, Serialize)]
pub struct MixSummaryRow {
    pub name: String,
    pub model: String,
    pub status: String,
    pub load: String,
    pub requests_ok: u64,
    pub requests_failed: u64,
    pub inferences_per_sec: f64,
    pub p50_micros: Option<f64>,
    pub p99_micros: Option<f64>,
    pub queue_p50_micros: Option<f64>,
    pub run_p50_micros: Option<f64>,
    pub slo: String,
    pub validity: String,
    pub p99_alone_micros: Option<f64>,
    pub interference_ratio: Option<f64>,
    /// Cores its load threads kept busy (the model's runs included, with
    /// one intra-op thread); `None` where ONNX Runtime's pools ran it.
    pub cpu_cores: Option<f64>,
}

impl MixSummaryRow {
    /// The columns of [`Self::cells`], as the report and the window head
    /// them.
    pub const HEADERS: [&'static str; 12] = [
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
        "mix/alone",
        "CPU cores",
    ];

    /// The row's figures as written: times with their unit, `-` where
    /// there is none.
    pub fn cells(&self) -> [String; 12] {
        let micros = |value: Option<f64>| value.map_or_else(|| "-".to_owned(), format_micros);
        [
            self.name.clone(),
            self.load.clone(),
            format_value(self.inferences_per_sec),
            micros(self.p50_micros),
            micros(self.p99_micros),
            micros(self.queue_p50_micros),
            micros(self.run_p50_micros),
            self.slo.clone(),
            self.validity.clone(),
            micros(self.p99_alone_micros),
            self.interference_ratio
                .map_or_else(|| "-".to_owned(), |ratio| format!("{ratio:.2}×")),
            self.cpu_cores
                .map_or_else(|| "-".to_owned(), |cores| format!("{cores:.2}")),
        ]
    }

    pub fn new(model: &MixModel) -> Self {
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
            cpu_cores: summary
                .and_then(|s| s.generator.as_ref())
                .and_then(|generator| generator.load_thread_cores),
        }
    }
}

/// `closed 4` or `open 200/s poisson`.
pub(super) fn load_text(config: &ProfileConfig) -> String {
    match config.load {
        crate::engine::LoadMode::Closed => format!("closed {}", config.concurrency),
        crate::engine::LoadMode::Open {
            rate_per_sec,
            arrival,
        } => format!(
            "open {}/s {}",
            format_value(rate_per_sec),
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
    // Column widths of the text table; negative: left-aligned.
    const WIDTHS: [i32; 12] = [-14, -18, 10, 10, 10, 10, 10, -22, -9, 10, 9, 9];
    let pad = |cells: Vec<String>| -> String {
        cells
            .iter()
            .zip(WIDTHS)
            .map(|(cell, width)| {
                let w = width.unsigned_abs() as usize;
                if width < 0 {
                    format!("{cell:<w$}")
                } else {
                    format!("{cell:>w$}")
                }
            })
            .collect::<Vec<_>>()
            .join(" ")
    };
    let _ = writeln!(
        text,
        "\n{}",
        pad(MixSummaryRow::HEADERS
            .iter()
            .map(|h| (*h).to_owned())
            .collect())
    );
    for model in &document.models {
        let row = MixSummaryRow::new(model);
        let status = if model.session.run.status == RunStatus::Completed {
            String::new()
        } else {
            format!(
                "  ({}: {})",
                row.status,
                model.session.run.failure.as_deref().unwrap_or("")
            )
        };
        let _ = writeln!(text, "{}{status}", pad(row.cells().to_vec()));
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
    let _ = writeln!(text, "\n{}", cpu_line(document));
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
        "\nEach entry is a full session (its latency counts from the intended send time, its own stability and validity); `report` of the document's sessions gives each one's details. p99 alone is a short solo run of the same config before the mix."
    );
    text
}

/// The machine's CPU split by entry, from each entry's load threads.
fn cpu_line(document: &MixDocument) -> String {
    let rows = document.summary_rows();
    let parts: Vec<String> = rows
        .iter()
        .map(|row| match row.cpu_cores {
            Some(cores) => format!("{} {:.2}", row.name, cores),
            None => format!("{} -", row.name),
        })
        .collect();
    // (A float sum starts at -0.0.)
    let known: f64 = rows.iter().filter_map(|row| row.cpu_cores).sum::<f64>() + 0.0;
    if rows.iter().all(|row| row.cpu_cores.is_none()) {
        return "CPU by entry: not available (each entry ran on ONNX Runtime's intra- or inter-op pools, or remotely, whose threads are not the entry's to count; or the session predates the figure). GPU time per entry is not available either: NVML reports per process.".to_owned();
    }
    let cores = crate::engine::arrivals::CoreBudget::of_machine().cores();
    let unknown = rows.iter().any(|row| row.cpu_cores.is_none());
    format!(
        "CPU by entry (cores busy, from each entry's load threads' CPU clocks): {}; {known:.2} of this machine's {cores} cores{}",
        parts.join(", "),
        if unknown {
            " (\"-\": the entry runs on ONNX Runtime's intra- or inter-op pool, or remotely, whose threads are not the entry's to count; GPU time per entry is not available either: NVML reports per process)"
        } else {
            " (GPU time per entry is not available: NVML reports per process)"
        }
    )
}
