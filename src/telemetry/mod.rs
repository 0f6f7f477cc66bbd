//! Resource telemetry: a named sampler thread that reads process CPU and
//! memory (sysinfo) about once a second, and a one-off description of the
//! machine (CPU model, cores, memory, GPU presence through NVML).
//!
//! A machine without an NVIDIA driver is normal: GPU fields are `None` and
//! [`EnvironmentInfo::gpu_note`] says why. It never stops a run.

use std::time::{Duration, Instant};

use serde::{Deserialize, Serialize};

pub mod activity;
pub mod cupti;
mod error;
pub mod gpu;
pub mod prometheus;
pub mod sampler;

pub use error::{CuptiLoadError, TelemetryError};
pub use gpu::{GpuSample, GpuSampler, GpuSource};
use sampler::{PeriodicSampler, Schedule};

/// Interval between telemetry samples.
pub const DEFAULT_SAMPLE_INTERVAL: Duration = Duration::from_secs(1);
/// Samples kept (one hour at the default interval).
pub const MAX_SAMPLES: usize = 3600;

/// One reading of resource use.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TelemetrySample {
    /// Seconds since the run's epoch.
    pub t_secs: f64,
    /// This process's CPU use; 100 means one core fully busy.
    pub process_cpu_percent: f64,
    /// Whole-machine CPU use, 0..=100 over all cores.
    pub system_cpu_percent: f64,
    /// Resident memory of this process.
    pub rss_bytes: u64,
    /// Threads of this process (Linux `/proc`; `None` elsewhere), so a
    /// long run shows whether threads leak.
    #[serde(default)]
    pub threads: Option<u64>,
    /// Open file descriptors of this process (Linux `/proc`; `None`
    /// elsewhere), so a long run shows whether files or sockets leak.
    #[serde(default)]
    pub open_fds: Option<u64>,
}

/// Threads of this process, from `/proc/self/status`.
fn process_threads() -> Option<u64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    status
        .lines()
        .find_map(|line| line.strip_prefix("Threads:"))
        .and_then(|value| value.trim().parse().ok())
}

/// CPU time the calling thread has used so far, in nanoseconds, from the
/// scheduler's own accounting (`/proc/thread-self/schedstat` on Linux;
/// `None` elsewhere or when the kernel does not keep it).
pub fn thread_cpu_nanos() -> Option<u64> {
    let text = std::fs::read_to_string("/proc/thread-self/schedstat").ok()?;
    text.split_whitespace().next()?.parse().ok()
}

/// Time the calling thread has spent runnable but waiting for a core so
/// far, in nanoseconds (`/proc/thread-self/schedstat`, second field; `None`
/// elsewhere).
pub fn thread_run_delay_nanos() -> Option<u64> {
    let text = std::fs::read_to_string("/proc/thread-self/schedstat").ok()?;
    text.split_whitespace().nth(1)?.parse().ok()
}

/// Open file descriptors of this process, from `/proc/self/fd` (the
/// directory handle used to list it is not counted).
fn process_open_fds() -> Option<u64> {
    let entries = std::fs::read_dir("/proc/self/fd").ok()?;
    Some((entries.count() as u64).saturating_sub(1))
}

/// Samples process CPU and memory on a named thread until stopped.
pub struct TelemetrySampler(PeriodicSampler<TelemetrySample>);

impl TelemetrySampler {
    /// Starts sampling every `interval`; each sample is also handed to
    /// `on_sample` (which must not block).
    pub fn start(
        epoch: Instant,
        interval: Duration,
        on_sample: impl Fn(&TelemetrySample) + Send + 'static,
    ) -> Result<Self, TelemetryError> {
        let schedule = Schedule {
            interval,
            // sysinfo needs two refreshes this far apart for a CPU reading.
            first_after: interval.max(sysinfo::MINIMUM_CPU_UPDATE_INTERVAL),
            poll_step: Duration::from_millis(100),
            capacity: MAX_SAMPLES,
        };
        PeriodicSampler::start(
            "wb-telemetry",
            schedule,
            move || process_probe(epoch),
            on_sample,
        )
        .map(Self)
    }

    /// Stops the thread and returns the samples.
    pub fn finish(self) -> Vec<TelemetrySample> {
        self.0.finish()
    }
}

/// Reads this process's CPU and memory (and the machine's CPU) with sysinfo;
/// `None` where sysinfo cannot see the process.
fn process_probe(epoch: Instant) -> Option<impl FnMut() -> Option<TelemetrySample>> {
    use sysinfo::{ProcessRefreshKind, ProcessesToUpdate, System};
    let pid = sysinfo::get_current_pid().ok()?;
    let mut system = System::new().ok()?;
    let refresh = move |system: &mut System| {
        system.refresh_cpu_usage();
        system.refresh_processes_specifics(
            ProcessesToUpdate::Some(&[pid]),
            false,
            ProcessRefreshKind::nothing().with_cpu().with_memory(),
        );
    };
    refresh(&mut system);
    Some(move || {
        refresh(&mut system);
        let process = system.process(pid)?;
        Some(TelemetrySample {
            t_secs: epoch.elapsed().as_secs_f64(),
            process_cpu_percent: f64::from(process.cpu_usage()),
            system_cpu_percent: f64::from(system.global_cpu_usage()),
            rss_bytes: process.memory(),
            threads: process_threads(),
            open_fds: process_open_fds(),
        })
    })
}

/// What a GPU looks like, when NVML finds one.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct GpuInfo {
    pub name: String,
    pub memory_total_bytes: u64,
    pub driver_version: String,
}

/// The machine a session ran on.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Default)]
#[serde(default)]
pub struct EnvironmentInfo {
    /// The machine's host name (empty in sessions that predate it).
    pub host_name: String,
    pub os: String,
    pub os_version: String,
    pub arch: String,
    pub cpu_model: String,
    pub physical_cores: Option<usize>,
    pub logical_cores: usize,
    pub total_memory_bytes: u64,
    pub ort_version: String,
    pub ort_library: String,
    pub ort_source: String,
    pub gpus: Vec<GpuInfo>,
    /// Why no GPU is listed, when none is.
    pub gpu_note: Option<String>,
}

impl EnvironmentInfo {
    /// Reads the machine. ONNX Runtime fields are left empty: the engine
    /// fills them.
    pub fn probe() -> Self {
        use sysinfo::System;
        let mut info = Self {
            host_name: System::host_name().unwrap_or_default(),
            os: System::name().unwrap_or_else(|_| std::env::consts::OS.to_owned()),
            os_version: System::long_os_version().unwrap_or_default(),
            arch: std::env::consts::ARCH.to_owned(),
            physical_cores: System::physical_core_count().ok(),
            logical_cores: std::thread::available_parallelism().map_or(1, |n| n.get()),
            ..Self::default()
        };
        if let Ok(mut system) = System::new() {
            system.refresh_memory();
            system.refresh_cpu_list(sysinfo::CpuRefreshKind::nothing());
            info.total_memory_bytes = system.total_memory();
            info.cpu_model = system
                .cpus()
                .first()
                .map(|cpu| cpu.brand().trim().to_owned())
                .unwrap_or_default();
        }
        match probe_gpus() {
            Ok(gpus) if gpus.is_empty() => {
                info.gpu_note = Some("NVML found no NVIDIA GPU".to_owned())
            }
            Ok(gpus) => info.gpus = gpus,
            Err(note) => info.gpu_note = Some(note.to_string()),
        }
        info
    }
}

/// Lists NVIDIA GPUs through NVML, or says why it cannot.
pub fn probe_gpus() -> Result<Vec<GpuInfo>, TelemetryError> {
    let nvml = nvml_wrapper::Nvml::init().map_err(TelemetryError::NvmlUnavailable)?;
    let driver_version = nvml.sys_driver_version().unwrap_or_default();
    let count = nvml.device_count().map_err(TelemetryError::DeviceCount)?;
    let mut gpus = Vec::new();
    for index in 0..count {
        let Ok(device) = nvml.device_by_index(index) else {
            continue;
        };
        gpus.push(GpuInfo {
            name: device.name().unwrap_or_default(),
            memory_total_bytes: device.memory_info().map(|memory| memory.total).unwrap_or(0),
            driver_version: driver_version.clone(),
        });
    }
    Ok(gpus)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn environment_probe_reads_this_machine() {
        let info = EnvironmentInfo::probe();
        assert!(info.logical_cores >= 1);
        assert!(info.total_memory_bytes > 0);
        assert!(!info.os.is_empty());
        // Either GPUs are listed or the reason is given; never both empty.
        assert!(!info.gpus.is_empty() || info.gpu_note.is_some());
    }

    #[test]
    fn sampler_reports_this_process() {
        let (sender, receiver) = crossbeam_channel::bounded(16);
        let sampler =
            TelemetrySampler::start(Instant::now(), Duration::from_millis(250), move |sample| {
                let _ = sender.try_send(sample.clone());
            })
            .expect("start sampler");
        let first = receiver
            .recv_timeout(Duration::from_secs(5))
            .expect("a sample");
        assert!(first.rss_bytes > 0);
        if cfg!(target_os = "linux") {
            // At least this thread and the sampler's; stdin/out/err at least.
            assert!(first.threads.is_some_and(|t| t >= 2), "{first:?}");
            assert!(first.open_fds.is_some_and(|n| n >= 3), "{first:?}");
            // A file held open shows up in the next reading.
            let before = process_open_fds().expect("fd count");
            let held: Vec<std::fs::File> = (0..64)
                .map(|_| std::fs::File::open("/proc/self/status").expect("open"))
                .collect();
            // (Other tests run in this process too: leave them a margin.)
            assert!(process_open_fds().expect("fd count") >= before + 48);
            drop(held);
        }
        let samples = sampler.finish();
        assert!(!samples.is_empty());
    }
}
