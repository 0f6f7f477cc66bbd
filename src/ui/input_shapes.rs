//! The Config panel's per-input shape editor: inputs with unnamed dims
//! (`[?, 3, ?, ?]`) get one field per unnamed dim, so two of them can take
//! different values (the `--shape INPUT=d0,...` of the command line).
//!
//! Fixed dims are shown, not edited; named dims show the value the batch and
//! dim fields above give them. The stored shape is re-synchronised with those
//! fields before a run ([`sync_shapes`]), so it never contradicts them.

use std::collections::BTreeMap;

use egui::{RichText, Ui};

use super::{loaded_model::LoadedModel, theme};
use crate::{
    engine::ProfileConfig,
    model::{Dim, DimDefault, TensorInfo},
};

/// The size chosen for the dim named `symbol`, when the model has one.
pub fn chosen_default<'a>(defaults: &'a [DimDefault], symbol: &str) -> Option<&'a DimDefault> {
    defaults
        .iter()
        .find(|d| d.symbol.as_deref() == Some(symbol))
}

/// What the editor needs of a model: its inputs and what sets their batch.
#[derive(Debug, Clone, Copy)]
pub struct ShapeModel<'a> {
    pub inputs: &'a [TensorInfo],
    /// The symbolic first dim the Batch field sets.
    pub batch_symbol: Option<&'a str>,
    /// A dynamic first dim, named or not, is the batch (a model on a
    /// server, whose metadata names no dims): the Batch field sets it.
    pub dynamic_batch_axis: bool,
    /// Sizes chosen for dims left unset (image size, sequence length).
    pub defaults: &'a [DimDefault],
}

impl<'a> From<&'a LoadedModel> for ShapeModel<'a> {
    fn from(model: &'a LoadedModel) -> Self {
        Self {
            inputs: &model.summary.inputs,
            batch_symbol: model.batch_symbol.as_deref(),
            dynamic_batch_axis: false,
            defaults: &model.summary.dim_defaults,
        }
    }
}

impl<'a> ShapeModel<'a> {
    /// The inputs of a model on a server: their dynamic first dim is the batch.
    pub fn remote(inputs: &'a [TensorInfo]) -> Self {
        Self {
            inputs,
            batch_symbol: None,
            dynamic_batch_axis: true,
            defaults: &[],
        }
    }

    /// Whether the editor gives this dim a field of its own.
    fn editable(&self, axis: usize, dim: &Dim) -> bool {
        *dim == Dim::Unnamed && !(axis == 0 && self.dynamic_batch_axis)
    }

    /// The value a dim takes from the batch and dim fields (1 when unset).
    fn bound_value(&self, config: &ProfileConfig, axis: usize, dim: &Dim) -> i64 {
        let batch = config.batch.unwrap_or(1);
        match dim {
            Dim::Fixed(value) => *value,
            Dim::Symbolic(name) if axis == 0 && self.batch_symbol == Some(name.as_str()) => batch,
            _ if axis == 0 && self.dynamic_batch_axis => batch,
            Dim::Symbolic(name) => config
                .dims
                .get(name)
                .copied()
                .or_else(|| chosen_default(self.defaults, name).map(|d| d.value))
                .unwrap_or(1),
            Dim::Unnamed => 1,
        }
    }

    /// The chosen size of unnamed dim `axis` of `input`, else 1.
    fn unnamed_default(&self, input: &str, axis: usize) -> i64 {
        self.defaults
            .iter()
            .find(|d| d.symbol.is_none() && d.input == input && d.axis == axis)
            .map_or(1, |d| d.value)
    }

    fn declared_shape(&self, name: &str) -> Option<&[Dim]> {
        self.inputs
            .iter()
            .find(|input| input.name == name)?
            .shape
            .as_deref()
    }

    fn has_fields(&self, declared: &[Dim]) -> bool {
        declared
            .iter()
            .enumerate()
            .any(|(axis, dim)| self.editable(axis, dim))
    }
}

/// Keeps the stored shapes consistent with the model and the other fields:
/// drops shapes of inputs the model lacks, whose rank differs or that have
/// no field, and sets their other dims from the model and the batch and dim
/// fields. Only dims with a field keep their own values.
pub fn sync_shapes(config: &mut ProfileConfig, model: ShapeModel<'_>) {
    let mut shapes = std::mem::take(&mut config.shapes);
    shapes.retain(|name, shape| {
        let Some(declared) = model.declared_shape(name) else {
            return false;
        };
        if declared.len() != shape.len() || !model.has_fields(declared) {
            return false;
        }
        for (axis, dim) in declared.iter().enumerate() {
            if !model.editable(axis, dim) {
                shape[axis] = model.bound_value(config, axis, dim);
            }
        }
        true
    });
    config.shapes = shapes;
}

/// Every input's whole shape as a run with `config` would give it: fixed
/// dims, the batch and dim fields, and the stored unnamed dims (the chosen
/// default, else 1, when unset). Inputs of unknown rank are left out.
pub fn run_shapes(config: &ProfileConfig, model: ShapeModel<'_>) -> BTreeMap<String, Vec<i64>> {
    model
        .inputs
        .iter()
        .filter_map(|input| {
            let declared = input.shape.as_deref()?;
            let stored = config
                .shapes
                .get(&input.name)
                .filter(|shape| shape.len() == declared.len());
            let shape = declared
                .iter()
                .enumerate()
                .map(|(axis, dim)| match stored {
                    Some(stored) if model.editable(axis, dim) => stored[axis],
                    None if model.editable(axis, dim) => model.unnamed_default(&input.name, axis),
                    _ => model.bound_value(config, axis, dim),
                })
                .collect();
            Some((input.name.clone(), shape))
        })
        .collect()
}

/// One row per input with unnamed dims. Call inside the Config grid.
pub fn shapes_ui(ui: &mut Ui, config: &mut ProfileConfig, model: ShapeModel<'_>) {
    for input in model.inputs {
        let Some(declared) = input.shape.as_deref() else {
            continue;
        };
        if !model.has_fields(declared) {
            continue;
        }
        let mut shape: Vec<i64> = config
            .shapes
            .get(&input.name)
            .filter(|shape| shape.len() == declared.len())
            .cloned()
            .unwrap_or_else(|| {
                (0..declared.len())
                    .map(|axis| model.unnamed_default(&input.name, axis))
                    .collect()
            });
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
                if model.editable(axis, dim) {
                    changed |= ui
                        .add(egui::DragValue::new(&mut shape[axis]).range(1..=1_000_000))
                        .labelled_by(label.id)
                        .on_hover_text(format!("axis {axis}: unnamed"))
                        .changed();
                    continue;
                }
                let value = model.bound_value(config, axis, dim);
                let text = match dim {
                    Dim::Symbolic(name) => format!("{name}={value}"),
                    Dim::Fixed(_) => value.to_string(),
                    Dim::Unnamed => format!("batch={value}"),
                };
                ui.label(RichText::new(text).color(theme::MUTED));
                shape[axis] = value;
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
        sync_shapes(&mut config, ShapeModel::from(&model));
        assert_eq!(config.shapes.len(), 1);
        assert_eq!(config.shapes["x"], [4, 3, 48, 192, 7]);
    }

    #[test]
    fn run_shapes_bind_every_dim_as_a_run_would() {
        let model = model(vec![
            (
                "x",
                vec![
                    Dim::Symbolic("N".into()),
                    Dim::Fixed(3),
                    Dim::Unnamed,
                    Dim::Symbolic("L".into()),
                ],
            ),
            ("mask", vec![Dim::Symbolic("N".into()), Dim::Unnamed]),
        ]);
        let mut config = ProfileConfig {
            batch: Some(4),
            ..ProfileConfig::default()
        };
        config.dims.insert("L".into(), 7);
        config.shapes.insert("x".into(), vec![4, 3, 48, 7]);
        let shapes = run_shapes(&config, ShapeModel::from(&model));
        assert_eq!(shapes["x"], [4, 3, 48, 7]);
        // No stored value: an unnamed dim is 1.
        assert_eq!(shapes["mask"], [4, 1]);
    }

    #[test]
    fn a_dynamic_first_dim_of_a_remote_model_is_the_batch() {
        let inputs = vec![TensorInfo {
            name: "x".to_owned(),
            dtype: ElemType::Float,
            shape: Some(vec![
                Dim::Unnamed,
                Dim::Fixed(3),
                Dim::Unnamed,
                Dim::Unnamed,
            ]),
        }];
        let model = ShapeModel {
            inputs: &inputs,
            batch_symbol: None,
            dynamic_batch_axis: true,
            defaults: &[],
        };
        let mut config = ProfileConfig {
            batch: Some(2),
            ..ProfileConfig::default()
        };
        config.shapes.insert("x".into(), vec![7, 1, 48, 192]);
        sync_shapes(&mut config, model);
        assert_eq!(config.shapes["x"], [2, 3, 48, 192]);
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
        sync_shapes(&mut config, ShapeModel::from(&model));
        assert!(config.shapes.is_empty());
    }
}
