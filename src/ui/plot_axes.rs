//! One axis scheme for every plot. egui_plot steps its grid by powers of
//! ten and labels a step only when its ticks stand 60 points apart (x) or
//! 20 (y), so a 67–754 inf/s axis on a 180-point plot labelled only "0",
//! and ten seconds on a 300-point axis only "10 s". Here the steps are 1,
//! 2 or 5 × 10^k, the largest one chosen so its ticks leave room for their
//! labels; the formatters print values with their units, so an axis title
//! carries no unit its ticks contradict.

use egui_plot::{GridInput, GridMark, Plot, uniform_grid_spacer};

use crate::util::{format_micros, format_value};

/// Points between labelled ticks on x (egui_plot draws them from 60 apart).
pub const X_LABEL_POINTS: f64 = 80.0;
/// Points between labelled ticks on y (drawn from 20 apart).
pub const Y_LABEL_POINTS: f64 = 30.0;
/// egui_plot's default finest grid spacing in points: `base_step_size` is
/// this many points in data units.
const GRID_MIN_POINTS: f64 = 8.0;

/// The smallest of 1, 2, 5 × 10^k that is at least `value`.
pub fn nice_at_least(value: f64) -> f64 {
    if !(value.is_finite() && value > 0.0) {
        return 1.0;
    }
    let decade = 10f64.powf(value.log10().floor());
    [1.0, 2.0, 5.0, 10.0]
        .into_iter()
        .map(|m| m * decade)
        .find(|step| *step >= value * (1.0 - 1e-9))
        .unwrap_or(10.0 * decade)
}

/// The next smaller step of the 1, 2, 5 sequence that divides `step`
/// (so its ticks include all of `step`'s): 10 → 5, 5 → 1, 2 → 1, 1 → 0.5.
fn nested_below(step: f64) -> f64 {
    let mantissa = step / 10f64.powf(step.log10().floor());
    if (mantissa - 5.0).abs() < 1e-6 {
        step / 5.0
    } else {
        step / 2.0
    }
}

/// The three grid steps for an axis whose labels need `label_points`
/// between ticks: the labelled one, and two finer ones that it divides
/// (nested, so a coarser tick always falls on a finer one and two labels
/// never stand a step apart), none finer than the visible grid.
pub fn steps(input: GridInput, label_points: f64) -> [f64; 3] {
    let visible = nice_at_least(input.base_step_size);
    let per_point = input.base_step_size / GRID_MIN_POINTS;
    let labelled = nice_at_least(per_point * label_points).max(visible);
    // Finer steps only while their lines stay visible.
    let finer = |step: f64| {
        let below = nested_below(step);
        if below >= visible * (1.0 - 1e-9) {
            below
        } else {
            step
        }
    };
    let between = finer(labelled);
    [finer(between), between, labelled]
}

/// A plot with this module's grid on both axes, and plain non-negative
/// numbers on its y axis unless the plot names another formatter.
pub fn plot(id: &str) -> Plot<'static> {
    Plot::new(id.to_owned())
        .x_grid_spacer(uniform_grid_spacer(|input| steps(input, X_LABEL_POINTS)))
        .y_grid_spacer(uniform_grid_spacer(|input| steps(input, Y_LABEL_POINTS)))
        .y_axis_formatter(number)
}

/// Seconds since the measurement began: `0 s`, `2.5 s` (none before it:
/// an empty plot's axis spans both sides of zero).
pub fn seconds(mark: GridMark, _range: &std::ops::RangeInclusive<f64>) -> String {
    if mark.value < 0.0 {
        return String::new();
    }
    format!("{} s", format_value(mark.value))
}

/// A rate: `250/s`.
pub fn per_second(mark: GridMark, _range: &std::ops::RangeInclusive<f64>) -> String {
    if mark.value < 0.0 {
        return String::new();
    }
    format!("{}/s", format_value(mark.value))
}

/// Milliseconds on the axis, printed with their own unit: `850 µs`,
/// `12.5 ms`.
pub fn millis(mark: GridMark, _range: &std::ops::RangeInclusive<f64>) -> String {
    if mark.value < 0.0 {
        return String::new();
    }
    if mark.value == 0.0 {
        return "0".to_owned();
    }
    format_micros(mark.value * 1000.0)
}

/// A plain count or share: `0.25`, `1500` (every plotted quantity is
/// non-negative, so the empty plot's negative half is left bare).
pub fn number(mark: GridMark, _range: &std::ops::RangeInclusive<f64>) -> String {
    if mark.value < 0.0 {
        return String::new();
    }
    format_value(mark.value)
}

#[cfg(test)]
mod tests {
    use super::*;

    type Formatter = fn(GridMark, &std::ops::RangeInclusive<f64>) -> String;

    /// The labels egui_plot draws for an axis `points` long over `range`:
    /// marks whose step leaves more than `min_points` between ticks.
    fn drawn_labels(
        range: (f64, f64),
        points: f64,
        label_points: f64,
        min_points: f64,
        format: Formatter,
    ) -> Vec<String> {
        let per_point = (range.1 - range.0) / points;
        let input = GridInput {
            bounds: range,
            base_step_size: per_point * GRID_MIN_POINTS,
        };
        let steps = steps(input, label_points);
        let labelled = steps
            .into_iter()
            .filter(|step| step / per_point > min_points)
            .fold(f64::INFINITY, f64::min);
        let first = (range.0 / labelled).ceil() as i64;
        let last = (range.1 / labelled).floor() as i64;
        (first..=last)
            .map(|i| {
                let mark = GridMark {
                    value: i as f64 * labelled,
                    step_size: labelled,
                };
                format(mark, &(range.0..=range.1))
            })
            .collect()
    }

    #[test]
    fn every_axis_gets_several_distinct_labels_with_units() {
        let cases: [((f64, f64), f64, Formatter, bool); 6] = [
            // Throughput 67–754 inf/s on a 180-point plot (was only "0").
            ((67.0, 754.0), 180.0, per_second, false),
            // Ten seconds on a 300-point axis (was only "10 s").
            ((0.0, 10.0), 300.0, seconds, true),
            // Microsecond latencies in ms.
            ((0.0, 0.003), 180.0, millis, false),
            ((0.0, 40.0), 180.0, millis, false),
            // A 30k/s closed loop.
            ((0.0, 31_000.0), 180.0, per_second, false),
            // A four-minute run on a wide axis.
            ((0.0, 240.0), 600.0, seconds, true),
        ];
        for (range, points, format, is_x) in cases {
            let (label_points, min_points) = if is_x {
                (X_LABEL_POINTS, 60.0)
            } else {
                (Y_LABEL_POINTS, 20.0)
            };
            let labels = drawn_labels(range, points, label_points, min_points, format);
            assert!(labels.len() >= 3, "{range:?} over {points}: {labels:?}");
            let mut distinct = labels.clone();
            distinct.dedup();
            assert_eq!(distinct, labels, "labels repeat: {labels:?}");
        }
        assert_eq!(
            drawn_labels((0.0, 10.0), 300.0, X_LABEL_POINTS, 60.0, seconds),
            ["0 s", "5 s", "10 s"]
        );
        // An empty plot spans both sides of zero: no negative times or
        // counts, and no "-0".
        let empty_time = drawn_labels((-0.5, 0.5), 400.0, X_LABEL_POINTS, 60.0, seconds);
        assert!(
            empty_time.iter().all(|label| !label.starts_with('-')),
            "{empty_time:?}"
        );
        let empty_count = drawn_labels((-1.0, 1.0), 120.0, Y_LABEL_POINTS, 20.0, number);
        assert!(empty_count.contains(&"0".to_owned()), "{empty_count:?}");
        assert!(
            empty_count.iter().all(|label| !label.starts_with('-')),
            "{empty_count:?}"
        );
        let micros = drawn_labels((0.0, 0.003), 180.0, Y_LABEL_POINTS, 20.0, millis);
        assert!(
            micros[1..].iter().all(|label| label.ends_with(" µs")),
            "{micros:?}"
        );
    }

    #[test]
    fn each_step_divides_the_next_so_ticks_never_collide() {
        for points in [120.0, 180.0, 300.0, 640.0, 1200.0] {
            for span in [0.003, 0.7, 10.0, 20.0, 687.0, 31_000.0] {
                let per_point = span / points;
                let input = GridInput {
                    bounds: (0.0, span),
                    base_step_size: per_point * GRID_MIN_POINTS,
                };
                let [finest, between, labelled] = steps(input, X_LABEL_POINTS);
                for (small, large) in [(finest, between), (between, labelled)] {
                    let ratio = large / small;
                    assert!(
                        (ratio - ratio.round()).abs() < 1e-6,
                        "{small} does not divide {large} (span {span}, {points} points)"
                    );
                }
            }
        }
    }

    #[test]
    fn nice_steps_are_one_two_or_five_times_a_power_of_ten() {
        assert_eq!(nice_at_least(0.27), 0.5);
        assert_eq!(nice_at_least(1.0), 1.0);
        assert_eq!(nice_at_least(1.2), 2.0);
        assert_eq!(nice_at_least(3.0), 5.0);
        assert_eq!(nice_at_least(7.0), 10.0);
        assert_eq!(nice_at_least(120.0), 200.0);
        assert_eq!(nice_at_least(0.0), 1.0);
    }
}
