//! `report --merge` of sessions recorded at the same time by separate
//! processes (as separate load machines would), and `profile --metrics-url`
//! against a small HTTP server that serves a Triton `/metrics` page.

use std::{
    io::{Read as _, Write as _},
    net::TcpListener,
    path::Path,
    process::Command,
    sync::{
        Arc,
        atomic::{AtomicBool, Ordering},
    },
    thread::JoinHandle,
    time::Duration,
};

use onnx_workbench::{
    engine::RunStatus, metrics::LatencyHistogram, session::SessionDocument, telemetry::GpuSource,
};

use crate::{quick_config, repo_path, run, workbench};

fn utf8(path: &Path) -> &str {
    path.to_str().expect("utf-8")
}

fn decoded_histogram(document: &SessionDocument) -> LatencyHistogram {
    let encoded = document.run.latency_histogram.as_ref().expect("histogram");
    LatencyHistogram::decode(&encoded.data, encoded.outliers).expect("decode")
}

#[test]
fn sessions_profiled_at_once_merge_exactly() {
    let dir = tempfile::tempdir().expect("tempdir");
    let model = repo_path("sample_models/mlp.onnx");
    let sessions = [dir.path().join("a.json"), dir.path().join("b.json")];
    // Two load generators at once, one with two clients.
    let children: Vec<_> = sessions
        .iter()
        .zip(["1", "2"])
        .map(|(session, concurrency)| {
            Command::new(env!("CARGO_BIN_EXE_onnx-workbench"))
                .args([
                    "profile",
                    utf8(&model),
                    "--duration",
                    "3s",
                    "--warmup",
                    "300ms",
                    "--concurrency",
                    concurrency,
                    "--no-layer-profile",
                    "--quiet",
                    "--export",
                    utf8(session),
                ])
                .stdout(std::process::Stdio::null())
                .spawn()
                .expect("spawn profile")
        })
        .collect();
    for mut child in children {
        assert!(child.wait().expect("wait").success());
    }
    let sources: Vec<SessionDocument> = sessions
        .iter()
        .map(|path| SessionDocument::load(path).expect("load"))
        .collect();
    for source in &sources {
        assert!(source.run.measured_from_unix_micros.is_some());
        assert!(
            source
                .run
                .timeseries
                .iter()
                .all(|w| w.requests == 0 || w.latency_histogram.is_some())
        );
    }

    let merged_path = dir.path().join("merged.json");
    let output = workbench(&[
        "report",
        "--merge",
        utf8(&sessions[0]),
        utf8(&sessions[1]),
        "--export",
        utf8(&merged_path),
    ]);
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(
        output.status.success(),
        "{stdout}{}",
        String::from_utf8_lossy(&output.stderr)
    );
    assert!(stdout.contains("Merged      2 sessions"), "{stdout}");
    assert!(
        stdout.contains("(a.json") && stdout.contains("(b.json"),
        "{stdout}"
    );

    let merged = SessionDocument::load(&merged_path).expect("the merged session loads");
    let summary = merged.run.summary.as_ref().expect("summary");
    let source_summaries: Vec<_> = sources
        .iter()
        .map(|s| s.run.summary.as_ref().expect("summary"))
        .collect();
    assert_eq!(
        summary.requests_ok,
        source_summaries.iter().map(|s| s.requests_ok).sum::<u64>()
    );
    let rate_sum: f64 = source_summaries.iter().map(|s| s.inferences_per_sec).sum();
    assert!((summary.inferences_per_sec - rate_sum).abs() < 1e-6 * rate_sum);

    // Percentiles: between the two machines', and exactly those of both
    // histograms added.
    let latency = summary.latency.expect("latency");
    let (a, b) = (
        source_summaries[0].latency.expect("a"),
        source_summaries[1].latency.expect("b"),
    );
    for (merged_p, a_p, b_p) in [
        (latency.p50_micros, a.p50_micros, b.p50_micros),
        (latency.p99_micros, a.p99_micros, b.p99_micros),
    ] {
        assert!(
            a_p.min(b_p) <= merged_p && merged_p <= a_p.max(b_p),
            "{merged_p} {a_p} {b_p}"
        );
    }
    let mut both = decoded_histogram(&sources[0]);
    both.merge(&decoded_histogram(&sources[1]));
    assert_eq!(latency.count, both.len());
    assert_eq!(latency.p99_micros, both.quantile_micros(0.99));

    // Windows: every request is in one merged window, and the windows where
    // both ran carry both machines' throughput.
    let windowed = |document: &SessionDocument| -> u64 {
        document.run.timeseries.iter().map(|w| w.requests).sum()
    };
    assert_eq!(windowed(&merged), sources.iter().map(windowed).sum::<u64>());
    // Each source window lands in the merged second that holds its middle,
    // on the wall clock; both machines ran in every full merged window.
    let origin = sources
        .iter()
        .filter_map(|s| s.run.measured_from_unix_micros)
        .min()
        .expect("origin");
    let mut expected = std::collections::BTreeMap::<u64, u64>::new();
    for source in &sources {
        let offset_secs =
            (source.run.measured_from_unix_micros.expect("start") - origin) as f64 / 1e6;
        for window in &source.run.timeseries {
            let middle = offset_secs + window.start_secs + window.duration_secs / 2.0;
            *expected.entry(middle.floor() as u64).or_default() += window.requests;
        }
    }
    let actual: std::collections::BTreeMap<u64, u64> = merged
        .run
        .timeseries
        .iter()
        .map(|w| (w.start_secs as u64, w.requests))
        .collect();
    assert_eq!(actual, expected);
    let full_source_rate =
        |source: &SessionDocument, second: usize| source.run.timeseries[second].inferences_per_sec;
    // The second window of the merge: both machines were measuring (the
    // later one starts well within a second of the first).
    let offset_b = (sources[1].run.measured_from_unix_micros.expect("b") as f64
        - sources[0].run.measured_from_unix_micros.expect("a") as f64)
        / 1e6;
    assert!(offset_b.abs() < 1.0, "the runs started {offset_b} s apart");
    assert!(
        merged.run.timeseries[1].inferences_per_sec
            > full_source_rate(&sources[0], 1).max(full_source_rate(&sources[1], 1))
    );
    assert!(merged.run.timeseries.iter().any(|w| w.p99_micros.is_some()));
    assert_eq!(merged.merged_from.len(), 2);

    // The JSON printout is the same document.
    let output = workbench(&[
        "report",
        "--merge",
        utf8(&sessions[0]),
        utf8(&sessions[1]),
        "--json",
    ]);
    let json: serde_json::Value = serde_json::from_slice(&output.stdout).expect("json");
    assert_eq!(json["merged_from"].as_array().map(Vec::len), Some(2));

    // The GUI opens it like any session.
    #[cfg(feature = "gui")]
    {
        let mut harness = crate::ui::harness_of_height(1000.0);
        harness.state_mut().open_session(merged_path.clone());
        crate::ui::step_until(&mut harness, "the merged session", |app| {
            app.sessions
                .history
                .iter()
                .any(|shown| shown.name.contains("merged x2"))
        });
        harness.run_steps(3);
    }

    // Refusals, with the reason.
    let output = workbench(&["report", "--merge", utf8(&merged_path), utf8(&sessions[0])]);
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(!output.status.success());
    assert!(stderr.contains("already a merge"), "{stderr}");
    let garbage = dir.path().join("garbage.json");
    std::fs::write(&garbage, "{\"not\": \"a session\"}").expect("write");
    let output = workbench(&["report", "--merge", utf8(&sessions[0]), utf8(&garbage)]);
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(!output.status.success());
    assert!(stderr.contains("not an onnx-workbench session"), "{stderr}");
    let output = workbench(&["report", "--merge", utf8(&sessions[0])]);
    assert!(!output.status.success(), "one session is not a merge");

    let mut other_model: serde_json::Value =
        serde_json::from_slice(&std::fs::read(&sessions[1]).expect("read")).expect("json");
    other_model["model"]["sha256"] = serde_json::json!("0".repeat(64));
    let other_path = dir.path().join("other.json");
    std::fs::write(&other_path, other_model.to_string()).expect("write");
    let output = workbench(&["report", "--merge", utf8(&sessions[0]), utf8(&other_path)]);
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(!output.status.success());
    assert!(stderr.contains("another model"), "{stderr}");

    let mut no_histogram = other_model;
    no_histogram["model"] = sources[1]
        .run
        .model
        .as_ref()
        .map_or(serde_json::Value::Null, |m| {
            serde_json::to_value(m).expect("model")
        });
    no_histogram["latency_histogram"] = serde_json::Value::Null;
    std::fs::write(&other_path, no_histogram.to_string()).expect("write");
    let output = workbench(&["report", "--merge", utf8(&sessions[0]), utf8(&other_path)]);
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(!output.status.success());
    assert!(stderr.contains("no latency histogram"), "{stderr}");
}

/// Serves `body` as a Prometheus page to every connection until dropped.
struct MetricsServer {
    url: String,
    stop: Arc<AtomicBool>,
    thread: Option<JoinHandle<u64>>,
}

impl MetricsServer {
    fn start(body: String) -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
        let url = format!("http://{}/metrics", listener.local_addr().expect("addr"));
        listener.set_nonblocking(true).expect("nonblocking");
        let stop = Arc::new(AtomicBool::new(false));
        let thread_stop = Arc::clone(&stop);
        let thread = std::thread::Builder::new()
            .name("test-metrics-server".to_owned())
            .spawn(move || {
                let mut served = 0;
                while !thread_stop.load(Ordering::Relaxed) {
                    let Ok((mut stream, _)) = listener.accept() else {
                        std::thread::sleep(Duration::from_millis(10));
                        continue;
                    };
                    let _ = stream.set_nonblocking(false);
                    let _ = stream.set_read_timeout(Some(Duration::from_secs(2)));
                    let mut request = Vec::new();
                    let mut buffer = [0u8; 1024];
                    while !request.windows(4).any(|w| w == b"\r\n\r\n") && request.len() < 65536 {
                        match stream.read(&mut buffer) {
                            Ok(0) | Err(_) => break,
                            Ok(n) => request.extend_from_slice(&buffer[..n]),
                        }
                    }
                    let response = format!(
                        "HTTP/1.1 200 OK\r\nContent-Type: text/plain; version=0.0.4\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
                        body.len()
                    );
                    if stream.write_all(response.as_bytes()).is_ok() {
                        served += 1;
                    }
                }
                served
            })
            .expect("spawn");
        Self {
            url,
            stop,
            thread: Some(thread),
        }
    }

    fn finish(mut self) -> u64 {
        self.stop.store(true, Ordering::Relaxed);
        self.thread
            .take()
            .map_or(0, |thread| thread.join().expect("server thread"))
    }
}

impl Drop for MetricsServer {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

#[test]
fn metrics_url_fills_the_gpu_series() {
    let page = std::fs::read_to_string(repo_path("tests/data/metrics/triton_metrics.txt"))
        .expect("the captured page");
    let server = MetricsServer::start(page);
    let record = run(
        &repo_path("sample_models/mlp.onnx"),
        onnx_workbench::engine::ProfileConfig {
            duration_secs: Some(2.0),
            metrics_url: Some(server.url.clone()),
            ..quick_config()
        },
    );
    let served = server.finish();
    assert_eq!(record.status, RunStatus::Completed, "{:?}", record.failure);
    assert!(
        !record.warnings.iter().any(|w| w.contains("metrics_url")),
        "{:?}",
        record.warnings
    );
    let scraped: Vec<_> = record
        .gpu_telemetry
        .iter()
        .filter(|s| s.source == GpuSource::Prometheus)
        .collect();
    // One scrape per second from the start: at least two in 2.1 s, each with
    // both GPUs.
    assert!(served >= 2, "{served} scrapes served");
    assert!(scraped.len() >= 4 && scraped.len() % 2 == 0, "{scraped:?}");
    let first = scraped
        .iter()
        .find(|s| s.device_uuid.as_deref() == Some("GPU-9d1e3b5f-2a4c-4e6d-8f0a-1c3e5a7b9d02"))
        .expect("the second GPU");
    assert_eq!(first.device_index, 1);
    assert_eq!(first.utilization_percent, Some(81));
    assert_eq!(first.memory_used_bytes, Some(6_442_450_944));
    assert_eq!(first.memory_total_bytes, Some(85_899_345_920));
    assert_eq!(first.power_milliwatts, Some(301_600));
    assert!(
        scraped
            .windows(2)
            .all(|pair| pair[0].t_secs <= pair[1].t_secs)
    );
}

#[test]
fn an_unreachable_metrics_url_is_a_warning() {
    let port = TcpListener::bind("127.0.0.1:0")
        .and_then(|listener| listener.local_addr())
        .map(|addr| addr.port())
        .expect("a free port");
    let url = format!("http://127.0.0.1:{port}/metrics");
    let record = run(
        &repo_path("sample_models/mlp.onnx"),
        onnx_workbench::engine::ProfileConfig {
            metrics_url: Some(url.clone()),
            ..quick_config()
        },
    );
    assert_eq!(record.status, RunStatus::Completed, "{:?}", record.failure);
    assert!(record.summary.as_ref().is_some_and(|s| s.requests_ok > 0));
    assert!(
        record
            .warnings
            .iter()
            .any(|w| w.contains(&url) && w.contains("no GPU readings")),
        "{:?}",
        record.warnings
    );
}
