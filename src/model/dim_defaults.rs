//! Sizes for the dynamic dims a user has not set, chosen from the graph and
//! its metadata instead of 1: an image's height and width, a sequence's
//! length. A 1×1 image or a one-token sentence runs, but measures nothing
//! anyone serves; these are what a run uses until the user sets the dim,
//! and every place that shows them says they were chosen.
//!
//! - Image inputs (float, rank 4, 1/3/4 channels, NCHW or NHWC): the size in
//!   the model's metadata (`image_size`, `img_size`, `input_size`, `imgsz`),
//!   else the `sizes` of a Resize reading the input, else 640 when the
//!   model resizes inside (detectors and segmenters: their feature pyramid
//!   needs sizes that divide by its stride), else 224 (a classifier's
//!   ImageNet size).
//! - Token inputs (integer, rank 2, like `input_ids` and `attention_mask`)
//!   and dims named for a sequence (`seq`, `sequence_length`, `tokens`):
//!   128 tokens. Decoders with a KV cache are left alone: the token loop
//!   sets their sequence dims itself.
//!
//! The batch axis (0) is never chosen here: it stays 1 unless set.

use serde::{Deserialize, Serialize};

use super::node::is_default_domain;
use super::onnx::{GraphProto, ModelProto};
use super::shapes::{DEFAULT_DIM_VALUE, ShapeBinding};
use super::tensor::inline_int_values;
use super::types::{Dim, ElemType, TensorInfo};

/// The default length of a token sequence.
pub const DEFAULT_SEQUENCE_LENGTH: i64 = 128;
/// The default image size of a classifier.
pub const DEFAULT_CLASSIFIER_IMAGE: i64 = 224;
/// The default image size of a model that resizes inside (detectors).
pub const DEFAULT_DETECTOR_IMAGE: i64 = 640;

/// A size chosen for one dynamic dim.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DimDefault {
    /// The input.
    pub input: String,
    /// The axis.
    pub axis: usize,
    /// The dim's name; `None` when unnamed.
    pub symbol: Option<String>,
    /// The size chosen.
    pub value: i64,
    /// Why, e.g. "image height: a classifier's usual size".
    pub reason: String,
}

/// The chosen sizes of `inputs` (the graph inputs a caller feeds) of
/// `proto`; a symbol shared by several inputs is chosen once, by the first.
pub fn dim_defaults(proto: &ModelProto, inputs: &[TensorInfo]) -> Vec<DimDefault> {
    let Some(graph) = proto.graph.as_ref() else {
        return Vec::new();
    };
    let mut chosen: Vec<DimDefault> = Vec::new();
    for input in inputs {
        let Some(shape) = input.shape.as_deref() else {
            continue;
        };
        for (axis, value, reason) in input_defaults(proto, graph, input, shape) {
            let Some(dim) = shape.get(axis) else {
                continue;
            };
            let symbol = match dim {
                Dim::Fixed(_) => continue,
                Dim::Symbolic(name) => Some(name.clone()),
                Dim::Unnamed => None,
            };
            if symbol.is_some() && chosen.iter().any(|c| c.symbol == symbol) {
                continue;
            }
            chosen.push(DimDefault {
                input: input.name.clone(),
                axis,
                symbol,
                value,
                reason,
            });
        }
    }
    chosen
}

/// `(axis, size, reason)` for the dynamic non-batch axes of one input.
fn input_defaults(
    proto: &ModelProto,
    graph: &GraphProto,
    input: &TensorInfo,
    shape: &[Dim],
) -> Vec<(usize, i64, String)> {
    let dynamic = |axis: usize| !matches!(shape.get(axis), Some(Dim::Fixed(_)) | None);
    let channels = |axis: usize| matches!(shape.get(axis), Some(Dim::Fixed(1 | 3 | 4)));
    if input.dtype.is_float() && shape.len() == 4 {
        let spatial = if channels(1) {
            [2, 3]
        } else if channels(3) {
            [1, 2]
        } else {
            return Vec::new();
        };
        let (size, why) = image_size(proto, graph, &input.name, spatial);
        return spatial
            .iter()
            .zip(["height", "width"])
            .enumerate()
            .filter(|(_, (axis, _))| dynamic(**axis))
            .map(|(index, (axis, what))| (*axis, size[index], format!("image {what}: {why}")))
            .collect();
    }
    let is_integer = matches!(input.dtype, ElemType::Int64 | ElemType::Int32);
    let sequence = |axis: usize| {
        (
            axis,
            DEFAULT_SEQUENCE_LENGTH,
            format!("sequence length: {DEFAULT_SEQUENCE_LENGTH} tokens, a typical request"),
        )
    };
    if is_integer && shape.len() == 2 && dynamic(1) {
        return vec![sequence(1)];
    }
    // Embeddings and the like: a dim named for a sequence.
    shape
        .iter()
        .enumerate()
        .skip(1)
        .filter(|(_, dim)| match dim {
            Dim::Symbolic(name) => {
                let name = name.to_ascii_lowercase();
                ["seq", "len", "token"]
                    .iter()
                    .any(|word| name.contains(word))
            }
            _ => false,
        })
        .map(|(axis, _)| sequence(axis))
        .collect()
}

/// The image size for an input whose spatial axes are `spatial`, and why.
fn image_size(
    proto: &ModelProto,
    graph: &GraphProto,
    input: &str,
    spatial: [usize; 2],
) -> ([i64; 2], String) {
    if let Some(size) = metadata_size(proto) {
        return (size, "the model's metadata".to_owned());
    }
    if let Some(size) = resize_sizes(graph, input, spatial) {
        return (
            size,
            "the size its first Resize scales the input to".to_owned(),
        );
    }
    let resizes = graph
        .node
        .iter()
        .any(|node| is_default_domain(node) && matches!(node.op_type(), "Resize" | "Upsample"));
    if resizes {
        (
            [DEFAULT_DETECTOR_IMAGE; 2],
            "a detector's usual size, as the model resizes inside".to_owned(),
        )
    } else {
        (
            [DEFAULT_CLASSIFIER_IMAGE; 2],
            "a classifier's usual size".to_owned(),
        )
    }
}

/// `image_size`-like metadata: one number, or `H x W` / `H,W`.
fn metadata_size(proto: &ModelProto) -> Option<[i64; 2]> {
    const KEYS: [&str; 4] = ["image_size", "img_size", "input_size", "imgsz"];
    let entry = proto
        .metadata_props
        .iter()
        .find(|entry| KEYS.contains(&entry.key().to_ascii_lowercase().as_str()))?;
    let numbers: Vec<i64> = entry
        .value()
        .split(|c: char| !c.is_ascii_digit())
        .filter(|part| !part.is_empty())
        .filter_map(|part| part.parse().ok())
        .filter(|n| (8..=16_384).contains(n))
        .collect();
    match numbers.as_slice() {
        [size] => Some([*size, *size]),
        [height, width] => Some([*height, *width]),
        _ => None,
    }
}

/// The spatial `sizes` of a Resize that reads `input` directly, when they
/// are a stored constant.
fn resize_sizes(graph: &GraphProto, input: &str, spatial: [usize; 2]) -> Option<[i64; 2]> {
    graph.node.iter().find_map(|node| {
        if !is_default_domain(node)
            || node.op_type() != "Resize"
            || node.input.first().map(String::as_str) != Some(input)
        {
            return None;
        }
        let sizes_name = node.input.get(3).filter(|name| !name.is_empty())?;
        let tensor = super::weights::stored_tensor(graph, sizes_name)?;
        let sizes = inline_int_values(tensor)?;
        Some([*sizes.get(spatial[0])?, *sizes.get(spatial[1])?])
    })
}

impl super::Model {
    /// [`dim_defaults`] of the model's fed inputs; none for a decoder with
    /// a KV cache. What [`super::ModelSummary::dim_defaults`] holds, without
    /// the rest of the summary.
    pub fn chosen_dims(&self) -> Vec<DimDefault> {
        let Some(graph) = self.proto.graph.as_ref() else {
            return Vec::new();
        };
        let (inputs, outputs) = super::types::graph_io(graph, &mut Vec::new());
        if super::generative::detect_from(&inputs, &outputs, graph).is_ok() {
            return Vec::new();
        }
        dim_defaults(&self.proto, &inputs)
    }
}

/// The binding a run with nothing set uses: the batch at 1, the chosen
/// defaults, and 1 for any other dynamic dim.
pub fn default_binding(defaults: &[DimDefault], inputs: &[TensorInfo]) -> ShapeBinding {
    let dims = defaults
        .iter()
        .filter_map(|d| Some((d.symbol.clone()?, d.value)))
        .collect();
    let input_shapes = inputs
        .iter()
        .filter(|input| {
            defaults
                .iter()
                .any(|d| d.symbol.is_none() && d.input == input.name)
        })
        .filter_map(|input| {
            let shape = input.shape.as_ref()?;
            let values = shape
                .iter()
                .enumerate()
                .map(|(axis, dim)| match dim {
                    Dim::Fixed(value) => *value,
                    _ => defaults
                        .iter()
                        .find(|d| {
                            (d.input == input.name && d.axis == axis)
                                || (d.symbol.is_some() && d.symbol.as_ref() == dim_symbol(dim))
                        })
                        .map_or(DEFAULT_DIM_VALUE, |d| d.value),
                })
                .collect();
            Some((input.name.clone(), values))
        })
        .collect();
    ShapeBinding { dims, input_shapes }
}

fn dim_symbol(dim: &Dim) -> Option<&String> {
    match dim {
        Dim::Symbolic(name) => Some(name),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::Model;
    use crate::model::test_util::fixture;

    fn defaults_of(file: &str) -> Vec<(Option<String>, i64)> {
        let model = Model::load(&fixture(file)).expect("model");
        let summary = model.summary();
        dim_defaults(&model.proto, &summary.inputs)
            .into_iter()
            .map(|d| (d.symbol, d.value))
            .collect()
    }

    #[test]
    fn a_classifier_image_is_224_and_a_detector_640() {
        // x [N, 3, H, W], no Resize: a classifier.
        assert_eq!(
            defaults_of("dynamic_image.onnx"),
            vec![(Some("H".to_owned()), 224), (Some("W".to_owned()), 224)]
        );
        // A Resize inside: a detector's size.
        let resize = defaults_of("resize_expand.onnx");
        assert!(resize.iter().all(|(_, value)| *value == 640), "{resize:?}");
    }

    #[test]
    fn metadata_sizes_parse() {
        let mut proto = ModelProto::default();
        for (value, expected) in [
            ("384", Some([384, 384])),
            ("480x640", Some([480, 640])),
            ("[320, 320]", Some([320, 320])),
            ("big", None),
        ] {
            proto.metadata_props = vec![crate::model::onnx::StringStringEntryProto {
                key: Some("image_size".to_owned()),
                value: Some(value.to_owned()),
            }];
            assert_eq!(metadata_size(&proto), expected, "{value}");
        }
    }
}
