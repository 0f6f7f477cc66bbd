//! The transforms every fuzzed model goes through, shared by the `cargo
//! fuzz` target and the fixed-seed harness in `tests/integration/fuzz.rs`.

use onnx_workbench::transform::{
    Int8Mode, Precision, PruneMode, PruneScope, PruneSpec, TransformSpec,
};

/// float16, int8 dynamic and QDQ, unstructured and structured pruning.
pub fn specs() -> Vec<TransformSpec> {
    let prune = |mode| PruneSpec {
        sparsity: 0.5,
        mode,
        scope: PruneScope::PerLayer,
        skip_first_last: false,
        ..PruneSpec::default()
    };
    vec![
        TransformSpec {
            precision: Precision::Fp16,
            ..TransformSpec::default()
        },
        TransformSpec {
            precision: Precision::Int8,
            int8_mode: Int8Mode::Dynamic,
            ..TransformSpec::default()
        },
        TransformSpec {
            precision: Precision::Int8,
            int8_mode: Int8Mode::Qdq,
            ..TransformSpec::default()
        },
        TransformSpec {
            prune: Some(prune(PruneMode::Unstructured)),
            ..TransformSpec::default()
        },
        TransformSpec {
            prune: Some(prune(PruneMode::Structured)),
            ..TransformSpec::default()
        },
    ]
}
