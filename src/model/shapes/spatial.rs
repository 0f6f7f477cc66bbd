//! Shape rules of the windowed ops: Conv, ConvTranspose and the pools.

use super::rules::div_ceil;
use super::state::State;
use crate::model::node::{attr_int, attr_ints, attr_string};
use crate::model::onnx::NodeProto;

/// Spatial geometry shared by Conv and the pools.
struct Window {
    kernel: Vec<i64>,
    strides: Vec<i64>,
    dilations: Vec<i64>,
    pads: Vec<i64>,
    auto_pad: String,
}

impl Window {
    fn from_node(node: &NodeProto, kernel: Vec<i64>) -> Option<Self> {
        let rank = kernel.len();
        let strides = attr_ints(node, "strides").unwrap_or_else(|| vec![1; rank]);
        let dilations = attr_ints(node, "dilations").unwrap_or_else(|| vec![1; rank]);
        let pads = attr_ints(node, "pads").unwrap_or_else(|| vec![0; 2 * rank]);
        let auto_pad = attr_string(node, "auto_pad").unwrap_or_else(|| "NOTSET".to_owned());
        let is_valid = strides.len() == rank
            && dilations.len() == rank
            && pads.len() == 2 * rank
            && strides.iter().chain(&dilations).all(|&v| v > 0);
        is_valid.then_some(Self {
            kernel,
            strides,
            dilations,
            pads,
            auto_pad,
        })
    }

    /// Output spatial dims for input spatial dims, with ONNX's formulas.
    /// Computed in i128 so that absurd attributes cannot overflow.
    fn output(&self, input: &[i64], ceil_mode: bool) -> Option<Vec<i64>> {
        if input.len() != self.kernel.len() {
            return None;
        }
        let rank = input.len();
        let wide = |values: &[i64], i: usize| values.get(i).copied().map(i128::from);
        (0..rank)
            .map(|i| {
                let size = wide(input, i)?;
                let stride = wide(&self.strides, i)?;
                let effective_kernel = (wide(&self.kernel, i)? - 1) * wide(&self.dilations, i)? + 1;
                let pad_begin = wide(&self.pads, i)?;
                let pad_end = wide(&self.pads, i + rank)?;
                let out = match self.auto_pad.as_str() {
                    "SAME_UPPER" | "SAME_LOWER" => div_ceil(size, stride),
                    "VALID" => div_ceil(size - effective_kernel + 1, stride),
                    _ => {
                        let span = size + pad_begin + pad_end - effective_kernel;
                        if span < 0 {
                            return None;
                        }
                        let mut out = if ceil_mode {
                            div_ceil(span, stride)
                        } else {
                            span / stride
                        } + 1;
                        // The last window must start inside the input or left padding.
                        if ceil_mode && (out - 1) * stride >= size + pad_begin {
                            out -= 1;
                        }
                        out
                    }
                };
                i64::try_from(out).ok().filter(|&out| out >= 0)
            })
            .collect()
    }
}

pub(super) fn conv(state: &State, node: &NodeProto) -> Option<Vec<i64>> {
    let x = state.shape(node, 0)?;
    let w = state.shape(node, 1)?;
    let group = attr_int(node, "group").unwrap_or(1);
    // Input channels must match the weight's (C_in / group) x group.
    if x.len() < 3 || w.len() != x.len() || Some(x[1]) != w[1].checked_mul(group) {
        return None;
    }
    let kernel = attr_ints(node, "kernel_shape").unwrap_or_else(|| w[2..].to_vec());
    let window = Window::from_node(node, kernel)?;
    let spatial = window.output(&x[2..], false)?;
    Some([x[0], w[0]].into_iter().chain(spatial).collect())
}

pub(super) fn conv_transpose(state: &State, node: &NodeProto) -> Option<Vec<i64>> {
    let x = state.shape(node, 0)?;
    let w = state.shape(node, 1)?;
    // The weight is [C_in, C_out / group, k...].
    if x.len() < 3 || w.len() != x.len() || x[1] != w[0] {
        return None;
    }
    let group = attr_int(node, "group").unwrap_or(1);
    let channels = w[1].checked_mul(group)?;
    let rank = x.len() - 2;
    if let Some(output_shape) = attr_ints(node, "output_shape") {
        let spatial = output_shape.get(output_shape.len().checked_sub(rank)?..)?;
        return Some(
            [x[0], channels]
                .into_iter()
                .chain(spatial.iter().copied())
                .collect(),
        );
    }
    let kernel = attr_ints(node, "kernel_shape").unwrap_or_else(|| w[2..].to_vec());
    let window = Window::from_node(node, kernel)?;
    let output_padding = attr_ints(node, "output_padding").unwrap_or_else(|| vec![0; rank]);
    let wide = |values: &[i64], i: usize| values.get(i).copied().map(i128::from);
    let spatial = (0..rank)
        .map(|i| {
            let size = wide(x, i + 2)?;
            let stride = wide(&window.strides, i)?;
            let out = if matches!(window.auto_pad.as_str(), "SAME_UPPER" | "SAME_LOWER") {
                size * stride
            } else {
                let effective_kernel =
                    (wide(&window.kernel, i)? - 1) * wide(&window.dilations, i)? + 1;
                stride * (size - 1) + wide(&output_padding, i)? + effective_kernel
                    - wide(&window.pads, i)?
                    - wide(&window.pads, i + rank)?
            };
            i64::try_from(out).ok().filter(|&out| out >= 0)
        })
        .collect::<Option<Vec<_>>>()?;
    Some([x[0], channels].into_iter().chain(spatial).collect())
}

pub(super) fn pool(state: &State, node: &NodeProto) -> Option<Vec<i64>> {
    let x = state.shape(node, 0)?;
    if x.len() < 3 {
        return None;
    }
    let window = Window::from_node(node, attr_ints(node, "kernel_shape")?)?;
    let ceil_mode = attr_int(node, "ceil_mode").unwrap_or(0) != 0;
    let spatial = window.output(&x[2..], ceil_mode)?;
    Some(x[..2].iter().copied().chain(spatial).collect())
}
