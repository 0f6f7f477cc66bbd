//! Per-node FLOPs that add up to the model's own count.
//!
//! [`super::node_cost`] counts each profiled node from the shapes ONNX
//! Runtime recorded for it. For the nodes that do the model's arithmetic
//! that is not what the user's model costs: an NCHWc convolution runs its
//! channels padded to the block size (200 as 208), and a source node can
//! show up in more than one kernel. [`count_from_model`] replaces the
//! figure of every node that executes counted source nodes (Conv,
//! ConvTranspose, Einsum, Gemm, MatMul, as `inspect` counts them) with
//! the model's count of those source nodes at the run's input shapes, each
//! source node on one kernel only, so the per-node figures, the roofline
//! and the graph's colouring add up to what `inspect` says. The kernel's
//! own count is kept beside it where it differs. Element-wise and
//! normalization nodes keep their count from the profile (one operation
//! per element), which `inspect` leaves out.

use std::collections::{BTreeMap, HashMap, HashSet};

use super::layers::{LayerReport, ModelFlops};
use crate::model::{FlopEstimate, node::id_of};

/// Makes the per-node FLOPs of `layers` add up to `estimate`, the model's
/// count at the run's input shapes (see the module docs). Needs the
/// mapping to source nodes: nodes without one keep their figures.
pub fn count_from_model(layers: &mut LayerReport, estimate: &FlopEstimate) {
    let by_source: HashMap<String, u64> = estimate
        .by_node
        .iter()
        .map(|node| (id_of(&node.node_name, node.node_index), node.flops))
        .collect();
    let mut counted: HashSet<&str> = HashSet::new();
    let mut kernel_flops = BTreeMap::new();
    let mut on_profiled_nodes = 0.0;
    // The slowest node first: a source node that two kernels execute is
    // counted on the one that takes the time.
    for node in &mut layers.nodes {
        let mut executes_counted = false;
        let mut model = 0u64;
        for source in &node.source_nodes {
            let Some((id, flops)) = by_source.get_key_value(source) else {
                continue;
            };
            executes_counted = true;
            if counted.insert(id.as_str()) {
                model = model.saturating_add(*flops);
            }
        }
        if !executes_counted {
            continue;
        }
        let model = model as f64;
        if let Some(kernel) = node.flops
            && (kernel - model).abs() > 0.5
        {
            kernel_flops.insert(node.node.clone(), kernel);
        }
        node.flops = Some(model);
        on_profiled_nodes += model;
    }
    layers.model_flops = Some(ModelFlops {
        total: estimate.total as f64,
        on_profiled_nodes,
        kernel_flops,
    });
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{
        metrics::layers::{LayerStats, NodeOrigin},
        model::NodeFlops,
    };

    fn node(name: &str, sources: &[&str], kernel_flops: Option<f64>) -> LayerStats {
        LayerStats {
            node: name.to_owned(),
            op_type: "Conv".to_owned(),
            origin: NodeOrigin::Fused,
            source_nodes: sources.iter().map(|s| (*s).to_owned()).collect(),
            flops: kernel_flops,
            ..LayerStats::default()
        }
    }

    fn counted(name: &str, index: usize, flops: u64) -> NodeFlops {
        NodeFlops {
            node_name: name.to_owned(),
            node_index: index,
            op_type: "Conv".to_owned(),
            flops,
        }
    }

    #[test]
    fn nodes_add_up_to_the_model_count_without_padding_or_double_counting() {
        let mut layers = LayerReport::for_tests(
            vec![
                // An NCHWc Conv fused with its BatchNormalization: the
                // kernel computes 208 padded channels for the model's 200.
                node("conv1_nchwc", &["conv1", "bn1"], Some(208.0)),
                // Two kernels that both execute the unnamed node #4.
                node("split_a", &["#4"], Some(50.0)),
                node("split_b", &["#4"], Some(50.0)),
                // Element-wise: not in the model's count, keeps its own.
                node("add", &["add"], Some(10.0)),
                // Inserted by ONNX Runtime.
                node("reorder", &[], Some(0.0)),
            ],
            100,
        );
        let estimate = FlopEstimate {
            total: 200 + 50 + 30,
            by_node: vec![
                counted("conv1", 0, 200),
                counted("", 4, 50),
                // Folded into a constant at load: never a kernel.
                counted("folded", 7, 30),
            ],
            ..FlopEstimate::default()
        };
        count_from_model(&mut layers, &estimate);
        let flops: Vec<Option<f64>> = layers.nodes.iter().map(|node| node.flops).collect();
        assert_eq!(
            flops,
            [Some(200.0), Some(50.0), Some(0.0), Some(10.0), Some(0.0)]
        );
        let model = layers.model_flops.expect("counted");
        assert_eq!(model.total, 280.0);
        assert_eq!(model.on_profiled_nodes, 250.0);
        assert_eq!(
            model.kernel_flops.into_iter().collect::<Vec<_>>(),
            [
                ("conv1_nchwc".to_owned(), 208.0),
                ("split_b".to_owned(), 50.0)
            ]
        );
    }
}
