//! Applies a plan: shrinks every recorded constant to the kept channels,
//! updates depthwise `group` attributes and flattening Reshape shapes, and
//! drops the declared shapes that are stale now.

use std::collections::{HashMap, HashSet};

use super::channels;
use super::plan::{Follow, Plan, Seg};
use crate::model::onnx::{GraphProto, tensor_shape_proto, type_proto};
use crate::transform::TransformError;
use crate::transform::graph::{const_tensor, const_tensor_mut, find_const};
use crate::transform::weights;

/// The indices along an axis laid out by `segs` that stay, and whether any
/// goes. `keep[space]` lists a space's kept channels (`None`: all stay).
pub(super) fn kept_indices(segs: &[Seg], keep: &[Option<Vec<usize>>]) -> (Vec<usize>, bool) {
    let mut out = Vec::new();
    let mut changed = false;
    let mut offset = 0;
    for seg in segs {
        let list = seg.space.and_then(|s| keep.get(s)).and_then(Option::as_ref);
        match list {
            Some(list) => {
                changed |= list.len() != seg.len;
                for &channel in list {
                    let start = offset + channel * seg.block;
                    out.extend(start..start + seg.block);
                }
            }
            None => out.extend(offset..offset + seg.len * seg.block),
        }
        offset += seg.len * seg.block;
    }
    (out, changed)
}

/// Shrinks the graph as the plan and the kept channels per group root say.
pub(super) fn apply(
    graph: &mut GraphProto,
    plan: &mut Plan,
    kept: &HashMap<usize, Vec<usize>>,
) -> Result<(), TransformError> {
    let keep: Vec<Option<Vec<usize>>> = (0..plan.spaces.len())
        .map(|space| kept.get(&plan.root(space)).cloned())
        .collect();
    let mut edited: HashSet<String> = HashSet::new();
    for edit in &plan.edits {
        let (indices, changed) = kept_indices(&edit.segs, &keep);
        if changed {
            channels::shrink(graph, &edit.tensor, edit.axis, &indices)?;
            edited.insert(edit.tensor.clone());
        }
    }
    for follow in &plan.follows {
        match follow {
            Follow::Group { node, segs } => {
                let (indices, changed) = kept_indices(segs, &keep);
                let attribute = graph
                    .node
                    .get_mut(*node)
                    .and_then(|n| n.attribute.iter_mut().find(|a| a.name() == "group"));
                if let (true, Some(attribute)) = (changed, attribute) {
                    attribute.i = Some(indices.len() as i64);
                }
            }
            Follow::ReshapeDim { shape, segs } => {
                let (indices, changed) = kept_indices(segs, &keep);
                if !changed {
                    continue;
                }
                let Some(at) = find_const(graph, shape) else {
                    continue;
                };
                let values = const_tensor(graph, at).and_then(weights::int64_values);
                let Some(mut values) = values.filter(|v| v.len() == 2) else {
                    return Err(TransformError::Unsupported(format!(
                        "the Reshape shape {shape:?} is not two int64 values"
                    )));
                };
                if let Some(dim) = values.get_mut(1) {
                    *dim = indices.len() as i64;
                }
                if let Some(tensor) = const_tensor_mut(graph, at) {
                    weights::set_int64_values(tensor, &values);
                }
            }
        }
    }
    // Declared shapes of shrunk activations and ConstantOfShape outputs are
    // stale; weights that are also graph inputs (IR < 4) follow their new dims.
    graph
        .value_info
        .retain(|info| !plan.touched.contains(info.name()) && !edited.contains(info.name()));
    let dims_of: HashMap<String, Vec<i64>> = graph
        .initializer
        .iter()
        .filter(|t| edited.contains(t.name()))
        .map(|t| (t.name().to_owned(), t.dims.clone()))
        .collect();
    for input in &mut graph.input {
        let Some(dims) = dims_of.get(input.name()) else {
            continue;
        };
        if let Some(type_proto::Value::TensorType(tensor)) =
            input.r#type.as_mut().and_then(|t| t.value.as_mut())
        {
            tensor.shape = Some(crate::model::onnx::TensorShapeProto {
                dim: dims
                    .iter()
                    .map(|d| tensor_shape_proto::Dimension {
                        value: Some(tensor_shape_proto::dimension::Value::DimValue(*d)),
                        denotation: None,
                    })
                    .collect(),
            });
        }
    }
    Ok(())
}
