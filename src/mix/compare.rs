//! Two runs of a mix compared entry by entry (`report A.json --compare
//! B.json`; two sessions compare as one entry): throughput and latency of
//! each entry in A and B, and whether each difference stands out of the
//! runs' own noise: the percentiles' 95 % intervals must not overlap, and
//! the throughput difference must exceed twice its standard error over
//! the runs' one-second windows.

use std::fmt::Write as _;

use super::MixDocument;
use crate::{
    metrics::LatencySummary,
    session::SessionDocument,
    util::{format_micros, format_value},
};

/// What a difference between A and B amounts to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Change {
    /// B is better, beyond the noise.
    Better,
    /// B is worse, beyond the noise.
    Worse,
    /// Within the runs' noise (or not measurable).
    WithinNoise,
}

impl std::fmt::Display for Change {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Self::Better => "better",
            Self::Worse => "worse",
            Self::WithinNoise => "within noise",
        })
    }
}

/// A throughput's mean over the full windows and its standard error.
fn throughput_with_error(session: &SessionDocument) -> Option<(f64, f64)> {
    let rates: Vec<f64> = session
        .run
        .timeseries
        .iter()
        .filter(|window| window.duration_secs >= 0.999)
        .map(|window| window.inferences_per_sec)
        .collect();
    let n = rates.len() as f64;
    if rates.len() < 2 {
        return None;
    }
    let mean = rates.iter().sum::<f64>() / n;
    let variance = rates.iter().map(|r| (r - mean).powi(2)).sum::<f64>() / (n - 1.0);
    Some((mean, (variance / n).sqrt()))
}

/// Throughput of B against A: better when higher beyond twice the
/// combined standard error.
pub fn throughput_change(a: &SessionDocument, b: &SessionDocument) -> Change {
    match (throughput_with_error(a), throughput_with_error(b)) {
        (Some((mean_a, se_a)), Some((mean_b, se_b))) => {
            let noise = 2.0 * (se_a.powi(2) + se_b.powi(2)).sqrt();
            if mean_b - mean_a > noise {
                Change::Better
            } else if mean_a - mean_b > noise {
                Change::Worse
            } else {
                Change::WithinNoise
            }
        }
        _ => Change::WithinNoise,
    }
}

/// A latency percentile of B against A: better when B's 95 % interval lies
/// wholly below A's.
pub fn latency_change(a: Option<[f64; 2]>, b: Option<[f64; 2]>) -> Change {
    match (a, b) {
        (Some([low_a, _]), Some([_, high_b])) if high_b < low_a => Change::Better,
        (Some([_, high_a]), Some([low_b, _])) if low_b > high_a => Change::Worse,
        _ => Change::WithinNoise,
    }
}

fn percent(a: f64, b: f64) -> String {
    if a > 0.0 {
        format!("{:+.1} %", (b - a) / a * 100.0)
    } else {
        "-".to_owned()
    }
}

/// One entry's lines of the comparison.
fn entry_lines(text: &mut String, name: &str, a: &SessionDocument, b: &SessionDocument) {
    let summary = |s: &SessionDocument| s.run.summary.clone();
    let (Some(sa), Some(sb)) = (summary(a), summary(b)) else {
        let _ = writeln!(text, "{name:<14} (a run measured nothing)");
        return;
    };
    let _ = writeln!(
        text,
        "{name:<14} {:<10} {:>12} {:>12} {:>9}  {}",
        "inf/s",
        format_value(sa.inferences_per_sec),
        format_value(sb.inferences_per_sec),
        percent(sa.inferences_per_sec, sb.inferences_per_sec),
        throughput_change(a, b)
    );
    type Pick = fn(&LatencySummary) -> (f64, Option<[f64; 2]>);
    let percentiles: [(&str, Pick); 2] = [
        ("p50", |l| (l.p50_micros, l.p50_ci_micros)),
        ("p99", |l| (l.p99_micros, l.p99_ci_micros)),
    ];
    if let (Some(la), Some(lb)) = (sa.latency, sb.latency) {
        for (label, pick) in percentiles {
            let ((va, ia), (vb, ib)) = (pick(&la), pick(&lb));
            let _ = writeln!(
                text,
                "{:<14} {label:<10} {:>12} {:>12} {:>9}  {}",
                "",
                format_micros(va),
                format_micros(vb),
                percent(va, vb),
                latency_change(ia, ib)
            );
        }
    }
    let verdict = |s: &crate::metrics::RunSummary| {
        s.slo.as_ref().map_or_else(
            || "-".to_owned(),
            |outcome| format!("{:?}", outcome.decision).to_lowercase(),
        )
    };
    let _ = writeln!(
        text,
        "{:<14} {:<10} {:>12} {:>12}",
        "",
        "SLO",
        verdict(&sa),
        verdict(&sb)
    );
}

/// Two mix documents compared entry by entry (matched by name).
pub fn render_mix_comparison(a: &MixDocument, b: &MixDocument) -> String {
    let mut text = String::new();
    let _ = writeln!(
        text,
        "Mix A ({} models) against mix B ({} models), entry by entry\n",
        a.models.len(),
        b.models.len()
    );
    header(&mut text);
    for model in &a.models {
        match b.models.iter().find(|other| other.name == model.name) {
            Some(other) => entry_lines(&mut text, &model.name, &model.session, &other.session),
            None => {
                let _ = writeln!(text, "{:<14} only in A", model.name);
            }
        }
    }
    for model in b
        .models
        .iter()
        .filter(|m| !a.models.iter().any(|o| o.name == m.name))
    {
        let _ = writeln!(text, "{:<14} only in B", model.name);
    }
    footer(&mut text);
    text
}

/// Two sessions compared as one entry.
pub fn render_session_comparison(a: &SessionDocument, b: &SessionDocument) -> String {
    let mut text = String::from("Session A against session B\n\n");
    header(&mut text);
    entry_lines(&mut text, "session", a, b);
    footer(&mut text);
    text
}

fn header(text: &mut String) {
    let _ = writeln!(
        text,
        "{:<14} {:<10} {:>12} {:>12} {:>9}  B against A",
        "entry", "figure", "A", "B", "change"
    );
}

fn footer(text: &mut String) {
    let _ = writeln!(
        text,
        "\nBetter or worse only beyond the runs' noise: a percentile's 95 % intervals must not overlap; throughput must differ by more than twice its standard error over the 1-second windows. Client-side figures."
    );
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_change_counts_only_beyond_the_intervals() {
        assert_eq!(
            latency_change(Some([90.0, 110.0]), Some([50.0, 80.0])),
            Change::Better
        );
        assert_eq!(
            latency_change(Some([90.0, 110.0]), Some([120.0, 130.0])),
            Change::Worse
        );
        assert_eq!(
            latency_change(Some([90.0, 110.0]), Some([100.0, 130.0])),
            Change::WithinNoise,
            "overlapping intervals"
        );
        assert_eq!(latency_change(None, Some([1.0, 2.0])), Change::WithinNoise);
    }
}
