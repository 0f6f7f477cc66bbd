//! Any bytes as a session file: import and the text report.
#![no_main]

use libfuzzer_sys::fuzz_target;
use onnx_workbench::session::{SessionDocument, render_report};

fuzz_target!(|bytes: &[u8]| {
    let text = String::from_utf8_lossy(bytes);
    if let Ok(document) = SessionDocument::from_json(&text, std::path::Path::new("fuzzed.json")) {
        let _ = render_report(&document);
    }
});
