//! The per-layer heatmap: layers × time windows, coloured by time, drawn on
//! the GPU through an `egui_wgpu` paint callback with `shaders/heatmap.wgsl`.
//! The pipeline is built once and kept in the renderer's callback resources;
//! each frame only uploads the cell values.

use egui::{Rect, RichText, Sense, Ui, Vec2};
use egui_wgpu::wgpu;

use super::theme;
use crate::{
    metrics::layers::{LayerTimeline, TimelineAxis},
    util::format_micros,
};

/// Layers shown (the ones with the most total time).
pub const MAX_ROWS: usize = 40;
/// Height of the heatmap, in points.
const HEIGHT: f32 = 180.0;
/// No cell is highlighted.
const NO_HIGHLIGHT: u32 = u32::MAX;

/// Cell values ready for the shader: row-major, 0..1 on the colour scale,
/// above 1 for a cell clipped at its top (drawn marked), negative = no
/// data.
#[derive(Debug, Clone, PartialEq)]
pub struct HeatmapCells {
    pub rows: usize,
    pub cols: usize,
    pub values: Vec<f32>,
    /// The top of the colour scale (value 1.0), in µs: the p99 cell, so one
    /// outlier does not darken every other cell.
    pub scale_micros: f32,
    /// The largest cell, in µs.
    pub max_micros: f32,
    /// Cells above the scale.
    pub clipped: usize,
}

/// Share of the cells at or under the colour scale's top.
const SCALE_QUANTILE: f64 = 0.99;

/// Normalizes the first [`MAX_ROWS`] layers of a timeline to a robust
/// scale: the [`SCALE_QUANTILE`] cell is 1.0.
pub fn cells(timeline: &LayerTimeline) -> HeatmapCells {
    let rows = timeline.nodes.len().min(MAX_ROWS);
    let cols = timeline.columns.len();
    let mut measured: Vec<f32> = timeline
        .columns
        .iter()
        .filter(|column| column.runs > 0)
        .flat_map(|column| column.mean_micros.iter().take(rows).copied())
        .collect();
    measured.sort_by(f32::total_cmp);
    let max_micros = measured.last().copied().unwrap_or(0.0);
    let scale_micros = if measured.is_empty() {
        0.0
    } else {
        let rank =
            ((measured.len() as f64 * SCALE_QUANTILE).ceil() as usize).clamp(1, measured.len());
        measured[rank - 1]
    };
    let scale_micros = if scale_micros > 0.0 {
        scale_micros
    } else {
        max_micros
    };
    let mut values = vec![-1.0f32; rows * cols];
    let mut clipped = 0;
    for (col, column) in timeline.columns.iter().enumerate() {
        for (row, micros) in column.mean_micros.iter().take(rows).enumerate() {
            if column.runs > 0 {
                let value = if scale_micros > 0.0 {
                    micros / scale_micros
                } else {
                    0.0
                };
                clipped += usize::from(value > 1.0);
                values[row * cols + col] = value;
            }
        }
    }
    HeatmapCells {
        rows,
        cols,
        values,
        scale_micros,
        max_micros,
        clipped,
    }
}

/// GPU objects shared by every heatmap draw.
struct HeatmapResources {
    pipeline: wgpu::RenderPipeline,
    bind_group_layout: wgpu::BindGroupLayout,
    params: wgpu::Buffer,
    cells: wgpu::Buffer,
    cells_capacity: u64,
    bind_group: wgpu::BindGroup,
}

fn make_bind_group(
    device: &wgpu::Device,
    layout: &wgpu::BindGroupLayout,
    params: &wgpu::Buffer,
    cells: &wgpu::Buffer,
) -> wgpu::BindGroup {
    device.create_bind_group(&wgpu::BindGroupDescriptor {
        label: Some("onnx-workbench heatmap bind group"),
        layout,
        entries: &[
            wgpu::BindGroupEntry {
                binding: 0,
                resource: params.as_entire_binding(),
            },
            wgpu::BindGroupEntry {
                binding: 1,
                resource: cells.as_entire_binding(),
            },
        ],
    })
}

fn cells_buffer(device: &wgpu::Device, capacity: u64) -> wgpu::Buffer {
    device.create_buffer(&wgpu::BufferDescriptor {
        label: Some("onnx-workbench heatmap cells"),
        size: capacity * 4,
        usage: wgpu::BufferUsages::STORAGE | wgpu::BufferUsages::COPY_DST,
        mapped_at_creation: false,
    })
}

/// Builds the pipeline and stores it in the renderer's callback resources;
/// `false` when the adapter cannot run the shader (OpenGL adapters have no
/// storage buffers in fragment shaders), and the heatmap is left out.
pub fn install(render_state: &egui_wgpu::RenderState) -> bool {
    let device = &render_state.device;
    if device.limits().max_storage_buffers_per_shader_stage == 0 {
        return false;
    }
    let shader = device.create_shader_module(wgpu::ShaderModuleDescriptor {
        label: Some("onnx-workbench heatmap shader"),
        source: wgpu::ShaderSource::Wgsl(include_str!("../../shaders/heatmap.wgsl").into()),
    });
    let bind_group_layout = device.create_bind_group_layout(&wgpu::BindGroupLayoutDescriptor {
        label: Some("onnx-workbench heatmap bind group layout"),
        entries: &[
            wgpu::BindGroupLayoutEntry {
                binding: 0,
                visibility: wgpu::ShaderStages::FRAGMENT,
                ty: wgpu::BindingType::Buffer {
                    ty: wgpu::BufferBindingType::Uniform,
                    has_dynamic_offset: false,
                    min_binding_size: None,
                },
                count: None,
            },
            wgpu::BindGroupLayoutEntry {
                binding: 1,
                visibility: wgpu::ShaderStages::FRAGMENT,
                ty: wgpu::BindingType::Buffer {
                    ty: wgpu::BufferBindingType::Storage { read_only: true },
                    has_dynamic_offset: false,
                    min_binding_size: None,
                },
                count: None,
            },
        ],
    });
    let pipeline_layout = device.create_pipeline_layout(&wgpu::PipelineLayoutDescriptor {
        label: Some("onnx-workbench heatmap pipeline layout"),
        bind_group_layouts: &[Some(&bind_group_layout)],
        immediate_size: 0,
    });
    let pipeline = device.create_render_pipeline(&wgpu::RenderPipelineDescriptor {
        label: Some("onnx-workbench heatmap pipeline"),
        layout: Some(&pipeline_layout),
        vertex: wgpu::VertexState {
            module: &shader,
            entry_point: Some("vs_main"),
            compilation_options: wgpu::PipelineCompilationOptions::default(),
            buffers: &[],
        },
        fragment: Some(wgpu::FragmentState {
            module: &shader,
            entry_point: Some("fs_main"),
            compilation_options: wgpu::PipelineCompilationOptions::default(),
            targets: &[Some(wgpu::ColorTargetState {
                format: render_state.target_format,
                blend: Some(wgpu::BlendState::ALPHA_BLENDING),
                write_mask: wgpu::ColorWrites::ALL,
            })],
        }),
        primitive: wgpu::PrimitiveState::default(),
        depth_stencil: None,
        multisample: wgpu::MultisampleState::default(),
        multiview_mask: None,
        cache: None,
    });
    let params = device.create_buffer(&wgpu::BufferDescriptor {
        label: Some("onnx-workbench heatmap params"),
        size: 16,
        usage: wgpu::BufferUsages::UNIFORM | wgpu::BufferUsages::COPY_DST,
        mapped_at_creation: false,
    });
    let cells_capacity = 1024;
    let cells = cells_buffer(device, cells_capacity);
    let bind_group = make_bind_group(device, &bind_group_layout, &params, &cells);
    render_state
        .renderer
        .write()
        .callback_resources
        .insert(HeatmapResources {
            pipeline,
            bind_group_layout,
            params,
            cells,
            cells_capacity,
            bind_group,
        });
    true
}

/// One frame's heatmap draw.
struct HeatmapCallback {
    params: [u32; 4],
    values: Vec<f32>,
}

impl egui_wgpu::CallbackTrait for HeatmapCallback {
    fn prepare(
        &self,
        device: &wgpu::Device,
        queue: &wgpu::Queue,
        _screen_descriptor: &egui_wgpu::ScreenDescriptor,
        _encoder: &mut wgpu::CommandEncoder,
        resources: &mut egui_wgpu::CallbackResources,
    ) -> Vec<wgpu::CommandBuffer> {
        let Some(heatmap) = resources.get_mut::<HeatmapResources>() else {
            return Vec::new();
        };
        let needed = (self.values.len() as u64).max(1);
        if needed > heatmap.cells_capacity {
            heatmap.cells_capacity = needed.next_power_of_two();
            heatmap.cells = cells_buffer(device, heatmap.cells_capacity);
            heatmap.bind_group = make_bind_group(
                device,
                &heatmap.bind_group_layout,
                &heatmap.params,
                &heatmap.cells,
            );
        }
        queue.write_buffer(&heatmap.params, 0, bytemuck::cast_slice(&self.params));
        queue.write_buffer(&heatmap.cells, 0, bytemuck::cast_slice(&self.values));
        Vec::new()
    }

    fn paint(
        &self,
        _info: egui::PaintCallbackInfo,
        render_pass: &mut wgpu::RenderPass<'static>,
        resources: &egui_wgpu::CallbackResources,
    ) {
        let Some(heatmap) = resources.get::<HeatmapResources>() else {
            return;
        };
        render_pass.set_pipeline(&heatmap.pipeline);
        render_pass.set_bind_group(0, &heatmap.bind_group, &[]);
        render_pass.draw(0..6, 0..1);
    }
}

/// Draws the heatmap with hover details.
pub fn heatmap_ui(ui: &mut Ui, timeline: Option<&LayerTimeline>) {
    let Some(timeline) = timeline.filter(|t| !t.columns.is_empty() && !t.nodes.is_empty()) else {
        ui.label(RichText::new("No per-layer timeline for this run.").color(theme::MUTED));
        return;
    };
    let cells = cells(timeline);
    let (rect, response) =
        ui.allocate_exact_size(Vec2::new(ui.available_width(), HEIGHT), Sense::hover());
    let hovered = response
        .hover_pos()
        .and_then(|pos| cell_at(rect, &cells, pos));
    let (highlight_row, highlight_col) = hovered
        .map_or((NO_HIGHLIGHT, NO_HIGHLIGHT), |(row, col)| {
            (row as u32, col as u32)
        });
    ui.painter().add(egui_wgpu::Callback::new_paint_callback(
        rect,
        HeatmapCallback {
            params: [
                cells.rows as u32,
                cells.cols as u32,
                highlight_row,
                highlight_col,
            ],
            values: cells.values.clone(),
        },
    ));
    if let Some((row, col)) = hovered
        && let (Some(node), Some(column)) = (timeline.nodes.get(row), timeline.columns.get(col))
    {
        let micros = column.mean_micros.get(row).copied().unwrap_or(0.0);
        let window = match timeline.axis {
            TimelineAxis::Seconds => {
                format!("second {}–{} of the load", column.index, column.index + 1)
            }
            TimelineAxis::ProfiledRun => format!("profiled run {}", column.index + 1),
        };
        response.on_hover_text(format!(
            "{node}\n{window}\nmean {} over {} run(s)",
            format_micros(f64::from(micros)),
            column.runs
        ));
    }
    let axis = match timeline.axis {
        TimelineAxis::Seconds => "seconds of the load (sampled profiling)",
        TimelineAxis::ProfiledRun => "profiled runs (separate pass)",
    };
    ui.label(
        RichText::new(format!(
            "rows: top {} of {} layers by total time; columns: {axis}; colour scale 0 to {} (the p99 cell){}",
            cells.rows,
            timeline.nodes.len(),
            format_micros(f64::from(cells.scale_micros)),
            if cells.clipped > 0 {
                format!(
                    "; {} brighter cell(s) clipped, marked with a white corner (up to {})",
                    cells.clipped,
                    format_micros(f64::from(cells.max_micros))
                )
            } else {
                String::new()
            }
        ))
        .small()
        .color(theme::MUTED),
    );
}

fn cell_at(rect: Rect, cells: &HeatmapCells, pos: egui::Pos2) -> Option<(usize, usize)> {
    if !rect.contains(pos) || cells.rows == 0 || cells.cols == 0 {
        return None;
    }
    let col = (((pos.x - rect.left()) / rect.width()) * cells.cols as f32) as usize;
    let row = (((pos.y - rect.top()) / rect.height()) * cells.rows as f32) as usize;
    Some((row.min(cells.rows - 1), col.min(cells.cols - 1)))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::metrics::layers::TimelineColumn;

    #[test]
    fn cells_are_normalized_to_the_largest_value() {
        let timeline = LayerTimeline {
            axis: TimelineAxis::Seconds,
            nodes: vec!["a".into(), "b".into()],
            columns: vec![
                TimelineColumn {
                    index: 0,
                    runs: 2,
                    mean_micros: vec![10.0, 40.0],
                },
                TimelineColumn {
                    index: 1,
                    runs: 0,
                    mean_micros: vec![0.0, 0.0],
                },
            ],
        };
        let cells = cells(&timeline);
        assert_eq!((cells.rows, cells.cols), (2, 2));
        assert_eq!(cells.values, vec![0.25, -1.0, 1.0, -1.0]);
        assert_eq!(
            (cells.max_micros, cells.scale_micros, cells.clipped),
            (40.0, 40.0, 0)
        );
        let rect = Rect::from_min_size(egui::pos2(0.0, 0.0), Vec2::new(100.0, 100.0));
        assert_eq!(cell_at(rect, &cells, egui::pos2(75.0, 10.0)), Some((0, 1)));
        assert_eq!(cell_at(rect, &cells, egui::pos2(150.0, 10.0)), None);
    }

    #[test]
    fn one_outlier_cell_is_clipped_instead_of_setting_the_scale() {
        // 200 cells of 10 µs and one of 1000 µs.
        let mut mean_micros = vec![10.0; 201];
        mean_micros[7] = 1000.0;
        let timeline = LayerTimeline {
            axis: TimelineAxis::Seconds,
            nodes: (0..1).map(|i| format!("n{i}")).collect(),
            columns: mean_micros
                .iter()
                .enumerate()
                .map(|(index, micros)| TimelineColumn {
                    index: index as u64,
                    runs: 1,
                    mean_micros: vec![*micros],
                })
                .collect(),
        };
        let cells = cells(&timeline);
        assert_eq!(cells.scale_micros, 10.0, "the p99 cell sets the scale");
        assert_eq!(cells.clipped, 1);
        assert_eq!(cells.values[0], 1.0, "ordinary cells are bright, not black");
        assert!(cells.values[7] > 1.0, "the outlier is marked as clipped");
    }
}
