//! Per-node memory from a stock ONNX Runtime build (checked on 1.31.1, CPU):
//!
//! - the session config key `session.collect_node_memory_stats_to_file`
//!   makes ONNX Runtime write a CSV, one row per node of the optimized graph
//!   (`#name,input_sizes,initializers_sizes,total_dynamic_sizes,
//!   total_temp_allocations`, the name followed by `_<hash>`): the bytes it
//!   allocates for outputs (`total_dynamic_sizes`) and for scratch space
//!   (`total_temp_allocations`);
//! - profile node events carry the arena allocator's statistics after each
//!   node (`mem_in_use_peak`, `mem_arena_held`, as strings of bytes), whose
//!   largest values are the session's peak arena use.
//!
//! Both are read after the separate profiling pass.

use serde::{Deserialize, Serialize};

/// Rows of the node memory file kept (the largest first).
pub const MAX_MEMORY_NODES: usize = 5_000;

/// A memory file or profile that could not be read.
#[derive(Debug, thiserror::Error)]
pub enum MemoryError {
    #[error("cannot read ONNX Runtime's node memory statistics: {source}: {}", path.display())]
    Read {
        source: std::io::Error,
        path: std::path::PathBuf,
    },
    #[error("ONNX Runtime's node memory statistics are not the expected CSV: line {line}: {text}")]
    Format { line: usize, text: String },
    #[error("the ONNX Runtime profile is not the expected JSON: {0}")]
    Profile(#[from] serde_json::Error),
}

/// What one optimized node allocates per run.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct NodeMemory {
    /// The optimized node's name (as in the layer table).
    pub node: String,
    /// Bytes of its outputs allocated by the node (`total_dynamic_sizes`).
    pub output_bytes: u64,
    /// Bytes of temporary (scratch) allocations (`total_temp_allocations`).
    pub temp_bytes: u64,
    /// Bytes of inputs it reads that are not weights (`input_sizes`).
    pub input_bytes: u64,
    /// Bytes of initializers it reads (`initializers_sizes`).
    pub initializer_bytes: u64,
}

/// Memory of a profiled session.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct MemoryReport {
    /// Per node, largest `output_bytes + temp_bytes` first.
    #[serde(default)]
    pub nodes: Vec<NodeMemory>,
    /// Rows left out beyond [`MAX_MEMORY_NODES`].
    #[serde(default)]
    pub dropped_nodes: usize,
    /// Highest bytes in use in the arena over the profiled runs.
    #[serde(default)]
    pub arena_peak_bytes: Option<u64>,
    /// Highest bytes the arena held (reserved) over the profiled runs.
    #[serde(default)]
    pub arena_held_bytes: Option<u64>,
    /// What could not be read, in words.
    #[serde(default)]
    pub note: Option<String>,
}

/// Parses ONNX Runtime's node memory statistics file.
pub fn parse_node_memory_csv(text: &str) -> Result<(Vec<NodeMemory>, usize), MemoryError> {
    let mut nodes = Vec::new();
    for (index, line) in text.lines().enumerate() {
        let line = line.trim();
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        let format_error = || MemoryError::Format {
            line: index + 1,
            text: line.chars().take(200).collect(),
        };
        // The name may hold commas; the four numbers are the last fields.
        let mut fields = line.rsplitn(5, ',');
        let mut number = || -> Result<u64, MemoryError> {
            fields
                .next()
                .and_then(|field| field.trim().parse().ok())
                .ok_or_else(format_error)
        };
        let temp_bytes = number()?;
        let output_bytes = number()?;
        let initializer_bytes = number()?;
        let input_bytes = number()?;
        let name = fields.next().ok_or_else(format_error)?;
        // ONNX Runtime appends `_<hash>` to the node name.
        let node = match name.rsplit_once('_') {
            Some((head, hash)) if !hash.is_empty() && hash.chars().all(|c| c.is_ascii_digit()) => {
                head
            }
            _ => name,
        };
        nodes.push(NodeMemory {
            node: node.to_owned(),
            output_bytes,
            temp_bytes,
            input_bytes,
            initializer_bytes,
        });
    }
    nodes.sort_by(|a, b| {
        (b.output_bytes + b.temp_bytes)
            .cmp(&(a.output_bytes + a.temp_bytes))
            .then_with(|| a.node.cmp(&b.node))
    });
    let dropped = nodes.len().saturating_sub(MAX_MEMORY_NODES);
    nodes.truncate(MAX_MEMORY_NODES);
    Ok((nodes, dropped))
}

#[derive(Deserialize)]
struct ProfileEvent {
    #[serde(default)]
    cat: String,
    #[serde(default)]
    args: ArenaArgs,
}

#[derive(Default, Deserialize)]
struct ArenaArgs {
    #[serde(default)]
    mem_in_use_peak: Option<String>,
    #[serde(default)]
    mem_arena_held: Option<String>,
}

/// The highest arena peak in use and arena held over a profile's node
/// events, in bytes; `None` where the profile has no such fields.
pub fn arena_from_profile(json: &str) -> Result<(Option<u64>, Option<u64>), MemoryError> {
    let events: Vec<ProfileEvent> = serde_json::from_str(json)?;
    let max_of = |field: fn(&ArenaArgs) -> &Option<String>| {
        events
            .iter()
            .filter(|event| event.cat == "Node")
            .filter_map(|event| field(&event.args).as_deref()?.parse::<u64>().ok())
            .max()
    };
    Ok((
        max_of(|args| &args.mem_in_use_peak),
        max_of(|args| &args.mem_arena_held),
    ))
}

/// Reads the node memory file and the profile into a report; what cannot
/// be read becomes the note.
pub fn read_memory_report(memory_csv: &std::path::Path, profile_json: &str) -> MemoryReport {
    let mut report = MemoryReport::default();
    let mut notes = Vec::new();
    match std::fs::read_to_string(memory_csv)
        .map_err(|source| MemoryError::Read {
            source,
            path: memory_csv.to_path_buf(),
        })
        .and_then(|text| parse_node_memory_csv(&text))
    {
        Ok((nodes, dropped)) => {
            report.nodes = nodes;
            report.dropped_nodes = dropped;
        }
        Err(err) => notes.push(format!("{err:#}")),
    }
    match arena_from_profile(profile_json) {
        Ok((peak, held)) => {
            report.arena_peak_bytes = peak;
            report.arena_held_bytes = held;
            if peak.is_none() {
                notes.push("the profile has no arena statistics".to_owned());
            }
        }
        Err(err) => notes.push(format!("{err:#}")),
    }
    if !notes.is_empty() {
        report.note = Some(notes.join("; "));
    }
    report
}

/// The memory lines of the text report.
pub fn summary_lines(report: &MemoryReport) -> Vec<String> {
    let bytes = |value: u64| crate::util::format_bytes(value);
    let mut lines = Vec::new();
    let arena = match (report.arena_peak_bytes, report.arena_held_bytes) {
        (Some(peak), Some(held)) => {
            format!("arena peak {} in use, {} held", bytes(peak), bytes(held))
        }
        (Some(peak), None) => format!("arena peak {} in use", bytes(peak)),
        _ => "no arena statistics".to_owned(),
    };
    let outputs: u64 = report.nodes.iter().map(|node| node.output_bytes).sum();
    let temps: u64 = report.nodes.iter().map(|node| node.temp_bytes).sum();
    lines.push(format!(
        "memory: {arena}; per run, nodes allocate {} of outputs and {} of scratch",
        bytes(outputs),
        bytes(temps)
    ));
    let top: Vec<String> = report
        .nodes
        .iter()
        .take(5)
        .filter(|node| node.output_bytes + node.temp_bytes > 0)
        .map(|node| {
            if node.temp_bytes > 0 {
                format!(
                    "{} {} + {} scratch",
                    node.node,
                    bytes(node.output_bytes),
                    bytes(node.temp_bytes)
                )
            } else {
                format!("{} {}", node.node, bytes(node.output_bytes))
            }
        })
        .collect();
    if !top.is_empty() {
        lines.push(format!("largest: {}", top.join(", ")));
    }
    if let Some(note) = &report.note {
        lines.push(format!("memory note: {note}"));
    }
    lines
}

#[cfg(test)]
mod tests {
    use super::*;

    /// As ONNX Runtime 1.31.1 wrote it for `fusion_conv_bn_relu.onnx`.
    const CSV: &str =
        "#name,input_sizes,initializers_sizes,total_dynamic_sizes,total_temp_allocations
gap_nchwc_12704137613803165186,0,0,256,0
r2_nchwc_10888082743803164663,9280,0,65536,0
r1_nchwc_1785315446469665023,14080,0,65536,0
fc_matmul/MatMulAddFusion_13836939550263154949,104,0,256,32
flatten_2049925297382293377,0,0,0,0
";

    #[test]
    fn node_memory_csv_is_parsed_largest_first_without_the_hash() {
        let (nodes, dropped) = parse_node_memory_csv(CSV).expect("parsed");
        assert_eq!(dropped, 0);
        assert_eq!(nodes.len(), 5);
        assert_eq!(nodes[0].node, "r1_nchwc");
        assert_eq!(nodes[0].output_bytes, 65536);
        assert_eq!(nodes[0].input_bytes, 14080);
        let gemm = nodes
            .iter()
            .find(|node| node.node == "fc_matmul/MatMulAddFusion")
            .expect("gemm");
        assert_eq!((gemm.output_bytes, gemm.temp_bytes), (256, 32));
        let err = parse_node_memory_csv("x,1,2\n").expect_err("short line");
        assert!(err.to_string().contains("line 1"), "{err}");
    }

    #[test]
    fn arena_peaks_are_the_largest_node_event_values() {
        let json = r#"[
            {"cat":"Session","name":"model_run","args":{}},
            {"cat":"Node","name":"a_kernel_time","args":{"mem_in_use_peak":"66728","mem_arena_held":"1049768"}},
            {"cat":"Node","name":"b_kernel_time","args":{"mem_in_use_peak":"90000","mem_arena_held":"1049768"}},
            {"cat":"Node","name":"c_kernel_time","args":{"thread_scheduling_stats":""}}
        ]"#;
        assert_eq!(
            arena_from_profile(json).expect("parsed"),
            (Some(90000), Some(1049768))
        );
        assert_eq!(arena_from_profile("[]").expect("parsed"), (None, None));
    }

    #[test]
    fn summary_names_the_peak_and_the_largest_nodes() {
        let (nodes, _) = parse_node_memory_csv(CSV).expect("parsed");
        let report = MemoryReport {
            nodes,
            arena_peak_bytes: Some(90_000),
            arena_held_bytes: Some(1_049_768),
            ..MemoryReport::default()
        };
        let lines = summary_lines(&report);
        assert!(lines[0].starts_with("memory: arena peak"), "{lines:?}");
        assert!(lines[1].starts_with("largest: r1_nchwc"), "{lines:?}");
        assert!(lines[1].contains("scratch"), "{lines:?}");
    }
}
