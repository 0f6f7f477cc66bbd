//! The load phase: warm-up and measured load. It starts the aggregator, the
//! telemetry samplers, the open-loop dispatcher, the sampled-profile parser
//! and one worker thread per client, waits for the end (duration, request
//! count, user stop, or every worker gone), joins them all and fills the
//! record with what was measured.

use std::{
    path::{Path, PathBuf},
    sync::{
        Arc,
        atomic::{AtomicU64, Ordering},
    },
    thread::JoinHandle,
    time::{Duration, Instant},
};

use ort::{
    session::{IoBinding, RunOptions, Session},
    value::DynValue,
};

use super::{
    control::{Control, RunError},
    metrics_url,
    record::{LoadFigures, RunRecord, StopReason},
    verdict::{self, EarlyEnd, EndWatch},
};
use crate::{
    engine::{
        arrivals::{self, ArrivalSchedule, CoreBudget, Waiter},
        batcher::{
            BatchPolicy,
            serve::{self, BatchedLoad},
        },
        config::{LayerProfiling, LoadMode},
        inputs::PreparedInputs,
        load::{ClientQueue, RequestSource, SampledProfiling, SessionSlot, Worker, nanos_since},
    },
    metrics::{
        Aggregator, AggregatorSettings, DEFAULT_PUBLISH_INTERVAL, RunPhase, RunShared,
        layers::{LayerAggregator, LayerSource, parse_profile_file},
        recorder::{Recorder, Tracked, WindowPartial},
    },
    telemetry::{
        DEFAULT_SAMPLE_INTERVAL, GpuSampler, TelemetrySampler, gpu::DEFAULT_GPU_SAMPLE_INTERVAL,
    },
};

/// Window partials the metrics channel holds before recorders start
/// dropping (and counting) them: several seconds of every worker's.
const SAMPLE_CHANNEL_BATCHES: usize = 1024;
/// Scheduled requests the open-loop queue holds.
const SCHEDULE_QUEUE: usize = 1 << 16;
/// Profiled runs waiting to be parsed in sampled mode.
const PROFILE_FILE_QUEUE: usize = 256;
/// How often the controller checks the stop flag. It sleeps exactly until the
/// deadline when that is nearer; a user stop aborts in-flight runs at once
/// through `RunOptions::terminate`, so this only bounds the bookkeeping.
const CONTROLLER_TICK: Duration = Duration::from_millis(50);

/// What the load runs: the sessions and, per worker, its input values and
/// (with I/O binding) its bindings.
pub(super) struct LoadPlan {
    /// The session instances; fewer than the workers means a shared pool.
    pub(super) sessions: Vec<Session>,
    /// Per worker, one binding per input variant (empty without binding).
    pub(super) worker_bindings: Vec<Vec<IoBinding>>,
    /// Per worker, the values of each input variant.
    pub(super) worker_inputs: Vec<Vec<Vec<DynValue>>>,
    /// Inferences per request.
    pub(super) batch_size: u64,
    /// The request data, which dynamic batching concatenates per batch.
    pub(super) prepared: Arc<PreparedInputs>,
    /// Remote targets: one executor per worker (no sessions then).
    pub(super) remote: Vec<crate::engine::remote::RemoteExecutor>,
    /// Generative runs: one token loop per worker, each on its own session
    /// (no sessions then).
    pub(super) generators: Vec<crate::engine::generate::Generator>,
}

/// Runs the warm-up and the measured load, filling the record's metrics.
/// On an error, what was measured is already in the record.
pub(super) fn run_load(
    record: &mut RunRecord,
    plan: LoadPlan,
    shared: &Arc<RunShared>,
    control: &Control,
) -> Result<(), RunError> {
    let LoadPlan {
        sessions,
        worker_bindings,
        worker_inputs,
        batch_size,
        prepared,
        remote,
        generators,
    } = plan;
    let config = record.config.clone();
    let num_workers = match config.dispatch() {
        crate::engine::Dispatch::Batched => config.num_workers() as usize,
        crate::engine::Dispatch::PerWorker { .. } => worker_inputs.len(),
    };
    let run_options = Arc::new(RunOptions::new().map_err(RunError::RunOptions)?);
    if let Ok(mut terminator) = control.terminator.lock() {
        *terminator = Some(Arc::clone(&run_options));
    }

    let epoch = Instant::now();
    let warmup_nanos = (config.warmup_secs * 1e9) as u64;
    record.mark_epoch(warmup_nanos);
    shared
        .measure_start_nanos
        .store(warmup_nanos, Ordering::Relaxed);
    shared.set_phase(if warmup_nanos > 0 {
        RunPhase::Warmup
    } else {
        RunPhase::Running
    });

    let (sample_tx, sample_rx) =
        crossbeam_channel::bounded::<WindowPartial>(SAMPLE_CHANNEL_BATCHES);
    let tracked = Tracked {
        queue: config.has_queue(),
        lateness: matches!(config.load, LoadMode::Open { .. }) && config.batching.is_none(),
        generation: config.generation.as_ref().map(|generation| generation.slo),
    };
    let aggregator = Aggregator::new(
        AggregatorSettings {
            batch_size,
            publish_interval: DEFAULT_PUBLISH_INTERVAL,
            epoch,
            tracked,
            slo: config.slo.first().copied(),
        },
        Arc::clone(shared),
    );
    let aggregator_thread = std::thread::Builder::new()
        .name("wb-aggregator".to_owned())
        .spawn(move || aggregator.run(&sample_rx));

    // The samplers note their own thread's CPU at each reading, so the
    // harness's cost includes them.
    let telemetry_cpu = Arc::new(AtomicU64::new(0));
    let gpu_cpu = Arc::new(AtomicU64::new(0));
    let telemetry_shared = Arc::clone(shared);
    let telemetry_cpu_of_thread = Arc::clone(&telemetry_cpu);
    let telemetry = TelemetrySampler::start(epoch, DEFAULT_SAMPLE_INTERVAL, move |sample| {
        telemetry_shared
            .telemetry
            .store(Some(Arc::new(sample.clone())));
        if let Some(nanos) = crate::telemetry::thread_cpu_nanos() {
            telemetry_cpu_of_thread.store(nanos, Ordering::Relaxed);
        }
    });

    let gpu_shared = Arc::clone(shared);
    let gpu_cpu_of_thread = Arc::clone(&gpu_cpu);
    let gpu_device = u32::try_from(config.device_id).unwrap_or(0);
    let gpu_sampler = match GpuSampler::start(
        epoch,
        gpu_device,
        DEFAULT_GPU_SAMPLE_INTERVAL,
        move |sample| {
            gpu_shared.gpu.store(Some(Arc::new(sample.clone())));
            if let Some(nanos) = crate::telemetry::thread_cpu_nanos() {
                gpu_cpu_of_thread.store(nanos, Ordering::Relaxed);
            }
        },
    ) {
        Ok(sampler) => Some(sampler),
        Err(note) => {
            record.gpu_telemetry_note = Some(note.to_string());
            None
        }
    };

    let scraper = metrics_url::start(record, shared, epoch, gpu_sampler.is_none());

    let profile_dir = match config.layer_profiling {
        LayerProfiling::Sampled { .. } => tempfile::Builder::new()
            .prefix("onnx-workbench-profile-")
            .tempdir()
            .ok(),
        _ => None,
    };
    let (profile_tx, profile_rx) = crossbeam_channel::bounded::<(PathBuf, u64)>(PROFILE_FILE_QUEUE);
    let sampled = match (config.layer_profiling, &profile_dir) {
        (LayerProfiling::Sampled { every }, Some(dir)) => Some(SampledProfiling {
            every,
            dir: dir.path().to_path_buf(),
            files: profile_tx.clone(),
        }),
        _ => None,
    };
    drop(profile_tx);
    let parser_thread = sampled.as_ref().map(|_| {
        let parser_shared = Arc::clone(shared);
        std::thread::Builder::new()
            .name("wb-layer-parser".to_owned())
            .spawn(crate::field::carried(move || {
                parse_sampled_profiles(&profile_rx, &parser_shared)
            }))
    });

    // Open loop: one schedule that the workers (or, with the dynamic
    // batcher, a `wb-arrivals` thread feeding its queue) take arrivals from.
    let schedule = match config.load {
        LoadMode::Open {
            rate_per_sec,
            arrival,
        } => Some(Arc::new(
            ArrivalSchedule::new(rate_per_sec, arrival, config.seed)
                .with_workers(config.num_workers() as usize),
        )),
        LoadMode::Closed => None,
    };
    let waiter = Waiter {
        mode: config.spin,
        cores: Arc::new(CoreBudget::of_machine()),
    };
    let (schedule_tx, schedule_rx) = crossbeam_channel::bounded::<u64>(SCHEDULE_QUEUE);
    let feeder = match (&schedule, &config.batching) {
        (Some(schedule), Some(_)) => {
            let feed_shared = Arc::clone(shared);
            let feed_schedule = Arc::clone(schedule);
            let feed_waiter = waiter.clone();
            Some(
                std::thread::Builder::new()
                    .name("wb-arrivals".to_owned())
                    .spawn(crate::field::carried(move || {
                        let unsent = arrivals::feed_queue(
                            &feed_schedule,
                            &schedule_tx,
                            &feed_shared,
                            epoch,
                            &feed_waiter,
                        );
                        feed_shared.add_harness_cpu_of_this_thread();
                        unsent
                    })),
            )
        }
        _ => {
            drop(schedule_tx);
            None
        }
    };

    let request_limit = config
        .max_requests
        .map(|limit| (Arc::new(AtomicU64::new(0)), limit));
    let (workers, spawn_error) = match &config.batching {
        Some(batching) => {
            let (handles, error) = serve::spawn(BatchedLoad {
                sessions,
                prepared,
                policy: BatchPolicy::from_config(batching),
                num_clients: num_workers,
                schedule: matches!(config.load, LoadMode::Open { .. }).then(|| schedule_rx.clone()),
                shared: Arc::clone(shared),
                samples: sample_tx.clone(),
                tracked,
                epoch,
                request_limit,
                run_options: Arc::clone(&run_options),
            });
            (handles, error)
        }
        None => spawn_workers(
            WorkerSetup {
                sessions,
                worker_bindings,
                worker_inputs,
                shared,
                sample_tx: &sample_tx,
                tracked,
                open_loop: schedule
                    .as_ref()
                    .map(|schedule| (Arc::clone(schedule), waiter.clone())),
                epoch,
                request_limit,
                run_options: &run_options,
                sampled: sampled.as_ref(),
                remote,
                generators,
            },
            &config,
        ),
    };
    drop(sample_tx);
    drop(sampled);
    drop(schedule_rx);

    let deadline_nanos = config
        .duration_secs
        .map(|secs| warmup_nanos + (secs * 1e9) as u64);
    let mut watch = EndWatch::new(&config, schedule.clone());
    let stop_reason = wait_for_end(
        shared,
        control,
        &workers,
        &run_options,
        Deadlines {
            epoch,
            warmup_nanos,
            deadline_nanos,
        },
        &mut watch,
    );
    record.stop_reason = Some(stop_reason);
    shared.set_phase(RunPhase::Draining);
    let mut worker_panics = Vec::new();
    for worker in workers {
        if let Err(payload) = worker.join() {
            worker_panics.push(crate::util::panic_message(payload.as_ref()));
        }
    }
    let mut unsent_requests = match feeder {
        Some(Ok(thread)) => thread.join().unwrap_or(0),
        _ => 0,
    };
    if let Some(schedule) = &schedule
        && config.batching.is_none()
    {
        // Arrivals already due that no worker took before the end.
        let end = shared.measure_end_nanos.load(Ordering::Relaxed);
        unsent_requests += schedule.due_untaken(end.min(nanos_since_epoch(epoch)));
    }
    if let Some(Ok(parser)) = parser_thread
        && let Ok(layers) = parser.join()
    {
        apply_sampled_layers(record, &layers);
    }
    record.telemetry = telemetry.map(TelemetrySampler::finish).unwrap_or_default();
    shared.harness_cpu_nanos.fetch_add(
        telemetry_cpu.load(Ordering::Relaxed) + gpu_cpu.load(Ordering::Relaxed),
        Ordering::Relaxed,
    );
    record.gpu_telemetry = gpu_sampler.map(GpuSampler::finish).unwrap_or_default();
    metrics_url::finish(record, scraper);
    let output = match aggregator_thread {
        Ok(thread) => thread.join().ok(),
        Err(_) => None,
    };
    record.errors = shared.errors();
    let dropped_samples = shared.dropped_samples.load(Ordering::Relaxed);
    if dropped_samples > 0 {
        record.warnings.push(format!(
            "{dropped_samples} samples were dropped because the metrics channel was full; percentiles miss them"
        ));
    }
    // One failure is reported: a worker panic outranks a worker that never
    // started, and a lost aggregator outranks both.
    let mut failure = spawn_error.map(RunError::WorkerSpawn);
    if !worker_panics.is_empty() {
        failure = Some(RunError::WorkerPanicked(worker_panics));
    }
    let Some(output) = output else {
        return Err(RunError::AggregatorFailed);
    };
    if unsent_requests > 0 {
        record.warnings.push(format!(
            "{unsent_requests} scheduled requests were never started: the offered rate exceeded what the workers could serve"
        ));
    }
    let measure_start = shared.measure_start_nanos.load(Ordering::Relaxed);
    let measure_end = shared.measure_end_nanos.load(Ordering::Relaxed);
    record.apply_output(
        output,
        LoadFigures {
            batch_size,
            measured_nanos: measure_end.saturating_sub(measure_start),
            dropped_samples,
            unsent_requests,
            generator: verdict::generator_report(&config, shared, &record.telemetry),
            capacity_per_sec: watch.capacity_per_sec(),
            early_stopped: stop_reason == StopReason::SloDecided,
        },
    );
    failure.map_or(Ok(()), Err)
}

/// What the unbatched workers are made of.
struct WorkerSetup<'a> {
    sessions: Vec<Session>,
    worker_bindings: Vec<Vec<IoBinding>>,
    worker_inputs: Vec<Vec<Vec<DynValue>>>,
    shared: &'a Arc<RunShared>,
    sample_tx: &'a crossbeam_channel::Sender<WindowPartial>,
    tracked: Tracked,
    /// Open loop: the schedule and how workers wait for it.
    open_loop: Option<(Arc<ArrivalSchedule>, Waiter)>,
    epoch: Instant,
    request_limit: Option<(Arc<AtomicU64>, u64)>,
    run_options: &'a Arc<RunOptions>,
    sampled: Option<&'a SampledProfiling>,
    remote: Vec<crate::engine::remote::RemoteExecutor>,
    generators: Vec<crate::engine::generate::Generator>,
}

/// Starts one worker per client, each on its own session or on a shared
/// pool. Returns the handles and the error of a worker that could not start.
fn spawn_workers(
    setup: WorkerSetup<'_>,
    config: &crate::engine::ProfileConfig,
) -> (Vec<JoinHandle<()>>, Option<std::io::Error>) {
    let WorkerSetup {
        sessions,
        worker_bindings,
        worker_inputs,
        shared,
        sample_tx,
        tracked,
        open_loop,
        epoch,
        request_limit,
        run_options,
        sampled,
        mut remote,
        mut generators,
    } = setup;
    // Workers pop from the end; keep worker 0 on executor 0.
    remote.reverse();
    generators.reverse();
    let mut num_workers = worker_inputs.len();
    let mut pooled = sessions.len() < num_workers;
    // A local closed loop with fewer sessions than clients: one executor
    // per session, and the clients' requests queue for them.
    let client_queue =
        (pooled && open_loop.is_none() && remote.is_empty() && generators.is_empty()).then(|| {
            let executors = sessions.len().max(1);
            let queue = ClientQueue::new(num_workers - executors, nanos_since(epoch));
            num_workers = executors;
            pooled = false;
            Arc::new(queue)
        });
    let worker_inputs = worker_inputs.into_iter().take(num_workers);
    let (pool_tx, pool_rx) = crossbeam_channel::bounded::<Session>(sessions.len().max(1));
    let mut owned: Vec<(Session, Vec<IoBinding>)> = Vec::new();
    if pooled {
        for session in sessions {
            let _ = pool_tx.send(session);
        }
    } else {
        let mut bindings = worker_bindings.into_iter();
        owned = sessions
            .into_iter()
            .map(|session| (session, bindings.next().unwrap_or_default()))
            .collect();
        // Workers pop from the end; keep worker 0 on session 0.
        owned.reverse();
    }
    let mut workers = Vec::with_capacity(num_workers);
    let mut spawn_error = None;
    for (index, inputs) in worker_inputs.into_iter().enumerate() {
        let mut bindings = Vec::new();
        let slot = if let Some(executor) = remote.pop() {
            SessionSlot::Remote(Box::new(executor))
        } else if let Some(generator) = generators.pop() {
            SessionSlot::Generate(Box::new(generator))
        } else if pooled {
            SessionSlot::Pooled {
                take: pool_rx.clone(),
                give_back: pool_tx.clone(),
            }
        } else {
            match owned.pop() {
                Some((session, session_bindings)) => {
                    bindings = session_bindings;
                    SessionSlot::Owned(Box::new(session))
                }
                None => break,
            }
        };
        let worker = Worker {
            index: u16::try_from(index).unwrap_or(u16::MAX),
            slot,
            requests: match &open_loop {
                None => match &client_queue {
                    Some(queue) => RequestSource::Queued(Arc::clone(queue)),
                    None => RequestSource::Closed,
                },
                Some((schedule, waiter)) => RequestSource::Open {
                    schedule: Arc::clone(schedule),
                    waiter: waiter.clone(),
                    // A remote request keeps no local core busy.
                    run_threads: if config.remote.is_some() {
                        0
                    } else {
                        config.intra_threads.max(1)
                    },
                    oversubscribed: config.remote.is_none()
                        && u64::from(config.num_workers()) * u64::from(config.intra_threads.max(1))
                            > u64::from(waiter.cores.cores()),
                },
            },
            inputs,
            shared: Arc::clone(shared),
            recorder: Recorder::new(Arc::clone(shared), sample_tx.clone(), tracked),
            epoch,
            request_limit: request_limit.clone(),
            run_options: Arc::clone(run_options),
            sampled_profiling: sampled.cloned(),
            bindings,
        };
        match std::thread::Builder::new()
            .name(format!("wb-worker-{index}"))
            .spawn(crate::field::carried(move || worker.run()))
        {
            Ok(handle) => workers.push(handle),
            Err(err) => {
                spawn_error = Some(err);
                shared.stop.store(true, Ordering::Relaxed);
                break;
            }
        }
    }
    drop(pool_tx);
    (workers, spawn_error)
}

/// Waits for the end of the load: the duration, the request count, a user
/// stop, or every worker gone. Moves the phase from warm-up to running on
/// the way, and sets the end of the measured window.
/// The clock of a load: its epoch, the end of the warm-up and the deadline.
struct Deadlines {
    epoch: Instant,
    warmup_nanos: u64,
    deadline_nanos: Option<u64>,
}

fn wait_for_end(
    shared: &RunShared,
    control: &Control,
    workers: &[JoinHandle<()>],
    run_options: &RunOptions,
    deadlines: Deadlines,
    watch: &mut EndWatch,
) -> StopReason {
    let Deadlines {
        epoch,
        warmup_nanos,
        deadline_nanos,
    } = deadlines;
    let reason = loop {
        let now = u64::try_from(epoch.elapsed().as_nanos()).unwrap_or(u64::MAX);
        let next_event = [Some(warmup_nanos), deadline_nanos]
            .into_iter()
            .flatten()
            .filter(|at| *at > now)
            .min()
            .map_or(CONTROLLER_TICK, |at| Duration::from_nanos(at - now));
        std::thread::sleep(next_event.min(CONTROLLER_TICK));
        let now = u64::try_from(epoch.elapsed().as_nanos()).unwrap_or(u64::MAX);
        if now >= warmup_nanos && shared.phase() == RunPhase::Warmup {
            shared.set_phase(RunPhase::Running);
        }
        if control.user_stop.load(Ordering::Relaxed) {
            shared
                .measure_end_nanos
                .store(now.max(warmup_nanos), Ordering::Relaxed);
            break StopReason::User;
        }
        if let Some(deadline) = deadline_nanos
            && now >= deadline
        {
            shared.measure_end_nanos.store(deadline, Ordering::Relaxed);
            shared.stop.store(true, Ordering::Relaxed);
            let _ = run_options.terminate();
            break StopReason::Duration;
        }
        if shared.is_stopping() {
            // A worker hit the request limit; in-flight requests still count.
            break StopReason::RequestLimit;
        }
        if workers.iter().all(JoinHandle::is_finished) {
            shared.stop.store(true, Ordering::Relaxed);
            break StopReason::WorkersExited;
        }
        if let Some(reason) = watch.check(now, warmup_nanos, shared) {
            // Saturated or decided: the measured period ends now; requests
            // in flight are aborted and land after it.
            shared.measure_end_nanos.store(now, Ordering::Relaxed);
            shared.stop.store(true, Ordering::Relaxed);
            let _ = run_options.terminate();
            break match reason {
                EarlyEnd::Saturated => StopReason::Saturated,
                EarlyEnd::SloDecided => StopReason::SloDecided,
            };
        }
    };
    watch.finish(shared);
    reason
}

fn nanos_since_epoch(epoch: Instant) -> u64 {
    u64::try_from(epoch.elapsed().as_nanos()).unwrap_or(u64::MAX)
}

/// Stores the layers of the sampled runs, or why there are none.
fn apply_sampled_layers(record: &mut RunRecord, layers: &LayerAggregator) {
    if layers.is_empty() {
        record.layer_profiling_error =
            Some("no sampled run was profiled; run longer or sample more often".to_owned());
    } else {
        record.trace.node_events = layers.trace_events.clone();
        record.trace.model_runs = layers.trace_runs.clone();
        record.layers = Some(layers.report());
    }
}

/// Parses run-level profiles as they arrive and publishes per-layer timings.
fn parse_sampled_profiles(
    files: &crossbeam_channel::Receiver<(PathBuf, u64)>,
    shared: &RunShared,
) -> LayerAggregator {
    let mut aggregator = LayerAggregator::new(LayerSource::Sampled);
    let mut last_publish = Instant::now();
    for (prefix, end_nanos) in files {
        let measure_start = shared.measure_start_nanos.load(Ordering::Relaxed);
        for path in files_with_prefix(&prefix) {
            // Runs profiled during the warm-up are discarded like their latencies.
            if end_nanos >= measure_start
                && let Ok(profile) = parse_profile_file(&path)
            {
                aggregator.add_at(
                    profile,
                    (end_nanos - measure_start) / crate::metrics::WINDOW_NANOS,
                );
            }
            let _ = std::fs::remove_file(&path);
        }
        if last_publish.elapsed() >= Duration::from_secs(1) && !aggregator.is_empty() {
            shared.layers.store(Some(Arc::new(aggregator.report())));
            last_publish = Instant::now();
        }
    }
    if !aggregator.is_empty() {
        shared.layers.store(Some(Arc::new(aggregator.report())));
    }
    aggregator
}

/// ONNX Runtime appends a timestamp to the profiling prefix; find the files.
fn files_with_prefix(prefix: &Path) -> Vec<PathBuf> {
    let (Some(dir), Some(stem)) = (
        prefix.parent(),
        prefix.file_name().and_then(|name| name.to_str()),
    ) else {
        return Vec::new();
    };
    let Ok(entries) = std::fs::read_dir(dir) else {
        return Vec::new();
    };
    let stem_with_separator = format!("{stem}_");
    let mut paths: Vec<PathBuf> = entries
        .filter_map(Result::ok)
        .map(|entry| entry.path())
        .filter(|path| {
            path.file_name()
                .and_then(|name| name.to_str())
                .is_some_and(|name| {
                    name.starts_with(&stem_with_separator) && name.ends_with(".json")
                })
        })
        .collect();
    paths.sort();
    paths
}
