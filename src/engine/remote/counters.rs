//! The server's cumulative counters of one model: from the statistics API
//! (REST `/stats`, gRPC `ModelStatistics`) or Triton's Prometheus metrics.

use serde::{Deserialize, Serialize};

use super::proto;

/// Cumulative counters of one model on the server.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct StatsTotals {
    /// Successful requests.
    pub success_count: u64,
    pub queue_nanos: u64,
    pub compute_input_nanos: u64,
    pub compute_infer_nanos: u64,
    pub compute_output_nanos: u64,
    /// Inferences (batch rows) and model executions: their ratio is the
    /// batch size the server executed.
    #[serde(default)]
    pub inference_count: u64,
    #[serde(default)]
    pub execution_count: u64,
}

/// Where a run's server-side figures came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum StatsSource {
    /// The statistics extension (gRPC `ModelStatistics`, REST `/stats`).
    StatisticsApi,
    /// Counter deltas of the server's Prometheus metrics.
    Metrics,
}

impl std::fmt::Display for StatsSource {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Self::StatisticsApi => "the statistics API",
            Self::Metrics => "the Prometheus metrics",
        })
    }
}

/// Stores one counter's value in [`StatsTotals`].
type SetCounter = fn(&mut StatsTotals, u64);

/// Triton's counter names, with how each lands in [`StatsTotals`].
const METRIC_COUNTERS: [(&str, SetCounter); 7] = [
    ("nv_inference_request_success", |t, v| t.success_count = v),
    ("nv_inference_queue_duration_us", |t, v| {
        t.queue_nanos = v * 1000
    }),
    ("nv_inference_compute_input_duration_us", |t, v| {
        t.compute_input_nanos = v * 1000
    }),
    ("nv_inference_compute_infer_duration_us", |t, v| {
        t.compute_infer_nanos = v * 1000
    }),
    ("nv_inference_compute_output_duration_us", |t, v| {
        t.compute_output_nanos = v * 1000
    }),
    ("nv_inference_count", |t, v| t.inference_count = v),
    ("nv_inference_exec_count", |t, v| t.execution_count = v),
];

impl StatsTotals {
    /// The counters of `model` (and `version`, when given; else summed over
    /// its versions) in a Prometheus text exposition.
    pub fn from_metrics(text: &str, model: &str, version: Option<&str>) -> Result<Self, String> {
        let scrape = prometheus_parse::Scrape::parse(text.lines().map(|line| Ok(line.to_owned())))
            .map_err(|err| format!("not a Prometheus text exposition: {err}"))?;
        let mut totals = Self::default();
        let mut found = false;
        for (name, set) in METRIC_COUNTERS {
            let mut sum = 0.0;
            for sample in scrape.samples.iter().filter(|sample| {
                sample.metric == name
                    && sample.labels.get("model") == Some(model)
                    && version.is_none_or(|version| sample.labels.get("version") == Some(version))
            }) {
                if let prometheus_parse::Value::Counter(value)
                | prometheus_parse::Value::Untyped(value) = sample.value
                {
                    sum += value;
                    found = true;
                }
            }
            set(&mut totals, sum.max(0.0) as u64);
        }
        if found {
            Ok(totals)
        } else {
            Err(format!(
                "no nv_inference_* series for model {model:?}{} (is it a Triton metrics endpoint, and the model loaded?)",
                version.map(|v| format!(" version {v}")).unwrap_or_default()
            ))
        }
    }

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
            totals.inference_count += model.inference_count;
            totals.execution_count += model.execution_count;
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
            inference_count: u64,
            execution_count: u64,
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
            totals.inference_count += model.inference_count;
            totals.execution_count += model.execution_count;
        }
        Ok(totals)
    }

    /// The window between `self` (earlier) and `later`. A counter that went
    /// down (the server restarted) counts from zero.
    pub fn window_to(&self, later: &Self, index: u64) -> ServerWindow {
        let reset = later.success_count < self.success_count;
        let earlier = if reset { &Self::default() } else { self };
        let requests = later.success_count - earlier.success_count;
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
            queue_micros: mean(earlier.queue_nanos, later.queue_nanos),
            compute_input_micros: mean(earlier.compute_input_nanos, later.compute_input_nanos),
            compute_infer_micros: mean(earlier.compute_infer_nanos, later.compute_infer_nanos),
            compute_output_micros: mean(earlier.compute_output_nanos, later.compute_output_nanos),
            inferences: later
                .inference_count
                .saturating_sub(earlier.inference_count),
            executions: later
                .execution_count
                .saturating_sub(earlier.execution_count),
            counter_reset: reset,
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
    /// Inferences (batch rows) and model executions in the window.
    pub inferences: u64,
    pub executions: u64,
    /// The server's counters went down (it restarted): the window counts
    /// from zero.
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub counter_reset: bool,
}

impl ServerWindow {
    /// The batch size the server executed: inferences per execution.
    pub fn executed_batch(&self) -> Option<f64> {
        (self.executions > 0).then(|| self.inferences as f64 / self.executions as f64)
    }

    /// Queue plus compute: the server's share of a request.
    pub fn server_micros(&self) -> f64 {
        self.queue_micros
            + self.compute_input_micros
            + self.compute_infer_micros
            + self.compute_output_micros
    }
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
}
