//! The opset upgrade checked in the real ONNX Runtime: the upgraded float32
//! models of the opset-9 and opset-8 fixtures compute what the originals
//! compute, int8 (dynamic and QDQ) works on the opset-9 fixture by raising
//! its opset first, and `transform --opset` writes the upgraded model.

use std::process::Command;

use onnx_workbench::{
    engine::{ProfileConfig, verify},
    model::{Model, node::default_opset},
    transform::{Int8Mode, Precision, TransformSpec},
};

use crate::repo_path;

const OPSET9: &str = "tests/data/models/opset9_legacy.onnx";
const OPSET8: &str = "tests/data/models/opset8_legacy.onnx";

/// Elements per sample of each output of the opset-9 fixture.
const OPSET9_OUTPUTS: [(&str, u64); 6] = [
    ("heat", 4 * 64),
    ("probs", 10),
    ("top_values", 3),
    ("top_indices", 3),
    ("sq", 16 * 16),
    ("branch", 10),
];

fn checked(path: &str, spec: &TransformSpec) -> verify::CheckedTransform {
    let model = Model::load(&repo_path(path)).expect("fixture loads");
    verify::apply_checked(&model, spec, &ProfileConfig::default())
        .unwrap_or_else(|err| panic!("{path} {}: {err:#}", spec.label()))
}

#[test]
fn upgraded_float32_models_compute_the_same_outputs() {
    for (path, from, adapted) in [
        (
            OPSET9,
            9,
            &["Clip", "Pad", "Slice", "Softmax", "TopK", "Upsample"][..],
        ),
        (
            OPSET8,
            8,
            &["BatchNormalization", "Dropout", "Upsample"][..],
        ),
    ] {
        let spec = TransformSpec {
            target_opset: Some(13),
            ..TransformSpec::default()
        };
        let result = checked(path, &spec);
        assert_eq!(default_opset(&result.model.proto), 13, "{path}");
        assert_eq!(result.model.proto.ir_version(), 7, "{path}");
        let upgrade = result
            .report
            .opset_upgrade
            .as_ref()
            .expect("upgrade report");
        assert_eq!((upgrade.from_opset, upgrade.to_opset), (from, 13));
        for op in adapted {
            assert!(
                upgrade.adapted_nodes.contains_key(*op),
                "{path}: {op} not adapted: {upgrade:?}"
            );
        }
        if from == 9 {
            // One in the main graph, one in each branch of the If.
            assert_eq!(
                upgrade.adapted_nodes.get("Unsqueeze"),
                Some(&3),
                "{upgrade:?}"
            );
        }
        let text = result.report.render_text();
        assert!(
            text.contains(&format!("opset raised from {from} to 13")),
            "{text}"
        );
        let accuracy = result.report.accuracy.as_ref().expect("accuracy measured");
        assert!(!accuracy.outputs.is_empty());
        for output in &accuracy.outputs {
            assert!(
                output.cosine_similarity >= 0.99999 && output.max_abs_error <= 1e-5,
                "{path} {}: {output:?}",
                output.name
            );
        }
    }
}

#[test]
fn int8_raises_the_opset_of_an_opset9_model_first() {
    for mode in [Int8Mode::Dynamic, Int8Mode::Qdq] {
        let spec = TransformSpec {
            precision: Precision::Int8,
            int8_mode: mode,
            ..TransformSpec::default()
        };
        let result = checked(OPSET9, &spec);
        assert_eq!(default_opset(&result.model.proto), 13);
        let int8 = result.report.int8.as_ref().expect("int8 report");
        // conv1, conv2 and the Gemm.
        assert_eq!(int8.quantized.len(), 3, "{mode:?}: {int8:?}");
        if mode == Int8Mode::Qdq {
            // Opset 13: per-channel scales.
            assert!(int8.quantized.iter().any(|layer| layer.num_scales > 1));
        }
        let text = result.report.render_text();
        assert!(text.contains("opset raised from 9 to 13"), "{text}");
        let accuracy = result.report.accuracy.as_ref().expect("accuracy measured");
        let samples = accuracy.num_samples as u64;
        for (name, elements) in OPSET9_OUTPUTS {
            let output = accuracy
                .outputs
                .iter()
                .find(|o| o.name == name)
                .unwrap_or_else(|| panic!("{name} compared"));
            assert_eq!(output.num_elements, elements * samples, "{mode:?} {name}");
        }
        let probs = accuracy
            .outputs
            .iter()
            .find(|o| o.name == "probs")
            .expect("probs");
        assert!(probs.cosine_similarity > 0.99, "{mode:?}: {probs:?}");
    }
}

#[test]
fn transform_command_raises_the_opset() {
    let dir = std::env::temp_dir().join(format!("wb-opset-cli-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("temp dir");
    let out = dir.join("upgraded.onnx");
    let output = Command::new(env!("CARGO_BIN_EXE_onnx-workbench"))
        .args([
            "transform",
            &repo_path(OPSET9).to_string_lossy(),
            "--opset",
            "13",
            "--output",
        ])
        .arg(&out)
        .output()
        .expect("run");
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(
        output.status.success(),
        "{stdout}{}",
        String::from_utf8_lossy(&output.stderr)
    );
    assert!(
        stdout.contains("opset raised from 9 to 13 (IR 3 -> 7;"),
        "{stdout}"
    );
    let written = Model::load(&out).expect("written model loads");
    assert_eq!(default_opset(&written.proto), 13);

    // Lowering is refused with a clear message, and nothing is written.
    let lowered = dir.join("lowered.onnx");
    let output = Command::new(env!("CARGO_BIN_EXE_onnx-workbench"))
        .args([
            "transform",
            &repo_path(OPSET9).to_string_lossy(),
            "--opset",
            "8",
            "--output",
        ])
        .arg(&lowered)
        .output()
        .expect("run");
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(!output.status.success());
    assert!(
        stderr.contains("the model has opset 9; lowering it to 8 is not supported"),
        "{stderr}"
    );
    assert!(!lowered.exists());
    let _ = std::fs::remove_dir_all(&dir);
}
