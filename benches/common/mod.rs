//! What the benchmarks share: one engine run to the end, and the median.

use std::path::Path;

use onnx_workbench::engine::{ProfileConfig, RunHandle, RunRecord, RunStatus};

/// Runs `model` with `config` through the engine; the run must complete.
pub fn engine_run(model: &Path, config: &ProfileConfig) -> RunRecord {
    let record = RunHandle::start(
        onnx_workbench::engine::ModelRef::File(model.to_path_buf()),
        config.clone(),
    )
    .expect("start")
    .join();
    assert_eq!(record.status, RunStatus::Completed, "{:?}", record.failure);
    record
}

/// The median of `values` (the upper one of an even count), sorting them.
pub fn median(values: &mut [f64]) -> f64 {
    values.sort_by(f64::total_cmp);
    values[values.len() / 2]
}
