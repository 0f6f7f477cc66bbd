//! Graph plumbing shared by the transforms: inlining external data, finding
//! constant weights (initializers or `Constant` nodes), reading and writing
//! float tensors, element-type propagation, fresh names and dead-node cleanup.

use std::collections::{HashMap, HashSet};

use super::TransformError;
pub(crate) use crate::model::node::{attr, attr_float, attr_int, default_opset, is_default_domain};
use crate::model::onnx::{
    AttributeProto, GraphProto, ModelProto, NodeProto, TensorProto, ValueInfoProto,
    attribute_proto::AttributeType, tensor_proto::DataType, type_proto,
};
use crate::model::{ElemType, Model, is_external};

/// `TensorProto.DataType` code of float32.
pub(crate) const FLOAT: i32 = DataType::Float as i32;
/// `TensorProto.DataType` code of float16.
pub(crate) const FLOAT16: i32 = DataType::Float16 as i32;
/// `TensorProto.DataType` code of int8.
pub(crate) const INT8: i32 = DataType::Int8 as i32;

/// A copy of the model with every external tensor of the main graph
/// (initializers and `Constant` values) read into `raw_data`, so the result
/// loads from memory. External data anywhere else is an error.
pub(crate) fn inline_external_data(model: &Model) -> Result<ModelProto, TransformError> {
    let mut proto = model.proto.clone();
    let Some(graph) = proto.graph.as_mut() else {
        return Err(TransformError::NoGraph);
    };
    for tensor in graph.initializer.iter_mut().chain(
        graph
            .node
            .iter_mut()
            .flat_map(|node| node.attribute.iter_mut())
            .filter_map(|attr| attr.t.as_mut()),
    ) {
        if is_external(tensor) {
            let bytes = model.tensor_bytes(tensor)?.into_owned();
            tensor.raw_data = Some(bytes);
            tensor.external_data.clear();
            tensor.data_location = None;
        }
    }
    let inlined = Model::from_proto(proto, None);
    if crate::model::walk::all_tensors(&inlined.proto)
        .into_iter()
        .any(is_external)
    {
        return Err(TransformError::Unsupported(
            "external data outside the main graph's initializers and Constant nodes".to_owned(),
        ));
    }
    Ok(inlined.proto)
}

/// Where a constant tensor lives in the main graph.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum ConstRef {
    /// `graph.initializer[index]`.
    Initializer(usize),
    /// The `value` attribute of the `Constant` node `graph.node[index]`.
    ConstantNode(usize),
}

/// Finds the constant tensor named `name`: an initializer or the output of a
/// `Constant` node with a `value` tensor.
pub(crate) fn find_const(graph: &GraphProto, name: &str) -> Option<ConstRef> {
    if name.is_empty() {
        return None;
    }
    if let Some(index) = graph.initializer.iter().position(|t| t.name() == name) {
        return Some(ConstRef::Initializer(index));
    }
    graph
        .node
        .iter()
        .position(|node| {
            node.op_type() == "Constant"
                && node.output.first().is_some_and(|output| output == name)
                && node
                    .attribute
                    .iter()
                    .any(|a| a.name() == "value" && a.t.is_some())
        })
        .map(ConstRef::ConstantNode)
}

/// The tensor behind a [`ConstRef`].
pub(crate) fn const_tensor(graph: &GraphProto, at: ConstRef) -> Option<&TensorProto> {
    match at {
        ConstRef::Initializer(index) => graph.initializer.get(index),
        ConstRef::ConstantNode(index) => graph
            .node
            .get(index)?
            .attribute
            .iter()
            .find(|a| a.name() == "value")?
            .t
            .as_ref(),
    }
}

/// The tensor behind a [`ConstRef`], mutably.
pub(crate) fn const_tensor_mut(graph: &mut GraphProto, at: ConstRef) -> Option<&mut TensorProto> {
    match at {
        ConstRef::Initializer(index) => graph.initializer.get_mut(index),
        ConstRef::ConstantNode(index) => graph
            .node
            .get_mut(index)?
            .attribute
            .iter_mut()
            .find(|a| a.name() == "value")?
            .t
            .as_mut(),
    }
}

/// The values of an inline float32 tensor.
pub(crate) fn float_values(tensor: &TensorProto) -> Result<Vec<f32>, TransformError> {
    if tensor.data_type() != FLOAT {
        return Err(TransformError::Unsupported(format!(
            "tensor {:?} is {}, not float32",
            tensor.name(),
            ElemType::from_code(tensor.data_type())
        )));
    }
    let model = Model::from_proto(ModelProto::default(), None);
    let bytes = model.tensor_bytes(tensor)?;
    Ok(bytes
        .chunks_exact(4)
        .map(|chunk| f32::from_le_bytes([chunk[0], chunk[1], chunk[2], chunk[3]]))
        .collect())
}

/// Replaces a tensor's data with `values` as float32 `raw_data`, keeping its
/// name and dims.
pub(crate) fn set_float_values(tensor: &mut TensorProto, values: &[f32]) {
    tensor.data_type = Some(FLOAT);
    tensor.float_data.clear();
    tensor.raw_data = Some(values.iter().flat_map(|v| v.to_le_bytes()).collect());
}

/// A new float32 tensor.
pub(crate) fn float_tensor(name: &str, dims: &[i64], values: &[f32]) -> TensorProto {
    let mut tensor = TensorProto {
        name: Some(name.to_owned()),
        dims: dims.to_vec(),
        ..Default::default()
    };
    set_float_values(&mut tensor, values);
    tensor
}

/// A new int8 tensor.
pub(crate) fn int8_tensor(name: &str, dims: &[i64], values: &[i8]) -> TensorProto {
    TensorProto {
        name: Some(name.to_owned()),
        dims: dims.to_vec(),
        data_type: Some(INT8),
        raw_data: Some(values.iter().map(|v| v.to_le_bytes()[0]).collect()),
        ..Default::default()
    }
}

/// A new node.
pub(crate) fn node(
    op_type: &str,
    name: &str,
    inputs: &[&str],
    outputs: &[&str],
    attributes: Vec<AttributeProto>,
) -> NodeProto {
    NodeProto {
        op_type: Some(op_type.to_owned()),
        name: Some(name.to_owned()),
        input: inputs.iter().map(|s| (*s).to_owned()).collect(),
        output: outputs.iter().map(|s| (*s).to_owned()).collect(),
        attribute: attributes,
        ..Default::default()
    }
}

/// An integer attribute.
pub(crate) fn int_attr(name: &str, value: i64) -> AttributeProto {
    AttributeProto {
        name: Some(name.to_owned()),
        r#type: Some(AttributeType::Int as i32),
        i: Some(value),
        ..Default::default()
    }
}

/// The element type code of a value info, if it is a tensor.
pub(crate) fn value_info_elem_type(info: &ValueInfoProto) -> Option<i32> {
    match info.r#type.as_ref()?.value.as_ref()? {
        type_proto::Value::TensorType(tensor) => tensor.elem_type,
        _ => None,
    }
}

/// Sets the element type of a tensor value info.
pub(crate) fn set_value_info_elem_type(info: &mut ValueInfoProto, elem_type: i32) {
    if let Some(type_proto::Value::TensorType(tensor)) =
        info.r#type.as_mut().and_then(|t| t.value.as_mut())
    {
        tensor.elem_type = Some(elem_type);
    }
}

/// Element type codes of the main graph's tensors: declared ones (inputs,
/// outputs, value_info, initializers) and ones propagated through the
/// nodes with the usual typing rules.
pub(crate) fn elem_types(graph: &GraphProto) -> HashMap<String, i32> {
    let mut types: HashMap<String, i32> = HashMap::new();
    for info in graph
        .input
        .iter()
        .chain(&graph.value_info)
        .chain(&graph.output)
    {
        if let Some(elem_type) = value_info_elem_type(info) {
            types.insert(info.name().to_owned(), elem_type);
        }
    }
    for tensor in &graph.initializer {
        types.insert(tensor.name().to_owned(), tensor.data_type());
    }
    for node in &graph.node {
        let first = node
            .input
            .iter()
            .find_map(|input| types.get(input).copied());
        let input_type = |index: usize| node.input.get(index).and_then(|i| types.get(i)).copied();
        let outputs: Vec<Option<i32>> = (0..node.output.len())
            .map(|slot| output_type(node, slot, first, &input_type))
            .collect();
        for (output, elem_type) in node.output.iter().zip(outputs) {
            if let Some(elem_type) = elem_type
                && !output.is_empty()
            {
                types.entry(output.clone()).or_insert(elem_type);
            }
        }
    }
    types
}

/// The element type of a node's output `slot`.
fn output_type(
    node: &NodeProto,
    slot: usize,
    first_input: Option<i32>,
    input_type: &dyn Fn(usize) -> Option<i32>,
) -> Option<i32> {
    const INT64: i32 = DataType::Int64 as i32;
    const BOOL: i32 = DataType::Bool as i32;
    const UINT8: i32 = DataType::Uint8 as i32;
    const INT32: i32 = DataType::Int32 as i32;
    let attr_tensor_type = |name: &str| {
        attr(node, name)
            .and_then(|a| a.t.as_ref())
            .map(TensorProto::data_type)
    };
    match node.op_type() {
        "Cast" | "EyeLike" | "RandomNormal" | "RandomUniform" | "RandomNormalLike"
        | "RandomUniformLike" => Some(
            attr_int(
                node,
                if node.op_type() == "Cast" {
                    "to"
                } else {
                    "dtype"
                },
            )
            .unwrap_or(i64::from(FLOAT)) as i32,
        )
        .or(first_input),
        "CastLike" => input_type(1),
        "Shape" | "Size" | "NonZero" | "ArgMax" | "ArgMin" => Some(INT64),
        "Equal" | "Less" | "Greater" | "LessOrEqual" | "GreaterOrEqual" | "Not" | "And" | "Or"
        | "Xor" | "IsNaN" | "IsInf" => Some(BOOL),
        "Constant" => {
            let attr = node.attribute.first()?;
            match attr.name() {
                "value" => attr.t.as_ref().map(TensorProto::data_type),
                "value_float" | "value_floats" => Some(FLOAT),
                "value_int" | "value_ints" => Some(INT64),
                _ => None,
            }
        }
        "ConstantOfShape" => Some(attr_tensor_type("value").unwrap_or(FLOAT)),
        "TopK" | "MaxPool" if slot == 1 => Some(INT64),
        "Dropout" if slot == 1 => Some(BOOL),
        "Where" => input_type(1),
        "OneHot" => input_type(2),
        "DynamicQuantizeLinear" => Some(if slot == 1 { FLOAT } else { UINT8 }),
        "QuantizeLinear" => Some(input_type(2).unwrap_or(UINT8)),
        "DequantizeLinear" => Some(input_type(1).unwrap_or(FLOAT)),
        "MatMulInteger" | "ConvInteger" => Some(INT32),
        "LayerNormalization" if slot > 0 => Some(FLOAT),
        _ => first_input,
    }
}

/// Hands out tensor and node names not yet used in a graph.
pub(crate) struct Names {
    used: HashSet<String>,
}

impl Names {
    /// Collects every tensor and node name of the main graph.
    pub(crate) fn new(graph: &GraphProto) -> Self {
        Self::of_graphs([graph])
    }

    /// Collects every tensor and node name of these graphs (a model's main
    /// graph and its subgraphs, so inserted names are unique everywhere).
    pub(crate) fn of_graphs<'g>(graphs: impl IntoIterator<Item = &'g GraphProto>) -> Self {
        let mut used: HashSet<String> = HashSet::new();
        for graph in graphs {
            for info in graph
                .input
                .iter()
                .chain(&graph.output)
                .chain(&graph.value_info)
            {
                used.insert(info.name().to_owned());
            }
            for tensor in &graph.initializer {
                used.insert(tensor.name().to_owned());
            }
            for node in &graph.node {
                used.insert(node.name().to_owned());
                used.extend(node.input.iter().cloned());
                used.extend(node.output.iter().cloned());
            }
        }
        Self { used }
    }

    /// `base`, or `base_2`, `base_3`, ... whichever is free; reserves it.
    pub(crate) fn fresh(&mut self, base: &str) -> String {
        let mut candidate = base.to_owned();
        let mut counter = 2;
        while self.used.contains(&candidate) {
            candidate = format!("{base}_{counter}");
            counter += 1;
        }
        self.used.insert(candidate.clone());
        candidate
    }
}

/// Removes the constants in `candidates` that nothing reads any more
/// (initializers with their graph input entries, `Constant` and
/// `ConstantOfShape` nodes, then their own unused shape operands).
pub(crate) fn remove_dead(graph: &mut GraphProto, candidates: &HashSet<String>) {
    let mut candidates = candidates.clone();
    loop {
        let used: HashSet<String> = graph
            .node
            .iter()
            .flat_map(|node| node.input.iter().cloned())
            .chain(graph.output.iter().map(|o| o.name().to_owned()))
            .collect();
        let dead: HashSet<String> = candidates
            .iter()
            .filter(|name| !used.contains(*name))
            .cloned()
            .collect();
        let mut next: HashSet<String> = HashSet::new();
        let before = graph.node.len() + graph.initializer.len();
        graph.node.retain(|node| {
            let is_dead = matches!(node.op_type(), "Constant" | "ConstantOfShape")
                && node.output.first().is_some_and(|o| dead.contains(o));
            if is_dead {
                next.extend(node.input.iter().cloned());
            }
            !is_dead
        });
        let initializers: HashSet<String> = graph
            .initializer
            .iter()
            .filter(|t| dead.contains(t.name()))
            .map(|t| t.name().to_owned())
            .collect();
        graph
            .initializer
            .retain(|t| !initializers.contains(t.name()));
        graph.input.retain(|i| !initializers.contains(i.name()));
        graph.value_info.retain(|info| !dead.contains(info.name()));
        if graph.node.len() + graph.initializer.len() == before || next.is_empty() {
            break;
        }
        candidates = next;
    }
}

/// The node's display name: its name, or `op_type#index` when unnamed.
pub(crate) fn node_label(node: &NodeProto, index: usize) -> String {
    if node.name().is_empty() {
        format!("{}#{index}", node.op_type())
    } else {
        node.name().to_owned()
    }
}
