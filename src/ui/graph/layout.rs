//! A layered (Sugiyama) layout of a directed graph, pure and deterministic:
//! longest-path layering (sources pulled down next to their first consumer),
//! dummy nodes on edges that span several layers, barycenter crossing
//! reduction (a few down and up sweeps, the best order kept), and a
//! coordinate assignment that pulls each node towards its neighbours'
//! barycenter without overlaps.
//!
//! Positions are in layout units: `order` along a layer, `layer` across
//! layers. The view maps them to top-to-bottom or left-to-right.

/// What the layout is asked for.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct LayoutParams {
    /// Extent of a real node along its layer, in layout units.
    pub node_extent: f32,
    /// Extent of a dummy (edge bend) node along its layer.
    pub dummy_extent: f32,
    /// Space between neighbours in a layer.
    pub gap: f32,
    /// Crossing-reduction sweeps (each one down and one up).
    pub sweeps: usize,
}

impl Default for LayoutParams {
    fn default() -> Self {
        Self {
            node_extent: 150.0,
            dummy_extent: 8.0,
            gap: 24.0,
            sweeps: 4,
        }
    }
}

/// An edge as laid out: `(from, to, points)`, `points` being `(layer,
/// order_pos)` from the source to the target, one per layer.
pub type LaidEdge = (usize, usize, Vec<(usize, f32)>);

/// The result: a layer and a position along it for each node, and each
/// edge as the positions it passes through (one per layer it crosses).
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Layout {
    /// Layer of each input node (0 at the top).
    pub layer: Vec<usize>,
    /// Centre of each input node along its layer.
    pub order_pos: Vec<f32>,
    /// Each input edge (in input order, self loops and duplicates dropped)
    /// as `(from, to, points)`: `points` are `(layer, order_pos)` from the
    /// source to the target, one per layer.
    pub edges: Vec<LaidEdge>,
    /// Number of layers.
    pub layers: usize,
    /// Dummy nodes added where edges span several layers.
    pub dummies: usize,
    /// Edge crossings of the initial order (before reduction).
    pub crossings_initial: u64,
    /// Edge crossings of the final order.
    pub crossings_final: u64,
}

/// A node of the layered graph: a real node or a bend of a long edge.
#[derive(Debug, Clone, Copy)]
struct Item {
    layer: usize,
    is_dummy: bool,
}

/// Lays out `node_count` nodes joined by `edges` (`from → to`). Edges that
/// close a cycle are reversed for the layering; the result is the same for
/// the same input.
pub fn layout(node_count: usize, edges: &[(usize, usize)], params: LayoutParams) -> Layout {
    let edges = clean_edges(node_count, edges);
    let layer = assign_layers(node_count, &edges);
    let layers = layer.iter().max().map_or(0, |max| max + 1);

    // Items (real nodes first, then dummies) and the edges between
    // neighbouring layers.
    let mut items: Vec<Item> = layer
        .iter()
        .map(|&layer| Item {
            layer,
            is_dummy: false,
        })
        .collect();
    let mut chains: Vec<Vec<usize>> = Vec::with_capacity(edges.len());
    let mut down: Vec<Vec<usize>> = vec![Vec::new(); node_count];
    let mut up: Vec<Vec<usize>> = vec![Vec::new(); node_count];
    for &(from, to) in &edges {
        let (top, bottom) = if layer[from] < layer[to] {
            (from, to)
        } else {
            (to, from)
        };
        let mut chain = vec![top];
        for dummy_layer in layer[top] + 1..layer[bottom] {
            items.push(Item {
                layer: dummy_layer,
                is_dummy: true,
            });
            down.push(Vec::new());
            up.push(Vec::new());
            chain.push(items.len() - 1);
        }
        chain.push(bottom);
        for pair in chain.windows(2) {
            if let [a, b] = *pair {
                down[a].push(b);
                up[b].push(a);
            }
        }
        if top == from {
            chains.push(chain);
        } else {
            chain.reverse();
            chains.push(chain);
        }
    }

    // Initial order: by first appearance in a depth-first walk from the
    // sources, so connected nodes start close.
    let mut rank: Vec<Vec<usize>> = vec![Vec::new(); layers];
    let mut placed = vec![false; items.len()];
    for start in 0..items.len() {
        if placed[start] || !up[start].is_empty() && start < node_count {
            continue;
        }
        let mut stack = vec![start];
        while let Some(item) = stack.pop() {
            if placed[item] {
                continue;
            }
            placed[item] = true;
            if let Some(row) = rank.get_mut(items[item].layer) {
                row.push(item);
            }
            for &next in down[item].iter().rev() {
                if !placed[next] {
                    stack.push(next);
                }
            }
        }
    }
    for (item, done) in placed.iter().enumerate() {
        if !done && let Some(row) = rank.get_mut(items[item].layer) {
            row.push(item);
        }
    }

    let crossings_initial = count_crossings(&rank, &down, items.len());
    let mut best = rank.clone();
    let mut best_crossings = crossings_initial;
    let mut position = vec![0usize; items.len()];
    for row in &rank {
        for (slot, &item) in row.iter().enumerate() {
            position[item] = slot;
        }
    }
    for _ in 0..params.sweeps {
        for index in 1..rank.len() {
            reorder(&mut rank, index, &up, &mut position);
        }
        for index in (0..rank.len().saturating_sub(1)).rev() {
            reorder(&mut rank, index, &down, &mut position);
        }
        let crossings = count_crossings(&rank, &down, items.len());
        if crossings < best_crossings {
            best_crossings = crossings;
            best.clone_from(&rank);
        }
    }

    let extent = |item: usize| {
        if items[item].is_dummy {
            params.dummy_extent
        } else {
            params.node_extent
        }
    };
    let coords = assign_coordinates(&best, &up, &down, extent, params.gap, items.len());

    Layout {
        layer,
        order_pos: coords[..node_count].to_vec(),
        edges: chains
            .into_iter()
            .map(|chain| {
                let from = chain.first().copied().unwrap_or_default();
                let to = chain.last().copied().unwrap_or_default();
                let points = chain
                    .iter()
                    .map(|&item| (items[item].layer, coords[item]))
                    .collect();
                (from, to, points)
            })
            .collect(),
        layers,
        dummies: items.len() - node_count,
        crossings_initial,
        crossings_final: best_crossings,
    }
}

/// Drops self loops, out-of-range ends and duplicates; keeps input order.
fn clean_edges(node_count: usize, edges: &[(usize, usize)]) -> Vec<(usize, usize)> {
    let mut seen = std::collections::HashSet::new();
    edges
        .iter()
        .copied()
        .filter(|&(from, to)| from != to && from < node_count && to < node_count)
        .filter(|edge| seen.insert(*edge))
        .collect()
}

/// Longest path from the sources (Kahn's order; nodes on a cycle are taken
/// in index order once nothing else is ready, so a cycle cannot stall it),
/// then every node moved down to just above its highest consumer.
fn assign_layers(node_count: usize, edges: &[(usize, usize)]) -> Vec<usize> {
    let mut outgoing: Vec<Vec<usize>> = vec![Vec::new(); node_count];
    let mut indegree = vec![0usize; node_count];
    for &(from, to) in edges {
        outgoing[from].push(to);
        indegree[to] += 1;
    }
    let mut layer = vec![0usize; node_count];
    let mut done = vec![false; node_count];
    let mut ready: std::collections::BinaryHeap<std::cmp::Reverse<usize>> = (0..node_count)
        .filter(|&node| indegree[node] == 0)
        .map(std::cmp::Reverse)
        .collect();
    let mut next_stuck = 0;
    let mut finished = 0;
    let mut order = Vec::with_capacity(node_count);
    while finished < node_count {
        let node = if let Some(std::cmp::Reverse(node)) = ready.pop() {
            node
        } else {
            // A cycle: take the lowest index not done yet.
            while next_stuck < node_count && done[next_stuck] {
                next_stuck += 1;
            }
            next_stuck
        };
        if node >= node_count || done[node] {
            continue;
        }
        done[node] = true;
        finished += 1;
        order.push(node);
        for &next in &outgoing[node] {
            if done[next] {
                continue;
            }
            layer[next] = layer[next].max(layer[node] + 1);
            indegree[next] = indegree[next].saturating_sub(1);
            if indegree[next] == 0 {
                ready.push(std::cmp::Reverse(next));
            }
        }
    }
    // Pull every node down to just above its highest consumer (consumers
    // first), so weights and side inputs sit next to where they are used
    // instead of drawing long edges from the top.
    for &node in order.iter().rev() {
        let lowest = outgoing[node]
            .iter()
            .map(|&next| layer[next])
            .filter(|&next_layer| next_layer > layer[node])
            .min();
        let has_backward = outgoing[node]
            .iter()
            .any(|&next| layer[next] <= layer[node]);
        if let Some(lowest) = lowest
            && !has_backward
        {
            layer[node] = layer[node].max(lowest - 1);
        }
    }
    layer
}

/// Orders layer `index` by the barycenter of each item's neighbours in the
/// adjacent layer (`neighbours`); items without neighbours keep their slot.
/// `position` holds every item's slot in its layer and is kept up to date.
fn reorder(
    rank: &mut [Vec<usize>],
    index: usize,
    neighbours: &[Vec<usize>],
    position: &mut [usize],
) {
    let Some(row) = rank.get_mut(index) else {
        return;
    };
    let mut keyed: Vec<(f64, usize, usize)> = row
        .iter()
        .enumerate()
        .map(|(slot, &item)| {
            let list = &neighbours[item];
            let key = if list.is_empty() {
                slot as f64
            } else {
                list.iter().map(|&n| position[n] as f64).sum::<f64>() / list.len() as f64
            };
            (key, slot, item)
        })
        .collect();
    keyed.sort_by(|a, b| a.0.total_cmp(&b.0).then(a.1.cmp(&b.1)));
    *row = keyed.into_iter().map(|(_, _, item)| item).collect();
    for (slot, &item) in row.iter().enumerate() {
        position[item] = slot;
    }
}

/// Edge crossings between all neighbouring layers (accumulator tree,
/// O(E log V) per layer pair).
pub fn count_crossings(rank: &[Vec<usize>], down: &[Vec<usize>], item_count: usize) -> u64 {
    let mut position = vec![0usize; item_count];
    for row in rank {
        for (slot, &item) in row.iter().enumerate() {
            position[item] = slot;
        }
    }
    let mut total = 0u64;
    for pair in rank.windows(2) {
        let [top, bottom] = pair else { continue };
        let mut ends: Vec<(usize, usize)> = Vec::new();
        for &item in top {
            for &next in &down[item] {
                ends.push((position[item], position[next]));
            }
        }
        ends.sort_unstable();
        let size = bottom.len().max(1);
        let mut tree = vec![0u64; size + 1];
        for (inserted, (_, end)) in ends.into_iter().enumerate() {
            let inserted = inserted as u64;
            // Edges already inserted that end strictly right of `end` cross it.
            let mut at_most = 0u64;
            let mut index = end + 1;
            while index > 0 {
                at_most += tree[index];
                index -= index & index.wrapping_neg();
            }
            total += inserted - at_most;
            let mut index = end + 1;
            while index <= size {
                tree[index] += 1;
                index += index & index.wrapping_neg();
            }
        }
    }
    total
}

/// Places each layer's items in order, a few passes pulling each towards
/// the mean position of its neighbours, overlaps resolved by a left and a
/// right pass averaged.
fn assign_coordinates(
    rank: &[Vec<usize>],
    up: &[Vec<usize>],
    down: &[Vec<usize>],
    extent: impl Fn(usize) -> f32,
    gap: f32,
    item_count: usize,
) -> Vec<f32> {
    let mut coord = vec![0.0f32; item_count];
    let widest = rank
        .iter()
        .map(|row| row.iter().map(|&item| extent(item) + gap).sum::<f32>())
        .fold(0.0f32, f32::max);
    for row in rank {
        let width: f32 = row.iter().map(|&item| extent(item) + gap).sum();
        let mut x = (widest - width) / 2.0;
        for &item in row {
            coord[item] = x + extent(item) / 2.0;
            x += extent(item) + gap;
        }
    }
    for pass in 0..6 {
        let (order, neighbours): (Vec<usize>, &[Vec<usize>]) = if pass % 2 == 0 {
            ((0..rank.len()).collect(), up)
        } else {
            ((0..rank.len()).rev().collect(), down)
        };
        for index in order {
            let Some(row) = rank.get(index) else { continue };
            let desired: Vec<f32> = row
                .iter()
                .map(|&item| {
                    let list = &neighbours[item];
                    if list.is_empty() {
                        coord[item]
                    } else {
                        list.iter().map(|&n| coord[n]).sum::<f32>() / list.len() as f32
                    }
                })
                .collect();
            let mut left = desired.clone();
            for slot in 1..row.len() {
                let min = left[slot - 1] + (extent(row[slot - 1]) + extent(row[slot])) / 2.0 + gap;
                left[slot] = left[slot].max(min);
            }
            let mut right = desired;
            for slot in (0..row.len().saturating_sub(1)).rev() {
                let max = right[slot + 1] - (extent(row[slot + 1]) + extent(row[slot])) / 2.0 - gap;
                right[slot] = right[slot].min(max);
            }
            let mut merged: Vec<f32> = left
                .iter()
                .zip(&right)
                .map(|(l, r)| (l + r) / 2.0)
                .collect();
            // Averaging two non-overlapping placements can overlap again
            // where they disagree: one more left pass.
            for slot in 1..row.len() {
                let min =
                    merged[slot - 1] + (extent(row[slot - 1]) + extent(row[slot])) / 2.0 + gap;
                merged[slot] = merged[slot].max(min);
            }
            for (slot, &item) in row.iter().enumerate() {
                coord[item] = merged[slot];
            }
        }
    }
    coord
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A fixture with crossings in its input order: two interleaved
    /// diamonds and a long skip edge.
    fn fixture() -> (usize, Vec<(usize, usize)>) {
        let edges = vec![
            (0, 3),
            (1, 2),
            (0, 4),
            (1, 5),
            (2, 6),
            (3, 7),
            (4, 6),
            (5, 7),
            (6, 8),
            (7, 9),
            (0, 9),
            (8, 10),
            (9, 10),
            (2, 7),
            (3, 6),
        ];
        (11, edges)
    }

    #[test]
    fn every_edge_goes_down_at_least_one_layer() {
        let (count, edges) = fixture();
        let result = layout(count, &edges, LayoutParams::default());
        for &(from, to) in &edges {
            assert!(
                result.layer[to] > result.layer[from],
                "{from}->{to}: {} -> {}",
                result.layer[from],
                result.layer[to]
            );
        }
        // Long edges pass through one point per layer.
        for (from, to, points) in &result.edges {
            assert_eq!(points.len(), result.layer[*to] - result.layer[*from] + 1);
        }
    }

    #[test]
    fn the_layout_is_deterministic() {
        let (count, edges) = fixture();
        let first = layout(count, &edges, LayoutParams::default());
        for _ in 0..3 {
            assert_eq!(layout(count, &edges, LayoutParams::default()), first);
        }
    }

    #[test]
    fn crossing_reduction_removes_crossings_of_the_initial_order() {
        let (count, edges) = fixture();
        let result = layout(count, &edges, LayoutParams::default());
        assert!(
            result.crossings_initial > 0,
            "the fixture must start crossed"
        );
        assert!(
            result.crossings_final < result.crossings_initial,
            "{} -> {}",
            result.crossings_initial,
            result.crossings_final
        );
    }

    #[test]
    fn nodes_in_a_layer_do_not_overlap() {
        let (count, edges) = fixture();
        let params = LayoutParams::default();
        let result = layout(count, &edges, params);
        for a in 0..count {
            for b in a + 1..count {
                if result.layer[a] == result.layer[b] {
                    let distance = (result.order_pos[a] - result.order_pos[b]).abs();
                    assert!(
                        distance >= params.node_extent + params.gap - 0.01,
                        "{a} {b}"
                    );
                }
            }
        }
    }

    #[test]
    fn counting_crossings_matches_a_hand_count() {
        // Two layers, 0 1 over 2 3, edges 0-3 and 1-2 cross once.
        let rank = vec![vec![0, 1], vec![2, 3]];
        let down = vec![vec![3], vec![2], vec![], vec![]];
        assert_eq!(count_crossings(&rank, &down, 4), 1);
        let down = vec![vec![2], vec![3], vec![], vec![]];
        assert_eq!(count_crossings(&rank, &down, 4), 0);
    }

    #[test]
    fn cycles_and_bad_edges_do_not_stall_it() {
        let edges = [(0, 1), (1, 2), (2, 0), (2, 2), (5, 1), (1, 3)];
        let result = layout(4, &edges, LayoutParams::default());
        assert_eq!(result.layer.len(), 4);
        assert!(result.edges.len() <= 4);
    }

    #[test]
    fn sources_sit_just_above_their_consumer() {
        // 0 → 1 → 2 → 3, and a constant 4 feeding 3 only.
        let edges = [(0, 1), (1, 2), (2, 3), (4, 3)];
        let result = layout(5, &edges, LayoutParams::default());
        assert_eq!(result.layer[4], result.layer[3] - 1);
    }
}
