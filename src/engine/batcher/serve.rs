//! The threads of a batched load.
//!
//! ```text
//! closed loop: C clients' requests ─┐   ┌── next request of each client, issued when its reply is out
//!                                   ├─bounded─▶ wb-batcher ─bounded─▶ wb-batch-exec-K ×instances ─▶ samples
//! open loop: wb-dispatcher ─────────┘ (scheduled times)   ▲ free-session tokens ┘
//! ```
//!
//! The batcher forms a batch only when an executor is free, so requests
//! gather while every session is busy, as in Triton. An executor
//! concatenates the requests' inputs along dim 0, runs them, splits every
//! output back by rows and records one sample per request: its issue (or
//! scheduled) time, when the batch started and when it ended. Queue time is
//! therefore the wait to be batched and for a free session; service time is
//! the batched run, concatenation and split included.
//!
//! Closed-loop clients have no thread each: a client is its one request in
//! flight. When a batch ends, each of its clients has its reply and issues
//! its next request at that instant, which the executor queues for the
//! batcher. That is a closed loop with no think time, as with client
//! threads, without one OS wake-up per request, which on a small machine
//! costs more than the inference the batching saves.

use std::{
    sync::{
        Arc,
        atomic::{AtomicU64, Ordering},
    },
    thread::JoinHandle,
    time::Instant,
};

use crossbeam_channel::{Receiver, RecvTimeoutError, Sender, TrySendError, never, select};
use ort::{
    session::{RunOptions, Session, SessionInputValue},
    value::DynValue,
};

use super::former::{BatchFormer, BatchPolicy, MAX_PENDING_REQUESTS, Pending, shape_key};
use crate::{
    engine::{
        error::clean_ort_message,
        inputs::{PreparedInputs, TensorData},
        load::{POLL, nanos_since},
    },
    metrics::{
        RunShared, Sample,
        recorder::{Recorder, Tracked, WindowPartial},
    },
};

/// Why a batch failed. Every request of the batch fails with it.
#[derive(Debug, thiserror::Error)]
pub enum BatchError {
    /// Inputs of different dtypes cannot be joined (never happens with
    /// prepared inputs; kept as data rather than a panic).
    #[error("input '{0}': the requests' tensors could not be concatenated")]
    Concat(String),
    /// ONNX Runtime refused the concatenated tensor.
    #[error("input '{name}': {message}")]
    Value {
        /// The input.
        name: String,
        /// ONNX Runtime's message.
        message: String,
    },
    /// ONNX Runtime failed the batched run.
    #[error("{}", clean_ort_message(.0.message()))]
    Run(#[source] ort::Error),
    /// An output does not have the batch's rows in dim 0.
    #[error("output '{name}' has shape {shape:?}; it cannot be split into the batch's {rows} rows")]
    Split {
        /// The output.
        name: String,
        /// Its shape.
        shape: Vec<i64>,
        /// Rows of the batch.
        rows: usize,
    },
}

/// A request on its way to a batch.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Request {
    /// Which prepared input variant it carries.
    pub variant: usize,
    /// The closed-loop client that issued it (it issues its next request
    /// when this one is answered); `None` in open loop.
    pub client: Option<u32>,
}

/// How a closed-loop client's next request is issued once its reply is out.
#[derive(Clone)]
struct Reissue {
    requests: Sender<Pending<Request>>,
    rows: u32,
    key: u64,
    num_variants: usize,
    request_limit: Option<(Arc<AtomicU64>, u64)>,
}

/// Everything a batched load needs.
pub struct BatchedLoad {
    /// The session instances; one executor each.
    pub sessions: Vec<Session>,
    /// The request data: each request carries one variant.
    pub prepared: Arc<PreparedInputs>,
    /// How batches form.
    pub policy: BatchPolicy,
    /// Closed-loop clients (ignored in open loop).
    pub num_clients: usize,
    /// Open loop: scheduled times from the dispatcher.
    pub schedule: Option<Receiver<u64>>,
    /// Stop flag, measure window and error log of the run.
    pub shared: Arc<RunShared>,
    /// Where the executors' recorders hand their partials.
    pub samples: Sender<WindowPartial>,
    /// What the recorders keep apart.
    pub tracked: Tracked,
    /// Time zero of the run.
    pub epoch: Instant,
    /// Shared counter of measured requests issued, with the limit.
    pub request_limit: Option<(Arc<AtomicU64>, u64)>,
    /// Lets the controller abort in-flight runs on stop.
    pub run_options: Arc<RunOptions>,
}

/// Starts the executors, the batcher and (closed loop) the clients. Returns
/// their handles and the error of a thread that could not start (the run
/// is then stopped).
pub fn spawn(load: BatchedLoad) -> (Vec<JoinHandle<()>>, Option<std::io::Error>) {
    let BatchedLoad {
        sessions,
        prepared,
        policy,
        num_clients,
        schedule,
        shared,
        samples,
        tracked,
        epoch,
        request_limit,
        run_options,
    } = load;
    let num_executors = sessions.len().max(1);
    let (batch_tx, batch_rx) = crossbeam_channel::bounded::<Vec<Pending<Request>>>(num_executors);
    let (free_tx, free_rx) = crossbeam_channel::bounded::<()>(num_executors);
    let rows = u32::try_from(prepared.batch_size()).unwrap_or(u32::MAX);
    let key = shape_key(
        &prepared
            .specs
            .iter()
            .map(|spec| spec.shape.clone())
            .collect::<Vec<_>>(),
    );
    let num_variants = prepared.variants.len().max(1);
    // Closed loop: each client has at most one request in flight, so a queue
    // of one slot per client never fills.
    let num_clients = num_clients.max(1);
    let (request_tx, request_rx) = crossbeam_channel::bounded::<Pending<Request>>(num_clients);
    let reissue = schedule.is_none().then(|| Reissue {
        requests: request_tx.clone(),
        rows,
        key,
        num_variants,
        request_limit: request_limit.clone(),
    });
    let mut handles = Vec::new();
    let mut spawn_error = None;
    let mut spawn = |name: String, body: Box<dyn FnOnce() + Send>| {
        if spawn_error.is_some() {
            return;
        }
        match std::thread::Builder::new()
            .name(name)
            .spawn(crate::field::carried(body))
        {
            Ok(handle) => handles.push(handle),
            Err(err) => {
                shared.stop.store(true, Ordering::Relaxed);
                spawn_error = Some(err);
            }
        }
    };
    for (index, session) in sessions.into_iter().enumerate() {
        let executor = Executor {
            index: u16::try_from(index).unwrap_or(u16::MAX),
            session,
            batches: batch_rx.clone(),
            free: free_tx.clone(),
            prepared: Arc::clone(&prepared),
            shared: Arc::clone(&shared),
            recorder: Recorder::new(Arc::clone(&shared), samples.clone(), tracked),
            epoch,
            run_options: Arc::clone(&run_options),
            reissue: reissue.clone(),
        };
        spawn(
            format!("wb-batch-exec-{index}"),
            Box::new(move || executor.run()),
        );
    }
    drop((batch_rx, free_tx, samples, reissue));

    let batcher = Batcher {
        former: BatchFormer::new(policy),
        free_slots: num_executors,
        free: free_rx,
        batches: batch_tx,
        shared: Arc::clone(&shared),
        epoch,
    };
    match schedule {
        Some(schedule) => {
            drop((request_tx, request_rx));
            let limit = request_limit;
            let limit_shared = Arc::clone(&shared);
            let mut count = 0usize;
            spawn(
                "wb-batcher".to_owned(),
                Box::new(move || {
                    batcher.run(&schedule, false, move |scheduled| {
                        if !within_limit(limit.as_ref(), scheduled, &limit_shared) {
                            return None;
                        }
                        count += 1;
                        Some(Pending {
                            arrived_nanos: scheduled,
                            rows,
                            key,
                            item: Request {
                                variant: count % num_variants,
                                client: None,
                            },
                        })
                    });
                }),
            );
        }
        None => {
            // Every client issues its first request now.
            for client in 0..num_clients {
                let issued = nanos_since(epoch);
                if !within_limit(request_limit.as_ref(), issued, &shared) {
                    break;
                }
                let _ = request_tx.try_send(Pending {
                    arrived_nanos: issued,
                    rows,
                    key,
                    item: Request {
                        variant: client % num_variants,
                        client: u32::try_from(client).ok(),
                    },
                });
            }
            drop(request_tx);
            spawn(
                "wb-batcher".to_owned(),
                Box::new(move || batcher.run(&request_rx, true, Some)),
            );
        }
    }
    (handles, spawn_error)
}

/// Counts a measured request against the limit; false (and the run stops)
/// once the limit is reached.
fn within_limit(
    limit: Option<&(Arc<AtomicU64>, u64)>,
    scheduled_nanos: u64,
    shared: &RunShared,
) -> bool {
    if scheduled_nanos >= shared.measure_start_nanos.load(Ordering::Relaxed)
        && let Some((issued, limit)) = limit
        && issued.fetch_add(1, Ordering::Relaxed) >= *limit
    {
        shared.stop.store(true, Ordering::Relaxed);
        return false;
    }
    true
}

/// The `wb-batcher` thread's state.
struct Batcher {
    former: BatchFormer<Request>,
    /// Executors waiting for a batch.
    free_slots: usize,
    free: Receiver<()>,
    batches: Sender<Vec<Pending<Request>>>,
    shared: Arc<RunShared>,
    epoch: Instant,
}

impl Batcher {
    /// Forms batches from `arrivals` until the run stops or the arrivals
    /// end; `to_pending` turns an arrival into a request (`None` ends the
    /// run: the request limit is reached). On the way out, requests already
    /// issued still run (`drain_arrivals`: also those still in the queue in
    /// front, for closed-loop clients whose requests are already counted),
    /// as an unbatched worker finishes its request in flight; after a
    /// duration or user stop their runs are aborted at once and land after
    /// the measured period.
    fn run<A>(
        mut self,
        arrivals: &Receiver<A>,
        drain_arrivals: bool,
        mut to_pending: impl FnMut(A) -> Option<Pending<Request>>,
    ) {
        self.form(arrivals, &mut to_pending);
        if drain_arrivals {
            while let Ok(arrival) = arrivals.try_recv() {
                if let Some(pending) = to_pending(arrival) {
                    self.former.push(pending);
                }
            }
        }
        while !self.former.is_empty() {
            if self.free_slots == 0 {
                // Every executor returns a token after each batch; all gone
                // means nobody can run the rest.
                if self.free.recv().is_err() {
                    break;
                }
                self.free_slots += 1;
            }
            let now = nanos_since(self.epoch);
            let Some(batch) = self.former.take_ready(now, true) else {
                break;
            };
            if self.batches.try_send(batch).is_err() {
                break;
            }
            self.free_slots -= 1;
        }
    }

    /// The forming loop. While every session is busy the batcher does not
    /// listen to arrivals at all: they wait in the bounded queue in front,
    /// carrying their issue (or scheduled) time, and are taken in one go
    /// when a session frees up. So a busy pipeline costs no wake-up per
    /// request, and a batch formed then holds everything that arrived
    /// during the last run.
    fn form<A>(
        &mut self,
        arrivals: &Receiver<A>,
        to_pending: &mut impl FnMut(A) -> Option<Pending<Request>>,
    ) {
        let mut arrivals_open = true;
        let closed = never::<A>();
        loop {
            if self.shared.is_stopping() {
                break;
            }
            if self.free_slots > 0 && arrivals_open {
                while self.former.len() < MAX_PENDING_REQUESTS
                    && let Ok(arrival) = arrivals.try_recv()
                {
                    match to_pending(arrival) {
                        Some(pending) => self.former.push(pending),
                        None => {
                            arrivals_open = false;
                            break;
                        }
                    }
                }
            }
            let now = nanos_since(self.epoch);
            if self.free_slots > 0
                && let Some(batch) = self.former.take_ready(now, !arrivals_open)
            {
                match self.batches.try_send(batch) {
                    Ok(()) => self.free_slots -= 1,
                    Err(TrySendError::Full(_) | TrySendError::Disconnected(_)) => break,
                }
                continue;
            }
            if !arrivals_open && self.former.is_empty() {
                break;
            }
            let wait = match (self.free_slots > 0, self.former.deadline_nanos()) {
                (true, Some(deadline)) => {
                    std::time::Duration::from_nanos(deadline.saturating_sub(now)).min(POLL)
                }
                _ => POLL,
            };
            // Beyond the cap, or with no free session, arrivals wait in the
            // bounded queue in front.
            let source =
                if arrivals_open && self.free_slots > 0 && self.former.len() < MAX_PENDING_REQUESTS
                {
                    arrivals
                } else {
                    &closed
                };
            select! {
                recv(source) -> arrival => match arrival {
                    Ok(arrival) => match to_pending(arrival) {
                        Some(pending) => self.former.push(pending),
                        None => arrivals_open = false,
                    },
                    Err(_) => arrivals_open = false,
                },
                recv(self.free) -> token => {
                    if token.is_ok() {
                        self.free_slots += 1;
                    }
                }
                default(wait) => {}
            }
        }
    }
}

/// One session: runs the batches the batcher hands it.
struct Executor {
    index: u16,
    session: Session,
    batches: Receiver<Vec<Pending<Request>>>,
    free: Sender<()>,
    prepared: Arc<PreparedInputs>,
    shared: Arc<RunShared>,
    recorder: Recorder,
    epoch: Instant,
    run_options: Arc<RunOptions>,
    /// Closed loop: where the clients' next requests go.
    reissue: Option<Reissue>,
}

impl Executor {
    fn run(mut self) {
        loop {
            let batch = match self.batches.recv_timeout(POLL) {
                Ok(batch) => batch,
                Err(RecvTimeoutError::Timeout) => continue,
                Err(RecvTimeoutError::Disconnected) => break,
            };
            let start = nanos_since(self.epoch);
            let result = run_batch(&mut self.session, &self.prepared, &batch, &self.run_options);
            let end = nanos_since(self.epoch);
            let is_ok = match &result {
                Ok(_) => true,
                // A run aborted by the stop request is not a failure of the model.
                Err(_) if self.shared.is_stopping() => {
                    let _ = self.free.try_send(());
                    continue;
                }
                Err(err) => {
                    self.shared.record_error(|| err.to_string());
                    false
                }
            };
            let batch_rows: u32 = batch.iter().map(|pending| pending.rows).sum();
            // Each request's outputs are its own rows; with them delivered,
            // its client issues the next request.
            drop(result);
            for (position, pending) in batch.iter().enumerate() {
                self.recorder.record(&Sample {
                    scheduled_nanos: pending.arrived_nanos,
                    start_nanos: start,
                    end_nanos: end,
                    worker: self.index,
                    is_ok,
                    is_profiled: false,
                    batch_rows,
                    is_batch_lead: position == 0,
                    late_nanos: 0,
                });
            }
            if let Some(reissue) = &self.reissue {
                for pending in &batch {
                    let Some(client) = pending.item.client else {
                        continue;
                    };
                    if self.shared.is_stopping()
                        || !within_limit(reissue.request_limit.as_ref(), end, &self.shared)
                    {
                        break;
                    }
                    let _ = reissue.requests.try_send(Pending {
                        arrived_nanos: end,
                        rows: reissue.rows,
                        key: reissue.key,
                        item: Request {
                            variant: (pending.item.variant + 1) % reissue.num_variants,
                            client: Some(client),
                        },
                    });
                }
            }
            // The session is free once the next requests are queued, so the
            // batcher wakes once and finds them all.
            let _ = self.free.try_send(());
        }
        self.recorder.flush();
    }
}

/// Concatenates the requests' inputs along dim 0, runs them and splits every
/// output back by rows: one list of outputs per request, in batch order.
pub fn run_batch(
    session: &mut Session,
    prepared: &PreparedInputs,
    batch: &[Pending<Request>],
    options: &RunOptions,
) -> Result<Vec<Vec<TensorData>>, BatchError> {
    let rows: Vec<usize> = batch.iter().map(|pending| pending.rows as usize).collect();
    let total_rows: usize = rows.iter().sum();
    let mut values: Vec<DynValue> = Vec::with_capacity(prepared.specs.len());
    for (input, spec) in prepared.specs.iter().enumerate() {
        let parts: Vec<&TensorData> = batch
            .iter()
            .filter_map(|pending| {
                prepared
                    .variants
                    .get(pending.item.variant)
                    .and_then(|variant| variant.get(input))
            })
            .collect();
        let joined = (parts.len() == batch.len())
            .then(|| TensorData::concat_rows(&parts))
            .flatten()
            .ok_or_else(|| BatchError::Concat(spec.name.clone()))?;
        let mut shape = spec.shape.clone();
        if let Some(first) = shape.first_mut() {
            *first = i64::try_from(total_rows).unwrap_or(i64::MAX);
        }
        values.push(joined.to_value(&shape).map_err(|err| BatchError::Value {
            name: spec.name.clone(),
            message: err.to_string(),
        })?);
    }
    let views: Vec<SessionInputValue<'_>> = values.iter().map(SessionInputValue::from).collect();
    let outputs = session
        .run_with_options(&views[..], options)
        .map_err(BatchError::Run)?;
    let mut per_request: Vec<Vec<TensorData>> = (0..batch.len())
        .map(|_| Vec::with_capacity(outputs.len()))
        .collect();
    for (name, value) in &outputs {
        let Some(parts) = TensorData::split_value_rows(&value, &rows) else {
            return Err(BatchError::Split {
                name: name.to_owned(),
                shape: TensorData::value_shape(&value),
                rows: total_rows,
            });
        };
        for (request, part) in per_request.iter_mut().zip(parts) {
            request.push(part);
        }
    }
    Ok(per_request)
}
