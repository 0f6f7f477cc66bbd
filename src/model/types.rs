//! Element types, dimensions and tensor descriptions, converted from the
//! protobuf's integer codes and `TypeProto` into types that print and
//! serialize well.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

use super::onnx;
use super::onnx::tensor_proto::DataType;

/// A tensor element type, as in ONNX `TensorProto.DataType`.
///
/// Displays and serializes as a lowercase numpy-like name: `float32`,
/// `int64`, `float16`, `float64`, `bfloat16`, ... Codes without a named
/// variant (float8, int4, ...) are `Other(code)` and display as the proto's
/// name in lowercase (`float8e4m3fn`), or `dtype(<code>)` when unknown.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(into = "String", try_from = "String")]
pub enum ElemType {
    /// 32-bit IEEE float (code 1).
    Float,
    /// Unsigned 8-bit integer (code 2).
    Uint8,
    /// Signed 8-bit integer (code 3).
    Int8,
    /// Unsigned 16-bit integer (code 4).
    Uint16,
    /// Signed 16-bit integer (code 5).
    Int16,
    /// Signed 32-bit integer (code 6).
    Int32,
    /// Signed 64-bit integer (code 7).
    Int64,
    /// UTF-8 string, variable size (code 8).
    String,
    /// Boolean, one byte per element (code 9).
    Bool,
    /// 16-bit IEEE half float (code 10).
    Float16,
    /// 64-bit IEEE float (code 11).
    Double,
    /// Unsigned 32-bit integer (code 12).
    Uint32,
    /// Unsigned 64-bit integer (code 13).
    Uint64,
    /// Two 32-bit floats (code 14).
    Complex64,
    /// Two 64-bit floats (code 15).
    Complex128,
    /// Brain float, 16 bits (code 16).
    Bfloat16,
    /// Any other `TensorProto.DataType` code, including 0 (undefined).
    Other(i32),
}

impl ElemType {
    /// Converts a `TensorProto.DataType` code.
    pub fn from_code(code: i32) -> Self {
        match code {
            1 => Self::Float,
            2 => Self::Uint8,
            3 => Self::Int8,
            4 => Self::Uint16,
            5 => Self::Int16,
            6 => Self::Int32,
            7 => Self::Int64,
            8 => Self::String,
            9 => Self::Bool,
            10 => Self::Float16,
            11 => Self::Double,
            12 => Self::Uint32,
            13 => Self::Uint64,
            14 => Self::Complex64,
            15 => Self::Complex128,
            16 => Self::Bfloat16,
            other => Self::Other(other),
        }
    }

    /// The `TensorProto.DataType` code.
    pub fn code(self) -> i32 {
        match self {
            Self::Float => 1,
            Self::Uint8 => 2,
            Self::Int8 => 3,
            Self::Uint16 => 4,
            Self::Int16 => 5,
            Self::Int32 => 6,
            Self::Int64 => 7,
            Self::String => 8,
            Self::Bool => 9,
            Self::Float16 => 10,
            Self::Double => 11,
            Self::Uint32 => 12,
            Self::Uint64 => 13,
            Self::Complex64 => 14,
            Self::Complex128 => 15,
            Self::Bfloat16 => 16,
            Self::Other(code) => code,
        }
    }

    /// Bits per element in `raw_data`, or `None` for strings and unknown codes.
    /// Sub-byte types (int4, int2, float4, float6) are packed.
    pub fn size_bits(self) -> Option<usize> {
        let bits = match self {
            Self::Bool | Self::Uint8 | Self::Int8 => 8,
            Self::Uint16 | Self::Int16 | Self::Float16 | Self::Bfloat16 => 16,
            Self::Float | Self::Int32 | Self::Uint32 => 32,
            Self::Double | Self::Int64 | Self::Uint64 | Self::Complex64 => 64,
            Self::Complex128 => 128,
            Self::String => return None,
            Self::Other(code) => match DataType::try_from(code).ok()? {
                DataType::Float8e4m3fn
                | DataType::Float8e4m3fnuz
                | DataType::Float8e5m2
                | DataType::Float8e5m2fnuz
                | DataType::Float8e8m0 => 8,
                DataType::Float6e2m3 | DataType::Float6e3m2 => 6,
                DataType::Uint4 | DataType::Int4 | DataType::Float4e2m1 => 4,
                DataType::Uint2 | DataType::Int2 => 2,
                _ => return None,
            },
        };
        Some(bits)
    }

    /// Bytes per element, or `None` for strings, unknown codes and packed
    /// sub-byte types (see [`ElemType::size_bits`] for those).
    pub fn size_bytes(self) -> Option<usize> {
        let bits = self.size_bits()?;
        bits.is_multiple_of(8).then_some(bits / 8)
    }

    /// Bytes that `num_elements` of this type take in `raw_data`, rounding
    /// packed sub-byte types up to whole bytes. `None` for strings and
    /// unknown codes, or on overflow.
    pub fn storage_bytes(self, num_elements: u64) -> Option<u64> {
        let bits = u64::try_from(self.size_bits()?).ok()?;
        Some(num_elements.checked_mul(bits)?.div_ceil(8))
    }

    /// Whether this is a floating-point type (including float8/float4/float6).
    pub fn is_float(self) -> bool {
        match self {
            Self::Float | Self::Float16 | Self::Double | Self::Bfloat16 => true,
            Self::Other(code) => DataType::try_from(code)
                .is_ok_and(|data_type| data_type.as_str_name().starts_with("FLOAT")),
            _ => false,
        }
    }
}

impl fmt::Display for ElemType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let name = match self {
            Self::Float => "float32",
            Self::Uint8 => "uint8",
            Self::Int8 => "int8",
            Self::Uint16 => "uint16",
            Self::Int16 => "int16",
            Self::Int32 => "int32",
            Self::Int64 => "int64",
            Self::String => "string",
            Self::Bool => "bool",
            Self::Float16 => "float16",
            Self::Double => "float64",
            Self::Uint32 => "uint32",
            Self::Uint64 => "uint64",
            Self::Complex64 => "complex64",
            Self::Complex128 => "complex128",
            Self::Bfloat16 => "bfloat16",
            Self::Other(code) => {
                return match DataType::try_from(*code) {
                    Ok(data_type) => f.write_str(&data_type.as_str_name().to_ascii_lowercase()),
                    Err(_) => write!(f, "dtype({code})"),
                };
            }
        };
        f.write_str(name)
    }
}

/// The error from parsing an [`ElemType`] name that is not known.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown element type {0:?}")]
pub struct ParseElemTypeError(pub String);

impl FromStr for ElemType {
    type Err = ParseElemTypeError;

    /// Parses the names that `Display` writes, plus the proto's upper-case
    /// names (`FLOAT`, `DOUBLE`, ...).
    fn from_str(name: &str) -> Result<Self, Self::Err> {
        let known = match name {
            "float32" => Some(Self::Float),
            "float64" => Some(Self::Double),
            _ => None,
        };
        if let Some(elem_type) = known {
            return Ok(elem_type);
        }
        if let Some(code) = name
            .strip_prefix("dtype(")
            .and_then(|rest| rest.strip_suffix(')'))
            .and_then(|digits| digits.parse::<i32>().ok())
        {
            return Ok(Self::from_code(code));
        }
        DataType::from_str_name(&name.to_ascii_uppercase())
            .map(|data_type| Self::from_code(data_type as i32))
            .ok_or_else(|| ParseElemTypeError(name.to_owned()))
    }
}

impl From<ElemType> for String {
    fn from(elem_type: ElemType) -> Self {
        elem_type.to_string()
    }
}

impl TryFrom<String> for ElemType {
    type Error = ParseElemTypeError;

    fn try_from(name: String) -> Result<Self, Self::Error> {
        name.parse()
    }
}

/// One dimension of a tensor shape as declared in the model.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum Dim {
    /// A fixed size (`dim_value` ≥ 0).
    Fixed(i64),
    /// A named dynamic size (`dim_param`), e.g. `batch`.
    Symbolic(String),
    /// A dynamic size with no name: neither `dim_value` nor `dim_param` is
    /// set, `dim_param` is empty, or `dim_value` is negative (e.g. -1).
    Unnamed,
}

impl fmt::Display for Dim {
    /// Fixed sizes as numbers, symbolic ones by name, unnamed ones as `?`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Fixed(size) => write!(f, "{size}"),
            Self::Symbolic(name) => f.write_str(name),
            Self::Unnamed => f.write_str("?"),
        }
    }
}

impl Dim {
    /// Converts a proto dimension. Returns the dimension and, for a negative
    /// `dim_value`, that value (the caller turns it into a warning).
    pub(crate) fn from_proto(dim: &onnx::tensor_shape_proto::Dimension) -> (Self, Option<i64>) {
        use onnx::tensor_shape_proto::dimension::Value;
        match &dim.value {
            Some(Value::DimValue(size)) if *size >= 0 => (Self::Fixed(*size), None),
            Some(Value::DimValue(size)) => (Self::Unnamed, Some(*size)),
            Some(Value::DimParam(name)) if !name.is_empty() => (Self::Symbolic(name.clone()), None),
            Some(Value::DimParam(_)) | None => (Self::Unnamed, None),
        }
    }
}

/// A graph input or output: name, element type and declared shape.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TensorInfo {
    /// The value's name in the graph.
    pub name: String,
    /// The element type; `Other(0)` when the type is missing or not a tensor.
    pub dtype: ElemType,
    /// The declared shape; `None` when the rank is unknown.
    pub shape: Option<Vec<Dim>>,
}

impl TensorInfo {
    /// Builds the description of a `ValueInfoProto`. Problems (non-tensor
    /// types, negative dims) are appended to `warnings`.
    pub(crate) fn from_value_info(
        value: &onnx::ValueInfoProto,
        warnings: &mut Vec<String>,
    ) -> Self {
        use onnx::type_proto::Value;
        let name = value.name().to_owned();
        let (dtype, shape) = match value.r#type.as_ref().and_then(|t| t.value.as_ref()) {
            Some(Value::TensorType(tensor)) => (tensor.elem_type(), tensor.shape.as_ref()),
            Some(Value::SparseTensorType(tensor)) => {
                warnings.push(format!("{name:?} is a sparse tensor"));
                (tensor.elem_type(), tensor.shape.as_ref())
            }
            Some(other) => {
                let kind = match other {
                    Value::SequenceType(_) => "a sequence",
                    Value::MapType(_) => "a map",
                    Value::OptionalType(_) => "an optional",
                    Value::OpaqueType(_) => "an opaque value",
                    Value::TensorType(_) | Value::SparseTensorType(_) => "a tensor",
                };
                warnings.push(format!("{name:?} is {kind}, not a tensor; type not shown"));
                (0, None)
            }
            None => {
                warnings.push(format!("{name:?} has no type information"));
                (0, None)
            }
        };
        let shape = shape.map(|shape| {
            shape
                .dim
                .iter()
                .enumerate()
                .map(|(axis, dim)| {
                    let (dim, negative) = Dim::from_proto(dim);
                    if let Some(size) = negative {
                        warnings.push(format!(
                            "{name:?} axis {axis} has dim_value {size}; shown as an unnamed dim (?)"
                        ));
                    }
                    dim
                })
                .collect()
        });
        Self {
            name,
            dtype: ElemType::from_code(dtype),
            shape,
        }
    }
}

/// Number of elements of a tensor with these dims, or `None` if a dim is
/// negative or the product overflows. An empty list is a scalar (1 element).
pub(crate) fn element_count(dims: &[i64]) -> Option<u64> {
    dims.iter().try_fold(1u64, |count, &dim| {
        count.checked_mul(u64::try_from(dim).ok()?)
    })
}

/// The inputs a caller feeds (graph inputs that are not initializers,
/// sparse ones included) and the outputs of `graph`; problems with their
/// declared types become warnings.
pub(crate) fn graph_io(
    graph: &super::onnx::GraphProto,
    warnings: &mut Vec<String>,
) -> (Vec<TensorInfo>, Vec<TensorInfo>) {
    let initializer_names = graph
        .initializer
        .iter()
        .map(super::onnx::TensorProto::name)
        .chain(
            graph
                .sparse_initializer
                .iter()
                .filter_map(|s| s.values.as_ref().map(super::onnx::TensorProto::name)),
        )
        .collect::<std::collections::HashSet<_>>();
    let inputs: Vec<TensorInfo> = graph
        .input
        .iter()
        .filter(|input| !initializer_names.contains(input.name()))
        .map(|input| TensorInfo::from_value_info(input, warnings))
        .collect();
    let outputs: Vec<TensorInfo> = graph
        .output
        .iter()
        .map(|output| TensorInfo::from_value_info(output, warnings))
        .collect();
    (inputs, outputs)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn elem_type_codes_round_trip_and_display() {
        let expected = [
            (1, "float32", Some(4)),
            (2, "uint8", Some(1)),
            (3, "int8", Some(1)),
            (4, "uint16", Some(2)),
            (5, "int16", Some(2)),
            (6, "int32", Some(4)),
            (7, "int64", Some(8)),
            (8, "string", None),
            (9, "bool", Some(1)),
            (10, "float16", Some(2)),
            (11, "float64", Some(8)),
            (12, "uint32", Some(4)),
            (13, "uint64", Some(8)),
            (14, "complex64", Some(8)),
            (15, "complex128", Some(16)),
            (16, "bfloat16", Some(2)),
            (17, "float8e4m3fn", Some(1)),
            (22, "int4", None),
            (0, "undefined", None),
            (99, "dtype(99)", None),
        ];
        for (code, name, size) in expected {
            let elem_type = ElemType::from_code(code);
            assert_eq!(elem_type.code(), code);
            assert_eq!(elem_type.to_string(), name);
            assert_eq!(elem_type.size_bytes(), size, "{name}");
            assert_eq!(name.parse::<ElemType>(), Ok(elem_type), "{name}");
        }
        assert_eq!(ElemType::from_code(1), ElemType::Float);
        assert_eq!(ElemType::from_code(17), ElemType::Other(17));
        assert_eq!("DOUBLE".parse::<ElemType>(), Ok(ElemType::Double));
        assert!("float31".parse::<ElemType>().is_err());
    }

    #[test]
    fn storage_bytes_packs_sub_byte_types() {
        assert_eq!(ElemType::Float.storage_bytes(10), Some(40));
        assert_eq!(ElemType::Other(22).storage_bytes(3), Some(2)); // int4
        assert_eq!(ElemType::Other(25).storage_bytes(5), Some(2)); // uint2
        assert_eq!(ElemType::Other(27).storage_bytes(4), Some(3)); // float6
        assert_eq!(ElemType::String.storage_bytes(3), None);
        assert_eq!(ElemType::Float.storage_bytes(u64::MAX), None);
        assert!(ElemType::Bfloat16.is_float() && ElemType::Other(17).is_float());
        assert!(!ElemType::Int64.is_float() && !ElemType::Other(22).is_float());
    }

    #[test]
    fn elem_type_and_dims_serialize_readably() -> Result<(), serde_json::Error> {
        let info = TensorInfo {
            name: "x".to_owned(),
            dtype: ElemType::Float16,
            shape: Some(vec![
                Dim::Symbolic("batch".to_owned()),
                Dim::Fixed(3),
                Dim::Unnamed,
            ]),
        };
        let json = serde_json::to_string(&info)?;
        assert_eq!(
            json,
            r#"{"name":"x","dtype":"float16","shape":[{"Symbolic":"batch"},{"Fixed":3},"Unnamed"]}"#
        );
        assert_eq!(serde_json::from_str::<TensorInfo>(&json)?, info);
        Ok(())
    }

    #[test]
    fn element_count_handles_scalars_negatives_and_overflow() {
        assert_eq!(element_count(&[]), Some(1));
        assert_eq!(element_count(&[2, 3, 4]), Some(24));
        assert_eq!(element_count(&[2, 0]), Some(0));
        assert_eq!(element_count(&[-1, 3]), None);
        assert_eq!(element_count(&[i64::MAX, i64::MAX]), None);
    }
}
