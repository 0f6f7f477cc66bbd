//! Unit tests of the opset upgrade on hand-built models. The numerical
//! check of every adapter (same outputs in ONNX Runtime) is in the
//! integration tests.

use super::*;
use crate::model::onnx::{
    AttributeProto, NodeProto, TensorShapeProto, TypeProto, ValueInfoProto,
    attribute_proto::AttributeType, tensor_proto::DataType, tensor_shape_proto,
};

fn value_info(name: &str, dims: &[i64]) -> ValueInfoProto {
    ValueInfoProto {
        name: Some(name.to_owned()),
        r#type: Some(TypeProto {
            value: Some(type_proto::Value::TensorType(type_proto::Tensor {
                elem_type: Some(DataType::Float as i32),
                shape: Some(TensorShapeProto {
                    dim: dims
                        .iter()
                        .map(|&d| tensor_shape_proto::Dimension {
                            value: Some(tensor_shape_proto::dimension::Value::DimValue(d)),
                            denotation: None,
                        })
                        .collect(),
                }),
            })),
            denotation: None,
        }),
        ..Default::default()
    }
}

use crate::model::test_util::named_node as node;

fn with_int(mut node: NodeProto, name: &str, value: i64) -> NodeProto {
    node.attribute.push(AttributeProto {
        name: Some(name.to_owned()),
        r#type: Some(AttributeType::Int as i32),
        i: Some(value),
        ..Default::default()
    });
    node
}

fn with_ints(mut node: NodeProto, name: &str, values: &[i64]) -> NodeProto {
    node.attribute.push(AttributeProto {
        name: Some(name.to_owned()),
        r#type: Some(AttributeType::Ints as i32),
        ints: values.to_vec(),
        ..Default::default()
    });
    node
}

fn model(opset: i64, ir: i64, nodes: Vec<NodeProto>, inputs: Vec<ValueInfoProto>) -> ModelProto {
    ModelProto {
        ir_version: Some(ir),
        opset_import: vec![OperatorSetIdProto {
            domain: Some(String::new()),
            version: Some(opset),
        }],
        graph: Some(GraphProto {
            name: Some("g".to_owned()),
            node: nodes,
            input: inputs,
            ..Default::default()
        }),
        ..Default::default()
    }
}

fn ops(proto: &ModelProto) -> Vec<String> {
    proto
        .graph
        .as_ref()
        .map(|g| g.node.iter().map(|n| n.op_type().to_owned()).collect())
        .unwrap_or_default()
}

#[test]
fn every_schema_change_up_to_the_max_target_is_classified() {
    let mut blocked = Vec::new();
    for (op, versions) in schemas::SINCE_VERSIONS {
        for &version in versions.iter().skip(1) {
            if version > MAX_TARGET_OPSET {
                continue;
            }
            if let Step::Blocked(reason) = steps::step(op, version) {
                blocked.push(format!("{op}-{version}: {reason}"));
            }
        }
    }
    assert_eq!(
        blocked,
        [
            "DFT-20: DFT-20 moved `axis` to an input",
            "GridSample-20: GridSample-20 renamed its modes and allows N-D input",
            "GroupNormalization-21: GroupNormalization-21 takes scale and bias per channel, not per group",
            "Scan-9: Scan-9 dropped the batch axis and `sequence_lens` of Scan-8",
            "Tile-6: Tile-1 took `tiles` and `axis` inputs, Tile-6 takes `repeats`",
        ]
    );
    assert!(matches!(steps::step("Tile", 22), Step::Blocked(_)));
    assert_eq!(min_ir_version(9), 4);
    assert_eq!(min_ir_version(13), 7);
    assert_eq!(schema_version("Softmax", 9), Some(1));
    assert_eq!(next_change("Upsample", 9, 13), Some(10));
}

#[test]
fn an_op_without_an_adapter_blocks_with_op_node_and_versions() {
    let tile = node("Tile", "tile0", &["x", "tiles", "axis"], &["y"]);
    let mut unnamed = node("Tile", "", &["y", "tiles", "axis"], &["z"]);
    unnamed.name = None;
    let mut proto = model(5, 3, vec![unnamed.clone(), tile], Vec::new());
    let err = upgrade(&mut proto, 13).expect_err("blocked");
    assert_eq!(
        err.to_string(),
        "cannot raise the opset from 5 to 13: Tile node #0 changes from Tile-1 to Tile-6: Tile-1 took `tiles` and `axis` inputs, Tile-6 takes `repeats`"
    );

    let bn = with_int(
        node(
            "BatchNormalization",
            "bn",
            &["x", "s", "b", "m", "v"],
            &["y"],
        ),
        "spatial",
        0,
    );
    let mut proto = model(8, 3, vec![bn], Vec::new());
    assert_eq!(
        upgrade(&mut proto, 9).expect_err("blocked").to_string(),
        "cannot raise the opset from 8 to 9: BatchNormalization node bn changes from BatchNormalization-7 to BatchNormalization-9: spatial = 0 (statistics per activation) has no equivalent from opset 9 on"
    );

    // Inside a subgraph the node is named by its path.
    let then_branch = GraphProto {
        name: Some("then".to_owned()),
        node: vec![unnamed],
        ..Default::default()
    };
    let mut if_node = node("If", "if0", &["cond"], &["out"]);
    if_node.attribute.push(AttributeProto {
        name: Some("then_branch".to_owned()),
        r#type: Some(AttributeType::Graph as i32),
        g: Some(then_branch),
        ..Default::default()
    });
    let mut proto = model(5, 3, vec![if_node], Vec::new());
    let Err(OpsetError::Blocked { node, op, .. }) = upgrade(&mut proto, 9) else {
        panic!("expected a block");
    };
    assert_eq!((node.as_str(), op.as_str()), ("if0/then_branch/#0", "Tile"));

    let mut proto = model(13, 7, Vec::new(), Vec::new());
    assert_eq!(
        upgrade(&mut proto, 11).expect_err("downgrade"),
        OpsetError::Downgrade {
            from: 13,
            target: 11
        }
    );
    assert!(matches!(
        upgrade(&mut proto, 40),
        Err(OpsetError::TargetTooNew { .. })
    ));
}

#[test]
fn attributes_become_inputs_and_ir3_initializer_inputs_are_dropped() {
    let weight = TensorProto {
        name: Some("w".to_owned()),
        dims: vec![4],
        data_type: Some(DataType::Float as i32),
        raw_data: Some(vec![0; 16]),
        ..Default::default()
    };
    let nodes = vec![
        with_ints(node("Unsqueeze", "unsq", &["x"], &["u"]), "axes", &[0]),
        with_ints(
            with_ints(
                with_ints(node("Slice", "slice", &["u"], &["s"]), "starts", &[1]),
                "ends",
                &[3],
            ),
            "axes",
            &[1],
        ),
        node("Add", "add", &["s", "w"], &["y"]),
        {
            let mut custom = with_int(node("Softmax", "custom", &["y"], &["z"]), "axis", 0);
            custom.domain = Some("com.example".to_owned());
            custom
        },
    ];
    let mut proto = model(
        9,
        3,
        nodes,
        vec![value_info("x", &[4]), value_info("w", &[4])],
    );
    if let Some(graph) = proto.graph.as_mut() {
        graph.initializer.push(weight);
    }
    let report = upgrade(&mut proto, 13).expect("upgrade");
    assert_eq!(
        ops(&proto),
        [
            "Constant",
            "Unsqueeze",
            "Constant",
            "Constant",
            "Constant",
            "Slice",
            "Add",
            "Softmax"
        ]
    );
    let graph = proto.graph.as_ref().expect("graph");
    assert_eq!(graph.node[1].input.len(), 2);
    assert_eq!(graph.node[5].input.len(), 4);
    assert!(graph.node[5].attribute.is_empty());
    // Other domains are left alone.
    assert_eq!(graph.node[7].attribute.len(), 1);
    assert_eq!(
        graph.input.iter().map(|i| i.name()).collect::<Vec<_>>(),
        ["x"]
    );
    assert_eq!(proto.ir_version(), 7);
    assert_eq!(default_opset(&proto), 13);
    assert_eq!(report.initializer_inputs_removed, 1);
    assert_eq!(
        report.adapted_nodes,
        BTreeMap::from([("Slice".to_owned(), 1), ("Unsqueeze".to_owned(), 1)])
    );
    assert_eq!(report.inserted_nodes, 4);
    assert_eq!(
        report.summary(),
        "opset raised from 9 to 13 (IR 3 -> 7; adapted Slice 1, Unsqueeze 1; 4 nodes inserted; 1 initializers no longer listed as inputs)"
    );
}

#[test]
fn softmax_keeps_a_last_axis_and_flattens_any_other() {
    let last = with_int(node("Softmax", "last", &["x"], &["a"]), "axis", 2);
    let inner = with_int(node("LogSoftmax", "inner", &["x"], &["b"]), "axis", 1);
    let unknown = node("Hardmax", "unknown", &["q"], &["c"]);
    let mut proto = model(
        11,
        6,
        vec![last, inner, unknown],
        vec![value_info("x", &[2, 3, 4])],
    );
    upgrade(&mut proto, 13).expect("upgrade");
    assert_eq!(
        ops(&proto),
        [
            "Softmax",
            "Shape",
            "Flatten",
            "LogSoftmax",
            "Reshape",
            "Shape",
            "Flatten",
            "Hardmax",
            "Reshape"
        ]
    );
    let graph = proto.graph.as_ref().expect("graph");
    assert_eq!(
        crate::model::node::attr_int(&graph.node[0], "axis"),
        Some(2)
    );
    assert_eq!(
        crate::model::node::attr_int(&graph.node[2], "axis"),
        Some(1)
    );
    assert_eq!(
        crate::model::node::attr_int(&graph.node[3], "axis"),
        Some(-1)
    );
    assert_eq!(graph.node[4].output, ["b"]);
    assert_eq!(graph.node[4].input[0], graph.node[3].output[0]);
    // The default axis of the old versions is 1.
    assert_eq!(
        crate::model::node::attr_int(&graph.node[6], "axis"),
        Some(1)
    );
}

#[test]
fn legacy_broadcast_with_axis_appends_trailing_axes() {
    let add = with_int(
        with_int(node("Add", "add", &["x", "bias"], &["y"]), "broadcast", 1),
        "axis",
        1,
    );
    let mut proto = model(6, 3, vec![add], vec![value_info("x", &[1, 3, 4, 4])]);
    if let Some(graph) = proto.graph.as_mut() {
        graph.initializer.push(TensorProto {
            name: Some("bias".to_owned()),
            dims: vec![3],
            data_type: Some(DataType::Float as i32),
            raw_data: Some(vec![0; 12]),
            ..Default::default()
        });
    }
    upgrade(&mut proto, 13).expect("upgrade");
    assert_eq!(ops(&proto), ["Constant", "Unsqueeze", "Add"]);
    let graph = proto.graph.as_ref().expect("graph");
    assert!(graph.node[2].attribute.is_empty());
    assert_eq!(graph.node[2].input[1], graph.node[1].output[0]);
    let axes = graph.node[0].attribute[0].t.as_ref().expect("axes");
    assert_eq!(axes.dims, [2]);
    assert_eq!(
        axes.raw_data.as_deref(),
        Some(
            [1i64, 2]
                .iter()
                .flat_map(|v| v.to_le_bytes())
                .collect::<Vec<_>>()
                .as_slice()
        )
    );
}

#[test]
fn ranks_follow_shape_arithmetic_so_a_last_axis_softmax_stays_one_node() {
    let const_node = |name: &str, values: &[i64]| {
        let mut node = node("Constant", name, &[], &[name]);
        node.attribute.push(AttributeProto {
            name: Some("value".to_owned()),
            r#type: Some(AttributeType::Tensor as i32),
            t: Some(TensorProto {
                dims: vec![values.len() as i64],
                data_type: Some(DataType::Int64 as i32),
                int64_data: values.to_vec(),
                ..Default::default()
            }),
            ..Default::default()
        });
        node
    };
    // Reshape to [batch, -1] with the batch taken from Shape at run time,
    // as exporters write it, then a classifier head and Softmax(axis=1).
    let nodes = vec![
        node("Relu", "relu", &["x"], &["r"]),
        node("Shape", "shape", &["r"], &["s"]),
        const_node("starts", &[0]),
        const_node("ends", &[1]),
        node("Slice", "slice", &["s", "starts", "ends"], &["batch"]),
        const_node("rest", &[-1]),
        with_int(
            node("Concat", "concat", &["batch", "rest"], &["target"]),
            "axis",
            0,
        ),
        node("Reshape", "reshape", &["r", "target"], &["flat"]),
        node("MatMul", "fc", &["flat", "w"], &["logits"]),
        with_int(
            node("Softmax", "softmax", &["logits"], &["probs"]),
            "axis",
            1,
        ),
    ];
    let mut proto = model(11, 6, nodes, vec![value_info("x", &[-1, 8, 2, 2])]);
    if let Some(graph) = proto.graph.as_mut() {
        graph.initializer.push(TensorProto {
            name: Some("w".to_owned()),
            dims: vec![32, 4],
            data_type: Some(DataType::Float as i32),
            raw_data: Some(vec![0; 32 * 4 * 4]),
            ..Default::default()
        });
    }
    let report = upgrade(&mut proto, 13).expect("upgrade");
    assert_eq!(report.inserted_nodes, 0, "{report:?}");
    assert_eq!(ops(&proto).last().map(String::as_str), Some("Softmax"));
}
