//! Long linear chains (single-input, single-output nodes one after the
//! other) and the graph as shown, with some chains collapsed into one box.

use std::collections::{BTreeSet, HashMap};

use super::{
    layout::{Layout, LayoutParams, layout},
    model_graph::{ModelGraph, NodeKind},
};

/// Chains shorter than this are never collapsed.
pub const MIN_CHAIN_NODES: usize = 3;

/// A maximal run of op nodes `a → b → …` where each link is the only edge
/// out of its source and the only edge into its target.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Chain {
    /// Node indices, first to last.
    pub nodes: Vec<usize>,
}

/// The chains of at least [`MIN_CHAIN_NODES`] nodes, in order of their
/// first node.
pub fn find_chains(graph: &ModelGraph) -> Vec<Chain> {
    let count = graph.nodes.len();
    let mut outgoing: Vec<Vec<usize>> = vec![Vec::new(); count];
    let mut incoming: Vec<Vec<usize>> = vec![Vec::new(); count];
    for edge in &graph.edges {
        outgoing[edge.from].push(edge.to);
        incoming[edge.to].push(edge.from);
    }
    let is_op = |node: usize| graph.nodes[node].kind == NodeKind::Op;
    // `a → b` is a link when it is a's only way out and b's only way in.
    let next = |node: usize| -> Option<usize> {
        match outgoing[node].as_slice() {
            [single] if is_op(node) && is_op(*single) && incoming[*single].len() == 1 => {
                Some(*single)
            }
            _ => None,
        }
    };
    let has_link_in = |node: usize| -> bool {
        matches!(incoming[node].as_slice(), [single] if next(*single) == Some(node))
    };
    let mut chains = Vec::new();
    for start in 0..count {
        if !is_op(start) || has_link_in(start) {
            continue;
        }
        let mut nodes = vec![start];
        let mut at = start;
        while let Some(following) = next(at) {
            if nodes.len() > count {
                break;
            }
            nodes.push(following);
            at = following;
        }
        if nodes.len() >= MIN_CHAIN_NODES {
            chains.push(Chain { nodes });
        }
    }
    chains
}

/// What a box of the shown graph stands for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ShownItem {
    /// One node of the model graph.
    Node(usize),
    /// A collapsed chain (index into the chains).
    Chain(usize),
}

/// The graph as drawn: items, their edges (with the shape label of the
/// tensor), the layout, and where each model node went.
#[derive(Debug, Clone, PartialEq)]
pub struct ShownGraph {
    /// The boxes.
    pub items: Vec<ShownItem>,
    /// Edges between boxes, with their shape labels.
    pub edge_shapes: Vec<String>,
    /// The tensor each edge carries (for labels at other shapes).
    pub edge_tensors: Vec<String>,
    /// The layout of `items`.
    pub layout: Layout,
    /// The box each model node is in.
    pub item_of_node: Vec<usize>,
}

impl ShownGraph {
    /// The shown graph with the chains in `collapsed` drawn as one box each.
    pub fn build(
        graph: &ModelGraph,
        chains: &[Chain],
        collapsed: &BTreeSet<usize>,
        params: LayoutParams,
    ) -> Self {
        let mut chain_of: HashMap<usize, usize> = HashMap::new();
        for &index in collapsed {
            if let Some(chain) = chains.get(index) {
                for &node in &chain.nodes {
                    chain_of.insert(node, index);
                }
            }
        }
        let mut items = Vec::new();
        let mut item_of_node = vec![0usize; graph.nodes.len()];
        let mut item_of_chain: HashMap<usize, usize> = HashMap::new();
        for (node, slot) in item_of_node.iter_mut().enumerate() {
            *slot = match chain_of.get(&node) {
                Some(&chain) => *item_of_chain.entry(chain).or_insert_with(|| {
                    items.push(ShownItem::Chain(chain));
                    items.len() - 1
                }),
                None => {
                    items.push(ShownItem::Node(node));
                    items.len() - 1
                }
            };
        }
        let mut edges = Vec::new();
        let mut labels = Vec::new();
        for edge in &graph.edges {
            let from = item_of_node[edge.from];
            let to = item_of_node[edge.to];
            if from != to {
                edges.push((from, to));
                labels.push((edge.shape.clone(), edge.tensor.clone()));
            }
        }
        let layout = layout(items.len(), &edges, params);
        // The layout drops duplicate edges; keep the labels aligned with it.
        let mut label_of: HashMap<(usize, usize), (String, String)> = HashMap::new();
        for (edge, label) in edges.iter().zip(labels) {
            label_of.entry(*edge).or_insert(label);
        }
        let (edge_shapes, edge_tensors) = layout
            .edges
            .iter()
            .map(|(from, to, _)| label_of.get(&(*from, *to)).cloned().unwrap_or_default())
            .unzip();
        Self {
            items,
            edge_shapes,
            edge_tensors,
            layout,
            item_of_node,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ui::graph::model_graph::{GraphEdge, GraphNode};

    fn graph(count: usize, edges: &[(usize, usize)]) -> ModelGraph {
        ModelGraph {
            nodes: (0..count)
                .map(|index| GraphNode {
                    id: format!("n{index}"),
                    kind: NodeKind::Op,
                    op_type: "Relu".to_owned(),
                    attributes: Vec::new(),
                    inputs: Vec::new(),
                    outputs: Vec::new(),
                })
                .collect(),
            edges: edges
                .iter()
                .map(|&(from, to)| GraphEdge {
                    from,
                    to,
                    shape: String::new(),
                    tensor: String::new(),
                })
                .collect(),
            ..ModelGraph::default()
        }
    }

    #[test]
    fn chains_stop_at_branches_and_joins() {
        // 0 → 1 → 2 → 3 branches to 4 and 5; 4 → 6 → 7 → 8; 5 → 8 (join).
        let g = graph(
            9,
            &[
                (0, 1),
                (1, 2),
                (2, 3),
                (3, 4),
                (3, 5),
                (4, 6),
                (6, 7),
                (7, 8),
                (5, 8),
            ],
        );
        let chains = find_chains(&g);
        assert_eq!(
            chains,
            vec![
                Chain {
                    nodes: vec![0, 1, 2, 3]
                },
                Chain {
                    nodes: vec![4, 6, 7]
                }
            ]
        );
    }

    #[test]
    fn collapsing_and_expanding_a_chain() {
        let g = graph(6, &[(0, 1), (1, 2), (2, 3), (3, 4), (0, 5), (5, 4)]);
        let chains = find_chains(&g);
        assert_eq!(chains.len(), 1, "{chains:?}");
        let params = LayoutParams::default();
        let expanded = ShownGraph::build(&g, &chains, &BTreeSet::new(), params);
        assert_eq!(expanded.items.len(), 6);
        let collapsed = ShownGraph::build(&g, &chains, &BTreeSet::from([0]), params);
        assert_eq!(collapsed.items.len(), 6 - chains[0].nodes.len() + 1);
        let chain_item = collapsed.item_of_node[chains[0].nodes[0]];
        assert_eq!(collapsed.items[chain_item], ShownItem::Chain(0));
        for &node in &chains[0].nodes {
            assert_eq!(collapsed.item_of_node[node], chain_item);
        }
        // The collapsed box keeps the edges into and out of the chain.
        assert_eq!(collapsed.layout.edges.len(), collapsed.edge_shapes.len());
        assert!(
            collapsed
                .layout
                .edges
                .iter()
                .any(|(from, _, _)| *from == chain_item)
        );
    }
}
