//! Accuracy impact of a transform: the report types and the statistics that
//! compare the original's outputs with the transformed model's. Running both
//! models on the same inputs is the engine's job (`engine::verify`); this
//! module only does the arithmetic.

use std::fmt::Write as _;

use serde::{Deserialize, Serialize};

/// Which synthetic data the accuracy check feeds when no `.npy` files are
/// given.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[cfg_attr(feature = "cli", derive(clap::ValueEnum))]
#[serde(rename_all = "snake_case")]
pub enum SyntheticKind {
    /// Image-like data for inputs that look like images (float
    /// `[N, 1 or 3, H, W]`, H and W at least 8), noise for the others.
    #[default]
    Auto,
    /// Image-like data for every float rank-4 input, noise for the others.
    Image,
    /// Seeded N(0,1) noise for floats (integers in 0..10) everywhere.
    Noise,
}

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
    /// Generative decoders: next-token agreement over a fixed prompt set.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub next_token: Option<NextTokenAgreement>,
    /// The transformed model's speed against the original's, measured
    /// beside the accuracy on the same inputs.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub speed: Option<SpeedCheck>,
}

/// One request at a time through the original and the transformed model,
/// interleaved (ABBA) on the same input set with the same session options,
/// so drift in the machine's speed hits both alike. Client-side wall time
/// of `Session::run`; it says how the lever pays for one request, not under
/// the load the run then measures.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct SpeedCheck {
    /// Calls of each model measured (after two warm-up calls each).
    pub pairs: usize,
    /// Median latency of the original, µs.
    pub original_median_micros: f64,
    /// Median latency of the transformed model, µs.
    pub transformed_median_micros: f64,
    /// Median over pairs of original / transformed latency: above 1 the
    /// transformed model is faster.
    pub speedup: f64,
    /// 95 % confidence interval of that median (order statistics of the
    /// pair ratios; distribution-free).
    pub speedup_low: f64,
    /// See `speedup_low`.
    pub speedup_high: f64,
}

impl SpeedCheck {
    /// The figures from paired latencies `(original, transformed)` in µs;
    /// `None` without pairs.
    pub fn from_pairs(pairs: &[(f64, f64)]) -> Option<Self> {
        if pairs.is_empty() {
            return None;
        }
        let median = |mut values: Vec<f64>| -> f64 {
            values.sort_by(f64::total_cmp);
            let n = values.len();
            if n % 2 == 1 {
                values[n / 2]
            } else {
                (values[n / 2 - 1] + values[n / 2]) / 2.0
            }
        };
        let mut ratios: Vec<f64> = pairs
            .iter()
            .map(|(original, transformed)| original / transformed.max(f64::MIN_POSITIVE))
            .collect();
        ratios.sort_by(f64::total_cmp);
        // Ranks of the median's 95 % interval: n/2 ± 1.96·√n/2.
        let n = ratios.len() as f64;
        let half_width = 1.96 * n.sqrt() / 2.0;
        let low = ((n / 2.0 - half_width).floor().max(1.0) as usize).min(ratios.len()) - 1;
        let high = ((n / 2.0 + half_width).ceil() as usize).clamp(1, ratios.len()) - 1;
        Some(Self {
            pairs: pairs.len(),
            original_median_micros: median(pairs.iter().map(|p| p.0).collect()),
            transformed_median_micros: median(pairs.iter().map(|p| p.1).collect()),
            speedup: median(ratios.clone()),
            speedup_low: ratios[low],
            speedup_high: ratios[high],
        })
    }

    /// "1.32× faster than the original (95 % CI 1.25–1.40×)", "5.50× slower
    /// than the original (speed 0.18×, 95 % CI ...)", or no difference shown
    /// when the interval spans 1.
    pub fn verdict(&self) -> String {
        let interval = format!("95 % CI {:.2}–{:.2}×", self.speedup_low, self.speedup_high);
        if self.speedup_low > 1.0 {
            format!("{:.2}× faster than the original ({interval})", self.speedup)
        } else if self.speedup_high < 1.0 {
            format!(
                "{:.2}× slower than the original (speed {:.2}×, {interval})",
                1.0 / self.speedup.max(f64::MIN_POSITIVE),
                self.speedup
            )
        } else {
            format!(
                "no difference from the original shown ({:.2}×, {interval})",
                self.speedup
            )
        }
    }

    /// The one line the report and the window show.
    pub fn line(&self) -> String {
        format!(
            "{}: median {} vs {} per request, {} interleaved calls each, one at a time",
            self.verdict(),
            crate::util::format_micros(self.transformed_median_micros),
            crate::util::format_micros(self.original_median_micros),
            self.pairs
        )
    }
}

/// How often a transformed decoder picks the original's next token, over a
/// fixed set of prompts: the original generates greedily, then both models
/// score the same sequence (teacher forcing) and their argmax is compared
/// at every generated position.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct NextTokenAgreement {
    pub prompts: usize,
    /// Positions compared (prompts × generated tokens).
    pub positions: u64,
    /// Share of the positions whose argmax agrees, 0..1.
    pub top1_agreement: f64,
    /// Share of the prompts whose first generated token agrees, 0..1.
    pub first_token_agreement: f64,
    /// Mean cosine similarity of the logits at those positions.
    pub mean_cosine: f64,
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

/// Values with |v| below this count as zero for the near-zero check.
pub const NEAR_ZERO_ABS: f64 = 1e-3;
/// An output is near-zero when at least this fraction of values is below
/// [`NEAR_ZERO_ABS`].
pub const NEAR_ZERO_FRACTION: f64 = 0.99;
/// An output is near-constant when its standard deviation is at most this
/// fraction of its root mean square.
pub const NEAR_CONSTANT_RATIO: f64 = 1e-3;
/// An output is saturated when at least this fraction of values lies in
/// the bands at the ends of its range.
pub const SATURATED_FRACTION: f64 = 0.995;
/// Width of each end band, as a fraction of the range.
pub const SATURATED_BAND: f64 = 0.005;

/// Why the original's output `name` makes cosine and relative L2
/// uninformative on the evaluation inputs: near-zero, near-constant or
/// saturated values. `None` when the values look healthy. Outputs whose
/// rows are probability distributions (`probabilities`, e.g. a softmax over
/// many classes, mostly near zero by nature) are only checked for being
/// near-constant. `hint` ends the sentence (what to do instead).
pub fn degenerate_output(
    name: &str,
    values: &[f64],
    probabilities: bool,
    hint: &str,
) -> Option<String> {
    let finite: Vec<f64> = values.iter().copied().filter(|v| v.is_finite()).collect();
    if finite.is_empty() {
        return None;
    }
    let n = finite.len() as f64;
    let suffix = format!("; cosine and relative L2 are then not informative. {hint}");
    let near_zero = finite.iter().filter(|v| v.abs() < NEAR_ZERO_ABS).count() as f64 / n;
    let max_abs = finite.iter().fold(0.0f64, |m, v| m.max(v.abs()));
    if !probabilities && near_zero >= NEAR_ZERO_FRACTION {
        return Some(format!(
            "output '{name}' is near zero on these inputs: {:.1}% of its values have |v| < {NEAR_ZERO_ABS:e} (largest |v| {max_abs:.3e}){suffix}",
            near_zero * 100.0
        ));
    }
    let mean = finite.iter().sum::<f64>() / n;
    let rms = (finite.iter().map(|v| v * v).sum::<f64>() / n).sqrt();
    let std = (finite.iter().map(|v| (v - mean).powi(2)).sum::<f64>() / n).sqrt();
    if rms > 0.0 && std <= NEAR_CONSTANT_RATIO * rms {
        return Some(format!(
            "output '{name}' is near-constant on these inputs: standard deviation {std:.3e} against a mean of {mean:.4e} (relative spread {:.1e}){suffix}",
            std / rms
        ));
    }
    let (low, high) = finite
        .iter()
        .fold((f64::INFINITY, f64::NEG_INFINITY), |(lo, hi), v| {
            (lo.min(*v), hi.max(*v))
        });
    if !probabilities && high > low {
        let band = SATURATED_BAND * (high - low);
        let at_low = finite.iter().filter(|v| **v <= low + band).count() as f64 / n;
        let at_high = finite.iter().filter(|v| **v >= high - band).count() as f64 / n;
        if at_low + at_high >= SATURATED_FRACTION {
            return Some(format!(
                "output '{name}' is saturated on these inputs: {:.1}% of its values lie at the ends of its range [{low:.4}, {high:.4}] ({:.1}% at the low end, {:.1}% at the high end){suffix}",
                (at_low + at_high) * 100.0,
                at_low * 100.0,
                at_high * 100.0
            ));
        }
    }
    None
}

/// Whether an output shaped `shape` holds probability rows: values in
/// [0, 1] that sum to 1 within 1e-3 along the last axis (a softmax over
/// classes, e.g. `[batch, time, classes]`) or over everything after dim 0
/// (e.g. `[batch, classes, 1, 1]`).
pub fn is_probability_rows(shape: &[i64], values: &[f64]) -> bool {
    if values.is_empty() || !values.iter().all(|v| (0.0..=1.0).contains(v)) {
        return false;
    }
    let sums_to_one = |row_len: usize| {
        row_len >= 2
            && values.len().is_multiple_of(row_len)
            && values
                .chunks(row_len)
                .all(|row| (row.iter().sum::<f64>() - 1.0).abs() < 1e-3)
    };
    let last = shape.last().map_or(0, |dim| (*dim).max(0) as usize);
    let rows = shape.first().map_or(1, |rows| (*rows).max(1) as usize);
    sums_to_one(last) || (values.len().is_multiple_of(rows) && sums_to_one(values.len() / rows))
}

/// Top-1 and top-5 hits of class scores `values` (`labels.len()` rows of
/// `classes` scores) against `labels`. A label is in the top k when fewer
/// than k classes score higher (ties go to the lower class index, like the
/// argmax). With fewer than 5 classes, top-5 is top-`classes`.
pub fn top_k_hits(values: &[f64], classes: usize, labels: &[i64]) -> (u64, u64) {
    let k = classes.min(5);
    let mut hits = (0, 0);
    for (row, label) in values.chunks(classes.max(1)).zip(labels) {
        let Some(&score) = usize::try_from(*label).ok().and_then(|l| row.get(l)) else {
            continue;
        };
        let label = *label as usize;
        let rank = row
            .iter()
            .enumerate()
            .filter(|(class, v)| **v > score || (**v == score && *class < label))
            .count();
        hits.0 += u64::from(rank == 0);
        hits.1 += u64::from(rank < k);
    }
    hits
}

impl AccuracyReport {
    /// The accuracy section of the transform report: warnings first (a
    /// `WARNING` line each), the task accuracy, then the per-output table.
    pub fn write_text(&self, out: &mut String) -> std::fmt::Result {
        for warning in &self.warnings {
            writeln!(out, "WARNING: {warning}")?;
        }
        if let Some(speed) = &self.speed {
            writeln!(out, "Speed       {}", speed.line())?;
        }
        writeln!(out, "Accuracy    {}", self.input_source)?;
        if let Some(next) = &self.next_token {
            writeln!(
                out,
                "  next token over {} fixed prompts ({} positions, teacher-forced on the original's greedy tokens): top-1 agreement {:.2}%, first token {:.2}%, mean logits cosine {:.6}",
                next.prompts,
                next.positions,
                next.top1_agreement * 100.0,
                next.first_token_agreement * 100.0,
                next.mean_cosine
            )?;
        }
        if let Some(task) = &self.task {
            writeln!(
                out,
                "  task accuracy on {} labelled rows (output '{}'): top-1 {:.2}% -> {:.2}% ({:+.2} pt), top-5 {:.2}% -> {:.2}% ({:+.2} pt)",
                task.num_labels,
                task.output,
                task.top1_before * 100.0,
                task.top1_after * 100.0,
                (task.top1_after - task.top1_before) * 100.0,
                task.top5_before * 100.0,
                task.top5_after * 100.0,
                (task.top5_after - task.top5_before) * 100.0
            )?;
        }
        let width = self
            .outputs
            .iter()
            .map(|output| output.name.chars().count())
            .fold(16, usize::max);
        writeln!(
            out,
            "  {:<width$} {:>12} {:>12} {:>12} {:>10} {:>12}",
            "output", "max abs", "mean abs", "rel L2", "cosine", "argmax agree"
        )?;
        for output in &self.outputs {
            writeln!(
                out,
                "  {:<width$} {:>12.3e} {:>12.3e} {:>12.3e} {:>10.6} {:>12}",
                output.name,
                output.max_abs_error,
                output.mean_abs_error,
                output.relative_l2_error,
                output.cosine_similarity,
                output
                    .top1_agreement
                    .map_or_else(|| "-".to_owned(), |a| format!("{:.1}%", a * 100.0))
            )?;
        }
        Ok(())
    }
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

    #[test]
    fn degenerate_outputs_are_named_and_healthy_ones_pass() {
        let hint = "use real data";
        let zeros = vec![0.0; 1000];
        let warning = degenerate_output("y", &zeros, false, hint).expect("all zero");
        assert!(
            warning.contains("near zero") && warning.contains("'y'"),
            "{warning}"
        );
        assert!(warning.contains("not informative") && warning.ends_with(hint));
        let constant: Vec<f64> = (0..1000).map(|i| 5.0 + 1e-6 * i as f64).collect();
        let warning = degenerate_output("y", &constant, false, hint).expect("constant");
        assert!(warning.contains("near-constant"), "{warning}");
        let saturated: Vec<f64> = (0..1000)
            .map(|i| {
                if i % 3 == 0 {
                    1.0
                } else {
                    2e-3 * f64::from(i % 2)
                }
            })
            .collect();
        let warning = degenerate_output("p", &saturated, false, hint).expect("saturated");
        assert!(warning.contains("saturated"), "{warning}");
        let healthy: Vec<f64> = (0..1000).map(|i| (i as f64 * 0.37).sin()).collect();
        assert_eq!(degenerate_output("y", &healthy, false, hint), None);
        // A softmax over many classes is mostly near zero by nature.
        let mut softmax = vec![0.0001; 1000];
        softmax[3] = 1.0 - 0.0001 * 999.0;
        assert!(is_probability_rows(&[1, 1000], &softmax));
        assert_eq!(degenerate_output("prob", &softmax, true, hint), None);
        assert!(!is_probability_rows(&[1, 1000], &healthy));
        // A softmax over the last axis of [batch, time, classes].
        let mut sequence = vec![0.0; 2 * 3 * 500];
        for row in 0..6 {
            sequence[row * 500 + row] = 1.0;
        }
        assert!(is_probability_rows(&[2, 3, 500], &sequence));
        // ... and over [batch, classes, 1, 1].
        assert!(is_probability_rows(&[1, 1000, 1, 1], &softmax));
    }

    #[test]
    fn top_k_counts_hits_with_ties_like_argmax() {
        // Two rows of 6 classes.
        let scores = [
            0.1, 0.9, 0.3, 0.2, 0.0, 0.5, // argmax 1; class 5 second
            1.0, 1.0, 0.0, 0.0, 0.0, 0.0, // tie: argmax 0
        ];
        assert_eq!(top_k_hits(&scores, 6, &[1, 0]), (2, 2));
        assert_eq!(top_k_hits(&scores, 6, &[5, 1]), (0, 2));
        // Class 4 ranks last in row 0 (6th): outside the top 5.
        assert_eq!(top_k_hits(&scores, 6, &[4, 2]), (0, 1));
        // Out-of-range labels count as misses.
        assert_eq!(top_k_hits(&scores, 6, &[9, -1]), (0, 0));
    }

    #[test]
    fn the_speed_check_takes_medians_and_a_distribution_free_interval() {
        // Original 2 ms, transformed 1 ms with a slow outlier: 2x faster.
        let mut pairs: Vec<(f64, f64)> = (0..20).map(|_| (2000.0, 1000.0)).collect();
        pairs.push((2000.0, 8000.0));
        let check = SpeedCheck::from_pairs(&pairs).expect("pairs");
        assert_eq!(check.pairs, 21);
        assert_eq!(check.speedup, 2.0);
        assert_eq!(check.transformed_median_micros, 1000.0);
        assert!(check.speedup_low > 1.0, "{check:?}");
        assert!(
            check
                .verdict()
                .starts_with("2.00× faster than the original"),
            "{}",
            check.verdict()
        );
        // Alternating faster and slower: the interval spans 1.
        let mixed: Vec<(f64, f64)> = (0..30)
            .map(|i| {
                if i % 2 == 0 {
                    (1000.0, 900.0)
                } else {
                    (900.0, 1000.0)
                }
            })
            .collect();
        let check = SpeedCheck::from_pairs(&mixed).expect("pairs");
        assert!(
            check.speedup_low < 1.0 && check.speedup_high > 1.0,
            "{check:?}"
        );
        assert!(
            check
                .verdict()
                .starts_with("no difference from the original shown")
        );
        assert!(SpeedCheck::from_pairs(&[]).is_none());
    }
}
