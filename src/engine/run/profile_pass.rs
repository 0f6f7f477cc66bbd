//! The separate per-layer profiling pass: after the load, a fresh session
//! with session-level profiling runs the inputs a few times, and ONNX
//! Runtime's profile becomes the record's layer report (with per-node GPU
//! time from CUPTI on the CUDA provider).
//!
//! A failed pass is not a failed run: its reason is kept in
//! `layer_profiling_error` and the load's results stand.

use std::{
    path::PathBuf,
    sync::{Arc, atomic::Ordering},
};

use ort::session::SessionInputValue;

use super::{
    control::Control,
    gpu_time::{self, GpuTimeError},
    pass_outputs,
    record::RunRecord,
};
use crate::{
    engine::{
        EngineError,
        config::{ExecutionProviderKind, LayerProfiling, ProfileConfig},
        inputs::{InputError, PreparedInputs},
        runtime::Runtime,
        session::{ModelSource, ParsedOnce},
    },
    metrics::{
        RunPhase, RunShared,
        gpu_attribution::GpuAttribution,
        layers::{LayerAggregator, LayerSource, ProfileError, parse_profile_file},
    },
    telemetry::cupti::Recorder,
};

/// Why the separate pass produced no layer report.
#[derive(Debug, thiserror::Error)]
pub(super) enum ProfilePassError {
    #[error("cannot create a folder for the profile: {0}")]
    TempDir(#[source] std::io::Error),
    #[error(transparent)]
    Session(EngineError),
    #[error(transparent)]
    Inputs(InputError),
    #[error("ONNX Runtime could not write the profile: {0}")]
    EndProfiling(#[source] ort::Error),
    #[error(transparent)]
    Parse(ProfileError),
    #[error("the profile has no node events ({failures} of {runs} profiled runs failed)")]
    NoNodeEvents { failures: u32, runs: u32 },
}

/// What a successful pass measured.
struct ProfilePass {
    layers: LayerAggregator,
    /// On CUDA: kernel time per node, or why there is none.
    gpu: Option<Result<GpuAttribution, GpuTimeError>>,
    /// The pass's folder, holding ONNX Runtime's optimized model.
    dir: tempfile::TempDir,
    /// Why ONNX Runtime wrote no optimized model.
    refused: Option<String>,
    /// The profile ONNX Runtime wrote.
    profile_path: PathBuf,
}

/// Runs the separate pass when the configuration asks for it and the user
/// has not stopped the run, and stores what it measured in `record`. On
/// CUDA with sampled profiling, notes that there is no per-node GPU time.
pub(super) fn profiling_phase(
    record: &mut RunRecord,
    runtime: &Runtime,
    model_source: ModelSource<'_>,
    prepared: &PreparedInputs,
    shared: &Arc<RunShared>,
    control: &Control,
) {
    let layer_profiling = record.config.layer_profiling;
    // One parse of the model serves the source mapping, the weights and the
    // model's count.
    let model = ParsedOnce::new(model_source);
    if !control.user_stop.load(Ordering::Relaxed)
        && let LayerProfiling::SeparatePass { runs } = layer_profiling
    {
        shared.set_phase(RunPhase::Profiling);
        match separate_profiling_pass(
            runtime,
            model_source,
            &record.config,
            prepared,
            runs,
            control,
        ) {
            Ok(ProfilePass {
                layers,
                gpu,
                dir,
                refused,
                profile_path,
            }) => {
                match gpu {
                    Some(Ok(attribution)) => record.gpu_kernels = Some(attribution),
                    Some(Err(note)) => record.gpu_kernels_note = Some(note.to_string()),
                    None => {}
                }
                let mut report = layers.report();
                let mapping = pass_outputs::mapping_in(&model, &record.config, dir.path(), refused);
                pass_outputs::finish_pass_report(
                    &mut report,
                    &mapping,
                    (dir.path(), &profile_path),
                );
                record.timings.ort_session_initialization_micros =
                    report.session_initialization_micros;
                record.trace.node_events = layers.trace_events;
                record.trace.model_runs = layers.trace_runs;
                shared.layers.store(Some(Arc::new(report.clone())));
                record.layers = Some(report);
            }
            Err(err) => record.layer_profiling_error = Some(format!("{err:#}")),
        }
    }
    if let (LayerProfiling::Sampled { .. }, Some(report)) = (layer_profiling, &mut record.layers) {
        pass_outputs::map_sampled_report(report, runtime, &model, &record.config);
    }
    if record.layers.is_some() && !control.user_stop.load(Ordering::Relaxed) {
        if let Some(layers) = record.layers.as_mut() {
            crate::engine::peaks::fill_model_weights(layers, &model);
        }
        pass_outputs::count_model_flops(record, &model);
        if let Some(layers) = record.layers.as_mut() {
            if let Some(note) = crate::engine::peaks::attach_peaks(
                layers,
                runtime,
                &record.config,
                &record.environment,
            ) {
                record.notes.push(note);
            }
            shared.layers.store(Some(Arc::new(layers.clone())));
        }
    }
    if record.execution_provider_used == Some(ExecutionProviderKind::Cuda)
        && matches!(layer_profiling, LayerProfiling::Sampled { .. })
        && record.gpu_kernels_note.is_none()
    {
        record.gpu_kernels_note = Some(format!(
            "per-node GPU time (CUPTI) is recorded in the separate profiling pass only; with {} the node times are launch times",
            crate::field::Field::ProfileEvery
        ));
    }
}

/// A separate session with session-level profiling: one warm-up run, then
/// `runs` profiled runs.
fn separate_profiling_pass(
    runtime: &Runtime,
    model_source: ModelSource<'_>,
    config: &ProfileConfig,
    prepared: &PreparedInputs,
    runs: u32,
    control: &Control,
) -> Result<ProfilePass, ProfilePassError> {
    let dir = tempfile::Builder::new()
        .prefix("onnx-workbench-profile-")
        .tempdir()
        .map_err(ProfilePassError::TempDir)?;
    let prefix = dir.path().join("profile");
    let (mut built, refused) =
        pass_outputs::build_writing_optimized(runtime, model_source, config, &prefix, dir.path())
            .map_err(ProfilePassError::Session)?;
    let values = prepared.to_values().map_err(ProfilePassError::Inputs)?;
    // On CUDA, record GPU kernels next to ORT's launch windows.
    let recorder =
        (built.execution_provider == ExecutionProviderKind::Cuda).then(gpu_time::start_cupti);
    let views: Vec<Vec<SessionInputValue<'_>>> = values
        .iter()
        .map(|variant| variant.iter().map(SessionInputValue::from).collect())
        .collect();
    let mut failures = 0u32;
    for run in 0..=runs {
        if control.user_stop.load(Ordering::Relaxed) {
            break;
        }
        let variant = &views[run as usize % views.len().max(1)];
        if built.session.run(&variant[..]).is_err() {
            failures += 1;
        }
    }
    let recording = recorder.map(|started| started.map(Recorder::finish));
    let profiling_start_nanos = built.session.profiling_start_ns();
    let profile_path = built
        .session
        .end_profiling()
        .map_err(ProfilePassError::EndProfiling)?;
    let profile_path = PathBuf::from(profile_path);
    let parsed = parse_profile_file(&profile_path).map_err(ProfilePassError::Parse)?;
    let gpu = recording.map(|recording| {
        let recording = recording?;
        let start = profiling_start_nanos.map_err(GpuTimeError::ProfilingStart)?;
        gpu_time::attribute_gpu_time(&parsed.nodes, start, &recording)
    });
    let mut layers = LayerAggregator::new(LayerSource::SeparatePass);
    layers.add(parsed, 1);
    if layers.is_empty() {
        return Err(ProfilePassError::NoNodeEvents {
            failures,
            runs: runs + 1,
        });
    }
    Ok(ProfilePass {
        layers,
        gpu,
        dir,
        refused,
        profile_path,
    })
}
