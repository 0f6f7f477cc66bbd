//! Why telemetry could not be taken. None of these stops a run: the engine
//! turns them into notes ("no NVIDIA GPU: …") next to the measurements.

use std::{path::PathBuf, sync::Arc};

/// What went wrong in a sampler, NVML or CUPTI.
#[derive(Debug, thiserror::Error)]
pub enum TelemetryError {
    /// NVML (the NVIDIA driver's management library) could not be loaded.
    #[error("no NVIDIA GPU: NVML unavailable ({0})")]
    NvmlUnavailable(#[source] nvml_wrapper::error::NvmlError),
    /// NVML loaded but could not count the devices.
    #[error("NVML cannot count devices: {0}")]
    DeviceCount(#[source] nvml_wrapper::error::NvmlError),
    /// The requested device index is not there.
    #[error("no NVIDIA GPU {index}: NVML sees {count} device(s)")]
    NoSuchDevice {
        /// The requested device.
        index: u32,
        /// Devices NVML sees.
        count: u32,
    },
    /// A sampler thread could not be started.
    #[error("could not start the {thread} thread: {source}")]
    Thread {
        /// Thread name.
        thread: &'static str,
        #[source]
        source: std::io::Error,
    },
    /// The CUPTI library could not be opened, or lacks a symbol.
    #[error("CUPTI could not be loaded from {}: {source}", library.display())]
    CuptiLoad {
        /// The library that was tried.
        library: PathBuf,
        #[source]
        source: Arc<CuptiLoadError>,
    },
    /// A CUPTI call failed.
    #[error("{call}: {message}")]
    Cupti {
        /// The CUPTI function.
        call: &'static str,
        /// CUPTI's description of the result code.
        message: String,
    },
    /// Only one CUPTI recording can run in a process.
    #[error("another CUPTI recording is running in this process")]
    CuptiBusy,
}

/// Why CUPTI's library could not be used (kept once per process).
#[derive(Debug, thiserror::Error)]
pub enum CuptiLoadError {
    /// `dlopen` failed.
    #[error("{0}")]
    Open(#[source] libloading::Error),
    /// A required entry point is missing.
    #[error("{symbol}: {source}")]
    Symbol {
        /// The missing function.
        symbol: &'static str,
        #[source]
        source: libloading::Error,
    },
}
