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
        mix: args.mix,
        batch: args.shape.batch,
        dims: args.shape.dims,
        shapes: args.shape.shapes,
        command_line: Some(super::command_line_for_window()),
    })?;
    Ok(0)
}

/// Without the `gui` feature there is no window to open: says so, and how to
/// build one that has it.
#[cfg(not(feature = "gui"))]
pub(super) fn gui(_args: GuiArgs) -> anyhow::Result<u8> {
    Err(super::CliError::NoGui.into())
}
