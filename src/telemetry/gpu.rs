//! GPU telemetry through NVML (`nvml-wrapper`), sampled at about 10 Hz on a
//! named thread: utilization, memory, this process's memory, power,
//! temperature and SM clock.
//!
//! A machine without an NVIDIA driver is normal: [`GpuSampler::start`]
//! returns the NVML error as a note ("no NVIDIA GPU: …"), the run goes on,
//! and the CPU and memory series are unaffected.

use std::time::{Duration, Instant};

use nvml_wrapper::{
    Nvml,
    enum_wrappers::device::{Clock, TemperatureSensor},
    enums::device::UsedGpuMemory,
};
use serde::{Deserialize, Serialize};

use super::TelemetryError;
use super::sampler::{PeriodicSampler, Schedule};

/// Interval between GPU samples.
pub const DEFAULT_GPU_SAMPLE_INTERVAL: Duration = Duration::from_millis(100);
/// Samples kept (ten minutes at 10 Hz); older ones are dropped.
pub const MAX_GPU_SAMPLES: usize = 6000;

/// Where a GPU reading came from.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum GpuSource {
    /// NVML on this machine.
    #[default]
    Nvml,
    /// A Prometheus endpoint (`--metrics-url`, e.g. Triton's `/metrics`).
    Prometheus,
}

/// One reading of one device, from NVML or a Prometheus endpoint. Fields the
/// source does not report are `None`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct GpuSample {
    /// Seconds since the run's epoch.
    pub t_secs: f64,
    pub device_index: u32,
    /// Percent of the last sample period with a kernel running.
    pub utilization_percent: Option<u32>,
    pub memory_used_bytes: Option<u64>,
    pub memory_total_bytes: Option<u64>,
    /// Device memory used by this process, where NVML gives it.
    pub process_memory_bytes: Option<u64>,
    pub power_milliwatts: Option<u32>,
    pub temperature_celsius: Option<u32>,
    pub sm_clock_mhz: Option<u32>,
    /// Where the reading came from (NVML in sessions that predate the field).
    #[serde(default)]
    pub source: GpuSource,
    /// The device's UUID, where the source names it (Prometheus `gpu_uuid`).
    #[serde(default)]
    pub device_uuid: Option<String>,
}

/// One device's readings from one source, for plotting: `[t_secs, value]`.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct GpuSeries {
    /// Where the readings came from.
    pub source: GpuSource,
    /// The device index within its source.
    pub device_index: u32,
    /// Utilization, percent.
    pub utilization_percent: Vec<[f64; 2]>,
    /// Device memory in use, bytes.
    pub memory_used_bytes: Vec<[f64; 2]>,
}

/// `samples` split into one series per source and device (NVML first), so
/// several GPUs or a server's GPUs next to the local one do not share a line.
pub fn series_by_device(samples: &[GpuSample]) -> Vec<GpuSeries> {
    let mut series: Vec<GpuSeries> = Vec::new();
    for sample in samples {
        let position = series.iter().position(|entry| {
            entry.source == sample.source && entry.device_index == sample.device_index
        });
        let entry = match position {
            Some(position) => &mut series[position],
            None => {
                series.push(GpuSeries {
                    source: sample.source,
                    device_index: sample.device_index,
                    ..GpuSeries::default()
                });
                let last = series.len() - 1;
                &mut series[last]
            }
        };
        if let Some(percent) = sample.utilization_percent {
            entry
                .utilization_percent
                .push([sample.t_secs, f64::from(percent)]);
        }
        if let Some(bytes) = sample.memory_used_bytes {
            entry.memory_used_bytes.push([sample.t_secs, bytes as f64]);
        }
    }
    series.sort_by_key(|entry| (entry.source != GpuSource::Nvml, entry.device_index));
    series
}

/// Samples NVML on a thread until finished.
pub struct GpuSampler(PeriodicSampler<GpuSample>);

impl GpuSampler {
    /// Starts sampling `device_index`, or says why it cannot (no driver, no
    /// such device). Each sample is also handed to `on_sample`.
    pub fn start(
        epoch: Instant,
        device_index: u32,
        interval: Duration,
        on_sample: impl Fn(&GpuSample) + Send + 'static,
    ) -> Result<Self, TelemetryError> {
        let nvml = Nvml::init().map_err(TelemetryError::NvmlUnavailable)?;
        let count = nvml.device_count().map_err(TelemetryError::DeviceCount)?;
        if device_index >= count {
            return Err(TelemetryError::NoSuchDevice {
                index: device_index,
                count,
            });
        }
        let schedule = Schedule {
            interval,
            first_after: Duration::ZERO,
            poll_step: Duration::from_millis(20),
            capacity: MAX_GPU_SAMPLES,
        };
        PeriodicSampler::start(
            "wb-gpu-telemetry",
            schedule,
            move || device_probe(nvml, epoch, device_index),
            on_sample,
        )
        .map(Self)
    }

    /// Stops the thread and returns the samples.
    pub fn finish(self) -> Vec<GpuSample> {
        self.0.finish()
    }
}

/// Reads one device through NVML; `None` if the device cannot be opened.
fn device_probe(
    nvml: Nvml,
    epoch: Instant,
    device_index: u32,
) -> Option<impl FnMut() -> Option<GpuSample>> {
    nvml.device_by_index(device_index).ok()?;
    let pid = std::process::id();
    Some(move || {
        let device = nvml.device_by_index(device_index).ok()?;
        let memory = device.memory_info().ok();
        let process_memory_bytes = device
            .running_compute_processes()
            .ok()
            .and_then(|processes| {
                processes
                    .into_iter()
                    .find(|process| process.pid == pid)
                    .and_then(|process| match process.used_gpu_memory {
                        UsedGpuMemory::Used(bytes) => Some(bytes),
                        UsedGpuMemory::Unavailable => None,
                    })
            });
        Some(GpuSample {
            t_secs: epoch.elapsed().as_secs_f64(),
            device_index,
            utilization_percent: device.utilization_rates().ok().map(|u| u.gpu),
            memory_used_bytes: memory.as_ref().map(|m| m.used),
            memory_total_bytes: memory.as_ref().map(|m| m.total),
            process_memory_bytes,
            power_milliwatts: device.power_usage().ok(),
            temperature_celsius: device.temperature(TemperatureSensor::Gpu).ok(),
            sm_clock_mhz: device.clock_info(Clock::SM).ok(),
            source: GpuSource::Nvml,
            device_uuid: None,
        })
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_missing_driver_is_a_note_not_a_failure() {
        match GpuSampler::start(Instant::now(), 0, DEFAULT_GPU_SAMPLE_INTERVAL, |_| {}) {
            Err(note) => assert!(note.to_string().starts_with("no NVIDIA GPU"), "{note}"),
            // On a machine with a GPU the sampler must produce readings.
            Ok(sampler) => {
                std::thread::sleep(Duration::from_millis(350));
                let samples = sampler.finish();
                assert!(!samples.is_empty());
                assert!(samples[0].memory_total_bytes.unwrap_or(0) > 0);
            }
        }
    }

    #[test]
    fn series_are_split_by_source_and_device() {
        let sample = |t_secs: f64, source: GpuSource, device_index: u32, percent: u32| GpuSample {
            t_secs,
            device_index,
            utilization_percent: Some(percent),
            memory_used_bytes: Some(u64::from(percent) * 1000),
            memory_total_bytes: None,
            process_memory_bytes: None,
            power_milliwatts: None,
            temperature_celsius: None,
            sm_clock_mhz: None,
            source,
            device_uuid: None,
        };
        let samples = [
            sample(0.0, GpuSource::Prometheus, 1, 80),
            sample(0.0, GpuSource::Prometheus, 0, 30),
            sample(0.1, GpuSource::Nvml, 0, 50),
            sample(1.0, GpuSource::Prometheus, 1, 90),
        ];
        let series = series_by_device(&samples);
        let keys: Vec<_> = series.iter().map(|s| (s.source, s.device_index)).collect();
        assert_eq!(
            keys,
            vec![
                (GpuSource::Nvml, 0),
                (GpuSource::Prometheus, 0),
                (GpuSource::Prometheus, 1)
            ]
        );
        assert_eq!(
            series[2].utilization_percent,
            vec![[0.0, 80.0], [1.0, 90.0]]
        );
        assert_eq!(
            series[2].memory_used_bytes,
            vec![[0.0, 80_000.0], [1.0, 90_000.0]]
        );
    }

    #[test]
    fn a_device_that_does_not_exist_is_explained() {
        if let Err(note) =
            GpuSampler::start(Instant::now(), 4096, DEFAULT_GPU_SAMPLE_INTERVAL, |_| {})
        {
            assert!(note.to_string().contains("no NVIDIA GPU"), "{note}");
        } else {
            panic!("device 4096 cannot exist");
        }
    }
}
