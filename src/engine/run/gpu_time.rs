//! Per-node GPU time on the CUDA provider: CUPTI records the kernels during
//! the separate profiling pass, and they are joined to ONNX Runtime's node
//! windows. When that is not possible the reason becomes the record's
//! `gpu_kernels_note`.

use crate::{
    engine::{cuda_libs, runtime},
    metrics::{
        gpu_attribution::{GpuAttribution, NodeWindow, attribute_with_best_offset},
        layers::NodeEvent,
    },
    telemetry::cupti::{Recorder, Recording},
};

/// The CUPTI library the recorder loads.
const CUPTI_LIBRARY: &str = "libcupti.so.13";

/// Why there is no per-node GPU time.
#[derive(Debug, thiserror::Error)]
pub(super) enum GpuTimeError {
    #[error(
        "CUPTI ({CUPTI_LIBRARY}) was not found, so only launch times are shown; \
         `onnx-workbench setup --gpu` fetches it (nvidia-cuda-cupti)"
    )]
    CuptiMissing,
    #[error("{0}; only launch times are shown")]
    CuptiStart(#[source] crate::telemetry::TelemetryError),
    #[error("ONNX Runtime did not give its profiling start time")]
    ProfilingStart(#[source] ort::Error),
    #[error("CUPTI recorded no GPU kernels")]
    NoKernels,
    #[error("no clock offset to try")]
    NoClockOffset,
    #[error(
        "none of the {kernels} GPU kernels CUPTI recorded fell in an ONNX Runtime node window, so they could not be attributed"
    )]
    Unattributed { kernels: usize },
}

/// Starts CUPTI, or says why it cannot.
pub(super) fn start_cupti() -> Result<Recorder, GpuTimeError> {
    let loaded = cuda_libs::ensure_loaded(runtime::cache_dir_for(runtime::Flavour::Gpu).as_deref());
    let library = loaded
        .libraries
        .path_of(CUPTI_LIBRARY)
        .ok_or(GpuTimeError::CuptiMissing)?;
    Recorder::start(library).map_err(GpuTimeError::CuptiStart)
}

/// Joins CUPTI's kernels to the profile's node windows. ORT's node `ts` is
/// in µs from `profiling_start_nanos` (its system clock); CUPTI's clock is
/// related to the host clocks by the offsets taken when recording started,
/// and the offset that explains more kernels is used.
pub(super) fn attribute_gpu_time(
    nodes: &[NodeEvent],
    profiling_start_nanos: u64,
    recording: &Recording,
) -> Result<GpuAttribution, GpuTimeError> {
    if recording.kernels.is_empty() {
        return Err(GpuTimeError::NoKernels);
    }
    let windows: Vec<NodeWindow> = nodes
        .iter()
        .map(|event| {
            let start = profiling_start_nanos + event.ts_micros * 1_000;
            NodeWindow {
                node: event.node.clone(),
                thread_id: event.thread_id,
                start_nanos: start,
                end_nanos: start + event.dur_micros * 1_000,
            }
        })
        .collect();
    let offsets = [
        recording.offset_from_realtime,
        recording.offset_from_monotonic,
        0,
    ];
    let (attribution, _) =
        attribute_with_best_offset(&windows, &recording.launches, &recording.kernels, &offsets)
            .ok_or(GpuTimeError::NoClockOffset)?;
    if attribution.nodes.iter().all(|node| node.kernels == 0) {
        return Err(GpuTimeError::Unattributed {
            kernels: recording.kernels.len(),
        });
    }
    Ok(attribution)
}
