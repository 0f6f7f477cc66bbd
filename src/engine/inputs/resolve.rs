//! Resolving the shape of every input and building its data: for a run
//! ([`prepare`], one shape) and for an accuracy check ([`prepare_eval`], a
//! shape per sample). `.npy` files set the symbolic dims they cover, then
//! `--shape` (one input's whole shape), `--batch` and `--dim`, then 1 (with
//! a note). Every size is checked against the memory budget (`budget.rs`)
//! before anything is allocated, and synthetic values follow what the graph
//! accepts (`graph_hints.rs`).

use std::collections::BTreeMap;

use ort::value::TensorElementType;

use super::{
    DeclaredInput, GenerateError, GraphHints, InputError, InputSource, InputSpec, PreparedInputs,
    SYNTHETIC_INT_RANGE, TensorData, UNKNOWN_DIM_PLACEHOLDER, budget, files, generate, image,
    shape_flag,
};
use crate::field::Field;
use crate::{engine::config::ProfileConfig, model::DimDefault, transform::SyntheticKind};

/// Resolves shapes and builds the data of a run: synthetic data, or the
/// `.npy` files given, which set the symbolic dims of their input. Every
/// file of an input must have the same shape (one shape per run). `hints`
/// (from the model proto) keep synthetic values within what the graph
/// accepts; `GraphHints::default()` when the model is not at hand.
pub fn prepare(
    declared: &[DeclaredInput],
    config: &ProfileConfig,
    hints: &GraphHints,
) -> Result<PreparedInputs, InputError> {
    check_declared(declared, config)?;
    let loaded = files::load(declared, &config.input_files, files::MAX_INPUT_FILE_BYTES)?;
    let num_variants = loaded.iter().map(Vec::len).max().unwrap_or(0).max(1);
    let mut notes = Vec::new();
    let mut chosen_dims = Vec::new();
    let mut shapes: Option<Vec<Vec<i64>>> = None;
    for variant in 0..num_variants {
        let sample_shapes = resolve_shapes(
            declared,
            config,
            &hints.dim_defaults,
            &loaded,
            variant,
            (&mut notes, &mut chosen_dims),
        )?;
        match &shapes {
            None => shapes = Some(sample_shapes),
            Some(first) => {
                if let Some(index) = (0..first.len()).find(|&i| first[i] != sample_shapes[i]) {
                    let file_of = |k: usize, shape: &[i64]| {
                        let files = &loaded[index];
                        let path = files.get(k % files.len().max(1)).map(|f| f.path.display());
                        match path {
                            Some(path) => format!("{path} has shape {shape:?}"),
                            None => format!("shape {shape:?}"),
                        }
                    };
                    return Err(InputError::FileShapesDiffer {
                        name: declared[index].name.clone(),
                        first: file_of(0, &first[index]),
                        other: file_of(variant, &sample_shapes[index]),
                    });
                }
            }
        }
    }
    let shapes = shapes.unwrap_or_default();
    // Each input set is kept once and copied into every worker's values.
    let copies = (num_variants as u64).saturating_mul(u64::from(config.num_workers()) + 1);
    check_budget(declared, &shapes, copies, config)?;
    let input_shapes = shapes_by_name(declared, &shapes);
    let mut specs = Vec::with_capacity(declared.len());
    let mut per_input: Vec<Vec<TensorData>> = Vec::with_capacity(declared.len());
    for (index, ((input, shape), files)) in declared.iter().zip(&shapes).zip(loaded).enumerate() {
        let source = if files.is_empty() {
            let seed = config.seed.wrapping_add(index as u64);
            let data =
                synthetic_input(input, shape, seed, false, hints, &input_shapes, &mut notes)?;
            per_input.push(vec![data]);
            InputSource::Synthetic
        } else {
            let paths = files.iter().map(|file| file.path.clone()).collect();
            per_input.push(files.into_iter().map(|file| file.data).collect());
            InputSource::Files { paths }
        };
        specs.push(InputSpec {
            name: input.name.clone(),
            dtype: input.dtype.to_string(),
            shape: shape.clone(),
            declared_shape: input.shape.clone(),
            dim_symbols: input.symbols.clone(),
            source,
        });
    }
    let variants = (0..num_variants)
        .map(|variant| {
            per_input
                .iter()
                .map(|options| options[variant % options.len()].clone())
                .collect()
        })
        .collect();
    Ok(PreparedInputs {
        specs,
        variants,
        notes,
        chosen_dims,
    })
}

/// The shape of every input from `--shape`, `--batch` and `--dim` alone,
/// with the same checks and notes as a run, for callers that build no data
/// (`inspect`).
pub fn resolve_flag_shapes(
    declared: &[DeclaredInput],
    config: &ProfileConfig,
    defaults: &[DimDefault],
) -> Result<(Vec<Vec<i64>>, Vec<String>), InputError> {
    check_declared(declared, config)?;
    let no_files = vec![Vec::new(); declared.len()];
    let mut notes = Vec::new();
    let shapes = resolve_shapes(
        declared,
        config,
        defaults,
        &no_files,
        0,
        (&mut notes, &mut Vec::new()),
    )?;
    Ok((shapes, notes))
}

/// One evaluation input set: the data and shape of every input, in the
/// model's order. Samples of one evaluation may differ in shape.
#[derive(Debug, Clone)]
pub struct EvalSample {
    /// Data of each input.
    pub tensors: Vec<TensorData>,
    /// Shape of each input.
    pub shapes: Vec<Vec<i64>>,
}

/// The inputs of an accuracy check.
#[derive(Debug, Clone)]
pub struct EvalInputs {
    /// The input sets, in order (the k-th file of each input is sample k).
    pub samples: Vec<EvalSample>,
    /// Choices made for the user (e.g. unnamed dims set to 1).
    pub notes: Vec<String>,
    /// Where the data came from and which kind of synthetic data was used,
    /// e.g. `8 seeded image-like synthetic input sets (smooth random fields,
    /// ImageNet-normalised; seed 42)`.
    pub description: String,
}

/// Builds the input sets of an accuracy check: one per `.npy` file when
/// files are given (each sample takes its shape from its files), otherwise
/// `num_synthetic` seeded synthetic sets of the `kind` asked for.
pub fn prepare_eval(
    declared: &[DeclaredInput],
    config: &ProfileConfig,
    num_synthetic: usize,
    kind: SyntheticKind,
    hints: &GraphHints,
) -> Result<EvalInputs, InputError> {
    check_declared(declared, config)?;
    let loaded = files::load(declared, &config.input_files, files::MAX_INPUT_FILE_BYTES)?;
    let from_files = loaded.iter().any(|files| !files.is_empty());
    let num_samples = if from_files {
        loaded.iter().map(Vec::len).max().unwrap_or(1)
    } else {
        num_synthetic.max(1)
    };
    let mut notes = Vec::new();
    let mut samples = Vec::with_capacity(num_samples);
    let mut image_inputs: Vec<(String, i64)> = Vec::new();
    let mut noise_inputs: Vec<String> = Vec::new();
    for sample in 0..num_samples {
        let shapes = resolve_shapes(
            declared,
            config,
            &hints.dim_defaults,
            &loaded,
            sample,
            (&mut notes, &mut Vec::new()),
        )?;
        check_budget(declared, &shapes, num_samples as u64, config)?;
        let input_shapes = shapes_by_name(declared, &shapes);
        let seed = config.seed.wrapping_add(1000 * sample as u64);
        let mut tensors = Vec::with_capacity(declared.len());
        for (index, ((input, shape), files)) in
            declared.iter().zip(&shapes).zip(&loaded).enumerate()
        {
            if let Some(file) = (!files.is_empty()).then(|| &files[sample % files.len()]) {
                tensors.push(file.data.clone());
                continue;
            }
            let as_image = match kind {
                SyntheticKind::Auto => image::looks_like_image(input.dtype, shape),
                SyntheticKind::Image => image::can_be_image(input.dtype, shape),
                SyntheticKind::Noise => false,
            };
            if sample == 0 {
                if as_image {
                    image_inputs.push((input.name.clone(), shape[1]));
                } else {
                    noise_inputs.push(input.name.clone());
                }
            }
            let input_seed = seed.wrapping_add(index as u64);
            tensors.push(synthetic_input(
                input,
                shape,
                input_seed,
                as_image,
                hints,
                &input_shapes,
                &mut notes,
            )?);
        }
        samples.push(EvalSample { tensors, shapes });
    }
    if kind == SyntheticKind::Image && image_inputs.is_empty() && !noise_inputs.is_empty() {
        notes.push(format!(
            "{} image: no input is a float [N, C, H, W] tensor, so noise was used",
            Field::Synthetic
        ));
    }
    let description = describe(
        num_samples,
        from_files,
        &image_inputs,
        &noise_inputs,
        config.seed,
    );
    Ok(EvalInputs {
        samples,
        notes,
        description,
    })
}

/// The report's sentence on where the evaluation inputs came from.
fn describe(
    num_samples: usize,
    from_files: bool,
    image_inputs: &[(String, i64)],
    noise_inputs: &[String],
    seed: u64,
) -> String {
    let image_kind = if image_inputs.iter().any(|(_, channels)| *channels == 3) {
        "smooth random fields, ImageNet-normalised"
    } else {
        "smooth random fields in [0, 1]"
    };
    let names = |names: &mut dyn Iterator<Item = &String>| {
        names
            .map(|name| format!("'{name}'"))
            .collect::<Vec<_>>()
            .join(", ")
    };
    if from_files {
        let sets = if num_samples == 1 { "set" } else { "sets" };
        let mut text = format!("{num_samples} input {sets} from .npy files");
        if !image_inputs.is_empty() {
            let listed = names(&mut image_inputs.iter().map(|(name, _)| name));
            text.push_str(&format!(
                "; {listed} seeded image-like synthetic ({image_kind}; seed {seed})"
            ));
        }
        if !noise_inputs.is_empty() {
            let listed = names(&mut noise_inputs.iter());
            text.push_str(&format!("; {listed} seeded synthetic noise (seed {seed})"));
        }
        return text;
    }
    match (image_inputs.is_empty(), noise_inputs.is_empty()) {
        (false, true) => format!(
            "{num_samples} seeded image-like synthetic input sets ({image_kind}; seed {seed})"
        ),
        (true, _) => format!(
            "{num_samples} seeded synthetic input sets (noise: floats N(0,1), integers 0..{SYNTHETIC_INT_RANGE}; seed {seed})"
        ),
        (false, false) => format!(
            "{num_samples} seeded synthetic input sets ({} image-like: {image_kind}; {} noise; seed {seed})",
            names(&mut image_inputs.iter().map(|(name, _)| name)),
            names(&mut noise_inputs.iter())
        ),
    }
}

/// Checks the bytes `copies` copies of the inputs of `shapes` take against
/// the budget (`--max-input-bytes`, the available memory).
fn check_budget(
    declared: &[DeclaredInput],
    shapes: &[Vec<i64>],
    copies: u64,
    config: &ProfileConfig,
) -> Result<(), InputError> {
    let names: Vec<&str> = declared.iter().map(|input| input.name.as_str()).collect();
    let dtypes: Vec<TensorElementType> = declared.iter().map(|input| input.dtype).collect();
    budget::check(&names, &dtypes, shapes, copies, config.max_input_bytes)
}

/// Resolved shapes by input name.
fn shapes_by_name<'a>(
    declared: &'a [DeclaredInput],
    shapes: &'a [Vec<i64>],
) -> BTreeMap<&'a str, &'a [i64]> {
    declared
        .iter()
        .zip(shapes)
        .map(|(input, shape)| (input.name.as_str(), shape.as_slice()))
        .collect()
}

/// Synthetic data of one input: image-like or noise, within what the graph
/// accepts where `hints` know it (indices, shape operands).
fn synthetic_input(
    input: &DeclaredInput,
    shape: &[i64],
    seed: u64,
    as_image: bool,
    hints: &GraphHints,
    input_shapes: &BTreeMap<&str, &[i64]>,
    notes: &mut Vec<String>,
) -> Result<TensorData, InputError> {
    let elements = budget::num_elements(shape).unwrap_or(u64::MAX);
    let allocation = || InputError::Allocation {
        name: input.name.clone(),
        elements,
    };
    let num_elements = usize::try_from(elements).map_err(|_| allocation())?;
    let hint = hints.resolve(&input.name, num_elements, input_shapes, notes);
    let data = if as_image && hint.is_none() {
        image::image_like(input.dtype, shape, seed).ok_or(GenerateError::Unsupported)
    } else {
        generate(input.dtype, num_elements, seed, hint.as_ref())
    };
    data.map_err(|err| match err {
        GenerateError::Allocation => allocation(),
        GenerateError::Unsupported => InputError::UnsupportedDtype {
            name: input.name.clone(),
            dtype: input.dtype.to_string(),
        },
    })
}

/// Refuses `--dim` names the model does not have and `--shape`s that
/// contradict it.
fn check_declared(declared: &[DeclaredInput], config: &ProfileConfig) -> Result<(), InputError> {
    shape_flag::check(declared, config)?;
    let mut known_symbols: Vec<&str> = declared
        .iter()
        .flat_map(|input| input.shape.iter().zip(&input.symbols))
        .filter(|(dim, symbol)| **dim < 0 && !symbol.is_empty())
        .map(|(_, symbol)| symbol.as_str())
        .collect();
    known_symbols.sort_unstable();
    known_symbols.dedup();
    for name in config.dims.keys() {
        if !known_symbols.contains(&name.as_str()) {
            let known = if known_symbols.is_empty() {
                "(none)".to_owned()
            } else {
                known_symbols.join(", ")
            };
            return Err(InputError::UnknownDim {
                name: name.clone(),
                known,
            });
        }
    }
    Ok(())
}

/// The dims sample `sample`'s files set: symbol name → value, checked
/// against fixed dims, `--dim` and `--batch`, and between inputs.
fn bind_file_dims(
    declared: &[DeclaredInput],
    config: &ProfileConfig,
    loaded: &[Vec<files::LoadedFile>],
    sample: usize,
) -> Result<BTreeMap<String, (i64, String)>, InputError> {
    let mut bound: BTreeMap<String, (i64, String)> = BTreeMap::new();
    for (input, files) in declared.iter().zip(loaded) {
        let Some(file) = (!files.is_empty()).then(|| &files[sample % files.len()]) else {
            continue;
        };
        if file.shape.len() != input.shape.len() {
            return Err(InputError::FileRank {
                name: input.name.clone(),
                path: file.path.clone(),
                file_shape: file.shape.clone(),
                declared: shape_flag::declared_shape_text(input),
            });
        }
        for (axis, (&dim, &got)) in input.shape.iter().zip(&file.shape).enumerate() {
            let got = got as i64;
            if dim >= 0 {
                if got != dim {
                    return Err(InputError::FileFixedDim {
                        name: input.name.clone(),
                        path: file.path.clone(),
                        axis,
                        got: got as usize,
                        fixed: dim,
                        declared: format!(
                            "{} (the file's shape is {:?})",
                            shape_flag::declared_shape_text(input),
                            file.shape
                        ),
                    });
                }
                continue;
            }
            if axis == 0
                && let Some(batch) = config.batch
                && batch != got
            {
                return Err(InputError::FileContradictsFlag {
                    flag: format!("{} {batch}", Field::Batch),
                    name: input.name.clone(),
                    path: file.path.clone(),
                    axis,
                    got,
                });
            }
            let symbol = input.symbols.get(axis).map(String::as_str).unwrap_or("");
            // Some exporters name every unknown dim "?": not a shared symbol.
            if symbol.is_empty() || symbol == UNKNOWN_DIM_PLACEHOLDER {
                continue;
            }
            if let Some(&flag) = config.dims.get(symbol)
                && flag != got
            {
                return Err(InputError::FileContradictsFlag {
                    flag: format!("{} {symbol}={flag}", Field::Dims),
                    name: input.name.clone(),
                    path: file.path.clone(),
                    axis,
                    got,
                });
            }
            let here = format!(
                "input '{}' ({}) axis {axis}",
                input.name,
                file.path.display()
            );
            match bound.get(symbol) {
                Some((value, first)) if *value != got => {
                    return Err(InputError::SymbolMismatch {
                        symbol: symbol.to_owned(),
                        first: format!("{first} = {value}"),
                        second: format!("{here} = {got}"),
                    });
                }
                Some(_) => {}
                None => {
                    bound.insert(symbol.to_owned(), (got, here));
                }
            }
        }
    }
    Ok(bound)
}

/// The shape of every input in sample `sample`: a file's own shape where
/// the input has files, otherwise the declared shape with symbols set by
/// the files, `--batch`, `--dim` or 1 (with a note in `notes`).
fn resolve_shapes(
    declared: &[DeclaredInput],
    config: &ProfileConfig,
    defaults: &[DimDefault],
    loaded: &[Vec<files::LoadedFile>],
    sample: usize,
    (notes, chosen_dims): (&mut Vec<String>, &mut Vec<String>),
) -> Result<Vec<Vec<i64>>, InputError> {
    let mut bound = bind_file_dims(declared, config, loaded, sample)?;
    for (symbol, (value, here)) in shape_flag::bound_symbols(declared, config)? {
        match bound.get(&symbol) {
            Some((file_value, first)) if *file_value != value => {
                return Err(InputError::SymbolMismatch {
                    symbol,
                    first: format!("{first} = {file_value}"),
                    second: format!("{here} = {value}"),
                });
            }
            Some(_) => {}
            None => {
                bound.insert(symbol, (value, here));
            }
        }
    }
    let mut shapes = Vec::with_capacity(declared.len());
    for (input, files) in declared.iter().zip(loaded) {
        let given = config.shapes.get(&input.name);
        if let Some(file) = (!files.is_empty()).then(|| &files[sample % files.len()]) {
            let file_shape: Vec<i64> = file.shape.iter().map(|dim| *dim as i64).collect();
            if let Some(given) = given
                && *given != file_shape
            {
                return Err(InputError::ShapeContradicts {
                    name: input.name.clone(),
                    given: shape_flag::shape_text(given),
                    problem: format!(
                        "{} has shape {file_shape:?} (files set the shape; drop {} or use a matching file)",
                        file.path.display(),
                        Field::Shapes
                    ),
                    declared: shape_flag::declared_shape_text(input),
                });
            }
            shapes.push(file_shape);
            continue;
        }
        if let Some(given) = given {
            shapes.push(given.clone());
            continue;
        }
        if let Some(batch) = config.batch {
            match input.shape.first() {
                None => {
                    return Err(InputError::ScalarBatch {
                        name: input.name.clone(),
                        batch,
                    });
                }
                Some(&fixed) if fixed >= 0 && fixed != batch => {
                    return Err(InputError::FixedBatch {
                        name: input.name.clone(),
                        fixed,
                        batch,
                    });
                }
                _ => {}
            }
        }
        let mut shape = Vec::with_capacity(input.shape.len());
        for (axis, &dim) in input.shape.iter().enumerate() {
            if dim >= 0 {
                shape.push(dim);
                continue;
            }
            let symbol = input
                .symbols
                .get(axis)
                .map(String::as_str)
                .unwrap_or_default();
            if let Some((value, _)) = (!symbol.is_empty()).then(|| bound.get(symbol)).flatten() {
                shape.push(*value);
                continue;
            }
            let from_dims = (!symbol.is_empty())
                .then(|| config.dims.get(symbol))
                .flatten();
            let value = match (axis, config.batch, from_dims) {
                (0, Some(batch), Some(&dim_value)) if dim_value != batch => {
                    return Err(InputError::DimConflictsWithBatch {
                        name: symbol.to_owned(),
                        dim_value,
                        batch,
                    });
                }
                (0, Some(batch), _) => batch,
                (_, _, Some(&value)) => value,
                _ => {
                    let label = if symbol.is_empty() {
                        format!("input '{}' dim {axis} is unnamed", input.name)
                    } else if axis == 0 {
                        format!("batch dim '{symbol}' not set ({})", Field::Batch)
                    } else {
                        format!("dim '{symbol}' not set ({} {symbol}=N)", Field::Dims)
                    };
                    let chosen = defaults.iter().find(|d| {
                        (d.input == input.name && d.axis == axis)
                            || (!symbol.is_empty() && d.symbol.as_deref() == Some(symbol))
                    });
                    let (value, note) = match chosen {
                        Some(chosen) => {
                            let name = if symbol.is_empty() {
                                format!("{} axis {axis}", input.name)
                            } else {
                                symbol.to_owned()
                            };
                            let used = format!("{name}={} ({})", chosen.value, chosen.reason);
                            if !chosen_dims.contains(&used) {
                                chosen_dims.push(used);
                            }
                            (
                                chosen.value,
                                format!(
                                    "{label}; using {}, the chosen default ({})",
                                    chosen.value, chosen.reason
                                ),
                            )
                        }
                        None => (1, format!("{label}; using 1")),
                    };
                    if !notes.contains(&note) {
                        notes.push(note);
                    }
                    value
                }
            };
            shape.push(value);
        }
        shapes.push(shape);
    }
    Ok(shapes)
}
