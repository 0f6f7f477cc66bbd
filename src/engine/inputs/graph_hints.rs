//! What the graph accepts in each input, read from the model proto alone
//! (no ONNX Runtime): integer inputs that index a table (Gather,
//! GatherElements, GatherND, Scatter*) are drawn within the indexed dim, and
//! inputs that feed a shape operand (Reshape shape, Expand shape, Tile
//! repeats, ConstantOfShape, Slice, TopK k, Range, OneHot depth, Resize
//! scales and sizes, Pad pads, axes) get fixed values every such op accepts.
//! Inputs are followed to their consumers through Cast, Identity, Unsqueeze
//! and the like.

use std::collections::BTreeMap;

use crate::field::Field;
use crate::model::{
    DimDefault, Model, infer_shapes,
    node::{attr_int, is_default_domain, node_id},
};

/// Ops whose first output carries their first input's values (or a cast of
/// them), so an input's role is looked for past them.
const PASS_THROUGH_OPS: &[&str] = &[
    "Cast",
    "CastLike",
    "Identity",
    "Unsqueeze",
    "Squeeze",
    "Flatten",
    "Reshape",
    "Transpose",
    "Expand",
];

/// Pass-through ops followed at most this deep.
const MAX_DEPTH: usize = 8;

/// Fixed values of a shape-like operand, for an input of `n` elements.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum FixedValues {
    /// Every element 0 (Slice starts, Pad pads, Range start).
    Zeros,
    /// Every element 1 (Expand shape, Tile repeats, steps, scales, k).
    Ones,
    /// Ones, then -1 in the last element (a Reshape target any data fits).
    ReshapeAny,
    /// 0, 1, 2, … (distinct, valid axes).
    Iota,
    /// Every element this value (Slice ends past the end, Range limit, depth).
    Constant(i64),
    /// The shape of the op's data operand (Resize sizes).
    ShapeOfData,
    /// Sizes that add up to the data operand's dim along `axis` (Split,
    /// SplitToSequence).
    SplitOfData { axis: i64 },
}

impl FixedValues {
    /// The values for `n` elements; `None` for the values that depend on
    /// the data operand's shape (see [`FixedValues::for_data`]).
    pub fn values(self, n: usize) -> Option<Vec<i64>> {
        Some(match self {
            Self::Zeros => vec![0; n],
            Self::Ones => vec![1; n],
            Self::ReshapeAny => (0..n).map(|k| if k + 1 == n { -1 } else { 1 }).collect(),
            Self::Iota => (0..n as i64).collect(),
            Self::Constant(value) => vec![value; n],
            Self::ShapeOfData | Self::SplitOfData { .. } => return None,
        })
    }

    /// The values for `n` elements given the data operand's shape (when
    /// known); `None` when no valid values exist or are known.
    pub fn for_data(self, n: usize, data_shape: Option<&[i64]>) -> Option<Vec<i64>> {
        match self {
            Self::ShapeOfData => data_shape
                .filter(|shape| shape.len() == n)
                .map(<[i64]>::to_vec),
            Self::SplitOfData { axis } => {
                let shape = data_shape?;
                let axis = if axis < 0 {
                    axis + shape.len() as i64
                } else {
                    axis
                };
                let dim = *shape.get(usize::try_from(axis).ok()?)?;
                let parts = i64::try_from(n).ok()?;
                (parts >= 1 && dim >= parts).then(|| {
                    (0..parts)
                        .map(|k| if k == 0 { dim - (parts - 1) } else { 1 })
                        .collect()
                })
            }
            other => other.values(n),
        }
    }
}

/// The role of an input in the graph.
#[derive(Debug, Clone, PartialEq)]
pub enum Role {
    /// Indices into `data` along `axis` (`None`: every leading axis, as
    /// GatherND), so values must lie in `0..dim`.
    Index {
        data: String,
        axis: Option<i64>,
        /// The consumer, e.g. `Gather #3 indices`.
        what: String,
    },
    /// A shape-like operand: fixed values.
    Fixed {
        values: FixedValues,
        /// The op's data operand (its first input), for the values that
        /// depend on its shape.
        data: String,
        /// The consumer, e.g. `Expand 'e' shape`.
        what: String,
    },
}

/// The roles of the graph's inputs and the shapes the graph itself fixes.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct GraphHints {
    /// Roles by graph input name.
    pub roles: BTreeMap<String, Vec<Role>>,
    /// Shapes of values known without the inputs' dims (initializers,
    /// constants, and shape inference with the config's dims).
    pub shapes: BTreeMap<String, Vec<i64>>,
    /// Sizes chosen for the dynamic dims a run leaves unset
    /// ([`crate::model::dim_defaults`]).
    pub dim_defaults: Vec<DimDefault>,
}

/// How an input's synthetic values are chosen, once shapes are known.
#[derive(Debug, Clone, PartialEq)]
pub enum ResolvedHint {
    /// Integers drawn in `0..upper`.
    IndexBelow(i64),
    /// Exactly these values (cast to the input's dtype).
    Values(Vec<i64>),
}

/// The role of operand `slot` of a default-domain `node` with `op_type` as
/// it applies to an input: fixed values, or `Some(Index)`.
fn operand_role(op: &str, slot: usize, opset_inputs: &[String], axis: i64) -> Option<Role> {
    let data = || opset_inputs.first().cloned().unwrap_or_default();
    let fixed = |values: FixedValues| {
        Some(Role::Fixed {
            values,
            data: data(),
            what: String::new(),
        })
    };
    match (op, slot) {
        ("Gather" | "GatherElements" | "ScatterElements" | "Scatter", 1) => Some(Role::Index {
            data: data(),
            axis: Some(axis),
            what: String::new(),
        }),
        ("GatherND" | "ScatterND", 1) => Some(Role::Index {
            data: data(),
            axis: None,
            what: String::new(),
        }),
        ("Reshape", 1) => fixed(FixedValues::ReshapeAny),
        ("Expand" | "Tile", 1) | ("ConstantOfShape", 0) | ("TopK", 1) => fixed(FixedValues::Ones),
        ("Slice", 1) | ("Pad", 1) | ("Range", 0) => fixed(FixedValues::Zeros),
        ("Slice", 2) => fixed(FixedValues::Constant(i64::from(i32::MAX))),
        ("Slice", 3) | ("Unsqueeze", 1) => fixed(FixedValues::Iota),
        ("Slice", 4) | ("Range", 2) => fixed(FixedValues::Ones),
        ("Range", 1) | ("OneHot", 1) => fixed(FixedValues::Constant(10)),
        ("Resize", 2) | ("Upsample", 1) => fixed(FixedValues::Ones),
        ("Resize", 3) => fixed(FixedValues::ShapeOfData),
        ("Split" | "SplitToSequence", 1) => fixed(FixedValues::SplitOfData { axis }),
        (op, 1) if op.starts_with("Reduce") => fixed(FixedValues::Iota),
        _ => None,
    }
}

impl GraphHints {
    /// Reads the roles of the model's inputs and the shapes it fixes, with
    /// `dims` binding symbolic dims for shape inference.
    pub fn analyse(model: &Model, dims: &BTreeMap<String, i64>) -> Self {
        let Some(graph) = model.proto.graph.as_ref() else {
            return Self::default();
        };
        let initializers: Vec<&str> = graph.initializer.iter().map(|t| t.name()).collect();
        let mut consumers: BTreeMap<&str, Vec<(usize, usize)>> = BTreeMap::new();
        for (index, node) in graph.node.iter().enumerate() {
            for (slot, input) in node.input.iter().enumerate() {
                if !input.is_empty() {
                    consumers.entry(input).or_default().push((index, slot));
                }
            }
        }
        let mut roles: BTreeMap<String, Vec<Role>> = BTreeMap::new();
        for input in &graph.input {
            if initializers.contains(&input.name()) {
                continue;
            }
            let mut frontier = vec![input.name()];
            for _ in 0..MAX_DEPTH {
                let mut next = Vec::new();
                for value in frontier {
                    for &(index, slot) in consumers.get(value).map_or(&[][..], Vec::as_slice) {
                        let node = &graph.node[index];
                        if !is_default_domain(node) {
                            continue;
                        }
                        let op = node.op_type();
                        let axis = attr_int(node, "axis").unwrap_or(0);
                        if let Some(mut role) = operand_role(op, slot, &node.input, axis) {
                            let what = format!("{op} {} input {slot}", node_id(node, index));
                            match &mut role {
                                Role::Index {
                                    what: slot_what, ..
                                }
                                | Role::Fixed {
                                    what: slot_what, ..
                                } => *slot_what = what,
                            }
                            roles.entry(input.name().to_owned()).or_default().push(role);
                        } else if slot == 0
                            && PASS_THROUGH_OPS.contains(&op)
                            && let Some(output) = node.output.first()
                        {
                            next.push(output.as_str());
                        }
                    }
                }
                if next.is_empty() {
                    break;
                }
                frontier = next;
            }
        }
        let dim_defaults = model.chosen_dims();
        let shapes = if roles.is_empty() {
            BTreeMap::new()
        } else {
            // The dims a run uses: the config's, else the chosen defaults.
            let mut bound: BTreeMap<String, i64> = dim_defaults
                .iter()
                .filter_map(|d| Some((d.symbol.clone()?, d.value)))
                .collect();
            bound.extend(dims.iter().map(|(name, value)| (name.clone(), *value)));
            infer_shapes(model, &bound).shapes
        };
        Self {
            roles,
            shapes,
            dim_defaults,
        }
    }

    /// How `input`'s values are chosen, given the resolved shapes of the
    /// graph inputs (`input_shapes`) and its own element count. Adds a note
    /// on what was chosen, or why nothing could be.
    pub fn resolve(
        &self,
        input: &str,
        num_elements: usize,
        input_shapes: &BTreeMap<&str, &[i64]>,
        notes: &mut Vec<String>,
    ) -> Option<ResolvedHint> {
        let roles = self.roles.get(input)?;
        let shape_of = |value: &str| -> Option<Vec<i64>> {
            input_shapes
                .get(value)
                .map(|shape| shape.to_vec())
                .or_else(|| self.shapes.get(value).cloned())
        };
        let mut note = |text: String| {
            if !notes.contains(&text) {
                notes.push(text);
            }
        };
        if let Some(Role::Fixed { values, data, what }) =
            roles.iter().find(|role| matches!(role, Role::Fixed { .. }))
        {
            let chosen = values.for_data(num_elements, shape_of(data).as_deref());
            return match chosen {
                Some(values) => {
                    note(format!(
                        "input '{input}' feeds {what}, a shape-like operand: set to {values:?} ({} gives other values)",
                        Field::Inputs
                    ));
                    Some(ResolvedHint::Values(values))
                }
                None => {
                    note(format!(
                        "input '{input}' feeds {what}, a shape-like operand whose valid values are not known for these shapes; synthetic values may be refused (give them with {}, or larger dims with {} or {})",
                        Field::Inputs,
                        Field::Shapes,
                        Field::Dims
                    ));
                    None
                }
            };
        }
        let mut upper: Option<(i64, &str)> = None;
        for role in roles {
            let Role::Index { data, axis, what } = role else {
                continue;
            };
            let Some(shape) = shape_of(data) else {
                note(format!(
                    "input '{input}' feeds {what} (indices), but the shape of '{data}' is not known; synthetic indices may be out of range (give them with {})",
                    Field::Inputs
                ));
                continue;
            };
            let rank = shape.len() as i64;
            let dim = match axis {
                Some(axis) => {
                    let axis = if *axis < 0 { axis + rank } else { *axis };
                    usize::try_from(axis)
                        .ok()
                        .and_then(|axis| shape.get(axis).copied())
                }
                None => shape.iter().copied().min(),
            };
            let Some(dim) = dim.filter(|dim| *dim >= 0) else {
                continue;
            };
            if upper.is_none_or(|(bound, _)| dim < bound) {
                upper = Some((dim, what.as_str()));
            }
        }
        let (bound, what) = upper?;
        let bound = bound.max(1);
        note(format!(
            "input '{input}' feeds {what} (indices): values drawn in 0..{bound}"
        ));
        Some(ResolvedHint::IndexBelow(bound))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::onnx::{
        GraphProto, ModelProto, NodeProto, OperatorSetIdProto, TensorProto, TypeProto,
        ValueInfoProto, tensor_shape_proto, type_proto,
    };

    fn value(name: &str, elem: i32, dims: &[i64]) -> ValueInfoProto {
        let dim = dims
            .iter()
            .map(|d| tensor_shape_proto::Dimension {
                value: Some(tensor_shape_proto::dimension::Value::DimValue(*d)),
                ..Default::default()
            })
            .collect();
        ValueInfoProto {
            name: Some(name.to_owned()),
            r#type: Some(TypeProto {
                value: Some(type_proto::Value::TensorType(type_proto::Tensor {
                    elem_type: Some(elem),
                    shape: Some(crate::model::onnx::TensorShapeProto { dim }),
                })),
                ..Default::default()
            }),
            ..Default::default()
        }
    }

    fn node(op: &str, inputs: &[&str], outputs: &[&str]) -> NodeProto {
        crate::model::test_util::node(op, inputs, outputs, Vec::new())
    }

    fn model(nodes: Vec<NodeProto>, inputs: Vec<ValueInfoProto>) -> Model {
        let proto = ModelProto {
            ir_version: Some(8),
            opset_import: vec![OperatorSetIdProto {
                domain: Some(String::new()),
                version: Some(13),
            }],
            graph: Some(GraphProto {
                node: nodes,
                input: inputs,
                initializer: vec![TensorProto {
                    name: Some("table".to_owned()),
                    dims: vec![4, 3],
                    data_type: Some(1),
                    float_data: vec![0.0; 12],
                    ..Default::default()
                }],
                ..Default::default()
            }),
            ..Default::default()
        };
        Model::from_proto(proto, None)
    }

    #[test]
    fn gather_indices_through_a_cast_are_bounded_by_the_table() {
        let m = model(
            vec![
                node("Cast", &["ids"], &["ids64"]),
                node("Gather", &["table", "ids64"], &["out"]),
            ],
            vec![value("ids", 6, &[2, 5])],
        );
        let hints = GraphHints::analyse(&m, &BTreeMap::new());
        let mut notes = Vec::new();
        let resolved = hints.resolve("ids", 10, &BTreeMap::new(), &mut notes);
        assert_eq!(resolved, Some(ResolvedHint::IndexBelow(4)));
        assert!(notes[0].contains("0..4"), "{notes:?}");
    }

    #[test]
    fn shape_operands_get_values_every_op_accepts() {
        let m = model(
            vec![
                node("Expand", &["x", "target"], &["y"]),
                node("Reshape", &["x", "new_shape"], &["z"]),
            ],
            vec![
                value("x", 1, &[3, 1]),
                value("target", 7, &[2]),
                value("new_shape", 7, &[3]),
            ],
        );
        let hints = GraphHints::analyse(&m, &BTreeMap::new());
        let mut notes = Vec::new();
        let shapes = BTreeMap::new();
        assert_eq!(
            hints.resolve("target", 2, &shapes, &mut notes),
            Some(ResolvedHint::Values(vec![1, 1]))
        );
        assert_eq!(
            hints.resolve("new_shape", 3, &shapes, &mut notes),
            Some(ResolvedHint::Values(vec![1, 1, -1]))
        );
        assert_eq!(hints.resolve("x", 3, &shapes, &mut notes), None);
        assert_eq!(notes.len(), 2, "{notes:?}");
    }

    #[test]
    fn split_sizes_add_up_to_the_data_dim() {
        let split = FixedValues::SplitOfData { axis: -1 };
        assert_eq!(split.for_data(3, Some(&[2, 7])), Some(vec![5, 1, 1]));
        assert_eq!(split.for_data(1, Some(&[2, 7])), Some(vec![7]));
        assert_eq!(split.for_data(3, Some(&[2, 2])), None);
        assert_eq!(split.for_data(3, None), None);
        let sizes = FixedValues::ShapeOfData;
        assert_eq!(sizes.for_data(2, Some(&[4, 5])), Some(vec![4, 5]));
        assert_eq!(sizes.for_data(3, Some(&[4, 5])), None);
    }
}
