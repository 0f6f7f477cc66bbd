//! The phases of a generative run: the decoder layout checked against the
//! lengths and the memory, one token loop per worker on its own session, a
//! first timed generation, the load (the same load phase as one-shot runs),
//! then a profiling pass whose per-layer timings are split by phase,
//! prefill and decode.

use std::{
    path::PathBuf,
    sync::{Arc, atomic::Ordering},
    time::Instant,
};

use ort::session::{RunOptions, Session};

use super::{
    control::{Control, RunError},
    load_phase::LoadPlan,
    pass_outputs,
    record::{RunRecord, micros_since},
};
use crate::{
    engine::{
        EngineError,
        config::LayerProfiling,
        generate::{self, GenerationConfig, GenerationShared, Generator, StepPlan, token_loop},
        inputs::PreparedInputs,
        runtime::Runtime,
        session::ModelSource,
    },
    metrics::{
        RunPhase, RunShared,
        generation::KvCacheUsage,
        layers::{LayerAggregator, LayerReport, LayerSource, ParsedProfile, parse_profile_file},
    },
    model::generative::DecoderLayout,
};

/// Generations the profiling pass runs after one warm-up generation.
const PROFILED_GENERATIONS: usize = 2;

/// What the load of a generative run needs beyond the plan.
pub(super) struct GenerationRun {
    pub(super) plan: LoadPlan,
    pub(super) step_plan: Arc<StepPlan>,
    pub(super) shared: Arc<GenerationShared>,
}

/// Checks the lengths against the model's positions and the KV cache
/// against the memory budget, before any session is created. Returns the
/// estimate of the cache at full length.
pub(super) fn check(record: &mut RunRecord, layout: &DecoderLayout) -> Result<u64, RunError> {
    let config = record
        .config
        .generation
        .clone()
        .ok_or(RunError::NoSession)?;
    let batch = record.config.batch.unwrap_or(1).max(1) as usize;
    let sequences = u64::from(record.config.num_workers()) * batch as u64;
    let estimate = generate::check_run(
        layout,
        &config,
        sequences,
        crate::util::available_memory_bytes(),
    )
    .map_err(|err| EngineError::Generation(err.to_string()))?;
    record.notes.push(format!(
        "generative: {}; {}, {} sequence{} per request; KV cache {} per token, about {} for all concurrent sequences at full length",
        layout.kind.describe(),
        config.describe(),
        batch,
        if batch == 1 { "" } else { "s in lockstep" },
        crate::util::format_bytes(layout.kv_bytes_per_token),
        crate::util::format_bytes(estimate),
    ));
    Ok(estimate)
}

/// Makes one generator per worker, each on its own session.
pub(super) fn prepare(
    sessions: Vec<Session>,
    record: &mut RunRecord,
    layout: DecoderLayout,
    estimate: u64,
) -> Result<GenerationRun, RunError> {
    let config = record
        .config
        .generation
        .clone()
        .ok_or(RunError::NoSession)?;
    let batch = record.config.batch.unwrap_or(1).max(1) as usize;
    let Some(first) = sessions.first() else {
        return Err(RunError::NoSession);
    };
    let step_plan = Arc::new(
        StepPlan::new(first, layout.clone())
            .map_err(|err| EngineError::Generation(err.to_string()))?,
    );
    let warmup_nanos = (record.config.warmup_secs * 1e9) as u64;
    let shared = Arc::new(GenerationShared::new(warmup_nanos));
    let config = Arc::new(config);
    let generators: Vec<Generator> = sessions
        .into_iter()
        .enumerate()
        .map(|(worker, session)| {
            Generator::new(
                session,
                Arc::clone(&step_plan),
                Arc::clone(&config),
                Arc::clone(&shared),
                batch,
                worker as u64,
            )
        })
        .collect();
    record.generation_layout = Some(layout);
    record.kv_cache = Some(KvCacheUsage {
        bytes_per_token: step_plan.layout.kv_bytes_per_token,
        budget_estimate_bytes: estimate,
        peak_bytes: 0,
    });
    let plan = LoadPlan {
        sessions: Vec::new(),
        worker_bindings: Vec::new(),
        worker_inputs: (0..generators.len()).map(|_| vec![Vec::new()]).collect(),
        // Each sequence of a lockstep batch is recorded as its own request.
        batch_size: 1,
        prepared: Arc::new(PreparedInputs::default()),
        remote: Vec::new(),
        generators,
    };
    Ok(GenerationRun {
        plan,
        step_plan,
        shared,
    })
}

/// The first generation pays for lazy initialisation; it is timed on its
/// own, and a failure here (a malformed cache, a kernel that refuses the
/// shapes) ends the run before the load with the model's message.
pub(super) fn first_generation(
    run: &mut GenerationRun,
    record: &mut RunRecord,
) -> Result<(), RunError> {
    let Some(generator) = run.plan.generators.first_mut() else {
        return Ok(());
    };
    let options = RunOptions::new().map_err(RunError::RunOptions)?;
    let started = Instant::now();
    let result = generator.generate(started, &options);
    record.timings.first_run_micros = Some(micros_since(started));
    result.map_err(|err| {
        RunError::Engine(EngineError::Generation(format!(
            "the first generation failed: {err}"
        )))
    })
}

/// After the load: the KV cache's peak into the record.
pub(super) fn finish(run_shared: &GenerationShared, record: &mut RunRecord) {
    if let Ok(mut events) = run_shared.token_events.lock() {
        record.trace.token_events = std::mem::take(&mut events);
    }
    if let Some(kv) = record.kv_cache.as_mut() {
        kv.peak_bytes = run_shared.kv_peak_bytes.load(Ordering::Relaxed);
    }
    if let (Some(kv), Some(summary)) = (&record.kv_cache, record.summary.as_mut())
        && let Some(generation) = summary.generation.as_mut()
    {
        generation.kv_cache = Some(kv.clone());
    }
}

/// The profiling pass of a generative run: one warm-up generation, then a
/// few profiled ones; each `model_run` is the prefill (first of its
/// generation) or a decode step, and the layer report is split by phase.
pub(super) fn profile_phases(
    record: &mut RunRecord,
    runtime: &Runtime,
    model_source: ModelSource<'_>,
    step_plan: &StepPlan,
    shared: &Arc<RunShared>,
    control: &Control,
) {
    if control.user_stop.load(Ordering::Relaxed)
        || !matches!(
            record.config.layer_profiling,
            LayerProfiling::SeparatePass { .. }
        )
    {
        return;
    }
    let Some(config) = record.config.generation.clone() else {
        return;
    };
    shared.set_phase(RunPhase::Profiling);
    // One parse of the model serves the mapping and the weights of the
    // combined report and each phase's.
    let model = crate::engine::session::ParsedOnce::new(model_source);
    match phase_pass(runtime, &model, record, step_plan, &config, control) {
        Ok((mut combined, mut phases)) => {
            for report in std::iter::once(&mut combined).chain(phases.iter_mut()) {
                crate::engine::peaks::fill_model_weights(report, &model);
                if let Some(note) = crate::engine::peaks::attach_peaks(
                    report,
                    runtime,
                    &record.config,
                    &record.environment,
                ) && !record.notes.contains(&note)
                {
                    record.notes.push(note);
                }
            }
            shared.layers.store(Some(Arc::new(combined.clone())));
            record.layers = Some(combined);
            record.phase_layers = phases;
        }
        Err(err) => record.layer_profiling_error = Some(err),
    }
}

fn phase_pass(
    runtime: &Runtime,
    model: &crate::engine::session::ParsedOnce<'_>,
    record: &RunRecord,
    step_plan: &StepPlan,
    config: &GenerationConfig,
    control: &Control,
) -> Result<(LayerReport, Vec<LayerReport>), String> {
    let dir = tempfile::Builder::new()
        .prefix("onnx-workbench-profile-")
        .tempdir()
        .map_err(|err| format!("cannot create a folder for the profile: {err}"))?;
    let prefix = dir.path().join("profile");
    let (mut built, refused) = pass_outputs::build_writing_optimized(
        runtime,
        model.source(),
        &record.config,
        &prefix,
        dir.path(),
    )
    .map_err(|err| err.to_string())?;
    let (prompt, output) = config.longest();
    let batch = record.config.batch.unwrap_or(1).max(1) as usize;
    let vocab = step_plan.layout.vocab.unwrap_or(2).max(2) as i64;
    let prompts: Vec<Vec<i64>> = (0..batch)
        .map(|row| {
            (0..prompt as i64)
                .map(|index| 1 + (index * 7 + row as i64 * 13) % (vocab - 1))
                .collect()
        })
        .collect();
    let options = RunOptions::new().map_err(|err| err.to_string())?;
    for _ in 0..=PROFILED_GENERATIONS {
        if control.user_stop.load(Ordering::Relaxed) {
            break;
        }
        token_loop::generate(
            &mut built.session,
            step_plan,
            &prompts,
            output as usize,
            &options,
            |_, _| {},
        )
        .map_err(|err| err.to_string())?;
    }
    let profile_path = PathBuf::from(
        built
            .session
            .end_profiling()
            .map_err(|err| format!("ONNX Runtime could not write the profile: {err}"))?,
    );
    let parsed = parse_profile_file(&profile_path).map_err(|err| err.to_string())?;
    let steps = output as usize;
    let warmup_runs = steps;
    let mapping = pass_outputs::mapping_in(model, &record.config, dir.path(), refused);
    let mut combined = LayerAggregator::new(LayerSource::SeparatePass);
    combined.add(parsed.clone(), warmup_runs);
    let mut phases = Vec::new();
    for (phase, is_prefill) in [("prefill", true), ("decode", false)] {
        let selected = select_runs(&parsed, warmup_runs, |index| {
            (index % steps == 0) == is_prefill
        });
        if selected.runs.is_empty() {
            continue;
        }
        let mut aggregator = LayerAggregator::new(LayerSource::SeparatePass);
        aggregator.add(selected, 0);
        let mut report = aggregator.report();
        pass_outputs::apply_mapping(&mut report, &mapping);
        report.phase = Some(phase.to_owned());
        for node in &mut report.nodes {
            node.phase = Some(phase.to_owned());
        }
        phases.push(report);
    }
    if combined.is_empty() {
        return Err("the profile has no node events".to_owned());
    }
    let mut report = combined.report();
    pass_outputs::finish_pass_report(&mut report, &mapping, (dir.path(), &profile_path));
    Ok((report, phases))
}

/// The runs after `skip` whose index (counted from `skip`) `keep` accepts,
/// with the node events inside them.
fn select_runs(parsed: &ParsedProfile, skip: usize, keep: impl Fn(usize) -> bool) -> ParsedProfile {
    let runs: Vec<_> = parsed
        .runs
        .iter()
        .skip(skip)
        .enumerate()
        .filter(|(index, _)| keep(*index))
        .map(|(_, run)| *run)
        .collect();
    let inside = |ts: u64| {
        runs.iter()
            .any(|run| ts >= run.ts_micros && ts <= run.ts_micros + run.dur_micros)
    };
    ParsedProfile {
        nodes: parsed
            .nodes
            .iter()
            .filter(|node| inside(node.ts_micros))
            .cloned()
            .collect(),
        runs,
        ..parsed.clone()
    }
}
