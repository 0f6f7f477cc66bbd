//! Writing sessions: JSON document, CSV tables, Chrome/Perfetto trace.

use std::path::{Path, PathBuf};

use serde_json::json;

use super::{cost_report::LayerCsvRow, document::SessionDocument, error::SessionError};
use crate::{engine::LoadMode, util::write_atomic};

/// Writes the session document as pretty JSON.
pub fn write_json(document: &SessionDocument, path: &Path) -> Result<(), SessionError> {
    let text =
        serde_json::to_vec_pretty(document).map_err(|err| SessionError::Encode(err.to_string()))?;
    write_atomic(path, &text)?;
    Ok(())
}

/// Rows as CSV, with a header from the first.
pub fn to_csv<T: serde::Serialize>(rows: &[T]) -> Result<Vec<u8>, SessionError> {
    let mut writer = csv::Writer::from_writer(Vec::new());
    for row in rows {
        writer
            .serialize(row)
            .map_err(|err| SessionError::Encode(err.to_string()))?;
    }
    writer
        .into_inner()
        .map_err(|err| SessionError::Encode(err.to_string()))
}

/// One row of `server.csv`: a window of the server's own times.
#[derive(serde::Serialize)]
struct ServerCsvRow {
    window: u64,
    requests: u64,
    queue_micros: f64,
    compute_input_micros: f64,
    compute_infer_micros: f64,
    compute_output_micros: f64,
    server_micros: f64,
    executed_batch: Option<f64>,
    /// `statistics_api` or `metrics`.
    source: String,
}

fn server_rows(stats: &crate::engine::remote::ServerStatsReport) -> Vec<ServerCsvRow> {
    let source = match stats.source {
        Some(crate::engine::remote::StatsSource::StatisticsApi) => "statistics_api",
        Some(crate::engine::remote::StatsSource::Metrics) => "metrics",
        None => "",
    };
    stats
        .windows
        .iter()
        .map(|window| ServerCsvRow {
            window: window.index,
            requests: window.requests,
            queue_micros: window.queue_micros,
            compute_input_micros: window.compute_input_micros,
            compute_infer_micros: window.compute_infer_micros,
            compute_output_micros: window.compute_output_micros,
            server_micros: window.server_micros(),
            executed_batch: window.executed_batch(),
            source: source.to_owned(),
        })
        .collect()
}

/// Writes `layers.csv`, `op_types.csv`, `timeseries.csv`, `telemetry.csv` and `gpu.csv`
/// into `dir` (created if needed), `batch_sizes.csv` for a batched run,
/// `tokens.csv` for a generative one and `server.csv` (the server's own
/// times per window) for a remote one.
/// Returns the paths written.
pub fn write_csv(document: &SessionDocument, dir: &Path) -> Result<Vec<PathBuf>, SessionError> {
    std::fs::create_dir_all(dir).map_err(|source| SessionError::CreateDir {
        source,
        path: dir.to_path_buf(),
    })?;
    let run = &document.run;
    let (nodes, op_types) = match &run.layers {
        Some(layers) => (layers.nodes.as_slice(), layers.op_types.as_slice()),
        None => (&[][..], &[][..]),
    };
    let mut files = vec![
        (
            "layers.csv",
            to_csv(&nodes.iter().map(LayerCsvRow::from).collect::<Vec<_>>())?,
        ),
        ("op_types.csv", to_csv(op_types)?),
        // The encoded window histograms are for merging, not for spreadsheets.
        (
            "timeseries.csv",
            to_csv(
                &run.timeseries
                    .iter()
                    .map(|window| crate::metrics::WindowStats {
                        latency_histogram: None,
                        ..window.clone()
                    })
                    .collect::<Vec<_>>(),
            )?,
        ),
        ("summary.csv", to_csv(&summary_rows(run))?),
        ("telemetry.csv", to_csv(&run.telemetry)?),
        ("gpu.csv", to_csv(&run.gpu_telemetry)?),
    ];
    if let Some(batching) = &run.batching {
        files.push(("batch_sizes.csv", to_csv(&batching.batch_sizes)?));
    }
    if !run.trace.token_events.is_empty() {
        files.push(("tokens.csv", to_csv(&run.trace.token_events)?));
    }
    if let Some(stats) = run
        .remote
        .as_ref()
        .map(|remote| &remote.server_stats)
        .filter(|stats| !stats.windows.is_empty())
    {
        files.push(("server.csv", to_csv(&server_rows(stats))?));
    }
    let mut written = Vec::with_capacity(files.len());
    for (name, bytes) in files {
        let path = dir.join(name);
        write_atomic(&path, &bytes)?;
        written.push(path);
    }
    Ok(written)
}

/// One row of `summary.csv`: a measure of the run with its percentiles and
/// their 95 % intervals, and the run's validity.
#[derive(Debug, serde::Serialize)]
struct SummaryCsvRow {
    measure: &'static str,
    count: u64,
    mean_micros: f64,
    p50_micros: f64,
    p50_ci_low_micros: Option<f64>,
    p50_ci_high_micros: Option<f64>,
    p90_micros: f64,
    p95_micros: f64,
    p99_micros: f64,
    p99_ci_low_micros: Option<f64>,
    p99_ci_high_micros: Option<f64>,
    p999_micros: f64,
    max_micros: f64,
    validity: String,
}

fn summary_rows(run: &crate::engine::RunRecord) -> Vec<SummaryCsvRow> {
    let Some(summary) = &run.summary else {
        return Vec::new();
    };
    let validity = summary
        .validity
        .as_ref()
        .map_or_else(String::new, |validity| validity.line());
    let generation = summary.generation.as_ref();
    [
        ("end_to_end", summary.latency.as_ref()),
        ("queue", summary.queue.as_ref()),
        ("run", summary.service.as_ref()),
        ("lateness", summary.lateness.as_ref()),
        ("ttft", generation.and_then(|g| g.ttft.as_ref())),
        ("itl", generation.and_then(|g| g.itl.as_ref())),
        ("tpot", generation.and_then(|g| g.tpot.as_ref())),
    ]
    .into_iter()
    .filter_map(|(measure, latency)| {
        latency.map(|latency| SummaryCsvRow {
            measure,
            count: latency.count,
            mean_micros: latency.mean_micros,
            p50_micros: latency.p50_micros,
            p50_ci_low_micros: latency.p50_ci_micros.map(|ci| ci[0]),
            p50_ci_high_micros: latency.p50_ci_micros.map(|ci| ci[1]),
            p90_micros: latency.p90_micros,
            p95_micros: latency.p95_micros,
            p99_micros: latency.p99_micros,
            p99_ci_low_micros: latency.p99_ci_micros.map(|ci| ci[0]),
            p99_ci_high_micros: latency.p99_ci_micros.map(|ci| ci[1]),
            p999_micros: latency.p999_micros,
            max_micros: latency.max_micros,
            validity: validity.clone(),
        })
    })
    .collect()
}

/// Process id of the load generator in the trace.
const LOAD_PID: u32 = 1;
/// Process id of ONNX Runtime's profiled runs in the trace.
const ORT_PID: u32 = 2;

/// Builds the Chrome trace (the JSON object format) of a session.
pub fn chrome_trace(document: &SessionDocument) -> serde_json::Value {
    let run = &document.run;
    let trace = &run.trace;
    let mut events =
        Vec::with_capacity(trace.request_spans.len() * 2 + trace.node_events.len() + 16);
    events.push(json!({"name": "process_name", "ph": "M", "pid": LOAD_PID,
        "args": {"name": "onnx-workbench load (request spans)"}}));
    let mut workers: Vec<u16> = trace.request_spans.iter().map(|span| span.worker).collect();
    workers.sort_unstable();
    workers.dedup();
    for worker in workers {
        events.push(
            json!({"name": "thread_name", "ph": "M", "pid": LOAD_PID, "tid": worker,
            "args": {"name": format!("wb-worker-{worker}")}}),
        );
    }
    let is_open_loop = matches!(run.config.load, LoadMode::Open { .. });
    for span in &trace.request_spans {
        let queue_micros = span.start_micros.saturating_sub(span.scheduled_micros);
        if is_open_loop && queue_micros > 0 {
            events.push(json!({"name": "queued", "cat": "request", "ph": "X", "pid": LOAD_PID, "tid": span.worker,
                "ts": span.scheduled_micros, "dur": queue_micros}));
        }
        events.push(json!({"name": "request", "cat": "request", "ph": "X", "pid": LOAD_PID, "tid": span.worker,
            "ts": span.start_micros, "dur": span.end_micros.saturating_sub(span.start_micros),
            "args": {"ok": span.is_ok, "queue_us": queue_micros}}));
    }
    for token in &trace.token_events {
        events.push(
            json!({"name": "token", "cat": "token", "ph": "i", "s": "t", "pid": LOAD_PID,
            "tid": token.worker, "ts": token.micros,
            "args": {"request": token.request, "row": token.row, "token": token.token}}),
        );
    }
    if !trace.node_events.is_empty() {
        events.push(json!({"name": "process_name", "ph": "M", "pid": ORT_PID,
            "args": {"name": "ONNX Runtime profiler (per-layer runs)"}}));
        for model_run in &trace.model_runs {
            events.push(
                json!({"name": "model_run", "cat": "Session", "ph": "X", "pid": ORT_PID, "tid": 0,
                "ts": model_run.ts_micros, "dur": model_run.dur_micros}),
            );
        }
        for node in &trace.node_events {
            events.push(json!({"name": node.node, "cat": "Node", "ph": "X", "pid": ORT_PID, "tid": node.thread_id,
                "ts": node.ts_micros, "dur": node.dur_micros,
                "args": {"op_type": node.op_type, "provider": node.provider}}));
        }
    }
    json!({
        "traceEvents": events,
        "displayTimeUnit": "ms",
        "otherData": {
            "tool": format!("{} {}", document.tool.name, document.tool.version),
            "model": run.model.as_ref().map(|model| model.file_name.clone()),
            "note": "request spans and ONNX Runtime events have separate time origins",
        }
    })
}

/// Writes the Chrome/Perfetto trace.
pub fn write_chrome_trace(document: &SessionDocument, path: &Path) -> Result<(), SessionError> {
    let text = serde_json::to_vec(&chrome_trace(document))
        .map_err(|err| SessionError::Encode(err.to_string()))?;
    write_atomic(path, &text)?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn timeseries_rows_keep_their_columns_when_some_windows_lack_a_value() {
        let mut document = SessionDocument::from_json(
            include_str!("../../tests/data/sessions/v1.json"),
            Path::new("v1.json"),
        )
        .expect("the v1 fixture");
        let windows = &mut document.run.timeseries;
        let first = windows.first().cloned().expect("the fixture has a window");
        windows.truncate(1);
        windows.push(first);
        // A generative run whose first window finished no request.
        windows[1].ttft_p99_micros = Some(1_500.0);
        windows[1].kv_cache_bytes = Some(65_536);
        let dir = tempfile::tempdir().expect("tempdir");
        write_csv(&document, dir.path()).expect("csv");
        let text = std::fs::read_to_string(dir.path().join("timeseries.csv")).expect("read");
        let mut lines = text.lines();
        let header: Vec<&str> = lines.next().expect("header").split(',').collect();
        let column = header
            .iter()
            .position(|name| *name == "kv_cache_bytes")
            .expect("kv_cache_bytes column");
        let rows: Vec<Vec<&str>> = lines.map(|line| line.split(',').collect()).collect();
        assert!(rows.iter().all(|row| row.len() == header.len()));
        assert_eq!(rows[0][column], "");
        assert_eq!(rows[1][column], "65536");
    }
}
