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

mod declared;
mod error;
mod prepared;
mod spec;
mod synthetic;
mod tensor_data;
#[cfg(test)]
mod tests;

pub use declared::{DeclaredInput, check_batchable, declared_inputs};
pub use error::{InputError, NpyError};
pub use graph_hints::{GraphHints, ResolvedHint};
pub use prepared::PreparedInputs;
pub use resolve::{EvalInputs, EvalSample, prepare, prepare_eval, resolve_flag_shapes};
pub use shape_flag::declared_shape_text;
pub use shape_flag::parse_shape_flag;
pub use spec::{InputSource, InputSpec};
pub use synthetic::{GenerateError, generate, synthetic};
pub use tensor_data::TensorData;

/// The dim name some exporters give every unknown dim; files never bind it
/// across axes (each axis takes its file's value).
pub const UNKNOWN_DIM_PLACEHOLDER: &str = "?";

/// Synthetic integers are drawn uniformly from `0..SYNTHETIC_INT_RANGE`.
pub const SYNTHETIC_INT_RANGE: i64 = 10;
