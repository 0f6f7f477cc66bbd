//! The per-layer report: per-node and per-op-type timings, providers,
//! the model's FLOPs, and the timeline.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

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
    pub memory: Option<crate::metrics::memory::MemoryReport>,
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
