//! int8 weight quantization of MatMul, Gemm and Conv.
//!
//! Weights are quantized symmetrically (zero point 0, range ±127), one scale
//! per output channel. Two output formats:
//!
//! - dynamic (as ONNX Runtime's `quantize_dynamic`): `DynamicQuantizeLinear`
//!   on the activation (uint8), `MatMulInteger` / `ConvInteger` with the int8
//!   weight, then `Cast` to float and `Mul` by activation scale × weight
//!   scales (and `Add` of the bias). Gemm becomes this MatMul form.
//! - QDQ: the int8 weight goes through `DequantizeLinear`; the op itself
//!   stays float. Smaller file, float compute.

use std::collections::HashSet;

use serde::{Deserialize, Serialize};

use super::graph::{
    self, FLOAT, Names, attr_float, attr_int, default_opset, int_attr, is_default_domain,
    node_label,
};
use super::weights::{self, ConstInfo};
use super::{Int8Mode, SkipReason, SkippedLayer, TransformError};
use crate::model::onnx::{ModelProto, NodeProto, TensorProto};

/// Largest magnitude of a symmetric int8 value (−127..=127; −128 unused so
/// the range is symmetric).
pub const INT8_SYMMETRIC_MAX: f32 = 127.0;
/// Largest weight magnitude in dynamic mode: 7 bits (ONNX Runtime's
/// `reduce_range`). On x86 CPUs without VNNI the u8×s8 kernel adds pairs of
/// products in saturating int16 (255·127·2 > 32767), which wrecks accuracy
/// with full-range per-channel weights; 255·63·2 fits.
pub const INT8_DYNAMIC_WEIGHT_MAX: f32 = 63.0;

/// One quantized layer.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct QuantizedLayer {
    /// Node name.
    pub node: String,
    /// Op type before quantization.
    pub op_type: String,
    /// The weight tensor.
    pub weight: String,
    /// Number of scales (output channels); 1 means per tensor.
    pub num_scales: usize,
    /// Weight bytes before (float32) and after (int8 plus scales).
    pub weight_bytes_before: u64,
    /// See `weight_bytes_before`.
    pub weight_bytes_after: u64,
}

/// What the int8 quantization did.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct Int8Report {
    /// Layers quantized, in graph order.
    pub quantized: Vec<QuantizedLayer>,
    /// MatMul/Gemm/Conv nodes left in float, with the reason.
    pub skipped: Vec<SkippedLayer>,
    /// The nodes the rewrite made, by name, to the id
    /// ([`crate::model::node::node_id`]) of the node they replace, so a
    /// quantized layer's time is found under the original layer.
    #[serde(skip_serializing_if = "std::collections::BTreeMap::is_empty")]
    pub node_origins: std::collections::BTreeMap<String, String>,
}

/// Symmetric per-channel quantization of `values` laid out with `dims`,
/// channels along `axis`: scale = max|w| / `max_q` per channel (1.0 for an
/// all zero channel), q = round-half-even(w / scale) clamped to ±`max_q`.
pub fn quantize_symmetric(
    values: &[f32],
    dims: &[usize],
    axis: usize,
    max_q: f32,
) -> (Vec<i8>, Vec<f32>) {
    let channels = dims.get(axis).copied().unwrap_or(1).max(1);
    let inner: usize = dims.iter().skip(axis + 1).product();
    let channel_of = |index: usize| (index / inner.max(1)) % channels;
    let mut max_abs = vec![0f32; channels];
    for (index, value) in values.iter().enumerate() {
        if let Some(slot) = max_abs.get_mut(channel_of(index)) {
            *slot = slot.max(value.abs());
        }
    }
    let scales: Vec<f32> = max_abs
        .iter()
        .map(|m| {
            if *m > 0.0 && m.is_finite() {
                m / max_q
            } else {
                1.0
            }
        })
        .collect();
    let quantized = values
        .iter()
        .enumerate()
        .map(|(index, value)| {
            let scale = scales.get(channel_of(index)).copied().unwrap_or(1.0);
            (value / scale).round_ties_even().clamp(-max_q, max_q) as i8
        })
        .collect();
    (quantized, scales)
}

/// Quantizes every eligible MatMul, Gemm and Conv of the main graph in
/// place, leaving the nodes in `keep.0` (node ids, see
/// [`crate::model::node::node_id`]) in float, skipped with the reason `keep.1`.
pub(crate) fn quantize_keeping(
    proto: &mut ModelProto,
    mode: Int8Mode,
    keep: &(std::collections::BTreeSet<String>, &str),
) -> Result<Int8Report, TransformError> {
    let opset = default_opset(proto);
    let Some(graph) = proto.graph.as_mut() else {
        return Err(TransformError::NoGraph);
    };
    let types = graph::elem_types(graph);
    let mut names = Names::new(graph);
    let mut report = Int8Report::default();
    let mut replaced_weights: HashSet<String> = HashSet::new();
    let mut new_initializers: Vec<TensorProto> = Vec::new();
    let mut new_nodes: Vec<NodeProto> = Vec::with_capacity(graph.node.len());
    for (index, node) in graph.node.iter().enumerate() {
        let op_type = node.op_type();
        if !is_default_domain(node) || !matches!(op_type, "MatMul" | "Gemm" | "Conv") {
            new_nodes.push(node.clone());
            continue;
        }
        let label = node_label(node, index);
        if keep.0.contains(&crate::model::node::node_id(node, index)) {
            report.skipped.push(SkippedLayer {
                node: label,
                op_type: op_type.to_owned(),
                reason: keep.1.to_owned(),
            });
            new_nodes.push(node.clone());
            continue;
        }
        let first_new = new_nodes.len();
        let plan = plan_layer(graph, node, &types, mode);
        let (weight_info, weight, axis) = match plan {
            Ok(plan) => plan,
            Err(reason) => {
                report.skipped.push(SkippedLayer {
                    node: label,
                    op_type: op_type.to_owned(),
                    reason: reason.0,
                });
                new_nodes.push(node.clone());
                continue;
            }
        };
        let mut values = weights::values(graph, &weight_info)?;
        let mut dims = weight_info.dims.clone();
        let mut axis = axis;
        // Gemm with transB: the dynamic form is a MatMul, so store W^T.
        if mode == Int8Mode::Dynamic
            && op_type == "Gemm"
            && attr_int(node, "transB").unwrap_or(0) != 0
            && let [rows, cols] = dims[..]
        {
            values = transpose(&values, rows, cols);
            dims = vec![cols, rows];
            axis = 1;
        }
        if op_type == "Gemm" && mode == Int8Mode::Dynamic {
            let alpha = attr_float(node, "alpha").unwrap_or(1.0);
            if alpha != 1.0 {
                values.iter_mut().for_each(|v| *v *= alpha);
            }
        }
        let max_q = match mode {
            Int8Mode::Dynamic => INT8_DYNAMIC_WEIGHT_MAX,
            Int8Mode::Qdq => INT8_SYMMETRIC_MAX,
        };
        let (quantized, scales) = quantize_symmetric(&values, &dims, axis, max_q);
        let dims_i64: Vec<i64> = dims.iter().map(|d| *d as i64).collect();
        let q_name = names.fresh(&format!("{weight}_quantized"));
        let scale_name = names.fresh(&format!("{weight}_scale"));
        let zp_name = names.fresh(&format!("{weight}_zero_point"));
        new_initializers.push(graph::int8_tensor(&q_name, &dims_i64, &quantized));
        report.quantized.push(QuantizedLayer {
            node: label.clone(),
            op_type: op_type.to_owned(),
            weight: weight.clone(),
            num_scales: scales.len(),
            weight_bytes_before: values.len() as u64 * 4,
            weight_bytes_after: quantized.len() as u64 + scales.len() as u64 * 4,
        });
        replaced_weights.insert(weight.clone());
        match mode {
            Int8Mode::Qdq => {
                let per_axis = opset >= 13;
                let (scale_values, zp_len) = if per_axis {
                    (scales.clone(), scales.len())
                } else {
                    (vec![scales.iter().copied().fold(0f32, f32::max)], 1)
                };
                let scale_dims: Vec<i64> = if per_axis {
                    vec![scales.len() as i64]
                } else {
                    Vec::new()
                };
                // Per-tensor fallback: requantize with the single scale.
                if !per_axis {
                    let (requantized, _) = quantize_symmetric(&values, &[values.len()], 1, max_q);
                    if let Some(last) = new_initializers.last_mut() {
                        *last = graph::int8_tensor(&q_name, &dims_i64, &requantized);
                    }
                }
                new_initializers.push(graph::float_tensor(&scale_name, &scale_dims, &scale_values));
                new_initializers.push(graph::int8_tensor(&zp_name, &scale_dims, &vec![0; zp_len]));
                let dequantized = names.fresh(&format!("{weight}_dequantized"));
                let mut attributes = Vec::new();
                if per_axis {
                    attributes.push(int_attr("axis", axis as i64));
                }
                new_nodes.push(graph::node(
                    "DequantizeLinear",
                    &names.fresh(&format!("{label}_weight_dequantize")),
                    &[&q_name, &scale_name, &zp_name],
                    &[&dequantized],
                    attributes,
                ));
                let mut rewritten = node.clone();
                if let Some(slot) = rewritten.input.get_mut(1) {
                    slot.clone_from(&dequantized);
                }
                new_nodes.push(rewritten);
            }
            Int8Mode::Dynamic => {
                // Scales broadcast against the output: [N] for MatMul/Gemm,
                // [M, 1, 1, ...] for Conv's [batch, M, spatial...].
                let scale_dims: Vec<i64> = if op_type == "Conv" {
                    std::iter::once(scales.len() as i64)
                        .chain(std::iter::repeat_n(1, dims.len().saturating_sub(2)))
                        .collect()
                } else {
                    vec![scales.len() as i64]
                };
                new_initializers.push(graph::float_tensor(&scale_name, &scale_dims, &scales));
                new_initializers.push(graph::int8_tensor(&zp_name, &[], &[0]));
                dynamic_nodes(
                    graph,
                    node,
                    &label,
                    (&q_name, &scale_name, &zp_name),
                    &scale_dims,
                    &mut names,
                    &mut new_initializers,
                    &mut new_nodes,
                )?;
            }
        }
        let original = crate::model::node::node_id(node, index);
        for made in new_nodes.get(first_new..).unwrap_or_default() {
            if made.name() != node.name() {
                report
                    .node_origins
                    .insert(made.name().to_owned(), original.clone());
            }
        }
    }
    graph.node = new_nodes;
    graph.initializer.extend(new_initializers);
    graph::remove_dead(graph, &replaced_weights);
    Ok(report)
}

/// Checks a node and finds its weight: (where, name, channel axis), or why
/// it cannot be quantized.
fn plan_layer(
    graph: &crate::model::onnx::GraphProto,
    node: &NodeProto,
    types: &std::collections::HashMap<String, i32>,
    mode: Int8Mode,
) -> Result<(ConstInfo, String, usize), SkipReason> {
    let activation = node.input.first().map(String::as_str).unwrap_or_default();
    let weight = node.input.get(1).cloned().unwrap_or_default();
    if types.get(activation) != Some(&FLOAT) {
        return Err(SkipReason::from("activation is not float32"));
    }
    let Some(info) = weights::lookup(graph, &weight) else {
        return Err(SkipReason::from(
            "weight is not a float32 constant (initializer, Constant node or ConstantOfShape fill)",
        ));
    };
    let rank = info.dims.len();
    let axis = match node.op_type() {
        "MatMul" if rank == 2 => 1,
        "MatMul" => {
            return Err(SkipReason::from(format!(
                "weight has rank {rank}; only 2-D MatMul weights are quantized"
            )));
        }
        "Gemm" if rank == 2 => {
            if mode == Int8Mode::Dynamic && attr_int(node, "transA").unwrap_or(0) != 0 {
                return Err(SkipReason::from(
                    "Gemm with transA=1 is not rewritten to MatMulInteger",
                ));
            }
            if attr_int(node, "transB").unwrap_or(0) != 0 {
                0
            } else {
                1
            }
        }
        "Conv" if rank >= 3 => {
            if mode == Int8Mode::Dynamic
                && let Some(bias) = node.input.get(2).filter(|b| !b.is_empty())
                && weights::lookup(graph, bias).is_none()
            {
                return Err(SkipReason::from("Conv bias is not a constant"));
            }
            0
        }
        _ => return Err(SkipReason::from(format!("weight has rank {rank}"))),
    };
    Ok((info, weight, axis))
}

/// Emits the dynamic-quantization nodes replacing `node`.
#[expect(
    clippy::too_many_arguments,
    reason = "one call site; the pieces are distinct"
)]
fn dynamic_nodes(
    graph: &crate::model::onnx::GraphProto,
    node: &NodeProto,
    label: &str,
    (q_name, scale_name, zp_name): (&str, &str, &str),
    scale_dims: &[i64],
    names: &mut Names,
    new_initializers: &mut Vec<TensorProto>,
    new_nodes: &mut Vec<NodeProto>,
) -> Result<(), TransformError> {
    let op_type = node.op_type();
    let activation = node.input.first().map(String::as_str).unwrap_or_default();
    let Some(output) = node.output.first().map(String::as_str) else {
        return Err(TransformError::Unsupported(format!(
            "node {label} has no output"
        )));
    };
    let a_q = names.fresh(&format!("{activation}_quantized"));
    let a_scale = names.fresh(&format!("{activation}_scale"));
    let a_zp = names.fresh(&format!("{activation}_zero_point"));
    new_nodes.push(graph::node(
        "DynamicQuantizeLinear",
        &names.fresh(&format!("{label}_input_quantize")),
        &[activation],
        &[&a_q, &a_scale, &a_zp],
        Vec::new(),
    ));
    let integer_out = names.fresh(&format!("{label}_int32"));
    if op_type == "Conv" {
        let attributes = node
            .attribute
            .iter()
            .filter(|a| {
                matches!(
                    a.name(),
                    "auto_pad" | "dilations" | "group" | "kernel_shape" | "pads" | "strides"
                )
            })
            .cloned()
            .collect();
        new_nodes.push(graph::node(
            "ConvInteger",
            &names.fresh(&format!("{label}_ConvInteger")),
            &[&a_q, q_name, &a_zp, zp_name],
            &[&integer_out],
            attributes,
        ));
    } else {
        new_nodes.push(graph::node(
            "MatMulInteger",
            &names.fresh(&format!("{label}_MatMulInteger")),
            &[&a_q, q_name, &a_zp, zp_name],
            &[&integer_out],
            Vec::new(),
        ));
    }
    let as_float = names.fresh(&format!("{label}_int32_float"));
    new_nodes.push(graph::node(
        "Cast",
        &names.fresh(&format!("{label}_int32_cast")),
        &[&integer_out],
        &[&as_float],
        vec![int_attr("to", i64::from(FLOAT))],
    ));
    let scale = names.fresh(&format!("{label}_output_scale"));
    new_nodes.push(graph::node(
        "Mul",
        &names.fresh(&format!("{label}_scale_mul")),
        &[&a_scale, scale_name],
        &[&scale],
        Vec::new(),
    ));
    let bias = bias_tensor(graph, node, scale_dims, names)?;
    let scaled = if bias.is_some() {
        names.fresh(&format!("{label}_scaled"))
    } else {
        output.to_owned()
    };
    new_nodes.push(graph::node(
        "Mul",
        &names.fresh(&format!("{label}_rescale")),
        &[&as_float, &scale],
        &[&scaled],
        Vec::new(),
    ));
    if let Some(bias) = bias {
        let bias_input = match bias {
            Bias::New(tensor) => {
                let name = tensor.name().to_owned();
                new_initializers.push(*tensor);
                name
            }
            Bias::Existing(name) => name,
        };
        new_nodes.push(graph::node(
            "Add",
            &names.fresh(&format!("{label}_bias_add")),
            &[&scaled, &bias_input],
            &[output],
            Vec::new(),
        ));
    }
    Ok(())
}

/// The bias to add after rescaling.
enum Bias {
    /// A new initializer (reshaped or scaled by beta).
    New(Box<TensorProto>),
    /// An existing tensor used as is.
    Existing(String),
}

/// Conv's bias reshaped to `[M, 1, 1]`; Gemm's C scaled by beta.
fn bias_tensor(
    graph: &crate::model::onnx::GraphProto,
    node: &NodeProto,
    scale_dims: &[i64],
    names: &mut Names,
) -> Result<Option<Bias>, TransformError> {
    let Some(bias) = node.input.get(2).filter(|b| !b.is_empty()) else {
        return Ok(None);
    };
    let constant = weights::lookup(graph, bias);
    if node.op_type() == "Conv" {
        let Some(info) = constant else {
            return Err(TransformError::Unsupported(format!(
                "Conv bias {bias:?} is not a constant"
            )));
        };
        let values = weights::values(graph, &info)?;
        return Ok(Some(Bias::New(Box::new(graph::float_tensor(
            &names.fresh(&format!("{bias}_reshaped")),
            scale_dims,
            &values,
        )))));
    }
    let beta = attr_float(node, "beta").unwrap_or(1.0);
    if beta == 1.0 {
        return Ok(Some(Bias::Existing(bias.clone())));
    }
    let Some(info) = constant else {
        return Err(TransformError::Unsupported(format!(
            "Gemm with beta={beta} and a non-constant C"
        )));
    };
    let values: Vec<f32> = weights::values(graph, &info)?
        .iter()
        .map(|v| v * beta)
        .collect();
    let dims: Vec<i64> = info.dims.iter().map(|d| *d as i64).collect();
    Ok(Some(Bias::New(Box::new(graph::float_tensor(
        &names.fresh(&format!("{bias}_beta")),
        &dims,
        &values,
    )))))
}

/// Transposes a row-major `rows × cols` matrix.
fn transpose(values: &[f32], rows: usize, cols: usize) -> Vec<f32> {
    let mut out = vec![0f32; values.len()];
    for row in 0..rows {
        for col in 0..cols {
            if let (Some(slot), Some(value)) =
                (out.get_mut(col * rows + row), values.get(row * cols + col))
            {
                *slot = *value;
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn per_channel_scales_and_values_match_hand_computation() {
        // A 2×3 MatMul weight [K=2, N=3], channels along axis 1 (columns).
        // Column maxima: 0.9921875 (127/128), 0.5, 0 → scales 1/128,
        // 0.5/127 and 1.0 for the all-zero column.
        let values = [0.5, -0.125, 0.0, -0.992_187_5, 0.5, 0.0];
        let (q, scales) = quantize_symmetric(&values, &[2, 3], 1, INT8_SYMMETRIC_MAX);
        assert_eq!(scales, vec![0.007_812_5, 0.5 / 127.0, 1.0]);
        // 0.5·128 = 64; -0.125·127/0.5 = -31.75 → -32; -0.9921875·128 = -127.
        assert_eq!(q, vec![64, -32, 0, -127, 127, 0]);
    }

    #[test]
    fn conv_channels_are_the_first_axis() {
        // Weight [M=2, C=1, 1, 2]: channel 0 = [0.5, -1.984375], channel 1 = [0.3, 0.1].
        let values = [0.5, -1.984_375, 0.3, 0.1];
        let (q, scales) = quantize_symmetric(&values, &[2, 1, 1, 2], 0, INT8_SYMMETRIC_MAX);
        assert_eq!(scales, vec![0.015_625, 0.3 / 127.0]);
        // 0.5·64 = 32; 0.1·127/0.3 = 42.33 → 42.
        assert_eq!(q, vec![32, -127, 127, 42]);
    }

    #[test]
    fn per_tensor_rounds_ties_to_even_and_transpose_is_exact() {
        let (q, scales) =
            quantize_symmetric(&[127.0, -63.5, 62.5, 300.0], &[4], 1, INT8_SYMMETRIC_MAX);
        assert_eq!(scales, vec![300.0 / 127.0]);
        let (q1, scales1) = quantize_symmetric(&[127.0, -63.5, 62.5], &[3], 1, INT8_SYMMETRIC_MAX);
        assert_eq!(scales1, vec![1.0]);
        assert_eq!(q1, vec![127, -64, 62]);
        assert_eq!(q.last(), Some(&127));
        // Dynamic mode's 7-bit weights: ±63.
        let (q7, scales7) =
            quantize_symmetric(&[63.0, -31.5, -100.0], &[3], 1, INT8_DYNAMIC_WEIGHT_MAX);
        assert_eq!(scales7, vec![100.0 / 63.0]);
        let (q7b, _) = quantize_symmetric(&[63.0, -31.5], &[2], 1, INT8_DYNAMIC_WEIGHT_MAX);
        assert_eq!(q7b, vec![63, -32]);
        assert_eq!(q7.last(), Some(&-63));
        assert_eq!(
            transpose(&[1.0, 2.0, 3.0, 4.0, 5.0, 6.0], 2, 3),
            vec![1.0, 4.0, 2.0, 5.0, 3.0, 6.0]
        );
    }
}
