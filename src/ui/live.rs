//! The Live panel: throughput, latency percentiles, the latency histogram,
//! queue vs run time, CPU and memory, GPU presence and errors; with dynamic
//! batching, the executed batch size over time and its histogram. The same
//! plots show a finished or reopened session.

use egui::{RichText, Ui};
use egui_plot::{Bar, BarChart, Corner, Legend, Line, Plot, PlotPoints};

use super::{plot_axes, theme};
use crate::{
    metrics::{BatchSizeCount, ErrorSummary, HistogramBucket, WindowStats, mean_batch_size},
    telemetry::{EnvironmentInfo, GpuSample},
    util::{format_bytes, format_micros},
};

/// Height of each plot, in points.
const PLOT_HEIGHT: f32 = 180.0;

/// Everything the Live panel draws.
pub struct LiveData<'a> {
    pub windows: &'a [WindowStats],
    pub histogram: &'a [HistogramBucket],
    pub errors: &'a ErrorSummary,
    pub environment: Option<&'a EnvironmentInfo>,
    /// NVML readings of a finished run (empty without a GPU).
    pub gpu_samples: &'a [GpuSample],
    /// The latest NVML reading of a running one.
    pub gpu_latest: Option<&'a GpuSample>,
    /// Queue time is meaningful (open loop, fewer sessions than workers, or
    /// dynamic batching).
    pub has_queue: bool,
    /// With dynamic batching: the executed batch sizes so far.
    pub batch_sizes: Option<&'a [BatchSizeCount]>,
}

/// Reduces a series to at most `max_points`, averaging within buckets, so a
/// long run costs no more to draw than a short one.
pub fn downsample(points: &[[f64; 2]], max_points: usize) -> Vec<[f64; 2]> {
    if points.len() <= max_points || max_points == 0 {
        return points.to_vec();
    }
    let bucket = points.len().div_ceil(max_points);
    points
        .chunks(bucket)
        .map(|chunk| {
            let count = chunk.len() as f64;
            let x = chunk.iter().map(|p| p[0]).sum::<f64>() / count;
            let y = chunk.iter().map(|p| p[1]).sum::<f64>() / count;
            [x, y]
        })
        .collect()
}

pub(super) fn series(
    windows: &[WindowStats],
    max_points: usize,
    value: impl Fn(&WindowStats) -> Option<f64>,
) -> Vec<[f64; 2]> {
    let points: Vec<[f64; 2]> = windows
        .iter()
        .filter_map(|window| value(window).map(|y| [window.start_secs + window.duration_secs, y]))
        .collect();
    downsample(&points, max_points)
}

pub(super) fn time_plot(id: &str, y_label: &str) -> Plot<'static> {
    plot_axes::plot(id)
        .height(PLOT_HEIGHT)
        .legend(Legend::default().position(Corner::LeftTop))
        .x_axis_label("time since measurement start")
        .x_axis_formatter(plot_axes::seconds)
        .y_axis_label(y_label.to_owned())
        .include_y(0.0)
        .allow_scroll(false)
}

/// Draws the Live panel.
pub fn live_ui(ui: &mut Ui, data: &LiveData<'_>) {
    let max_points = (ui.available_width() as usize).max(64);
    ui.columns(2, |columns| {
        columns[0].label(RichText::new("Throughput").strong());
        let throughput = series(data.windows, max_points, |w| Some(w.inferences_per_sec));
        time_plot("throughput", "inferences/s")
            .y_axis_formatter(plot_axes::per_second)
            .show(&mut columns[0], |plot| {
                plot.line(
                    Line::new("inferences/s", PlotPoints::from(throughput))
                        .color(theme::THROUGHPUT),
                );
            });

        columns[1].label(RichText::new("Latency percentiles").strong());
        let millis = |value: Option<f64>| value.map(|micros| micros / 1000.0);
        let p50 = series(data.windows, max_points, |w| millis(w.p50_micros));
        let p95 = series(data.windows, max_points, |w| millis(w.p95_micros));
        let p99 = series(data.windows, max_points, |w| millis(w.p99_micros));
        time_plot("latency", "latency")
            .y_axis_formatter(plot_axes::millis)
            .show(&mut columns[1], |plot| {
                plot.line(Line::new("p50", PlotPoints::from(p50)).color(theme::P50));
                plot.line(Line::new("p95", PlotPoints::from(p95)).color(theme::P95));
                plot.line(Line::new("p99", PlotPoints::from(p99)).color(theme::P99));
            });
    });
    if data
        .windows
        .iter()
        .any(|w| w.output_tokens_per_sec.is_some())
    {
        ui.add_space(8.0);
        generation_ui(ui, data.windows, max_points);
    }
    if let Some(batch_sizes) = data.batch_sizes {
        ui.add_space(8.0);
        batching_ui(ui, data.windows, batch_sizes, max_points);
    }
    ui.add_space(8.0);
    ui.columns(2, |columns| {
        columns[0].label(RichText::new("Latency histogram").strong());
        histogram_ui(&mut columns[0], data.histogram);

        if data.has_queue {
            let has_lateness = data.windows.iter().any(|w| w.lateness_p99_micros.is_some());
            let title = if has_lateness {
                "Queue, run and send lateness (p50 / p99)"
            } else {
                "Queue time vs run time (p50 / p99)"
            };
            columns[1]
                .label(RichText::new(title).strong())
                .on_hover_text(
                    "Queue: waiting for a free worker or session. Run: inside the model. \
                     Send lateness (open loop): the generator's own delay between a request's \
                     intended send time and the moment it went.",
                );
            let millis = |value: Option<f64>| value.map(|micros| micros / 1000.0);
            let late_p50 = series(data.windows, max_points, |w| millis(w.lateness_p50_micros));
            let late_p99 = series(data.windows, max_points, |w| millis(w.lateness_p99_micros));
            let queue_p50 = series(data.windows, max_points, |w| millis(w.queue_p50_micros));
            let queue_p99 = series(data.windows, max_points, |w| millis(w.queue_p99_micros));
            let run_p50 = series(data.windows, max_points, |w| millis(w.service_p50_micros));
            let run_p99 = series(data.windows, max_points, |w| millis(w.service_p99_micros));
            time_plot("queue", "time")
                .y_axis_formatter(plot_axes::millis)
                .show(&mut columns[1], |plot| {
                    plot.line(
                        Line::new("queue p50", PlotPoints::from(queue_p50)).color(theme::QUEUE),
                    );
                    plot.line(
                        Line::new("queue p99", PlotPoints::from(queue_p99)).color(theme::P99),
                    );
                    plot.line(Line::new("run p50", PlotPoints::from(run_p50)).color(theme::P50));
                    plot.line(Line::new("run p99", PlotPoints::from(run_p99)).color(theme::P95));
                    if has_lateness {
                        plot.line(
                            Line::new("lateness p50", PlotPoints::from(late_p50))
                                .color(theme::LATENESS),
                        );
                        plot.line(
                            Line::new("lateness p99", PlotPoints::from(late_p99))
                                .color(theme::LATENESS)
                                .style(egui_plot::LineStyle::dashed_loose()),
                        );
                    }
                });
        } else {
            columns[1].label(RichText::new("CPU and memory").strong());
            resources_ui(&mut columns[1], data.windows, max_points);
        }
    });
    ui.add_space(8.0);
    ui.columns(2, |columns| {
        if data.has_queue {
            columns[0].label(RichText::new("CPU and memory").strong());
            resources_ui(&mut columns[0], data.windows, max_points);
        } else {
            gpu_ui(&mut columns[0], data);
        }
        errors_ui(&mut columns[1], data.errors);
    });
    if data.has_queue {
        gpu_ui(ui, data);
    }
}

/// The executed batch size per window, and how often each size ran.
/// A generative run: output tokens per second, and time to first token and
/// inter-token latency (every gap) per window.
fn generation_ui(ui: &mut Ui, windows: &[WindowStats], max_points: usize) {
    ui.columns(2, |columns| {
        let kv_now = windows
            .iter()
            .rev()
            .find_map(|w| w.kv_cache_bytes)
            .map_or_else(String::new, |bytes| {
                format!(" · KV cache {}", crate::util::format_bytes(bytes))
            });
        columns[0]
            .label(RichText::new(format!("Output tokens per second{kv_now}")).strong())
            .on_hover_text(
                "The KV cache figure is the most bytes the running sequences held together \
                 in the last window, sampled as each request finished (summary: the peak \
                 over the run and the estimate checked before it).",
            );
        let tokens = series(windows, max_points, |w| w.output_tokens_per_sec);
        time_plot("tokens", "tokens/s")
            .y_axis_formatter(plot_axes::per_second)
            .show(&mut columns[0], |plot| {
                plot.line(
                    Line::new("output tokens/s", PlotPoints::from(tokens)).color(theme::THROUGHPUT),
                );
            });
        columns[1]
            .label(
                RichText::new("Time to first token and inter-token latency (p50 / p99)").strong(),
            )
            .on_hover_text(
                "TTFT counts from the intended arrival to the first token (the prefill); \
                 ITL is every gap between consecutive tokens (the decode steps).",
            );
        let millis = |value: Option<f64>| value.map(|micros| micros / 1000.0);
        let lines = [
            (
                "TTFT p50",
                series(windows, max_points, |w| millis(w.ttft_p50_micros)),
                theme::QUEUE,
            ),
            (
                "TTFT p99",
                series(windows, max_points, |w| millis(w.ttft_p99_micros)),
                theme::P99,
            ),
            (
                "ITL p50",
                series(windows, max_points, |w| millis(w.itl_p50_micros)),
                theme::P50,
            ),
            (
                "ITL p99",
                series(windows, max_points, |w| millis(w.itl_p99_micros)),
                theme::P95,
            ),
        ];
        time_plot("ttft_itl", "latency")
            .y_axis_formatter(plot_axes::millis)
            .show(&mut columns[1], |plot| {
                for (name, points, color) in lines {
                    plot.line(Line::new(name, PlotPoints::from(points)).color(color));
                }
            });
    });
}

fn batching_ui(ui: &mut Ui, windows: &[WindowStats], sizes: &[BatchSizeCount], max_points: usize) {
    ui.columns(2, |columns| {
        let mean =
            mean_batch_size(sizes).map_or_else(|| "-".to_owned(), |mean| format!("{mean:.2}"));
        columns[0].label(RichText::new(format!("Executed batch size (mean {mean} rows)")).strong());
        let per_window = series(windows, max_points, |w| w.mean_batch_size);
        // Headroom above the largest executed batch, so a line at a full
        // batch is not drawn on the plot's edge and the axis has ticks.
        let largest = sizes.iter().map(|entry| entry.size).max().unwrap_or(1);
        let headroom = f64::from(largest) * 1.25 + 1.0;
        time_plot("batch_size", "rows per batch")
            .include_y(headroom)
            .show(&mut columns[0], |plot| {
                plot.line(
                    Line::new("mean batch size", PlotPoints::from(per_window))
                        .color(theme::THROUGHPUT),
                );
            });

        columns[1].label(RichText::new("Batch sizes").strong());
        let bars: Vec<Bar> = sizes
            .iter()
            .map(|entry| {
                Bar::new(f64::from(entry.size), entry.count as f64)
                    .width(0.8)
                    .name(format!("{} rows", entry.size))
            })
            .collect();
        plot_axes::plot("batch_sizes")
            .height(PLOT_HEIGHT)
            .x_axis_label("rows in the batch")
            .y_axis_label("batches")
            .include_y(0.0)
            .allow_scroll(false)
            .show(&mut columns[1], |plot| {
                plot.bar_chart(BarChart::new("batches", bars).color(theme::QUEUE));
            });
    });
}

fn histogram_ui(ui: &mut Ui, buckets: &[HistogramBucket]) {
    // Bars on a log10(µs) axis, so microseconds and seconds fit one plot.
    let mut lower = buckets.first().map_or(1.0, |b| b.upper_micros / 1.2);
    let bars: Vec<Bar> = buckets
        .iter()
        .map(|bucket| {
            let left = lower.max(1e-3).log10();
            let right = bucket.upper_micros.max(1e-3).log10();
            lower = bucket.upper_micros;
            Bar::new((left + right) / 2.0, bucket.count as f64)
                .width((right - left).max(1e-3))
                .name(format!("≤ {}", format_micros(bucket.upper_micros)))
        })
        .collect();
    plot_axes::plot("histogram")
        .height(PLOT_HEIGHT)
        .x_axis_label("latency (log scale)")
        .x_axis_formatter(|mark, _| format_micros(10f64.powf(mark.value)))
        .y_axis_label("requests")
        .include_y(0.0)
        .allow_scroll(false)
        .show(ui, |plot| {
            plot.bar_chart(BarChart::new("requests", bars).color(theme::THROUGHPUT));
        });
}

fn resources_ui(ui: &mut Ui, windows: &[WindowStats], max_points: usize) {
    let cpu = series(windows, max_points, |w| w.process_cpu_percent);
    let memory = series(windows, max_points, |w| {
        w.rss_bytes.map(|bytes| bytes as f64 / 1e6)
    });
    let latest = windows
        .iter()
        .rev()
        .find_map(|w| w.rss_bytes.zip(w.process_cpu_percent));
    if let Some((rss, cpu_now)) = latest {
        ui.label(format!(
            "process CPU {cpu_now:.0} % (100 % = one core), RSS {}",
            format_bytes(rss)
        ));
    }
    time_plot("resources", "CPU % / RSS MB").show(ui, |plot| {
        plot.line(Line::new("process CPU %", PlotPoints::from(cpu)).color(theme::CPU));
        plot.line(Line::new("RSS (MB)", PlotPoints::from(memory)).color(theme::MEMORY));
    });
}

fn gpu_ui(ui: &mut Ui, data: &LiveData<'_>) {
    ui.label(RichText::new("GPU").strong());
    if let Some(sample) = data.gpu_latest.or(data.gpu_samples.last()) {
        ui.label(format!(
            "{}utilization {} %, memory {} of {}, this process {}, {} W, {} °C, SM {} MHz",
            match sample.source {
                crate::telemetry::GpuSource::Nvml => String::new(),
                crate::telemetry::GpuSource::Prometheus =>
                    format!("server GPU {} (--metrics-url): ", sample.device_index),
            },
            sample
                .utilization_percent
                .map_or_else(|| "-".to_owned(), |u| u.to_string()),
            sample
                .memory_used_bytes
                .map_or_else(|| "-".to_owned(), format_bytes),
            sample
                .memory_total_bytes
                .map_or_else(|| "-".to_owned(), format_bytes),
            sample
                .process_memory_bytes
                .map_or_else(|| "-".to_owned(), format_bytes),
            sample.power_milliwatts.map_or_else(
                || "-".to_owned(),
                |mw| format!("{:.0}", f64::from(mw) / 1000.0)
            ),
            sample
                .temperature_celsius
                .map_or_else(|| "-".to_owned(), |t| t.to_string()),
            sample
                .sm_clock_mhz
                .map_or_else(|| "-".to_owned(), |c| c.to_string()),
        ));
    }
    if !data.gpu_samples.is_empty() {
        let series = crate::telemetry::gpu::series_by_device(data.gpu_samples);
        let named = |what: &str, entry: &crate::telemetry::gpu::GpuSeries| {
            if series.len() == 1 {
                what.to_owned()
            } else {
                let source = match entry.source {
                    crate::telemetry::GpuSource::Nvml => "",
                    crate::telemetry::GpuSource::Prometheus => "server ",
                };
                format!("{what}, {source}GPU {}", entry.device_index)
            }
        };
        let max_points = (ui.available_width() as usize).max(64);
        plot_axes::plot("gpu")
            .height(PLOT_HEIGHT)
            .legend(Legend::default().position(Corner::LeftTop))
            .x_axis_label("time since the run started")
            .x_axis_formatter(plot_axes::seconds)
            .y_axis_label("utilization % / memory GB")
            .include_y(0.0)
            .allow_scroll(false)
            .show(ui, |plot| {
                for entry in &series {
                    let memory_gb: Vec<[f64; 2]> = entry
                        .memory_used_bytes
                        .iter()
                        .map(|[t, bytes]| [*t, bytes / 1e9])
                        .collect();
                    plot.line(
                        Line::new(
                            named("utilization %", entry),
                            PlotPoints::from(downsample(&entry.utilization_percent, max_points)),
                        )
                        .color(theme::THROUGHPUT),
                    );
                    plot.line(
                        Line::new(
                            named("device memory (GB)", entry),
                            PlotPoints::from(downsample(&memory_gb, max_points)),
                        )
                        .color(theme::MEMORY),
                    );
                }
            });
        return;
    }
    if data.gpu_latest.is_some() {
        return;
    }
    match data.environment {
        Some(environment) if !environment.gpus.is_empty() => {
            for gpu in &environment.gpus {
                ui.label(format!(
                    "{} ({} memory, driver {})",
                    gpu.name,
                    format_bytes(gpu.memory_total_bytes),
                    gpu.driver_version
                ));
            }
        }
        Some(environment) => {
            ui.label(RichText::new("No GPU on this machine.").color(theme::WARNING));
            if let Some(note) = &environment.gpu_note {
                ui.label(RichText::new(note).small().color(theme::MUTED));
            }
        }
        None => {
            ui.label(
                RichText::new("GPU status is known once ONNX Runtime is found.")
                    .color(theme::MUTED),
            );
        }
    }
}

fn errors_ui(ui: &mut Ui, errors: &ErrorSummary) {
    ui.label(RichText::new("Errors").strong());
    if errors.count == 0 {
        ui.label("No failed requests.");
        return;
    }
    ui.label(RichText::new(format!("{} failed requests", errors.count)).color(theme::ERROR));
    for message in &errors.first_messages {
        ui.label(RichText::new(message).small());
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn downsampling_bounds_the_points_and_keeps_the_mean() {
        let points: Vec<[f64; 2]> = (0..10_000).map(|i| [i as f64, 2.0]).collect();
        let reduced = downsample(&points, 500);
        assert!(reduced.len() <= 500);
        assert!(reduced.iter().all(|p| (p[1] - 2.0).abs() < 1e-12));
        assert_eq!(downsample(&points[..10], 500).len(), 10);
    }
}
