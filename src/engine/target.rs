//! Where a run sends its requests when it drives an inference server instead
//! of local ONNX Runtime sessions: the parsed `--target` URL, the model name
//! and version, the request timeout. Saved in every session (as part of the
//! config), so sessions of different targets can be told apart.
//!
//! This file holds only the description and its rules; the clients are in
//! `engine::remote`.

use serde::{Deserialize, Serialize};

use crate::field::Field;

use super::headers::Headers;

/// Default time a request may take before it counts as failed.
pub const DEFAULT_TIMEOUT_MILLIS: u64 = 10_000;
/// Longest accepted `--timeout`.
pub const MAX_TIMEOUT_MILLIS: u64 = 3_600_000;

/// The wire protocol of a target.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Protocol {
    /// Open Inference Protocol over gRPC (`grpc://`).
    Grpc,
    /// Open Inference Protocol over HTTP/REST (`http://`).
    Rest,
}

impl std::fmt::Display for Protocol {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Self::Grpc => "gRPC",
            Self::Rest => "REST",
        })
    }
}

/// A model on an Open Inference Protocol server (Triton, KServe, MLServer,
/// OpenVINO Model Server).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RemoteTarget {
    /// The URL as given, e.g. `grpc://host:8001` or `http://host:8000`.
    pub url: String,
    pub protocol: Protocol,
    /// `host:port`.
    pub authority: String,
    /// The model's name on the server.
    pub model_name: String,
    /// The model version; `None` lets the server choose.
    #[serde(default)]
    pub model_version: Option<String>,
    /// A request taking longer than this fails (milliseconds).
    pub timeout_millis: u64,
    /// gRPC only: HTTP/2 connections shared by all workers on one runtime;
    /// `None` gives each worker its own connection and runtime.
    #[serde(default)]
    pub grpc_channels: Option<u32>,
    /// Headers sent on every call (`--header`); saved as their keys only.
    #[serde(default, skip_serializing_if = "Headers::is_empty")]
    pub headers: Headers,
}

/// A checked `--target` URL.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TargetUrl {
    pub url: String,
    pub protocol: Protocol,
    /// `host:port`.
    pub authority: String,
}

impl TargetUrl {
    /// `grpc://HOST:PORT` or `http://HOST:PORT` (a trailing `/` is allowed).
    pub fn parse(url: &str) -> Result<Self, TargetError> {
        let (protocol, rest) = if let Some(rest) = url.strip_prefix("grpc://") {
            (Protocol::Grpc, rest)
        } else if let Some(rest) = url.strip_prefix("http://") {
            (Protocol::Rest, rest)
        } else if url.starts_with("https://") || url.starts_with("grpcs://") {
            return Err(TargetError::Https(url.to_owned()));
        } else {
            return Err(TargetError::BadScheme(url.to_owned()));
        };
        let authority = rest.trim_end_matches('/');
        let valid_port = authority
            .rsplit_once(':')
            .is_some_and(|(host, port)| !host.is_empty() && port.parse::<u16>().is_ok());
        if !valid_port || authority.contains('/') {
            return Err(TargetError::BadAuthority(url.to_owned()));
        }
        Ok(Self {
            url: url.to_owned(),
            protocol,
            authority: authority.to_owned(),
        })
    }
}

/// Why a target was refused.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum TargetError {
    #[error("{target} {0:?}: expected grpc://HOST:PORT or http://HOST:PORT", target = Field::Target)]
    BadScheme(String),
    #[error("{target} {0:?}: expected HOST:PORT after the scheme (no path)", target = Field::Target)]
    BadAuthority(String),
    #[error(
        "{target} {0:?}: https is not supported; use a plain http:// endpoint or a TLS-terminating proxy", target = Field::Target)]
    Https(String),
    #[error(
        "{} needs {} (the model's name on the server)",
        Field::Target,
        Field::ModelName
    )]
    NoModelName,
    #[error("{} must not be empty or contain '/'", Field::ModelName)]
    BadModelName,
    #[error("{} must be between 1 ms and 1 h", Field::Timeout)]
    BadTimeout,
    #[error(
        "{} must be at least 1 and is for grpc:// targets only",
        Field::GrpcChannels
    )]
    BadChannels,
    #[error("{0} has no meaning against a remote server: {reason}", reason = not_remote_reason(*.0))]
    NotRemote(crate::field::Field),
    #[error(transparent)]
    Header(#[from] super::headers::HeaderError),
}

impl RemoteTarget {
    /// Parses `--target URL` with its model. The URL's port is required.
    pub fn parse(
        url: &str,
        model_name: Option<&str>,
        model_version: Option<&str>,
        timeout_millis: Option<u64>,
    ) -> Result<Self, TargetError> {
        let TargetUrl {
            url,
            protocol,
            authority,
        } = TargetUrl::parse(url)?;
        let model_name = model_name.ok_or(TargetError::NoModelName)?;
        if model_name.is_empty() || model_name.contains('/') {
            return Err(TargetError::BadModelName);
        }
        let timeout_millis = timeout_millis.unwrap_or(DEFAULT_TIMEOUT_MILLIS);
        if timeout_millis == 0 || timeout_millis > MAX_TIMEOUT_MILLIS {
            return Err(TargetError::BadTimeout);
        }
        Ok(Self {
            url,
            protocol,
            authority,
            model_name: model_name.to_owned(),
            model_version: model_version.filter(|v| !v.is_empty()).map(str::to_owned),
            timeout_millis,
            grpc_channels: None,
            headers: Headers::default(),
        })
    }

    /// The target in one line: `NAME[:VERSION] on URL (protocol)`.
    pub fn describe(&self) -> String {
        let version = self
            .model_version
            .as_ref()
            .map(|v| format!(" version {v}"))
            .unwrap_or_default();
        let headers = if self.headers.is_empty() {
            String::new()
        } else {
            format!(", headers {}", self.headers.describe())
        };
        format!(
            "{}{version} on {} ({}){headers}",
            self.model_name, self.url, self.protocol
        )
    }

    /// The rules of a remote run: what a local-only option would mean here.
    /// `local` lists the local options and whether each is set.
    pub fn check(&self, local: &[(crate::field::Field, bool)]) -> Result<(), TargetError> {
        if self.timeout_millis == 0 || self.timeout_millis > MAX_TIMEOUT_MILLIS {
            return Err(TargetError::BadTimeout);
        }
        if self.model_name.is_empty() || self.model_name.contains('/') {
            return Err(TargetError::BadModelName);
        }
        if self.grpc_channels == Some(0)
            || (self.grpc_channels.is_some() && self.protocol != Protocol::Grpc)
        {
            return Err(TargetError::BadChannels);
        }
        self.headers.check()?;
        for (field, set) in local {
            if *set {
                return Err(TargetError::NotRemote(*field));
            }
        }
        Ok(())
    }
}

/// Why a local option is refused remotely.
pub fn not_remote_reason(field: crate::field::Field) -> &'static str {
    use crate::field::Field;
    match field {
        Field::MaxBatch => {
            "batching happens on the server (e.g. Triton's dynamic batcher); send more concurrent requests instead"
        }
        Field::Transform => {
            "the server runs its own copy of the model; transform the model and deploy the result instead"
        }
        Field::ProfileEvery => "per-layer profiles come from a local ONNX Runtime session",
        _ => "it configures local ONNX Runtime sessions, which a remote run does not create",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_grpc_and_http_targets() {
        let target = RemoteTarget::parse("grpc://localhost:8001", Some("resnet"), Some("2"), None)
            .expect("grpc");
        assert_eq!(target.protocol, Protocol::Grpc);
        assert_eq!(target.authority, "localhost:8001");
        assert_eq!(target.model_version.as_deref(), Some("2"));
        assert_eq!(target.timeout_millis, DEFAULT_TIMEOUT_MILLIS);
        let target =
            RemoteTarget::parse("http://10.0.0.2:8000/", Some("m"), None, Some(500)).expect("http");
        assert_eq!(target.protocol, Protocol::Rest);
        assert_eq!(target.authority, "10.0.0.2:8000");
        assert!(
            target
                .describe()
                .contains("m on http://10.0.0.2:8000/ (REST)")
        );
    }

    #[test]
    fn refuses_bad_targets_with_a_reason() {
        let parse = |url: &str| RemoteTarget::parse(url, Some("m"), None, None);
        assert!(matches!(
            parse("localhost:8001"),
            Err(TargetError::BadScheme(_))
        ));
        assert!(matches!(parse("https://h:1"), Err(TargetError::Https(_))));
        assert!(matches!(
            parse("grpc://host"),
            Err(TargetError::BadAuthority(_))
        ));
        assert!(matches!(
            parse("http://host:99999"),
            Err(TargetError::BadAuthority(_))
        ));
        assert!(matches!(
            parse("http://host:80/v2"),
            Err(TargetError::BadAuthority(_))
        ));
        assert_eq!(
            RemoteTarget::parse("grpc://h:1", None, None, None),
            Err(TargetError::NoModelName)
        );
        assert_eq!(
            RemoteTarget::parse("grpc://h:1", Some("a/b"), None, None),
            Err(TargetError::BadModelName)
        );
        assert_eq!(
            RemoteTarget::parse("grpc://h:1", Some("m"), None, Some(0)),
            Err(TargetError::BadTimeout)
        );
    }

    #[test]
    fn local_only_options_are_refused_with_why() {
        let target = RemoteTarget::parse("grpc://h:1", Some("m"), None, None).expect("target");
        assert!(
            target
                .check(&[(crate::field::Field::MaxBatch, false)])
                .is_ok()
        );
        let err = target
            .check(&[(crate::field::Field::MaxBatch, true)])
            .expect_err("batching")
            .to_string();
        assert!(err.contains("max_batch") && err.contains("server"), "{err}");
        let mut rest = RemoteTarget::parse("http://h:1", Some("m"), None, None).expect("rest");
        rest.grpc_channels = Some(2);
        assert_eq!(rest.check(&[]), Err(TargetError::BadChannels));
    }
}
