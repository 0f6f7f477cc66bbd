//! The `onnx-workbench` binary: parses the command line, sets up logging and
//! runs a headless command. Everything else lives in the library.

use std::io::IsTerminal as _;
use std::process::ExitCode;

use clap::Parser as _;

fn main() -> ExitCode {
    let cli = onnx_workbench::cli::Cli::parse();
    // ONNX Runtime's own log lines come through `tracing` too (target
    // `onnxruntime`, see `engine::runtime`): quiet unless -v.
    let default_filter = match cli.verbose {
        0 => "warn",
        1 => "info,onnx_workbench=debug,onnxruntime=debug",
        _ => "debug,onnx_workbench=trace,onnxruntime=trace",
    };
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_env("ONNX_WORKBENCH_LOG")
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new(default_filter)),
        )
        .with_ansi(std::io::stderr().is_terminal())
        .with_writer(std::io::stderr)
        .init();
    match onnx_workbench::cli::run(cli) {
        Ok(code) => ExitCode::from(code),
        Err(err) => {
            eprintln!("error: {}", onnx_workbench::cli::error_report(&err));
            ExitCode::FAILURE
        }
    }
}
