//! Seeded synthetic data for every tensor dtype ONNX Runtime takes.

use super::{ResolvedHint, SYNTHETIC_INT_RANGE, TensorData};
use half::f16;
use ort::value::TensorElementType;
use rand::{Rng as _, SeedableRng as _, rngs::StdRng};
use rand_distr::{Distribution as _, StandardNormal};

/// Why synthetic data could not be made.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum GenerateError {
    /// The dtype has no synthetic data.
    Unsupported,
    /// The allocation failed.
    Allocation,
}

/// Seeded synthetic data: floats N(0,1), integers in `0..SYNTHETIC_INT_RANGE`,
/// random bools, short strings. `None` for an unsupported dtype or when
/// the allocation fails.
pub fn synthetic(dtype: TensorElementType, num_elements: usize, seed: u64) -> Option<TensorData> {
    generate(dtype, num_elements, seed, None).ok()
}

/// Seeded synthetic data as [`synthetic`], with the values the graph
/// accepts where `hint` says (indices below a bound, fixed shape values).
/// The memory is reserved fallibly.
pub fn generate(
    dtype: TensorElementType,
    num_elements: usize,
    seed: u64,
    hint: Option<&ResolvedHint>,
) -> Result<TensorData, GenerateError> {
    use super::budget::try_filled;
    let mut rng = StdRng::seed_from_u64(seed);
    if let Some(ResolvedHint::Values(values)) = hint
        && values.len() == num_elements
    {
        return from_values(dtype, values).ok_or(GenerateError::Unsupported);
    }
    let upper = match hint {
        Some(ResolvedHint::IndexBelow(upper)) => (*upper).max(1),
        _ => SYNTHETIC_INT_RANGE,
    };
    let data = match dtype {
        TensorElementType::Float32 => {
            try_filled(num_elements, || StandardNormal.sample(&mut rng)).map(TensorData::F32)
        }
        TensorElementType::Float64 => try_filled(num_elements, || {
            let value: f32 = StandardNormal.sample(&mut rng);
            f64::from(value)
        })
        .map(TensorData::F64),
        TensorElementType::Float16 => try_filled(num_elements, || {
            f16::from_f32(StandardNormal.sample(&mut rng))
        })
        .map(TensorData::F16),
        TensorElementType::String => try_filled(num_elements, || {
            format!("s{}", rng.random_range(0..SYNTHETIC_INT_RANGE))
        })
        .map(TensorData::Str),
        other => {
            let mut int = || rng.random_range(0..upper);
            match other {
                TensorElementType::Int8 => {
                    try_filled(num_elements, || int() as i8).map(TensorData::I8)
                }
                TensorElementType::Uint8 => {
                    try_filled(num_elements, || int() as u8).map(TensorData::U8)
                }
                TensorElementType::Int16 => {
                    try_filled(num_elements, || int() as i16).map(TensorData::I16)
                }
                TensorElementType::Uint16 => {
                    try_filled(num_elements, || int() as u16).map(TensorData::U16)
                }
                TensorElementType::Int32 => {
                    try_filled(num_elements, || int() as i32).map(TensorData::I32)
                }
                TensorElementType::Uint32 => {
                    try_filled(num_elements, || int() as u32).map(TensorData::U32)
                }
                TensorElementType::Int64 => try_filled(num_elements, int).map(TensorData::I64),
                TensorElementType::Uint64 => {
                    try_filled(num_elements, || int() as u64).map(TensorData::U64)
                }
                TensorElementType::Bool => {
                    try_filled(num_elements, || int() % 2 == 1).map(TensorData::Bool)
                }
                _ => return Err(GenerateError::Unsupported),
            }
        }
    };
    data.ok_or(GenerateError::Allocation)
}

/// Exactly `values`, cast to `dtype` (saturating where they do not fit).
fn from_values(dtype: TensorElementType, values: &[i64]) -> Option<TensorData> {
    let ints = values.iter().copied();
    Some(match dtype {
        TensorElementType::Float32 => TensorData::F32(ints.map(|v| v as f32).collect()),
        TensorElementType::Float64 => TensorData::F64(ints.map(|v| v as f64).collect()),
        TensorElementType::Float16 => {
            TensorData::F16(ints.map(|v| f16::from_f32(v as f32)).collect())
        }
        TensorElementType::Int8 => TensorData::I8(
            ints.map(|v| v.clamp(i8::MIN.into(), i8::MAX.into()) as i8)
                .collect(),
        ),
        TensorElementType::Uint8 => {
            TensorData::U8(ints.map(|v| v.clamp(0, u8::MAX.into()) as u8).collect())
        }
        TensorElementType::Int16 => TensorData::I16(
            ints.map(|v| v.clamp(i16::MIN.into(), i16::MAX.into()) as i16)
                .collect(),
        ),
        TensorElementType::Uint16 => {
            TensorData::U16(ints.map(|v| v.clamp(0, u16::MAX.into()) as u16).collect())
        }
        TensorElementType::Int32 => TensorData::I32(
            ints.map(|v| v.clamp(i32::MIN.into(), i32::MAX.into()) as i32)
                .collect(),
        ),
        TensorElementType::Uint32 => {
            TensorData::U32(ints.map(|v| v.clamp(0, u32::MAX.into()) as u32).collect())
        }
        TensorElementType::Int64 => TensorData::I64(ints.collect()),
        TensorElementType::Uint64 => TensorData::U64(ints.map(|v| v.max(0) as u64).collect()),
        TensorElementType::Bool => TensorData::Bool(ints.map(|v| v != 0).collect()),
        _ => return None,
    })
}
