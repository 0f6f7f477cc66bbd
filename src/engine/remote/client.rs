//! A connection to the server for one thread, and what a load worker runs
//! in place of a session.

use std::{
    sync::{
        Arc,
        atomic::{AtomicBool, AtomicU64, Ordering},
    },
    time::{Duration, Instant},
};

use super::{
    counters::StatsTotals,
    encode,
    grpc::{self, SharedChannels},
    rest,
    types::{EncodedRequest, Encoding, IndexEntry, ModelMetadata, RemoteError, ServerInfo},
};
use crate::engine::{
    inputs::PreparedInputs,
    target::{Protocol, RemoteTarget},
};
use crate::metrics::RunShared;

/// Consecutive failed requests (over all workers) that stop a run early,
/// once no request has succeeded for [`FAILURE_BURST_QUIET`].
pub const FAILURE_BURST_REQUESTS: u64 = 50;
/// How long without a success a burst of failures must last to stop a run.
pub const FAILURE_BURST_QUIET: Duration = Duration::from_secs(2);
/// Failures in a row after which a worker waits [`FAILURE_BACKOFF`] before
/// its next request, so a dead server is not hammered in a tight loop.
const FAILURE_BACKOFF_AFTER: u64 = 10;
const FAILURE_BACKOFF: Duration = Duration::from_millis(10);

/// A connection to the server, for one thread.
pub enum Client {
    Grpc(grpc::GrpcClient),
    Rest(rest::RestClient),
}

impl Client {
    /// Connects to the target: its own runtime and channel for gRPC (or a
    /// channel of `shared`), a keep-alive agent for REST.
    pub fn connect(
        target: &RemoteTarget,
        shared: Option<&SharedChannels>,
    ) -> Result<Self, RemoteError> {
        Ok(match target.protocol {
            Protocol::Grpc => Self::Grpc(grpc::GrpcClient::connect(target, shared)?),
            Protocol::Rest => Self::Rest(rest::RestClient::new(target)?),
        })
    }

    /// Server readiness, then model readiness: a clear error for each.
    pub fn check_ready(&mut self, target: &RemoteTarget) -> Result<(), RemoteError> {
        let server_ready = match self {
            Self::Grpc(client) => client.server_ready(),
            Self::Rest(client) => client.server_ready(),
        }?;
        if !server_ready {
            return Err(RemoteError::ServerNotReady {
                url: target.url.clone(),
            });
        }
        let model_ready = match self {
            Self::Grpc(client) => client.model_ready(),
            Self::Rest(client) => client.model_ready(),
        }?;
        if !model_ready {
            return Err(RemoteError::ModelNotReady {
                url: target.url.clone(),
                model: target.model_name.clone(),
            });
        }
        Ok(())
    }

    /// The server's name, version and extensions.
    pub fn server_info(&mut self) -> Result<ServerInfo, RemoteError> {
        match self {
            Self::Grpc(client) => client.server_info(),
            Self::Rest(client) => client.server_info(),
        }
    }

    /// The model's metadata: its inputs and outputs.
    pub fn model_metadata(&mut self) -> Result<ModelMetadata, RemoteError> {
        match self {
            Self::Grpc(client) => client.model_metadata(),
            Self::Rest(client) => client.model_metadata(),
        }
    }

    /// Cumulative statistics of the model; `None` when the server does not
    /// offer the statistics extension.
    pub fn statistics(&mut self) -> Result<Option<StatsTotals>, RemoteError> {
        match self {
            Self::Grpc(client) => client.statistics(),
            Self::Rest(client) => client.statistics(),
        }
    }

    /// The models of the server's repository index; `None` when the server
    /// does not offer the index.
    pub fn repository_index(&mut self) -> Result<Option<Vec<IndexEntry>>, RemoteError> {
        match self {
            Self::Grpc(client) => client.repository_index(),
            Self::Rest(client) => client.repository_index(),
        }
    }

    /// Sends one request and reads the whole answer. `stop` aborts a gRPC
    /// request in flight (a REST one ends within the timeout).
    pub fn infer(
        &mut self,
        request: &EncodedRequest,
        stop: &AtomicBool,
    ) -> Result<(), RemoteError> {
        match (self, request) {
            (Self::Grpc(client), EncodedRequest::Grpc(request)) => client.infer(request, stop),
            (Self::Rest(client), EncodedRequest::RestJson(body)) => client.infer_json(body),
            (Self::Rest(client), EncodedRequest::RestBinary { body, header_len }) => {
                client.infer_binary(body, *header_len)
            }
            _ => Err(RemoteError::Request(
                "internal: request encoded for another protocol".to_owned(),
            )),
        }
    }
}

/// Encodes every variant of the prepared inputs for the target.
pub fn encode_requests(
    target: &RemoteTarget,
    prepared: &PreparedInputs,
    metadata: &ModelMetadata,
    encoding: Encoding,
) -> Result<Vec<EncodedRequest>, RemoteError> {
    prepared
        .variants
        .iter()
        .map(|variant| encode::encode(target, &prepared.specs, variant, metadata, encoding))
        .collect()
}

/// Counts failures in a row over all workers of a run, to stop it after a
/// burst (a dead server) instead of hammering it until the deadline.
#[derive(Debug)]
pub struct FailureBurst {
    in_a_row: AtomicU64,
    epoch: Instant,
    last_success_millis: AtomicU64,
    tripped: AtomicBool,
}

impl Default for FailureBurst {
    fn default() -> Self {
        Self {
            in_a_row: AtomicU64::new(0),
            epoch: Instant::now(),
            last_success_millis: AtomicU64::new(0),
            tripped: AtomicBool::new(false),
        }
    }
}

impl FailureBurst {
    fn millis(&self) -> u64 {
        u64::try_from(self.epoch.elapsed().as_millis()).unwrap_or(u64::MAX)
    }

    /// A request succeeded.
    pub fn success(&self) {
        if self.in_a_row.load(Ordering::Relaxed) != 0 {
            self.in_a_row.store(0, Ordering::Relaxed);
        }
        self.last_success_millis
            .store(self.millis(), Ordering::Relaxed);
    }

    /// Failures since the last success.
    pub fn in_a_row(&self) -> u64 {
        self.in_a_row.load(Ordering::Relaxed)
    }

    /// A request failed; true when this failure completes a burst.
    pub fn failure(&self) -> bool {
        let in_a_row = self.in_a_row.fetch_add(1, Ordering::Relaxed) + 1;
        let quiet_millis = self
            .millis()
            .saturating_sub(self.last_success_millis.load(Ordering::Relaxed));
        if in_a_row >= FAILURE_BURST_REQUESTS
            && quiet_millis >= FAILURE_BURST_QUIET.as_millis() as u64
        {
            !self.tripped.swap(true, Ordering::Relaxed)
        } else {
            false
        }
    }

    /// True once a burst stopped the run.
    pub fn tripped(&self) -> bool {
        self.tripped.load(Ordering::Relaxed)
    }
}

/// What one load worker runs instead of a session: its connection and the
/// encoded request variants.
pub struct RemoteExecutor {
    pub client: Client,
    pub requests: Arc<[EncodedRequest]>,
    pub failures: Arc<FailureBurst>,
}

impl RemoteExecutor {
    /// Sends request variant `variant`. After a burst of failures the run is
    /// stopped (the measured period ends now).
    pub fn run(
        &mut self,
        variant: usize,
        shared: &RunShared,
        now_nanos: u64,
    ) -> Result<(), RemoteError> {
        let Some(request) = self.requests.get(variant % self.requests.len().max(1)) else {
            return Err(RemoteError::Request("no request was encoded".to_owned()));
        };
        let result = self.client.infer(request, &shared.stop);
        match &result {
            Ok(()) => self.failures.success(),
            Err(RemoteError::Aborted) => {}
            Err(_) => {
                if self.failures.failure() {
                    let measure_start = shared.measure_start_nanos.load(Ordering::Relaxed);
                    shared
                        .measure_end_nanos
                        .fetch_min(now_nanos.max(measure_start), Ordering::Relaxed);
                    shared.stop.store(true, Ordering::Relaxed);
                } else if self.failures.in_a_row() >= FAILURE_BACKOFF_AFTER {
                    std::thread::sleep(FAILURE_BACKOFF);
                }
            }
        }
        result
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_burst_needs_many_failures_and_a_quiet_period() {
        let burst = FailureBurst::default();
        for _ in 0..FAILURE_BURST_REQUESTS * 2 {
            assert!(!burst.failure(), "no burst before the quiet period");
        }
        let burst = FailureBurst {
            epoch: Instant::now() - FAILURE_BURST_QUIET * 2,
            ..FailureBurst::default()
        };
        let tripped: Vec<bool> = (0..FAILURE_BURST_REQUESTS + 5)
            .map(|_| burst.failure())
            .collect();
        assert_eq!(tripped.iter().filter(|t| **t).count(), 1);
        assert!(tripped[FAILURE_BURST_REQUESTS as usize - 1]);
        assert!(burst.tripped());
    }

    #[test]
    fn a_success_resets_the_count() {
        let burst = FailureBurst {
            epoch: Instant::now() - FAILURE_BURST_QUIET * 2,
            ..FailureBurst::default()
        };
        for _ in 0..FAILURE_BURST_REQUESTS - 1 {
            assert!(!burst.failure());
        }
        burst.success();
        assert!(!burst.failure());
        assert!(!burst.tripped());
    }
}
