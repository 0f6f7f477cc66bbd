//! The roofline of the shown layer report: each profiled node with FLOPs and
//! bytes a dot at (arithmetic intensity, achieved GFLOP/s), log-log (the
//! plot holds log10 values, the ticks say the real ones), under the two
//! roofs of the machine's measured peaks (bandwidth slope, compute flat).
//! Hover names the node; a click selects it (shared selection).

use egui::{RichText, Ui};
use egui_plot::{HoverPosition, Line, MarkerShape, Plot, PlotPoints, Points};

use super::{selection::Selection, theme};
use crate::{
    metrics::layers::{LayerReport, LayerStats, short_provider},
    model::format_flops,
    util::{format_bytes, format_micros},
};

/// Click distance to a dot, in points.
const CLICK_RADIUS: f32 = 12.0;

/// A node's place on the roofline.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct RooflinePoint {
    /// Index into the report's nodes.
    pub node: usize,
    /// Arithmetic intensity, FLOP per byte.
    pub intensity: f64,
    /// Achieved GFLOP/s: FLOPs of one call over its mean time.
    pub gflops_per_s: f64,
}

/// The nodes that can be placed: FLOPs, bytes and a mean time all positive.
pub fn roofline_points(report: &LayerReport) -> Vec<RooflinePoint> {
    report
        .nodes
        .iter()
        .enumerate()
        .filter_map(|(index, node)| {
            let (Some(flops), Some(bytes)) = (node.flops, node.bytes) else {
                return None;
            };
            (flops > 0.0 && bytes > 0.0 && node.mean_micros > 0.0).then(|| RooflinePoint {
                node: index,
                intensity: flops / bytes,
                gflops_per_s: flops / node.mean_micros / 1e3,
            })
        })
        .collect()
}

/// A log10 tick as its value: `0.01`, `1`, `100`, `10k`; empty between
/// decades.
fn decade_label(log_value: f64) -> String {
    let rounded = log_value.round();
    if (log_value - rounded).abs() > 1e-6 {
        return String::new();
    }
    let value = 10f64.powi(rounded as i32);
    if rounded >= 6.0 {
        format!("{}M", 10f64.powi(rounded as i32 - 6))
    } else if rounded >= 3.0 {
        format!("{}k", 10f64.powi(rounded as i32 - 3))
    } else if rounded >= 0.0 {
        format!("{value}")
    } else {
        format!("{value:.*}", (-rounded) as usize)
    }
}

fn node_text(node: &LayerStats, point: &RooflinePoint) -> String {
    format!(
        "{} ({}, {})\n{} · {} per call · mean {}\n{:.2} FLOP/byte · {:.2} GFLOP/s",
        node.node,
        node.op_type,
        short_provider(&node.provider),
        format_flops(node.flops.unwrap_or(0.0) as u64),
        format_bytes(node.bytes.unwrap_or(0.0) as u64),
        format_micros(node.mean_micros),
        point.intensity,
        point.gflops_per_s
    )
}

/// Draws the roofline, or says what the session lacks for it.
pub fn roofline_ui(ui: &mut Ui, report: &LayerReport, selection: &mut Selection) {
    let points = roofline_points(report);
    if points.is_empty() {
        let has_flops = report.nodes.iter().any(|node| node.flops.is_some());
        ui.label(
            RichText::new(if has_flops {
                "No bytes in this session: the roofline needs each node's FLOPs and bytes."
            } else {
                "No FLOPs in this session: the roofline needs each node's FLOPs and bytes (from the shapes in the profile)."
            })
            .color(theme::MUTED),
        );
        return;
    }
    let peaks = report.machine_peaks.as_ref();
    match peaks {
        Some(peaks) => ui.label(format!(
            "Roofs: {:.1} GFLOP/s and {:.1} GB/s on {} ({})",
            peaks.gflops_per_s, peaks.gbytes_per_s, peaks.provider, peaks.method
        )),
        None => ui.label(
            RichText::new("No machine peaks in this session: the roofs are not drawn.")
                .color(theme::MUTED),
        ),
    };
    let logs: Vec<[f64; 2]> = points
        .iter()
        .map(|p| [p.intensity.log10(), p.gflops_per_s.log10()])
        .collect();
    let selected: Vec<[f64; 2]> = points
        .iter()
        .zip(&logs)
        .filter(|(p, _)| {
            report
                .nodes
                .get(p.node)
                .is_some_and(|node| selection.has_optimized(&node.node, &node.source_nodes))
        })
        .map(|(_, log)| *log)
        .collect();
    let (mut x_min, mut x_max) = logs.iter().fold((f64::MAX, f64::MIN), |(lo, hi), p| {
        (lo.min(p[0]), hi.max(p[0]))
    });
    let roofs = peaks
        .filter(|peaks| peaks.gflops_per_s > 0.0 && peaks.gbytes_per_s > 0.0)
        .map(|peaks| {
            let ridge = (peaks.gflops_per_s / peaks.gbytes_per_s).log10();
            x_min = x_min.min(ridge - 1.0);
            x_max = x_max.max(ridge + 1.0);
            (
                peaks.gbytes_per_s.log10(),
                peaks.gflops_per_s.log10(),
                ridge,
            )
        });
    let hover_points = points.clone();
    let hover_nodes: Vec<LayerStats> = points
        .iter()
        .filter_map(|p| report.nodes.get(p.node).cloned())
        .collect();
    let response = Plot::new("roofline")
        .height(260.0)
        .x_axis_label("arithmetic intensity (FLOP/byte)")
        .y_axis_label("achieved GFLOP/s")
        .x_axis_formatter(|mark, _| decade_label(mark.value))
        .y_axis_formatter(|mark, _| decade_label(mark.value))
        .allow_scroll(false)
        .label_formatter(move |position| match position {
            HoverPosition::NearDataPoint {
                plot_name, index, ..
            } if *plot_name == "nodes" => hover_points
                .get(*index)
                .zip(hover_nodes.get(*index))
                .map(|(point, node)| node_text(node, point)),
            _ => None,
        })
        .show(ui, |plot| {
            if let Some((bandwidth, compute, ridge)) = roofs {
                plot.line(
                    Line::new(
                        "memory roof",
                        PlotPoints::from(vec![[x_min, bandwidth + x_min], [ridge, compute]]),
                    )
                    .color(theme::MEMORY),
                );
                plot.line(
                    Line::new(
                        "compute roof",
                        PlotPoints::from(vec![[ridge, compute], [x_max, compute]]),
                    )
                    .color(theme::P99),
                );
            }
            plot.points(
                Points::new("nodes", PlotPoints::from(logs.clone()))
                    .radius(3.5)
                    .color(theme::THROUGHPUT)
                    .filled(true),
            );
            if !selected.is_empty() {
                plot.points(
                    Points::new("selected", PlotPoints::from(selected))
                        .radius(7.0)
                        .shape(MarkerShape::Circle)
                        .filled(false)
                        .color(egui::Color32::from_rgb(255, 220, 60)),
                );
            }
        });
    if response.response.clicked()
        && let Some(pointer) = response.response.interact_pointer_pos()
    {
        let nearest = logs
            .iter()
            .enumerate()
            .map(|(index, log)| {
                let screen = response
                    .transform
                    .position_from_point(&egui_plot::PlotPoint::new(log[0], log[1]));
                (index, screen.distance(pointer))
            })
            .filter(|(_, distance)| *distance <= CLICK_RADIUS)
            .min_by(|a, b| a.1.total_cmp(&b.1));
        if let Some(node) = nearest
            .and_then(|(index, _)| points.get(index))
            .and_then(|point| report.nodes.get(point.node))
        {
            selection.select_optimized(&node.node, &node.source_nodes);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn points_are_intensity_and_achieved_rate() {
        let node = LayerStats {
            node: "conv".to_owned(),
            mean_micros: 1000.0,
            flops: Some(2e9),
            bytes: Some(4e6),
            ..LayerStats::default()
        };
        let unplaced = LayerStats {
            node: "relu".to_owned(),
            mean_micros: 10.0,
            flops: None,
            bytes: Some(1e3),
            ..LayerStats::default()
        };
        let report = LayerReport::for_tests(vec![unplaced, node], 1);
        let points = roofline_points(&report);
        assert_eq!(points.len(), 1);
        assert_eq!(points[0].node, 1);
        assert!((points[0].intensity - 500.0).abs() < 1e-9);
        // 2 GFLOP in 1 ms: 2000 GFLOP/s.
        assert!((points[0].gflops_per_s - 2000.0).abs() < 1e-9);
    }

    #[test]
    fn decade_ticks_read_as_values() {
        assert_eq!(decade_label(0.0), "1");
        assert_eq!(decade_label(2.0), "100");
        assert_eq!(decade_label(4.0), "10k");
        assert_eq!(decade_label(-2.0), "0.01");
        assert_eq!(decade_label(0.5), "");
    }
}
