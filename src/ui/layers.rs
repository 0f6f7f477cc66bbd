//! The Layers panel: a sortable per-node table, a per-op-type bar chart and
//! the per-layer heatmap.

use egui::{RichText, Ui};
use egui_extras::{Column, TableBuilder};
use egui_plot::{Bar, BarChart, Plot};
use serde::{Deserialize, Serialize};

use super::{heatmap, theme};
use crate::{
    metrics::{
        gpu_attribution::GpuAttribution,
        layers::{LayerReport, LayerSource, LayerStats, short_provider},
    },
    util::{format_count, format_micros},
};

/// Column the node table is sorted by.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
pub enum SortKey {
    Node,
    OpType,
    Provider,
    Calls,
    #[default]
    Total,
    Mean,
    P90,
    Share,
}

/// How the node table is sorted.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct TableSort {
    pub key: SortKey,
    pub descending: bool,
}

impl Default for TableSort {
    fn default() -> Self {
        Self {
            key: SortKey::Total,
            descending: true,
        }
    }
}

/// Sorts `nodes` in place.
pub fn sort_nodes(nodes: &mut [&LayerStats], sort: TableSort) {
    nodes.sort_by(|a, b| {
        let order = match sort.key {
            SortKey::Node => a.node.cmp(&b.node),
            SortKey::OpType => a.op_type.cmp(&b.op_type),
            SortKey::Provider => a.provider.cmp(&b.provider),
            SortKey::Calls => a.calls.cmp(&b.calls),
            SortKey::Total => a.total_micros.cmp(&b.total_micros),
            SortKey::Mean => a.mean_micros.total_cmp(&b.mean_micros),
            SortKey::P90 => a.p90_micros.total_cmp(&b.p90_micros),
            SortKey::Share => a.share.total_cmp(&b.share),
        };
        if sort.descending {
            order.reverse()
        } else {
            order
        }
    });
}

/// Per-node GPU time from CUPTI, when the run recorded it.
#[derive(Debug, Clone, Copy, Default)]
pub struct GpuKernels<'a> {
    pub attribution: Option<&'a GpuAttribution>,
    /// Why there is no attribution on a CUDA run.
    pub note: Option<&'a str>,
}

/// Draws the Layers panel.
pub fn layers_ui(
    ui: &mut Ui,
    report: Option<&LayerReport>,
    sort: &mut TableSort,
    is_optimized: bool,
    why_none: Option<&str>,
    gpu: GpuKernels<'_>,
) {
    let Some(report) = report else {
        ui.label(why_none.unwrap_or(
            "No per-layer timings yet. They come from ONNX Runtime's profiler: a separate pass after the load, \
             or sampled during it (Config > Per-layer profiling).",
        ));
        return;
    };
    ui.label(format!(
        "{}: {} profiled runs, mean model_run {}, kernels {:.0} % of it.{}",
        match report.source {
            LayerSource::SeparatePass => "Separate profiling pass",
            LayerSource::Sampled => "Sampled during the load",
        },
        report.runs,
        format_micros(report.model_run_mean_micros),
        report.kernel_share * 100.0,
        if is_optimized {
            " Node names are those of the optimized graph (fusions rename nodes)."
        } else {
            ""
        }
    ));
    let providers = report.provider_summary();
    ui.label(format!("Providers: {providers}"));
    let has_gpu_nodes = providers.has_gpu_nodes();
    if has_gpu_nodes {
        ui.label(
            RichText::new(
                "Times of nodes on CUDA are host-side launch times: ONNX Runtime's profiler does not see the GPU work.",
            )
            .color(theme::WARNING),
        );
        match (gpu.attribution, gpu.note) {
            (Some(attribution), _) => {
                let attributed = attribution.attributed_nanos();
                ui.label(format!(
                    "GPU column: kernel time from CUPTI. GPU busy {}, {} attributed to nodes, {} kernels outside any node.",
                    format_micros(attribution.gpu_busy_nanos as f64 / 1e3),
                    format_micros(attributed as f64 / 1e3),
                    attribution.unattributed_kernels
                ));
            }
            (None, Some(note)) => {
                ui.label(RichText::new(note).color(theme::MUTED));
            }
            (None, None) => {}
        }
    }
    ui.add_space(4.0);
    ui.columns(2, |columns| {
        columns[0].label(RichText::new("Time per op type").strong());
        op_chart_ui(&mut columns[0], report);
        columns[1].label(RichText::new("Per-layer time over the run").strong());
        heatmap::heatmap_ui(&mut columns[1], report.timeline.as_ref());
    });
    ui.add_space(8.0);
    ui.label(RichText::new(format!("Nodes ({})", report.nodes.len())).strong());
    node_table_ui(ui, report, sort, has_gpu_nodes, gpu.attribution);
}

fn op_chart_ui(ui: &mut Ui, report: &LayerReport) {
    let bars: Vec<Bar> = report
        .op_types
        .iter()
        .enumerate()
        .map(|(index, op)| {
            Bar::new(index as f64, op.share * 100.0).name(format!(
                "{} ({} nodes, {})",
                op.op_type,
                op.nodes,
                format_micros(op.total_micros as f64)
            ))
        })
        .collect();
    let labels: Vec<String> = report
        .op_types
        .iter()
        .map(|op| op.op_type.clone())
        .collect();
    Plot::new("op_types")
        .height(180.0)
        .y_axis_label("share of model_run (%)")
        .include_y(0.0)
        .x_axis_formatter(move |mark, _| {
            let index = mark.value.round();
            if (mark.value - index).abs() < 1e-6 && index >= 0.0 {
                labels.get(index as usize).cloned().unwrap_or_default()
            } else {
                String::new()
            }
        })
        .allow_scroll(false)
        .show(ui, |plot| {
            plot.bar_chart(BarChart::new("share", bars).color(theme::THROUGHPUT));
        });
}

fn header_ui(ui: &mut Ui, label: &str, key: SortKey, sort: &mut TableSort) {
    let marker = if sort.key == key {
        if sort.descending { " v" } else { " ^" }
    } else {
        ""
    };
    if ui
        .button(RichText::new(format!("{label}{marker}")).strong())
        .clicked()
    {
        if sort.key == key {
            sort.descending = !sort.descending;
        } else {
            *sort = TableSort {
                key,
                descending: !matches!(key, SortKey::Node | SortKey::OpType | SortKey::Provider),
            };
        }
    }
}

fn node_table_ui(
    ui: &mut Ui,
    report: &LayerReport,
    sort: &mut TableSort,
    has_gpu_nodes: bool,
    gpu: Option<&GpuAttribution>,
) {
    let mut nodes: Vec<&LayerStats> = report.nodes.iter().collect();
    sort_nodes(&mut nodes, *sort);
    let row_height = ui.text_style_height(&egui::TextStyle::Body) + 4.0;
    let gpu_time = |node: &str| -> String {
        gpu.and_then(|attribution| attribution.gpu_nanos_of(node))
            .map_or_else(|| "-".to_owned(), |nanos| format_micros(nanos as f64 / 1e3))
    };
    TableBuilder::new(ui)
        .striped(true)
        .resizable(true)
        .column(Column::initial(260.0).at_least(80.0).clip(true))
        .column(Column::initial(150.0).clip(true))
        .column(Column::initial(70.0))
        .columns(Column::initial(80.0), if gpu.is_some() { 6 } else { 5 })
        .header(row_height + 4.0, |mut header| {
            let columns = [
                ("Node", SortKey::Node),
                ("Op", SortKey::OpType),
                ("Provider", SortKey::Provider),
                ("Calls", SortKey::Calls),
                (
                    if has_gpu_nodes {
                        "Total (launch)"
                    } else {
                        "Total"
                    },
                    SortKey::Total,
                ),
                ("Mean", SortKey::Mean),
                ("p90", SortKey::P90),
                ("Share", SortKey::Share),
            ];
            for (label, key) in columns {
                header.col(|ui| header_ui(ui, label, key, sort));
            }
            if gpu.is_some() {
                header.col(|ui| {
                    ui.label(RichText::new("GPU (CUPTI)").strong());
                });
            }
        })
        .body(|body| {
            body.rows(row_height, nodes.len(), |mut row| {
                let Some(node) = nodes.get(row.index()) else {
                    return;
                };
                row.col(|ui| {
                    ui.label(&node.node).on_hover_text(&node.input_shapes);
                });
                row.col(|ui| {
                    ui.label(&node.op_type);
                });
                row.col(|ui| {
                    ui.label(short_provider(&node.provider));
                });
                row.col(|ui| {
                    ui.label(format_count(node.calls));
                });
                row.col(|ui| {
                    ui.label(format_micros(node.total_micros as f64));
                });
                row.col(|ui| {
                    ui.label(format_micros(node.mean_micros));
                });
                row.col(|ui| {
                    ui.label(format_micros(node.p90_micros));
                });
                row.col(|ui| {
                    ui.label(format!("{:.1} %", node.share * 100.0));
                });
                if gpu.is_some() {
                    row.col(|ui| {
                        ui.label(gpu_time(&node.node));
                    });
                }
            });
        });
}

#[cfg(test)]
mod tests {
    use super::*;

    fn node(name: &str, total: u64, share: f64) -> LayerStats {
        LayerStats {
            node: name.to_owned(),
            op_type: "Conv".to_owned(),
            provider: "CPUExecutionProvider".to_owned(),
            calls: 1,
            total_micros: total,
            mean_micros: total as f64,
            p50_micros: total as f64,
            p90_micros: total as f64,
            share,
            input_shapes: String::new(),
            ..LayerStats::default()
        }
    }

    #[test]
    fn sorting_follows_the_selected_column() {
        let stats = [node("b", 10, 0.1), node("a", 30, 0.3), node("c", 20, 0.2)];
        let mut nodes: Vec<&LayerStats> = stats.iter().collect();
        sort_nodes(&mut nodes, TableSort::default());
        assert_eq!(
            nodes.iter().map(|n| n.node.as_str()).collect::<Vec<_>>(),
            ["a", "c", "b"]
        );
        sort_nodes(
            &mut nodes,
            TableSort {
                key: SortKey::Node,
                descending: false,
            },
        );
        assert_eq!(
            nodes.iter().map(|n| n.node.as_str()).collect::<Vec<_>>(),
            ["a", "b", "c"]
        );
    }
}
