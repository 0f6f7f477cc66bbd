//! The machine's peaks for the roofline, measured by the tool itself and
//! cached per machine.
//!
//! - Compute: a float32 model built in memory (`crate::model` protos) runs
//!   through ONNX Runtime on the run's execution provider and intra-op
//!   threads: the input `s` (one float) scales an `n×n` constant, and a chain
//!   of [`MATMUL_CHAIN`] `n×n` MatMuls (weights filled with `1/n`, so values
//!   stay 1 and no denormals appear) ends in a `ReduceMax` to one float, so
//!   no large tensor crosses to or from the host. GFLOP/s is
//!   `MATMUL_CHAIN · 2n³` over the best run's wall time (the scale and the
//!   reduction, O(n²), are in that time). `n` is 1024 on the CPU and 4096 on
//!   CUDA.
//! - Bandwidth: on the CPU a [`CPU_COPY_BYTES`] `memcpy` (well above a
//!   last-level cache), counted as read plus write, best of a few; on CUDA
//!   the same model shape with a [`GPU_COPY_BYTES`] constant scaled by `s`
//!   and reduced (`Mul` then `ReduceMax`: the constant read, the product
//!   written and read again, 3× the size), through ONNX Runtime.
//!
//! Results are cached in `machine-peaks.json` in the tool's cache folder
//! (next to the ONNX Runtime library), keyed by the CPU model or GPU name,
//! the provider and the threads. A failure to measure is the caller's note,
//! never a failed run.
//!
//! [`fill_model_weights`] also lives here, since it reads the run's
//! [`ModelSource`]: the weights ONNX Runtime leaves out of the profile
//! (ConvTranspose), for the FLOP counts of `metrics::node_cost`.

use std::{
    collections::BTreeMap,
    path::{Path, PathBuf},
    time::{Duration, Instant},
};

use ort::{session::SessionInputValue, value::Tensor};
use serde::{Deserialize, Serialize};

use crate::{
    engine::{
        config::{ExecutionProviderKind, ProfileConfig},
        runtime::Runtime,
        session::{ModelSource, ParsedOnce, build_session},
    },
    metrics::{
        layers::{LayerReport, LayerStats, MachinePeaks},
        node_cost,
    },
    model::onnx::{
        self, GraphProto, ModelProto, NodeProto, OperatorSetIdProto, TensorProto, TensorShapeProto,
        TypeProto, ValueInfoProto,
    },
    telemetry::EnvironmentInfo,
};

/// MatMuls chained in the compute model.
pub const MATMUL_CHAIN: usize = 4;
/// Bytes copied by the CPU bandwidth measurement.
pub const CPU_COPY_BYTES: usize = 128 << 20;
/// Bytes of the constant of the CUDA bandwidth model.
pub const GPU_COPY_BYTES: usize = 512 << 20;
/// Most entries kept in the cache file (the oldest measurement goes).
const MAX_CACHE_ENTRIES: usize = 64;
/// Time after which the compute measurement stops repeating runs.
const COMPUTE_BUDGET: Duration = Duration::from_millis(500);
/// Runs of each measurement at most (after one warm-up run).
const MAX_RUNS: usize = 5;
/// The cache file's name.
pub const CACHE_FILE_NAME: &str = "machine-peaks.json";

/// Why the peaks could not be measured or cached.
#[derive(Debug, thiserror::Error)]
pub enum PeaksError {
    #[error("cannot build the peak-measurement session: {0}")]
    Session(String),
    #[error("the peak-measurement run failed: {0}")]
    Run(String),
    #[error("the peak measurement took no measurable time")]
    NoTime,
    #[error("cannot allocate {bytes} bytes for the bandwidth measurement")]
    Allocation { bytes: usize },
    #[error("cannot read the peaks cache: {source}: {}", path.display())]
    ReadCache {
        source: std::io::Error,
        path: PathBuf,
    },
    #[error("the peaks cache is not the expected JSON: {source}: {}", path.display())]
    ParseCache {
        source: serde_json::Error,
        path: PathBuf,
    },
    #[error("cannot write the peaks cache: {0}")]
    WriteCache(String),
}

/// The cache file: measured peaks by [`cache_key`].
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct PeaksCache {
    #[serde(default)]
    pub entries: BTreeMap<String, MachinePeaks>,
}

/// The cache key: machine (CPU model or GPU name), provider and threads.
pub fn cache_key(machine: &str, provider: &str, threads: u32) -> String {
    format!("{machine} | {provider} | {threads} threads")
}

/// The default cache file: `machine-peaks.json` in the tool's cache folder
/// (`~/.cache/onnx-workbench`, or `ONNX_WORKBENCH_CACHE`), next to the
/// ONNX Runtime library's folder.
pub fn default_cache_path() -> Option<PathBuf> {
    let runtime_folder = crate::engine::runtime::cache_dir()?;
    Some(runtime_folder.parent()?.join(CACHE_FILE_NAME))
}

/// Reads the cache file; a missing file is an empty cache.
pub fn load_cache(path: &Path) -> Result<PeaksCache, PeaksError> {
    let text = match std::fs::read_to_string(path) {
        Ok(text) => text,
        Err(err) if err.kind() == std::io::ErrorKind::NotFound => {
            return Ok(PeaksCache::default());
        }
        Err(source) => {
            return Err(PeaksError::ReadCache {
                source,
                path: path.to_path_buf(),
            });
        }
    };
    serde_json::from_str(&text).map_err(|source| PeaksError::ParseCache {
        source,
        path: path.to_path_buf(),
    })
}

/// Adds `peaks` under `key` and writes the cache atomically, keeping at
/// most [`MAX_CACHE_ENTRIES`] (the oldest measurements go first).
pub fn store_cache(path: &Path, key: &str, peaks: &MachinePeaks) -> Result<(), PeaksError> {
    // An unreadable cache is replaced rather than kept broken.
    let mut cache = load_cache(path).unwrap_or_default();
    cache.entries.insert(key.to_owned(), peaks.clone());
    while cache.entries.len() > MAX_CACHE_ENTRIES {
        let Some(oldest) = cache
            .entries
            .iter()
            .min_by(|a, b| a.1.measured_at.cmp(&b.1.measured_at))
            .map(|(key, _)| key.clone())
        else {
            break;
        };
        cache.entries.remove(&oldest);
    }
    let text =
        serde_json::to_vec_pretty(&cache).map_err(|err| PeaksError::WriteCache(err.to_string()))?;
    if let Some(parent) = path.parent() {
        std::fs::create_dir_all(parent).map_err(|err| PeaksError::WriteCache(err.to_string()))?;
    }
    crate::util::write_atomic(path, &text).map_err(|err| PeaksError::WriteCache(err.to_string()))
}

/// The peaks for this machine, provider and threads: from the cache at
/// `cache_path` when there, else measured and stored (a cache that cannot
/// be written is logged, the measurement kept).
pub fn machine_peaks(
    runtime: &Runtime,
    config: &ProfileConfig,
    machine: &str,
    cache_path: Option<&Path>,
) -> Result<MachinePeaks, PeaksError> {
    let provider = provider_name(config.execution_provider);
    let key = cache_key(machine, provider, config.intra_threads);
    if let Some(path) = cache_path {
        match load_cache(path) {
            Ok(cache) => {
                if let Some(peaks) = cache.entries.get(&key) {
                    return Ok(peaks.clone());
                }
            }
            Err(err) => tracing::warn!("{err:#}; measuring the peaks again"),
        }
    }
    let peaks = measure(runtime, config)?;
    // A fallback to the CPU measured the CPU: key it as such.
    let key = cache_key(machine, &peaks.provider, config.intra_threads);
    if let Some(path) = cache_path
        && peaks.provider == provider
        && let Err(err) = store_cache(path, &key, &peaks)
    {
        tracing::warn!("{err:#}");
    }
    Ok(peaks)
}

/// Fills `layers.machine_peaks` for a finished run (cached or measured);
/// on failure returns the note to keep in the record.
pub fn attach_peaks(
    layers: &mut LayerReport,
    runtime: &Runtime,
    config: &ProfileConfig,
    environment: &EnvironmentInfo,
) -> Option<String> {
    let gpu = usize::try_from(config.device_id)
        .ok()
        .and_then(|index| environment.gpus.get(index));
    let machine = match (config.execution_provider, gpu) {
        (ExecutionProviderKind::Cuda, Some(gpu)) if !gpu.name.is_empty() => gpu.name.clone(),
        _ if !environment.cpu_model.is_empty() => environment.cpu_model.clone(),
        _ => "unknown CPU".to_owned(),
    };
    let cache_path = default_cache_path();
    match machine_peaks(runtime, config, &machine, cache_path.as_deref()) {
        Ok(peaks) => {
            let (peaks, note) = check_against_nodes(
                peaks,
                layers,
                runtime,
                config,
                &machine,
                cache_path.as_deref(),
            );
            layers.machine_peaks = Some(peaks);
            note
        }
        Err(err) => Some(format!(
            "the machine's peaks for the roofline were not measured: {err:#}"
        )),
    }
}

/// Shortest mean node time whose achieved rate is trusted against the peak,
/// in microseconds (shorter ones are within the profiler's granularity).
const MIN_TRUSTED_NODE_MICROS: f64 = 50.0;

/// The fastest achieved GFLOP/s of a CPU node long enough to trust.
fn fastest_cpu_node_gflops(layers: &LayerReport) -> Option<f64> {
    layers
        .nodes
        .iter()
        .filter(|node| !crate::metrics::layers::is_gpu_provider(&node.provider))
        .filter(|node| node.mean_micros >= MIN_TRUSTED_NODE_MICROS)
        .filter_map(|node| Some(node.flops? / node.mean_micros / 1e3))
        .reduce(f64::max)
}

/// A compute peak below what a node achieved was measured on a busy
/// machine (or cached from one): it is measured again, the better of the
/// two kept and cached. If a node still beats it, a note says so.
fn check_against_nodes(
    peaks: MachinePeaks,
    layers: &LayerReport,
    runtime: &Runtime,
    config: &ProfileConfig,
    machine: &str,
    cache_path: Option<&Path>,
) -> (MachinePeaks, Option<String>) {
    let Some(fastest) = fastest_cpu_node_gflops(layers) else {
        return (peaks, None);
    };
    if fastest <= peaks.gflops_per_s * 1.05
        || config.execution_provider != ExecutionProviderKind::Cpu
    {
        return (peaks, None);
    }
    let mut best = peaks;
    if let Ok(fresh) = measure(runtime, config) {
        if fresh.gflops_per_s > best.gflops_per_s {
            best.gflops_per_s = fresh.gflops_per_s;
            best.measured_at = fresh.measured_at.clone();
        }
        best.gbytes_per_s = best.gbytes_per_s.max(fresh.gbytes_per_s);
        let key = cache_key(machine, &best.provider, config.intra_threads);
        if let Some(path) = cache_path
            && let Err(err) = store_cache(path, &key, &best)
        {
            tracing::warn!("{err:#}");
        }
    }
    let note = (fastest > best.gflops_per_s * 1.05).then(|| {
        format!(
            "a node ran at {fastest:.1} GFLOP/s, above the measured compute peak of {:.1} GFLOP/s \
             (measured again for this run): the machine was busy when the peak was measured, \
             or ONNX Runtime's convolution kernels beat its MatMul here",
            best.gflops_per_s
        )
    });
    (best, note)
}

/// Fills the FLOPs of nodes whose weight ONNX Runtime leaves out of the
/// profile (see [`node_cost::WEIGHT_FROM_MODEL_OPS`]) from the weights in
/// the model file, matched by node name, and adds the weight to their
/// bytes. The model is read only when such a node has no count; a model
/// that cannot be read leaves them uncounted.
pub fn fill_model_weights(layers: &mut LayerReport, model: &ParsedOnce<'_>) {
    let missing = |node: &LayerStats| {
        node.flops.is_none() && node_cost::WEIGHT_FROM_MODEL_OPS.contains(&node.op_type.as_str())
    };
    if !layers.nodes.iter().any(missing) {
        return;
    }
    let Some(model) = model.get() else {
        return;
    };
    let weights = node_cost::model_weight_shapes(&model.proto);
    for node in layers.nodes.iter_mut().filter(|node| missing(node)) {
        let Some(weight) = weights.get(&node.node) else {
            continue;
        };
        let io = node_cost::NodeIo {
            inputs: node_cost::parse_compact_shapes(&node.input_shapes),
            outputs: node_cost::parse_compact_shapes(&node.output_shapes),
            ..node_cost::NodeIo::default()
        };
        node.flops =
            node_cost::node_cost(&node.op_type, &node_cost::with_model_weight(&io, weight)).flops;
        if node.flops.is_some()
            && let Some(size) = weight.size_bytes()
        {
            node.bytes = node.bytes.map(|bytes| bytes + size);
        }
    }
}

fn provider_name(kind: ExecutionProviderKind) -> &'static str {
    match kind {
        ExecutionProviderKind::Cuda => "CUDA",
        _ => "CPU",
    }
}

/// Measures both peaks now (no cache).
pub fn measure(runtime: &Runtime, config: &ProfileConfig) -> Result<MachinePeaks, PeaksError> {
    let is_cuda = config.execution_provider == ExecutionProviderKind::Cuda;
    let size = if is_cuda { 4096 } else { 1024 };
    let (gflops_per_s, provider) = measure_compute(runtime, config, size)?;
    let on_gpu = provider == "CUDA";
    let (gbytes_per_s, copy_method) = if on_gpu {
        (
            measure_gpu_bandwidth(runtime, config)?,
            format!(
                "Mul of a {} MiB float32 constant by an input scalar, then ReduceMax, through ONNX Runtime on CUDA (3× the size moved per run)",
                GPU_COPY_BYTES >> 20
            ),
        )
    } else {
        (
            measure_memcpy()?,
            format!(
                "memcpy of {} MiB on one thread, read plus write",
                CPU_COPY_BYTES >> 20
            ),
        )
    };
    Ok(MachinePeaks {
        gflops_per_s,
        gbytes_per_s,
        provider: provider.to_owned(),
        threads: config.intra_threads,
        method: format!(
            "compute: {MATMUL_CHAIN} chained {size}×{size} float32 MatMuls through ONNX Runtime on {provider} (best of up to {MAX_RUNS} runs); bandwidth: {copy_method}"
        ),
        measured_at: crate::util::rfc3339_now(),
    })
}

fn measure_compute(
    runtime: &Runtime,
    config: &ProfileConfig,
    size: usize,
) -> Result<(f64, &'static str), PeaksError> {
    let bytes = matmul_chain_model(size, MATMUL_CHAIN);
    let (best, provider) = best_run_time(runtime, config, &bytes, COMPUTE_BUDGET)?;
    let flops = MATMUL_CHAIN as f64 * 2.0 * (size as f64).powi(3);
    Ok((flops / best.as_secs_f64() / 1e9, provider))
}

fn measure_gpu_bandwidth(runtime: &Runtime, config: &ProfileConfig) -> Result<f64, PeaksError> {
    let elements = GPU_COPY_BYTES / 4;
    let bytes = scale_reduce_model(elements);
    let (best, _) = best_run_time(runtime, config, &bytes, COMPUTE_BUDGET)?;
    Ok(3.0 * GPU_COPY_BYTES as f64 / best.as_secs_f64() / 1e9)
}

/// Builds a session on `model`, runs it once unrecorded, then up to
/// [`MAX_RUNS`] times within `budget`; the fastest run and the provider.
fn best_run_time(
    runtime: &Runtime,
    config: &ProfileConfig,
    model: &[u8],
    budget: Duration,
) -> Result<(Duration, &'static str), PeaksError> {
    let mut built = build_session(runtime, ModelSource::Memory(model), config, None)
        .map_err(|err| PeaksError::Session(format!("{err:#}")))?;
    let provider = provider_name(built.execution_provider);
    let input = Tensor::from_array(([1_usize], vec![1.0_f32]))
        .map_err(|err| PeaksError::Run(err.to_string()))?;
    let inputs = [SessionInputValue::from(input.into_dyn())];
    let started = Instant::now();
    let mut best: Option<Duration> = None;
    for run in 0..=MAX_RUNS {
        let begun = Instant::now();
        built
            .session
            .run(&inputs[..])
            .map_err(|err| PeaksError::Run(err.to_string()))?;
        let took = begun.elapsed();
        if run > 0 {
            best = Some(best.map_or(took, |best| best.min(took)));
        }
        if run > 0 && started.elapsed() > budget {
            break;
        }
    }
    match best {
        Some(best) if !best.is_zero() => Ok((best, provider)),
        _ => Err(PeaksError::NoTime),
    }
}

/// Best-of-3 memcpy bandwidth of [`CPU_COPY_BYTES`], read plus write, GB/s.
fn measure_memcpy() -> Result<f64, PeaksError> {
    let allocation = PeaksError::Allocation {
        bytes: 2 * CPU_COPY_BYTES,
    };
    let mut source: Vec<u8> = Vec::new();
    let mut target: Vec<u8> = Vec::new();
    if source.try_reserve_exact(CPU_COPY_BYTES).is_err()
        || target.try_reserve_exact(CPU_COPY_BYTES).is_err()
    {
        return Err(allocation);
    }
    // Touch every page first, so the copies time no page faults (chunked
    // copies: fast in unoptimised builds too).
    let chunk = [1_u8; 1 << 16];
    while source.len() < CPU_COPY_BYTES {
        let take = chunk.len().min(CPU_COPY_BYTES - source.len());
        source.extend_from_slice(&chunk[..take]);
        target.extend_from_slice(&chunk[..take]);
    }
    let mut best: Option<Duration> = None;
    for round in 0..3_u8 {
        if let Some(first) = source.first_mut() {
            *first = round;
        }
        let begun = Instant::now();
        target.copy_from_slice(&source);
        let took = begun.elapsed();
        std::hint::black_box(&target);
        best = Some(best.map_or(took, |best| best.min(took)));
    }
    match best {
        Some(best) if !best.is_zero() => Ok(2.0 * CPU_COPY_BYTES as f64 / best.as_secs_f64() / 1e9),
        _ => Err(PeaksError::NoTime),
    }
}

fn float_value(name: &str, dims: &[i64]) -> ValueInfoProto {
    use onnx::tensor_shape_proto::{Dimension, dimension::Value};
    ValueInfoProto {
        name: Some(name.to_owned()),
        r#type: Some(TypeProto {
            value: Some(onnx::type_proto::Value::TensorType(
                onnx::type_proto::Tensor {
                    elem_type: Some(crate::model::ElemType::Float.code()),
                    shape: Some(TensorShapeProto {
                        dim: dims
                            .iter()
                            .map(|&dim| Dimension {
                                value: Some(Value::DimValue(dim)),
                                denotation: None,
                            })
                            .collect(),
                    }),
                },
            )),
            denotation: None,
        }),
        ..Default::default()
    }
}

fn filled(name: &str, dims: &[i64], value: f32) -> TensorProto {
    let count: i64 = dims.iter().product();
    let one = value.to_le_bytes();
    TensorProto {
        name: Some(name.to_owned()),
        data_type: Some(crate::model::ElemType::Float.code()),
        dims: dims.to_vec(),
        raw_data: Some(one.repeat(count.max(0) as usize)),
        ..Default::default()
    }
}

fn plain_node(op_type: &str, inputs: &[&str], output: &str) -> NodeProto {
    NodeProto {
        op_type: Some(op_type.to_owned()),
        name: Some(output.to_owned()),
        input: inputs.iter().map(|&input| input.to_owned()).collect(),
        output: vec![output.to_owned()],
        ..Default::default()
    }
}

/// `ReduceMax` over all axes to one float, `keepdims = 0` (opset 13).
fn reduce_all(input: &str, output: &str) -> NodeProto {
    let mut node = plain_node("ReduceMax", &[input], output);
    node.attribute.push(onnx::AttributeProto {
        name: Some("keepdims".to_owned()),
        r#type: Some(onnx::attribute_proto::AttributeType::Int as i32),
        i: Some(0),
        ..Default::default()
    });
    node
}

fn model_bytes(
    nodes: Vec<NodeProto>,
    initializer: Vec<TensorProto>,
    output: ValueInfoProto,
) -> Vec<u8> {
    use prost::Message;
    let model = ModelProto {
        ir_version: Some(8),
        producer_name: Some("onnx-workbench peaks".to_owned()),
        opset_import: vec![OperatorSetIdProto {
            domain: Some(String::new()),
            version: Some(13),
        }],
        graph: Some(GraphProto {
            name: Some("peaks".to_owned()),
            input: vec![float_value("s", &[1])],
            output: vec![output],
            node: nodes,
            initializer,
            ..Default::default()
        }),
        ..Default::default()
    };
    model.encode_to_vec()
}

/// `x = a · s`, then `x · w` `chain` times, then the maximum: one float out.
pub fn matmul_chain_model(size: usize, chain: usize) -> Vec<u8> {
    let n = size as i64;
    let mut nodes = vec![plain_node("Mul", &["a", "s"], "x0")];
    for step in 0..chain {
        nodes.push(plain_node(
            "MatMul",
            &[&format!("x{step}"), "w"],
            &format!("x{}", step + 1),
        ));
    }
    nodes.push(reduce_all(&format!("x{chain}"), "y"));
    model_bytes(
        nodes,
        vec![
            filled("a", &[n, n], 1.0),
            filled("w", &[n, n], 1.0 / size as f32),
        ],
        float_value("y", &[]),
    )
}

/// `x = c · s` over `elements` floats, then the maximum: one float out.
pub fn scale_reduce_model(elements: usize) -> Vec<u8> {
    model_bytes(
        vec![plain_node("Mul", &["c", "s"], "x"), reduce_all("x", "y")],
        vec![filled("c", &[elements as i64], 1.0)],
        float_value("y", &[]),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_fastest_trusted_cpu_node_is_found() {
        let node = |name: &str, provider: &str, mean_micros: f64, flops: Option<f64>| LayerStats {
            node: name.to_owned(),
            provider: provider.to_owned(),
            mean_micros,
            flops,
            ..LayerStats::default()
        };
        let layers = LayerReport::for_tests(
            vec![
                // 2 GFLOP in 20 ms: 100 GFLOP/s.
                node("conv", "CPUExecutionProvider", 20_000.0, Some(2e9)),
                // Faster, but too short to trust.
                node("tiny", "CPUExecutionProvider", 10.0, Some(1e7)),
                // On the GPU: launch times, not kernel times.
                node("gpu", "CUDAExecutionProvider", 100.0, Some(1e9)),
                node("relu", "CPUExecutionProvider", 500.0, None),
            ],
            1,
        );
        let fastest = fastest_cpu_node_gflops(&layers).expect("a node");
        assert!((fastest - 100.0).abs() < 1e-9, "{fastest}");
    }

    fn peaks(measured_at: &str) -> MachinePeaks {
        MachinePeaks {
            gflops_per_s: 123.5,
            gbytes_per_s: 9.75,
            provider: "CPU".to_owned(),
            threads: 2,
            method: "test".to_owned(),
            measured_at: measured_at.to_owned(),
        }
    }

    #[test]
    fn the_cache_round_trips_and_stays_bounded() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("sub").join(CACHE_FILE_NAME);
        assert_eq!(
            load_cache(&path).expect("missing is empty"),
            PeaksCache::default()
        );
        let key = cache_key("Some CPU", "CPU", 2);
        store_cache(&path, &key, &peaks("2026-01-01T00:00:00.000Z")).expect("store");
        let cache = load_cache(&path).expect("load");
        assert_eq!(
            cache.entries.get(&key),
            Some(&peaks("2026-01-01T00:00:00.000Z"))
        );
        for index in 0..(MAX_CACHE_ENTRIES + 5) {
            store_cache(
                &path,
                &cache_key(&format!("cpu {index}"), "CPU", 1),
                &peaks(&format!("2026-02-01T00:00:{:02}.{index:03}Z", index % 60)),
            )
            .expect("store");
        }
        let cache = load_cache(&path).expect("load");
        assert_eq!(cache.entries.len(), MAX_CACHE_ENTRIES);
        assert!(!cache.entries.contains_key(&key), "the oldest went first");

        std::fs::write(&path, "{not json").expect("write");
        assert!(load_cache(&path).is_err());
        // A broken cache is replaced on the next store.
        store_cache(&path, &key, &peaks("2026-03-01T00:00:00.000Z")).expect("store");
        assert_eq!(load_cache(&path).expect("load").entries.len(), 1);
    }

    #[test]
    fn the_models_decode_with_the_expected_graph() {
        let model =
            crate::model::Model::from_bytes(&matmul_chain_model(8, 3), None).expect("decodes");
        let graph = model.proto.graph.as_ref().expect("graph");
        let ops: Vec<&str> = graph
            .node
            .iter()
            .filter_map(|node| node.op_type.as_deref())
            .collect();
        assert_eq!(ops, ["Mul", "MatMul", "MatMul", "MatMul", "ReduceMax"]);
        assert_eq!(
            graph.initializer[1].raw_data.as_ref().map(Vec::len),
            Some(8 * 8 * 4)
        );
        let scale =
            crate::model::Model::from_bytes(&scale_reduce_model(16), None).expect("decodes");
        assert_eq!(scale.proto.graph.as_ref().map(|g| g.node.len()), Some(2));
    }

    #[test]
    fn memcpy_bandwidth_is_positive_and_finite() {
        let gbytes = measure_memcpy().expect("measured");
        assert!(gbytes.is_finite() && gbytes > 0.0, "{gbytes}");
    }
}
