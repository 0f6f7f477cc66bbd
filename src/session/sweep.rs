//! The sweep document: a versioned JSON file with the SLO, every measured
//! point (its config, the same summary a session has, stability, verdict and
//! the embedded session), the skipped points with their reasons, the Pareto
//! set and the recommendation; its CSV of points, its import and its text
//! report. Writes are atomic.

use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use super::{
    document::{SessionDocument, ToolInfo, read_document},
    error::SessionError,
};
use crate::{
    engine::ProfileConfig,
    metrics::RunSummary,
    tune::{
        MeasuredPoint, SearchMode, SkippedPoint, Slo, SweepResult, SweepStatus, VaryDimension,
        VaryKey,
        stats::{Decision, PointStability},
    },
    util::{format_bytes, format_micros, write_atomic},
};

/// The sweep format version this build writes.
pub const SWEEP_FORMAT_VERSION: u32 = 1;
/// The sweep versions this build reads.
pub const SUPPORTED_SWEEP_VERSIONS: &[u32] = &[1];
/// The `kind` field that tells a sweep file from a session file.
pub const SWEEP_KIND: &str = "sweep";

/// One measured point as saved.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SweepPoint {
    /// `concurrency=4 batch=8`.
    pub label: String,
    /// The varied values.
    pub values: Vec<(VaryKey, String)>,
    /// The configuration of the run (as a session stores it).
    pub config: ProfileConfig,
    /// The run's summary (as a session has it).
    pub summary: Option<RunSummary>,
    /// True when the last windows agreed (see `stability`).
    pub stable: bool,
    pub stability: PointStability,
    /// pass, fail or undecided.
    pub verdict: Decision,
    /// One line per SLO item.
    pub verdict_details: Vec<String>,
    /// Headroom to the first latency bound (0.25 = 25 % under it).
    pub margin: Option<f64>,
    /// Runs made (1 plus retries).
    pub attempts: u32,
    pub wall_secs: f64,
    /// Mean process CPU over the measured windows (100 = one core).
    pub cpu_percent: Option<f64>,
    /// Peak resident memory.
    pub rss_bytes: Option<u64>,
    /// The point's last run, as a session document.
    pub session: SessionDocument,
}

impl SweepPoint {
    fn new(point: MeasuredPoint) -> Self {
        Self {
            cpu_percent: point.cpu_percent(),
            rss_bytes: point.rss_bytes(),
            label: point.label,
            values: point.values,
            config: point.config,
            summary: point.record.summary.clone(),
            stable: point.stability.is_stable(),
            stability: point.stability,
            verdict: point.verdict.decision,
            verdict_details: point.verdict.details,
            margin: point.verdict.margin,
            attempts: point.attempts,
            wall_secs: point.wall_secs,
            session: SessionDocument::new(point.record),
        }
    }

    fn throughput(&self) -> f64 {
        self.summary.as_ref().map_or(0.0, |s| s.inferences_per_sec)
    }

    fn latency(&self, pick: impl Fn(&crate::metrics::LatencySummary) -> f64) -> Option<f64> {
        self.summary
            .as_ref()
            .and_then(|s| s.latency.as_ref())
            .map(pick)
    }
}

/// The recommendation as saved.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SweepRecommendation {
    /// Index into `points`.
    pub point: usize,
    pub config: ProfileConfig,
    /// True when the fresh confirmation run passed too.
    pub confirmed: bool,
    /// The `profile` command that reproduces the point.
    pub command: String,
    pub margin: Option<f64>,
    /// The confirmation run.
    pub confirmation: Option<Box<SweepPoint>>,
}

/// How a front end writes the command that runs `config` on `model` again.
/// The core does not speak the CLI: the CLI hands in its own
/// (`cli::reproduce::profile_command`), and the window the one it was given.
pub type Reproduce = fn(Option<&std::path::Path>, &crate::engine::ProfileConfig) -> String;

/// A sweep as saved on disk.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SweepDocument {
    pub format_version: u32,
    /// Always [`SWEEP_KIND`].
    pub kind: String,
    pub tool: ToolInfo,
    /// When the document was written (RFC 3339, UTC).
    pub exported_at: String,
    /// The model file as given; `None` for a served model given by name
    /// only (each point's config names its server).
    pub model: Option<PathBuf>,
    pub status: SweepStatus,
    pub search: SearchMode,
    pub dimensions: Vec<VaryDimension>,
    pub slo: Slo,
    pub budget_secs: Option<f64>,
    /// Stability tolerance (0.10 = 10 %).
    pub stability: f64,
    pub max_retries: u32,
    pub points: Vec<SweepPoint>,
    pub skipped: Vec<SkippedPoint>,
    /// Indices into `points`: throughput up, the SLO's percentile down.
    pub pareto: Vec<usize>,
    pub recommendation: Option<SweepRecommendation>,
    pub notes: Vec<String>,
    /// Wall time of the sweep.
    pub wall_secs: f64,
    /// Sum of the points' wall times (the rest is the sweep's own overhead).
    pub points_secs: f64,
}

impl SweepDocument {
    /// Wraps a finished sweep; `reproduce` writes the command that runs the
    /// recommended config again (the CLI's `profile` command line).
    pub fn new(result: SweepResult, reproduce: Reproduce) -> Self {
        let model = result.model;
        let recommendation = result.recommendation.map(|r| SweepRecommendation {
            point: r.point,
            command: reproduce(model.as_deref(), &r.config),
            config: r.config,
            confirmed: r.confirmed,
            margin: r.margin,
            confirmation: r.confirmation.map(|c| Box::new(SweepPoint::new(*c))),
        });
        Self {
            format_version: SWEEP_FORMAT_VERSION,
            kind: SWEEP_KIND.to_owned(),
            tool: ToolInfo::this_build(),
            exported_at: crate::util::rfc3339_now(),
            model,
            status: result.status,
            search: result.spec.search,
            dimensions: result.spec.dimensions,
            slo: result.spec.slo,
            budget_secs: result.spec.budget_secs,
            stability: result.spec.stability,
            max_retries: result.spec.max_retries,
            points: result.points.into_iter().map(SweepPoint::new).collect(),
            skipped: result.skipped,
            pareto: result.pareto,
            recommendation,
            notes: result.notes,
            wall_secs: result.wall_secs,
            points_secs: result.points_secs,
        }
    }

    /// True when `text` is JSON with `"kind": "sweep"`.
    pub fn is_sweep_json(text: &str) -> bool {
        super::kinds::document_kind(text).as_deref() == Some(SWEEP_KIND)
    }

    /// Reads a sweep file of any supported version.
    pub fn load(path: &Path) -> Result<Self, SessionError> {
        Self::from_json(&read_document(path)?, path)
    }

    /// Parses sweep JSON; `path` is only used in messages.
    pub fn from_json(text: &str, path: &Path) -> Result<Self, SessionError> {
        super::kinds::parse_kind(text, path, Some(SWEEP_KIND), SUPPORTED_SWEEP_VERSIONS)
    }

    /// Writes the document as pretty JSON, atomically.
    pub fn write_json(&self, path: &Path) -> Result<(), SessionError> {
        let text =
            serde_json::to_vec_pretty(self).map_err(|err| SessionError::Encode(err.to_string()))?;
        write_atomic(path, &text)?;
        Ok(())
    }

    /// The points as CSV, one row each.
    pub fn points_csv(&self) -> Result<Vec<u8>, SessionError> {
        let keys: Vec<VaryKey> = self.dimensions.iter().map(|d| d.key).collect();
        let mut extra_keys = keys.clone();
        for point in &self.points {
            for (key, _) in &point.values {
                if !extra_keys.contains(key) {
                    extra_keys.push(*key);
                }
            }
        }
        let encode = |err: csv::Error| SessionError::Encode(err.to_string());
        let mut writer = csv::Writer::from_writer(Vec::new());
        let mut header: Vec<String> = vec!["point".into(), "label".into()];
        header.extend(extra_keys.iter().map(|k| k.name().to_owned()));
        header.extend(
            [
                "inferences_per_sec",
                "p50_micros",
                "p90_micros",
                "p95_micros",
                "p99_micros",
                "p999_micros",
                "requests_ok",
                "requests_failed",
                "cpu_percent",
                "rss_bytes",
                "stable",
                "verdict",
                "margin",
                "pareto",
                "recommended",
                "attempts",
                "wall_secs",
            ]
            .map(str::to_owned),
        );
        writer.write_record(&header).map_err(encode)?;
        let recommended = self.recommendation.as_ref().map(|r| r.point);
        let opt = |v: Option<f64>| v.map_or_else(String::new, |v| format!("{v:.3}"));
        for (i, point) in self.points.iter().enumerate() {
            let mut row = vec![i.to_string(), point.label.clone()];
            for key in &extra_keys {
                row.push(
                    point
                        .values
                        .iter()
                        .find(|(k, _)| k == key)
                        .map_or_else(String::new, |(_, v)| v.clone()),
                );
            }
            let summary = point.summary.as_ref();
            row.extend([
                format!("{:.3}", point.throughput()),
                opt(point.latency(|l| l.p50_micros)),
                opt(point.latency(|l| l.p90_micros)),
                opt(point.latency(|l| l.p95_micros)),
                opt(point.latency(|l| l.p99_micros)),
                opt(point.latency(|l| l.p999_micros)),
                summary.map_or(0, |s| s.requests_ok).to_string(),
                summary.map_or(0, |s| s.requests_failed).to_string(),
                opt(point.cpu_percent),
                point.rss_bytes.map_or_else(String::new, |b| b.to_string()),
                point.stable.to_string(),
                point.verdict.to_string(),
                opt(point.margin),
                self.pareto.contains(&i).to_string(),
                (recommended == Some(i)).to_string(),
                point.attempts.to_string(),
                format!("{:.3}", point.wall_secs),
            ]);
            writer.write_record(&row).map_err(encode)?;
        }
        writer
            .into_inner()
            .map_err(|err| SessionError::Encode(err.to_string()))
    }

    /// Writes [`Self::points_csv`] to `path`, atomically.
    pub fn write_csv(&self, path: &Path) -> Result<(), SessionError> {
        write_atomic(path, &self.points_csv()?)?;
        Ok(())
    }
}

fn pad(text: &str, width: usize) -> String {
    format!("{text:<width$}")
}

/// The human report of a sweep: the table of points, the Pareto set, the
/// skipped points, the notes and the recommendation.
pub fn render_sweep_report(document: &SweepDocument) -> String {
    use std::fmt::Write as _;
    let mut out = String::new();
    let model = match &document.model {
        Some(path) => path.file_name().map_or_else(
            || path.display().to_string(),
            |name| name.to_string_lossy().into_owned(),
        ),
        None => document
            .points
            .iter()
            .find_map(|point| point.config.remote.as_ref())
            .map_or_else(
                || "a served model".to_owned(),
                |target| format!("{} on {}", target.model_name, target.url),
            ),
    };
    let _ = writeln!(
        out,
        "Sweep of {model} ({} search): {} points measured, {} skipped ({})",
        document.search,
        document.points.len(),
        document.skipped.len(),
        document.status
    );
    let percentile = document.slo.chosen_percentile();
    let _ = writeln!(
        out,
        "SLO: {} (a latency bound passes at 99 % confidence: binomial test on the requests over it, corrected for autocorrelation)",
        document.slo.describe()
    );
    let overhead = if document.points_secs > 0.0 {
        format!(
            ", sweep overhead {:.1} %",
            (document.wall_secs / document.points_secs - 1.0) * 100.0
        )
    } else {
        String::new()
    };
    let _ = writeln!(
        out,
        "Wall time {:.1} s, points {:.1} s{overhead}",
        document.wall_secs, document.points_secs
    );
    let label_width = document
        .points
        .iter()
        .map(|p| p.label.len())
        .max()
        .unwrap_or(6)
        .max(6);
    let _ = writeln!(out);
    let _ = writeln!(
        out,
        "    #  {}  {:>10}  {:>9}  {:>9}  {:>6}  {:>9}  {:>8}  {:>8}  verdict",
        pad("config", label_width),
        "inf/s",
        "p50",
        percentile.to_string(),
        "CPU %",
        "RSS",
        "stable",
        "validity"
    );
    let recommended = document.recommendation.as_ref().map(|r| r.point);
    for (i, point) in document.points.iter().enumerate() {
        let mark = match (recommended == Some(i), document.pareto.contains(&i)) {
            (true, _) => ">*",
            (false, true) => " *",
            _ => "  ",
        };
        let micros = |v: Option<f64>| v.map_or_else(|| "-".to_owned(), format_micros);
        let chosen = point
            .summary
            .as_ref()
            .and_then(|s| s.latency.as_ref())
            .map(|l| percentile.of(l));
        let _ = writeln!(
            out,
            "{mark}{i:>3}  {}  {:>10.1}  {:>9}  {:>9}  {:>6}  {:>9}  {:>8}  {:>8}  {}",
            pad(&point.label, label_width),
            point.throughput(),
            micros(point.latency(|l| l.p50_micros)),
            micros(chosen),
            point
                .cpu_percent
                .map_or_else(|| "-".to_owned(), |c| format!("{c:.0}")),
            point.rss_bytes.map_or_else(|| "-".to_owned(), format_bytes),
            if point.stable { "yes" } else { "no" },
            point
                .summary
                .as_ref()
                .and_then(|summary| summary.validity.as_ref())
                .map_or_else(|| "-".to_owned(), |validity| validity.verdict.to_string()),
            point.verdict
        );
    }
    let _ = writeln!(
        out,
        "\n(* Pareto set, throughput up and {percentile} down; > recommended)"
    );
    let pareto: Vec<String> = document
        .pareto
        .iter()
        .filter_map(|&i| document.points.get(i).map(|p| format!("#{i} {}", p.label)))
        .collect();
    let _ = writeln!(
        out,
        "Pareto set: {}",
        if pareto.is_empty() {
            "-".to_owned()
        } else {
            pareto.join(", ")
        }
    );
    let unstable: Vec<&SweepPoint> = document.points.iter().filter(|p| !p.stable).collect();
    if !unstable.is_empty() {
        let _ = writeln!(out, "\nUnstable points (never recommended):");
        for point in unstable {
            if let PointStability::Unstable { reason } = &point.stability {
                let _ = writeln!(out, "  {}: {reason} ({} runs)", point.label, point.attempts);
            }
        }
    }
    let doubtful: Vec<(&SweepPoint, &crate::metrics::validity::Validity)> = document
        .points
        .iter()
        .filter_map(|point| {
            point
                .summary
                .as_ref()
                .and_then(|summary| summary.validity.as_ref())
                .filter(|validity| validity.verdict != crate::metrics::validity::Verdict::Valid)
                .map(|validity| (point, validity))
        })
        .collect();
    if !doubtful.is_empty() {
        let _ = writeln!(out, "\nDoubtful or invalid points:");
        for (point, validity) in doubtful {
            let _ = writeln!(out, "  {}: {}", point.label, validity.line());
        }
    }
    if !document.skipped.is_empty() {
        let _ = writeln!(out, "\nSkipped:");
        for skipped in &document.skipped {
            let _ = writeln!(out, "  {}: {}", skipped.label, skipped.reason);
        }
    }
    if !document.notes.is_empty() {
        let _ = writeln!(out, "\nNotes:");
        for note in &document.notes {
            let _ = writeln!(out, "  {note}");
        }
    }
    let _ = writeln!(out);
    match &document.recommendation {
        None => {
            let _ = writeln!(out, "Recommendation: none (no stable point passed the SLO)");
        }
        Some(rec) => {
            let Some(point) = document.points.get(rec.point) else {
                let _ = writeln!(out, "Recommendation: point #{} (missing)", rec.point);
                return out;
            };
            let margin = rec.margin.map_or_else(String::new, |m| {
                if m >= 0.0 {
                    format!(", {:.1} % under the {percentile} bound", m * 100.0)
                } else {
                    format!(", {:.1} % over the {percentile} bound", -m * 100.0)
                }
            });
            let _ = writeln!(
                out,
                "Recommendation: #{} {}: {:.1} inf/s, {percentile} {}{margin}",
                rec.point,
                point.label,
                point.throughput(),
                point
                    .summary
                    .as_ref()
                    .and_then(|s| s.latency.as_ref())
                    .map_or_else(|| "-".to_owned(), |l| format_micros(percentile.of(l)))
            );
            for detail in &point.verdict_details {
                let _ = writeln!(out, "  {detail}");
            }
            match &rec.confirmation {
                Some(confirmation) => {
                    let _ = writeln!(
                        out,
                        "  confirmed by a fresh run: {} ({:.1} inf/s, {percentile} {}, {}, {})",
                        if rec.confirmed { "yes" } else { "NO" },
                        confirmation.throughput(),
                        confirmation
                            .summary
                            .as_ref()
                            .and_then(|s| s.latency.as_ref())
                            .map_or_else(|| "-".to_owned(), |l| format_micros(percentile.of(l))),
                        confirmation.verdict,
                        if confirmation.stable {
                            "stable"
                        } else {
                            "unstable"
                        }
                    );
                }
                None => {
                    let _ = writeln!(out, "  not confirmed by a fresh run");
                }
            }
            let _ = writeln!(out, "  reproduce: {}", rec.command);
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn session_files_are_not_sweeps() {
        let path = Path::new("x.json");
        assert!(!SweepDocument::is_sweep_json(r#"{"format_version": 1}"#));
        assert!(SweepDocument::is_sweep_json(r#"{"kind": "sweep"}"#));
        let err = SweepDocument::from_json(r#"{"format_version": 1}"#, path).expect_err("session");
        assert!(err.to_string().contains("not a sweep"), "{err}");
        let err = SweepDocument::from_json(r#"{"kind": "sweep", "format_version": 7}"#, path)
            .expect_err("future");
        assert!(matches!(
            err,
            SessionError::UnsupportedVersion { found: 7, .. }
        ));
    }
}
