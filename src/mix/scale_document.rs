//! The scale search's document (`kind: "mix-scale"`): every probe with
//! each entry's verdict, the limiting entry, the recommendation and its
//! confirmation run; its CSV and its text report.

use serde::{Deserialize, Serialize};

use super::MixDocument;
use crate::{
    engine::RunStatus,
    session::{SessionError, ToolInfo},
    tune::{Percentile, stats::Decision},
    util::{format_micros, format_value},
};

/// The `kind` of a scale search document.
pub const SCALE_KIND: &str = "mix-scale";
/// Its format version.
pub const SCALE_FORMAT_VERSION: u32 = 1;

/// One entry's verdict at one factor.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct EntryJudgement {
    pub name: String,
    /// Its load at this factor: `open 15/s poisson`, `closed 4`.
    pub load: String,
    pub decision: Decision,
    /// Whether its windows agreed (the sweep's stability rule).
    pub stable: bool,
    /// One line per SLO item, then stability and failure reasons.
    pub details: Vec<String>,
    pub requests_per_sec: f64,
    /// The percentile its SLO judges first (p99 without an SLO).
    pub percentile: Percentile,
    /// Its value in this run.
    pub latency_micros: Option<f64>,
    /// Headroom to its first latency bound (negative: over it).
    pub margin: Option<f64>,
}

/// The mix measured at one factor.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ScaleProbe {
    pub factor: f64,
    /// Pass when every entry passed.
    pub decision: Decision,
    pub entries: Vec<EntryJudgement>,
    /// Runs it took (reruns of unstable or undecided probes included).
    pub attempts: u32,
    pub wall_secs: f64,
}

impl ScaleProbe {
    /// Passed, with every entry stable: a factor that can be recommended.
    pub fn is_usable_pass(&self) -> bool {
        self.decision == Decision::Pass && self.entries.iter().all(|entry| entry.stable)
    }
}

/// An entry that failed at the lowest failing factor, and why.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Limiting {
    pub factor: f64,
    pub entry: String,
    pub details: Vec<String>,
}

/// The recommended factor and its confirmation run.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ScaleRecommendation {
    pub factor: f64,
    /// Each entry's load at that factor, `name: load`.
    pub loads: Vec<String>,
    /// True when a fresh run of the mix at this factor passed too.
    pub confirmed: bool,
    /// That run, each entry a full session.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub confirmation: Option<MixDocument>,
}

/// A scale search as saved on disk (`kind: "mix-scale"`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ScaleDocument {
    pub format_version: u32,
    /// Always [`SCALE_KIND`].
    pub kind: String,
    pub tool: ToolInfo,
    pub exported_at: String,
    /// Each entry's load as written (factor 1), `name: load`.
    pub base_loads: Vec<String>,
    /// Every factor measured, in order.
    pub probes: Vec<ScaleProbe>,
    /// The highest factor that passed.
    pub best_factor: Option<f64>,
    /// The lowest factor that failed above it.
    pub failed_above: Option<f64>,
    /// The entries that failed there, worst margin first.
    pub limiting: Vec<Limiting>,
    pub recommendation: Option<ScaleRecommendation>,
    /// `completed`, `stopped` or `budget spent`.
    pub status: String,
    pub notes: Vec<String>,
    /// The thread budget and other warnings about the mix.
    pub warnings: Vec<String>,
    pub wall_secs: f64,
}

impl ScaleDocument {
    /// True when `text` is JSON with `"kind": "mix-scale"`.
    pub fn is_scale_json(text: &str) -> bool {
        crate::session::kinds::document_kind(text).as_deref() == Some(SCALE_KIND)
    }

    /// Parses the document; `path` is only used in messages.
    pub fn from_json(text: &str, path: &std::path::Path) -> Result<Self, SessionError> {
        crate::session::kinds::parse_kind(text, path, Some(SCALE_KIND), &[SCALE_FORMAT_VERSION])
    }

    /// Writes the document as pretty JSON, atomically.
    pub fn write_json(&self, path: &std::path::Path) -> Result<(), SessionError> {
        crate::session::kinds::write_pretty_json(self, path)
    }

    /// `scale.csv`: one row per probe and entry.
    pub fn to_csv(&self) -> Result<Vec<u8>, SessionError> {
        let rows: Vec<ScaleCsvRow> = self
            .probes
            .iter()
            .enumerate()
            .flat_map(|(index, probe)| {
                probe.entries.iter().map(move |entry| ScaleCsvRow {
                    probe: index + 1,
                    factor: probe.factor,
                    mix_decision: probe.decision,
                    entry: entry.name.clone(),
                    load: entry.load.clone(),
                    decision: entry.decision,
                    stable: entry.stable,
                    requests_per_sec: entry.requests_per_sec,
                    percentile: entry.percentile.to_string(),
                    latency_micros: entry.latency_micros,
                    margin: entry.margin,
                    attempts: probe.attempts,
                })
            })
            .collect();
        crate::session::export::to_csv(&rows)
    }

    /// True when a recommendation was made and confirmed (or confirmation
    /// was off).
    pub fn found(&self) -> bool {
        self.recommendation.is_some()
    }
}

#[derive(Debug, Serialize)]
struct ScaleCsvRow {
    probe: usize,
    factor: f64,
    mix_decision: Decision,
    entry: String,
    load: String,
    decision: Decision,
    stable: bool,
    requests_per_sec: f64,
    percentile: String,
    latency_micros: Option<f64>,
    margin: Option<f64>,
    attempts: u32,
}

/// The scale search report: the probes (one column per entry), the
/// highest passing factor, the limiting entry and the recommendation.
pub fn render_scale_report(document: &ScaleDocument) -> String {
    use std::fmt::Write as _;
    let mut text = String::new();
    let _ = writeln!(
        text,
        "Scale search of a mix of {} models: every entry's load × a common factor ({} {}, {}, {:.0} s)",
        document.base_loads.len(),
        document.tool.name,
        document.tool.version,
        document.status,
        document.wall_secs
    );
    let _ = writeln!(text, "At ×1: {}", document.base_loads.join("; "));
    for warning in &document.warnings {
        let _ = writeln!(text, "warning: {warning}");
    }
    let names: Vec<&str> = document
        .probes
        .first()
        .map(|probe| probe.entries.iter().map(|e| e.name.as_str()).collect())
        .unwrap_or_default();
    let _ = write!(text, "\n{:>8}", "factor");
    for name in &names {
        let _ = write!(text, "  {:<34}", name);
    }
    let _ = writeln!(text, "  mix");
    for probe in &document.probes {
        let _ = write!(text, "{:>8}", format!("×{}", format_value(probe.factor)));
        for entry in &probe.entries {
            let cell = format!(
                "{}/s {} {} {}{}",
                format_value(entry.requests_per_sec),
                entry.percentile,
                entry
                    .latency_micros
                    .map_or_else(|| "-".to_owned(), format_micros),
                entry.decision,
                if entry.stable { "" } else { " (unstable)" }
            );
            let _ = write!(text, "  {cell:<34}");
        }
        let retries = if probe.attempts > 1 {
            format!(" ({} runs)", probe.attempts)
        } else {
            String::new()
        };
        let _ = writeln!(text, "  {}{retries}", probe.decision);
    }
    let _ = writeln!(text);
    match (document.best_factor, document.failed_above) {
        (Some(best), Some(high)) => {
            let _ = writeln!(
                text,
                "Highest passing factor: ×{} (×{} fails)",
                format_value(best),
                format_value(high)
            );
        }
        (Some(best), None) => {
            let _ = writeln!(text, "Highest passing factor: ×{}", format_value(best));
        }
        (None, _) => {
            let _ = writeln!(text, "No factor passed.");
        }
    }
    for limiting in &document.limiting {
        let _ = writeln!(
            text,
            "Limiting at ×{}: {}: {}",
            format_value(limiting.factor),
            limiting.entry,
            limiting.details.join("; ")
        );
    }
    match &document.recommendation {
        Some(recommendation) => {
            let _ = writeln!(
                text,
                "Recommendation: ×{} ({}), {}",
                format_value(recommendation.factor),
                recommendation.loads.join(", "),
                if recommendation.confirmed {
                    "confirmed by a fresh run of the mix"
                } else if recommendation.confirmation.is_some() {
                    "NOT upheld by its confirmation run"
                } else {
                    "not confirmed"
                }
            );
            if let Some(confirmation) = &recommendation.confirmation {
                for model in &confirmation.models {
                    let run = &model.session.run;
                    let percentile = run
                        .config
                        .slo
                        .first()
                        .map_or(Percentile::P99, |bound| bound.percentile);
                    let value = run
                        .summary
                        .as_ref()
                        .and_then(|s| s.latency.as_ref())
                        .map_or_else(|| "-".to_owned(), |l| format_micros(percentile.of(l)));
                    let status = if run.status == RunStatus::Completed {
                        String::new()
                    } else {
                        format!(" ({:?})", run.status).to_lowercase()
                    };
                    let _ = writeln!(
                        text,
                        "  confirmation {}: {percentile} {value}{status}",
                        model.name
                    );
                }
            }
        }
        None => {
            let _ = writeln!(
                text,
                "Recommendation: none (no factor passed with every entry stable)"
            );
        }
    }
    for note in &document.notes {
        let _ = writeln!(text, "note: {note}");
    }
    let _ = writeln!(
        text,
        "\nEach entry is judged as a sweep point is: the 99 %-confidence test on the requests over each latency bound, saturation of open-loop rates, and its windows' stability; the mix passes a factor when every entry does."
    );
    text
}
