//! The accuracy budget on the sample models, in the real ONNX Runtime: the
//! search meets its budget with a real check of the combined model, keeps
//! the sensitive units when the budget is tight and converts everything when
//! it is loose, and `transform --sensitivity` prints the table without
//! writing a model.

use std::process::Command;

use onnx_workbench::{
    engine::{
        ProfileConfig, VerifyError,
        runtime::runtime,
        session::{ModelSource, build_session},
        verify::{self, CheckedTransform},
    },
    model::Model,
    transform::{
        self, AccuracyBudget, BudgetError, BudgetLimit, BudgetReport, Precision, TransformSpec,
    },
};

use crate::repo_path;

fn config() -> ProfileConfig {
    ProfileConfig {
        batch: Some(2),
        ..ProfileConfig::default()
    }
}

fn budget_spec(precision: Precision, limit: Option<BudgetLimit>) -> TransformSpec {
    TransformSpec {
        precision,
        accuracy_budget: Some(AccuracyBudget {
            limit,
            allow_unconverted: false,
        }),
        ..TransformSpec::default()
    }
}

fn run_budget(model: &Model, spec: &TransformSpec) -> Result<CheckedTransform, VerifyError> {
    verify::apply_checked(model, spec, &config())
}

fn budget_of(result: &CheckedTransform) -> &BudgetReport {
    result.report.budget.as_ref().expect("budget report")
}

fn min_cosine(report: &transform::AccuracyReport) -> f64 {
    report
        .outputs
        .iter()
        .map(|o| o.cosine_similarity)
        .fold(1.0, f64::min)
}

#[test]
fn budget_search_meets_its_budget_for_int8_and_fp16() {
    let model = Model::load(&repo_path("sample_models/cnn.onnx")).expect("model");
    let original = transform::self_contained(&model)
        .expect("inline")
        .to_bytes();
    let runtime = runtime().expect("runtime");
    for precision in [Precision::Int8, Precision::Fp16] {
        // The sensitivity table alone: every unit once, nothing converted.
        let table = run_budget(&model, &budget_spec(precision, None)).expect("sensitivity");
        let sensitivity = budget_of(&table);
        let n = sensitivity.sensitivity.len();
        assert!(n >= 4, "{precision:?}: {n} units");
        assert_eq!(sensitivity.sensitivity_checks, n);
        assert_eq!(sensitivity.converted_units, 0);
        assert_eq!(table.bytes, original, "sensitivity only: unconverted");
        let errors: Vec<f64> = sensitivity
            .sensitivity
            .iter()
            .map(|r| r.cosine_error)
            .collect();
        assert!(errors.windows(2).all(|w| w[0] <= w[1]), "{errors:?}");
        assert!(errors.iter().all(|e| *e > 0.0), "{precision:?}: {errors:?}");

        // Loose: everything converted with one check of the combined model.
        let loose = run_budget(
            &model,
            &budget_spec(precision, Some(BudgetLimit::MinCosine(0.5))),
        )
        .expect("loose budget");
        let report = budget_of(&loose);
        assert_eq!(report.converted_units, n);
        assert_eq!(report.search_checks, 1);
        assert!(report.keep_nodes.is_empty());
        let full_error = 1.0 - report.final_min_cosine;
        assert!(full_error > errors[0], "{precision:?}");

        // Tight: between the least sensitive unit and the whole model.
        let budget = 1.0 - (errors[0] * full_error).sqrt();
        let tight = run_budget(
            &model,
            &budget_spec(precision, Some(BudgetLimit::MinCosine(budget))),
        )
        .expect("tight budget");
        let report = budget_of(&tight);
        assert!(report.converted_units >= 1, "{precision:?}");
        assert!(report.converted_units < n, "{precision:?}: nothing kept");
        assert!(!report.keep_nodes.is_empty());
        assert!(report.final_min_cosine >= budget);
        // O(log n): the full model, then a bisection.
        let bound = (usize::BITS - n.leading_zeros()) as usize + 1;
        assert!(report.search_checks <= bound, "{}", report.search_checks);
        let kept_rows: Vec<_> = report.sensitivity.iter().filter(|r| !r.converted).collect();
        assert_eq!(kept_rows.len(), n - report.converted_units);
        for row in &kept_rows {
            for node in &row.unit.nodes {
                assert!(report.keep_nodes.contains(node), "{node} not kept");
            }
        }
        // The transform's own report agrees: kept units are left alone.
        match precision {
            Precision::Int8 => {
                let int8 = tight.report.int8.as_ref().expect("int8 report");
                assert_eq!(int8.quantized.len(), report.converted_units);
                assert!(
                    int8.skipped
                        .iter()
                        .any(|s| s.reason == transform::budget::KEPT_BY_BUDGET)
                );
            }
            _ => {
                let fp16 = tight.report.fp16.as_ref().expect("fp16 report");
                assert!(
                    fp16.kept_fp32
                        .iter()
                        .any(|k| k.reason == transform::budget::KEPT_BY_BUDGET)
                );
            }
        }
        // The written bytes load in ONNX Runtime, and an independent
        // measurement of them stays within the budget.
        build_session(runtime, ModelSource::Memory(&tight.bytes), &config(), None)
            .expect("budgeted model loads");
        let again = verify::measure_accuracy(
            runtime,
            &original,
            &tight.bytes,
            &config(),
            &TransformSpec::default(),
        )
        .expect("rerun");
        assert!(min_cosine(&again) >= budget, "{precision:?}");
        let text = tight.report.render_text();
        assert!(text.contains("Budget"), "{text}");
        assert!(text.contains("node block list"), "{text}");
    }
}

#[test]
fn unreachable_and_label_budgets_are_clear_errors() {
    let model = Model::load(&repo_path("sample_models/mlp.onnx")).expect("model");
    let err = run_budget(
        &model,
        &budget_spec(Precision::Int8, Some(BudgetLimit::MinCosine(1.0))),
    )
    .expect_err("cosine 1 cannot be met by int8");
    assert!(
        matches!(err, VerifyError::Budget(BudgetError::Unreachable { .. })),
        "{err}"
    );
    assert!(err.to_string().contains("least sensitive"), "{err}");

    let mut allowed = budget_spec(Precision::Int8, Some(BudgetLimit::MinCosine(1.0)));
    if let Some(budget) = allowed.accuracy_budget.as_mut() {
        budget.allow_unconverted = true;
    }
    let unconverted = run_budget(&model, &allowed).expect("unconverted on request");
    assert_eq!(budget_of(&unconverted).converted_units, 0);
    assert_eq!(
        unconverted.bytes,
        transform::self_contained(&model)
            .expect("inline")
            .to_bytes()
    );

    let err = run_budget(
        &model,
        &budget_spec(Precision::Int8, Some(BudgetLimit::MaxTop1Drop(0.01))),
    )
    .expect_err("no labels");
    assert!(
        matches!(err, VerifyError::Budget(BudgetError::NeedsLabels)),
        "{err}"
    );
}

#[test]
fn sensitivity_command_prints_one_row_per_unit_and_writes_nothing() {
    let dir = tempfile::tempdir().expect("tempdir");
    let out = dir.path().join("never.onnx");
    let model = repo_path("sample_models/cnn.onnx");
    let output = Command::new(env!("CARGO_BIN_EXE_onnx-workbench"))
        .args([
            "transform",
            model.to_str().expect("utf-8"),
            "--precision",
            "int8",
            "--sensitivity",
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
    assert!(!out.exists(), "--sensitivity wrote a model");
    // cnn: conv1, conv2, fc1, fc2.
    let rows: Vec<&str> = stdout
        .lines()
        .filter(|line| {
            let mut words = line.split_whitespace();
            words.next().is_some_and(|w| w.parse::<usize>().is_ok())
                && words
                    .next()
                    .is_some_and(|w| ["conv1", "conv2", "fc1", "fc2"].contains(&w))
        })
        .collect();
    assert_eq!(rows.len(), 4, "{stdout}");
    assert!(stdout.contains("no model written"), "{stdout}");

    let json = Command::new(env!("CARGO_BIN_EXE_onnx-workbench"))
        .args([
            "transform",
            model.to_str().expect("utf-8"),
            "--precision",
            "int8",
            "--sensitivity",
            "--json",
        ])
        .output()
        .expect("run");
    assert!(json.status.success());
    let value: serde_json::Value = serde_json::from_slice(&json.stdout).expect("json");
    assert_eq!(
        value["budget"]["sensitivity"].as_array().map(Vec::len),
        Some(4)
    );

    let bad = Command::new(env!("CARGO_BIN_EXE_onnx-workbench"))
        .args([
            "transform",
            model.to_str().expect("utf-8"),
            "--precision",
            "int8",
            "--accuracy-budget",
            "1.5",
            "-o",
            out.to_str().expect("utf-8"),
        ])
        .output()
        .expect("run");
    assert!(!bad.status.success());
    let stderr = String::from_utf8_lossy(&bad.stderr);
    assert!(stderr.contains("minimum cosine"), "{stderr}");

    let budgeted = Command::new(env!("CARGO_BIN_EXE_onnx-workbench"))
        .args([
            "transform",
            model.to_str().expect("utf-8"),
            "--precision",
            "int8",
            "--accuracy-budget",
            "0.9",
            "-o",
            out.to_str().expect("utf-8"),
        ])
        .output()
        .expect("run");
    assert!(
        budgeted.status.success(),
        "{}",
        String::from_utf8_lossy(&budgeted.stderr)
    );
    Model::load(&out).expect("the budgeted model is written");
}
