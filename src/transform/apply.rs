//! Applying a [`TransformSpec`]: inline external data, raise the opset when
//! needed, prune, then change the precision; report each step.

use std::collections::BTreeSet;

use super::{
    Precision, PruneMode, TransformError, TransformReport, TransformSpec, budget, fp16, graph,
    int8, opset, prune, weights,
};
use crate::model::Model;

/// Applies `spec` to `model`: pruning first, then the precision change.
/// The result has all external data inlined.
pub fn apply(
    model: &Model,
    spec: &TransformSpec,
) -> Result<(Model, TransformReport), TransformError> {
    apply_with_blocked_ops(model, spec, &BTreeSet::new())
}

/// [`apply`], with op types that must stay float32 on top of the float16
/// block list (the ones ONNX Runtime has no float16 kernel for on the chosen
/// execution provider).
pub fn apply_with_blocked_ops(
    model: &Model,
    spec: &TransformSpec,
    extra_blocked_ops: &BTreeSet<String>,
) -> Result<(Model, TransformReport), TransformError> {
    let mut proto = graph::inline_external_data(model)?;
    let mut report = TransformReport {
        spec: spec.clone(),
        size_before_bytes: prost::Message::encoded_len(&proto) as u64,
        ..TransformReport::default()
    };
    report.opset_upgrade = opset::upgrade_for(&mut proto, spec, &mut report.notes)?;
    let fills_before = weights::fill_count(&proto);
    if let Some(prune_spec) = &spec.prune {
        report.prune = Some(prune::prune(&mut proto, prune_spec, &spec.keep_nodes)?);
        if prune_spec.mode == PruneMode::Unstructured {
            report.notes.push(
                "unstructured sparsity keeps tensor shapes: dense kernels multiply the zeros, so FLOPs and file size do not drop".to_owned(),
            );
        }
    }
    match spec.precision {
        Precision::Fp32 => {}
        Precision::Fp16 => {
            let options = fp16::Fp16Options {
                fp16_io: spec.fp16_io,
                extra_blocked_ops: extra_blocked_ops.clone(),
                keep_nodes: keep_nodes_with_reason(spec),
            };
            let fp16_report = fp16::convert(&mut proto, &options)?;
            if fp16_report.already_fp16 {
                report.notes.push(
                    "the model is already float16 (no float32 tensors): left unchanged".to_owned(),
                );
            }
            report.fp16 = Some(fp16_report);
        }
        Precision::Int8 => {
            let int8_report =
                int8::quantize_keeping(&mut proto, spec.int8_mode, &keep_nodes_with_reason(spec))?;
            if int8_report.quantized.is_empty() {
                return Err(TransformError::NothingToQuantize(
                    "no MatMul, Gemm or Conv with a constant float32 weight".to_owned(),
                ));
            }
            report.int8 = Some(int8_report);
        }
    }
    let written_out = fills_before.saturating_sub(weights::fill_count(&proto));
    if written_out > 0 {
        report.notes.push(format!(
            "{written_out} weight{} stored as ConstantOfShape fills (a few bytes each) {} written out as values, so the file grows",
            if written_out == 1 { "" } else { "s" },
            if written_out == 1 { "is" } else { "are" },
        ));
    }
    report.size_after_bytes = prost::Message::encoded_len(&proto) as u64;
    Ok((Model::from_proto(proto, None), report))
}

/// `spec.keep_nodes` and the reason the reports give for them.
fn keep_nodes_with_reason(spec: &TransformSpec) -> (BTreeSet<String>, &'static str) {
    let reason = if spec.accuracy_budget.is_some() {
        budget::KEPT_BY_BUDGET
    } else {
        budget::KEPT_BY_REQUEST
    };
    (spec.keep_nodes.clone(), reason)
}

/// `model` with its external data inlined, so that it loads from memory
/// (the reference a transformed model is compared against).
pub fn self_contained(model: &Model) -> Result<Model, TransformError> {
    Ok(Model::from_proto(graph::inline_external_data(model)?, None))
}
