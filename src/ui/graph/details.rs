//! The selected node's panel beside the graph: attributes, input and output
//! shapes, and what the shown session measured for it (time, FLOPs, bytes,
//! providers, the optimized nodes that run it).

use std::collections::BTreeMap;

use egui::{RichText, Ui};

use super::{
    model_graph::ModelGraph,
    session_metrics::{NodeMetrics, SessionMetrics},
};
use crate::{
    model::format_flops,
    ui::{selection::Selection, theme},
    util::{format_bytes, format_micros},
};

/// One line of a source node's measurements.
pub fn metrics_line(measured: &NodeMetrics) -> String {
    let mut parts = vec![
        format!("{:.1} % of the time", measured.share * 100.0),
        format!("total {}", format_micros(measured.total_micros as f64)),
        format!("mean {}", format_micros(measured.mean_micros)),
    ];
    if let Some(flops) = measured.flops {
        parts.push(format_flops(flops as u64));
    }
    if let Some(bytes) = measured.bytes {
        parts.push(format_bytes(bytes as u64));
    }
    if !measured.providers.is_empty() {
        parts.push(measured.providers.join(", "));
    }
    parts.join(" · ")
}

/// The details of the selected source node(s).
pub fn details_ui(
    ui: &mut Ui,
    graph: Option<&ModelGraph>,
    config_shapes: Option<&BTreeMap<String, Vec<i64>>>,
    metrics: Option<&SessionMetrics>,
    selection: &mut Selection,
) {
    let Some(graph) = graph else { return };
    if let Some(optimized) = &selection.optimized_node {
        ui.label(format!("Selected from the Layers tab: {optimized}"));
    }
    let ids = selection.source_nodes.clone();
    for id in ids.iter().take(8) {
        let Some(node) = graph.nodes.iter().find(|node| &node.id == id) else {
            ui.label(
                RichText::new(format!(
                    "{id}: not drawn (it only computes a constant, which ONNX Runtime folds) or not a node of the open model"
                )).color(theme::WARNING),
            );
            continue;
        };
        ui.heading(&node.id);
        ui.label(RichText::new(&node.op_type).strong());
        if !node.attributes.is_empty() {
            ui.label(RichText::new("Attributes").strong());
            for (name, value) in &node.attributes {
                ui.label(
                    RichText::new(format!("{name} = {value}"))
                        .monospace()
                        .small(),
                );
            }
        }
        if config_shapes.is_some() {
            ui.label(
                RichText::new("Shapes at the Config's input shapes.")
                    .small()
                    .color(theme::MUTED),
            );
        } else if !graph.shape_note.is_empty() {
            ui.label(
                RichText::new(format!(
                    "Shapes from the model alone, {} (the profiled shapes are below).",
                    graph.shape_note
                ))
                .small()
                .color(theme::MUTED),
            );
        }
        for (title, tensors) in [("Inputs", &node.inputs), ("Outputs", &node.outputs)] {
            if tensors.is_empty() {
                continue;
            }
            ui.label(RichText::new(title).strong());
            for (name, shape) in tensors {
                let at_config = config_shapes
                    .and_then(|shapes| shapes.get(name))
                    .map(|dims| super::model_graph::shape_text(dims));
                let shape = match &at_config {
                    Some(text) => text.as_str(),
                    None if shape.is_empty() => "?",
                    None => shape,
                };
                ui.label(
                    RichText::new(format!("{name}: {shape}"))
                        .monospace()
                        .small(),
                );
            }
        }
        ui.label(RichText::new("Measured").strong());
        match (metrics, metrics.and_then(|m| m.by_source.get(&node.id))) {
            (None, _) => {
                ui.label(
                    RichText::new("No per-layer timings in the shown session.").color(theme::MUTED),
                );
            }
            (Some(m), measured) if m.model_only => {
                ui.label(
                    RichText::new(
                        "No per-layer timings yet: run a profile with per-layer profiling.",
                    )
                    .color(theme::MUTED),
                );
                if let Some(flops) = measured.and_then(|measured| measured.flops) {
                    ui.label(format!(
                        "{} by the model's count (before any run)",
                        format_flops(flops as u64)
                    ));
                }
            }
            (Some(m), _) if !m.has_mapping => {
                ui.label(RichText::new("No source mapping in this session: its timings are per optimized node (Layers tab).").color(theme::MUTED));
            }
            (Some(_), None) => {
                ui.label(RichText::new("No profiled node runs it (folded, or removed by ONNX Runtime's optimizer).").color(theme::MUTED));
            }
            (Some(m), Some(measured)) => {
                ui.label(metrics_line(measured));
                if measured.flops.is_none() && !m.has_flops {
                    ui.label(RichText::new("no FLOPs in this session").color(theme::MUTED));
                }
                if measured.shared {
                    ui.label(RichText::new("Runs in a fused kernel with other nodes: its whole time is shown on each.").color(theme::MUTED));
                }
                for shapes in measured.profiled_shapes.iter().take(4) {
                    ui.label(
                        RichText::new(format!("profiled inputs {shapes}"))
                            .monospace()
                            .small(),
                    );
                }
                ui.label("Run by:");
                let mut clicked = None;
                for (name, op) in &measured.optimized {
                    if ui.link(format!("{name} ({op})")).clicked() {
                        clicked = Some(name.clone());
                    }
                }
                if let Some(name) = clicked {
                    let sources = selection.source_nodes.clone();
                    selection.select_optimized(&name, &sources);
                }
            }
        }
        ui.separator();
    }
}
