//! The float32 weights the transforms read and rewrite, as the model's one
//! definition has them ([`crate::model::weights`]): values stored in an
//! initializer or a `Constant` node, or a `ConstantOfShape` fill (old model
//! zoo exports), which pruning shrinks by rewriting the shape operand and
//! int8 or magnitude pruning turn into stored values.

use crate::model::Model;
use crate::model::onnx::{GraphProto, ModelProto, TensorProto};
use crate::transform::TransformError;
use crate::transform::graph::{self, ConstRef, FLOAT, const_tensor, const_tensor_mut, find_const};

/// `TensorProto.DataType` code of int64.
const INT64: i32 = crate::model::onnx::tensor_proto::DataType::Int64 as i32;

/// Where a constant's values come from.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) enum Source {
    /// A float32 tensor.
    Values(ConstRef),
    /// `ConstantOfShape(shape)` filled with `value`.
    Fill {
        /// The int64 shape operand.
        shape: ConstRef,
        /// The fill value.
        value: f32,
    },
}

/// A float32 constant and its dims.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct ConstInfo {
    /// Where the values are.
    pub source: Source,
    /// Its dims.
    pub dims: Vec<usize>,
}

/// The float32 constant named `name`, if it is one.
pub(crate) fn lookup(graph: &GraphProto, name: &str) -> Option<ConstInfo> {
    if let Some(at) = find_const(graph, name) {
        let tensor = const_tensor(graph, at)?;
        if tensor.data_type() != FLOAT {
            return None;
        }
        return Some(ConstInfo {
            source: Source::Values(at),
            dims: tensor.dims.iter().map(|d| (*d).max(0) as usize).collect(),
        });
    }
    let fill = crate::model::weights::fill_of(graph, name)?;
    let shape = find_const(graph, fill.shape)?;
    let value = match fill.value {
        None => 0.0,
        Some(tensor) if tensor.data_type() == FLOAT => {
            graph::float_values(tensor).ok()?.first().copied()?
        }
        Some(_) => return None,
    };
    Some(ConstInfo {
        source: Source::Fill { shape, value },
        dims: fill.dims.iter().map(|d| *d as usize).collect(),
    })
}

/// The most elements a `ConstantOfShape` weight is expanded to (1 GiB of
/// float32); a model declaring more is refused rather than allocated.
const MAX_FILL_ELEMENTS: usize = 1 << 28;

/// The constant's values (a fill is expanded).
pub(crate) fn values(graph: &GraphProto, info: &ConstInfo) -> Result<Vec<f32>, TransformError> {
    match info.source {
        Source::Values(at) => match const_tensor(graph, at) {
            Some(tensor) => graph::float_values(tensor),
            None => Ok(Vec::new()),
        },
        Source::Fill { value, .. } => {
            let len = info
                .dims
                .iter()
                .try_fold(1usize, |count, dim| count.checked_mul(*dim))
                .filter(|len| *len <= MAX_FILL_ELEMENTS)
                .ok_or_else(|| {
                    TransformError::Unsupported(format!(
                        "a ConstantOfShape weight of shape {:?} is too large to expand (over {MAX_FILL_ELEMENTS} elements)",
                        info.dims
                    ))
                })?;
            Ok(vec![value; len])
        }
    }
}

/// The values of a small int64 tensor.
pub(crate) fn int64_values(tensor: &TensorProto) -> Option<Vec<i64>> {
    if tensor.data_type() != INT64 {
        return None;
    }
    let model = Model::from_proto(ModelProto::default(), None);
    let bytes = model.tensor_bytes(tensor).ok()?;
    Some(
        bytes
            .chunks_exact(8)
            .map(|c| i64::from_le_bytes([c[0], c[1], c[2], c[3], c[4], c[5], c[6], c[7]]))
            .collect(),
    )
}

/// Replaces an int64 tensor's values (same count), as `raw_data`.
pub(crate) fn set_int64_values(tensor: &mut TensorProto, values: &[i64]) {
    tensor.data_type = Some(INT64);
    tensor.int64_data.clear();
    tensor.raw_data = Some(values.iter().flat_map(|v| v.to_le_bytes()).collect());
}

/// Float32 weight elements of the main graph (its weights of type float32
/// whose element count is known: stored, fills, reshaped fills).
pub(crate) fn float_weight_elements(graph: &GraphProto) -> u64 {
    crate::model::weights::weights(graph)
        .iter()
        .filter(|weight| weight.elem_type == crate::model::ElemType::Float)
        .filter_map(|weight| weight.elements)
        .fold(0, u64::saturating_add)
}

/// Writes `values` (as many as the weight holds) to the weight `name`:
/// stored values in place; a fill becomes an initializer of that name. The
/// fill's `ConstantOfShape` node is renamed to a dead output, returned, for
/// [`graph::remove_dead`] to drop once the caller has finished (node
/// indices held elsewhere stay valid until then).
pub(crate) fn store_values(
    graph: &mut GraphProto,
    name: &str,
    info: &ConstInfo,
    values: &[f32],
    names: &mut graph::Names,
) -> Option<String> {
    match info.source {
        Source::Values(at) => {
            if let Some(tensor) = const_tensor_mut(graph, at) {
                graph::set_float_values(tensor, values);
            }
            None
        }
        Source::Fill { .. } => {
            let node = crate::model::weights::fill_of(graph, name)?.node;
            let dead = names.fresh(&format!("{name}_fill"));
            if let Some(output) = graph.node.get_mut(node)?.output.first_mut() {
                output.clone_from(&dead);
            }
            let dims: Vec<i64> = info.dims.iter().map(|d| *d as i64).collect();
            graph
                .initializer
                .push(graph::float_tensor(name, &dims, values));
            Some(dead)
        }
    }
}

/// How many weights of the main graph are `ConstantOfShape` fills.
pub(crate) fn fill_count(proto: &ModelProto) -> usize {
    let Some(graph) = proto.graph.as_ref() else {
        return 0;
    };
    crate::model::weights::weights(graph)
        .iter()
        .filter(|weight| crate::model::weights::fill_of(graph, weight.name).is_some())
        .count()
}

#[cfg(test)]
mod tests {
    use std::collections::{BTreeSet, HashSet};

    use super::*;
    use crate::model::ElemType;
    use crate::model::test_util::{graph as make_graph, int64s, model_proto, node, value_info};
    use crate::transform::{Int8Mode, PruneSpec, int8, prune};

    /// `y = MatMul(x, w)` with `w` a `ConstantOfShape` fill of 0.5, [4, 3].
    fn fill_model() -> ModelProto {
        let mut fill = node("ConstantOfShape", &["w_shape"], &["w"], Vec::new());
        fill.attribute.push(crate::model::test_util::tensor_attr(
            "value",
            graph::float_tensor("", &[1], &[0.5]),
        ));
        model_proto(
            make_graph(
                "fill",
                vec![value_info("x", ElemType::Float, &["2", "4"])],
                vec![value_info("y", ElemType::Float, &["2", "3"])],
                vec![fill, node("MatMul", &["x", "w"], &["y"], Vec::new())],
                vec![int64s("w_shape", &[4, 3])],
            ),
            13,
        )
    }

    fn op_types(proto: &ModelProto) -> HashSet<String> {
        let graph = proto.graph.as_ref().expect("graph");
        graph.node.iter().map(|n| n.op_type().to_owned()).collect()
    }

    #[test]
    fn a_fill_is_a_weight_with_its_dims_and_value() {
        let proto = fill_model();
        let graph = proto.graph.as_ref().expect("graph");
        let info = lookup(graph, "w").expect("a weight");
        assert_eq!(info.dims, vec![4, 3]);
        assert_eq!(values(graph, &info).expect("values"), vec![0.5; 12]);
        assert_eq!(float_weight_elements(graph), 12);
        assert_eq!(fill_count(&proto), 1);
    }

    #[test]
    fn int8_quantizes_a_fill_and_drops_it_with_its_shape() {
        let mut proto = fill_model();
        let report = int8::quantize_keeping(&mut proto, Int8Mode::Qdq, &(BTreeSet::new(), ""))
            .expect("quantize");
        assert_eq!(report.quantized.len(), 1, "{report:?}");
        assert!(!op_types(&proto).contains("ConstantOfShape"));
        let graph = proto.graph.as_ref().expect("graph");
        assert!(graph.initializer.iter().all(|t| t.name() != "w_shape"));
        assert_eq!(fill_count(&proto), 0);
    }

    #[test]
    fn unstructured_pruning_writes_a_fill_out_as_values() {
        let mut proto = fill_model();
        let spec = PruneSpec {
            sparsity: 0.5,
            ..PruneSpec::default()
        };
        let report = prune::prune(&mut proto, &spec, &BTreeSet::new()).expect("prune");
        assert_eq!(report.layers.len(), 1, "{report:?}");
        assert!(!op_types(&proto).contains("ConstantOfShape"));
        let graph = proto.graph.as_ref().expect("graph");
        let info = lookup(graph, "w").expect("stored now");
        assert!(matches!(info.source, Source::Values(_)));
        let stored = values(graph, &info).expect("values");
        assert_eq!(stored.iter().filter(|v| **v == 0.0).count(), 6);
        assert_eq!(stored.iter().filter(|v| **v == 0.5).count(), 6);
    }
}
