//! `inspect`: the model summary, with the FLOPs estimate taken at the input
//! shapes that `--batch`, `--dim` and `--shape` give, resolved exactly as a
//! `profile` run resolves them (same checks, same defaults and notes).

use std::collections::BTreeMap;

use ort::value::TensorElementType;

use super::InspectArgs;
use crate::{
    engine::{
        ProfileConfig,
        inputs::{DeclaredInput, resolve_flag_shapes},
    },
    model::{Dim, ElemType, Model, ModelSummary, ShapeBinding, TensorInfo, estimate_flops_with},
};

/// Runs `inspect`: text, or JSON with `--json`. Notes on the dims chosen
/// (e.g. an unnamed dim set to 1) go to stderr.
pub(super) fn run(args: &InspectArgs) -> anyhow::Result<u8> {
    let model = Model::load(&args.model)?;
    let (summary, notes) = summary_at_flag_shapes(&model, args)?;
    for note in notes {
        eprintln!("note: {note}");
    }
    if args.json {
        outln!("{}", serde_json::to_string_pretty(&summary)?);
    } else {
        out!("{summary}");
    }
    Ok(0)
}

/// The summary with its FLOPs estimate at the shapes the flags give, and
/// the notes of the shape resolution.
fn summary_at_flag_shapes(
    model: &Model,
    args: &InspectArgs,
) -> anyhow::Result<(ModelSummary, Vec<String>)> {
    let mut summary = model.summary();
    let config = ProfileConfig {
        batch: args.shape.batch,
        dims: args.shape.dims.iter().cloned().collect(),
        shapes: args.shape.shapes.iter().cloned().collect(),
        ..ProfileConfig::default()
    };
    config.validate()?;
    let declared = declared_inputs(&summary.inputs);
    let (shapes, notes) = resolve_flag_shapes(&declared, &config, &summary.dim_defaults)?;
    if summary.flops.is_some() {
        let binding = ShapeBinding {
            dims: BTreeMap::new(),
            input_shapes: declared
                .iter()
                .map(|input| input.name.clone())
                .zip(shapes)
                .collect(),
        };
        summary.flops = Some(estimate_flops_with(model, &binding));
    }
    Ok((summary, notes))
}

/// The graph inputs as a run sees them (dynamic dims as -1 with their
/// symbol); inputs of unknown rank take no shape and are left out.
fn declared_inputs(inputs: &[TensorInfo]) -> Vec<DeclaredInput> {
    inputs
        .iter()
        .filter_map(|input| {
            let dims = input.shape.as_ref()?;
            let (shape, symbols) = dims
                .iter()
                .map(|dim| match dim {
                    Dim::Fixed(size) => (*size, String::new()),
                    Dim::Symbolic(name) => (-1, name.clone()),
                    Dim::Unnamed => (-1, String::new()),
                })
                .unzip();
            Some(DeclaredInput {
                name: input.name.clone(),
                dtype: element_type(input.dtype),
                shape,
                symbols,
            })
        })
        .collect()
}

/// The runtime's element type for a model element type (only shapes are
/// resolved here; the type is for messages).
fn element_type(dtype: ElemType) -> TensorElementType {
    match dtype {
        ElemType::Float => TensorElementType::Float32,
        ElemType::Uint8 => TensorElementType::Uint8,
        ElemType::Int8 => TensorElementType::Int8,
        ElemType::Uint16 => TensorElementType::Uint16,
        ElemType::Int16 => TensorElementType::Int16,
        ElemType::Int32 => TensorElementType::Int32,
        ElemType::Int64 => TensorElementType::Int64,
        ElemType::String => TensorElementType::String,
        ElemType::Bool => TensorElementType::Bool,
        ElemType::Float16 => TensorElementType::Float16,
        ElemType::Double => TensorElementType::Float64,
        ElemType::Uint32 => TensorElementType::Uint32,
        ElemType::Uint64 => TensorElementType::Uint64,
        ElemType::Complex64 => TensorElementType::Complex64,
        ElemType::Complex128 => TensorElementType::Complex128,
        ElemType::Bfloat16 => TensorElementType::Bfloat16,
        ElemType::Other(_) => TensorElementType::Undefined,
    }
}
