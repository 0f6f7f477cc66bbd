//! A run's resolved inputs: each input's spec and one or more data sets.

use super::{InputError, InputSpec, TensorData};
use ort::value::DynValue;

/// Resolved inputs: the spec of each input and one or more data sets.
#[derive(Debug, Clone, Default)]
pub struct PreparedInputs {
    pub specs: Vec<InputSpec>,
    /// `variants[k][i]` is the data of input `i` in variant `k`. Request `n`
    /// uses variant `n % variants.len()`.
    pub variants: Vec<Vec<TensorData>>,
    /// Choices made for the user, printed and saved (e.g. unnamed dims set to 1).
    pub notes: Vec<String>,
    /// The dims that took the model's chosen default size, as `name=value
    /// (why)`: nothing set them (no `dims`, `shapes` or input file).
    pub chosen_dims: Vec<String>,
}

impl PreparedInputs {
    /// Builds ONNX Runtime values for every variant, in input order.
    pub fn to_values(&self) -> Result<Vec<Vec<DynValue>>, InputError> {
        self.variants
            .iter()
            .map(|variant| {
                variant
                    .iter()
                    .zip(&self.specs)
                    .map(|(data, spec)| {
                        data.to_value(&spec.shape)
                            .map_err(|err| InputError::Tensor {
                                name: spec.name.clone(),
                                reason: err.to_string(),
                            })
                    })
                    .collect()
            })
            .collect()
    }

    /// Elements in the first dim of the first input: the batch size.
    pub fn batch_size(&self) -> u64 {
        self.specs
            .first()
            .and_then(|spec| spec.shape.first())
            .map_or(1, |dim| u64::try_from(*dim).unwrap_or(1))
    }
}
