//! The `gui` command (also what runs with no command): the desktop
//! workbench.

use super::GuiArgs;

/// Opens the workbench window and returns when it closes.
pub(super) fn gui(args: GuiArgs) -> anyhow::Result<u8> {
    crate::ui::run(crate::ui::GuiOptions {
        model: args.model,
        autorun: args.autorun,
        exit_after_run: args.exit_after_run,
        frame_stats: args.frame_stats,
        concurrency: args.concurrency,
        duration_secs: args.duration.map(|d| d.as_secs_f64()),
        profile_every: args.profile_every,
    })?;
    Ok(0)
}
