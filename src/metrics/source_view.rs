//! Per-layer time seen from the model file: each source node's time is the
//! summed time of the optimized nodes that execute it.
//!
//! A fused kernel executes several source nodes; its time is not split by
//! guess. Each of them shows the fused kernel's whole time and says with how
//! many nodes it shares it, so the rows do not add up to the total where
//! kernels are shared. Time of nodes ONNX Runtime inserted, and of nodes the
//! mapping could not place, is reported on rows of its own.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use super::layers::{LayerReport, NodeOrigin};

/// One row of the per-source-node view.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SourceNodeStats {
    /// `model::node::node_id` of the source node, or a label in brackets for
    /// the rows of inserted and unmatched time.
    pub source_node: String,
    /// Op types of the optimized nodes that execute it.
    pub op_types: Vec<String>,
    /// The optimized nodes that execute it.
    pub optimized_nodes: Vec<String>,
    /// Summed time of those optimized nodes, in microseconds.
    pub total_micros: u64,
    /// Share of the summed `model_run` time, 0..=1.
    pub share: f64,
    /// Summed FLOPs of one call of those nodes, where counted.
    pub flops: Option<f64>,
    /// Whether one of those nodes also executes other source nodes (its time
    /// is then counted on each of them).
    pub shared: bool,
}

/// Label of the row holding time of nodes ONNX Runtime inserted.
pub const INSERTED_ROW: &str = "[inserted by ONNX Runtime]";
/// Label of the row holding time the mapping could not place.
pub const UNMATCHED_ROW: &str = "[unmatched]";
/// Label of the row holding time of nodes that were never mapped.
pub const UNMAPPED_ROW: &str = "[not mapped]";

/// The per-source-node rows of a layer report, largest time first. `None`
/// when no node carries a mapping (an older session, or the mapping failed).
pub fn by_source_node(report: &LayerReport) -> Option<Vec<SourceNodeStats>> {
    if report
        .nodes
        .iter()
        .all(|node| node.origin == NodeOrigin::Unknown)
    {
        return None;
    }
    let run_total = report.model_run_total_micros;
    let mut rows: BTreeMap<String, SourceNodeStats> = BTreeMap::new();
    for node in &report.nodes {
        let keys: Vec<String> = if node.source_nodes.is_empty() {
            vec![
                match node.origin {
                    NodeOrigin::Inserted => INSERTED_ROW,
                    NodeOrigin::Unknown => UNMAPPED_ROW,
                    _ => UNMATCHED_ROW,
                }
                .to_owned(),
            ]
        } else {
            node.source_nodes.clone()
        };
        let shared = keys.len() > 1;
        for key in keys {
            let row = rows.entry(key.clone()).or_insert_with(|| SourceNodeStats {
                source_node: key,
                op_types: Vec::new(),
                optimized_nodes: Vec::new(),
                total_micros: 0,
                share: 0.0,
                flops: None,
                shared: false,
            });
            if !row.op_types.contains(&node.op_type) {
                row.op_types.push(node.op_type.clone());
            }
            row.optimized_nodes.push(node.node.clone());
            row.total_micros += node.total_micros;
            if let Some(flops) = node.flops {
                *row.flops.get_or_insert(0.0) += flops;
            }
            row.shared |= shared;
        }
    }
    let mut rows: Vec<SourceNodeStats> = rows
        .into_values()
        .map(|mut row| {
            row.share = if run_total == 0 {
                0.0
            } else {
                row.total_micros as f64 / run_total as f64
            };
            row
        })
        .collect();
    rows.sort_by(|a, b| {
        b.total_micros
            .cmp(&a.total_micros)
            .then_with(|| a.source_node.cmp(&b.source_node))
    });
    Some(rows)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::metrics::layers::LayerStats;

    fn node(name: &str, micros: u64, origin: NodeOrigin, sources: &[&str]) -> LayerStats {
        LayerStats {
            phase: None,
            node: name.to_owned(),
            op_type: "Conv".to_owned(),
            provider: "CPUExecutionProvider".to_owned(),
            calls: 1,
            total_micros: micros,
            mean_micros: micros as f64,
            p50_micros: micros as f64,
            p90_micros: micros as f64,
            share: 0.0,
            input_shapes: String::new(),
            output_shapes: String::new(),
            origin,
            source_nodes: sources.iter().map(|s| (*s).to_owned()).collect(),
            flops: Some(10.0),
            bytes: None,
        }
    }

    fn report(nodes: Vec<LayerStats>) -> LayerReport {
        LayerReport::for_tests(nodes, 100)
    }

    #[test]
    fn unmapped_reports_give_no_view() {
        let report = report(vec![node("a", 5, NodeOrigin::Unknown, &[])]);
        assert_eq!(by_source_node(&report), None);
    }

    #[test]
    fn fused_time_is_shown_on_each_source_node_and_marked_shared() {
        let report = report(vec![
            node("fused conv", 40, NodeOrigin::Fused, &["conv", "#3"]),
            node("conv_nchwc", 10, NodeOrigin::Layout, &["conv"]),
            node("reorder", 7, NodeOrigin::Inserted, &[]),
            node("mystery", 3, NodeOrigin::Unmatched, &[]),
        ]);
        let rows = by_source_node(&report).expect("mapped");
        let names: Vec<&str> = rows.iter().map(|r| r.source_node.as_str()).collect();
        assert_eq!(names, ["conv", "#3", INSERTED_ROW, UNMATCHED_ROW]);
        assert_eq!(rows[0].total_micros, 50);
        assert!(rows[0].shared);
        assert_eq!(rows[0].flops, Some(20.0));
        assert_eq!(rows[1].total_micros, 40);
        assert!((rows[0].share - 0.5).abs() < 1e-12);
        assert!(!rows[2].shared);
        assert_eq!(rows[3].total_micros, 3);
    }
}
