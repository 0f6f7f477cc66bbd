//! The session document: a [`RunRecord`] with a header (format version,
//! tool version, export time), and the sources of a merged session.

use std::path::Path;

use serde::{Deserialize, Serialize};

use super::{error::SessionError, kinds};
use crate::engine::{RunRecord, RunStatus};
use crate::metrics::RunSummary;

/// The format version this build writes. Version 2 added send lateness,
/// percentile confidence intervals, the SLO outcome, the generator's cost,
/// saturation and the validity verdict to the summary; version 1 files
/// read with those fields absent.
pub const FORMAT_VERSION: u32 = 2;
/// The versions this build reads.
pub const SUPPORTED_FORMAT_VERSIONS: &[u32] = &[1, 2];
/// Name of the tool in session files.
pub const TOOL_NAME: &str = "onnx-workbench";

/// Identifies the program that wrote a session.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ToolInfo {
    pub name: String,
    pub version: String,
}

impl ToolInfo {
    /// This program, as documents it writes name it.
    pub fn this_build() -> Self {
        Self {
            name: TOOL_NAME.to_owned(),
            version: env!("CARGO_PKG_VERSION").to_owned(),
        }
    }
}

/// A profiling session as saved on disk.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SessionDocument {
    pub format_version: u32,
    pub tool: ToolInfo,
    /// When the document was written (RFC 3339, UTC).
    pub exported_at: String,
    #[serde(flatten)]
    pub run: RunRecord,
    /// A merged session (`report --merge`): each source machine's summary;
    /// empty for a session of one run.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub merged_from: Vec<MergedSource>,
}

impl SessionDocument {
    /// Wraps a finished run.
    pub fn new(run: RunRecord) -> Self {
        Self {
            format_version: FORMAT_VERSION,
            tool: ToolInfo::this_build(),
            exported_at: crate::util::rfc3339_now(),
            run,
            merged_from: Vec::new(),
        }
    }

    /// Reads a session file of any supported version.
    pub fn load(path: &Path) -> Result<Self, SessionError> {
        Self::from_json(&read_document(path)?, path)
    }

    /// Parses session JSON; `path` is only used in messages.
    pub fn from_json(text: &str, path: &Path) -> Result<Self, SessionError> {
        kinds::parse_kind(text, path, None, SUPPORTED_FORMAT_VERSIONS)
    }
}

/// The text of a session or sweep file, with the path in the error.
/// Parsing takes a few times the text's size in memory: that is checked
/// against the available memory before the file is read.
pub(super) fn read_document(path: &Path) -> Result<String, SessionError> {
    /// Memory one byte of session JSON takes while it is parsed, at most.
    const PARSE_FACTOR: u64 = 4;
    let read_error = |source| SessionError::Read {
        source,
        path: path.to_path_buf(),
    };
    let len = std::fs::metadata(path).map_err(read_error)?.len();
    crate::util::check_fits_in_memory(len.saturating_mul(PARSE_FACTOR), || {
        format!(
            "reading the {} session file {}",
            crate::util::format_bytes(len),
            path.display()
        )
    })?;
    std::fs::read_to_string(path).map_err(read_error)
}

/// One source session of a merged session: its machine and its summary.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct MergedSource {
    /// The session file's name as given (no folder).
    pub file_name: String,
    /// The load machine's host name.
    pub host_name: String,
    /// When its run started (RFC 3339).
    pub started_at: String,
    /// Start of its measurement after the merged one's, in seconds.
    pub offset_secs: f64,
    /// How its run ended.
    pub status: RunStatus,
    /// Its worker threads (closed-loop clients, open-loop servers).
    pub concurrency: u32,
    /// Its open-loop rate, requests per second; `None` in closed loop.
    #[serde(default)]
    pub rate_per_sec: Option<f64>,
    /// Its own summary.
    pub summary: Option<RunSummary>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn garbage_and_future_versions_are_clear_errors() {
        let path = Path::new("x.json");
        let err = SessionDocument::from_json("not json", path).expect_err("garbage");
        assert!(err.to_string().contains("invalid JSON"), "{err}");
        let err = SessionDocument::from_json("{}", path).expect_err("no version");
        assert!(err.to_string().contains("no format_version"), "{err}");
        let err =
            SessionDocument::from_json(r#"{"format_version": 99}"#, path).expect_err("future");
        assert!(
            matches!(err, SessionError::UnsupportedVersion { found: 99, .. }),
            "{err}"
        );
    }
}
