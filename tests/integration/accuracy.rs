//! Accuracy numbers that can be trusted, checked in the real ONNX Runtime:
//! `.npy` files and folders that set the symbolic dims, image-like synthetic
//! inputs, warnings on degenerate reference outputs, and top-1/top-5 on the
//! trained digits sample with its labelled evaluation set.

use std::path::{Path, PathBuf};
use std::process::Command;

use ndarray_npy::WriteNpyExt as _;
use onnx_workbench::{
    engine::{InputFile, ProfileConfig, RunStatus, verify},
    model::Model,
    transform::{AccuracyReport, Precision, SyntheticKind, TransformSpec},
};

use crate::{quick_config, repo_path, run};

/// Top-1 of the digits CNN on its evaluation set, as `sample_models/generate.py`
/// printed it: 440 of 450 held-out digits.
const DIGITS_TOP1: f64 = 440.0 / 450.0;

fn write_npy(path: &Path, shape: &[usize], scale: f32) {
    let len: usize = shape.iter().product();
    let values: Vec<f32> = (0..len)
        .map(|flat| scale * ((flat * 5 % 7) as f32 / 7.0 - 0.4))
        .collect();
    ndarray::ArrayD::from_shape_vec(shape.to_vec(), values)
        .expect("shape")
        .write_npy(std::fs::File::create(path).expect("create"))
        .expect("write npy");
}

fn input(name: &str, path: &Path) -> InputFile {
    InputFile {
        name: name.to_owned(),
        path: path.to_path_buf(),
    }
}

fn int8() -> TransformSpec {
    TransformSpec {
        precision: Precision::Int8,
        ..TransformSpec::default()
    }
}

fn accuracy_of(
    model: &str,
    spec: &TransformSpec,
    config: &ProfileConfig,
) -> Result<AccuracyReport, onnx_workbench::engine::VerifyError> {
    let model = Model::load(&repo_path(model)).expect("model loads");
    verify::apply_checked(&model, spec, config)
        .map(|checked| checked.report.accuracy.expect("accuracy measured"))
}

#[test]
fn npy_files_set_the_dynamic_dims_and_fixed_dims_must_match() {
    let dir = tempfile::tempdir().expect("tempdir");
    let file = dir.path().join("x.npy");
    write_npy(&file, &[2, 3, 16, 24], 1.0);
    let config = ProfileConfig {
        input_files: vec![input("x", &file)],
        ..ProfileConfig::default()
    };
    let accuracy = accuracy_of("tests/data/models/dynamic_image.onnx", &int8(), &config)
        .expect("a [2, 3, 16, 24] file runs");
    assert_eq!(accuracy.num_samples, 1);
    assert_eq!(accuracy.input_source, "1 input set from .npy files");
    // 2 rows × 5 logits.
    assert_eq!(accuracy.outputs[0].num_elements, 10);
    assert!(accuracy.outputs[0].cosine_similarity > 0.99, "{accuracy:?}");

    // Channels are fixed at 3.
    let wrong = dir.path().join("four_channels.npy");
    write_npy(&wrong, &[1, 4, 16, 16], 1.0);
    let config = ProfileConfig {
        input_files: vec![input("x", &wrong)],
        ..ProfileConfig::default()
    };
    let err = accuracy_of("tests/data/models/dynamic_image.onnx", &int8(), &config)
        .expect_err("4 channels")
        .to_string();
    for part in ["'x'", "four_channels.npy", "axis 1", "fixed at 3", "has 4"] {
        assert!(err.contains(part), "{part} missing in: {err}");
    }

    // --dim that contradicts the file.
    let config = ProfileConfig {
        input_files: vec![input("x", &file)],
        dims: [("H".to_owned(), 32)].into(),
        ..ProfileConfig::default()
    };
    let err = accuracy_of("tests/data/models/dynamic_image.onnx", &int8(), &config)
        .expect_err("dims H=32 against 16")
        .to_string();
    assert!(err.contains("dims H=32") && err.contains("16"), "{err}");

    // The same file drives a profile run: the shape comes from the file.
    let config = ProfileConfig {
        input_files: vec![input("", &file)],
        ..quick_config()
    };
    let record = run(&repo_path("tests/data/models/dynamic_image.onnx"), config);
    assert_eq!(record.status, RunStatus::Completed, "{:?}", record.failure);
    assert_eq!(record.inputs[0].shape, vec![2, 3, 16, 24]);
}

#[test]
fn a_folder_gives_one_sample_per_file() {
    let dir = tempfile::tempdir().expect("tempdir");
    let folder = dir.path().join("images");
    std::fs::create_dir(&folder).expect("mkdir");
    let shapes = [[1, 3, 16, 24], [1, 3, 8, 40], [2, 3, 12, 12]];
    for (index, shape) in shapes.iter().enumerate() {
        write_npy(
            &folder.join(format!("{index}.npy")),
            shape,
            1.0 + index as f32,
        );
    }
    std::fs::write(folder.join("README.txt"), "not an array").expect("write");
    let config = ProfileConfig {
        input_files: vec![input("", &folder)],
        ..ProfileConfig::default()
    };
    let accuracy = accuracy_of("tests/data/models/dynamic_image.onnx", &int8(), &config)
        .expect("one sample per file, each with its own shape");
    assert_eq!(accuracy.num_samples, 3);
    assert_eq!(accuracy.input_source, "3 input sets from .npy files");
    // 1 + 1 + 2 rows of 5 logits.
    assert_eq!(accuracy.outputs[0].num_elements, 20);

    // A profile run feeds one shape: mixed shapes are a clear error.
    let config = ProfileConfig {
        input_files: vec![input("x", &folder)],
        ..quick_config()
    };
    let record = run(&repo_path("tests/data/models/dynamic_image.onnx"), config);
    assert_eq!(record.status, RunStatus::Failed);
    let failure = record.failure.unwrap_or_default();
    assert!(
        failure.contains("0.npy") && failure.contains("1.npy") && failure.contains("must agree"),
        "{failure}"
    );

    // An empty folder says so.
    let empty = dir.path().join("empty");
    std::fs::create_dir(&empty).expect("mkdir");
    let config = ProfileConfig {
        input_files: vec![input("x", &empty)],
        ..ProfileConfig::default()
    };
    let err = accuracy_of("tests/data/models/dynamic_image.onnx", &int8(), &config)
        .expect_err("empty folder")
        .to_string();
    assert!(err.contains("no .npy files"), "{err}");
}

#[test]
fn image_like_synthetic_inputs_are_used_and_named() {
    let config = ProfileConfig {
        dims: [("H".to_owned(), 32), ("W".to_owned(), 48)].into(),
        ..ProfileConfig::default()
    };
    let auto = accuracy_of("tests/data/models/dynamic_image.onnx", &int8(), &config).expect("auto");
    assert!(
        auto.input_source
            .starts_with("8 seeded image-like synthetic input sets (smooth random fields, ImageNet-normalised; seed 42)"),
        "{}",
        auto.input_source
    );
    let noise = TransformSpec {
        synthetic: SyntheticKind::Noise,
        ..int8()
    };
    let noise =
        accuracy_of("tests/data/models/dynamic_image.onnx", &noise, &config).expect("noise");
    assert!(
        noise.input_source.contains("noise"),
        "{}",
        noise.input_source
    );
    assert_ne!(auto.outputs[0], noise.outputs[0]);
    // An MLP input is not an image: noise, and said so.
    let mlp =
        accuracy_of("sample_models/mlp.onnx", &int8(), &ProfileConfig::default()).expect("mlp");
    assert!(mlp.input_source.contains("noise"), "{}", mlp.input_source);
}

#[test]
fn degenerate_reference_outputs_give_a_warning_and_healthy_ones_none() {
    let config = ProfileConfig::default();
    let saturated = accuracy_of("tests/data/models/saturated_sigmoid.onnx", &int8(), &config)
        .expect("saturated");
    assert_eq!(saturated.warnings.len(), 1, "{:?}", saturated.warnings);
    let warning = &saturated.warnings[0];
    for part in ["'y'", "saturated", "not informative", "inputs x=FILE.npy"] {
        assert!(warning.contains(part), "{part} missing in: {warning}");
    }
    let dead = accuracy_of("tests/data/models/dead_relu.onnx", &int8(), &config).expect("dead");
    assert_eq!(dead.warnings.len(), 1, "{:?}", dead.warnings);
    assert!(
        dead.warnings[0].contains("near zero"),
        "{}",
        dead.warnings[0]
    );
    for model in ["sample_models/mlp.onnx", "sample_models/cnn.onnx"] {
        let healthy = accuracy_of(model, &int8(), &config).expect("healthy");
        assert!(
            healthy.warnings.is_empty(),
            "{model}: {:?}",
            healthy.warnings
        );
    }
    // The text report puts the warning above the accuracy table.
    let model = Model::load(&repo_path("tests/data/models/dead_relu.onnx")).expect("loads");
    let text = verify::apply_checked(&model, &int8(), &config)
        .expect("int8")
        .report
        .render_text();
    let warning_at = text
        .find("WARNING: output 'y' is near zero")
        .expect("warning line");
    let table_at = text.find("Accuracy ").expect("accuracy line");
    assert!(warning_at < table_at, "{text}");
}

fn digits_config() -> ProfileConfig {
    ProfileConfig {
        input_files: vec![input(
            "image",
            &repo_path("sample_models/digits_eval_images.npy"),
        )],
        ..ProfileConfig::default()
    }
}

fn digits_labels() -> PathBuf {
    repo_path("sample_models/digits_eval_labels.npy")
}

#[test]
fn top1_on_the_trained_digits_sample_before_and_after() {
    for precision in [Precision::Int8, Precision::Fp16] {
        let mut spec = TransformSpec {
            precision,
            labels: Some(digits_labels()),
            ..TransformSpec::default()
        };
        // int8 reads the set as the run's --input; fp16 as the transform's
        // own evaluation data (what the GUI sets), with a run batch of 4.
        let config = if precision == Precision::Int8 {
            digits_config()
        } else {
            spec.eval_input = Some(repo_path("sample_models/digits_eval_images.npy"));
            ProfileConfig {
                batch: Some(4),
                ..ProfileConfig::default()
            }
        };
        let accuracy =
            accuracy_of("sample_models/digits_cnn.onnx", &spec, &config).expect("digits");
        let task = accuracy.task.expect("task accuracy");
        assert_eq!(task.output, "logits");
        assert_eq!(task.num_labels, 450);
        assert!(
            (task.top1_before - DIGITS_TOP1).abs() < 1e-12,
            "{}",
            task.top1_before
        );
        assert!(task.top1_before > 0.9);
        assert!(task.top5_before >= task.top1_before);
        // Both transforms keep the trained model useful.
        assert!(task.top1_after > 0.9, "{precision:?}: {task:?}");
        assert!(accuracy.warnings.is_empty(), "{:?}", accuracy.warnings);
    }

    // Labels that do not fit are clear errors.
    let dir = tempfile::tempdir().expect("tempdir");
    let short = dir.path().join("short.npy");
    ndarray::arr1(&[1i64, 2, 3])
        .write_npy(std::fs::File::create(&short).expect("create"))
        .expect("write");
    let spec = TransformSpec {
        labels: Some(short),
        ..int8()
    };
    let err = accuracy_of("sample_models/digits_cnn.onnx", &spec, &digits_config())
        .expect_err("3 labels for 450 rows")
        .to_string();
    assert!(
        err.contains("3 labels") && err.contains("450 rows"),
        "{err}"
    );
    let spec = TransformSpec {
        labels: Some(digits_labels()),
        labels_output: Some("nope".to_owned()),
        ..int8()
    };
    let err = accuracy_of("sample_models/digits_cnn.onnx", &spec, &digits_config())
        .expect_err("unknown output")
        .to_string();
    assert!(err.contains("nope") && err.contains("logits"), "{err}");
}

#[test]
fn transform_command_shows_top1_and_warnings() {
    let dir = tempfile::tempdir().expect("tempdir");
    let out = dir.path().join("digits_int8.onnx");
    let images = repo_path("sample_models/digits_eval_images.npy");
    let output = Command::new(env!("CARGO_BIN_EXE_onnx-workbench"))
        .args([
            "transform",
            repo_path("sample_models/digits_cnn.onnx")
                .to_str()
                .expect("utf-8"),
            "--precision",
            "int8",
            "--input",
            &format!("image={}", images.display()),
            "--labels",
            digits_labels().to_str().expect("utf-8"),
            "-o",
            out.to_str().expect("utf-8"),
        ])
        .output()
        .expect("run");
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    assert!(
        stdout.contains("task accuracy on 450 labelled rows (output 'logits'): top-1 97.78% ->"),
        "{stdout}"
    );
    assert!(Model::load(&out).is_ok());

    let output = Command::new(env!("CARGO_BIN_EXE_onnx-workbench"))
        .args([
            "transform",
            repo_path("tests/data/models/saturated_sigmoid.onnx")
                .to_str()
                .expect("utf-8"),
            "--precision",
            "int8",
            "-o",
            dir.path().join("s.onnx").to_str().expect("utf-8"),
        ])
        .output()
        .expect("run");
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(output.status.success());
    assert!(
        stdout.contains("WARNING: output 'y' is saturated"),
        "{stdout}"
    );
}

/// `profile --eval-input`: the load keeps its own (batch 1) inputs, the
/// accuracy check uses the evaluation set and its labels.
#[test]
fn profile_with_evaluation_data_keeps_the_load_inputs() {
    let images = repo_path("sample_models/digits_eval_images.npy");
    let output = Command::new(env!("CARGO_BIN_EXE_onnx-workbench"))
        .args([
            "profile",
            repo_path("sample_models/digits_cnn.onnx")
                .to_str()
                .expect("utf-8"),
            "--precision",
            "int8",
            "--eval-input",
            images.to_str().expect("utf-8"),
            "--labels",
            digits_labels().to_str().expect("utf-8"),
            "--requests",
            "20",
            "--no-layer-profile",
            "--quiet",
            "--json",
        ])
        .output()
        .expect("run");
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let session: serde_json::Value = serde_json::from_slice(&output.stdout).expect("json");
    let task = &session["transform"]["accuracy"]["task"];
    assert_eq!(task["num_labels"], 450, "{task}");
    assert!(task["top1_before"].as_f64().expect("top1") > 0.9, "{task}");
    assert_eq!(
        session["inputs"][0]["shape"][0], 1,
        "the load keeps batch 1"
    );
}

/// The digits sample in the window: opening it fills in its evaluation
/// set, and an int8 run shows top-1 before and after.
#[cfg(feature = "gui")]
#[test]
fn gui_digits_sample_uses_its_evaluation_set() {
    use egui_kittest::kittest::Queryable as _;

    use crate::ui::{harness_of_height, short_run, step_until};

    let mut harness = harness_of_height(1000.0);
    harness.step();
    harness.get_by_label("digits_cnn.onnx").click();
    step_until(&mut harness, "the model", |app| app.model.is_some());
    step_until(&mut harness, "ONNX Runtime", |app| {
        app.runtime_status.is_some()
    });
    let spec = harness.state().settings.config.transform.clone();
    let eval_input = spec.eval_input.expect("evaluation inputs filled in");
    assert!(
        eval_input.ends_with("digits_eval_images.npy"),
        "{eval_input:?}"
    );
    assert!(
        spec.labels
            .is_some_and(|labels| labels.ends_with("digits_eval_labels.npy"))
    );

    harness.get_by_label("int8").click();
    let document = short_run(&mut harness, 0.1);
    let accuracy = document
        .run
        .transform
        .as_ref()
        .and_then(|transform| transform.accuracy.clone())
        .expect("accuracy");
    let task = accuracy.task.expect("task accuracy");
    assert!((task.top1_before - DIGITS_TOP1).abs() < 1e-12, "{task:?}");
    harness.get_by_label("Live").click();
    harness.step();
    let headline = format!(
        "Task accuracy (450 labelled rows): top-1 97.78% -> {:.2}%",
        task.top1_after * 100.0
    );
    assert!(
        harness.query_by_label_contains(&headline).is_some(),
        "no label with '{headline}'"
    );
}
