//! `--metrics-url` in a run: the Prometheus scraper started next to the
//! NVML sampler, its GPU readings added to the record's GPU series (marked
//! with their source) and its failures turned into a warning.

use std::{sync::Arc, time::Instant};

use super::record::RunRecord;
use crate::field::Field;
use crate::{
    metrics::RunShared,
    telemetry::{
        GpuSample,
        prometheus::{DEFAULT_SCRAPE_INTERVAL, MetricsScraper},
    },
};

/// Starts scraping `--metrics-url`, if set; the readings go to the live view
/// only when NVML gives none (`is_live`). A scraper that cannot start is a
/// warning.
pub(super) fn start(
    record: &mut RunRecord,
    shared: &Arc<RunShared>,
    epoch: Instant,
    is_live: bool,
) -> Option<MetricsScraper> {
    let url = record.config.metrics_url.clone()?;
    let live_shared = Arc::clone(shared);
    let on_sample = move |sample: &GpuSample| {
        if is_live {
            live_shared.gpu.store(Some(Arc::new(sample.clone())));
        }
    };
    // The target's headers go to its metrics endpoint too (an access token
    // guards both on a restricted server).
    let headers = match record
        .config
        .remote
        .as_ref()
        .map(|target| crate::engine::headers::HttpHeaders::new(&target.headers))
    {
        Some(Ok(headers)) => headers,
        Some(Err(err)) => {
            record
                .warnings
                .push(format!("{} {url}: {err}", Field::MetricsUrl));
            return None;
        }
        None => crate::engine::headers::HttpHeaders::default(),
    };
    match MetricsScraper::start(
        &url,
        epoch,
        DEFAULT_SCRAPE_INTERVAL,
        move |config| headers.apply(config),
        on_sample,
    ) {
        Ok(scraper) => Some(scraper),
        Err(err) => {
            record
                .warnings
                .push(format!("{} {url}: {err}", Field::MetricsUrl));
            None
        }
    }
}

/// Adds the scraped GPU readings to the record, and a warning when scrapes
/// failed.
pub(super) fn finish(record: &mut RunRecord, scraper: Option<MetricsScraper>) {
    let Some(scraper) = scraper else { return };
    let (samples, report) = scraper.finish();
    record.gpu_telemetry.extend(samples);
    record.warnings.extend(report.warning());
    record.notes.extend(report.note());
}
