//! The `gui` command (also what runs with no command): the desktop
//! workbench, which only a build with the `gui` feature (the default) has.

use super::GuiArgs;

/// Opens the workbench window and returns when it closes.
#[cfg(feature = "gui")]
pub(super) fn gui(args: GuiArgs) -> anyhow::Result<u8> {
    crate::ui::run(crate::ui::GuiOptions {
        model: args.model,
        autorun: args.autorun,
        exit_after_run: args.exit_after_run,
        frame_stats: args.frame_stats,
        export_session: args.export,
        concurrency: args.concurrency,
        duration_secs: args.duration.map(|d| d.as_secs_f64()),
        profile_every: args.profile_every,
        rate: args.rate,
        max_input_bytes: args.max_input_bytes,
        mix: args.mix,
        batch: args.shape.batch,
        dims: args.shape.dims,
        shapes: args.shape.shapes,
        command_line: Some(command_line_for_window()),
    })?;
    Ok(0)
}

/// Without the `gui` feature there is no window to open: says so, and how to
/// build one that has it.
#[cfg(not(feature = "gui"))]
pub(super) fn gui(_args: GuiArgs) -> anyhow::Result<u8> {
    Err(super::error::CliError::NoGui.into())
}

/// What the window borrows from the command line (it cannot import it):
/// mix files read and written as `--mix` reads them, and the `profile`
/// command that reproduces a config.
#[cfg(feature = "gui")]
pub fn command_line_for_window() -> crate::ui::CommandLine {
    crate::ui::CommandLine {
        read_mix: read_mix_for_window,
        write_mix: super::mix_toml::to_mix_toml,
        reproduce: super::reproduce::profile_command,
    }
}

/// Reads a mix file: the same parser as `--mix`, its error as text.
#[cfg(feature = "gui")]
fn read_mix_for_window(path: &std::path::Path) -> Result<crate::mix::MixSpec, String> {
    super::mix::read_mix_file(path).map_err(|err| err.to_string())
}
