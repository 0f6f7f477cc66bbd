//! The inputs a session declares, and whether its outlets batch.

use super::InputError;
use ort::{
    session::Session,
    value::{TensorElementType, ValueType},
};

/// Checks that every input and output of the session has a dynamic first
/// dim, so requests can be concatenated and results split along it.
pub fn check_batchable(session: &Session) -> Result<(), InputError> {
    let outlets = session
        .inputs()
        .iter()
        .map(|outlet| ("input", outlet.name(), outlet.dtype()))
        .chain(
            session
                .outputs()
                .iter()
                .map(|outlet| ("output", outlet.name(), outlet.dtype())),
        );
    for (kind, name, dtype) in outlets {
        if let ValueType::Tensor { shape, .. } = dtype
            && shape.first().is_none_or(|dim| *dim >= 0)
        {
            return Err(InputError::FixedFirstDim {
                kind,
                name: name.to_owned(),
                shape: shape.to_vec(),
            });
        }
    }
    Ok(())
}

/// A declared model input as ONNX Runtime reports it.
#[derive(Debug, Clone)]
pub struct DeclaredInput {
    pub name: String,
    pub dtype: TensorElementType,
    pub shape: Vec<i64>,
    pub symbols: Vec<String>,
}

/// Reads the declared inputs of a session.
pub fn declared_inputs(session: &Session) -> Result<Vec<DeclaredInput>, InputError> {
    session
        .inputs()
        .iter()
        .map(|outlet| match outlet.dtype() {
            ValueType::Tensor {
                ty,
                shape,
                dimension_symbols,
            } => Ok(DeclaredInput {
                name: outlet.name().to_owned(),
                dtype: *ty,
                shape: shape.to_vec(),
                symbols: dimension_symbols.to_vec(),
            }),
            other => Err(InputError::NotATensor {
                name: outlet.name().to_owned(),
                kind: other.to_string(),
            }),
        })
        .collect()
}
