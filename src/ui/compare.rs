//! Comparing two sessions: summary deltas and a per-layer delta table, with
//! the layers found in only one of them. Layers are matched by the node of
//! the model file they compute (the layer reports' source mapping, taken
//! back through an int8 rewrite's node origins), so a fp32 run and an int8
//! or pruned run of the same model line up; without a mapping, by the
//! optimized node's name.

use egui::{RichText, Ui};
use egui_extras::{Column, TableBuilder};

use super::theme;
use crate::{session::SessionDocument, util::format_micros};

/// One summary figure of A and B.
#[derive(Debug, Clone, PartialEq)]
pub struct DeltaRow {
    pub metric: &'static str,
    pub a: Option<f64>,
    pub b: Option<f64>,
    /// True when a larger value is better (throughput).
    pub higher_is_better: bool,
    pub unit: &'static str,
}

impl DeltaRow {
    /// Relative change from A to B, in percent.
    pub fn delta_percent(&self) -> Option<f64> {
        match (self.a, self.b) {
            (Some(a), Some(b)) if a != 0.0 => Some((b - a) / a * 100.0),
            _ => None,
        }
    }

    /// Whether B is better than A (`None` when equal or unknown).
    pub fn b_is_better(&self) -> Option<bool> {
        let delta = self.delta_percent()?;
        if delta.abs() < 1e-9 {
            return None;
        }
        Some((delta > 0.0) == self.higher_is_better)
    }
}

/// A node present in both sessions.
#[derive(Debug, Clone, PartialEq)]
pub struct LayerDelta {
    pub node: String,
    pub op_type: String,
    pub a_mean_micros: f64,
    pub b_mean_micros: f64,
}

impl LayerDelta {
    /// Relative change of the mean time, in percent (negative = faster in B).
    pub fn delta_percent(&self) -> f64 {
        if self.a_mean_micros > 0.0 {
            (self.b_mean_micros - self.a_mean_micros) / self.a_mean_micros * 100.0
        } else {
            0.0
        }
    }
}

/// The comparison of two sessions.
#[derive(Debug, Clone, PartialEq)]
pub struct SessionComparison {
    pub summary: Vec<DeltaRow>,
    /// Sorted by absolute change of mean time, largest first.
    pub layers: Vec<LayerDelta>,
    pub only_in_a: Vec<String>,
    pub only_in_b: Vec<String>,
    /// Whether layers were matched by source node (else by optimized name).
    pub by_source_node: bool,
    /// Warnings on the accuracy figures of A and B (degenerate outputs).
    pub accuracy_warnings: Vec<String>,
}

/// Compares session `a` (the baseline) with `b`.
pub fn compare_sessions(a: &SessionDocument, b: &SessionDocument) -> SessionComparison {
    let pick = |document: &SessionDocument,
                value: &dyn Fn(&crate::metrics::RunSummary) -> Option<f64>| {
        document.run.summary.as_ref().and_then(value)
    };
    let row = |metric,
               higher_is_better,
               unit,
               value: &dyn Fn(&crate::metrics::RunSummary) -> Option<f64>| DeltaRow {
        metric,
        a: pick(a, value),
        b: pick(b, value),
        higher_is_better,
        unit,
    };
    let mut summary = vec![
        row("throughput", true, "inf/s", &|s| Some(s.inferences_per_sec)),
        row("p50 latency", false, "ms", &|s| {
            s.latency.map(|l| l.p50_micros / 1000.0)
        }),
        row("p99 latency", false, "ms", &|s| {
            s.latency.map(|l| l.p99_micros / 1000.0)
        }),
        row("failed requests", false, "", &|s| {
            Some(s.requests_failed as f64)
        }),
    ];
    let is_generative = |document: &SessionDocument| {
        document
            .run
            .summary
            .as_ref()
            .is_some_and(|summary| summary.generation.is_some())
    };
    if is_generative(a) || is_generative(b) {
        type Pick = fn(&crate::metrics::generation::GenerationSummary) -> Option<f64>;
        let figures: [(&'static str, bool, &'static str, Pick); 6] = [
            ("output tokens/s", true, "tok/s", |g| {
                Some(g.output_tokens_per_sec)
            }),
            ("TTFT p50", false, "ms", |g| {
                g.ttft.map(|l| l.p50_micros / 1000.0)
            }),
            ("TTFT p99", false, "ms", |g| {
                g.ttft.map(|l| l.p99_micros / 1000.0)
            }),
            ("ITL p50", false, "ms", |g| {
                g.itl.map(|l| l.p50_micros / 1000.0)
            }),
            ("ITL p99", false, "ms", |g| {
                g.itl.map(|l| l.p99_micros / 1000.0)
            }),
            ("goodput", true, "req/s", |g| g.goodput_per_sec),
        ];
        for (metric, higher_is_better, unit, value) in figures {
            summary.push(row(metric, higher_is_better, unit, &|s| {
                s.generation.as_ref().and_then(value)
            }));
        }
    }
    // The size of the model that ran: a transformed one's own size, not
    // its source file's.
    let model_size = |document: &SessionDocument| {
        match &document.run.transform {
            Some(report) if report.size_after_bytes > 0 => Some(report.size_after_bytes),
            _ => document.run.model.as_ref().map(|m| m.size_bytes),
        }
        .map(|bytes| bytes as f64 / 1e6)
    };
    summary.push(DeltaRow {
        metric: "model size",
        a: model_size(a),
        b: model_size(b),
        higher_is_better: false,
        unit: "MB",
    });
    let accuracy = |document: &SessionDocument| {
        document
            .run
            .transform
            .as_ref()
            .and_then(|transform| transform.accuracy.as_ref())
            .map(|accuracy| accuracy.worst_relative_l2_error())
    };
    summary.push(DeltaRow {
        metric: "output error vs fp32 (worst rel. L2)",
        a: accuracy(a),
        b: accuracy(b),
        higher_is_better: false,
        unit: "",
    });
    let report = |document: &SessionDocument| {
        document
            .run
            .transform
            .as_ref()
            .and_then(|transform| transform.accuracy.clone())
    };
    let top1 = |document: &SessionDocument| {
        report(document).and_then(|accuracy| accuracy.task.map(|task| task.top1_after * 100.0))
    };
    if top1(a).is_some() || top1(b).is_some() {
        summary.push(DeltaRow {
            metric: "task top-1 (labels)",
            a: top1(a),
            b: top1(b),
            higher_is_better: true,
            unit: "%",
        });
    }
    let accuracy_warnings = [("A", a), ("B", b)]
        .into_iter()
        .flat_map(|(which, document)| {
            report(document)
                .map(|accuracy| accuracy.warnings)
                .unwrap_or_default()
                .into_iter()
                .map(move |warning| format!("{which}: {warning}"))
        })
        .collect();

    let (times_a, times_b, by_source_node) = match (by_original_node(a), by_original_node(b)) {
        (Some(times_a), Some(times_b)) => (times_a, times_b, true),
        _ => (by_optimized_name(a), by_optimized_name(b), false),
    };
    let mut layers = Vec::new();
    let mut only_in_a = Vec::new();
    for (node, (a_mean, ops)) in &times_a {
        match times_b.get(node) {
            Some((b_mean, _)) => layers.push(LayerDelta {
                node: node.clone(),
                op_type: ops.join(", "),
                a_mean_micros: *a_mean,
                b_mean_micros: *b_mean,
            }),
            None => only_in_a.push(node.clone()),
        }
    }
    let mut only_in_b: Vec<String> = times_b
        .keys()
        .filter(|node| !times_a.contains_key(*node))
        .cloned()
        .collect();
    layers.sort_by(|x, y| {
        let dx = (x.b_mean_micros - x.a_mean_micros).abs();
        let dy = (y.b_mean_micros - y.a_mean_micros).abs();
        dy.total_cmp(&dx).then_with(|| x.node.cmp(&y.node))
    });
    only_in_a.sort();
    only_in_b.sort();
    SessionComparison {
        summary,
        layers,
        only_in_a,
        only_in_b,
        by_source_node,
        accuracy_warnings,
    }
}

/// Mean time per call and op types, by layer.
type LayerTimes = std::collections::BTreeMap<String, (f64, Vec<String>)>;

/// Each optimized node's mean time per call, credited once to every node of
/// the original model it computes (an int8 rewrite's nodes count as the
/// layer they replace); `None` when the report has no source mapping.
fn by_original_node(document: &SessionDocument) -> Option<LayerTimes> {
    use crate::metrics::{
        layers::NodeOrigin,
        source_view::{INSERTED_ROW, UNMATCHED_ROW},
    };
    let report = document.run.layers.as_ref()?;
    if report
        .nodes
        .iter()
        .all(|node| node.origin == NodeOrigin::Unknown)
    {
        return None;
    }
    let origins = document
        .run
        .transform
        .as_ref()
        .and_then(|transform| transform.int8.as_ref())
        .map(|int8| &int8.node_origins);
    let mut times = LayerTimes::new();
    for node in &report.nodes {
        let mut ids: std::collections::BTreeSet<&str> = node
            .source_nodes
            .iter()
            .map(|source| {
                origins
                    .and_then(|origins| origins.get(source))
                    .unwrap_or(source)
                    .as_str()
            })
            .collect();
        if ids.is_empty() {
            ids.insert(if node.origin == NodeOrigin::Inserted {
                INSERTED_ROW
            } else {
                UNMATCHED_ROW
            });
        }
        for id in ids {
            let entry = times.entry(id.to_owned()).or_default();
            entry.0 += node.mean_micros;
            if !entry.1.contains(&node.op_type) {
                entry.1.push(node.op_type.clone());
            }
        }
    }
    Some(times)
}

/// Each optimized node's mean time per call, by its name.
fn by_optimized_name(document: &SessionDocument) -> LayerTimes {
    document
        .run
        .layers
        .iter()
        .flat_map(|layers| &layers.nodes)
        .map(|node| {
            (
                node.node.clone(),
                (node.mean_micros, vec![node.op_type.clone()]),
            )
        })
        .collect()
}

fn signed_percent_label(delta: f64, is_better: Option<bool>) -> RichText {
    let text = RichText::new(format!("{delta:+.1} %"));
    match is_better {
        Some(true) => text.color(theme::GOOD),
        Some(false) => text.color(theme::ERROR),
        None => text,
    }
}

/// A summary figure with its unit, as figures are written everywhere:
/// `65.5k`-style counts in full, times with their own unit, three
/// significant digits.
fn figure(value: f64, unit: &str) -> String {
    match unit {
        "ms" => format_micros(value * 1000.0),
        "MB" => crate::util::format_bytes((value * 1e6).round() as u64),
        "" if value.fract() == 0.0 && value >= 0.0 => crate::util::format_count(value as u64),
        "" => crate::util::format_value(value),
        unit => format!("{} {unit}", crate::util::format_value(value)),
    }
}

/// Draws a comparison; `a_name` and `b_name` label the two sides.
pub fn compare_ui(ui: &mut Ui, comparison: &SessionComparison, a_name: &str, b_name: &str) {
    ui.label(RichText::new(format!("A = {a_name}    B = {b_name}")).strong());
    for warning in &comparison.accuracy_warnings {
        ui.label(RichText::new(format!("Accuracy warning, {warning}")).color(theme::WARNING));
    }
    egui::Grid::new("compare_summary")
        .striped(true)
        .show(ui, |ui| {
            ui.label(RichText::new("metric").strong());
            ui.label(RichText::new("A").strong());
            ui.label(RichText::new("B").strong());
            ui.label(RichText::new("B vs A").strong());
            ui.end_row();
            for row in &comparison.summary {
                let value =
                    |v: Option<f64>| v.map_or_else(|| "-".to_owned(), |v| figure(v, row.unit));
                ui.label(row.metric);
                ui.label(value(row.a));
                ui.label(value(row.b));
                match row.delta_percent() {
                    Some(delta) => ui.label(signed_percent_label(delta, row.b_is_better())),
                    None => ui.label("-"),
                };
                ui.end_row();
            }
        });
    ui.add_space(8.0);
    let matched_by = if comparison.by_source_node {
        "by the model's nodes"
    } else {
        "by optimized node name"
    };
    ui.label(
        RichText::new(format!(
            "Layers in both, {matched_by} ({})",
            comparison.layers.len()
        ))
        .strong(),
    )
    .on_hover_text(if comparison.by_source_node {
        "Each row is a node of the model file; its time is that of the kernels that compute it (an int8 layer's quantize, integer and rescale nodes together). A kernel fused from several nodes counts on each."
    } else {
        "The sessions have no source mapping: layers are matched by the optimized nodes' names, which a transform or another optimization level changes."
    });
    if comparison.layers.is_empty() {
        ui.label("No layers match. Compare runs with per-layer profiling of the same model.");
    }
    let row_height = ui.text_style_height(&egui::TextStyle::Body) + 4.0;
    TableBuilder::new(ui)
        .id_salt("compare_layers")
        .striped(true)
        .max_scroll_height(260.0)
        .column(Column::initial(260.0).clip(true))
        .column(Column::initial(140.0).clip(true))
        .columns(Column::initial(90.0), 3)
        .header(row_height, |mut header| {
            for label in ["Node", "Op", "A mean", "B mean", "B vs A"] {
                header.col(|ui| {
                    ui.label(RichText::new(label).strong());
                });
            }
        })
        .body(|body| {
            body.rows(row_height, comparison.layers.len(), |mut row| {
                let Some(layer) = comparison.layers.get(row.index()) else {
                    return;
                };
                row.col(|ui| {
                    ui.label(&layer.node);
                });
                row.col(|ui| {
                    ui.label(&layer.op_type);
                });
                row.col(|ui| {
                    ui.label(format_micros(layer.a_mean_micros));
                });
                row.col(|ui| {
                    ui.label(format_micros(layer.b_mean_micros));
                });
                row.col(|ui| {
                    let delta = layer.delta_percent();
                    let is_better = (delta.abs() > 1e-9).then_some(delta < 0.0);
                    ui.label(signed_percent_label(delta, is_better));
                });
            });
        });
    for (label, nodes) in [
        ("Only in A", &comparison.only_in_a),
        ("Only in B", &comparison.only_in_b),
    ] {
        if !nodes.is_empty() {
            ui.label(RichText::new(format!("{label} ({})", nodes.len())).strong());
            ui.label(nodes.join(", "));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn deltas_know_which_direction_is_better() {
        let faster = DeltaRow {
            metric: "throughput",
            a: Some(100.0),
            b: Some(150.0),
            higher_is_better: true,
            unit: "inf/s",
        };
        assert_eq!(faster.delta_percent(), Some(50.0));
        assert_eq!(faster.b_is_better(), Some(true));
        let slower_latency = DeltaRow {
            metric: "p99",
            a: Some(2.0),
            b: Some(3.0),
            higher_is_better: false,
            unit: "ms",
        };
        assert_eq!(slower_latency.b_is_better(), Some(false));
        let layer = LayerDelta {
            node: "conv".into(),
            op_type: "Conv".into(),
            a_mean_micros: 200.0,
            b_mean_micros: 150.0,
        };
        assert!((layer.delta_percent() + 25.0).abs() < 1e-9);
    }

    #[test]
    fn figures_are_written_with_units_and_sensible_precision() {
        assert_eq!(figure(65528.625, "inf/s"), "65529 inf/s");
        assert_eq!(figure(0.0, ""), "0");
        assert_eq!(figure(1234.0, ""), "1,234");
        assert_eq!(figure(0.0412, "ms"), "41.2 µs");
        assert_eq!(figure(3.5, "MB"), crate::util::format_bytes(3_500_000));
    }
}
