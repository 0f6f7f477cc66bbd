//! The Model tab's graph view and the Layers tab share one selection: a
//! node clicked in the graph is selected in the table, a row clicked in the
//! table is selected in the graph. Also search, chain collapse, the layout
//! on a real model, and the frame-time measurement (ignored: run it by
//! name).

use std::time::{Duration, Instant};

use egui_kittest::{
    Harness,
    kittest::{NodeT as _, Queryable as _},
};
use onnx_workbench::{
    metrics::layers::{MachinePeaks, NodeOrigin},
    model::{Model, node::node_id},
    session::{SessionDocument, write_json},
    ui::{
        Selection, Tab, WorkbenchApp,
        graph::{GraphInput, GraphView, ModelGraph, ShownGraph, find_chains, layout::LayoutParams},
    },
};

use super::ui::{harness_of_height, step_until};

/// A real profile of `model` whose layer report gets the source mapping
/// filled in here (by node name, as the mapping does for nodes ONNX Runtime
/// leaves alone), and made-up FLOPs, bytes and peaks for the roofline.
fn mapped_session(model: &std::path::Path) -> SessionDocument {
    let mut record = super::run(model, super::quick_config());
    let proto = Model::load(model).expect("model");
    let ids: Vec<String> = proto
        .proto
        .graph
        .as_ref()
        .map(|graph| {
            graph
                .node
                .iter()
                .enumerate()
                .map(|(index, node)| node_id(node, index))
                .collect()
        })
        .unwrap_or_default();
    let layers = record.layers.as_mut().expect("per-layer report");
    for node in &mut layers.nodes {
        if ids.contains(&node.node) {
            node.source_nodes = vec![node.node.clone()];
            node.origin = NodeOrigin::Source;
            node.flops = Some(1e6);
            node.bytes = Some(1e5);
        } else {
            // (The run's own mapping is replaced, so that the optimized
            // names the table shows are the source ids the graph selects.)
            node.source_nodes.clear();
            node.origin = NodeOrigin::Unmatched;
        }
    }
    layers.machine_peaks = Some(MachinePeaks {
        gflops_per_s: 100.0,
        gbytes_per_s: 20.0,
        provider: "CPU".to_owned(),
        threads: 0,
        method: "test".to_owned(),
        measured_at: "2026-01-01T00:00:00Z".to_owned(),
    });
    SessionDocument::new(record)
}

/// Clicks at `pos` (press and release) and steps.
fn click_at(harness: &mut Harness<'static, WorkbenchApp>, pos: egui::Pos2) {
    harness.hover_at(pos);
    harness.step();
    harness.event(egui::Event::PointerButton {
        pos,
        button: egui::PointerButton::Primary,
        pressed: true,
        modifiers: egui::Modifiers::NONE,
    });
    harness.step();
    harness.event(egui::Event::PointerButton {
        pos,
        button: egui::PointerButton::Primary,
        pressed: false,
        modifiers: egui::Modifiers::NONE,
    });
    harness.step();
    harness.step();
}

#[test]
fn selecting_in_the_graph_selects_in_the_layers_table_and_back() {
    let model = super::repo_path("sample_models/cnn.onnx");
    let document = mapped_session(&model);
    let mapped: Vec<String> = document
        .run
        .layers
        .as_ref()
        .expect("layers")
        .nodes
        .iter()
        .filter(|node| !node.source_nodes.is_empty())
        .map(|node| node.node.clone())
        .collect();
    assert!(mapped.len() >= 2, "ORT kept too few names: {mapped:?}");
    let dir = tempfile::tempdir().expect("tempdir");
    let session_path = dir.path().join("mapped.json");
    write_json(&document, &session_path).expect("write session");

    let mut harness = harness_of_height(1000.0);
    harness.step();
    harness.state_mut().open_session(session_path);
    step_until(&mut harness, "the session", |app| {
        app.shown_session().is_some()
    });
    harness.state_mut().open_model(model);
    step_until(&mut harness, "the model", |app| app.model.is_some());
    assert_eq!(harness.state().tab, Tab::Model);
    harness.run_steps(3);

    // Click the first mapped node in the graph.
    let first = mapped[0].clone();
    let pos = harness
        .state()
        .graph_view
        .screen_pos_of(&first)
        .expect("node drawn");
    click_at(&mut harness, pos);
    assert_eq!(harness.state().selection.source_nodes, vec![first.clone()]);
    // The details panel shows it, with what the session measured.
    harness.get_by_label("Run by:");

    // The Layers table has its row selected.
    harness.state_mut().tab = Tab::Layers;
    harness.run_steps(3);
    assert_eq!(row_selected(&harness, &first), Some(true), "{first} row");
    let other = mapped[1].clone();
    assert_eq!(row_selected(&harness, &other), Some(false));

    // The reverse: a row clicked in the table is selected in the graph.
    harness
        .query_all_by_label(&other)
        .find(|node| node.accesskit_node().toggled().is_some())
        .expect("row")
        .click();
    harness.run_steps(2);
    assert_eq!(harness.state().selection.source_nodes, vec![other.clone()]);
    assert_eq!(
        harness.state().selection.optimized_node.as_deref(),
        Some(other.as_str())
    );
    harness.state_mut().tab = Tab::Model;
    harness.run_steps(3);
    // The graph scrolled to it and the details panel names it.
    assert!(harness.query_all_by_label(&other).count() >= 1);
    let pos = harness
        .state()
        .graph_view
        .screen_pos_of(&other)
        .expect("node drawn");
    let canvas = harness.get_by_label("Model graph").rect();
    assert!(canvas.contains(pos), "{pos:?} outside {canvas:?}");

    // The per-source-node view lists the same node, selected.
    harness.state_mut().tab = Tab::Layers;
    harness.run_steps(2);
    harness.get_by_label("Per source node").click();
    harness.run_steps(2);
    assert_eq!(row_selected(&harness, &other), Some(true));
}

/// Whether the table row labelled `name` is selected (`None`: no such row).
fn row_selected(harness: &Harness<'static, WorkbenchApp>, name: &str) -> Option<bool> {
    harness.query_all_by_label(name).find_map(|node| {
        node.accesskit_node()
            .toggled()
            .map(|toggled| toggled == egui::accesskit::Toggled::True)
    })
}

#[test]
fn search_jumps_to_a_match_and_chains_collapse_and_expand() {
    let graph = std::sync::Arc::new(ModelGraph::generated(60));
    let mut view = GraphView::default();
    let mut selection = Selection::default();
    let mut harness = Harness::builder()
        .with_size(egui::vec2(1200.0, 800.0))
        .build_ui(|ui| {
            let input = GraphInput {
                graph: &graph,
                report: None,
                model_flops: None,
                config_shapes: None,
            };
            view.ui(ui, &input, &mut selection, 600.0);
        });
    harness.run();
    drop(harness);
    assert_eq!(view.shown_items(), 60);
    // The generated graph has no chains of three single-in/single-out nodes
    // (every third node joins a skip edge); a chain graph does.
    let chain_graph = std::sync::Arc::new(chain_fixture());
    let chains = find_chains(&chain_graph);
    assert_eq!(chains.len(), 1);
    let chain_len = chains[0].nodes.len();
    let mut view = GraphView::default();
    let mut selection = Selection::default();
    {
        let mut harness = Harness::builder()
            .with_size(egui::vec2(1200.0, 800.0))
            .build_ui(|ui| {
                let input = GraphInput {
                    graph: &chain_graph,
                    report: None,
                    model_flops: None,
                    config_shapes: None,
                };
                view.ui(ui, &input, &mut selection, 600.0);
            });
        harness.run();
        harness.get_by_label("Collapse chains").click();
        harness.run();
    }
    assert_eq!(
        view.shown_items(),
        chain_graph.nodes.len() - chain_len + 1,
        "the chain is one box"
    );
    // Searching a node inside the collapsed chain expands it and selects it.
    {
        let mut harness = Harness::builder()
            .with_size(egui::vec2(1200.0, 800.0))
            .build_ui(|ui| {
                let input = GraphInput {
                    graph: &chain_graph,
                    report: None,
                    model_flops: None,
                    config_shapes: None,
                };
                view.ui(ui, &input, &mut selection, 600.0);
            });
        harness.run();
        let field = harness.get_by_role(egui::accesskit::Role::TextInput);
        field.focus();
        field.type_text("mid_2");
        harness.run();
        harness.key_press(egui::Key::Enter);
        harness.run();
        harness.get_by_label("1 matches");
    }
    assert_eq!(selection.source_nodes, vec!["mid_2".to_owned()]);
    assert_eq!(view.shown_items(), chain_graph.nodes.len(), "expanded");
}

/// `in → a → mid_0 … mid_4 → b → out` plus a branch `a → side → b`: one
/// chain (the `mid_*` nodes).
fn chain_fixture() -> ModelGraph {
    use onnx_workbench::ui::graph::{GraphEdge, GraphNode, NodeKind};
    let mut names = vec!["a".to_owned()];
    names.extend((0..5).map(|i| format!("mid_{i}")));
    names.push("b".to_owned());
    names.push("side".to_owned());
    let nodes = names
        .iter()
        .map(|name| GraphNode {
            id: name.clone(),
            kind: NodeKind::Op,
            op_type: "Relu".to_owned(),
            attributes: Vec::new(),
            inputs: Vec::new(),
            outputs: Vec::new(),
        })
        .collect();
    let mut edges: Vec<(usize, usize)> = (0..6).map(|i| (i, i + 1)).collect();
    edges.push((0, 7));
    edges.push((7, 6));
    ModelGraph {
        nodes,
        edges: edges
            .into_iter()
            .map(|(from, to)| GraphEdge {
                from,
                to,
                shape: "1×8".to_owned(),
                tensor: format!("t{from}"),
            })
            .collect(),
        ..ModelGraph::default()
    }
}

#[test]
fn a_2000_node_layout_is_fast_and_deterministic() {
    let graph = ModelGraph::generated(2000);
    let chains = find_chains(&graph);
    let started = Instant::now();
    let first = ShownGraph::build(
        &graph,
        &chains,
        &Default::default(),
        LayoutParams::default(),
    );
    let elapsed = started.elapsed();
    // Debug build, shared CPU: well under the few seconds this allows.
    assert!(elapsed < Duration::from_secs(5), "{elapsed:?}");
    let second = ShownGraph::build(
        &graph,
        &chains,
        &Default::default(),
        LayoutParams::default(),
    );
    assert_eq!(first, second);
    for (from, to, _) in &first.layout.edges {
        assert!(first.layout.layer[*to] > first.layout.layer[*from]);
    }
    assert!(first.layout.crossings_final <= first.layout.crossings_initial);
}

/// CPU time of the calling thread (other processes on a shared machine do
/// not count).
#[expect(unsafe_code)] // clock_gettime on a local timespec; SAFETY note below.
fn thread_cpu_time() -> Duration {
    let mut time = libc::timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    // SAFETY: `time` is a valid, writable timespec.
    let rc = unsafe { libc::clock_gettime(libc::CLOCK_THREAD_CPUTIME_ID, &mut time) };
    assert_eq!(rc, 0, "clock_gettime");
    Duration::new(time.tv_sec as u64, time.tv_nsec as u32)
}

/// Frame time of the graph view on a generated 2,000-node graph while
/// panning and zooming: CPU time (of this thread) of the view's UI
/// function, and of the tessellation of what it drew, over 300 frames. Run with
/// `cargo test --locked --test integration -- --ignored graph_view_frame_time --nocapture`.
#[test]
#[ignore = "a measurement, run by name"]
fn graph_view_frame_time_on_2000_nodes() {
    let graph = std::sync::Arc::new(ModelGraph::generated(2000));
    let ctx = egui::Context::default();
    let mut view = GraphView::default();
    let mut selection = Selection::default();
    let screen = egui::Rect::from_min_size(egui::Pos2::ZERO, egui::vec2(1400.0, 900.0));
    let mut ui_millis = Vec::new();
    let mut tessellate_millis = Vec::new();
    let layout_started = Instant::now();
    for frame in 0..320u32 {
        let mut input = egui::RawInput {
            screen_rect: Some(screen),
            ..Default::default()
        };
        let centre = egui::pos2(700.0, 450.0);
        // Frames 0-119: the whole graph (fitted), panned; 120-125 zoom in
        // to legible text and edge labels; 126-199 pan there; 200-319
        // zoom out step by step through every level of detail.
        let wheel = match frame {
            120..=125 => Some(400.0),
            // Hold the pointer still while the smooth scroll settles.
            126..=159 => Some(0.0),
            200.. => Some(-40.0),
            _ => None,
        };
        // Zoom around the middle of the graph, wherever the pans left it.
        let anchor = view.screen_pos_of("node_1000").map_or(centre, |pos| {
            pos.clamp(egui::pos2(100.0, 150.0), egui::pos2(1300.0, 800.0))
        });
        match wheel {
            Some(delta) => {
                input.events.push(egui::Event::PointerMoved(anchor));
                input.events.push(egui::Event::MouseWheel {
                    unit: egui::MouseWheelUnit::Point,
                    delta: egui::vec2(0.0, delta),
                    phase: egui::TouchPhase::Move,
                    source: egui::MouseWheelSource::Wheel,
                    modifiers: egui::Modifiers::NONE,
                });
            }
            None => {
                // Drag to pan back and forth: press, move, release every
                // 40 frames.
                let angle = (frame % 40) as f32 / 40.0 * std::f32::consts::TAU;
                let pos = centre + egui::vec2(angle.sin() * 150.0, (1.0 - angle.cos()) * 80.0);
                input.events.push(egui::Event::PointerMoved(pos));
                if frame % 40 == 0 || frame % 40 == 39 {
                    input.events.push(egui::Event::PointerButton {
                        pos,
                        button: egui::PointerButton::Primary,
                        pressed: frame % 40 == 0,
                        modifiers: egui::Modifiers::NONE,
                    });
                }
            }
        }
        let mut elapsed = Duration::ZERO;
        let mut output = ctx.run_ui(input, |ui| {
            let graph_input = GraphInput {
                graph: &graph,
                report: None,
                model_flops: None,
                config_shapes: None,
            };
            let started = thread_cpu_time();
            view.ui(ui, &graph_input, &mut selection, 820.0);
            elapsed = thread_cpu_time().saturating_sub(started);
        });
        if frame == 0 {
            println!(
                "first frame (layout of {} boxes included): {:.1} ms",
                view.shown_items(),
                layout_started.elapsed().as_secs_f64() * 1e3
            );
        }
        output.textures_delta.clear();
        let started = thread_cpu_time();
        let primitives = ctx.tessellate(output.shapes, output.pixels_per_point);
        let tessellated = thread_cpu_time().saturating_sub(started);
        assert!(!primitives.is_empty());
        if std::env::var_os("GRAPH_FRAME_TRACE").is_some() {
            println!(
                "frame {frame}: {:.2} ms, {}",
                elapsed.as_secs_f64() * 1e3,
                view.camera_text()
            );
        }
        if frame >= 20 {
            ui_millis.push(elapsed.as_secs_f64() * 1e3);
            tessellate_millis.push((elapsed + tessellated).as_secs_f64() * 1e3);
        }
    }
    let quantile = |values: &mut Vec<f64>, q: f64| {
        values.sort_by(f64::total_cmp);
        values[((values.len() - 1) as f64 * q).round() as usize]
    };
    println!(
        "graph view, 2000 nodes, {} frames panning and zooming: UI function p50 {:.2} ms, p99 {:.2} ms, max {:.2} ms; with tessellation p50 {:.2} ms, p99 {:.2} ms",
        ui_millis.len(),
        quantile(&mut ui_millis, 0.5),
        quantile(&mut ui_millis, 0.99),
        quantile(&mut ui_millis, 1.0),
        quantile(&mut tessellate_millis, 0.5),
        quantile(&mut tessellate_millis, 0.99),
    );
}

/// The layout of a real model: `WB_GRAPH_MODEL=model.onnx cargo test
/// --locked --test integration -- --ignored graph_layout_of_a_model
/// --nocapture` prints its size, crossings and time, expanded and with the
/// chains collapsed.
#[test]
#[ignore = "a measurement on a model named by WB_GRAPH_MODEL"]
fn graph_layout_of_a_model() {
    let Some(path) = std::env::var_os("WB_GRAPH_MODEL") else {
        println!("WB_GRAPH_MODEL is not set");
        return;
    };
    let model = Model::load(std::path::Path::new(&path)).expect("model");
    let started = Instant::now();
    let graph = ModelGraph::from_model(&model);
    let read = started.elapsed();
    let chains = find_chains(&graph);
    let all: std::collections::BTreeSet<usize> = (0..chains.len()).collect();
    for (label, collapsed) in [("expanded", Default::default()), ("chains collapsed", all)] {
        let started = Instant::now();
        let shown = ShownGraph::build(&graph, &chains, &collapsed, LayoutParams::default());
        let elapsed = started.elapsed();
        for (from, to, _) in &shown.layout.edges {
            assert!(shown.layout.layer[*to] > shown.layout.layer[*from]);
        }
        println!(
            "{label}: {} graph nodes ({} constant nodes left out, read and shapes {:.0} ms), {} boxes, {} layers, {} dummies, {} chains, crossings {} -> {}, layout {:.1} ms",
            graph.nodes.len(),
            graph.constants_omitted,
            read.as_secs_f64() * 1e3,
            shown.items.len(),
            shown.layout.layers,
            shown.layout.dummies,
            chains.len(),
            shown.layout.crossings_initial,
            shown.layout.crossings_final,
            elapsed.as_secs_f64() * 1e3
        );
    }
}

/// "Fit" keeps a long graph readable: MobileNetV2 blocks (74 nodes, one
/// tall column) open at a legible zoom from their inputs, with the
/// overview showing the rest, instead of a sliver at 16 %.
#[test]
fn fit_keeps_a_long_graph_readable() {
    let mut harness = harness_of_height(900.0);
    harness.step();
    harness.state_mut().open_model(super::repo_path(
        "tests/data/models/mobilenet_v2_blocks.onnx",
    ));
    step_until(&mut harness, "the model", |app| app.model.is_some());
    harness.run_steps(3);
    let view = &harness.state().graph_view;
    assert!(view.zoom() >= 0.6, "zoom {}", view.zoom());
    // The first node is in view, at the top.
    let stem = view.screen_pos_of("stem").expect("the stem is drawn");
    assert!(stem.y > 0.0 && stem.y < 900.0, "{stem:?}");
}

/// The shapes in the node details (and the edge labels drawn from the same
/// map) follow the Config's input shapes once they are counted; without
/// them the model's defaults show, and say so.
#[test]
fn node_shapes_follow_the_config_shapes() {
    use onnx_workbench::model::{ShapeBinding, infer_shapes_with};
    let model = Model::load(&super::repo_path("sample_models/cnn.onnx")).expect("model");
    let graph = std::sync::Arc::new(ModelGraph::from_model(&model));
    let first = graph
        .nodes
        .iter()
        .find(|node| node.inputs.iter().any(|(name, _)| name == "image"))
        .expect("a node reading the image")
        .id
        .clone();
    let binding = ShapeBinding {
        input_shapes: [("image".to_owned(), vec![4, 1, 28, 28])].into(),
        ..ShapeBinding::default()
    };
    let at_batch_4 = std::sync::Arc::new(infer_shapes_with(&model, &binding).shapes);
    for (config_shapes, expected) in [
        (None, "image: 1×1×28×28"),
        (Some(&at_batch_4), "image: 4×1×28×28"),
    ] {
        let mut view = GraphView::default();
        let mut selection = Selection::default();
        selection.select_source(&first);
        let mut harness = Harness::builder()
            .with_size(egui::vec2(1400.0, 800.0))
            .build_ui(|ui| {
                let input = GraphInput {
                    graph: &graph,
                    report: None,
                    model_flops: None,
                    config_shapes,
                };
                view.ui(ui, &input, &mut selection, 600.0);
            });
        harness.run();
        assert!(
            harness.query_by_label(expected).is_some(),
            "{expected} not shown"
        );
        let note = if config_shapes.is_some() {
            "Shapes at the Config's input shapes."
        } else {
            "Shapes from the model alone, symbolic dims set to batch=1"
        };
        assert!(harness.query_by_label_contains(note).is_some(), "{note}");
    }
}
