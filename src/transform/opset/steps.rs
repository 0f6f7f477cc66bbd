//! What each schema change of a default-domain op means for a model that
//! uses the op: nothing to do (the new version accepts every node of the
//! old one: new types, new optional attributes or inputs, negative axes),
//! an adapter, or a block. After ONNX's version converter
//! (`onnx/version_converter/convert.h`) and the operator changelog, for
//! every change up to [`super::MAX_TARGET_OPSET`]; a change not listed here
//! blocks the upgrade.

use super::adapters::{self, Adapter};

/// How to cross one schema change of an op.
pub(super) enum Step {
    /// Every node of the old version is a valid node of the new one, with
    /// the same meaning.
    Compatible,
    /// The node must be rewritten.
    Adapt(Adapter),
    /// No adapter; the reason says what changed.
    Blocked(&'static str),
}

/// Ops that lost the legacy `consumed_inputs` attribute at opset 6.
const CONSUMED_INPUTS_6: &[&str] = &[
    "Abs",
    "Add",
    "BatchNormalization",
    "Ceil",
    "Clip",
    "Div",
    "Dropout",
    "Elu",
    "Exp",
    "Floor",
    "HardSigmoid",
    "InstanceNormalization",
    "LeakyRelu",
    "Log",
    "Max",
    "Mean",
    "Min",
    "Mul",
    "Neg",
    "PRelu",
    "Reciprocal",
    "Relu",
    "Selu",
    "Sigmoid",
    "Sqrt",
    "Sub",
    "Sum",
    "Tanh",
];

/// Ops whose opset-7 schema dropped legacy `broadcast`/`axis` for
/// numpy-style broadcasting.
const BROADCAST_7: &[&str] = &[
    "Add", "Sub", "Mul", "Div", "Pow", "And", "Or", "Xor", "Equal", "Greater", "Less",
];

/// Changes at opset 11 that only add negative axes, optional inputs or
/// attributes whose defaults keep the old behaviour.
const COMPATIBLE_11: &[&str] = &[
    "ArgMax",
    "ArgMin",
    "AveragePool",
    "Compress",
    "Concat",
    "Constant",
    "Conv",
    "ConvTranspose",
    "DepthToSpace",
    "Equal",
    "Flatten",
    "Gather",
    "Gemm",
    "Hardmax",
    "If",
    "LogSoftmax",
    "Loop",
    "LpPool",
    "MaxPool",
    "MaxUnpool",
    "NonMaxSuppression",
    "OneHot",
    "ReduceL1",
    "ReduceL2",
    "ReduceLogSum",
    "ReduceLogSumExp",
    "ReduceMax",
    "ReduceMean",
    "ReduceMin",
    "ReduceProd",
    "ReduceSum",
    "ReduceSumSquare",
    "Scan",
    "Slice",
    "Softmax",
    "Split",
    "Squeeze",
    "TopK",
    "Unsqueeze",
];

/// Reductions whose `axes` attribute became an input at opset 18.
const AXES_INPUT_18: &[&str] = &[
    "ReduceL1",
    "ReduceL2",
    "ReduceLogSum",
    "ReduceLogSumExp",
    "ReduceMax",
    "ReduceMean",
    "ReduceMin",
    "ReduceProd",
    "ReduceSumSquare",
];

/// How to take a node of `op` across the schema change at opset `version`
/// (from the op's previous schema).
pub(super) fn step(op: &str, version: i64) -> Step {
    use Step::{Adapt, Blocked, Compatible};
    match (op, version) {
        ("Pad", 2) => Adapt(adapters::pad_2),
        ("Split", 2) => Adapt(adapters::split_2),
        ("GlobalLpPool" | "LpPool", 2) => Adapt(adapters::lp_pool_2),
        ("GRU", 3) => Compatible,
        ("Concat", 4) => Adapt(adapters::concat_4),
        ("Reshape", 5) => Adapt(adapters::reshape_5),
        (op, 6) if CONSUMED_INPUTS_6.contains(&op) => Adapt(adapters::drop_consumed_inputs),
        ("Gemm", 6) => Compatible,
        ("Cast", 6) => Adapt(adapters::cast_6),
        ("Tile", 6) => Blocked("Tile-1 took `tiles` and `axis` inputs, Tile-6 takes `repeats`"),
        (op, 7) if BROADCAST_7.contains(&op) => Adapt(adapters::broadcast_7),
        ("Gemm", 7) => Adapt(adapters::gemm_7),
        ("BatchNormalization" | "Dropout", 7) => Adapt(adapters::drop_is_test),
        ("GRU" | "LSTM" | "RNN", 7) => Adapt(adapters::rnn_7),
        ("AveragePool" | "PRelu", 7) => Compatible,
        ("Upsample", 7) => Adapt(adapters::upsample_7),
        ("Max" | "Min" | "Mean" | "Sum" | "MaxPool", 8) => Compatible,
        ("BatchNormalization", 9) => Adapt(adapters::batch_normalization_9),
        ("Upsample", 9) => Adapt(adapters::upsample_9),
        ("Flatten" | "Constant" | "MatMul" | "Gemm" | "PRelu" | "Greater" | "Less" | "Cast", 9) => {
            Compatible
        }
        ("Scan", 9) => Blocked("Scan-9 dropped the batch axis and `sequence_lens` of Scan-8"),
        ("Slice", 10) => Adapt(adapters::slice_10),
        ("TopK", 10) => Adapt(adapters::topk_10),
        ("Upsample", 10) => Adapt(adapters::upsample_to_resize),
        ("Dropout" | "AveragePool" | "MaxPool", 10) => Compatible,
        ("Resize", 11) => Adapt(adapters::resize_11),
        ("Clip", 11) => Adapt(adapters::clip_11),
        ("Pad", 11) => Adapt(adapters::pad_11),
        ("Scatter", 11) => Adapt(adapters::scatter_11),
        (op, 11) if COMPATIBLE_11.contains(&op) => Compatible,
        ("Dropout", 12) => Adapt(adapters::dropout_12),
        (
            "ArgMax" | "ArgMin" | "Clip" | "Constant" | "GatherND" | "Max" | "Min" | "MaxPool"
            | "Pow" | "ReduceMax" | "ReduceMin",
            12,
        ) => Compatible,
        ("Softmax" | "LogSoftmax" | "Hardmax", 13) => Adapt(adapters::softmax_13),
        ("Squeeze" | "Unsqueeze" | "ReduceSum", 13) => Adapt(adapters::axes_to_input),
        ("Split", 13) => Adapt(adapters::split_13),
        // Every other change at 13 adds bfloat16 (and a few types or
        // optional inputs, e.g. the `axis` of Quantize/DequantizeLinear,
        // whose default keeps per-tensor scales per-tensor).
        (_, 13) => Compatible,
        ("BatchNormalization", 14) => Adapt(adapters::batch_normalization_14),
        (
            "Add" | "Sub" | "Mul" | "Div" | "Relu" | "Identity" | "CumSum" | "Reshape" | "GRU"
            | "LSTM" | "RNN",
            14,
        ) => Compatible,
        ("Pow" | "Shape" | "BatchNormalization", 15) => Compatible,
        ("RoiAlign", 16) => Adapt(adapters::roi_align_16),
        (
            "Identity" | "If" | "Loop" | "Scan" | "LeakyRelu" | "PRelu" | "GreaterOrEqual"
            | "LessOrEqual" | "ScatterElements" | "ScatterND" | "Where",
            16,
        ) => Compatible,
        (op, 18) if AXES_INPUT_18.contains(&op) => Adapt(adapters::axes_to_input),
        ("Split", 18) => Adapt(adapters::split_18),
        (
            "Pad" | "Resize" | "ScatterElements" | "ScatterND" | "LpPool" | "OptionalGetElement"
            | "OptionalHasElement",
            18,
        ) => Compatible,
        (
            "AveragePool" | "Cast" | "CastLike" | "Constant" | "DequantizeLinear" | "Equal"
            | "Identity" | "If" | "Loop" | "Pad" | "QuantizeLinear" | "Reshape" | "Resize" | "Scan"
            | "Shape" | "Size",
            19,
        ) => Compatible,
        ("ConstantOfShape" | "IsInf" | "IsNaN" | "ReduceMax" | "ReduceMin", 20) => Compatible,
        ("DFT", 20) => Blocked("DFT-20 moved `axis` to an input"),
        ("GridSample", 20) => Blocked("GridSample-20 renamed its modes and allows N-D input"),
        ("GroupNormalization", 21) => {
            Blocked("GroupNormalization-21 takes scale and bias per channel, not per group")
        }
        (
            "Cast" | "CastLike" | "Constant" | "ConstantOfShape" | "DequantizeLinear" | "Flatten"
            | "Identity" | "If" | "Loop" | "Pad" | "QLinearMatMul" | "QuantizeLinear" | "Reshape"
            | "Scan" | "Shape" | "Size" | "Squeeze" | "Transpose" | "Unsqueeze",
            21,
        ) => Compatible,
        _ => Blocked("no adapter for this change"),
    }
}
