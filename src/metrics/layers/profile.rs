//! Reading ONNX Runtime's JSON profile: node and `model_run` events.

use std::{collections::BTreeMap, path::Path};

use serde::{Deserialize, Serialize};

use crate::metrics::node_cost::{NodeIo, TensorShape};

/// An ONNX Runtime profile that could not be read.
#[derive(Debug, thiserror::Error)]
pub enum ProfileError {
    #[error("cannot read the ONNX Runtime profile: {source}: {}", path.display())]
    Read {
        source: std::io::Error,
        path: std::path::PathBuf,
    },
    #[error("the ONNX Runtime profile is not the expected JSON: {0}")]
    Parse(#[from] serde_json::Error),
}

#[derive(Debug, Deserialize)]
struct RawEvent {
    #[serde(default)]
    cat: String,
    #[serde(default)]
    name: String,
    #[serde(default)]
    ts: u64,
    #[serde(default)]
    dur: u64,
    #[serde(default)]
    tid: u64,
    #[serde(default)]
    args: serde_json::Value,
}

/// One kernel execution of one node.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct NodeEvent {
    pub node: String,
    pub op_type: String,
    pub provider: String,
    /// Start, in microseconds since the profiler started.
    pub ts_micros: u64,
    pub dur_micros: u64,
    pub thread_id: u64,
}

/// A `model_run` span.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct RunSpan {
    pub ts_micros: u64,
    pub dur_micros: u64,
}

/// The useful part of one profile file.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct ParsedProfile {
    pub nodes: Vec<NodeEvent>,
    pub runs: Vec<RunSpan>,
    pub session_initialization_micros: Option<u64>,
    pub model_loading_micros: Option<u64>,
    /// Node input shapes by node name, from the first event of each node.
    pub input_shapes: BTreeMap<String, String>,
    /// Node output shapes by node name, from the first event of each node.
    pub output_shapes: BTreeMap<String, String>,
    /// Parsed shapes and byte sizes by node name, from the first event of
    /// each node (for [`node_cost`]).
    pub node_io: BTreeMap<String, NodeIo>,
}

/// Parses the JSON text of an ONNX Runtime profile.
pub fn parse_profile(json: &str) -> Result<ParsedProfile, ProfileError> {
    let events: Vec<RawEvent> = serde_json::from_str(json)?;
    let mut parsed = ParsedProfile::default();
    for event in events {
        match event.cat.as_str() {
            "Node" => {
                let Some(node) = event.name.strip_suffix("_kernel_time") else {
                    continue;
                };
                let arg = |key: &str| {
                    event
                        .args
                        .get(key)
                        .and_then(|value| value.as_str())
                        .unwrap_or_default()
                };
                if !parsed.input_shapes.contains_key(node)
                    && let Some(shapes) = event.args.get("input_type_shape")
                {
                    parsed
                        .input_shapes
                        .insert(node.to_owned(), compact_shapes(shapes));
                }
                if !parsed.node_io.contains_key(node) {
                    if let Some(shapes) = event.args.get("output_type_shape") {
                        parsed
                            .output_shapes
                            .insert(node.to_owned(), compact_shapes(shapes));
                    }
                    parsed.node_io.insert(node.to_owned(), node_io(&event.args));
                }
                parsed.nodes.push(NodeEvent {
                    node: node.to_owned(),
                    op_type: arg("op_name").to_owned(),
                    provider: arg("provider").to_owned(),
                    ts_micros: event.ts,
                    dur_micros: event.dur,
                    thread_id: event.tid,
                });
            }
            "Session" => match event.name.as_str() {
                "model_run" => parsed.runs.push(RunSpan {
                    ts_micros: event.ts,
                    dur_micros: event.dur,
                }),
                "session_initialization" => parsed.session_initialization_micros = Some(event.dur),
                name if name.starts_with("model_loading") => {
                    parsed.model_loading_micros = Some(event.dur)
                }
                _ => {}
            },
            _ => {}
        }
    }
    Ok(parsed)
}

/// Reads and parses a profile file.
pub fn parse_profile_file(path: &Path) -> Result<ParsedProfile, ProfileError> {
    let json = std::fs::read_to_string(path).map_err(|source| ProfileError::Read {
        source,
        path: path.to_path_buf(),
    })?;
    parse_profile(&json)
}

/// Shapes and sizes from a node event's `args`. The sizes are decimal
/// strings in ONNX Runtime 1.31 (numbers are accepted too).
fn node_io(args: &serde_json::Value) -> NodeIo {
    let size = |key: &str| {
        let value = args.get(key)?;
        value
            .as_u64()
            .or_else(|| value.as_str().and_then(|text| text.trim().parse().ok()))
    };
    NodeIo {
        inputs: parse_shapes(args.get("input_type_shape")),
        outputs: parse_shapes(args.get("output_type_shape")),
        activation_bytes: size("activation_size"),
        parameter_bytes: size("parameter_size"),
        output_bytes: size("output_size"),
    }
}

/// `[{"float":[1,256]},{"int64":[]}]` as tensor shapes; entries that are not
/// `{dtype: [dims]}` are skipped.
fn parse_shapes(value: Option<&serde_json::Value>) -> Vec<TensorShape> {
    let Some(items) = value.and_then(serde_json::Value::as_array) else {
        return Vec::new();
    };
    items
        .iter()
        .filter_map(serde_json::Value::as_object)
        .flat_map(|object| object.iter())
        .filter_map(|(dtype, dims)| {
            let dims = dims
                .as_array()?
                .iter()
                .map(serde_json::Value::as_i64)
                .collect::<Option<Vec<i64>>>()?;
            Some(TensorShape {
                dtype: dtype.clone(),
                dims,
            })
        })
        .collect()
}

/// `[{"float":[1,256]},{"float":[512,256]}]` becomes `float[1,256] float[512,256]`.
fn compact_shapes(value: &serde_json::Value) -> String {
    let Some(items) = value.as_array() else {
        return String::new();
    };
    let mut parts = Vec::with_capacity(items.len());
    for item in items {
        if let Some(object) = item.as_object() {
            for (dtype, dims) in object {
                let dims = dims
                    .as_array()
                    .map(|dims| {
                        dims.iter()
                            .map(ToString::to_string)
                            .collect::<Vec<_>>()
                            .join(",")
                    })
                    .unwrap_or_default();
                parts.push(format!("{dtype}[{dims}]"));
            }
        }
    }
    parts.join(" ")
}
