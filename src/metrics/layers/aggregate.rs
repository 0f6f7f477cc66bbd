//! Accumulating node events over one or many profiles into a
//! [`super::LayerReport`].

use std::collections::BTreeMap;

use hdrhistogram::Histogram;

use super::{
    LayerReport, LayerSource, LayerStats, LayerTimeline, MAX_TIMELINE_COLUMNS,
    MAX_TRACE_NODE_EVENTS, NodeEvent, NodeOrigin, OpTypeStats, ParsedProfile, RunSpan,
    TimelineAxis, TimelineColumn,
};
use crate::metrics::node_cost::{self, NodeIo};

/// Highest per-node duration tracked exactly, in microseconds (one hour).
const MAX_NODE_MICROS: u64 = 3_600_000_000;

#[derive(Debug, Clone, Default)]
struct ColumnAccumulator {
    runs: u64,
    node_micros: BTreeMap<String, u64>,
}

#[derive(Debug, Clone)]
struct NodeAccumulator {
    op_type: String,
    provider: String,
    calls: u64,
    total_micros: u64,
    histogram: Histogram<u64>,
    input_shapes: String,
    output_shapes: String,
    io: Option<NodeIo>,
}

/// Accumulates node events over one or many profile files.
#[derive(Debug, Clone)]
pub struct LayerAggregator {
    source: LayerSource,
    nodes: BTreeMap<String, NodeAccumulator>,
    runs: u64,
    model_run_total_micros: u64,
    session_initialization_micros: Option<u64>,
    timeline: BTreeMap<u64, ColumnAccumulator>,
    /// The first node events, for the Chrome trace.
    pub trace_events: Vec<NodeEvent>,
    /// The first run spans, for the Chrome trace.
    pub trace_runs: Vec<RunSpan>,
}

impl LayerAggregator {
    /// An empty aggregator.
    pub fn new(source: LayerSource) -> Self {
        Self {
            source,
            nodes: BTreeMap::new(),
            runs: 0,
            model_run_total_micros: 0,
            session_initialization_micros: None,
            timeline: BTreeMap::new(),
            trace_events: Vec::new(),
            trace_runs: Vec::new(),
        }
    }

    /// Adds a parsed profile. `skip_runs` leading `model_run`s (and the node
    /// events inside them) are ignored, e.g. a warm-up run.
    pub fn add(&mut self, profile: ParsedProfile, skip_runs: usize) {
        self.add_with_column(profile, skip_runs, None);
    }

    /// Adds a profile whose runs all belong to timeline column `column`
    /// (a second of the load, in sampled profiling).
    pub fn add_at(&mut self, profile: ParsedProfile, column: u64) {
        self.add_with_column(profile, 0, Some(column));
    }

    fn add_with_column(&mut self, profile: ParsedProfile, skip_runs: usize, column: Option<u64>) {
        let first_run_index = self.runs;
        if self.session_initialization_micros.is_none() {
            self.session_initialization_micros = profile.session_initialization_micros;
        }
        // Node events of run k start at or after run k's start.
        let cutoff_micros = if skip_runs == 0 {
            0
        } else {
            profile
                .runs
                .get(skip_runs)
                .map_or(u64::MAX, |run| run.ts_micros)
        };
        let kept_runs: Vec<RunSpan> = profile.runs.iter().skip(skip_runs).copied().collect();
        for (offset, _) in kept_runs.iter().enumerate() {
            let key = column.unwrap_or(first_run_index + offset as u64);
            self.timeline.entry(key).or_default().runs += 1;
        }
        for run in &kept_runs {
            self.runs += 1;
            self.model_run_total_micros += run.dur_micros;
            if self.trace_runs.len() < MAX_TRACE_NODE_EVENTS / 10 {
                self.trace_runs.push(*run);
            }
        }
        while self.timeline.len() > MAX_TIMELINE_COLUMNS {
            self.timeline.pop_first();
        }
        for event in profile.nodes {
            if event.ts_micros < cutoff_micros {
                continue;
            }
            let accumulator =
                self.nodes
                    .entry(event.node.clone())
                    .or_insert_with(|| NodeAccumulator {
                        op_type: event.op_type.clone(),
                        provider: event.provider.clone(),
                        calls: 0,
                        total_micros: 0,
                        histogram: node_histogram(),
                        input_shapes: profile
                            .input_shapes
                            .get(&event.node)
                            .cloned()
                            .unwrap_or_default(),
                        output_shapes: profile
                            .output_shapes
                            .get(&event.node)
                            .cloned()
                            .unwrap_or_default(),
                        io: profile.node_io.get(&event.node).cloned(),
                    });
            accumulator.calls += 1;
            accumulator.total_micros += event.dur_micros;
            accumulator
                .histogram
                .saturating_record(event.dur_micros.min(MAX_NODE_MICROS));
            let key = column.unwrap_or_else(|| {
                // The run whose start is the last one at or before this event.
                let index = kept_runs.partition_point(|run| run.ts_micros <= event.ts_micros);
                first_run_index + index.saturating_sub(1) as u64
            });
            if let Some(column) = self.timeline.get_mut(&key) {
                *column.node_micros.entry(event.node.clone()).or_default() += event.dur_micros;
            }
            if self.trace_events.len() < MAX_TRACE_NODE_EVENTS {
                self.trace_events.push(event);
            }
        }
    }

    /// True when no node event was added.
    pub fn is_empty(&self) -> bool {
        self.nodes.is_empty()
    }

    /// The report so far.
    pub fn report(&self) -> LayerReport {
        let run_total = self.model_run_total_micros.max(1) as f64;
        let share = |micros: u64| {
            if self.model_run_total_micros == 0 {
                0.0
            } else {
                micros as f64 / run_total
            }
        };
        let mut nodes: Vec<LayerStats> = self
            .nodes
            .iter()
            .map(|(name, acc)| {
                let cost = acc
                    .io
                    .as_ref()
                    .map(|io| node_cost::node_cost(&acc.op_type, io))
                    .unwrap_or_default();
                LayerStats {
                    phase: None,
                    node: name.clone(),
                    op_type: acc.op_type.clone(),
                    provider: acc.provider.clone(),
                    calls: acc.calls,
                    total_micros: acc.total_micros,
                    mean_micros: acc.total_micros as f64 / acc.calls.max(1) as f64,
                    p50_micros: acc.histogram.value_at_quantile(0.5) as f64,
                    p90_micros: acc.histogram.value_at_quantile(0.9) as f64,
                    share: share(acc.total_micros),
                    input_shapes: acc.input_shapes.clone(),
                    output_shapes: acc.output_shapes.clone(),
                    origin: NodeOrigin::Unknown,
                    source_nodes: Vec::new(),
                    flops: cost.flops,
                    bytes: cost.bytes,
                }
            })
            .collect();
        nodes.sort_by(|a, b| {
            b.total_micros
                .cmp(&a.total_micros)
                .then_with(|| a.node.cmp(&b.node))
        });

        let mut by_op: BTreeMap<(String, String), OpTypeStats> = BTreeMap::new();
        for node in &nodes {
            let entry = by_op
                .entry((node.op_type.clone(), node.provider.clone()))
                .or_insert_with(|| OpTypeStats {
                    op_type: node.op_type.clone(),
                    provider: node.provider.clone(),
                    nodes: 0,
                    calls: 0,
                    total_micros: 0,
                    share: 0.0,
                });
            entry.nodes += 1;
            entry.calls += node.calls;
            entry.total_micros += node.total_micros;
        }
        let mut op_types: Vec<OpTypeStats> = by_op
            .into_values()
            .map(|mut stats| {
                stats.share = share(stats.total_micros);
                stats
            })
            .collect();
        op_types.sort_by(|a, b| {
            b.total_micros
                .cmp(&a.total_micros)
                .then_with(|| a.op_type.cmp(&b.op_type))
        });

        let kernel_total: u64 = nodes.iter().map(|node| node.total_micros).sum();
        let timeline = (!self.timeline.is_empty()).then(|| LayerTimeline {
            axis: match self.source {
                LayerSource::SeparatePass => TimelineAxis::ProfiledRun,
                LayerSource::Sampled => TimelineAxis::Seconds,
            },
            nodes: nodes.iter().map(|node| node.node.clone()).collect(),
            columns: self
                .timeline
                .iter()
                .map(|(index, column)| TimelineColumn {
                    index: *index,
                    runs: column.runs,
                    mean_micros: nodes
                        .iter()
                        .map(|node| {
                            let total = column.node_micros.get(&node.node).copied().unwrap_or(0);
                            (total as f64 / column.runs.max(1) as f64) as f32
                        })
                        .collect(),
                })
                .collect(),
        });
        LayerReport {
            source: self.source,
            phase: None,
            runs: self.runs,
            model_run_total_micros: self.model_run_total_micros,
            model_run_mean_micros: self.model_run_total_micros as f64 / self.runs.max(1) as f64,
            kernel_share: share(kernel_total),
            session_initialization_micros: self.session_initialization_micros,
            nodes,
            op_types,
            timeline,
            machine_peaks: None,
            source_map: None,
            memory: None,
            model_flops: None,
        }
    }
}

fn node_histogram() -> Histogram<u64> {
    match Histogram::new_with_bounds(1, MAX_NODE_MICROS, 2) {
        Ok(histogram) => histogram,
        Err(err) => unreachable!("constant histogram bounds rejected: {err}"),
    }
}
