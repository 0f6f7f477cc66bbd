//! Which nodes of the model file each profiled node executes.
//!
//! ONNX Runtime profiles its *optimized* graph: nodes are fused (`Conv` +
//! `BatchNormalization` + `Relu` into one `Conv`), moved to the NCHWc layout
//! (`r1_nchwc`), and new nodes are inserted (`ReorderInput`,
//! `ReorderOutput`, memcpy). The engine lets ONNX Runtime write that graph
//! next to the profile; this module matches it to the source graph through
//! tensor lineage:
//!
//! - a tensor of the optimized graph that has the same name in the source
//!   graph is an *anchor* (graph inputs, and outputs that survive fusion);
//!   the output of a layout or memcpy node stands for its input's anchor and
//!   the other way round; a node ONNX Runtime renamed (`X_nchwc`,
//!   `X/MatMulAddFusion`, `fused X`) stands for the tensor or node `X` when
//!   its output has no anchor of its own;
//! - an optimized node executes the source nodes between its input anchors
//!   and its output anchors: walking back from the output anchors through
//!   tensors that no longer exist, the walk must end at the node's own input
//!   anchors or at constants (initializers and `Constant` folds), or the
//!   node is left unmatched.
//!
//! Nodes ONNX Runtime inserted are `Inserted`; a node that cannot be placed
//! is `Unmatched`, and its time is reported as such, never spread by guess.
//! Profile events name unnamed optimized nodes `<op>_<k>`, where `k` is
//! ONNX Runtime's node index: for a node of the file, its position among the
//! non-`Constant` nodes (ONNX Runtime turns `Constant` nodes into
//! initializers when it loads the model).

use std::collections::{BTreeMap, BTreeSet, HashMap, HashSet};

use serde::{Deserialize, Serialize};

pub use super::layers::MappingInfo;
use super::layers::{LayerReport, NodeOrigin};
use crate::model::{
    node::{attr_string, node_id},
    onnx::GraphProto,
    onnx::NodeProto,
};

/// Source nodes one backward walk may visit before it gives up (the node is
/// then unmatched).
const MAX_WALK_NODES: usize = 10_000;

/// Op types ONNX Runtime inserts that execute no node of the file.
const INSERTED_OPS: [&str; 4] = [
    "ReorderInput",
    "ReorderOutput",
    "MemcpyToHost",
    "MemcpyFromHost",
];

/// Names (before a `_token_<n>` suffix) of the reshapes ONNX Runtime puts
/// around a `MatMul`+`Add` it fused into `Gemm` on inputs of rank above 2.
const INSERTED_NAME_STEMS: [&str; 2] = ["gemm_input_reshape", "gemm_output_reshape"];

/// Whether ONNX Runtime inserted `node`: it executes no node of the file,
/// and lineage passes through it from its first input to its first output.
/// Besides the layout and memcpy ops, these are the reshapes it puts around
/// a fused Gemm and around NCHWc element-wise ops: a `Reshape` whose output
/// is not a tensor of the file and whose name names no node or tensor of it.
fn is_inserted(node: &NodeProto, index: &SourceIndex<'_>) -> bool {
    if INSERTED_OPS.contains(&node.op_type()) {
        return true;
    }
    if node.op_type() != "Reshape" {
        return false;
    }
    let stem = match node.name().rsplit_once("_token_") {
        Some((head, tail)) if tail.chars().all(|c| c.is_ascii_digit()) => head,
        _ => node.name(),
    };
    INSERTED_NAME_STEMS.contains(&stem)
        || (node
            .output
            .first()
            .is_some_and(|output| !index.is_tensor(output))
            && index.derived(node.name()).is_none())
}

/// Ops whose output is not a function of their inputs, so never folded.
const NONDETERMINISTIC_OPS: [&str; 5] = [
    "RandomNormal",
    "RandomUniform",
    "RandomNormalLike",
    "RandomUniformLike",
    "Multinomial",
];

/// What the mapping says of one optimized node.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct MappedNode {
    pub origin: NodeOrigin,
    /// Source node ids (`model::node::node_id`), in graph order.
    pub source_nodes: Vec<String>,
}

/// The mapping of an optimized graph onto its source graph, by the names
/// profile events give the optimized nodes.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct SourceMap {
    by_profile_name: HashMap<String, MappedNode>,
    /// Nodes of the source graph that run (not `Constant` or folded).
    pub runtime_source_nodes: usize,
}

/// The figures of the summary line.
#[derive(Debug, Clone, PartialEq)]
pub struct MappingSummary {
    pub optimized_nodes: usize,
    /// Optimized nodes that execute at least one source node.
    pub mapped_optimized: usize,
    /// Distinct source nodes executed by the profiled nodes.
    pub covered_source: usize,
    pub runtime_source_nodes: usize,
    /// Share of kernel time in inserted nodes, 0..=1.
    pub inserted_share: f64,
    /// Share of kernel time in unmatched nodes, 0..=1.
    pub unmatched_share: f64,
    pub note: Option<String>,
}

impl std::fmt::Display for MappingSummary {
    /// `source mapping: 143 of 150 optimized nodes map to 212 of 230 source
    /// nodes; 1.2 % of kernel time inserted by ONNX Runtime, 0.3 % unmatched`
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "source mapping: {} of {} optimized nodes map to {} of {} source nodes; {:.1} % of kernel time inserted by ONNX Runtime, {:.1} % unmatched",
            self.mapped_optimized,
            self.optimized_nodes,
            self.covered_source,
            self.runtime_source_nodes,
            self.inserted_share * 100.0,
            self.unmatched_share * 100.0
        )?;
        if let Some(note) = &self.note {
            write!(f, " ({note})")?;
        }
        Ok(())
    }
}

impl SourceMap {
    /// The mapping of the optimized node a profile event names. A name the
    /// optimized graph does not hold is `Unmatched`.
    pub fn lookup(&self, profile_name: &str) -> MappedNode {
        self.by_profile_name
            .get(profile_name)
            .cloned()
            .unwrap_or(MappedNode {
                origin: NodeOrigin::Unmatched,
                source_nodes: Vec::new(),
            })
    }

    /// Number of optimized nodes mapped.
    pub fn len(&self) -> usize {
        self.by_profile_name.len()
    }

    /// Whether the optimized graph had no nodes.
    pub fn is_empty(&self) -> bool {
        self.by_profile_name.is_empty()
    }
}

/// Fills `origin` and `source_nodes` of every node of `report` from `map`
/// and records the mapping in `report.source_map`.
pub fn apply(report: &mut LayerReport, map: &SourceMap, note: Option<String>) {
    for node in &mut report.nodes {
        let mapped = map.lookup(&node.node);
        node.origin = mapped.origin;
        node.source_nodes = mapped.source_nodes;
    }
    report.source_map = Some(MappingInfo {
        runtime_source_nodes: map.runtime_source_nodes,
        note,
    });
}

/// Records in `report` that no mapping could be made, and why.
pub fn mark_unavailable(report: &mut LayerReport, reason: String) {
    report.source_map = Some(MappingInfo {
        runtime_source_nodes: 0,
        note: Some(reason),
    });
}

/// The summary line's figures; `None` when the report carries no mapping.
pub fn summary(report: &LayerReport) -> Option<MappingSummary> {
    let info = report.source_map.as_ref()?;
    let kernel_total: u64 = report.nodes.iter().map(|node| node.total_micros).sum();
    let share_of = |origin: NodeOrigin| {
        let micros: u64 = report
            .nodes
            .iter()
            .filter(|node| node.origin == origin)
            .map(|node| node.total_micros)
            .sum();
        if kernel_total == 0 {
            0.0
        } else {
            micros as f64 / kernel_total as f64
        }
    };
    let covered: BTreeSet<&str> = report
        .nodes
        .iter()
        .flat_map(|node| node.source_nodes.iter().map(String::as_str))
        .collect();
    Some(MappingSummary {
        optimized_nodes: report.nodes.len(),
        mapped_optimized: report
            .nodes
            .iter()
            .filter(|node| !node.source_nodes.is_empty())
            .count(),
        covered_source: covered.len(),
        runtime_source_nodes: info.runtime_source_nodes,
        inserted_share: share_of(NodeOrigin::Inserted),
        unmatched_share: share_of(NodeOrigin::Unmatched) + share_of(NodeOrigin::Unknown),
        note: info.note.clone(),
    })
}

/// The summary as a report line: the figures, or why there is no mapping.
pub fn summary_line(report: &LayerReport) -> Option<String> {
    let info = report.source_map.as_ref()?;
    if report
        .nodes
        .iter()
        .all(|node| node.origin == NodeOrigin::Unknown)
    {
        return Some(format!(
            "source mapping: none ({})",
            info.note.as_deref().unwrap_or("not made")
        ));
    }
    summary(report).map(|summary| summary.to_string())
}

/// The source graph, indexed for the walks.
struct SourceIndex<'a> {
    nodes: &'a [NodeProto],
    /// Tensor name → index of the node producing it.
    producer: HashMap<&'a str, usize>,
    /// Tensors known before the run: initializers and what only constants
    /// feed (`Constant` nodes, folds of them).
    constant: HashSet<&'a str>,
    /// Nodes that only compute constants.
    constant_node: Vec<bool>,
    /// Source node names → index.
    by_name: HashMap<&'a str, usize>,
    /// Graph inputs (declared, or consumed and never produced).
    graph_inputs: HashSet<&'a str>,
    /// Tensor name → indices of the nodes consuming it.
    consumers: HashMap<&'a str, Vec<usize>>,
}

impl<'a> SourceIndex<'a> {
    fn new(graph: &'a GraphProto) -> Self {
        let mut constant: HashSet<&str> = graph
            .initializer
            .iter()
            .map(|tensor| tensor.name())
            .collect();
        let mut producer = HashMap::new();
        let mut by_name = HashMap::new();
        let mut constant_node = vec![false; graph.node.len()];
        let mut consumers: HashMap<&str, Vec<usize>> = HashMap::new();
        let mut graph_inputs: HashSet<&str> =
            graph.input.iter().map(|input| input.name()).collect();
        // Graph order is topological in a valid model, so one pass decides
        // which nodes only see constants.
        for (index, node) in graph.node.iter().enumerate() {
            for output in &node.output {
                if !output.is_empty() {
                    producer.entry(output.as_str()).or_insert(index);
                }
            }
            if !node.name().is_empty() {
                by_name.entry(node.name()).or_insert(index);
            }
            for input in node.input.iter().filter(|input| !input.is_empty()) {
                consumers.entry(input.as_str()).or_default().push(index);
            }
            for input in &node.input {
                // Consumed before any node produced it: a graph input.
                if !input.is_empty() && !producer.contains_key(input.as_str()) {
                    graph_inputs.insert(input.as_str());
                }
            }
            let inputs: Vec<&String> = node.input.iter().filter(|i| !i.is_empty()).collect();
            let is_constant = node.op_type() == "Constant"
                || (!inputs.is_empty()
                    && !NONDETERMINISTIC_OPS.contains(&node.op_type())
                    && inputs.iter().all(|input| constant.contains(input.as_str())));
            if is_constant {
                constant_node[index] = true;
                constant.extend(node.output.iter().map(String::as_str));
            }
        }
        Self {
            nodes: &graph.node,
            producer,
            constant,
            constant_node,
            by_name,
            graph_inputs,
            consumers,
        }
    }

    fn is_tensor(&self, name: &str) -> bool {
        self.producer.contains_key(name)
            || self.constant.contains(name)
            || self.graph_inputs.contains(name)
    }

    /// The one node consuming `tensor`, if exactly one does.
    fn sole_consumer(&self, tensor: &str) -> Option<&'a NodeProto> {
        match self.consumers.get(tensor).map(Vec::as_slice) {
            Some([only]) => self.nodes.get(*only),
            _ => None,
        }
    }

    /// The source tensor a renamed node computes, starting from the output
    /// of the node its name derives from. A Conv named after its own output
    /// can have absorbed a following `Add`/`Sum` (its fourth input) and an
    /// activation (its `activation` attribute) after it was named.
    fn fused_tail(&self, optimized: &NodeProto, derived_output: &'a str) -> &'a str {
        let mut tensor = derived_output;
        if optimized
            .input
            .get(3)
            .is_some_and(|input| !input.is_empty())
            && let Some(next) = self.sole_consumer(tensor)
            && matches!(next.op_type(), "Add" | "Sum")
            && let Some(out) = next.output.first()
        {
            tensor = out.as_str();
        }
        if let Some(activation) = attr_string(optimized, "activation") {
            let produced_by_it = self
                .producer
                .get(tensor)
                .and_then(|&position| self.nodes.get(position))
                .is_some_and(|producer| producer.op_type() == activation);
            if !produced_by_it
                && let Some(next) = self.sole_consumer(tensor)
                && next.op_type() == activation
                && let Some(out) = next.output.first()
            {
                tensor = out.as_str();
            }
        }
        tensor
    }

    /// The source node ONNX Runtime's derived name points at: `X_nchwc`,
    /// `X/MatMulAddFusion`, `fused X`, `X_token_12`, where `X` is a node or
    /// output tensor name.
    fn derived(&self, optimized_name: &str) -> Option<usize> {
        let mut base = optimized_name;
        if let Some(rest) = base.strip_prefix("fused ") {
            base = rest;
        }
        if let Some((head, _)) = base.split_once('/') {
            base = head;
        }
        if let Some((head, tail)) = base.rsplit_once("_token_")
            && tail.chars().all(|c| c.is_ascii_digit())
        {
            base = head;
        }
        if let Some(rest) = base.strip_suffix("_nchwc") {
            base = rest;
        }
        if base.is_empty() {
            return None;
        }
        let find = |name: &str| {
            self.by_name
                .get(name)
                .or_else(|| self.producer.get(name))
                .copied()
                .filter(|&index| !self.constant_node[index])
        };
        // A BatchNormalization, Mul or Add rewritten as an NCHWc depthwise
        // Conv is named `<output>_bn_nchwc`, `<output>_mul_nchwc`, ...
        find(base).or_else(|| {
            ["_bn", "_mul", "_add"]
                .iter()
                .find_map(|suffix| base.strip_suffix(suffix))
                .and_then(find)
        })
    }
}

/// Matches the optimized graph to the source graph.
pub fn map_graphs(source: &GraphProto, optimized: &GraphProto) -> SourceMap {
    let index = SourceIndex::new(source);
    // Anchors: optimized tensor → the source tensor it holds.
    let mut anchor: HashMap<&str, &str> = HashMap::new();
    for node in &optimized.node {
        for tensor in node.input.iter().chain(&node.output) {
            if !tensor.is_empty() && index.is_tensor(tensor) {
                anchor.insert(tensor.as_str(), tensor.as_str());
            }
        }
    }
    propagate_through_inserted(optimized, &mut anchor, &index);
    // Renamed nodes stand for the tensor their name derives from.
    for node in &optimized.node {
        let Some(first) = node.output.first() else {
            continue;
        };
        if is_inserted(node, &index) || first.is_empty() || anchor.contains_key(first.as_str()) {
            continue;
        }
        if let Some(source_index) = index.derived(node.name())
            && let Some(out) = index.nodes[source_index].output.first()
        {
            anchor.insert(first.as_str(), index.fused_tail(node, out));
        }
    }
    propagate_through_inserted(optimized, &mut anchor, &index);
    let anchored: HashSet<&str> = anchor.values().copied().collect();

    // ONNX Runtime's index of a node of the file: its position among the
    // non-Constant nodes.
    let mut ort_index: HashMap<usize, usize> = HashMap::new();
    let mut next = 0usize;
    for (position, node) in source.node.iter().enumerate() {
        if node.op_type() != "Constant" {
            ort_index.insert(position, next);
            next += 1;
        }
    }

    let mut map = SourceMap {
        runtime_source_nodes: index.constant_node.iter().filter(|c| !**c).count(),
        ..SourceMap::default()
    };
    for node in &optimized.node {
        let mapped = if is_inserted(node, &index) {
            MappedNode {
                origin: NodeOrigin::Inserted,
                source_nodes: Vec::new(),
            }
        } else {
            map_node(node, &index, &anchor, &anchored)
        };
        let profile_name = if node.name().is_empty() {
            // Only a node kept as it is can be found again: its index is its
            // position among the file's non-Constant nodes.
            match unnamed_source_position(node, &index).and_then(|p| ort_index.get(&p)) {
                Some(k) => format!("{}_{k}", node.op_type()),
                None => continue,
            }
        } else {
            node.name().to_owned()
        };
        map.by_profile_name.entry(profile_name).or_insert(mapped);
    }
    map
}

/// Layout and memcpy nodes pass their anchor on, in both directions, until
/// nothing changes (chains of them are short).
fn propagate_through_inserted<'a>(
    optimized: &'a GraphProto,
    anchor: &mut HashMap<&'a str, &'a str>,
    index: &SourceIndex<'_>,
) {
    for _ in 0..8 {
        let mut changed = false;
        for node in optimized
            .node
            .iter()
            .filter(|node| is_inserted(node, index))
        {
            let (Some(input), Some(output)) = (node.input.first(), node.output.first()) else {
                continue;
            };
            match (
                anchor.get(input.as_str()).copied(),
                anchor.get(output.as_str()).copied(),
            ) {
                (Some(held), None) => {
                    anchor.insert(output.as_str(), held);
                    changed = true;
                }
                (None, Some(held)) => {
                    anchor.insert(input.as_str(), held);
                    changed = true;
                }
                _ => {}
            }
        }
        if !changed {
            break;
        }
    }
}

/// The source node an unnamed optimized node is, when it kept its op type
/// and outputs.
fn unnamed_source_position(node: &NodeProto, index: &SourceIndex<'_>) -> Option<usize> {
    let first = node.output.first()?;
    let position = *index.producer.get(first.as_str())?;
    let source = index.nodes.get(position)?;
    (source.op_type() == node.op_type() && source.output == node.output).then_some(position)
}

/// The source nodes one optimized compute node executes.
fn map_node(
    node: &NodeProto,
    index: &SourceIndex<'_>,
    anchor: &HashMap<&str, &str>,
    anchored: &HashSet<&str>,
) -> MappedNode {
    let unmatched = MappedNode {
        origin: NodeOrigin::Unmatched,
        source_nodes: Vec::new(),
    };
    let outputs: BTreeSet<&str> = node
        .output
        .iter()
        .filter_map(|tensor| anchor.get(tensor.as_str()).copied())
        .filter(|tensor| !index.constant.contains(tensor))
        .collect();
    let inputs: HashSet<&str> = node
        .input
        .iter()
        .filter_map(|tensor| anchor.get(tensor.as_str()).copied())
        .collect();
    // Without lineage (or where the walk reaches another node's work), only
    // a name ONNX Runtime derived from a node of the file, or the same name,
    // places it, and only on that node.
    let by_name = || -> BTreeSet<usize> { index.derived(node.name()).into_iter().collect() };
    let covered = if outputs.is_empty() {
        by_name()
    } else {
        walk_back(&outputs, &inputs, index, anchored).unwrap_or_else(by_name)
    };
    if covered.is_empty() {
        return unmatched;
    }
    let is_layout = node.domain() == "com.microsoft.nchwc" || node.name().ends_with("_nchwc");
    let origin = if is_layout {
        NodeOrigin::Layout
    } else if covered.len() > 1 {
        NodeOrigin::Fused
    } else {
        NodeOrigin::Source
    };
    MappedNode {
        origin,
        source_nodes: covered
            .into_iter()
            .map(|position| node_id(&index.nodes[position], position))
            .collect(),
    }
}

/// Source nodes from the producers of `outputs` back to `inputs`. `None`
/// when the walk reaches a tensor another node computes (the lineage is not
/// this node's alone) or grows past [`MAX_WALK_NODES`].
fn walk_back(
    outputs: &BTreeSet<&str>,
    inputs: &HashSet<&str>,
    index: &SourceIndex<'_>,
    anchored: &HashSet<&str>,
) -> Option<BTreeSet<usize>> {
    let mut covered = BTreeSet::new();
    let mut stack: Vec<usize> = Vec::new();
    for tensor in outputs {
        // An output that is also an input (an in-place op) executes nothing.
        if inputs.contains(tensor) {
            continue;
        }
        stack.push(*index.producer.get(tensor)?);
    }
    while let Some(position) = stack.pop() {
        if index.constant_node[position] || !covered.insert(position) {
            continue;
        }
        if covered.len() > MAX_WALK_NODES {
            return None;
        }
        for tensor in &index.nodes[position].input {
            let tensor = tensor.as_str();
            if tensor.is_empty() || index.constant.contains(tensor) || inputs.contains(tensor) {
                continue;
            }
            if anchored.contains(tensor) && !outputs.contains(tensor) {
                // Computed by another optimized node: not ours to claim.
                return None;
            }
            stack.push(*index.producer.get(tensor)?);
        }
    }
    Some(covered)
}

/// Source node ids per optimized node as a sorted list, for tests and
/// debugging output.
pub fn describe(map: &SourceMap) -> BTreeMap<String, MappedNode> {
    map.by_profile_name
        .iter()
        .map(|(name, mapped)| (name.clone(), mapped.clone()))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::metrics::layers::{LayerSource, LayerStats};

    fn node(op: &str, name: &str, inputs: &[&str], outputs: &[&str]) -> NodeProto {
        NodeProto {
            op_type: Some(op.to_owned()),
            name: Some(name.to_owned()),
            input: inputs.iter().map(|s| (*s).to_owned()).collect(),
            output: outputs.iter().map(|s| (*s).to_owned()).collect(),
            ..NodeProto::default()
        }
    }

    fn graph(nodes: Vec<NodeProto>, initializers: &[&str]) -> GraphProto {
        GraphProto {
            node: nodes,
            initializer: initializers
                .iter()
                .map(|name| crate::model::onnx::TensorProto {
                    name: Some((*name).to_owned()),
                    ..Default::default()
                })
                .collect(),
            ..GraphProto::default()
        }
    }

    fn mapped(map: &SourceMap, name: &str) -> (NodeOrigin, Vec<String>) {
        let found = map.lookup(name);
        (found.origin, found.source_nodes)
    }

    fn ids(list: &[&str]) -> Vec<String> {
        list.iter().map(|s| (*s).to_owned()).collect()
    }

    /// Conv+BatchNorm+Relu, Conv+Relu, residual Add and MatMul+Add, as ONNX
    /// Runtime 1.31 rewrites them at level all on CPU.
    fn conv_bn_relu() -> (GraphProto, GraphProto) {
        let source = graph(
            vec![
                node("Conv", "conv1", &["x", "w1"], &["c1"]),
                node(
                    "BatchNormalization",
                    "bn1",
                    &["c1", "s", "b", "m", "v"],
                    &["b1"],
                ),
                node("Relu", "relu1", &["b1"], &["r1"]),
                node("Conv", "conv2", &["r1", "w2", "b2"], &["c2"]),
                node("Relu", "relu2", &["c2"], &["r2"]),
                node("Add", "residual", &["r1", "r2"], &["sum"]),
                node("GlobalAveragePool", "gap", &["sum"], &["gap"]),
                node("Flatten", "flatten", &["gap"], &["flat"]),
                node("MatMul", "fc_matmul", &["flat", "fc_w"], &["mm"]),
                node("Add", "fc_add", &["mm", "fc_b"], &["y"]),
            ],
            &["w1", "s", "b", "m", "v", "w2", "b2", "fc_w", "fc_b"],
        );
        let mut optimized = graph(
            vec![
                node("Conv", "r1_nchwc", &["x", "reorder", "bn_b"], &["rt0"]),
                node("Conv", "r2_nchwc", &["rt0", "rt1", "b2"], &["rt2"]),
                node("Add", "residual", &["rt0", "rt2"], &["rt3"]),
                node("GlobalAveragePool", "gap_nchwc", &["rt3"], &["rt4"]),
                node("ReorderOutput", "ReorderOutput", &["rt4"], &["gap"]),
                node("Flatten", "flatten", &["gap"], &["flat"]),
                node(
                    "Gemm",
                    "fc_matmul/MatMulAddFusion",
                    &["flat", "fc_w", "fc_b"],
                    &["y"],
                ),
            ],
            &["reorder", "bn_b", "rt1", "b2", "fc_w", "fc_b"],
        );
        for position in [0, 1, 3, 4] {
            optimized.node[position].domain = Some("com.microsoft.nchwc".to_owned());
        }
        (source, optimized)
    }

    #[test]
    fn fused_and_layout_nodes_list_the_nodes_they_execute() {
        let (source, optimized) = conv_bn_relu();
        let map = map_graphs(&source, &optimized);
        assert_eq!(
            mapped(&map, "r1_nchwc"),
            (NodeOrigin::Layout, ids(&["conv1", "bn1", "relu1"]))
        );
        assert_eq!(
            mapped(&map, "r2_nchwc"),
            (NodeOrigin::Layout, ids(&["conv2", "relu2"]))
        );
        assert_eq!(
            mapped(&map, "residual"),
            (NodeOrigin::Source, ids(&["residual"]))
        );
        assert_eq!(
            mapped(&map, "gap_nchwc"),
            (NodeOrigin::Layout, ids(&["gap"]))
        );
        assert_eq!(
            mapped(&map, "ReorderOutput"),
            (NodeOrigin::Inserted, vec![])
        );
        assert_eq!(
            mapped(&map, "flatten"),
            (NodeOrigin::Source, ids(&["flatten"]))
        );
        assert_eq!(
            mapped(&map, "fc_matmul/MatMulAddFusion"),
            (NodeOrigin::Fused, ids(&["fc_matmul", "fc_add"]))
        );
        assert_eq!(
            mapped(&map, "not_in_graph"),
            (NodeOrigin::Unmatched, vec![])
        );
        assert_eq!(map.runtime_source_nodes, 10);
    }

    #[test]
    fn unnamed_nodes_are_found_by_ort_index_and_constants_are_not_claimed() {
        // Constant weights, unnamed nodes: ids are #<index in graph.node>,
        // profile names <op>_<index among non-Constant nodes>.
        let source = graph(
            vec![
                node("Constant", "", &[], &["w1"]),
                node("Conv", "", &["x", "w1"], &["t0"]),
                node("Relu", "", &["t0"], &["t1"]),
                node("Constant", "", &[], &["shape"]),
                node("Reshape", "", &["t1", "shape"], &["t2"]),
                node("Sigmoid", "", &["t2"], &["y"]),
            ],
            &[],
        );
        let optimized = graph(
            vec![
                node("FusedConv", "fused ", &["x", "w1"], &["t1"]),
                node("Reshape", "", &["t1", "shape"], &["t2"]),
                node("Sigmoid", "", &["t2"], &["y"]),
            ],
            &["w1", "shape"],
        );
        let map = map_graphs(&source, &optimized);
        assert_eq!(
            mapped(&map, "fused "),
            (NodeOrigin::Fused, ids(&["#1", "#2"]))
        );
        assert_eq!(
            mapped(&map, "Reshape_2"),
            (NodeOrigin::Source, ids(&["#4"]))
        );
        assert_eq!(
            mapped(&map, "Sigmoid_3"),
            (NodeOrigin::Source, ids(&["#5"]))
        );
        assert_eq!(map.runtime_source_nodes, 4);
    }

    #[test]
    fn a_conv_with_a_sum_input_covers_the_add_it_absorbed() {
        // The NCHWc Conv is named after `t2` but also adds `t1` (its fourth
        // input): it computes `t3`, and the QuickGelu after it `t4`, `t5`.
        let source = graph(
            vec![
                node("Conv", "", &["t1", "w"], &["t2"]),
                node("Add", "", &["t1", "t2"], &["t3"]),
                node("Sigmoid", "", &["t3"], &["t4"]),
                node("Mul", "", &["t3", "t4"], &["t5"]),
            ],
            &["w"],
        );
        let optimized = graph(
            vec![
                node("Conv", "t2_nchwc", &["t1", "w", "", "t1"], &["rt3"]),
                node("QuickGelu", "/QuickGeluFusion/", &["rt3"], &["t5"]),
            ],
            &["w"],
        );
        let map = map_graphs(&source, &optimized);
        assert_eq!(
            mapped(&map, "t2_nchwc"),
            (NodeOrigin::Layout, ids(&["#0", "#1"]))
        );
        assert_eq!(
            mapped(&map, "/QuickGeluFusion/"),
            (NodeOrigin::Fused, ids(&["#2", "#3"]))
        );
    }

    #[test]
    fn a_walk_into_another_nodes_work_is_unmatched_not_guessed() {
        // The first node's output was renamed and its name says nothing:
        // walking back from `t5` for the second node reaches `t1`, which is
        // not its input, so neither is placed.
        let source = graph(
            vec![
                node("Conv", "", &["t1", "w"], &["t2"]),
                node("Add", "", &["t1", "t2"], &["t3"]),
                node("Sigmoid", "", &["t3"], &["t4"]),
                node("Mul", "", &["t3", "t4"], &["t5"]),
            ],
            &["w"],
        );
        let optimized = graph(
            vec![
                node("FusedConv", "opaque", &["t1", "w"], &["rt3"]),
                node("QuickGelu", "/QuickGeluFusion/", &["rt3"], &["t5"]),
            ],
            &["w"],
        );
        let map = map_graphs(&source, &optimized);
        assert_eq!(mapped(&map, "opaque"), (NodeOrigin::Unmatched, vec![]));
        assert_eq!(
            mapped(&map, "/QuickGeluFusion/"),
            (NodeOrigin::Unmatched, vec![])
        );
    }

    #[test]
    fn an_activation_fused_after_naming_is_covered_and_nchwc_reshapes_are_inserted() {
        // ResNet-style: Conv+BN+Sum+Relu as one NCHWc Conv named after the
        // BatchNorm output; the residual Add of a MobileNet block runs in
        // NCHWc between Reshapes ONNX Runtime inserted.
        let source = graph(
            vec![
                node("Conv", "c", &["r0", "w"], &["a"]),
                node(
                    "BatchNormalization",
                    "bn",
                    &["a", "s", "b", "m", "v"],
                    &["r75"],
                ),
                node("Sum", "sum", &["r75", "r0"], &["r76"]),
                node("Relu", "relu", &["r76"], &["r77"]),
                node("Add", "add", &["r77", "r0"], &["y"]),
            ],
            &["w", "s", "b", "m", "v"],
        );
        let mut conv = node("Conv", "r75_nchwc", &["n0", "wr", "bias", "n0"], &["n1"]);
        conv.attribute.push(crate::model::onnx::AttributeProto {
            name: Some("activation".to_owned()),
            s: Some(b"Relu".to_vec()),
            ..Default::default()
        });
        let optimized = graph(
            vec![
                node("ReorderInput", "ReorderInput", &["r0"], &["n0"]),
                conv,
                node("Reshape", "Reshape", &["n1", "shape"], &["n2"]),
                node("Reshape", "Reshape_token_4", &["n0", "shape"], &["n3"]),
                node("Add", "add", &["n2", "n3"], &["n4"]),
                node("Reshape", "Reshape_token_5", &["n4", "shape2"], &["n5"]),
                node("ReorderOutput", "ReorderOutput", &["n5"], &["y"]),
            ],
            &["wr", "bias", "shape", "shape2"],
        );
        let map = map_graphs(&source, &optimized);
        assert_eq!(
            mapped(&map, "r75_nchwc"),
            (NodeOrigin::Layout, ids(&["c", "bn", "sum", "relu"]))
        );
        assert_eq!(mapped(&map, "add"), (NodeOrigin::Source, ids(&["add"])));
        assert_eq!(index_derived(&source, "r75_bn_nchwc"), Some(1));
        assert_eq!(index_derived(&source, "y_add_nchwc"), Some(4));
        assert_eq!(index_derived(&source, "nothing_bn_nchwc"), None);
        for inserted in ["Reshape", "Reshape_token_4", "Reshape_token_5"] {
            assert_eq!(mapped(&map, inserted), (NodeOrigin::Inserted, vec![]));
        }
    }

    #[test]
    fn memcpy_is_inserted_and_passes_lineage_through() {
        let source = graph(
            vec![
                node("MatMul", "mm", &["x", "w"], &["a"]),
                node("Relu", "relu", &["a"], &["y"]),
            ],
            &["w"],
        );
        let optimized = graph(
            vec![
                node("MemcpyFromHost", "Memcpy", &["x"], &["x_dev"]),
                node("MatMul", "mm", &["x_dev", "w"], &["a"]),
                node("Relu", "relu", &["a"], &["y_dev"]),
                node("MemcpyToHost", "Memcpy_token_1", &["y_dev"], &["y"]),
            ],
            &["w"],
        );
        let map = map_graphs(&source, &optimized);
        assert_eq!(mapped(&map, "Memcpy"), (NodeOrigin::Inserted, vec![]));
        assert_eq!(
            mapped(&map, "Memcpy_token_1"),
            (NodeOrigin::Inserted, vec![])
        );
        assert_eq!(mapped(&map, "mm"), (NodeOrigin::Source, ids(&["mm"])));
        assert_eq!(mapped(&map, "relu"), (NodeOrigin::Source, ids(&["relu"])));
    }

    #[test]
    fn gemm_reshapes_are_inserted_and_the_gemm_takes_matmul_and_add() {
        let source = graph(
            vec![
                node("LayerNormalization", "ln", &["x", "g", "b"], &["ln_out"]),
                node("MatMul", "proj_matmul", &["ln_out", "w"], &["proj"]),
                node("Add", "proj_add", &["proj", "bias"], &["y"]),
            ],
            &["g", "b", "w", "bias"],
        );
        let optimized = graph(
            vec![
                node("LayerNormalization", "ln", &["x", "g", "b"], &["ln_out"]),
                node(
                    "Reshape",
                    "gemm_input_reshape",
                    &["ln_out", "s1"],
                    &["in_arg"],
                ),
                node(
                    "Gemm",
                    "proj_matmul/MatMulAddFusion",
                    &["in_arg", "w", "bias"],
                    &["out_arg"],
                ),
                node(
                    "Reshape",
                    "gemm_output_reshape_token_3",
                    &["out_arg", "s2"],
                    &["y"],
                ),
            ],
            &["g", "b", "w", "bias", "s1", "s2"],
        );
        let map = map_graphs(&source, &optimized);
        assert_eq!(
            mapped(&map, "proj_matmul/MatMulAddFusion"),
            (NodeOrigin::Fused, ids(&["proj_matmul", "proj_add"]))
        );
        assert_eq!(
            mapped(&map, "gemm_input_reshape"),
            (NodeOrigin::Inserted, vec![])
        );
        assert_eq!(
            mapped(&map, "gemm_output_reshape_token_3"),
            (NodeOrigin::Inserted, vec![])
        );
        assert_eq!(mapped(&map, "ln"), (NodeOrigin::Source, ids(&["ln"])));
    }

    fn index_derived(source: &GraphProto, name: &str) -> Option<usize> {
        SourceIndex::new(source).derived(name)
    }

    fn stats(node: &str, micros: u64) -> LayerStats {
        LayerStats {
            node: node.to_owned(),
            total_micros: micros,
            ..LayerStats::default()
        }
    }

    #[test]
    fn apply_fills_the_report_and_the_summary_counts_time() {
        let (source, optimized) = conv_bn_relu();
        let map = map_graphs(&source, &optimized);
        let mut report = LayerReport {
            source: LayerSource::SeparatePass,
            runs: 1,
            model_run_total_micros: 1000,
            model_run_mean_micros: 1000.0,
            kernel_share: 1.0,
            session_initialization_micros: None,
            nodes: vec![
                stats("r1_nchwc", 600),
                stats("ReorderOutput", 100),
                stats("mystery", 50),
                stats("fc_matmul/MatMulAddFusion", 250),
            ],
            op_types: Vec::new(),
            timeline: None,
            machine_peaks: None,
            source_map: None,
            memory: None,
        };
        assert_eq!(summary_line(&report), None);
        apply(&mut report, &map, None);
        assert_eq!(
            report.nodes[0].source_nodes,
            ids(&["conv1", "bn1", "relu1"])
        );
        assert_eq!(report.nodes[2].origin, NodeOrigin::Unmatched);
        let summary = summary(&report).expect("mapped");
        assert_eq!(summary.mapped_optimized, 2);
        assert_eq!(summary.covered_source, 5);
        assert_eq!(summary.runtime_source_nodes, 10);
        assert!((summary.inserted_share - 0.1).abs() < 1e-9);
        assert!((summary.unmatched_share - 0.05).abs() < 1e-9);
        assert_eq!(
            summary.to_string(),
            "source mapping: 2 of 4 optimized nodes map to 5 of 10 source nodes; 10.0 % of kernel time inserted by ONNX Runtime, 5.0 % unmatched"
        );
        let mut failed = report.clone();
        for node in &mut failed.nodes {
            node.origin = NodeOrigin::Unknown;
        }
        mark_unavailable(&mut failed, "ONNX Runtime did not write it".to_owned());
        assert_eq!(
            summary_line(&failed).as_deref(),
            Some("source mapping: none (ONNX Runtime did not write it)")
        );
    }
}
