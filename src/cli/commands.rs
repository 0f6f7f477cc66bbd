//! The commands that work on a model or a session: `inspect`, `report`,
//! `transform` and `profile` (with its live progress line).

use std::{
    io::IsTerminal as _,
    path::Path,
    sync::{
        Arc, Mutex,
        atomic::{AtomicBool, Ordering},
    },
    time::{Duration, Instant},
};

use super::{
    InspectArgs, ProfileArgs, ReportArgs, TransformArgs,
    error::{CliError, EXIT_REQUESTS_FAILED},
    output::export_line,
};
use crate::{
    engine::{ProfileConfig, RunHandle, RunStatus, verify::apply_checked},
    metrics::{RunPhase, Snapshot},
    model::Model,
    session::{
        SessionDocument, SessionError, SweepDocument, render_report, render_sweep_report,
        write_chrome_trace, write_csv, write_json,
    },
    util::{format_count, format_micros, write_atomic},
};

/// `inspect`: the model summary, as text or JSON.
pub(super) fn inspect(args: &InspectArgs) -> anyhow::Result<u8> {
    super::inspect::run(args)
}

/// `report`: reprints a saved session or sweep, as text or JSON.
pub(super) fn report(args: &ReportArgs) -> anyhow::Result<u8> {
    if args.merge {
        return super::merge::merge(args);
    }
    let text = std::fs::read_to_string(&args.session).map_err(|source| SessionError::Read {
        source,
        path: args.session.clone(),
    })?;
    if let Some(other) = &args.compare {
        return compare(&args.session, &text, other);
    }
    let (path, json) = (&args.session, args.json);
    match crate::session::kinds::document_kind(&text).as_deref() {
        Some(crate::mix::ALLOCATION_KIND) => print_document(
            json,
            &crate::mix::AllocationDocument::from_json(&text, path)?,
            crate::mix::render_allocation_report,
        ),
        Some(crate::mix::SCALE_KIND) => print_document(
            json,
            &crate::mix::ScaleDocument::from_json(&text, path)?,
            crate::mix::render_scale_report,
        ),
        Some(crate::mix::MIX_KIND) => print_document(
            json,
            &crate::mix::MixDocument::from_json(&text, path)?,
            crate::mix::render_mix_report,
        ),
        _ if SweepDocument::is_sweep_json(&text) => print_document(
            json,
            &SweepDocument::from_json(&text, path)?,
            render_sweep_report,
        ),
        _ => print_document(
            json,
            &SessionDocument::from_json(&text, path)?,
            render_report,
        ),
    }
}

/// `report A --compare B`: two mixes entry by entry, or two sessions.
fn compare(path: &std::path::Path, text: &str, other: &std::path::Path) -> anyhow::Result<u8> {
    let other_text = std::fs::read_to_string(other).map_err(|source| SessionError::Read {
        source,
        path: other.to_path_buf(),
    })?;
    let kinds = (
        crate::session::kinds::document_kind(text),
        crate::session::kinds::document_kind(&other_text),
    );
    match kinds {
        (Some(a), Some(b)) if a == crate::mix::MIX_KIND && b == crate::mix::MIX_KIND => {
            let a = crate::mix::MixDocument::from_json(text, path)?;
            let b = crate::mix::MixDocument::from_json(&other_text, other)?;
            out!("{}", crate::mix::render_mix_comparison(&a, &b));
        }
        (None, None) => {
            let a = SessionDocument::from_json(text, path)?;
            let b = SessionDocument::from_json(&other_text, other)?;
            out!("{}", crate::mix::render_session_comparison(&a, &b));
        }
        (a, b) => {
            return Err(CliError::CompareKinds {
                a: a.unwrap_or_else(|| "session".to_owned()),
                b: b.unwrap_or_else(|| "session".to_owned()),
            }
            .into());
        }
    }
    Ok(0)
}

/// Prints a saved document as JSON or as its text report.
fn print_document<T: serde::Serialize>(
    json: bool,
    document: &T,
    render: impl Fn(&T) -> String,
) -> anyhow::Result<u8> {
    if json {
        outln!("{}", serde_json::to_string_pretty(document)?);
    } else {
        out!("{}", render(document));
    }
    Ok(0)
}

/// `transform`: rewrites the model, checks it loads, writes it and reports.
pub(super) fn transform(args: &TransformArgs) -> anyhow::Result<u8> {
    let mut spec = args.transform.to_spec();
    if args.sensitivity {
        spec.accuracy_budget = Some(spec.accuracy_budget.unwrap_or_default());
    }
    if spec.is_identity() {
        return Err(CliError::NothingToDo.into());
    }
    let config = ProfileConfig {
        execution_provider: args.ep,
        batch: args.shape.batch,
        dims: args.shape.dims.iter().cloned().collect(),
        shapes: args.shape.shapes.iter().cloned().collect(),
        input_files: args.inputs.clone(),
        seed: args.seed,
        ..ProfileConfig::default()
    };
    config.validate()?;
    let model = Model::load(&args.model)?;
    let checked = apply_checked(&model, &spec, &config)?;
    let output = args.output.as_ref().filter(|_| !args.sensitivity);
    if let Some(output) = output {
        write_atomic(output, &checked.bytes)?;
    }
    if args.json {
        outln!("{}", serde_json::to_string_pretty(&checked.report)?);
    } else {
        out!("{}", checked.report.render_text());
        match output {
            Some(output) => outln!("written to {}", output.display()),
            None => outln!("no model written (--sensitivity)"),
        }
    }
    Ok(0)
}

/// `profile`: one run with live progress, then the report and the exports.
/// Exits 1 when the run or an export failed, [`EXIT_REQUESTS_FAILED`] when
/// requests failed.
pub(super) fn profile(args: &ProfileArgs) -> anyhow::Result<u8> {
    if let Some(mix) = &args.mix {
        return super::mix::run(args, mix);
    }
    let config = args.to_config();
    config.validate()?;
    check_output_paths(args)?;
    let record = run_repeated(args, config)?;
    let document = SessionDocument::new(record);

    let mut export_failed = false;
    if let Some(path) = &args.export {
        export_failed |= export_line(
            write_json(&document, path).map(|()| format!("session written to {}", path.display())),
        );
    }
    if let Some(dir) = &args.export_csv {
        export_failed |= export_line(
            write_csv(&document, dir)
                .map(|paths| format!("{} CSV files written to {}", paths.len(), dir.display())),
        );
    }
    if let Some(path) = &args.export_trace {
        export_failed |= export_line(
            write_chrome_trace(&document, path)
                .map(|()| format!("trace written to {}", path.display())),
        );
    }
    if let Some(path) = &args.export_annotated {
        let written = match &args.model {
            Some(model) => crate::session::annotate::write_annotated_model(&document, model, path)
                .map_err(anyhow::Error::from),
            None => Err(anyhow::anyhow!(
                "--export-annotated needs the model file: give MODEL (a remote target has no per-node timings)"
            )),
        };
        export_failed |=
            export_line(written.map(|summary| {
                format!("annotated model written to {} ({summary})", path.display())
            }));
    }
    if args.json {
        outln!("{}", serde_json::to_string_pretty(&document)?);
    } else {
        out!("{}", render_report(&document));
    }
    let run = &document.run;
    if run.status == RunStatus::Failed {
        if let Some(failure) = &run.failure {
            eprintln!("error: {failure}");
        }
        return Ok(1);
    }
    if export_failed {
        return Ok(1);
    }
    if run.errors.count > 0 {
        return Ok(EXIT_REQUESTS_FAILED);
    }
    Ok(0)
}

/// Runs the configuration `--repeat` times, one after the other (Ctrl-C
/// ends the run in progress and the repeats); the last run's record comes
/// back with the figures across the runs.
fn run_repeated(
    args: &ProfileArgs,
    config: ProfileConfig,
) -> anyhow::Result<crate::engine::RunRecord> {
    let interrupted = Arc::new(AtomicBool::new(false));
    let current: Arc<Mutex<Option<crate::engine::RunStopper>>> = Arc::new(Mutex::new(None));
    let (handler_stop, handler_current) = (Arc::clone(&interrupted), Arc::clone(&current));
    if let Err(err) = ctrlc::set_handler(move || {
        handler_stop.store(true, Ordering::Relaxed);
        if let Ok(current) = handler_current.lock()
            && let Some(stopper) = current.as_ref()
        {
            stopper.stop();
        }
    }) {
        tracing::warn!("Ctrl-C will not stop the run cleanly: {err}");
    }
    let repeats = args.repeat.max(1);
    let mut records = Vec::new();
    for index in 0..repeats {
        let model = crate::engine::ModelRef::of(args.model.clone(), &config)?;
        let handle = RunHandle::start(model, config.clone())?;
        if let Ok(mut slot) = current.lock() {
            *slot = Some(handle.stopper());
        }
        if interrupted.load(Ordering::Relaxed) {
            handle.stop();
        }
        show_progress(&handle, args.quiet);
        let record = handle.join();
        if repeats > 1 {
            eprintln!("run {} of {repeats}: {}", index + 1, repeat_line(&record));
        }
        let usable = record.status == RunStatus::Completed;
        records.push(record);
        if !usable || interrupted.load(Ordering::Relaxed) {
            break;
        }
    }
    let summaries: Vec<&crate::metrics::RunSummary> = records
        .iter()
        .filter(|record| record.status == RunStatus::Completed)
        .filter_map(|record| record.summary.as_ref())
        .collect();
    let across = crate::metrics::repeats::across_runs(
        &summaries,
        crate::metrics::confidence::DEFAULT_CONFIDENCE,
    );
    let mut last = records
        .pop()
        .ok_or_else(|| anyhow::anyhow!("no run was made"))?;
    if let Some(summary) = &mut last.summary {
        summary.across_runs = across;
    }
    Ok(last)
}

/// One line per repeated run.
fn repeat_line(record: &crate::engine::RunRecord) -> String {
    match &record.summary {
        Some(summary) => format!(
            "{:.0} inf/s, p50 {}, p99 {} ({})",
            summary.inferences_per_sec,
            summary
                .latency
                .map_or_else(|| "-".to_owned(), |l| format_micros(l.p50_micros)),
            summary
                .latency
                .map_or_else(|| "-".to_owned(), |l| format_micros(l.p99_micros)),
            record.status
        ),
        None => format!("{}", record.status),
    }
}

/// Fails early when an export destination cannot be written, before the run.
pub(super) fn check_output_paths(args: &ProfileArgs) -> Result<(), CliError> {
    for path in [&args.export, &args.export_trace, &args.export_annotated]
        .into_iter()
        .flatten()
    {
        let dir = match path.parent() {
            Some(dir) if !dir.as_os_str().is_empty() => dir,
            _ => Path::new("."),
        };
        if !dir.is_dir() {
            return Err(CliError::MissingFolder {
                path: path.clone(),
                dir: dir.to_path_buf(),
            });
        }
        if path.is_dir() {
            return Err(CliError::IsAFolder { path: path.clone() });
        }
    }
    Ok(())
}

/// The one-line live summary of a run.
fn progress_line(snapshot: &Snapshot, phase: RunPhase) -> String {
    let p99 = snapshot.latency.map_or_else(
        || "-".to_owned(),
        |latency| format_micros(latency.p99_micros),
    );
    let recent = snapshot
        .windows
        .last()
        .map_or(snapshot.inferences_per_sec, |w| w.inferences_per_sec);
    format!(
        "[{phase}] {:>6.1}s  {} ok  {} failed  {:.0} inf/s (last 1 s: {:.0})  p99 {p99}",
        snapshot.elapsed_secs,
        format_count(snapshot.requests_ok),
        format_count(snapshot.requests_failed),
        snapshot.inferences_per_sec,
        recent
    )
}

/// Shows the live progress line until the run finishes.
fn show_progress(handle: &RunHandle, quiet: bool) {
    let interval = crate::metrics::DEFAULT_PUBLISH_INTERVAL;
    if quiet {
        while !handle.is_finished() {
            std::thread::sleep(interval);
        }
        return;
    }
    if std::io::stderr().is_terminal() {
        let bar = indicatif::ProgressBar::new_spinner();
        bar.set_draw_target(indicatif::ProgressDrawTarget::stderr());
        while !handle.is_finished() {
            bar.set_message(progress_line(&handle.snapshot(), handle.phase()));
            bar.tick();
            std::thread::sleep(interval);
        }
        bar.finish_and_clear();
    } else {
        let mut last_print = Instant::now();
        while !handle.is_finished() {
            std::thread::sleep(interval);
            if last_print.elapsed() >= Duration::from_secs(1) {
                eprintln!("{}", progress_line(&handle.snapshot(), handle.phase()));
                last_print = Instant::now();
            }
        }
    }
}
