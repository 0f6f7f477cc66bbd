//! The accuracy budget in the window: the budget control of the Config
//! panel's transform section (off, minimum cosine, maximum top-1 drop), and
//! the per-layer sensitivity bar chart of a transform report, converted and
//! kept units in different colours with the budget as a line.

use egui::{RichText, Ui};
use egui_plot::{Bar, BarChart, Corner, GridMark, HLine, Legend, Plot};

use super::theme;
use crate::transform::{AccuracyBudget, BudgetLimit, BudgetReport, TransformSpec};

/// Smallest error drawn (1 − cosine can be exactly 0).
const ERROR_FLOOR: f64 = 1e-12;

/// Which kind of budget the control shows.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum BudgetKind {
    Off,
    MinCosine,
    MaxTop1Drop,
}

/// The budget rows of the transform grid (one label and one control per row).
pub(super) fn budget_ui(ui: &mut Ui, spec: &mut TransformSpec) {
    let current = spec.accuracy_budget.and_then(|b| b.limit);
    let kind = match current {
        None => BudgetKind::Off,
        Some(BudgetLimit::MinCosine(_)) => BudgetKind::MinCosine,
        Some(BudgetLimit::MaxTop1Drop(_)) => BudgetKind::MaxTop1Drop,
    };
    let mut chosen = kind;
    ui.label("Accuracy budget");
    ui.horizontal(|ui| {
        ui.radio_value(&mut chosen, BudgetKind::Off, "no budget");
        ui.radio_value(&mut chosen, BudgetKind::MinCosine, "min cosine");
        ui.radio_value(&mut chosen, BudgetKind::MaxTop1Drop, "max top-1 drop");
    });
    ui.end_row();
    if chosen != kind {
        spec.accuracy_budget = match chosen {
            BudgetKind::Off => None,
            BudgetKind::MinCosine => Some(AccuracyBudget {
                limit: Some(BudgetLimit::MinCosine(0.999)),
                ..AccuracyBudget::default()
            }),
            BudgetKind::MaxTop1Drop => Some(AccuracyBudget {
                limit: Some(BudgetLimit::MaxTop1Drop(0.005)),
                ..AccuracyBudget::default()
            }),
        };
    }
    let Some(budget) = spec.accuracy_budget.as_mut() else {
        return;
    };
    match budget.limit.as_mut() {
        Some(BudgetLimit::MinCosine(min)) => {
            let label = ui.label("Minimum cosine");
            ui.add(
                egui::DragValue::new(min)
                    .range(0.5..=1.0)
                    .speed(0.0001)
                    .max_decimals(7),
            )
            .labelled_by(label.id);
            ui.end_row();
        }
        Some(BudgetLimit::MaxTop1Drop(drop)) => {
            let mut percent = *drop * 100.0;
            let label = ui.label("Max top-1 drop (%)");
            if ui
                .add(
                    egui::DragValue::new(&mut percent)
                        .range(0.0..=50.0)
                        .speed(0.05),
                )
                .labelled_by(label.id)
                .changed()
            {
                *drop = percent / 100.0;
            }
            ui.end_row();
            ui.label("");
            ui.label(
                RichText::new("Needs labels for a class output.")
                    .small()
                    .color(theme::MUTED),
            );
            ui.end_row();
        }
        None => {}
    }
    ui.label("");
    ui.checkbox(
        &mut budget.allow_unconverted,
        "Run unconverted when nothing fits",
    );
    ui.end_row();
    ui.label("");
    ui.label(
        RichText::new("One check per layer, then a bisection.")
            .small()
            .color(theme::MUTED),
    )
    .on_hover_text(
        "Each layer is converted alone and measured; then the least sensitive layers are combined, and a bisection finds how many stay within the budget.",
    );
    ui.end_row();
}

/// The bars of a sensitivity chart, in the report's order (least sensitive
/// first).
#[derive(Debug, Clone, PartialEq)]
pub struct SensitivityChart {
    /// One bar per unit: label, bar height, converted.
    pub bars: Vec<(String, f64, bool)>,
    /// Height of the budget line, if the budget is on the chart's scale.
    pub budget_line: Option<f64>,
    /// Whether heights are log₁₀(1 − cosine) (else top-1 drop in percent).
    pub log_cosine_error: bool,
    /// The one-line caption above the chart.
    pub caption: String,
}

impl SensitivityChart {
    /// The chart of `report`: 1 − cosine on a log scale, or the top-1 drop
    /// in percent for a top-1 budget.
    pub fn from_report(report: &BudgetReport) -> Self {
        let top1 = matches!(report.budget.limit, Some(BudgetLimit::MaxTop1Drop(_)));
        let bars = report
            .sensitivity
            .iter()
            .map(|row| {
                let height = if top1 {
                    row.top1_drop.unwrap_or(0.0) * 100.0
                } else {
                    row.cosine_error.max(ERROR_FLOOR).log10()
                };
                (row.unit.label.clone(), height, row.converted)
            })
            .collect();
        let budget_line = match report.budget.limit {
            Some(BudgetLimit::MinCosine(min)) => Some((1.0 - min).max(ERROR_FLOOR).log10()),
            Some(BudgetLimit::MaxTop1Drop(max)) => Some(max * 100.0),
            None => None,
        };
        let kept = report.sensitivity.len() - report.converted_units;
        let caption = match report.budget.limit {
            Some(limit) => format!(
                "Sensitivity per layer ({limit}): {} converted, {kept} kept",
                report.converted_units
            ),
            None => format!(
                "Sensitivity per layer: {} units, each converted alone",
                report.sensitivity.len()
            ),
        };
        Self {
            bars,
            budget_line,
            log_cosine_error: !top1,
            caption,
        }
    }
}

/// The sensitivity chart of a budget report.
pub(super) fn chart_ui(ui: &mut Ui, report: &BudgetReport) {
    let chart = SensitivityChart::from_report(report);
    ui.label(RichText::new(&chart.caption).strong());
    if chart.bars.is_empty() {
        return;
    }
    let searched = report.budget.limit.is_some();
    // Log-scale bars grow up from the smallest error on the chart.
    let base = if chart.log_cosine_error {
        chart
            .bars
            .iter()
            .map(|(_, h, _)| *h)
            .chain(chart.budget_line)
            .fold(f64::INFINITY, f64::min)
            .floor()
            - 1.0
    } else {
        0.0
    };
    let bar = |index: usize, (label, height, _): &(String, f64, bool)| {
        Bar::new(index as f64, height - base)
            .base_offset(base)
            .name(label)
            .width(0.8)
    };
    let mut converted = Vec::new();
    let mut kept = Vec::new();
    for (index, entry) in chart.bars.iter().enumerate() {
        if entry.2 || !searched {
            converted.push(bar(index, entry));
        } else {
            kept.push(bar(index, entry));
        }
    }
    let log = chart.log_cosine_error;
    let labels: Vec<String> = chart
        .bars
        .iter()
        .map(|(label, _, _)| label.clone())
        .collect();
    Plot::new("sensitivity_chart")
        .x_axis_formatter(move |mark: GridMark, _range| {
            let index = mark.value.round();
            if (mark.value - index).abs() > 1e-6 || index < 0.0 {
                return String::new();
            }
            match labels.get(index as usize) {
                Some(label) if labels.len() <= 24 => label.clone(),
                _ => format!("{index:.0}"),
            }
        })
        .height(220.0)
        .legend(Legend::default().position(Corner::LeftTop))
        .x_axis_label("unit, least to most sensitive")
        .y_axis_label(if log {
            "1 − cosine"
        } else {
            "top-1 drop (%)"
        })
        .y_axis_formatter(move |mark: GridMark, _range| {
            if log {
                format!("1e{:.0}", mark.value)
            } else {
                format!("{:.1}", mark.value)
            }
        })
        .allow_scroll(false)
        .show(ui, |plot| {
            let (first, second) = if searched {
                ("converted", "kept")
            } else {
                ("alone", "kept")
            };
            plot.bar_chart(BarChart::new(first, converted).color(if searched {
                theme::GOOD
            } else {
                theme::THROUGHPUT
            }));
            if !kept.is_empty() {
                plot.bar_chart(BarChart::new(second, kept).color(theme::ERROR));
            }
            if let Some(line) = chart.budget_line {
                plot.hline(HLine::new("budget", line).color(theme::WARNING));
            }
        });
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::transform::{BudgetUnit, LayerSensitivity};

    #[test]
    fn chart_bars_follow_the_report() {
        let row = |label: &str, error: f64, converted: bool| LayerSensitivity {
            unit: BudgetUnit {
                label: label.to_owned(),
                op_type: "Conv".to_owned(),
                nodes: vec![label.to_owned()],
            },
            cosine_error: error,
            relative_l2_error: 0.0,
            top1_drop: None,
            size_gain_bytes: 0,
            flops_gain: 0,
            converted,
        };
        let report = BudgetReport {
            budget: AccuracyBudget {
                limit: Some(BudgetLimit::MinCosine(0.999)),
                allow_unconverted: false,
            },
            sensitivity: vec![
                row("a", 1e-6, true),
                row("b", 0.0, true),
                row("c", 1e-2, false),
            ],
            converted_units: 2,
            ..BudgetReport::default()
        };
        let chart = SensitivityChart::from_report(&report);
        assert!(chart.log_cosine_error);
        let heights: Vec<f64> = chart.bars.iter().map(|b| b.1).collect();
        assert!((heights[0] + 6.0).abs() < 1e-9);
        assert!((heights[1] + 12.0).abs() < 1e-9);
        assert!((heights[2] + 2.0).abs() < 1e-9);
        assert!(chart.budget_line.is_some_and(|l| (l + 3.0).abs() < 1e-6));
        assert!(
            chart.caption.contains("2 converted, 1 kept"),
            "{}",
            chart.caption
        );
    }
}
