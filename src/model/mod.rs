//! Reading and writing ONNX models, and inspecting their graphs.
//!
//! - [`Model`] wraps the decoded protobuf ([`onnx::ModelProto`]) with the
//!   folder that its external data is resolved against. [`Model::load`]
//!   rejects bad input with a [`ModelError`] (missing or empty files,
//!   garbage bytes, protobufs that are not models, external data that
//!   escapes the model's folder) and never panics.
//! - [`Model::summary`] builds a [`ModelSummary`]: inputs and outputs with
//!   symbolic dims, op histogram, parameter counts, FLOPs and warnings.
//!   `render_text` / `Display` turn it into the `inspect` report.
//! - [`estimate_flops`] and [`infer_shapes`] bind symbolic dims to values
//!   (e.g. `batch = 8`) and propagate concrete shapes through common ops.
//! - [`Model::tensor_bytes`] gives any tensor's bytes in `raw_data` layout,
//!   whether stored inline or in an external file.
//!
//! The protobuf types in [`onnx`] are generated from `proto/onnx-ml.proto`
//! by `tools/protogen` and committed.

// The generated file carries the proto's comments as docs; some of their
// indented lists trip this doc lint.
#[expect(
    clippy::doc_overindented_list_items,
    reason = "generated code: doc comments are copied verbatim from onnx-ml.proto"
)]
pub mod onnx;

mod dim_defaults;
mod error;
mod external;
mod file;
mod flops;
pub mod generative;
mod inspect;
pub mod node;
mod render;
mod shapes;
mod tensor;
#[cfg(test)]
pub(crate) mod test_util;
mod types;
pub(crate) mod walk;
pub mod weights;

pub use dim_defaults::{DimDefault, dim_defaults};
pub use error::ModelError;
pub use external::{ExternalDataInfo, external_data_info, resolve_external_data};
pub use file::{MAX_KNOWN_IR_VERSION, Model};
pub use flops::{
    FLOP_OP_TYPES, FlopEstimate, NodeFlops, UncountedOp, UncountedReason, estimate_flops,
    estimate_flops_and_shapes, estimate_flops_with,
};
pub use inspect::{ModelSummary, OpCount, OpsetInfo};
pub use render::{format_flops, format_shape};
pub use shapes::{
    DEFAULT_DIM_VALUE, InferredShapes, LossReason, ShapeBinding, ShapeLoss, UNNAMED_DIM_KEY,
    infer_shapes, infer_shapes_with,
};
pub use tensor::is_external;
pub use types::{Dim, ElemType, ParseElemTypeError, TensorInfo};
