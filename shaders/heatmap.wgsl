// Per-layer time over the run: one cell per (layer, time window), coloured
// by the layer's mean time in that window relative to the p99 cell; cells
// above it are clipped and marked.
// Drawn as one full-viewport triangle pair inside an egui paint callback.

struct Params {
    rows: u32,
    cols: u32,
    // Cell to outline (the hovered one), or u32 max for none.
    highlight_row: u32,
    highlight_col: u32,
};

@group(0) @binding(0) var<uniform> params: Params;
// rows * cols values, row-major: 0..1 on the scale, above 1 clipped,
// negative means "no data".
@group(0) @binding(1) var<storage, read> cells: array<f32>;

struct VertexOut {
    @builtin(position) position: vec4<f32>,
    @location(0) uv: vec2<f32>,
};

@vertex
fn vs_main(@builtin(vertex_index) index: u32) -> VertexOut {
    // Two triangles covering the viewport (the callback's rectangle).
    var corners = array<vec2<f32>, 6>(
        vec2<f32>(0.0, 0.0), vec2<f32>(1.0, 0.0), vec2<f32>(0.0, 1.0),
        vec2<f32>(0.0, 1.0), vec2<f32>(1.0, 0.0), vec2<f32>(1.0, 1.0),
    );
    let uv = corners[index];
    var out: VertexOut;
    out.position = vec4<f32>(uv.x * 2.0 - 1.0, 1.0 - uv.y * 2.0, 0.0, 1.0);
    out.uv = uv;
    return out;
}

// A perceptual dark-blue to yellow ramp (an approximation of viridis).
fn ramp(t: f32) -> vec3<f32> {
    let c0 = vec3<f32>(0.267, 0.005, 0.329);
    let c1 = vec3<f32>(0.128, 0.567, 0.551);
    let c2 = vec3<f32>(0.993, 0.906, 0.144);
    if (t < 0.5) {
        return mix(c0, c1, t * 2.0);
    }
    return mix(c1, c2, (t - 0.5) * 2.0);
}

@fragment
fn fs_main(in: VertexOut) -> @location(0) vec4<f32> {
    let col = min(u32(in.uv.x * f32(params.cols)), params.cols - 1u);
    let row = min(u32(in.uv.y * f32(params.rows)), params.rows - 1u);
    let value = cells[row * params.cols + col];
    var color = vec3<f32>(0.12, 0.12, 0.12);
    if (value >= 0.0) {
        color = ramp(clamp(value, 0.0, 1.0));
    }
    // A cell above the colour scale (clipped): a white top-left corner.
    if (value > 1.0) {
        let local = fract(vec2<f32>(in.uv.x * f32(params.cols), in.uv.y * f32(params.rows)));
        if (local.x + local.y < 0.6) {
            color = mix(color, vec3<f32>(1.0, 1.0, 1.0), 0.85);
        }
    }
    if (row == params.highlight_row && col == params.highlight_col) {
        color = mix(color, vec3<f32>(1.0, 1.0, 1.0), 0.45);
    }
    return vec4<f32>(color, 1.0);
}
