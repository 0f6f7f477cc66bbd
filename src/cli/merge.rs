//! `report --merge A.json B.json ...`: loads the sessions of several load
//! machines, merges them ([`crate::session::merge_sessions`]) and prints the
//! merged session as text or JSON, or writes it with `--export`.

use std::path::Path;

use super::ReportArgs;
use crate::session::{
    SessionDocument, SessionError, SweepDocument, merge_sessions, render_report, write_json,
};

/// Merges the sessions named in `args` (the first and the others).
pub(super) fn merge(args: &ReportArgs) -> anyhow::Result<u8> {
    let paths: Vec<&Path> = std::iter::once(args.session.as_path())
        .chain(args.more_sessions.iter().map(|path| path.as_path()))
        .collect();
    let mut sessions = Vec::with_capacity(paths.len());
    for path in paths {
        let text = std::fs::read_to_string(path).map_err(|source| SessionError::Read {
            source,
            path: path.to_path_buf(),
        })?;
        if SweepDocument::is_sweep_json(&text) {
            return Err(SessionError::NotASession {
                reason: "it is a sweep; merge the sessions of its points' runs instead".to_owned(),
                path: path.to_path_buf(),
            }
            .into());
        }
        let document = SessionDocument::from_json(&text, path)?;
        let file_name = path.file_name().map_or_else(
            || path.display().to_string(),
            |name| name.to_string_lossy().into_owned(),
        );
        sessions.push((file_name, document));
    }
    let merged = merge_sessions(&sessions)?;
    if let Some(export) = &args.export {
        write_json(&merged, export)?;
        eprintln!("merged session written to {}", export.display());
    }
    if args.json {
        outln!("{}", serde_json::to_string_pretty(&merged)?);
    } else {
        out!("{}", render_report(&merged));
    }
    Ok(0)
}
