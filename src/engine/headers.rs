//! Request headers for remote targets (`--header KEY=VALUE`): sent as HTTP
//! headers and gRPC metadata on every call to the server, its statistics
//! and its metrics. The first use is a Triton access token, so a value is a
//! secret: it lives only in this process. Saved, printed or logged, a
//! header is its key alone (`KEY=***`); one read back from a session has
//! no value and must be given again to be sent.

use serde::{Deserialize, Deserializer, Serialize, Serializer};

use crate::field::Field;
use crate::telemetry::prometheus::AgentConfig;

/// How a header's value is shown anywhere it could be seen.
pub const REDACTED: &str = "***";

/// A header value: never printed, never serialized.
#[derive(Clone, PartialEq, Eq)]
pub struct SecretValue(String);

impl SecretValue {
    /// The value itself, for the wire only.
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl std::fmt::Debug for SecretValue {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(REDACTED)
    }
}

/// One request header.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Header {
    /// Lower case, as HTTP/2 and gRPC metadata carry it.
    pub key: String,
    /// `None` when read back from a saved file (values are never saved).
    pub value: Option<SecretValue>,
}

/// Why a `--header` was refused. No variant carries the value.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum HeaderError {
    #[error(
        "{}: expected KEY=VALUE or KEY=env:VARIABLE (what was given is not repeated: it may be a secret)",
        Field::Header
    )]
    Form,
    #[error(
        "{header} {0:?}: not a valid header name (letters, digits and - _ . only; names ending in -bin are binary gRPC metadata, which is not supported)", header = Field::Header)]
    Key(String),
    #[error(
        "{} {key}={REDACTED}: the value must be visible ASCII (no line breaks or control characters)",
        Field::Header
    )]
    Value { key: String },
    #[error(
        "{} {key}=env:{variable}: the environment variable {variable} is not set",
        Field::Header
    )]
    MissingVariable { key: String, variable: String },
    #[error("{header} {0}: given more than once", header = Field::Header)]
    Duplicate(String),
    #[error(
        "header {0:?} has no value: values are never saved, so a reopened session or remembered target must be given {header} {0}=VALUE again", header = Field::Header)]
    NoValue(String),
}

impl Header {
    /// `KEY=VALUE`, or `KEY=env:VARIABLE` to read the value from the
    /// environment (so it stays out of shell history).
    pub fn parse(text: &str) -> Result<Self, HeaderError> {
        let (key, raw) = text.split_once('=').ok_or(HeaderError::Form)?;
        let key = key.trim().to_ascii_lowercase();
        if key.is_empty()
            || key.ends_with("-bin")
            || ureq::http::HeaderName::from_bytes(key.as_bytes()).is_err()
        {
            return Err(HeaderError::Key(key));
        }
        let value = match raw.strip_prefix("env:") {
            Some(variable) => {
                std::env::var(variable).map_err(|_| HeaderError::MissingVariable {
                    key: key.clone(),
                    variable: variable.to_owned(),
                })?
            }
            None => raw.to_owned(),
        };
        let visible = !value.is_empty()
            && value
                .bytes()
                .all(|byte| byte == b' ' || byte.is_ascii_graphic());
        if !visible || ureq::http::HeaderValue::from_str(&value).is_err() {
            return Err(HeaderError::Value { key });
        }
        Ok(Self {
            key,
            value: Some(SecretValue(value)),
        })
    }

    /// The value to send; an error when it was not given in this process.
    pub fn value(&self) -> Result<&str, HeaderError> {
        self.value
            .as_ref()
            .map(SecretValue::expose)
            .ok_or_else(|| HeaderError::NoValue(self.key.clone()))
    }
}

/// Shows a header as `KEY=***`.
impl std::fmt::Display for Header {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}={REDACTED}", self.key)
    }
}

/// The headers of a target. Serialized as their keys only.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Headers(Vec<Header>);

impl Headers {
    /// Parses each `--header`, refusing a key given twice.
    pub fn parse<'a>(items: impl IntoIterator<Item = &'a str>) -> Result<Self, HeaderError> {
        let headers = Self(
            items
                .into_iter()
                .map(Header::parse)
                .collect::<Result<_, _>>()?,
        );
        headers.check()?;
        Ok(headers)
    }

    /// Headers parsed one by one (clap's `--header`); see [`Headers::check`].
    pub fn new(headers: Vec<Header>) -> Self {
        Self(headers)
    }

    /// Refuses a key given twice.
    pub fn check(&self) -> Result<(), HeaderError> {
        for (index, header) in self.0.iter().enumerate() {
            if self.0[..index].iter().any(|known| known.key == header.key) {
                return Err(HeaderError::Duplicate(header.key.clone()));
            }
        }
        Ok(())
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    pub fn iter(&self) -> impl Iterator<Item = &Header> {
        self.0.iter()
    }

    /// `(key, value)` pairs to send; an error naming the first header whose
    /// value was not given in this process.
    pub fn to_send(&self) -> Result<Vec<(String, String)>, HeaderError> {
        self.0
            .iter()
            .map(|header| Ok((header.key.clone(), header.value()?.to_owned())))
            .collect()
    }

    /// `a=***, b=***`, or empty.
    pub fn describe(&self) -> String {
        self.0
            .iter()
            .map(Header::to_string)
            .collect::<Vec<_>>()
            .join(", ")
    }
}

/// Headers checked and ready for an HTTP agent; the values are marked
/// sensitive, so `http`'s own `Debug` hides them too.
#[derive(Clone, Default)]
pub struct HttpHeaders(Vec<(ureq::http::HeaderName, ureq::http::HeaderValue)>);

impl HttpHeaders {
    pub fn new(headers: &Headers) -> Result<Self, HeaderError> {
        use ureq::http::{HeaderName, HeaderValue};
        headers
            .to_send()?
            .into_iter()
            .map(|(key, value)| {
                let invalid = || HeaderError::Key(key.clone());
                let name = HeaderName::from_bytes(key.as_bytes()).map_err(|_| invalid())?;
                let mut value = HeaderValue::from_str(&value).map_err(|_| invalid())?;
                value.set_sensitive(true);
                Ok((name, value))
            })
            .collect::<Result<_, _>>()
            .map(Self)
    }

    /// `config` with a middleware that adds the headers to every request,
    /// so no call site can forget them.
    pub fn apply(self, config: AgentConfig) -> AgentConfig {
        if self.0.is_empty() {
            return config;
        }
        config.middleware(
            move |mut request: ureq::http::Request<ureq::SendBody>,
                  next: ureq::middleware::MiddlewareNext| {
                for (name, value) in &self.0 {
                    request.headers_mut().insert(name.clone(), value.clone());
                }
                next.handle(request)
            },
        )
    }
}

impl Serialize for Headers {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_seq(self.0.iter().map(|header| &header.key))
    }
}

impl<'de> Deserialize<'de> for Headers {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let keys = Vec::<String>::deserialize(deserializer)?;
        Ok(Self(
            keys.into_iter()
                .map(|key| Header { key, value: None })
                .collect(),
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const TOKEN: &str = "s3cr3t-T0ken";

    #[test]
    fn a_header_parses_and_never_shows_its_value() {
        let header = Header::parse(&format!("Triton-Access-Token={TOKEN}")).expect("parses");
        assert_eq!(header.key, "triton-access-token");
        assert_eq!(header.value(), Ok(TOKEN));
        for shown in [
            header.to_string(),
            format!("{header:?}"),
            format!("{:?}", Headers(vec![header.clone()])),
        ] {
            assert!(!shown.contains(TOKEN), "{shown}");
        }
        assert_eq!(header.to_string(), "triton-access-token=***");
        // A value may hold '=' (base64).
        let header = Header::parse("authorization=Bearer abc==").expect("parses");
        assert_eq!(header.value(), Ok("Bearer abc=="));
    }

    #[test]
    fn saved_headers_keep_their_keys_only() {
        let headers =
            Headers::parse([format!("x-token={TOKEN}").as_str(), "x-tenant=blue"]).expect("parses");
        let json = serde_json::to_string(&headers).expect("serializes");
        assert_eq!(json, r#"["x-token","x-tenant"]"#);
        let back: Headers = serde_json::from_str(&json).expect("reads");
        assert_eq!(back.describe(), "x-token=***, x-tenant=***");
        let err = back.to_send().expect_err("no values");
        assert_eq!(err, HeaderError::NoValue("x-token".to_owned()));
        assert_eq!(
            headers.to_send().expect("values"),
            [
                ("x-token".to_owned(), TOKEN.to_owned()),
                ("x-tenant".to_owned(), "blue".to_owned())
            ]
        );
    }

    #[test]
    fn bad_headers_are_refused_without_echoing_the_value() {
        let cases = [
            format!("no-equals-{TOKEN}"),
            format!("bad key={TOKEN}"),
            format!("x-data-bin={TOKEN}"),
            format!("x-token={TOKEN}\nx"),
            "x-token=".to_owned(),
            "x-token=env:ONNX_WORKBENCH_TEST_SURELY_UNSET".to_owned(),
        ];
        for case in &cases {
            let err = Header::parse(case).expect_err(case);
            let message = err.to_string();
            assert!(!message.contains(TOKEN), "{message}");
        }
        assert!(matches!(
            Headers::parse(["a=1", "A=2"]),
            Err(HeaderError::Duplicate(key)) if key == "a"
        ));
    }

    #[test]
    fn a_value_can_come_from_the_environment() {
        // PATH is set in any test environment.
        let path = std::env::var("PATH").expect("PATH");
        let header = Header::parse("x-path=env:PATH").expect("parses");
        assert_eq!(header.value(), Ok(path.as_str()));
    }
}
