//! What the server says about itself and its models, the requests as they
//! go on the wire, and why talking to the server failed.

use serde::{Deserialize, Serialize};

use super::proto;

/// Why talking to the server failed.
#[derive(Debug, thiserror::Error)]
pub enum RemoteError {
    #[error("cannot reach the server at {url}: {message} (is it running, and is the port right?)")]
    Unreachable { url: String, message: String },
    #[error("the server at {url} is not ready (health/ready said no)")]
    ServerNotReady { url: String },
    #[error("the server at {url} has no model {model:?}: {message}")]
    UnknownModel {
        url: String,
        model: String,
        message: String,
    },
    #[error("model {model:?} on {url} is not ready")]
    ModelNotReady { url: String, model: String },
    #[error("the server's metadata of model {model:?} could not be read: {message}")]
    Metadata { model: String, message: String },
    #[error("input {name:?} has datatype {datatype}, which the workbench cannot send")]
    Datatype { name: String, datatype: String },
    #[error("input {name:?}: {reason}")]
    Encode { name: String, reason: String },
    #[error("{0}")]
    Request(String),
    #[error("no answer within {0} ms ({timeout})", timeout = crate::field::Field::Timeout)]
    Timeout(u64),
    #[error("stopped")]
    Aborted,
    #[error("could not start the gRPC runtime: {0}")]
    Runtime(#[source] std::io::Error),
    #[error(transparent)]
    Header(#[from] crate::engine::headers::HeaderError),
}

/// What the server says about itself.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct ServerInfo {
    /// The server's name, e.g. `triton` or `kserve`.
    pub name: String,
    pub version: String,
    /// Protocol extensions it lists (e.g. `statistics`, `binary_tensor_data`).
    pub extensions: Vec<String>,
}

/// The protocol's description of one tensor.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct TensorMetadata {
    pub name: String,
    /// The protocol's datatype, e.g. `FP32`, `INT64`, `BYTES`.
    pub datatype: String,
    /// `-1` for a variable-size dim.
    pub shape: Vec<i64>,
}

/// The server's model metadata (`GET /v2/models/NAME`, `ModelMetadata`).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct ModelMetadata {
    pub name: String,
    pub versions: Vec<String>,
    pub platform: String,
    pub inputs: Vec<TensorMetadata>,
    pub outputs: Vec<TensorMetadata>,
}

/// A model in the server's repository index.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct IndexEntry {
    pub name: String,
    pub version: String,
    /// e.g. `READY`, `UNAVAILABLE`; empty when the server does not say.
    pub state: String,
}

/// One encoded request (all inputs of one variant), ready to send again and
/// again.
#[derive(Debug, Clone)]
pub enum EncodedRequest {
    Grpc(proto::ModelInferRequest),
    /// A JSON body.
    RestJson(Vec<u8>),
    /// The binary tensor data extension: a JSON header of `header_len` bytes
    /// followed by the raw tensors.
    RestBinary {
        body: Vec<u8>,
        header_len: usize,
    },
}

/// How requests are put on the wire.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Encoding {
    GrpcRaw,
    RestBinary,
    RestJson,
}

impl Encoding {
    /// Its name in reports.
    pub fn label(self) -> &'static str {
        match self {
            Self::GrpcRaw => "grpc raw_input_contents",
            Self::RestBinary => "rest binary tensor data",
            Self::RestJson => "rest json",
        }
    }
}
