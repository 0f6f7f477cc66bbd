//! The headless commands: `doctor`, `setup`, `inspect`, `profile`, `report`,
//! `transform`, `sweep`, and `gui`, which opens the desktop workbench.
//!
//! Each command returns an [`ExitCode`](std::process::ExitCode)-like number so
//! `main.rs` stays thin: 0 success, 1 error, 2 usage error (from clap), 3 a
//! run that finished but had failed requests, 4 a sweep with no point that
//! passed its SLO.
//!
//! `args` holds what clap parses; `doctor` and `setup` have a file each, the
//! other commands share `commands`, `sweep` has its own file, and `gui` opens the window (or, in a build
//! without the `gui` feature, says how to get one).

/// `println!` for command output: a closed stdout (piped into `head`) ends
/// the output quietly instead of panicking, and the command goes on, so its
/// exports are still written.
macro_rules! outln {
    () => {
        $crate::cli::write_stdout(format_args!("\n"))
    };
    ($($arg:tt)*) => {
        $crate::cli::write_stdout(format_args!("{}\n", format_args!($($arg)*)))
    };
}

/// `print!` with the same behaviour as [`outln!`].
macro_rules! out {
    ($($arg:tt)*) => {
        $crate::cli::write_stdout(format_args!($($arg)*))
    };
}

mod args;
mod commands;
mod doctor;
mod error;
mod gui;
mod inspect;
mod merge;
mod mix;
pub mod mix_toml;
mod output;
mod remote;
pub mod reproduce;
mod setup;
mod sweep;

use std::io::Write as _;
use std::sync::atomic::{AtomicBool, Ordering};

pub use args::{
    ArgError, Cli, Command, GuiArgs, InspectArgs, ProfileArgs, ReportArgs, SetupArgs, SweepArgs,
    TransformArgs, TransformFlags,
};
pub use error::{CliError, EXIT_NO_PASSING_POINT, EXIT_REQUESTS_FAILED};
#[cfg(feature = "gui")]
pub use gui::command_line_for_window;

/// Runs a parsed command line; returns the process exit status.
pub fn run(cli: Cli) -> anyhow::Result<u8> {
    // Errors and notes name the flags; the window, when started, its labels.
    crate::field::speak(Some(args::flag_name));
    if cli.version {
        doctor::print_version();
        return Ok(0);
    }
    match cli.command {
        None => gui::gui(GuiArgs {
            model: None,
            autorun: false,
            exit_after_run: false,
            frame_stats: None,
            export: None,
            concurrency: None,
            duration: None,
            profile_every: None,
            rate: None,
            shape: args::ShapeArgs::default(),
            mix: None,
            max_input_bytes: None,
        }),
        Some(Command::Gui(args)) => gui::gui(args),
        Some(Command::Doctor) => doctor::doctor(),
        Some(Command::Setup(args)) => setup::setup(&args),
        Some(Command::Inspect(args)) => commands::inspect(&args),
        Some(Command::Profile(args)) => commands::profile(&args),
        Some(Command::Report(args)) => commands::report(&args),
        Some(Command::Transform(args)) => commands::transform(&args),
        Some(Command::Sweep(args)) => sweep::sweep(&args),
    }
}

/// The error and its causes on one line, `error: cause: cause`, as `{:#}`
/// prints an [`anyhow::Error`], except that a cause is not repeated when the
/// message before it already holds its text. The error enums put their
/// `#[source]` in their message (sometimes cleaned of ONNX Runtime's prefix
/// or surrounding whitespace), so the chain would otherwise say it twice.
pub fn error_report(err: &anyhow::Error) -> String {
    let mut chain = err.chain();
    let mut report = chain.next().map(ToString::to_string).unwrap_or_default();
    let mut previous = report.clone();
    for cause in chain {
        let message = cause.to_string();
        let text = message.trim();
        let already_said = !text.is_empty()
            && (previous.contains(text)
                || previous.contains(&crate::engine::clean_ort_message(text)));
        if !already_said {
            report.push_str(": ");
            report.push_str(text);
        }
        previous = message;
    }
    report
}

/// Set once stdout is gone; later output is dropped.
static STDOUT_CLOSED: AtomicBool = AtomicBool::new(false);

/// Writes command output to stdout. A broken pipe (the reader went away)
/// or another write error stops further output; other errors are logged.
pub(crate) fn write_stdout(args: std::fmt::Arguments<'_>) {
    if STDOUT_CLOSED.load(Ordering::Relaxed) {
        return;
    }
    if let Err(err) = std::io::stdout().lock().write_fmt(args) {
        STDOUT_CLOSED.store(true, Ordering::Relaxed);
        if err.kind() != std::io::ErrorKind::BrokenPipe {
            tracing::warn!("cannot write to stdout: {err}");
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::engine::runtime::RuntimeError;

    #[test]
    fn a_cause_already_in_the_message_is_not_repeated() {
        let io = std::io::Error::other("disk full");
        let err = anyhow::Error::new(CliError::Setup(RuntimeError::Provision(
            crate::engine::runtime::ProvisionError::TempDir { source: io },
        )));
        assert_eq!(
            error_report(&err),
            "ONNX Runtime could not be set up: provisioning ONNX Runtime failed: \
             cannot create a temporary folder: disk full"
        );
        let context = anyhow::Error::new(std::io::Error::other("denied")).context("cannot save");
        assert_eq!(error_report(&context), "cannot save: denied");
        assert_eq!(error_report(&context), format!("{context:#}"));
        // A cause whose text the message holds with other whitespace.
        let inner =
            anyhow::Error::new(std::io::Error::other("bad graph\n")).context("rejected: bad graph");
        assert_eq!(error_report(&inner), "rejected: bad graph");
    }
}
