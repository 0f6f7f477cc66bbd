//! The server-side view of a remote run: the server's own times per window
//! (Triton's statistics extension: queue, compute input, compute infer,
//! compute output) next to the client's end-to-end mean, so the network and
//! client share of a request is the gap between the two. A server without
//! the extension (KServe) gets a line saying so.

use egui::{RichText, Ui};
use egui_plot::{Corner, Legend, Line, PlotPoints};

use super::theme;
use crate::{
    engine::remote::{ServerStatsReport, ServerWindow},
    metrics::WindowStats,
    util::format_micros,
};

/// One named series of the plot, in milliseconds against seconds since the
/// load started (warm-up included, as the server counts it).
#[derive(Debug, Clone, PartialEq)]
pub struct Series {
    pub name: &'static str,
    pub points: Vec<[f64; 2]>,
}

/// The plot's series: each server time per window, the server's total, and
/// the client's end-to-end mean (its windows start after `warmup_secs`).
pub fn series(stats: &ServerStatsReport, client: &[WindowStats], warmup_secs: f64) -> Vec<Series> {
    let server = |name, value: fn(&ServerWindow) -> f64| Series {
        name,
        points: stats
            .windows
            .iter()
            .filter(|window| window.requests > 0)
            .map(|window| [(window.index + 1) as f64, value(window) / 1000.0])
            .collect(),
    };
    vec![
        server("server queue", |w| w.queue_micros),
        server("compute input", |w| w.compute_input_micros),
        server("compute infer", |w| w.compute_infer_micros),
        server("compute output", |w| w.compute_output_micros),
        server("server total", ServerWindow::server_micros),
        Series {
            name: "client end-to-end mean",
            points: client
                .iter()
                .filter_map(|window| {
                    // The server's figures are means per request: compare
                    // like with like (sessions from before the window mean
                    // fall back to the p50).
                    let client = window.mean_micros.or(window.p50_micros)?;
                    Some([
                        warmup_secs + window.start_secs + window.duration_secs,
                        client / 1000.0,
                    ])
                })
                .collect(),
        },
    ]
}

/// Draws the server-side view of a remote run.
pub fn server_ui(ui: &mut Ui, stats: &ServerStatsReport, client: &[WindowStats], warmup_secs: f64) {
    ui.label(RichText::new("Server vs client time").strong());
    if !stats.offered {
        ui.label(
            RichText::new(stats.note.as_deref().unwrap_or(
                "The server does not offer Triton's statistics extension: no server-side times.",
            ))
            .color(theme::MUTED),
        );
        return;
    }
    if let Some(total) = &stats.total {
        let batch = total
            .executed_batch()
            .map(|batch| format!(" Executed batch {batch:.2} requests per model execution."))
            .unwrap_or_default();
        let source = stats
            .source
            .map(|source| format!(" (from {source})"))
            .unwrap_or_default();
        ui.label(format!(
            "Per request on the server{source}: queue {}, compute input {}, infer {}, output {}; \
             total {}.{batch}",
            format_micros(total.queue_micros),
            format_micros(total.compute_input_micros),
            format_micros(total.compute_infer_micros),
            format_micros(total.compute_output_micros),
            format_micros(total.server_micros()),
        ));
    }
    if let Some(note) = &stats.note {
        ui.label(RichText::new(note).small().color(theme::MUTED));
    }
    let colours = [
        theme::QUEUE,
        theme::CPU,
        theme::P95,
        theme::MEMORY,
        theme::P50,
        theme::THROUGHPUT,
    ];
    super::plot_axes::plot("server_times")
        .height(180.0)
        .legend(Legend::default().position(Corner::LeftTop))
        .x_axis_label("time since the load started")
        .x_axis_formatter(super::plot_axes::seconds)
        .y_axis_label("time per request")
        .y_axis_formatter(super::plot_axes::millis)
        .include_y(0.0)
        .allow_scroll(false)
        .show(ui, |plot| {
            for (series, colour) in series(stats, client, warmup_secs).into_iter().zip(colours) {
                plot.line(Line::new(series.name, PlotPoints::from(series.points)).color(colour));
            }
        });
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn server_windows_and_client_windows_share_the_load_clock() {
        let stats = ServerStatsReport {
            offered: true,
            note: None,
            windows: vec![
                ServerWindow {
                    index: 0,
                    requests: 0,
                    ..ServerWindow::default()
                },
                ServerWindow {
                    index: 2,
                    requests: 10,
                    queue_micros: 500.0,
                    compute_input_micros: 100.0,
                    compute_infer_micros: 2_000.0,
                    compute_output_micros: 400.0,
                    ..ServerWindow::default()
                },
            ],
            total: None,
            source: None,
        };
        let client = [WindowStats {
            start_secs: 1.0,
            duration_secs: 1.0,
            requests: 10,
            inferences: 10,
            inferences_per_sec: 10.0,
            requests_per_sec: 10.0,
            p50_micros: Some(4_000.0),
            ..WindowStats::default()
        }];
        let series = series(&stats, &client, 1.0);
        let named = |name: &str| {
            series
                .iter()
                .find(|s| s.name == name)
                .map(|s| s.points.clone())
                .unwrap_or_default()
        };
        // The empty window is left out; window 2 ends at 3 s.
        assert_eq!(named("server queue"), [[3.0, 0.5]]);
        assert_eq!(named("server total"), [[3.0, 3.0]]);
        // The client window 1..2 s of the measurement ends 3 s into the load.
        // Means against means; a session without window means falls back to
        // the p50.
        assert_eq!(named("client end-to-end mean"), [[3.0, 4.0]]);
        let with_mean = [WindowStats {
            mean_micros: Some(4_500.0),
            ..client[0].clone()
        }];
        let series = super::series(&stats, &with_mean, 1.0);
        let client_mean = series
            .iter()
            .find(|s| s.name == "client end-to-end mean")
            .map(|s| s.points.clone());
        assert_eq!(client_mean, Some(vec![[3.0, 4.5]]));
    }
}
