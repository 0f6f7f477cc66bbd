//! Tensors on the wire: the protocol's datatypes (`FP32`, `INT64`, ...) to
//! and from ONNX Runtime's element types, the declared inputs of a run from
//! the server's metadata (names and symbols from a local model where given),
//! and the encoded request bodies: raw little-endian bytes (gRPC
//! `raw_input_contents`, REST binary tensor data; `BYTES` elements each with
//! a 4-byte length) or JSON arrays.

use std::collections::BTreeMap;

use ort::value::TensorElementType;

use super::{EncodedRequest, Encoding, ModelMetadata, RemoteError, proto};
use crate::{
    engine::{
        inputs::{DeclaredInput, InputSpec, TensorData},
        target::RemoteTarget,
    },
    model::{Dim, TensorInfo},
};

/// The element type of a protocol datatype; `None` for those the workbench
/// does not send (e.g. `BF16`).
pub fn element_type(datatype: &str) -> Option<TensorElementType> {
    Some(match datatype {
        "BOOL" => TensorElementType::Bool,
        "UINT8" => TensorElementType::Uint8,
        "UINT16" => TensorElementType::Uint16,
        "UINT32" => TensorElementType::Uint32,
        "UINT64" => TensorElementType::Uint64,
        "INT8" => TensorElementType::Int8,
        "INT16" => TensorElementType::Int16,
        "INT32" => TensorElementType::Int32,
        "INT64" => TensorElementType::Int64,
        "FP16" => TensorElementType::Float16,
        "FP32" => TensorElementType::Float32,
        "FP64" => TensorElementType::Float64,
        "BYTES" => TensorElementType::String,
        _ => return None,
    })
}

/// The protocol datatype of tensor data.
fn datatype_of(data: &TensorData) -> &'static str {
    match data {
        TensorData::F32(_) => "FP32",
        TensorData::F64(_) => "FP64",
        TensorData::F16(_) => "FP16",
        TensorData::I8(_) => "INT8",
        TensorData::U8(_) => "UINT8",
        TensorData::I16(_) => "INT16",
        TensorData::U16(_) => "UINT16",
        TensorData::I32(_) => "INT32",
        TensorData::U32(_) => "UINT32",
        TensorData::I64(_) => "INT64",
        TensorData::U64(_) => "UINT64",
        TensorData::Bool(_) => "BOOL",
        TensorData::Str(_) => "BYTES",
    }
}

/// The inputs a run feeds, from the server's metadata. Where a local model
/// declares an input of the same name and rank, its symbolic dim names (and
/// fixed sizes where the server says `-1`) are used, so `--dim NAME=V`
/// works as locally.
pub fn declared_from_metadata(
    metadata: &ModelMetadata,
    local: Option<&[TensorInfo]>,
) -> Result<Vec<DeclaredInput>, RemoteError> {
    metadata
        .inputs
        .iter()
        .map(|input| {
            let dtype = element_type(&input.datatype).ok_or_else(|| RemoteError::Datatype {
                name: input.name.clone(),
                datatype: input.datatype.clone(),
            })?;
            let mut shape = input.shape.clone();
            let mut symbols = vec![String::new(); shape.len()];
            let local_dims = local
                .and_then(|inputs| inputs.iter().find(|info| info.name == input.name))
                .and_then(|info| info.shape.as_ref())
                .filter(|dims| dims.len() == shape.len());
            if let Some(dims) = local_dims {
                for (index, dim) in dims.iter().enumerate() {
                    match dim {
                        Dim::Symbolic(name) => symbols[index] = name.clone(),
                        Dim::Fixed(size) if shape[index] < 0 => shape[index] = *size,
                        _ => {}
                    }
                }
            }
            Ok(DeclaredInput {
                name: input.name.clone(),
                dtype,
                shape,
                symbols,
            })
        })
        .collect()
}

/// Little-endian bytes of the data, as `raw_input_contents` and the binary
/// extension carry them.
fn raw_bytes(data: &TensorData) -> Vec<u8> {
    fn flat<T: Copy, const N: usize>(values: &[T], to: impl Fn(T) -> [u8; N]) -> Vec<u8> {
        let mut out = Vec::with_capacity(values.len() * N);
        for value in values {
            out.extend_from_slice(&to(*value));
        }
        out
    }
    match data {
        TensorData::F32(v) => flat(v, f32::to_le_bytes),
        TensorData::F64(v) => flat(v, f64::to_le_bytes),
        TensorData::F16(v) => flat(v, half::f16::to_le_bytes),
        TensorData::I8(v) => flat(v, i8::to_le_bytes),
        TensorData::U8(v) => v.clone(),
        TensorData::I16(v) => flat(v, i16::to_le_bytes),
        TensorData::U16(v) => flat(v, u16::to_le_bytes),
        TensorData::I32(v) => flat(v, i32::to_le_bytes),
        TensorData::U32(v) => flat(v, u32::to_le_bytes),
        TensorData::I64(v) => flat(v, i64::to_le_bytes),
        TensorData::U64(v) => flat(v, u64::to_le_bytes),
        TensorData::Bool(v) => v.iter().map(|b| u8::from(*b)).collect(),
        TensorData::Str(v) => {
            let mut out = Vec::new();
            for text in v {
                let len = u32::try_from(text.len()).unwrap_or(u32::MAX);
                out.extend_from_slice(&len.to_le_bytes());
                out.extend_from_slice(text.as_bytes());
            }
            out
        }
    }
}

/// The data as a flat JSON array (the protocol's JSON tensor data).
fn json_data(name: &str, data: &TensorData) -> Result<serde_json::Value, RemoteError> {
    use serde_json::Value;
    Ok(match data {
        TensorData::F32(v) => Value::from(v.iter().map(|x| f64::from(*x)).collect::<Vec<_>>()),
        TensorData::F64(v) => Value::from(v.clone()),
        TensorData::F16(_) => {
            return Err(RemoteError::Encode {
                name: name.to_owned(),
                reason: "FP16 has no JSON form; the server must accept binary tensor data (or use grpc://)"
                    .to_owned(),
            });
        }
        TensorData::I8(v) => Value::from(v.iter().map(|x| i64::from(*x)).collect::<Vec<_>>()),
        TensorData::U8(v) => Value::from(v.iter().map(|x| u64::from(*x)).collect::<Vec<_>>()),
        TensorData::I16(v) => Value::from(v.iter().map(|x| i64::from(*x)).collect::<Vec<_>>()),
        TensorData::U16(v) => Value::from(v.iter().map(|x| u64::from(*x)).collect::<Vec<_>>()),
        TensorData::I32(v) => Value::from(v.iter().map(|x| i64::from(*x)).collect::<Vec<_>>()),
        TensorData::U32(v) => Value::from(v.iter().map(|x| u64::from(*x)).collect::<Vec<_>>()),
        TensorData::I64(v) => Value::from(v.clone()),
        TensorData::U64(v) => Value::from(v.clone()),
        TensorData::Bool(v) => Value::from(v.clone()),
        TensorData::Str(v) => Value::from(v.clone()),
    })
}

/// Encodes one variant (the data of every input) for `encoding`.
pub(super) fn encode(
    target: &RemoteTarget,
    specs: &[InputSpec],
    variant: &[TensorData],
    metadata: &ModelMetadata,
    encoding: Encoding,
) -> Result<EncodedRequest, RemoteError> {
    let outputs: Vec<&str> = metadata
        .outputs
        .iter()
        .map(|output| output.name.as_str())
        .collect();
    match encoding {
        Encoding::GrpcRaw => Ok(EncodedRequest::Grpc(proto::ModelInferRequest {
            model_name: target.model_name.clone(),
            model_version: target.model_version.clone().unwrap_or_default(),
            id: String::new(),
            parameters: Default::default(),
            inputs: specs
                .iter()
                .zip(variant)
                .map(
                    |(spec, data)| proto::model_infer_request::InferInputTensor {
                        name: spec.name.clone(),
                        datatype: datatype_of(data).to_owned(),
                        shape: spec.shape.clone(),
                        parameters: Default::default(),
                        contents: None,
                    },
                )
                .collect(),
            outputs: outputs
                .iter()
                .map(
                    |name| proto::model_infer_request::InferRequestedOutputTensor {
                        name: (*name).to_owned(),
                        parameters: Default::default(),
                    },
                )
                .collect(),
            raw_input_contents: variant.iter().map(raw_bytes).collect(),
        })),
        Encoding::RestJson => {
            let mut inputs = Vec::with_capacity(specs.len());
            for (spec, data) in specs.iter().zip(variant) {
                inputs.push(serde_json::json!({
                    "name": spec.name,
                    "datatype": datatype_of(data),
                    "shape": spec.shape,
                    "data": json_data(&spec.name, data)?,
                }));
            }
            let body = serde_json::json!({
                "inputs": inputs,
                "outputs": outputs.iter().map(|name| serde_json::json!({"name": name})).collect::<Vec<_>>(),
            });
            Ok(EncodedRequest::RestJson(body.to_string().into_bytes()))
        }
        Encoding::RestBinary => {
            let raw: Vec<Vec<u8>> = variant.iter().map(raw_bytes).collect();
            let inputs: Vec<serde_json::Value> = specs
                .iter()
                .zip(variant)
                .zip(&raw)
                .map(|((spec, data), bytes)| {
                    serde_json::json!({
                        "name": spec.name,
                        "datatype": datatype_of(data),
                        "shape": spec.shape,
                        "parameters": {"binary_data_size": bytes.len()},
                    })
                })
                .collect();
            let output_parameters: BTreeMap<&str, bool> = [("binary_data", true)].into();
            let header = serde_json::json!({
                "inputs": inputs,
                "outputs": outputs
                    .iter()
                    .map(|name| serde_json::json!({"name": name, "parameters": output_parameters}))
                    .collect::<Vec<_>>(),
            })
            .to_string()
            .into_bytes();
            let header_len = header.len();
            let mut body = header;
            for bytes in raw {
                body.extend_from_slice(&bytes);
            }
            Ok(EncodedRequest::RestBinary { body, header_len })
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::engine::{inputs::InputSource, target::RemoteTarget};

    fn spec(name: &str, shape: Vec<i64>) -> InputSpec {
        InputSpec {
            name: name.to_owned(),
            dtype: "f32".to_owned(),
            shape: shape.clone(),
            declared_shape: shape,
            dim_symbols: Vec::new(),
            source: InputSource::Synthetic,
        }
    }

    fn metadata() -> ModelMetadata {
        serde_json::from_str(
            r#"{"name":"m","inputs":[{"name":"x","datatype":"FP32","shape":[-1,3]}],
                "outputs":[{"name":"y","datatype":"FP32","shape":[-1,2]}]}"#,
        )
        .expect("metadata")
    }

    #[test]
    fn datatypes_map_both_ways() {
        for datatype in [
            "BOOL", "UINT8", "UINT16", "UINT32", "UINT64", "INT8", "INT16", "INT32", "INT64",
            "FP16", "FP32", "FP64", "BYTES",
        ] {
            assert!(element_type(datatype).is_some(), "{datatype}");
        }
        assert!(element_type("BF16").is_none());
        assert_eq!(datatype_of(&TensorData::F16(vec![])), "FP16");
    }

    #[test]
    fn declared_inputs_take_local_symbols_and_refuse_unknown_types() {
        let local = [TensorInfo {
            name: "x".to_owned(),
            dtype: crate::model::ElemType::Float,
            shape: Some(vec![Dim::Symbolic("batch".to_owned()), Dim::Fixed(3)]),
        }];
        let declared = declared_from_metadata(&metadata(), Some(&local)).expect("declared");
        assert_eq!(declared[0].shape, vec![-1, 3]);
        assert_eq!(declared[0].symbols, vec!["batch".to_owned(), String::new()]);
        assert_eq!(declared[0].dtype, TensorElementType::Float32);
        let mut bad = metadata();
        bad.inputs[0].datatype = "BF16".to_owned();
        let err = declared_from_metadata(&bad, None).expect_err("bf16");
        assert!(err.to_string().contains("BF16"), "{err}");
    }

    #[test]
    fn raw_bytes_are_little_endian_and_fp16_is_raw() {
        assert_eq!(
            raw_bytes(&TensorData::I32(vec![1, -1])),
            vec![1, 0, 0, 0, 255, 255, 255, 255]
        );
        let one = half::f16::from_f32(1.0);
        assert_eq!(raw_bytes(&TensorData::F16(vec![one])), one.to_le_bytes());
        assert_eq!(
            raw_bytes(&TensorData::Str(vec!["ab".to_owned()])),
            vec![2, 0, 0, 0, b'a', b'b']
        );
        assert!(json_data("x", &TensorData::F16(vec![one])).is_err());
    }

    #[test]
    fn encodes_each_protocol() {
        let target = RemoteTarget::parse("http://h:1", Some("m"), None, None).expect("target");
        let specs = [spec("x", vec![1, 3])];
        let data = [TensorData::F32(vec![0.5, 1.0, 2.0])];
        let EncodedRequest::RestJson(body) =
            encode(&target, &specs, &data, &metadata(), Encoding::RestJson).expect("json")
        else {
            panic!("json expected");
        };
        let json: serde_json::Value = serde_json::from_slice(&body).expect("valid json");
        assert_eq!(
            json["inputs"][0]["data"],
            serde_json::json!([0.5, 1.0, 2.0])
        );
        assert_eq!(json["outputs"][0]["name"], "y");
        let EncodedRequest::RestBinary { body, header_len } =
            encode(&target, &specs, &data, &metadata(), Encoding::RestBinary).expect("binary")
        else {
            panic!("binary expected");
        };
        assert_eq!(body.len(), header_len + 12);
        let header: serde_json::Value =
            serde_json::from_slice(&body[..header_len]).expect("header");
        assert_eq!(header["inputs"][0]["parameters"]["binary_data_size"], 12);
        let EncodedRequest::Grpc(request) =
            encode(&target, &specs, &data, &metadata(), Encoding::GrpcRaw).expect("grpc")
        else {
            panic!("grpc expected");
        };
        assert_eq!(request.model_name, "m");
        assert_eq!(request.inputs[0].shape, vec![1, 3]);
        assert_eq!(request.raw_input_contents[0].len(), 12);
    }
}
