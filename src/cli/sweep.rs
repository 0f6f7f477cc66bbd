//! `sweep`: turns the flags into a [`SweepSpec`], runs it through
//! [`SweepHandle`] with a progress line, then prints the table, the Pareto
//! set and the recommendation, and writes the sweep document and its CSV.

use std::{
    io::IsTerminal as _,
    time::{Duration, Instant},
};

use super::{
    SweepArgs, commands::check_output_paths, error::EXIT_NO_PASSING_POINT, output::export_line,
};
use crate::{
    session::{SweepDocument, render_sweep_report},
    tune::{Slo, SweepHandle, SweepProgress, SweepSpec, TuneError, VaryDimension},
    util::format_micros,
};

/// Why the sweep flags were rejected.
#[derive(Debug, thiserror::Error)]
pub enum SweepArgError {
    #[error(transparent)]
    Tune(#[from] TuneError),
    #[error("invalid configuration: {0}")]
    Config(#[from] crate::engine::config::ConfigError),
    #[error(
        "--export-trace is not available for a sweep: export the sweep with --export and a point's session from it"
    )]
    NoTrace,
    #[error(
        "--export-annotated is not available for a sweep: profile the chosen point with --export-annotated"
    )]
    NoAnnotated,
}

impl SweepArgs {
    /// The sweep these flags describe.
    pub fn to_spec(&self) -> Result<SweepSpec, SweepArgError> {
        if self.profile.export_trace.is_some() {
            return Err(SweepArgError::NoTrace);
        }
        if self.profile.export_annotated.is_some() {
            return Err(SweepArgError::NoAnnotated);
        }
        let dimensions = self
            .vary
            .iter()
            .map(|text| text.parse::<VaryDimension>())
            .collect::<Result<Vec<_>, _>>()?;
        let mut slo = Slo::default();
        for item in &self.profile.slo {
            slo.add(item)?;
        }
        let base = self.profile.to_config();
        // Checked here too so its error names the flags (the spec keeps text).
        base.validate()?;
        let mut spec = SweepSpec::new(base, dimensions, slo);
        spec.search = self.search;
        spec.budget_secs = self.budget.map(|b| b.as_secs_f64());
        spec.stability = self.stability / 100.0;
        spec.max_retries = self.retries;
        spec.confirm = !self.no_confirm;
        spec.validate()?;
        Ok(spec)
    }
}

/// The one-line progress of a sweep.
fn progress_line(progress: &SweepProgress, elapsed_secs: f64) -> String {
    let eta = progress
        .eta_secs
        .map_or_else(|| "-".to_owned(), |secs| format!("{secs:.0} s"));
    let last = progress.points.last().map_or_else(String::new, |p| {
        format!(
            "  last: {} {:.0} inf/s {} {}",
            p.label,
            p.throughput_per_sec,
            p.latency_micros
                .map_or_else(|| "-".to_owned(), format_micros),
            p.decision
        )
    });
    format!(
        "[sweep {elapsed_secs:>6.1}s] {} done, ~{} left, ETA {eta}; now: {}{last}",
        progress.points_done,
        progress.points_left,
        progress.current.as_deref().unwrap_or("-"),
    )
}

/// `sweep`: runs the sweep, prints its report (or JSON) and writes the
/// exports. Exits 1 when an export failed, [`EXIT_NO_PASSING_POINT`] when no
/// stable point passed the SLO.
pub(super) fn sweep(args: &SweepArgs) -> anyhow::Result<u8> {
    if let Some(mix) = &args.profile.mix {
        return super::mix::scale(args, mix);
    }
    let spec = args.to_spec()?;
    check_output_paths(&args.profile)?;
    // A model that cannot be read fails here, not once per point.
    if let Some(model) = &args.profile.model {
        crate::model::Model::load(model)?;
    }
    let handle = SweepHandle::start(args.profile.model.clone(), spec)?;
    if let Err(err) = ctrlc::set_handler(handle.stopper()) {
        tracing::warn!("Ctrl-C will not stop the sweep cleanly: {err}");
    }
    let interval = Duration::from_millis(200);
    let terminal = std::io::stderr().is_terminal();
    let started = Instant::now();
    let mut last_print = started;
    while !handle.is_finished() {
        std::thread::sleep(interval);
        if !args.profile.quiet
            && last_print.elapsed() >= Duration::from_secs(if terminal { 1 } else { 5 })
        {
            eprintln!(
                "{}",
                progress_line(&handle.progress(), started.elapsed().as_secs_f64())
            );
            last_print = Instant::now();
        }
    }
    let result = handle.join()?;
    let document = SweepDocument::new(result, super::reproduce::profile_command);
    let mut export_failed = false;
    if let Some(path) = &args.profile.export {
        export_failed |= export_line(
            document
                .write_json(path)
                .map(|()| format!("sweep written to {}", path.display())),
        );
    }
    if let Some(dir) = &args.profile.export_csv {
        let path = dir.join("sweep_points.csv");
        let written = std::fs::create_dir_all(dir)
            .map_err(|err| err.to_string())
            .and_then(|()| document.write_csv(&path).map_err(|err| err.to_string()));
        export_failed |= export_line(
            written
                .map(|()| format!("points written to {}", path.display()))
                .map_err(|err| format!("cannot write {}: {err}", path.display())),
        );
    }
    if args.profile.json {
        outln!("{}", serde_json::to_string_pretty(&document)?);
    } else {
        out!("{}", render_sweep_report(&document));
    }
    if export_failed {
        return Ok(1);
    }
    if document.recommendation.is_none() {
        return Ok(EXIT_NO_PASSING_POINT);
    }
    Ok(0)
}

#[cfg(test)]
mod tests {
    use clap::Parser as _;

    use super::*;
    use crate::cli::{Cli, Command};

    fn parse(args: &[&str]) -> Box<SweepArgs> {
        let cli = Cli::try_parse_from(args).expect("parse");
        let Some(Command::Sweep(args)) = cli.command else {
            panic!("expected sweep")
        };
        args
    }

    #[test]
    fn profile_flags_and_sweep_flags_become_the_spec() {
        let args = parse(&[
            "onnx-workbench",
            "sweep",
            "m.onnx",
            "--duration",
            "3s",
            "--batch",
            "2",
            "--vary",
            "concurrency=1,2,4",
            "--vary",
            "max-batch=4,8",
            "--slo",
            "p99=20ms",
            "--slo",
            "throughput>=100",
            "--budget",
            "2m",
            "--stability",
            "15",
        ]);
        let spec = args.to_spec().expect("spec");
        assert_eq!(spec.base.duration_secs, Some(3.0));
        assert_eq!(spec.base.batch, Some(2));
        assert_eq!(spec.dimensions.len(), 2);
        assert_eq!(spec.slo.latency.len(), 1);
        assert_eq!(spec.slo.min_throughput_per_sec, Some(100.0));
        assert_eq!(spec.budget_secs, Some(120.0));
        assert!((spec.stability - 0.15).abs() < 1e-12);
        assert!(spec.confirm);
    }

    #[test]
    fn bad_sweeps_are_refused_before_running() {
        // `--slo` is a `profile` flag too, so the sweep checks it is there.
        let no_slo = parse(&["onnx-workbench", "sweep", "m.onnx", "--vary", "batch=1,2"]);
        assert!(no_slo.to_spec().is_err());
        let bad_slo = Cli::try_parse_from([
            "onnx-workbench",
            "sweep",
            "m.onnx",
            "--vary",
            "batch=1,2",
            "--slo",
            "p42=1ms",
        ]);
        assert!(bad_slo.is_err());
        let args = parse(&[
            "onnx-workbench",
            "sweep",
            "m.onnx",
            "--vary",
            "threads=1",
            "--slo",
            "p99=1ms",
        ]);
        let err = args.to_spec().expect_err("unknown key");
        // The CLI's thread names fields by their flags.
        crate::field::speak(Some(crate::cli::args::flag_name));
        assert!(err.to_string().contains("unknown --vary key"), "{err}");
        let args = parse(&["onnx-workbench", "sweep", "m.onnx", "--slo", "p99=1ms"]);
        let err = args.to_spec().expect_err("nothing varies");
        assert!(err.to_string().contains("nothing to sweep"), "{err}");
        let args = parse(&[
            "onnx-workbench",
            "sweep",
            "m.onnx",
            "--search",
            "rate",
            "--vary",
            "rate=1,2",
            "--slo",
            "p99=1ms",
        ]);
        assert!(args.to_spec().is_err());
    }
}
