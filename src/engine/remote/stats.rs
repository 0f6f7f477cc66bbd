//! The server's side of the latency: Triton's statistics extension (gRPC
//! `ModelStatistics`, `GET /v2/models/NAME/stats`), sampled once per window.
//! The counters are cumulative; each window keeps the difference, as mean
//! queue, compute-input, compute-infer and compute-output times per request,
//! to set beside the client's end-to-end time. Servers without the
//! extension (KServe, MLServer) leave a note instead.

use std::{
    sync::atomic::{AtomicBool, Ordering},
    time::{Duration, Instant},
};

use serde::{Deserialize, Serialize};

use super::{Client, proto};

/// Windows kept (one hour of 1-second windows).
pub const MAX_SERVER_WINDOWS: usize = 3600;

/// Cumulative counters of one model on the server.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct StatsTotals {
    /// Successful requests.
    pub success_count: u64,
    pub queue_nanos: u64,
    pub compute_input_nanos: u64,
    pub compute_infer_nanos: u64,
    pub compute_output_nanos: u64,
}

impl StatsTotals {
    /// Sums the entries (every version) of a gRPC answer.
    pub(super) fn from_proto(stats: &[proto::ModelStatistics]) -> Self {
        let mut totals = Self::default();
        for model in stats {
            let Some(inference) = &model.inference_stats else {
                continue;
            };
            let ns = |duration: &Option<proto::StatisticDuration>| {
                duration.as_ref().map_or(0, |duration| duration.ns)
            };
            totals.success_count += inference.success.as_ref().map_or(0, |d| d.count);
            totals.queue_nanos += ns(&inference.queue);
            totals.compute_input_nanos += ns(&inference.compute_input);
            totals.compute_infer_nanos += ns(&inference.compute_infer);
            totals.compute_output_nanos += ns(&inference.compute_output);
        }
        totals
    }

    /// Reads the REST answer (`{"model_stats": [{"inference_stats": ...}]}`).
    pub(super) fn from_json(body: &[u8]) -> Result<Self, serde_json::Error> {
        #[derive(Deserialize, Default)]
        #[serde(default)]
        struct Duration {
            count: u64,
            ns: u64,
        }
        #[derive(Deserialize, Default)]
        #[serde(default)]
        struct Inference {
            success: Duration,
            queue: Duration,
            compute_input: Duration,
            compute_infer: Duration,
            compute_output: Duration,
        }
        #[derive(Deserialize, Default)]
        #[serde(default)]
        struct Model {
            inference_stats: Inference,
        }
        #[derive(Deserialize)]
        struct Answer {
            model_stats: Vec<Model>,
        }
        let answer: Answer = serde_json::from_slice(body)?;
        let mut totals = Self::default();
        for model in answer.model_stats {
            let stats = model.inference_stats;
            totals.success_count += stats.success.count;
            totals.queue_nanos += stats.queue.ns;
            totals.compute_input_nanos += stats.compute_input.ns;
            totals.compute_infer_nanos += stats.compute_infer.ns;
            totals.compute_output_nanos += stats.compute_output.ns;
        }
        Ok(totals)
    }

    /// The window between `self` (earlier) and `later`.
    pub fn window_to(&self, later: &Self, index: u64) -> ServerWindow {
        let requests = later.success_count.saturating_sub(self.success_count);
        let mean = |earlier: u64, later: u64| {
            if requests == 0 {
                0.0
            } else {
                later.saturating_sub(earlier) as f64 / requests as f64 / 1e3
            }
        };
        ServerWindow {
            index,
            requests,
            queue_micros: mean(self.queue_nanos, later.queue_nanos),
            compute_input_micros: mean(self.compute_input_nanos, later.compute_input_nanos),
            compute_infer_micros: mean(self.compute_infer_nanos, later.compute_infer_nanos),
            compute_output_micros: mean(self.compute_output_nanos, later.compute_output_nanos),
        }
    }
}

/// The server's times in one window, per successful request.
#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct ServerWindow {
    /// Window number from the start of the load (1-second windows).
    pub index: u64,
    /// Requests the server completed in the window.
    pub requests: u64,
    pub queue_micros: f64,
    pub compute_input_micros: f64,
    pub compute_infer_micros: f64,
    pub compute_output_micros: f64,
}

impl ServerWindow {
    /// Queue plus compute: the server's share of a request.
    pub fn server_micros(&self) -> f64 {
        self.queue_micros
            + self.compute_input_micros
            + self.compute_infer_micros
            + self.compute_output_micros
    }
}

/// The server-side view of a run.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct ServerStatsReport {
    /// The server offers the statistics extension.
    pub offered: bool,
    /// Why there are no statistics, or what went wrong sampling them.
    pub note: Option<String>,
    /// One entry per window.
    pub windows: Vec<ServerWindow>,
    /// The whole load (warm-up excluded where the windows allow).
    pub total: Option<ServerWindow>,
}

/// Samples the statistics every `interval` until `stop`; the first sample
/// is taken at once (the baseline). `measure_start` is the warm-up's length:
/// windows before it do not count in the total.
pub fn sample(
    client: &mut Client,
    interval: Duration,
    stop: &AtomicBool,
    measure_start: Duration,
) -> ServerStatsReport {
    let mut report = ServerStatsReport::default();
    let started = Instant::now();
    let baseline = match client.statistics() {
        Ok(Some(totals)) => totals,
        Ok(None) => {
            report.note = Some(
                "the server does not offer the statistics extension (Triton's ModelStatistics); \
                 no server-side times"
                    .to_owned(),
            );
            return report;
        }
        Err(err) => {
            report.note = Some(format!("server statistics could not be read: {err}"));
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
        match client.statistics() {
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
    report.total = Some(measured_from.unwrap_or(baseline).window_to(&previous, 0));
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
