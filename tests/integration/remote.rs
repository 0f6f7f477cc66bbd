//! Remote targets against a real KServe ModelServer (`tests/remote/
//! onnx_model_server.py`, serving a fixture through Python onnxruntime over
//! REST and gRPC), from `.venv-kserve` (see `venv.rs`).

use std::{
    net::TcpListener,
    process::{Child, Command, Stdio},
    time::{Duration, Instant},
};

use onnx_workbench::engine::{
    LoadMode, ModelRef, ProfileConfig, RunHandle, RunRecord, RunStatus, StopReason,
    target::{Protocol, RemoteTarget},
};

use super::{repo_path, workbench};

/// How long the server may take to become ready.
const READY_TIMEOUT: Duration = Duration::from_secs(90);
/// The served fixture: `x [N, 3, H, W]` float32 -> `logits [N, 5]`.
const MODEL: &str = "tests/data/models/dynamic_image.onnx";
const MODEL_NAME: &str = "dyn";

/// A running server; dropping it kills it.
struct Server {
    child: Child,
    http_port: u16,
    grpc_port: u16,
    log: tempfile::NamedTempFile,
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Server {
    fn target(&self, protocol: Protocol) -> RemoteTarget {
        let url = match protocol {
            Protocol::Grpc => format!("grpc://127.0.0.1:{}", self.grpc_port),
            Protocol::Rest => format!("http://127.0.0.1:{}", self.http_port),
        };
        RemoteTarget::parse(&url, Some(MODEL_NAME), None, Some(5_000)).expect("target")
    }

    fn log_text(&self) -> String {
        std::fs::read_to_string(self.log.path()).unwrap_or_default()
    }

    fn kill(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

pub(super) fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|listener| listener.local_addr())
        .map(|addr| addr.port())
        .expect("free port")
}

/// Starts the server on free ports and waits until REST says ready and the
/// gRPC port accepts connections. `None` (with the reason printed) when
/// there is no kserve outside CI.
fn start_server() -> Option<Server> {
    start_server_with(&[])
}

/// [`start_server`] with more arguments for the fixture.
fn start_server_with(extra: &[&str]) -> Option<Server> {
    let python = super::venv::KSERVE.python_or_skip("the remote-target test")?;
    let log = tempfile::NamedTempFile::new().expect("log file");
    let (http_port, grpc_port) = (free_port(), free_port());
    let child = Command::new(python)
        .arg(repo_path("tests/remote/onnx_model_server.py"))
        .args(["--model_path"])
        .arg(repo_path(MODEL))
        .args(["--model_name", MODEL_NAME, "--exit_with_parent"])
        .args(["--http_port", &http_port.to_string()])
        .args(["--grpc_port", &grpc_port.to_string()])
        .args(extra)
        .stdin(Stdio::null())
        .stdout(log.reopen().expect("log"))
        .stderr(log.reopen().expect("log"))
        .spawn()
        .expect("start the kserve server");
    let mut server = Server {
        child,
        http_port,
        grpc_port,
        log,
    };
    let started = Instant::now();
    let agent: ureq::Agent = ureq::Agent::config_builder()
        .timeout_global(Some(Duration::from_secs(2)))
        .build()
        .into();
    loop {
        let rest_ready = agent
            .get(&format!("http://127.0.0.1:{http_port}/v2/health/ready"))
            .call()
            .is_ok();
        let grpc_open = std::net::TcpStream::connect(("127.0.0.1", grpc_port)).is_ok();
        if rest_ready && grpc_open {
            return Some(server);
        }
        if let Ok(Some(status)) = server.child.try_wait() {
            panic!(
                "the kserve server exited ({status}):\n{}",
                server.log_text()
            );
        }
        assert!(
            started.elapsed() < READY_TIMEOUT,
            "the kserve server was not ready within {READY_TIMEOUT:?}:\n{}",
            server.log_text()
        );
        std::thread::sleep(Duration::from_millis(200));
    }
}

fn remote_config(target: RemoteTarget) -> ProfileConfig {
    ProfileConfig {
        remote: Some(target),
        shapes: [("x".to_owned(), vec![1, 3, 16, 16])].into(),
        duration_secs: Some(1.0),
        warmup_secs: 0.2,
        concurrency: 2,
        ..ProfileConfig::default()
    }
}

/// A run without a local model file.
fn run_remote(config: ProfileConfig) -> RunRecord {
    RunHandle::start(ModelRef::of(None, &config).expect("a served model"), config)
        .expect("start")
        .join()
}

fn assert_served(record: &RunRecord, what: &str) {
    assert_eq!(
        record.status,
        RunStatus::Completed,
        "{what}: {:?} {:?}",
        record.failure,
        record.errors
    );
    let summary = record.summary.as_ref().expect("summary");
    assert!(summary.requests_ok > 10, "{what}: {summary:?}");
    assert_eq!(record.errors.count, 0, "{what}: {:?}", record.errors);
    assert!(summary.latency.is_some_and(|l| l.p99_micros > 0.0));
    let remote = record.remote.as_ref().expect("remote report");
    assert_eq!(remote.server.name, "kserve", "{what}");
    assert!(!remote.server_stats.offered, "KServe has no statistics");
    assert!(
        remote
            .server_stats
            .note
            .as_deref()
            .is_some_and(|note| note.contains("does not offer")),
        "{what}: {:?}",
        remote.server_stats
    );
}

#[test]
fn closed_and_open_loop_over_grpc_and_rest_with_metadata_inputs() {
    let Some(server) = start_server() else {
        return;
    };
    // Closed loop over gRPC; inputs from the metadata and --shape.
    let record = run_remote(remote_config(server.target(Protocol::Grpc)));
    assert_served(&record, "grpc closed");
    assert_eq!(record.inputs.len(), 1);
    assert_eq!(record.inputs[0].name, "x");
    assert_eq!(record.inputs[0].dtype, "f32");
    assert_eq!(record.inputs[0].shape, vec![1, 3, 16, 16]);
    assert_eq!(record.inputs[0].declared_shape, vec![-1, 3, -1, -1]);
    let remote = record.remote.as_ref().expect("remote");
    assert_eq!(remote.encoding, "grpc raw_input_contents");
    assert_eq!(remote.metadata.outputs[0].name, "logits");

    // Open loop over REST at a rate the server sustains: latency from the
    // scheduled time, the binary tensor data extension.
    // (A low rate: the tests share the machine with other runs.)
    let mut config = remote_config(server.target(Protocol::Rest));
    config.load = LoadMode::Open {
        rate_per_sec: 20.0,
        arrival: onnx_workbench::engine::Arrival::Constant,
    };
    config.duration_secs = Some(2.0);
    let record = run_remote(config);
    assert_served(&record, "rest open");
    let summary = record.summary.as_ref().expect("summary");
    assert!(
        (summary.requests_per_sec - 20.0).abs() < 6.0,
        "open loop holds its rate: {summary:?}"
    );
    assert!(summary.queue.is_some(), "open loop records queue time");
    assert_eq!(
        record.remote.as_ref().expect("remote").encoding,
        "rest binary tensor data"
    );

    // Closed loop over REST with a local model: its symbols serve --batch
    // and --dim, and it is recorded.
    let mut config = remote_config(server.target(Protocol::Rest));
    config.shapes.clear();
    config.batch = Some(2);
    config.dims = [("H".to_owned(), 8), ("W".to_owned(), 12)].into();
    let record = RunHandle::start(
        ModelRef::of(Some(repo_path(MODEL)), &config).expect("a served model"),
        config,
    )
    .expect("start")
    .join();
    assert_served(&record, "rest closed with model");
    assert_eq!(record.inputs[0].shape, vec![2, 3, 8, 12]);
    assert_eq!(
        record.model.as_ref().map(|m| m.file_name.as_str()),
        Some("dynamic_image.onnx")
    );

    // gRPC through a shared pool of two connections.
    let mut target = server.target(Protocol::Grpc);
    target.grpc_channels = Some(2);
    let mut config = remote_config(target);
    config.max_requests = Some(200);
    config.duration_secs = None;
    config.concurrency = 4;
    let record = run_remote(config);
    assert_served(&record, "grpc shared channels");
    assert_eq!(
        record.summary.as_ref().map(|s| s.requests_ok),
        Some(200),
        "--requests counts exactly"
    );

    // An unknown model is a clear error before any load.
    for protocol in [Protocol::Grpc, Protocol::Rest] {
        let mut target = server.target(protocol);
        target.model_name = "no_such_model".to_owned();
        let record = run_remote(remote_config(target));
        assert_eq!(record.status, RunStatus::Failed);
        let failure = record.failure.unwrap_or_default();
        assert!(
            failure.contains("no model \"no_such_model\""),
            "{protocol}: {failure}"
        );
        assert!(record.summary.is_none(), "no load was run");
    }
}

#[test]
fn a_server_that_is_down_is_a_clear_error_before_the_load() {
    let port = free_port();
    for url in [
        format!("grpc://127.0.0.1:{port}"),
        format!("http://127.0.0.1:{port}"),
    ] {
        let target = RemoteTarget::parse(&url, Some("m"), None, Some(2_000)).expect("target");
        let started = Instant::now();
        let record = run_remote(remote_config(target));
        assert_eq!(record.status, RunStatus::Failed, "{url}");
        let failure = record.failure.unwrap_or_default();
        assert!(
            failure.contains("cannot reach the server") && failure.contains(&url),
            "{url}: {failure}"
        );
        assert!(started.elapsed() < Duration::from_secs(10));
    }
}

#[test]
fn killing_the_server_mid_run_keeps_partial_results_and_ends_in_bounded_time() {
    let Some(mut server) = start_server() else {
        return;
    };
    let dir = tempfile::tempdir().expect("temp dir");
    let export = dir.path().join("killed.json");
    let url = format!("grpc://127.0.0.1:{}", server.grpc_port);
    let export_arg = export.to_string_lossy().into_owned();
    let started = Instant::now();
    let client = std::thread::Builder::new()
        .name("test-client".to_owned())
        .spawn(move || {
            workbench(&[
                "profile",
                "--target",
                &url,
                "--model-name",
                MODEL_NAME,
                "--shape",
                "x=1,3,16,16",
                "--concurrency",
                "2",
                "--warmup",
                "0.5s",
                "--duration",
                "60s",
                "--quiet",
                "--export",
                &export_arg,
            ])
        })
        .expect("client thread");
    std::thread::sleep(Duration::from_secs(4));
    server.kill();
    let output = client.join().expect("client");
    let elapsed = started.elapsed();
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        elapsed < Duration::from_secs(20),
        "a dead server ends the run early, took {elapsed:?}"
    );
    assert_eq!(
        output.status.code(),
        Some(3),
        "failed requests give exit status 3: {stderr}"
    );
    let document: serde_json::Value =
        serde_json::from_slice(&std::fs::read(&export).expect("session written")).expect("json");
    assert_eq!(document["status"], "completed");
    assert_eq!(
        document["stop_reason"],
        serde_json::to_value(StopReason::Failures).expect("reason")
    );
    assert!(document["summary"]["requests_ok"].as_u64() > Some(10));
    assert!(document["errors"]["count"].as_u64() > Some(0));
    assert!(
        document["errors"]["first_messages"]
            .as_array()
            .is_some_and(|messages| !messages.is_empty())
    );
    assert_eq!(document["remote"]["stopped_on_failures"], true);
}

/// `--header`: sent on every call over gRPC and REST (the server refuses
/// inferences without it), never written anywhere.
#[test]
fn headers_reach_the_server_and_never_leak() {
    const TOKEN: &str = "wb-test-token-7f3a9c";
    let Some(server) = start_server_with(&["--require_header", &format!("x-access-token={TOKEN}")])
    else {
        return;
    };
    let dir = tempfile::tempdir().expect("temp dir");
    let urls = [
        format!("grpc://127.0.0.1:{}", server.grpc_port),
        format!("http://127.0.0.1:{}", server.http_port),
    ];
    for (index, url) in urls.iter().enumerate() {
        let session = dir.path().join(format!("session{index}.json"));
        let csv = dir.path().join(format!("csv{index}"));
        let trace = dir.path().join(format!("trace{index}.json"));
        let common = [
            "profile",
            "--target",
            url,
            "--model-name",
            MODEL_NAME,
            "--shape",
            "x=1,3,16,16",
            "--concurrency",
            "2",
            "--warmup",
            "0.2s",
        ];
        // With the token, from the environment (out of shell history).
        let output = Command::new(env!("CARGO_BIN_EXE_onnx-workbench"))
            .args(common)
            .args([
                "--duration",
                "1s",
                "--header",
                "X-Access-Token=env:WB_TEST_TOKEN",
            ])
            .args(["--export", session.to_str().expect("utf-8")])
            .args(["--export-csv", csv.to_str().expect("utf-8")])
            .args(["--export-trace", trace.to_str().expect("utf-8")])
            .env("WB_TEST_TOKEN", TOKEN)
            .output()
            .expect("run");
        let stdout = String::from_utf8_lossy(&output.stdout);
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert!(output.status.success(), "{url}: {stderr}");
        assert!(stdout.contains("x-access-token=***"), "{url}: {stdout}");
        let document: serde_json::Value =
            serde_json::from_slice(&std::fs::read(&session).expect("session")).expect("json");
        assert!(
            document["summary"]["requests_ok"].as_u64() > Some(10),
            "{url}"
        );
        assert_eq!(document["errors"]["count"], 0, "{url}");
        assert_eq!(
            document["config"]["remote"]["headers"],
            serde_json::json!(["x-access-token"])
        );
        let report = workbench(&["report", session.to_str().expect("utf-8")]);
        let report = String::from_utf8_lossy(&report.stdout).into_owned();
        assert!(report.contains("x-access-token=***"), "{report}");
        // The token is in no output: stdout, stderr, the session, its CSV
        // files, the trace or the report.
        let mut texts = vec![stdout.into_owned(), stderr.into_owned(), report];
        for file in std::fs::read_dir(&csv).expect("csv dir") {
            texts.push(std::fs::read_to_string(file.expect("entry").path()).expect("csv"));
        }
        texts.push(std::fs::read_to_string(&session).expect("session"));
        texts.push(std::fs::read_to_string(&trace).expect("trace"));
        for text in &texts {
            assert!(!text.contains(TOKEN), "{url}: the token leaked");
        }

        // Without it, the first (timed) request is refused, so no load
        // starts, and the error carries the server's reason.
        let output = workbench(&[&common[..], &["--duration", "0.5s", "--quiet"]].concat());
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert_eq!(output.status.code(), Some(1), "{url}: {stderr}");
        assert!(
            stderr.contains("first request failed") && stderr.contains("x-access-token"),
            "{url}: {stderr}"
        );
    }
}

/// The start page's "Remote server" choice: URL and model, connect, use it
/// for runs; the Model tab shows the server's metadata and a run through
/// the Run button goes to the server.
#[cfg(feature = "gui")]
#[test]
fn the_window_runs_a_model_on_a_remote_server() {
    use egui_kittest::kittest::Queryable as _;

    use super::ui::{harness_of_height, short_run, step_until};
    let Some(server) = start_server() else {
        return;
    };
    let mut harness = harness_of_height(1000.0);
    harness.step();
    let url = format!("grpc://127.0.0.1:{}", server.grpc_port);
    for (field, text) in [("Server URL", url.as_str()), ("Model name", MODEL_NAME)] {
        harness.get_by_label(field).focus();
        harness.step();
        harness.get_by_label(field).type_text(text);
        harness.step();
    }
    harness.get_by_label("Connect").click();
    let use_label = format!("Use {MODEL_NAME} for runs");
    let started = Instant::now();
    while harness.query_by_label(&use_label).is_none() {
        assert!(
            started.elapsed() < Duration::from_secs(30),
            "no answer from the server: {:#?}",
            harness.root()
        );
        harness.step();
        std::thread::sleep(Duration::from_millis(20));
    }
    harness.get_by_label(&use_label).click();
    harness.step();
    harness.state_mut().tab = onnx_workbench::ui::Tab::Model;
    harness.step();
    assert!(harness.query_by_label_contains("logits FP32").is_some());
    step_until(&mut harness, "ONNX Runtime", |app| {
        app.runtime_status.is_some()
    });
    // The served input is [-1, 3, -1, -1]: the first dim is the batch, the
    // other two get fields of their own in the Config panel.
    {
        use egui_kittest::kittest::NodeT as _;
        for (index, value) in [(0, 20.0), (1, 24.0)] {
            let fields: Vec<_> = harness
                .query_all_by_label("Shape 'x'")
                .filter(|node| node.accesskit_node().role() == egui::accesskit::Role::SpinButton)
                .collect();
            assert_eq!(fields.len(), 2, "a field per non-batch dynamic dim");
            fields[index].set_value_accesskit(value);
            harness.step();
        }
    }
    let document = short_run(&mut harness, 0.1);
    assert_eq!(document.run.inputs[0].shape, [1, 3, 20, 24]);
    let remote = document.run.config.remote.as_ref().expect("remote run");
    assert_eq!(remote.model_name, MODEL_NAME);
    assert!(
        document
            .run
            .summary
            .as_ref()
            .is_some_and(|s| s.requests_ok > 0)
    );
}

/// A mix with one entry on the server and one local: both measured at
/// once, each in its own session.
#[test]
fn a_mix_drives_a_remote_entry_beside_a_local_one() {
    let Some(server) = start_server() else {
        return;
    };
    let dir = tempfile::tempdir().expect("temp dir");
    let mix = dir.path().join("mix.toml");
    std::fs::write(
        &mix,
        format!(
            "duration = \"2s\"\nwarmup = \"0.3s\"\n\n[[model]]\nname = \"remote\"\ntarget = \"grpc://127.0.0.1:{}\"\nmodel_name = \"{MODEL_NAME}\"\nshapes = {{ \"x\" = [1, 3, 16, 16] }}\nconcurrency = 2\n\n[[model]]\nname = \"local\"\npath = \"{}\"\nrate = 100\n",
            server.grpc_port,
            repo_path("sample_models/mlp.onnx").display()
        ),
    )
    .expect("write the mix");
    let export = dir.path().join("mix.json");
    let output = workbench(&[
        "profile",
        "--mix",
        mix.to_str().expect("utf-8"),
        "--quiet",
        "--export",
        export.to_str().expect("utf-8"),
    ]);
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let document: serde_json::Value =
        serde_json::from_slice(&std::fs::read(&export).expect("mix")).expect("json");
    let models = document["models"].as_array().expect("models");
    let remote = &models[0]["session"];
    assert_eq!(remote["remote"]["server"]["name"], "kserve");
    assert!(
        remote["summary"]["requests_ok"].as_u64() > Some(10),
        "{remote}"
    );
    let local = &models[1]["session"];
    assert!(local["remote"].is_null());
    assert!(local["summary"]["requests_ok"].as_u64() > Some(100));
}
