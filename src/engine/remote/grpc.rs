//! The Open Inference Protocol over gRPC, with `tonic` on a small tokio
//! runtime driven from the blocking worker threads.
//!
//! Two layouts, chosen by `RemoteTarget::grpc_channels`:
//! - default: each worker owns a current-thread runtime and its own HTTP/2
//!   connection. The worker thread polls its request itself, so a request
//!   costs no thread hop; this was the faster layout on the KServe server
//!   (BENCHMARKS.md, "Remote targets").
//! - `--grpc-channels K`: one multi-thread runtime and K connections shared
//!   by all workers (requests multiplexed as HTTP/2 streams), for servers
//!   that limit connections.
//!
//! The client calls are written out below (one `unary` per method of
//! `inference.GRPCInferenceService`) instead of generated, so only the
//! messages come from `proto/`.

use std::{
    sync::{
        Arc,
        atomic::{AtomicBool, AtomicUsize, Ordering},
    },
    time::{Duration, Instant},
};

use tonic::{
    Code, Status,
    client::Grpc,
    codegen::http::uri::PathAndQuery,
    transport::{Channel, Endpoint},
};

use super::{
    IndexEntry, ModelMetadata, RemoteError, ServerInfo, StatsTotals, TensorMetadata, proto,
};
use crate::engine::target::RemoteTarget;

/// How often a request in flight checks the stop flag.
const STOP_POLL: Duration = Duration::from_millis(20);
/// Time allowed to open a connection.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(5);
/// Most bytes of an answer (outputs of large models).
const MAX_MESSAGE_BYTES: usize = 1 << 30;

/// The runtime a client's futures run on.
enum Runtime {
    Own(tokio::runtime::Runtime),
    Shared(Arc<tokio::runtime::Runtime>),
}

impl Runtime {
    fn block_on<F: Future>(&self, future: F) -> F::Output {
        match self {
            Self::Own(runtime) => runtime.block_on(future),
            Self::Shared(runtime) => runtime.block_on(future),
        }
    }
}

/// A multi-thread runtime and the connections all workers share.
pub struct SharedChannels {
    runtime: Arc<tokio::runtime::Runtime>,
    channels: Vec<Channel>,
    next: AtomicUsize,
}

impl SharedChannels {
    /// Opens `count` connections to the target on a runtime of up to 4
    /// threads.
    pub fn open(target: &RemoteTarget, count: u32) -> Result<Self, RemoteError> {
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(count.clamp(1, 4) as usize)
            .thread_name("wb-grpc-io")
            .enable_all()
            .build()
            .map_err(RemoteError::Runtime)?;
        let channels = (0..count.max(1))
            .map(|_| runtime.block_on(open_channel(target)))
            .collect::<Result<Vec<_>, _>>()?;
        Ok(Self {
            runtime: Arc::new(runtime),
            channels,
            next: AtomicUsize::new(0),
        })
    }
}

async fn open_channel(target: &RemoteTarget) -> Result<Channel, RemoteError> {
    let unreachable = |message: String| RemoteError::Unreachable {
        url: target.url.clone(),
        message,
    };
    Endpoint::from_shared(format!("http://{}", target.authority))
        .map_err(|err| unreachable(err.to_string()))?
        .connect_timeout(CONNECT_TIMEOUT)
        .tcp_nodelay(true)
        .connect()
        .await
        .map_err(|err| unreachable(transport_message(&err)))
}

/// The innermost cause of a transport error (tonic's top level says only
/// "transport error").
fn transport_message(err: &(dyn std::error::Error + 'static)) -> String {
    let mut message = err.to_string();
    let mut source = err.source();
    while let Some(inner) = source {
        message = inner.to_string();
        source = inner.source();
    }
    message
}

/// One thread's gRPC client.
pub struct GrpcClient {
    runtime: Runtime,
    grpc: Grpc<Channel>,
    url: String,
    model_name: String,
    model_version: String,
    timeout: Duration,
    /// `--header`s, sent as metadata on every call (boxed: a map is
    /// large, and most targets have none).
    metadata: Box<tonic::metadata::MetadataMap>,
}

/// The target's headers as gRPC metadata.
fn metadata(target: &RemoteTarget) -> Result<tonic::metadata::MetadataMap, RemoteError> {
    let mut map = tonic::metadata::MetadataMap::new();
    for (key, value) in target.headers.to_send()? {
        // `Header::parse` checked both; a failure here names the key only.
        let invalid = || RemoteError::Header(crate::engine::headers::HeaderError::Key(key.clone()));
        let name =
            tonic::metadata::AsciiMetadataKey::from_bytes(key.as_bytes()).map_err(|_| invalid())?;
        let value = value.parse().map_err(|_| invalid())?;
        map.insert(name, value);
    }
    Ok(map)
}

impl GrpcClient {
    /// Its own runtime and connection, or a channel of `shared`.
    pub fn connect(
        target: &RemoteTarget,
        shared: Option<&SharedChannels>,
    ) -> Result<Self, RemoteError> {
        let metadata = Box::new(metadata(target)?);
        let (runtime, channel) = match shared {
            Some(shared) => {
                let index = shared.next.fetch_add(1, Ordering::Relaxed);
                let channel = shared.channels[index % shared.channels.len()].clone();
                (Runtime::Shared(Arc::clone(&shared.runtime)), channel)
            }
            None => {
                let runtime = tokio::runtime::Builder::new_current_thread()
                    .enable_all()
                    .build()
                    .map_err(RemoteError::Runtime)?;
                let channel = runtime.block_on(open_channel(target))?;
                (Runtime::Own(runtime), channel)
            }
        };
        let grpc = Grpc::new(channel)
            .max_decoding_message_size(MAX_MESSAGE_BYTES)
            .max_encoding_message_size(MAX_MESSAGE_BYTES);
        Ok(Self {
            runtime,
            grpc,
            url: target.url.clone(),
            model_name: target.model_name.clone(),
            model_version: target.model_version.clone().unwrap_or_default(),
            timeout: Duration::from_millis(target.timeout_millis),
            metadata,
        })
    }

    /// One unary call, with the timeout; `stop` aborts it.
    fn call<Req, Resp>(
        &mut self,
        path: &'static str,
        request: Req,
        stop: Option<&AtomicBool>,
    ) -> Result<Resp, CallError>
    where
        Req: prost::Message + Send + Sync + 'static,
        Resp: prost::Message + Default + Send + Sync + 'static,
    {
        let timeout = self.timeout;
        let mut request = tonic::Request::new(request);
        if !self.metadata.is_empty() {
            *request.metadata_mut() = (*self.metadata).clone();
        }
        let grpc = &mut self.grpc;
        self.runtime.block_on(async move {
            let call = async {
                grpc.ready()
                    .await
                    .map_err(|err| Status::unavailable(transport_message(&err)))?;
                grpc.unary(
                    request,
                    PathAndQuery::from_static(path),
                    tonic_prost::ProstCodec::default(),
                )
                .await
                .map(tonic::Response::into_inner)
            };
            let mut call = std::pin::pin!(call);
            let started = Instant::now();
            loop {
                match tokio::time::timeout(STOP_POLL, &mut call).await {
                    Ok(result) => return result.map_err(CallError::Status),
                    Err(_) if stop.is_some_and(|stop| stop.load(Ordering::Relaxed)) => {
                        return Err(CallError::Aborted);
                    }
                    Err(_) if started.elapsed() >= timeout => return Err(CallError::Timeout),
                    Err(_) => {}
                }
            }
        })
    }

    /// The error of a setup call: unreachable server or a failed status.
    fn setup_error(&self, err: CallError) -> RemoteError {
        match err {
            CallError::Status(status) if status.code() == Code::Unavailable => {
                RemoteError::Unreachable {
                    url: self.url.clone(),
                    message: status.message().to_owned(),
                }
            }
            other => other.into_remote(self.timeout),
        }
    }

    pub fn server_ready(&mut self) -> Result<bool, RemoteError> {
        self.call::<_, proto::ServerReadyResponse>(
            "/inference.GRPCInferenceService/ServerReady",
            proto::ServerReadyRequest {},
            None,
        )
        .map(|response| response.ready)
        .map_err(|err| self.setup_error(err))
    }

    pub fn model_ready(&mut self) -> Result<bool, RemoteError> {
        let request = proto::ModelReadyRequest {
            name: self.model_name.clone(),
            version: self.model_version.clone(),
        };
        match self.call::<_, proto::ModelReadyResponse>(
            "/inference.GRPCInferenceService/ModelReady",
            request,
            None,
        ) {
            Ok(response) => Ok(response.ready),
            Err(CallError::Status(status))
                if matches!(status.code(), Code::NotFound | Code::InvalidArgument) =>
            {
                Err(RemoteError::UnknownModel {
                    url: self.url.clone(),
                    model: self.model_name.clone(),
                    message: status.message().to_owned(),
                })
            }
            Err(err) => Err(self.setup_error(err)),
        }
    }

    pub fn server_info(&mut self) -> Result<ServerInfo, RemoteError> {
        self.call::<_, proto::ServerMetadataResponse>(
            "/inference.GRPCInferenceService/ServerMetadata",
            proto::ServerMetadataRequest {},
            None,
        )
        .map(|response| ServerInfo {
            name: response.name,
            version: response.version,
            extensions: response.extensions,
        })
        .map_err(|err| self.setup_error(err))
    }

    pub fn model_metadata(&mut self) -> Result<ModelMetadata, RemoteError> {
        let request = proto::ModelMetadataRequest {
            name: self.model_name.clone(),
            version: self.model_version.clone(),
        };
        let tensors = |tensors: Vec<proto::model_metadata_response::TensorMetadata>| {
            tensors
                .into_iter()
                .map(|tensor| TensorMetadata {
                    name: tensor.name,
                    datatype: tensor.datatype,
                    shape: tensor.shape,
                })
                .collect()
        };
        match self.call::<_, proto::ModelMetadataResponse>(
            "/inference.GRPCInferenceService/ModelMetadata",
            request,
            None,
        ) {
            Ok(response) => Ok(ModelMetadata {
                name: response.name,
                versions: response.versions,
                platform: response.platform,
                inputs: tensors(response.inputs),
                outputs: tensors(response.outputs),
            }),
            Err(CallError::Status(status)) => Err(RemoteError::Metadata {
                model: self.model_name.clone(),
                message: status.message().to_owned(),
            }),
            Err(err) => Err(self.setup_error(err)),
        }
    }

    pub fn statistics(&mut self) -> Result<Option<StatsTotals>, RemoteError> {
        let request = proto::ModelStatisticsRequest {
            name: self.model_name.clone(),
            version: self.model_version.clone(),
        };
        match self.call::<_, proto::ModelStatisticsResponse>(
            "/inference.GRPCInferenceService/ModelStatistics",
            request,
            None,
        ) {
            Ok(response) => Ok(Some(StatsTotals::from_proto(&response.model_stats))),
            Err(CallError::Status(status)) if status.code() == Code::Unimplemented => Ok(None),
            Err(err) => Err(err.into_remote(self.timeout)),
        }
    }

    pub fn repository_index(&mut self) -> Result<Option<Vec<IndexEntry>>, RemoteError> {
        match self.call::<_, proto::RepositoryIndexResponse>(
            "/inference.GRPCInferenceService/RepositoryIndex",
            proto::RepositoryIndexRequest {
                repository_name: String::new(),
                ready: false,
            },
            None,
        ) {
            Ok(response) => Ok(Some(
                response
                    .models
                    .into_iter()
                    .map(|model| IndexEntry {
                        name: model.name,
                        version: model.version,
                        state: model.state,
                    })
                    .collect(),
            )),
            Err(CallError::Status(status)) if status.code() == Code::Unimplemented => Ok(None),
            Err(err) => Err(self.setup_error(err)),
        }
    }

    /// One inference; the answer is decoded and dropped.
    pub fn infer(
        &mut self,
        request: &proto::ModelInferRequest,
        stop: &AtomicBool,
    ) -> Result<(), RemoteError> {
        self.call::<_, proto::ModelInferResponse>(
            "/inference.GRPCInferenceService/ModelInfer",
            request.clone(),
            Some(stop),
        )
        .map(drop)
        .map_err(|err| err.into_remote(self.timeout))
    }
}

/// How one call ended when it did not answer.
enum CallError {
    Status(Status),
    Timeout,
    Aborted,
}

impl CallError {
    fn into_remote(self, timeout: Duration) -> RemoteError {
        match self {
            Self::Status(status) => {
                RemoteError::Request(format!("gRPC {:?}: {}", status.code(), status.message()))
            }
            Self::Timeout => RemoteError::Timeout(timeout.as_millis() as u64),
            Self::Aborted => RemoteError::Aborted,
        }
    }
}
