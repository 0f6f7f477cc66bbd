//! Transforms on every sample model and the weight-storage fixtures, checked
//! in the real ONNX Runtime: accuracy bounds, self-contained results, the
//! transform inside a profiling run and the `transform` command.

use std::process::Command;

use onnx_workbench::{
    engine::{
        ProfileConfig, RunStatus,
        verify::{self, CheckedTransform},
    },
    model::{Model, onnx::tensor_proto::DataType},
    session::{SessionDocument, render_report, write_json},
    transform::{
        self, Int8Mode, Precision, PruneMode, PruneScope, PruneSpec, TransformError, TransformSpec,
    },
};

use crate::{SAMPLE_MODELS, quick_config, repo_path, run};

/// Accuracy inputs: batch 2, and seq 4 where the model has that dim.
fn accuracy_config(model_path: &str) -> ProfileConfig {
    let has_seq = model_path.contains("transformer") || model_path.contains("multi_input");
    ProfileConfig {
        batch: Some(2),
        dims: if has_seq {
            [("seq".to_owned(), 4)].into()
        } else {
            Default::default()
        },
        ..ProfileConfig::default()
    }
}

fn checked(model_path: &str, spec: &TransformSpec) -> CheckedTransform {
    let model = Model::load(&repo_path(model_path)).expect("model loads");
    let config = match model_path {
        // The fixtures have fixed shapes and no seq dim.
        path if path.starts_with("tests/") => ProfileConfig::default(),
        _ => accuracy_config(model_path),
    };
    verify::apply_checked(&model, spec, &config)
        .unwrap_or_else(|err| panic!("{model_path} {}: {err:#}", spec.label()))
}

fn worst_rel_l2(result: &CheckedTransform) -> f64 {
    result
        .report
        .accuracy
        .as_ref()
        .expect("accuracy measured")
        .worst_relative_l2_error()
}

fn spec(precision: Precision) -> TransformSpec {
    TransformSpec {
        precision,
        ..TransformSpec::default()
    }
}

fn prune_spec(sparsity: f64, scope: PruneScope) -> TransformSpec {
    TransformSpec {
        prune: Some(PruneSpec {
            sparsity,
            scope,
            mode: PruneMode::Unstructured,
            skip_first_last: false,
            ..PruneSpec::default()
        }),
        ..TransformSpec::default()
    }
}

/// Element types of the model's initializers.
fn initializer_types(model: &Model) -> Vec<i32> {
    model
        .proto
        .graph
        .as_ref()
        .map(|g| g.initializer.iter().map(|t| t.data_type()).collect())
        .unwrap_or_default()
}

#[test]
fn fp16_on_every_sample_model_is_accurate_and_half_the_size() {
    for name in SAMPLE_MODELS {
        let result = checked(&format!("sample_models/{name}"), &spec(Precision::Fp16));
        let rel_l2 = worst_rel_l2(&result);
        assert!(rel_l2 < 1e-2, "{name}: fp16 relative L2 {rel_l2}");
        let report = &result.report;
        let fp16 = report.fp16.as_ref().expect("fp16 report");
        assert!(fp16.tensors_converted > 0, "{name}");
        // The honest case: the CPU EP runs most float16 ops through Casts.
        assert!(
            report
                .notes
                .iter()
                .any(|n| n.contains("few float16 kernels")),
            "{:?}",
            report.notes
        );
        assert!(!fp16.already_fp16);
        // float32 IO by default: one Cast per float input and output at least.
        assert!(fp16.casts_inserted >= 1, "{name}");
        assert!(
            report.size_after_bytes < report.size_before_bytes * 6 / 10,
            "{name}: {} -> {}",
            report.size_before_bytes,
            report.size_after_bytes
        );
        assert!(
            initializer_types(&result.model).contains(&(DataType::Float16 as i32)),
            "{name}"
        );
        let accuracy = report.accuracy.as_ref().expect("accuracy");
        assert_eq!(accuracy.num_samples, 8);
        for output in &accuracy.outputs {
            assert!(output.cosine_similarity > 0.9999, "{name}: {output:?}");
            if let Some(top1) = output.top1_agreement {
                assert_eq!(top1, 1.0, "{name}: {output:?}");
            }
        }
    }
}

#[test]
fn fp16_keeps_blocked_ops_in_fp32_and_fp16_io_changes_the_inputs() {
    // multi_input's Max (mask_clamp) is on the block list.
    let result = checked("sample_models/multi_input.onnx", &spec(Precision::Fp16));
    let fp16 = result.report.fp16.as_ref().expect("fp16 report");
    assert_eq!(
        fp16.kept_fp32
            .iter()
            .map(|k| (k.node.as_str(), k.op_type.as_str()))
            .collect::<Vec<_>>(),
        vec![("mask_clamp", "Max")]
    );

    let io_spec = TransformSpec {
        fp16_io: true,
        ..spec(Precision::Fp16)
    };
    let result = checked("sample_models/mlp.onnx", &io_spec);
    let graph = result.model.proto.graph.as_ref().expect("graph");
    let elem_type = |info: &onnx_workbench::model::onnx::ValueInfoProto| match info
        .r#type
        .as_ref()
        .and_then(|t| t.value.as_ref())
    {
        Some(onnx_workbench::model::onnx::type_proto::Value::TensorType(t)) => t.elem_type(),
        _ => 0,
    };
    assert_eq!(elem_type(&graph.input[0]), DataType::Float16 as i32);
    assert_eq!(elem_type(&graph.output[0]), DataType::Float16 as i32);
    assert_eq!(
        result.report.fp16.as_ref().map(|r| r.casts_inserted),
        Some(0)
    );
    assert!(worst_rel_l2(&result) < 1e-2);
}

#[test]
fn int8_dynamic_and_qdq_on_every_sample_model_stay_within_five_percent() {
    for name in SAMPLE_MODELS {
        for mode in [Int8Mode::Dynamic, Int8Mode::Qdq] {
            let int8_spec = TransformSpec {
                int8_mode: mode,
                ..spec(Precision::Int8)
            };
            let result = checked(&format!("sample_models/{name}"), &int8_spec);
            let rel_l2 = worst_rel_l2(&result);
            assert!(rel_l2 < 5e-2, "{name} {mode:?}: int8 relative L2 {rel_l2}");
            let int8 = result.report.int8.as_ref().expect("int8 report");
            let ops: Vec<&str> = result
                .model
                .proto
                .graph
                .as_ref()
                .map(|g| g.node.iter().map(|n| n.op_type()).collect())
                .unwrap_or_default();
            match mode {
                Int8Mode::Dynamic => {
                    assert!(ops.contains(&"DynamicQuantizeLinear"), "{name}: {ops:?}");
                    assert!(
                        ops.contains(&"MatMulInteger") || ops.contains(&"ConvInteger"),
                        "{name}: {ops:?}"
                    );
                }
                Int8Mode::Qdq => assert!(ops.contains(&"DequantizeLinear"), "{name}"),
            }
            assert!(
                initializer_types(&result.model).contains(&(DataType::Int8 as i32)),
                "{name}"
            );
            // Every quantized layer has one scale per output channel.
            for layer in &int8.quantized {
                assert!(layer.num_scales > 1, "{name}: {layer:?}");
                assert!(layer.weight_bytes_after < layer.weight_bytes_before / 2);
            }
        }
    }
    // The counts per model: mlp 3 Gemm, cnn 2 Conv + 2 Gemm, transformer 6
    // weight MatMuls (the two attention MatMuls have no constant weight).
    let count = |name: &str| {
        checked(&format!("sample_models/{name}"), &spec(Precision::Int8))
            .report
            .int8
            .map(|r| (r.quantized.len(), r.skipped.len()))
    };
    assert_eq!(count("mlp.onnx"), Some((3, 0)));
    assert_eq!(count("cnn.onnx"), Some((4, 0)));
    assert_eq!(count("transformer.onnx"), Some((6, 2)));
}

#[test]
fn zero_pruning_gives_identical_outputs_and_half_pruning_is_exact() {
    for name in SAMPLE_MODELS {
        let path = format!("sample_models/{name}");
        let zero = checked(&path, &prune_spec(0.0, PruneScope::PerLayer));
        let accuracy = zero.report.accuracy.as_ref().expect("accuracy");
        for output in &accuracy.outputs {
            assert_eq!(output.max_abs_error, 0.0, "{name}: {output:?}");
            assert_eq!(output.relative_l2_error, 0.0, "{name}");
        }

        let half = checked(&path, &prune_spec(0.5, PruneScope::PerLayer));
        let prune = half.report.prune.as_ref().expect("prune report");
        assert!(!prune.layers.is_empty(), "{name}");
        for layer in &prune.layers {
            // floor(0.5 · n) zeros: exactly half for even sizes.
            assert!(
                (layer.achieved_sparsity - 0.5).abs() <= 1.0 / layer.params_before as f64,
                "{name}: {layer:?}"
            );
            assert_eq!(
                layer.nonzero_params_after,
                layer.params_before - layer.params_before / 2
            );
            assert_eq!(layer.params_after, layer.params_before);
            assert!(layer.flops_before > 0, "{name}: {layer:?}");
            assert_eq!(layer.flops_after, layer.flops_before);
            assert!(layer.flops_nonzero_after < layer.flops_before);
        }
        // Dense kernels: same FLOPs, same file size.
        assert_eq!(prune.model_flops_before, prune.model_flops_after);
        assert_eq!(half.report.size_before_bytes, half.report.size_after_bytes);
        assert!(worst_rel_l2(&half) > 0.0, "{name}: pruning changed nothing");
    }
}

#[test]
fn global_pruning_and_skip_first_last_are_reported() {
    let global = checked(
        "sample_models/mlp.onnx",
        &prune_spec(0.5, PruneScope::Global),
    );
    let prune = global.report.prune.expect("prune report");
    assert!((prune.overall_sparsity - 0.5).abs() < 1e-5);
    // One global threshold: the layers end up with different sparsities.
    let sparsities: Vec<f64> = prune.layers.iter().map(|l| l.achieved_sparsity).collect();
    assert_eq!(sparsities.len(), 3);
    assert!(
        sparsities.iter().any(|s| (s - 0.5).abs() > 0.01),
        "{sparsities:?}"
    );

    let skip = TransformSpec {
        prune: Some(PruneSpec {
            sparsity: 0.5,
            scope: PruneScope::PerLayer,
            mode: PruneMode::Unstructured,
            skip_first_last: true,
            ..PruneSpec::default()
        }),
        ..TransformSpec::default()
    };
    let result = checked("sample_models/mlp.onnx", &skip);
    let prune = result.report.prune.expect("prune report");
    assert_eq!(
        prune
            .layers
            .iter()
            .map(|l| l.node.as_str())
            .collect::<Vec<_>>(),
        vec!["fc2"]
    );
    let mut skipped: Vec<&str> = prune.skipped.iter().map(|s| s.node.as_str()).collect();
    skipped.sort_unstable();
    assert_eq!(skipped, vec!["fc1", "fc3"]);

    // The transformer's attention MatMuls have no weight: skipped with a reason.
    let result = checked(
        "sample_models/transformer.onnx",
        &prune_spec(0.3, PruneScope::PerLayer),
    );
    let prune = result.report.prune.expect("prune report");
    assert_eq!(prune.layers.len(), 6);
    assert_eq!(prune.skipped.len(), 2);
    assert!(
        prune
            .skipped
            .iter()
            .all(|s| s.reason.contains("not a float32 constant"))
    );
}

#[test]
fn constant_node_and_external_weights_are_transformed_and_inlined() {
    for path in [
        "tests/data/models/constant_weights.onnx",
        "tests/data/models/external_data/model.onnx",
    ] {
        for transform_spec in [
            spec(Precision::Fp16),
            spec(Precision::Int8),
            TransformSpec {
                int8_mode: Int8Mode::Qdq,
                ..spec(Precision::Int8)
            },
            prune_spec(0.5, PruneScope::PerLayer),
        ] {
            let result = checked(path, &transform_spec);
            let label = transform_spec.label();
            // Self-contained: decodes from memory without a folder.
            let reloaded = Model::from_bytes(&result.bytes, None).expect("decodes");
            let has_external = reloaded
                .proto
                .graph
                .as_ref()
                .is_some_and(|g| g.initializer.iter().any(onnx_workbench::model::is_external));
            assert!(!has_external, "{path} {label}");
            let rel_l2 = worst_rel_l2(&result);
            let bound = match transform_spec.precision {
                Precision::Fp16 => 1e-2,
                Precision::Int8 => 5e-2,
                Precision::Fp32 => 1.0,
            };
            assert!(rel_l2 < bound, "{path} {label}: {rel_l2}");
            if let Some(prune) = &result.report.prune {
                assert!(!prune.layers.is_empty(), "{path}");
                assert!((prune.overall_sparsity - 0.5).abs() < 0.05, "{path}");
            }
            if let Some(int8) = &result.report.int8 {
                assert!(!int8.quantized.is_empty(), "{path}");
            }
        }
    }
}

#[test]
fn already_fp16_and_nothing_to_transform_are_clear() {
    let result = checked("tests/data/models/fp16_model.onnx", &spec(Precision::Fp16));
    assert!(result.report.fp16.as_ref().is_some_and(|r| r.already_fp16));
    assert!(
        result
            .report
            .notes
            .iter()
            .any(|n| n.contains("already float16")),
        "{:?}",
        result.report.notes
    );
    assert_eq!(worst_rel_l2(&result), 0.0);

    let model = Model::load(&repo_path("tests/data/models/fp16_model.onnx")).expect("loads");
    let err = transform::apply(&model, &prune_spec(0.5, PruneScope::PerLayer))
        .expect_err("nothing to prune");
    assert!(matches!(err, TransformError::NothingToPrune(_)), "{err}");
    assert_eq!(
        err.to_string(),
        "nothing to prune: no Conv, Gemm or MatMul with a constant float32 weight"
    );
    let err = transform::apply(&model, &spec(Precision::Int8)).expect_err("nothing to quantize");
    assert!(matches!(err, TransformError::NothingToQuantize(_)), "{err}");
}

#[test]
fn profile_applies_the_transform_and_the_session_keeps_its_report() {
    let record = run(
        &repo_path("sample_models/cnn.onnx"),
        ProfileConfig {
            transform: spec(Precision::Int8),
            ..quick_config()
        },
    );
    assert_eq!(record.status, RunStatus::Completed, "{:?}", record.failure);
    let report = record.transform.as_ref().expect("transform report");
    assert_eq!(report.int8.as_ref().map(|r| r.quantized.len()), Some(4));
    assert!(report.size_after_bytes < report.size_before_bytes / 3);
    assert!(worst_rel_l2_of(report) < 5e-2);
    // Per-layer timings come from the transformed graph.
    let layers = record.layers.as_ref().expect("layers");
    assert!(
        layers
            .nodes
            .iter()
            .any(|n| n.op_type.contains("Integer") || n.op_type.contains("DynamicQuantize")),
        "{:?}",
        layers.nodes.iter().map(|n| &n.op_type).collect::<Vec<_>>()
    );

    let document = SessionDocument::new(record);
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("session.json");
    write_json(&document, &path).expect("write");
    let loaded = SessionDocument::load(&path).expect("load");
    assert_eq!(loaded, document);
    let text = render_report(&loaded);
    assert!(text.contains("Transform   int8 (dynamic)"), "{text}");
    assert!(text.contains("rel L2"), "{text}");
}

fn worst_rel_l2_of(report: &transform::TransformReport) -> f64 {
    report
        .accuracy
        .as_ref()
        .map_or(f64::MAX, transform::AccuracyReport::worst_relative_l2_error)
}

#[test]
fn transform_command_writes_a_model_that_loads() {
    let dir = tempfile::tempdir().expect("tempdir");
    let out = dir.path().join("mlp_fp16.onnx");
    let model = repo_path("sample_models/mlp.onnx");
    let output = Command::new(env!("CARGO_BIN_EXE_onnx-workbench"))
        .args([
            "transform",
            model.to_str().expect("utf-8"),
            "--precision",
            "fp16",
            "--prune",
            "25%",
            "-o",
            out.to_str().expect("utf-8"),
            "--json",
        ])
        .output()
        .expect("run");
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(output.status.success(), "{stderr}");
    let json: serde_json::Value = serde_json::from_slice(&output.stdout).expect("json report");
    assert_eq!(json["spec"]["precision"], "fp16");
    assert_eq!(json["prune"]["layers"].as_array().map(Vec::len), Some(3));
    let written = Model::load(&out).expect("written model loads");
    assert_eq!(
        written.to_bytes().len() as u64,
        json["size_after_bytes"].as_u64().expect("size")
    );

    let missing = Command::new(env!("CARGO_BIN_EXE_onnx-workbench"))
        .args([
            "transform",
            repo_path("tests/data/models/fp16_model.onnx")
                .to_str()
                .expect("utf-8"),
            "--prune",
            "0.5",
            "-o",
            dir.path().join("x.onnx").to_str().expect("utf-8"),
        ])
        .output()
        .expect("run");
    assert!(!missing.status.success());
    let stderr = String::from_utf8_lossy(&missing.stderr);
    assert!(stderr.contains("nothing to prune"), "{stderr}");
    assert!(!dir.path().join("x.onnx").exists());
}

/// Model, pruned layers (node, channels before, after), a consumer's weight
/// and its dims after.
type StructuredCase = (
    &'static str,
    Vec<(&'static str, u64, u64)>,
    &'static str,
    Vec<i64>,
);

#[test]
fn structured_pruning_shrinks_tensors_and_flops_and_still_runs() {
    let structured = |sparsity: f64| TransformSpec {
        prune: Some(PruneSpec {
            sparsity,
            mode: PruneMode::Structured,
            scope: PruneScope::PerLayer,
            skip_first_last: false,
            ..PruneSpec::default()
        }),
        ..TransformSpec::default()
    };
    // (model, shrunk layers with output channels before -> after, weight
    // dims after): a layer both reads pruned channels and loses its own.
    let expected: [StructuredCase; 3] = [
        (
            "mlp.onnx",
            vec![("fc1", 512, 256), ("fc2", 256, 128), ("fc3", 10, 10)],
            "fc3.weight",
            vec![128, 10],
        ),
        (
            "cnn.onnx",
            vec![
                ("conv1", 16, 8),
                ("conv2", 32, 16),
                ("fc1", 64, 32),
                ("fc2", 10, 10),
            ],
            "conv2.weight",
            vec![16, 8, 3, 3],
        ),
        (
            "transformer.onnx",
            vec![("ffn_up_matmul", 256, 128), ("ffn_down_matmul", 64, 64)],
            "ffn_down.weight",
            vec![128, 64],
        ),
    ];
    for (name, layers, consumer_weight, consumer_dims) in expected {
        let result = checked(&format!("sample_models/{name}"), &structured(0.5));
        let prune = result.report.prune.as_ref().expect("prune report");
        let got: Vec<(&str, u64, u64)> = prune
            .layers
            .iter()
            .map(|l| {
                (
                    l.node.as_str(),
                    l.channels_before.unwrap_or(0),
                    l.channels_after.unwrap_or(0),
                )
            })
            .collect();
        assert_eq!(got, layers, "{name}");
        for layer in &prune.layers {
            assert!(
                layer.params_after <= layer.params_before / 2,
                "{name}: {layer:?}"
            );
            assert!(layer.flops_after < layer.flops_before, "{name}: {layer:?}");
        }
        assert!(prune.model_flops_after < prune.model_flops_before, "{name}");
        assert!(result.report.size_after_bytes < result.report.size_before_bytes);
        // The next layer's input channels shrank too.
        let dims = result
            .model
            .initializer(consumer_weight)
            .map(|t| t.dims.clone());
        assert_eq!(dims, Some(consumer_dims), "{name}: {consumer_weight}");
        // Every skipped layer says why.
        assert!(prune.skipped.iter().all(|s| !s.reason.is_empty()));
        // It loads and runs (the accuracy pass ran both models).
        let accuracy = result.report.accuracy.as_ref().expect("accuracy");
        assert!(accuracy.outputs.iter().all(|o| o.relative_l2_error > 0.0));
    }

    // Skips name the blocking op.
    let transformer = checked("sample_models/transformer.onnx", &structured(0.5));
    let reasons: Vec<String> = transformer
        .report
        .prune
        .expect("prune report")
        .skipped
        .into_iter()
        .map(|s| format!("{}: {}", s.node, s.reason))
        .collect();
    assert!(
        reasons
            .iter()
            .any(|r| r.starts_with("q_proj_matmul: group 0: its channels reach Reshape q_reshape")),
        "{reasons:?}"
    );
    assert!(
        reasons
            .iter()
            .any(|r| r.starts_with("out_proj_matmul: group 3: Add residual1 meets \"hidden\"")),
        "{reasons:?}"
    );

    // 0 % removes nothing and changes no output.
    let zero = checked("sample_models/cnn.onnx", &structured(0.0));
    assert_eq!(worst_rel_l2(&zero), 0.0);

    // multi_input's only layer feeds the graph output: a clear error.
    let model = Model::load(&repo_path("sample_models/multi_input.onnx")).expect("loads");
    let err = transform::apply(&model, &structured(0.5)).expect_err("nothing prunable");
    assert!(
        err.to_string()
            .contains("classifier: its output reaches the graph output \"scores\""),
        "{err}"
    );

    // Structured pruning then int8 on the smaller model.
    let combined = TransformSpec {
        precision: Precision::Int8,
        ..structured(0.5)
    };
    let result = checked("sample_models/cnn.onnx", &combined);
    assert_eq!(result.report.int8.map(|r| r.quantized.len()), Some(4));
}

#[test]
fn accuracy_uses_the_users_npy_files() {
    use ndarray_npy::WriteNpyExt as _;
    let dir = tempfile::tempdir().expect("tempdir");
    let mut input_files = Vec::new();
    for (index, value) in [0.5f32, -1.0, 2.0].into_iter().enumerate() {
        let path = dir.path().join(format!("x{index}.npy"));
        let array = ndarray::Array2::<f32>::from_shape_fn((2, 256), |(row, col)| {
            value * ((row * 256 + col) as f32 / 512.0 - 0.5)
        });
        array
            .write_npy(std::fs::File::create(&path).expect("create"))
            .expect("write npy");
        input_files.push(onnx_workbench::engine::InputFile {
            name: "input".to_owned(),
            path,
        });
    }
    let config = ProfileConfig {
        batch: Some(2),
        input_files,
        ..ProfileConfig::default()
    };
    let model = Model::load(&repo_path("sample_models/mlp.onnx")).expect("loads");
    let result = verify::apply_checked(&model, &spec(Precision::Fp16), &config).expect("fp16");
    let accuracy = result.report.accuracy.expect("accuracy");
    assert_eq!(accuracy.num_samples, 3);
    assert_eq!(accuracy.input_source, "3 input sets from .npy files");
    let logits = accuracy.outputs.first().expect("logits");
    assert_eq!(logits.name, "logits");
    // 3 files × batch 2 × 10 classes.
    assert_eq!(logits.num_elements, 60);
    assert!(logits.relative_l2_error < 1e-2, "{logits:?}");
    assert!(logits.top1_agreement.is_some());
}
