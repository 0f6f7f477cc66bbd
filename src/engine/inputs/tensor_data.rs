//! The typed contents of one tensor, and the ONNX Runtime values made of
//! them (concatenated and split along the batch for dynamic batching).

use half::f16;
use ort::value::{DynValue, Tensor, ValueType};

/// The typed contents of one tensor.
#[derive(Debug, Clone, PartialEq)]
pub enum TensorData {
    F32(Vec<f32>),
    F64(Vec<f64>),
    F16(Vec<f16>),
    I8(Vec<i8>),
    U8(Vec<u8>),
    I16(Vec<i16>),
    U16(Vec<u16>),
    I32(Vec<i32>),
    U32(Vec<u32>),
    I64(Vec<i64>),
    U64(Vec<u64>),
    Bool(Vec<bool>),
    Str(Vec<String>),
}

impl TensorData {
    /// Number of elements.
    pub fn len(&self) -> usize {
        match self {
            Self::F32(v) => v.len(),
            Self::F64(v) => v.len(),
            Self::F16(v) => v.len(),
            Self::I8(v) => v.len(),
            Self::U8(v) => v.len(),
            Self::I16(v) => v.len(),
            Self::U16(v) => v.len(),
            Self::I32(v) => v.len(),
            Self::U32(v) => v.len(),
            Self::I64(v) => v.len(),
            Self::U64(v) => v.len(),
            Self::Bool(v) => v.len(),
            Self::Str(v) => v.len(),
        }
    }

    /// True when the tensor has no elements.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Concatenates tensors of one dtype along dim 0 (their flat data, in
    /// order). `None` when the dtypes differ or `parts` is empty.
    pub fn concat_rows(parts: &[&Self]) -> Option<Self> {
        macro_rules! concat {
            ($($variant:ident),*) => {
                match parts.first()? {
                    $(Self::$variant(_) => {
                        let total = parts.iter().map(|part| part.len()).sum();
                        let mut out = Vec::with_capacity(total);
                        for part in parts {
                            let Self::$variant(values) = part else {
                                return None;
                            };
                            out.extend_from_slice(values);
                        }
                        Self::$variant(out)
                    })*
                }
            };
        }
        Some(concat!(
            F32, F64, F16, I8, U8, I16, U16, I32, U32, I64, U64, Bool, Str
        ))
    }

    /// Splits the flat data into consecutive parts of `rows[k] * row_len`
    /// elements (rows of dim 0). `None` when the sizes do not add up.
    pub fn split_rows(&self, rows: &[usize], row_len: usize) -> Option<Vec<Self>> {
        let total: usize = rows.iter().sum::<usize>().checked_mul(row_len)?;
        if total != self.len() {
            return None;
        }
        macro_rules! split {
            ($($variant:ident),*) => {
                match self {
                    $(Self::$variant(values) => {
                        let mut offset = 0;
                        rows.iter()
                            .map(|count| {
                                let end = offset + count * row_len;
                                let part = Self::$variant(values[offset..end].to_vec());
                                offset = end;
                                part
                            })
                            .collect()
                    })*
                }
            };
        }
        Some(split!(
            F32, F64, F16, I8, U8, I16, U16, I32, U32, I64, U64, Bool, Str
        ))
    }

    /// Splits an ONNX Runtime tensor by rows of dim 0 into consecutive parts
    /// of `rows[k]` rows, copying each part once. `None` when the dtype is
    /// not supported or dim 0 is not the sum of `rows`.
    pub fn split_value_rows(value: &DynValue, rows: &[usize]) -> Option<Vec<Self>> {
        fn split<T: Clone>(
            shape: &[i64],
            values: &[T],
            rows: &[usize],
            wrap: fn(Vec<T>) -> TensorData,
        ) -> Option<Vec<TensorData>> {
            let first = usize::try_from(*shape.first()?).ok()?;
            if first != rows.iter().sum::<usize>() {
                return None;
            }
            let row_len = shape[1..]
                .iter()
                .map(|dim| usize::try_from(*dim).ok())
                .product::<Option<usize>>()?;
            if first.checked_mul(row_len)? != values.len() {
                return None;
            }
            let mut offset = 0;
            Some(
                rows.iter()
                    .map(|count| {
                        let end = offset + count * row_len;
                        let part = wrap(values[offset..end].to_vec());
                        offset = end;
                        part
                    })
                    .collect(),
            )
        }
        macro_rules! read {
            ($($t:ty => $variant:ident),*) => {
                $(if let Ok((shape, data)) = value.try_extract_tensor::<$t>() {
                    return split(shape, data, rows, Self::$variant);
                })*
            };
        }
        read!(f32 => F32, f64 => F64, f16 => F16, i8 => I8, u8 => U8, i16 => I16,
            u16 => U16, i32 => I32, u32 => U32, i64 => I64, u64 => U64, bool => Bool);
        None
    }

    /// The shape of a tensor value (empty for a non-tensor).
    pub fn value_shape(value: &DynValue) -> Vec<i64> {
        match value.dtype() {
            ValueType::Tensor { shape, .. } => shape.to_vec(),
            _ => Vec::new(),
        }
    }

    /// Builds an ONNX Runtime value of `shape` that takes the data over.
    pub fn into_value(self, shape: &[i64]) -> ort::Result<DynValue> {
        let shape = shape.to_vec();
        Ok(match self {
            Self::F32(v) => Tensor::from_array((shape, v))?.into_dyn(),
            Self::F64(v) => Tensor::from_array((shape, v))?.into_dyn(),
            Self::F16(v) => Tensor::from_array((shape, v))?.into_dyn(),
            Self::I8(v) => Tensor::from_array((shape, v))?.into_dyn(),
            Self::U8(v) => Tensor::from_array((shape, v))?.into_dyn(),
            Self::I16(v) => Tensor::from_array((shape, v))?.into_dyn(),
            Self::U16(v) => Tensor::from_array((shape, v))?.into_dyn(),
            Self::I32(v) => Tensor::from_array((shape, v))?.into_dyn(),
            Self::U32(v) => Tensor::from_array((shape, v))?.into_dyn(),
            Self::I64(v) => Tensor::from_array((shape, v))?.into_dyn(),
            Self::U64(v) => Tensor::from_array((shape, v))?.into_dyn(),
            Self::Bool(v) => Tensor::from_array((shape, v))?.into_dyn(),
            Self::Str(v) => Tensor::from_string_array((shape, v.as_slice()))?.into_dyn(),
        })
    }

    /// Builds an ONNX Runtime value of `shape` holding a copy of the data.
    pub fn to_value(&self, shape: &[i64]) -> ort::Result<DynValue> {
        let shape = shape.to_vec();
        Ok(match self {
            Self::F32(v) => Tensor::from_array((shape, v.clone()))?.into_dyn(),
            Self::F64(v) => Tensor::from_array((shape, v.clone()))?.into_dyn(),
            Self::F16(v) => Tensor::from_array((shape, v.clone()))?.into_dyn(),
            Self::I8(v) => Tensor::from_array((shape, v.clone()))?.into_dyn(),
            Self::U8(v) => Tensor::from_array((shape, v.clone()))?.into_dyn(),
            Self::I16(v) => Tensor::from_array((shape, v.clone()))?.into_dyn(),
            Self::U16(v) => Tensor::from_array((shape, v.clone()))?.into_dyn(),
            Self::I32(v) => Tensor::from_array((shape, v.clone()))?.into_dyn(),
            Self::U32(v) => Tensor::from_array((shape, v.clone()))?.into_dyn(),
            Self::I64(v) => Tensor::from_array((shape, v.clone()))?.into_dyn(),
            Self::U64(v) => Tensor::from_array((shape, v.clone()))?.into_dyn(),
            Self::Bool(v) => Tensor::from_array((shape, v.clone()))?.into_dyn(),
            Self::Str(v) => Tensor::from_string_array((shape, v.as_slice()))?.into_dyn(),
        })
    }
}
