//! The Layers panel: a sortable per-node table (per optimized node, with
//! the source nodes each runs, or per source node), a per-op-type bar
//! chart, the per-layer heatmap and the roofline.

use egui::{Align, RichText, Ui};
use egui_extras::{Column, TableBuilder};
use egui_plot::{Bar, BarChart};
use serde::{Deserialize, Serialize};

use super::{graph::shorten, heatmap, roofline, selection::Selection, theme};
use crate::{
    metrics::{
        gpu_attribution::GpuAttribution,
        layers::{LayerReport, LayerSource, LayerStats, short_provider},
        source_view::{SourceNodeStats, by_source_node},
    },
    model::format_flops,
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
    Flops,
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
            SortKey::Flops => a.flops.unwrap_or(-1.0).total_cmp(&b.flops.unwrap_or(-1.0)),
        };
        if sort.descending {
            order.reverse()
        } else {
            order
        }
    });
}

/// What the Layers panel remembers between frames.
#[derive(Debug, Clone, Default)]
pub struct LayersState {
    /// How the node table is sorted.
    pub sort: TableSort,
    /// Rows per source node instead of per optimized node.
    pub by_source: bool,
    /// The selection generation the table last scrolled to.
    pub seen_generation: u64,
    /// The open model's op type per source node id, so a source row shows
    /// its own op (a BatchNormalization fused into a Conv is still a
    /// BatchNormalization).
    pub source_ops: std::collections::HashMap<String, String>,
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
    state: &mut LayersState,
    selection: &mut Selection,
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
    ui.add_space(6.0);
    egui::CollapsingHeader::new(RichText::new("Roofline").strong())
        .default_open(true)
        .show(ui, |ui| roofline::roofline_ui(ui, report, selection));
    if let Some(memory) = &report.memory {
        egui::CollapsingHeader::new(RichText::new("Memory").strong())
            .default_open(false)
            .show(ui, |ui| super::memory_view::show(ui, memory));
    }
    ui.add_space(8.0);
    let source_rows = by_source_node(report);
    ui.horizontal(|ui| {
        ui.label(RichText::new(format!("Nodes ({})", report.nodes.len())).strong());
        ui.separator();
        ui.selectable_value(&mut state.by_source, false, "Per optimized node");
        ui.add_enabled_ui(source_rows.is_some(), |ui| {
            ui.selectable_value(&mut state.by_source, true, "Per source node")
                .on_disabled_hover_text("This session has no source mapping.");
        });
    });
    if source_rows.is_none() {
        ui.label(
            RichText::new(
                "No source mapping in this session: the Source column is empty and there is no per-source-node view.",
            )
            .color(theme::MUTED),
        );
    }
    // The cost columns sit right of the timings: on a narrow window the
    // table scrolls sideways rather than cutting them off.
    egui::ScrollArea::horizontal()
        .id_salt("layers_table_columns")
        .auto_shrink([false, false])
        .show(ui, |ui| match source_rows {
            Some(rows) if state.by_source => source_table_ui(ui, &rows, state, selection),
            _ => node_table_ui(ui, report, state, selection, has_gpu_nodes, gpu.attribution),
        });
}

/// Source node ids, shortened: the first two and a count.
fn source_text(source_nodes: &[String]) -> String {
    match source_nodes {
        [] => "-".to_owned(),
        [one] => shorten(one, 28),
        [first, second] => format!("{}, {}", shorten(first, 14), shorten(second, 14)),
        [first, second, rest @ ..] => format!(
            "{}, {} +{}",
            shorten(first, 12),
            shorten(second, 12),
            rest.len()
        ),
    }
}

/// Achieved rate of one call: `amount` per call over `mean_micros`, in
/// giga-units per second.
fn giga_per_s(amount: Option<f64>, mean_micros: f64) -> String {
    match amount {
        Some(amount) if mean_micros > 0.0 => format!("{:.2}", amount / mean_micros / 1e3),
        _ => "-".to_owned(),
    }
}

/// Points per op-type bar: y labels are drawn from 20 points apart.
const OP_BAR_POINTS: f32 = 24.0;

/// The share of run time per op type: horizontal bars, the largest on top,
/// each labelled with its op type (the plot grows with their number).
fn op_chart_ui(ui: &mut Ui, report: &LayerReport) {
    let count = report.op_types.len();
    let bars: Vec<Bar> = report
        .op_types
        .iter()
        .enumerate()
        .map(|(index, op)| {
            Bar::new((count - 1 - index) as f64, op.share * 100.0)
                .width(0.7)
                .name(format!(
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
        .rev()
        .map(|op| op.op_type.clone())
        .collect();
    super::plot_axes::plot("op_types")
        .height(OP_BAR_POINTS * count as f32 + 60.0)
        .x_axis_label("share of the model's run time (ONNX Runtime's model_run)")
        .x_axis_formatter(|mark, _| format!("{} %", crate::util::format_value(mark.value)))
        .include_x(0.0)
        .y_grid_spacer(egui_plot::uniform_grid_spacer(|_| [1.0, 1.0, 1.0]))
        .y_axis_formatter(move |mark, _| {
            let index = mark.value.round();
            if (mark.value - index).abs() < 1e-6 && index >= 0.0 {
                labels.get(index as usize).cloned().unwrap_or_default()
            } else {
                String::new()
            }
        })
        .allow_scroll(false)
        .allow_drag(false)
        .allow_zoom(false)
        .show(ui, |plot| {
            plot.bar_chart(
                BarChart::new("share", bars)
                    .horizontal()
                    .color(theme::THROUGHPUT),
            );
        });
}

fn header_ui(ui: &mut Ui, label: &str, key: SortKey, sort: &mut TableSort) -> egui::Response {
    let marker = if sort.key == key {
        if sort.descending { " v" } else { " ^" }
    } else {
        ""
    };
    let response = ui.button(RichText::new(format!("{label}{marker}")).strong());
    if response.clicked() {
        if sort.key == key {
            sort.descending = !sort.descending;
        } else {
            *sort = TableSort {
                key,
                descending: !matches!(key, SortKey::Node | SortKey::OpType | SortKey::Provider),
            };
        }
    }
    response
}

/// What the FLOPs column counts, and how it adds up to the model's count.
fn flops_hover(report: &LayerReport) -> String {
    let mut text = "Floating-point operations per call (a multiply-add is 2).".to_owned();
    if let Some(model) = &report.model_flops {
        text.push_str(&format!(
            "\nThe nodes that run the model's Conv, Gemm, MatMul, Einsum and ConvTranspose add up to {} of its {} at the run's input shapes (as `inspect` counts them with those shapes); element-wise nodes count one operation per element.",
            format_flops(model.on_profiled_nodes as u64),
            format_flops(model.total as u64),
        ));
        if !model.kernel_flops.is_empty() {
            let kernels = model.kernel_flops.len();
            text.push_str(&format!(
                "\n{kernels} {} more than that (NCHWc channels padded to the block size); the padded work is not in the column.",
                if kernels == 1 {
                    "kernel computes"
                } else {
                    "kernels compute"
                }
            ));
        }
    }
    text
}

fn node_table_ui(
    ui: &mut Ui,
    report: &LayerReport,
    state: &mut LayersState,
    selection: &mut Selection,
    has_gpu_nodes: bool,
    gpu: Option<&GpuAttribution>,
) {
    let mut nodes: Vec<&LayerStats> = report.nodes.iter().collect();
    sort_nodes(&mut nodes, state.sort);
    let has_flops = nodes.iter().any(|node| node.flops.is_some());
    let has_bytes = nodes.iter().any(|node| node.bytes.is_some());
    let cost_columns = usize::from(has_flops) * 2 + usize::from(has_bytes);
    let row_height = ui.text_style_height(&egui::TextStyle::Body) + 4.0;
    let gpu_time = |node: &str| -> String {
        gpu.and_then(|attribution| attribution.gpu_nanos_of(node))
            .map_or_else(|| "-".to_owned(), |nanos| format_micros(nanos as f64 / 1e3))
    };
    let mut builder = TableBuilder::new(ui)
        .id_salt("layers_by_node")
        .striped(true)
        .resizable(true)
        .column(Column::initial(240.0).at_least(80.0).clip(true))
        .column(Column::initial(170.0).clip(true))
        .column(Column::initial(130.0).clip(true))
        .column(Column::initial(70.0))
        .columns(
            Column::initial(80.0),
            5 + cost_columns + usize::from(gpu.is_some()),
        );
    if selection.generation != state.seen_generation {
        state.seen_generation = selection.generation;
        if let Some(row) = nodes
            .iter()
            .position(|node| selection.has_optimized(&node.node, &node.source_nodes))
        {
            builder = builder.scroll_to_row(row, Some(Align::Center));
        }
    }
    let mut clicked: Option<&LayerStats> = None;
    builder
        .header(row_height + 4.0, |mut header| {
            header.col(|ui| {
                header_ui(ui, "Node", SortKey::Node, &mut state.sort);
            });
            header.col(|ui| {
                ui.label(RichText::new("Source").strong())
                    .on_hover_text("The nodes of the model file this node runs");
            });
            let columns = [
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
                header.col(|ui| {
                    header_ui(ui, label, key, &mut state.sort);
                });
            }
            if has_flops {
                header.col(|ui| {
                    header_ui(ui, "FLOPs", SortKey::Flops, &mut state.sort)
                        .on_hover_text(flops_hover(report));
                });
                header.col(|ui| {
                    ui.label(RichText::new("GFLOP/s").strong());
                });
            }
            if has_bytes {
                header.col(|ui| {
                    ui.label(RichText::new("GB/s").strong());
                });
            }
            if gpu.is_some() {
                header.col(|ui| {
                    ui.label(RichText::new("GPU (CUPTI)").strong());
                });
            }
        })
        .body(|body| {
            body.rows(row_height, nodes.len(), |mut row| {
                let Some(node) = nodes.get(row.index()).copied() else {
                    return;
                };
                let selected = selection.has_optimized(&node.node, &node.source_nodes);
                row.col(|ui| {
                    if ui
                        .selectable_label(selected, &node.node)
                        .on_hover_text(format!(
                            "inputs {}\noutputs {}",
                            node.input_shapes, node.output_shapes
                        ))
                        .clicked()
                    {
                        clicked = Some(node);
                    }
                });
                row.col(|ui| {
                    let label = ui.label(source_text(&node.source_nodes));
                    if !node.source_nodes.is_empty() {
                        label.on_hover_text(node.source_nodes.join("\n"));
                    }
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
                if has_flops {
                    row.col(|ui| {
                        ui.label(
                            node.flops
                                .map_or_else(|| "-".to_owned(), |flops| format_flops(flops as u64)),
                        );
                    });
                    row.col(|ui| {
                        ui.label(giga_per_s(node.flops, node.mean_micros));
                    });
                }
                if has_bytes {
                    row.col(|ui| {
                        ui.label(giga_per_s(node.bytes, node.mean_micros));
                    });
                }
                if gpu.is_some() {
                    row.col(|ui| {
                        ui.label(gpu_time(&node.node));
                    });
                }
            });
        });
    if let Some(node) = clicked {
        state.seen_generation = selection.select_optimized(&node.node, &node.source_nodes);
    }
}

/// The per-source-node rows: time summed over the optimized nodes that run
/// each source node; shared fused time and the inserted and unmatched rows
/// marked.
fn source_table_ui(
    ui: &mut Ui,
    rows: &[SourceNodeStats],
    state: &mut LayersState,
    selection: &mut Selection,
) {
    ui.label(
        RichText::new(
            "A node fused with others shows the fused kernel's whole time (marked shared), so shared rows do not add up to the total.",
        )
        .small()
        .color(theme::MUTED),
    );
    let row_height = ui.text_style_height(&egui::TextStyle::Body) + 4.0;
    let mut builder = TableBuilder::new(ui)
        .id_salt("layers_by_source")
        .striped(true)
        .resizable(true)
        .column(Column::initial(240.0).at_least(80.0).clip(true))
        .column(Column::initial(160.0).clip(true))
        .column(Column::initial(200.0).clip(true))
        .columns(Column::initial(90.0), 4);
    if selection.generation != state.seen_generation {
        state.seen_generation = selection.generation;
        if let Some(row) = rows
            .iter()
            .position(|row| selection.has_source(&row.source_node))
        {
            builder = builder.scroll_to_row(row, Some(Align::Center));
        }
    }
    let mut clicked: Option<&str> = None;
    builder
        .header(row_height + 4.0, |mut header| {
            for label in [
                "Source node",
                "Ops",
                "Run by",
                "Total",
                "Share",
                "FLOPs",
                "Shared",
            ] {
                header.col(|ui| {
                    ui.label(RichText::new(label).strong());
                });
            }
        })
        .body(|body| {
            body.rows(row_height, rows.len(), |mut row| {
                let Some(stats) = rows.get(row.index()) else {
                    return;
                };
                let placed = !stats.source_node.starts_with('[');
                row.col(|ui| {
                    let text = if placed {
                        RichText::new(&stats.source_node)
                    } else {
                        RichText::new(&stats.source_node).color(theme::WARNING)
                    };
                    if ui
                        .selectable_label(selection.has_source(&stats.source_node), text)
                        .clicked()
                        && placed
                    {
                        clicked = Some(&stats.source_node);
                    }
                });
                row.col(|ui| {
                    let kernels = stats.op_types.join(", ");
                    match state.source_ops.get(&stats.source_node) {
                        Some(op) if stats.op_types.len() == 1 && stats.op_types[0] == *op => {
                            ui.label(op);
                        }
                        Some(op) => {
                            ui.label(format!("{op} (in {kernels})")).on_hover_text(
                                "The source node's op, and the op of the kernel ONNX Runtime ran it in",
                            );
                        }
                        None => {
                            ui.label(&kernels).on_hover_text(
                                "The op of the kernel that ran it (open the model to see the source node's own op)",
                            );
                        }
                    }
                });
                row.col(|ui| {
                    ui.label(source_text(&stats.optimized_nodes))
                        .on_hover_text(stats.optimized_nodes.join("\n"));
                });
                row.col(|ui| {
                    ui.label(format_micros(stats.total_micros as f64));
                });
                row.col(|ui| {
                    ui.label(format!("{:.1} %", stats.share * 100.0));
                });
                row.col(|ui| {
                    ui.label(
                        stats
                            .flops
                            .map_or_else(|| "-".to_owned(), |flops| format_flops(flops as u64)),
                    );
                });
                row.col(|ui| {
                    ui.label(if stats.shared { "shared" } else { "" });
                });
            });
        });
    if let Some(id) = clicked {
        state.seen_generation = selection.select_source(id);
    }
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

    #[test]
    fn the_flops_header_says_how_the_column_adds_up() {
        let mut report = LayerReport::for_tests(vec![node("a", 10, 1.0)], 10);
        assert!(!flops_hover(&report).contains("add up"));
        report.model_flops = Some(crate::metrics::layers::ModelFlops {
            total: 4.6e9,
            on_profiled_nodes: 4.6e9,
            kernel_flops: [("a".to_owned(), 5.0e9)].into_iter().collect(),
        });
        let hover = flops_hover(&report);
        assert!(
            hover.contains("add up to 4.60 GFLOPs of its 4.60 GFLOPs"),
            "{hover}"
        );
        assert!(hover.contains("1 kernel computes more"), "{hover}");
    }
}
