//! Small helpers shared by every module: atomic writes, human formatting,
//! and the memory check every size read from a file passes before it is
//! allocated.

use std::{io::Write as _, path::Path};

/// A write that failed; the destination is left untouched.
#[derive(Debug, thiserror::Error)]
#[error("cannot write {what}: {source}: {}", path.display())]
pub struct WriteError {
    what: &'static str,
    #[source]
    source: std::io::Error,
    path: std::path::PathBuf,
}

/// A size read from a file that does not fit in the memory the machine has:
/// refused before anything is allocated, instead of an allocation abort.
#[derive(Debug, thiserror::Error)]
#[error("{what} needs {} of memory, but only {} is available", format_bytes(*.bytes), format_bytes(*.available))]
pub struct MemoryError {
    /// What the memory was for, in words (names the tensor or file).
    pub what: String,
    pub bytes: u64,
    pub available: u64,
}

/// Memory available to this process now, in bytes (`None` when the machine
/// does not say).
pub fn available_memory_bytes() -> Option<u64> {
    let mut system = sysinfo::System::new().ok()?;
    system.refresh_memory();
    Some(system.available_memory()).filter(|bytes| *bytes > 0)
}

/// Checks that `bytes` fit in the available memory; `what` names them in
/// the error.
pub fn check_fits_in_memory(bytes: u64, what: impl FnOnce() -> String) -> Result<(), MemoryError> {
    match available_memory_bytes() {
        Some(available) if bytes > available => Err(MemoryError {
            what: what(),
            bytes,
            available,
        }),
        _ => Ok(()),
    }
}

/// A zeroed buffer of `len` bytes, checked against the available memory and
/// reserved fallibly, so a size read from a file never aborts the process.
pub fn try_zeroed_bytes(len: u64, what: impl Fn() -> String) -> Result<Vec<u8>, MemoryError> {
    check_fits_in_memory(len, &what)?;
    let refuse = || MemoryError {
        what: what(),
        bytes: len,
        available: available_memory_bytes().unwrap_or(0),
    };
    let len = usize::try_from(len).map_err(|_| refuse())?;
    let mut bytes = Vec::new();
    bytes.try_reserve_exact(len).map_err(|_| refuse())?;
    bytes.resize(len, 0);
    Ok(bytes)
}

/// Writes `contents` to `path` through a temporary file in the same folder,
/// then renames it into place, so a failed write never leaves a half-written
/// file behind.
pub fn write_atomic(path: &Path, contents: &[u8]) -> Result<(), WriteError> {
    write_atomic_with(path, |file| file.write_all(contents))
}

/// Like [`write_atomic`], with a closure that writes into the temporary file.
pub fn write_atomic_with(
    path: &Path,
    write: impl FnOnce(&mut std::io::BufWriter<&std::fs::File>) -> std::io::Result<()>,
) -> Result<(), WriteError> {
    let error = |what, source| WriteError {
        what,
        source,
        path: path.to_path_buf(),
    };
    let dir = match path.parent() {
        Some(dir) if !dir.as_os_str().is_empty() => dir,
        _ => Path::new("."),
    };
    let temp = tempfile::Builder::new()
        .prefix(".onnx-workbench-")
        .tempfile_in(dir)
        .map_err(|err| error("a temporary file", err))?;
    {
        let mut writer = std::io::BufWriter::new(temp.as_file());
        write(&mut writer).map_err(|err| error("the file", err))?;
        writer.flush().map_err(|err| error("the file", err))?;
    }
    temp.as_file()
        .sync_all()
        .map_err(|err| error("the file", err))?;
    // Temporary files are created private (0600); a saved file should not be.
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt as _;
        let _ = temp
            .as_file()
            .set_permissions(std::fs::Permissions::from_mode(0o644));
    }
    temp.persist(path)
        .map_err(|err| error("the file (rename)", err.error))?;
    Ok(())
}

/// Formats a byte count with binary-free SI units: `1.06 MB`.
pub fn format_bytes(bytes: u64) -> String {
    const UNITS: [&str; 5] = ["B", "kB", "MB", "GB", "TB"];
    let mut value = bytes as f64;
    let mut unit = 0;
    while value >= 1000.0 && unit + 1 < UNITS.len() {
        value /= 1000.0;
        unit += 1;
    }
    if unit == 0 {
        format!("{bytes} B")
    } else {
        format!("{value:.2} {}", UNITS[unit])
    }
}

/// Formats microseconds with a unit that keeps three significant digits:
/// `850 µs`, `12.3 ms`, `1.20 s`.
pub fn format_micros(micros: f64) -> String {
    if !micros.is_finite() {
        return "-".to_owned();
    }
    if micros < 1000.0 {
        if micros < 10.0 {
            format!("{micros:.2} µs")
        } else if micros < 100.0 {
            format!("{micros:.1} µs")
        } else {
            format!("{micros:.0} µs")
        }
    } else if micros < 1_000_000.0 {
        let millis = micros / 1000.0;
        if millis < 10.0 {
            format!("{millis:.2} ms")
        } else if millis < 100.0 {
            format!("{millis:.1} ms")
        } else {
            format!("{millis:.0} ms")
        }
    } else {
        format!("{:.2} s", micros / 1_000_000.0)
    }
}

/// Formats a value with three significant digits at most and no trailing
/// zeros: `0.125`, `3`, `12.5`, `1500`. Rates (`12.5/s`) and factors
/// (`×2.25`) are written with it.
pub fn format_value(value: f64) -> String {
    if !value.is_finite() {
        return "-".to_owned();
    }
    let decimals = if value.abs() >= 100.0 {
        0
    } else if value.abs() >= 10.0 {
        1
    } else if value.abs() >= 1.0 {
        2
    } else {
        3
    };
    let text = format!("{value:.decimals$}");
    let text = if text.contains('.') {
        text.trim_end_matches('0').trim_end_matches('.').to_owned()
    } else {
        text
    };
    // -0.0, or a negative value that rounds to zero.
    if text == "-0" { "0".to_owned() } else { text }
}

/// Formats a count with thousands separators: `1,234,567`.
pub fn format_count(count: u64) -> String {
    let digits = count.to_string();
    let mut out = String::with_capacity(digits.len() + digits.len() / 3);
    for (index, digit) in digits.chars().enumerate() {
        if index > 0 && (digits.len() - index).is_multiple_of(3) {
            out.push(',');
        }
        out.push(digit);
    }
    out
}

/// Seconds since the Unix epoch, as an RFC 3339 UTC timestamp.
pub fn rfc3339_now() -> String {
    humantime::format_rfc3339_millis(std::time::SystemTime::now()).to_string()
}

/// The text of a panic payload (`panic!` with a literal or a formatted
/// message), for turning a panicked thread into an error message.
pub fn panic_message(payload: &(dyn std::any::Any + Send)) -> String {
    payload
        .downcast_ref::<&str>()
        .map(|s| (*s).to_owned())
        .or_else(|| payload.downcast_ref::<String>().cloned())
        .unwrap_or_else(|| "unknown panic".to_owned())
}

/// Lowers the calling thread's scheduling priority to the lowest (nice 19),
/// for the harness's bookkeeping threads (aggregator, telemetry): they then
/// rarely preempt a load worker that is spinning toward an arrival or
/// running the model. A failure leaves the priority as it was.
pub fn lower_this_thread_priority() {
    #[cfg(target_os = "linux")]
    {
        let _ = rustix::process::setpriority_process(Some(rustix::thread::gettid()), 19);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn values_keep_three_significant_digits_without_trailing_zeros() {
        assert_eq!(format_value(3.0), "3");
        assert_eq!(format_value(2.25), "2.25");
        assert_eq!(format_value(12.5), "12.5");
        assert_eq!(format_value(1500.4), "1500");
        assert_eq!(format_value(0.125), "0.125");
        assert_eq!(format_value(15.000_000_01), "15");
        assert_eq!(format_value(f64::NAN), "-");
        assert_eq!(format_value(-0.0), "0");
        assert_eq!(format_value(-0.000_1), "0");
        assert_eq!(format_value(-2.5), "-2.5");
    }

    #[test]
    fn bytes_are_formatted_with_si_units() {
        assert_eq!(format_bytes(512), "512 B");
        assert_eq!(format_bytes(1_060_000), "1.06 MB");
        assert_eq!(format_bytes(2_500_000_000), "2.50 GB");
    }

    #[test]
    fn micros_pick_a_readable_unit() {
        assert_eq!(format_micros(8.5), "8.50 µs");
        assert_eq!(format_micros(850.0), "850 µs");
        assert_eq!(format_micros(12_345.0), "12.3 ms");
        assert_eq!(format_micros(1_200_000.0), "1.20 s");
    }

    #[test]
    fn counts_get_separators() {
        assert_eq!(format_count(0), "0");
        assert_eq!(format_count(999), "999");
        assert_eq!(format_count(1_234_567), "1,234,567");
    }

    #[test]
    fn atomic_write_replaces_and_failed_write_leaves_nothing() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("out.txt");
        write_atomic(&path, b"first").expect("write");
        write_atomic(&path, b"second").expect("rewrite");
        assert_eq!(std::fs::read(&path).expect("read"), b"second");
        let failed = write_atomic_with(&path, |_| Err(std::io::Error::other("boom")));
        assert!(failed.is_err());
        assert_eq!(std::fs::read(&path).expect("read"), b"second");
        let leftovers = std::fs::read_dir(dir.path()).expect("list").count();
        assert_eq!(leftovers, 1, "no temporary file is left behind");
        let missing_dir = dir.path().join("no/such/dir/out.txt");
        let err = write_atomic(&missing_dir, b"x").expect_err("must fail");
        assert!(err.to_string().contains("no/such/dir"), "{err}");
    }
}
