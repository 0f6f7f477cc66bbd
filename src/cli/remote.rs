//! The `profile`/`sweep` flags of a remote target (`--target`,
//! `--model-name`, ...), flattened into `ProfileArgs`.

use std::time::Duration;

use clap::Args;

use crate::engine::{
    headers::{Header, HeaderError, Headers},
    target::{RemoteTarget, TargetError, TargetUrl},
};

/// Flags that send the load to an inference server.
#[derive(Debug, Args, Default)]
pub struct RemoteFlags {
    /// Drive a model on an Open Inference Protocol server (Triton, KServe, ...):
    /// grpc://HOST:PORT or http://HOST:PORT. MODEL is then optional (inspection and shapes).
    #[arg(long, value_name = "URL", value_parser = parse_target, requires = "model_name", help_heading = "Remote target")]
    pub target: Option<TargetUrl>,
    /// The model's name on the server.
    #[arg(
        long,
        value_name = "NAME",
        requires = "target",
        help_heading = "Remote target"
    )]
    pub model_name: Option<String>,
    /// The model version (default: the server's choice).
    #[arg(
        long,
        value_name = "V",
        requires = "target",
        help_heading = "Remote target"
    )]
    pub model_version: Option<String>,
    /// A request taking longer fails, e.g. 500ms, 30s (default 10s).
    #[arg(long, value_name = "DUR", value_parser = parse_timeout, requires = "target", help_heading = "Remote target")]
    pub timeout: Option<Duration>,
    /// gRPC: K connections shared by all workers on one runtime (default: one per worker).
    #[arg(
        long,
        value_name = "K",
        requires = "target",
        help_heading = "Remote target"
    )]
    pub grpc_channels: Option<u32>,
    /// A header sent on every call to the server, its statistics and metrics
    /// (gRPC metadata or HTTP header), e.g. triton-access-token=TOKEN, or
    /// KEY=env:VARIABLE to read the value from the environment (repeatable).
    /// Values are never saved or printed: sessions keep the key as KEY=***.
    #[arg(
        long = "header",
        value_name = "KEY=VALUE",
        value_parser = parse_header,
        requires = "target",
        help_heading = "Remote target"
    )]
    pub headers: Vec<Header>,
}

fn parse_header(text: &str) -> Result<Header, HeaderError> {
    Header::parse(text)
}

/// `500ms`, `30s`, `2m`, or seconds as a number.
fn parse_timeout(text: &str) -> Result<Duration, String> {
    let text = text.trim();
    match text.parse::<f64>() {
        Ok(secs) if secs.is_finite() && secs > 0.0 => Ok(Duration::from_secs_f64(secs)),
        Ok(_) => Err(format!("{text:?} is not a positive duration")),
        Err(_) => humantime::parse_duration(text).map_err(|err| format!("{text:?}: {err}")),
    }
}

fn parse_target(text: &str) -> Result<TargetUrl, TargetError> {
    TargetUrl::parse(text)
}

impl RemoteFlags {
    /// The target, when `--target` is given (the rest is checked by
    /// `ProfileConfig::validate`).
    pub fn to_target(&self) -> Option<RemoteTarget> {
        let url = self.target.clone()?;
        Some(RemoteTarget {
            url: url.url,
            protocol: url.protocol,
            authority: url.authority,
            model_name: self.model_name.clone().unwrap_or_default(),
            model_version: self.model_version.clone().filter(|v| !v.is_empty()),
            timeout_millis: self
                .timeout
                .map_or(crate::engine::target::DEFAULT_TIMEOUT_MILLIS, |timeout| {
                    u64::try_from(timeout.as_millis()).unwrap_or(u64::MAX)
                }),
            grpc_channels: self.grpc_channels,
            headers: Headers::new(self.headers.clone()),
        })
    }
}

#[cfg(test)]
mod tests {
    use clap::Parser as _;

    use crate::{
        cli::{Cli, Command},
        engine::{ProfileConfig, target::Protocol},
    };

    fn parse(argv: &[&str]) -> Result<ProfileConfig, clap::Error> {
        let mut full = vec!["onnx-workbench", "profile"];
        full.extend_from_slice(argv);
        Cli::try_parse_from(full).map(|cli| match cli.command {
            Some(Command::Profile(args)) => args.to_config(),
            _ => panic!("expected profile"),
        })
    }

    #[test]
    fn target_flags_become_the_config_and_make_the_model_optional() {
        let config = parse(&[
            "--target",
            "grpc://server:8001",
            "--model-name",
            "resnet",
            "--model-version",
            "3",
            "--timeout",
            "500ms",
            "--grpc-channels",
            "2",
        ])
        .expect("parse");
        let target = config.remote.expect("remote");
        assert_eq!(target.protocol, Protocol::Grpc);
        assert_eq!(target.authority, "server:8001");
        assert_eq!(target.model_name, "resnet");
        assert_eq!(target.model_version.as_deref(), Some("3"));
        assert_eq!(target.timeout_millis, 500);
        assert_eq!(target.grpc_channels, Some(2));
        assert!(parse(&["m.onnx"]).expect("local").remote.is_none());
    }

    #[test]
    fn target_flags_are_checked() {
        assert!(parse(&[]).is_err(), "MODEL or --target is required");
        assert!(
            parse(&["--target", "grpc://h:1"]).is_err(),
            "needs --model-name"
        );
        assert!(
            parse(&["m.onnx", "--model-name", "x"]).is_err(),
            "needs --target"
        );
        let err = parse(&["--target", "h:1", "--model-name", "m"]).expect_err("scheme");
        assert!(err.to_string().contains("grpc://HOST:PORT"), "{err}");
        let config = parse(&[
            "--target",
            "http://h:1",
            "--model-name",
            "m",
            "--max-batch",
            "4",
        ])
        .expect("parse");
        let err = config.validate().expect_err("batching remotely");
        let text = err.render(&super::super::args::flag_name);
        assert!(text.starts_with("--max-batch has no meaning"), "{text}");
    }
}
