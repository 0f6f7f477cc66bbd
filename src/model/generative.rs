//! Recognises generative decoders: models called once per token that carry
//! a KV cache from step to step, in the layouts users have.
//!
//! - **Optimum** (Hugging Face's ONNX exporter, "decoder with past"):
//!   `input_ids`, `attention_mask`, optionally `position_ids`, and
//!   `past_key_values.N.key/value` in; `logits` and `present.N.key/value`
//!   out. The past grows by the tokens of each call.
//! - **Optimum merged**: the same plus a `use_cache_branch` input that
//!   selects the prefill branch (past ignored) or the decode branch.
//! - **GenAI shared buffer** (ONNX Runtime GenAI's model builder):
//!   `GroupQueryAttention` nodes, past and present of a maximum length
//!   (one buffer advanced in place), with `seqlens_k` and
//!   `total_sequence_length` derived from the attention mask.
//!
//! Detection reads only the graph's declared inputs, outputs and nodes; it
//! never runs the model.

use serde::{Deserialize, Serialize};

use super::{Dim, ElemType, Model, TensorInfo, onnx};

/// Which decoder layout a model has.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum LayoutKind {
    /// Hugging Face/optimum "decoder with past": the past grows per call.
    Optimum,
    /// Optimum's merged decoder with a `use_cache_branch` input.
    OptimumMerged,
    /// ONNX Runtime GenAI: `GroupQueryAttention` over a past/present buffer
    /// of maximum length.
    GenAiSharedBuffer,
}

impl LayoutKind {
    /// A short description for reports.
    pub fn describe(self) -> &'static str {
        match self {
            Self::Optimum => "Hugging Face/optimum decoder with past",
            Self::OptimumMerged => "Hugging Face/optimum merged decoder (use_cache_branch)",
            Self::GenAiSharedBuffer => {
                "ONNX Runtime GenAI (GroupQueryAttention, shared past/present buffer)"
            }
        }
    }
}

/// One layer's cache tensors: the past inputs and the present outputs.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct KvLayer {
    pub past_key: String,
    pub past_value: String,
    pub present_key: String,
    pub present_value: String,
}

/// What a generative model looks like to a token loop.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct DecoderLayout {
    pub kind: LayoutKind,
    /// The token ids input.
    pub input_ids: String,
    /// Its element type (int64 or int32).
    pub ids_dtype: ElemType,
    pub attention_mask: Option<String>,
    pub position_ids: Option<String>,
    /// Merged decoders: the boolean input that picks the branch.
    pub use_cache_branch: Option<String>,
    /// The logits output, `[batch, sequence, vocab]`.
    pub logits: String,
    /// The cache tensors, layer by layer.
    pub layers: Vec<KvLayer>,
    /// Key/value heads per layer (the past's dim 1).
    pub kv_heads: u64,
    /// Query heads, when an attention node says (grouped-query attention
    /// has fewer key/value heads than query heads).
    pub query_heads: Option<u64>,
    /// Size of one head (the past's dim 3).
    pub head_size: u64,
    /// Vocabulary size: the logits' last dim, or the rows of the token
    /// embedding table.
    pub vocab: Option<u64>,
    /// Element type of the cache.
    pub kv_dtype: ElemType,
    /// Cache bytes per token of one sequence: layers × 2 × heads × head
    /// size × element size.
    pub kv_bytes_per_token: u64,
    /// The most positions the model can take: its position table's rows,
    /// or a fixed shared buffer's length.
    pub max_positions: Option<u64>,
    /// Where `max_positions` comes from.
    pub max_positions_source: Option<String>,
}

impl DecoderLayout {
    /// Bytes of the cache of `sequences` sequences of `tokens` tokens.
    pub fn kv_bytes(&self, sequences: u64, tokens: u64) -> u64 {
        self.kv_bytes_per_token
            .saturating_mul(tokens)
            .saturating_mul(sequences)
    }
}

/// Why a model is not a decoder the token loop can drive.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum LayoutError {
    #[error(
        "not a generative model: {0} (a decoder with a KV cache has `input_ids`, `past_key_values.N.key/value` inputs and `logits`, `present.N.key/value` outputs)"
    )]
    NotGenerative(String),
    #[error("malformed KV cache layout: {0}")]
    Malformed(String),
    #[error(
        "unsupported decoder input {name:?}: the token loop feeds input_ids, attention_mask, position_ids, use_cache_branch and the past only{hint}"
    )]
    UnsupportedInput { name: String, hint: &'static str },
}

/// Recognises the decoder layout of `model`.
pub fn detect(model: &Model) -> Result<DecoderLayout, LayoutError> {
    let summary = model.summary();
    let empty = onnx::GraphProto::default();
    let graph = model.proto.graph.as_ref().unwrap_or(&empty);
    detect_from(&summary.inputs, &summary.outputs, graph)
}

/// [`detect`] on a model's declared inputs and outputs (as in its summary).
pub(crate) fn detect_from(
    inputs: &[TensorInfo],
    outputs: &[TensorInfo],
    graph: &onnx::GraphProto,
) -> Result<DecoderLayout, LayoutError> {
    let find_input = |name: &str| inputs.iter().find(|input| input.name == name);
    let Some(ids) = find_input("input_ids") else {
        return Err(LayoutError::NotGenerative(
            "it has no `input_ids` input".into(),
        ));
    };
    if !matches!(ids.dtype, ElemType::Int64 | ElemType::Int32) {
        return Err(LayoutError::Malformed(format!(
            "`input_ids` is {}, not int64 or int32",
            ids.dtype
        )));
    }
    let pasts: Vec<&TensorInfo> = inputs
        .iter()
        .filter(|input| past_suffix(&input.name).is_some())
        .collect();
    if pasts.is_empty() {
        return Err(LayoutError::NotGenerative(
            "it has no `past_key_values.*` inputs, so it carries no KV cache".into(),
        ));
    }
    let logits = outputs
        .iter()
        .find(|output| output.name == "logits")
        .or_else(|| {
            outputs
                .first()
                .filter(|output| output.shape.as_ref().is_some_and(|s| s.len() == 3))
        })
        .ok_or_else(|| LayoutError::NotGenerative("it has no `logits` output".into()))?;

    let layers = pair_layers(&pasts, outputs)?;
    let first = pasts[0];
    let (kv_heads, head_size) = head_dims(first)?;
    for past in &pasts {
        if head_dims(past)? != (kv_heads, head_size) || past.dtype != first.dtype {
            return Err(LayoutError::Malformed(format!(
                "{:?} is {} {}, unlike {:?} ({} {})",
                past.name,
                past.dtype,
                shape_text(past),
                first.name,
                first.dtype,
                shape_text(first)
            )));
        }
    }
    for layer in &layers {
        for (past, present) in [
            (&layer.past_key, &layer.present_key),
            (&layer.past_value, &layer.present_value),
        ] {
            let present_info = outputs.iter().find(|output| &output.name == present);
            if let Some(present_info) = present_info
                && let Ok(dims) = head_dims(present_info)
                && dims != (kv_heads, head_size)
            {
                return Err(LayoutError::Malformed(format!(
                    "{present:?} has {} heads of size {}, but {past:?} has {kv_heads} of size {head_size}",
                    dims.0, dims.1
                )));
            }
        }
    }

    let known = [
        "input_ids",
        "attention_mask",
        "position_ids",
        "use_cache_branch",
    ];
    for input in inputs {
        if known.contains(&input.name.as_str()) || past_suffix(&input.name).is_some() {
            continue;
        }
        let hint = if input.name.contains("encoder") {
            " (encoder-decoder models are not supported)"
        } else if input.name == "token_type_ids" {
            " (an encoder's input)"
        } else {
            ""
        };
        return Err(LayoutError::UnsupportedInput {
            name: input.name.clone(),
            hint,
        });
    }

    let nodes = all_nodes(graph);
    let gqa = nodes
        .iter()
        .find(|node| node.op_type() == "GroupQueryAttention");
    let use_cache_branch = find_input("use_cache_branch").map(|input| input.name.clone());
    let kind = if gqa.is_some() {
        LayoutKind::GenAiSharedBuffer
    } else if use_cache_branch.is_some() {
        LayoutKind::OptimumMerged
    } else {
        LayoutKind::Optimum
    };
    let query_heads = nodes
        .iter()
        .filter(|node| {
            matches!(
                node.op_type(),
                "GroupQueryAttention" | "MultiHeadAttention" | "Attention"
            )
        })
        .find_map(|node| super::node::attr_int(node, "num_heads"))
        .and_then(|heads| u64::try_from(heads).ok());
    let attention_mask = find_input("attention_mask").map(|input| input.name.clone());
    let position_ids = find_input("position_ids").map(|input| input.name.clone());
    if kind == LayoutKind::GenAiSharedBuffer && attention_mask.is_none() {
        return Err(LayoutError::Malformed(
            "a GroupQueryAttention decoder needs an `attention_mask` input (its seqlens_k and total_sequence_length come from it)".into(),
        ));
    }

    let token_table = gather_table(graph, |indices| indices == "input_ids");
    let vocab = logits
        .shape
        .as_ref()
        .and_then(|shape| shape.last())
        .and_then(|dim| match dim {
            Dim::Fixed(size) => u64::try_from(*size).ok(),
            _ => None,
        })
        .or(token_table.as_ref().map(|(_, rows)| *rows));
    let (max_positions, max_positions_source) = max_positions(
        graph,
        kind,
        first,
        token_table.as_ref().map(|(name, _)| name.as_str()),
    );

    let element_bytes = first.dtype.size_bytes().ok_or_else(|| {
        LayoutError::Malformed(format!(
            "the cache's element type {} has no size",
            first.dtype
        ))
    })? as u64;
    Ok(DecoderLayout {
        kind,
        input_ids: ids.name.clone(),
        ids_dtype: ids.dtype,
        attention_mask,
        position_ids,
        use_cache_branch,
        logits: logits.name.clone(),
        kv_bytes_per_token: (layers.len() as u64)
            .saturating_mul(2 * kv_heads * head_size)
            .saturating_mul(element_bytes),
        layers,
        kv_heads,
        query_heads,
        head_size,
        vocab,
        kv_dtype: first.dtype,
        max_positions,
        max_positions_source,
    })
}

/// `key`/`value` and the layer part of a past input's name, for
/// `past_key_values.3.key` (optimum, GenAI) or `past.3.key`.
fn past_suffix(name: &str) -> Option<&str> {
    let rest = name
        .strip_prefix("past_key_values.")
        .or_else(|| name.strip_prefix("past."))?;
    (rest.ends_with(".key") || rest.ends_with(".value")).then_some(rest)
}

/// Pairs each layer's past key and value with their present outputs.
fn pair_layers(pasts: &[&TensorInfo], outputs: &[TensorInfo]) -> Result<Vec<KvLayer>, LayoutError> {
    let present_of = |past: &str| -> Result<String, LayoutError> {
        let rest = past_suffix(past).unwrap_or(past);
        let candidates = [
            format!("present.{rest}"),
            format!("present_key_values.{rest}"),
        ];
        candidates
            .into_iter()
            .find(|candidate| outputs.iter().any(|output| &output.name == candidate))
            .ok_or_else(|| {
                LayoutError::Malformed(format!(
                    "the past input {past:?} has no matching `present.{rest}` output"
                ))
            })
    };
    let mut layers: Vec<(String, KvLayer)> = Vec::new();
    for past in pasts {
        let rest = past_suffix(&past.name).unwrap_or_default();
        let (layer, is_key) = match rest.strip_suffix(".key") {
            Some(layer) => (layer, true),
            None => (rest.strip_suffix(".value").unwrap_or(rest), false),
        };
        let present = present_of(&past.name)?;
        let index = match layers.iter().position(|(name, _)| name == layer) {
            Some(index) => index,
            None => {
                layers.push((
                    layer.to_owned(),
                    KvLayer {
                        past_key: String::new(),
                        past_value: String::new(),
                        present_key: String::new(),
                        present_value: String::new(),
                    },
                ));
                layers.len() - 1
            }
        };
        let entry = &mut layers[index].1;
        if is_key {
            entry.past_key = past.name.clone();
            entry.present_key = present;
        } else {
            entry.past_value = past.name.clone();
            entry.present_value = present;
        }
    }
    layers
        .into_iter()
        .map(|(layer, entry)| {
            if entry.past_key.is_empty() || entry.past_value.is_empty() {
                Err(LayoutError::Malformed(format!(
                    "layer {layer} has a past {} but no past {}",
                    if entry.past_key.is_empty() {
                        "value"
                    } else {
                        "key"
                    },
                    if entry.past_key.is_empty() {
                        "key"
                    } else {
                        "value"
                    },
                )))
            } else {
                Ok(entry)
            }
        })
        .collect()
}

/// Heads and head size of a `[batch, heads, sequence, head size]` cache
/// tensor; both must be fixed.
fn head_dims(info: &TensorInfo) -> Result<(u64, u64), LayoutError> {
    let fixed = |dim: &Dim| match dim {
        Dim::Fixed(size) => u64::try_from(*size).ok(),
        _ => None,
    };
    match info.shape.as_deref() {
        Some([_, heads, _, head_size]) => match (fixed(heads), fixed(head_size)) {
            (Some(heads), Some(head_size)) if heads > 0 && head_size > 0 => Ok((heads, head_size)),
            _ => Err(LayoutError::Malformed(format!(
                "{:?} is {}: its heads (dim 1) and head size (dim 3) must be fixed",
                info.name,
                shape_text(info)
            ))),
        },
        _ => Err(LayoutError::Malformed(format!(
            "{:?} is {}, not [batch, heads, sequence, head size]",
            info.name,
            shape_text(info)
        ))),
    }
}

fn shape_text(info: &TensorInfo) -> String {
    super::format_shape(info.shape.as_deref())
}

/// A `Gather` over a 2-D initializer whose indices satisfy `indices`:
/// the table's name and rows.
fn gather_table(graph: &onnx::GraphProto, indices: impl Fn(&str) -> bool) -> Option<(String, u64)> {
    all_nodes(graph).into_iter().find_map(|node| {
        if node.op_type() != "Gather" || node.input.len() < 2 || !indices(&node.input[1]) {
            return None;
        }
        let rows = initializer_rows(graph, &node.input[0])?;
        Some((node.input[0].clone(), rows))
    })
}

/// The nodes of the graph and of its subgraphs (a merged decoder's
/// branches).
fn all_nodes(graph: &onnx::GraphProto) -> Vec<&onnx::NodeProto> {
    let mut nodes = Vec::new();
    super::walk::for_each_graph(graph, &mut |g| nodes.extend(g.node.iter()));
    nodes
}

/// Rows of a 2-D initializer.
fn initializer_rows(graph: &onnx::GraphProto, name: &str) -> Option<u64> {
    let tensor = graph
        .initializer
        .iter()
        .find(|tensor| tensor.name() == name)?;
    match tensor.dims.as_slice() {
        [rows, _] => u64::try_from(*rows).ok(),
        _ => None,
    }
}

/// The most positions the model takes, and where that comes from.
fn max_positions(
    graph: &onnx::GraphProto,
    kind: LayoutKind,
    past: &TensorInfo,
    token_table: Option<&str>,
) -> (Option<u64>, Option<String>) {
    if kind == LayoutKind::GenAiSharedBuffer {
        if let Some(Dim::Fixed(length)) = past.shape.as_ref().and_then(|shape| shape.get(2))
            && let Ok(length) = u64::try_from(*length)
        {
            return (
                Some(length),
                Some(format!("the fixed length of {:?}", past.name)),
            );
        }
        // The rotary caches hold one row per position.
        for node in all_nodes(graph) {
            if node.op_type() == "GroupQueryAttention"
                && let Some(cos) = node.input.get(7).filter(|name| !name.is_empty())
                && let Some(rows) = initializer_rows(graph, cos)
            {
                return (
                    Some(rows),
                    Some(format!("the rows of the rotary cache {cos:?}")),
                );
            }
        }
    }
    // A position embedding table: a 2-D Gather table other than the tokens'.
    let table = gather_table(graph, |indices| indices == "position_ids").or_else(|| {
        all_nodes(graph).into_iter().find_map(|node| {
            if node.op_type() != "Gather" || node.input.len() < 2 {
                return None;
            }
            let name = &node.input[0];
            if Some(name.as_str()) == token_table || node.input[1] == "input_ids" {
                return None;
            }
            let lower = name.to_ascii_lowercase();
            let looks_positional =
                lower.contains("pos") || lower.contains("wpe") || lower.contains("position");
            looks_positional
                .then(|| initializer_rows(graph, name).map(|rows| (name.clone(), rows)))
                .flatten()
        })
    });
    match table {
        Some((name, rows)) => (Some(rows), Some(format!("the position table {name:?}"))),
        None => (None, None),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn info(name: &str, dtype: ElemType, dims: &[Dim]) -> TensorInfo {
        TensorInfo {
            name: name.to_owned(),
            dtype,
            shape: Some(dims.to_vec()),
        }
    }

    fn sym(name: &str) -> Dim {
        Dim::Symbolic(name.to_owned())
    }

    fn decoder_io(layers: usize) -> (Vec<TensorInfo>, Vec<TensorInfo>) {
        let kv = [sym("batch"), Dim::Fixed(4), sym("past"), Dim::Fixed(8)];
        let mut inputs = vec![
            info("input_ids", ElemType::Int64, &[sym("batch"), sym("seq")]),
            info(
                "attention_mask",
                ElemType::Int64,
                &[sym("batch"), sym("total")],
            ),
        ];
        let mut outputs = vec![info(
            "logits",
            ElemType::Float,
            &[sym("batch"), sym("seq"), Dim::Fixed(64)],
        )];
        for layer in 0..layers {
            for part in ["key", "value"] {
                inputs.push(info(
                    &format!("past_key_values.{layer}.{part}"),
                    ElemType::Float,
                    &kv,
                ));
                outputs.push(info(
                    &format!("present.{layer}.{part}"),
                    ElemType::Float,
                    &kv,
                ));
            }
        }
        (inputs, outputs)
    }

    #[test]
    fn an_optimum_decoder_is_recognised_with_its_cache_size() {
        let (inputs, outputs) = decoder_io(2);
        let layout = detect_from(&inputs, &outputs, &onnx::GraphProto::default()).expect("layout");
        assert_eq!(layout.kind, LayoutKind::Optimum);
        assert_eq!(layout.layers.len(), 2);
        assert_eq!(layout.layers[1].present_value, "present.1.value");
        assert_eq!((layout.kv_heads, layout.head_size), (4, 8));
        assert_eq!(layout.vocab, Some(64));
        // 2 layers × (key + value) × 4 heads × 8 × 4 bytes.
        assert_eq!(layout.kv_bytes_per_token, 2 * 2 * 4 * 8 * 4);
        assert_eq!(layout.kv_bytes(3, 10), 3 * 10 * 512);
    }

    #[test]
    fn a_model_without_a_cache_is_not_generative() {
        let inputs = vec![info("input_ids", ElemType::Int64, &[sym("b"), sym("s")])];
        let outputs = vec![info(
            "logits",
            ElemType::Float,
            &[sym("b"), sym("s"), Dim::Fixed(5)],
        )];
        let err = detect_from(&inputs, &outputs, &onnx::GraphProto::default()).expect_err("fails");
        assert!(matches!(err, LayoutError::NotGenerative(_)), "{err}");
        let err = detect_from(&[], &outputs, &onnx::GraphProto::default()).expect_err("fails");
        assert!(err.to_string().contains("input_ids"), "{err}");
    }

    #[test]
    fn a_past_without_its_present_is_malformed() {
        let (inputs, mut outputs) = decoder_io(2);
        outputs.retain(|output| output.name != "present.1.key");
        let err = detect_from(&inputs, &outputs, &onnx::GraphProto::default()).expect_err("fails");
        assert!(err.to_string().contains("past_key_values.1.key"), "{err}");
        let (mut inputs, outputs) = decoder_io(1);
        inputs.retain(|input| input.name != "past_key_values.0.value");
        let err = detect_from(&inputs, &outputs, &onnx::GraphProto::default()).expect_err("fails");
        assert!(err.to_string().contains("no past value"), "{err}");
    }

    #[test]
    fn disagreeing_head_sizes_are_malformed() {
        let (inputs, mut outputs) = decoder_io(1);
        outputs[1].shape = Some(vec![sym("b"), Dim::Fixed(4), sym("t"), Dim::Fixed(16)]);
        let err = detect_from(&inputs, &outputs, &onnx::GraphProto::default()).expect_err("fails");
        assert!(matches!(err, LayoutError::Malformed(_)), "{err}");
    }

    #[test]
    fn an_encoder_input_is_refused_by_name() {
        let (mut inputs, outputs) = decoder_io(1);
        inputs.push(info(
            "encoder_hidden_states",
            ElemType::Float,
            &[sym("b"), sym("s"), Dim::Fixed(8)],
        ));
        let err = detect_from(&inputs, &outputs, &onnx::GraphProto::default()).expect_err("fails");
        assert!(err.to_string().contains("encoder-decoder"), "{err}");
    }
}
