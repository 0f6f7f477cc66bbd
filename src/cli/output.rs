//! The one line an export prints.

/// Prints what an export wrote, or why it could not (with its causes);
/// returns true when it failed.
pub(crate) fn export_line<E: std::fmt::Display>(outcome: Result<String, E>) -> bool {
    match outcome {
        Ok(message) => {
            eprintln!("{message}");
            false
        }
        Err(err) => {
            eprintln!("error: {err:#}");
            true
        }
    }
}
