//! Draws the shown graph: pan (drag), zoom (scroll or pinch, around the
//! cursor), fit to view, search, chain collapse, colours from the shown
//! session, and the shared selection.
//!
//! Per frame it only maps the cached layout to the screen: boxes and edges
//! off screen are skipped, text is drawn only when it is legible, edge
//! shape labels only when zoomed in. The layout is rebuilt only when the
//! model, the direction or the collapsed chains change.

use std::{
    collections::{BTreeMap, BTreeSet, HashSet},
    sync::Arc,
};

use egui::{
    Align2, Color32, CornerRadius, FontId, Pos2, Rect, Response, RichText, Sense, Shape, Stroke,
    StrokeKind, Ui, Vec2, pos2, vec2,
};

use super::{
    chains::{Chain, ShownGraph, ShownItem, find_chains},
    details,
    layout::LayoutParams,
    model_graph::{ModelGraph, NodeKind, shape_text},
    session_metrics::{NodeMetrics, SessionMetrics},
};
use crate::{metrics::layers::LayerReport, ui::selection::Selection};

/// Width of a node box, in graph units (zoom 1 = one point).
const NODE_WIDTH: f32 = 150.0;
/// Height of a node box.
const NODE_HEIGHT: f32 = 38.0;
/// Distance between layers, top to bottom.
const LAYER_SPACING_TB: f32 = 80.0;
/// Distance between layers, left to right.
const LAYER_SPACING_LR: f32 = 220.0;
/// Below this zoom no text is drawn.
const MIN_TEXT_ZOOM: f32 = 0.4;
/// The least zoom "Fit" goes to: box labels stay legible.
const READABLE_ZOOM: f32 = 0.6;
/// Width of the overview in the corner, in points.
const OVERVIEW_SIZE: f32 = 110.0;
/// From this zoom on, edges carry their tensor's shape.
const EDGE_LABEL_ZOOM: f32 = 0.9;
/// The colour of edge labels.
const LABEL_GREY: Color32 = Color32::from_gray(170);
/// Zoom limits.
const ZOOM_RANGE: (f32, f32) = (0.002, 4.0);
/// Search matches kept (the count is still exact).
const MAX_MATCHES: usize = 10_000;

/// Which way the layers go.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Direction {
    /// Inputs at the top.
    #[default]
    TopToBottom,
    /// Inputs at the left.
    LeftToRight,
}

/// What the node colour shows.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum ColourBy {
    /// Share of the measured time.
    #[default]
    TimeShare,
    /// FLOPs of one call.
    Flops,
    /// Bytes read and written by one call.
    Bytes,
}

/// The graph view's state: the cached shown graph and layout, the camera,
/// the search and the colouring.
pub struct GraphView {
    graph: Option<Arc<ModelGraph>>,
    chains: Vec<Chain>,
    collapsed: BTreeSet<usize>,
    shown: Option<ShownGraph>,
    direction: Direction,
    colour_by: ColourBy,
    /// Screen points per graph unit.
    zoom: f32,
    /// The graph point at the canvas's top-left corner.
    offset: Vec2,
    fit_pending: bool,
    canvas: Rect,
    search: String,
    matches: Vec<usize>,
    match_cursor: usize,
    metrics: Option<(usize, Arc<SessionMetrics>)>,
    /// Shapes at the Config's input shapes, when they differ from the
    /// model's defaults.
    config_shapes: Option<Arc<BTreeMap<String, Vec<i64>>>>,
    seen_generation: u64,
    /// Time spent building the last layout, in milliseconds.
    layout_millis: f64,
}

impl GraphView {
    /// Screen points per graph unit.
    pub fn zoom(&self) -> f32 {
        self.zoom
    }

    /// A fresh view for another model that keeps the user's choices of
    /// direction and colouring (the search, the collapsed chains and the
    /// zoom belonged to the previous model).
    pub fn for_another_model(&self) -> Self {
        Self {
            direction: self.direction,
            colour_by: self.colour_by,
            ..Self::default()
        }
    }
}

impl Default for GraphView {
    fn default() -> Self {
        Self {
            graph: None,
            chains: Vec::new(),
            collapsed: BTreeSet::new(),
            shown: None,
            direction: Direction::default(),
            colour_by: ColourBy::default(),
            zoom: 0.0,
            offset: Vec2::ZERO,
            fit_pending: true,
            canvas: Rect::from_min_size(Pos2::ZERO, vec2(1.0, 1.0)),
            search: String::new(),
            matches: Vec::new(),
            match_cursor: 0,
            metrics: None,
            config_shapes: None,
            seen_generation: 0,
            layout_millis: 0.0,
        }
    }
}

/// What the view draws from: the model's graph and the shown session's
/// layer report.
pub struct GraphInput<'a> {
    /// The open model's graph.
    pub graph: &'a Arc<ModelGraph>,
    /// The shown session's layer report, and an identity for caching (the
    /// session document's address).
    pub report: Option<(usize, &'a LayerReport)>,
    /// The model's own FLOP count: the shown session's (at its run's
    /// shapes), or without one the open model's, for colouring by FLOPs
    /// before any run.
    pub model_flops: Option<&'a crate::model::FlopEstimate>,
    /// Each value's shape at the Config's input shapes, when they differ
    /// from the model's defaults (edge labels and the details follow them).
    pub config_shapes: Option<&'a Arc<BTreeMap<String, Vec<i64>>>>,
}

impl GraphView {
    /// Draws the view (controls, canvas, details) in `height` points.
    pub fn ui(
        &mut self,
        ui: &mut Ui,
        input: &GraphInput<'_>,
        selection: &mut Selection,
        height: f32,
    ) {
        self.sync(input);
        // Measured before the controls, so a wide row cannot widen the canvas.
        let full_width = ui.available_width();
        self.controls_ui(ui, selection);
        let metrics = self
            .metrics
            .as_ref()
            .map(|(_, metrics)| Arc::clone(metrics));
        legend_ui(
            ui,
            self.colour_by,
            metrics.as_deref(),
            input.report.is_some(),
        );
        let details_width = if selection.source_nodes.is_empty() {
            0.0
        } else {
            320.0
        };
        let width = (full_width - details_width).max(200.0);
        ui.horizontal_top(|ui| {
            let (rect, response) =
                ui.allocate_exact_size(vec2(width, height), Sense::click_and_drag());
            response
                .widget_info(|| egui::WidgetInfo::labeled(egui::Role::Canvas, true, "Model graph"));
            self.canvas_ui(ui, rect, &response, metrics.as_deref(), selection);
            if details_width > 0.0 {
                ui.allocate_ui_with_layout(
                    vec2(details_width - 12.0, height),
                    egui::Layout::top_down(egui::Align::LEFT),
                    |ui| {
                        ui.set_max_width(details_width - 12.0);
                        ui.style_mut().wrap_mode = Some(egui::TextWrapMode::Wrap);
                        egui::ScrollArea::vertical()
                            .id_salt("graph_details")
                            .max_height(height)
                            .auto_shrink([false, false])
                            .show(ui, |ui| {
                                details::details_ui(
                                    ui,
                                    self.graph.as_deref(),
                                    self.config_shapes.as_deref(),
                                    metrics.as_deref(),
                                    selection,
                                );
                            });
                    },
                );
            }
        });
    }

    /// Rebuilds what depends on a new model or session.
    fn sync(&mut self, input: &GraphInput<'_>) {
        let same_graph = self
            .graph
            .as_ref()
            .is_some_and(|graph| Arc::ptr_eq(graph, input.graph));
        if !same_graph {
            self.graph = Some(Arc::clone(input.graph));
            self.chains = find_chains(input.graph);
            self.collapsed.clear();
            self.shown = None;
            self.matches.clear();
            self.fit_pending = true;
        }
        let cached = |metrics: &Option<(usize, Arc<SessionMetrics>)>, key: usize| {
            metrics.as_ref().is_some_and(|(cached, _)| *cached == key)
        };
        match (input.report, input.model_flops) {
            (Some((key, report)), flops) => {
                if !cached(&self.metrics, key) {
                    self.metrics =
                        Some((key, Arc::new(SessionMetrics::from_report(report, flops))));
                }
            }
            (None, Some(flops)) => {
                let key = std::ptr::from_ref(flops) as usize;
                if !cached(&self.metrics, key) {
                    self.metrics = Some((key, Arc::new(SessionMetrics::from_model_flops(flops))));
                }
            }
            (None, None) => self.metrics = None,
        }
        self.config_shapes = input.config_shapes.cloned();
        if self.shown.is_none() {
            self.rebuild();
        }
    }

    /// Lays the graph out again (model, direction or collapsed chains changed).
    fn rebuild(&mut self) {
        let Some(graph) = &self.graph else {
            return;
        };
        let started = std::time::Instant::now();
        let params = LayoutParams {
            node_extent: match self.direction {
                Direction::TopToBottom => NODE_WIDTH,
                Direction::LeftToRight => NODE_HEIGHT,
            },
            gap: match self.direction {
                Direction::TopToBottom => 24.0,
                Direction::LeftToRight => 16.0,
            },
            ..LayoutParams::default()
        };
        self.shown = Some(ShownGraph::build(
            graph,
            &self.chains,
            &self.collapsed,
            params,
        ));
        self.layout_millis = started.elapsed().as_secs_f64() * 1e3;
    }

    /// The centre of layout point `(layer, order)` in graph units.
    fn point(&self, layer: usize, order: f32) -> Pos2 {
        match self.direction {
            Direction::TopToBottom => pos2(order, layer as f32 * LAYER_SPACING_TB),
            Direction::LeftToRight => pos2(layer as f32 * LAYER_SPACING_LR, order),
        }
    }

    /// The box of shown item `item`, in graph units.
    fn item_rect(&self, shown: &ShownGraph, item: usize) -> Rect {
        let layer = shown.layout.layer.get(item).copied().unwrap_or_default();
        let order = shown
            .layout
            .order_pos
            .get(item)
            .copied()
            .unwrap_or_default();
        Rect::from_center_size(self.point(layer, order), vec2(NODE_WIDTH, NODE_HEIGHT))
    }

    fn bounds(&self) -> Rect {
        let Some(shown) = &self.shown else {
            return Rect::from_min_size(Pos2::ZERO, vec2(1.0, 1.0));
        };
        (0..shown.items.len())
            .map(|item| self.item_rect(shown, item))
            .reduce(|a, b| a.union(b))
            .unwrap_or(Rect::from_min_size(Pos2::ZERO, vec2(1.0, 1.0)))
    }

    fn to_screen(&self, point: Pos2) -> Pos2 {
        self.canvas.min + (point.to_vec2() - self.offset) * self.zoom
    }

    fn to_graph(&self, screen: Pos2) -> Pos2 {
        Pos2::ZERO + self.offset + (screen - self.canvas.min) / self.zoom
    }

    /// Shows the whole graph in the canvas when it stays readable;
    /// otherwise fits its breadth at a readable zoom (at least
    /// [`READABLE_ZOOM`]) from its start (the inputs), and the overview in
    /// the corner shows the rest.
    fn fit(&mut self) {
        let bounds = self.bounds().expand(20.0);
        let size = self.canvas.size();
        let whole = (size.x / bounds.width()).min(size.y / bounds.height());
        if whole >= READABLE_ZOOM {
            self.zoom = whole.clamp(ZOOM_RANGE.0, 1.0);
            let shown = bounds.size() * self.zoom;
            self.offset = bounds.min.to_vec2() - (size - shown) / (2.0 * self.zoom);
            return;
        }
        let breadth = match self.direction {
            Direction::TopToBottom => size.x / bounds.width(),
            Direction::LeftToRight => size.y / bounds.height(),
        };
        self.zoom = breadth.clamp(READABLE_ZOOM, 1.0);
        let shown = bounds.size() * self.zoom;
        let centred = bounds.min.to_vec2() - (size - shown) / (2.0 * self.zoom);
        self.offset = match self.direction {
            Direction::TopToBottom => vec2(centred.x, bounds.min.y),
            Direction::LeftToRight => vec2(bounds.min.x, centred.y),
        };
    }

    /// The overview in the canvas's top-right corner when the graph does
    /// not fit: every box, and the part in view; a click or drag there
    /// moves the view.
    fn overview_ui(&mut self, ui: &Ui, canvas: Rect) {
        let Some(shown) = &self.shown else { return };
        let bounds = self.bounds().expand(20.0);
        let view = Rect::from_min_max(self.to_graph(canvas.min), self.to_graph(canvas.max));
        if view.contains_rect(bounds) {
            return;
        }
        let scale = (OVERVIEW_SIZE / bounds.width()).min(OVERVIEW_SIZE * 1.6 / bounds.height());
        let size = bounds.size() * scale;
        let frame = Rect::from_min_size(
            pos2(canvas.right() - size.x - 8.0, canvas.top() + 8.0),
            size,
        );
        let to_overview = |p: Pos2| frame.min + (p - bounds.min) * scale;
        let painter = ui.painter_at(canvas);
        painter.rect_filled(
            frame.expand(3.0),
            CornerRadius::same(3),
            Color32::from_black_alpha(200),
        );
        for item in 0..shown.items.len() {
            let rect = self.item_rect(shown, item);
            painter.rect_filled(
                Rect::from_min_max(to_overview(rect.min), to_overview(rect.max)),
                CornerRadius::ZERO,
                Color32::from_gray(110),
            );
        }
        let viewport = Rect::from_min_max(to_overview(view.min), to_overview(view.max))
            .intersect(frame.expand(2.0));
        painter.rect_stroke(
            viewport,
            CornerRadius::same(1),
            Stroke::new(1.5, ui.visuals().selection.stroke.color),
            egui::StrokeKind::Outside,
        );
        let response = ui.interact(
            frame,
            ui.scope_id().with("graph_overview"),
            egui::Sense::click_and_drag(),
        );
        if (response.clicked() || response.dragged())
            && let Some(pos) = response.interact_pointer_pos()
        {
            let target = bounds.min + (pos - frame.min) / scale;
            self.offset = target.to_vec2() - canvas.size() / (2.0 * self.zoom);
        }
    }

    /// Centres the camera on model node `node` (expanding its chain), at a
    /// zoom where its text is legible.
    fn centre_on(&mut self, node: usize) {
        if let Some(chain) = self.chain_holding(node) {
            self.collapsed.remove(&chain);
            self.rebuild();
        }
        let Some(shown) = &self.shown else { return };
        let Some(&item) = shown.item_of_node.get(node) else {
            return;
        };
        let centre = self.item_rect(shown, item).center();
        self.zoom = self.zoom.max(0.8);
        self.offset = centre.to_vec2() - self.canvas.size() / (2.0 * self.zoom);
    }

    /// The collapsed chain holding `node`, if any.
    fn chain_holding(&self, node: usize) -> Option<usize> {
        self.collapsed.iter().copied().find(|&chain| {
            self.chains
                .get(chain)
                .is_some_and(|c| c.nodes.contains(&node))
        })
    }

    /// Screen position of the box of the node with `id`, as last drawn
    /// (for tests that click on the graph).
    pub fn screen_pos_of(&self, id: &str) -> Option<Pos2> {
        let graph = self.graph.as_ref()?;
        let shown = self.shown.as_ref()?;
        let node = graph.nodes.iter().position(|node| node.id == id)?;
        let item = *shown.item_of_node.get(node)?;
        Some(self.to_screen(self.item_rect(shown, item).center()))
    }

    /// Search, colour, direction, chains and fit.
    fn controls_ui(&mut self, ui: &mut Ui, selection: &mut Selection) {
        ui.horizontal_wrapped(|ui| {
            let find_label = ui.label("Find");
            let field = ui
                .add(
                    egui::TextEdit::singleline(&mut self.search)
                        .hint_text("node name or op type")
                        .desired_width(200.0),
                )
                .labelled_by(find_label.id);
            if field.changed() {
                self.update_matches();
            }
            let enter = field.lost_focus() && ui.input(|i| i.key_pressed(egui::Key::Enter));
            if !self.search.is_empty() {
                ui.label(format!("{} matches", self.matches.len()));
            }
            let next = ui
                .add_enabled(!self.matches.is_empty(), egui::Button::new("Next match"))
                .clicked();
            if (enter || next) && !self.matches.is_empty() {
                let node = self.matches[self.match_cursor % self.matches.len()];
                self.match_cursor = (self.match_cursor + 1) % self.matches.len();
                if let Some(id) = self
                    .graph
                    .as_ref()
                    .and_then(|g| g.nodes.get(node))
                    .map(|n| n.id.clone())
                {
                    self.seen_generation = selection.select_source(&id);
                }
                self.centre_on(node);
            }
            ui.separator();
            // The label before its dropdown, as everywhere else.
            let label = ui.label("Colour");
            let colour = egui::ComboBox::from_id_salt("graph_colour_by")
                .selected_text(match self.colour_by {
                    ColourBy::TimeShare => "time share",
                    ColourBy::Flops => "FLOPs",
                    ColourBy::Bytes => "bytes",
                })
                .show_ui(ui, |ui| {
                    ui.selectable_value(&mut self.colour_by, ColourBy::TimeShare, "time share");
                    ui.selectable_value(&mut self.colour_by, ColourBy::Flops, "FLOPs");
                    ui.selectable_value(&mut self.colour_by, ColourBy::Bytes, "bytes");
                });
            colour.response.labelled_by(label.id);
            ui.separator();
            let before = self.direction;
            ui.selectable_value(&mut self.direction, Direction::TopToBottom, "Top-down");
            ui.selectable_value(&mut self.direction, Direction::LeftToRight, "Left-right");
            if before != self.direction {
                self.rebuild();
                self.fit_pending = true;
            }
            ui.separator();
            let all_collapsed =
                !self.chains.is_empty() && self.collapsed.len() == self.chains.len();
            if ui
                .add_enabled(
                    !self.chains.is_empty(),
                    egui::Button::new(if all_collapsed {
                        "Expand chains"
                    } else {
                        "Collapse chains"
                    }),
                )
                .on_hover_text(format!(
                    "{} linear chains of single-input, single-output nodes",
                    self.chains.len()
                ))
                .clicked()
            {
                self.set_all_collapsed(!all_collapsed);
            }
            if ui.button("Fit").clicked() {
                self.fit_pending = true;
            }
        });
    }

    /// Collapses (or expands) every chain.
    pub fn set_all_collapsed(&mut self, collapsed: bool) {
        self.collapsed = if collapsed {
            (0..self.chains.len()).collect()
        } else {
            BTreeSet::new()
        };
        self.rebuild();
        self.fit_pending = true;
    }

    /// The zoom and the boxes on screen, in words (measurements).
    pub fn camera_text(&self) -> String {
        let on_screen = self.shown.as_ref().map_or(0, |shown| {
            let visible = Rect::from_min_max(
                self.to_graph(self.canvas.min),
                self.to_graph(self.canvas.max),
            );
            (0..shown.items.len())
                .filter(|&item| self.item_rect(shown, item).intersects(visible))
                .count()
        });
        format!("zoom {:.3}, {on_screen} boxes on screen", self.zoom)
    }

    /// Number of boxes drawn now (nodes and collapsed chains).
    pub fn shown_items(&self) -> usize {
        self.shown.as_ref().map_or(0, |shown| shown.items.len())
    }

    /// Sets the search text (as typed) and returns the number of matches.
    pub fn set_search(&mut self, text: &str) -> usize {
        text.clone_into(&mut self.search);
        self.update_matches();
        self.matches.len()
    }

    fn update_matches(&mut self) {
        self.matches.clear();
        self.match_cursor = 0;
        let needle = self.search.trim().to_lowercase();
        let Some(graph) = &self.graph else { return };
        if needle.is_empty() {
            return;
        }
        self.matches = graph
            .nodes
            .iter()
            .enumerate()
            .filter(|(_, node)| {
                node.id.to_lowercase().contains(&needle) || node.op_type.to_lowercase() == needle
            })
            .map(|(index, _)| index)
            .take(MAX_MATCHES)
            .collect();
    }

    /// The canvas: input, then the edges and the boxes in view.
    fn canvas_ui(
        &mut self,
        ui: &mut Ui,
        rect: Rect,
        response: &Response,
        metrics: Option<&SessionMetrics>,
        selection: &mut Selection,
    ) {
        self.canvas = rect;
        if self.zoom <= 0.0 {
            self.fit_pending = true;
        }
        if self.fit_pending {
            self.fit();
            self.fit_pending = false;
        }
        if selection.generation != self.seen_generation {
            self.seen_generation = selection.generation;
            if let Some(node) = self.first_selected_node(selection) {
                self.centre_on(node);
            }
        }
        self.camera_input(ui, response);
        let painter = ui.painter_at(rect);
        painter.rect_filled(rect, CornerRadius::same(4), ui.visuals().extreme_bg_color);
        let (Some(graph), Some(shown)) = (&self.graph, &self.shown) else {
            return;
        };
        let hovered_item = response
            .hover_pos()
            .and_then(|pos| self.item_at(shown, self.to_graph(pos)));
        let visible =
            Rect::from_min_max(self.to_graph(rect.min), self.to_graph(rect.max)).expand(NODE_WIDTH);
        let zoom = self.zoom;
        let text = zoom >= MIN_TEXT_ZOOM;
        let edge_stroke = Stroke::new((1.2 * zoom).clamp(0.5, 2.0), Color32::from_gray(120));

        // Edges.
        let mut labels = Vec::new();
        for (index, (_, _, points)) in shown.layout.edges.iter().enumerate() {
            let mut path: Vec<Pos2> = points
                .iter()
                .map(|&(layer, order)| self.point(layer, order))
                .collect();
            let half = match self.direction {
                Direction::TopToBottom => vec2(0.0, NODE_HEIGHT / 2.0),
                Direction::LeftToRight => vec2(NODE_WIDTH / 2.0, 0.0),
            };
            if let Some(start) = path.first_mut() {
                *start += half;
            }
            if let Some(end) = path.last_mut() {
                *end -= half;
            }
            if path.len() < 2 {
                continue;
            }
            let bounds = Rect::from_points(&path);
            if !bounds.intersects(visible) {
                continue;
            }
            let screen: Vec<Pos2> = path.iter().map(|p| self.to_screen(*p)).collect();
            if let [.., before, tip] = screen.as_slice()
                && zoom >= 0.3
            {
                let direction = (*tip - *before).normalized() * 6.0 * zoom.min(1.5);
                let side = vec2(-direction.y, direction.x) * 0.5;
                painter.add(Shape::convex_polygon(
                    vec![*tip, *tip - direction + side, *tip - direction - side],
                    edge_stroke.color,
                    Stroke::NONE,
                ));
            }
            if zoom >= EDGE_LABEL_ZOOM
                && let [a, b, ..] = screen.as_slice()
            {
                labels.push((index, pos2((a.x + b.x) / 2.0, (a.y + b.y) / 2.0)));
            }
            painter.add(Shape::line(screen, edge_stroke));
        }
        self.edge_labels(ui, &painter, shown, labels);

        // Boxes.
        let matches: BTreeSet<usize> = self
            .matches
            .iter()
            .filter_map(|&node| shown.item_of_node.get(node).copied())
            .collect();
        for (item_index, item) in shown.items.iter().enumerate() {
            let area = self.item_rect(shown, item_index);
            if !area.intersects(visible) {
                continue;
            }
            let screen = Rect::from_min_max(self.to_screen(area.min), self.to_screen(area.max));
            if !screen.intersects(rect) {
                continue;
            }
            let (fill, selected, title, subtitle) = match *item {
                ShownItem::Node(node) => {
                    let Some(model_node) = graph.nodes.get(node) else {
                        continue;
                    };
                    let fill = match model_node.kind {
                        NodeKind::Op => node_fill(
                            self.colour_by,
                            metrics,
                            metrics.and_then(|m| m.by_source.get(&model_node.id)),
                        ),
                        NodeKind::Input | NodeKind::Output => Color32::from_rgb(40, 70, 110),
                    };
                    (
                        fill,
                        selection.has_source(&model_node.id),
                        model_node.op_type.as_str(),
                        model_node.id.as_str(),
                    )
                }
                ShownItem::Chain(chain) => {
                    let selected = self.chains.get(chain).is_some_and(|c| {
                        c.nodes.iter().any(|&n| {
                            graph
                                .nodes
                                .get(n)
                                .is_some_and(|m| selection.has_source(&m.id))
                        })
                    });
                    (Color32::from_rgb(60, 60, 80), selected, "chain", "")
                }
            };
            let radius = CornerRadius::same((4.0 * zoom).clamp(0.0, 6.0) as u8);
            painter.rect_filled(screen, radius, fill);
            let outline = if selected {
                Stroke::new(3.0, Color32::from_rgb(255, 220, 60))
            } else if matches.contains(&item_index) {
                Stroke::new(2.0, Color32::from_rgb(80, 200, 255))
            } else if hovered_item == Some(item_index) {
                Stroke::new(1.5, Color32::WHITE)
            } else if zoom >= 0.2 {
                Stroke::new(1.0, Color32::from_gray(30))
            } else {
                Stroke::NONE
            };
            if outline != Stroke::NONE {
                painter.rect_stroke(screen, radius, outline, StrokeKind::Outside);
            }
            if !text {
                continue;
            }
            let size = (12.0 * zoom).clamp(8.0, 16.0);
            let (title, subtitle) = match *item {
                ShownItem::Chain(chain) => {
                    let nodes = self.chains.get(chain).map_or(0, |c| c.nodes.len());
                    (
                        format!("{nodes} nodes"),
                        chain_ops(graph, self.chains.get(chain)),
                    )
                }
                ShownItem::Node(_) => (title.to_owned(), subtitle.to_owned()),
            };
            let chars = ((screen.width() / (size * 0.6)) as usize).max(3);
            painter.text(
                screen.center() - vec2(0.0, size * 0.55),
                Align2::CENTER_CENTER,
                shorten(&title, chars),
                FontId::proportional(size),
                Color32::WHITE,
            );
            painter.text(
                screen.center() + vec2(0.0, size * 0.6),
                Align2::CENTER_CENTER,
                shorten(&subtitle, chars),
                FontId::proportional(size * 0.8),
                Color32::from_gray(210),
            );
        }

        // Hover and click.
        if let Some(item) = hovered_item {
            let tip = self.hover_text(graph, shown, item, metrics);
            response.clone().on_hover_text_at_pointer(tip);
        }
        let clicked = response.clicked().then(|| {
            hovered_item
                .and_then(|item| shown.items.get(item).copied())
                .map(|item| match item {
                    ShownItem::Node(node) => Err(graph
                        .nodes
                        .get(node)
                        .map(|n| n.id.clone())
                        .unwrap_or_default()),
                    ShownItem::Chain(chain) => Ok(chain),
                })
        });
        painter.text(
            rect.right_bottom() - vec2(6.0, 6.0),
            Align2::RIGHT_BOTTOM,
            format!(
                "{} boxes · zoom {:.0} % · layout {:.0} ms · drag to pan, scroll to zoom",
                shown.items.len(),
                self.zoom * 100.0,
                self.layout_millis
            ),
            FontId::proportional(11.0),
            Color32::from_gray(140),
        );
        self.overview_ui(ui, rect);
        match clicked {
            Some(Some(Ok(chain))) => {
                self.collapsed.remove(&chain);
                self.rebuild();
            }
            Some(Some(Err(id))) => self.seen_generation = selection.select_source(&id),
            Some(None) => selection.clear(),
            None => {}
        }
    }

    /// Pan by dragging, zoom by scrolling or pinching around the cursor.
    /// Draws the shape labels of the edges at `labels` (edge index, screen
    /// point): at the Config's shapes when they are known, once per tensor
    /// (a tensor read by several nodes leaves its producer once), and never
    /// over a label already drawn.
    fn edge_labels(
        &self,
        ui: &Ui,
        painter: &egui::Painter,
        shown: &ShownGraph,
        labels: Vec<(usize, Pos2)>,
    ) {
        let mut drawn_tensors: HashSet<&str> = HashSet::new();
        let mut taken: Vec<Rect> = Vec::new();
        for (index, pos) in labels {
            let tensor = shown.edge_tensors.get(index).map_or("", String::as_str);
            if !tensor.is_empty() && !drawn_tensors.insert(tensor) {
                continue;
            }
            let text = match self
                .config_shapes
                .as_ref()
                .and_then(|shapes| shapes.get(tensor))
            {
                Some(dims) => shape_text(dims),
                None => shown.edge_shapes.get(index).cloned().unwrap_or_default(),
            };
            if text.is_empty() {
                continue;
            }
            let galley = ui
                .fonts_mut(|fonts| fonts.layout_no_wrap(text, FontId::monospace(10.0), LABEL_GREY));
            let rect = Align2::LEFT_CENTER
                .anchor_size(pos + vec2(4.0, 0.0), galley.size())
                .expand(1.0);
            if taken.iter().any(|other| other.intersects(rect)) {
                continue;
            }
            taken.push(rect);
            painter.galley(rect.min + vec2(1.0, 1.0), galley, LABEL_GREY);
        }
    }

    fn camera_input(&mut self, ui: &Ui, response: &Response) {
        if response.dragged() {
            self.offset -= response.drag_delta() / self.zoom;
        }
        if let Some(pointer) = response.hover_pos() {
            let (scroll, pinch) = ui.input(|i| (i.smooth_scroll_delta, i.zoom_delta()));
            let factor = pinch * (scroll.y * 0.002).exp();
            if (factor - 1.0).abs() > 1e-4 {
                let anchor = self.to_graph(pointer);
                self.zoom = (self.zoom * factor).clamp(ZOOM_RANGE.0, ZOOM_RANGE.1);
                self.offset = anchor.to_vec2() - (pointer - self.canvas.min) / self.zoom;
            }
            // The scroll is the graph's: the page around it must not scroll too.
            ui.ctx().input_mut(|i| {
                i.smooth_scroll_delta = Vec2::ZERO;
            });
        }
    }

    /// The shown item under graph point `point`.
    fn item_at(&self, shown: &ShownGraph, point: Pos2) -> Option<usize> {
        (0..shown.items.len()).find(|&item| self.item_rect(shown, item).contains(point))
    }

    fn first_selected_node(&self, selection: &Selection) -> Option<usize> {
        let graph = self.graph.as_ref()?;
        let id = selection.source_nodes.first()?;
        graph.nodes.iter().position(|node| &node.id == id)
    }

    fn hover_text(
        &self,
        graph: &ModelGraph,
        shown: &ShownGraph,
        item: usize,
        metrics: Option<&SessionMetrics>,
    ) -> String {
        match shown.items.get(item) {
            Some(ShownItem::Chain(chain)) => format!(
                "{} nodes in a chain: {}\nclick to expand",
                self.chains.get(*chain).map_or(0, |c| c.nodes.len()),
                chain_ops(graph, self.chains.get(*chain))
            ),
            Some(ShownItem::Node(node)) => {
                let Some(model_node) = graph.nodes.get(*node) else {
                    return String::new();
                };
                let mut text = format!("{} ({})", model_node.id, model_node.op_type);
                match metrics.map(|m| (m.model_only, m.by_source.get(&model_node.id))) {
                    Some((false, Some(measured))) => {
                        text.push_str(&format!("\n{}", details::metrics_line(measured)));
                    }
                    Some((
                        true,
                        Some(NodeMetrics {
                            flops: Some(flops), ..
                        }),
                    )) => {
                        text.push_str(&format!(
                            "\n{} by the model's count",
                            crate::model::format_flops(*flops as u64)
                        ));
                    }
                    _ => {}
                }
                text
            }
            None => String::new(),
        }
    }
}

/// The colour of a node with `measured` values.
fn node_fill(
    colour_by: ColourBy,
    metrics: Option<&SessionMetrics>,
    measured: Option<&NodeMetrics>,
) -> Color32 {
    let unmeasured = Color32::from_gray(75);
    let (Some(metrics), Some(measured)) = (metrics, measured) else {
        return unmeasured;
    };
    if metrics.model_only && colour_by != ColourBy::Flops {
        return unmeasured;
    }
    let fraction = match colour_by {
        ColourBy::TimeShare => ratio(measured.share, metrics.max_share),
        ColourBy::Flops => measured.flops.and_then(|v| ratio(v, metrics.max_flops)),
        ColourBy::Bytes => measured.bytes.and_then(|v| ratio(v, metrics.max_bytes)),
    };
    fraction.map_or(unmeasured, heat)
}

fn ratio(value: f64, max: f64) -> Option<f64> {
    (max > 0.0).then(|| (value / max).clamp(0.0, 1.0))
}

/// Cool (small) to hot (large); square root so small values still differ.
fn heat(fraction: f64) -> Color32 {
    let t = fraction.sqrt() as f32;
    let stops = [
        (40.0, 80.0, 120.0),
        (200.0, 170.0, 40.0),
        (220.0, 50.0, 40.0),
    ];
    let (a, b, local) = if t < 0.5 {
        (stops[0], stops[1], t * 2.0)
    } else {
        (stops[1], stops[2], (t - 0.5) * 2.0)
    };
    let mix = |x: f32, y: f32| (x + (y - x) * local).round() as u8;
    Color32::from_rgb(mix(a.0, b.0), mix(a.1, b.1), mix(a.2, b.2))
}

/// The colour scale and what is missing.
fn legend_ui(ui: &mut Ui, colour_by: ColourBy, metrics: Option<&SessionMetrics>, has_report: bool) {
    ui.horizontal_wrapped(|ui| {
        let before_a_run = metrics.is_some_and(|m| m.model_only);
        let missing = match (has_report, metrics) {
            (false, Some(_)) if before_a_run && colour_by == ColourBy::Flops => None,
            (false, _) | (_, None) => Some("no per-layer timings in the shown session: nodes are not coloured (run a profile with per-layer profiling; FLOPs colour without one)"),
            (true, Some(m)) if !m.has_mapping => Some("no source mapping in this session: the timings cannot be placed on the model's nodes"),
            (true, Some(m)) if colour_by == ColourBy::Flops && !m.has_flops => Some("no FLOPs in this session"),
            (true, Some(m)) if colour_by == ColourBy::Bytes && !m.has_bytes => Some("no bytes in this session"),
            _ => None,
        };
        if let Some(missing) = missing {
            ui.label(RichText::new(missing).color(crate::ui::theme::MUTED));
            return;
        }
        let (label, max) = match (colour_by, metrics) {
            (ColourBy::TimeShare, Some(m)) => ("time share", format!("{:.1} %", m.max_share * 100.0)),
            (ColourBy::Flops, Some(m)) if m.model_only => (
                "FLOPs (the model's count, before any run)",
                crate::model::format_flops(m.max_flops as u64),
            ),
            (ColourBy::Flops, Some(m)) => ("FLOPs", crate::model::format_flops(m.max_flops as u64)),
            (ColourBy::Bytes, Some(m)) => ("bytes", crate::util::format_bytes(m.max_bytes as u64)),
            (_, None) => ("", String::new()),
        };
        ui.label(format!("{label}: 0"));
        let (rect, _) = ui.allocate_exact_size(vec2(160.0, 12.0), Sense::hover());
        let steps = 32;
        for step in 0..steps {
            let x0 = rect.left() + rect.width() * step as f32 / steps as f32;
            let x1 = rect.left() + rect.width() * (step + 1) as f32 / steps as f32;
            ui.painter().rect_filled(
                Rect::from_min_max(pos2(x0, rect.top()), pos2(x1, rect.bottom())),
                CornerRadius::ZERO,
                heat(f64::from(step) / f64::from(steps - 1)),
            );
        }
        ui.label(max);
        let (swatch, _) = ui.allocate_exact_size(vec2(12.0, 12.0), Sense::hover());
        ui.painter().rect_filled(swatch, CornerRadius::ZERO, Color32::from_gray(75));
        ui.label("not measured");
        if let Some(m) = metrics
            && m.unplaced_share > 0.0
        {
            ui.label(
                RichText::new(format!("{:.1} % of the time is on inserted or unmatched nodes (see Layers)", m.unplaced_share * 100.0))
                    .color(crate::ui::theme::MUTED),
            );
        }
    });
}

/// The op types of a chain, shortened: `Conv → Relu → … (5)`.
fn chain_ops(graph: &ModelGraph, chain: Option<&Chain>) -> String {
    let Some(chain) = chain else {
        return String::new();
    };
    let ops: Vec<&str> = chain
        .nodes
        .iter()
        .filter_map(|&node| graph.nodes.get(node).map(|n| n.op_type.as_str()))
        .collect();
    if ops.len() <= 3 {
        ops.join(" -> ")
    } else {
        format!("{} -> {} -> ... -> {}", ops[0], ops[1], ops[ops.len() - 1])
    }
}

/// `text` cut to `chars` characters with an ellipsis.
pub(crate) fn shorten(text: &str, chars: usize) -> String {
    if text.chars().count() <= chars {
        text.to_owned()
    } else {
        let cut: String = text.chars().take(chars.saturating_sub(1)).collect();
        format!("{cut}…")
    }
}
