//! What the saved documents of every kind share: the `kind` field that
//! tells them apart (`sweep`, `mix`, `mix-scale`, `mix-allocation`; a
//! session has none), parsing one of a supported version, and the pretty,
//! atomic JSON write.

use std::path::Path;

use serde::{Serialize, de::DeserializeOwned};

use super::error::SessionError;

/// The `kind` of a JSON document, when it is JSON with one.
pub fn document_kind(text: &str) -> Option<String> {
    serde_json::from_str::<serde_json::Value>(text)
        .ok()?
        .get("kind")?
        .as_str()
        .map(str::to_owned)
}

/// Parses a document of `kind` (`None`: a session, which has no kind)
/// whose `format_version` is one of `supported`; `path` is only used in
/// messages.
pub fn parse_kind<T: DeserializeOwned>(
    text: &str,
    path: &Path,
    kind: Option<&str>,
    supported: &[u32],
) -> Result<T, SessionError> {
    let not_one = |reason: String| SessionError::NotASession {
        reason,
        path: path.to_path_buf(),
    };
    let value: serde_json::Value =
        serde_json::from_str(text).map_err(|err| not_one(format!("invalid JSON ({err})")))?;
    if let Some(kind) = kind
        && value.get("kind").and_then(serde_json::Value::as_str) != Some(kind)
    {
        return Err(not_one(format!(
            "not a {kind} document (no \"kind\": \"{kind}\")"
        )));
    }
    let Some(version) = value
        .get("format_version")
        .and_then(serde_json::Value::as_u64)
    else {
        return Err(not_one("no format_version field".to_owned()));
    };
    let version = u32::try_from(version).unwrap_or(u32::MAX);
    if !supported.contains(&version) {
        return Err(SessionError::UnsupportedVersion {
            found: version,
            supported: supported.to_vec(),
            path: path.to_path_buf(),
        });
    }
    serde_json::from_value(value).map_err(|err| not_one(format!("unexpected content ({err})")))
}

/// Writes `value` as pretty JSON, atomically.
pub fn write_pretty_json<T: Serialize>(value: &T, path: &Path) -> Result<(), SessionError> {
    let text =
        serde_json::to_vec_pretty(value).map_err(|err| SessionError::Encode(err.to_string()))?;
    crate::util::write_atomic(path, &text)?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_document_is_told_by_its_kind_and_version() {
        assert_eq!(document_kind(r#"{"kind": "mix"}"#).as_deref(), Some("mix"));
        assert_eq!(document_kind(r#"{"format_version": 1}"#), None);
        assert_eq!(document_kind("not json"), None);
        let path = Path::new("x.json");
        let ok: serde_json::Value = parse_kind(
            r#"{"kind": "mix", "format_version": 1}"#,
            path,
            Some("mix"),
            &[1],
        )
        .expect("parses");
        assert_eq!(ok["kind"], "mix");
        let other =
            parse_kind::<serde_json::Value>(r#"{"kind": "sweep"}"#, path, Some("mix"), &[1])
                .expect_err("another kind");
        assert!(other.to_string().contains("not a mix document"), "{other}");
        let newer = parse_kind::<serde_json::Value>(
            r#"{"kind": "mix", "format_version": 9}"#,
            path,
            Some("mix"),
            &[1],
        )
        .expect_err("a newer version");
        assert!(matches!(
            newer,
            SessionError::UnsupportedVersion { found: 9, .. }
        ));
    }
}
