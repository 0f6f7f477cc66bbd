//! Loading a transformed model in ONNX Runtime and measuring what the
//! transform cost in accuracy. `transform` rewrites protobuf and never sees
//! the runtime; this module is where its result meets ONNX Runtime:
//!
//! - [`apply_checked`] applies a [`TransformSpec`], makes sure a session
//!   builds on the chosen execution provider (for float16, an op type the
//!   provider has no kernel for is kept float32 and the conversion retried),
//!   adds what the provider means for the transform's speed, and measures
//!   accuracy against the original.
//! - [`AccuracyProbe`] runs the original once on the evaluation inputs
//!   (seeded synthetic sets, image-like where an input looks like an image,
//!   or the user's `.npy` files), warns when its outputs are degenerate on
//!   them, and compares any number of candidates with [`OutputComparison`]
//!   and, given labels, top-1/top-5; [`measure_accuracy`] is one comparison.

use std::collections::BTreeSet;
use std::path::Path;

use half::f16;
use ort::session::{Session, SessionInputValue};
use ort::value::{DynValue, TensorElementType};

use super::{
    budget::Candidate,
    config::{ExecutionProviderKind, InputFile, ProfileConfig},
    error::{EngineError, VerifyError, clean_ort_message},
    inputs::{self, DeclaredInput, EvalSample, TensorData},
    runtime::{self, Runtime},
    session::{ModelSource, build_session},
};
use crate::field::Field;
use crate::model::Model;
use crate::transform::{
    self, AccuracyReport, Int8Mode, OutputComparison, Precision, TaskAccuracy, TransformReport,
    TransformSpec,
    accuracy::{degenerate_output, is_probability_rows, top_k_hits},
};

/// Retries of the float16 conversion with ops the runtime rejected.
const MAX_FP16_RETRIES: usize = 16;

/// A checked transform: the model, its bytes and the report with accuracy.
#[derive(Debug, Clone)]
pub struct CheckedTransform {
    /// The transformed model.
    pub model: Model,
    /// Its serialized bytes (self-contained).
    pub bytes: Vec<u8>,
    /// What was done, with accuracy filled in.
    pub report: TransformReport,
}

/// Applies `spec`, makes sure ONNX Runtime loads the result with `config`
/// (execution provider, threads, optimization level), and measures accuracy
/// on `spec.accuracy_samples` seeded inputs (of the kind `spec.synthetic`
/// asks for) or `config.input_files`, with top-1/top-5 when `spec.labels`
/// is set.
///
/// For float16, an op type without a float16 kernel on the provider is kept
/// in float32 (mixed precision) and the conversion retried; the report lists
/// the op and ONNX Runtime's message.
pub fn apply_checked(
    model: &Model,
    spec: &TransformSpec,
    config: &ProfileConfig,
) -> Result<CheckedTransform, VerifyError> {
    let runtime = runtime::runtime()?;
    let original = transform::self_contained(model)?.to_bytes();
    if spec.accuracy_budget.is_some() {
        return apply_budgeted(runtime, model, &original, spec, config);
    }
    let (transformed, mut report, bytes, mut session) =
        load_transformed(runtime, model, spec, config, &mut Vec::new())?;
    let probe = AccuracyProbe::new(runtime, &original, config, spec)?;
    let mut accuracy = probe.compare_session(&mut session)?;
    probe.add_speed(&mut session, &mut accuracy);
    if config.generation.is_some() {
        accuracy.next_token =
            next_token_accuracy(runtime, model, &original, &transformed, &bytes, config)?;
    }
    report.accuracy = Some(accuracy);
    Ok(CheckedTransform {
        model: transformed,
        bytes,
        report,
    })
}

/// Next-token agreement of a transformed decoder with the original
/// ([`crate::engine::generate::next_token_agreement`]); `None` when the
/// original is not a decoder the token loop drives.
fn next_token_accuracy(
    runtime: &Runtime,
    model: &Model,
    original: &[u8],
    transformed: &Model,
    bytes: &[u8],
    config: &ProfileConfig,
) -> Result<Option<crate::transform::NextTokenAgreement>, VerifyError> {
    let (Ok(layout_before), Ok(layout_after)) = (
        crate::model::generative::detect(model),
        crate::model::generative::detect(transformed),
    ) else {
        return Ok(None);
    };
    let session = |bytes: &[u8]| {
        build_session(runtime, ModelSource::Memory(bytes), config, None)
            .map(|built| built.session)
            .map_err(|err| VerifyError::NextToken(err.to_string()))
    };
    let (mut before, mut after) = (session(original)?, session(bytes)?);
    crate::engine::generate::next_token_agreement(
        (&mut before, layout_before),
        (&mut after, layout_after),
        config.seed,
    )
    .map(Some)
    .map_err(|err| VerifyError::NextToken(err.to_string()))
}

/// The accuracy budget search (`engine::budget`), each candidate loaded as
/// [`apply_checked`] loads it and compared by one [`AccuracyProbe`].
fn apply_budgeted(
    runtime: &Runtime,
    model: &Model,
    original: &[u8],
    spec: &TransformSpec,
    config: &ProfileConfig,
) -> Result<CheckedTransform, VerifyError> {
    let probe = AccuracyProbe::new(runtime, original, config, spec)?;
    // Ops ONNX Runtime has no float16 kernel for, learned once and kept for
    // every later candidate (each would otherwise rediscover them).
    let mut rejections = Vec::new();
    let mut check = |candidate: &TransformSpec| -> Result<Candidate, VerifyError> {
        let (model, mut report, bytes, mut session) =
            load_transformed(runtime, model, candidate, config, &mut rejections)?;
        report.accuracy = Some(probe.compare_session(&mut session)?);
        Ok(Candidate {
            model,
            bytes,
            report,
        })
    };
    let mut unconverted = || -> Result<Candidate, VerifyError> {
        let report = TransformReport {
            spec: spec.clone(),
            size_before_bytes: original.len() as u64,
            size_after_bytes: original.len() as u64,
            accuracy: Some(probe.compare(runtime, original)?),
            ..TransformReport::default()
        };
        Ok(Candidate {
            model: transform::self_contained(model)?,
            bytes: original.to_vec(),
            report,
        })
    };
    let mut found = super::budget::search(model, spec, &mut check, &mut unconverted)?;
    if found.bytes != original
        && let Some(accuracy) = found.report.accuracy.as_mut()
    {
        probe.add_speed_of(runtime, &found.bytes, accuracy);
    }
    Ok(CheckedTransform {
        model: found.model,
        bytes: found.bytes,
        report: found.report,
    })
}

/// Applies `spec` and loads the result in ONNX Runtime with `config`,
/// keeping float16 ops the provider has no kernel for in float32; returns
/// the session it loaded, which the accuracy and speed checks run.
/// `rejections` (op, ONNX Runtime's message) are the ops already known to
/// lack one; new ones are added.
fn load_transformed(
    runtime: &Runtime,
    model: &Model,
    spec: &TransformSpec,
    config: &ProfileConfig,
    rejections: &mut Vec<(String, String)>,
) -> Result<(Model, TransformReport, Vec<u8>, Session), VerifyError> {
    let mut blocked: BTreeSet<String> = rejections.iter().map(|(op, _)| op.clone()).collect();
    let mut attempts = 0;
    let (transformed, mut report, bytes, session) = loop {
        let (transformed, mut report) = transform::apply_with_blocked_ops(model, spec, &blocked)?;
        let bytes = transformed.to_bytes();
        match build_session(runtime, ModelSource::Memory(&bytes), config, None) {
            Ok(built) => {
                if let Some(fp16_report) = report.fp16.as_mut() {
                    fp16_report.rejected_by_runtime.clone_from(rejections);
                }
                break (transformed, report, bytes, built.session);
            }
            Err(EngineError::Session { message, source }) => {
                let rejected_op = missing_kernel_op(&message);
                attempts += 1;
                match rejected_op {
                    Some(op)
                        if spec.precision == Precision::Fp16
                            && attempts <= MAX_FP16_RETRIES
                            && blocked.insert(op.clone()) =>
                    {
                        rejections.push((op, message));
                    }
                    _ => return Err(VerifyError::Rejected { message, source }),
                }
            }
            Err(other) => return Err(other.into()),
        }
    };
    if !rejections.is_empty() {
        report.notes.push(format!(
            "ONNX Runtime has no float16 kernel on {} for: {}; those nodes stay float32 (mixed precision)",
            config.execution_provider,
            rejections.iter().map(|(op, _)| op.as_str()).collect::<Vec<_>>().join(", ")
        ));
    }
    report.notes.extend(execution_provider_notes(spec, config));
    Ok((transformed, report, bytes, session))
}

/// What the execution provider means for the transform's speed, so a lever
/// that does not pay is not a surprise.
fn execution_provider_notes(spec: &TransformSpec, config: &ProfileConfig) -> Vec<String> {
    let mut notes = Vec::new();
    if config.execution_provider != ExecutionProviderKind::Cpu {
        return notes;
    }
    match spec.precision {
        Precision::Fp16 => notes.push(
            "the CPU execution provider has few float16 kernels; ONNX Runtime casts around the others, so float16 is often slower than float32 on CPU".to_owned(),
        ),
        Precision::Int8 if spec.int8_mode == Int8Mode::Dynamic && !cpu_has_vnni() => notes.push(
            "this CPU has no VNNI (avx512_vnni / avx_vnni): ONNX Runtime's u8×s8 integer kernels take a slower path, so dynamic int8 may be slower than float32".to_owned(),
        ),
        Precision::Int8 if spec.int8_mode == Int8Mode::Qdq => notes.push(
            "QDQ weights only: compute stays float32 (smaller file, no integer kernels)".to_owned(),
        ),
        _ => {}
    }
    notes
}

/// Whether the CPU has VNNI dot-product instructions (x86 only).
fn cpu_has_vnni() -> bool {
    #[cfg(target_arch = "x86_64")]
    {
        std::arch::is_x86_feature_detected!("avx512vnni")
            || std::arch::is_x86_feature_detected!("avxvnni")
    }
    #[cfg(not(target_arch = "x86_64"))]
    {
        false
    }
}

/// The op type in ONNX Runtime's "Could not find an implementation for
/// Gemm(13) node with name 'fc1'" message.
pub fn missing_kernel_op(message: &str) -> Option<String> {
    let rest = message
        .split("Could not find an implementation for ")
        .nth(1)?;
    let op = rest.split(['(', ' ']).next()?.trim();
    (!op.is_empty()).then(|| op.to_owned())
}

/// Outputs of one run: per output, its shape and values as f64.
type RunOutputs = Vec<(Vec<i64>, Vec<f64>)>;

/// The labelled class output: which output, its classes, and the labels.
#[derive(Debug, Clone)]
struct LabelledOutput {
    /// Index into the output names.
    output: usize,
    classes: usize,
    labels: Vec<i64>,
    /// Top-1 and top-5 hits of the original.
    before: (u64, u64),
}

/// The original model's outputs on a fixed set of evaluation inputs,
/// computed once, so that many transformed candidates (an accuracy-budget
/// search) are each compared with one run per sample.
pub struct AccuracyProbe {
    config: ProfileConfig,
    /// The original's session, kept for the speed check.
    original: std::sync::Mutex<Session>,
    samples: Vec<EvalSample>,
    output_names: Vec<String>,
    /// `reference[k]`: the original's outputs on sample `k`.
    reference: Vec<RunOutputs>,
    input_source: String,
    /// Degenerate reference outputs (see [`degenerate_output`]).
    warnings: Vec<String>,
    labelled: Option<LabelledOutput>,
}

impl AccuracyProbe {
    /// Runs the original (serialized, self-contained) on
    /// `spec.accuracy_samples` seeded synthetic input sets of the kind
    /// `spec.synthetic` asks for, or on `config.input_files` (one sample per
    /// file), keeps its outputs, checks them for degenerate values, and
    /// reads `spec.labels` when set.
    pub fn new(
        runtime: &Runtime,
        original: &[u8],
        config: &ProfileConfig,
        spec: &TransformSpec,
    ) -> Result<Self, VerifyError> {
        let mut session =
            build_session(runtime, ModelSource::Memory(original), config, None)?.session;
        let declared = inputs::declared_inputs(&session)?;
        // Evaluation data of its own: the files set every dim, not the run's
        // batch and dims.
        let eval_config = spec.eval_input.as_ref().map(|path| ProfileConfig {
            input_files: vec![InputFile {
                name: String::new(),
                path: path.clone(),
            }],
            batch: None,
            dims: Default::default(),
            ..config.clone()
        });
        let inputs_config = eval_config.as_ref().unwrap_or(config);
        let hints = crate::model::Model::from_bytes(original, None)
            .map(|model| inputs::GraphHints::analyse(&model, &inputs_config.dims))
            .unwrap_or_default();
        let eval = inputs::prepare_eval(
            &declared,
            inputs_config,
            spec.accuracy_samples,
            spec.synthetic,
            &hints,
        )?;
        let mut input_source = eval.description;
        for note in &eval.notes {
            input_source.push_str("; ");
            input_source.push_str(note);
        }
        let output_names: Vec<String> = session
            .outputs()
            .iter()
            .map(|o| o.name().to_owned())
            .collect();
        let reference = eval
            .samples
            .iter()
            .map(|sample| {
                let values = to_values(&sample.tensors, &sample.shapes, None)?;
                run_once(&mut session, &values, &output_names)
            })
            .collect::<Result<Vec<_>, _>>()?;
        let warnings = reference_warnings(&output_names, &reference, &declared, inputs_config);
        let labelled = match &spec.labels {
            Some(path) => Some(labelled_output(
                path,
                spec.labels_output.as_deref(),
                &output_names,
                &reference,
            )?),
            None => None,
        };
        Ok(Self {
            original: std::sync::Mutex::new(session),
            config: config.clone(),
            samples: eval.samples,
            output_names,
            reference,
            input_source,
            warnings,
            labelled,
        })
    }

    /// Adds the speed of the transformed model in `transformed` against
    /// the original's session on the probe's first input set
    /// ([`super::speed_check`]) to `accuracy`; a check that cannot run is a
    /// warning there, not a failed transform.
    pub fn add_speed(&self, transformed: &mut Session, accuracy: &mut AccuracyReport) {
        let Some(sample) = self.samples.first() else {
            return;
        };
        let measured = (|| -> Result<_, VerifyError> {
            // A panic elsewhere while holding it leaves the session usable.
            let mut original = self
                .original
                .lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner);
            let declared = inputs::declared_inputs(transformed)?;
            let before_values = to_values(&sample.tensors, &sample.shapes, None)?;
            let after_values = to_values(&sample.tensors, &sample.shapes, Some(&declared))?;
            super::speed_check::paired(
                (&mut original, &before_values),
                (transformed, &after_values),
            )
            .map_err(|source| VerifyError::Run {
                message: clean_ort_message(source.message()),
                source,
            })
        })();
        match measured {
            Ok(speed) => accuracy.speed = speed,
            Err(err) => accuracy.warnings.push(speed_not_measured(&err)),
        }
    }

    /// [`Self::add_speed`] on a new session of `transformed` (serialized).
    pub fn add_speed_of(
        &self,
        runtime: &Runtime,
        transformed: &[u8],
        accuracy: &mut AccuracyReport,
    ) {
        match self.session_of(runtime, transformed) {
            Ok(mut session) => self.add_speed(&mut session, accuracy),
            Err(err) => accuracy.warnings.push(speed_not_measured(&err)),
        }
    }

    /// Input sets the probe runs.
    pub fn num_samples(&self) -> usize {
        self.samples.len()
    }

    /// Runs `transformed` (serialized, self-contained) on the probe's inputs
    /// and compares every output with the original's.
    pub fn compare(
        &self,
        runtime: &Runtime,
        transformed: &[u8],
    ) -> Result<AccuracyReport, VerifyError> {
        self.compare_session(&mut self.session_of(runtime, transformed)?)
    }

    /// A session of `model` (serialized, self-contained) with the probe's
    /// config.
    fn session_of(&self, runtime: &Runtime, model: &[u8]) -> Result<Session, VerifyError> {
        Ok(build_session(runtime, ModelSource::Memory(model), &self.config, None)?.session)
    }

    /// [`Self::compare`] on a session of the transformed model.
    pub fn compare_session(&self, session: &mut Session) -> Result<AccuracyReport, VerifyError> {
        let declared = inputs::declared_inputs(session)?;
        let mut per_output = vec![OutputComparison::default(); self.output_names.len()];
        let mut class_scores: Vec<f64> = Vec::new();
        for (sample, expected) in self.samples.iter().zip(&self.reference) {
            let values = to_values(&sample.tensors, &sample.shapes, Some(&declared))?;
            let actual = run_once(session, &values, &self.output_names)?;
            for (name, ((_, want), (_, got))) in
                self.output_names.iter().zip(expected.iter().zip(&actual))
            {
                if want.len() != got.len() {
                    return Err(VerifyError::OutputSize {
                        name: name.clone(),
                        before: want.len(),
                        after: got.len(),
                    });
                }
            }
            if let Some(labelled) = &self.labelled
                && let Some((_, got)) = actual.get(labelled.output)
            {
                class_scores.extend_from_slice(got);
            }
            for (slot, ((shape, want), (_, got))) in
                per_output.iter_mut().zip(expected.iter().zip(actual))
            {
                slot.add(shape, want.clone(), got);
            }
        }
        let outputs = self
            .output_names
            .iter()
            .zip(per_output)
            .map(|(name, comparison)| comparison.finish(name.clone()))
            .collect();
        let task = self.labelled.as_ref().map(|labelled| {
            let after = top_k_hits(&class_scores, labelled.classes, &labelled.labels);
            let rows = labelled.labels.len().max(1) as f64;
            TaskAccuracy {
                output: self.output_names[labelled.output].clone(),
                num_labels: labelled.labels.len() as u64,
                top1_before: labelled.before.0 as f64 / rows,
                top1_after: after.0 as f64 / rows,
                top5_before: labelled.before.1 as f64 / rows,
                top5_after: after.1 as f64 / rows,
            }
        });
        Ok(AccuracyReport {
            num_samples: self.samples.len(),
            input_source: self.input_source.clone(),
            outputs,
            warnings: self.warnings.clone(),
            task,
            next_token: None,
            speed: None,
        })
    }
}

/// The accuracy warning of a speed check that could not run.
fn speed_not_measured(err: &VerifyError) -> String {
    format!("the speed against the original was not measured: {err}")
}

/// One warning per output of the original that is degenerate on the
/// evaluation inputs, with what to do about it.
fn reference_warnings(
    output_names: &[String],
    reference: &[RunOutputs],
    declared: &[DeclaredInput],
    config: &ProfileConfig,
) -> Vec<String> {
    let input = match declared {
        [only] => only.name.as_str(),
        _ => "NAME",
    };
    let hint = if config.input_files.is_empty() {
        format!(
            "Measure on real data instead: {inputs} {input}=FILE.npy (or {inputs} {input}=DIR, a folder of .npy files, one sample each)",
            inputs = Field::Inputs
        )
    } else {
        "Check that these .npy files hold representative, preprocessed data".to_owned()
    };
    output_names
        .iter()
        .enumerate()
        .filter_map(|(index, name)| {
            let mut values = Vec::new();
            let mut probabilities = true;
            for outputs in reference {
                let (shape, data) = outputs.get(index)?;
                probabilities &= is_probability_rows(shape, data);
                values.extend_from_slice(data);
            }
            degenerate_output(name, &values, probabilities, &hint)
        })
        .collect()
}

/// Finds the class output the labels go with (`wanted`, or the first
/// `[rows, classes]` output), checks the labels against its rows and
/// classes, and scores the original.
fn labelled_output(
    path: &Path,
    wanted: Option<&str>,
    output_names: &[String],
    reference: &[RunOutputs],
) -> Result<LabelledOutput, VerifyError> {
    let labels_error = |problem: String| VerifyError::Labels {
        path: path.to_path_buf(),
        problem,
    };
    let labels = inputs::files::read_labels(path)?;
    let first = reference
        .first()
        .ok_or_else(|| labels_error("no evaluation inputs".to_owned()))?;
    let is_class_output = |shape: &[i64]| matches!(shape, [_, classes] if *classes > 1);
    let output = match wanted {
        Some(name) => {
            let index = output_names.iter().position(|n| n == name).ok_or_else(|| {
                labels_error(format!(
                    "{} {name}: the model has no output of that name; its outputs are: {}",
                    Field::LabelsOutput,
                    output_names.join(", ")
                ))
            })?;
            if !is_class_output(&first[index].0) {
                return Err(labels_error(format!(
                    "output '{name}' has shape {:?}; labels need a [rows, classes] output",
                    first[index].0
                )));
            }
            index
        }
        None => first
            .iter()
            .position(|(shape, _)| is_class_output(shape))
            .ok_or_else(|| {
                labels_error(format!(
                    "no output is shaped [rows, classes] (outputs: {}); top-1 needs class scores",
                    output_names
                        .iter()
                        .zip(first)
                        .map(|(name, (shape, _))| format!("{name} {shape:?}"))
                        .collect::<Vec<_>>()
                        .join(", ")
                ))
            })?,
    };
    let classes = first[output].0[1] as usize;
    let mut scores = Vec::new();
    let mut rows: u64 = 0;
    for outputs in reference {
        let (shape, values) = &outputs[output];
        if shape.len() != 2 || shape[1] as usize != classes {
            return Err(labels_error(format!(
                "output '{}' changes its class count between samples ({shape:?})",
                output_names[output]
            )));
        }
        rows += shape[0].max(0) as u64;
        scores.extend_from_slice(values);
    }
    if labels.len() as u64 != rows {
        return Err(labels_error(format!(
            "{} labels, but the evaluation has {rows} rows of output '{}' ({} input sets); give one class id per row",
            labels.len(),
            output_names[output],
            reference.len()
        )));
    }
    if let Some(bad) = labels.iter().find(|l| **l < 0 || **l as usize >= classes) {
        return Err(labels_error(format!(
            "class id {bad} is outside 0..{classes} (output '{}' has {classes} classes)",
            output_names[output]
        )));
    }
    let before = top_k_hits(&scores, classes, &labels);
    Ok(LabelledOutput {
        output,
        classes,
        labels,
        before,
    })
}

/// Runs both models (serialized, self-contained) on the same inputs and
/// compares their outputs (see [`AccuracyProbe::new`] for what `spec` sets).
pub fn measure_accuracy(
    runtime: &Runtime,
    original: &[u8],
    transformed: &[u8],
    config: &ProfileConfig,
    spec: &TransformSpec,
) -> Result<AccuracyReport, VerifyError> {
    AccuracyProbe::new(runtime, original, config, spec)?.compare(runtime, transformed)
}

/// ONNX Runtime values of one sample; float32 data becomes float16 where the
/// transformed model declares a float16 input.
fn to_values(
    sample: &[TensorData],
    shapes: &[Vec<i64>],
    declared: Option<&[DeclaredInput]>,
) -> Result<Vec<DynValue>, VerifyError> {
    sample
        .iter()
        .zip(shapes)
        .enumerate()
        .map(|(index, (data, shape))| {
            let wants_f16 = declared
                .and_then(|d| d.get(index))
                .is_some_and(|input| input.dtype == TensorElementType::Float16);
            let converted;
            let data = match data {
                TensorData::F32(values) if wants_f16 => {
                    converted = TensorData::F16(values.iter().map(|v| f16::from_f32(*v)).collect());
                    &converted
                }
                other => other,
            };
            data.to_value(shape).map_err(|source| VerifyError::Run {
                message: source.to_string(),
                source,
            })
        })
        .collect()
}

/// Runs a session and reads every named output as f64.
fn run_once(
    session: &mut Session,
    values: &[DynValue],
    names: &[String],
) -> Result<RunOutputs, VerifyError> {
    let views: Vec<SessionInputValue<'_>> = values.iter().map(SessionInputValue::from).collect();
    let outputs = session.run(&views[..]).map_err(|source| VerifyError::Run {
        message: clean_ort_message(source.message()),
        source,
    })?;
    names
        .iter()
        .map(|name| {
            let Some(value) = outputs.get(name.as_str()) else {
                return Err(VerifyError::Output {
                    name: name.clone(),
                    problem: "missing",
                });
            };
            read_f64(value).ok_or_else(|| VerifyError::Output {
                name: name.clone(),
                problem: "not a numeric tensor",
            })
        })
        .collect()
}

/// A tensor's shape and values as f64 (float and integer element types).
fn read_f64(value: &DynValue) -> Option<(Vec<i64>, Vec<f64>)> {
    macro_rules! read {
        ($t:ty, $convert:expr) => {
            if let Ok((shape, data)) = value.try_extract_tensor::<$t>() {
                return Some((shape.to_vec(), data.iter().map($convert).collect()));
            }
        };
    }
    read!(f32, |v| f64::from(*v));
    read!(f16, |v| f64::from(v.to_f32()));
    read!(f64, |v| *v);
    read!(i64, |v| *v as f64);
    read!(i32, |v| f64::from(*v));
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn missing_kernel_messages_name_the_op() {
        let message =
            "NOT_IMPLEMENTED: Could not find an implementation for Gemm(13) node with name 'fc1'";
        assert_eq!(missing_kernel_op(message), Some("Gemm".to_owned()));
        assert_eq!(missing_kernel_op("INVALID_GRAPH: something else"), None);
    }
}
