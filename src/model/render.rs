//! Plain-text rendering of a [`ModelSummary`] for the CLI's `inspect`
//! command: aligned tables, human-readable sizes (through `crate::util`),
//! and a footnote for unnamed dims.

use std::fmt::{self, Write as _};

use super::flops::FlopEstimate;
use super::inspect::ModelSummary;
use super::shapes::UNNAMED_DIM_KEY;
use super::types::{Dim, TensorInfo};
use crate::util::{format_bytes, format_count};

/// Formats a FLOP count with decimal units: `529.41 KFLOPs`, `4.11 GFLOPs`.
pub fn format_flops(flops: u64) -> String {
    const PREFIXES: [&str; 6] = ["K", "M", "G", "T", "P", "E"];
    if flops < 1000 {
        return format!("{flops} FLOPs");
    }
    let mut scaled = flops as f64 / 1000.0;
    let mut prefix_index = 0;
    while scaled >= 1000.0 && prefix_index + 1 < PREFIXES.len() {
        scaled /= 1000.0;
        prefix_index += 1;
    }
    let prefix = PREFIXES.get(prefix_index).copied().unwrap_or("E");
    format!("{scaled:.2} {prefix}FLOPs")
}

/// Formats a shape as `[batch, 3, ?, ?]`, or `unknown rank`.
pub fn format_shape(shape: Option<&[Dim]>) -> String {
    match shape {
        None => "unknown rank".to_owned(),
        Some(dims) => {
            let dims = dims.iter().map(Dim::to_string).collect::<Vec<_>>();
            format!("[{}]", dims.join(", "))
        }
    }
}

/// Alignment of a table column.
#[derive(Clone, Copy)]
enum Align {
    Left,
    Right,
}

/// Writes rows as a table indented by two spaces, columns padded to the
/// widest cell. The first row is the header.
fn write_table(out: &mut String, aligns: &[Align], rows: &[Vec<String>]) {
    let columns = aligns.len();
    let widths = (0..columns)
        .map(|column| {
            rows.iter()
                .filter_map(|row| row.get(column))
                .map(|cell| cell.chars().count())
                .max()
                .unwrap_or(0)
        })
        .collect::<Vec<_>>();
    for row in rows {
        let mut line = String::from(" ");
        for ((cell, width), align) in row.iter().zip(&widths).zip(aligns) {
            line.push(' ');
            let _ = match align {
                Align::Left => write!(line, "{cell:<width$}"),
                Align::Right => write!(line, "{cell:>width$}"),
            };
            line.push(' ');
        }
        out.push_str(line.trim_end());
        out.push('\n');
    }
}

fn tensor_rows(tensors: &[TensorInfo]) -> Vec<Vec<String>> {
    let header = ["name", "dtype", "shape"].map(str::to_owned).to_vec();
    std::iter::once(header)
        .chain(tensors.iter().map(|tensor| {
            vec![
                tensor.name.clone(),
                tensor.dtype.to_string(),
                format_shape(tensor.shape.as_deref()),
            ]
        }))
        .collect()
}

impl ModelSummary {
    /// The generative section: layout, layers, heads, vocabulary and the
    /// KV cache per token and at `context` tokens (default: the most
    /// positions the model takes, else 2,048).
    pub fn render_generative(&self, out: &mut String, context: Option<u64>) {
        let Some(layout) = &self.generative else {
            return;
        };
        let _ = writeln!(out, "\nGenerative decoder: {}", layout.kind.describe());
        let heads = match layout.query_heads {
            Some(query) if query != layout.kv_heads => {
                format!("{query} query heads, {} key/value heads", layout.kv_heads)
            }
            Some(_) => format!("{} heads", layout.kv_heads),
            // The cache shows the key/value heads only; with grouped-query
            // attention there are more query heads.
            None => format!("{} key/value heads", layout.kv_heads),
        };
        let vocab = layout
            .vocab
            .map_or_else(|| "unknown".to_owned(), format_count);
        let _ = writeln!(
            out,
            "  {} layers, {heads}, head size {}, vocabulary {vocab}",
            layout.layers.len(),
            layout.head_size
        );
        let _ = writeln!(
            out,
            "  KV cache per token: {} ({})",
            format_bytes(layout.kv_bytes_per_token),
            layout.kv_dtype
        );
        match (layout.max_positions, &layout.max_positions_source) {
            (Some(positions), Some(source)) => {
                let _ = writeln!(
                    out,
                    "  most positions: {} ({source})",
                    format_count(positions)
                );
            }
            _ => {
                let _ = writeln!(out, "  most positions: not found in the graph");
            }
        }
        let context = context.or(layout.max_positions).unwrap_or(2048);
        let _ = writeln!(
            out,
            "  KV cache at {} tokens: {} per sequence",
            format_count(context),
            format_bytes(layout.kv_bytes(1, context))
        );
    }

    /// The human-readable report printed by `inspect`.
    pub fn render_text(&self) -> String {
        let mut out = String::new();
        let opsets = self
            .opsets
            .iter()
            .map(|opset| format!("{} {}", opset.domain, opset.version))
            .collect::<Vec<_>>()
            .join(", ");
        let producer = match (self.producer_name.as_str(), self.producer_version.as_str()) {
            ("", "") => "unknown".to_owned(),
            (name, "") => name.to_owned(),
            ("", version) => format!("unknown {version}"),
            (name, version) => format!("{name} {version}"),
        };
        let graph_name = if self.graph_name.is_empty() {
            "(unnamed)"
        } else {
            &self.graph_name
        };
        out.push_str("Model\n");
        let header = [
            ["IR version", &self.ir_version.to_string()],
            ["opsets", &opsets],
            ["producer", &producer],
            ["graph", graph_name],
        ];
        write_table(
            &mut out,
            &[Align::Left, Align::Left],
            &header.map(|row| row.map(str::to_owned).to_vec()),
        );

        for (title, tensors) in [("Inputs", &self.inputs), ("Outputs", &self.outputs)] {
            let _ = writeln!(out, "\n{title} ({})", tensors.len());
            if !tensors.is_empty() {
                write_table(&mut out, &[Align::Left; 3], &tensor_rows(tensors));
            }
        }

        let _ = writeln!(out, "\nNodes: {}", format_count(self.node_count as u64));
        if !self.op_histogram.is_empty() {
            let rows = std::iter::once(vec!["op_type".to_owned(), "count".to_owned()])
                .chain(
                    self.op_histogram
                        .iter()
                        .map(|op| vec![op.op_type.clone(), format_count(op.count as u64)]),
                )
                .collect::<Vec<_>>();
            write_table(&mut out, &[Align::Left, Align::Right], &rows);
        }

        let _ = writeln!(
            out,
            "\nParameters: {} ({})",
            format_count(self.param_count),
            format_bytes(self.param_bytes)
        );
        if self.external_data_bytes > 0 {
            let _ = writeln!(
                out,
                "  in external data: {}",
                format_bytes(self.external_data_bytes)
            );
        }

        self.render_flops(&mut out);
        self.render_generative(&mut out, None);

        if !self.warnings.is_empty() {
            let _ = writeln!(out, "\nWarnings ({})", self.warnings.len());
            for warning in &self.warnings {
                let _ = writeln!(out, "  - {warning}");
            }
        }

        let has_unnamed = self
            .inputs
            .iter()
            .chain(&self.outputs)
            .filter_map(|tensor| tensor.shape.as_ref())
            .flatten()
            .any(|dim| *dim == Dim::Unnamed);
        if has_unnamed {
            out.push_str("\n? = unnamed dynamic dimension (no dim_param in the model, or a negative dim_value)\n");
        }
        out
    }

    fn render_flops(&self, out: &mut String) {
        let Some(flops) = &self.flops else {
            out.push_str("\nFLOPs: no Conv, ConvTranspose, Einsum, MatMul or Gemm nodes\n");
            return;
        };
        let mut bound = flops
            .input_shapes
            .iter()
            .map(|(name, shape)| {
                let dims = shape.iter().map(i64::to_string).collect::<Vec<_>>();
                format!("{name}={}", dims.join("x"))
            })
            .collect::<Vec<_>>();
        let symbols = flops
            .dims_used
            .iter()
            .filter(|(name, _)| bound.is_empty() || name.as_str() != UNNAMED_DIM_KEY)
            .map(|(name, value)| format!("{name}={value}"))
            .collect::<Vec<_>>();
        let binding = match (bound.is_empty(), symbols.is_empty()) {
            (true, true) => String::new(),
            (true, false) => format!(" with {}", symbols.join(", ")),
            (false, true) => format!(" with {}", bound.join(", ")),
            (false, false) => format!(" with {} ({})", bound.join(", "), symbols.join(", ")),
        };
        bound.clear();
        let _ = write!(
            out,
            "\nFLOPs per inference{binding}: {}",
            format_count(flops.total)
        );
        if flops.total >= 1000 {
            let _ = write!(out, " ({})", format_flops(flops.total));
        }
        out.push('\n');
        if !flops.by_op_type.is_empty() {
            let rows = std::iter::once(["op_type", "FLOPs", "share"].map(str::to_owned).to_vec())
                .chain(flops.by_op_type.iter().map(|(op_type, value)| {
                    let share_percent = if flops.total == 0 {
                        0.0
                    } else {
                        *value as f64 * 100.0 / flops.total as f64
                    };
                    vec![
                        op_type.clone(),
                        format_count(*value),
                        format!("{share_percent:.1}%"),
                    ]
                }))
                .collect::<Vec<_>>();
            write_table(out, &[Align::Left, Align::Right, Align::Right], &rows);
        }
        render_not_counted(flops, out);
    }
}

/// Shape losses listed in the text; the JSON has them all.
const MAX_LOSSES_SHOWN: usize = 5;

/// The nodes left out of the total and where shapes were lost first.
fn render_not_counted(flops: &FlopEstimate, out: &mut String) {
    if !flops.not_counted.is_empty() {
        out.push_str("  Not counted (the total is a lower bound):\n");
        let rows = flops
            .not_counted
            .iter()
            .map(|uncounted| {
                let nodes = if uncounted.nodes == 1 {
                    "node"
                } else {
                    "nodes"
                };
                vec![
                    format!("  {}", uncounted.op_type),
                    format!("{} {nodes}", uncounted.nodes),
                    uncounted.reason.describe().to_owned(),
                ]
            })
            .collect::<Vec<_>>();
        write_table(out, &[Align::Left, Align::Right, Align::Left], &rows);
    }
    if flops.nodes_without_shapes > 0 && !flops.shape_losses.is_empty() {
        let shown = flops
            .shape_losses
            .iter()
            .take(MAX_LOSSES_SHOWN)
            .map(|loss| {
                format!(
                    "{} ({}: {})",
                    loss.node,
                    loss.op_type,
                    loss.reason.describe()
                )
            })
            .collect::<Vec<_>>();
        let more = flops.shape_losses.len().saturating_sub(MAX_LOSSES_SHOWN);
        let _ = write!(out, "  Shapes lost first at: {}", shown.join(", "));
        if more > 0 {
            let _ = write!(out, " and {more} more");
        }
        out.push('\n');
    }
}

impl fmt::Display for ModelSummary {
    /// Same as [`ModelSummary::render_text`].
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.render_text())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn formats_flops_and_shapes() {
        assert_eq!(format_flops(999), "999 FLOPs");
        assert_eq!(format_flops(529_408), "529.41 KFLOPs");
        assert_eq!(format_flops(4_110_000_000), "4.11 GFLOPs");
        assert_eq!(format_flops(u64::MAX), "18.45 EFLOPs");
        assert_eq!(
            format_shape(Some(&[
                Dim::Symbolic("batch".into()),
                Dim::Fixed(3),
                Dim::Unnamed
            ])),
            "[batch, 3, ?]"
        );
        assert_eq!(format_shape(Some(&[])), "[]");
        assert_eq!(format_shape(None), "unknown rank");
    }
}
