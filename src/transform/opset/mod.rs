//! A version converter for the default ONNX domain: raises a model's opset
//! (for example to 13, so int8 gets per-channel scales) and rewrites every
//! node whose op schema changed between the model's opset and the target.
//!
//! `schemas.rs` (generated from the onnx package by
//! `scripts/gen_opset_table.py`) lists, per op, the opsets in which its
//! schema changed; `steps.rs` says for each change whether a node of the old
//! version is still valid, needs an adapter (`adapters.rs`) or blocks the
//! upgrade. A node crosses the changes of its op one at a time, in order, so
//! adapters compose (Upsample-7 becomes Upsample-9, Resize-10, Resize-11).
//! Subgraphs (If, Loop, Scan) are converted too; ops of other domains are
//! left as they are. An op that changed without an adapter stops the
//! upgrade with the op, the node and the two versions.
//!
//! The IR version is raised as far as the target opset needs. Models of IR
//! version 3 list their initializers as graph inputs; when the IR version
//! goes past 3 those entries are dropped, so the weights stay constants for
//! ONNX Runtime (it cannot fold initializers that are also inputs).

mod adapters;
mod schemas;
mod steps;

use std::collections::{BTreeMap, HashMap, HashSet};
use std::fmt::Write as _;

use serde::{Deserialize, Serialize};

use super::{Int8Mode, OpsetError, Precision, TransformSpec, graph};
use crate::model::Model;
use crate::model::node::{default_opset, is_default_domain, is_default_domain_name, node_id};
use crate::model::onnx::{GraphProto, ModelProto, OperatorSetIdProto, TensorProto, type_proto};
use adapters::{Ctx, NameSet};
use steps::Step;

/// The opset int8 quantization raises older models to (per-channel scales
/// of DequantizeLinear need 13).
pub const INT8_OPSET: i64 = 13;

/// The newest opset [`upgrade`] converts to: every schema change up to it is
/// classified.
pub const MAX_TARGET_OPSET: i64 = 21;
const _: () = assert!(MAX_TARGET_OPSET <= schemas::MAX_KNOWN_OPSET);

/// Constants up to this many elements are read by adapters (scales, axes).
const MAX_CONST_ELEMENTS: usize = 1024;

/// What an opset upgrade did.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct OpsetUpgrade {
    /// Default-domain opset before.
    pub from_opset: i64,
    /// Default-domain opset after.
    pub to_opset: i64,
    /// IR version before.
    pub ir_version_before: i64,
    /// IR version after.
    pub ir_version_after: i64,
    /// Nodes rewritten by an adapter, per op type (as in the original).
    pub adapted_nodes: BTreeMap<String, usize>,
    /// Nodes added by the adapters (Constant inputs, Shape/Flatten/Reshape).
    pub inserted_nodes: usize,
    /// Initializers no longer listed as graph inputs (IR version 3 models).
    pub initializer_inputs_removed: usize,
}

impl OpsetUpgrade {
    /// One line for the report, such as `opset raised from 9 to 13 (IR 3 ->
    /// 7; adapted BatchNormalization 2, Softmax 1; 5 nodes inserted)`.
    pub fn summary(&self) -> String {
        if self.from_opset == self.to_opset {
            return format!("opset {} already, left as it is", self.to_opset);
        }
        let mut details = vec![format!(
            "IR {} -> {}",
            self.ir_version_before, self.ir_version_after
        )];
        if self.adapted_nodes.is_empty() {
            details.push("no node needed an adapter".to_owned());
        } else {
            details.push(format!(
                "adapted {}",
                self.adapted_nodes
                    .iter()
                    .map(|(op, count)| format!("{op} {count}"))
                    .collect::<Vec<_>>()
                    .join(", ")
            ));
        }
        if self.inserted_nodes > 0 {
            details.push(format!("{} nodes inserted", self.inserted_nodes));
        }
        if self.initializer_inputs_removed > 0 {
            details.push(format!(
                "{} initializers no longer listed as inputs",
                self.initializer_inputs_removed
            ));
        }
        format!(
            "opset raised from {} to {} ({})",
            self.from_opset,
            self.to_opset,
            details.join("; ")
        )
    }
}

/// Writes the upgrade line of the text report.
pub(super) fn write_text(out: &mut String, upgrade: Option<&OpsetUpgrade>) -> std::fmt::Result {
    match upgrade {
        Some(upgrade) => writeln!(out, "note: {}", upgrade.summary()),
        None => Ok(()),
    }
}

/// Raises the default-domain opset of `proto` to `target`, rewriting the
/// nodes whose op changed in between. On error `proto` may be partly
/// converted: work on a copy.
pub fn upgrade(proto: &mut ModelProto, target: i64) -> Result<OpsetUpgrade, OpsetError> {
    let from = default_opset(proto);
    if target > MAX_TARGET_OPSET {
        return Err(OpsetError::TargetTooNew {
            target,
            max: MAX_TARGET_OPSET,
        });
    }
    if target < from {
        return Err(OpsetError::Downgrade { from, target });
    }
    if proto.graph.is_none() {
        return Err(OpsetError::NoGraph);
    }
    let ir_before = proto.ir_version();
    let mut report = OpsetUpgrade {
        from_opset: from,
        to_opset: target,
        ir_version_before: ir_before,
        ir_version_after: ir_before,
        ..OpsetUpgrade::default()
    };
    if target == from {
        return Ok(report);
    }
    let ranks = ranks(proto);
    let mut names = NameSet::of_graphs(crate::model::walk::all_graphs(proto));
    let Some(graph) = proto.graph.as_mut() else {
        return Err(OpsetError::NoGraph);
    };
    let mut converter = Converter {
        from,
        target,
        names: &mut names,
        report: &mut report,
    };
    converter.graph(graph, "", &HashMap::new(), &ranks)?;

    let ir_after = ir_before.max(min_ir_version(target));
    if ir_before < 4 && ir_after >= 4 {
        let initializers: HashSet<&str> = graph.initializer.iter().map(|t| t.name()).collect();
        let before = graph.input.len();
        graph
            .input
            .retain(|input| !initializers.contains(input.name()));
        report.initializer_inputs_removed = before - graph.input.len();
    }
    proto.ir_version = Some(ir_after);
    report.ir_version_after = ir_after;
    match proto
        .opset_import
        .iter_mut()
        .find(|opset| is_default_domain_name(opset.domain()))
    {
        Some(opset) => opset.version = Some(target),
        None => proto.opset_import.push(OperatorSetIdProto {
            domain: Some(String::new()),
            version: Some(target),
        }),
    }
    Ok(report)
}

/// The upgrade a transform does first: to `spec.target_opset` when set,
/// then, for int8, to [`INT8_OPSET`] when the opset is still below it. A
/// model that int8 can handle as it is (opset 11 for dynamic, 10 for QDQ)
/// keeps its opset when the upgrade is blocked, with a note.
pub(super) fn upgrade_for(
    proto: &mut ModelProto,
    spec: &TransformSpec,
    notes: &mut Vec<String>,
) -> Result<Option<OpsetUpgrade>, OpsetError> {
    let mut done = match spec.target_opset {
        Some(target) => Some(upgrade(proto, target)?),
        None => None,
    };
    let from = default_opset(proto);
    if spec.precision != Precision::Int8 || from >= INT8_OPSET {
        return Ok(done);
    }
    let minimum = match spec.int8_mode {
        Int8Mode::Dynamic => 11,
        Int8Mode::Qdq => 10,
    };
    let second = if from >= minimum {
        let mut copy = proto.clone();
        match upgrade(&mut copy, INT8_OPSET) {
            Ok(second) => {
                *proto = copy;
                second
            }
            Err(err) => {
                notes.push(format!(
                    "opset kept at {from} (int8 weights get per-channel scales from opset {INT8_OPSET} on): {err}"
                ));
                return Ok(done);
            }
        }
    } else {
        upgrade(proto, INT8_OPSET)?
    };
    done = Some(match done {
        None => second,
        Some(mut first) => {
            first.to_opset = second.to_opset;
            first.ir_version_after = second.ir_version_after;
            for (op, count) in second.adapted_nodes {
                *first.adapted_nodes.entry(op).or_default() += count;
            }
            first.inserted_nodes += second.inserted_nodes;
            first.initializer_inputs_removed += second.initializer_inputs_removed;
            first
        }
    });
    Ok(done)
}

/// The IR version opset `opset` needs.
pub fn min_ir_version(opset: i64) -> i64 {
    usize::try_from(opset - 1)
        .ok()
        .and_then(|index| schemas::IR_FOR_OPSET.get(index))
        .copied()
        .unwrap_or(3)
}

/// The opsets in which `op`'s schema changed, if it is a default-domain op.
fn since_versions(op: &str) -> Option<&'static [i64]> {
    schemas::SINCE_VERSIONS
        .binary_search_by(|(name, _)| (*name).cmp(op))
        .ok()
        .and_then(|index| schemas::SINCE_VERSIONS.get(index))
        .map(|(_, versions)| *versions)
}

/// The schema version of `op` in effect at `opset`.
fn schema_version(op: &str, opset: i64) -> Option<i64> {
    since_versions(op)?
        .iter()
        .copied()
        .filter(|&v| v <= opset)
        .max()
}

/// The first schema change of `op` after `version`, up to `target`.
fn next_change(op: &str, version: i64, target: i64) -> Option<i64> {
    since_versions(op)?
        .iter()
        .copied()
        .find(|&v| v > version && v <= target)
}

/// Ranks of the main graph's values, from the shape propagation (symbolic
/// dims bound to 1; only the ranks are used) and the declared shapes.
fn ranks(proto: &mut ModelProto) -> HashMap<String, usize> {
    let model = Model::from_proto(std::mem::take(proto), None);
    let inferred = crate::model::infer_shapes(&model, &BTreeMap::new());
    *proto = model.proto;
    // The length of every known 1-D value (a Reshape's target shape).
    let mut shape_lengths: HashMap<String, i64> = inferred
        .shapes
        .iter()
        .filter_map(|(name, shape)| match shape[..] {
            [length] => Some((name.clone(), length)),
            _ => None,
        })
        .collect();
    let mut ranks: HashMap<String, usize> = inferred
        .shapes
        .into_iter()
        .map(|(name, shape)| (name, shape.len()))
        .collect();
    if let Some(graph) = proto.graph.as_ref() {
        for info in graph
            .input
            .iter()
            .chain(&graph.output)
            .chain(&graph.value_info)
        {
            if let Some(type_proto::Value::TensorType(tensor)) =
                info.r#type.as_ref().and_then(|t| t.value.as_ref())
                && let Some(shape) = tensor.shape.as_ref()
            {
                ranks
                    .entry(info.name().to_owned())
                    .or_insert(shape.dim.len());
            }
        }
        let consts = small_constants(graph, &HashMap::new());
        propagate_ranks(graph, &mut ranks, &mut shape_lengths, &consts);
    }
    ranks
}

/// Ops whose first output has the rank of their first input.
const RANK_PRESERVING: &[&str] = &[
    "Abs",
    "BatchNormalization",
    "Cast",
    "Ceil",
    "Clip",
    "Conv",
    "ConvTranspose",
    "Dropout",
    "Elu",
    "Erf",
    "Exp",
    "Floor",
    "HardSigmoid",
    "HardSwish",
    "Hardmax",
    "Identity",
    "InstanceNormalization",
    "LRN",
    "LayerNormalization",
    "LeakyRelu",
    "Log",
    "LogSoftmax",
    "AveragePool",
    "MaxPool",
    "GlobalAveragePool",
    "GlobalMaxPool",
    "Neg",
    "PRelu",
    "Pad",
    "Reciprocal",
    "Relu",
    "Resize",
    "Selu",
    "Sigmoid",
    "Sign",
    "Softmax",
    "Softplus",
    "Softsign",
    "Sqrt",
    "Tanh",
    "Transpose",
    "Upsample",
];

/// Ops that broadcast their inputs: the output rank is the largest.
const BROADCASTING: &[&str] = &[
    "Add", "Sub", "Mul", "Div", "Pow", "Max", "Min", "Mean", "Sum", "Where", "Equal", "Greater",
    "Less", "And", "Or", "Xor",
];

/// Fills in ranks the shape propagation left out (it stops at shape
/// arithmetic it cannot fold, e.g. a Reshape whose target comes from a
/// Shape -> Slice -> Cast -> Concat chain): a rank only needs the length
/// of the target shape.
fn propagate_ranks(
    graph: &GraphProto,
    ranks: &mut HashMap<String, usize>,
    shape_lengths: &mut HashMap<String, i64>,
    consts: &HashMap<String, TensorProto>,
) {
    for node in graph.node.iter().filter(|node| is_default_domain(node)) {
        let Some(output) = node.output.first().filter(|o| !o.is_empty()) else {
            continue;
        };
        if ranks.contains_key(output) {
            continue;
        }
        let input_rank = |index: usize| {
            node.input
                .get(index)
                .and_then(|name| ranks.get(name))
                .copied()
        };
        let op = node.op_type();
        let rank = if RANK_PRESERVING.contains(&op) {
            input_rank(0)
        } else if BROADCASTING.contains(&op) {
            (0..node.input.len())
                .map(input_rank)
                .collect::<Option<Vec<_>>>()
                .and_then(|ranks| ranks.into_iter().max())
        } else {
            match op {
                "Gemm" | "Flatten" => Some(2),
                "Squeeze" => graph::attr(node, "axes")
                    .and_then(|axes| input_rank(0)?.checked_sub(axes.ints.len())),
                "Unsqueeze" => graph::attr(node, "axes")
                    .and_then(|axes| Some(input_rank(0)? + axes.ints.len())),
                "Gather" => input_rank(0)
                    .zip(input_rank(1))
                    .and_then(|(data, indices)| (data + indices).checked_sub(1)),
                op if op.starts_with("Reduce") => {
                    if graph::attr_int(node, "keepdims").unwrap_or(1) == 1 {
                        input_rank(0)
                    } else {
                        graph::attr(node, "axes")
                            .and_then(|axes| input_rank(0)?.checked_sub(axes.ints.len()))
                    }
                }
                "MatMul" => match (input_rank(0), input_rank(1)) {
                    (Some(a), Some(b)) if a >= 2 && b >= 2 => Some(a.max(b)),
                    _ => None,
                },
                "Reshape" => node
                    .input
                    .get(1)
                    .and_then(|shape| shape_lengths.get(shape))
                    .and_then(|&length| usize::try_from(length).ok()),
                _ => None,
            }
        };
        if let Some(rank) = rank {
            ranks.insert(output.clone(), rank);
        }
        if let Some(length) = shape_length(node, ranks, shape_lengths, consts) {
            shape_lengths.insert(output.clone(), length);
        }
    }
}

/// The length of a 1-D shape tensor made by `node` (Shape, Cast, Concat,
/// a constant Slice), if it can be told.
fn shape_length(
    node: &crate::model::onnx::NodeProto,
    ranks: &HashMap<String, usize>,
    lengths: &HashMap<String, i64>,
    consts: &HashMap<String, TensorProto>,
) -> Option<i64> {
    let length_of = |index: usize| {
        node.input
            .get(index)
            .and_then(|name| lengths.get(name))
            .copied()
    };
    match node.op_type() {
        "Shape" => node
            .input
            .first()
            .and_then(|name| ranks.get(name))
            .map(|&rank| rank as i64),
        "Cast" | "Identity" => length_of(0),
        // A scalar made a 1-D tensor.
        "Unsqueeze" => node
            .input
            .first()
            .and_then(|name| ranks.get(name))
            .and_then(|&rank| (rank == 0).then_some(1)),
        "Concat" => (0..node.input.len())
            .map(length_of)
            .collect::<Option<Vec<_>>>()
            .map(|lengths| lengths.iter().sum()),
        "Constant" => graph::attr(node, "value")
            .and_then(|a| a.t.as_ref())
            .and_then(|t| match t.dims[..] {
                [length] => Some(length),
                _ => None,
            }),
        "Slice" => {
            let length = length_of(0)?;
            let value = |index: usize| {
                let tensor = consts.get(node.input.get(index)?)?;
                adapters::int_values(tensor).and_then(|v| v.first().copied())
            };
            let clamp = |v: i64| {
                if v < 0 {
                    (v + length).max(0)
                } else {
                    v.min(length)
                }
            };
            let (start, end) = (clamp(value(1)?), clamp(value(2)?));
            let step = if node.input.len() > 4 { value(4)? } else { 1 };
            (step == 1).then_some((end - start).max(0))
        }
        _ => None,
    }
}

/// The small constants of a graph: initializers and Constant nodes' values.
fn small_constants(
    graph: &GraphProto,
    outer: &HashMap<String, TensorProto>,
) -> HashMap<String, TensorProto> {
    let mut consts = outer.clone();
    let small = |tensor: &TensorProto| {
        tensor.dims.iter().product::<i64>() <= MAX_CONST_ELEMENTS as i64
            && tensor.external_data.is_empty()
    };
    for tensor in graph.initializer.iter().filter(|t| small(t)) {
        consts.insert(tensor.name().to_owned(), tensor.clone());
    }
    for node in &graph.node {
        if node.op_type() != "Constant" || !is_default_domain(node) {
            continue;
        }
        let (Some(output), Some(tensor)) = (
            node.output.first(),
            graph::attr(node, "value").and_then(|a| a.t.as_ref()),
        ) else {
            continue;
        };
        if small(tensor) {
            consts.insert(output.clone(), tensor.clone());
        }
    }
    consts
}

/// The state of one upgrade.
struct Converter<'a> {
    from: i64,
    target: i64,
    names: &'a mut NameSet,
    report: &'a mut OpsetUpgrade,
}

impl Converter<'_> {
    /// Converts every node of `graph` (and its subgraphs) in place.
    fn graph(
        &mut self,
        graph: &mut GraphProto,
        scope: &str,
        outer_consts: &HashMap<String, TensorProto>,
        ranks: &HashMap<String, usize>,
    ) -> Result<(), OpsetError> {
        let (from_opset, target) = (self.from, self.target);
        let consts = small_constants(graph, outer_consts);
        let types = graph::elem_types(graph);
        let no_ranks = HashMap::new();
        let nodes = std::mem::take(&mut graph.node);
        graph.node.reserve(nodes.len());
        for (index, mut node) in nodes.into_iter().enumerate() {
            let id = format!("{scope}{}", node_id(&node, index));
            for attribute in &mut node.attribute {
                let attr_scope = format!("{id}/{}/", attribute.name());
                if let Some(subgraph) = attribute.g.as_mut() {
                    self.graph(subgraph, &attr_scope, &consts, &no_ranks)?;
                }
                for subgraph in &mut attribute.graphs {
                    self.graph(subgraph, &attr_scope, &consts, &no_ranks)?;
                }
            }
            if !is_default_domain(&node) {
                graph.node.push(node);
                continue;
            }
            let original_op = node.op_type().to_owned();
            let blocked = |op: &str, from_version: i64, to_version: i64, reason: String| {
                OpsetError::Blocked {
                    op: op.to_owned(),
                    node: id.clone(),
                    from_version,
                    to_version,
                    from_opset,
                    target,
                    reason,
                }
            };
            if since_versions(&original_op).is_none() {
                return Err(blocked(
                    &original_op,
                    self.from,
                    self.target,
                    "not an op of the default ONNX domain".to_owned(),
                ));
            }
            let mut version = self.from;
            let mut adapted = false;
            let mut before = Vec::new();
            let mut after = Vec::new();
            loop {
                let op = node.op_type().to_owned();
                let Some(next) = next_change(&op, version, self.target) else {
                    break;
                };
                let previous = schema_version(&op, version).unwrap_or(version);
                match steps::step(&op, next) {
                    Step::Compatible => {}
                    Step::Adapt(adapter) => {
                        let mut ctx = Ctx {
                            target: self.target,
                            names: self.names,
                            ranks: if scope.is_empty() { ranks } else { &no_ranks },
                            types: &types,
                            consts: &consts,
                        };
                        let result = adapter(node, &mut ctx)
                            .map_err(|reason| blocked(&op, previous, next, reason))?;
                        before.extend(result.before);
                        node = result.node;
                        after.splice(0..0, result.after);
                        adapted = true;
                    }
                    Step::Blocked(reason) => {
                        return Err(blocked(&op, previous, next, reason.to_owned()));
                    }
                }
                version = next;
            }
            if adapted {
                *self.report.adapted_nodes.entry(original_op).or_default() += 1;
            }
            self.report.inserted_nodes += before.len() + after.len();
            graph.node.extend(before);
            graph.node.push(node);
            graph.node.extend(after);
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests;
