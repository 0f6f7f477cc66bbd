//! Model inputs: resolving symbolic dims, seeded synthetic data for every
//! tensor dtype ONNX Runtime takes, and `.npy` files supplied by the user.

use std::{
    collections::BTreeMap,
    path::{Path, PathBuf},
};

use half::f16;
use ndarray::ArrayD;
use ndarray_npy::ReadNpyExt as _;
use ort::{
    session::Session,
    value::{DynValue, Tensor, TensorElementType, ValueType},
};
use rand::{Rng as _, SeedableRng as _, rngs::StdRng};
use rand_distr::{Distribution as _, StandardNormal};
use serde::{Deserialize, Serialize};

use super::config::{InputFile, ProfileConfig};

/// Synthetic integers are drawn uniformly from `0..SYNTHETIC_INT_RANGE`.
pub const SYNTHETIC_INT_RANGE: i64 = 10;

/// An input that cannot be built.
/// Why a `.npy` file could not be read.
#[derive(Debug, thiserror::Error)]
pub enum NpyError {
    /// The file could not be opened.
    #[error("{0}")]
    Open(#[source] std::io::Error),
    /// The file is not a `.npy` array of the expected element type.
    #[error("{0}")]
    Read(#[source] ndarray_npy::ReadNpyError),
    /// The model input's element type cannot be read from `.npy`.
    #[error(".npy input of dtype {0} is not supported")]
    UnsupportedDtype(TensorElementType),
}

#[derive(Debug, thiserror::Error)]
pub enum InputError {
    #[error(
        "input '{name}' has dtype string; onnx-workbench generates numeric tensors only, so string inputs are not supported"
    )]
    StringInput { name: String },
    #[error("input '{name}' is a {kind}, not a tensor; only tensor inputs are supported")]
    NotATensor { name: String, kind: String },
    #[error("input '{name}' has dtype {dtype}, which onnx-workbench cannot generate")]
    UnsupportedDtype { name: String, dtype: String },
    #[error(
        "--batch {batch} cannot be applied: input '{name}' has a fixed first dimension of {fixed}; \
         this model only runs with batch {fixed}"
    )]
    FixedBatch {
        name: String,
        fixed: i64,
        batch: i64,
    },
    #[error(
        "dynamic batching needs a dynamic first dimension, but {kind} '{name}' has the fixed shape {shape:?}; \
         requests cannot be concatenated along dim 0 for this model"
    )]
    FixedFirstDim {
        kind: &'static str,
        name: String,
        shape: Vec<i64>,
    },
    #[error("input '{name}' has no dimensions, so --batch {batch} cannot be applied")]
    ScalarBatch { name: String, batch: i64 },
    #[error(
        "--dim {name}: the model has no symbolic dimension of that name; its symbolic dims are: {known}"
    )]
    UnknownDim { name: String, known: String },
    #[error(
        "--dim {name}={dim_value} conflicts with --batch {batch}, which sets the same dimension"
    )]
    DimConflictsWithBatch {
        name: String,
        dim_value: i64,
        batch: i64,
    },
    #[error("--input {name}=…: the model has no input of that name; its inputs are: {known}")]
    UnknownInput { name: String, known: String },
    #[error("input '{name}': cannot read {}: {source}", path.display())]
    ReadFile {
        name: String,
        path: PathBuf,
        #[source]
        source: NpyError,
    },
    #[error(
        "input '{name}': {} has shape {file_shape:?}, but the model needs {expected:?}",
        path.display()
    )]
    WrongShape {
        name: String,
        path: PathBuf,
        file_shape: Vec<usize>,
        expected: Vec<i64>,
    },
    #[error("input '{name}': creating the tensor failed: {reason}")]
    Tensor { name: String, reason: String },
}

/// How one model input is fed.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct InputSpec {
    pub name: String,
    /// ONNX Runtime's name for the dtype, e.g. `f32`, `i64`.
    pub dtype: String,
    /// The concrete shape used.
    pub shape: Vec<i64>,
    /// The shape as the model declares it (`-1` for symbolic).
    pub declared_shape: Vec<i64>,
    /// Symbol names as the model declares them (empty for fixed or unnamed).
    pub dim_symbols: Vec<String>,
    /// `synthetic` or the files fed, in the order they are cycled.
    pub source: InputSource,
}

/// Where an input's values come from.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case", tag = "kind")]
pub enum InputSource {
    Synthetic,
    Files { paths: Vec<PathBuf> },
}

/// The typed contents of one tensor.
#[derive(Debug, Clone, PartialEq)]
pub enum TensorData {
    F32(Vec<f32>),
    F64(Vec<f64>),
    F16(Vec<f16>),
    I8(Vec<i8>),
    U8(Vec<u8>),
    I16(Vec<i16>),
    U16(Vec<u16>),
    I32(Vec<i32>),
    U32(Vec<u32>),
    I64(Vec<i64>),
    U64(Vec<u64>),
    Bool(Vec<bool>),
}

impl TensorData {
    /// Number of elements.
    pub fn len(&self) -> usize {
        match self {
            Self::F32(v) => v.len(),
            Self::F64(v) => v.len(),
            Self::F16(v) => v.len(),
            Self::I8(v) => v.len(),
            Self::U8(v) => v.len(),
            Self::I16(v) => v.len(),
            Self::U16(v) => v.len(),
            Self::I32(v) => v.len(),
            Self::U32(v) => v.len(),
            Self::I64(v) => v.len(),
            Self::U64(v) => v.len(),
            Self::Bool(v) => v.len(),
        }
    }

    /// True when the tensor has no elements.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Concatenates tensors of one dtype along dim 0 (their flat data, in
    /// order). `None` when the dtypes differ or `parts` is empty.
    pub fn concat_rows(parts: &[&Self]) -> Option<Self> {
        macro_rules! concat {
            ($($variant:ident),*) => {
                match parts.first()? {
                    $(Self::$variant(_) => {
                        let total = parts.iter().map(|part| part.len()).sum();
                        let mut out = Vec::with_capacity(total);
                        for part in parts {
                            let Self::$variant(values) = part else {
                                return None;
                            };
                            out.extend_from_slice(values);
                        }
                        Self::$variant(out)
                    })*
                }
            };
        }
        Some(concat!(
            F32, F64, F16, I8, U8, I16, U16, I32, U32, I64, U64, Bool
        ))
    }

    /// Splits the flat data into consecutive parts of `rows[k] * row_len`
    /// elements (rows of dim 0). `None` when the sizes do not add up.
    pub fn split_rows(&self, rows: &[usize], row_len: usize) -> Option<Vec<Self>> {
        let total: usize = rows.iter().sum::<usize>().checked_mul(row_len)?;
        if total != self.len() {
            return None;
        }
        macro_rules! split {
            ($($variant:ident),*) => {
                match self {
                    $(Self::$variant(values) => {
                        let mut offset = 0;
                        rows.iter()
                            .map(|count| {
                                let end = offset + count * row_len;
                                let part = Self::$variant(values[offset..end].to_vec());
                                offset = end;
                                part
                            })
                            .collect()
                    })*
                }
            };
        }
        Some(split!(
            F32, F64, F16, I8, U8, I16, U16, I32, U32, I64, U64, Bool
        ))
    }

    /// Splits an ONNX Runtime tensor by rows of dim 0 into consecutive parts
    /// of `rows[k]` rows, copying each part once. `None` when the dtype is
    /// not supported or dim 0 is not the sum of `rows`.
    pub fn split_value_rows(value: &DynValue, rows: &[usize]) -> Option<Vec<Self>> {
        fn split<T: Clone>(
            shape: &[i64],
            values: &[T],
            rows: &[usize],
            wrap: fn(Vec<T>) -> TensorData,
        ) -> Option<Vec<TensorData>> {
            let first = usize::try_from(*shape.first()?).ok()?;
            if first != rows.iter().sum::<usize>() {
                return None;
            }
            let row_len = shape[1..]
                .iter()
                .map(|dim| usize::try_from(*dim).ok())
                .product::<Option<usize>>()?;
            if first.checked_mul(row_len)? != values.len() {
                return None;
            }
            let mut offset = 0;
            Some(
                rows.iter()
                    .map(|count| {
                        let end = offset + count * row_len;
                        let part = wrap(values[offset..end].to_vec());
                        offset = end;
                        part
                    })
                    .collect(),
            )
        }
        macro_rules! read {
            ($($t:ty => $variant:ident),*) => {
                $(if let Ok((shape, data)) = value.try_extract_tensor::<$t>() {
                    return split(shape, data, rows, Self::$variant);
                })*
            };
        }
        read!(f32 => F32, f64 => F64, f16 => F16, i8 => I8, u8 => U8, i16 => I16,
            u16 => U16, i32 => I32, u32 => U32, i64 => I64, u64 => U64, bool => Bool);
        None
    }

    /// The shape of a tensor value (empty for a non-tensor).
    pub fn value_shape(value: &DynValue) -> Vec<i64> {
        match value.dtype() {
            ValueType::Tensor { shape, .. } => shape.to_vec(),
            _ => Vec::new(),
        }
    }

    /// Copies an ONNX Runtime tensor of a supported dtype: its shape and data.
    pub fn from_value(value: &DynValue) -> Option<(Vec<i64>, Self)> {
        macro_rules! read {
            ($($t:ty => $variant:ident),*) => {
                $(if let Ok((shape, data)) = value.try_extract_tensor::<$t>() {
                    return Some((shape.to_vec(), Self::$variant(data.to_vec())));
                })*
            };
        }
        read!(f32 => F32, f64 => F64, f16 => F16, i8 => I8, u8 => U8, i16 => I16,
            u16 => U16, i32 => I32, u32 => U32, i64 => I64, u64 => U64, bool => Bool);
        None
    }

    /// Builds an ONNX Runtime value of `shape` that takes the data over.
    pub fn into_value(self, shape: &[i64]) -> ort::Result<DynValue> {
        let shape = shape.to_vec();
        Ok(match self {
            Self::F32(v) => Tensor::from_array((shape, v))?.into_dyn(),
            Self::F64(v) => Tensor::from_array((shape, v))?.into_dyn(),
            Self::F16(v) => Tensor::from_array((shape, v))?.into_dyn(),
            Self::I8(v) => Tensor::from_array((shape, v))?.into_dyn(),
            Self::U8(v) => Tensor::from_array((shape, v))?.into_dyn(),
            Self::I16(v) => Tensor::from_array((shape, v))?.into_dyn(),
            Self::U16(v) => Tensor::from_array((shape, v))?.into_dyn(),
            Self::I32(v) => Tensor::from_array((shape, v))?.into_dyn(),
            Self::U32(v) => Tensor::from_array((shape, v))?.into_dyn(),
            Self::I64(v) => Tensor::from_array((shape, v))?.into_dyn(),
            Self::U64(v) => Tensor::from_array((shape, v))?.into_dyn(),
            Self::Bool(v) => Tensor::from_array((shape, v))?.into_dyn(),
        })
    }

    /// Builds an ONNX Runtime value of `shape` holding a copy of the data.
    pub fn to_value(&self, shape: &[i64]) -> ort::Result<DynValue> {
        let shape = shape.to_vec();
        Ok(match self {
            Self::F32(v) => Tensor::from_array((shape, v.clone()))?.into_dyn(),
            Self::F64(v) => Tensor::from_array((shape, v.clone()))?.into_dyn(),
            Self::F16(v) => Tensor::from_array((shape, v.clone()))?.into_dyn(),
            Self::I8(v) => Tensor::from_array((shape, v.clone()))?.into_dyn(),
            Self::U8(v) => Tensor::from_array((shape, v.clone()))?.into_dyn(),
            Self::I16(v) => Tensor::from_array((shape, v.clone()))?.into_dyn(),
            Self::U16(v) => Tensor::from_array((shape, v.clone()))?.into_dyn(),
            Self::I32(v) => Tensor::from_array((shape, v.clone()))?.into_dyn(),
            Self::U32(v) => Tensor::from_array((shape, v.clone()))?.into_dyn(),
            Self::I64(v) => Tensor::from_array((shape, v.clone()))?.into_dyn(),
            Self::U64(v) => Tensor::from_array((shape, v.clone()))?.into_dyn(),
            Self::Bool(v) => Tensor::from_array((shape, v.clone()))?.into_dyn(),
        })
    }
}

/// Seeded synthetic data: floats N(0,1), integers in `0..SYNTHETIC_INT_RANGE`,
/// random bools.
pub fn synthetic(dtype: TensorElementType, num_elements: usize, seed: u64) -> Option<TensorData> {
    let mut rng = StdRng::seed_from_u64(seed);
    let mut normal = || -> f32 { StandardNormal.sample(&mut rng) };
    Some(match dtype {
        TensorElementType::Float32 => {
            TensorData::F32((0..num_elements).map(|_| normal()).collect())
        }
        TensorElementType::Float64 => {
            TensorData::F64((0..num_elements).map(|_| f64::from(normal())).collect())
        }
        TensorElementType::Float16 => {
            TensorData::F16((0..num_elements).map(|_| f16::from_f32(normal())).collect())
        }
        other => {
            let mut ints = (0..num_elements).map(|_| rng.random_range(0..SYNTHETIC_INT_RANGE));
            match other {
                TensorElementType::Int8 => TensorData::I8(ints.map(|v| v as i8).collect()),
                TensorElementType::Uint8 => TensorData::U8(ints.map(|v| v as u8).collect()),
                TensorElementType::Int16 => TensorData::I16(ints.map(|v| v as i16).collect()),
                TensorElementType::Uint16 => TensorData::U16(ints.map(|v| v as u16).collect()),
                TensorElementType::Int32 => TensorData::I32(ints.map(|v| v as i32).collect()),
                TensorElementType::Uint32 => TensorData::U32(ints.map(|v| v as u32).collect()),
                TensorElementType::Int64 => TensorData::I64(ints.collect()),
                TensorElementType::Uint64 => TensorData::U64(ints.map(|v| v as u64).collect()),
                TensorElementType::Bool => {
                    TensorData::Bool(ints.by_ref().map(|v| v % 2 == 1).collect())
                }
                _ => return None,
            }
        }
    })
}

/// Resolved inputs: the spec of each input and one or more data sets.
#[derive(Debug, Clone)]
pub struct PreparedInputs {
    pub specs: Vec<InputSpec>,
    /// `variants[k][i]` is the data of input `i` in variant `k`. Request `n`
    /// uses variant `n % variants.len()`.
    pub variants: Vec<Vec<TensorData>>,
    /// Choices made for the user, printed and saved (e.g. unnamed dims set to 1).
    pub notes: Vec<String>,
}

impl PreparedInputs {
    /// Builds ONNX Runtime values for every variant, in input order.
    pub fn to_values(&self) -> Result<Vec<Vec<DynValue>>, InputError> {
        self.variants
            .iter()
            .map(|variant| {
                variant
                    .iter()
                    .zip(&self.specs)
                    .map(|(data, spec)| {
                        data.to_value(&spec.shape)
                            .map_err(|err| InputError::Tensor {
                                name: spec.name.clone(),
                                reason: err.to_string(),
                            })
                    })
                    .collect()
            })
            .collect()
    }

    /// Elements in the first dim of the first input: the batch size.
    pub fn batch_size(&self) -> u64 {
        self.specs
            .first()
            .and_then(|spec| spec.shape.first())
            .map_or(1, |dim| u64::try_from(*dim).unwrap_or(1))
    }
}

/// Checks that every input and output of the session has a dynamic first
/// dim, so requests can be concatenated and results split along it.
pub fn check_batchable(session: &Session) -> Result<(), InputError> {
    let outlets = session
        .inputs()
        .iter()
        .map(|outlet| ("input", outlet.name(), outlet.dtype()))
        .chain(
            session
                .outputs()
                .iter()
                .map(|outlet| ("output", outlet.name(), outlet.dtype())),
        );
    for (kind, name, dtype) in outlets {
        if let ValueType::Tensor { shape, .. } = dtype
            && shape.first().is_none_or(|dim| *dim >= 0)
        {
            return Err(InputError::FixedFirstDim {
                kind,
                name: name.to_owned(),
                shape: shape.to_vec(),
            });
        }
    }
    Ok(())
}

/// A declared model input as ONNX Runtime reports it.
#[derive(Debug, Clone)]
pub struct DeclaredInput {
    pub name: String,
    pub dtype: TensorElementType,
    pub shape: Vec<i64>,
    pub symbols: Vec<String>,
}

/// Reads the declared inputs of a session.
pub fn declared_inputs(session: &Session) -> Result<Vec<DeclaredInput>, InputError> {
    session
        .inputs()
        .iter()
        .map(|outlet| match outlet.dtype() {
            ValueType::Tensor {
                ty,
                shape,
                dimension_symbols,
            } => Ok(DeclaredInput {
                name: outlet.name().to_owned(),
                dtype: *ty,
                shape: shape.to_vec(),
                symbols: dimension_symbols.to_vec(),
            }),
            other => Err(InputError::NotATensor {
                name: outlet.name().to_owned(),
                kind: other.to_string(),
            }),
        })
        .collect()
}

/// Resolves shapes and builds the data for every input.
pub fn prepare(
    declared: &[DeclaredInput],
    config: &ProfileConfig,
) -> Result<PreparedInputs, InputError> {
    let mut notes = Vec::new();
    for input in declared {
        if input.dtype == TensorElementType::String {
            return Err(InputError::StringInput {
                name: input.name.clone(),
            });
        }
    }
    let known_symbols: Vec<&str> = {
        let mut symbols: Vec<&str> = declared
            .iter()
            .flat_map(|input| input.shape.iter().zip(&input.symbols))
            .filter(|(dim, symbol)| **dim < 0 && !symbol.is_empty())
            .map(|(_, symbol)| symbol.as_str())
            .collect();
        symbols.sort_unstable();
        symbols.dedup();
        symbols
    };
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

    let mut defaulted: BTreeMap<String, ()> = BTreeMap::new();
    let mut specs = Vec::with_capacity(declared.len());
    for input in declared {
        let mut shape = Vec::with_capacity(input.shape.len());
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
                        format!("batch dim '{symbol}' not set (--batch)")
                    } else {
                        format!("dim '{symbol}' not set (--dim {symbol}=N)")
                    };
                    if defaulted.insert(label.clone(), ()).is_none() {
                        notes.push(format!("{label}; using 1"));
                    }
                    1
                }
            };
            shape.push(value);
        }
        specs.push(InputSpec {
            name: input.name.clone(),
            dtype: input.dtype.to_string(),
            shape,
            declared_shape: input.shape.clone(),
            dim_symbols: input.symbols.clone(),
            source: InputSource::Synthetic,
        });
    }

    let variants = build_variants(declared, &mut specs, &config.input_files, config.seed)?;
    Ok(PreparedInputs {
        specs,
        variants,
        notes,
    })
}

fn build_variants(
    declared: &[DeclaredInput],
    specs: &mut [InputSpec],
    files: &[InputFile],
    seed: u64,
) -> Result<Vec<Vec<TensorData>>, InputError> {
    for file in files {
        if !declared.iter().any(|input| input.name == file.name) {
            return Err(InputError::UnknownInput {
                name: file.name.clone(),
                known: declared
                    .iter()
                    .map(|input| input.name.as_str())
                    .collect::<Vec<_>>()
                    .join(", "),
            });
        }
    }
    let mut per_input: Vec<Vec<TensorData>> = Vec::with_capacity(declared.len());
    for (index, (input, spec)) in declared.iter().zip(specs.iter_mut()).enumerate() {
        let paths: Vec<&Path> = files
            .iter()
            .filter(|file| file.name == input.name)
            .map(|file| file.path.as_path())
            .collect();
        if paths.is_empty() {
            let num_elements = spec.shape.iter().map(|dim| *dim as usize).product();
            let data = synthetic(input.dtype, num_elements, seed.wrapping_add(index as u64))
                .ok_or_else(|| InputError::UnsupportedDtype {
                    name: input.name.clone(),
                    dtype: input.dtype.to_string(),
                })?;
            per_input.push(vec![data]);
        } else {
            let mut loaded = Vec::with_capacity(paths.len());
            for path in &paths {
                loaded.push(read_npy(&input.name, input.dtype, path, &spec.shape)?);
            }
            spec.source = InputSource::Files {
                paths: paths.iter().map(|path| path.to_path_buf()).collect(),
            };
            per_input.push(loaded);
        }
    }
    let num_variants = per_input.iter().map(Vec::len).max().unwrap_or(1).max(1);
    Ok((0..num_variants)
        .map(|variant| {
            per_input
                .iter()
                .map(|options| options[variant % options.len()].clone())
                .collect()
        })
        .collect())
}

fn read_npy(
    name: &str,
    dtype: TensorElementType,
    path: &Path,
    expected: &[i64],
) -> Result<TensorData, InputError> {
    fn load<T: ndarray_npy::ReadableElement>(path: &Path) -> Result<ArrayD<T>, NpyError> {
        let file = std::fs::File::open(path).map_err(NpyError::Open)?;
        ArrayD::<T>::read_npy(file).map_err(NpyError::Read)
    }
    fn finish<T>(
        array: Result<ArrayD<T>, NpyError>,
        wrap: fn(Vec<T>) -> TensorData,
        name: &str,
        path: &Path,
        expected: &[i64],
    ) -> Result<TensorData, InputError> {
        let array = array.map_err(|source| InputError::ReadFile {
            name: name.to_owned(),
            path: path.to_path_buf(),
            source,
        })?;
        let file_shape = array.shape().to_vec();
        let matches = file_shape.len() == expected.len()
            && file_shape
                .iter()
                .zip(expected)
                .all(|(got, want)| *got as i64 == *want);
        if !matches {
            return Err(InputError::WrongShape {
                name: name.to_owned(),
                path: path.to_path_buf(),
                file_shape,
                expected: expected.to_vec(),
            });
        }
        let (values, _offset) = array.into_raw_vec_and_offset();
        Ok(wrap(values))
    }
    match dtype {
        TensorElementType::Float32 => {
            finish(load::<f32>(path), TensorData::F32, name, path, expected)
        }
        TensorElementType::Float64 => {
            finish(load::<f64>(path), TensorData::F64, name, path, expected)
        }
        TensorElementType::Int8 => finish(load::<i8>(path), TensorData::I8, name, path, expected),
        TensorElementType::Uint8 => finish(load::<u8>(path), TensorData::U8, name, path, expected),
        TensorElementType::Int16 => {
            finish(load::<i16>(path), TensorData::I16, name, path, expected)
        }
        TensorElementType::Uint16 => {
            finish(load::<u16>(path), TensorData::U16, name, path, expected)
        }
        TensorElementType::Int32 => {
            finish(load::<i32>(path), TensorData::I32, name, path, expected)
        }
        TensorElementType::Uint32 => {
            finish(load::<u32>(path), TensorData::U32, name, path, expected)
        }
        TensorElementType::Int64 => {
            finish(load::<i64>(path), TensorData::I64, name, path, expected)
        }
        TensorElementType::Uint64 => {
            finish(load::<u64>(path), TensorData::U64, name, path, expected)
        }
        TensorElementType::Bool => {
            finish(load::<bool>(path), TensorData::Bool, name, path, expected)
        }
        other => Err(InputError::ReadFile {
            name: name.to_owned(),
            path: path.to_path_buf(),
            source: NpyError::UnsupportedDtype(other),
        }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn declared(name: &str, shape: &[i64], symbols: &[&str]) -> DeclaredInput {
        DeclaredInput {
            name: name.to_owned(),
            dtype: TensorElementType::Float32,
            shape: shape.to_vec(),
            symbols: symbols.iter().map(|s| (*s).to_owned()).collect(),
        }
    }

    #[test]
    fn synthetic_data_is_seeded_and_typed() {
        let a = synthetic(TensorElementType::Float32, 1000, 7).expect("f32");
        let b = synthetic(TensorElementType::Float32, 1000, 7).expect("f32");
        let c = synthetic(TensorElementType::Float32, 1000, 8).expect("f32");
        assert_eq!(a, b);
        assert_ne!(a, c);
        let TensorData::F32(values) = a else {
            panic!("wrong type")
        };
        let mean = values.iter().sum::<f32>() / values.len() as f32;
        assert!(mean.abs() < 0.15, "N(0,1) mean {mean}");
        let TensorData::I64(ints) = synthetic(TensorElementType::Int64, 500, 1).expect("i64")
        else {
            panic!("wrong type")
        };
        assert!(ints.iter().all(|v| (0..SYNTHETIC_INT_RANGE).contains(v)));
        assert!(
            matches!(synthetic(TensorElementType::Float16, 3, 1), Some(TensorData::F16(v)) if v.len() == 3)
        );
        assert!(synthetic(TensorElementType::String, 3, 1).is_none());
    }

    #[test]
    fn batch_and_dims_resolve_symbols() {
        let inputs = [declared("hidden", &[-1, -1, 64], &["batch", "seq", ""])];
        let config = ProfileConfig {
            batch: Some(4),
            dims: [("seq".to_owned(), 16)].into(),
            ..ProfileConfig::default()
        };
        let prepared = prepare(&inputs, &config).expect("prepare");
        assert_eq!(prepared.specs[0].shape, vec![4, 16, 64]);
        assert_eq!(prepared.batch_size(), 4);
        assert!(prepared.notes.is_empty());
        assert_eq!(prepared.variants[0][0].len(), 4 * 16 * 64);
    }

    #[test]
    fn unset_and_unnamed_dims_default_to_one_with_a_note() {
        let inputs = [declared("x", &[-1, -1, 8], &["batch", "", ""])];
        let prepared = prepare(&inputs, &ProfileConfig::default()).expect("prepare");
        assert_eq!(prepared.specs[0].shape, vec![1, 1, 8]);
        assert_eq!(prepared.notes.len(), 2, "{:?}", prepared.notes);
        assert!(prepared.notes.iter().any(|note| note.contains("unnamed")));
    }

    #[test]
    fn wrong_dims_and_fixed_batch_are_clear_errors() {
        let inputs = [declared("x", &[1, 16], &["", ""])];
        let config = ProfileConfig {
            batch: Some(4),
            ..ProfileConfig::default()
        };
        let err = prepare(&inputs, &config).expect_err("fixed batch");
        assert!(
            err.to_string().contains("fixed first dimension of 1"),
            "{err}"
        );

        let inputs = [declared("x", &[-1, 16], &["batch", ""])];
        let config = ProfileConfig {
            dims: [("sequence".to_owned(), 3)].into(),
            ..ProfileConfig::default()
        };
        let err = prepare(&inputs, &config).expect_err("unknown dim");
        assert!(
            err.to_string().contains("symbolic dims are: batch"),
            "{err}"
        );
    }

    #[test]
    fn rows_concatenate_and_split_back() {
        let a = TensorData::I64(vec![1, 2, 3, 4]);
        let b = TensorData::I64(vec![5, 6]);
        let joined = TensorData::concat_rows(&[&a, &b]).expect("same dtype");
        assert_eq!(joined, TensorData::I64(vec![1, 2, 3, 4, 5, 6]));
        let parts = joined.split_rows(&[2, 1], 2).expect("sizes add up");
        assert_eq!(parts, vec![a.clone(), b]);
        assert!(joined.split_rows(&[2, 2], 2).is_none());
        assert!(TensorData::concat_rows(&[&a, &TensorData::F32(vec![1.0])]).is_none());
        let halves = TensorData::Bool(vec![true, false])
            .split_rows(&[1, 1], 1)
            .expect("split");
        assert_eq!(halves[1], TensorData::Bool(vec![false]));
    }

    #[test]
    fn string_inputs_are_refused() {
        let mut input = declared("text", &[-1], &["batch"]);
        input.dtype = TensorElementType::String;
        let err = prepare(&[input], &ProfileConfig::default()).expect_err("string");
        assert!(matches!(err, InputError::StringInput { .. }));
    }
}
