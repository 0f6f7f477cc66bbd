//! FLOP estimates for the compute-heavy ops: Conv, ConvTranspose, MatMul,
//! Gemm and Einsum. A multiply-add counts as 2 FLOPs; bias adds, activations
//! and normalizations are not counted. Shapes come from
//! [`super::infer_shapes_with`]. What could not be counted is listed by op
//! type (shapes unknown, or an op with no formula here), with the nodes
//! where shapes were lost first.

use std::collections::{BTreeMap, BTreeSet};

use serde::{Deserialize, Serialize};

use super::Model;
use super::node::is_default_domain;
use super::onnx::NodeProto;
use super::shapes::{self, ShapeBinding, ShapeLoss, State, qualified_op_type};

/// Op types whose FLOPs are estimated.
pub const FLOP_OP_TYPES: &[&str] = &["Conv", "ConvTranspose", "Einsum", "Gemm", "MatMul"];

/// Compute-heavy default-domain ops with no FLOP formula here: their nodes
/// are listed as not counted.
const UNCOUNTED_HEAVY_OPS: &[&str] = &[
    "Attention",
    "ConvInteger",
    "DeformConv",
    "GRU",
    "LSTM",
    "MatMulInteger",
    "QLinearConv",
    "QLinearMatMul",
    "RNN",
];

/// Ops that hold subgraphs, whose nodes are not counted.
const SUBGRAPH_OPS: &[&str] = &["If", "Loop", "Scan"];

/// FLOPs of one node, for one inference with the binding in [`FlopEstimate::dims_used`].
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct NodeFlops {
    /// The node's name (may be empty in the model).
    pub node_name: String,
    /// The node's position in the main graph.
    pub node_index: usize,
    /// The node's op type.
    pub op_type: String,
    /// Estimated floating-point operations (multiply-add = 2).
    pub flops: u64,
}

/// Why nodes were not counted.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum UncountedReason {
    /// An op with a formula, but its input or output shapes are unknown.
    ShapesUnknown,
    /// A compute-heavy op (recurrent, integer, custom domain) with no formula here.
    NoFormula,
    /// An op whose subgraphs (If, Loop, Scan bodies) are not counted.
    Subgraph,
}

impl UncountedReason {
    /// A short phrase for reports.
    pub fn describe(self) -> &'static str {
        match self {
            Self::ShapesUnknown => "shapes unknown",
            Self::NoFormula => "no FLOP formula",
            Self::Subgraph => "subgraph not counted",
        }
    }
}

/// Nodes of one op type whose FLOPs are not in the total.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct UncountedOp {
    /// The op type (with `domain:` outside the default domain).
    pub op_type: String,
    /// How many nodes.
    pub nodes: usize,
    /// Why.
    pub reason: UncountedReason,
}

/// An estimate of the FLOPs of one inference. Missing fields deserialize as
/// their defaults.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct FlopEstimate {
    /// Total estimated FLOPs over the nodes with known shapes. A lower bound
    /// when [`FlopEstimate::not_counted`] is not empty.
    pub total: u64,
    /// FLOPs per op type, largest first (ties by name).
    pub by_op_type: Vec<(String, u64)>,
    /// FLOPs per counted node, in graph order.
    pub by_node: Vec<NodeFlops>,
    /// The dims binding used: symbolic input dims by name, and
    /// [`shapes::UNNAMED_DIM_KEY`] for unnamed ones.
    pub dims_used: BTreeMap<String, i64>,
    /// The concrete shape of every graph input the estimate used.
    pub input_shapes: BTreeMap<String, Vec<i64>>,
    /// Conv/ConvTranspose/Einsum/MatMul/Gemm nodes skipped because their
    /// shapes could not be inferred.
    pub nodes_without_shapes: usize,
    /// Op types that stopped shape propagation, sorted.
    pub unsupported_ops: Vec<String>,
    /// Nodes not in the total, per op type and reason (reason, then op type).
    pub not_counted: Vec<UncountedOp>,
    /// The nodes where shapes were lost first, in graph order.
    pub shape_losses: Vec<ShapeLoss>,
}

/// Estimates the FLOPs of one inference of the model's main graph.
///
/// `dims` binds symbolic input dims by name (e.g. `"batch" => 8`) and
/// unnamed ones under [`shapes::UNNAMED_DIM_KEY`]; every dim missing from it
/// is [`shapes::DEFAULT_DIM_VALUE`] (1).
pub fn estimate_flops(model: &Model, dims: &BTreeMap<String, i64>) -> FlopEstimate {
    estimate_flops_with(model, &ShapeBinding::from_dims(dims))
}

/// [`estimate_flops`] with whole input shapes (`--shape`) as well as dims.
pub fn estimate_flops_with(model: &Model, binding: &ShapeBinding) -> FlopEstimate {
    estimate_flops_and_shapes(model, binding).0
}

/// [`estimate_flops_with`], and every value's shape from the same shape
/// propagation (what [`shapes::infer_shapes_with`] gives), by name.
pub fn estimate_flops_and_shapes(
    model: &Model,
    binding: &ShapeBinding,
) -> (FlopEstimate, BTreeMap<String, Vec<i64>>) {
    let (inferred, state) = shapes::infer_state(model, binding);
    let mut by_node = Vec::new();
    let mut nodes_without_shapes = 0;
    let mut uncounted: BTreeMap<(UncountedReason, String), usize> = BTreeMap::new();
    let graph = model.proto.graph.as_ref();
    let nodes = graph.map_or(&[][..], |graph| &graph.node);
    for (node_index, node) in nodes.iter().enumerate() {
        let op_type = node.op_type();
        let reason = if !is_default_domain(node) || UNCOUNTED_HEAVY_OPS.contains(&op_type) {
            Some(UncountedReason::NoFormula)
        } else if SUBGRAPH_OPS.contains(&op_type) {
            Some(UncountedReason::Subgraph)
        } else if !FLOP_OP_TYPES.contains(&op_type) {
            continue;
        } else {
            match node_flops(&state, node) {
                Some(flops) => {
                    by_node.push(NodeFlops {
                        node_name: node.name().to_owned(),
                        node_index,
                        op_type: op_type.to_owned(),
                        flops,
                    });
                    None
                }
                None => {
                    nodes_without_shapes += 1;
                    Some(UncountedReason::ShapesUnknown)
                }
            }
        };
        if let Some(reason) = reason {
            *uncounted
                .entry((reason, qualified_op_type(node)))
                .or_default() += 1;
        }
    }
    let mut totals: BTreeMap<&str, u64> = BTreeMap::new();
    for node in &by_node {
        let total = totals.entry(node.op_type.as_str()).or_default();
        *total = total.saturating_add(node.flops);
    }
    let mut by_op_type = totals
        .into_iter()
        .map(|(op_type, flops)| (op_type.to_owned(), flops))
        .collect::<Vec<_>>();
    by_op_type.sort_by(|a, b| b.1.cmp(&a.1).then_with(|| a.0.cmp(&b.0)));
    let initializers = graph
        .map(|graph| {
            graph
                .initializer
                .iter()
                .map(|tensor| tensor.name())
                .collect::<BTreeSet<_>>()
        })
        .unwrap_or_default();
    let input_shapes = graph
        .map(|graph| {
            graph
                .input
                .iter()
                .filter(|input| !initializers.contains(input.name()))
                .filter_map(|input| {
                    let shape = inferred.shapes.get(input.name())?;
                    Some((input.name().to_owned(), shape.clone()))
                })
                .collect()
        })
        .unwrap_or_default();
    let estimate = FlopEstimate {
        total: by_op_type
            .iter()
            .fold(0u64, |sum, (_, flops)| sum.saturating_add(*flops)),
        by_op_type,
        by_node,
        dims_used: inferred.dims_used,
        input_shapes,
        nodes_without_shapes,
        unsupported_ops: inferred.unsupported_ops,
        not_counted: uncounted
            .into_iter()
            .map(|((reason, op_type), nodes)| UncountedOp {
                op_type,
                nodes,
                reason,
            })
            .collect(),
        shape_losses: inferred.losses,
    };
    (estimate, inferred.shapes)
}

/// Product of dims as u64, `None` on negative dims; saturates on overflow.
fn product(dims: impl IntoIterator<Item = i64>) -> Option<u64> {
    dims.into_iter().try_fold(1u64, |product, dim| {
        Some(product.saturating_mul(u64::try_from(dim).ok()?))
    })
}

fn node_flops(state: &State, node: &NodeProto) -> Option<u64> {
    let input_shape = |index: usize| {
        let name = node.input.get(index).filter(|name| !name.is_empty())?;
        state.shapes.get(name)
    };
    let output_shape = || state.shapes.get(node.output.first()?);
    let macs = match node.op_type() {
        "Gemm" => {
            let dims = shapes::gemm_dims(state, node)?;
            product([dims.m, dims.n, dims.k])?
        }
        "MatMul" => {
            let dims = shapes::matmul_dims(state, node)?;
            product(dims.output)?.saturating_mul(u64::try_from(dims.k).ok()?)
        }
        "Einsum" => {
            // Every term of the full sum is one multiply-add per extra operand.
            let dims = shapes::einsum(state, node)?;
            let extra_operands = u64::try_from(dims.operands.checked_sub(1)?).ok()?;
            u64::try_from(dims.label_product)
                .ok()?
                .saturating_mul(extra_operands)
        }
        "Conv" => {
            // Each output element: (C_in / group) x kernel multiply-adds.
            let weight = input_shape(1)?;
            let output = output_shape()?;
            product(output.iter().copied())?
                .saturating_mul(product(weight.iter().skip(1).copied())?)
        }
        "ConvTranspose" => {
            // Each input element is scattered through (C_out / group) x kernel
            // weights. The output shape is required as proof of consistent shapes.
            let input = input_shape(0)?;
            let weight = input_shape(1)?;
            output_shape()?;
            if weight.len() < 3 {
                return None;
            }
            product(input.iter().copied())?.saturating_mul(product(weight.iter().skip(1).copied())?)
        }
        _ => return None,
    };
    Some(macs.saturating_mul(2))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::test_util::*;
    use crate::model::{ElemType, ModelError};

    fn dims(pairs: &[(&str, i64)]) -> BTreeMap<String, i64> {
        pairs
            .iter()
            .map(|(name, value)| ((*name).to_owned(), *value))
            .collect()
    }

    fn by_node(estimate: &FlopEstimate) -> Vec<(&str, u64)> {
        estimate
            .by_node
            .iter()
            .map(|node| (node.node_name.as_str(), node.flops))
            .collect()
    }

    #[test]
    fn mlp_flops_for_batch_1_and_8() -> Result<(), ModelError> {
        let model = Model::load(&sample_model("mlp.onnx"))?;
        // 2 x (256x512 + 512x256 + 256x10) multiply-adds per row.
        let batch1 = estimate_flops(&model, &BTreeMap::new());
        assert_eq!(batch1.total, 2 * (256 * 512 + 512 * 256 + 256 * 10));
        assert_eq!(batch1.total, 529_408);
        assert_eq!(
            by_node(&batch1),
            vec![("fc1", 262_144), ("fc2", 262_144), ("fc3", 5_120)]
        );
        assert_eq!(batch1.by_op_type, vec![("Gemm".to_owned(), 529_408)]);
        assert_eq!(batch1.dims_used, dims(&[("batch", 1)]));
        assert_eq!(batch1.nodes_without_shapes, 0);

        let batch8 = estimate_flops(&model, &dims(&[("batch", 8)]));
        assert_eq!(batch8.total, 8 * 529_408);
        assert_eq!(batch8.dims_used, dims(&[("batch", 8)]));
        Ok(())
    }

    #[test]
    fn cnn_flops_for_batch_1_and_8() -> Result<(), ModelError> {
        let model = Model::load(&sample_model("cnn.onnx"))?;
        let batch1 = estimate_flops(&model, &BTreeMap::new());
        // conv1: 16x28x28 outputs x (1x3x3) MACs; conv2: 32x14x14 x (16x3x3);
        // fc1: 1568x64; fc2: 64x10.
        let expected = [
            ("conv1", 2 * 16 * 28 * 28 * 9),
            ("conv2", 2 * 32 * 14 * 14 * 16 * 9),
            ("fc1", 2 * 1568 * 64),
            ("fc2", 2 * 64 * 10),
        ];
        assert_eq!(by_node(&batch1), expected.to_vec());
        assert_eq!(batch1.total, 2_234_112);
        assert_eq!(
            batch1.by_op_type,
            vec![("Conv".to_owned(), 2_032_128), ("Gemm".to_owned(), 201_984)]
        );
        let batch8 = estimate_flops(&model, &dims(&[("batch", 8)]));
        assert_eq!(batch8.total, 17_872_896);
        assert_eq!(batch8.nodes_without_shapes, 0);
        Ok(())
    }

    #[test]
    fn transformer_flops_for_batch_and_seq() -> Result<(), ModelError> {
        let model = Model::load(&sample_model("transformer.onnx"))?;
        let flops = |batch: i64, seq: i64| {
            let estimate = estimate_flops(&model, &dims(&[("batch", batch), ("seq", seq)]));
            assert_eq!(estimate.nodes_without_shapes, 0);
            assert!(
                estimate.unsupported_ops.is_empty(),
                "{:?}",
                estimate.unsupported_ops
            );
            estimate
        };
        // Per token: 4 projections 64x64 and the FFN 64x256 + 256x64; per head
        // pair of tokens: QK^T and AV over head size 16 with 4 heads.
        let expected = |batch: u64, seq: u64| {
            let tokens = batch * seq;
            2 * tokens * (4 * 64 * 64 + 2 * 64 * 256) + 2 * 2 * batch * 4 * seq * seq * 16
        };
        let batch1 = flops(1, 1);
        assert_eq!(batch1.total, expected(1, 1));
        assert_eq!(batch1.total, 98_560);
        assert_eq!(batch1.dims_used, dims(&[("batch", 1), ("seq", 1)]));
        assert_eq!(flops(8, 1).total, 788_480);
        let batch8 = flops(8, 16);
        assert_eq!(batch8.total, expected(8, 16));
        assert_eq!(batch8.total, 13_107_200);
        let attention = by_node(&batch8)
            .into_iter()
            .filter(|(name, _)| name.starts_with("attn_"))
            .collect::<Vec<_>>();
        assert_eq!(
            attention,
            vec![("attn_qk_matmul", 262_144), ("attn_v_matmul", 262_144)]
        );
        assert_eq!(flops(2, 5).total, 995_840);
        // The default binding is every symbolic dim = 1.
        assert_eq!(estimate_flops(&model, &BTreeMap::new()), batch1);
        Ok(())
    }

    #[test]
    fn multi_input_and_constant_weight_flops() -> Result<(), ModelError> {
        let multi = Model::load(&sample_model("multi_input.onnx"))?;
        assert_eq!(
            estimate_flops(&multi, &dims(&[("batch", 8), ("seq", 16)])).total,
            2 * 8 * 32 * 4
        );

        // Weights in Constant nodes and in external data give the same shapes.
        for file_name in ["constant_weights.onnx", "external_data/model.onnx"] {
            let model = Model::load(&fixture(file_name))?;
            let estimate = estimate_flops(&model, &dims(&[("batch", 8)]));
            assert_eq!(estimate.total, 8 * 2 * (32 * 16 + 16 * 8), "{file_name}");
        }
        Ok(())
    }

    #[test]
    fn gemm_matmul_and_conv_transpose_formulas() {
        let proto = model_proto(
            graph(
                "formulas",
                vec![value_info("x", ElemType::Float, &["1", "4", "8", "8"])],
                vec![],
                vec![
                    node(
                        "Gemm",
                        &["A", "B", "C"],
                        &["gemm"],
                        vec![int_attr("transA", 1), int_attr("transB", 1)],
                    ),
                    node("MatMul", &["batched", "rhs"], &["mm"], vec![]),
                    node("MatMul", &["vec8", "rhs"], &["mv"], vec![]),
                    node("MatMul", &["lhs", "vec8"], &["vm"], vec![]),
                    node(
                        "ConvTranspose",
                        &["x", "Wt"],
                        &["up"],
                        vec![
                            ints_attr("strides", &[2, 2]),
                            ints_attr("pads", &[1, 1, 1, 1]),
                            ints_attr("output_padding", &[1, 1]),
                        ],
                    ),
                    node(
                        "Conv",
                        &["x", "Wg"],
                        &["grouped"],
                        vec![int_attr("group", 2)],
                    ),
                ],
                vec![
                    zeros("A", &[4, 3]),
                    zeros("B", &[5, 4]),
                    zeros("C", &[5]),
                    zeros("batched", &[2, 1, 4, 8]),
                    zeros("rhs", &[3, 8, 5]),
                    zeros("vec8", &[8]),
                    zeros("lhs", &[4, 8]),
                    zeros("Wt", &[4, 2, 3, 3]),
                    zeros("Wg", &[6, 2, 3, 3]),
                ],
            ),
            17,
        );
        let model = Model::from_proto(proto, None);
        let shapes = crate::model::infer_shapes(&model, &BTreeMap::new()).shapes;
        assert_eq!(shapes.get("gemm"), Some(&vec![3, 5]));
        assert_eq!(shapes.get("mm"), Some(&vec![2, 3, 4, 5]));
        assert_eq!(shapes.get("mv"), Some(&vec![3, 5]));
        assert_eq!(shapes.get("vm"), Some(&vec![4]));
        // (8 - 1) x 2 + 1 + 3 - 2 = 16
        assert_eq!(shapes.get("up"), Some(&vec![1, 2, 16, 16]));
        assert_eq!(shapes.get("grouped"), Some(&vec![1, 6, 6, 6]));

        let estimate = estimate_flops(&model, &BTreeMap::new());
        assert_eq!(
            by_node(&estimate),
            vec![
                ("Gemm_gemm", 2 * 3 * 5 * 4),
                ("MatMul_mm", 2 * (2 * 3 * 4 * 5) * 8),
                ("MatMul_mv", 2 * (3 * 5) * 8),
                ("MatMul_vm", 2 * 4 * 8),
                // Each of the 4x8x8 inputs meets 2 output channels x 3x3 taps.
                ("ConvTranspose_up", 2 * (4 * 8 * 8) * 2 * 9),
                // 6x6x6 outputs, each over 2 input channels (4 / group 2) x 3x3.
                ("Conv_grouped", 2 * (6 * 6 * 6) * 2 * 9),
            ]
        );
        assert_eq!(
            estimate.by_op_type,
            vec![
                ("ConvTranspose".to_owned(), 9216),
                ("Conv".to_owned(), 7776),
                ("MatMul".to_owned(), 1920 + 240 + 64),
                ("Gemm".to_owned(), 120),
            ]
        );
        assert!(estimate.dims_used.is_empty());
    }
}
