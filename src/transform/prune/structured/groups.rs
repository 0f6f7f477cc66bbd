//! The channel dependency graph (after Torch-Pruning's DepGraph): which
//! tensors must lose the same channel indices, and what to shrink.
//!
//! Every Conv/ConvTranspose/Gemm/MatMul with a constant float32 weight
//! starts a *channel space* (its output channels). Walking the nodes in
//! graph order, each tensor carries a [`ChannelMap`]: along its channel
//! axis, which spaces its channels come from (several after a Concat; each
//! space channel a block of features after a Flatten). The rules:
//!
//! - BatchNormalization, elementwise unary ops, pools, reductions over
//!   spatial axes, Resize, Dropout, Identity, Cast pass the map through
//!   (per-channel parameters sliced);
//! - a depthwise Conv passes it through (its weight, bias and `group` follow);
//! - a Conv (group 1), ConvTranspose, Gemm or MatMul drops the matching
//!   input channels of its weight and ends the path;
//! - Add, Sub, Mul, Div, Sum, Max, Min, Mean, PRelu unite the spaces of
//!   their inputs (they must drop the same indices); a per-channel constant
//!   operand is sliced;
//! - Concat along the channel axis joins the maps by offset;
//! - Flatten/Reshape to `[N, C·H·W]` turns each channel into its block of
//!   H·W features.
//!
//! Anything else (a graph output, an unknown op, an unknown shape, a node
//! in the keep list) blocks the spaces that reach it, with the reason.

use std::collections::{BTreeMap, BTreeSet, HashMap, HashSet};

use crate::model::node::node_id;
use crate::model::onnx::{GraphProto, NodeProto};
use crate::transform::graph::{attr_int, find_const, is_default_domain};
use crate::transform::weights::{self, ConstInfo};

use super::plan::{ChannelMap, Edit, Follow, Plan, Seg, Space, seg_total};

/// Ops applied element by element on their first input.
const UNARY: &[&str] = &[
    "Relu",
    "LeakyRelu",
    "Sigmoid",
    "Tanh",
    "Elu",
    "Selu",
    "Celu",
    "ThresholdedRelu",
    "HardSigmoid",
    "HardSwish",
    "Softplus",
    "Softsign",
    "Gelu",
    "Erf",
    "Identity",
    "Dropout",
    "Neg",
    "Abs",
    "Exp",
    "Log",
    "Sqrt",
    "Reciprocal",
    "Clip",
    "Mish",
    "Cast",
    "Floor",
    "Ceil",
    "Round",
    "Sign",
];

/// Ops that broadcast their inputs together element by element.
const BINARY: &[&str] = &[
    "Add", "Sub", "Mul", "Div", "Sum", "Max", "Min", "Mean", "PRelu", "Pow",
];

/// Ops that keep the channels of an `[N, C, ...]` tensor (axis 1).
const SPATIAL: &[&str] = &[
    "MaxPool",
    "AveragePool",
    "GlobalAveragePool",
    "GlobalMaxPool",
    "LpPool",
    "GlobalLpPool",
    "Resize",
    "Upsample",
    "LRN",
];

/// Builds the plan of `graph`. `shapes` are inferred shapes (symbolic dims
/// bound to 1); `keep` the nodes that must stay as they are.
pub(super) fn build(
    graph: &GraphProto,
    shapes: &BTreeMap<String, Vec<i64>>,
    keep: &BTreeSet<String>,
) -> Plan {
    let mut uses: HashMap<&str, usize> = HashMap::new();
    for node in &graph.node {
        let mut seen: HashSet<&str> = HashSet::new();
        for input in &node.input {
            if seen.insert(input.as_str()) {
                *uses.entry(input.as_str()).or_default() += 1;
            }
        }
    }
    for output in &graph.output {
        *uses.entry(output.name()).or_default() += 1;
    }
    // Tensors read inside subgraphs (If, Loop, Scan bodies) by name.
    let mut captured: HashSet<String> = HashSet::new();
    for node in &graph.node {
        for attribute in &node.attribute {
            for body in attribute.g.iter().chain(&attribute.graphs) {
                subgraph_inputs(body, &mut captured);
            }
        }
    }
    let made = graph
        .node
        .iter()
        .flat_map(|n| n.output.iter())
        .chain(graph.initializer.iter().filter_map(|t| t.name.as_ref()));
    for name in made.filter(|name| captured.contains(*name)) {
        *uses.entry(name.as_str()).or_default() += 1;
    }
    let mut planner = Planner {
        graph,
        shapes,
        keep,
        uses,
        maps: HashMap::new(),
        plan: Plan::default(),
    };
    for (index, node) in graph.node.iter().enumerate() {
        planner.visit(index, node);
    }
    for output in &graph.output {
        if let Some(map) = planner.maps.get(output.name()).cloned() {
            let reason = format!("its output reaches the graph output {:?}", output.name());
            planner.block_map(&map, &reason);
        }
    }
    for name in &captured {
        if let Some(map) = planner.maps.get(name).cloned() {
            let reason = format!("its channels are read inside a subgraph ({name:?})");
            planner.block_map(&map, &reason);
        }
    }
    if let Some(name) = first_out_of_order(graph) {
        // This reason replaces any other: no rule above saw the graph right.
        let reason =
            format!("the nodes are not in topological order ({name:?} is read before it is made)");
        for slot in &mut planner.plan.blocked {
            *slot = Some(reason.clone());
        }
    }
    planner.plan
}

/// Every node input of a subgraph, nested ones included.
fn subgraph_inputs(graph: &GraphProto, names: &mut HashSet<String>) {
    for node in &graph.node {
        names.extend(node.input.iter().filter(|i| !i.is_empty()).cloned());
        for attribute in &node.attribute {
            for body in attribute.g.iter().chain(&attribute.graphs) {
                subgraph_inputs(body, names);
            }
        }
    }
}

/// A tensor some node reads before the node that makes it, if any.
fn first_out_of_order(graph: &GraphProto) -> Option<String> {
    let made_at: HashMap<&str, usize> = graph
        .node
        .iter()
        .enumerate()
        .flat_map(|(index, node)| node.output.iter().map(move |o| (o.as_str(), index)))
        .collect();
    graph.node.iter().enumerate().find_map(|(index, node)| {
        node.input
            .iter()
            .find(|input| made_at.get(input.as_str()).is_some_and(|at| *at >= index))
            .cloned()
    })
}

/// The walk over the graph.
struct Planner<'g> {
    graph: &'g GraphProto,
    shapes: &'g BTreeMap<String, Vec<i64>>,
    keep: &'g BTreeSet<String>,
    /// Nodes (and graph outputs) reading each tensor.
    uses: HashMap<&'g str, usize>,
    maps: HashMap<String, ChannelMap>,
    plan: Plan,
}

/// A layer that starts a space.
struct Producer {
    axis: usize,
    channels: usize,
    bias: Option<(String, usize)>,
    last: bool,
    rank: Option<usize>,
}

impl Planner<'_> {
    fn visit(&mut self, index: usize, node: &NodeProto) {
        let label = node_id(node, index);
        let op = node.op_type();
        let mapped: Vec<(usize, ChannelMap)> = node
            .input
            .iter()
            .enumerate()
            .filter_map(|(pos, input)| self.maps.get(input).map(|m| (pos, m.clone())))
            .collect();
        if !mapped.is_empty() {
            let result = if !is_default_domain(node) {
                Err(format!("its channels reach the custom op {op} ({label})"))
            } else {
                self.consume(index, node, &label, &mapped)
            };
            // A kept node keeps its own output channels (as Torch-Pruning's
            // ignored layers do): a layer that only reads the channels may
            // lose inputs, but channels may not pass through a kept node.
            let result = match result {
                Ok(Some(_)) if self.keep.contains(&label) => Err(format!(
                    "its channels pass through {op} {label}, which is kept as it is"
                )),
                other => other,
            };
            match result {
                Ok(Some(map)) => {
                    if let Some(output) = node.output.first().filter(|o| !o.is_empty()) {
                        self.plan.touched.insert(output.clone());
                        self.maps.insert(output.clone(), map);
                    }
                }
                Ok(None) => {}
                Err(reason) => {
                    for (_, map) in &mapped {
                        self.block_map(map, &reason);
                    }
                }
            }
        }
        if !is_default_domain(node) || !matches!(op, "Conv" | "ConvTranspose" | "Gemm" | "MatMul") {
            return;
        }
        match self.producer(node) {
            Ok(producer) => {
                let space = self.start_space(index, node, &label, producer);
                if self.keep.contains(&label) {
                    // Its channels still couple others; none of them may go.
                    self.plan.block(space, "kept as it is (keep list)");
                }
            }
            Err(reason) => self.plan.not_producers.push((index, op.to_owned(), reason)),
        }
    }

    /// Blocks every space of `map`.
    fn block_map(&mut self, map: &ChannelMap, reason: &str) {
        for seg in &map.segs {
            if let Some(space) = seg.space {
                self.plan.block(space, reason);
            }
        }
    }

    /// Whether `node` starts a space, and how.
    fn producer(&self, node: &NodeProto) -> Result<Producer, String> {
        let op = node.op_type();
        let weight = node.input.get(1).map(String::as_str).unwrap_or_default();
        let Some(info) = weights::lookup(self.graph, weight) else {
            return Err("weight is not a constant float32 tensor".to_owned());
        };
        if self.uses.get(weight).copied().unwrap_or(0) > 1 {
            return Err("weight shared with other nodes".to_owned());
        }
        let dims = &info.dims;
        let group = attr_int(node, "group").unwrap_or(1);
        let output_rank = node
            .output
            .first()
            .and_then(|o| self.shapes.get(o))
            .map(Vec::len);
        let (axis, last, rank) = match op {
            "Conv" | "ConvTranspose" if group != 1 => {
                return Err(format!(
                    "grouped Conv ({group} groups): its channels follow its input's"
                ));
            }
            "Conv" if dims.len() >= 3 => (0, false, Some(dims.len())),
            "ConvTranspose" if dims.len() >= 3 => (1, false, Some(dims.len())),
            "Gemm" if dims.len() == 2 => (
                usize::from(attr_int(node, "transB").unwrap_or(0) == 0),
                true,
                Some(2),
            ),
            "MatMul" if dims.len() == 2 => (1, true, output_rank),
            _ => return Err(format!("weight of rank {}", dims.len())),
        };
        let channels = dims.get(axis).copied().unwrap_or(0);
        if channels < 2 {
            return Err("a single output channel".to_owned());
        }
        let bias = match node.input.get(2).filter(|b| !b.is_empty()) {
            None => None,
            Some(bias) => {
                let Some(bias_info) = weights::lookup(self.graph, bias) else {
                    return Err("bias is not a constant float32 tensor".to_owned());
                };
                let bias_dims = &bias_info.dims;
                let Some(count) = bias_dims.iter().try_fold(1usize, |a, d| a.checked_mul(*d))
                else {
                    return Err("bias shape overflows".to_owned());
                };
                if count == 1 {
                    None
                } else if bias_dims.last() == Some(&channels) && count == channels {
                    if self.uses.get(bias.as_str()).copied().unwrap_or(0) > 1 {
                        return Err("bias shared with other nodes".to_owned());
                    }
                    Some((bias.clone(), bias_dims.len() - 1))
                } else {
                    return Err(format!("bias of shape {bias_dims:?}"));
                }
            }
        };
        Ok(Producer {
            axis,
            channels,
            bias,
            last,
            rank,
        })
    }

    fn start_space(
        &mut self,
        index: usize,
        node: &NodeProto,
        label: &str,
        producer: Producer,
    ) -> usize {
        let space = self.plan.spaces.len();
        self.plan.spaces.push(Space {
            node: index,
            label: label.to_owned(),
            op: node.op_type().to_owned(),
            channels: producer.channels,
        });
        self.plan.parent.push(space);
        self.plan.blocked.push(None);
        let segs = vec![Seg {
            space: Some(space),
            len: producer.channels,
            block: 1,
        }];
        let weight = node.input.get(1).cloned().unwrap_or_default();
        self.plan.edits.push(Edit {
            tensor: weight,
            axis: producer.axis,
            segs: segs.clone(),
            node: index,
            scored: true,
        });
        if let Some((bias, axis)) = producer.bias {
            self.plan.edits.push(Edit {
                tensor: bias,
                axis,
                segs: segs.clone(),
                node: index,
                scored: false,
            });
        }
        if let Some(output) = node.output.first().filter(|o| !o.is_empty()) {
            self.plan.touched.insert(output.clone());
            self.maps.insert(
                output.clone(),
                ChannelMap {
                    segs,
                    last: producer.last,
                    rank: producer.rank,
                },
            );
        }
        space
    }

    /// Records a constant to shrink, after checking that it is one, that
    /// nothing else reads it and that its axis has the channels.
    fn edit(
        &mut self,
        tensor: &str,
        axis: usize,
        segs: &[Seg],
        node: usize,
        scored: bool,
    ) -> Result<ConstInfo, String> {
        let Some(info) = weights::lookup(self.graph, tensor) else {
            return Err(format!("{tensor:?} is not a constant float32 tensor"));
        };
        if self.uses.get(tensor).copied().unwrap_or(0) > 1 {
            return Err(format!(
                "the constant {tensor:?} is shared with other nodes"
            ));
        }
        let total = seg_total(segs);
        if info.dims.get(axis) != Some(&total) {
            return Err(format!(
                "the constant {tensor:?} of shape {:?} does not have {total} channels on axis {axis}",
                info.dims
            ));
        }
        self.plan.edits.push(Edit {
            tensor: tensor.to_owned(),
            axis,
            segs: segs.to_vec(),
            node,
            scored,
        });
        Ok(info)
    }

    /// The output map of a node that reads mapped tensors; `Ok(None)` when
    /// the path ends there.
    fn consume(
        &mut self,
        index: usize,
        node: &NodeProto,
        label: &str,
        mapped: &[(usize, ChannelMap)],
    ) -> Result<Option<ChannelMap>, String> {
        let op = node.op_type();
        let first_only = mapped.len() == 1 && mapped.first().is_some_and(|(pos, _)| *pos == 0);
        let map = mapped
            .first()
            .map(|(_, m)| m.clone())
            .ok_or_else(|| "no mapped input".to_owned())?;
        let unknown = || format!("its channels reach {op} {label}, which no channel rule covers");
        // A second output (Dropout's mask, MaxPool's indices) read by anything.
        let extra_outputs = node
            .output
            .iter()
            .skip(1)
            .any(|o| !o.is_empty() && self.uses.get(o.as_str()).copied().unwrap_or(0) > 0);
        match op {
            _ if UNARY.contains(&op) => {
                if !first_only || extra_outputs {
                    return Err(unknown());
                }
                Ok(Some(map))
            }
            "BatchNormalization" | "InstanceNormalization" => {
                if !first_only || extra_outputs || (map.last && map.rank != Some(2)) {
                    return Err(unknown());
                }
                let segs = map.segs.clone();
                for param in node.input.iter().skip(1) {
                    self.edit(param, 0, &segs, index, false)
                        .map_err(|e| format!("{op} {label}: {e}"))?;
                }
                Ok(Some(map))
            }
            _ if SPATIAL.contains(&op) => {
                if !first_only || extra_outputs || map.last {
                    return Err(unknown());
                }
                if op == "Resize" && node.input.get(3).is_some_and(|s| !s.is_empty()) {
                    return Err(format!("Resize {label} sets explicit output sizes"));
                }
                Ok(Some(map))
            }
            _ if BINARY.contains(&op) => self.elementwise(index, node, label),
            "Concat" => self.concat(node, label),
            "ReduceMean" | "ReduceMax" | "ReduceMin" | "ReduceSum" | "ReduceL1" | "ReduceL2" => {
                if !first_only {
                    return Err(unknown());
                }
                self.spatial_reduce(node, label, map)
            }
            "Flatten" | "Reshape" => {
                if !first_only {
                    return Err(unknown());
                }
                self.flatten(node, label, &map)
            }
            "Conv" | "ConvTranspose" | "Gemm" | "MatMul" => {
                if !first_only {
                    return Err(format!(
                        "its channels reach {op} {label} as an operand other than the data"
                    ));
                }
                self.layer_input(index, node, label, &map)
            }
            _ => Err(unknown()),
        }
    }

    /// Conv, ConvTranspose, Gemm, MatMul reading mapped channels.
    fn layer_input(
        &mut self,
        index: usize,
        node: &NodeProto,
        label: &str,
        map: &ChannelMap,
    ) -> Result<Option<ChannelMap>, String> {
        let op = node.op_type();
        let weight = node.input.get(1).map(String::as_str).unwrap_or_default();
        let total = seg_total(&map.segs);
        let Some(info) = weights::lookup(self.graph, weight) else {
            return Err(format!("{op} {label} has no constant float32 weight"));
        };
        let fail = |e: String| format!("{op} {label}: {e}");
        match op {
            "Conv" if !map.last => {
                let group = attr_int(node, "group").unwrap_or(1);
                if group == 1 {
                    self.edit(weight, 1, &map.segs, index, true).map_err(fail)?;
                    return Ok(None);
                }
                let out = info.dims.first().copied().unwrap_or(0);
                let depthwise = group as usize == total
                    && info.dims.get(1) == Some(&1)
                    && total > 0
                    && out % total == 0;
                if !depthwise {
                    return Err(format!(
                        "its channels reach the grouped Conv {label} ({group} groups), which is not depthwise"
                    ));
                }
                let multiplier = out / total;
                let segs: Vec<Seg> = map
                    .segs
                    .iter()
                    .map(|s| Seg {
                        block: s.block * multiplier,
                        ..*s
                    })
                    .collect();
                self.edit(weight, 0, &segs, index, true).map_err(fail)?;
                if let Some(bias) = node.input.get(2).filter(|b| !b.is_empty()) {
                    self.edit(bias, 0, &segs, index, false).map_err(fail)?;
                }
                self.plan.follows.push(Follow::Group {
                    node: index,
                    segs: map.segs.clone(),
                });
                Ok(Some(ChannelMap {
                    segs,
                    last: false,
                    rank: map.rank,
                }))
            }
            "ConvTranspose" if !map.last && attr_int(node, "group").unwrap_or(1) == 1 => {
                self.edit(weight, 0, &map.segs, index, true).map_err(fail)?;
                Ok(None)
            }
            "Gemm"
                if map.last
                    && map.rank.is_none_or(|r| r == 2)
                    && attr_int(node, "transA").unwrap_or(0) == 0 =>
            {
                let axis = usize::from(attr_int(node, "transB").unwrap_or(0) != 0);
                self.edit(weight, axis, &map.segs, index, true)
                    .map_err(fail)?;
                Ok(None)
            }
            "MatMul" if map.last && info.dims.len() == 2 => {
                self.edit(weight, 0, &map.segs, index, true).map_err(fail)?;
                Ok(None)
            }
            _ => Err(format!("the {op} {label} cannot drop these input channels")),
        }
    }

    /// Add, Mul, ...: the mapped inputs unite; constants are sliced.
    fn elementwise(
        &mut self,
        index: usize,
        node: &NodeProto,
        label: &str,
    ) -> Result<Option<ChannelMap>, String> {
        let op = node.op_type();
        let mut first: Option<ChannelMap> = None;
        let mut others: Vec<&str> = Vec::new();
        for input in node.input.iter().filter(|i| !i.is_empty()) {
            match (self.maps.get(input).cloned(), &first) {
                (Some(map), None) => first = Some(map),
                (Some(map), Some(head)) => {
                    let head = head.clone();
                    self.unite(&head, &map)
                        .map_err(|e| format!("{op} {label} joins tensors whose channels {e}"))?;
                }
                (None, _) => others.push(input.as_str()),
            }
        }
        let Some(map) = first else {
            return Err("no mapped input".to_owned());
        };
        let total = seg_total(&map.segs);
        for other in others {
            let dims: Option<Vec<usize>> = match weights::lookup(self.graph, other) {
                Some(info) => Some(info.dims),
                None => match find_const(self.graph, other) {
                    Some(at) => crate::transform::graph::const_tensor(self.graph, at)
                        .map(|t| t.dims.iter().map(|d| (*d).max(0) as usize).collect()),
                    None => self
                        .shapes
                        .get(other)
                        .map(|s| s.iter().map(|d| (*d).max(0) as usize).collect()),
                },
            };
            let Some(dims) = dims else {
                return Err(format!(
                    "{op} {label} meets {other:?}, whose shape is unknown"
                ));
            };
            let axis = map.operand_axis(dims.len());
            match axis.and_then(|a| dims.get(a).map(|d| (a, *d))) {
                None | Some((_, 1)) => {}
                Some((axis, dim)) if dim == total => {
                    if weights::lookup(self.graph, other).is_none() {
                        return Err(format!(
                            "{op} {label} meets {other:?}, whose channels are not pruned with these"
                        ));
                    }
                    self.edit(other, axis, &map.segs, index, false)
                        .map_err(|e| format!("{op} {label}: {e}"))?;
                }
                Some((_, dim)) => {
                    return Err(format!(
                        "{op} {label} broadcasts {other:?} of {dim} over {total} channels"
                    ));
                }
            }
        }
        Ok(Some(map))
    }

    /// Requires two maps to line up and unites their spaces.
    fn unite(&mut self, a: &ChannelMap, b: &ChannelMap) -> Result<(), String> {
        if a.last != b.last || a.segs.len() != b.segs.len() {
            return Err("are laid out differently".to_owned());
        }
        for (x, y) in a.segs.iter().zip(&b.segs) {
            if x.len != y.len || x.block != y.block {
                return Err("are laid out differently".to_owned());
            }
            match (x.space, y.space) {
                (Some(p), Some(q)) => self.plan.union(p, q),
                (None, None) => {}
                _ => return Err("are partly fixed".to_owned()),
            }
        }
        Ok(())
    }

    /// Concat: along the channel axis the maps are joined by offset; along
    /// another axis the inputs unite.
    fn concat(&mut self, node: &NodeProto, label: &str) -> Result<Option<ChannelMap>, String> {
        let maps: Vec<Option<ChannelMap>> = node
            .input
            .iter()
            .map(|i| self.maps.get(i).cloned())
            .collect();
        let Some(head) = maps.iter().flatten().next().cloned() else {
            return Err("no mapped input".to_owned());
        };
        let rank = head.rank.or_else(|| {
            node.output
                .first()
                .and_then(|o| self.shapes.get(o))
                .map(Vec::len)
        });
        let axis = attr_int(node, "axis").unwrap_or(1);
        let axis = if axis < 0 {
            rank.and_then(|r| usize::try_from(r as i64 + axis).ok())
        } else {
            Some(axis as usize)
        };
        let channel_axis = ChannelMap {
            rank,
            ..head.clone()
        }
        .axis();
        if axis.is_none() || channel_axis.is_none() {
            return Err(format!("Concat {label}: the axis cannot be told"));
        }
        if axis == channel_axis {
            let mut segs = Vec::new();
            for (input, map) in node.input.iter().zip(&maps) {
                match map {
                    Some(map) if map.last == head.last => segs.extend(map.segs.iter().copied()),
                    Some(_) => return Err(format!("Concat {label} joins different layouts")),
                    None => {
                        let dim = self
                            .shapes
                            .get(input)
                            .and_then(|s| channel_axis.and_then(|a| s.get(a)))
                            .copied();
                        let Some(dim) = dim.filter(|d| *d > 0) else {
                            return Err(format!(
                                "Concat {label}: the channels of {input:?} are unknown"
                            ));
                        };
                        segs.push(Seg {
                            space: None,
                            len: dim as usize,
                            block: 1,
                        });
                    }
                }
            }
            return Ok(Some(ChannelMap {
                segs,
                last: head.last,
                rank,
            }));
        }
        for map in &maps {
            match map {
                Some(map) => self
                    .unite(&head, map)
                    .map_err(|e| format!("Concat {label} joins tensors whose channels {e}"))?,
                None => {
                    return Err(format!(
                        "Concat {label} joins these channels with fixed ones"
                    ));
                }
            }
        }
        Ok(Some(head))
    }

    /// A reduction over spatial axes only (axes ≥ 2 of an `[N, C, ...]`
    /// tensor) keeps the channels on axis 1.
    fn spatial_reduce(
        &self,
        node: &NodeProto,
        label: &str,
        map: ChannelMap,
    ) -> Result<Option<ChannelMap>, String> {
        let op = node.op_type();
        let rank = map.rank.filter(|_| !map.last);
        let axes: Option<Vec<i64>> = match crate::transform::graph::attr(node, "axes") {
            Some(axes) => Some(axes.ints.clone()),
            None => node
                .input
                .get(1)
                .filter(|a| !a.is_empty())
                .and_then(|a| find_const(self.graph, a))
                .and_then(|at| crate::transform::graph::const_tensor(self.graph, at))
                .and_then(weights::int64_values),
        };
        let spatial = match (rank, &axes) {
            (Some(rank), Some(axes)) if !axes.is_empty() => axes.iter().all(|&a| {
                let a = if a < 0 { a + rank as i64 } else { a };
                a >= 2 && a < rank as i64
            }),
            _ => false,
        };
        if !spatial {
            return Err(format!(
                "its channels reach {op} {label}, which does not reduce spatial axes only"
            ));
        }
        let keepdims = attr_int(node, "keepdims").unwrap_or(1) != 0;
        let reduced = axes.map_or(0, |a| a.len());
        Ok(Some(ChannelMap {
            rank: rank.map(|r| if keepdims { r } else { r - reduced }),
            ..map
        }))
    }

    /// Flatten / Reshape of `[N, C, ...]` to `[N, C·...]`.
    fn flatten(
        &mut self,
        node: &NodeProto,
        label: &str,
        map: &ChannelMap,
    ) -> Result<Option<ChannelMap>, String> {
        let op = node.op_type();
        let input = node.input.first().map(String::as_str).unwrap_or_default();
        let output = node.output.first().map(String::as_str).unwrap_or_default();
        let (Some(in_shape), Some(out_shape)) = (self.shapes.get(input), self.shapes.get(output))
        else {
            return Err(format!("{op} {label}: shapes unknown"));
        };
        let product = |dims: &[i64]| dims.iter().try_fold(1i64, |a, d| a.checked_mul(*d));
        let (Some(inner), Some(features)) = (
            product(in_shape.get(2..).unwrap_or_default()),
            product(in_shape.get(1..).unwrap_or_default()),
        ) else {
            return Err(format!("{op} {label}: shape overflows"));
        };
        let flattening = !map.last
            && in_shape.len() >= 2
            && out_shape.len() == 2
            && out_shape.first() == in_shape.first()
            && out_shape.get(1).copied() == Some(features)
            && in_shape.get(1).copied() == Some(seg_total(&map.segs) as i64)
            && (op == "Reshape" || attr_int(node, "axis").unwrap_or(1) == 1);
        if !flattening || inner < 1 {
            return Err(format!(
                "its channels reach {op} {label}, which does not flatten [N, C, ...] to [N, C·...]"
            ));
        }
        let segs: Vec<Seg> = map
            .segs
            .iter()
            .map(|s| Seg {
                block: s.block * inner as usize,
                ..*s
            })
            .collect();
        if op == "Reshape" {
            let shape = node.input.get(1).map(String::as_str).unwrap_or_default();
            let is_const = find_const(self.graph, shape).is_some();
            if !is_const || self.uses.get(shape).copied().unwrap_or(0) > 1 {
                return Err(format!(
                    "Reshape {label}: its shape operand is not a constant of its own"
                ));
            }
            self.plan.follows.push(Follow::ReshapeDim {
                shape: shape.to_owned(),
                segs: segs.clone(),
            });
        }
        Ok(Some(ChannelMap {
            segs,
            last: true,
            rank: Some(2),
        }))
    }
}
