//! What ONNX Runtime writes beside the profile of the separate pass, and
//! what becomes of it:
//! - the graph it optimized (same level, same provider), which
//!   `metrics::source_map` matches to the model the sessions loaded, tying
//!   the profiled nodes to the model file;
//! - per-node memory statistics (`metrics::memory`).
//!
//! ONNX Runtime 1.31 writes the optimized model at every level on CPU (at
//! `all` it warns that NCHWc nodes tie the file to this machine). Where it
//! refuses (compiled execution-provider nodes), the session is built again
//! without it and the report says the nodes are not mapped. Writing it is
//! part of the profiling session's creation, so that session's
//! `session_initialization` time includes it (weights of 1 KiB and more go
//! to a side file, so the write is about one copy of the weights); the load
//! sessions are not affected.

use std::{
    collections::BTreeMap,
    path::{Path, PathBuf},
};

use super::record::RunRecord;
use crate::{
    engine::{
        EngineError,
        config::ProfileConfig,
        runtime::Runtime,
        session::{
            BuiltSession, ModelSource, ParsedOnce, SessionOutputs, build_session,
            build_session_with_output,
        },
    },
    metrics::{layers::LayerReport, memory, source_map},
    model::{Model, ModelError, ShapeBinding},
};

/// Why the optimized model could not be read or matched.
#[derive(Debug, thiserror::Error)]
enum MappingError {
    #[error("cannot create a folder for the optimized model: {0}")]
    TempDir(#[source] std::io::Error),
    #[error("ONNX Runtime could not write its optimized model: {0}")]
    Session(#[source] EngineError),
    #[error("ONNX Runtime wrote no optimized model")]
    NotWritten,
    #[error("cannot read the optimized model: {0}")]
    Optimized(#[source] ModelError),
    #[error("cannot read the model file: {0}")]
    Source(String),
}

/// Where ONNX Runtime writes the optimized graph inside `dir`.
pub(super) fn optimized_path(dir: &Path) -> PathBuf {
    dir.join("optimized.onnx")
}

/// Where ONNX Runtime writes its node memory statistics inside `dir`.
fn memory_path(dir: &Path) -> PathBuf {
    dir.join("node_memory.csv")
}

/// Builds the profiling session so that it also writes its optimized model
/// to [`optimized_path`] and its node memory statistics; when ONNX Runtime
/// refuses, builds it without and returns why alongside.
pub(super) fn build_writing_optimized(
    runtime: &Runtime,
    model_source: ModelSource<'_>,
    config: &ProfileConfig,
    profiling_prefix: &Path,
    dir: &Path,
) -> Result<(BuiltSession, Option<String>), EngineError> {
    let optimized = optimized_path(dir);
    let memory = memory_path(dir);
    let outputs = SessionOutputs {
        optimized_model: Some(&optimized),
        node_memory_stats: Some(&memory),
    };
    match build_session_with_output(
        runtime,
        model_source,
        config,
        Some(profiling_prefix),
        outputs,
    ) {
        Ok(built) => Ok((built, None)),
        Err(err) => {
            let built = build_session(runtime, model_source, config, Some(profiling_prefix))?;
            Ok((
                built,
                Some(format!(
                    "ONNX Runtime could not write its optimized model, so nodes are not mapped to the model file: {err:#}"
                )),
            ))
        }
    }
}

/// A report's nodes mapped to the model that ran, or why they are not.
pub(super) type Mapping = Result<(source_map::SourceMap, Option<String>), String>;

/// The mapping through the optimized model in `dir`, or why there is none
/// (`refused`: why ONNX Runtime wrote none). Computed once per pass and
/// applied to each of its reports.
pub(super) fn mapping_in(
    model: &ParsedOnce<'_>,
    config: &ProfileConfig,
    dir: &Path,
    refused: Option<String>,
) -> Mapping {
    if let Some(reason) = refused {
        return Err(reason);
    }
    read_and_map(model, config, &optimized_path(dir)).map_err(|err| format!("{err:#}"))
}

/// Applies a mapping to a report, or records why there is none.
pub(super) fn apply_mapping(report: &mut LayerReport, mapping: &Mapping) {
    match mapping {
        Ok((map, note)) => source_map::apply(report, map, note.clone()),
        Err(reason) => source_map::mark_unavailable(report, reason.clone()),
    }
}

/// A separate pass's report made whole: its nodes mapped
/// ([`apply_mapping`]) and the memory statistics in `dir` attached
/// ([`attach_memory`]).
pub(super) fn finish_pass_report(
    report: &mut LayerReport,
    mapping: &Mapping,
    (dir, profile): (&Path, &Path),
) {
    apply_mapping(report, mapping);
    attach_memory(report, dir, profile);
}

/// Reads the node memory statistics in `dir` and the arena statistics of
/// the profile into `report.memory`.
pub(super) fn attach_memory(report: &mut LayerReport, dir: &Path, profile: &Path) {
    let json = match std::fs::read_to_string(profile) {
        Ok(json) => json,
        Err(err) => {
            report.memory = Some(memory::MemoryReport {
                note: Some(format!("cannot read the profile: {err}")),
                ..memory::MemoryReport::default()
            });
            return;
        }
    };
    report.memory = Some(memory::read_memory_report(&memory_path(dir), &json));
}

/// Sampled profiling: the load sessions wrote no optimized model, so one
/// more session is built (not run) to write it, then the report is mapped.
pub(super) fn map_sampled_report(
    report: &mut LayerReport,
    runtime: &Runtime,
    model: &ParsedOnce<'_>,
    config: &ProfileConfig,
) {
    let result = tempfile::Builder::new()
        .prefix("onnx-workbench-optimized-")
        .tempdir()
        .map_err(MappingError::TempDir)
        .and_then(|dir| {
            let optimized = optimized_path(dir.path());
            let outputs = SessionOutputs {
                optimized_model: Some(&optimized),
                node_memory_stats: None,
            };
            build_session_with_output(runtime, model.source(), config, None, outputs)
                .map_err(MappingError::Session)?;
            read_and_map(model, config, &optimized_path(dir.path()))
        });
    match result {
        Ok((map, note)) => source_map::apply(report, &map, note),
        Err(err) => source_map::mark_unavailable(report, format!("{err:#}")),
    }
}

fn read_and_map(
    model: &ParsedOnce<'_>,
    config: &ProfileConfig,
    optimized: &Path,
) -> Result<(source_map::SourceMap, Option<String>), MappingError> {
    if !optimized.is_file() {
        return Err(MappingError::NotWritten);
    }
    let optimized = Model::load(optimized).map_err(MappingError::Optimized)?;
    let source = model
        .read()
        .map_err(|err| MappingError::Source(err.to_owned()))?;
    let note = (!config.transform.is_identity())
        .then(|| "node ids are those of the transformed model".to_owned());
    let (Some(source_graph), Some(optimized_graph)) =
        (source.proto.graph.as_ref(), optimized.proto.graph.as_ref())
    else {
        return Err(MappingError::NotWritten);
    };
    Ok((source_map::map_graphs(source_graph, optimized_graph), note))
}

/// Counts the FLOPs of the model that ran (the transformed one, with a
/// transform) at the run's input shapes: the session's model summary
/// carries that count, and the per-node figures of the mapped report are
/// made to add up to it ([`crate::metrics::model_flops`]). Batched runs
/// (whose profiled shapes vary with the batch) and a model that cannot be
/// read are left as they are.
pub(super) fn count_model_flops(record: &mut RunRecord, model: &ParsedOnce<'_>) {
    if record.config.dispatch() == crate::engine::Dispatch::Batched {
        return;
    }
    let Some(model) = model.get() else {
        return;
    };
    let binding = ShapeBinding {
        dims: BTreeMap::new(),
        input_shapes: record
            .inputs
            .iter()
            .map(|input| (input.name.clone(), input.shape.clone()))
            .collect(),
    };
    let estimate = crate::model::estimate_flops_with(model, &binding);
    if let Some(layers) = record.layers.as_mut()
        && layers
            .source_map
            .as_ref()
            .is_some_and(|mapping| mapping.runtime_source_nodes > 0)
    {
        crate::metrics::model_flops::count_from_model(layers, &estimate);
    }
    if let Some(info) = record.model.as_mut()
        && info.summary.flops.is_some()
    {
        info.summary.flops = Some(estimate);
    }
}
