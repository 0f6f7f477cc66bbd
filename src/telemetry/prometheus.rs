//! GPU readings scraped from a Prometheus text endpoint, such as Triton's
//! `/metrics`: `nv_gpu_utilization` (a fraction, 0 to 1) and
//! `nv_gpu_memory_used_bytes` (with `nv_gpu_memory_total_bytes` and
//! `nv_gpu_power_usage` when present), one series per `gpu_uuid` label.
//!
//! The scrape runs once per window on the periodic sampler shell
//! ([`super::sampler`]), and its readings become [`GpuSample`]s marked
//! [`GpuSource::Prometheus`], next to NVML's. An endpoint that cannot be
//! reached is counted and described, never a failed run: the engine turns the
//! [`ScrapeReport`] into a warning.

use std::{
    collections::BTreeMap,
    sync::{Arc, Mutex},
    time::{Duration, Instant},
};

use super::{
    GpuSample, TelemetryError,
    gpu::GpuSource,
    sampler::{PeriodicSampler, Schedule},
};

/// An HTTP agent's configuration (`ureq`), as [`MetricsScraper::start`]'s
/// caller finishes it.
pub type AgentConfig = ureq::config::ConfigBuilder<ureq::typestate::AgentScope>;

/// Interval between scrapes: one per 1-second window.
pub const DEFAULT_SCRAPE_INTERVAL: Duration = Duration::from_secs(1);
/// Longest wait for one scrape, connection included.
pub const DEFAULT_SCRAPE_TIMEOUT: Duration = Duration::from_secs(2);
/// Largest metrics page read; Triton's is a few tens of kilobytes.
pub const MAX_METRICS_BYTES: u64 = 8 * 1024 * 1024;
/// Scrapes kept (one hour at the default interval).
pub const MAX_SCRAPES: usize = 3600;
/// GPU utilization, a fraction of the last interval (Triton: `[0.0 - 1.0)`).
pub const UTILIZATION_METRIC: &str = "nv_gpu_utilization";
/// Device memory in use, bytes.
pub const MEMORY_USED_METRIC: &str = "nv_gpu_memory_used_bytes";
/// Device memory in all, bytes.
pub const MEMORY_TOTAL_METRIC: &str = "nv_gpu_memory_total_bytes";
/// Power draw, watts.
pub const POWER_METRIC: &str = "nv_gpu_power_usage";
/// The label that tells GPUs apart.
pub const GPU_LABEL: &str = "gpu_uuid";

/// A scrape that gave no GPU readings.
#[derive(Debug, thiserror::Error)]
pub enum ScrapeError {
    /// The request failed: connection, timeout, a status other than 200.
    #[error("cannot read {url}: {message}")]
    Http {
        /// The endpoint.
        url: String,
        /// The HTTP client's description.
        message: String,
    },
    /// The page is not in the Prometheus text format.
    #[error("{url} is not a Prometheus text page: {message}")]
    Parse {
        /// The endpoint.
        url: String,
        /// The parser's description.
        message: String,
    },
    /// Only plain `http://` URLs are scraped.
    #[error(
        "'{url}' is not an http:// URL (HTTPS is not supported for {})",
        crate::field::Field::MetricsUrl
    )]
    UnsupportedUrl {
        /// The URL as given.
        url: String,
    },
    /// The page has none of the GPU metrics.
    #[error("{url} has no {UTILIZATION_METRIC} or {MEMORY_USED_METRIC} samples")]
    NoGpuMetrics {
        /// The endpoint.
        url: String,
    },
}

/// How the scrapes of a run went.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct ScrapeReport {
    /// The endpoint.
    pub url: String,
    /// Scrapes that gave GPU readings.
    pub num_ok: u64,
    /// Scrapes that failed.
    pub num_failed: u64,
    /// Scrapes that answered with no GPU series: a server without a GPU
    /// (a CPU Triton), which is not a failure.
    pub num_without_gpu: u64,
    /// The first failure, described.
    pub first_error: Option<String>,
}

impl ScrapeReport {
    /// The note of a server that reports no GPU, when no scrape failed.
    pub fn note(&self) -> Option<String> {
        (self.num_ok == 0 && self.num_failed == 0 && self.num_without_gpu > 0).then(|| {
            format!(
                "{} {}: the server reports no GPU (no {UTILIZATION_METRIC} or \
                 {MEMORY_USED_METRIC} series); its inference counters still give the server's \
                 times where the statistics API is unavailable",
                crate::field::Field::MetricsUrl,
                self.url
            )
        })
    }

    /// The warning a run shows, or `None` when every scrape worked (or the
    /// server has no GPU: see [`ScrapeReport::note`]).
    pub fn warning(&self) -> Option<String> {
        let first = self.first_error.as_deref().unwrap_or("no scrape ran");
        if self.num_ok == 0 && self.num_failed == 0 {
            None
        } else if self.num_ok == 0 {
            Some(format!(
                "{} {}: no GPU readings ({} scrape(s) failed; first: {first})",
                crate::field::Field::MetricsUrl,
                self.url,
                self.num_failed
            ))
        } else if self.num_failed > 0 {
            Some(format!(
                "{} {}: {} of {} scrapes failed (first: {first})",
                crate::field::Field::MetricsUrl,
                self.url,
                self.num_failed,
                self.num_failed + self.num_ok
            ))
        } else {
            None
        }
    }
}

/// Scrapes a Prometheus endpoint on a thread until finished.
pub struct MetricsScraper {
    sampler: PeriodicSampler<Vec<GpuSample>>,
    report: Arc<Mutex<ScrapeReport>>,
}

impl MetricsScraper {
    /// Starts scraping `url` every `interval` (the first scrape at once);
    /// each reading is also handed to `on_sample`, which must not block.
    /// `configure` finishes the HTTP agent's configuration (the target's
    /// headers).
    pub fn start(
        url: &str,
        epoch: Instant,
        interval: Duration,
        configure: impl FnOnce(AgentConfig) -> AgentConfig + Send + 'static,
        on_sample: impl Fn(&GpuSample) + Send + 'static,
    ) -> Result<Self, TelemetryError> {
        let report = Arc::new(Mutex::new(ScrapeReport {
            url: url.to_owned(),
            ..ScrapeReport::default()
        }));
        let schedule = Schedule {
            interval,
            first_after: Duration::ZERO,
            poll_step: Duration::from_millis(20),
            capacity: MAX_SCRAPES,
        };
        let probe_report = Arc::clone(&report);
        let url = url.to_owned();
        let timeout = interval.min(DEFAULT_SCRAPE_TIMEOUT);
        let sampler = PeriodicSampler::start(
            "wb-metrics-scrape",
            schedule,
            move || {
                let agent: ureq::Agent =
                    configure(ureq::Agent::config_builder().timeout_global(Some(timeout)))
                        .build()
                        .into();
                Some(move || {
                    let result = scrape_gpu_samples(&agent, &url, epoch);
                    let mut report = probe_report.lock().ok()?;
                    match result {
                        Ok(samples) => {
                            report.num_ok += 1;
                            Some(samples)
                        }
                        Err(ScrapeError::NoGpuMetrics { .. }) => {
                            report.num_without_gpu += 1;
                            None
                        }
                        Err(err) => {
                            report.num_failed += 1;
                            report.first_error.get_or_insert_with(|| err.to_string());
                            None
                        }
                    }
                })
            },
            move |samples: &Vec<GpuSample>| samples.iter().for_each(&on_sample),
        )?;
        Ok(Self { sampler, report })
    }

    /// Stops the thread; returns the readings, oldest first, and how the
    /// scrapes went.
    pub fn finish(self) -> (Vec<GpuSample>, ScrapeReport) {
        let samples = self.sampler.finish().into_iter().flatten().collect();
        let report = self
            .report
            .lock()
            .map(|report| report.clone())
            .unwrap_or_default();
        (samples, report)
    }
}

/// Checks that `url` is one a scraper can read (`http://HOST[:PORT]/...`).
pub fn check_url(url: &str) -> Result<String, ScrapeError> {
    let url = url.trim();
    match url.strip_prefix("http://") {
        Some(rest) if !rest.is_empty() && !rest.starts_with('/') => Ok(url.to_owned()),
        _ => Err(ScrapeError::UnsupportedUrl {
            url: url.to_owned(),
        }),
    }
}

/// One metrics page as text, read whole up to a size limit.
pub fn fetch_page(agent: &ureq::Agent, url: &str) -> Result<String, ureq::Error> {
    agent
        .get(url)
        .call()?
        .body_mut()
        .with_config()
        .limit(MAX_METRICS_BYTES)
        .read_to_string()
}

/// Reads `url` once and returns one sample per GPU.
fn scrape_gpu_samples(
    agent: &ureq::Agent,
    url: &str,
    epoch: Instant,
) -> Result<Vec<GpuSample>, ScrapeError> {
    let http_error = |err: ureq::Error| ScrapeError::Http {
        url: url.to_owned(),
        message: err.to_string(),
    };
    let text = fetch_page(agent, url).map_err(http_error)?;
    let t_secs = epoch.elapsed().as_secs_f64();
    let samples = parse_gpu_samples(&text, t_secs).map_err(|message| ScrapeError::Parse {
        url: url.to_owned(),
        message,
    })?;
    if samples.is_empty() {
        return Err(ScrapeError::NoGpuMetrics {
            url: url.to_owned(),
        });
    }
    Ok(samples)
}

/// The GPU samples of one Prometheus text page taken at `t_secs`, one per
/// `gpu_uuid`, sorted by it (the position is the device index). A GPU with
/// neither utilization nor memory is left out.
pub fn parse_gpu_samples(text: &str, t_secs: f64) -> Result<Vec<GpuSample>, String> {
    let lines = text.lines().map(|line| Ok(line.to_owned()));
    let scrape = prometheus_parse::Scrape::parse(lines).map_err(|err| err.to_string())?;
    let mut by_gpu: BTreeMap<String, GpuSample> = BTreeMap::new();
    for sample in &scrape.samples {
        let value = match sample.value {
            prometheus_parse::Value::Gauge(value)
            | prometheus_parse::Value::Counter(value)
            | prometheus_parse::Value::Untyped(value) => value,
            _ => continue,
        };
        if !value.is_finite() || value < 0.0 {
            continue;
        }
        let metric = sample.metric.as_str();
        if ![
            UTILIZATION_METRIC,
            MEMORY_USED_METRIC,
            MEMORY_TOTAL_METRIC,
            POWER_METRIC,
        ]
        .contains(&metric)
        {
            continue;
        }
        let uuid = sample.labels.get(GPU_LABEL).unwrap_or("").to_owned();
        let entry = by_gpu.entry(uuid.clone()).or_insert_with(|| GpuSample {
            t_secs,
            device_index: 0,
            utilization_percent: None,
            memory_used_bytes: None,
            memory_total_bytes: None,
            process_memory_bytes: None,
            power_milliwatts: None,
            temperature_celsius: None,
            sm_clock_mhz: None,
            source: GpuSource::Prometheus,
            device_uuid: (!uuid.is_empty()).then_some(uuid),
        });
        match metric {
            UTILIZATION_METRIC => {
                entry.utilization_percent = Some((value * 100.0).round().min(100.0) as u32);
            }
            MEMORY_USED_METRIC => entry.memory_used_bytes = Some(value as u64),
            MEMORY_TOTAL_METRIC => entry.memory_total_bytes = Some(value as u64),
            _ => entry.power_milliwatts = Some((value * 1000.0).round() as u32),
        }
    }
    Ok(by_gpu
        .into_values()
        .filter(|sample| sample.utilization_percent.is_some() || sample.memory_used_bytes.is_some())
        .enumerate()
        .map(|(index, mut sample)| {
            sample.device_index = u32::try_from(index).unwrap_or(u32::MAX);
            sample
        })
        .collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    const TWO_GPUS: &str = "\
# HELP nv_gpu_utilization GPU utilization rate [0.0 - 1.0)
# TYPE nv_gpu_utilization gauge
nv_gpu_utilization{gpu_uuid=\"GPU-b\"} 0.25
nv_gpu_utilization{gpu_uuid=\"GPU-a\"} 0.5
# HELP nv_gpu_memory_used_bytes GPU used memory, in bytes
# TYPE nv_gpu_memory_used_bytes gauge
nv_gpu_memory_used_bytes{gpu_uuid=\"GPU-a\"} 1048576
nv_gpu_memory_used_bytes{gpu_uuid=\"GPU-b\"} 2097152
# HELP nv_gpu_power_usage GPU power usage in watts
# TYPE nv_gpu_power_usage gauge
nv_gpu_power_usage{gpu_uuid=\"GPU-a\"} 71.5
# HELP nv_inference_count Number of inferences performed
# TYPE nv_inference_count counter
nv_inference_count{model=\"m\",version=\"1\"} 42
";

    #[test]
    fn each_gpu_becomes_one_sample_sorted_by_uuid() {
        let samples = parse_gpu_samples(TWO_GPUS, 3.0).expect("parse");
        assert_eq!(samples.len(), 2);
        assert_eq!(samples[0].device_uuid.as_deref(), Some("GPU-a"));
        assert_eq!(samples[0].device_index, 0);
        assert_eq!(samples[0].utilization_percent, Some(50));
        assert_eq!(samples[0].memory_used_bytes, Some(1_048_576));
        assert_eq!(samples[0].power_milliwatts, Some(71_500));
        assert_eq!(samples[1].device_uuid.as_deref(), Some("GPU-b"));
        assert_eq!(samples[1].device_index, 1);
        assert_eq!(samples[1].utilization_percent, Some(25));
        assert_eq!(samples[1].memory_used_bytes, Some(2_097_152));
        assert!(samples.iter().all(|s| s.source == GpuSource::Prometheus));
        assert!(samples.iter().all(|s| (s.t_secs - 3.0).abs() < 1e-12));
    }

    #[test]
    fn only_http_urls_are_accepted() {
        assert!(check_url("http://localhost:8002/metrics").is_ok());
        assert!(check_url("https://localhost:8002/metrics").is_err());
        assert!(check_url("localhost:8002").is_err());
        assert!(check_url("http://").is_err());
    }

    #[test]
    fn a_page_without_gpu_metrics_gives_nothing() {
        let page = "# TYPE up gauge\nup 1\n";
        assert!(parse_gpu_samples(page, 0.0).expect("parse").is_empty());
    }

    #[test]
    fn the_report_warns_only_on_failures() {
        let mut report = ScrapeReport {
            url: "http://h/metrics".to_owned(),
            num_ok: 3,
            ..ScrapeReport::default()
        };
        assert_eq!(report.warning(), None);
        report.num_failed = 1;
        report.first_error = Some("refused".to_owned());
        let warning = report.warning().expect("a warning");
        assert!(
            warning.contains("1 of 4") && warning.contains("refused"),
            "{warning}"
        );
        report.num_ok = 0;
        let warning = report.warning().expect("a warning");
        assert!(warning.contains("no GPU readings"), "{warning}");
        assert_eq!(report.note(), None);
        // A CPU server: every scrape answered, with no GPU series.
        let cpu_server = ScrapeReport {
            url: "http://h/metrics".to_owned(),
            num_without_gpu: 5,
            ..ScrapeReport::default()
        };
        assert_eq!(cpu_server.warning(), None);
        let note = cpu_server.note().expect("a note");
        assert!(note.contains("reports no GPU"), "{note}");
    }

    #[test]
    fn an_unreachable_endpoint_is_counted_not_fatal() {
        // A port nobody listens on: bind one, learn its number, close it.
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .and_then(|listener| listener.local_addr())
            .map(|addr| addr.port())
            .expect("a free port");
        let url = format!("http://127.0.0.1:{port}/metrics");
        let scraper = MetricsScraper::start(
            &url,
            Instant::now(),
            Duration::from_millis(50),
            |config| config,
            |_| {},
        )
        .expect("start");
        std::thread::sleep(Duration::from_millis(200));
        let (samples, report) = scraper.finish();
        assert!(samples.is_empty());
        assert!(report.num_failed >= 1 && report.num_ok == 0, "{report:?}");
        assert!(report.warning().is_some_and(|w| w.contains(&url)));
    }
}
