//! The memory view of a layer report: the session's peak arena use and,
//! per optimized node, the bytes it allocates for outputs and scratch space
//! (from ONNX Runtime's node memory statistics, see `metrics::memory`).
//! Rows are virtual (only visible ones are laid out).

use egui::{RichText, Ui};
use egui_extras::{Column, TableBuilder};

use super::theme;
use crate::{metrics::memory::MemoryReport, util::format_bytes};

/// Height of one table row, in points.
const ROW_HEIGHT: f32 = 18.0;

/// Draws the memory view: a summary line, then the per-node table, largest
/// allocations first, with a bar for each node's share of the largest.
pub fn show(ui: &mut Ui, report: &MemoryReport) {
    let arena = match (report.arena_peak_bytes, report.arena_held_bytes) {
        (Some(peak), Some(held)) => format!(
            "Arena peak in use {}, held {}",
            format_bytes(peak),
            format_bytes(held)
        ),
        (Some(peak), None) => format!("Arena peak in use {}", format_bytes(peak)),
        _ => "No arena statistics".to_owned(),
    };
    ui.label(RichText::new(arena).strong());
    if let Some(note) = &report.note {
        ui.label(RichText::new(note).color(theme::WARNING));
    }
    if report.nodes.is_empty() {
        ui.label(RichText::new("No per-node memory statistics.").color(theme::MUTED));
        return;
    }
    if report.dropped_nodes > 0 {
        ui.label(
            RichText::new(format!("{} smaller nodes not listed", report.dropped_nodes))
                .color(theme::MUTED),
        );
    }
    let largest = report
        .nodes
        .iter()
        .map(|node| node.output_bytes + node.temp_bytes)
        .max()
        .unwrap_or(0)
        .max(1);
    TableBuilder::new(ui)
        .id_salt("memory_view")
        .striped(true)
        .column(Column::initial(260.0).resizable(true).clip(true))
        .column(Column::auto())
        .column(Column::auto())
        .column(Column::auto())
        .column(Column::remainder().at_least(80.0))
        .header(ROW_HEIGHT, |mut header| {
            for title in ["node", "outputs", "scratch", "inputs", ""] {
                header.col(|ui| {
                    ui.label(RichText::new(title).strong());
                });
            }
        })
        .body(|body| {
            body.rows(ROW_HEIGHT, report.nodes.len(), |mut row| {
                let Some(node) = report.nodes.get(row.index()) else {
                    return;
                };
                row.col(|ui| {
                    ui.label(&node.node).on_hover_text(&node.node);
                });
                row.col(|ui| {
                    ui.label(format_bytes(node.output_bytes));
                });
                row.col(|ui| {
                    ui.label(format_bytes(node.temp_bytes));
                });
                row.col(|ui| {
                    ui.label(format_bytes(node.input_bytes + node.initializer_bytes));
                });
                row.col(|ui| {
                    let fraction = (node.output_bytes + node.temp_bytes) as f32 / largest as f32;
                    ui.add(
                        egui::ProgressBar::new(fraction)
                            .fill(theme::MEMORY)
                            .desired_height(ROW_HEIGHT * 0.6),
                    );
                });
            });
        });
}

#[cfg(test)]
mod tests {
    use egui_kittest::{Harness, kittest::Queryable as _};

    use super::*;
    use crate::metrics::memory::NodeMemory;

    #[test]
    fn shows_the_arena_peak_and_the_nodes_largest_first() {
        let report = MemoryReport {
            nodes: vec![
                NodeMemory {
                    node: "conv_big".to_owned(),
                    output_bytes: 65_536,
                    temp_bytes: 4_096,
                    ..NodeMemory::default()
                },
                NodeMemory {
                    node: "relu_small".to_owned(),
                    output_bytes: 256,
                    ..NodeMemory::default()
                },
            ],
            arena_peak_bytes: Some(90_000),
            arena_held_bytes: Some(1_049_768),
            ..MemoryReport::default()
        };
        let mut harness = Harness::new_ui(|ui| show(ui, &report));
        harness.run();
        harness.get_by_label_contains("Arena peak in use 90");
        harness.get_by_label("conv_big");
        harness.get_by_label("relu_small");
        harness.get_by_label(&format_bytes(4_096));
    }

    #[test]
    fn an_empty_report_says_so() {
        let report = MemoryReport {
            note: Some("cannot read ONNX Runtime's node memory statistics".to_owned()),
            ..MemoryReport::default()
        };
        let mut harness = Harness::new_ui(|ui| show(ui, &report));
        harness.run();
        harness.get_by_label("No arena statistics");
        harness.get_by_label("No per-node memory statistics.");
        harness.get_by_label_contains("cannot read");
    }
}
