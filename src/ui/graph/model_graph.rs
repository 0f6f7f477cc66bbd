//! The model's main graph as nodes and edges for the graph view: one node
//! per `graph.node` (except nodes that only compute constants, such as
//! `Constant` and weights made by `ConstantOfShape`), one per
//! graph input that is not an initializer and one per graph output; an
//! edge per consumed tensor, labelled with its shape where shape
//! propagation knows it.

use std::collections::{BTreeMap, HashMap, HashSet};

use crate::model::{Model, infer_shapes, node::node_id, onnx};

/// Attribute values longer than this are cut in the details panel.
const MAX_ATTRIBUTE_CHARS: usize = 120;

/// What a graph view node stands for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum NodeKind {
    /// A node of `graph.node`.
    Op,
    /// A graph input (not an initializer).
    Input,
    /// A graph output.
    Output,
}

/// A node of the graph view.
#[derive(Debug, Clone, PartialEq)]
pub struct GraphNode {
    /// `model::node::node_id` for ops (name, or `#<index>`), the tensor name
    /// for graph inputs and outputs.
    pub id: String,
    /// Op, graph input or graph output.
    pub kind: NodeKind,
    /// Op type (with `domain:` outside the default domain); `Input` or
    /// `Output` for graph inputs and outputs.
    pub op_type: String,
    /// Attributes as `(name, value text)`.
    pub attributes: Vec<(String, String)>,
    /// Input tensors as `(name, shape text)`; initializers included.
    pub inputs: Vec<(String, String)>,
    /// Output tensors as `(name, shape text)`.
    pub outputs: Vec<(String, String)>,
}

/// A tensor flowing from one node to another.
#[derive(Debug, Clone, PartialEq)]
pub struct GraphEdge {
    /// Producer (index into [`ModelGraph::nodes`]).
    pub from: usize,
    /// Consumer.
    pub to: usize,
    /// The tensor's shape (`1×3×224×224`), empty when unknown.
    pub shape: String,
    /// The tensor's name.
    pub tensor: String,
}

/// A shape as the view writes it: `1×3×224×224`.
pub fn shape_text(dims: &[i64]) -> String {
    dims.iter()
        .map(i64::to_string)
        .collect::<Vec<_>>()
        .join("×")
}

/// The graph the view draws, read once per model (in the background).
#[derive(Debug, Clone, PartialEq, Default)]
pub struct ModelGraph {
    /// Nodes, ops in `graph.node` order, then inputs, then outputs.
    pub nodes: Vec<GraphNode>,
    /// Edges, deduplicated per (producer, consumer) pair.
    pub edges: Vec<GraphEdge>,
    /// Nodes left out because they only compute constants (`Constant`,
    /// weights made by `ConstantOfShape`, …): ONNX Runtime folds them.
    pub constants_omitted: usize,
    /// Dims given to symbolic input dims for the shapes, as text.
    pub shape_note: String,
}

impl ModelGraph {
    /// Reads the main graph of `model`. Shapes come from the model's own
    /// shape propagation with every symbolic dim set to its default.
    pub fn from_model(model: &Model) -> Self {
        let Some(graph) = model.proto.graph.as_ref() else {
            return Self::default();
        };
        let shapes = infer_shapes(model, &BTreeMap::new());
        let shape_of = |tensor: &str| -> String {
            shapes
                .shapes
                .get(tensor)
                .map(|dims| shape_text(dims))
                .unwrap_or_default()
        };
        let shape_note = if shapes.dims_used.is_empty() {
            String::new()
        } else {
            format!(
                "symbolic dims set to {}",
                shapes
                    .dims_used
                    .iter()
                    .map(|(name, value)| format!("{name}={value}"))
                    .collect::<Vec<_>>()
                    .join(", ")
            )
        };
        let initializers: HashSet<&str> = graph
            .initializer
            .iter()
            .map(|tensor| tensor.name())
            .collect();

        let mut nodes = Vec::new();
        let mut producer: HashMap<String, usize> = HashMap::new();
        // Nodes that only compute constants (`Constant`, weights made by
        // `ConstantOfShape` and reshaped by `Unsqueeze`, …), as the model's
        // one definition of a weight has them.
        let folded = crate::model::weights::folded_nodes(graph);
        let constants_omitted = folded.len();
        for (index, node) in graph.node.iter().enumerate() {
            if folded.contains(&index) {
                continue;
            }
            let op_type = if crate::model::node::is_default_domain(node) {
                node.op_type().to_owned()
            } else {
                format!("{}:{}", node.domain(), node.op_type())
            };
            let tensors = |names: &[String]| -> Vec<(String, String)> {
                names
                    .iter()
                    .filter(|name| !name.is_empty())
                    .map(|name| (name.clone(), shape_of(name)))
                    .collect()
            };
            for output in &node.output {
                if !output.is_empty() {
                    producer.insert(output.clone(), nodes.len());
                }
            }
            nodes.push(GraphNode {
                id: node_id(node, index),
                kind: NodeKind::Op,
                op_type,
                attributes: node
                    .attribute
                    .iter()
                    .map(|attribute| (attribute.name().to_owned(), attribute_text(attribute)))
                    .collect(),
                inputs: tensors(&node.input),
                outputs: tensors(&node.output),
            });
        }
        for input in &graph.input {
            if initializers.contains(input.name()) || producer.contains_key(input.name()) {
                continue;
            }
            producer.insert(input.name().to_owned(), nodes.len());
            nodes.push(GraphNode {
                id: input.name().to_owned(),
                kind: NodeKind::Input,
                op_type: "Input".to_owned(),
                attributes: Vec::new(),
                inputs: Vec::new(),
                outputs: vec![(input.name().to_owned(), shape_of(input.name()))],
            });
        }
        let mut edges = Vec::new();
        let mut seen = HashSet::new();
        let op_count = nodes.len();
        for consumer in 0..op_count {
            let Some(node) = nodes.get(consumer) else {
                continue;
            };
            for (tensor, shape) in &node.inputs {
                if let Some(&from) = producer.get(tensor)
                    && from != consumer
                    && seen.insert((from, consumer))
                {
                    edges.push(GraphEdge {
                        from,
                        to: consumer,
                        shape: shape.clone(),
                        tensor: tensor.clone(),
                    });
                }
            }
        }
        for output in &graph.output {
            let index = nodes.len();
            nodes.push(GraphNode {
                id: output.name().to_owned(),
                kind: NodeKind::Output,
                op_type: "Output".to_owned(),
                attributes: Vec::new(),
                inputs: vec![(output.name().to_owned(), shape_of(output.name()))],
                outputs: Vec::new(),
            });
            if let Some(&from) = producer.get(output.name()) {
                edges.push(GraphEdge {
                    from,
                    to: index,
                    shape: shape_of(output.name()),
                    tensor: output.name().to_owned(),
                });
            }
        }
        Self {
            nodes,
            edges,
            constants_omitted,
            shape_note,
        }
    }

    /// A generated graph of `layers` rows, `width` nodes wide, with skip
    /// connections: the size and shape of a large real network, for tests
    /// and the frame-time measurement.
    pub fn generated(node_count: usize) -> Self {
        let width = 3usize;
        let mut nodes = Vec::with_capacity(node_count);
        let mut edges = Vec::new();
        for index in 0..node_count {
            nodes.push(GraphNode {
                id: format!("node_{index}"),
                kind: NodeKind::Op,
                op_type: ["Conv", "Relu", "Add", "MatMul"][index % 4].to_owned(),
                attributes: vec![("kernel_shape".to_owned(), "[3, 3]".to_owned())],
                inputs: Vec::new(),
                outputs: Vec::new(),
            });
            if index >= 1 {
                edges.push(GraphEdge {
                    from: index - 1,
                    to: index,
                    shape: "1×64×56×56".to_owned(),
                    tensor: format!("t{index}"),
                });
            }
            if index >= width && index % width == 0 {
                edges.push(GraphEdge {
                    from: index - width,
                    to: index,
                    shape: "1×64×56×56".to_owned(),
                    tensor: format!("t{index}"),
                });
            }
            if index >= 10 && index % 7 == 0 {
                edges.push(GraphEdge {
                    from: index - 10,
                    to: index,
                    shape: "1×64×56×56".to_owned(),
                    tensor: format!("t{index}"),
                });
            }
        }
        Self {
            nodes,
            edges,
            constants_omitted: 0,
            shape_note: String::new(),
        }
    }
}

/// An attribute's value as short text.
fn attribute_text(attribute: &onnx::AttributeProto) -> String {
    let text = if let Some(value) = attribute.i {
        value.to_string()
    } else if let Some(value) = attribute.f {
        format!("{value}")
    } else if let Some(bytes) = &attribute.s {
        format!("\"{}\"", String::from_utf8_lossy(bytes))
    } else if !attribute.ints.is_empty() {
        format!("{:?}", attribute.ints)
    } else if !attribute.floats.is_empty() {
        format!("{:?}", attribute.floats)
    } else if !attribute.strings.is_empty() {
        let strings: Vec<String> = attribute
            .strings
            .iter()
            .map(|s| String::from_utf8_lossy(s).into_owned())
            .collect();
        format!("{strings:?}")
    } else if let Some(tensor) = &attribute.t {
        format!("tensor {:?}", tensor.dims)
    } else if attribute.g.is_some() || !attribute.graphs.is_empty() {
        "subgraph".to_owned()
    } else {
        String::new()
    };
    if text.chars().count() > MAX_ATTRIBUTE_CHARS {
        let cut: String = text.chars().take(MAX_ATTRIBUTE_CHARS).collect();
        format!("{cut}…")
    } else {
        text
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_sample_reads_into_nodes_and_shaped_edges() {
        let path = crate::samples::sample_model_path("mlp.onnx").expect("sample");
        let model = Model::load(&path).expect("model");
        let graph = ModelGraph::from_model(&model);
        let ops = graph
            .nodes
            .iter()
            .filter(|node| node.kind == NodeKind::Op)
            .count();
        let proto_nodes = model.proto.graph.as_ref().map_or(0, |g| g.node.len());
        assert_eq!(ops + graph.constants_omitted, proto_nodes);
        assert!(graph.nodes.iter().any(|node| node.kind == NodeKind::Input));
        assert!(graph.nodes.iter().any(|node| node.kind == NodeKind::Output));
        assert!(!graph.edges.is_empty());
        assert!(graph.edges.iter().any(|edge| !edge.shape.is_empty()));
        for edge in &graph.edges {
            assert!(edge.from < graph.nodes.len() && edge.to < graph.nodes.len());
        }
    }

    #[test]
    fn nodes_that_only_compute_weights_are_left_out() {
        let node = |name: &str, op: &str, inputs: &[&str], output: &str| onnx::NodeProto {
            name: Some(name.to_owned()),
            op_type: Some(op.to_owned()),
            input: inputs.iter().map(|s| (*s).to_owned()).collect(),
            output: vec![output.to_owned()],
            ..Default::default()
        };
        let value = |name: &str| onnx::ValueInfoProto {
            name: Some(name.to_owned()),
            ..Default::default()
        };
        // weight = Unsqueeze(ConstantOfShape(shape initializer)); y = Mul(x, weight).
        let graph = onnx::GraphProto {
            node: vec![
                node("fill", "ConstantOfShape", &["shape"], "w0"),
                node("unsq", "Unsqueeze", &["w0", "axes"], "w"),
                node("mul", "Mul", &["x", "w"], "y"),
                node("", "Relu", &["y"], "z"),
            ],
            initializer: vec![
                onnx::TensorProto {
                    name: Some("shape".to_owned()),
                    ..Default::default()
                },
                onnx::TensorProto {
                    name: Some("axes".to_owned()),
                    ..Default::default()
                },
            ],
            input: vec![value("x")],
            output: vec![value("z")],
            ..Default::default()
        };
        let model = Model::from_proto(
            onnx::ModelProto {
                graph: Some(graph),
                ..Default::default()
            },
            None,
        );
        let graph = ModelGraph::from_model(&model);
        assert_eq!(graph.constants_omitted, 2);
        let ids: Vec<&str> = graph.nodes.iter().map(|n| n.id.as_str()).collect();
        assert_eq!(ids, ["mul", "#3", "x", "z"]);
        // x → mul → #3 → z.
        assert_eq!(graph.edges.len(), 3);
    }
}
