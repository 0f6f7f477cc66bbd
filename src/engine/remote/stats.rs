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
