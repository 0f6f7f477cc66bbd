//! The text of a merged session in the report: one line per source
//! machine, and where GPU readings came from.

use super::document::MergedSource;

/// The per-machine lines of a merged session's report (nothing for a
/// session of one run).
pub(super) fn write_sources(out: &mut String, sources: &[MergedSource]) -> std::fmt::Result {
    use std::fmt::Write as _;
    if sources.is_empty() {
        return Ok(());
    }
    writeln!(
        out,
        "Merged      {} sessions; throughput adds up, percentiles are of all requests together",
        sources.len()
    )?;
    for source in sources {
        let figures = source.summary.as_ref().map_or_else(
            || "no measurement".to_owned(),
            |summary| {
                let (p50, p99) = summary.latency.map_or_else(
                    || ("-".to_owned(), "-".to_owned()),
                    |latency| {
                        (
                            crate::util::format_micros(latency.p50_micros),
                            crate::util::format_micros(latency.p99_micros),
                        )
                    },
                );
                format!(
                    "{:.1} inferences/s, {} ok, {} failed in {:.2} s, p50 {p50}, p99 {p99}",
                    summary.inferences_per_sec,
                    summary.requests_ok,
                    summary.requests_failed,
                    summary.measured_secs
                )
            },
        );
        writeln!(
            out,
            "  machine   {} ({}, {}, from +{:.2} s, concurrency {}{}): {figures}",
            source.host_name,
            source.file_name,
            source.status,
            source.offset_secs,
            source.concurrency,
            source
                .rate_per_sec
                .map_or_else(String::new, |rate| format!(", {rate} requests/s offered")),
        )?;
    }
    Ok(())
}

/// What GPU readings came from, for the report: NVML samples, readings
/// scraped from the metrics URL, or both.
pub(super) fn gpu_sources_text(samples: &[crate::telemetry::GpuSample]) -> String {
    use crate::telemetry::GpuSource;
    let scraped = samples
        .iter()
        .filter(|sample| sample.source == GpuSource::Prometheus)
        .count();
    match scraped {
        0 => "NVML samples".to_owned(),
        n if n == samples.len() => {
            format!("readings scraped from {}", crate::field::Field::MetricsUrl)
        }
        _ => format!(
            "NVML samples and readings scraped from {}",
            crate::field::Field::MetricsUrl
        ),
    }
}
