//! The cost of one profiled node from the shapes ONNX Runtime recorded for
//! it: floating-point operations and bytes per call, with no static shape
//! inference and no model attributes.
//!
//! ONNX Runtime's profile gives each node event `input_type_shape`,
//! `output_type_shape` and the byte sizes `activation_size` (inputs),
//! `parameter_size` (weights) and `output_size`. Attributes are not in the
//! profile, but the convolutions do not need them: the weight shape
//! `[Cout, Cin/groups, kh, kw]` already holds the groups, and the output
//! shape the strides, dilations and padding, so
//! `flops = 2 · N·Hout·Wout · Cout · Cin/g · kh·kw = 2 · numel(out) · numel(w)/Cout`.
//!
//! What is counted (a multiply-add is 2 FLOPs; bias and fused activations
//! are not counted in the convolutions and matrix products):
//! - `Conv`, `FusedConv`, `NhwcFusedConv`, `ConvInteger`, `QLinearConv`:
//!   the formula above from the weight's shape. The NCHWc `Conv` of the
//!   `com.microsoft.nchwc` domain (`*_nchwc` nodes) reports channels padded
//!   to the block size (e.g. 200 channels run as 208), and its count is of
//!   the padded work the kernel really does. Once the node is mapped to the
//!   model file, [`super::model_flops`] replaces it with the model's count
//!   and keeps this one apart.
//! - `ConvTranspose`: `2 · numel(input) · numel(w)/Cin`. ONNX Runtime
//!   prepacks its weight and never lists it, so the weight's shape is read
//!   from the model file by node name ([`model_weight_shapes`]); without it
//!   (an unnamed node), `None`.
//! - `Gemm`, `FusedGemm`, `QGemm`, `MatMul`, `FusedMatMul`, `QLinearMatMul`,
//!   `MatMulInteger`, `MatMulIntegerToFloat`, `DynamicQuantizeMatMul`,
//!   `MatMulNBits` (block-quantized weights):
//!   `2 · numel(out) · K`, with K from the first input's last two dims and
//!   the output's rows (transposes and batch broadcast included). The
//!   prepacked `B` is often missing from the profile; it is not needed.
//! - Elementwise ops ([`ELEMENTWISE_OPS`]): one operation per output element
//!   (`Sum`, `Max`, `Min`, `Mean`: one per extra input).
//! - `BatchNormalization`: 2 per element; `LayerNormalization`,
//!   `SimplifiedLayerNormalization`, `SkipLayerNormalization`,
//!   `InstanceNormalization`, `GroupNorm`: 5 per element; `Softmax`,
//!   `LogSoftmax`: 3 per element.
//! - `GlobalAveragePool`, `GlobalMaxPool`, `ReduceMean`, `ReduceSum`,
//!   `ReduceMax`, `ReduceMin`: one per input element.
//! - Data movement ([`DATA_MOVEMENT_OPS`]: `Reshape`, `Transpose`,
//!   `ReorderInput`, `Concat`, `Gather`, …): 0.
//! - Anything else (windowed pools and `Resize`, whose kernels are not in
//!   the profile, custom ops): `None`.
//!
//! `bytes` is `activation_size + parameter_size + output_size` when the
//! profile has them, plus, for a matrix product whose weight was prepacked
//! (absent from the listed inputs), `K·N` elements of the input's type. Else
//! it is the listed shapes times their element sizes.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::model::{ElemType, node::node_id, onnx::ModelProto};

/// One tensor of a node event: element type (ONNX Runtime's name, e.g.
/// `float`, `int64`) and dims.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct TensorShape {
    pub dtype: String,
    pub dims: Vec<i64>,
}

impl TensorShape {
    /// Number of elements (1 for a scalar); `None` when a dim is negative.
    pub fn elements(&self) -> Option<f64> {
        self.dims.iter().try_fold(1.0_f64, |product, &dim| {
            (dim >= 0).then_some(product * dim as f64)
        })
    }

    /// Bytes of the tensor, when its element type has a known size.
    pub fn size_bytes(&self) -> Option<f64> {
        Some(self.elements()? * dtype_size_bytes(&self.dtype)?)
    }
}

/// Shapes and sizes of one node's first recorded call.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
pub struct NodeIo {
    /// The inputs ONNX Runtime listed (prepacked weights can be missing).
    pub inputs: Vec<TensorShape>,
    pub outputs: Vec<TensorShape>,
    /// `activation_size`: bytes of the non-weight inputs.
    pub activation_bytes: Option<u64>,
    /// `parameter_size`: bytes of the weights (initializers) still listed.
    pub parameter_bytes: Option<u64>,
    /// `output_size`: bytes of the outputs.
    pub output_bytes: Option<u64>,
}

/// What one call of a node costs.
#[derive(Debug, Clone, Copy, PartialEq, Default)]
pub struct NodeCost {
    /// Floating-point (or integer arithmetic) operations; `None` when the op
    /// is not counted.
    pub flops: Option<f64>,
    /// Bytes read and written: inputs, weights and outputs.
    pub bytes: Option<f64>,
}

/// Whether a node is limited by compute or by memory bandwidth on a machine.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Bound {
    Compute,
    Memory,
}

impl std::fmt::Display for Bound {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Self::Compute => "compute",
            Self::Memory => "memory",
        })
    }
}

/// Ops counted as one operation per output element.
pub const ELEMENTWISE_OPS: &[&str] = &[
    "Abs",
    "Add",
    "BiasGelu",
    "Ceil",
    "Clip",
    "Cos",
    "Div",
    "Elu",
    "Equal",
    "Erf",
    "Exp",
    "FastGelu",
    "Floor",
    "Gelu",
    "Greater",
    "HardSigmoid",
    "HardSwish",
    "LeakyRelu",
    "Less",
    "Log",
    "Max",
    "Mean",
    "Min",
    "Mish",
    "Mul",
    "Neg",
    "Not",
    "PRelu",
    "Pow",
    "QuickGelu",
    "Reciprocal",
    "Relu",
    "Round",
    "Selu",
    "Sigmoid",
    "Sign",
    "Sin",
    "Softplus",
    "Sqrt",
    "Sub",
    "Sum",
    "Tanh",
    "Where",
];

/// Ops that only move or reinterpret data: 0 FLOPs.
pub const DATA_MOVEMENT_OPS: &[&str] = &[
    "Cast",
    "Concat",
    "ConstantOfShape",
    "DepthToSpace",
    "Expand",
    "Flatten",
    "Gather",
    "GatherElements",
    "GatherND",
    "Identity",
    "MemcpyFromHost",
    "MemcpyToHost",
    "Pad",
    "ReorderInput",
    "ReorderOutput",
    "Reshape",
    "Shape",
    "Slice",
    "SpaceToDepth",
    "Split",
    "Squeeze",
    "Tile",
    "Transpose",
    "Unsqueeze",
];

/// Ops whose weight ONNX Runtime prepacks and leaves out of the profile even
/// at `--opt-level disable`, and whose FLOPs need it: it is read from the
/// model file instead ([`model_weight_shapes`]).
pub const WEIGHT_FROM_MODEL_OPS: &[&str] = &["ConvTranspose"];

/// The weight (input 1) shapes of the model's [`WEIGHT_FROM_MODEL_OPS`]
/// nodes whose weight is stored (an initializer or a `Constant`) or a
/// `ConstantOfShape` fill, by
/// `model::node::node_id`. Profiled nodes match by name, so unnamed nodes
/// (which ONNX Runtime names itself) are not found.
pub fn model_weight_shapes(model: &ModelProto) -> BTreeMap<String, TensorShape> {
    let Some(graph) = model.graph.as_ref() else {
        return BTreeMap::new();
    };
    let shape_of = |name: &str| -> Option<TensorShape> {
        let (elem_type, dims) = crate::model::weights::stored_or_filled_dims(graph, name)?;
        let dtype = match elem_type {
            ElemType::Float => "float",
            ElemType::Float16 => "float16",
            ElemType::Double => "double",
            ElemType::Bfloat16 => "bfloat16",
            _ => "",
        };
        Some(TensorShape {
            dtype: dtype.to_owned(),
            dims,
        })
    };
    graph
        .node
        .iter()
        .enumerate()
        .filter(|(_, node)| WEIGHT_FROM_MODEL_OPS.contains(&node.op_type()))
        .filter_map(|(index, node)| {
            let weight = shape_of(node.input.get(1)?)?;
            Some((node_id(node, index), weight))
        })
        .collect()
}

/// `io` with a weight read from the model appended (when the profile listed
/// no weight) and its bytes added to the parameter bytes.
pub fn with_model_weight(io: &NodeIo, weight: &TensorShape) -> NodeIo {
    let mut io = io.clone();
    if io.inputs.len() == 1 {
        io.inputs.push(weight.clone());
        if let (Some(parameter), Some(size)) = (io.parameter_bytes, weight.size_bytes()) {
            io.parameter_bytes = Some(parameter + size as u64);
        }
    }
    io
}

/// Reads back the compact shape text of a layer row
/// (`float[1,256] int64[]`); entries that do not parse are skipped.
pub fn parse_compact_shapes(text: &str) -> Vec<TensorShape> {
    text.split_whitespace()
        .filter_map(|entry| {
            let (dtype, rest) = entry.split_once('[')?;
            let dims = rest.strip_suffix(']')?;
            let dims = if dims.is_empty() {
                Vec::new()
            } else {
                dims.split(',')
                    .map(|dim| dim.trim().parse().ok())
                    .collect::<Option<Vec<i64>>>()?
            };
            Some(TensorShape {
                dtype: dtype.to_owned(),
                dims,
            })
        })
        .collect()
}

/// Bytes of one element of an ONNX Runtime type name; `None` when unknown.
pub fn dtype_size_bytes(dtype: &str) -> Option<f64> {
    Some(match dtype {
        "double" | "int64" | "uint64" => 8.0,
        "float" | "int32" | "uint32" => 4.0,
        "float16" | "bfloat16" | "int16" | "uint16" => 2.0,
        "int8" | "uint8" | "bool" | "float8e4m3fn" | "float8e4m3fnuz" | "float8e5m2"
        | "float8e5m2fnuz" => 1.0,
        _ => return None,
    })
}

/// The cost of one call of a node of type `op_type` with these shapes.
pub fn node_cost(op_type: &str, io: &NodeIo) -> NodeCost {
    let matmul = matmul_dims(op_type, io);
    let flops = match op_type {
        "Conv" | "FusedConv" | "NhwcConv" | "NhwcFusedConv" | "ConvInteger" => conv_flops(io, 1),
        "QLinearConv" => conv_flops(io, 3),
        "ConvTranspose" => conv_transpose_flops(io),
        _ if matmul.is_some() => matmul.map(|dims| 2.0 * dims.out_elements * dims.k),
        "BatchNormalization" => per_output_element(io, 2.0),
        "LayerNormalization"
        | "SimplifiedLayerNormalization"
        | "SkipLayerNormalization"
        | "SkipSimplifiedLayerNormalization"
        | "InstanceNormalization"
        | "GroupNorm"
        | "GroupNormalization" => per_output_element(io, 5.0),
        "Softmax" | "LogSoftmax" => per_output_element(io, 3.0),
        "GlobalAveragePool" | "GlobalMaxPool" | "ReduceMean" | "ReduceSum" | "ReduceMax"
        | "ReduceMin" => io.inputs.first().and_then(TensorShape::elements),
        "Sum" | "Max" | "Min" | "Mean" => {
            per_output_element(io, io.inputs.len().saturating_sub(1).max(1) as f64)
        }
        op if ELEMENTWISE_OPS.contains(&op) => per_output_element(io, 1.0),
        op if DATA_MOVEMENT_OPS.contains(&op) => Some(0.0),
        _ => None,
    };
    NodeCost {
        flops,
        bytes: node_bytes(io, matmul),
    }
}

/// Operations per byte; `None` without both figures or with no bytes.
pub fn arithmetic_intensity(flops: Option<f64>, bytes: Option<f64>) -> Option<f64> {
    match (flops, bytes) {
        (Some(flops), Some(bytes)) if bytes > 0.0 => Some(flops / bytes),
        _ => None,
    }
}

/// Compute-bound when the node's intensity is at or above the ridge point
/// (peak GFLOP/s over peak GB/s), else memory-bound. `None` without an
/// intensity or with non-positive peaks.
pub fn bound(
    intensity: Option<f64>,
    peak_gflops_per_s: f64,
    peak_gbytes_per_s: f64,
) -> Option<Bound> {
    let intensity = intensity?;
    if !(peak_gflops_per_s > 0.0 && peak_gbytes_per_s > 0.0) {
        return None;
    }
    let ridge = peak_gflops_per_s / peak_gbytes_per_s;
    Some(if intensity >= ridge {
        Bound::Compute
    } else {
        Bound::Memory
    })
}

fn per_output_element(io: &NodeIo, operations: f64) -> Option<f64> {
    let outputs = io.outputs.first()?.elements()?;
    Some(outputs * operations)
}

/// `2 · numel(out) · numel(w) / w[0]`, the weight at `weight_index`.
fn conv_flops(io: &NodeIo, weight_index: usize) -> Option<f64> {
    let weight = io.inputs.get(weight_index)?;
    let output = io.outputs.first()?;
    if weight.dims.len() < 3 || weight.dims.len() != output.dims.len() {
        return None;
    }
    let out_channels = *weight.dims.first()?;
    if out_channels <= 0 {
        return None;
    }
    Some(2.0 * output.elements()? * weight.elements()? / out_channels as f64)
}

/// Weight `[Cin, Cout/g, kh, kw]`: every input element meets
/// `Cout/g · kh · kw` weights.
fn conv_transpose_flops(io: &NodeIo) -> Option<f64> {
    let input = io.inputs.first()?;
    let weight = io.inputs.get(1)?;
    if weight.dims.len() < 3 || weight.dims.len() != input.dims.len() {
        return None;
    }
    let in_channels = *weight.dims.first()?;
    if in_channels <= 0 {
        return None;
    }
    Some(2.0 * input.elements()? * weight.elements()? / in_channels as f64)
}

/// The sizes of a matrix product.
#[derive(Debug, Clone, Copy, PartialEq)]
struct MatMulDims {
    out_elements: f64,
    /// The reduced dimension.
    k: f64,
    /// Columns of the output.
    n: f64,
    /// Whether `B` is among the listed inputs.
    has_b: bool,
}

fn matmul_dims(op_type: &str, io: &NodeIo) -> Option<MatMulDims> {
    let b_index = match op_type {
        "Gemm"
        | "FusedGemm"
        | "MatMul"
        | "FusedMatMul"
        | "MatMulInteger"
        | "MatMulIntegerToFloat"
        | "DynamicQuantizeMatMul"
        | "MatMulNBits" => 1,
        "QLinearMatMul" | "QGemm" => 3,
        _ => return None,
    };
    let a = io.inputs.first()?;
    let output = io.outputs.first()?;
    let out_elements = output.elements()?;
    let k = match (a.dims.as_slice(), output.dims.as_slice()) {
        ([k], _) => *k,
        // B was a vector: the output dropped A's last dim.
        (a_dims, out_dims) if out_dims.len() + 1 == a_dims.len() => *a_dims.last()?,
        ([.., a_rows, a_cols], [.., out_rows, _]) => {
            let product = a_rows * a_cols;
            if *out_rows <= 0 || product % out_rows != 0 {
                return None;
            }
            product / out_rows
        }
        _ => return None,
    };
    if k <= 0 {
        return None;
    }
    let n = match output.dims.as_slice() {
        [.., n] if output.dims.len() + 1 != a.dims.len() => *n as f64,
        _ => 1.0,
    };
    let has_b = io
        .inputs
        .get(b_index)
        .is_some_and(|b| b.dims.len() >= 2 || (b.dims.len() == 1 && b.dims[0] == k));
    Some(MatMulDims {
        out_elements,
        k: k as f64,
        n,
        has_b,
    })
}

fn node_bytes(io: &NodeIo, matmul: Option<MatMulDims>) -> Option<f64> {
    // A prepacked weight is absent from the inputs and from parameter_size.
    let missing_weight = match matmul {
        Some(dims) if !dims.has_b => io
            .inputs
            .first()
            .and_then(|a| dtype_size_bytes(&a.dtype))
            .map_or(0.0, |size| dims.k * dims.n * size),
        _ => 0.0,
    };
    match (io.activation_bytes, io.parameter_bytes, io.output_bytes) {
        (Some(activation), Some(parameter), Some(output)) => {
            Some((activation + parameter + output) as f64 + missing_weight)
        }
        _ => {
            if io.inputs.is_empty() && io.outputs.is_empty() {
                return None;
            }
            let mut total = missing_weight;
            for tensor in io.inputs.iter().chain(&io.outputs) {
                total += tensor.size_bytes()?;
            }
            Some(total)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn float(dims: &[i64]) -> TensorShape {
        TensorShape {
            dtype: "float".to_owned(),
            dims: dims.to_vec(),
        }
    }

    fn io(inputs: &[&[i64]], outputs: &[&[i64]]) -> NodeIo {
        NodeIo {
            inputs: inputs.iter().map(|dims| float(dims)).collect(),
            outputs: outputs.iter().map(|dims| float(dims)).collect(),
            ..NodeIo::default()
        }
    }

    fn flops(op: &str, node: &NodeIo) -> f64 {
        node_cost(op, node).flops.expect("counted")
    }

    #[test]
    fn grouped_convolution() {
        // 64 → 128 channels, groups 4, 3×3, 1×64×28×28 → 1×128×28×28:
        // each output sums 64/4 · 9 products.
        let node = io(
            &[&[1, 64, 28, 28], &[128, 16, 3, 3], &[128]],
            &[&[1, 128, 28, 28]],
        );
        assert_eq!(flops("Conv", &node), 2.0 * 128.0 * 28.0 * 28.0 * 16.0 * 9.0);
        // Depthwise: groups = channels, one input channel per output.
        let depthwise = io(&[&[2, 32, 10, 10], &[32, 1, 5, 5]], &[&[2, 32, 10, 10]]);
        assert_eq!(flops("Conv", &depthwise), 2.0 * 2.0 * 32.0 * 100.0 * 25.0);
    }

    #[test]
    fn dilated_and_strided_convolution() {
        // 3×3 dilation 2, no padding: 32 → 28 (effective kernel 5).
        let dilated = io(&[&[1, 8, 32, 32], &[16, 8, 3, 3]], &[&[1, 16, 28, 28]]);
        assert_eq!(flops("Conv", &dilated), 2.0 * 16.0 * 784.0 * 8.0 * 9.0);
        // 7×7 stride 2 padding 3: 224 → 112 (ResNet stem).
        let strided = io(
            &[&[1, 3, 224, 224], &[64, 3, 7, 7], &[64]],
            &[&[1, 64, 112, 112]],
        );
        assert_eq!(flops("FusedConv", &strided), 236_027_904.0);
        // 1-D convolution.
        let conv1d = io(&[&[1, 4, 100], &[6, 4, 3]], &[&[1, 6, 98]]);
        assert_eq!(flops("Conv", &conv1d), 2.0 * 6.0 * 98.0 * 12.0);
    }

    #[test]
    fn nchwc_convolution_counts_the_padded_channels() {
        // From ONNX Runtime 1.31's profile of the PP-OCR classifier at level
        // `all`: a depthwise 5×5 with 200 channels runs as 208.
        let node = io(
            &[&[1, 208, 2, 96], &[208, 1, 5, 5], &[208]],
            &[&[1, 208, 2, 96]],
        );
        assert_eq!(flops("Conv", &node), 2.0 * 208.0 * 192.0 * 25.0);
    }

    #[test]
    fn quantized_convolution_takes_the_weight_at_index_3() {
        let mut node = io(
            &[&[1, 8, 10, 10], &[], &[], &[4, 8, 1, 1], &[], &[], &[], &[]],
            &[&[1, 4, 10, 10]],
        );
        for tensor in &mut node.inputs {
            tensor.dtype = "uint8".to_owned();
        }
        assert_eq!(flops("QLinearConv", &node), 2.0 * 400.0 * 8.0);
    }

    #[test]
    fn transposed_convolution() {
        // 16 → 8 channels, 2×2 stride 2: 10×10 → 20×20. Each input element
        // meets 8 · 4 weights.
        let node = io(&[&[1, 16, 10, 10], &[16, 8, 2, 2]], &[&[1, 8, 20, 20]]);
        assert_eq!(flops("ConvTranspose", &node), 2.0 * 1600.0 * 32.0);
        // Prepacked weight missing from the profile: not guessed.
        let packed = io(&[&[1, 24, 80, 80]], &[&[1, 24, 160, 160]]);
        assert_eq!(node_cost("ConvTranspose", &packed).flops, None);
    }

    #[test]
    fn gemm_with_transposes_and_a_prepacked_weight() {
        // transA: A is [K, M] = [256, 4], B [512, 256] (transB), out [4, 512].
        let node = io(&[&[256, 4], &[512, 256], &[512]], &[&[4, 512]]);
        assert_eq!(flops("Gemm", &node), 2.0 * 4.0 * 512.0 * 256.0);
        // ResNet-50's last layer as ONNX Runtime lists it: B prepacked.
        let mut fc = io(&[&[1, 2048], &[1000]], &[&[1, 1000]]);
        fc.activation_bytes = Some(8192);
        fc.parameter_bytes = Some(4000);
        fc.output_bytes = Some(4000);
        let cost = node_cost("Gemm", &fc);
        assert_eq!(cost.flops, Some(2.0 * 1000.0 * 2048.0));
        assert_eq!(cost.bytes, Some(16192.0 + 2048.0 * 1000.0 * 4.0));
    }

    #[test]
    fn batched_and_broadcast_matmul() {
        // [8, 40, 15] × [8, 15, 40] → [8, 40, 40].
        let node = io(&[&[8, 40, 15], &[8, 15, 40]], &[&[8, 40, 40]]);
        assert_eq!(flops("MatMul", &node), 2.0 * 8.0 * 1600.0 * 15.0);
        // A broadcast over B's batch: [40, 15] × [2, 8, 15, 40].
        let broadcast = io(&[&[40, 15], &[2, 8, 15, 40]], &[&[2, 8, 40, 40]]);
        assert_eq!(flops("MatMul", &broadcast), 2.0 * 16.0 * 1600.0 * 15.0);
        // FusedMatMul with transA from the PP-OCR recognizer: [1, 120, 40]ᵀ.
        let fused = io(&[&[1, 120, 40]], &[&[1, 40, 6625]]);
        assert_eq!(flops("FusedMatMul", &fused), 2.0 * 40.0 * 6625.0 * 120.0);
        // Vector B: [3, 5] × [5] → [3].
        let vector = io(&[&[3, 5], &[5]], &[&[3]]);
        assert_eq!(flops("MatMul", &vector), 2.0 * 3.0 * 5.0);
        // 4-bit weights packed as [N, blocks, blob]: K still comes from A.
        let nbits = io(&[&[1, 7, 256], &[64, 8, 16], &[64, 8]], &[&[1, 7, 64]]);
        assert_eq!(flops("MatMulNBits", &nbits), 2.0 * 7.0 * 64.0 * 256.0);
        // Inconsistent shapes are not counted.
        let odd = io(&[&[3, 5]], &[&[7, 2]]);
        assert_eq!(node_cost("MatMul", &odd).flops, None);
    }

    #[test]
    fn elementwise_normalisation_and_data_movement() {
        let add = io(&[&[1, 8, 4, 4], &[]], &[&[1, 8, 4, 4]]);
        assert_eq!(flops("Add", &add), 128.0);
        let sum = io(&[&[2, 3], &[2, 3], &[2, 3]], &[&[2, 3]]);
        assert_eq!(flops("Sum", &sum), 12.0);
        let norm = io(&[&[1, 40, 120], &[120], &[120]], &[&[1, 40, 120]]);
        assert_eq!(flops("LayerNormalization", &norm), 5.0 * 4800.0);
        let pool = io(&[&[1, 2048, 7, 7]], &[&[1, 2048, 1, 1]]);
        assert_eq!(flops("GlobalAveragePool", &pool), 2048.0 * 49.0);
        assert_eq!(flops("Reshape", &pool), 0.0);
        assert_eq!(node_cost("MaxPool", &pool).flops, None);
        assert_eq!(node_cost("SomeCustomOp", &pool).flops, None);
    }

    #[test]
    fn bytes_come_from_the_profile_sizes_or_the_shapes() {
        let mut node = io(&[&[1, 3, 4, 4], &[2, 3, 1, 1]], &[&[1, 2, 4, 4]]);
        assert_eq!(
            node_cost("Conv", &node).bytes,
            Some((48.0 + 6.0 + 32.0) * 4.0)
        );
        node.activation_bytes = Some(1);
        node.parameter_bytes = Some(2);
        node.output_bytes = Some(3);
        assert_eq!(node_cost("Conv", &node).bytes, Some(6.0));
        let unknown = NodeIo {
            inputs: vec![TensorShape {
                dtype: "string".to_owned(),
                dims: vec![3],
            }],
            ..NodeIo::default()
        };
        assert_eq!(node_cost("Identity", &unknown).bytes, None);
        assert_eq!(node_cost("Identity", &NodeIo::default()).bytes, None);
    }

    #[test]
    fn compact_shapes_read_back() {
        let shapes = parse_compact_shapes("float[1,24,14,14] int64[] bad[x] float16[3]");
        assert_eq!(
            shapes,
            vec![
                float(&[1, 24, 14, 14]),
                TensorShape {
                    dtype: "int64".to_owned(),
                    dims: vec![]
                },
                TensorShape {
                    dtype: "float16".to_owned(),
                    dims: vec![3]
                },
            ]
        );
        let weight = float(&[24, 8, 2, 2]);
        let node = with_model_weight(
            &NodeIo {
                inputs: parse_compact_shapes("float[1,24,14,14]"),
                outputs: parse_compact_shapes("float[1,8,28,28]"),
                parameter_bytes: Some(0),
                ..NodeIo::default()
            },
            &weight,
        );
        assert_eq!(node.parameter_bytes, Some(24 * 8 * 4 * 4));
        assert_eq!(
            node_cost("ConvTranspose", &node).flops,
            Some(2.0 * 24.0 * 196.0 * 32.0)
        );
    }

    #[test]
    fn intensity_and_bound_against_the_ridge() {
        assert_eq!(arithmetic_intensity(Some(100.0), Some(50.0)), Some(2.0));
        assert_eq!(arithmetic_intensity(Some(100.0), Some(0.0)), None);
        assert_eq!(arithmetic_intensity(None, Some(1.0)), None);
        // Ridge at 100 GFLOP/s / 20 GB/s = 5 FLOP/byte.
        assert_eq!(bound(Some(2.0), 100.0, 20.0), Some(Bound::Memory));
        assert_eq!(bound(Some(5.0), 100.0, 20.0), Some(Bound::Compute));
        assert_eq!(bound(Some(5.0), 0.0, 20.0), None);
        assert_eq!(bound(None, 100.0, 20.0), None);
    }
}
