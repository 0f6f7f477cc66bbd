//! What a weight is, for every part of the tool that counts, prunes or
//! quantizes weights: a constant that the runtime's nodes read.
//!
//! A constant is stored (an initializer, or a `Constant` node's tensor) or
//! computed by nodes whose inputs are all constants: a `ConstantOfShape`
//! fill (old model-zoo exports keep their weights that way), an
//! `Unsqueeze` of such a fill, a `DequantizeLinear` of int8 values, ...
//! ONNX Runtime folds computed constants before the first run, so a weight
//! is any constant read by a node that is not itself folded away (or a
//! graph output). A stored tensor read only by those folded nodes (a fill's
//! shape operand) is not a weight; a stored tensor nothing reads still
//! counts, since it is in the file.

use std::collections::{HashMap, HashSet};

use super::ElemType;
use super::node::{attr, is_default_domain};
use super::onnx::{GraphProto, NodeProto, TensorProto};
use super::tensor::inline_int_values;
use super::types::element_count;

/// Where a weight's values come from.
#[derive(Debug, Clone, Copy)]
pub enum WeightSource<'a> {
    /// An initializer.
    Initializer(&'a TensorProto),
    /// A `Constant` node (its `value` or one of its scalar and list forms).
    ConstantNode(&'a NodeProto),
    /// The output of a node computed from constants only.
    Computed(&'a NodeProto),
}

/// A weight of one graph.
#[derive(Debug, Clone)]
pub struct Weight<'a> {
    /// The value's name.
    pub name: &'a str,
    /// Where it comes from.
    pub source: WeightSource<'a>,
    /// Its elements, when known without shape inference: stored tensors,
    /// fills with a stored shape, and ops that keep the element count
    /// (reshapes, casts, transposes, dequantization) of those.
    pub elements: Option<u64>,
    /// Its element type, as far as the constant nodes tell.
    pub elem_type: ElemType,
}

/// Ops whose output holds as many elements as their first input.
const SAME_ELEMENTS: &[&str] = &[
    "Identity",
    "Reshape",
    "Unsqueeze",
    "Squeeze",
    "Flatten",
    "Cast",
    "Transpose",
    "DequantizeLinear",
    "Neg",
    "Abs",
    "Sqrt",
    "Reciprocal",
];

/// Ops that never fold: their output changes from run to run.
const NOT_FOLDED: &[&str] = &[
    "RandomNormal",
    "RandomUniform",
    "RandomNormalLike",
    "RandomUniformLike",
    "Multinomial",
    "Bernoulli",
];

/// What is known of one constant value while walking the graph.
#[derive(Debug, Clone, Copy)]
struct ConstInfo<'a> {
    source: WeightSource<'a>,
    elements: Option<u64>,
    elem_type: ElemType,
}

/// The constants of one graph: what is known of each, the names in the
/// order they appear, and the indices of the nodes that compute them.
struct Folded<'a> {
    constants: HashMap<&'a str, ConstInfo<'a>>,
    order: Vec<&'a str>,
    nodes: HashSet<usize>,
}

fn fold(graph: &GraphProto) -> Folded<'_> {
    let mut constants: HashMap<&str, ConstInfo<'_>> = HashMap::new();
    let mut order: Vec<&str> = Vec::new();
    for tensor in &graph.initializer {
        if constants
            .insert(
                tensor.name(),
                ConstInfo {
                    source: WeightSource::Initializer(tensor),
                    elements: element_count(&tensor.dims),
                    elem_type: ElemType::from_code(tensor.data_type()),
                },
            )
            .is_none()
        {
            order.push(tensor.name());
        }
    }
    let mut nodes: HashSet<usize> = HashSet::new();
    for (index, node) in graph.node.iter().enumerate() {
        let Some(info) = constant_output(node, &constants) else {
            continue;
        };
        nodes.insert(index);
        for output in node.output.iter().filter(|o| !o.is_empty()) {
            if constants.insert(output, info).is_none() {
                order.push(output);
            }
        }
    }
    Folded {
        constants,
        order,
        nodes,
    }
}

/// The indices of the nodes of `graph` that compute constants (`Constant`
/// nodes, fills, reshapes of weights, ...): ONNX Runtime folds them away.
pub fn folded_nodes(graph: &GraphProto) -> HashSet<usize> {
    fold(graph).nodes
}

/// The weights of `graph` (not of its subgraphs), initializers first, then
/// in node order.
pub fn weights(graph: &GraphProto) -> Vec<Weight<'_>> {
    let Folded {
        constants,
        order,
        nodes: folded,
    } = fold(graph);
    let mut read: HashSet<&str> = graph.output.iter().map(|o| o.name()).collect();
    let mut read_by_folded: HashSet<&str> = HashSet::new();
    for (index, node) in graph.node.iter().enumerate() {
        let inputs = node.input.iter().map(String::as_str);
        if folded.contains(&index) {
            read_by_folded.extend(inputs);
        } else {
            read.extend(inputs);
        }
    }
    order
        .into_iter()
        .filter(|name| read.contains(name) || !read_by_folded.contains(name))
        .filter_map(|name| {
            let info = constants.get(name)?;
            // A folded node's output nothing reads is not in the file either.
            if matches!(info.source, WeightSource::Computed(_)) && !read.contains(name) {
                return None;
            }
            Some(Weight {
                name,
                source: info.source,
                elements: info.elements,
                elem_type: info.elem_type,
            })
        })
        .collect()
}

/// The constant `node` makes, if it makes one.
fn constant_output<'a>(
    node: &'a NodeProto,
    constants: &HashMap<&str, ConstInfo<'a>>,
) -> Option<ConstInfo<'a>> {
    if !is_default_domain(node) {
        return None;
    }
    if node.op_type() == "Constant" {
        return Some(ConstInfo {
            source: WeightSource::ConstantNode(node),
            elements: constant_node_elements(node),
            elem_type: attr(node, "value")
                .and_then(|a| a.t.as_ref())
                .map_or(ElemType::Float, |t| ElemType::from_code(t.data_type())),
        });
    }
    let has_subgraph = node
        .attribute
        .iter()
        .any(|a| a.g.is_some() || !a.graphs.is_empty());
    let mut inputs = node.input.iter().filter(|i| !i.is_empty()).peekable();
    if has_subgraph || NOT_FOLDED.contains(&node.op_type()) || inputs.peek().is_none() {
        return None;
    }
    let mut first = None;
    for input in inputs {
        let info = constants.get(input.as_str())?;
        first.get_or_insert(*info);
    }
    let first = first?;
    let (elements, elem_type) = match node.op_type() {
        "ConstantOfShape" => (
            fill_dims_of(node, constants).and_then(|dims| element_count(&dims)),
            attr(node, "value")
                .and_then(|a| a.t.as_ref())
                .map_or(ElemType::Float, |t| ElemType::from_code(t.data_type())),
        ),
        "Cast" => (
            first.elements,
            super::node::attr_int(node, "to")
                .and_then(|to| i32::try_from(to).ok())
                .map_or(first.elem_type, ElemType::from_code),
        ),
        "DequantizeLinear" => (first.elements, ElemType::Float),
        op if SAME_ELEMENTS.contains(&op) => (first.elements, first.elem_type),
        _ => (None, first.elem_type),
    };
    Some(ConstInfo {
        source: WeightSource::Computed(node),
        elements,
        elem_type,
    })
}

/// Elements of a `Constant` node's value, whichever attribute holds it.
fn constant_node_elements(node: &NodeProto) -> Option<u64> {
    node.attribute.iter().find_map(|a| match a.name() {
        "value" => a.t.as_ref().and_then(|t| element_count(&t.dims)),
        "value_float" | "value_int" | "value_string" => Some(1),
        "value_floats" => Some(a.floats.len() as u64),
        "value_ints" => Some(a.ints.len() as u64),
        "value_strings" => Some(a.strings.len() as u64),
        _ => None,
    })
}

/// The dims a `ConstantOfShape` fills, from its stored shape operand.
fn fill_dims_of(node: &NodeProto, constants: &HashMap<&str, ConstInfo<'_>>) -> Option<Vec<i64>> {
    let shape = match constants.get(node.input.first()?.as_str())?.source {
        WeightSource::Initializer(tensor) => tensor,
        WeightSource::ConstantNode(constant) => attr(constant, "value")?.t.as_ref()?,
        WeightSource::Computed(_) => return None,
    };
    inline_int_values(shape).filter(|dims| dims.iter().all(|d| *d >= 0))
}

/// A weight stored as a `ConstantOfShape` fill.
#[derive(Debug, Clone)]
pub struct Fill<'a> {
    /// The `ConstantOfShape` node's index in the graph.
    pub node: usize,
    /// The name of its shape operand (an int64 initializer or `Constant`).
    pub shape: &'a str,
    /// The dims it fills.
    pub dims: Vec<i64>,
    /// Its `value` attribute (float32 zero when absent).
    pub value: Option<&'a TensorProto>,
}

/// The tensor stored under `name`: an initializer, or the `value` of a
/// default-domain `Constant` node.
pub fn stored_tensor<'a>(graph: &'a GraphProto, name: &str) -> Option<&'a TensorProto> {
    graph
        .initializer
        .iter()
        .find(|tensor| tensor.name() == name)
        .or_else(|| {
            graph
                .node
                .iter()
                .find(|node| {
                    node.op_type() == "Constant"
                        && is_default_domain(node)
                        && node.output.first().is_some_and(|o| o == name)
                })
                .and_then(|node| attr(node, "value")?.t.as_ref())
        })
}

/// The `ConstantOfShape` fill that makes `name`, if its shape is stored.
pub fn fill_of<'a>(graph: &'a GraphProto, name: &str) -> Option<Fill<'a>> {
    let (index, node) = graph.node.iter().enumerate().find(|(_, node)| {
        node.op_type() == "ConstantOfShape"
            && is_default_domain(node)
            && node.output.first().is_some_and(|o| o == name)
    })?;
    let shape = node.input.first()?;
    let tensor = stored_tensor(graph, shape)?;
    let dims = inline_int_values(tensor).filter(|dims| dims.iter().all(|d| *d >= 0))?;
    Some(Fill {
        node: index,
        shape,
        dims,
        value: attr(node, "value").and_then(|a| a.t.as_ref()),
    })
}

/// The element type and dims of the weight `name`, when stored or filled.
pub fn stored_or_filled_dims(graph: &GraphProto, name: &str) -> Option<(ElemType, Vec<i64>)> {
    let stored = stored_tensor(graph, name);
    if let Some(tensor) = stored {
        return Some((ElemType::from_code(tensor.data_type()), tensor.dims.clone()));
    }
    let fill = fill_of(graph, name)?;
    let elem_type = fill
        .value
        .map_or(ElemType::Float, |t| ElemType::from_code(t.data_type()));
    Some((elem_type, fill.dims))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::test_util::{graph as make_graph, int64s, node, value_info, zeros};

    /// `y = Mul(Conv(x, fill), Unsqueeze(fill2))` with an initializer bias
    /// and an unused initializer.
    fn graph() -> GraphProto {
        make_graph(
            "weights",
            vec![value_info("x", ElemType::Float, &["1", "3", "8", "8"])],
            vec![value_info("y", ElemType::Float, &["1", "8", "6", "6"])],
            vec![
                node("ConstantOfShape", &["w_shape"], &["w"], Vec::new()),
                node("Conv", &["x", "w", "b"], &["c"], Vec::new()),
                node("ConstantOfShape", &["s_shape"], &["s"], Vec::new()),
                node("Unsqueeze", &["s", "axes"], &["s4"], Vec::new()),
                node("Mul", &["c", "s4"], &["y"], Vec::new()),
            ],
            vec![
                int64s("w_shape", &[8, 3, 3, 3]),
                int64s("s_shape", &[8]),
                int64s("axes", &[1, 2]),
                zeros("b", &[8]),
                zeros("unused", &[2, 2]),
            ],
        )
    }

    #[test]
    fn weights_are_the_constants_the_runtime_reads() {
        let graph = graph();
        let found: Vec<(&str, Option<u64>)> = weights(&graph)
            .iter()
            .map(|w| (w.name, w.elements))
            .collect();
        // The fills' shape operands and the Unsqueeze axes feed folded nodes
        // only; the raw fill `s` is read only by its Unsqueeze.
        assert_eq!(
            found,
            vec![
                ("b", Some(8)),
                ("unused", Some(4)),
                ("w", Some(8 * 3 * 3 * 3)),
                ("s4", Some(8)),
            ]
        );
    }

    #[test]
    fn a_node_with_a_runtime_input_or_randomness_is_not_folded() {
        let mut graph = graph();
        graph.node.extend([
            node("RandomNormalLike", &["b"], &["n"], Vec::new()),
            node("Shape", &["x"], &["xs"], Vec::new()),
            node("ConstantOfShape", &["xs"], &["fx"], Vec::new()),
            node("Add", &["n", "fx"], &["z"], Vec::new()),
        ]);
        let names: Vec<&str> = weights(&graph).iter().map(|w| w.name).collect();
        assert!(!names.contains(&"n") && !names.contains(&"fx"), "{names:?}");
        assert!(names.contains(&"b"));
    }

    #[test]
    fn fill_of_reads_the_stored_shape() {
        let graph = graph();
        let fill = fill_of(&graph, "w").expect("a fill");
        assert_eq!((fill.node, fill.shape), (0, "w_shape"));
        assert_eq!(fill.dims, vec![8, 3, 3, 3]);
        assert!(fill_of(&graph, "b").is_none());
        assert_eq!(
            stored_or_filled_dims(&graph, "w"),
            Some((ElemType::Float, vec![8, 3, 3, 3]))
        );
        assert_eq!(
            stored_or_filled_dims(&graph, "b"),
            Some((ElemType::Float, vec![8]))
        );
    }
}
