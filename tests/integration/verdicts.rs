//! Trustworthy verdicts on real runs: send lateness reported apart from
//! queue time, saturation detected early, early stopping on an SLO, and
//! the validity verdict in the session, the report and the CSV.

use std::time::Instant;

use onnx_workbench::{
    engine::{
        Arrival, LayerProfiling, LoadMode, ProfileConfig, RunStatus, StopReason, arrivals::SpinMode,
    },
    metrics::{
        confidence::SloDecision,
        slo::{LatencyBound, Percentile},
        validity::{ReasonKind, Verdict},
    },
    session::{SessionDocument, render_report},
};

use crate::{repo_path, run};

fn open_loop(rate_per_sec: f64, seconds: f64) -> ProfileConfig {
    ProfileConfig {
        load: LoadMode::Open {
            rate_per_sec,
            arrival: Arrival::Poisson,
        },
        duration_secs: Some(seconds),
        warmup_secs: 0.3,
        layer_profiling: LayerProfiling::Off,
        ..ProfileConfig::default()
    }
}

#[test]
fn open_loop_reports_send_lateness_apart_from_queue_time() {
    let record = run(
        &repo_path("tests/data/models/tiny_mlp.onnx"),
        ProfileConfig {
            concurrency: 2,
            spin: SpinMode::On,
            ..open_loop(1000.0, 2.0)
        },
    );
    assert_eq!(record.status, RunStatus::Completed, "{:?}", record.failure);
    let summary = record.summary.as_ref().expect("summary");
    let lateness = summary.lateness.expect("open loop reports lateness");
    let latency = summary.latency.expect("latency");
    let service = summary.service.expect("run time");
    let queue = summary.queue.expect("queue time");
    assert_eq!(lateness.count, latency.count);
    // Spinning workers send on time: the generator's delay is a small part
    // of the end-to-end latency (a loaded test machine is allowed slack).
    assert!(
        lateness.p50_micros < 200.0,
        "lateness p50 {} µs",
        lateness.p50_micros
    );
    // End-to-end = queue + lateness + run, request by request; so the
    // medians can only differ by what the other two parts add.
    assert!(latency.p50_micros + 1.0 >= service.p50_micros);
    assert!(queue.min_micros >= 0.0);
    assert!(
        record
            .timeseries
            .iter()
            .filter(|window| window.requests > 0)
            .all(|window| window.lateness_p99_micros.is_some())
    );
    let generator = summary.generator.as_ref().expect("generator report");
    assert_eq!(generator.spin.as_deref(), Some("on"));
    assert!(generator.spun_share.is_some_and(|share| share > 0.5));
    // Every percentile carries its interval, around its value.
    let [low, high] = latency.p99_ci_micros.expect("p99 interval");
    assert!(low <= latency.p99_micros && latency.p99_micros <= high);
    // The report and the CSV show it.
    let document = SessionDocument::new(record.clone());
    let report = render_report(&document);
    assert!(report.contains("lateness"), "{report}");
    assert!(report.contains("Validity"), "{report}");
    assert!(report.contains("95% CI"), "{report}");
    let dir = tempfile::tempdir().expect("temp dir");
    onnx_workbench::session::write_csv(&document, dir.path()).expect("csv");
    let csv = std::fs::read_to_string(dir.path().join("summary.csv")).expect("summary.csv");
    assert!(
        csv.lines().any(|line| line.starts_with("lateness,")),
        "{csv}"
    );
    let timeseries = std::fs::read_to_string(dir.path().join("timeseries.csv")).expect("csv");
    assert!(timeseries.contains("lateness_p99_micros"), "{timeseries}");
}

#[test]
fn closed_loop_has_no_lateness() {
    let record = run(
        &repo_path("tests/data/models/tiny_mlp.onnx"),
        ProfileConfig {
            duration_secs: Some(0.8),
            warmup_secs: 0.1,
            layer_profiling: LayerProfiling::Off,
            ..ProfileConfig::default()
        },
    );
    let summary = record.summary.expect("summary");
    assert!(summary.lateness.is_none());
    assert!(summary.validity.is_some());
    let generator = summary.generator.expect("generator report");
    assert!(generator.spin.is_none());
}

#[test]
fn a_saturated_open_loop_stops_early_with_its_capacity() {
    let started = Instant::now();
    let record = run(
        &repo_path("sample_models/cnn.onnx"),
        open_loop(1_000_000.0, 30.0),
    );
    let wall = started.elapsed().as_secs_f64();
    assert_eq!(record.stop_reason, Some(StopReason::Saturated));
    assert!(wall < 15.0, "took {wall:.1} s of a 30 s run");
    let summary = record.summary.as_ref().expect("summary");
    let capacity = summary.capacity_per_sec.expect("capacity estimate");
    assert!(capacity > 10.0 && capacity < 1_000_000.0, "{capacity}");
    let validity = summary.validity.as_ref().expect("validity");
    assert_eq!(validity.verdict, Verdict::Invalid);
    assert!(
        validity
            .reasons
            .iter()
            .any(|reason| reason.kind == ReasonKind::Saturated)
    );
}

#[test]
fn an_slo_that_is_clearly_met_or_missed_stops_the_run_early() {
    for (bound_micros, expected) in [(10_000_000.0, SloDecision::Pass), (1.0, SloDecision::Fail)] {
        let started = Instant::now();
        let record = run(
            &repo_path("sample_models/mlp.onnx"),
            ProfileConfig {
                duration_secs: Some(30.0),
                warmup_secs: 0.2,
                layer_profiling: LayerProfiling::Off,
                slo: vec![LatencyBound {
                    percentile: Percentile::P99,
                    bound_micros,
                }],
                ..ProfileConfig::default()
            },
        );
        let wall = started.elapsed().as_secs_f64();
        assert_eq!(record.stop_reason, Some(StopReason::SloDecided));
        assert!(wall < 15.0, "took {wall:.1} s of a 30 s run");
        let outcome = record
            .summary
            .as_ref()
            .and_then(|summary| summary.slo.clone())
            .expect("slo outcome");
        assert_eq!(outcome.decision, expected);
        assert!(outcome.stopped_early);
        assert!(outcome.effective_requests > 0.0);
    }
}

#[test]
fn an_undecided_slo_says_how_many_more_requests_it_needs() {
    let record = run(
        &repo_path("sample_models/mlp.onnx"),
        ProfileConfig {
            duration_secs: None,
            max_requests: Some(100),
            warmup_secs: 0.1,
            layer_profiling: LayerProfiling::Off,
            slo: vec![LatencyBound {
                percentile: Percentile::P99,
                bound_micros: 10_000_000.0,
            }],
            ..ProfileConfig::default()
        },
    );
    assert_eq!(record.stop_reason, Some(StopReason::RequestLimit));
    let summary = record.summary.as_ref().expect("summary");
    let outcome = summary.slo.clone().expect("slo outcome");
    assert_eq!(outcome.decision, SloDecision::Undecided);
    // None over the bound: 459 requests pass p99 at 99 %, so about 359 more.
    let needed = outcome.requests_needed.expect("requests needed");
    assert!((300..=500).contains(&needed), "{needed}");
    let validity = summary.validity.as_ref().expect("validity");
    assert!(
        validity
            .reasons
            .iter()
            .any(|reason| reason.kind == ReasonKind::TooFewSamples),
        "{validity:?}"
    );
    let report = render_report(&SessionDocument::new(record.clone()));
    assert!(report.contains("UNDECIDED"), "{report}");
}

#[test]
fn sessions_of_both_formats_open_and_report_their_validity() {
    let old = SessionDocument::load(&repo_path("tests/data/sessions/v1.json")).expect("v1");
    assert_eq!(old.format_version, 1);
    assert!(
        old.run
            .summary
            .as_ref()
            .expect("summary")
            .validity
            .is_none()
    );
    let report = render_report(&old);
    assert!(report.contains("Validity    not judged"), "{report}");

    // A real open-loop session with an SLO, recorded while the machine was
    // busy: its generator was late, and the session says so.
    let new = SessionDocument::load(&repo_path("tests/data/sessions/v2.json")).expect("v2");
    assert_eq!(new.format_version, 2);
    let summary = new.run.summary.as_ref().expect("summary");
    let validity = summary.validity.as_ref().expect("validity");
    assert!(
        validity
            .reasons
            .iter()
            .any(|reason| reason.kind == ReasonKind::GeneratorLate)
    );
    assert!(summary.lateness.is_some());
    assert!(summary.slo.is_some());
    let report = render_report(&new);
    assert!(report.contains("generator late"), "{report}");
    assert!(report.contains("SLO         p99<=5.00 ms"), "{report}");
}
