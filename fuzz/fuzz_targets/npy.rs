//! Any bytes as a `.npy` input file, read as each element type.
#![no_main]

use std::io::Write as _;

use libfuzzer_sys::fuzz_target;
use onnx_workbench::engine::inputs::files::read_npy;
use ort::value::TensorElementType;

fuzz_target!(|bytes: &[u8]| {
    let Ok(mut file) = tempfile_in_tmp() else {
        return;
    };
    if file.1.write_all(bytes).is_err() {
        return;
    }
    for dtype in [
        TensorElementType::Float32,
        TensorElementType::Float16,
        TensorElementType::Int64,
        TensorElementType::Uint8,
        TensorElementType::Bool,
        TensorElementType::String,
    ] {
        let _ = read_npy("x", dtype, &file.0);
    }
    let _ = std::fs::remove_file(&file.0);
});

/// A file of this process's own in the temporary folder.
fn tempfile_in_tmp() -> std::io::Result<(std::path::PathBuf, std::fs::File)> {
    let path = std::env::temp_dir().join(format!("onnx-workbench-fuzz-{}.npy", std::process::id()));
    let file = std::fs::File::create(&path)?;
    Ok((path, file))
}
