//! The Open Inference Protocol over HTTP/REST, with `ureq` (a small
//! blocking client: the load workers are blocking threads, so no async
//! runtime is needed here, and its agent keeps connections alive between
//! requests). One agent per worker, so each worker reuses its own
//! connection.

use std::time::Duration;

use serde::Deserialize;
use ureq::{Agent, http::Response};

use super::{IndexEntry, ModelMetadata, RemoteError, ServerInfo, StatsTotals};
use crate::engine::target::RemoteTarget;

/// Most bytes read from one answer.
const MAX_BODY_BYTES: u64 = 1 << 30;

/// One thread's REST client.
pub struct RestClient {
    agent: Agent,
    base: String,
    url: String,
    model_path: String,
    /// `{model_path}/infer`, made once.
    infer_url: String,
    model_name: String,
    timeout: Duration,
}

/// An answer's status and body.
struct Answer {
    status: u16,
    body: Vec<u8>,
}

impl Answer {
    fn ok(&self) -> bool {
        (200..300).contains(&self.status)
    }

    /// The server's error text: `{"error": "..."}` or the body itself.
    fn message(&self) -> String {
        #[derive(Deserialize)]
        struct ErrorBody {
            #[serde(alias = "detail")]
            error: serde_json::Value,
        }
        let text = match serde_json::from_slice::<ErrorBody>(&self.body) {
            Ok(ErrorBody {
                error: serde_json::Value::String(text),
            }) => text,
            Ok(ErrorBody { error }) => error.to_string(),
            Err(_) => String::from_utf8_lossy(&self.body).into_owned(),
        };
        let text: String = text.chars().take(300).collect();
        format!("HTTP {}: {}", self.status, text.trim())
    }
}

impl RestClient {
    pub fn new(target: &RemoteTarget) -> Result<Self, RemoteError> {
        let timeout = Duration::from_millis(target.timeout_millis);
        let config = Agent::config_builder()
            .http_status_as_error(false)
            .timeout_global(Some(timeout))
            .no_delay(true);
        let agent: Agent = crate::engine::headers::HttpHeaders::new(&target.headers)?
            .apply(config)
            .build()
            .into();
        let base = format!("http://{}", target.authority);
        let model_path = match &target.model_version {
            Some(version) => format!("{base}/v2/models/{}/versions/{version}", target.model_name),
            None => format!("{base}/v2/models/{}", target.model_name),
        };
        Ok(Self {
            agent,
            base,
            url: target.url.clone(),
            infer_url: format!("{model_path}/infer"),
            model_path,
            model_name: target.model_name.clone(),
            timeout,
        })
    }

    fn answer(
        &self,
        result: Result<Response<ureq::Body>, ureq::Error>,
    ) -> Result<Answer, RemoteError> {
        let mut response = result.map_err(|err| self.transport_error(err))?;
        let status = response.status().as_u16();
        let body = response
            .body_mut()
            .with_config()
            .limit(MAX_BODY_BYTES)
            .read_to_vec()
            .map_err(|err| self.transport_error(err))?;
        Ok(Answer { status, body })
    }

    fn transport_error(&self, err: ureq::Error) -> RemoteError {
        match err {
            ureq::Error::Timeout(_) => RemoteError::Timeout(self.timeout.as_millis() as u64),
            ureq::Error::Io(io) if io.kind() == std::io::ErrorKind::ConnectionRefused => {
                RemoteError::Unreachable {
                    url: self.url.clone(),
                    message: io.to_string(),
                }
            }
            ureq::Error::ConnectionFailed | ureq::Error::HostNotFound => RemoteError::Unreachable {
                url: self.url.clone(),
                message: err.to_string(),
            },
            other => RemoteError::Request(format!("HTTP transport: {other}")),
        }
    }

    fn get(&self, url: &str) -> Result<Answer, RemoteError> {
        self.answer(self.agent.get(url).call())
    }

    pub fn server_ready(&mut self) -> Result<bool, RemoteError> {
        let answer = self.get(&format!("{}/v2/health/ready", self.base))?;
        Ok(answer.ok())
    }

    pub fn model_ready(&mut self) -> Result<bool, RemoteError> {
        let answer = self.get(&format!("{}/ready", self.model_path))?;
        match answer.status {
            200..300 => Ok(true),
            404 => Err(RemoteError::UnknownModel {
                url: self.url.clone(),
                model: self.model_name.clone(),
                message: answer.message(),
            }),
            _ => Ok(false),
        }
    }

    pub fn server_info(&mut self) -> Result<ServerInfo, RemoteError> {
        let answer = self.get(&format!("{}/v2", self.base))?;
        if !answer.ok() {
            return Err(RemoteError::Request(answer.message()));
        }
        serde_json::from_slice(&answer.body)
            .map_err(|err| RemoteError::Request(format!("server metadata: {err}")))
    }

    pub fn model_metadata(&mut self) -> Result<ModelMetadata, RemoteError> {
        let answer = self.get(&self.model_path)?;
        let metadata_error = |message: String| RemoteError::Metadata {
            model: self.model_name.clone(),
            message,
        };
        if !answer.ok() {
            return Err(metadata_error(answer.message()));
        }
        // Some servers send `"versions": null`.
        let mut value: serde_json::Value =
            serde_json::from_slice(&answer.body).map_err(|err| metadata_error(err.to_string()))?;
        if let Some(object) = value.as_object_mut() {
            object.retain(|_, field| !field.is_null());
        }
        serde_json::from_value(value).map_err(|err| metadata_error(err.to_string()))
    }

    pub fn statistics(&mut self) -> Result<Option<StatsTotals>, RemoteError> {
        let answer = self.get(&format!("{}/stats", self.model_path))?;
        match answer.status {
            200..300 => StatsTotals::from_json(&answer.body)
                .map(Some)
                .map_err(|err| RemoteError::Request(format!("statistics: {err}"))),
            400 | 404 | 405 | 501 => Ok(None),
            _ => Err(RemoteError::Request(answer.message())),
        }
    }

    pub fn repository_index(&mut self) -> Result<Option<Vec<IndexEntry>>, RemoteError> {
        let answer = self.answer(
            self.agent
                .post(&format!("{}/v2/repository/index", self.base))
                .header("Content-Type", "application/json")
                .send(&b"{}"[..]),
        )?;
        match answer.status {
            200..300 => serde_json::from_slice(&answer.body)
                .map(Some)
                .map_err(|err| RemoteError::Request(format!("repository index: {err}"))),
            400 | 404 | 405 | 501 => Ok(None),
            _ => Err(RemoteError::Request(answer.message())),
        }
    }

    fn infer_result(&self, answer: Answer) -> Result<(), RemoteError> {
        if answer.ok() {
            Ok(())
        } else {
            Err(RemoteError::Request(answer.message()))
        }
    }

    /// One inference with a JSON body; the answer is read whole and dropped.
    pub fn infer_json(&mut self, body: &[u8]) -> Result<(), RemoteError> {
        let answer = self.answer(
            self.agent
                .post(&self.infer_url)
                .header("Content-Type", "application/json")
                .send(body),
        )?;
        self.infer_result(answer)
    }

    /// One inference with the binary tensor data extension.
    pub fn infer_binary(&mut self, body: &[u8], header_len: usize) -> Result<(), RemoteError> {
        let answer = self.answer(
            self.agent
                .post(&self.infer_url)
                .header("Content-Type", "application/octet-stream")
                .header("Inference-Header-Content-Length", &header_len.to_string())
                .send(body),
        )?;
        self.infer_result(answer)
    }
}
