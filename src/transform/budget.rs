//! The accuracy budget: convert as much of a model as a minimum accuracy
//! allows, and the per-layer sensitivity table behind that choice.
//!
//! This file holds the pure side of the search: which nodes form its units
//! (one per quantized node for int8, one per arithmetic node for float16,
//! one per pruned layer or channel group for pruning), how float16
//! followers take the precision of their producers, and the bisection over
//! a monotone predicate. The budget itself and its parsing are in
//! `spec.rs`, its report in `budget_report.rs`; running the candidates in
//! ONNX Runtime is `engine::budget`.

use std::collections::{BTreeMap, BTreeSet, HashMap, HashSet};

use super::{BudgetLimit, BudgetUnit, LayerSensitivity, Precision, TransformReport, TransformSpec};
use crate::model::node::node_id;
use crate::model::onnx::GraphProto;

/// Reason the float16 and int8 reports give for a node the budget kept.
pub const KEPT_BY_BUDGET: &str = "kept float32 by the accuracy budget";
/// Reason given for a node the user listed in `keep_nodes`.
pub const KEPT_BY_REQUEST: &str = "kept by request";

/// Ops whose float16 version does real arithmetic (accumulations,
/// transcendental functions, divisions): the units of a float16 search.
/// Every other node follows the precision of its producers.
pub const FP16_ARITHMETIC_OPS: &[&str] = &[
    "AveragePool",
    "BatchNormalization",
    "Conv",
    "ConvTranspose",
    "Div",
    "Einsum",
    "Erf",
    "Exp",
    "Gelu",
    "Gemm",
    "GlobalAveragePool",
    "GroupNormalization",
    "InstanceNormalization",
    "LayerNormalization",
    "Log",
    "LogSoftmax",
    "LpNormalization",
    "LRN",
    "MatMul",
    "Mean",
    "Pow",
    "Reciprocal",
    "ReduceL1",
    "ReduceL2",
    "ReduceLogSum",
    "ReduceLogSumExp",
    "ReduceMean",
    "ReduceProd",
    "ReduceSum",
    "ReduceSumSquare",
    "Sigmoid",
    "Softmax",
    "Softplus",
    "Sqrt",
    "Sum",
    "Tanh",
];

/// The longest prefix length `k` in `0..=n` with `passes(k)`, assuming
/// `passes` is monotone (true up to some `k`, false after) and `passes(0)`
/// is true. Checks `n` first (a loose budget costs one check), then bisects:
/// at most ⌈log₂(n+1)⌉ + 1 calls. Returns `(k, calls)`.
pub fn longest_passing_prefix<E>(
    n: usize,
    mut passes: impl FnMut(usize) -> Result<bool, E>,
) -> Result<(usize, usize), E> {
    let mut calls = 0;
    if n == 0 {
        return Ok((0, 0));
    }
    calls += 1;
    if passes(n)? {
        return Ok((n, calls));
    }
    // Invariant: lo passes (0 by assumption), hi fails.
    let (mut lo, mut hi) = (0usize, n);
    while hi - lo > 1 {
        let mid = lo + (hi - lo) / 2;
        calls += 1;
        if passes(mid)? {
            lo = mid;
        } else {
            hi = mid;
        }
    }
    Ok((lo, calls))
}

/// Node id of every node label a report uses (`name`, or `Op#index`).
fn label_to_id(graph: &GraphProto) -> HashMap<String, String> {
    graph
        .node
        .iter()
        .enumerate()
        .map(|(index, node)| {
            let label = if node.name().is_empty() {
                format!("{}#{index}", node.op_type())
            } else {
                node.name().to_owned()
            };
            (label, node_id(node, index))
        })
        .collect()
}

/// The units of a budget search over `spec`, read from the report of the
/// fully converted model (`full`) and the original graph: precision units
/// first, then pruning units not already among them.
pub fn units(graph: &GraphProto, spec: &TransformSpec, full: &TransformReport) -> Vec<BudgetUnit> {
    let ids = label_to_id(graph);
    let id_of = |label: &str| ids.get(label).cloned().unwrap_or_else(|| label.to_owned());
    let mut units: Vec<BudgetUnit> = Vec::new();
    let mut seen: HashSet<String> = spec.keep_nodes.iter().cloned().collect();
    match spec.precision {
        Precision::Fp32 => {}
        Precision::Int8 => {
            if let Some(int8) = &full.int8 {
                for layer in &int8.quantized {
                    let id = id_of(&layer.node);
                    if seen.insert(id.clone()) {
                        units.push(BudgetUnit {
                            label: id.clone(),
                            op_type: layer.op_type.clone(),
                            nodes: vec![id],
                        });
                    }
                }
            }
        }
        Precision::Fp16 => {
            let kept: HashSet<String> = full
                .fp16
                .iter()
                .flat_map(|r| r.kept_fp32.iter().map(|k| id_of(&k.node)))
                .collect();
            for (index, node) in graph.node.iter().enumerate() {
                let id = node_id(node, index);
                if FP16_ARITHMETIC_OPS.contains(&node.op_type())
                    && (node.domain().is_empty() || node.domain() == "ai.onnx")
                    && !kept.contains(&id)
                    && seen.insert(id.clone())
                {
                    units.push(BudgetUnit {
                        label: id.clone(),
                        op_type: node.op_type().to_owned(),
                        nodes: vec![id],
                    });
                }
            }
        }
    }
    if let Some(prune) = &full.prune {
        // Structured pruning: one unit per pruned channel group (keeping
        // its members dense keeps the group). Unstructured: one per layer.
        let pruned_groups: Vec<_> = prune
            .groups
            .iter()
            .filter(|g| g.unprunable.is_none() && g.channels_after < g.channels_before)
            .collect();
        if pruned_groups.is_empty() {
            for layer in &prune.layers {
                let id = id_of(&layer.node);
                if seen.insert(id.clone()) {
                    units.push(BudgetUnit {
                        label: id.clone(),
                        op_type: layer.op_type.clone(),
                        nodes: vec![id],
                    });
                }
            }
        } else {
            for group in pruned_groups {
                let nodes: Vec<String> = group
                    .members
                    .iter()
                    .map(|m| id_of(m))
                    .filter(|id| !seen.contains(id))
                    .collect();
                let Some(first) = nodes.first() else {
                    continue;
                };
                let op_type = prune
                    .layers
                    .iter()
                    .find(|l| id_of(&l.node) == *first)
                    .map_or_else(|| "group".to_owned(), |l| l.op_type.clone());
                seen.extend(nodes.iter().cloned());
                units.push(BudgetUnit {
                    label: format!(
                        "group {} ({first}{})",
                        group.id,
                        if nodes.len() > 1 {
                            format!(" +{}", nodes.len() - 1)
                        } else {
                            String::new()
                        }
                    ),
                    op_type,
                    nodes,
                });
            }
        }
    }
    units
}

/// A sentence on what the units of `spec` are.
pub fn describe_units(spec: &TransformSpec) -> String {
    let mut parts = Vec::new();
    match spec.precision {
        Precision::Fp32 => {}
        Precision::Int8 => parts.push("int8: each quantized MatMul/Gemm/Conv node".to_owned()),
        Precision::Fp16 => parts.push(
            "float16: each converted node whose op does real arithmetic (Conv, MatMul, Gemm, normalisations, Softmax, Reduce*, Pow, Exp, Div, ...); every other node follows the precision of its producers".to_owned(),
        ),
    }
    if spec.prune.is_some() {
        parts.push(
            "pruning: each pruned channel group (structured) or layer (unstructured)".to_owned(),
        );
    }
    parts.join("; ")
}

/// The `keep_nodes` of a candidate that converts `converted` units out of
/// `units` (the others kept), on top of the user's own `keep_nodes`. For
/// float16, nodes outside the units follow: a node is kept when one of its
/// inputs comes from a kept node, so kept
/// regions need no Casts inside them.
pub fn keep_set(
    graph: &GraphProto,
    spec: &TransformSpec,
    units: &[BudgetUnit],
    converted: &HashSet<usize>,
) -> BTreeSet<String> {
    let mut keep: BTreeSet<String> = spec.keep_nodes.clone();
    for (index, unit) in units.iter().enumerate() {
        if !converted.contains(&index) {
            keep.extend(unit.nodes.iter().cloned());
        }
    }
    if spec.precision != Precision::Fp16 {
        return keep;
    }
    let unit_nodes: HashSet<&str> = units
        .iter()
        .flat_map(|u| u.nodes.iter().map(String::as_str))
        .collect();
    let mut kept_tensors: HashSet<String> = HashSet::new();
    let initializers: HashSet<&str> = graph.initializer.iter().map(|t| t.name()).collect();
    for (index, node) in graph.node.iter().enumerate() {
        let id = node_id(node, index);
        let is_kept = if keep.contains(&id) {
            true
        } else if unit_nodes.contains(id.as_str()) {
            false
        } else {
            let follows = node.input.iter().any(|input| {
                !input.is_empty()
                    && !initializers.contains(input.as_str())
                    && kept_tensors.contains(input)
            });
            if follows {
                keep.insert(id);
            }
            follows
        };
        if is_kept {
            kept_tensors.extend(node.output.iter().cloned());
        }
    }
    keep
}

/// Op types all of whose units are kept: the ORT-style `op_block_list`.
pub fn op_block_list(sensitivity: &[LayerSensitivity]) -> Vec<String> {
    let mut all: BTreeMap<&str, bool> = BTreeMap::new();
    for row in sensitivity {
        let entry = all.entry(row.unit.op_type.as_str()).or_insert(true);
        *entry &= !row.converted;
    }
    all.into_iter()
        .filter(|(_, kept)| *kept)
        .map(|(op, _)| op.to_owned())
        .collect()
}

/// Sorts `rows` from least to most sensitive under `limit`.
pub fn sort_by_sensitivity(rows: &mut [LayerSensitivity], limit: Option<BudgetLimit>) {
    rows.sort_by(|a, b| {
        a.sort_key(limit)
            .partial_cmp(&b.sort_key(limit))
            .unwrap_or(std::cmp::Ordering::Equal)
    });
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::transform::{AccuracyBudget, BudgetError};

    #[test]
    fn budgets_parse() -> Result<(), BudgetError> {
        assert_eq!(
            "0.999".parse::<BudgetLimit>()?,
            BudgetLimit::MinCosine(0.999)
        );
        assert_eq!("cos=1".parse::<BudgetLimit>()?, BudgetLimit::MinCosine(1.0));
        assert_eq!(
            "top1=0.5%".parse::<BudgetLimit>()?,
            BudgetLimit::MaxTop1Drop(0.005)
        );
        assert_eq!(
            "top1=0.02".parse::<BudgetLimit>()?,
            BudgetLimit::MaxTop1Drop(0.02)
        );
        for bad in [
            "",
            "abc",
            "0",
            "1.5",
            "-0.9",
            "top1=",
            "top1=x%",
            "top1=100%",
            "top1=-1%",
            "NaN",
        ] {
            let err = bad.parse::<BudgetLimit>();
            assert!(
                matches!(err, Err(BudgetError::Parse { .. })),
                "{bad:?} gave {err:?}"
            );
        }
        Ok(())
    }

    #[test]
    fn labels_name_the_budget() {
        let mut spec = TransformSpec {
            precision: Precision::Int8,
            accuracy_budget: Some(AccuracyBudget {
                limit: Some(BudgetLimit::MinCosine(0.999)),
                allow_unconverted: false,
            }),
            ..TransformSpec::default()
        };
        assert_eq!(spec.label(), "int8 (dynamic) within min cosine 0.999");
        spec.accuracy_budget = Some(AccuracyBudget::default());
        assert_eq!(spec.label(), "int8 (dynamic), sensitivity only");
    }

    #[test]
    fn limits_allow_what_they_say() {
        let cos = BudgetLimit::MinCosine(0.99);
        assert!(cos.allows(0.995, None));
        assert!(!cos.allows(0.98, Some(0.0)));
        let top1 = BudgetLimit::MaxTop1Drop(0.01);
        assert!(top1.allows(0.5, Some(0.01)));
        assert!(!top1.allows(1.0, Some(0.02)));
        assert!(!top1.allows(1.0, None));
    }

    #[test]
    fn bisection_finds_the_longest_passing_prefix_in_log_checks() {
        for n in [0usize, 1, 2, 3, 7, 8, 100, 1000] {
            for cut in 0..=n.min(130) {
                let mut asked = Vec::new();
                let (found, calls) = longest_passing_prefix::<()>(n, |k| {
                    asked.push(k);
                    Ok(k <= cut)
                })
                .unwrap_or((usize::MAX, 0));
                assert_eq!(found, cut, "n={n} cut={cut}");
                assert_eq!(calls, asked.len());
                let bound = if n == 0 {
                    0
                } else {
                    (usize::BITS - n.leading_zeros()) as usize + 1
                };
                assert!(calls <= bound, "n={n} cut={cut}: {calls} calls > {bound}");
                assert!(!asked.contains(&0), "0 passes by assumption");
            }
        }
        // A loose budget costs one check.
        let (found, calls) = longest_passing_prefix::<()>(500, |_| Ok(true)).unwrap_or((0, 0));
        assert_eq!((found, calls), (500, 1));
    }

    #[test]
    fn bisection_passes_errors_through() {
        let result = longest_passing_prefix(10, |k| if k == 10 { Err("boom") } else { Ok(true) });
        assert_eq!(result, Err("boom"));
    }

    fn row(label: &str, op: &str, cos_err: f64, converted: bool) -> LayerSensitivity {
        LayerSensitivity {
            unit: BudgetUnit {
                label: label.to_owned(),
                op_type: op.to_owned(),
                nodes: vec![label.to_owned()],
            },
            cosine_error: cos_err,
            relative_l2_error: cos_err.sqrt(),
            top1_drop: None,
            size_gain_bytes: 0,
            flops_gain: 0,
            converted,
        }
    }

    #[test]
    fn sorting_and_op_block_list() {
        let mut rows = vec![
            row("c", "Conv", 3e-3, false),
            row("a", "MatMul", 1e-5, true),
            row("b", "Conv", 1e-4, true),
        ];
        sort_by_sensitivity(&mut rows, Some(BudgetLimit::MinCosine(0.99)));
        let order: Vec<&str> = rows.iter().map(|r| r.unit.label.as_str()).collect();
        assert_eq!(order, vec!["a", "b", "c"]);
        assert!(op_block_list(&rows).is_empty());
        if let Some(last) = rows.get_mut(1) {
            last.converted = false;
        }
        assert_eq!(op_block_list(&rows), vec!["Conv".to_owned()]);
    }

    #[test]
    fn keep_nodes_are_left_alone_by_fp16_and_int8() -> Result<(), Box<dyn std::error::Error>> {
        let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("sample_models/mlp.onnx");
        let model = crate::model::Model::load(&path)?;
        let spec = |precision| TransformSpec {
            precision,
            keep_nodes: BTreeSet::from(["fc2".to_owned()]),
            ..TransformSpec::default()
        };
        let (fp16_model, report) = super::super::apply(&model, &spec(Precision::Fp16))?;
        let fp16 = report.fp16.ok_or("fp16 report")?;
        let kept: Vec<(&str, &str)> = fp16
            .kept_fp32
            .iter()
            .map(|k| (k.node.as_str(), k.reason.as_str()))
            .collect();
        assert_eq!(kept, vec![("fc2", KEPT_BY_REQUEST)]);
        // fc2 reads float32 weights; the other Gemms float16 ones.
        let graph = fp16_model.proto.graph.as_ref().ok_or("graph")?;
        let fc2 = graph.node.iter().find(|n| n.name() == "fc2").ok_or("fc2")?;
        let weight_type = |name: &str| {
            graph
                .initializer
                .iter()
                .find(|t| t.name() == name)
                .map(|t| t.data_type())
        };
        assert_eq!(weight_type(&fc2.input[1]), Some(super::super::graph::FLOAT));
        let fc1 = graph.node.iter().find(|n| n.name() == "fc1").ok_or("fc1")?;
        assert_eq!(
            weight_type(&fc1.input[1]),
            Some(super::super::graph::FLOAT16)
        );

        let mut budgeted = spec(Precision::Int8);
        budgeted.accuracy_budget = Some(AccuracyBudget::default());
        let (_, report) = super::super::apply(&model, &budgeted)?;
        let int8 = report.int8.ok_or("int8 report")?;
        let quantized: Vec<&str> = int8.quantized.iter().map(|q| q.node.as_str()).collect();
        assert_eq!(quantized, vec!["fc1", "fc3"]);
        assert!(
            int8.skipped
                .iter()
                .any(|s| s.node == "fc2" && s.reason == KEPT_BY_BUDGET)
        );
        Ok(())
    }

    #[test]
    fn constant_weights_of_kept_nodes_stay_float32() -> Result<(), Box<dyn std::error::Error>> {
        let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("tests/data/models/constant_weights.onnx");
        let model = crate::model::Model::load(&path)?;
        let spec = TransformSpec {
            precision: Precision::Fp16,
            keep_nodes: BTreeSet::from(["fc2_matmul".to_owned()]),
            ..TransformSpec::default()
        };
        let (converted, report) = super::super::apply(&model, &spec)?;
        let fp16 = report.fp16.ok_or("fp16 report")?;
        // The Constant feeding only the kept MatMul is kept too, silently.
        let kept: Vec<&str> = fp16.kept_fp32.iter().map(|k| k.node.as_str()).collect();
        assert_eq!(kept, vec!["fc2_matmul"]);
        let graph = converted.proto.graph.as_ref().ok_or("graph")?;
        let value_type = |name: &str| {
            graph
                .node
                .iter()
                .find(|n| n.name() == name)
                .and_then(|n| n.attribute.iter().find_map(|a| a.t.as_ref()))
                .map(|t| t.data_type())
        };
        assert_eq!(value_type("const_W2"), Some(super::super::graph::FLOAT));
        assert_eq!(value_type("const_W1"), Some(super::super::graph::FLOAT16));
        assert_eq!(value_type("const_B2"), Some(super::super::graph::FLOAT16));
        Ok(())
    }

    #[test]
    fn fp16_followers_take_their_producers_precision() -> Result<(), Box<dyn std::error::Error>> {
        let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("sample_models/mlp.onnx");
        let model = crate::model::Model::load(&path)?;
        let graph = model.proto.graph.as_ref().ok_or("graph")?;
        // fc1 relu1 fc2 relu2 fc3: Gemms are units, Relus follow.
        let spec = TransformSpec {
            precision: Precision::Fp16,
            ..TransformSpec::default()
        };
        let ids: Vec<String> = graph
            .node
            .iter()
            .enumerate()
            .map(|(i, n)| node_id(n, i))
            .collect();
        let units: Vec<BudgetUnit> = graph
            .node
            .iter()
            .enumerate()
            .filter(|(_, n)| n.op_type() == "Gemm")
            .map(|(i, n)| BudgetUnit {
                label: node_id(n, i),
                op_type: "Gemm".to_owned(),
                nodes: vec![node_id(n, i)],
            })
            .collect();
        assert_eq!(units.len(), 3);
        // Only fc2 converted: relu1 follows the kept fc1, relu2 follows fc2.
        let keep = keep_set(graph, &spec, &units, &HashSet::from([1]));
        let relu_ids: Vec<&String> = ids
            .iter()
            .zip(&graph.node)
            .filter(|(_, n)| n.op_type() == "Relu")
            .map(|(id, _)| id)
            .collect();
        assert!(keep.contains(&units[0].label) && keep.contains(&units[2].label));
        assert!(!keep.contains(&units[1].label));
        assert!(keep.contains(relu_ids[0]));
        assert!(!keep.contains(relu_ids[1]));
        // All converted: only the user's keep_nodes remain.
        let all = keep_set(graph, &spec, &units, &HashSet::from([0, 1, 2]));
        assert!(all.is_empty());
        Ok(())
    }
}
