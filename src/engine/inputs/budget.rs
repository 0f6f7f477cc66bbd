//! The memory budget of input preparation: every size computed from a model
//! (elements of a shape, bytes of a dtype, times the copies a run keeps) is
//! checked with checked arithmetic before anything is allocated, against
//! `--max-input-bytes` and the memory the machine has available.

use ort::value::TensorElementType;

use super::InputError;
use crate::field::Field;

/// Default of `--max-input-bytes`: 4 GiB.
pub const DEFAULT_MAX_INPUT_BYTES: u64 = 4 << 30;

/// Bytes a synthetic string element takes (the `String` and its text).
const STRING_ELEMENT_BYTES: u64 = 32;

/// Bytes of one element of `dtype`.
pub fn element_bytes(dtype: TensorElementType) -> u64 {
    match dtype {
        TensorElementType::Float64 | TensorElementType::Int64 | TensorElementType::Uint64 => 8,
        TensorElementType::Float32 | TensorElementType::Int32 | TensorElementType::Uint32 => 4,
        TensorElementType::Float16
        | TensorElementType::Bfloat16
        | TensorElementType::Int16
        | TensorElementType::Uint16 => 2,
        TensorElementType::String => STRING_ELEMENT_BYTES,
        _ => 1,
    }
}

/// Elements of `shape`, or `None` when a dim is negative or the product
/// overflows.
pub fn num_elements(shape: &[i64]) -> Option<u64> {
    shape.iter().try_fold(1u64, |total, dim| {
        u64::try_from(*dim)
            .ok()
            .and_then(|dim| total.checked_mul(dim))
    })
}

/// The limit in force: `max_input_bytes` (default
/// [`DEFAULT_MAX_INPUT_BYTES`]), and the memory available now, as text for
/// the error.
fn limits(max_input_bytes: Option<u64>) -> (u64, Option<u64>) {
    let flag = max_input_bytes.unwrap_or(DEFAULT_MAX_INPUT_BYTES);
    (flag, crate::util::available_memory_bytes())
}

/// Human bytes: `25.8 GB (25769803776 bytes)`.
fn bytes_text(bytes: u64) -> String {
    const GIB: f64 = (1u64 << 30) as f64;
    const MIB: f64 = (1u64 << 20) as f64;
    let value = bytes as f64;
    if value >= GIB {
        format!("{:.1} GiB ({bytes} bytes)", value / GIB)
    } else {
        format!("{:.1} MiB ({bytes} bytes)", value / MIB)
    }
}

/// `1 copy`, `3 copies`.
fn copies_text(copies: u64) -> String {
    if copies == 1 {
        "1 copy".to_owned()
    } else {
        format!("{copies} copies")
    }
}

/// Checks that `copies` copies of inputs of `shapes` fit: each input alone
/// and all together, against `max_input_bytes` and the available memory.
/// `names`, `dtypes` and `shapes` are in input order.
pub fn check(
    names: &[&str],
    dtypes: &[TensorElementType],
    shapes: &[Vec<i64>],
    copies: u64,
    max_input_bytes: Option<u64>,
) -> Result<(), InputError> {
    let (flag_limit, available) = limits(max_input_bytes);
    let limit = available.map_or(flag_limit, |available| flag_limit.min(available));
    let limit_text = || {
        let flag = match max_input_bytes {
            Some(bytes) => format!("{} {bytes}", Field::MaxInputBytes),
            None => format!(
                "{}, default {}",
                Field::MaxInputBytes,
                bytes_text(DEFAULT_MAX_INPUT_BYTES)
            ),
        };
        match available {
            Some(available) => {
                format!(
                    "{flag}; the machine has {} available",
                    bytes_text(available)
                )
            }
            None => flag,
        }
    };
    let mut total: u64 = 0;
    for ((name, dtype), shape) in names.iter().zip(dtypes).zip(shapes) {
        let bytes = num_elements(shape)
            .and_then(|elements| elements.checked_mul(element_bytes(*dtype)))
            .and_then(|bytes| bytes.checked_mul(copies.max(1)));
        let too_large = |bytes_needed: String| InputError::TooLarge {
            name: (*name).to_owned(),
            shape: shape.clone(),
            detail: format!(
                "({dtype}) needs {bytes_needed} for {} held at once (input sets and their per-worker values), more than the limit of {} ({})",
                copies_text(copies),
                bytes_text(limit),
                limit_text()
            ),
        };
        let Some(bytes) = bytes else {
            return Err(too_large("more than 2^64 bytes".to_owned()));
        };
        if bytes > limit {
            return Err(too_large(bytes_text(bytes)));
        }
        total = match total.checked_add(bytes) {
            Some(total) if total <= limit => total,
            _ => {
                return Err(InputError::AllTooLarge {
                    detail: format!(
                        "need {} for {} held at once (input sets and their per-worker values), more than the limit of {} ({})",
                        bytes_text(total.saturating_add(bytes)),
                        copies_text(copies),
                        bytes_text(limit),
                        limit_text()
                    ),
                });
            }
        };
    }
    Ok(())
}

/// A vector of `len` values from `next`, reserved fallibly first: `None`
/// when the allocation fails.
pub fn try_filled<T>(len: usize, mut next: impl FnMut() -> T) -> Option<Vec<T>> {
    let mut out = Vec::new();
    out.try_reserve_exact(len).ok()?;
    out.extend((0..len).map(|_| next()));
    Some(out)
}

/// Parses a byte count: `4294967296`, `512MiB`, `8GiB`, `2GB`, `100KiB`.
pub fn parse_bytes(text: &str) -> Result<u64, InputError> {
    let bad = || InputError::BadByteSize {
        text: text.to_owned(),
    };
    let trimmed = text.trim();
    let split = trimmed
        .find(|c: char| !(c.is_ascii_digit() || c == '.'))
        .unwrap_or(trimmed.len());
    let (number, unit) = trimmed.split_at(split);
    let scale: u64 = match unit.trim().to_ascii_lowercase().as_str() {
        "" | "b" => 1,
        "k" | "kb" => 1000,
        "kib" => 1 << 10,
        "m" | "mb" => 1_000_000,
        "mib" => 1 << 20,
        "g" | "gb" => 1_000_000_000,
        "gib" => 1 << 30,
        "t" | "tb" => 1_000_000_000_000,
        "tib" => 1 << 40,
        _ => return Err(bad()),
    };
    let value: f64 = number.parse().map_err(|_| bad())?;
    let bytes = value * scale as f64;
    if !(bytes.is_finite() && bytes >= 1.0 && bytes < u64::MAX as f64) {
        return Err(bad());
    }
    Ok(bytes as u64)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn huge_shapes_are_refused_before_allocation() {
        let f32s = [TensorElementType::Float32];
        let huge = vec![vec![1i64 << 31, 3]];
        let err = check(&["x"], &f32s, &huge, 1, None).expect_err("25.8 GB");
        let text = err.to_string();
        assert!(
            text.contains("'x'")
                && text.contains("[2147483648, 3]")
                && text.contains("raise max_input_bytes"),
            "{text}"
        );
        let overflow = vec![vec![i64::MAX, i64::MAX]];
        let err = check(&["x"], &f32s, &overflow, 1, None).expect_err("overflow");
        assert!(err.to_string().contains("2^64"), "{err}");
        let small = vec![vec![1, 3, 224, 224]];
        check(&["x"], &f32s, &small, 4, None).expect("fits");
        let err = check(&["x"], &f32s, &small, 4, Some(1000)).expect_err("flag");
        assert!(err.to_string().contains("max_input_bytes 1000"), "{err}");
        // Each input fits, both together do not.
        let two = vec![vec![100], vec![100]];
        let err = check(&["a", "b"], &[f32s[0], f32s[0]], &two, 1, Some(600)).expect_err("sum");
        assert!(err.to_string().contains("together"), "{err}");
    }

    #[test]
    fn element_counts_are_checked() {
        assert_eq!(num_elements(&[2, 3]), Some(6));
        assert_eq!(num_elements(&[]), Some(1));
        assert_eq!(num_elements(&[-1, 3]), None);
        assert_eq!(num_elements(&[i64::MAX, 4]), None);
        assert_eq!(try_filled(3, || 7u8), Some(vec![7, 7, 7]));
    }
}
