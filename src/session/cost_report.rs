//! The per-node cost columns of the text report and the layer CSV rows:
//! FLOPs and bytes per call, achieved GFLOP/s and GB/s, arithmetic
//! intensity, whether a node is compute- or memory-bound against the
//! machine's measured peaks, and the source nodes it executes.
//!
//! Achieved rates divide by the node's mean time per call; for nodes on a
//! GPU provider that time is a host-side launch time, so the CUPTI kernel
//! time is used when recorded and the rates are left out otherwise.

use std::fmt::Write as _;

use serde::Serialize;

use crate::{
    metrics::{
        gpu_attribution::GpuAttribution,
        layers::{LayerReport, LayerStats, NodeOrigin, is_gpu_provider},
        node_cost::{Bound, arithmetic_intensity, bound},
    },
    util::format_bytes,
};

/// Width of the `source` column; longer lists are cut with `…`.
const SOURCE_WIDTH: usize = 40;

/// Achieved rates and the roofline verdict of one node.
#[derive(Debug, Clone, Copy, PartialEq, Default)]
pub struct NodeRates {
    pub gflops_per_s: Option<f64>,
    pub gbytes_per_s: Option<f64>,
    /// FLOPs per byte.
    pub intensity: Option<f64>,
    pub bound: Option<Bound>,
}

/// The rates of `node`: its mean time per call, or on a GPU provider its
/// kernel time per call from `gpu` (none without it).
pub fn node_rates(
    node: &LayerStats,
    layers: &LayerReport,
    gpu: Option<&GpuAttribution>,
) -> NodeRates {
    let micros_per_call = if is_gpu_provider(&node.provider) {
        gpu.and_then(|kernels| kernels.gpu_nanos_of(&node.node))
            .map(|nanos| nanos as f64 / 1e3 / node.calls.max(1) as f64)
    } else {
        Some(node.mean_micros)
    }
    .filter(|micros| *micros > 0.0);
    let rate = |amount: Option<f64>| Some(amount? / micros_per_call? / 1e3);
    let intensity = arithmetic_intensity(node.flops, node.bytes);
    NodeRates {
        gflops_per_s: rate(node.flops),
        gbytes_per_s: rate(node.bytes),
        intensity,
        bound: layers
            .machine_peaks
            .as_ref()
            .and_then(|peaks| bound(intensity, peaks.gflops_per_s, peaks.gbytes_per_s)),
    }
}

/// `1.23 G`, `456 M`, `7.89 k`: FLOP counts.
pub fn format_flops(flops: f64) -> String {
    if !flops.is_finite() {
        return "-".to_owned();
    }
    let (value, unit) = if flops >= 1e12 {
        (flops / 1e12, "T")
    } else if flops >= 1e9 {
        (flops / 1e9, "G")
    } else if flops >= 1e6 {
        (flops / 1e6, "M")
    } else if flops >= 1e3 {
        (flops / 1e3, "k")
    } else {
        return format!("{flops:.0}");
    };
    if value >= 100.0 {
        format!("{value:.0} {unit}")
    } else if value >= 10.0 {
        format!("{value:.1} {unit}")
    } else {
        format!("{value:.2} {unit}")
    }
}

fn format_rate(value: Option<f64>) -> String {
    match value {
        Some(value) if value >= 100.0 => format!("{value:.0}"),
        Some(value) if value >= 1.0 => format!("{value:.1}"),
        Some(value) => format!("{value:.3}"),
        None => "-".to_owned(),
    }
}

/// The source nodes as one cell: `conv1 bn1 relu1`, `(inserted)` for a node
/// ONNX Runtime added, `-` when no mapping was made.
pub fn source_cell(node: &LayerStats) -> String {
    if node.source_nodes.is_empty() {
        return match node.origin {
            NodeOrigin::Inserted => "(inserted)".to_owned(),
            NodeOrigin::Unmatched => "(unmatched)".to_owned(),
            _ => "-".to_owned(),
        };
    }
    node.source_nodes.join(" ")
}

fn truncate(text: &str, width: usize) -> String {
    if text.chars().count() <= width {
        text.to_owned()
    } else {
        let kept: String = text.chars().take(width.saturating_sub(1)).collect();
        format!("{kept}…")
    }
}

/// The cost table of the report's first `top` nodes, in the order of the
/// time table above it, with the peaks it is judged against.
pub fn write_cost_table(
    out: &mut String,
    layers: &LayerReport,
    gpu: Option<&GpuAttribution>,
    top: usize,
) -> std::fmt::Result {
    let counted = layers
        .nodes
        .iter()
        .filter(|node| node.flops.is_some())
        .count();
    let total_flops: f64 = layers.nodes.iter().filter_map(|node| node.flops).sum();
    writeln!(
        out,
        "  cost per call: {} FLOPs counted on {counted} of {} nodes (a multiply-add is 2)",
        format_flops(total_flops),
        layers.nodes.len()
    )?;
    if let Some(model) = &layers.model_flops {
        let rest = (total_flops - model.on_profiled_nodes).max(0.0);
        let model_part = if (model.on_profiled_nodes - model.total).abs() < 0.5 {
            format!(
                "{} are the model's own count at the run's shapes",
                format_flops(model.total)
            )
        } else {
            format!(
                "{} of the model's own {} at the run's shapes (the rest was folded into constants at load or not matched to a kernel)",
                format_flops(model.on_profiled_nodes),
                format_flops(model.total)
            )
        };
        writeln!(
            out,
            "    {model_part} (Conv, Gemm, MatMul, Einsum, ConvTranspose, as `inspect` counts them); {} element-wise and other, counted per element",
            format_flops(rest)
        )?;
        if !model.kernel_flops.is_empty() {
            let extra: f64 = model
                .kernel_flops
                .iter()
                .filter_map(|(name, kernel)| {
                    let node = layers.nodes.iter().find(|node| &node.node == name)?;
                    Some(kernel - node.flops?)
                })
                .sum();
            let nodes = model.kernel_flops.len();
            writeln!(
                out,
                "    {nodes} {} {} FLOPs beyond that (channels padded to the NCHWc block size, or work counted on another node); not in the figures",
                if nodes == 1 {
                    "node's kernel computes"
                } else {
                    "nodes' kernels compute"
                },
                format_flops(extra)
            )?;
        }
    }
    match &layers.machine_peaks {
        Some(peaks) => writeln!(
            out,
            "  machine peaks ({}, intra {}): {:.1} GFLOP/s, {:.1} GB/s, ridge {:.1} FLOP/byte; {}",
            peaks.provider,
            if peaks.threads == 0 {
                "default".to_owned()
            } else {
                peaks.threads.to_string()
            },
            peaks.gflops_per_s,
            peaks.gbytes_per_s,
            peaks.gflops_per_s / peaks.gbytes_per_s.max(f64::MIN_POSITIVE),
            peaks.method
        )?,
        None => writeln!(out, "  machine peaks: not measured")?,
    }
    writeln!(
        out,
        "  {:<34} {:>9} {:>10} {:>8} {:>7} {:>8} {:<7} source",
        "node", "FLOPs", "bytes", "GFLOP/s", "GB/s", "FLOP/B", "bound"
    )?;
    for node in layers.nodes.iter().take(top) {
        let rates = node_rates(node, layers, gpu);
        writeln!(
            out,
            "  {:<34} {:>9} {:>10} {:>8} {:>7} {:>8} {:<7} {}",
            truncate(&node.node, 34),
            node.flops.map_or_else(|| "-".to_owned(), format_flops),
            node.bytes
                .map_or_else(|| "-".to_owned(), |bytes| format_bytes(bytes as u64)),
            format_rate(rates.gflops_per_s),
            format_rate(rates.gbytes_per_s),
            format_rate(rates.intensity),
            rates
                .bound
                .map_or_else(|| "-".to_owned(), |b| b.to_string()),
            truncate(&source_cell(node), SOURCE_WIDTH),
        )?;
    }
    Ok(())
}

/// One row of `layers.csv`: the node's timings, shapes, cost and source
/// nodes (space-separated) as flat columns.
#[derive(Debug, Clone, Serialize)]
pub struct LayerCsvRow<'a> {
    pub node: &'a str,
    pub op_type: &'a str,
    pub provider: &'a str,
    pub calls: u64,
    pub total_micros: u64,
    pub mean_micros: f64,
    pub p50_micros: f64,
    pub p90_micros: f64,
    pub share: f64,
    pub input_shapes: &'a str,
    pub output_shapes: &'a str,
    pub origin: NodeOrigin,
    pub source_nodes: String,
    /// FLOPs per call; empty when not counted.
    pub flops: Option<f64>,
    /// Bytes per call.
    pub bytes: Option<f64>,
}

impl<'a> From<&'a LayerStats> for LayerCsvRow<'a> {
    fn from(node: &'a LayerStats) -> Self {
        Self {
            node: &node.node,
            op_type: &node.op_type,
            provider: &node.provider,
            calls: node.calls,
            total_micros: node.total_micros,
            mean_micros: node.mean_micros,
            p50_micros: node.p50_micros,
            p90_micros: node.p90_micros,
            share: node.share,
            input_shapes: &node.input_shapes,
            output_shapes: &node.output_shapes,
            origin: node.origin,
            source_nodes: node.source_nodes.join(" "),
            flops: node.flops,
            bytes: node.bytes,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::metrics::layers::MachinePeaks;

    fn report() -> LayerReport {
        let conv = LayerStats {
            node: "conv1_nchwc".to_owned(),
            op_type: "Conv".to_owned(),
            provider: "CPUExecutionProvider".to_owned(),
            calls: 10,
            total_micros: 10_000,
            mean_micros: 1000.0,
            origin: NodeOrigin::Fused,
            source_nodes: vec!["conv1".to_owned(), "#4".to_owned()],
            flops: Some(2e9),
            bytes: Some(4e6),
            ..LayerStats::default()
        };
        let reorder = LayerStats {
            node: "ReorderOutput".to_owned(),
            op_type: "ReorderOutput".to_owned(),
            provider: "CPUExecutionProvider".to_owned(),
            calls: 10,
            total_micros: 100,
            mean_micros: 10.0,
            origin: NodeOrigin::Inserted,
            flops: Some(0.0),
            bytes: Some(2e5),
            ..LayerStats::default()
        };
        let gpu = LayerStats {
            node: "gemm".to_owned(),
            op_type: "Gemm".to_owned(),
            provider: "CUDAExecutionProvider".to_owned(),
            calls: 10,
            total_micros: 50,
            mean_micros: 5.0,
            flops: Some(1e9),
            bytes: Some(1e6),
            ..LayerStats::default()
        };
        LayerReport {
            runs: 10,
            model_run_mean_micros: 1200.0,
            kernel_share: 0.9,
            machine_peaks: Some(MachinePeaks {
                gflops_per_s: 100.0,
                gbytes_per_s: 10.0,
                provider: "CPU".to_owned(),
                threads: 1,
                method: "test".to_owned(),
                measured_at: String::new(),
            }),
            ..LayerReport::for_tests(vec![conv, reorder, gpu], 12_000)
        }
    }

    #[test]
    fn rates_and_bounds_against_the_peaks() {
        let layers = report();
        // 2 GFLOP in 1 ms: 2000 GFLOP/s; 4 MB in 1 ms: 4 GB/s; 500 FLOP/B.
        let conv = node_rates(&layers.nodes[0], &layers, None);
        assert_eq!(conv.gflops_per_s, Some(2000.0));
        assert_eq!(conv.gbytes_per_s, Some(4.0));
        assert_eq!(conv.intensity, Some(500.0));
        assert_eq!(conv.bound, Some(Bound::Compute));
        let reorder = node_rates(&layers.nodes[1], &layers, None);
        assert_eq!(reorder.bound, Some(Bound::Memory));
        // A GPU node without kernel times: its launch time gives no rate.
        let gpu = node_rates(&layers.nodes[2], &layers, None);
        assert_eq!(gpu.gflops_per_s, None);
        assert_eq!(gpu.bound, Some(Bound::Compute), "intensity needs no time");
    }

    #[test]
    fn the_table_lists_cost_rates_and_sources() {
        let mut out = String::new();
        write_cost_table(&mut out, &report(), None, 2).expect("write");
        assert!(
            out.contains("3.00 G FLOPs counted on 3 of 3 nodes"),
            "{out}"
        );
        assert!(
            out.contains("100.0 GFLOP/s, 10.0 GB/s, ridge 10.0 FLOP/byte"),
            "{out}"
        );
        let conv = out
            .lines()
            .find(|line| line.contains("conv1_nchwc"))
            .expect("row");
        assert!(conv.contains("2.00 G"), "{conv}");
        assert!(conv.contains("2000"), "{conv}");
        assert!(conv.contains("compute"), "{conv}");
        assert!(conv.ends_with("conv1 #4"), "{conv}");
        let reorder = out
            .lines()
            .find(|line| line.contains("ReorderOutput"))
            .expect("row");
        assert!(
            reorder.contains("memory") && reorder.ends_with("(inserted)"),
            "{reorder}"
        );
        assert!(!out.contains("gemm"), "only the top rows");
    }

    #[test]
    fn flop_counts_are_formatted_with_si_prefixes() {
        assert_eq!(format_flops(236_027_904.0), "236 M");
        assert_eq!(format_flops(8.18e9), "8.18 G");
        assert_eq!(format_flops(12.0), "12");
        assert_eq!(format_flops(f64::NAN), "-");
    }
}
