//! Bad input through the real binary: a clear message, a non-zero exit, and
//! never a panic or a hang.

use crate::{repo_path, workbench};

/// Runs `args`, expects failure, and returns stderr.
fn fails(args: &[&str]) -> String {
    let output = workbench(args);
    let stderr = String::from_utf8_lossy(&output.stderr).into_owned();
    assert!(
        !output.status.success(),
        "{args:?} should fail; stderr: {stderr}"
    );
    assert!(!stderr.contains("panicked"), "{args:?} panicked: {stderr}");
    stderr
}

const QUICK: [&str; 6] = [
    "--duration",
    "0.3s",
    "--warmup",
    "0s",
    "--quiet",
    "--no-layer-profile",
];

fn profile_fails(model: &str, extra: &[&str]) -> String {
    let model = repo_path(model);
    let mut args = vec!["profile", model.to_str().expect("utf-8 path")];
    args.extend_from_slice(&QUICK);
    args.extend_from_slice(extra);
    fails(&args)
}

#[test]
fn unreadable_model_files_are_clear_errors() {
    let dir = tempfile::tempdir().expect("tempdir");
    let empty = dir.path().join("empty.onnx");
    std::fs::write(&empty, b"").expect("write");
    let random = dir.path().join("random.onnx");
    std::fs::write(
        &random,
        (0..4096u32)
            .map(|i| (i.wrapping_mul(2_654_435_761) >> 13) as u8)
            .collect::<Vec<_>>(),
    )
    .expect("write");
    let truncated = dir.path().join("truncated.onnx");
    let mlp = std::fs::read(repo_path("sample_models/mlp.onnx")).expect("read mlp");
    std::fs::write(&truncated, &mlp[..mlp.len() / 2]).expect("write");
    let missing = dir.path().join("missing.onnx");

    let cases = [
        (missing.to_string_lossy().into_owned(), "No such file"),
        (dir.path().to_string_lossy().into_owned(), "directory"),
        (empty.to_string_lossy().into_owned(), "empty"),
        (random.to_string_lossy().into_owned(), "ONNX"),
        (truncated.to_string_lossy().into_owned(), "ONNX"),
        (
            repo_path("tests/data/models/not_a_model.pb")
                .to_string_lossy()
                .into_owned(),
            "not a valid ONNX protobuf",
        ),
    ];
    for (path, expected) in &cases {
        for command in ["inspect", "profile"] {
            let mut args = vec![command, path.as_str()];
            if command == "profile" {
                args.extend_from_slice(&QUICK);
            }
            let stderr = fails(&args);
            assert!(
                stderr.to_lowercase().contains(&expected.to_lowercase()),
                "{command} {path}: expected '{expected}' in: {stderr}"
            );
        }
    }
}

#[test]
fn escaping_external_data_is_refused_without_reading() {
    for fixture in [
        "tests/data/models/escape_external/model.onnx",
        "tests/data/models/escape_external/absolute.onnx",
    ] {
        let stderr = fails(&["inspect", repo_path(fixture).to_str().expect("utf-8")]);
        assert!(stderr.contains("external data"), "{fixture}: {stderr}");
    }
}

#[test]
fn unsupported_ops_are_explained() {
    let stderr = profile_fails("tests/data/models/unsupported_op.onnx", &[]);
    assert!(
        stderr.contains("could not create a session") && stderr.contains("NoSuchOp"),
        "{stderr}"
    );
}

#[test]
fn wrong_dims_and_batches_are_explained() {
    let stderr = profile_fails("sample_models/transformer.onnx", &["--dim", "sequence=8"]);
    assert!(
        stderr.contains("no symbolic dimension") && stderr.contains("batch, seq"),
        "{stderr}"
    );
    let stderr = profile_fails("sample_models/transformer.onnx", &["--dim", "seq=-3"]);
    assert!(stderr.contains("at least 1"), "{stderr}");
    let stderr = profile_fails("tests/data/models/fixed_batch.onnx", &["--batch", "4"]);
    assert!(stderr.contains("fixed first dimension of 1"), "{stderr}");
}

#[test]
fn input_files_with_the_wrong_shape_are_explained() {
    use ndarray_npy::WriteNpyExt as _;
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("wrong.npy");
    ndarray::Array2::<f32>::zeros((3, 5))
        .write_npy(std::fs::File::create(&path).expect("create"))
        .expect("write npy");
    let arg = format!("input={}", path.display());
    let stderr = profile_fails("sample_models/mlp.onnx", &["--input", &arg]);
    assert!(
        stderr.contains("has 5 in axis 1") && stderr.contains("fixed at 256"),
        "{stderr}"
    );
    let stderr = profile_fails("sample_models/mlp.onnx", &["--input", "nosuch=x.npy"]);
    assert!(
        stderr.contains("no input of that name") && stderr.contains("input"),
        "{stderr}"
    );
}

#[test]
fn failed_export_writes_are_reported_and_leave_nothing_behind() {
    let dir = tempfile::tempdir().expect("tempdir");
    // A destination folder that does not exist is refused before the run.
    let missing = dir.path().join("no/such/folder/session.json");
    let stderr = profile_fails(
        "sample_models/mlp.onnx",
        &["--export", missing.to_str().expect("utf-8")],
    );
    assert!(stderr.contains("does not exist"), "{stderr}");

    // A CSV "folder" that is a file fails after the run: the run's report is
    // still printed and the JSON export still written.
    let blocker = dir.path().join("csv");
    std::fs::write(&blocker, b"a file").expect("write");
    let session = dir.path().join("session.json");
    let model = repo_path("sample_models/mlp.onnx");
    let mut args = vec!["profile", model.to_str().expect("utf-8")];
    args.extend_from_slice(&QUICK);
    let session_arg = session.to_string_lossy().into_owned();
    let blocker_arg = blocker.to_string_lossy().into_owned();
    args.extend_from_slice(&["--export", &session_arg, "--export-csv", &blocker_arg]);
    let output = workbench(&args);
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(output.status.code(), Some(1), "{stderr}");
    assert!(
        stderr.contains("error: cannot create the folder"),
        "{stderr}"
    );
    assert!(String::from_utf8_lossy(&output.stdout).contains("Throughput"));
    assert!(session.is_file(), "the JSON export still succeeded");
    assert_eq!(std::fs::read(&blocker).expect("read"), b"a file");
}

#[test]
fn cuda_on_a_machine_without_it_fails_clearly() {
    let output = workbench(&["doctor"]);
    let doctor = String::from_utf8_lossy(&output.stdout);
    if doctor.contains("CUDAExecutionProvider,") || doctor.ends_with("CUDAExecutionProvider\n") {
        return; // a GPU build: covered by the GPU tests
    }
    let stderr = profile_fails("sample_models/mlp.onnx", &["--ep", "cuda"]);
    assert!(
        stderr.contains("CUDA") && stderr.contains("--allow-fallback"),
        "{stderr}"
    );
}

/// Sizes a file declares that do not fit in memory are refused before
/// anything is allocated: a model file, an external data length, a session
/// file (sparse files of 1 TiB, so nothing is written).
#[test]
fn sizes_beyond_the_machine_memory_are_refused_before_allocating() {
    let dir = tempfile::tempdir().expect("temp dir");
    let huge: u64 = 1 << 40;
    let sparse = |name: &str| {
        let path = dir.path().join(name);
        let file = std::fs::File::create(&path).expect("create");
        file.set_len(huge).expect("sparse file");
        path
    };

    let model = sparse("huge.onnx");
    let stderr = fails(&["inspect", model.to_str().expect("utf-8")]);
    assert!(
        stderr.contains("memory") && stderr.contains("huge.onnx"),
        "{stderr}"
    );

    let session = sparse("huge.json");
    let stderr = fails(&["report", session.to_str().expect("utf-8")]);
    assert!(
        stderr.contains("memory") && stderr.contains("huge.json"),
        "{stderr}"
    );

    // External data whose declared length is 1 TiB, inside a 1 TiB file.
    let mut proto = onnx_workbench::model::Model::load(&repo_path(
        "tests/data/models/external_data/model.onnx",
    ))
    .expect("fixture")
    .proto;
    let graph = proto.graph.as_mut().expect("graph");
    graph.initializer[0].dims = vec![1 << 18, 1 << 20]; // float32: 1 TiB
    for entry in &mut graph.initializer[0].external_data {
        match entry.key() {
            "location" => entry.value = Some("big.bin".to_owned()),
            "offset" => entry.value = Some("0".to_owned()),
            "length" => entry.value = Some(huge.to_string()),
            _ => {}
        }
    }
    sparse("big.bin");
    std::fs::copy(
        repo_path("tests/data/models/external_data/weights.bin"),
        dir.path().join("weights.bin"),
    )
    .expect("copy the other weights");
    let path = dir.path().join("external.onnx");
    std::fs::write(
        &path,
        onnx_workbench::model::Model::from_proto(proto, None).to_bytes(),
    )
    .expect("write");
    let out = dir.path().join("out.onnx");
    let stderr = fails(&[
        "transform",
        path.to_str().expect("utf-8"),
        "--precision",
        "fp16",
        "--output",
        out.to_str().expect("utf-8"),
    ]);
    assert!(stderr.contains("memory"), "{stderr}");
    assert!(!out.exists());
}
