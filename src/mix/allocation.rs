//! The allocation search of a mix (`sweep --mix MIX.toml --search scale
//! --vary det.instances=1,2`): one entry's setting (its instances, threads,
//! batch, precision...) takes each value in turn, the scale search runs for
//! each, and the document compares the capacity factors: "give the
//! detector two sessions, or the classifier?" answered with measured
//! factors, each confirmed.

use std::sync::atomic::{AtomicBool, Ordering};

use serde::{Deserialize, Serialize};

use super::{MixError, MixSpec, ScaleDocument, ScaleOptions, render_scale_report, search_scale};
use crate::{
    session::{SessionError, ToolInfo},
    tune::{VaryDimension, VaryKey},
    util::format_value,
};

/// The `kind` of an allocation search document.
pub const ALLOCATION_KIND: &str = "mix-allocation";
/// Its format version.
pub const ALLOCATION_FORMAT_VERSION: u32 = 1;

/// One entry's setting to vary: `det.instances=1,2`.
#[derive(Debug, Clone, PartialEq)]
pub struct EntryVary {
    /// The entry's name in the mix.
    pub entry: String,
    pub dimension: VaryDimension,
}

impl EntryVary {
    /// Parses `ENTRY.KEY=v1,v2`; the key is a sweep `--vary` key other than
    /// the load (which the scale search varies itself).
    pub fn parse(text: &str) -> Result<Self, MixError> {
        let bad = |reason: String| MixError::BadVary {
            text: text.to_owned(),
            reason,
        };
        let (entry, rest) = text
            .split_once('.')
            .filter(|(entry, _)| !entry.is_empty() && !entry.contains('='))
            .ok_or_else(|| bad("expected ENTRY.KEY=v1,v2 (e.g. det.instances=1,2)".to_owned()))?;
        let dimension: VaryDimension = rest.parse().map_err(|err| bad(format!("{err}")))?;
        if matches!(dimension.key, VaryKey::Rate | VaryKey::Concurrency) {
            return Err(bad(format!(
                "{} is the load, which the scale search multiplies itself",
                dimension.key
            )));
        }
        Ok(Self {
            entry: entry.to_owned(),
            dimension,
        })
    }

    /// `det.instances`.
    pub fn label(&self) -> String {
        format!("{}.{}", self.entry, self.dimension.key)
    }
}

/// The scale search of one value.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AllocationSearch {
    /// `det.instances=2`.
    pub label: String,
    /// Its scale search, or why it could not run.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub search: Option<ScaleDocument>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
}

impl AllocationSearch {
    /// The recommended factor when a fresh run confirmed it.
    pub fn confirmed_factor(&self) -> Option<f64> {
        self.search
            .as_ref()
            .and_then(|search| search.recommendation.as_ref())
            .filter(|recommendation| recommendation.confirmed)
            .map(|recommendation| recommendation.factor)
    }
}

/// An allocation search as saved on disk (`kind: "mix-allocation"`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AllocationDocument {
    pub format_version: u32,
    /// Always [`ALLOCATION_KIND`].
    pub kind: String,
    pub tool: ToolInfo,
    pub exported_at: String,
    /// `det.instances`.
    pub varied: String,
    pub searches: Vec<AllocationSearch>,
    /// The label of the value with the highest confirmed factor.
    pub best: Option<String>,
}

/// Runs the scale search once per value of `vary`. A value the entry's
/// config refuses is kept with its reason; the others go on. `stop` ends
/// the search under way and skips the rest.
pub fn search_allocations(
    spec: &MixSpec,
    vary: &EntryVary,
    options: &ScaleOptions,
    progress: &mut dyn FnMut(&str),
    stop: &AtomicBool,
) -> Result<AllocationDocument, MixError> {
    let index = spec
        .entries
        .iter()
        .position(|entry| entry.name == vary.entry)
        .ok_or_else(|| MixError::BadVary {
            text: vary.label(),
            reason: format!(
                "the mix has no entry {:?} (entries: {})",
                vary.entry,
                spec.entries
                    .iter()
                    .map(|entry| entry.name.as_str())
                    .collect::<Vec<_>>()
                    .join(", ")
            ),
        })?;
    let mut searches = Vec::with_capacity(vary.dimension.values.len());
    for value in &vary.dimension.values {
        if stop.load(Ordering::Relaxed) {
            break;
        }
        let label = format!("{}={value}", vary.label());
        let mut varied = spec.clone();
        let config = &mut varied.entries[index].config;
        let applied = vary
            .dimension
            .key
            .apply(value, config)
            .map_err(|err| err.to_string())
            .and_then(|()| config.validate().map_err(|err| err.to_string()));
        if let Err(error) = applied {
            searches.push(AllocationSearch {
                label,
                search: None,
                error: Some(error),
            });
            continue;
        }
        let mut said = |what: &str| progress(&format!("{label}: {what}"));
        let search = search_scale(&varied, options, &mut said, stop)?;
        searches.push(AllocationSearch {
            label,
            search: Some(search),
            error: None,
        });
    }
    let best = searches
        .iter()
        .filter_map(|search| search.confirmed_factor().map(|factor| (search, factor)))
        .max_by(|a, b| a.1.total_cmp(&b.1))
        .map(|(search, _)| search.label.clone());
    Ok(AllocationDocument {
        format_version: ALLOCATION_FORMAT_VERSION,
        kind: ALLOCATION_KIND.to_owned(),
        tool: ToolInfo::this_build(),
        exported_at: crate::util::rfc3339_now(),
        varied: vary.label(),
        searches,
        best,
    })
}

impl AllocationDocument {
    /// True when `text` is JSON with `"kind": "mix-allocation"`.
    pub fn is_allocation_json(text: &str) -> bool {
        crate::session::kinds::document_kind(text).as_deref() == Some(ALLOCATION_KIND)
    }

    /// Parses the document; `path` is only used in messages.
    pub fn from_json(text: &str, path: &std::path::Path) -> Result<Self, SessionError> {
        crate::session::kinds::parse_kind(
            text,
            path,
            Some(ALLOCATION_KIND),
            &[ALLOCATION_FORMAT_VERSION],
        )
    }

    /// Writes the document as pretty JSON, atomically.
    pub fn write_json(&self, path: &std::path::Path) -> Result<(), SessionError> {
        crate::session::kinds::write_pretty_json(self, path)
    }
}

/// The allocation report: each value's scale search, then the comparison.
pub fn render_allocation_report(document: &AllocationDocument) -> String {
    use std::fmt::Write as _;
    let mut text = String::new();
    for search in &document.searches {
        let _ = writeln!(text, "=== {} ===", search.label);
        match (&search.search, &search.error) {
            (Some(scale), _) => text.push_str(&render_scale_report(scale)),
            (None, Some(error)) => {
                let _ = writeln!(text, "not searched: {error}");
            }
            (None, None) => {}
        }
        text.push('\n');
    }
    let _ = writeln!(text, "Allocation of {}:", document.varied);
    for search in &document.searches {
        let line = match &search.search {
            Some(scale) => {
                let highest = scale
                    .best_factor
                    .map_or_else(|| "none".to_owned(), |f| format!("×{}", format_value(f)));
                let recommended = scale.recommendation.as_ref().map_or_else(
                    || "no recommendation".to_owned(),
                    |r| {
                        format!(
                            "recommended ×{} ({})",
                            format_value(r.factor),
                            if r.confirmed {
                                "confirmed"
                            } else {
                                "not confirmed"
                            }
                        )
                    },
                );
                format!("highest passing {highest}, {recommended}")
            }
            None => format!(
                "not searched ({})",
                search.error.as_deref().unwrap_or("stopped")
            ),
        };
        let _ = writeln!(text, "  {}: {line}", search.label);
    }
    match &document.best {
        Some(best) => {
            let _ = writeln!(
                text,
                "Best: {best}, the highest confirmed factor on the mix's load."
            );
        }
        None => {
            let _ = writeln!(text, "Best: none (no value has a confirmed factor).");
        }
    }
    text
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_entry_setting_parses_and_the_load_is_refused() {
        let vary = EntryVary::parse("det.instances=1,2").expect("parses");
        assert_eq!(vary.entry, "det");
        assert_eq!(vary.dimension.key, VaryKey::Instances);
        assert_eq!(vary.dimension.values, ["1", "2"]);
        assert_eq!(vary.label(), "det.instances");
        let threads = EntryVary::parse("ocr.det.intra-threads=1,2");
        assert!(threads.is_err(), "the first dot ends the entry name");
        for bad in [
            "instances=1,2",
            ".instances=1",
            "det.rate=1,2",
            "det.frob=1",
        ] {
            let err = EntryVary::parse(bad).expect_err(bad);
            assert!(err.to_string().contains(bad), "{err}");
        }
    }
}
