//! Attributing GPU kernel time to ONNX nodes.
//!
//! On the CUDA execution provider, ONNX Runtime's node events time the
//! host-side launch, not the GPU work. The GPU work comes from CUPTI's
//! activity records: each kernel carries a correlation id that links it to
//! the runtime API call (`cudaLaunchKernel` and friends) that launched it, on
//! a host thread, at a host time. A kernel belongs to the ONNX node whose
//! launch window, on that same thread, contains that API call.
//!
//! This module is the attribution logic only, over recorded timelines; it
//! needs no GPU and is tested on recorded data. All times are nanoseconds on
//! one clock (CUPTI timestamps and the node windows converted to it).

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

pub use crate::telemetry::activity::{KernelRecord, LaunchCall};

/// One node execution as seen on the host: its launch window.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NodeWindow {
    pub node: String,
    pub thread_id: u64,
    pub start_nanos: u64,
    pub end_nanos: u64,
}

/// GPU time of one node, next to its launch time.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct NodeGpuTime {
    pub node: String,
    pub kernels: u64,
    pub gpu_nanos: u64,
    /// Summed host launch windows of the node.
    pub launch_nanos: u64,
}

/// The attribution of a set of kernels.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct GpuAttribution {
    /// Sorted by GPU time, largest first.
    pub nodes: Vec<NodeGpuTime>,
    /// Kernels whose launch fell in no node window (e.g. ORT's own copies).
    pub unattributed_kernels: u64,
    pub unattributed_nanos: u64,
    /// Time at least one kernel was running (union of kernel intervals).
    pub gpu_busy_nanos: u64,
}

impl GpuAttribution {
    /// GPU time attributed to nodes, summed.
    pub fn attributed_nanos(&self) -> u64 {
        self.nodes.iter().map(|node| node.gpu_nanos).sum()
    }

    /// GPU time of one node, if any kernel was attributed to it.
    pub fn gpu_nanos_of(&self, node: &str) -> Option<u64> {
        self.nodes
            .iter()
            .find(|entry| entry.node == node)
            .map(|entry| entry.gpu_nanos)
    }
}

/// Attributes each kernel to the node whose window on the launching thread
/// contains the launch call.
pub fn attribute_kernels(
    windows: &[NodeWindow],
    launches: &[LaunchCall],
    kernels: &[KernelRecord],
) -> GpuAttribution {
    let mut by_thread: BTreeMap<u64, Vec<&NodeWindow>> = BTreeMap::new();
    for window in windows {
        by_thread.entry(window.thread_id).or_default().push(window);
    }
    for list in by_thread.values_mut() {
        list.sort_by_key(|window| window.start_nanos);
    }
    let launch_by_correlation: BTreeMap<u32, &LaunchCall> = launches
        .iter()
        .map(|launch| (launch.correlation_id, launch))
        .collect();

    let mut per_node: BTreeMap<&str, NodeGpuTime> = BTreeMap::new();
    for window in windows {
        let entry = per_node
            .entry(window.node.as_str())
            .or_insert_with(|| NodeGpuTime {
                node: window.node.clone(),
                kernels: 0,
                gpu_nanos: 0,
                launch_nanos: 0,
            });
        entry.launch_nanos += window.end_nanos.saturating_sub(window.start_nanos);
    }
    let mut unattributed_kernels = 0;
    let mut unattributed_nanos = 0;
    for kernel in kernels {
        let duration = kernel.end_nanos.saturating_sub(kernel.start_nanos);
        let owner = launch_by_correlation
            .get(&kernel.correlation_id)
            .and_then(|launch| {
                let list = by_thread.get(&launch.thread_id)?;
                // The last window starting at or before the launch, if it still contains it.
                let index = list.partition_point(|window| window.start_nanos <= launch.start_nanos);
                let window = list.get(index.checked_sub(1)?)?;
                (launch.start_nanos <= window.end_nanos).then_some(window.node.as_str())
            });
        match owner.and_then(|node| per_node.get_mut(node)) {
            Some(entry) => {
                entry.kernels += 1;
                entry.gpu_nanos += duration;
            }
            None => {
                unattributed_kernels += 1;
                unattributed_nanos += duration;
            }
        }
    }
    let mut nodes: Vec<NodeGpuTime> = per_node.into_values().collect();
    nodes.sort_by(|a, b| {
        b.gpu_nanos
            .cmp(&a.gpu_nanos)
            .then_with(|| a.node.cmp(&b.node))
    });
    GpuAttribution {
        nodes,
        unattributed_kernels,
        unattributed_nanos,
        gpu_busy_nanos: busy_nanos(kernels),
    }
}

/// Maps each CUPTI thread id to the profile thread id whose windows contain
/// most of its launches, and rewrites the launches with it. CUPTI and ONNX
/// Runtime may number threads differently (OS thread id or `pthread_self`);
/// the time windows decide. Launches of threads that match no window keep
/// their id.
pub fn align_threads(windows: &[NodeWindow], launches: &[LaunchCall]) -> Vec<LaunchCall> {
    let mut by_thread: BTreeMap<u64, Vec<(u64, u64)>> = BTreeMap::new();
    for window in windows {
        by_thread
            .entry(window.thread_id)
            .or_default()
            .push((window.start_nanos, window.end_nanos));
    }
    for list in by_thread.values_mut() {
        list.sort_unstable();
    }
    let contains = |list: &[(u64, u64)], at: u64| {
        let index = list.partition_point(|(start, _)| *start <= at);
        index
            .checked_sub(1)
            .and_then(|i| list.get(i))
            .is_some_and(|(_, end)| at <= *end)
    };
    // votes[cupti thread][profile thread] = launches contained.
    let mut votes: BTreeMap<u64, BTreeMap<u64, u64>> = BTreeMap::new();
    for launch in launches {
        for (thread, list) in &by_thread {
            if contains(list, launch.start_nanos) {
                *votes
                    .entry(launch.thread_id)
                    .or_default()
                    .entry(*thread)
                    .or_default() += 1;
            }
        }
    }
    let mapping: BTreeMap<u64, u64> = votes
        .into_iter()
        .filter_map(|(cupti_thread, counts)| {
            counts
                .into_iter()
                .max_by_key(|(thread, count)| (*count, std::cmp::Reverse(*thread)))
                .map(|(thread, _)| (cupti_thread, thread))
        })
        .collect();
    launches
        .iter()
        .map(|launch| LaunchCall {
            thread_id: mapping
                .get(&launch.thread_id)
                .copied()
                .unwrap_or(launch.thread_id),
            ..*launch
        })
        .collect()
}

/// Attributes with the clock offset (added to the windows) that explains the
/// most kernels, out of `offsets`. Returns the attribution and the offset.
pub fn attribute_with_best_offset(
    windows: &[NodeWindow],
    launches: &[LaunchCall],
    kernels: &[KernelRecord],
    offsets: &[i128],
) -> Option<(GpuAttribution, i128)> {
    offsets
        .iter()
        .map(|offset| {
            let shifted: Vec<NodeWindow> = windows
                .iter()
                .map(|window| NodeWindow {
                    start_nanos: shift(window.start_nanos, *offset),
                    end_nanos: shift(window.end_nanos, *offset),
                    ..window.clone()
                })
                .collect();
            let aligned = align_threads(&shifted, launches);
            (attribute_kernels(&shifted, &aligned, kernels), *offset)
        })
        .max_by_key(|(attribution, _)| {
            attribution
                .nodes
                .iter()
                .map(|node| node.kernels)
                .sum::<u64>()
        })
}

fn shift(value: u64, offset: i128) -> u64 {
    u64::try_from((i128::from(value) + offset).max(0)).unwrap_or(u64::MAX)
}

/// Length of the union of the kernels' intervals.
pub fn busy_nanos(kernels: &[KernelRecord]) -> u64 {
    let mut intervals: Vec<(u64, u64)> = kernels
        .iter()
        .map(|k| (k.start_nanos, k.end_nanos.max(k.start_nanos)))
        .collect();
    intervals.sort_unstable();
    let mut total = 0;
    let mut current: Option<(u64, u64)> = None;
    for (start, end) in intervals {
        current = match current {
            Some((open_start, open_end)) if start <= open_end => {
                Some((open_start, open_end.max(end)))
            }
            Some((open_start, open_end)) => {
                total += open_end - open_start;
                Some((start, end))
            }
            None => Some((start, end)),
        };
    }
    if let Some((start, end)) = current {
        total += end - start;
    }
    total
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn threads_are_matched_by_their_windows_and_the_clock_by_its_offset() {
        // Profile thread 7 ran two nodes; CUPTI calls the same thread 99 and
        // its clock is 1 000 000 ns ahead.
        let windows = vec![
            NodeWindow {
                node: "conv".into(),
                thread_id: 7,
                start_nanos: 100,
                end_nanos: 200,
            },
            NodeWindow {
                node: "gemm".into(),
                thread_id: 7,
                start_nanos: 300,
                end_nanos: 400,
            },
        ];
        let launches = vec![
            LaunchCall {
                correlation_id: 1,
                thread_id: 99,
                start_nanos: 1_000_150,
            },
            LaunchCall {
                correlation_id: 2,
                thread_id: 99,
                start_nanos: 1_000_350,
            },
        ];
        let kernels = vec![
            KernelRecord {
                name: "k1".into(),
                correlation_id: 1,
                start_nanos: 1_000_500,
                end_nanos: 1_000_900,
            },
            KernelRecord {
                name: "k2".into(),
                correlation_id: 2,
                start_nanos: 1_000_900,
                end_nanos: 1_001_000,
            },
        ];
        let (attribution, offset) =
            attribute_with_best_offset(&windows, &launches, &kernels, &[0, 1_000_000])
                .expect("an offset");
        assert_eq!(offset, 1_000_000);
        assert_eq!(attribution.unattributed_kernels, 0);
        assert_eq!(attribution.nodes[0].node, "conv");
        assert_eq!(attribution.nodes[0].gpu_nanos, 400);
        assert_eq!(attribution.nodes[1].gpu_nanos, 100);
        assert_eq!(attribution.gpu_busy_nanos, 500);
        // Without the offset nothing lines up.
        let (wrong, _) =
            attribute_with_best_offset(&windows, &launches, &kernels, &[0]).expect("an offset");
        assert_eq!(wrong.unattributed_kernels, 2);
    }

    fn window(node: &str, thread_id: u64, start: u64, end: u64) -> NodeWindow {
        NodeWindow {
            node: node.to_owned(),
            thread_id,
            start_nanos: start,
            end_nanos: end,
        }
    }

    fn kernel(name: &str, correlation_id: u32, start: u64, end: u64) -> KernelRecord {
        KernelRecord {
            name: name.to_owned(),
            correlation_id,
            start_nanos: start,
            end_nanos: end,
        }
    }

    /// A recorded shape: two runs on two threads. Kernels run on the GPU after
    /// their launches, often after the node's host window has closed; they
    /// must still go to the node that launched them, on the right thread.
    #[test]
    fn kernels_go_to_the_node_that_launched_them() {
        let windows = [
            window("conv1", 1, 100, 120),
            window("relu1", 1, 121, 125),
            window("gemm", 1, 126, 140),
            window("conv1", 2, 100, 118), // another worker, same node name, overlapping times
        ];
        let launches = [
            LaunchCall {
                correlation_id: 1,
                thread_id: 1,
                start_nanos: 110,
            },
            LaunchCall {
                correlation_id: 2,
                thread_id: 1,
                start_nanos: 122,
            },
            LaunchCall {
                correlation_id: 3,
                thread_id: 1,
                start_nanos: 130,
            },
            LaunchCall {
                correlation_id: 4,
                thread_id: 2,
                start_nanos: 105,
            },
            LaunchCall {
                correlation_id: 5,
                thread_id: 1,
                start_nanos: 500, // after every window: a memcpy of ORT's own
            },
        ];
        let kernels = [
            kernel("implicit_gemm", 1, 200, 400),
            kernel("relu_kernel", 2, 400, 410),
            kernel("sgemm", 3, 410, 470),
            kernel("implicit_gemm", 4, 470, 660),
            kernel("memcpy", 5, 700, 705),
            kernel("orphan", 99, 710, 712), // no launch record
        ];
        let attribution = attribute_kernels(&windows, &launches, &kernels);
        let by_name: BTreeMap<&str, &NodeGpuTime> = attribution
            .nodes
            .iter()
            .map(|n| (n.node.as_str(), n))
            .collect();
        assert_eq!(by_name["conv1"].kernels, 2);
        assert_eq!(by_name["conv1"].gpu_nanos, 200 + 190);
        assert_eq!(by_name["conv1"].launch_nanos, 20 + 18);
        assert_eq!(by_name["relu1"].gpu_nanos, 10);
        assert_eq!(by_name["gemm"].gpu_nanos, 60);
        assert_eq!(attribution.unattributed_kernels, 2);
        assert_eq!(attribution.unattributed_nanos, 7);
        assert_eq!(attribution.nodes[0].node, "conv1", "sorted by GPU time");
        // Busy time: 200..660 contiguous, plus 700..705 and 710..712.
        assert_eq!(attribution.gpu_busy_nanos, 460 + 5 + 2);
        assert_eq!(
            attribution.attributed_nanos() + attribution.unattributed_nanos,
            460 + 5 + 2
        );
        assert_eq!(attribution.gpu_nanos_of("gemm"), Some(60));
        assert_eq!(attribution.gpu_nanos_of("absent"), None);
    }

    #[test]
    fn busy_time_merges_overlapping_kernels() {
        let kernels = [
            kernel("a", 1, 0, 10),
            kernel("b", 2, 5, 15),
            kernel("c", 3, 20, 25),
        ];
        assert_eq!(busy_nanos(&kernels), 15 + 5);
        assert_eq!(busy_nanos(&[]), 0);
    }
}
