//! GPU activity as CUPTI records it, decoded into plain values: the runtime
//! and driver API calls that launched work, and the kernels and copies that
//! ran. `metrics::gpu_attribution` joins them to ONNX Runtime's node
//! launch windows. All times are nanoseconds on CUPTI's clock.

/// A runtime API call that launched work (CUPTI runtime activity).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LaunchCall {
    pub correlation_id: u32,
    pub thread_id: u64,
    pub start_nanos: u64,
}

/// A GPU kernel (CUPTI kernel activity).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KernelRecord {
    pub name: String,
    pub correlation_id: u32,
    pub start_nanos: u64,
    pub end_nanos: u64,
}
