//! Why inputs could not be made: unreadable `.npy` files, shapes that
//! contradict each other or the model, data that does not fit.

use std::path::PathBuf;

use ort::value::TensorElementType;

use crate::field::Field;

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
        "input '{name}' of shape {shape:?} {detail}; set smaller dims with {}, {} or {}, or raise {}",
        Field::Shapes,
        Field::Dims,
        Field::Batch,
        Field::MaxInputBytes
    )]
    TooLarge {
        name: String,
        shape: Vec<i64>,
        /// The dtype, the bytes needed, the copies and the limit, as text.
        detail: String,
    },
    #[error(
        "the inputs together {detail}; set smaller dims with {}, {} or {}, or raise {}",
        Field::Shapes,
        Field::Dims,
        Field::Batch,
        Field::MaxInputBytes
    )]
    AllTooLarge {
        /// The bytes needed, the copies and the limit, as text.
        detail: String,
    },
    #[error("input '{name}': allocating {elements} elements failed")]
    Allocation { name: String, elements: u64 },
    #[error("{} {text}: {problem}", Field::Shapes)]
    BadShapeFlag { text: String, problem: String },
    #[error(
        "{} {text}: expected bytes like 4294967296, 512MiB or 8GiB",
        Field::MaxInputBytes
    )]
    BadByteSize { text: String },
    #[error(
        "{} {name}=…: the model has no input of that name; its inputs are: {known}",
        Field::Shapes
    )]
    ShapeUnknownInput { name: String, known: String },
    #[error(
        "{} {name}={given}: {problem}; the model declares {declared}",
        Field::Shapes
    )]
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
        "{} {batch} cannot be applied: input '{name}' has a fixed first dimension of {fixed}; \
         this model only runs with batch {fixed}",
        Field::Batch
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
    #[error(
        "input '{name}' has no dimensions, so {} {batch} cannot be applied",
        Field::Batch
    )]
    ScalarBatch { name: String, batch: i64 },
    #[error(
        "{} {name}: the model has no symbolic dimension of that name; its symbolic dims are: {known}",
        Field::Dims
    )]
    UnknownDim { name: String, known: String },
    #[error(
        "{} {name}={dim_value} conflicts with {} {batch}, which sets the same dimension",
        Field::Dims,
        Field::Batch
    )]
    DimConflictsWithBatch {
        name: String,
        dim_value: i64,
        batch: i64,
    },
    #[error(
        "{} {name}=…: the model has no input of that name; its inputs are: {known}",
        Field::Inputs
    )]
    UnknownInput { name: String, known: String },
    #[error("input '{name}': cannot read {}: {source}", path.display())]
    ReadFile {
        name: String,
        path: PathBuf,
        #[source]
        source: NpyError,
    },
    #[error(
        "{} {}: the model has {count} inputs ({known}); say which one it is for: NAME={}",
        Field::Inputs, path.display(), path.display()
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
        "the input files ({}) hold {total_bytes} bytes together, more than the limit of {max_bytes} bytes; use fewer or smaller files",
        Field::Inputs
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
        "{flag} contradicts input '{name}': {} has {got} in axis {axis}; drop that setting (the file sets the dim) or use a matching file",
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
