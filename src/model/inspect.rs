//! The model summary behind the CLI's `inspect` command and the UI's model
//! panel: header fields, inputs and outputs, op histogram, parameter counts,
//! FLOPs and warnings. Building it reads no external data.

use std::collections::{BTreeMap, HashMap};

use serde::{Deserialize, Serialize};

use super::external::external_data_info;
use super::flops::{FLOP_OP_TYPES, FlopEstimate, estimate_flops_with};
use super::onnx::{GraphProto, NodeProto, TensorProto};
use super::shapes::qualified_op_type;
use super::tensor::is_external;
use super::types::{ElemType, TensorInfo, element_count};
use super::walk::for_each_graph;
use super::weights::WeightSource;
use super::{MAX_KNOWN_IR_VERSION, Model};

/// An operator set the model imports.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct OpsetInfo {
    /// The domain; the default domain `""` is shown as `ai.onnx`.
    pub domain: String,
    /// The opset version.
    pub version: i64,
}

/// How many nodes of one op type the main graph has.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct OpCount {
    /// The op type, prefixed with `domain:` outside the default domain
    /// (e.g. `com.microsoft:FusedGemm`).
    pub op_type: String,
    /// Number of nodes.
    pub count: usize,
}

/// A summary of a model, cheap to build and to serialize. Missing fields
/// deserialize as their defaults, so exports from older versions still load.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct ModelSummary {
    /// The ONNX IR version.
    pub ir_version: i64,
    /// Imported operator sets, in the model's order.
    pub opsets: Vec<OpsetInfo>,
    /// The tool that wrote the model, e.g. `pytorch`.
    pub producer_name: String,
    /// That tool's version.
    pub producer_version: String,
    /// The main graph's name.
    pub graph_name: String,
    /// Graph inputs that are not initializers: what a caller must feed.
    pub inputs: Vec<TensorInfo>,
    /// Graph outputs.
    pub outputs: Vec<TensorInfo>,
    /// Nodes in the main graph (subgraph nodes are not counted).
    pub node_count: usize,
    /// Nodes per op type, most frequent first, ties by name.
    pub op_histogram: Vec<OpCount>,
    /// Parameter elements: the main graph's weights (see
    /// [`crate::model::weights`]: stored, or computed from constants such as
    /// `ConstantOfShape` fills), sparse initializers, and the initializers
    /// and Constant-node tensors of subgraphs, internal or external.
    pub param_count: u64,
    /// Bytes of those parameters, from dims × element size (strings by length).
    pub param_bytes: u64,
    /// Bytes of those parameters stored in external data files.
    pub external_data_bytes: u64,
    /// FLOPs per inference at the dims a run with nothing set uses (batch 1,
    /// the chosen [`Self::dim_defaults`], other open dims 1); `None` when the model
    /// has no Conv, ConvTranspose, Einsum, MatMul or Gemm node and no node
    /// it cannot count.
    pub flops: Option<FlopEstimate>,
    /// Things worth knowing: unnamed or negative dims, unknown element
    /// types, newer IR versions, uncounted subgraph nodes, ...
    pub warnings: Vec<String>,
    /// A decoder with a KV cache: its layout, layers, heads and cache size.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub generative: Option<super::generative::DecoderLayout>,
    /// Sizes chosen for dynamic dims a run leaves unset (image size,
    /// sequence length; see [`super::dim_defaults`]); none for decoders.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub dim_defaults: Vec<super::DimDefault>,
}

/// Running totals of parameters.
#[derive(Default)]
struct ParamTotals {
    count: u64,
    bytes: u64,
    external_bytes: u64,
}

impl ParamTotals {
    fn add(&mut self, count: u64, bytes: u64, is_external: bool) {
        self.count = self.count.saturating_add(count);
        self.bytes = self.bytes.saturating_add(bytes);
        if is_external {
            self.external_bytes = self.external_bytes.saturating_add(bytes);
        }
    }

    /// Adds a dense tensor's elements and bytes; problems become warnings.
    fn add_tensor(&mut self, tensor: &TensorProto, warnings: &mut Vec<String>) {
        let name = tensor.name();
        let Some(count) = element_count(&tensor.dims) else {
            warnings.push(format!(
                "tensor {name:?} has invalid dims {:?}; not counted",
                tensor.dims
            ));
            return;
        };
        let elem_type = ElemType::from_code(tensor.data_type());
        let bytes = match elem_type {
            ElemType::String => tensor
                .string_data
                .iter()
                .fold(0u64, |sum, s| sum.saturating_add(s.len() as u64)),
            _ => match elem_type.storage_bytes(count) {
                Some(bytes) => bytes,
                None => {
                    warnings.push(format!(
                        "tensor {name:?} has element type {elem_type} of unknown size; bytes not counted"
                    ));
                    0
                }
            },
        };
        let external = is_external(tensor);
        if external
            && let Ok(Some(info)) = external_data_info(tensor)
            && let Some(length) = info.length_bytes
            && length != bytes
        {
            warnings.push(format!(
                "tensor {name:?} declares {length} bytes of external data but its dims need {bytes}"
            ));
        }
        self.add(count, bytes, external);
    }

    /// Adds the tensor of a Constant node, whichever attribute holds it.
    fn add_constant_node(&mut self, node: &NodeProto, warnings: &mut Vec<String>) {
        const FLOAT32_BYTES: u64 = 4;
        const INT64_BYTES: u64 = 8;
        for attr in &node.attribute {
            match attr.name() {
                "value" => {
                    if let Some(tensor) = &attr.t {
                        self.add_tensor(tensor, warnings);
                    }
                }
                "sparse_value" => {
                    if let Some(sparse) = &attr.sparse_tensor {
                        for tensor in sparse.values.iter().chain(&sparse.indices) {
                            self.add_tensor(tensor, warnings);
                        }
                    }
                }
                "value_float" => self.add(1, FLOAT32_BYTES, false),
                "value_floats" => {
                    let count = attr.floats.len() as u64;
                    self.add(count, count * FLOAT32_BYTES, false);
                }
                "value_int" => self.add(1, INT64_BYTES, false),
                "value_ints" => {
                    let count = attr.ints.len() as u64;
                    self.add(count, count * INT64_BYTES, false);
                }
                "value_string" => self.add(1, attr.s().len() as u64, false),
                "value_strings" => {
                    let bytes = attr.strings.iter().map(|s| s.len() as u64).sum();
                    self.add(attr.strings.len() as u64, bytes, false);
                }
                _ => {}
            }
        }
    }
}

impl Model {
    /// Adds the main graph's weights ([`super::weights`]): stored ones as
    /// they are stored, computed ones (fills, reshaped fills, ...) by their
    /// element count, from shape inference where the constant nodes alone
    /// do not tell.
    fn add_main_graph_weights(
        &self,
        graph: &GraphProto,
        params: &mut ParamTotals,
        warnings: &mut Vec<String>,
    ) {
        let weights = super::weights::weights(graph);
        let needs_inference = weights.iter().any(|w| w.elements.is_none());
        let inferred = needs_inference.then(|| super::shapes::infer_shapes(self, &BTreeMap::new()));
        let mut unknown = Vec::new();
        for weight in &weights {
            match weight.source {
                WeightSource::Initializer(tensor) => params.add_tensor(tensor, warnings),
                WeightSource::ConstantNode(node) => params.add_constant_node(node, warnings),
                WeightSource::Computed(_) => {
                    let elements = weight.elements.or_else(|| {
                        inferred
                            .as_ref()?
                            .shapes
                            .get(weight.name)
                            .and_then(|shape| element_count(shape))
                    });
                    match elements {
                        Some(count) => {
                            let bytes = weight.elem_type.storage_bytes(count).unwrap_or(0);
                            params.add(count, bytes, false);
                        }
                        None => unknown.push(weight.name),
                    }
                }
            }
        }
        if !unknown.is_empty() {
            warnings.push(format!(
                "{} computed weight{} of unknown size not counted in the parameters: {}{}",
                unknown.len(),
                if unknown.len() == 1 { "" } else { "s" },
                unknown
                    .iter()
                    .take(3)
                    .copied()
                    .collect::<Vec<_>>()
                    .join(", "),
                if unknown.len() > 3 { ", …" } else { "" }
            ));
        }
    }

    /// Summarizes the model. Reads no external data: external tensors are
    /// counted from their dims.
    pub fn summary(&self) -> ModelSummary {
        let proto = &self.proto;
        let mut warnings = Vec::new();
        let ir_version = proto.ir_version();
        if ir_version > MAX_KNOWN_IR_VERSION {
            warnings.push(format!(
                "IR version {ir_version} is newer than this tool knows ({MAX_KNOWN_IR_VERSION}); \
                 fields added since are dropped when the model is re-saved"
            ));
        }
        let opsets = proto
            .opset_import
            .iter()
            .map(|opset| OpsetInfo {
                domain: display_domain(opset.domain()).to_owned(),
                version: opset.version(),
            })
            .collect::<Vec<_>>();

        let empty_graph = GraphProto::default();
        let graph = proto.graph.as_ref().unwrap_or(&empty_graph);
        let (inputs, outputs) = super::types::graph_io(graph, &mut warnings);

        let mut op_counts: HashMap<String, usize> = HashMap::new();
        for node in &graph.node {
            *op_counts.entry(qualified_op_type(node)).or_default() += 1;
        }
        let mut op_histogram = op_counts
            .into_iter()
            .map(|(op_type, count)| OpCount { op_type, count })
            .collect::<Vec<_>>();
        op_histogram.sort_by(|a, b| {
            b.count
                .cmp(&a.count)
                .then_with(|| a.op_type.cmp(&b.op_type))
        });

        self.check_domains(graph, &mut warnings);

        let mut params = ParamTotals::default();
        let mut subgraph_nodes = 0usize;
        let mut graph_count = 0usize;
        self.add_main_graph_weights(graph, &mut params, &mut warnings);
        for_each_graph(graph, &mut |g| {
            graph_count += 1;
            if graph_count > 1 {
                subgraph_nodes += g.node.len();
            }
            for sparse in &g.sparse_initializer {
                for tensor in sparse.values.iter().chain(&sparse.indices) {
                    params.add_tensor(tensor, &mut warnings);
                }
            }
            if graph_count == 1 {
                return;
            }
            for tensor in &g.initializer {
                params.add_tensor(tensor, &mut warnings);
            }
            for node in g
                .node
                .iter()
                .filter(|node| node.op_type() == "Constant" && super::node::is_default_domain(node))
            {
                params.add_constant_node(node, &mut warnings);
            }
        });
        if subgraph_nodes > 0 {
            let nodes = if subgraph_nodes == 1 { "node" } else { "nodes" };
            warnings.push(format!(
                "{subgraph_nodes} {nodes} in subgraphs (If/Loop/Scan bodies) not in the node count or histogram"
            ));
        }

        let has_flop_nodes = graph.node.iter().any(|node| {
            super::node::is_default_domain(node) && FLOP_OP_TYPES.contains(&node.op_type())
        });
        let generative = match super::generative::detect_from(&inputs, &outputs, graph) {
            Ok(layout) => Some(layout),
            Err(err @ super::generative::LayoutError::Malformed(_)) => {
                warnings.push(err.to_string());
                None
            }
            Err(_) => None,
        };
        let dim_defaults = if generative.is_some() {
            Vec::new()
        } else {
            super::dim_defaults(proto, &inputs)
        };
        let binding = super::dim_defaults::default_binding(&dim_defaults, &inputs);
        let flops = Some(estimate_flops_with(self, &binding))
            .filter(|estimate| has_flop_nodes || !estimate.not_counted.is_empty());

        ModelSummary {
            dim_defaults,
            ir_version,
            opsets,
            producer_name: proto.producer_name().to_owned(),
            producer_version: proto.producer_version().to_owned(),
            graph_name: graph.name().to_owned(),
            inputs,
            outputs,
            node_count: graph.node.len(),
            op_histogram,
            param_count: params.count,
            param_bytes: params.bytes,
            external_data_bytes: params.external_bytes,
            flops,
            warnings,
            generative,
        }
    }

    /// Warns about node domains that the model does not import.
    fn check_domains(&self, graph: &GraphProto, warnings: &mut Vec<String>) {
        let imported = self
            .proto
            .opset_import
            .iter()
            .map(|opset| display_domain(opset.domain()))
            .collect::<std::collections::BTreeSet<_>>();
        let missing = graph
            .node
            .iter()
            .map(|node| display_domain(node.domain()))
            .filter(|domain| !imported.contains(domain))
            .collect::<std::collections::BTreeSet<_>>();
        for domain in missing {
            warnings.push(format!(
                "nodes use domain {domain:?}, which is not in opset_import"
            ));
        }
    }
}

/// `ai.onnx` for the default domain, the domain otherwise.
fn display_domain(domain: &str) -> &str {
    if domain.is_empty() { "ai.onnx" } else { domain }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::test_util::*;
    use crate::model::types::Dim;
    use crate::model::{ModelError, UncountedReason, onnx};

    fn op_counts(summary: &ModelSummary) -> Vec<(&str, usize)> {
        summary
            .op_histogram
            .iter()
            .map(|op| (op.op_type.as_str(), op.count))
            .collect()
    }

    fn tensor(name: &str, dtype: ElemType, dims: &[Dim]) -> TensorInfo {
        TensorInfo {
            name: name.to_owned(),
            dtype,
            shape: Some(dims.to_vec()),
        }
    }

    fn sym(name: &str) -> Dim {
        Dim::Symbolic(name.to_owned())
    }

    #[test]
    fn mlp_summary_matches_python_onnx() -> Result<(), ModelError> {
        let summary = Model::load(&sample_model("mlp.onnx"))?.summary();
        assert_eq!(summary.ir_version, 8);
        assert_eq!(
            summary.opsets,
            vec![OpsetInfo {
                domain: "ai.onnx".to_owned(),
                version: 17
            }]
        );
        assert_eq!(
            summary.producer_name,
            "onnx-workbench sample_models/generate.py"
        );
        assert_eq!(summary.producer_version, "1");
        assert_eq!(summary.graph_name, "mlp");
        assert_eq!(
            summary.inputs,
            vec![tensor(
                "input",
                ElemType::Float,
                &[sym("batch"), Dim::Fixed(256)]
            )]
        );
        assert_eq!(
            summary.outputs,
            vec![tensor(
                "logits",
                ElemType::Float,
                &[sym("batch"), Dim::Fixed(10)]
            )]
        );
        assert_eq!(summary.node_count, 5);
        assert_eq!(op_counts(&summary), vec![("Gemm", 3), ("Relu", 2)]);
        // 256x512+512 + 512x256+256 + 256x10+10, float32.
        assert_eq!(summary.param_count, 265_482);
        assert_eq!(summary.param_bytes, 265_482 * 4);
        assert_eq!(summary.external_data_bytes, 0);
        assert_eq!(summary.flops.as_ref().map(|f| f.total), Some(529_408));
        assert!(summary.warnings.is_empty(), "{:?}", summary.warnings);
        Ok(())
    }

    #[test]
    fn other_samples_match_python_onnx() -> Result<(), ModelError> {
        let cnn = Model::load(&sample_model("cnn.onnx"))?.summary();
        assert_eq!(
            cnn.inputs,
            vec![tensor(
                "image",
                ElemType::Float,
                &[sym("batch"), Dim::Fixed(1), Dim::Fixed(28), Dim::Fixed(28)]
            )]
        );
        assert_eq!(cnn.node_count, 12);
        assert_eq!(
            op_counts(&cnn),
            vec![
                ("Relu", 3),
                ("BatchNormalization", 2),
                ("Conv", 2),
                ("Gemm", 2),
                ("MaxPool", 2),
                ("Flatten", 1)
            ]
        );
        assert_eq!((cnn.param_count, cnn.param_bytes), (106_058, 424_232));

        // The README's 49,984 excludes the 11 int64 elements of the Reshape
        // shape tensors; the summary counts every initializer.
        let transformer = Model::load(&sample_model("transformer.onnx"))?.summary();
        assert_eq!(transformer.node_count, 33);
        assert_eq!(
            op_counts(&transformer),
            vec![
                ("Add", 9),
                ("MatMul", 8),
                ("Mul", 4),
                ("Reshape", 4),
                ("Transpose", 4),
                ("LayerNormalization", 2),
                ("Erf", 1),
                ("Softmax", 1)
            ]
        );
        assert_eq!(
            (transformer.param_count, transformer.param_bytes),
            (49_995, 200_008)
        );
        assert_eq!(
            transformer.inputs,
            vec![tensor(
                "hidden",
                ElemType::Float,
                &[sym("batch"), sym("seq"), Dim::Fixed(64)]
            )]
        );

        let multi = Model::load(&sample_model("multi_input.onnx"))?.summary();
        assert_eq!(
            multi.inputs,
            vec![
                tensor("input_ids", ElemType::Int64, &[sym("batch"), sym("seq")]),
                tensor(
                    "attention_mask",
                    ElemType::Float,
                    &[sym("batch"), sym("seq")]
                ),
            ]
        );
        assert_eq!(multi.node_count, 8);
        assert_eq!((multi.param_count, multi.param_bytes), (32_135, 128_548));
        Ok(())
    }

    #[test]
    fn constant_node_weights_are_counted_like_external_ones() -> Result<(), ModelError> {
        let constants = Model::load(&fixture("constant_weights.onnx"))?.summary();
        assert_eq!(
            op_counts(&constants),
            vec![("Constant", 4), ("Add", 2), ("MatMul", 2), ("Relu", 1)]
        );
        // 32x16 + 16 + 16x8 + 8 float32 values.
        assert_eq!((constants.param_count, constants.param_bytes), (664, 2656));
        assert_eq!(constants.external_data_bytes, 0);

        let external = Model::load(&fixture("external_data/model.onnx"))?.summary();
        assert_eq!((external.param_count, external.param_bytes), (664, 2656));
        assert_eq!(external.external_data_bytes, 2656);
        assert!(external.warnings.is_empty(), "{:?}", external.warnings);
        Ok(())
    }

    #[test]
    fn fixture_dtypes_and_dims() -> Result<(), ModelError> {
        let fp16 = Model::load(&fixture("fp16_model.onnx"))?.summary();
        assert_eq!(
            fp16.inputs,
            vec![tensor(
                "x",
                ElemType::Float16,
                &[sym("batch"), Dim::Fixed(8)]
            )]
        );
        assert_eq!(
            fp16.outputs,
            vec![tensor(
                "y",
                ElemType::Float16,
                &[sym("batch"), Dim::Fixed(8)]
            )]
        );
        assert!(fp16.render_text().contains("  x     float16  [batch, 8]\n"));
        assert_eq!(fp16.flops, None);

        let all = Model::load(&fixture("all_dtypes.onnx"))?.summary();
        let dtypes = all
            .inputs
            .iter()
            .map(|t| t.dtype.to_string())
            .collect::<Vec<_>>();
        assert_eq!(
            dtypes,
            [
                "bool", "int8", "uint8", "int32", "int64", "float64", "float32"
            ]
        );
        assert_eq!(op_counts(&all), vec![("Cast", 7), ("Concat", 1)]);

        let strings = Model::load(&fixture("string_input.onnx"))?.summary();
        assert_eq!(
            strings.inputs,
            vec![tensor("text", ElemType::String, &[sym("batch")])]
        );

        let fixed = Model::load(&fixture("fixed_batch.onnx"))?.summary();
        assert_eq!(
            fixed.inputs,
            vec![tensor(
                "x",
                ElemType::Float,
                &[Dim::Fixed(1), Dim::Fixed(16)]
            )]
        );
        assert_eq!(
            fixed.flops.as_ref().map(|f| (f.total, f.dims_used.len())),
            Some((128, 0))
        );

        let unsupported = Model::load(&fixture("unsupported_op.onnx"))?.summary();
        assert_eq!(op_counts(&unsupported), vec![("NoSuchOp", 1)]);
        Ok(())
    }

    #[test]
    fn unnamed_dims_show_as_question_marks_with_a_footnote() -> Result<(), ModelError> {
        let summary = Model::load(&fixture("unnamed_dims.onnx"))?.summary();
        assert_eq!(
            summary.inputs,
            vec![tensor(
                "x",
                ElemType::Float,
                &[sym("batch"), Dim::Unnamed, Dim::Fixed(8)]
            )]
        );
        // The int64 `axes` initializer of ReduceSum.
        assert_eq!((summary.param_count, summary.param_bytes), (1, 8));
        let text = summary.render_text();
        assert!(text.contains("  x     float32  [batch, ?, 8]\n"), "{text}");
        assert!(text.ends_with(
            "? = unnamed dynamic dimension (no dim_param in the model, or a negative dim_value)\n"
        ));
        Ok(())
    }

    #[test]
    fn odd_models_produce_warnings() -> Result<(), ModelError> {
        let mut proto = model_proto(
            graph(
                "odd",
                vec![
                    value_info("x", ElemType::Float, &["-1", "4"]),
                    value_info("W", ElemType::Float, &["4", "4"]),
                ],
                vec![value_info("y", ElemType::Float, &["?", "4"])],
                vec![
                    onnx::NodeProto {
                        domain: Some("com.microsoft".to_owned()),
                        ..node("FusedGemm", &["x", "W"], &["y"], vec![])
                    },
                    node(
                        "Constant",
                        &[],
                        &["c"],
                        vec![ints_attr("value_ints", &[1, 2, 3])],
                    ),
                    node(
                        "If",
                        &["cond"],
                        &["z"],
                        vec![onnx::AttributeProto {
                            name: Some("then_branch".to_owned()),
                            g: Some(graph(
                                "then",
                                vec![],
                                vec![],
                                vec![node("Relu", &["x"], &["r"], vec![])],
                                vec![zeros("sub_w", &[2])],
                            )),
                            ..Default::default()
                        }],
                    ),
                ],
                vec![zeros("W", &[4, 4])],
            ),
            17,
        );
        proto.ir_version = Some(99);
        let model = Model::from_proto(proto, None);
        let summary = model.summary();
        // W is an initializer listed as an input: not something to feed.
        assert_eq!(
            summary.inputs,
            vec![tensor("x", ElemType::Float, &[Dim::Unnamed, Dim::Fixed(4)])]
        );
        assert_eq!(
            op_counts(&summary),
            vec![("Constant", 1), ("If", 1), ("com.microsoft:FusedGemm", 1)]
        );
        // W (16) + value_ints (3) + the subgraph's initializer (2).
        assert_eq!(
            (summary.param_count, summary.param_bytes),
            (21, 16 * 4 + 3 * 8 + 2 * 4)
        );
        // Nothing counted, but the ops that cannot be counted are named.
        let Some(flops) = summary.flops.as_ref() else {
            panic!("no FLOPs estimate");
        };
        assert_eq!(flops.total, 0);
        let not_counted = flops
            .not_counted
            .iter()
            .map(|op| (op.op_type.as_str(), op.nodes, op.reason))
            .collect::<Vec<_>>();
        assert_eq!(
            not_counted,
            vec![
                ("com.microsoft:FusedGemm", 1, UncountedReason::NoFormula),
                ("If", 1, UncountedReason::Subgraph),
            ]
        );
        assert_eq!(flops.shape_losses.len(), 1);
        assert_eq!(flops.shape_losses[0].node, "FusedGemm_y");
        let text = summary.render_text();
        assert!(
            text.contains("Not counted (the total is a lower bound)"),
            "{text}"
        );
        assert!(
            text.contains("com.microsoft:FusedGemm  1 node  no FLOP formula"),
            "{text}"
        );
        assert_eq!(
            summary.warnings,
            vec![
                "IR version 99 is newer than this tool knows (14); fields added since are dropped when the model is re-saved",
                "\"x\" axis 0 has dim_value -1; shown as an unnamed dim (?)",
                "nodes use domain \"com.microsoft\", which is not in opset_import",
                "1 node in subgraphs (If/Loop/Scan bodies) not in the node count or histogram",
            ]
        );
        Ok(())
    }

    #[test]
    fn mlp_report_text() -> Result<(), ModelError> {
        let text = Model::load(&sample_model("mlp.onnx"))?
            .summary()
            .to_string();
        let expected = "\
Model
  IR version  8
  opsets      ai.onnx 17
  producer    onnx-workbench sample_models/generate.py 1
  graph       mlp

Inputs (1)
  name   dtype    shape
  input  float32  [batch, 256]

Outputs (1)
  name    dtype    shape
  logits  float32  [batch, 10]

Nodes: 5
  op_type  count
  Gemm         3
  Relu         2

Parameters: 265,482 (1.06 MB)

FLOPs per inference with input=1x256 (batch=1): 529,408 (529.41 KFLOPs)
  op_type    FLOPs   share
  Gemm     529,408  100.0%
";
        assert_eq!(text, expected);
        Ok(())
    }

    #[test]
    fn summary_round_trips_through_json() -> Result<(), Box<dyn std::error::Error>> {
        let summary = Model::load(&sample_model("transformer.onnx"))?.summary();
        let json = serde_json::to_string(&summary)?;
        assert!(json.contains(r#""dtype":"float32""#), "{json}");
        assert_eq!(serde_json::from_str::<ModelSummary>(&json)?, summary);
        Ok(())
    }
}
