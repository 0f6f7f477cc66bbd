//! Session documents: export/import round trips and old-version fixtures.

use onnx_workbench::{
    engine::{LayerProfiling, ProfileConfig, RunStatus},
    metrics::LatencyHistogram,
    session::{FORMAT_VERSION, SessionDocument, render_report, write_json},
};

use crate::{quick_config, repo_path, run};

#[test]
fn export_then_import_round_trips_everything() {
    let record = run(
        &repo_path("sample_models/transformer.onnx"),
        ProfileConfig {
            dims: [("seq".to_owned(), 8)].into(),
            ..quick_config()
        },
    );
    assert_eq!(record.status, RunStatus::Completed, "{:?}", record.failure);
    let document = SessionDocument::new(record);
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("session.json");
    write_json(&document, &path).expect("write");
    let loaded = SessionDocument::load(&path).expect("load");
    assert_eq!(loaded, document);
    assert_eq!(render_report(&loaded), render_report(&document));

    // The encoded histogram decodes to the same percentiles as the summary.
    let encoded = loaded.run.latency_histogram.as_ref().expect("histogram");
    let histogram = LatencyHistogram::decode(&encoded.data, encoded.outliers).expect("decode");
    let summary = loaded
        .run
        .summary
        .as_ref()
        .and_then(|s| s.latency)
        .expect("latency");
    assert_eq!(histogram.summary(), Some(summary));
}

#[test]
fn every_released_format_version_still_imports() {
    let dir = repo_path("tests/data/sessions");
    let mut found = 0;
    for entry in std::fs::read_dir(&dir).expect("fixtures folder") {
        let path = entry.expect("entry").path();
        if path.extension().is_none_or(|ext| ext != "json") {
            continue;
        }
        let document = SessionDocument::load(&path)
            .unwrap_or_else(|err| panic!("{}: {err:#}", path.display()));
        assert!(document.format_version <= FORMAT_VERSION);
        let summary = document.run.summary.as_ref().expect("summary");
        assert!(summary.requests_ok > 0);
        assert!(render_report(&document).contains("Throughput"));
        found += 1;
    }
    assert!(
        found >= FORMAT_VERSION as usize,
        "one fixture per format version"
    );
}

#[test]
fn a_failed_run_is_still_a_valid_session() {
    let record = run(
        &repo_path("tests/data/models/unsupported_op.onnx"),
        ProfileConfig {
            layer_profiling: LayerProfiling::Off,
            ..quick_config()
        },
    );
    assert_eq!(record.status, RunStatus::Failed);
    let document = SessionDocument::new(record);
    let text = serde_json::to_string(&document).expect("serialize");
    let back = SessionDocument::from_json(&text, std::path::Path::new("x.json")).expect("import");
    assert_eq!(back, document);
    assert!(render_report(&back).contains("NoSuchOp"));
}
