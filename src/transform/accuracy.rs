//! Accuracy impact of a transform: the report types and the statistics that
//! compare the original's outputs with the transformed model's. Running both
//! models on the same inputs is the engine's job (`engine::verify`); this
//! module only does the arithmetic.

use serde::{Deserialize, Serialize};

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
    /// Why the figures above may not mean much, e.g. the original's outputs
    /// are near-constant on these inputs. Empty when nothing is suspect.
    pub warnings: Vec<String>,
    /// Task accuracy against labels, when labels were given.
    pub task: Option<TaskAccuracy>,
}

/// Top-1 and top-5 accuracy against labels, before and after the transform,
/// each 0..1.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct TaskAccuracy {
    /// The output the labels were compared with.
    pub output: String,
    /// Labelled rows compared.
    pub num_labels: u64,
    /// Top-1 accuracy of the original.
    pub top1_before: f64,
    /// Top-1 accuracy of the transformed model.
    pub top1_after: f64,
    /// Top-5 accuracy of the original (top-k with k = classes when fewer than 5).
    pub top5_before: f64,
    /// Top-5 accuracy of the transformed model.
    pub top5_after: f64,
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

/// Collects one output's values over all compared input sets: the
/// original's and the transformed model's, and for `[batch, classes]`
/// outputs how many rows agree on the argmax.
#[derive(Debug, Clone, Default)]
pub struct OutputComparison {
    want: Vec<f64>,
    got: Vec<f64>,
    /// Rows whose argmax agrees, rows compared.
    top1: Option<(u64, u64)>,
}

impl OutputComparison {
    /// Adds one run's output: `shape` is the original's, `want` its values
    /// and `got` the transformed model's (the caller checks equal lengths).
    pub fn add(&mut self, shape: &[i64], want: Vec<f64>, got: Vec<f64>) {
        if let [rows, classes] = shape[..]
            && classes > 1
            && want.len() == got.len()
        {
            let (agree, total) = self.top1.get_or_insert((0, 0));
            for row in 0..rows as usize {
                let range = row * classes as usize..(row + 1) * classes as usize;
                if let (Some(a), Some(b)) = (want.get(range.clone()), got.get(range)) {
                    *agree += u64::from(argmax(a) == argmax(b));
                    *total += 1;
                }
            }
        }
        self.want.extend(want);
        self.got.extend(got);
    }

    /// The statistics of everything added, under the output's `name`.
    pub fn finish(self, name: String) -> OutputAccuracy {
        let mut stats = error_stats(&self.want, &self.got);
        stats.name = name;
        stats.top1_agreement = self
            .top1
            .filter(|(_, total)| *total > 0)
            .map(|(agree, total)| agree as f64 / total as f64);
        stats
    }
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
