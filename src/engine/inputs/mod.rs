//! Model inputs: resolving symbolic dims, seeded synthetic data for every
//! tensor dtype ONNX Runtime takes, and `.npy` files supplied by the user
//! (`files.rs`: folders, size checks, reading), whose shapes set the
//! symbolic dims. Accuracy checks get their own input sets
//! ([`prepare_eval`]), image-like where an input looks like an image
//! (`image.rs`).

pub mod budget;
pub mod files;
pub mod graph_hints;
pub mod image;
mod resolve;
mod shape_flag;

use std::path::PathBuf;

use half::f16;
use ort::{
    session::Session,
    value::{DynValue, Tensor, TensorElementType, ValueType},
};
use rand::{Rng as _, SeedableRng as _, rngs::StdRng};
use rand_distr::{Distribution as _, StandardNormal};
use serde::{Deserialize, Serialize};

pub use graph_hints::{GraphHints, ResolvedHint, chosen_dims_used};
pub use resolve::{EvalInputs, EvalSample, prepare, prepare_eval, resolve_flag_shapes};
pub use shape_flag::declared_shape_text;
pub use shape_flag::parse_shape_flag;

/// The dim name some exporters give every unknown dim; files never bind it
/// across axes (each axis takes its file's value).
pub const UNKNOWN_DIM_PLACEHOLDER: &str = "?";

/// Synthetic integers are drawn uniformly from `0..SYNTHETIC_INT_RANGE`.
pub const SYNTHETIC_INT_RANGE: i64 = 10;

/// Why a `.npy` file could not be read.
#[derive(Debug, thiserror::Error)]
pub enum NpyError {
    /// The file could not be opened.
    #[error("{0}")]
    Open(#[source] std::io::Error),
    /// The file is not a `.npy` array of the expected element type.
    #[error(
        "{source} (the model input is {dtype}: the array must be saved with that element type)"
    )]
    Read {
        /// The model input's element type.
        dtype: TensorElementType,
        #[source]
        source: Box<ndarray_npy::ReadNpyError>,
    },
    /// The model input's element type cannot be read from `.npy`.
    #[error(".npy input of dtype {0} is not supported")]
    UnsupportedDtype(TensorElementType),
}

/// An input that cannot be built.
#[derive(Debug, thiserror::Error)]
pub enum InputError {
    #[error(
        "input '{name}' of shape {shape:?} {detail}; set smaller dims with --shape, --dim or --batch, or raise --max-input-bytes"
    )]
    TooLarge {
        name: String,
        shape: Vec<i64>,
        /// The dtype, the bytes needed, the copies and the limit, as text.
        detail: String,
    },
    #[error(
        "the inputs together {detail}; set smaller dims with --shape, --dim or --batch, or raise --max-input-bytes"
    )]
    AllTooLarge {
        /// The bytes needed, the copies and the limit, as text.
        detail: String,
    },
    #[error("input '{name}': allocating {elements} elements failed")]
    Allocation { name: String, elements: u64 },
    #[error("--shape {text}: {problem}")]
    BadShapeFlag { text: String, problem: String },
    #[error("--max-input-bytes {text}: expected bytes like 4294967296, 512MiB or 8GiB")]
    BadByteSize { text: String },
    #[error("--shape {name}=…: the model has no input of that name; its inputs are: {known}")]
    ShapeUnknownInput { name: String, known: String },
    #[error("--shape {name}={given}: {problem}; the model declares {declared}")]
    ShapeContradicts {
        name: String,
        /// The shape given, as text.
        given: String,
        problem: String,
        /// The model's shape, as text.
        declared: String,
    },
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
        "--input {}: the model has {count} inputs ({known}); say which one: --input NAME={}",
        path.display(), path.display()
    )]
    NameNeeded {
        path: PathBuf,
        count: usize,
        known: String,
    },
    #[error("input '{name}': cannot read the folder {}: {source}", dir.display())]
    ReadFolder {
        name: String,
        dir: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("input '{name}': the folder {} has no .npy files", dir.display())]
    EmptyFolder { name: String, dir: PathBuf },
    #[error(
        "inputs given several files need the same number of files (the k-th files form sample k): {counts}"
    )]
    SampleCounts { counts: String },
    #[error(
        "the --input files hold {total_bytes} bytes together, more than the limit of {max_bytes} bytes; use fewer or smaller files"
    )]
    TooMuchData { total_bytes: u64, max_bytes: u64 },
    #[error("labels {}: {problem}", path.display())]
    Labels { path: PathBuf, problem: String },
    #[error(
        "input '{name}': {} has shape {file_shape:?} ({} dims), but the model's input has {declared} ({} dims)",
        path.display(), file_shape.len(), declared.split(',').count()
    )]
    FileRank {
        name: String,
        path: PathBuf,
        file_shape: Vec<usize>,
        declared: String,
    },
    #[error(
        "input '{name}': {} has {got} in axis {axis}, but axis {axis} of the model's input {declared} is fixed at {fixed}",
        path.display()
    )]
    FileFixedDim {
        name: String,
        path: PathBuf,
        axis: usize,
        got: usize,
        fixed: i64,
        /// The model's shape and the file's, as text.
        declared: String,
    },
    #[error(
        "{flag} contradicts input '{name}': {} has {got} in axis {axis}; drop the flag (the file sets the dim) or use a matching file",
        path.display()
    )]
    FileContradictsFlag {
        flag: String,
        name: String,
        path: PathBuf,
        axis: usize,
        got: i64,
    },
    #[error(
        "dim '{symbol}' is shared by several inputs, but their files disagree: {first}, {second}"
    )]
    SymbolMismatch {
        symbol: String,
        first: String,
        second: String,
    },
    #[error(
        "input '{name}': {first} but {other}; a profile run feeds one shape, so its files must agree (accuracy checks take mixed shapes)"
    )]
    FileShapesDiffer {
        name: String,
        /// The first file and its shape.
        first: String,
        /// The file of another shape and that shape.
        other: String,
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
    Str(Vec<String>),
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
            Self::Str(v) => v.len(),
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
            F32, F64, F16, I8, U8, I16, U16, I32, U32, I64, U64, Bool, Str
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
            F32, F64, F16, I8, U8, I16, U16, I32, U32, I64, U64, Bool, Str
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
            Self::Str(v) => Tensor::from_string_array((shape, v.as_slice()))?.into_dyn(),
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
            Self::Str(v) => Tensor::from_string_array((shape, v.as_slice()))?.into_dyn(),
        })
    }
}

/// Why synthetic data could not be made.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum GenerateError {
    /// The dtype has no synthetic data.
    Unsupported,
    /// The allocation failed.
    Allocation,
}

/// Seeded synthetic data: floats N(0,1), integers in `0..SYNTHETIC_INT_RANGE`,
/// random bools, short strings. `None` for an unsupported dtype or when
/// the allocation fails.
pub fn synthetic(dtype: TensorElementType, num_elements: usize, seed: u64) -> Option<TensorData> {
    generate(dtype, num_elements, seed, None).ok()
}

/// Seeded synthetic data as [`synthetic`], with the values the graph
/// accepts where `hint` says (indices below a bound, fixed shape values).
/// The memory is reserved fallibly.
pub fn generate(
    dtype: TensorElementType,
    num_elements: usize,
    seed: u64,
    hint: Option<&ResolvedHint>,
) -> Result<TensorData, GenerateError> {
    use budget::try_filled;
    let mut rng = StdRng::seed_from_u64(seed);
    if let Some(ResolvedHint::Values(values)) = hint
        && values.len() == num_elements
    {
        return from_values(dtype, values).ok_or(GenerateError::Unsupported);
    }
    let upper = match hint {
        Some(ResolvedHint::IndexBelow(upper)) => (*upper).max(1),
        _ => SYNTHETIC_INT_RANGE,
    };
    let data = match dtype {
        TensorElementType::Float32 => {
            try_filled(num_elements, || StandardNormal.sample(&mut rng)).map(TensorData::F32)
        }
        TensorElementType::Float64 => try_filled(num_elements, || {
            let value: f32 = StandardNormal.sample(&mut rng);
            f64::from(value)
        })
        .map(TensorData::F64),
        TensorElementType::Float16 => try_filled(num_elements, || {
            f16::from_f32(StandardNormal.sample(&mut rng))
        })
        .map(TensorData::F16),
        TensorElementType::String => try_filled(num_elements, || {
            format!("s{}", rng.random_range(0..SYNTHETIC_INT_RANGE))
        })
        .map(TensorData::Str),
        other => {
            let mut int = || rng.random_range(0..upper);
            match other {
                TensorElementType::Int8 => {
                    try_filled(num_elements, || int() as i8).map(TensorData::I8)
                }
                TensorElementType::Uint8 => {
                    try_filled(num_elements, || int() as u8).map(TensorData::U8)
                }
                TensorElementType::Int16 => {
                    try_filled(num_elements, || int() as i16).map(TensorData::I16)
                }
                TensorElementType::Uint16 => {
                    try_filled(num_elements, || int() as u16).map(TensorData::U16)
                }
                TensorElementType::Int32 => {
                    try_filled(num_elements, || int() as i32).map(TensorData::I32)
                }
                TensorElementType::Uint32 => {
                    try_filled(num_elements, || int() as u32).map(TensorData::U32)
                }
                TensorElementType::Int64 => try_filled(num_elements, int).map(TensorData::I64),
                TensorElementType::Uint64 => {
                    try_filled(num_elements, || int() as u64).map(TensorData::U64)
                }
                TensorElementType::Bool => {
                    try_filled(num_elements, || int() % 2 == 1).map(TensorData::Bool)
                }
                _ => return Err(GenerateError::Unsupported),
            }
        }
    };
    data.ok_or(GenerateError::Allocation)
}

/// Exactly `values`, cast to `dtype` (saturating where they do not fit).
fn from_values(dtype: TensorElementType, values: &[i64]) -> Option<TensorData> {
    let ints = values.iter().copied();
    Some(match dtype {
        TensorElementType::Float32 => TensorData::F32(ints.map(|v| v as f32).collect()),
        TensorElementType::Float64 => TensorData::F64(ints.map(|v| v as f64).collect()),
        TensorElementType::Float16 => {
            TensorData::F16(ints.map(|v| f16::from_f32(v as f32)).collect())
        }
        TensorElementType::Int8 => TensorData::I8(
            ints.map(|v| v.clamp(i8::MIN.into(), i8::MAX.into()) as i8)
                .collect(),
        ),
        TensorElementType::Uint8 => {
            TensorData::U8(ints.map(|v| v.clamp(0, u8::MAX.into()) as u8).collect())
        }
        TensorElementType::Int16 => TensorData::I16(
            ints.map(|v| v.clamp(i16::MIN.into(), i16::MAX.into()) as i16)
                .collect(),
        ),
        TensorElementType::Uint16 => {
            TensorData::U16(ints.map(|v| v.clamp(0, u16::MAX.into()) as u16).collect())
        }
        TensorElementType::Int32 => TensorData::I32(
            ints.map(|v| v.clamp(i32::MIN.into(), i32::MAX.into()) as i32)
                .collect(),
        ),
        TensorElementType::Uint32 => {
            TensorData::U32(ints.map(|v| v.clamp(0, u32::MAX.into()) as u32).collect())
        }
        TensorElementType::Int64 => TensorData::I64(ints.collect()),
        TensorElementType::Uint64 => TensorData::U64(ints.map(|v| v.max(0) as u64).collect()),
        TensorElementType::Bool => TensorData::Bool(ints.map(|v| v != 0).collect()),
        _ => return None,
    })
}

/// Resolved inputs: the spec of each input and one or more data sets.
#[derive(Debug, Clone, Default)]
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{engine::config::ProfileConfig, transform::SyntheticKind};

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
        assert!(synthetic(TensorElementType::Bfloat16, 3, 1).is_none());
    }

    #[test]
    fn batch_and_dims_resolve_symbols() {
        let inputs = [declared("hidden", &[-1, -1, 64], &["batch", "seq", ""])];
        let config = ProfileConfig {
            batch: Some(4),
            dims: [("seq".to_owned(), 16)].into(),
            ..ProfileConfig::default()
        };
        let prepared = prepare(&inputs, &config, &GraphHints::default()).expect("prepare");
        assert_eq!(prepared.specs[0].shape, vec![4, 16, 64]);
        assert_eq!(prepared.batch_size(), 4);
        assert!(prepared.notes.is_empty());
        assert_eq!(prepared.variants[0][0].len(), 4 * 16 * 64);
    }

    #[test]
    fn unset_and_unnamed_dims_default_to_one_with_a_note() {
        let inputs = [declared("x", &[-1, -1, 8], &["batch", "", ""])];
        let prepared =
            prepare(&inputs, &ProfileConfig::default(), &GraphHints::default()).expect("prepare");
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
        let err = prepare(&inputs, &config, &GraphHints::default()).expect_err("fixed batch");
        assert!(
            err.to_string().contains("fixed first dimension of 1"),
            "{err}"
        );

        let inputs = [declared("x", &[-1, 16], &["batch", ""])];
        let config = ProfileConfig {
            dims: [("sequence".to_owned(), 3)].into(),
            ..ProfileConfig::default()
        };
        let err = prepare(&inputs, &config, &GraphHints::default()).expect_err("unknown dim");
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
    fn string_inputs_get_synthetic_strings() {
        let mut input = declared("text", &[-1, 2], &["batch", ""]);
        input.dtype = TensorElementType::String;
        let prepared =
            prepare(&[input], &ProfileConfig::default(), &GraphHints::default()).expect("string");
        let TensorData::Str(values) = &prepared.variants[0][0] else {
            panic!("not strings: {:?}", prepared.variants[0][0])
        };
        assert_eq!(values.len(), 2);
        assert!(values.iter().all(|v| v.starts_with('s')), "{values:?}");
    }

    #[test]
    fn shape_flag_sets_one_input_and_binds_its_named_dims() {
        let config = ProfileConfig {
            shapes: [("x".to_owned(), vec![2, 3, 5, 7])].into(),
            ..ProfileConfig::default()
        };
        let prepared = prepare(&image_inputs(), &config, &GraphHints::default()).expect("prepare");
        assert_eq!(prepared.specs[0].shape, vec![2, 3, 5, 7]);
        // The mask shares N, H and W with x.
        assert_eq!(prepared.specs[1].shape, vec![2, 1, 5, 7]);
        assert!(prepared.notes.is_empty(), "{:?}", prepared.notes);
    }

    fn write_npy(path: &std::path::Path, shape: &[usize]) {
        use ndarray_npy::WriteNpyExt as _;
        ndarray::ArrayD::<f32>::from_shape_fn(shape.to_vec(), |index| index[0] as f32)
            .write_npy(std::fs::File::create(path).expect("create"))
            .expect("write");
    }

    fn image_inputs() -> [DeclaredInput; 2] {
        [
            declared("x", &[-1, 3, -1, -1], &["N", "", "H", "W"]),
            declared("mask", &[-1, 1, -1, -1], &["N", "", "H", "W"]),
        ]
    }

    #[test]
    fn files_set_symbolic_dims_and_shared_symbols_must_agree() {
        let dir = tempfile::tempdir().expect("tempdir");
        let x = dir.path().join("x.npy");
        write_npy(&x, &[2, 3, 16, 24]);
        let inputs = image_inputs();
        let file = |name: &str, path: &std::path::Path| crate::engine::InputFile {
            name: name.to_owned(),
            path: path.to_path_buf(),
        };
        let config = ProfileConfig {
            input_files: vec![file("x", &x)],
            ..ProfileConfig::default()
        };
        let prepared = prepare(&inputs, &config, &GraphHints::default()).expect("prepare");
        assert_eq!(prepared.specs[0].shape, vec![2, 3, 16, 24]);
        // The synthetic mask follows the dims the file set.
        assert_eq!(prepared.specs[1].shape, vec![2, 1, 16, 24]);
        assert!(prepared.notes.is_empty(), "{:?}", prepared.notes);

        let mask = dir.path().join("mask.npy");
        write_npy(&mask, &[2, 1, 16, 25]);
        let config = ProfileConfig {
            input_files: vec![file("x", &x), file("mask", &mask)],
            ..ProfileConfig::default()
        };
        let err = prepare(&inputs, &config, &GraphHints::default()).expect_err("W disagrees");
        assert!(err.to_string().contains("dim 'W'"), "{err}");

        let config = ProfileConfig {
            input_files: vec![file("x", &x)],
            dims: [("H".to_owned(), 32)].into(),
            ..ProfileConfig::default()
        };
        let err = prepare(&inputs, &config, &GraphHints::default()).expect_err("--dim contradicts");
        assert!(err.to_string().contains("--dim H=32"), "{err}");
        let config = ProfileConfig {
            input_files: vec![file("x", &x)],
            batch: Some(4),
            ..ProfileConfig::default()
        };
        let err =
            prepare(&inputs, &config, &GraphHints::default()).expect_err("--batch contradicts");
        assert!(err.to_string().contains("--batch 4"), "{err}");

        let fixed = [declared("x", &[-1, 3, 32, 32], &["N", "", "", ""])];
        let config = ProfileConfig {
            input_files: vec![file("x", &x)],
            ..ProfileConfig::default()
        };
        let err = prepare(&fixed, &config, &GraphHints::default()).expect_err("fixed dim");
        let text = err.to_string();
        assert!(
            text.contains("'x'") && text.contains("axis 2") && text.contains("fixed at 32"),
            "{text}"
        );
        assert!(text.contains("x.npy") && text.contains("has 16"), "{text}");
    }

    #[test]
    fn eval_samples_keep_their_own_shapes_but_a_run_needs_one() {
        let dir = tempfile::tempdir().expect("tempdir");
        let folder = dir.path().join("x");
        std::fs::create_dir(&folder).expect("mkdir");
        write_npy(&folder.join("a.npy"), &[1, 3, 16, 24]);
        write_npy(&folder.join("b.npy"), &[1, 3, 8, 40]);
        let inputs = [declared("x", &[-1, 3, -1, -1], &["N", "", "H", "W"])];
        let config = ProfileConfig {
            input_files: vec![crate::engine::InputFile {
                name: String::new(),
                path: folder,
            }],
            ..ProfileConfig::default()
        };
        let eval = prepare_eval(
            &inputs,
            &config,
            8,
            SyntheticKind::Auto,
            &GraphHints::default(),
        )
        .expect("eval");
        assert_eq!(eval.samples.len(), 2);
        assert_eq!(eval.samples[0].shapes[0], vec![1, 3, 16, 24]);
        assert_eq!(eval.samples[1].shapes[0], vec![1, 3, 8, 40]);
        assert_eq!(eval.description, "2 input sets from .npy files");
        let err =
            prepare(&inputs, &config, &GraphHints::default()).expect_err("two shapes in a run");
        assert!(err.to_string().contains("must agree"), "{err}");
    }

    #[test]
    fn eval_synthetic_kind_is_chosen_and_described() {
        let inputs = [declared("x", &[1, 3, 32, 32], &["", "", "", ""])];
        let config = ProfileConfig::default();
        let auto = prepare_eval(
            &inputs,
            &config,
            3,
            SyntheticKind::Auto,
            &GraphHints::default(),
        )
        .expect("auto");
        assert_eq!(auto.samples.len(), 3);
        assert!(
            auto.description.starts_with(
                "3 seeded image-like synthetic input sets (smooth random fields, ImageNet-normalised; seed"
            ),
            "{}",
            auto.description
        );
        let noise = prepare_eval(
            &inputs,
            &config,
            3,
            SyntheticKind::Noise,
            &GraphHints::default(),
        )
        .expect("noise");
        assert!(noise.description.contains("noise"), "{}", noise.description);
        assert_ne!(auto.samples[0].tensors, noise.samples[0].tensors);
        // Samples differ from one another.
        assert_ne!(auto.samples[0].tensors, auto.samples[1].tensors);
        let flat = [declared("v", &[1, 256], &["", ""])];
        let auto = prepare_eval(
            &flat,
            &config,
            2,
            SyntheticKind::Auto,
            &GraphHints::default(),
        )
        .expect("flat");
        assert!(auto.description.contains("noise"), "{}", auto.description);
    }
}
