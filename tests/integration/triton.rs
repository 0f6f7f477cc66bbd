//! Remote targets against a real Triton Inference Server: the tritonserver
//! that PyPI's nvidia-pytriton bundles (`tests/remote/triton_server.py`,
//! from `.venv-triton`, see `venv.rs`), with the dynamic batcher on and the
//! statistics API restricted behind an access token, as PyTriton and
//! production deployments do. The token is read from tritonserver's command
//! line, as a deployment reads it from its secret store.

use std::{
    path::Path,
    process::{Child, Command, Stdio},
    time::{Duration, Instant},
};

use super::{remote::free_port, repo_path, workbench, workbench_with_env};

/// How long the server may take to become ready (about 15 s here).
const READY_TIMEOUT: Duration = Duration::from_secs(120);
const MODEL: &str = "tests/data/models/dynamic_image.onnx";
const MODEL_NAME: &str = "dyn";
/// The gRPC metadata key of Triton's restricted protocols.
const GRPC_TOKEN_HEADER: &str = "triton-grpc-protocol-triton-access-token";

/// A running Triton; dropping it stops it.
struct Triton {
    child: Child,
    http_port: u16,
    grpc_port: u16,
    metrics_port: u16,
    log: tempfile::NamedTempFile,
}

impl Drop for Triton {
    fn drop(&mut self) {
        // The fixture's own process; tritonserver follows it (PyTriton
        // stops it, and `--exit_with_parent` watches this test).
        let _ = Command::new("kill")
            .args(["-TERM", &self.child.id().to_string()])
            .status();
        let deadline = Instant::now() + Duration::from_secs(10);
        while Instant::now() < deadline {
            if let Ok(Some(_)) = self.child.try_wait() {
                return;
            }
            std::thread::sleep(Duration::from_millis(100));
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Triton {
    fn start() -> Option<Self> {
        let python = super::venv::TRITON.python_or_skip("the Triton test")?;
        let log = tempfile::NamedTempFile::new().expect("log file");
        let (http_port, grpc_port, metrics_port) = (free_port(), free_port(), free_port());
        let child = Command::new(python)
            .arg(repo_path("tests/remote/triton_server.py"))
            .arg("--model_path")
            .arg(repo_path(MODEL))
            .args(["--model_name", MODEL_NAME, "--shape", "3,16,16"])
            .args(["--http_port", &http_port.to_string()])
            .args(["--grpc_port", &grpc_port.to_string()])
            .args(["--metrics_port", &metrics_port.to_string()])
            .arg("--exit_with_parent")
            .stdin(Stdio::null())
            .stdout(log.reopen().expect("log"))
            .stderr(log.reopen().expect("log"))
            .spawn()
            .expect("start the Triton fixture");
        let mut triton = Self {
            child,
            http_port,
            grpc_port,
            metrics_port,
            log,
        };
        let agent: ureq::Agent = ureq::Agent::config_builder()
            .timeout_global(Some(Duration::from_secs(2)))
            .build()
            .into();
        let started = Instant::now();
        loop {
            let ready = agent
                .get(&format!(
                    "http://127.0.0.1:{http_port}/v2/models/{MODEL_NAME}/ready"
                ))
                .call()
                .is_ok_and(|response| response.status() == 200);
            if ready {
                return Some(triton);
            }
            if let Ok(Some(status)) = triton.child.try_wait() {
                panic!(
                    "the Triton fixture exited ({status}):\n{}",
                    triton.log_text()
                );
            }
            assert!(
                started.elapsed() < READY_TIMEOUT,
                "Triton was not ready within {READY_TIMEOUT:?}:\n{}",
                triton.log_text()
            );
            std::thread::sleep(Duration::from_millis(300));
        }
    }

    fn log_text(&self) -> String {
        std::fs::read_to_string(self.log.path()).unwrap_or_default()
    }

    /// The access token on the command line of this fixture's tritonserver.
    fn token(&self) -> String {
        let port = format!("{}", self.grpc_port);
        for entry in std::fs::read_dir("/proc").expect("/proc") {
            let Ok(cmdline) = std::fs::read(entry.expect("entry").path().join("cmdline")) else {
                continue;
            };
            let args: Vec<String> = cmdline
                .split(|&byte| byte == 0)
                .map(|arg| String::from_utf8_lossy(arg).into_owned())
                .collect();
            let ours = args
                .first()
                .is_some_and(|arg| arg.ends_with("tritonserver"))
                && args
                    .windows(2)
                    .any(|pair| pair[0] == "--grpc-port" && pair[1] == port);
            if let Some(token) = args
                .iter()
                .filter(|_| ours)
                .find_map(|arg| arg.split_once("triton-access-token=").map(|(_, t)| t))
            {
                return token.to_owned();
            }
        }
        panic!("no tritonserver with --grpc-port {port} and a token");
    }
}

fn as_strs(args: &[String]) -> Vec<&str> {
    args.iter().map(String::as_str).collect()
}

fn session(path: &Path) -> serde_json::Value {
    serde_json::from_slice(&std::fs::read(path).expect("session written")).expect("json")
}

#[test]
fn triton_statistics_with_the_token_metrics_without_it() {
    let Some(triton) = Triton::start() else {
        return;
    };
    let token = triton.token();
    let dir = tempfile::tempdir().expect("temp dir");
    let grpc = format!("grpc://127.0.0.1:{}", triton.grpc_port);
    let metrics = format!("http://127.0.0.1:{}/metrics", triton.metrics_port);
    let common = |url: &str, export: &Path| -> Vec<String> {
        [
            "profile",
            "--target",
            url,
            "--model-name",
            MODEL_NAME,
            "--shape",
            "x=1,3,16,16",
            "--concurrency",
            "6",
            "--warmup",
            "0.5s",
            "--duration",
            "3s",
            "--export",
            export.to_str().expect("utf-8"),
        ]
        .map(str::to_owned)
        .to_vec()
    };

    // With the token (from the environment): the statistics API answers.
    let with_token = dir.path().join("token.json");
    let csv = dir.path().join("csv");
    let trace = dir.path().join("trace.json");
    let mut args = common(&grpc, &with_token);
    args.extend(
        [
            "--header",
            &format!("{GRPC_TOKEN_HEADER}=env:WB_TRITON_TOKEN"),
            "--metrics-url",
            &metrics,
            "--export-csv",
            csv.to_str().expect("utf-8"),
            "--export-trace",
            trace.to_str().expect("utf-8"),
        ]
        .map(str::to_owned),
    );
    let output = workbench_with_env(&as_strs(&args), &[("WB_TRITON_TOKEN", &token)]);
    let stdout = String::from_utf8_lossy(&output.stdout).into_owned();
    let stderr = String::from_utf8_lossy(&output.stderr).into_owned();
    assert!(output.status.success(), "{stderr}\n{}", triton.log_text());
    let document = session(&with_token);
    let stats = &document["remote"]["server_stats"];
    assert_eq!(stats["source"], "statistics_api", "{stats}");
    check_split(&document, "statistics API");
    // A CPU Triton has no GPU series: a note, not a warning.
    assert!(
        !stderr.contains("no GPU readings") && !stdout.contains("no GPU readings"),
        "{stdout}{stderr}"
    );
    // The token is in no output.
    let report = workbench(&["report", with_token.to_str().expect("utf-8")]);
    let mut texts = vec![
        stdout,
        stderr,
        String::from_utf8_lossy(&report.stdout).into_owned(),
        std::fs::read_to_string(&with_token).expect("session"),
        std::fs::read_to_string(&trace).expect("trace"),
    ];
    for file in std::fs::read_dir(&csv).expect("csv") {
        texts.push(std::fs::read_to_string(file.expect("entry").path()).expect("csv file"));
    }
    assert!(csv.join("server.csv").exists(), "server.csv");
    for text in &texts {
        assert!(!text.contains(&token), "the token leaked");
    }

    // Without it: the statistics API refuses, and the metrics give the
    // same split.
    let without = dir.path().join("metrics.json");
    let mut args = common(&grpc, &without);
    args.extend(["--metrics-url", &metrics].map(str::to_owned));
    let output = workbench(&as_strs(&args));
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let document = session(&without);
    let stats = &document["remote"]["server_stats"];
    assert_eq!(stats["source"], "metrics", "{stats}");
    let note = stats["note"].as_str().unwrap_or_default();
    assert!(
        note.contains("could not be read") && note.contains(GRPC_TOKEN_HEADER),
        "{note}"
    );
    check_split(&document, "metrics");

    // Neither token nor metrics: a clear note, the run itself fine.
    let rest = format!("http://127.0.0.1:{}", triton.http_port);
    let bare = dir.path().join("bare.json");
    let output = workbench(&as_strs(&common(&rest, &bare)));
    assert!(output.status.success());
    let document = session(&bare);
    let stats = &document["remote"]["server_stats"];
    assert_eq!(stats["offered"], false);
    let note = stats["note"].as_str().unwrap_or_default();
    assert!(note.contains("triton-access-token"), "{note}");
}

/// The server's own split is present and consistent with the client's: per
/// request, queue plus compute within the client's end-to-end mean (the
/// server's windows are cut at slightly different instants, hence the
/// margin), and the dynamic batcher executed batches of more than one.
fn check_split(document: &serde_json::Value, source: &str) {
    let stats = &document["remote"]["server_stats"];
    assert_eq!(stats["offered"], true, "{source}: {stats}");
    assert!(
        stats["windows"].as_array().is_some_and(|w| w.len() >= 2),
        "{source}: {stats}"
    );
    let total = &stats["total"];
    let server: f64 = [
        "queue_micros",
        "compute_input_micros",
        "compute_infer_micros",
        "compute_output_micros",
    ]
    .iter()
    .map(|key| total[*key].as_f64().expect(key))
    .sum();
    let client = document["summary"]["latency"]["mean_micros"]
        .as_f64()
        .expect("client mean");
    assert!(
        server > 0.0 && server <= client * 1.1,
        "{source}: server {server} µs per request against the client's {client} µs"
    );
    let inferences = total["inferences"].as_f64().expect("inferences");
    let executions = total["executions"].as_f64().expect("executions");
    assert!(
        executions > 0.0 && inferences / executions > 1.0,
        "{source}: executed batch {inferences}/{executions}"
    );
}
