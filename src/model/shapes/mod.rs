//! A small shape propagation over the main graph, enough to estimate FLOPs.
//!
//! Every symbolic or unnamed input dim is first bound to a concrete value,
//! so all shapes here are concrete `Vec<i64>`. Shapes start from graph
//! inputs, initializers and Constant nodes, and flow through the common ops
//! of CNNs, MLPs and transformers. Small integer tensors (shape arithmetic
//! such as `Shape -> Gather -> Concat -> Reshape`) are folded as constants.
//! An op without a rule here stops propagation for its outputs: no guessing.
//! Declared shapes (`value_info`, graph outputs) fill gaps only when all
//! their symbolic dims are ones that were bound at the inputs.

mod fold;
mod infer;
mod more_ops;
mod rules;
mod spatial;
mod state;
mod tables;

pub use infer::{InferredShapes, LossReason, ShapeLoss, infer_shapes, infer_shapes_with};
pub(crate) use infer::{gemm_dims, infer_state, matmul_dims, qualified_op_type};
pub(crate) use more_ops::einsum;
pub(crate) use state::State;
pub use state::{DEFAULT_DIM_VALUE, ShapeBinding, UNNAMED_DIM_KEY};

#[cfg(test)]
mod tests;
#[cfg(test)]
mod tests_more;
