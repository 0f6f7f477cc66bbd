//! The server's side of the latency: Triton's statistics extension (gRPC
//! `ModelStatistics`, `GET /v2/models/NAME/stats`), sampled once per window,
//! or, where that API is absent or refused (restricted without a token), the
//! same counters from Triton's Prometheus metrics (`--metrics-url`:
//! `nv_inference_*` for the target model and version). The counters are
//! cumulative; each window keeps the difference, as mean queue,
//! compute-input, compute-infer and compute-output times per request, to set
//! beside the client's end-to-end time, and the batch size the server
//! executed (inferences per execution: Triton's dynamic batcher at work).
//! Servers with neither (KServe, MLServer) leave a note instead.

use std::{
    sync::atomic::{AtomicBool, Ordering},
    time::{Duration, Instant},
};

use serde::{Deserialize, Serialize};

use super::counters::{ServerWindow, StatsSource, StatsTotals};
use super::{Client, RemoteError};
use crate::engine::target::RemoteTarget;

/// Windows kept (one hour of 1-second windows).
pub const MAX_SERVER_WINDOWS: usize = 3600;

/// The server-side view of a run.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct ServerStatsReport {
    /// The server offers the statistics extension, or its metrics gave the
    /// same figures.
    pub offered: bool,
    /// Where the figures came from.
    pub source: Option<StatsSource>,
    /// Why there are no statistics, or what went wrong sampling them.
    pub note: Option<String>,
    /// One entry per window.
    pub windows: Vec<ServerWindow>,
    /// The whole load (warm-up excluded where the windows allow).
    pub total: Option<ServerWindow>,
}

/// Reads a model's counters from the server's Prometheus metrics, with the
/// target's headers.
pub struct MetricsReader {
    agent: ureq::Agent,
    url: String,
    model: String,
    version: Option<String>,
}

/// Longest a metrics read may take.
const METRICS_TIMEOUT: Duration = Duration::from_secs(2);

impl MetricsReader {
    pub fn new(url: &str, target: &RemoteTarget) -> Result<Self, RemoteError> {
        let config = ureq::Agent::config_builder().timeout_global(Some(METRICS_TIMEOUT));
        let agent: ureq::Agent = crate::engine::headers::HttpHeaders::new(&target.headers)?
            .apply(config)
            .build()
            .into();
        Ok(Self {
            agent,
            url: url.to_owned(),
            model: target.model_name.clone(),
            version: target.model_version.clone(),
        })
    }

    fn read(&self) -> Result<StatsTotals, String> {
        let text = crate::telemetry::prometheus::fetch_page(&self.agent, &self.url)
            .map_err(|err| format!("{}: {err}", self.url))?;
        StatsTotals::from_metrics(&text, &self.model, self.version.as_deref())
    }
}

/// What the per-window counters are read from.
enum Reader<'a> {
    Api(&'a mut Client),
    Metrics(MetricsReader),
}

impl Reader<'_> {
    fn read(&mut self) -> Result<Option<StatsTotals>, String> {
        match self {
            Self::Api(client) => client.statistics().map_err(|err| err.to_string()),
            Self::Metrics(metrics) => metrics.read().map(Some),
        }
    }
}

/// Samples the server's counters every `interval` until `stop`; the first
/// sample is taken at once (the baseline). The statistics API first; where
/// it is absent or refused, `metrics` (the target's `--metrics-url`).
/// `measure_start` is the warm-up's length: windows before it do not count
/// in the total.
pub fn sample(
    client: &mut Client,
    metrics: Option<MetricsReader>,
    interval: Duration,
    stop: &AtomicBool,
    measure_start: Duration,
) -> ServerStatsReport {
    let mut report = ServerStatsReport::default();
    let started = Instant::now();
    let api_missing = match client.statistics() {
        Ok(Some(totals)) => Ok(totals),
        Ok(None) => Err(
            "the server does not offer the statistics extension (Triton's ModelStatistics)"
                .to_owned(),
        ),
        Err(err) => Err(format!("server statistics could not be read: {err}")),
    };
    let (mut reader, baseline) = match (api_missing, metrics) {
        (Ok(totals), _) => {
            report.source = Some(StatsSource::StatisticsApi);
            (Reader::Api(client), totals)
        }
        (Err(why), Some(metrics)) => match metrics.read() {
            Ok(totals) => {
                report.source = Some(StatsSource::Metrics);
                report.note = Some(format!(
                    "{why}; server times from its Prometheus metrics instead"
                ));
                (Reader::Metrics(metrics), totals)
            }
            Err(err) => {
                report.note = Some(format!(
                    "{why}; its Prometheus metrics gave none either: {err}"
                ));
                return report;
            }
        },
        (Err(why), None) => {
            report.note = Some(format!(
                "{why}; no server-side times (Triton's metrics, {}, would give them)",
                crate::field::Field::MetricsUrl
            ));
            return report;
        }
    };
    report.offered = true;
    let mut previous = baseline;
    let mut measured_from: Option<StatsTotals> = None;
    let mut index = 0u64;
    loop {
        let next = interval * (index as u32 + 1);
        while started.elapsed() < next {
            if stop.load(Ordering::Relaxed) {
                break;
            }
            std::thread::sleep(Duration::from_millis(20).min(next - started.elapsed().min(next)));
        }
        let stopping = stop.load(Ordering::Relaxed);
        match reader.read() {
            Ok(Some(totals)) => {
                if report.windows.len() < MAX_SERVER_WINDOWS {
                    report.windows.push(previous.window_to(&totals, index));
                }
                if measured_from.is_none() && started.elapsed() >= measure_start {
                    measured_from = Some(previous);
                }
                previous = totals;
            }
            Ok(None) => break,
            Err(err) => {
                report.note = Some(format!("server statistics stopped: {err}"));
                break;
            }
        }
        index += 1;
        if stopping {
            break;
        }
    }
    let reset = report.windows.iter().any(|window| window.counter_reset);
    report.total = Some(measured_from.unwrap_or(baseline).window_to(&previous, 0));
    if reset {
        report.total = None;
        report.note = Some(
            "the server's counters went down during the run (it restarted): per-window figures \
             only"
                .to_owned(),
        );
    }
    report
}

/// The server's times beside the client's mean end-to-end time, as text.
pub fn render(report: &ServerStatsReport, client_mean_micros: Option<f64>) -> String {
    let Some(total) = report.total.filter(|_| report.offered) else {
        return report
            .note
            .clone()
            .unwrap_or_else(|| "no server statistics".to_owned());
    };
    let mut text = format!(
        "server (per request, {} requests): queue {:.0} µs, compute input {:.0} µs, infer {:.0} µs, output {:.0} µs = {:.0} µs",
        total.requests,
        total.queue_micros,
        total.compute_input_micros,
        total.compute_infer_micros,
        total.compute_output_micros,
        total.server_micros()
    );
    if let Some(batch) = total.executed_batch() {
        text.push_str(&format!(", executed batch {batch:.2}"));
    }
    if let Some(source) = report.source {
        text.push_str(&format!(" (from {source})"));
    }
    if let Some(client) = client_mean_micros {
        text.push_str(&format!(
            "; client end-to-end mean {client:.0} µs, so network and client overhead ≈ {:.0} µs",
            client - total.server_micros()
        ));
    }
    if let Some(note) = &report.note {
        text.push_str(&format!(" ({note})"));
    }
    text
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_triton_json_and_makes_windows() {
        let body = br#"{"model_stats":[{"name":"m","version":"1","inference_stats":{
            "success":{"count":10,"ns":5000000},"queue":{"count":10,"ns":1000000},
            "compute_input":{"count":10,"ns":200000},"compute_infer":{"count":10,"ns":3000000},
            "compute_output":{"count":10,"ns":100000}}}]}"#;
        let later = StatsTotals::from_json(body).expect("stats");
        assert_eq!(later.success_count, 10);
        let window = StatsTotals::default().window_to(&later, 3);
        assert_eq!(window.index, 3);
        assert_eq!(window.requests, 10);
        assert!((window.queue_micros - 100.0).abs() < 1e-9);
        assert!((window.compute_infer_micros - 300.0).abs() < 1e-9);
        assert!((window.server_micros() - 430.0).abs() < 1e-9);
        let quiet = later.window_to(&later, 4);
        assert_eq!(quiet.requests, 0);
        assert_eq!(quiet.queue_micros, 0.0);
        assert!(StatsTotals::from_json(b"{}").is_err());
    }

    /// Lines of a real Triton 2.51 `/metrics` (PyTriton, CPU only), with a
    /// second version and another model added.
    const TRITON_METRICS: &str = r#"# HELP nv_inference_request_success Number of successful inference requests, all batch sizes
# TYPE nv_inference_request_success counter
nv_inference_request_success{model="dyn",version="1"} 4683
nv_inference_request_success{model="dyn",version="2"} 17
nv_inference_request_success{model="other",version="1"} 99
# TYPE nv_inference_request_failure counter
nv_inference_request_failure{model="dyn",reason="OTHER",version="1"} 0
# TYPE nv_inference_count counter
nv_inference_count{model="dyn",version="1"} 4683
# TYPE nv_inference_exec_count counter
nv_inference_exec_count{model="dyn",version="1"} 1401
# TYPE nv_inference_queue_duration_us counter
nv_inference_queue_duration_us{model="dyn",version="1"} 11542065
# TYPE nv_inference_compute_input_duration_us counter
nv_inference_compute_input_duration_us{model="dyn",version="1"} 162043
# TYPE nv_inference_compute_infer_duration_us counter
nv_inference_compute_infer_duration_us{model="dyn",version="1"} 17389945
# TYPE nv_inference_compute_output_duration_us counter
nv_inference_compute_output_duration_us{model="dyn",version="1"} 1283763
# TYPE nv_inference_pending_request_count gauge
nv_inference_pending_request_count{model="dyn",version="1"} 0
# HELP nv_cpu_utilization CPU utilization rate [0.0 - 1.0]
# TYPE nv_cpu_utilization gauge
nv_cpu_utilization 0.25
"#;

    #[test]
    fn reads_a_models_counters_from_triton_metrics() {
        let totals = StatsTotals::from_metrics(TRITON_METRICS, "dyn", Some("1")).expect("reads");
        assert_eq!(totals.success_count, 4683);
        assert_eq!(totals.queue_nanos, 11_542_065_000);
        assert_eq!(totals.compute_infer_nanos, 17_389_945_000);
        assert_eq!(totals.inference_count, 4683);
        assert_eq!(totals.execution_count, 1401);
        // Without a version, the versions are summed; other models never.
        let all = StatsTotals::from_metrics(TRITON_METRICS, "dyn", None).expect("reads");
        assert_eq!(all.success_count, 4700);
        let window = StatsTotals::default().window_to(&totals, 0);
        let batch = window.executed_batch().expect("batch");
        assert!((batch - 4683.0 / 1401.0).abs() < 1e-9, "{batch}");
        assert!((window.queue_micros - 11_542_065.0 / 4683.0).abs() < 1e-6);
        let err = StatsTotals::from_metrics(TRITON_METRICS, "absent", None).expect_err("none");
        assert!(err.contains("absent"), "{err}");
        assert!(StatsTotals::from_metrics("nv_cpu_utilization 0.2\n", "dyn", None).is_err());
    }

    #[test]
    fn a_counter_that_goes_down_counts_from_zero() {
        let before = StatsTotals {
            success_count: 1000,
            queue_nanos: 5_000_000,
            ..StatsTotals::default()
        };
        let after = StatsTotals {
            success_count: 10,
            queue_nanos: 20_000,
            inference_count: 10,
            execution_count: 5,
            ..StatsTotals::default()
        };
        let window = before.window_to(&after, 7);
        assert!(window.counter_reset);
        assert_eq!(window.requests, 10);
        assert!((window.queue_micros - 2.0).abs() < 1e-9);
        assert_eq!(window.executed_batch(), Some(2.0));
        assert!(!StatsTotals::default().window_to(&before, 0).counter_reset);
    }

    #[test]
    fn sums_proto_versions() {
        let entry = |count, ns| proto::ModelStatistics {
            inference_stats: Some(proto::InferStatistics {
                success: Some(proto::StatisticDuration { count, ns }),
                queue: Some(proto::StatisticDuration { count, ns }),
                ..Default::default()
            }),
            ..Default::default()
        };
        let totals = StatsTotals::from_proto(&[entry(2, 10), entry(3, 20)]);
        assert_eq!(totals.success_count, 5);
        assert_eq!(totals.queue_nanos, 30);
    }

    #[test]
    fn renders_the_split_or_the_note() {
        let report = ServerStatsReport {
            offered: true,
            total: Some(ServerWindow {
                requests: 5,
                queue_micros: 10.0,
                compute_infer_micros: 90.0,
                ..Default::default()
            }),
            ..Default::default()
        };
        let text = render(&report, Some(250.0));
        assert!(
            text.contains("infer 90 µs") && text.contains("≈ 150 µs"),
            "{text}"
        );
        let none = ServerStatsReport {
            note: Some("not offered".to_owned()),
            ..Default::default()
        };
        assert_eq!(render(&none, Some(1.0)), "not offered");
    }
}
