//! The node selection shared by the graph view, the Layers table and the
//! roofline: select in one, it is selected (and scrolled to) in the others.
//!
//! A selection names source nodes (of the model file, by
//! `model::node::node_id`) and, when it was made on a profiled node, that
//! optimized node. Each change bumps `generation`; a view remembers the
//! generation it last scrolled to, so it scrolls once per change made
//! elsewhere.

/// The selected node(s).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Selection {
    /// Selected source nodes (model file ids).
    pub source_nodes: Vec<String>,
    /// The selected optimized (profiled) node, when the selection came from
    /// the Layers table or the roofline.
    pub optimized_node: Option<String>,
    /// Bumped on every change.
    pub generation: u64,
}

impl Selection {
    /// Selects one source node (from the graph view or the per-source
    /// table); returns the new generation.
    pub fn select_source(&mut self, id: &str) -> u64 {
        self.source_nodes = vec![id.to_owned()];
        self.optimized_node = None;
        self.generation += 1;
        self.generation
    }

    /// Selects an optimized node and the source nodes it executes; returns
    /// the new generation.
    pub fn select_optimized(&mut self, node: &str, source_nodes: &[String]) -> u64 {
        self.source_nodes = source_nodes.to_vec();
        self.optimized_node = Some(node.to_owned());
        self.generation += 1;
        self.generation
    }

    /// Clears the selection.
    pub fn clear(&mut self) {
        if !self.is_empty() {
            self.source_nodes.clear();
            self.optimized_node = None;
            self.generation += 1;
        }
    }

    /// Nothing selected.
    pub fn is_empty(&self) -> bool {
        self.source_nodes.is_empty() && self.optimized_node.is_none()
    }

    /// Whether source node `id` is selected.
    pub fn has_source(&self, id: &str) -> bool {
        self.source_nodes.iter().any(|selected| selected == id)
    }

    /// Whether the optimized node `name`, which executes `source_nodes`, is
    /// selected: by name, or because one of its source nodes is.
    pub fn has_optimized(&self, name: &str, source_nodes: &[String]) -> bool {
        match &self.optimized_node {
            Some(selected) => selected == name,
            None => source_nodes.iter().any(|id| self.has_source(id)),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_source_selection_selects_the_optimized_nodes_that_run_it() {
        let mut selection = Selection::default();
        let first = selection.select_source("conv1");
        assert!(selection.has_optimized("fused conv1", &["conv1".into(), "relu1".into()]));
        assert!(!selection.has_optimized("conv2", &["conv2".into()]));
        let second = selection.select_optimized("conv2", &["conv2".into(), "#4".into()]);
        assert!(second > first);
        assert!(selection.has_source("#4"));
        assert!(!selection.has_optimized("fused conv1", &["conv1".into()]));
        selection.clear();
        assert!(selection.is_empty());
        assert!(selection.generation > second);
    }
}
