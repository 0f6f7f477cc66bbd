//! A structure-aware fuzz harness that runs in CI on stable Rust: a fixed
//! seed and a fixed number of cases, so a failure reproduces exactly.
//!
//! Real models (the samples and the test fixtures) are mutated at the byte
//! level (flips, truncation, inserted junk) and at the protobuf level (huge,
//! zero or negative dims, undefined dtypes, dangling and duplicate edges,
//! cycles, external-data paths and lengths, tensors whose dims disagree with
//! their data, bad attributes, unknown ops, domains and opsets). Each mutant
//! goes through everything that reads a model without ONNX Runtime: the
//! reader, `inspect` (summary, shape propagation, FLOPs) and every transform.
//! Session files get the same treatment through the session reader.
//!
//! The property: no panic, and every case ends. Errors are fine; that is
//! what bad input should give. A panic prints the case's seed and mutation;
//! the mutant is written to `target/fuzz-failures/` so it can become a
//! regression fixture in `tests/data/`.
//!
//! `FUZZ_CASES` and `FUZZ_SEED` (environment) run it longer or elsewhere.

use std::collections::BTreeMap;
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::path::Path;

use onnx_workbench::model::Model;
use onnx_workbench::model::onnx::{
    ModelProto, NodeProto, OperatorSetIdProto, StringStringEntryProto, TensorProto,
    tensor_shape_proto, type_proto,
};
use onnx_workbench::model::{estimate_flops, infer_shapes};
use onnx_workbench::session::SessionDocument;
use onnx_workbench::transform;
use prost::Message;
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};

use crate::repo_path;

/// Cases per run in CI (each runs the reader, inspect and five transforms).
const DEFAULT_CASES: u64 = 600;
const DEFAULT_SEED: u64 = 0x5eed_f022;

/// Model files the mutations start from.
const CORPUS: [&str; 10] = [
    "sample_models/mlp.onnx",
    "sample_models/cnn.onnx",
    "sample_models/transformer.onnx",
    "sample_models/multi_input.onnx",
    "tests/data/models/all_dtypes.onnx",
    "tests/data/models/constant_weights.onnx",
    "tests/data/models/fixed_batch.onnx",
    "tests/data/models/fp16_model.onnx",
    "tests/data/models/unnamed_dims.onnx",
    "tests/data/models/unsupported_op.onnx",
];

fn env_u64(name: &str, default: u64) -> u64 {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

fn corpus() -> Vec<(String, Vec<u8>)> {
    CORPUS
        .iter()
        .map(|path| {
            let bytes = std::fs::read(repo_path(path)).expect("corpus file");
            ((*path).to_owned(), bytes)
        })
        .collect()
}

/// Values a dim or a length is set to: the edges of every integer width.
const HOSTILE_INTS: [i64; 9] = [
    0,
    -1,
    -7,
    1 << 31,
    (1 << 31) - 1,
    1 << 40,
    1 << 62,
    i64::MAX,
    i64::MIN,
];

fn hostile(rng: &mut StdRng) -> i64 {
    HOSTILE_INTS[rng.random_range(0..HOSTILE_INTS.len())]
}

/// A byte-level mutation; returns what it did.
fn mutate_bytes(rng: &mut StdRng, bytes: &mut Vec<u8>) -> String {
    if bytes.is_empty() {
        return "empty".to_owned();
    }
    match rng.random_range(0..4) {
        0 => {
            let flips = rng.random_range(1..=8);
            for _ in 0..flips {
                let at = rng.random_range(0..bytes.len());
                bytes[at] ^= 1 << rng.random_range(0..8);
            }
            format!("{flips} bit flips")
        }
        1 => {
            let keep = rng.random_range(0..bytes.len());
            bytes.truncate(keep);
            format!("truncated to {keep} bytes")
        }
        2 => {
            let at = rng.random_range(0..bytes.len());
            let junk: Vec<u8> = (0..rng.random_range(1..32)).map(|_| rng.random()).collect();
            let len = junk.len();
            bytes.splice(at..at, junk);
            format!("{len} junk bytes at {at}")
        }
        _ => {
            // Overwrite a varint-looking byte with 0xff (lengths and tags
            // become huge).
            let at = rng.random_range(0..bytes.len());
            bytes[at] = 0xff;
            format!("0xff at {at}")
        }
    }
}

fn random_tensor<'a>(rng: &mut StdRng, proto: &'a mut ModelProto) -> Option<&'a mut TensorProto> {
    let graph = proto.graph.as_mut()?;
    if graph.initializer.is_empty() {
        return None;
    }
    let index = rng.random_range(0..graph.initializer.len());
    graph.initializer.get_mut(index)
}

fn random_node<'a>(rng: &mut StdRng, proto: &'a mut ModelProto) -> Option<&'a mut NodeProto> {
    let graph = proto.graph.as_mut()?;
    if graph.node.is_empty() {
        return None;
    }
    let index = rng.random_range(0..graph.node.len());
    graph.node.get_mut(index)
}

/// A protobuf-level lie; returns what it did.
fn mutate_proto(rng: &mut StdRng, proto: &mut ModelProto) -> String {
    match rng.random_range(0..14) {
        0 => {
            // A graph input dim set to a hostile value.
            let value = hostile(rng);
            let Some(graph) = proto.graph.as_mut() else {
                return "no graph".to_owned();
            };
            let Some(input) = graph.input.first_mut() else {
                return "no input".to_owned();
            };
            if let Some(type_proto::Value::TensorType(tensor)) =
                input.r#type.as_mut().and_then(|t| t.value.as_mut())
                && let Some(shape) = tensor.shape.as_mut()
                && let Some(dim) = shape.dim.first_mut()
            {
                dim.value = Some(tensor_shape_proto::dimension::Value::DimValue(value));
            }
            format!("input dim 0 = {value}")
        }
        1 => {
            let value = hostile(rng);
            match random_tensor(rng, proto) {
                Some(tensor) => {
                    let axis = rng.random_range(0..=tensor.dims.len());
                    if axis == tensor.dims.len() {
                        tensor.dims.push(value);
                    } else {
                        tensor.dims[axis] = value;
                    }
                    format!("initializer {} dim {axis} = {value}", tensor.name())
                }
                None => "no initializer".to_owned(),
            }
        }
        2 => {
            let dtype = [0, 8, 17, 23, 99, -3][rng.random_range(0..6)];
            match random_tensor(rng, proto) {
                Some(tensor) => {
                    tensor.data_type = Some(dtype);
                    format!("initializer {} dtype {dtype}", tensor.name())
                }
                None => "no initializer".to_owned(),
            }
        }
        3 => {
            // Data shorter than the dims say.
            match random_tensor(rng, proto) {
                Some(tensor) => {
                    if let Some(raw) = tensor.raw_data.as_mut() {
                        let keep = raw.len() / 2;
                        raw.truncate(keep);
                    }
                    tensor.float_data.truncate(tensor.float_data.len() / 2);
                    tensor.int64_data.truncate(tensor.int64_data.len() / 2);
                    format!("initializer {} data halved", tensor.name())
                }
                None => "no initializer".to_owned(),
            }
        }
        4 => {
            // External data with hostile location, offset and length.
            let location = [
                "../../etc/passwd",
                "/abs/path.bin",
                "missing.bin",
                "",
                "cnn.onnx",
            ][rng.random_range(0..5)];
            let offset = hostile(rng);
            let length = hostile(rng);
            match random_tensor(rng, proto) {
                Some(tensor) => {
                    tensor.raw_data = None;
                    tensor.data_location = Some(1);
                    tensor.external_data = vec![
                        StringStringEntryProto {
                            key: Some("location".to_owned()),
                            value: Some(location.to_owned()),
                        },
                        StringStringEntryProto {
                            key: Some("offset".to_owned()),
                            value: Some(offset.to_string()),
                        },
                        StringStringEntryProto {
                            key: Some("length".to_owned()),
                            value: Some(length.to_string()),
                        },
                    ];
                    format!("external data {location:?} offset {offset} length {length}")
                }
                None => "no initializer".to_owned(),
            }
        }
        5 => match random_node(rng, proto) {
            Some(node) if !node.input.is_empty() => {
                let at = rng.random_range(0..node.input.len());
                node.input[at] = "dangling_edge".to_owned();
                format!("node {} input {at} dangling", node.name())
            }
            _ => "no node input".to_owned(),
        },
        6 => {
            // Two nodes write the same tensor.
            let Some(graph) = proto.graph.as_mut() else {
                return "no graph".to_owned();
            };
            if graph.node.len() < 2 {
                return "one node".to_owned();
            }
            let a = rng.random_range(0..graph.node.len());
            let b = rng.random_range(0..graph.node.len());
            let name = graph.node[a].output.first().cloned().unwrap_or_default();
            if let Some(out) = graph.node[b].output.first_mut() {
                *out = name.clone();
            }
            format!("node {b} also writes {name:?}")
        }
        7 => {
            // A cycle: an early node reads a late node's output.
            let Some(graph) = proto.graph.as_mut() else {
                return "no graph".to_owned();
            };
            let len = graph.node.len();
            if len < 2 {
                return "one node".to_owned();
            }
            let late = graph.node[len - 1]
                .output
                .first()
                .cloned()
                .unwrap_or_default();
            if let Some(input) = graph.node[0].input.first_mut() {
                *input = late.clone();
            }
            format!("node 0 reads {late:?} (cycle)")
        }
        8 => {
            let op = ["NoSuchOp", "", "Conv", "Loop", "If", "Scan"][rng.random_range(0..6)];
            match random_node(rng, proto) {
                Some(node) => {
                    node.op_type = Some(op.to_owned());
                    format!("node {} op {op:?}", node.name())
                }
                None => "no node".to_owned(),
            }
        }
        9 => {
            let domain =
                ["com.example", "ai.onnx.ml", "com.microsoft", "ai.onnx"][rng.random_range(0..4)];
            match random_node(rng, proto) {
                Some(node) => {
                    node.domain = Some(domain.to_owned());
                    format!("node {} domain {domain}", node.name())
                }
                None => "no node".to_owned(),
            }
        }
        10 => {
            let version = [0, 1, 6, 9, 999, -1][rng.random_range(0..6)];
            proto.opset_import = vec![OperatorSetIdProto {
                domain: Some(String::new()),
                version: Some(version),
            }];
            format!("opset {version}")
        }
        11 => {
            // Integer attributes set to hostile values (group 0, stride 0,
            // negative kernel, huge axis...).
            let value = hostile(rng);
            match random_node(rng, proto) {
                Some(node) => {
                    let mut changed = Vec::new();
                    for attr in &mut node.attribute {
                        if attr.i.is_some() {
                            attr.i = Some(value);
                            changed.push(attr.name().to_owned());
                        }
                        for v in &mut attr.ints {
                            *v = value;
                        }
                    }
                    format!("node {} attributes {changed:?} = {value}", node.name())
                }
                None => "no node".to_owned(),
            }
        }
        12 => {
            // Drop a random node: its consumers read nothing.
            let Some(graph) = proto.graph.as_mut() else {
                return "no graph".to_owned();
            };
            if graph.node.is_empty() {
                return "no node".to_owned();
            }
            let at = rng.random_range(0..graph.node.len());
            graph.node.remove(at);
            format!("node {at} removed")
        }
        _ => {
            // Graph outputs renamed to nothing, or the graph removed.
            if rng.random_bool(0.5) {
                proto.graph = None;
                "graph removed".to_owned()
            } else {
                if let Some(output) = proto.graph.as_mut().and_then(|g| g.output.first_mut()) {
                    output.name = Some("nowhere".to_owned());
                }
                "output renamed".to_owned()
            }
        }
    }
}

/// The transforms every mutant goes through (shared with the `cargo fuzz`
/// target).
#[path = "../../fuzz/transform_specs.rs"]
mod transform_specs;
use transform_specs::specs;

/// Everything that reads a model without ONNX Runtime. Errors are fine.
fn exercise_model(bytes: &[u8], base_dir: &Path) {
    let Ok(model) = Model::from_bytes(bytes, Some(base_dir)) else {
        return;
    };
    let _ = model.summary();
    let mut dims = BTreeMap::new();
    let _ = infer_shapes(&model, &dims);
    let _ = estimate_flops(&model, &dims);
    dims.insert("batch".to_owned(), 4);
    dims.insert("seq".to_owned(), 3);
    let _ = estimate_flops(&model, &dims);
    for spec in specs() {
        if let Ok((transformed, _report)) = transform::apply(&model, &spec) {
            let _ = transformed.to_bytes();
        }
    }
}

/// Saves a failing mutant for a regression fixture; returns where.
fn save_failure(name: &str, bytes: &[u8]) -> String {
    let dir = repo_path("target/fuzz-failures");
    let _ = std::fs::create_dir_all(&dir);
    let path = dir.join(name);
    let _ = std::fs::write(&path, bytes);
    path.display().to_string()
}

#[test]
fn mutated_models_never_panic() {
    let cases = env_u64("FUZZ_CASES", DEFAULT_CASES);
    let seed = env_u64("FUZZ_SEED", DEFAULT_SEED);
    let corpus = corpus();
    let base_dir = repo_path("tests/data/models");
    let mut failures = Vec::new();
    for case in 0..cases {
        let mut rng = StdRng::seed_from_u64(seed.wrapping_add(case));
        let (source, original) = &corpus[rng.random_range(0..corpus.len())];
        let mut bytes = original.clone();
        let mut what = Vec::new();
        for _ in 0..rng.random_range(1..=3) {
            if rng.random_bool(0.35) {
                what.push(mutate_bytes(&mut rng, &mut bytes));
            } else if let Ok(mut proto) = ModelProto::decode(bytes.as_slice()) {
                what.push(mutate_proto(&mut rng, &mut proto));
                bytes = proto.encode_to_vec();
            }
        }
        let outcome = catch_unwind(AssertUnwindSafe(|| exercise_model(&bytes, &base_dir)));
        if let Err(panic) = outcome {
            let message = panic
                .downcast_ref::<String>()
                .cloned()
                .or_else(|| panic.downcast_ref::<&str>().map(|s| (*s).to_owned()))
                .unwrap_or_default();
            let saved = save_failure(&format!("case-{seed}-{case}.onnx"), &bytes);
            failures.push(format!(
                "case {case} (seed {seed}) from {source}: {} -> panic: {message} (saved {saved})",
                what.join("; ")
            ));
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

#[test]
fn mutated_session_files_never_panic() {
    let cases = env_u64("FUZZ_CASES", DEFAULT_CASES) / 2;
    let seed = env_u64("FUZZ_SEED", DEFAULT_SEED);
    let original = std::fs::read(repo_path("tests/data/sessions/v1.json")).expect("session");
    let path = Path::new("fuzzed-session.json");
    let mut failures = Vec::new();
    for case in 0..cases {
        let mut rng = StdRng::seed_from_u64(seed.wrapping_add(case));
        let mut bytes = original.clone();
        let what = mutate_bytes(&mut rng, &mut bytes);
        let text = String::from_utf8_lossy(&bytes);
        let outcome = catch_unwind(AssertUnwindSafe(|| {
            if let Ok(document) = SessionDocument::from_json(&text, path) {
                let _ = onnx_workbench::session::render_report(&document);
            }
        }));
        if outcome.is_err() {
            let saved = save_failure(&format!("session-{seed}-{case}.json"), &bytes);
            failures.push(format!("case {case}: {what} (saved {saved})"));
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

/// Mutants that once panicked, kept as fixtures.
#[test]
fn past_fuzz_failures_stay_fixed() {
    let dir = repo_path("tests/data/fuzz");
    let mut count = 0;
    for entry in std::fs::read_dir(&dir).expect("tests/data/fuzz") {
        let path = entry.expect("entry").path();
        if path.extension().is_some_and(|e| e == "onnx") {
            let bytes = std::fs::read(&path).expect("fixture");
            let outcome = catch_unwind(AssertUnwindSafe(|| exercise_model(&bytes, &dir)));
            assert!(outcome.is_ok(), "{} panics again", path.display());
            count += 1;
        }
    }
    assert!(count > 0, "no fixtures in {}", dir.display());
}
