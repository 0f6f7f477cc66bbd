//! The Config panel's per-input shape editor: inputs with unnamed dims
//! (`[?, 3, ?, ?]`) get one field per unnamed dim, so two of them can take
//! different values (the `--shape INPUT=d0,...` of the command line).
//!
//! Fixed dims are shown, not edited; named dims show the value the batch and
//! dim fields above give them. The stored shape is re-synchronised with those
//! fields before a run ([`sync_shapes`]), so it never contradicts them.

use egui::{RichText, Ui};

use super::{loaded_model::LoadedModel, theme};
use crate::{engine::ProfileConfig, model::Dim};

/// The value a dim takes from the batch and dim fields (1 when unset).
fn bound_value(config: &ProfileConfig, axis: usize, dim: &Dim, model: &LoadedModel) -> i64 {
    match dim {
        Dim::Fixed(value) => *value,
        Dim::Symbolic(name) if axis == 0 && model.batch_symbol.as_deref() == Some(name) => {
            config.batch.unwrap_or(1)
        }
        Dim::Symbolic(name) => config.dims.get(name).copied().unwrap_or(1),
        Dim::Unnamed => 1,
    }
}

/// Keeps the stored shapes consistent with the model and the other fields:
/// drops shapes of inputs the model lacks or whose rank differs, and sets
/// their fixed and named dims from the model and the batch and dim fields.
/// Only unnamed dims keep their own values.
pub fn sync_shapes(config: &mut ProfileConfig, model: &LoadedModel) {
    let mut shapes = std::mem::take(&mut config.shapes);
    shapes.retain(|name, shape| {
        let Some(declared) = declared_shape(model, name) else {
            return false;
        };
        if declared.len() != shape.len() || !declared.contains(&Dim::Unnamed) {
            return false;
        }
        for (axis, dim) in declared.iter().enumerate() {
            if *dim != Dim::Unnamed {
                shape[axis] = bound_value(config, axis, dim, model);
            }
        }
        true
    });
    config.shapes = shapes;
}

fn declared_shape<'m>(model: &'m LoadedModel, name: &str) -> Option<&'m [Dim]> {
    model
        .summary
        .inputs
        .iter()
        .find(|input| input.name == name)?
        .shape
        .as_deref()
}

/// One row per input with unnamed dims. Call inside the Config grid.
pub fn shapes_ui(ui: &mut Ui, config: &mut ProfileConfig, model: &LoadedModel) {
    for input in &model.summary.inputs {
        let Some(declared) = input.shape.as_deref() else {
            continue;
        };
        if !declared.contains(&Dim::Unnamed) {
            continue;
        }
        let mut shape: Vec<i64> = config
            .shapes
            .get(&input.name)
            .filter(|shape| shape.len() == declared.len())
            .cloned()
            .unwrap_or_else(|| vec![1; declared.len()]);
        let mut changed = false;
        let label = ui
            .label(format!("Shape '{}'", input.name))
            .on_hover_text("Unnamed dims of this input, one by one (--shape on the command line).");
        ui.horizontal(|ui| {
            ui.label("[");
            for (axis, dim) in declared.iter().enumerate() {
                if axis > 0 {
                    ui.label(",");
                }
                match dim {
                    Dim::Unnamed => {
                        changed |= ui
                            .add(egui::DragValue::new(&mut shape[axis]).range(1..=1_000_000))
                            .labelled_by(label.id)
                            .on_hover_text(format!("axis {axis}: unnamed"))
                            .changed();
                    }
                    other => {
                        let value = bound_value(config, axis, other, model);
                        let text = match other {
                            Dim::Symbolic(name) => format!("{name}={value}"),
                            _ => value.to_string(),
                        };
                        ui.label(RichText::new(text).color(theme::MUTED));
                        shape[axis] = value;
                    }
                }
            }
            ui.label("]");
        });
        ui.end_row();
        if changed {
            config.shapes.insert(input.name.clone(), shape);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::{ElemType, ModelSummary, TensorInfo};

    fn model(inputs: Vec<(&str, Vec<Dim>)>) -> LoadedModel {
        LoadedModel {
            path: "m.onnx".into(),
            summary: ModelSummary {
                inputs: inputs
                    .into_iter()
                    .map(|(name, shape)| TensorInfo {
                        name: name.to_owned(),
                        dtype: ElemType::Float,
                        shape: Some(shape),
                    })
                    .collect(),
                ..ModelSummary::default()
            },
            size_bytes: 0,
            batch_symbol: Some("N".to_owned()),
            fixed_batch: None,
            other_symbols: vec!["L".to_owned()],
            has_unnamed_dims: true,
            graph: std::sync::Arc::default(),
        }
    }

    #[test]
    fn sync_keeps_unnamed_values_and_rebinds_the_rest() {
        let model = model(vec![(
            "x",
            vec![
                Dim::Symbolic("N".into()),
                Dim::Fixed(3),
                Dim::Unnamed,
                Dim::Unnamed,
                Dim::Symbolic("L".into()),
            ],
        )]);
        let mut config = ProfileConfig {
            batch: Some(4),
            ..ProfileConfig::default()
        };
        config.dims.insert("L".into(), 7);
        config.shapes.insert("x".into(), vec![1, 1, 48, 192, 1]);
        config.shapes.insert("gone".into(), vec![1]);
        sync_shapes(&mut config, &model);
        assert_eq!(config.shapes.len(), 1);
        assert_eq!(config.shapes["x"], [4, 3, 48, 192, 7]);
    }

    #[test]
    fn sync_drops_shapes_of_the_wrong_rank_or_without_unnamed_dims() {
        let model = model(vec![
            ("x", vec![Dim::Unnamed, Dim::Fixed(3)]),
            ("y", vec![Dim::Fixed(2)]),
        ]);
        let mut config = ProfileConfig::default();
        config.shapes.insert("x".into(), vec![1, 3, 5]);
        config.shapes.insert("y".into(), vec![2]);
        sync_shapes(&mut config, &model);
        assert!(config.shapes.is_empty());
    }
}
