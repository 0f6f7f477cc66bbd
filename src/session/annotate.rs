//! The annotated model: a copy of the profiled model file where each
//! profiled node's `doc_string` holds what the session measured on it (mean
//! time per run and share, FLOPs, bytes, provider, the optimized nodes that
//! ran it), and a `metadata_props` entry names the session. Netron shows
//! both. Nothing else changes: same nodes, tensors and weights, so the copy
//! loads and runs like the original.
//!
//! The numbers come from the session's source mapping
//! (`LayerStats::source_nodes`); a fused kernel's time is shown whole on each
//! node it executes, with the nodes it is shared with, never split by guess.

use std::{
    collections::{BTreeMap, BTreeSet},
    path::{Path, PathBuf},
};

use super::document::SessionDocument;
use crate::{
    engine::{OptLevel, runtime::sha256_hex},
    metrics::layers::{LayerReport, NodeOrigin, short_provider},
    model::{
        Model, ModelError,
        node::node_id,
        onnx::{ModelProto, StringStringEntryProto},
    },
    util::{WriteError, format_bytes, format_micros, write_atomic},
};

/// Key of the `metadata_props` entry naming the session.
pub const METADATA_KEY: &str = "onnx_workbench.profile";
/// First line of every annotation, so a re-annotation replaces it.
pub const DOC_MARKER: &str = "[onnx-workbench]";

/// Why no annotated model was written.
#[derive(Debug, thiserror::Error)]
pub enum AnnotateError {
    #[error("the session has no per-layer timings to annotate the model with")]
    NoLayers,
    #[error("the session does not say which model file it profiled")]
    NoModelPath,
    #[error(
        "the session's layers are not mapped to the model file (a session recorded before source mapping, or the mapping failed: {0}); profile again, or with {opt_level} disable", opt_level = crate::field::Field::OptLevel)]
    NotMapped(String),
    #[error(
        "the session profiled a transformed copy of the model (precision, pruning or opset), whose nodes differ from the file; annotate a session of the model as it is"
    )]
    Transformed,
    #[error("the model file of the session is missing or unreadable: {0}")]
    Model(#[source] ModelError),
    #[error(
        "the model file changed since the session (sha256 {found}, the session profiled {expected}): {}",
        path.display()
    )]
    ModelChanged {
        expected: String,
        found: String,
        path: PathBuf,
    },
    #[error(
        "the model keeps {tensors} tensors in external data files, which resolve next to the model: write the annotated copy into the model's folder ({})",
        folder.display()
    )]
    ExternalData { tensors: usize, folder: PathBuf },
    #[error("the annotated copy would replace the model file itself: {}", .0.display())]
    SameFile(PathBuf),
    #[error("cannot write the annotated model: {0}")]
    Write(#[from] WriteError),
}

/// What an annotation wrote.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AnnotationSummary {
    /// Source nodes that got a measurement in their `doc_string`.
    pub annotated_nodes: usize,
    /// Nodes of the graph.
    pub graph_nodes: usize,
}

impl std::fmt::Display for AnnotationSummary {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "{} of {} nodes annotated",
            self.annotated_nodes, self.graph_nodes
        )
    }
}

/// What the session measured on one source node.
#[derive(Debug, Clone, Default, PartialEq)]
struct NodeMeasure {
    total_micros: u64,
    flops: Option<f64>,
    bytes: Option<f64>,
    providers: BTreeSet<String>,
    optimized: Vec<String>,
    /// Other source nodes sharing one of its kernels.
    shared_with: BTreeSet<String>,
}

/// Writes the annotated copy of the session's own model file (the path it
/// was profiled from) to `output`: what the GUI's export menu calls.
pub fn write_annotated_session_model(
    document: &SessionDocument,
    output: &Path,
) -> Result<AnnotationSummary, AnnotateError> {
    let model = document
        .run
        .model
        .as_ref()
        .ok_or(AnnotateError::NoModelPath)?;
    write_annotated_model(document, &model.path, output)
}

/// Writes the annotated copy of `model_path` (the session's model file) to
/// `output`.
pub fn write_annotated_model(
    document: &SessionDocument,
    model_path: &Path,
    output: &Path,
) -> Result<AnnotationSummary, AnnotateError> {
    let run = &document.run;
    if run.layers.is_none() {
        return Err(AnnotateError::NoLayers);
    }
    if !run.config.transform.is_identity() {
        return Err(AnnotateError::Transformed);
    }
    let (model, bytes) = Model::load_with_bytes(model_path).map_err(AnnotateError::Model)?;
    if let (Ok(model_file), Ok(output_file)) = (
        std::fs::canonicalize(model_path),
        std::fs::canonicalize(output),
    ) && model_file == output_file
    {
        return Err(AnnotateError::SameFile(output.to_path_buf()));
    }
    if let Some(info) = &run.model {
        let found = sha256_hex(&bytes);
        if !info.sha256.is_empty() && info.sha256 != found {
            return Err(AnnotateError::ModelChanged {
                expected: info.sha256.clone(),
                found,
                path: model_path.to_path_buf(),
            });
        }
    }
    let external = count_external(&model.proto);
    let model_folder = model_path.parent().unwrap_or(Path::new(""));
    let output_folder = output.parent().unwrap_or(Path::new(""));
    if external > 0 && !same_folder(model_folder, output_folder) {
        return Err(AnnotateError::ExternalData {
            tensors: external,
            folder: model_folder.to_path_buf(),
        });
    }
    let mut proto = model.proto;
    let summary = annotate_proto(&mut proto, document)?;
    write_atomic(output, &Model::from_proto(proto, None).to_bytes())?;
    Ok(summary)
}

/// Annotates `proto` in place with the session's measurements.
pub fn annotate_proto(
    proto: &mut ModelProto,
    document: &SessionDocument,
) -> Result<AnnotationSummary, AnnotateError> {
    let run = &document.run;
    let layers = run.layers.as_ref().ok_or(AnnotateError::NoLayers)?;
    let measures = measures_by_source_node(layers, run.config.opt_level)?;
    let runs = layers.runs.max(1) as f64;
    let run_total = layers.model_run_total_micros;
    let Some(graph) = proto.graph.as_mut() else {
        return Ok(AnnotationSummary {
            annotated_nodes: 0,
            graph_nodes: 0,
        });
    };
    let mut annotated = 0;
    for (position, node) in graph.node.iter_mut().enumerate() {
        let id = node_id(node, position);
        let Some(measure) = measures.get(&id) else {
            continue;
        };
        annotated += 1;
        let text = describe(measure, runs, run_total);
        let kept = node
            .doc_string
            .as_deref()
            .map(|doc| doc.split(DOC_MARKER).next().unwrap_or("").trim_end())
            .unwrap_or("");
        node.doc_string = Some(if kept.is_empty() {
            text
        } else {
            format!("{kept}\n\n{text}")
        });
    }
    let graph_nodes = graph.node.len();
    proto
        .metadata_props
        .retain(|entry| entry.key() != METADATA_KEY);
    proto.metadata_props.push(StringStringEntryProto {
        key: Some(METADATA_KEY.to_owned()),
        value: Some(session_line(document, layers)),
    });
    Ok(AnnotationSummary {
        annotated_nodes: annotated,
        graph_nodes,
    })
}

/// Per source node id: the summed measurements of the optimized nodes that
/// execute it. Without a mapping, `--opt-level disable` names are the
/// file's own; otherwise there is nothing to place.
fn measures_by_source_node(
    layers: &LayerReport,
    opt_level: OptLevel,
) -> Result<BTreeMap<String, NodeMeasure>, AnnotateError> {
    let mapped = layers
        .nodes
        .iter()
        .any(|node| node.origin != NodeOrigin::Unknown);
    if !mapped && opt_level != OptLevel::Disable {
        let reason = layers
            .source_map
            .as_ref()
            .and_then(|info| info.note.clone())
            .unwrap_or_else(|| "no mapping recorded".to_owned());
        return Err(AnnotateError::NotMapped(reason));
    }
    let mut measures: BTreeMap<String, NodeMeasure> = BTreeMap::new();
    for node in &layers.nodes {
        let sources = if mapped {
            node.source_nodes.clone()
        } else {
            vec![node.node.clone()]
        };
        for source in &sources {
            let measure = measures.entry(source.clone()).or_default();
            measure.total_micros += node.total_micros;
            if let Some(flops) = node.flops {
                *measure.flops.get_or_insert(0.0) += flops;
            }
            if let Some(bytes) = node.bytes {
                *measure.bytes.get_or_insert(0.0) += bytes;
            }
            measure
                .providers
                .insert(short_provider(&node.provider).to_owned());
            measure.optimized.push(node.node.clone());
            measure
                .shared_with
                .extend(sources.iter().filter(|other| *other != source).cloned());
        }
    }
    Ok(measures)
}

/// The annotation of one node.
fn describe(measure: &NodeMeasure, runs: f64, run_total_micros: u64) -> String {
    let mean = measure.total_micros as f64 / runs;
    let share = if run_total_micros == 0 {
        0.0
    } else {
        measure.total_micros as f64 / run_total_micros as f64 * 100.0
    };
    let mut lines = vec![
        DOC_MARKER.to_owned(),
        format!(
            "time: {} mean per run ({share:.2} % of model_run)",
            format_micros(mean)
        ),
    ];
    if let Some(flops) = measure.flops {
        lines.push(format!("FLOPs: {} per run", format_si(flops)));
    }
    if let Some(bytes) = measure.bytes {
        lines.push(format!(
            "bytes: {} per run",
            format_bytes(bytes.max(0.0) as u64)
        ));
    }
    lines.push(format!(
        "provider: {}",
        measure
            .providers
            .iter()
            .cloned()
            .collect::<Vec<_>>()
            .join(", ")
    ));
    lines.push(format!("runs as: {}", measure.optimized.join(", ")));
    if !measure.shared_with.is_empty() {
        const SHOWN: usize = 8;
        let mut others: Vec<&str> = measure
            .shared_with
            .iter()
            .take(SHOWN)
            .map(String::as_str)
            .collect();
        if measure.shared_with.len() > SHOWN {
            others.push("…");
        }
        lines.push(format!(
            "the time is that of a kernel shared with: {}",
            others.join(", ")
        ));
    }
    lines.join("\n")
}

/// `4.6 G` from 4.6e9.
fn format_si(value: f64) -> String {
    let (scaled, unit) = if value >= 1e12 {
        (value / 1e12, "T")
    } else if value >= 1e9 {
        (value / 1e9, "G")
    } else if value >= 1e6 {
        (value / 1e6, "M")
    } else if value >= 1e3 {
        (value / 1e3, "k")
    } else {
        (value, "")
    };
    format!("{scaled:.2} {unit}").trim_end().to_owned()
}

/// The `metadata_props` value: which session the numbers are from.
fn session_line(document: &SessionDocument, layers: &LayerReport) -> String {
    let run = &document.run;
    let config = &run.config;
    let sha = run
        .model
        .as_ref()
        .map_or("unknown", |info| info.sha256.as_str());
    format!(
        "{} {}; model sha256 {sha}; session started {}; {} runs profiled ({}); provider {}, opt level {}, intra-op threads {}, concurrency {}",
        document.tool.name,
        document.tool.version,
        run.started_at,
        layers.runs,
        match layers.source {
            crate::metrics::layers::LayerSource::SeparatePass => "separate pass",
            crate::metrics::layers::LayerSource::Sampled => "sampled during the load",
        },
        config.execution_provider,
        config.opt_level,
        config.intra_threads,
        config.concurrency,
    )
}

fn count_external(proto: &ModelProto) -> usize {
    proto.graph.as_ref().map_or(0, |graph| {
        graph
            .initializer
            .iter()
            .filter(|tensor| crate::model::is_external(tensor))
            .count()
    })
}

fn same_folder(a: &Path, b: &Path) -> bool {
    let canonical = |path: &Path| {
        let path = if path.as_os_str().is_empty() {
            Path::new(".")
        } else {
            path
        };
        std::fs::canonicalize(path).ok()
    };
    match (canonical(a), canonical(b)) {
        (Some(a), Some(b)) => a == b,
        _ => false,
    }
}
