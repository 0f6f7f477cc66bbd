//! Accuracy impact of a transform: the original and the transformed model
//! run on the same inputs (K seeded synthetic sets, or the user's `.npy`
//! files) in ONNX Runtime, and every output is compared.

use half::f16;
use ort::session::{Session, SessionInputValue};
use ort::value::{DynValue, TensorElementType};
use serde::{Deserialize, Serialize};

use super::TransformError;
use crate::engine::inputs::{self, TensorData};
use crate::engine::{ProfileConfig, runtime::Runtime, session::ModelSource};

/// Error statistics of one output over all compared samples.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct OutputAccuracy {
    /// Output name.
    pub name: String,
    /// Elements compared (all samples together).
    pub num_elements: u64,
    /// Largest absolute difference.
    pub max_abs_error: f64,
    /// Mean absolute difference.
    pub mean_abs_error: f64,
    /// ‖transformed − original‖₂ / ‖original‖₂ (0 when both are zero).
    pub relative_l2_error: f64,
    /// Cosine similarity of the flattened outputs (1 when both are zero).
    pub cosine_similarity: f64,
    /// For outputs shaped `[batch, classes]`: fraction of rows whose argmax
    /// agrees, 0..1.
    pub top1_agreement: Option<f64>,
}

/// The comparison of all outputs.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct AccuracyReport {
    /// Input sets run through both models.
    pub num_samples: usize,
    /// Where the inputs came from, e.g. `8 seeded synthetic input sets (seed 42)`.
    pub input_source: String,
    /// One entry per model output, in the model's order.
    pub outputs: Vec<OutputAccuracy>,
}

impl AccuracyReport {
    /// The worst relative L2 error over the outputs.
    pub fn worst_relative_l2_error(&self) -> f64 {
        self.outputs
            .iter()
            .map(|o| o.relative_l2_error)
            .fold(0.0, f64::max)
    }
}

/// Outputs of one run: per output, its shape and values as f64.
type RunOutputs = Vec<(Vec<i64>, Vec<f64>)>;

/// Per output: original values, transformed values, top-1 (agree, rows).
type Collected = (Vec<f64>, Vec<f64>, Option<(u64, u64)>);

/// Runs both models (serialized, self-contained) on the same inputs and
/// compares their outputs.
pub(crate) fn compare(
    runtime: &Runtime,
    original: &[u8],
    transformed: &[u8],
    config: &ProfileConfig,
    num_samples: usize,
) -> Result<AccuracyReport, TransformError> {
    let session_error =
        |err: crate::engine::EngineError| TransformError::Runtime(format!("{err:#}"));
    let mut original_session =
        crate::engine::session::build_session(runtime, ModelSource::Memory(original), config, None)
            .map_err(session_error)?
            .session;
    let mut transformed_session = crate::engine::session::build_session(
        runtime,
        ModelSource::Memory(transformed),
        config,
        None,
    )
    .map_err(session_error)?
    .session;
    let declared = inputs::declared_inputs(&original_session).map_err(input_error)?;
    let transformed_declared =
        inputs::declared_inputs(&transformed_session).map_err(input_error)?;

    let mut samples: Vec<Vec<TensorData>> = Vec::new();
    let mut shapes: Vec<Vec<i64>> = Vec::new();
    let input_source;
    if config.input_files.is_empty() {
        let num_samples = num_samples.max(1);
        for sample in 0..num_samples {
            let seeded = ProfileConfig {
                seed: config.seed.wrapping_add(1000 * sample as u64),
                ..config.clone()
            };
            let prepared = inputs::prepare(&declared, &seeded).map_err(input_error)?;
            shapes = prepared.specs.iter().map(|s| s.shape.clone()).collect();
            samples.extend(prepared.variants);
        }
        input_source = format!(
            "{num_samples} seeded synthetic input sets (seed {})",
            config.seed
        );
    } else {
        let prepared = inputs::prepare(&declared, config).map_err(input_error)?;
        shapes = prepared.specs.iter().map(|s| s.shape.clone()).collect();
        samples = prepared.variants;
        input_source = format!("{} input sets from .npy files", samples.len());
    }

    let output_names: Vec<String> = original_session
        .outputs()
        .iter()
        .map(|o| o.name().to_owned())
        .collect();
    let mut per_output: Vec<Collected> = vec![(Vec::new(), Vec::new(), None); output_names.len()];
    for sample in &samples {
        let original_values = to_values(sample, &shapes, None)?;
        let transformed_values = to_values(sample, &shapes, Some(&transformed_declared))?;
        let expected = run_once(&mut original_session, &original_values, &output_names)?;
        let actual = run_once(&mut transformed_session, &transformed_values, &output_names)?;
        for (name, ((_, want), (_, got))) in output_names.iter().zip(expected.iter().zip(&actual)) {
            if want.len() != got.len() {
                return Err(TransformError::Runtime(format!(
                    "output {name:?} has {} elements after the transform, {} before",
                    got.len(),
                    want.len()
                )));
            }
        }
        for (slot, ((shape, want), (_, got))) in
            per_output.iter_mut().zip(expected.into_iter().zip(actual))
        {
            if let [rows, classes] = shape[..]
                && classes > 1
                && want.len() == got.len()
            {
                let (agree, total) = slot.2.get_or_insert((0, 0));
                for row in 0..rows as usize {
                    let range = row * classes as usize..(row + 1) * classes as usize;
                    if let (Some(a), Some(b)) = (want.get(range.clone()), got.get(range)) {
                        *agree += u64::from(argmax(a) == argmax(b));
                        *total += 1;
                    }
                }
            }
            slot.0.extend(want);
            slot.1.extend(got);
        }
    }
    let outputs = output_names
        .into_iter()
        .zip(per_output)
        .map(|(name, (want, got, top1))| {
            let mut stats = error_stats(&want, &got);
            stats.name = name;
            stats.top1_agreement = top1
                .filter(|(_, total)| *total > 0)
                .map(|(agree, total)| agree as f64 / total as f64);
            stats
        })
        .collect();
    Ok(AccuracyReport {
        num_samples: samples.len(),
        input_source,
        outputs,
    })
}

/// Error statistics of `got` against `want` (equal lengths; extra elements
/// are ignored). Non-finite results (an output overflowed) are stored as
/// `f64::MAX` so the report stays valid JSON.
pub fn error_stats(want: &[f64], got: &[f64]) -> OutputAccuracy {
    let mut stats = OutputAccuracy {
        name: String::new(),
        num_elements: want.len().min(got.len()) as u64,
        max_abs_error: 0.0,
        mean_abs_error: 0.0,
        relative_l2_error: 0.0,
        cosine_similarity: 1.0,
        top1_agreement: None,
    };
    let (mut sum_abs, mut diff_sq, mut want_sq, mut got_sq, mut dot) = (0.0, 0.0, 0.0, 0.0, 0.0);
    for (a, b) in want.iter().zip(got) {
        let diff = (b - a).abs();
        stats.max_abs_error = stats.max_abs_error.max(diff);
        sum_abs += diff;
        diff_sq += diff * diff;
        want_sq += a * a;
        got_sq += b * b;
        dot += a * b;
    }
    if stats.num_elements > 0 {
        stats.mean_abs_error = sum_abs / stats.num_elements as f64;
    }
    stats.relative_l2_error = if want_sq > 0.0 {
        (diff_sq / want_sq).sqrt()
    } else {
        diff_sq.sqrt()
    };
    stats.cosine_similarity = match (want_sq > 0.0, got_sq > 0.0) {
        (true, true) => dot / (want_sq.sqrt() * got_sq.sqrt()),
        (false, false) => 1.0,
        _ => 0.0,
    };
    for value in [
        &mut stats.max_abs_error,
        &mut stats.mean_abs_error,
        &mut stats.relative_l2_error,
    ] {
        if !value.is_finite() {
            *value = f64::MAX;
        }
    }
    if !stats.cosine_similarity.is_finite() {
        stats.cosine_similarity = 0.0;
    }
    stats
}

/// Index of the largest value (first one on ties).
fn argmax(values: &[f64]) -> usize {
    values
        .iter()
        .enumerate()
        .fold((0, f64::NEG_INFINITY), |best, (i, v)| {
            if *v > best.1 { (i, *v) } else { best }
        })
        .0
}

fn input_error(err: inputs::InputError) -> TransformError {
    TransformError::Runtime(format!("{err:#}"))
}

/// ONNX Runtime values of one sample; float32 data becomes float16 where the
/// transformed model declares a float16 input.
fn to_values(
    sample: &[TensorData],
    shapes: &[Vec<i64>],
    declared: Option<&[inputs::DeclaredInput]>,
) -> Result<Vec<DynValue>, TransformError> {
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
            data.to_value(shape)
                .map_err(|err| TransformError::Runtime(err.to_string()))
        })
        .collect()
}

/// Runs a session and reads every named output as f64.
fn run_once(
    session: &mut Session,
    values: &[DynValue],
    names: &[String],
) -> Result<RunOutputs, TransformError> {
    let views: Vec<SessionInputValue<'_>> = values.iter().map(SessionInputValue::from).collect();
    let outputs = session.run(&views[..]).map_err(|err| {
        TransformError::Runtime(crate::engine::session::clean_ort_message(err.message()))
    })?;
    names
        .iter()
        .map(|name| {
            let Some(value) = outputs.get(name.as_str()) else {
                return Err(TransformError::Runtime(format!(
                    "output {name:?} is missing"
                )));
            };
            read_f64(value).ok_or_else(|| {
                TransformError::Runtime(format!("output {name:?} is not a numeric tensor"))
            })
        })
        .collect()
}

/// A tensor's shape and values as f64 (float and integer element types).
fn read_f64(value: &ort::value::DynValue) -> Option<(Vec<i64>, Vec<f64>)> {
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
    fn error_statistics_match_hand_values() {
        // want = [3, 4] (norm 5), got = [3, 5]: diff [0, 1].
        let stats = error_stats(&[3.0, 4.0], &[3.0, 5.0]);
        assert_eq!(stats.max_abs_error, 1.0);
        assert_eq!(stats.mean_abs_error, 0.5);
        assert_eq!(stats.relative_l2_error, 0.2);
        // cos = (9 + 20) / (5 · sqrt(34)).
        assert!((stats.cosine_similarity - 29.0 / (5.0 * 34f64.sqrt())).abs() < 1e-15);
        let identical = error_stats(&[1.0, -2.0], &[1.0, -2.0]);
        assert_eq!(
            (identical.max_abs_error, identical.relative_l2_error),
            (0.0, 0.0)
        );
        assert!((identical.cosine_similarity - 1.0).abs() < 1e-15);
        assert_eq!(argmax(&[0.1, 0.7, 0.7, -1.0]), 1);
    }
}
