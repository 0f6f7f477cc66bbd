//! What the shown session measured, per source node, for colouring the graph
//! and for the details panel: time (through `metrics::source_view`), FLOPs,
//! bytes, providers and the optimized nodes that run each source node.

use std::collections::HashMap;

use crate::{
    metrics::{
        layers::{LayerReport, short_provider},
        source_view::by_source_node,
    },
    model::{FlopEstimate, node::id_of},
};

/// One source node's measurements.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct NodeMetrics {
    /// Summed time of the optimized nodes that run it, in microseconds.
    pub total_micros: u64,
    /// Summed mean time per call of those nodes, in microseconds.
    pub mean_micros: f64,
    /// Share of the summed `model_run` time, 0..=1.
    pub share: f64,
    /// FLOPs of one call, where counted.
    pub flops: Option<f64>,
    /// Bytes of one call, where counted.
    pub bytes: Option<f64>,
    /// The optimized nodes that run it, with their op type.
    pub optimized: Vec<(String, String)>,
    /// Input shapes of those nodes as the profile recorded them.
    pub profiled_shapes: Vec<String>,
    /// Short provider names of those nodes.
    pub providers: Vec<String>,
    /// One of those nodes also runs other source nodes (its time is counted
    /// on each).
    pub shared: bool,
}

/// The shown session's measurements by source node.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct SessionMetrics {
    /// By source node id.
    pub by_source: HashMap<String, NodeMetrics>,
    /// The session carries a source mapping.
    pub has_mapping: bool,
    /// Some node has FLOPs.
    pub has_flops: bool,
    /// Some node has bytes.
    pub has_bytes: bool,
    /// Largest share, FLOPs and bytes over the source nodes (colour scales).
    pub max_share: f64,
    /// Largest FLOPs of a source node.
    pub max_flops: f64,
    /// Largest bytes of a source node.
    pub max_bytes: f64,
    /// Share of the time on inserted, unmatched or unmapped rows.
    pub unplaced_share: f64,
    /// Only the model's FLOP count, no session: nothing was measured.
    pub model_only: bool,
}

impl SessionMetrics {
    /// The FLOPs of each source node by the model's own count, before any
    /// run (colouring by FLOPs needs no profile).
    pub fn from_model_flops(estimate: &FlopEstimate) -> Self {
        let mut metrics = Self {
            model_only: true,
            has_mapping: true,
            ..Self::default()
        };
        metrics.count_flops_from(estimate);
        metrics
    }

    /// Replaces the per-source FLOPs with `estimate`'s (the model's count,
    /// each source node once), which the kernels' figures would count on
    /// every node of a fused kernel.
    fn count_flops_from(&mut self, estimate: &FlopEstimate) {
        for entry in self.by_source.values_mut() {
            entry.flops = None;
        }
        for node in &estimate.by_node {
            self.by_source
                .entry(id_of(&node.node_name, node.node_index))
                .or_default()
                .flops = Some(node.flops as f64);
        }
        self.has_flops = !estimate.by_node.is_empty();
        self.max_flops = self
            .by_source
            .values()
            .filter_map(|entry| entry.flops)
            .fold(0.0, f64::max);
    }

    /// The metrics of `report`. `model_flops`: the model's own count at the
    /// run's shapes, which the report's per-node figures add up to; each
    /// source node then gets its own count rather than its kernel's.
    pub fn from_report(report: &LayerReport, model_flops: Option<&FlopEstimate>) -> Self {
        let mut metrics = Self {
            has_flops: report.nodes.iter().any(|node| node.flops.is_some()),
            has_bytes: report.nodes.iter().any(|node| node.bytes.is_some()),
            ..Self::default()
        };
        let Some(rows) = by_source_node(report) else {
            return metrics;
        };
        metrics.has_mapping = true;
        for row in rows {
            if row.source_node.starts_with('[') {
                metrics.unplaced_share += row.share;
                continue;
            }
            metrics.max_share = metrics.max_share.max(row.share);
            metrics.by_source.insert(
                row.source_node.clone(),
                NodeMetrics {
                    total_micros: row.total_micros,
                    share: row.share,
                    shared: row.shared,
                    ..NodeMetrics::default()
                },
            );
        }
        for node in &report.nodes {
            for id in &node.source_nodes {
                let Some(entry) = metrics.by_source.get_mut(id) else {
                    continue;
                };
                entry.mean_micros += node.mean_micros;
                if let Some(flops) = node.flops {
                    *entry.flops.get_or_insert(0.0) += flops;
                }
                if let Some(bytes) = node.bytes {
                    *entry.bytes.get_or_insert(0.0) += bytes;
                }
                entry
                    .optimized
                    .push((node.node.clone(), node.op_type.clone()));
                if !node.input_shapes.is_empty()
                    && !entry.profiled_shapes.contains(&node.input_shapes)
                {
                    entry.profiled_shapes.push(node.input_shapes.clone());
                }
                let provider = short_provider(&node.provider).to_owned();
                if !entry.providers.contains(&provider) {
                    entry.providers.push(provider);
                }
            }
        }
        for entry in metrics.by_source.values() {
            metrics.max_flops = metrics.max_flops.max(entry.flops.unwrap_or(0.0));
            metrics.max_bytes = metrics.max_bytes.max(entry.bytes.unwrap_or(0.0));
        }
        if let Some(estimate) = model_flops.filter(|_| report.model_flops.is_some()) {
            metrics.count_flops_from(estimate);
        }
        metrics
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::metrics::layers::{LayerStats, NodeOrigin};

    fn report(nodes: Vec<LayerStats>) -> LayerReport {
        LayerReport::for_tests(nodes, 100)
    }

    #[test]
    fn fused_nodes_count_on_each_source_node_and_unplaced_time_apart() {
        let stats = |name: &str, micros: u64, origin, sources: &[&str], flops| LayerStats {
            node: name.to_owned(),
            op_type: "Conv".to_owned(),
            provider: "CPUExecutionProvider".to_owned(),
            calls: 1,
            total_micros: micros,
            mean_micros: micros as f64,
            origin,
            source_nodes: sources.iter().map(|s| (*s).to_owned()).collect(),
            flops,
            bytes: flops.map(|f| f / 10.0),
            ..LayerStats::default()
        };
        let report = report(vec![
            stats("fused", 60, NodeOrigin::Fused, &["conv", "relu"], Some(1e6)),
            stats("reorder", 10, NodeOrigin::Inserted, &[], None),
            stats("#3", 30, NodeOrigin::Source, &["#3"], None),
        ]);
        let metrics = SessionMetrics::from_report(&report, None);
        assert!(metrics.has_mapping && metrics.has_flops && metrics.has_bytes);
        let conv = &metrics.by_source["conv"];
        assert_eq!(conv.total_micros, 60);
        assert!(conv.shared);
        assert_eq!(conv.flops, Some(1e6));
        assert_eq!(
            conv.optimized,
            vec![("fused".to_owned(), "Conv".to_owned())]
        );
        assert_eq!(metrics.by_source["#3"].flops, None);
        assert!((metrics.unplaced_share - 0.1).abs() < 1e-9);
        assert!((metrics.max_share - 0.6).abs() < 1e-9);
    }

    #[test]
    fn a_report_without_mapping_says_so() {
        let report = report(vec![LayerStats {
            node: "a".to_owned(),
            ..LayerStats::default()
        }]);
        let metrics = SessionMetrics::from_report(&report, None);
        assert!(!metrics.has_mapping);
        assert!(metrics.by_source.is_empty());
    }

    fn estimate() -> FlopEstimate {
        FlopEstimate {
            total: 900,
            by_node: vec![
                crate::model::NodeFlops {
                    node_name: "conv".to_owned(),
                    node_index: 0,
                    op_type: "Conv".to_owned(),
                    flops: 800,
                },
                crate::model::NodeFlops {
                    node_name: String::new(),
                    node_index: 3,
                    op_type: "MatMul".to_owned(),
                    flops: 100,
                },
            ],
            ..FlopEstimate::default()
        }
    }

    #[test]
    fn with_the_model_count_each_source_node_has_its_own_flops() {
        let mut report = report(vec![LayerStats {
            node: "fused".to_owned(),
            origin: NodeOrigin::Fused,
            source_nodes: vec!["conv".to_owned(), "relu".to_owned()],
            total_micros: 10,
            flops: Some(800.0),
            ..LayerStats::default()
        }]);
        report.model_flops = Some(crate::metrics::layers::ModelFlops {
            total: 900.0,
            on_profiled_nodes: 800.0,
            kernel_flops: Default::default(),
        });
        // Without the model's count the fused kernel's figure lands on each
        // of its source nodes; with it, on the Conv only.
        let kernels = SessionMetrics::from_report(&report, None);
        assert_eq!(kernels.by_source["relu"].flops, Some(800.0));
        let model = SessionMetrics::from_report(&report, Some(&estimate()));
        assert_eq!(model.by_source["conv"].flops, Some(800.0));
        assert_eq!(model.by_source["relu"].flops, None);
        assert_eq!(model.by_source["#3"].flops, Some(100.0));
        assert!(!model.model_only);
    }

    #[test]
    fn before_a_run_the_model_count_colours_by_flops() {
        let metrics = SessionMetrics::from_model_flops(&estimate());
        assert!(metrics.model_only && metrics.has_flops);
        assert_eq!(metrics.max_flops, 800.0);
        assert_eq!(metrics.by_source["#3"].flops, Some(100.0));
        assert_eq!(metrics.by_source["conv"].share, 0.0);
    }
}
