//! Any bytes as a model file: the reader, inspection (shape propagation,
//! FLOPs) and every transform. Errors are fine; a panic, an abort or a hang
//! is a finding.
#![no_main]

use std::collections::BTreeMap;

use libfuzzer_sys::fuzz_target;
use onnx_workbench::{
    model::{Model, estimate_flops, infer_shapes},
    transform,
};

#[path = "../transform_specs.rs"]
mod transform_specs;

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
    for spec in transform_specs::specs() {
        if let Ok((transformed, _report)) = transform::apply(&model, &spec) {
            let _ = transformed.to_bytes();
        }
    }
});
