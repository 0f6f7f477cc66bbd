//! Helpers for the unit tests: building small models with the prost types,
//! temporary folders, and error messages.

use std::path::{Path, PathBuf};

use super::onnx::{
    self, AttributeProto, GraphProto, ModelProto, NodeProto, OperatorSetIdProto, TensorProto,
    TensorShapeProto, TypeProto, ValueInfoProto,
};
use super::{ElemType, ModelError};

/// The message of an expected error; panics (failing the test) on `Ok`.
pub(crate) fn error_message<T>(result: Result<T, ModelError>) -> String {
    match result {
        Ok(_) => panic!("expected an error, got Ok"),
        Err(err) => err.to_string(),
    }
}

/// Path of a file under the crate's `sample_models/` folder.
pub(crate) fn sample_model(file_name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("sample_models")
        .join(file_name)
}

/// Path of a file under the crate's `tests/data/models/` folder.
pub(crate) fn fixture(relative_path: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/data/models")
        .join(relative_path)
}

/// A value info with a tensor type. Dims: a number is a `dim_value`
/// (negative numbers too), `?` is a dim with no value, anything else a
/// `dim_param`.
pub(crate) fn value_info(name: &str, elem_type: ElemType, dims: &[&str]) -> ValueInfoProto {
    use onnx::tensor_shape_proto::{Dimension, dimension::Value};
    let dim = dims
        .iter()
        .map(|dim| Dimension {
            value: match (*dim, dim.parse::<i64>()) {
                (_, Ok(size)) => Some(Value::DimValue(size)),
                ("?", _) => None,
                (name, _) => Some(Value::DimParam(name.to_owned())),
            },
            denotation: None,
        })
        .collect();
    ValueInfoProto {
        name: Some(name.to_owned()),
        r#type: Some(TypeProto {
            value: Some(onnx::type_proto::Value::TensorType(
                onnx::type_proto::Tensor {
                    elem_type: Some(elem_type.code()),
                    shape: Some(TensorShapeProto { dim }),
                },
            )),
            denotation: None,
        }),
        ..Default::default()
    }
}

/// A node in the default domain.
pub(crate) fn node(
    op_type: &str,
    inputs: &[&str],
    outputs: &[&str],
    attribute: Vec<AttributeProto>,
) -> NodeProto {
    NodeProto {
        op_type: Some(op_type.to_owned()),
        name: Some(format!(
            "{op_type}_{}",
            outputs.first().copied().unwrap_or("")
        )),
        input: inputs.iter().map(|s| (*s).to_owned()).collect(),
        output: outputs.iter().map(|s| (*s).to_owned()).collect(),
        attribute,
        ..Default::default()
    }
}

/// A node in the default domain with a given name and no attributes.
pub(crate) fn named_node(
    op_type: &str,
    name: &str,
    inputs: &[&str],
    outputs: &[&str],
) -> NodeProto {
    NodeProto {
        name: Some(name.to_owned()),
        ..node(op_type, inputs, outputs, Vec::new())
    }
}

/// An int attribute.
pub(crate) fn int_attr(name: &str, value: i64) -> AttributeProto {
    AttributeProto {
        name: Some(name.to_owned()),
        r#type: Some(onnx::attribute_proto::AttributeType::Int as i32),
        i: Some(value),
        ..Default::default()
    }
}

/// An ints attribute.
pub(crate) fn ints_attr(name: &str, values: &[i64]) -> AttributeProto {
    AttributeProto {
        name: Some(name.to_owned()),
        r#type: Some(onnx::attribute_proto::AttributeType::Ints as i32),
        ints: values.to_vec(),
        ..Default::default()
    }
}

/// A string attribute.
pub(crate) fn string_attr(name: &str, value: &str) -> AttributeProto {
    AttributeProto {
        name: Some(name.to_owned()),
        r#type: Some(onnx::attribute_proto::AttributeType::String as i32),
        s: Some(value.as_bytes().to_vec()),
        ..Default::default()
    }
}

/// A tensor attribute.
pub(crate) fn tensor_attr(name: &str, tensor: TensorProto) -> AttributeProto {
    AttributeProto {
        name: Some(name.to_owned()),
        r#type: Some(onnx::attribute_proto::AttributeType::Tensor as i32),
        t: Some(tensor),
        ..Default::default()
    }
}

/// A float32 tensor of zeros in `raw_data`.
pub(crate) fn zeros(name: &str, dims: &[i64]) -> TensorProto {
    let count = dims.iter().product::<i64>().max(0) as usize;
    TensorProto {
        name: Some(name.to_owned()),
        data_type: Some(ElemType::Float.code()),
        dims: dims.to_vec(),
        raw_data: Some(vec![0; count * 4]),
        ..Default::default()
    }
}

/// A 1-D int64 tensor in `int64_data`.
pub(crate) fn int64s(name: &str, values: &[i64]) -> TensorProto {
    TensorProto {
        name: Some(name.to_owned()),
        data_type: Some(ElemType::Int64.code()),
        dims: vec![values.len() as i64],
        int64_data: values.to_vec(),
        ..Default::default()
    }
}

/// A model around `graph`, importing the default opset at `opset_version`.
pub(crate) fn model_proto(graph: GraphProto, opset_version: i64) -> ModelProto {
    ModelProto {
        ir_version: Some(8),
        producer_name: Some("unit-test".to_owned()),
        producer_version: Some("1".to_owned()),
        opset_import: vec![OperatorSetIdProto {
            domain: Some(String::new()),
            version: Some(opset_version),
        }],
        graph: Some(graph),
        ..Default::default()
    }
}

/// A graph with these parts.
pub(crate) fn graph(
    name: &str,
    inputs: Vec<ValueInfoProto>,
    outputs: Vec<ValueInfoProto>,
    nodes: Vec<NodeProto>,
    initializer: Vec<TensorProto>,
) -> GraphProto {
    GraphProto {
        name: Some(name.to_owned()),
        input: inputs,
        output: outputs,
        node: nodes,
        initializer,
        ..Default::default()
    }
}

/// A temporary folder removed on drop.
pub(crate) struct TempDir {
    path: PathBuf,
}

impl TempDir {
    /// Creates a fresh folder named after the test.
    pub(crate) fn new(label: &str) -> std::io::Result<Self> {
        let path = std::env::temp_dir().join(format!("model-test-{}-{label}", std::process::id()));
        let _ = std::fs::remove_dir_all(&path);
        std::fs::create_dir_all(&path)?;
        Ok(Self { path })
    }

    /// The folder.
    pub(crate) fn path(&self) -> &Path {
        &self.path
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.path);
    }
}
