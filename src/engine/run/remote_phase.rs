//! The phases of a run against a remote target, in place of the model,
//! session and first-run phases: readiness and metadata before any load, the
//! inputs from the metadata (and the local model, if given), one timed first
//! request, then the same load phase as locally with one remote executor per
//! worker, while a `wb-server-stats` thread samples the server's statistics
//! once per window.

use std::{
    path::Path,
    sync::{
        Arc,
        atomic::{AtomicBool, Ordering},
    },
    time::{Duration, Instant},
};

use super::{
    control::{Control, RunError},
    load_phase::{self, LoadPlan},
    record::{RunRecord, StopReason, describe_runtime, load_model_info, micros_since},
};
use crate::{
    engine::{
        EngineError, inputs,
        remote::{
            self, Client, EncodedRequest, Encoding, FailureBurst, RemoteError, RemoteExecutor,
            RemoteReport, SharedChannels, stats,
        },
        runtime,
        target::{Protocol, RemoteTarget},
    },
    metrics::{RunShared, WINDOW_NANOS},
};

/// Runs a remote run: checks, inputs, first request, load.
pub(super) fn run(
    model_file: Option<&Path>,
    target: &RemoteTarget,
    record: &mut RunRecord,
    shared: &Arc<RunShared>,
    control: &Control,
) -> Result<(), RunError> {
    // A local model, if given, is for inspection and shapes only.
    let mut hints = inputs::GraphHints::default();
    if let Some(model_path) = model_file {
        let (info, parse_micros, model, _bytes) = load_model_info(model_path)?;
        hints = inputs::GraphHints::analyse(&model, &record.config.dims);
        record.model = Some(info);
        record.timings.model_parse_micros = Some(parse_micros);
    }

    // The load phase's run options come from ONNX Runtime, so it is loaded
    // even though no session is created.
    let runtime = runtime::runtime().map_err(EngineError::from)?;
    describe_runtime(&mut record.environment, runtime);

    let started = Instant::now();
    let mut probe = Client::connect(target, None)?;
    probe.check_ready(target)?;
    let mut report = RemoteReport {
        server: probe.server_info().unwrap_or_else(|err| {
            record
                .notes
                .push(format!("the server's metadata could not be read: {err}"));
            remote::ServerInfo::default()
        }),
        metadata: probe.model_metadata()?,
        ..RemoteReport::default()
    };
    record
        .timings
        .session_create_micros
        .push(micros_since(started));

    let local_inputs = record
        .model
        .as_ref()
        .map(|info| info.summary.inputs.as_slice());
    let declared = remote::declared_from_metadata(&report.metadata, local_inputs)?;
    let prepared = inputs::prepare(&declared, &record.config, &hints).map_err(EngineError::from)?;
    record.inputs = prepared.specs.clone();
    record.notes.extend(prepared.notes.iter().cloned());
    let batch_size = prepared.batch_size();

    let (encoding, requests) = first_request(target, &mut probe, &prepared, &report, record)?;
    report.encoding = encoding.label().to_owned();
    let requests: Arc<[EncodedRequest]> = requests.into();

    if control.user_stop.load(Ordering::Relaxed) {
        record.remote = Some(report);
        return Ok(());
    }
    let num_workers = record.config.num_workers() as usize;
    let shared_channels = match (target.protocol, target.grpc_channels) {
        (Protocol::Grpc, Some(count)) => Some(SharedChannels::open(target, count)?),
        _ => None,
    };
    let failures = Arc::new(FailureBurst::default());
    let executors = (0..num_workers)
        .map(|_| {
            Client::connect(target, shared_channels.as_ref()).map(|client| RemoteExecutor {
                client,
                requests: Arc::clone(&requests),
                failures: Arc::clone(&failures),
            })
        })
        .collect::<Result<Vec<_>, _>>()?;

    // Server-side times from the metrics where the statistics API is absent
    // or refused.
    let metrics = record
        .config
        .metrics_url
        .as_deref()
        .map(|url| stats::MetricsReader::new(url, target))
        .transpose()?;
    let stats_stop = Arc::new(AtomicBool::new(false));
    let stats_thread = {
        let stop = Arc::clone(&stats_stop);
        let warmup = Duration::from_secs_f64(record.config.warmup_secs);
        std::thread::Builder::new()
            .name("wb-server-stats".to_owned())
            .spawn(crate::field::carried(move || {
                stats::sample(
                    &mut probe,
                    metrics,
                    Duration::from_nanos(WINDOW_NANOS),
                    &stop,
                    warmup,
                )
            }))
            .map_err(EngineError::Thread)?
    };

    let plan = LoadPlan {
        sessions: Vec::new(),
        worker_bindings: Vec::new(),
        worker_inputs: (0..num_workers)
            .map(|_| (0..requests.len()).map(|_| Vec::new()).collect())
            .collect(),
        batch_size,
        prepared: Arc::new(prepared),
        remote: executors,
        generators: Vec::new(),
    };
    let result = load_phase::run_load(record, plan, shared, control);
    stats_stop.store(true, Ordering::Relaxed);
    report.server_stats = stats_thread.join().unwrap_or_default();
    if failures.tripped() {
        report.stopped_on_failures = true;
        record.stop_reason = Some(StopReason::Failures);
        record.warnings.push(format!(
            "the load stopped early: {} requests in a row failed and none succeeded for {} s",
            remote::FAILURE_BURST_REQUESTS,
            remote::FAILURE_BURST_QUIET.as_secs()
        ));
    }
    record.remote = Some(report);
    drop(shared_channels);
    result
}

/// Encodes the requests and times the first one. Over REST the binary
/// tensor data extension is tried first; a server that refuses it gets JSON
/// (with a note), unless an input has no JSON form (FP16).
fn first_request(
    target: &RemoteTarget,
    probe: &mut Client,
    prepared: &inputs::PreparedInputs,
    report: &RemoteReport,
    record: &mut RunRecord,
) -> Result<(Encoding, Vec<EncodedRequest>), RunError> {
    let never = AtomicBool::new(false);
    let candidates: &[Encoding] = match target.protocol {
        Protocol::Grpc => &[Encoding::GrpcRaw],
        Protocol::Rest => &[Encoding::RestBinary, Encoding::RestJson],
    };
    let mut refusals: Vec<String> = Vec::new();
    for encoding in candidates {
        let requests = match remote::encode_requests(target, prepared, &report.metadata, *encoding)
        {
            Ok(requests) => requests,
            Err(err) => {
                refusals.push(format!("{}: {err}", encoding.label()));
                continue;
            }
        };
        let Some(first) = requests.first() else {
            continue;
        };
        let started = Instant::now();
        let result = probe.infer(first, &never);
        match result {
            Ok(()) => {
                record.timings.first_run_micros = Some(micros_since(started));
                if !refusals.is_empty() {
                    record.notes.push(format!(
                        "requests are sent as {} ({})",
                        encoding.label(),
                        refusals.join("; ")
                    ));
                }
                return Ok((*encoding, requests));
            }
            Err(err @ (RemoteError::Unreachable { .. } | RemoteError::Timeout(_))) => {
                return Err(RunError::Remote(err));
            }
            Err(err) => refusals.push(format!("{}: {err}", encoding.label())),
        }
    }
    Err(RunError::Remote(RemoteError::Request(format!(
        "the first request failed, so the load was not started: {}",
        if refusals.is_empty() {
            "no request could be encoded".to_owned()
        } else {
            refusals.join("; ")
        }
    ))))
}
