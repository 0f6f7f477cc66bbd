//! The Model tab's graph view: the ONNX graph of the open model as a layered
//! DAG. `model_graph.rs` reads the model's protos into nodes and edges
//! (graph inputs and outputs as nodes; initializers and the nodes that only
//! compute weights left out), with shapes from `model::infer_shapes`;
//! `chains.rs` finds linear chains and builds the shown graph with some of
//! them collapsed; `layout.rs` is the pure layered layout; `view.rs` draws
//! it (pan, zoom, culling, level of detail, search, colours from the shown
//! session); `details.rs` the selected node's panel; `session_metrics.rs`
//! the shown session's time, FLOPs and bytes per source node.

mod chains;
mod details;
pub mod layout;
mod model_graph;
mod session_metrics;
mod view;

pub use chains::{Chain, ShownGraph, find_chains};
pub use model_graph::{GraphEdge, GraphNode, ModelGraph, NodeKind};
pub use session_metrics::{NodeMetrics, SessionMetrics};
pub(crate) use view::shorten;
pub use view::{ColourBy, Direction, GraphInput, GraphView};
