//! I/O binding: inputs copied to the provider's device once, outputs left in
//! device memory, so a request measures compute alone. The host copies a
//! real server would pay are then timed on their own ([`measure_host_copies`]).
//!
//! On the CPU provider the "device" is host memory: binding still removes
//! ONNX Runtime's per-run input and output allocation, and the copies are
//! plain memory copies.

use ort::{
    memory::{AllocationDevice, AllocatorType, MemoryInfo, MemoryType},
    session::{IoBinding, Session},
    value::DynValue,
};
use serde::{Deserialize, Serialize};

use super::{config::ExecutionProviderKind, error::clean_ort_message};

/// Why inputs or outputs could not be bound, or host copies not timed.
#[derive(Debug, thiserror::Error)]
pub enum BindingError {
    /// ONNX Runtime refused a device allocation, a binding or a copy.
    #[error("{}", clean_ort_message(.0.message()))]
    Ort(#[source] ort::Error),
    /// An input could not be bound.
    #[error("binding input '{name}': {}", .source.message())]
    Input {
        name: String,
        #[source]
        source: ort::Error,
    },
    /// An output could not be bound to the device.
    #[error("binding output '{name}': {}", .source.message())]
    Output {
        name: String,
        #[source]
        source: ort::Error,
    },
    /// Zero repetitions were asked for.
    #[error("no copies were timed")]
    NoCopies,
}

/// Where bound tensors live.
#[derive(Debug, Clone, Copy)]
pub struct Placement {
    /// The provider the sessions run on.
    pub provider: ExecutionProviderKind,
    /// The CUDA device index (ignored on the CPU).
    pub device_id: i32,
}

impl Placement {
    fn device(self) -> AllocationDevice<'static> {
        match self.provider {
            ExecutionProviderKind::Cpu => AllocationDevice::CPU,
            ExecutionProviderKind::Cuda => AllocationDevice::CUDA,
        }
    }

    fn device_id(self) -> i32 {
        match self.provider {
            ExecutionProviderKind::Cpu => 0,
            ExecutionProviderKind::Cuda => self.device_id,
        }
    }

    fn memory_info(self) -> Result<MemoryInfo<'static>, BindingError> {
        MemoryInfo::new(
            self.device(),
            self.device_id(),
            AllocatorType::Device,
            MemoryType::Default,
        )
        .map_err(BindingError::Ort)
    }

    /// A copy of `value` on the device.
    fn to_device(self, value: &DynValue) -> Result<DynValue, BindingError> {
        copy_to(value, self.device(), self.device_id())
    }
}

/// Copies a tensor to a device through ONNX Runtime.
fn copy_to(
    value: &DynValue,
    device: AllocationDevice<'_>,
    device_id: i32,
) -> Result<DynValue, BindingError> {
    let tensor = value
        .view()
        .downcast::<ort::value::DynTensorValueType>()
        .map_err(BindingError::Ort)?;
    tensor
        .to(device, device_id)
        .map(ort::value::Value::into_dyn)
        .map_err(BindingError::Ort)
}

/// One binding per input variant, in the same order as `variants`.
pub fn bind_variants(
    session: &Session,
    variants: &[Vec<DynValue>],
    placement: Placement,
) -> Result<Vec<IoBinding>, BindingError> {
    let input_names: Vec<String> = session
        .inputs()
        .iter()
        .map(|outlet| outlet.name().to_owned())
        .collect();
    let output_names: Vec<String> = session
        .outputs()
        .iter()
        .map(|outlet| outlet.name().to_owned())
        .collect();
    let memory_info = placement.memory_info()?;
    let mut bindings = Vec::with_capacity(variants.len());
    for variant in variants {
        let mut binding = session.create_binding().map_err(BindingError::Ort)?;
        for (name, value) in input_names.iter().zip(variant) {
            let on_device = match placement.provider {
                ExecutionProviderKind::Cpu => None,
                ExecutionProviderKind::Cuda => Some(placement.to_device(value)?),
            };
            binding
                .bind_input(name.as_str(), on_device.as_ref().unwrap_or(value))
                .map_err(|source| BindingError::Input {
                    name: name.clone(),
                    source,
                })?;
        }
        for name in &output_names {
            binding
                .bind_output_to_device(name.as_str(), &memory_info)
                .map_err(|source| BindingError::Output {
                    name: name.clone(),
                    source,
                })?;
        }
        bindings.push(binding);
    }
    Ok(bindings)
}

/// Summary of repeated timings of one kind of copy.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct CopyStats {
    /// Bytes moved by one copy of all the tensors.
    pub bytes: u64,
    /// Fastest copy, in µs.
    pub min_micros: f64,
    /// Median copy, in µs.
    pub median_micros: f64,
    /// Slowest copy, in µs.
    pub max_micros: f64,
}

impl CopyStats {
    fn from_samples(bytes: u64, mut micros: Vec<f64>) -> Option<Self> {
        if micros.is_empty() {
            return None;
        }
        micros.sort_by(f64::total_cmp);
        Some(Self {
            bytes,
            min_micros: micros[0],
            median_micros: micros[micros.len() / 2],
            max_micros: micros[micros.len() - 1],
        })
    }

    /// Throughput of the median copy, in GB/s.
    pub fn gigabytes_per_sec(&self) -> f64 {
        if self.median_micros <= 0.0 {
            return 0.0;
        }
        self.bytes as f64 / (self.median_micros * 1e3)
    }
}

/// Host copies measured next to a bound run: what one request would spend
/// moving its inputs to the device and its outputs back.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct HostCopyTimings {
    /// Where the bound tensors lived (`cpu` or `cuda`).
    pub device: ExecutionProviderKind,
    /// How many times each copy was timed.
    pub repetitions: u32,
    /// All inputs of one request, host to device.
    pub host_to_device: CopyStats,
    /// All outputs of one request, device to host.
    pub device_to_host: CopyStats,
}

/// Times `repetitions` host-to-device copies of `host_inputs` and
/// device-to-host copies of the outputs of one bound run. Each copy is
/// synchronous, as ONNX Runtime does for an unbound run.
pub fn measure_host_copies(
    session: &mut Session,
    binding: &IoBinding,
    host_inputs: &[DynValue],
    placement: Placement,
    repetitions: u32,
) -> Result<HostCopyTimings, BindingError> {
    let outputs = session.run_binding(binding).map_err(BindingError::Ort)?;
    let device_outputs: Vec<DynValue> = outputs.into_iter().map(|(_, value)| value).collect();
    let bytes_of = |values: &[DynValue]| -> u64 {
        values
            .iter()
            .filter_map(|value| match value.dtype() {
                ort::value::ValueType::Tensor { ty, shape, .. } => {
                    ty.byte_size(shape.num_elements())
                }
                _ => None,
            })
            .map(|size| size as u64)
            .sum()
    };
    let input_bytes = bytes_of(host_inputs);
    let output_bytes = bytes_of(&device_outputs);
    let mut to_device = Vec::with_capacity(repetitions as usize);
    let mut to_host = Vec::with_capacity(repetitions as usize);
    for _ in 0..repetitions {
        let started = std::time::Instant::now();
        for value in host_inputs {
            drop(placement.to_device(value)?);
        }
        to_device.push(started.elapsed().as_secs_f64() * 1e6);
        let started = std::time::Instant::now();
        for value in &device_outputs {
            drop(copy_to(value, AllocationDevice::CPU, 0)?);
        }
        to_host.push(started.elapsed().as_secs_f64() * 1e6);
    }
    Ok(HostCopyTimings {
        device: placement.provider,
        repetitions,
        host_to_device: CopyStats::from_samples(input_bytes, to_device)
            .ok_or(BindingError::NoCopies)?,
        device_to_host: CopyStats::from_samples(output_bytes, to_host)
            .ok_or(BindingError::NoCopies)?,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn copy_stats_summarise_the_samples() {
        let stats = CopyStats::from_samples(2_000_000, vec![30.0, 10.0, 20.0]).expect("stats");
        assert_eq!(stats.min_micros, 10.0);
        assert_eq!(stats.median_micros, 20.0);
        assert_eq!(stats.max_micros, 30.0);
        // 2 MB in 20 µs is 100 GB/s.
        assert!((stats.gigabytes_per_sec() - 100.0).abs() < 1e-9);
        assert_eq!(CopyStats::from_samples(1, Vec::new()), None);
    }
}
