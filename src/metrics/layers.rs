//! Per-layer timings from ONNX Runtime's own profiler.
//!
//! ONNX Runtime writes a JSON array of Chrome-trace-like events. The ones that
//! matter here:
//! - `cat:"Node"` events named `<node>_kernel_time`, whose `args` carry
//!   `op_name`, `provider` and the input/output shapes;
//! - `cat:"Session"` events `model_run` (one per run), `session_initialization`
//!   and `model_loading_*`.
//!
//! `args.thread_scheduling_stats` is `""` with one intra-op thread and an
//! object with more; it is ignored. Node names are the *optimized* graph's
//! names (fusions rename nodes), so they only match the model file at
//! `--opt-level disable`.

use std::{collections::BTreeMap, path::Path};

use hdrhistogram::Histogram;
use serde::{Deserialize, Serialize};

use super::node_cost::{self, NodeIo, TensorShape};

/// Node events kept for the Chrome trace export.
pub const MAX_TRACE_NODE_EVENTS: usize = 50_000;
/// Columns kept in the per-layer timeline (the newest win).
pub const MAX_TIMELINE_COLUMNS: usize = 600;
/// Highest per-node duration tracked exactly, in microseconds (one hour).
const MAX_NODE_MICROS: u64 = 3_600_000_000;

/// An ONNX Runtime profile that could not be read.
#[derive(Debug, thiserror::Error)]
pub enum ProfileError {
    #[error("cannot read the ONNX Runtime profile: {source}: {}", path.display())]
    Read {
        source: std::io::Error,
        path: std::path::PathBuf,
    },
    #[error("the ONNX Runtime profile is not the expected JSON: {0}")]
    Parse(#[from] serde_json::Error),
}

#[derive(Debug, Deserialize)]
struct RawEvent {
    #[serde(default)]
    cat: String,
    #[serde(default)]
    name: String,
    #[serde(default)]
    ts: u64,
    #[serde(default)]
    dur: u64,
    #[serde(default)]
    tid: u64,
    #[serde(default)]
    args: serde_json::Value,
}

/// One kernel execution of one node.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct NodeEvent {
    pub node: String,
    pub op_type: String,
    pub provider: String,
    /// Start, in microseconds since the profiler started.
    pub ts_micros: u64,
    pub dur_micros: u64,
    pub thread_id: u64,
}

/// A `model_run` span.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct RunSpan {
    pub ts_micros: u64,
    pub dur_micros: u64,
}

/// The useful part of one profile file.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct ParsedProfile {
    pub nodes: Vec<NodeEvent>,
    pub runs: Vec<RunSpan>,
    pub session_initialization_micros: Option<u64>,
    pub model_loading_micros: Option<u64>,
    /// Node input shapes by node name, from the first event of each node.
    pub input_shapes: BTreeMap<String, String>,
    /// Node output shapes by node name, from the first event of each node.
    pub output_shapes: BTreeMap<String, String>,
    /// Parsed shapes and byte sizes by node name, from the first event of
    /// each node (for [`node_cost`]).
    pub node_io: BTreeMap<String, NodeIo>,
}

/// Parses the JSON text of an ONNX Runtime profile.
pub fn parse_profile(json: &str) -> Result<ParsedProfile, ProfileError> {
    let events: Vec<RawEvent> = serde_json::from_str(json)?;
    let mut parsed = ParsedProfile::default();
    for event in events {
        match event.cat.as_str() {
            "Node" => {
                let Some(node) = event.name.strip_suffix("_kernel_time") else {
                    continue;
                };
                let arg = |key: &str| {
                    event
                        .args
                        .get(key)
                        .and_then(|value| value.as_str())
                        .unwrap_or_default()
                };
                if !parsed.input_shapes.contains_key(node)
                    && let Some(shapes) = event.args.get("input_type_shape")
                {
                    parsed
                        .input_shapes
                        .insert(node.to_owned(), compact_shapes(shapes));
                }
                if !parsed.node_io.contains_key(node) {
                    if let Some(shapes) = event.args.get("output_type_shape") {
                        parsed
                            .output_shapes
                            .insert(node.to_owned(), compact_shapes(shapes));
                    }
                    parsed.node_io.insert(node.to_owned(), node_io(&event.args));
                }
                parsed.nodes.push(NodeEvent {
                    node: node.to_owned(),
                    op_type: arg("op_name").to_owned(),
                    provider: arg("provider").to_owned(),
                    ts_micros: event.ts,
                    dur_micros: event.dur,
                    thread_id: event.tid,
                });
            }
            "Session" => match event.name.as_str() {
                "model_run" => parsed.runs.push(RunSpan {
                    ts_micros: event.ts,
                    dur_micros: event.dur,
                }),
                "session_initialization" => parsed.session_initialization_micros = Some(event.dur),
                name if name.starts_with("model_loading") => {
                    parsed.model_loading_micros = Some(event.dur)
                }
                _ => {}
            },
            _ => {}
        }
    }
    Ok(parsed)
}

/// Reads and parses a profile file.
pub fn parse_profile_file(path: &Path) -> Result<ParsedProfile, ProfileError> {
    let json = std::fs::read_to_string(path).map_err(|source| ProfileError::Read {
        source,
        path: path.to_path_buf(),
    })?;
    parse_profile(&json)
}

/// Shapes and sizes from a node event's `args`. The sizes are decimal
/// strings in ONNX Runtime 1.31 (numbers are accepted too).
fn node_io(args: &serde_json::Value) -> NodeIo {
    let size = |key: &str| {
        let value = args.get(key)?;
        value
            .as_u64()
            .or_else(|| value.as_str().and_then(|text| text.trim().parse().ok()))
    };
    NodeIo {
        inputs: parse_shapes(args.get("input_type_shape")),
        outputs: parse_shapes(args.get("output_type_shape")),
        activation_bytes: size("activation_size"),
        parameter_bytes: size("parameter_size"),
        output_bytes: size("output_size"),
    }
}

/// `[{"float":[1,256]},{"int64":[]}]` as tensor shapes; entries that are not
/// `{dtype: [dims]}` are skipped.
fn parse_shapes(value: Option<&serde_json::Value>) -> Vec<TensorShape> {
    let Some(items) = value.and_then(serde_json::Value::as_array) else {
        return Vec::new();
    };
    items
        .iter()
        .filter_map(serde_json::Value::as_object)
        .flat_map(|object| object.iter())
        .filter_map(|(dtype, dims)| {
            let dims = dims
                .as_array()?
                .iter()
                .map(serde_json::Value::as_i64)
                .collect::<Option<Vec<i64>>>()?;
            Some(TensorShape {
                dtype: dtype.clone(),
                dims,
            })
        })
        .collect()
}

/// `[{"float":[1,256]},{"float":[512,256]}]` becomes `float[1,256] float[512,256]`.
fn compact_shapes(value: &serde_json::Value) -> String {
    let Some(items) = value.as_array() else {
        return String::new();
    };
    let mut parts = Vec::with_capacity(items.len());
    for item in items {
        if let Some(object) = item.as_object() {
            for (dtype, dims) in object {
                let dims = dims
                    .as_array()
                    .map(|dims| {
                        dims.iter()
                            .map(ToString::to_string)
                            .collect::<Vec<_>>()
                            .join(",")
                    })
                    .unwrap_or_default();
                parts.push(format!("{dtype}[{dims}]"));
            }
        }
    }
    parts.join(" ")
}

/// Where the per-layer timings came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum LayerSource {
    /// A separate profiling pass after the load.
    SeparatePass,
    /// Runs sampled during the load.
    Sampled,
}

/// Timings of one node.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct LayerStats {
    /// Generative runs: `prefill` or `decode` in a per-phase report.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub phase: Option<String>,
    pub node: String,
    pub op_type: String,
    pub provider: String,
    pub calls: u64,
    pub total_micros: u64,
    pub mean_micros: f64,
    pub p50_micros: f64,
    pub p90_micros: f64,
    /// Share of the summed `model_run` time, 0..=1.
    pub share: f64,
    /// Input dtypes and shapes of the first call.
    pub input_shapes: String,
    /// Output dtypes and shapes of the first call.
    #[serde(default)]
    pub output_shapes: String,
    /// How this optimized-graph node relates to the model file.
    #[serde(default)]
    pub origin: NodeOrigin,
    /// The nodes of the model file this node executes, each by
    /// `model::node::node_id` (its name, or `#<index>` in `graph.node`).
    /// Empty when it executes none (inserted by ONNX Runtime) or when the
    /// mapping was not made.
    #[serde(default)]
    pub source_nodes: Vec<String>,
    /// Floating-point operations of one call (a multiply-add counts 2), from
    /// the profiled shapes and the node's attributes; `None` when the op is
    /// not counted.
    #[serde(default)]
    pub flops: Option<f64>,
    /// Bytes one call reads and writes: inputs, weights and outputs.
    #[serde(default)]
    pub bytes: Option<f64>,
}

/// How a profiled node (of ONNX Runtime's optimized graph) relates to the
/// model file the user opened.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum NodeOrigin {
    /// No mapping was made (older sessions, or the optimized model was not
    /// available).
    #[default]
    Unknown,
    /// One source node, run as it is.
    Source,
    /// Several source nodes fused into one kernel.
    Fused,
    /// A layout-transformed copy of a source node (`*_nchwc`).
    Layout,
    /// Inserted by ONNX Runtime (`ReorderInput`, `ReorderOutput`, memcpy):
    /// executes no source node.
    Inserted,
    /// The mapping was made but found no source node for it.
    Unmatched,
}

/// A machine's measured peaks, the roofs of the roofline.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct MachinePeaks {
    /// Achieved compute peak, in GFLOP/s (a large float32 MatMul through ONNX
    /// Runtime on the same execution provider and threads).
    pub gflops_per_s: f64,
    /// Achieved memory bandwidth, in GB/s (a large copy).
    pub gbytes_per_s: f64,
    /// Execution provider the peaks were measured on (`CPU`, `CUDA`).
    pub provider: String,
    /// Intra-op threads of the compute measurement (0: ONNX Runtime's default).
    pub threads: u32,
    /// How they were measured, in words.
    pub method: String,
    /// When they were measured (RFC 3339, UTC).
    pub measured_at: String,
}

/// How a layer report was mapped to the model file (`super::source_map`).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct MappingInfo {
    /// Nodes of the source graph that run at inference time (without
    /// `Constant` nodes and what ONNX Runtime folds from constants).
    pub runtime_source_nodes: usize,
    /// Why the mapping could not be made, or what it was made against.
    #[serde(default)]
    pub note: Option<String>,
}

/// Timings summed per op type.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct OpTypeStats {
    pub op_type: String,
    pub provider: String,
    pub nodes: u64,
    pub calls: u64,
    pub total_micros: u64,
    pub share: f64,
}

/// Per-layer results of a run.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct LayerReport {
    pub source: LayerSource,
    /// Generative runs: the phase this report covers (`prefill`, `decode`);
    /// `None` for all runs together.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub phase: Option<String>,
    /// Number of profiled `model_run`s.
    pub runs: u64,
    pub model_run_total_micros: u64,
    pub model_run_mean_micros: f64,
    /// Summed kernel time over `model_run` time: the rest is framework overhead.
    pub kernel_share: f64,
    pub session_initialization_micros: Option<u64>,
    /// Sorted by total time, largest first.
    pub nodes: Vec<LayerStats>,
    /// Sorted by total time, largest first.
    pub op_types: Vec<OpTypeStats>,
    /// Per-layer time over the run, for the heatmap.
    #[serde(default)]
    pub timeline: Option<LayerTimeline>,
    /// The machine's peaks for the roofline, when measured.
    #[serde(default)]
    pub machine_peaks: Option<MachinePeaks>,
    /// How the nodes were mapped to the model file (`super::source_map`).
    #[serde(default)]
    pub source_map: Option<MappingInfo>,
    /// Per-node allocations and the arena peak (`super::memory`).
    #[serde(default)]
    pub memory: Option<super::memory::MemoryReport>,
    /// The model's own FLOP count at the run's input shapes, which the
    /// per-node figures of the nodes that execute counted source nodes add
    /// up to; `None` when it was not made (older sessions, batched or
    /// generative runs, no mapping).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub model_flops: Option<ModelFlops>,
}

/// The model's own FLOP count (Conv, ConvTranspose, Einsum, Gemm and MatMul,
/// as `inspect` counts them; a multiply-add is 2) at the run's input
/// shapes, and how the per-node figures relate to it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ModelFlops {
    /// The model's count per inference.
    pub total: f64,
    /// The part of it on profiled nodes: less than `total` when counted
    /// source nodes never ran as kernels (folded into constants at load) or
    /// were left unmatched.
    pub on_profiled_nodes: f64,
    /// Nodes whose kernel computes more than the model's count of their
    /// source nodes (NCHWc convolutions run channels padded to the block
    /// size): node name → the kernel's FLOPs per call.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub kernel_flops: BTreeMap<String, f64>,
}

/// Short provider name: `CUDAExecutionProvider` → `CUDA`.
pub fn short_provider(provider: &str) -> &str {
    let short = provider.trim_end_matches("ExecutionProvider");
    if short.is_empty() { "?" } else { short }
}

/// The nodes that ran on one provider.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProviderNodes {
    /// Short name (`CUDA`, `CPU`).
    pub provider: String,
    pub nodes: usize,
    /// Op types with their node counts, most first.
    pub ops: Vec<(String, usize)>,
}

/// How many distinct nodes ran on each provider.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProviderSummary {
    pub total_nodes: usize,
    /// GPU providers first, then by node count.
    pub providers: Vec<ProviderNodes>,
}

impl ProviderSummary {
    /// Whether any node ran on a GPU provider (CUDA or TensorRT), whose node
    /// times are host-side launch times.
    pub fn has_gpu_nodes(&self) -> bool {
        self.providers
            .iter()
            .any(|entry| is_gpu_provider(&entry.provider))
    }
}

/// Whether a (short or full) provider name is a GPU one.
pub fn is_gpu_provider(provider: &str) -> bool {
    let short = short_provider(provider);
    short.eq_ignore_ascii_case("CUDA") || short.eq_ignore_ascii_case("Tensorrt")
}

impl std::fmt::Display for ProviderSummary {
    /// `37 of 52 nodes on CUDA; 15 on CPU: Shape ×5, Gather ×4, …`
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let Some(first) = self.providers.first() else {
            return f.write_str("no nodes profiled");
        };
        write!(
            f,
            "{} of {} nodes on {}",
            first.nodes, self.total_nodes, first.provider
        )?;
        for ProviderNodes {
            provider,
            nodes,
            ops,
        } in self.providers.iter().skip(1)
        {
            write!(f, "; {nodes} on {provider}: ")?;
            const SHOWN: usize = 6;
            let listed: Vec<String> = ops
                .iter()
                .take(SHOWN)
                .map(|(op, count)| {
                    if *count > 1 {
                        format!("{op} ×{count}")
                    } else {
                        op.clone()
                    }
                })
                .collect();
            f.write_str(&listed.join(", "))?;
            if ops.len() > SHOWN {
                write!(f, ", …")?;
            }
        }
        Ok(())
    }
}

impl LayerReport {
    /// A report of `nodes` from one separate-pass run of `run_micros`,
    /// everything else empty: the starting point of unit tests.
    #[cfg(test)]
    pub(crate) fn for_tests(nodes: Vec<LayerStats>, run_micros: u64) -> Self {
        Self {
            phase: None,
            source: LayerSource::SeparatePass,
            runs: 1,
            model_run_total_micros: run_micros,
            model_run_mean_micros: run_micros as f64,
            kernel_share: 1.0,
            session_initialization_micros: None,
            nodes,
            op_types: Vec::new(),
            timeline: None,
            machine_peaks: None,
            source_map: None,
            memory: None,
            model_flops: None,
        }
    }

    /// Which nodes ran where, from the profile's `provider` fields. The
    /// provider with the most nodes comes first; for the others the op types
    /// are listed, since those are the nodes that fell back.
    pub fn provider_summary(&self) -> ProviderSummary {
        let mut by_provider: BTreeMap<String, BTreeMap<String, usize>> = BTreeMap::new();
        for node in &self.nodes {
            *by_provider
                .entry(short_provider(&node.provider).to_owned())
                .or_default()
                .entry(node.op_type.clone())
                .or_default() += 1;
        }
        let mut providers: Vec<ProviderNodes> = by_provider
            .into_iter()
            .map(|(provider, ops)| {
                let nodes = ops.values().sum();
                let mut ops: Vec<(String, usize)> = ops.into_iter().collect();
                ops.sort_by(|a, b| b.1.cmp(&a.1).then_with(|| a.0.cmp(&b.0)));
                ProviderNodes {
                    provider,
                    nodes,
                    ops,
                }
            })
            .collect();
        // GPU providers lead when present, so the line reads "N of M on CUDA".
        providers.sort_by(|a, b| {
            is_gpu_provider(&b.provider)
                .cmp(&is_gpu_provider(&a.provider))
                .then_with(|| b.nodes.cmp(&a.nodes))
                .then_with(|| a.provider.cmp(&b.provider))
        });
        ProviderSummary {
            total_nodes: self.nodes.len(),
            providers,
        }
    }
}

/// What a timeline column stands for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum TimelineAxis {
    /// One column per second of the measured load (sampled profiling).
    Seconds,
    /// One column per profiled run (separate pass).
    ProfiledRun,
}

/// Mean time per layer in each column: `columns[c].mean_micros[n]` is node
/// `nodes[n]` in column `c` (0 where the node did not run).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct LayerTimeline {
    pub axis: TimelineAxis,
    /// Node names, in the order of [`LayerReport::nodes`].
    pub nodes: Vec<String>,
    pub columns: Vec<TimelineColumn>,
}

/// One column of a [`LayerTimeline`].
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TimelineColumn {
    /// Second of the load, or profiled-run number.
    pub index: u64,
    /// Profiled runs in this column.
    pub runs: u64,
    pub mean_micros: Vec<f32>,
}

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

#[cfg(test)]
mod tests {
    use super::*;

    /// Shaped like ONNX Runtime 1.31's output: one intra thread gives
    /// `thread_scheduling_stats: ""`, more give an object.
    const PROFILE: &str = r#"[
      {"cat":"Session","pid":1,"tid":1,"dur":900,"ts":10,"ph":"X","name":"model_loading_uri","args":{}},
      {"cat":"Session","pid":1,"tid":1,"dur":4000,"ts":1000,"ph":"X","name":"session_initialization","args":{}},
      {"cat":"Node","pid":1,"tid":1,"dur":0,"ts":5000,"ph":"X","name":"fc1_fence_before","args":{"op_name":"Gemm"}},
      {"cat":"Node","pid":1,"tid":1,"dur":30,"ts":5001,"ph":"X","name":"fc1_kernel_time","args":{"op_name":"Gemm","provider":"CPUExecutionProvider","thread_scheduling_stats":"","input_type_shape":[{"float":[1,256]},{"float":[512,256]}]}},
      {"cat":"Node","pid":1,"tid":1,"dur":10,"ts":5040,"ph":"X","name":"relu1_kernel_time","args":{"op_name":"Relu","provider":"CPUExecutionProvider","thread_scheduling_stats":{"main_thread":{"thread_pool_name":"x"}}}},
      {"cat":"Session","pid":1,"tid":1,"dur":50,"ts":5000,"ph":"X","name":"model_run","args":{}},
      {"cat":"Node","pid":1,"tid":1,"dur":50,"ts":6001,"ph":"X","name":"fc1_kernel_time","args":{"op_name":"Gemm","provider":"CPUExecutionProvider","thread_scheduling_stats":""}},
      {"cat":"Node","pid":1,"tid":1,"dur":10,"ts":6060,"ph":"X","name":"relu1_kernel_time","args":{"op_name":"Relu","provider":"CPUExecutionProvider"}},
      {"cat":"Session","pid":1,"tid":1,"dur":100,"ts":6000,"ph":"X","name":"model_run","args":{}}
    ]"#;

    #[test]
    fn parses_node_and_session_events() {
        let parsed = parse_profile(PROFILE).expect("parse");
        assert_eq!(parsed.nodes.len(), 4, "fence events are skipped");
        assert_eq!(parsed.runs.len(), 2);
        assert_eq!(parsed.session_initialization_micros, Some(4000));
        assert_eq!(parsed.model_loading_micros, Some(900));
        assert_eq!(parsed.input_shapes["fc1"], "float[1,256] float[512,256]");
        assert_eq!(parsed.nodes[0].op_type, "Gemm");
    }

    #[test]
    fn aggregates_per_node_and_op_type_with_shares() {
        let mut aggregator = LayerAggregator::new(LayerSource::SeparatePass);
        aggregator.add(parse_profile(PROFILE).expect("parse"), 0);
        let report = aggregator.report();
        assert_eq!(report.runs, 2);
        assert_eq!(report.model_run_total_micros, 150);
        assert_eq!(report.nodes[0].node, "fc1");
        assert_eq!(report.nodes[0].calls, 2);
        assert_eq!(report.nodes[0].total_micros, 80);
        assert!((report.nodes[0].mean_micros - 40.0).abs() < 1e-9);
        assert!((report.nodes[0].share - 80.0 / 150.0).abs() < 1e-9);
        assert_eq!(report.op_types.len(), 2);
        assert_eq!(report.op_types[1].op_type, "Relu");
        assert_eq!(report.op_types[1].total_micros, 20);
        assert!((report.kernel_share - 100.0 / 150.0).abs() < 1e-9);
    }

    /// Shaped like a CUDA-provider run: shape ops and copies fall to the CPU.
    const MIXED_PROFILE: &str = r#"[
      {"cat":"Node","pid":1,"tid":1,"dur":5,"ts":100,"ph":"X","name":"conv1_kernel_time","args":{"op_name":"Conv","provider":"CUDAExecutionProvider"}},
      {"cat":"Node","pid":1,"tid":1,"dur":5,"ts":106,"ph":"X","name":"conv2_kernel_time","args":{"op_name":"Conv","provider":"CUDAExecutionProvider"}},
      {"cat":"Node","pid":1,"tid":1,"dur":5,"ts":112,"ph":"X","name":"gemm_kernel_time","args":{"op_name":"Gemm","provider":"CUDAExecutionProvider"}},
      {"cat":"Node","pid":1,"tid":1,"dur":2,"ts":118,"ph":"X","name":"shape1_kernel_time","args":{"op_name":"Shape","provider":"CPUExecutionProvider"}},
      {"cat":"Node","pid":1,"tid":1,"dur":2,"ts":121,"ph":"X","name":"shape2_kernel_time","args":{"op_name":"Shape","provider":"CPUExecutionProvider"}},
      {"cat":"Node","pid":1,"tid":1,"dur":2,"ts":124,"ph":"X","name":"gather_kernel_time","args":{"op_name":"Gather","provider":"CPUExecutionProvider"}},
      {"cat":"Session","pid":1,"tid":1,"dur":40,"ts":99,"ph":"X","name":"model_run","args":{}}
    ]"#;

    #[test]
    fn the_provider_summary_names_the_nodes_that_fell_back() {
        let mut aggregator = LayerAggregator::new(LayerSource::SeparatePass);
        aggregator.add(parse_profile(MIXED_PROFILE).expect("parse"), 0);
        let summary = aggregator.report().provider_summary();
        assert!(summary.has_gpu_nodes());
        assert_eq!(
            summary.to_string(),
            "3 of 6 nodes on CUDA; 3 on CPU: Shape ×2, Gather"
        );

        let mut cpu_only = LayerAggregator::new(LayerSource::SeparatePass);
        cpu_only.add(parse_profile(PROFILE).expect("parse"), 0);
        let summary = cpu_only.report().provider_summary();
        assert!(!summary.has_gpu_nodes());
        assert_eq!(summary.to_string(), "2 of 2 nodes on CPU");
        assert_eq!(short_provider("CUDAExecutionProvider"), "CUDA");
    }

    #[test]
    fn the_timeline_has_one_column_per_profiled_run() {
        let mut aggregator = LayerAggregator::new(LayerSource::SeparatePass);
        aggregator.add(parse_profile(PROFILE).expect("parse"), 0);
        let timeline = aggregator.report().timeline.expect("timeline");
        assert_eq!(timeline.axis, TimelineAxis::ProfiledRun);
        assert_eq!(timeline.nodes, vec!["fc1".to_owned(), "relu1".to_owned()]);
        assert_eq!(timeline.columns.len(), 2);
        assert_eq!(timeline.columns[0].mean_micros, vec![30.0, 10.0]);
        assert_eq!(timeline.columns[1].mean_micros, vec![50.0, 10.0]);

        let mut sampled = LayerAggregator::new(LayerSource::Sampled);
        sampled.add_at(parse_profile(PROFILE).expect("parse"), 7);
        let timeline = sampled.report().timeline.expect("timeline");
        assert_eq!(timeline.columns.len(), 1);
        assert_eq!(timeline.columns[0].index, 7);
        assert_eq!(timeline.columns[0].runs, 2);
        assert_eq!(timeline.columns[0].mean_micros, vec![40.0, 10.0]);
    }

    #[test]
    fn skipped_warmup_runs_are_left_out() {
        let mut aggregator = LayerAggregator::new(LayerSource::SeparatePass);
        aggregator.add(parse_profile(PROFILE).expect("parse"), 1);
        let report = aggregator.report();
        assert_eq!(report.runs, 1);
        assert_eq!(report.nodes[0].calls, 1);
        assert_eq!(report.nodes[0].total_micros, 50);
    }

    /// Two node events captured from ONNX Runtime 1.31's profile of ResNet-50
    /// (opset 9, 1×3×224×224, level `all`): the stem Conv after the NCHWc
    /// rewrite and the final Gemm, whose prepacked weight is not listed.
    const RESNET_PROFILE: &str = r#"[
      {"cat": "Node", "pid": 10851, "tid": 10851, "dur": 2260, "ts": 374991, "ph": "X", "name": "r2_nchwc_kernel_time", "args": {"mem_in_use_delta": "4194304", "provider": "CPUExecutionProvider", "mem_in_use_peak": "12451856", "parameter_size": "37888", "thread_scheduling_stats": "", "mem_arena_held_delta": "4194304", "mem_bytes_in_use": "12451856", "output_type_shape": [{"float": [1, 64, 112, 112]}], "node_index": "448", "op_name": "Conv", "activation_size": "602112", "mem_bytes_requested_in_use": "11468816", "input_type_shape": [{"float": [1, 3, 224, 224]}, {"float": [64, 3, 7, 7]}, {"float": [64]}], "output_size": "3211264", "mem_arena_held": "12451856", "mem_requested_in_use_delta": "3211264"}},
      {"cat": "Node", "pid": 10851, "tid": 10851, "dur": 382, "ts": 451467, "ph": "X", "name": "n174_kernel_time", "args": {"mem_bytes_requested_in_use": "8269744", "mem_arena_held_delta": "0", "output_type_shape": [{"float": [1, 1000]}], "mem_in_use_peak": "14458896", "thread_scheduling_stats": "", "mem_arena_held": "16646160", "op_name": "Gemm", "node_index": "413", "mem_in_use_delta": "4096", "provider": "CPUExecutionProvider", "parameter_size": "4000", "input_type_shape": [{"float": [1, 2048]}, {"float": [1000]}], "output_size": "4000", "mem_requested_in_use_delta": "4000", "mem_bytes_in_use": "8269840", "activation_size": "8192"}},
      {"cat": "Session", "pid": 10851, "tid": 10851, "dur": 80000, "ts": 370000, "ph": "X", "name": "model_run", "args": {}}
    ]"#;

    #[test]
    fn output_shapes_and_sizes_are_parsed_and_costed() {
        let parsed = parse_profile(RESNET_PROFILE).expect("parse");
        assert_eq!(parsed.output_shapes["r2_nchwc"], "float[1,64,112,112]");
        let io = &parsed.node_io["r2_nchwc"];
        assert_eq!(io.activation_bytes, Some(602_112));
        assert_eq!(io.parameter_bytes, Some(37_888));
        assert_eq!(io.output_bytes, Some(3_211_264));
        assert_eq!(io.inputs.len(), 3);
        assert_eq!(io.inputs[1].dims, vec![64, 3, 7, 7]);
        assert_eq!(io.outputs[0].dtype, "float");

        let mut aggregator = LayerAggregator::new(LayerSource::SeparatePass);
        aggregator.add(parsed, 0);
        let report = aggregator.report();
        let stem = report
            .nodes
            .iter()
            .find(|node| node.node == "r2_nchwc")
            .expect("stem");
        assert_eq!(stem.output_shapes, "float[1,64,112,112]");
        // 2 · 64·112·112 · 3·7·7
        assert_eq!(stem.flops, Some(236_027_904.0));
        assert_eq!(stem.bytes, Some((602_112 + 37_888 + 3_211_264) as f64));
        let fc = report
            .nodes
            .iter()
            .find(|node| node.node == "n174")
            .expect("fc");
        assert_eq!(fc.flops, Some(2.0 * 2048.0 * 1000.0));
        // The listed sizes plus the prepacked 2048×1000 float weight.
        assert_eq!(fc.bytes, Some((8192 + 4000 + 4000) as f64 + 8_192_000.0));
        // The short test profile has no sizes: bytes from the shapes.
        let mut small = LayerAggregator::new(LayerSource::SeparatePass);
        small.add(parse_profile(PROFILE).expect("parse"), 0);
        let small = small.report();
        assert_eq!(small.nodes[0].output_shapes, "");
        assert_eq!(small.nodes[0].flops, None, "no output shape: not counted");
    }

    #[test]
    fn malformed_profiles_are_errors() {
        assert!(parse_profile("{not json").is_err());
        assert!(parse_profile(r#"{"an":"object"}"#).is_err());
        assert_eq!(
            parse_profile("[]").expect("empty array"),
            ParsedProfile::default()
        );
    }
}
