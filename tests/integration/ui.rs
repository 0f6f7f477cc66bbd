//! The desktop workbench driven through its widgets (egui_kittest), against
//! the real engine: open a sample, configure, run, stop, export, reopen,
//! compare.

use std::time::{Duration, Instant};

use egui_kittest::{Harness, kittest::Queryable as _};
use onnx_workbench::{
    engine::RunStatus,
    ui::{GuiOptions, PickPurpose, Tab, WorkbenchApp},
};

fn harness() -> Harness<'static, WorkbenchApp> {
    harness_of_height(1000.0)
}

/// The workbench in a window 1400 wide and `height` tall, started as the
/// binary starts it (with the command line's mix files and commands).
pub(crate) fn harness_of_height(height: f32) -> Harness<'static, WorkbenchApp> {
    harness_with(
        height,
        GuiOptions {
            command_line: Some(onnx_workbench::cli::command_line_for_window()),
            ..GuiOptions::default()
        },
    )
}

/// The workbench started with `options` (as the `gui` command's flags
/// give them), in a window 1400 wide and `height` tall.
pub(crate) fn harness_with(height: f32, options: GuiOptions) -> Harness<'static, WorkbenchApp> {
    Harness::builder()
        .with_size(egui::vec2(1400.0, height))
        .wgpu()
        .build_eframe(move |cc| WorkbenchApp::new(cc, options.clone()))
}

/// Steps the UI in real time until `done` holds.
pub(crate) fn step_until(
    harness: &mut Harness<'static, WorkbenchApp>,
    what: &str,
    done: impl Fn(&WorkbenchApp) -> bool,
) {
    let started = Instant::now();
    while !done(harness.state()) {
        assert!(
            started.elapsed() < Duration::from_secs(60),
            "timed out waiting for {what}"
        );
        harness.step();
        std::thread::sleep(Duration::from_millis(20));
    }
    harness.step();
}

/// Runs the loaded model briefly through the Run button (0.5 s measured
/// after `warmup_secs`, no per-layer pass) and returns the new session,
/// which must have completed.
pub(crate) fn short_run(
    harness: &mut Harness<'static, WorkbenchApp>,
    warmup_secs: f64,
) -> std::sync::Arc<onnx_workbench::session::SessionDocument> {
    harness
        .get_by_label("Duration (s)")
        .set_value_accesskit(0.5);
    harness
        .get_by_label("Warm-up (s)")
        .set_value_accesskit(warmup_secs);
    harness.get_by_label("Off").click();
    harness.step();
    run_to_the_end(harness)
}

/// Presses Run once ONNX Runtime is found, waits for the run to finish and
/// returns its session, which must have completed.
pub(crate) fn run_to_the_end(
    harness: &mut Harness<'static, WorkbenchApp>,
) -> std::sync::Arc<onnx_workbench::session::SessionDocument> {
    let document = run_and_wait(harness);
    assert_eq!(
        document.run.status,
        RunStatus::Completed,
        "{:?}",
        document.run.failure
    );
    document
}

/// Presses Run once ONNX Runtime is found and returns the session the run
/// left, whether it completed or failed.
fn run_and_wait(
    harness: &mut Harness<'static, WorkbenchApp>,
) -> std::sync::Arc<onnx_workbench::session::SessionDocument> {
    step_until(harness, "ONNX Runtime", |app| app.runtime_status.is_some());
    let before = harness.state().sessions.history.len();
    harness.get_by_label("Run").click();
    step_until(harness, "the run", move |app| {
        !app.is_running() && app.sessions.history.len() > before
    });
    harness
        .state()
        .shown_session()
        .expect("session")
        .document
        .clone()
}

/// Opens the MLP sample from the start page, waits for ONNX Runtime, and
/// sets short sweep points: 1 s measured after 0.2 s of warm-up, no
/// per-layer pass.
fn open_mlp_with_short_points(harness: &mut Harness<'static, WorkbenchApp>) {
    harness.get_by_label("mlp.onnx").click();
    step_until(harness, "the model", |app| app.model.is_some());
    step_until(harness, "ONNX Runtime", |app| app.runtime_status.is_some());
    harness
        .get_by_label("Duration (s)")
        .set_value_accesskit(1.0);
    harness.get_by_label("Warm-up (s)").set_value_accesskit(0.2);
    harness.get_by_label("Off").click();
    harness.step();
}

#[test]
fn open_configure_run_stop_export_reopen_and_compare() {
    let mut harness = harness();
    harness.step();

    // Open a bundled sample from the start page.
    harness.get_by_label("mlp.onnx").click();
    step_until(&mut harness, "the model to load", |app| app.model.is_some());
    assert_eq!(harness.state().tab, Tab::Model);
    assert!(
        harness
            .state()
            .model
            .as_ref()
            .is_some_and(|m| m.batch_symbol.as_deref() == Some("batch"))
    );

    // Configure through the labelled controls.
    harness.get_by_label("Batch").set_value_accesskit(4.0);
    harness
        .get_by_label("Intra-op threads")
        .set_value_accesskit(1.0);
    harness.get_by_label("Concurrency").set_value_accesskit(2.0);
    harness
        .get_by_label("Duration (s)")
        .set_value_accesskit(1.0);
    harness.get_by_label("Warm-up (s)").set_value_accesskit(0.2);
    harness
        .get_by_label("Profiled runs")
        .set_value_accesskit(5.0);
    harness.step();
    let config = harness.state().settings.config.clone();
    assert_eq!(config.batch, Some(4));
    assert_eq!(config.intra_threads, 1);
    assert_eq!(config.concurrency, 2);
    assert_eq!(config.duration_secs, Some(1.0));

    // Run to the end: throughput and per-layer rows come from real data.
    step_until(&mut harness, "ONNX Runtime", |app| {
        app.runtime_status.is_some()
    });
    harness.get_by_label("Run").click();
    step_until(&mut harness, "the run to start", WorkbenchApp::is_running);
    step_until(&mut harness, "the run to finish", |app| {
        !app.is_running() && !app.sessions.history.is_empty()
    });
    let first = harness
        .state()
        .shown_session()
        .expect("a session")
        .document
        .clone();
    assert_eq!(
        first.run.status,
        RunStatus::Completed,
        "{:?}",
        first.run.failure
    );
    let summary = first.run.summary.as_ref().expect("summary");
    assert!(summary.inferences_per_sec > 0.0);
    assert_eq!(summary.batch_size, 4);
    harness.get_by_label("Live").click();
    harness.step();
    // The headline shows the measured figure.
    let headline = format!("{:.0} inferences/s", summary.inferences_per_sec);
    assert!(
        harness.query_by_label(&headline).is_some(),
        "no '{headline}' label"
    );
    harness.get_by_label("Layers").click();
    harness.step();
    let layers = first.run.layers.as_ref().expect("per-layer timings");
    let top_node = &layers.nodes[0].node;
    assert!(
        harness.query_by_label(top_node).is_some(),
        "row for {top_node}"
    );

    // A long run stopped early keeps its partial results.
    harness
        .get_by_label("Duration (s)")
        .set_value_accesskit(120.0);
    harness.step();
    harness.get_by_label("Run").click();
    step_until(
        &mut harness,
        "the second run to start",
        WorkbenchApp::is_running,
    );
    std::thread::sleep(Duration::from_millis(1500));
    harness.step();
    harness.get_by_label("Stop").click();
    step_until(&mut harness, "the stop", |app| {
        !app.is_running() && app.sessions.history.len() == 2
    });
    let second = harness
        .state()
        .shown_session()
        .expect("second")
        .document
        .clone();
    assert_eq!(second.run.status, RunStatus::Stopped);
    assert!(
        second
            .run
            .summary
            .as_ref()
            .is_some_and(|s| s.requests_ok > 0)
    );

    // Export (the path a save dialog would return) and reopen it.
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("stopped.json");
    harness
        .state_mut()
        .export(PickPurpose::ExportJson, path.clone());
    step_until(&mut harness, "the export", |app| {
        app.messages
            .iter()
            .any(|m| m.text.contains("Wrote session"))
    });
    assert!(path.is_file());
    harness.state_mut().open_session(path.clone());
    step_until(&mut harness, "the reopen", |app| {
        app.sessions.history.len() == 3
    });
    let reopened = harness.state().shown_session().expect("reopened");
    assert_eq!(reopened.from_file.as_deref(), Some(path.as_path()));
    assert_eq!(*reopened.document, *second);

    // Compare the completed run with the stopped one.
    harness.get_by_label("Sessions").click();
    harness.state_mut().sessions.compare_pair = (Some(0), Some(1));
    harness.step();
    harness.step();
    assert!(harness.query_by_label("Comparison").is_some());
    assert!(harness.query_by_label_contains("Layers in both").is_some());
}

#[test]
fn a_bad_model_is_an_error_message_and_the_app_keeps_running() {
    let mut harness = harness();
    harness.step();
    let dir = tempfile::tempdir().expect("tempdir");
    let bad = dir.path().join("bad.onnx");
    std::fs::write(&bad, b"definitely not a model").expect("write");
    harness.state_mut().open_model(bad);
    step_until(&mut harness, "the error", |app| {
        app.messages.iter().any(|m| m.is_error)
    });
    assert!(harness.state().model.is_none());
    assert!(
        harness
            .query_by_label_contains("Could not open the model")
            .is_some()
    );
    // The app still works: open a good model afterwards.
    harness.get_by_label("cnn.onnx").click();
    step_until(&mut harness, "the model", |app| app.model.is_some());
}

#[test]
fn the_model_tab_counts_flops_at_the_config_batch() {
    let mut harness = harness();
    harness.step();
    harness.get_by_label("cnn.onnx").click();
    step_until(&mut harness, "the model", |app| app.model.is_some());
    // At batch 1 the summary's own count serves: no second line.
    assert!(
        harness
            .query_by_label_contains("at the Config's shapes")
            .is_none()
    );
    let at_one = harness
        .state()
        .model
        .as_ref()
        .and_then(|model| model.summary.flops.as_ref())
        .expect("counted")
        .total;
    harness.get_by_label("Batch").set_value_accesskit(4.0);
    let started = Instant::now();
    let expected = format!(
        "{} per inference at the Config's shapes (image=4×1×28×28)",
        onnx_workbench::model::format_flops(4 * at_one)
    );
    while harness.query_by_label_contains(&expected).is_none() {
        assert!(
            started.elapsed() < Duration::from_secs(60),
            "no count at batch 4"
        );
        harness.step();
        std::thread::sleep(Duration::from_millis(20));
    }
}

#[test]
fn the_precision_control_transforms_the_model_for_real() {
    let mut harness = harness();
    harness.step();
    harness.get_by_label("cnn.onnx").click();
    step_until(&mut harness, "the model", |app| app.model.is_some());
    harness.get_by_label("fp16").click();
    let document = short_run(&mut harness, 0.0);
    let transform = document.run.transform.as_ref().expect("transform report");
    assert!(transform.size_after_bytes < transform.size_before_bytes);
    let accuracy = transform.accuracy.as_ref().expect("accuracy measured");
    assert!(accuracy.worst_relative_l2_error() < 1e-2);
    // The speed against the original, measured beside the accuracy.
    let speed = accuracy.speed.as_ref().expect("speed measured");
    assert!(speed.pairs >= 5 && speed.speedup > 0.0, "{speed:?}");
    assert!(speed.speedup_low <= speed.speedup && speed.speedup <= speed.speedup_high);
    assert!(harness.query_by_label_contains("Speed: ").is_some());
}

#[test]
fn an_accuracy_budget_runs_and_shows_the_sensitivity_chart() {
    let mut harness = harness();
    harness.step();
    harness.get_by_label("cnn.onnx").click();
    step_until(&mut harness, "the model", |app| app.model.is_some());
    harness.get_by_label("int8").click();
    harness.step();
    harness.get_by_label("min cosine").click();
    harness.step();
    harness
        .get_by_label("Minimum cosine")
        .set_value_accesskit(0.9999);
    let document = short_run(&mut harness, 0.0);
    let transform = document.run.transform.as_ref().expect("transform report");
    let budget = transform.budget.as_ref().expect("budget report");
    assert_eq!(budget.sensitivity.len(), 4);
    assert!(budget.final_min_cosine >= 0.9999);
    let chart = onnx_workbench::ui::SensitivityChart::from_report(budget);
    assert_eq!(chart.bars.len(), 4);
    // Opening the transform report shows the chart and its caption.
    harness.get_by_label("Live").click();
    harness.step();
    harness
        .get_by_label(&format!("Transform: {}", transform.spec.label()))
        .click();
    harness.step();
    harness.step();
    assert!(
        harness.query_by_label(&chart.caption).is_some(),
        "no '{}'",
        chart.caption
    );
}

#[test]
fn the_tune_tab_sweeps_plots_the_points_and_opens_one() {
    let mut harness = harness();
    harness.step();

    // Without a model, Start says why it is disabled.
    harness.get_by_label("Tune").click();
    harness.step();
    assert!(harness.query_by_label("Open a model first.").is_some());

    harness.get_by_label("Start").click();
    harness.step();
    open_mlp_with_short_points(&mut harness);

    // A two-point grid over concurrency, typed into the form.
    harness.get_by_label("Tune").click();
    harness.step();
    harness.get_by_label("concurrency").click();
    harness.step();
    harness.get_by_label("concurrency").type_text("1,2");
    harness.step();
    harness.get_by_label("Confirm the recommendation").click();
    harness.step();
    assert_eq!(harness.state().tune.values[0], "1,2");
    assert!(!harness.state().tune.confirm);
    harness.get_by_label("Start sweep").click();
    step_until(
        &mut harness,
        "the sweep to start",
        WorkbenchApp::is_sweeping,
    );
    // While it runs, the progress is on screen and a run cannot start.
    assert!(harness.query_by_label("Stop sweep").is_some());
    harness.state_mut().start_run();
    assert!(!harness.state().is_running());
    assert!(
        harness
            .state()
            .messages
            .iter()
            .any(|m| m.is_error && m.text.contains("A sweep is in progress"))
    );

    // Bounded wait: two short points, each retried at most twice.
    let started = Instant::now();
    while harness.state().is_sweeping() {
        assert!(
            started.elapsed() < Duration::from_secs(180),
            "the sweep did not finish"
        );
        harness.step();
        std::thread::sleep(Duration::from_millis(50));
    }
    harness.step();
    harness.step();
    let result = harness
        .state()
        .sweep_result()
        .expect("a sweep result")
        .clone();
    assert_eq!(result.points.len(), 2, "{:?}", result.skipped);
    let table = onnx_workbench::ui::PointTable::from_result(&result);
    assert_eq!(table.rows.len(), 2);
    for row in &table.rows {
        assert!(row.throughput_per_sec > 0.0, "{row:?}");
        assert!(row.latency_micros.is_some_and(|l| l > 0.0), "{row:?}");
    }
    assert_eq!(table.rows[1].label, "concurrency=2");
    assert!(!table.pareto.is_empty());
    // The table shows each measured point as a button.
    assert!(harness.query_by_label("concurrency=1").is_some());

    // The sweep exports as the CLI writes it.
    assert!(harness.query_by_label("Export sweep…").is_some());
    let dir = tempfile::tempdir().expect("temp dir");
    let json = dir.path().join("sweep.json");
    let csv = dir.path().join("sweep_points.csv");
    harness
        .state_mut()
        .export(onnx_workbench::ui::PickPurpose::ExportSweep, json.clone());
    step_until(&mut harness, "the sweep JSON", |_| json.exists());
    harness
        .state_mut()
        .export(onnx_workbench::ui::PickPurpose::ExportSweepCsv, csv.clone());
    step_until(&mut harness, "the sweep CSV", |_| csv.exists());
    let saved = onnx_workbench::session::SweepDocument::load(&json).expect("a sweep document");
    assert_eq!(saved.points.len(), 2);
    let rows = std::fs::read_to_string(&csv).expect("csv");
    assert_eq!(rows.lines().count(), 3, "{rows}");

    // Clicking a point's row shows that point's session.
    harness.get_by_label("concurrency=2").click();
    harness.step();
    harness.step();
    assert_eq!(harness.state().tab, Tab::Live);
    let shown = harness
        .state()
        .shown_session()
        .expect("shown")
        .document
        .clone();
    assert_eq!(shown.run, result.points[1].record);
    assert_eq!(shown.run.config.concurrency, 2);
    let headline = format!(
        "{:.0} inferences/s",
        shown
            .run
            .summary
            .as_ref()
            .expect("summary")
            .inferences_per_sec
    );
    assert!(
        harness.query_by_label(&headline).is_some(),
        "no '{headline}'"
    );
}

#[test]
fn stopping_a_sweep_keeps_the_measured_points() {
    let mut harness = harness();
    harness.step();
    open_mlp_with_short_points(&mut harness);
    harness.get_by_label("Tune").click();
    harness.step();
    harness.get_by_label("concurrency").click();
    harness.step();
    harness.get_by_label("concurrency").type_text("1,2,3,4,5,6");
    harness.step();
    harness.get_by_label("Start sweep").click();
    step_until(
        &mut harness,
        "the sweep to start",
        WorkbenchApp::is_sweeping,
    );
    // Stop once the first point has been published (progress shows it).
    let started = Instant::now();
    while harness.query_by_label("concurrency=1").is_none() {
        assert!(
            started.elapsed() < Duration::from_secs(60),
            "no point was published"
        );
        assert!(harness.state().is_sweeping(), "the sweep ended on its own");
        harness.step();
        std::thread::sleep(Duration::from_millis(50));
    }
    assert!(harness.query_by_label_contains("1 done").is_some());
    harness.get_by_label("Stop sweep").click();
    step_until(&mut harness, "the stop", |app| !app.is_sweeping());
    let result = harness.state().sweep_result().expect("a result").clone();
    assert_eq!(result.status, onnx_workbench::tune::SweepStatus::Stopped);
    assert!(!result.points.is_empty());
    assert!(result.points.len() < 6);
    assert!(result.points[0].throughput_per_sec() > 0.0);
    assert!(
        result
            .recommendation
            .as_ref()
            .is_none_or(|r| r.confirmation.is_none())
    );
    // The partial result stays on screen and its points still open.
    assert!(
        harness
            .query_by_label_contains("Sweep stopped by the user")
            .is_some()
    );
    harness.get_by_label("concurrency=1").click();
    harness.step();
    let shown = harness
        .state()
        .shown_session()
        .expect("shown")
        .document
        .clone();
    assert_eq!(shown.run, result.points[0].record);
}

/// `gui MODEL --autorun --export FILE`: an unattended run writes its
/// session when it finishes (how the long GUI soak is recorded).
#[test]
fn an_autorun_writes_its_session_when_asked() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("gui_session.json");
    let options = GuiOptions {
        model: Some(crate::repo_path("sample_models/mlp.onnx")),
        autorun: true,
        duration_secs: Some(0.5),
        export_session: Some(path.clone()),
        ..GuiOptions::default()
    };
    let mut harness = harness_with(900.0, options);
    let written = path.clone();
    step_until(&mut harness, "the session file", move |_| written.is_file());
    let document = onnx_workbench::session::SessionDocument::load(&path).expect("a valid session");
    assert_eq!(document.run.status, RunStatus::Completed);
    assert!(!document.run.telemetry.is_empty() || document.run.summary.is_some());
}

/// Unnamed dims (`[?, 3, ?, ?]`) are set one by one in the Config panel,
/// and the run uses exactly that shape.
#[test]
fn unnamed_dims_are_set_one_by_one_in_the_config_panel() {
    use egui_kittest::kittest::NodeT as _;
    let options = GuiOptions {
        model: Some(crate::repo_path("tests/data/models/two_unnamed_dims.onnx")),
        ..GuiOptions::default()
    };
    let mut harness = harness_with(1000.0, options);
    step_until(&mut harness, "the model", |app| app.model.is_some());
    for (index, value) in [(0, 2.0), (1, 5.0), (2, 7.0)] {
        let fields: Vec<_> = harness
            .query_all_by_label("Shape 'x'")
            .filter(|node| node.accesskit_node().role() == egui::accesskit::Role::SpinButton)
            .collect();
        assert_eq!(fields.len(), 3, "one field per unnamed dim");
        fields[index].set_value_accesskit(value);
        harness.step();
    }
    let document = short_run(&mut harness, 0.0);
    assert_eq!(document.run.inputs[0].shape, [2, 3, 5, 7]);
    assert_eq!(document.run.config.shapes["x"], [2, 3, 5, 7]);
}

/// An open-loop run shows the live validity badge in the top bar, and its
/// session carries the send lateness the Live tab plots.
#[test]
fn an_open_loop_run_shows_its_validity_badge_and_lateness() {
    let options = GuiOptions {
        model: Some(crate::repo_path("sample_models/mlp.onnx")),
        autorun: true,
        duration_secs: Some(3.0),
        rate: Some(300.0),
        ..GuiOptions::default()
    };
    let mut harness = harness_with(900.0, options);
    step_until(&mut harness, "a live verdict", |app| {
        app.live_validity().is_some()
    });
    let verdict = harness.state().live_validity().expect("verdict").verdict;
    let badge = match verdict {
        onnx_workbench::metrics::validity::Verdict::Valid => "✔ valid",
        onnx_workbench::metrics::validity::Verdict::Doubtful => "⚠ doubtful",
        onnx_workbench::metrics::validity::Verdict::Invalid => "✖ invalid",
    };
    assert!(
        harness.query_by_label(badge).is_some(),
        "the top bar shows the badge {badge}"
    );
    step_until(&mut harness, "the run's end", |app| !app.is_running());
    let shown = harness.state().shown_session().expect("the run's session");
    let summary = shown.document.run.summary.as_ref().expect("summary");
    assert!(summary.lateness.is_some(), "open loop records lateness");
    assert!(summary.validity.is_some());
    assert!(
        shown
            .document
            .run
            .timeseries
            .iter()
            .any(|window| window.lateness_p99_micros.is_some())
    );
}

/// An invalid combination is refused as it is edited: the reason sits
/// under the form, names the fields by their labels in the panel (not by
/// CLI flags), and Run does nothing until it is fixed.
#[test]
fn an_invalid_combination_names_the_fields_and_blocks_run() {
    let mut harness = harness();
    harness.get_by_label("mlp.onnx").click();
    step_until(&mut harness, "the model", |app| app.model.is_some());
    step_until(&mut harness, "ONNX Runtime", |app| {
        app.runtime_status.is_some()
    });
    harness.get_by_label("Concurrency").set_value_accesskit(2.0);
    harness.step();
    harness.get_by_label("I/O binding").click();
    harness.step();
    harness
        .get_by_label("Session instances")
        .set_value_accesskit(1.0);
    harness.step();
    let problems = harness.state().config_problems();
    let wanted = "\"I/O binding\" needs one session per worker: leave \"Session instances\" unset or equal to \"Concurrency\"";
    assert!(
        problems.iter().any(|problem| problem == wanted),
        "{problems:?}"
    );
    assert!(
        problems.iter().all(|problem| !problem.contains("--")),
        "no CLI flags in the window: {problems:?}"
    );
    assert!(
        harness
            .query_by_label_contains("needs one session per worker")
            .is_some(),
        "the reason is shown under the form"
    );
    let before = harness.state().sessions.history.len();
    harness.get_by_label("Run").click();
    harness.step();
    assert!(!harness.state().is_running(), "Run is blocked");
    assert_eq!(harness.state().sessions.history.len(), before);
    // Fixed: equal instances and workers.
    harness
        .get_by_label("Session instances")
        .set_value_accesskit(2.0);
    harness.step();
    assert!(harness.state().config_problems().is_empty());
}

/// The Mix tab: a mix file opens into editable entries, runs with a live
/// line per entry, and ends in the per-entry table; a bad SLO blocks Run
/// with the entry and the reason.
#[test]
fn the_mix_tab_runs_a_mix_file_and_tabulates_each_entry() {
    let dir = tempfile::tempdir().expect("temp dir");
    let mix = dir.path().join("mix.toml");
    std::fs::write(
        &mix,
        format!(
            "duration = \"1.5s\"\nwarmup = \"0.2s\"\n[[model]]\nname = \"det\"\npath = \"{}\"\nrate = 20\nslo = \"p90=50ms\"\n[[model]]\nname = \"cls\"\npath = \"{}\"\nrate = 100\nslo = \"p99=20ms\"\n",
            crate::repo_path("sample_models/cnn.onnx").display(),
            crate::repo_path("sample_models/mlp.onnx").display()
        ),
    )
    .expect("write the mix");
    let options = GuiOptions {
        mix: Some(mix.clone()),
        command_line: Some(onnx_workbench::cli::command_line_for_window()),
        ..GuiOptions::default()
    };
    let mut harness = harness_with(1000.0, options);
    harness.step();
    assert_eq!(harness.state().tab, onnx_workbench::ui::Tab::Mix);
    let rows = &harness.state().mix.rows;
    assert_eq!(
        rows.iter().map(|row| row.name.as_str()).collect::<Vec<_>>(),
        ["det", "cls"]
    );
    assert_eq!(rows[0].slo_text, "p90=50ms");
    assert_eq!(harness.state().mix.duration_secs, 1.5);

    // A bad SLO is refused with the entry's name, and Run does nothing.
    harness.state_mut().mix.rows[1].slo_text = "p99=fast".to_owned();
    harness.step();
    assert!(harness.query_by_label_contains("cls: SLO:").is_some());
    harness.get_by_label("Run mix").click();
    harness.step();
    assert!(!harness.state().mix.is_busy());
    harness.state_mut().mix.rows[1].slo_text = "p99=20ms".to_owned();

    harness.get_by_label("Solo baseline first").click();
    harness.step();
    harness.get_by_label("Run mix").click();
    harness.step();
    assert!(harness.state().mix.is_busy());
    step_until(&mut harness, "the mix", |app| {
        !app.mix.is_busy() && app.mix.result.is_some()
    });
    let document = harness.state().mix.result.clone().expect("a mix document");
    let rows = document.summary_rows();
    assert_eq!(rows.len(), 2);
    for row in &rows {
        assert_eq!(row.status, "completed", "{row:?}");
        assert!(row.requests_ok > 0, "{row:?}");
    }
    assert!(harness.query_by_label("Last mix").is_some());
    assert!(harness.query_by_label("mix/alone").is_some());
}

/// Per-model settings belong to their model: opening another drops the
/// previous one's dims and precision, and says so.
#[test]
fn opening_another_model_drops_the_previous_models_settings() {
    use onnx_workbench::transform::Precision;
    let mut harness = harness();
    harness.get_by_label("transformer.onnx").click();
    step_until(&mut harness, "the transformer", |app| app.model.is_some());
    harness
        .state_mut()
        .settings
        .config
        .dims
        .insert("seq".to_owned(), 64);
    harness.get_by_label("int8").click();
    harness.step();
    assert_eq!(
        harness.state().settings.config.transform.precision,
        Precision::Int8
    );
    harness.get_by_label("Start").click();
    harness.step();
    harness.get_by_label("mlp.onnx").click();
    step_until(&mut harness, "the MLP", |app| {
        app.model
            .as_ref()
            .is_some_and(|model| model.path.ends_with("mlp.onnx"))
    });
    let config = &harness.state().settings.config;
    assert!(!config.dims.contains_key("seq"), "{:?}", config.dims);
    assert_eq!(config.transform.precision, Precision::Fp32);
    assert!(
        harness
            .query_by_label_contains("Settings of the previous model were not kept")
            .is_some()
    );
}

/// `gui --dim` and `--shape` set the opened model's dims (and the model
/// keeps those that are its own); `--max-input-bytes` its input limit.
#[test]
fn the_gui_command_takes_dims() {
    let options = GuiOptions {
        model: Some(crate::repo_path("sample_models/transformer.onnx")),
        dims: vec![("seq".to_owned(), 32), ("other_model_dim".to_owned(), 7)],
        max_input_bytes: Some(1 << 30),
        ..GuiOptions::default()
    };
    let mut harness = harness_with(1000.0, options);
    step_until(&mut harness, "the model", |app| app.model.is_some());
    let config = &harness.state().settings.config;
    assert_eq!(config.dims.get("seq"), Some(&32));
    assert!(
        !config.dims.contains_key("other_model_dim"),
        "{:?}",
        config.dims
    );
    assert_eq!(config.max_input_bytes, Some(1 << 30));
}

/// The workbench started on the model at `path` (in the repository), once
/// the model is open.
fn harness_on(path: &str) -> Harness<'static, WorkbenchApp> {
    let options = GuiOptions {
        model: Some(crate::repo_path(path)),
        ..GuiOptions::default()
    };
    let mut harness = harness_with(1000.0, options);
    step_until(&mut harness, "the model", |app| app.model.is_some());
    harness.step();
    harness
}

/// A run that fails names the window's fields in its message, as the Live
/// tab shows it: the labels of the Config panel, not the command line's
/// flags (the message is written on the run's own thread).
#[test]
fn a_failed_run_names_the_window_fields_not_flags() {
    use ndarray_npy::WriteNpyExt as _;
    let dir = tempfile::tempdir().expect("tempdir");
    let file = dir.path().join("x.npy");
    ndarray::ArrayD::<f32>::zeros(vec![1, 3, 16, 16])
        .write_npy(std::fs::File::create(&file).expect("create"))
        .expect("write npy");
    let mut harness = harness_on("tests/data/models/dynamic_image.onnx");
    // A file of height 16, and the height field at 32.
    harness.state_mut().settings.config.input_files = vec![onnx_workbench::engine::InputFile {
        name: "x".to_owned(),
        path: file,
    }];
    spin_button(&harness, "Dim 'H'")
        .expect("the H field")
        .set_value_accesskit(32.0);
    harness.step();
    let document = run_and_wait(&mut harness);
    assert_eq!(document.run.status, RunStatus::Failed);
    let failure = document.run.failure.clone().expect("the failure");
    assert!(
        failure.contains("\"Dimensions\" H=32 contradicts input 'x'"),
        "{failure}"
    );
    assert!(!failure.contains("--"), "{failure}");
    harness.state_mut().tab = Tab::Live;
    harness.step();
    // The Live tab and the message bar both show it.
    assert!(
        harness
            .query_all_by_label_contains("\"Dimensions\" H=32")
            .count()
            >= 2,
        "the window shows the failure"
    );
}

/// Dynamic image dims take a chosen size, not 1: the Config panel shows it
/// as a chosen default, the run uses it and warns that it was chosen, and a
/// value typed in replaces it.
#[test]
fn open_image_dims_take_a_chosen_size_and_say_so() {
    use egui_kittest::kittest::NodeT as _;
    let mut harness = harness_on("tests/data/models/dynamic_image.onnx");
    let field_value = |harness: &Harness<'static, WorkbenchApp>, label: &str| {
        spin_button(harness, label).and_then(|node| node.accesskit_node().numeric_value())
    };
    assert_eq!(field_value(&harness, "Dim 'H'"), Some(224.0));
    assert_eq!(field_value(&harness, "Dim 'W'"), Some(224.0));
    assert!(
        harness
            .query_by_label("chosen default: image height")
            .is_some()
    );
    // The run's warning on the sizes it chose.
    let chosen_sizes = |document: &onnx_workbench::session::SessionDocument| {
        document
            .run
            .warnings
            .iter()
            .find(|w| w.contains("sizes chosen for dims the model leaves open"))
            .cloned()
            .expect("a warning on the chosen sizes")
    };
    let document = short_run(&mut harness, 0.0);
    assert_eq!(document.run.inputs[0].shape, [1, 3, 224, 224]);
    let warning = chosen_sizes(&document);
    assert!(
        warning.contains("H=224") && warning.contains("W=224"),
        "{warning}"
    );
    assert!(
        harness
            .query_by_label_contains("sizes chosen for dims")
            .is_some()
    );

    // A height typed in replaces the chosen one; the width stays chosen.
    spin_button(&harness, "Dim 'H'")
        .expect("the H field")
        .set_value_accesskit(96.0);
    harness.step();
    harness.step();
    assert_eq!(harness.state().settings.config.dims.get("H"), Some(&96));
    assert!(
        harness
            .query_by_label("chosen default: image height")
            .is_none()
    );
    let document = short_run(&mut harness, 0.0);
    assert_eq!(document.run.inputs[0].shape, [1, 3, 96, 224]);
    let warning = chosen_sizes(&document);
    assert!(
        !warning.contains("H=") && warning.contains("W=224"),
        "{warning}"
    );
}

/// A fp32 run against an int8 run of the same model: layers line up by the
/// model's nodes (the int8 rewrite's quantize, integer and rescale nodes
/// count as the layer they replace), and the compare view says so.
#[test]
fn comparing_fp32_with_int8_matches_layers_by_the_models_nodes() {
    use onnx_workbench::{
        engine::ProfileConfig,
        model::{Model, node::node_id},
        session::SessionDocument,
        transform::Precision,
        ui::{compare_sessions, compare_ui},
    };
    let path = crate::repo_path("sample_models/cnn.onnx");
    let fp32 = crate::run(&path, crate::quick_config());
    let mut config: ProfileConfig = crate::quick_config();
    config.transform.precision = Precision::Int8;
    let int8 = crate::run(&path, config);
    assert!(int8.transform.is_some(), "{:?}", int8.failure);
    let (a, b) = (SessionDocument::new(fp32), SessionDocument::new(int8));
    let comparison = compare_sessions(&a, &b);
    assert!(comparison.by_source_node);
    let model = Model::load(&path).expect("model");
    let graph = model.proto.graph.as_ref().expect("graph");
    for (index, node) in graph.node.iter().enumerate() {
        if matches!(node.op_type(), "Conv" | "Gemm" | "MatMul") {
            let id = node_id(node, index);
            assert!(
                comparison.layers.iter().any(|layer| layer.node == id),
                "{id} not matched: only in A {:?}, only in B {:?}",
                comparison.only_in_a,
                comparison.only_in_b
            );
        }
    }
    let mut harness = Harness::new_ui(|ui| compare_ui(ui, &comparison, "fp32", "int8"));
    harness.run();
    assert!(
        harness
            .query_by_label_contains("Layers in both, by the model's nodes")
            .is_some()
    );
}

/// The number field labelled `label` (its label is a node of its own).
fn spin_button<'h>(
    harness: &'h Harness<'static, WorkbenchApp>,
    label: &'h str,
) -> Option<egui_kittest::Node<'h>> {
    use egui_kittest::kittest::NodeT as _;
    harness
        .query_all_by_label(label)
        .find(|node| node.accesskit_node().role() == egui::accesskit::Role::SpinButton)
}
