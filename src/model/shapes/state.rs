//! What shape propagation knows so far: each value's shape, the small
//! integer and float tensors it folded, and the binding of the input dims.

use std::collections::{BTreeMap, HashMap};

use serde::{Deserialize, Serialize};

use crate::model::Model;
use crate::model::onnx::{self, NodeProto, TensorProto};
use crate::model::tensor::{inline_bytes, is_external};
use crate::model::types::{Dim, ElemType, TensorInfo, element_count};

/// Key in a dims binding that sets every unnamed (`?` or -1) input dim.
pub const UNNAMED_DIM_KEY: &str = "?";

/// Value given to a symbolic or unnamed input dim missing from the binding.
pub const DEFAULT_DIM_VALUE: i64 = 1;

/// Integer tensors up to this many elements are folded as constants.
pub(super) const MAX_CONST_ELEMENTS: u64 = 4096;

/// Values for the graph inputs' dims: symbolic dims by name, and whole
/// input shapes (which win over `dims` for their input).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct ShapeBinding {
    /// Symbolic dim name (or [`UNNAMED_DIM_KEY`]) to value.
    pub dims: BTreeMap<String, i64>,
    /// Input name to its whole concrete shape.
    pub input_shapes: BTreeMap<String, Vec<i64>>,
}

impl ShapeBinding {
    /// A binding of symbolic dims only.
    pub fn from_dims(dims: &BTreeMap<String, i64>) -> Self {
        Self {
            dims: dims.clone(),
            input_shapes: BTreeMap::new(),
        }
    }
}

/// Shapes and folded integer values known so far.
#[derive(Default)]
pub(crate) struct State {
    /// Concrete shape by value name.
    pub shapes: HashMap<String, Vec<i64>>,
    /// Values of small integer tensors, flattened, by value name.
    pub consts: HashMap<String, Vec<i64>>,
    /// Values of small float tensors (scales, ranges), flattened, by value name.
    pub floats: HashMap<String, Vec<f64>>,
    /// The dims binding used for graph inputs.
    pub dims_used: BTreeMap<String, i64>,
}

impl State {
    pub(super) fn seed_initializers(&mut self, model: &Model, graph: &onnx::GraphProto) {
        for tensor in &graph.initializer {
            self.add_tensor(model, tensor.name(), tensor);
        }
    }

    /// Records a constant tensor's shape and, for small integer tensors, its values.
    pub(super) fn add_tensor(&mut self, model: &Model, name: &str, tensor: &TensorProto) {
        if name.is_empty() || tensor.dims.iter().any(|&dim| dim < 0) {
            return;
        }
        self.shapes.insert(name.to_owned(), tensor.dims.clone());
        if element_count(&tensor.dims).is_some_and(|count| count <= MAX_CONST_ELEMENTS) {
            if let Some(values) = model.int_values(tensor) {
                self.consts.insert(name.to_owned(), values);
            } else if let Some(values) = float_values(tensor) {
                self.floats.insert(name.to_owned(), values);
            }
        }
    }

    pub(super) fn seed_inputs(&mut self, graph: &onnx::GraphProto, binding: &ShapeBinding) {
        let dims = &binding.dims;
        let mut ignored_warnings = Vec::new();
        for input in &graph.input {
            if self.shapes.contains_key(input.name()) {
                // An initializer with the same name: its dims are authoritative.
                continue;
            }
            let info = TensorInfo::from_value_info(input, &mut ignored_warnings);
            let Some(shape) = info.shape else { continue };
            if let Some(given) = binding.input_shapes.get(input.name())
                && given.len() == shape.len()
                && given.iter().all(|&size| size >= 0)
            {
                for (dim, &size) in shape.iter().zip(given) {
                    match dim {
                        // Some exporters name every unknown dim "?": not a shared symbol.
                        Dim::Symbolic(name) if name != UNNAMED_DIM_KEY => {
                            self.dims_used.entry(name.clone()).or_insert(size);
                        }
                        Dim::Symbolic(_) => {}
                        Dim::Unnamed | Dim::Fixed(_) => {}
                    }
                }
                self.shapes.insert(input.name().to_owned(), given.clone());
                continue;
            }
            let concrete = shape
                .iter()
                .map(|dim| match dim {
                    Dim::Fixed(size) => *size,
                    Dim::Symbolic(name) => {
                        let size = dims.get(name).copied().unwrap_or(DEFAULT_DIM_VALUE);
                        self.dims_used.insert(name.clone(), size);
                        size
                    }
                    Dim::Unnamed => {
                        let size = dims
                            .get(UNNAMED_DIM_KEY)
                            .copied()
                            .unwrap_or(DEFAULT_DIM_VALUE);
                        self.dims_used.insert(UNNAMED_DIM_KEY.to_owned(), size);
                        size
                    }
                })
                .collect::<Vec<_>>();
            if concrete.iter().all(|&size| size >= 0) {
                self.shapes.insert(input.name().to_owned(), concrete);
            }
        }
    }

    pub(super) fn shape(&self, node: &NodeProto, index: usize) -> Option<&[i64]> {
        let name = node.input.get(index).filter(|name| !name.is_empty())?;
        self.shapes.get(name).map(Vec::as_slice)
    }

    pub(super) fn consts(&self, node: &NodeProto, index: usize) -> Option<&[i64]> {
        let name = node.input.get(index).filter(|name| !name.is_empty())?;
        self.consts.get(name).map(Vec::as_slice)
    }

    /// Folded values of input `index` as floats, whether integer or float.
    pub(super) fn numbers(&self, node: &NodeProto, index: usize) -> Option<Vec<f64>> {
        let name = node.input.get(index).filter(|name| !name.is_empty())?;
        match self.floats.get(name) {
            Some(values) => Some(values.clone()),
            None => Some(self.consts.get(name)?.iter().map(|&v| v as f64).collect()),
        }
    }

    /// Whether input `index` is given (present and non-empty).
    pub(super) fn has_input(node: &NodeProto, index: usize) -> bool {
        node.input.get(index).is_some_and(|name| !name.is_empty())
    }
}

/// What a node's shape rule produced.
pub(super) enum NodeShapes {
    /// Shapes by output index (`None` for outputs the rule does not cover).
    Known(Vec<Option<Vec<i64>>>),
    /// The op has a rule but an input shape or constant is unknown.
    Missing,
    /// The op has no rule.
    Unsupported,
    /// The output shape depends on the data.
    DataDependent,
}

/// Values of an inline float, double or float16 tensor, as `f64`; `None`
/// for other types, external data or inconsistent data.
pub(super) fn float_values(tensor: &TensorProto) -> Option<Vec<f64>> {
    let elem_type = ElemType::from_code(tensor.data_type());
    if is_external(tensor) {
        return None;
    }
    let bytes = match elem_type {
        ElemType::Float | ElemType::Double | ElemType::Float16 => inline_bytes(tensor).ok()?,
        _ => return None,
    };
    let values = match elem_type {
        ElemType::Float => bytes
            .chunks_exact(4)
            .map(|chunk| <[u8; 4]>::try_from(chunk).map(|b| f64::from(f32::from_le_bytes(b))))
            .collect::<Result<Vec<_>, _>>()
            .ok()?,
        ElemType::Double => bytes
            .chunks_exact(8)
            .map(|chunk| <[u8; 8]>::try_from(chunk).map(f64::from_le_bytes))
            .collect::<Result<Vec<_>, _>>()
            .ok()?,
        _ => bytes
            .chunks_exact(2)
            .map(|chunk| {
                <[u8; 2]>::try_from(chunk)
                    .map(|b| f64::from(half::f16::from_bits(u16::from_le_bytes(b))))
            })
            .collect::<Result<Vec<_>, _>>()
            .ok()?,
    };
    Some(values)
}
