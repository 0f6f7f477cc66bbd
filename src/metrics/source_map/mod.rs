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

use std::collections::{BTreeSet, HashMap, HashSet};

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

#[cfg(test)]
mod tests;
