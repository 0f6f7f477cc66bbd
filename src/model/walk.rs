//! Walks every graph and tensor of a model: the main graph, subgraphs held in
//! node attributes (If / Loop / Scan bodies), functions and training graphs.

use super::onnx::{self, GraphProto, ModelProto, NodeProto, TensorProto};

/// Calls `visit` on the graph and, depth first, on every subgraph in its
/// nodes' attributes.
pub(crate) fn for_each_graph<'a>(graph: &'a GraphProto, visit: &mut dyn FnMut(&'a GraphProto)) {
    visit(graph);
    for node in &graph.node {
        for_each_node_subgraph(node, visit);
    }
}

fn for_each_node_subgraph<'a>(node: &'a NodeProto, visit: &mut dyn FnMut(&'a GraphProto)) {
    for attr in &node.attribute {
        for subgraph in attr.g.iter().chain(&attr.graphs) {
            for_each_graph(subgraph, visit);
        }
    }
}

/// Every graph in the model: the main graph and its subgraphs, then the
/// bodies of subgraphs used by functions, then training graphs.
pub(crate) fn all_graphs(model: &ModelProto) -> Vec<&GraphProto> {
    let mut graphs = Vec::new();
    let mut push = |graph| graphs.push(graph);
    if let Some(graph) = &model.graph {
        for_each_graph(graph, &mut push);
    }
    for function in &model.functions {
        for node in &function.node {
            for_each_node_subgraph(node, &mut push);
        }
    }
    for training in &model.training_info {
        for graph in training.initialization.iter().chain(&training.algorithm) {
            for_each_graph(graph, &mut push);
        }
    }
    graphs
}

/// Every dense tensor stored in a graph itself (not its subgraphs):
/// initializers, sparse initializers' values and indices, and tensors in
/// node attributes.
pub(crate) fn graph_tensors(graph: &GraphProto) -> impl Iterator<Item = &TensorProto> {
    let sparse = graph
        .sparse_initializer
        .iter()
        .flat_map(|sparse| sparse.values.iter().chain(&sparse.indices));
    let in_attributes = graph
        .node
        .iter()
        .flat_map(|node| &node.attribute)
        .flat_map(attribute_tensors);
    graph.initializer.iter().chain(sparse).chain(in_attributes)
}

/// Dense tensors in an attribute: `t`, `tensors`, and the parts of
/// `sparse_tensor` / `sparse_tensors`.
fn attribute_tensors(attr: &onnx::AttributeProto) -> impl Iterator<Item = &TensorProto> {
    let sparse = attr
        .sparse_tensor
        .iter()
        .chain(&attr.sparse_tensors)
        .flat_map(|sparse| sparse.values.iter().chain(&sparse.indices));
    attr.t.iter().chain(&attr.tensors).chain(sparse)
}

/// Every dense tensor anywhere in the model, including function bodies.
pub(crate) fn all_tensors(model: &ModelProto) -> Vec<&TensorProto> {
    let mut tensors: Vec<&TensorProto> = all_graphs(model)
        .into_iter()
        .flat_map(graph_tensors)
        .collect();
    for function in &model.functions {
        tensors.extend(
            function
                .node
                .iter()
                .flat_map(|node| &node.attribute)
                .flat_map(attribute_tensors),
        );
    }
    tensors
}
