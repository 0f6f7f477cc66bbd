//! Raw bytes of inline tensors, whichever field holds them: `raw_data` as is,
//! or the typed fields (`float_data`, `int32_data`, ...) converted to the
//! little-endian layout that `raw_data` would have.

use std::borrow::Cow;

use super::ModelError;
use super::onnx::TensorProto;
use super::onnx::tensor_proto::{DataLocation, DataType};
use super::types::{ElemType, element_count};

/// The tensor's name for messages, or `<unnamed>`.
pub(crate) fn tensor_label(tensor: &TensorProto) -> String {
    match tensor.name() {
        "" => "<unnamed>".to_owned(),
        name => name.to_owned(),
    }
}

/// Bytes the tensor's data should take in `raw_data` layout according to
/// its dims and element type; `None` for strings, unknown types or bad dims.
pub(crate) fn expected_storage_bytes(tensor: &TensorProto) -> Option<u64> {
    ElemType::from_code(tensor.data_type()).storage_bytes(element_count(&tensor.dims)?)
}

/// The bytes of an inline tensor in `raw_data` layout. Borrowed when the
/// tensor uses `raw_data`, converted from the typed fields otherwise.
pub(crate) fn inline_bytes(tensor: &TensorProto) -> Result<Cow<'_, [u8]>, ModelError> {
    let fail = |reason: String| ModelError::TensorData {
        tensor: tensor_label(tensor),
        reason,
    };
    let elem_type = ElemType::from_code(tensor.data_type());
    let expected_bytes = expected_storage_bytes(tensor);
    let bytes = match &tensor.raw_data {
        Some(raw) if !raw.is_empty() => Cow::Borrowed(raw.as_slice()),
        _ => Cow::Owned(typed_bytes(tensor, elem_type)?),
    };
    match expected_bytes {
        Some(expected) if u64::try_from(bytes.len()).ok() != Some(expected) => Err(fail(format!(
            "holds {} bytes but its dims {:?} of {elem_type} need {expected} bytes",
            bytes.len(),
            tensor.dims
        ))),
        Some(_) => Ok(bytes),
        None => Err(fail(format!(
            "dims {:?} of {elem_type} have no fixed byte size",
            tensor.dims
        ))),
    }
}

/// Converts the typed data fields to `raw_data` layout.
fn typed_bytes(tensor: &TensorProto, elem_type: ElemType) -> Result<Vec<u8>, ModelError> {
    let fail = |reason: String| ModelError::TensorData {
        tensor: tensor_label(tensor),
        reason,
    };
    fn low_bytes(values: &[i32], width: usize) -> Vec<u8> {
        values
            .iter()
            .flat_map(|value| value.to_le_bytes().into_iter().take(width))
            .collect()
    }
    let bytes = match elem_type {
        ElemType::Float | ElemType::Complex64 => tensor
            .float_data
            .iter()
            .flat_map(|v| v.to_le_bytes())
            .collect(),
        ElemType::Double | ElemType::Complex128 => tensor
            .double_data
            .iter()
            .flat_map(|v| v.to_le_bytes())
            .collect(),
        ElemType::Int64 => tensor
            .int64_data
            .iter()
            .flat_map(|v| v.to_le_bytes())
            .collect(),
        ElemType::Uint64 => tensor
            .uint64_data
            .iter()
            .flat_map(|v| v.to_le_bytes())
            .collect(),
        // uint32 values are stored widened in uint64_data.
        ElemType::Uint32 => tensor
            .uint64_data
            .iter()
            .flat_map(|v| v.to_le_bytes().into_iter().take(4))
            .collect(),
        ElemType::Int32 => low_bytes(&tensor.int32_data, 4),
        ElemType::Int16 | ElemType::Uint16 | ElemType::Float16 | ElemType::Bfloat16 => {
            low_bytes(&tensor.int32_data, 2)
        }
        ElemType::Int8 | ElemType::Uint8 | ElemType::Bool => low_bytes(&tensor.int32_data, 1),
        ElemType::String => {
            return Err(fail("string tensors have no raw byte layout".to_owned()));
        }
        ElemType::Other(code) => match DataType::try_from(code) {
            // float8 types hold one element per entry; 4-bit and 2-bit types
            // hold one already packed byte per entry.
            Ok(
                DataType::Float8e4m3fn
                | DataType::Float8e4m3fnuz
                | DataType::Float8e5m2
                | DataType::Float8e5m2fnuz
                | DataType::Float8e8m0
                | DataType::Uint4
                | DataType::Int4
                | DataType::Float4e2m1
                | DataType::Uint2
                | DataType::Int2,
            ) => low_bytes(&tensor.int32_data, 1),
            // float6 types hold one 6-bit element per entry; raw_data packs
            // them LSB first into a bit stream.
            Ok(DataType::Float6e2m3 | DataType::Float6e3m2) => pack_6bit(&tensor.int32_data),
            _ => {
                return Err(fail(format!(
                    "element type {elem_type} has no known layout"
                )));
            }
        },
    };
    Ok(bytes)
}

/// Packs 6-bit values LSB first, as `raw_data` stores float6 tensors.
fn pack_6bit(values: &[i32]) -> Vec<u8> {
    let mut packed = vec![0u8; (values.len() * 6).div_ceil(8)];
    for (index, value) in values.iter().enumerate() {
        let bits = (*value & 0x3f) as u16;
        let bit_offset = index * 6;
        let byte = bit_offset / 8;
        let shifted = bits << (bit_offset % 8);
        let [low, high] = shifted.to_le_bytes();
        if let Some(slot) = packed.get_mut(byte) {
            *slot |= low;
        }
        if let Some(slot) = packed.get_mut(byte + 1) {
            *slot |= high;
        }
    }
    packed
}

/// Whether the tensor's data is stored externally (`data_location` EXTERNAL).
pub fn is_external(tensor: &TensorProto) -> bool {
    tensor.data_location() == DataLocation::External
}

/// Integer values of an inline int64/int32 tensor (used for shape inputs such
/// as Reshape's `shape` and Unsqueeze's `axes`). `None` for other types,
/// external data or inconsistent data.
pub(crate) fn inline_int_values(tensor: &TensorProto) -> Option<Vec<i64>> {
    let elem_type = ElemType::from_code(tensor.data_type());
    if !matches!(elem_type, ElemType::Int64 | ElemType::Int32) || is_external(tensor) {
        return None;
    }
    let bytes = inline_bytes(tensor).ok()?;
    let values = match elem_type {
        ElemType::Int64 => bytes
            .chunks_exact(8)
            .map(|chunk| <[u8; 8]>::try_from(chunk).map(i64::from_le_bytes))
            .collect::<Result<Vec<_>, _>>()
            .ok()?,
        _ => bytes
            .chunks_exact(4)
            .map(|chunk| <[u8; 4]>::try_from(chunk).map(|b| i64::from(i32::from_le_bytes(b))))
            .collect::<Result<Vec<_>, _>>()
            .ok()?,
    };
    Some(values)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::test_util::error_message;

    fn tensor(data_type: ElemType, dims: &[i64]) -> TensorProto {
        TensorProto {
            name: Some("t".to_owned()),
            data_type: Some(data_type.code()),
            dims: dims.to_vec(),
            ..Default::default()
        }
    }

    #[test]
    fn raw_data_is_borrowed() -> Result<(), ModelError> {
        let mut t = tensor(ElemType::Float, &[2]);
        t.raw_data = Some(vec![0, 0, 128, 63, 0, 0, 0, 64]);
        let bytes = inline_bytes(&t)?;
        assert!(matches!(bytes, Cow::Borrowed(_)));
        assert_eq!(&*bytes, &[0, 0, 128, 63, 0, 0, 0, 64]);
        Ok(())
    }

    #[test]
    fn typed_fields_become_little_endian_bytes() -> Result<(), ModelError> {
        let mut t = tensor(ElemType::Float, &[2]);
        t.float_data = vec![1.0, 2.0];
        assert_eq!(&*inline_bytes(&t)?, &[0, 0, 128, 63, 0, 0, 0, 64]);

        let mut t = tensor(ElemType::Float16, &[2]);
        t.int32_data = vec![0x3c00, 0xc000]; // 1.0, -2.0 as fp16 bits
        assert_eq!(&*inline_bytes(&t)?, &[0x00, 0x3c, 0x00, 0xc0]);

        let mut t = tensor(ElemType::Int64, &[2]);
        t.int64_data = vec![-1, 258];
        assert_eq!(
            &*inline_bytes(&t)?,
            &[
                255, 255, 255, 255, 255, 255, 255, 255, 2, 1, 0, 0, 0, 0, 0, 0
            ]
        );
        assert_eq!(inline_int_values(&t), Some(vec![-1, 258]));

        let mut t = tensor(ElemType::Uint32, &[1]);
        t.uint64_data = vec![0x0102_0304];
        assert_eq!(&*inline_bytes(&t)?, &[4, 3, 2, 1]);

        let mut t = tensor(ElemType::Bool, &[3]);
        t.int32_data = vec![1, 0, 1];
        assert_eq!(&*inline_bytes(&t)?, &[1, 0, 1]);

        let mut t = tensor(ElemType::Other(DataType::Int4 as i32), &[3]);
        t.int32_data = vec![0x21, 0x03];
        assert_eq!(&*inline_bytes(&t)?, &[0x21, 0x03]);

        let mut t = tensor(ElemType::Other(DataType::Float6e2m3 as i32), &[4]);
        t.int32_data = vec![0b000001, 0b000010, 0b000011, 0b111111];
        // x0 | x1 << 6 | x2 << 12 | x3 << 18 = 0xfc3081 in 3 bytes, LSB first.
        assert_eq!(&*inline_bytes(&t)?, &[0x81, 0x30, 0xfc]);
        Ok(())
    }

    #[test]
    fn wrong_sizes_and_strings_are_errors() {
        let mut t = tensor(ElemType::Float, &[3]);
        t.float_data = vec![1.0, 2.0];
        let message = error_message(inline_bytes(&t));
        assert_eq!(
            message,
            "cannot read data of tensor \"t\": holds 8 bytes but its dims [3] of float32 need 12 bytes"
        );

        let t = tensor(ElemType::Float, &[4]);
        assert!(inline_bytes(&t).is_err(), "no data at all");

        let mut t = tensor(ElemType::String, &[1]);
        t.string_data = vec![b"hi".to_vec()];
        let message = error_message(inline_bytes(&t));
        assert!(
            message.contains("string tensors have no raw byte layout"),
            "{message}"
        );

        let empty = tensor(ElemType::Float, &[0]);
        assert_eq!(inline_bytes(&empty).map(|b| b.len()).ok(), Some(0));
    }
}
