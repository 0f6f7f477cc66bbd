//! Any bytes as a model file: the reader, inspection (shape propagation,
//! FLOPs) and every transform. Errors are fine; a panic, an abort or a hang
//! is a finding.
#![no_main]

use std::collections::BTreeMap;

use libfuzzer_sys::fuzz_target;
use onnx_workbench::{
    model::{Model, estimate_flops, infer_shapes},
    transform::{
        self, Int8Mode, Precision, PruneMode, PruneScope, PruneSpec, TransformSpec,
    },
};

fuzz_target!(|bytes: &[u8]| {
    // No base folder: external data references are rejected, never read.
    let Ok(model) = Model::from_bytes(bytes, None) else {
        return;
    };
    let _ = model.summary();
    let mut dims = BTreeMap::new();
    let _ = infer_shapes(&model, &dims);
    let _ = estimate_flops(&model, &dims);
    dims.insert("batch".to_owned(), 4);
    let _ = estimate_flops(&model, &dims);
    let prune = |mode| PruneSpec {
        sparsity: 0.5,
        mode,
        scope: PruneScope::PerLayer,
        skip_first_last: false,
        ..PruneSpec::default()
    };
    let specs = [
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
    ];
    for spec in specs {
        if let Ok((transformed, _report)) = transform::apply(&model, &spec) {
            let _ = transformed.to_bytes();
        }
    }
});
