//! The controller: [`RunHandle`] starts the `wb-run` thread, which runs the
//! phases of a run one after the other (model, sessions, inputs, first run,
//! load, profiling pass). Each phase writes what it measured into the record
//! and returns a `Result`; [`controller`] is the one place where an error
//! becomes a failed record, so partial results are always kept.

use std::{
    path::Path,
    sync::{Arc, atomic::Ordering},
    thread::JoinHandle,
    time::Instant,
};

use ort::session::{Session, SessionInputValue};

use super::{
    control::{Control, RunError},
    generation_phase,
    load_phase::{self, LoadPlan},
    profile_pass,
    record::{RunRecord, RunStatus, StopReason, describe_runtime, load_model_info, micros_since},
};
use crate::{
    engine::{
        EngineError, binding,
        config::{ExecutionProviderKind, ProfileConfig},
        inputs::{self, PreparedInputs},
        model_ref::ModelRef,
        runtime::{self, Runtime},
        session::{ModelSource, build_session},
    },
    metrics::{RunPhase, RunShared, Snapshot},
    telemetry::EnvironmentInfo,
};

/// Host copies timed per run with I/O binding.
const HOST_COPY_REPETITIONS: u32 = 20;

/// Stops a run from another thread.
#[derive(Clone)]
pub struct RunStopper {
    shared: Arc<RunShared>,
    control: Arc<Control>,
}

impl RunStopper {
    /// See [`RunHandle::stop`].
    pub fn stop(&self) {
        self.control.user_stop.store(true, Ordering::Relaxed);
        self.shared.stop.store(true, Ordering::Relaxed);
        if let Ok(terminator) = self.control.terminator.lock()
            && let Some(options) = terminator.as_ref()
        {
            let _ = options.terminate();
        }
    }
}

/// Reads a run's live state from elsewhere: the window watching the
/// entries of a mix whose handles another thread holds.
#[derive(Clone)]
pub struct RunWatch {
    shared: Arc<RunShared>,
}

impl RunWatch {
    /// The latest published snapshot.
    pub fn snapshot(&self) -> Arc<Snapshot> {
        self.shared.snapshot.load_full()
    }

    /// The current phase.
    pub fn phase(&self) -> RunPhase {
        self.shared.phase()
    }

    /// While starting: what the start-up does now (`converting the model
    /// and checking its outputs`, `creating session 2 of 4`...).
    pub fn stage(&self) -> String {
        self.shared.stage()
    }
}

/// A running (or finished) profiling run. Its live state is read through
/// the [`RunWatch`] it holds (also handed to other threads by
/// [`RunHandle::watch`]).
pub struct RunHandle {
    live: RunWatch,
    control: Arc<Control>,
    thread: Option<JoinHandle<RunRecord>>,
    config: ProfileConfig,
}

impl RunHandle {
    /// Starts a run of `model` with `config` on a new thread and returns at
    /// once. Every failure, including a missing ONNX Runtime, ends up in the
    /// returned [`RunRecord`].
    pub fn start(model: ModelRef, config: ProfileConfig) -> Result<Self, EngineError> {
        let shared = Arc::new(RunShared::new(u64::MAX));
        let control = Arc::new(Control::default());
        let thread_shared = Arc::clone(&shared);
        let thread_control = Arc::clone(&control);
        let thread_config = config.clone();
        let thread = std::thread::Builder::new()
            .name("wb-run".to_owned())
            .spawn(crate::field::carried(move || {
                let record = RunRecord::new(thread_config);
                let record = controller(&model, record, &thread_shared, &thread_control);
                thread_shared.set_phase(RunPhase::Finished);
                record
            }))
            .map_err(EngineError::Thread)?;
        Ok(Self {
            live: RunWatch { shared },
            control,
            thread: Some(thread),
            config,
        })
    }

    /// See [`RunWatch::snapshot`].
    pub fn snapshot(&self) -> Arc<Snapshot> {
        self.live.snapshot()
    }

    /// See [`RunWatch::phase`].
    pub fn phase(&self) -> RunPhase {
        self.live.phase()
    }

    /// See [`RunWatch::stage`].
    pub fn stage(&self) -> String {
        self.live.stage()
    }

    /// A reader of this run's live state for another thread.
    pub fn watch(&self) -> RunWatch {
        self.live.clone()
    }

    /// Asks the run to stop now. In-flight inferences are aborted; what was
    /// measured is kept.
    pub fn stop(&self) {
        self.stopper().stop();
    }

    /// A handle that can stop the run from elsewhere (a Ctrl-C handler).
    pub fn stopper(&self) -> RunStopper {
        RunStopper {
            shared: Arc::clone(&self.live.shared),
            control: Arc::clone(&self.control),
        }
    }

    /// True once the controller thread has finished.
    pub fn is_finished(&self) -> bool {
        self.thread.as_ref().is_none_or(JoinHandle::is_finished)
    }

    /// Waits for the run and returns its record. A panic of the controller
    /// becomes a failed record.
    pub fn join(mut self) -> RunRecord {
        let Some(thread) = self.thread.take() else {
            return RunRecord::new(self.config.clone())
                .fail(&EngineError::Panicked("joined twice".to_owned()));
        };
        match thread.join() {
            Ok(record) => record,
            Err(payload) => {
                let message = crate::util::panic_message(payload.as_ref());
                RunRecord::new(self.config.clone()).fail(&EngineError::Panicked(message))
            }
        }
    }
}

impl Drop for RunHandle {
    fn drop(&mut self) {
        if let Some(thread) = self.thread.take() {
            self.stop();
            let _ = thread.join();
        }
    }
}

/// How the phases ended when none failed.
enum Ending {
    /// The load ran (and the profiling pass, if asked for).
    Finished,
    /// The user stopped the run while the sessions were being created.
    StoppedBeforeLoad,
}

/// The body of the `wb-run` thread: runs the phases, then sets the status.
/// This is the one place where an error becomes a failed record.
fn controller(
    model: &ModelRef,
    mut record: RunRecord,
    shared: &Arc<RunShared>,
    control: &Control,
) -> RunRecord {
    match run_phases(model, &mut record, shared, control) {
        Ok(Ending::Finished) => {
            record.finished_at = crate::util::rfc3339_now();
            record.status = if control.user_stop.load(Ordering::Relaxed) {
                // (A stop during the profiling pass comes after the load
                // has set its own reason.)
                record.stop_reason.get_or_insert(StopReason::User);
                RunStatus::Stopped
            } else {
                RunStatus::Completed
            };
            record
        }
        Ok(Ending::StoppedBeforeLoad) => {
            record.status = RunStatus::Stopped;
            record.stop_reason = Some(StopReason::User);
            record.finished_at = crate::util::rfc3339_now();
            record
                .notes
                .push("stopped before the load started".to_owned());
            record
        }
        Err(err) => record.fail(&err),
    }
}

/// Every phase of a run, in order. A failure of the load is returned only
/// after the profiling pass has run, so the record keeps both what the load
/// measured and the layer report.
fn run_phases(
    model: &ModelRef,
    record: &mut RunRecord,
    shared: &Arc<RunShared>,
    control: &Control,
) -> Result<Ending, RunError> {
    record.environment = EnvironmentInfo::probe();
    record.config.validate().map_err(EngineError::from)?;
    let cores = crate::engine::arrivals::CoreBudget::of_machine().cores();
    if let Some(note) = record.config.queue_clients_beyond_cores(cores) {
        record.notes.push(note);
    }
    let model_path = match model {
        ModelRef::File(path) => path.as_path(),
        ModelRef::Served { target, file } => {
            return super::remote_phase::run(file.as_deref(), target, record, shared, control)
                .map(|()| Ending::Finished);
        }
    };
    shared.set_stage("loading the model");
    let (runtime, loaded, hints, layout) = load_model(model_path, record, shared)?;
    // Sessions load the bytes that were read and hashed, so a file replaced
    // or deleted while the run starts cannot slip a different model in. A
    // model with external data loads from its file (ONNX Runtime resolves
    // the data next to it); that file is checked again once the sessions
    // exist.
    let model_source = match &loaded {
        LoadedModel::Bytes(bytes) => ModelSource::Memory(bytes),
        LoadedModel::File(_) => ModelSource::File(model_path),
    };
    let kv_estimate = match &layout {
        Some(layout) => generation_phase::check(record, layout)?,
        None => 0,
    };
    let Some(sessions) = build_sessions(runtime, model_source, record, shared, control)? else {
        return Ok(Ending::StoppedBeforeLoad);
    };
    if let LoadedModel::File(stamp) = &loaded {
        stamp.check_unchanged(model_path)?;
    }
    if let Some(layout) = layout {
        let mut run = generation_phase::prepare(sessions, record, layout, kv_estimate)?;
        generation_phase::first_generation(&mut run, record)?;
        let generation_shared = std::sync::Arc::clone(&run.shared);
        let step_plan = std::sync::Arc::clone(&run.step_plan);
        let load_result = load_phase::run_load(record, run.plan, shared, control);
        generation_phase::finish(&generation_shared, record);
        generation_phase::profile_phases(
            record,
            runtime,
            model_source,
            &step_plan,
            shared,
            control,
        );
        return load_result.map(|()| Ending::Finished);
    }
    let (prepared, mut plan) = prepare_load(sessions, record, &hints)?;
    first_run(&mut plan, record)?;
    let load_result = load_phase::run_load(record, plan, shared, control);
    profile_pass::profiling_phase(record, runtime, model_source, &prepared, shared, control);
    load_result.map(|()| Ending::Finished)
}

/// What the sessions load: the bytes read once (a transformed model, or a
/// self-contained file), or the file itself when its data is external.
enum LoadedModel {
    Bytes(Vec<u8>),
    File(FileStamp),
}

/// Size and modification time of a model file when it was read.
struct FileStamp {
    len: u64,
    modified: Option<std::time::SystemTime>,
}

impl FileStamp {
    fn of(path: &Path) -> Result<Self, EngineError> {
        let metadata = std::fs::metadata(path).map_err(|error| {
            EngineError::Model(crate::model::ModelError::Read {
                error,
                path: path.to_path_buf(),
            })
        })?;
        Ok(Self {
            len: metadata.len(),
            modified: metadata.modified().ok(),
        })
    }

    /// Fails when the file was deleted or replaced since it was stamped.
    fn check_unchanged(&self, path: &Path) -> Result<(), EngineError> {
        let now = Self::of(path).map_err(|_| EngineError::ModelChanged {
            path: path.to_path_buf(),
            what: "was deleted",
        })?;
        if now.len != self.len || now.modified != self.modified {
            return Err(EngineError::ModelChanged {
                path: path.to_path_buf(),
                what: "was replaced",
            });
        }
        Ok(())
    }
}

/// Reads and checks the model, loads ONNX Runtime and applies the transform.
/// Returns the runtime, what the sessions load, and what the graph accepts
/// in its inputs.
fn load_model(
    model_path: &Path,
    record: &mut RunRecord,
    shared: &RunShared,
) -> Result<ModelLoaded, RunError> {
    let stamp = FileStamp::of(model_path)?;
    let (info, parse_micros, model, bytes) = load_model_info(model_path)?;
    let hints = inputs::GraphHints::analyse(&model, &record.config.dims);
    let layout = if record.config.generation.is_some() {
        Some(
            crate::model::generative::detect(&model)
                .map_err(|err| EngineError::Generation(err.to_string()))?,
        )
    } else {
        None
    };
    record.model = Some(info);
    record.timings.model_parse_micros = Some(parse_micros);
    let runtime = runtime::runtime().map_err(EngineError::from)?;
    describe_runtime(&mut record.environment, runtime);
    if record.config.transform.is_identity() {
        let loaded = if model.has_external_data() {
            LoadedModel::File(stamp)
        } else {
            LoadedModel::Bytes(bytes)
        };
        return Ok((runtime, loaded, hints, layout));
    }
    drop(bytes);
    shared.set_stage(format!(
        "transforming the model ({}) and checking its outputs",
        record.config.transform.label()
    ));
    let checked =
        crate::engine::verify::apply_checked(&model, &record.config.transform, &record.config)
            .map_err(EngineError::Transform)?;
    record.transform = Some(checked.report);
    Ok((runtime, LoadedModel::Bytes(checked.bytes), hints, layout))
}

/// What [`load_model`] returns: the runtime, what the sessions load, what
/// the graph accepts in its inputs, and a generative run's decoder layout.
type ModelLoaded = (
    &'static Runtime,
    LoadedModel,
    inputs::GraphHints,
    Option<crate::model::generative::DecoderLayout>,
);

/// Creates the session instances, timing each. Returns `None` when the user
/// stopped the run meanwhile.
fn build_sessions(
    runtime: &Runtime,
    model_source: ModelSource<'_>,
    record: &mut RunRecord,
    shared: &RunShared,
    control: &Control,
) -> Result<Option<Vec<Session>>, RunError> {
    let dispatch = record.config.dispatch();
    let num_instances = dispatch.usable_sessions(record.config.num_instances()) as usize;
    let num_workers = record.config.num_workers() as usize;
    if record.config.num_instances() as usize > num_instances {
        record.notes.push(format!(
            "{} session instances requested for {num_workers} workers; only {num_workers} can be used",
            record.config.num_instances()
        ));
    }
    let mut sessions = Vec::with_capacity(num_instances);
    for index in 0..num_instances {
        if control.user_stop.load(Ordering::Relaxed) {
            return Ok(None);
        }
        shared.set_stage(format!("creating session {} of {num_instances}", index + 1));
        let started = Instant::now();
        let built = build_session(runtime, model_source, &record.config, None)?;
        record
            .timings
            .session_create_micros
            .push(micros_since(started));
        record.execution_provider_used = Some(built.execution_provider);
        if let Some(warning) = built.fallback_warning
            && !record.warnings.contains(&warning)
        {
            record.warnings.push(warning);
        }
        sessions.push(built.session);
    }
    Ok(Some(sessions))
}

/// Where bound tensors live: on the provider the sessions really run on.
fn placement(record: &RunRecord) -> binding::Placement {
    binding::Placement {
        provider: record
            .execution_provider_used
            .unwrap_or(ExecutionProviderKind::Cpu),
        device_id: record.config.device_id,
    }
}

/// Resolves the inputs from the first session, makes each worker's values
/// and, with I/O binding, binds them on each worker's own session.
fn prepare_load(
    sessions: Vec<Session>,
    record: &mut RunRecord,
    hints: &inputs::GraphHints,
) -> Result<(PreparedInputs, LoadPlan), RunError> {
    let Some(first_session) = sessions.first() else {
        return Err(RunError::NoSession);
    };
    let dispatch = record.config.dispatch();
    if dispatch == crate::engine::Dispatch::Batched {
        inputs::check_batchable(first_session).map_err(EngineError::from)?;
    }
    let prepared = inputs::declared_inputs(first_session)
        .and_then(|declared| inputs::prepare(&declared, &record.config, hints))
        .map_err(EngineError::from)?;
    record.inputs = prepared.specs.clone();
    record.notes.extend(prepared.notes.iter().cloned());
    if !prepared.chosen_dims.is_empty() {
        record.warnings.push(format!(
            "sizes chosen for dims the model leaves open, not set by you: {}. Set them to the sizes you serve.",
            prepared.chosen_dims.join("; ")
        ));
    }
    let batch_size = prepared.batch_size();

    let worker_inputs = (0..dispatch.value_sets())
        .map(|_| prepared.to_values())
        .collect::<Result<Vec<_>, _>>()
        .map_err(EngineError::from)?;
    // I/O binding: each worker's own session gets its inputs on the device
    // once (validation guarantees one session per worker).
    let mut worker_bindings = Vec::new();
    if record.config.io_binding {
        let placement = placement(record);
        for (session, inputs) in sessions.iter().zip(&worker_inputs) {
            let bindings =
                binding::bind_variants(session, inputs, placement).map_err(RunError::Binding)?;
            worker_bindings.push(bindings);
        }
    }
    let plan = LoadPlan {
        sessions,
        worker_bindings,
        worker_inputs,
        batch_size,
        prepared: Arc::new(prepared.clone()),
        remote: Vec::new(),
        generators: Vec::new(),
    };
    Ok((prepared, plan))
}

/// The first inference pays for lazy initialisation (and, with CUDA
/// graphs, the capture); it is timed on its own. With I/O binding, the host
/// copies a bound run avoids are timed next.
fn first_run(plan: &mut LoadPlan, record: &mut RunRecord) -> Result<(), RunError> {
    let (Some(values), Some(first_session)) =
        (plan.worker_inputs.first(), plan.sessions.first_mut())
    else {
        return Ok(());
    };
    let bound = plan
        .worker_bindings
        .first()
        .and_then(|bindings| bindings.first());
    let started = Instant::now();
    let result = match bound {
        Some(bound) => first_session.run_binding(bound).map(drop),
        None => {
            let views: Vec<SessionInputValue<'_>> = values
                .first()
                .map(|variant| variant.iter().map(SessionInputValue::from).collect())
                .unwrap_or_default();
            first_session.run(&views[..]).map(drop)
        }
    };
    record.timings.first_run_micros = Some(micros_since(started));
    result.map_err(EngineError::FirstRun)?;
    if let (Some(bound), Some(host_inputs)) = (bound, values.first()) {
        match binding::measure_host_copies(
            first_session,
            bound,
            host_inputs,
            placement(record),
            HOST_COPY_REPETITIONS,
        ) {
            Ok(timings) => record.host_copies = Some(timings),
            Err(err) => record
                .warnings
                .push(format!("host copies could not be timed: {err}")),
        }
    }
    Ok(())
}
