//! float32 → float16 conversion of the main graph.
//!
//! Every float32 tensor becomes float16 (initializers, `Constant` and
//! `ConstantOfShape` values, value_info, `Cast` targets), values clamped into
//! the float16 range. Nodes that must stay float32 (the block list, ops that
//! ONNX Runtime rejected, custom domains) keep float32 inputs and outputs,
//! with `Cast` nodes at every precision boundary. Graph inputs and outputs
//! stay float32 unless `fp16_io` is set.

use std::collections::{BTreeSet, HashMap, HashSet};

use half::f16;
use serde::{Deserialize, Serialize};

use super::TransformError;
use super::graph::{
    self, FLOAT, FLOAT16, Names, attr_int, int_attr, is_default_domain, node_label,
    set_value_info_elem_type, value_info_elem_type,
};
use crate::model::onnx::{AttributeProto, ModelProto, NodeProto, TensorProto};

/// Ops kept in float32: onnxconverter-common's float16 block list (ops
/// without float16 kernels or with float32-only inputs such as Resize's
/// scales), plus random generators whose dtype attribute would need changes.
pub const FP16_BLOCKED_OPS: &[&str] = &[
    "ArrayFeatureExtractor",
    "Binarizer",
    "CastMap",
    "CategoryMapper",
    "CumSum",
    "DictVectorizer",
    "EyeLike",
    "FeatureVectorizer",
    "Imputer",
    "LabelEncoder",
    "LinearClassifier",
    "LinearRegressor",
    "Max",
    "Min",
    "Multinomial",
    "NonMaxSuppression",
    "Normalizer",
    "OneHotEncoder",
    "RandomNormal",
    "RandomNormalLike",
    "RandomUniform",
    "RandomUniformLike",
    "Range",
    "Resize",
    "RoiAlign",
    "SVMClassifier",
    "SVMRegressor",
    "Scaler",
    "TopK",
    "TreeEnsembleClassifier",
    "TreeEnsembleRegressor",
    "Upsample",
    "ZipMap",
];

/// Options of the float16 conversion.
#[derive(Debug, Clone, Default)]
pub(crate) struct Fp16Options {
    /// Keep graph inputs and outputs float16 instead of casting at the boundary.
    pub fp16_io: bool,
    /// Op types kept in float32 in addition to [`FP16_BLOCKED_OPS`]
    /// (e.g. rejected by ONNX Runtime on the chosen execution provider).
    pub extra_blocked_ops: BTreeSet<String>,
    /// Nodes kept float32 (node ids, see [`crate::model::node::node_id`])
    /// and the reason the report gives.
    pub keep_nodes: (BTreeSet<String>, &'static str),
}

/// A node that stayed float32, and why.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct KeptNode {
    /// Node name (or `op_type#index` when unnamed).
    pub node: String,
    /// Op type.
    pub op_type: String,
    /// Why it stayed float32.
    pub reason: String,
}

/// What the float16 conversion did.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct Fp16Report {
    /// The model had float16 weights and no float32 tensors: left alone.
    pub already_fp16: bool,
    /// Graph inputs and outputs are float16.
    pub fp16_io: bool,
    /// float32 tensors (initializers and constants) converted.
    pub tensors_converted: usize,
    /// Values outside ±65504 clamped to the float16 range.
    pub values_clamped: u64,
    /// Cast nodes inserted at precision boundaries.
    pub casts_inserted: usize,
    /// Nodes with float inputs or outputs that stayed float32.
    pub kept_fp32: Vec<KeptNode>,
    /// Op types kept in float32 because ONNX Runtime rejected their float16
    /// version on the execution provider, with its message.
    pub rejected_by_runtime: Vec<(String, String)>,
}

/// Converts a float32 value to float16, clamping to ±65504 instead of
/// overflowing to infinity. Returns the value and whether it was clamped.
pub fn to_f16_clamped(value: f32) -> (f16, bool) {
    let max = f16::MAX.to_f32();
    if value > max {
        (f16::MAX, true)
    } else if value < -max {
        (f16::MIN, true)
    } else {
        (f16::from_f32(value), false)
    }
}

/// Converts a float32 tensor in place to float16; returns the clamp count.
fn convert_tensor(tensor: &mut TensorProto) -> Result<u64, TransformError> {
    let values = graph::float_values(tensor)?;
    let mut clamped = 0;
    let mut raw = Vec::with_capacity(values.len() * 2);
    for value in values {
        let (half, was_clamped) = to_f16_clamped(value);
        clamped += u64::from(was_clamped);
        raw.extend_from_slice(&half.to_le_bytes());
    }
    tensor.data_type = Some(FLOAT16);
    tensor.float_data.clear();
    tensor.raw_data = Some(raw);
    Ok(clamped)
}

/// Who produces a tensor.
#[derive(Debug, Clone, Copy)]
enum Producer {
    GraphInput,
    Initializer(usize),
    Node(usize),
}

/// Converts the model's main graph to float16 in place.
pub(crate) fn convert(
    proto: &mut ModelProto,
    options: &Fp16Options,
) -> Result<Fp16Report, TransformError> {
    let Some(graph) = proto.graph.as_mut() else {
        return Err(TransformError::NoGraph);
    };
    let mut report = Fp16Report {
        fp16_io: options.fp16_io,
        ..Fp16Report::default()
    };
    if let Some(node) = graph.node.iter().find(|node| {
        node.attribute
            .iter()
            .any(|a| a.g.is_some() || !a.graphs.is_empty())
    }) {
        return Err(TransformError::Unsupported(format!(
            "float16 conversion of control flow ({} node {:?} has a subgraph)",
            node.op_type(),
            node.name()
        )));
    }
    let mut types = graph::elem_types(graph);
    let has_float32 = types.values().any(|t| *t == FLOAT);
    if !has_float32 {
        report.already_fp16 = types.values().any(|t| *t == FLOAT16);
        return Ok(report);
    }

    let mut kept: Vec<Option<String>> = graph
        .node
        .iter()
        .enumerate()
        .map(|(index, node)| {
            keep_reason(node, options).or_else(|| {
                options
                    .keep_nodes
                    .0
                    .contains(&crate::model::node::node_id(node, index))
                    .then(|| options.keep_nodes.1.to_owned())
            })
        })
        .collect();
    let silent = keep_constants_of_kept_nodes(graph, &mut kept);

    let mut producers: HashMap<String, Producer> = HashMap::new();
    for info in &graph.input {
        producers.insert(info.name().to_owned(), Producer::GraphInput);
    }
    for (index, tensor) in graph.initializer.iter().enumerate() {
        producers.insert(tensor.name().to_owned(), Producer::Initializer(index));
    }
    for (index, node) in graph.node.iter().enumerate() {
        for output in &node.output {
            producers.insert(output.clone(), Producer::Node(index));
        }
    }
    // An initializer read only by float32 nodes stays float32 (no Cast).
    let mut initializer_fp16 = vec![false; graph.initializer.len()];
    for (index, node) in graph.node.iter().enumerate() {
        if kept.get(index).is_some_and(Option::is_some) {
            continue;
        }
        for input in &node.input {
            if let Some(Producer::Initializer(at)) = producers.get(input)
                && let Some(flag) = initializer_fp16.get_mut(*at)
            {
                *flag = true;
            }
        }
    }
    let produces_fp16 = |producers: &HashMap<String, Producer>, name: &str| -> bool {
        match producers.get(name) {
            Some(Producer::GraphInput) => options.fp16_io,
            Some(Producer::Initializer(at)) => initializer_fp16.get(*at).copied().unwrap_or(false),
            Some(Producer::Node(at)) => kept.get(*at).is_some_and(Option::is_none),
            None => false,
        }
    };

    let mut names = Names::new(graph);
    // Graph outputs whose producer has the other precision: the producer
    // writes a renamed tensor and a final Cast restores the output's name.
    let mut final_casts: Vec<NodeProto> = Vec::new();
    let output_names: Vec<String> = graph.output.iter().map(|o| o.name().to_owned()).collect();
    for output in output_names {
        if !is_f32(&types, &output) {
            continue;
        }
        let Some(Producer::Node(at)) = producers.get(&output).copied() else {
            continue;
        };
        let have_fp16 = produces_fp16(&producers, &output);
        if have_fp16 == options.fp16_io {
            continue;
        }
        let suffix = if have_fp16 { "_fp16" } else { "_fp32" };
        let renamed = names.fresh(&format!("{output}{suffix}"));
        for node in &mut graph.node {
            for name in node.input.iter_mut().chain(node.output.iter_mut()) {
                if *name == output {
                    name.clone_from(&renamed);
                }
            }
        }
        producers.insert(renamed.clone(), Producer::Node(at));
        types.insert(renamed.clone(), FLOAT);
        let target = if options.fp16_io { FLOAT16 } else { FLOAT };
        final_casts.push(graph::node(
            "Cast",
            &names.fresh(&format!("{output}_cast")),
            &[&renamed],
            &[&output],
            vec![int_attr("to", i64::from(target))],
        ));
    }

    let mut new_nodes: Vec<NodeProto> = Vec::with_capacity(graph.node.len());
    let mut cast_cache: HashMap<(String, bool), String> = HashMap::new();
    let old_nodes = std::mem::take(&mut graph.node);
    for (index, mut node) in old_nodes.into_iter().enumerate() {
        let keep = kept.get(index).cloned().flatten();
        let want_fp16 = keep.is_none();
        let touches_float = node
            .input
            .iter()
            .chain(&node.output)
            .any(|name| is_f32(&types, name));
        for input in &mut node.input {
            if input.is_empty() || !is_f32(&types, input) {
                continue;
            }
            if produces_fp16(&producers, input) == want_fp16 {
                continue;
            }
            let key = (input.clone(), want_fp16);
            let cast_output = if let Some(existing) = cast_cache.get(&key) {
                existing.clone()
            } else {
                let suffix = if want_fp16 { "fp16" } else { "fp32" };
                let cast_output = names.fresh(&format!("{input}_{suffix}"));
                let target = if want_fp16 { FLOAT16 } else { FLOAT };
                new_nodes.push(graph::node(
                    "Cast",
                    &names.fresh(&format!("{input}_cast_{suffix}")),
                    &[input.as_str()],
                    &[&cast_output],
                    vec![int_attr("to", i64::from(target))],
                ));
                report.casts_inserted += 1;
                cast_cache.insert(key, cast_output.clone());
                cast_output
            };
            *input = cast_output;
        }
        if let Some(reason) = keep {
            if touches_float && !silent.contains(&index) {
                report.kept_fp32.push(KeptNode {
                    node: node_label(&node, index),
                    op_type: node.op_type().to_owned(),
                    reason,
                });
            }
        } else {
            report.values_clamped += convert_node_attributes(&mut node, &mut report)?;
        }
        new_nodes.push(node);
    }
    report.casts_inserted += final_casts.len();
    new_nodes.extend(final_casts);
    graph.node = new_nodes;

    let mut converted_initializers: HashSet<String> = HashSet::new();
    for (index, tensor) in graph.initializer.iter_mut().enumerate() {
        if tensor.data_type() == FLOAT && initializer_fp16.get(index).copied().unwrap_or(false) {
            report.values_clamped += convert_tensor(tensor)?;
            report.tensors_converted += 1;
            converted_initializers.insert(tensor.name().to_owned());
        }
    }
    // Before IR version 4 every initializer is also listed as a graph input;
    // that declaration must follow the weight's new type (it is a weight,
    // not an input the caller feeds).
    for info in &mut graph.input {
        if converted_initializers.contains(info.name()) && value_info_elem_type(info) == Some(FLOAT)
        {
            set_value_info_elem_type(info, FLOAT16);
        }
    }
    for info in &mut graph.value_info {
        if value_info_elem_type(info) == Some(FLOAT) && produces_fp16(&producers, info.name()) {
            set_value_info_elem_type(info, FLOAT16);
        }
    }
    if options.fp16_io {
        for info in graph.input.iter_mut().chain(graph.output.iter_mut()) {
            if value_info_elem_type(info) == Some(FLOAT) {
                set_value_info_elem_type(info, FLOAT16);
            }
        }
    }
    Ok(report)
}

/// Keeps float32 the `Constant` / `ConstantOfShape` nodes read only by kept
/// nodes, so a kept node's weights are not rounded to float16 and cast back.
/// Returns their indices (not listed in the report).
fn keep_constants_of_kept_nodes(
    graph: &crate::model::onnx::GraphProto,
    kept: &mut [Option<String>],
) -> HashSet<usize> {
    let mut readers: HashMap<&str, Vec<usize>> = HashMap::new();
    for (index, node) in graph.node.iter().enumerate() {
        for input in &node.input {
            readers.entry(input.as_str()).or_default().push(index);
        }
    }
    let graph_outputs: HashSet<&str> = graph.output.iter().map(|o| o.name()).collect();
    let mut silent = HashSet::new();
    for (index, node) in graph.node.iter().enumerate() {
        if !matches!(node.op_type(), "Constant" | "ConstantOfShape")
            || kept.get(index).is_some_and(Option::is_some)
        {
            continue;
        }
        let only_kept_readers = node.output.iter().all(|output| {
            !graph_outputs.contains(output.as_str())
                && readers.get(output.as_str()).is_some_and(|r| {
                    !r.is_empty()
                        && r.iter()
                            .all(|at| kept.get(*at).is_some_and(Option::is_some))
                })
        });
        if only_kept_readers && let Some(slot) = kept.get_mut(index) {
            *slot = Some("feeds only float32 nodes".to_owned());
            silent.insert(index);
        }
    }
    silent
}

/// Whether `name` is a float32 tensor.
fn is_f32(types: &HashMap<String, i32>, name: &str) -> bool {
    types.get(name) == Some(&FLOAT)
}

/// Why a node stays float32, or `None` when it is converted.
fn keep_reason(node: &NodeProto, options: &Fp16Options) -> Option<String> {
    let op_type = node.op_type();
    if !is_default_domain(node) {
        return Some(format!("custom domain {:?}", node.domain()));
    }
    if options.extra_blocked_ops.contains(op_type) {
        return Some(format!(
            "ONNX Runtime has no float16 kernel for {op_type} on this execution provider"
        ));
    }
    if FP16_BLOCKED_OPS.contains(&op_type) {
        return Some(format!("{op_type} is on the float16 block list"));
    }
    None
}

/// Converts float32 constants carried in a converted node's attributes and
/// retargets `Cast` to float16. Returns the clamp count.
fn convert_node_attributes(
    node: &mut NodeProto,
    report: &mut Fp16Report,
) -> Result<u64, TransformError> {
    let mut clamped = 0;
    match node.op_type() {
        "Cast" if attr_int(node, "to").unwrap_or(0) == i64::from(FLOAT) => {
            node.attribute.retain(|a| a.name() != "to");
            node.attribute.push(int_attr("to", i64::from(FLOAT16)));
        }
        "Constant" | "ConstantOfShape" => {
            for attr in &mut node.attribute {
                match attr.name() {
                    "value" => {
                        if let Some(tensor) = attr.t.as_mut()
                            && tensor.data_type() == FLOAT
                        {
                            clamped += convert_tensor(tensor)?;
                            report.tensors_converted += 1;
                        }
                    }
                    "value_float" | "value_floats" => {
                        let values: Vec<f32> = attr
                            .f
                            .into_iter()
                            .chain(attr.floats.iter().copied())
                            .collect();
                        let dims: Vec<i64> = if attr.name() == "value_float" {
                            Vec::new()
                        } else {
                            vec![values.len() as i64]
                        };
                        let mut tensor = graph::float_tensor("", &dims, &values);
                        clamped += convert_tensor(&mut tensor)?;
                        report.tensors_converted += 1;
                        *attr = AttributeProto {
                            name: Some("value".to_owned()),
                            r#type: Some(
                                crate::model::onnx::attribute_proto::AttributeType::Tensor as i32,
                            ),
                            t: Some(tensor),
                            ..Default::default()
                        };
                    }
                    _ => {}
                }
            }
        }
        _ => {}
    }
    Ok(clamped)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rounding_and_clamping_match_hand_values() {
        // 1.0 = 0x3c00 exactly; 0.1 rounds to 0x2e66 (0.0999755859375).
        assert_eq!(to_f16_clamped(1.0), (f16::from_bits(0x3c00), false));
        assert_eq!(to_f16_clamped(0.1).0.to_bits(), 0x2e66);
        assert_eq!(to_f16_clamped(0.1).0.to_f32(), 0.099_975_586);
        // 65504 is the largest float16; beyond it values clamp instead of
        // becoming infinity.
        assert_eq!(to_f16_clamped(65504.0), (f16::from_bits(0x7bff), false));
        assert_eq!(to_f16_clamped(1.0e6), (f16::from_bits(0x7bff), true));
        assert_eq!(to_f16_clamped(-1.0e6), (f16::from_bits(0xfbff), true));
        // 2^-24 is the smallest subnormal; 3e-8 rounds up to it, 2e-8 to zero.
        assert_eq!(to_f16_clamped(3.0e-8).0.to_bits(), 0x0001);
        assert_eq!(to_f16_clamped(2.0e-8).0.to_bits(), 0x0000);
        // Ties go to even: 1 + 2^-11 lies halfway between 1.0 and 1 + 2^-10.
        assert_eq!(to_f16_clamped(1.0 + 2f32.powi(-11)).0.to_bits(), 0x3c00);
    }

    #[test]
    fn blocked_ops_stay_fp32_between_casts() -> Result<(), Box<dyn std::error::Error>> {
        let model_path =
            std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("sample_models/mlp.onnx");
        let mut proto = crate::model::Model::load(&model_path)?.proto;
        let options = Fp16Options {
            fp16_io: false,
            extra_blocked_ops: ["Gemm".to_owned()].into(),
            ..Fp16Options::default()
        };
        let report = convert(&mut proto, &options)?;
        // fc1..fc3 stay float32 with their weights; relu1 and relu2 run in
        // float16 with a Cast on each side: 4 casts, no tensor converted.
        let kept: Vec<&str> = report.kept_fp32.iter().map(|k| k.node.as_str()).collect();
        assert_eq!(kept, vec!["fc1", "fc2", "fc3"]);
        assert_eq!(report.casts_inserted, 4);
        assert_eq!(report.tensors_converted, 0);
        let graph = proto.graph.as_ref().ok_or("graph")?;
        let ops: Vec<&str> = graph.node.iter().map(|n| n.op_type()).collect();
        assert_eq!(
            ops,
            vec![
                "Gemm", "Cast", "Relu", "Cast", "Gemm", "Cast", "Relu", "Cast", "Gemm"
            ]
        );
        assert!(graph.initializer.iter().all(|t| t.data_type() == FLOAT));
        Ok(())
    }

    #[test]
    fn weights_listed_as_graph_inputs_follow_their_new_type()
    -> Result<(), Box<dyn std::error::Error>> {
        // Before IR version 4 every initializer is also a graph input (the
        // ONNX model zoo's older models); ONNX Runtime rejects the model when
        // the two declarations disagree ("Tensor element type mismatch").
        let model_path =
            std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("sample_models/mlp.onnx");
        let mut proto = crate::model::Model::load(&model_path)?.proto;
        let graph = proto.graph.as_mut().ok_or("graph")?;
        let declared: Vec<crate::model::onnx::ValueInfoProto> = graph
            .initializer
            .iter()
            .map(|tensor| crate::model::onnx::ValueInfoProto {
                name: Some(tensor.name().to_owned()),
                r#type: Some(crate::model::onnx::TypeProto {
                    value: Some(crate::model::onnx::type_proto::Value::TensorType(
                        crate::model::onnx::type_proto::Tensor {
                            elem_type: Some(FLOAT),
                            shape: None,
                        },
                    )),
                    ..Default::default()
                }),
                ..Default::default()
            })
            .collect();
        graph.input.extend(declared);
        let options = Fp16Options {
            fp16_io: false,
            extra_blocked_ops: BTreeSet::new(),
            ..Fp16Options::default()
        };
        convert(&mut proto, &options)?;
        let graph = proto.graph.as_ref().ok_or("graph")?;
        let weights: HashSet<&str> = graph.initializer.iter().map(|t| t.name()).collect();
        assert!(!weights.is_empty());
        for info in &graph.input {
            let expected = if weights.contains(info.name()) {
                FLOAT16
            } else {
                // The real input keeps float32 (fp16_io is off).
                FLOAT
            };
            assert_eq!(
                value_info_elem_type(info),
                Some(expected),
                "{}",
                info.name()
            );
        }
        assert!(graph.initializer.iter().all(|t| t.data_type() == FLOAT16));
        Ok(())
    }

    #[test]
    fn tensors_convert_with_clamp_count() -> Result<(), TransformError> {
        let mut tensor = graph::float_tensor("w", &[3], &[1.0, -2.5, 1.0e5]);
        assert_eq!(convert_tensor(&mut tensor)?, 1);
        assert_eq!(tensor.data_type(), FLOAT16);
        assert_eq!(
            tensor.raw_data.as_deref(),
            Some(&[0x00, 0x3c, 0x00, 0xc1, 0xff, 0x7b][..])
        );
        Ok(())
    }
}
