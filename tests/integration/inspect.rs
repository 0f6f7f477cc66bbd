//! `inspect`'s static FLOPs estimate as a user runs it: `--shape`, `--dim`
//! and `--batch` set the input shapes, FLOPs after Resize, Expand and Tile
//! are counted, and what cannot be counted is named.

use std::process::{Command, Output};

use crate::repo_path;

fn inspect(extra: &[&str]) -> Output {
    let model = repo_path("tests/data/models/resize_expand.onnx");
    Command::new(env!("CARGO_BIN_EXE_onnx-workbench"))
        .arg("inspect")
        .arg(model)
        .args(extra)
        .output()
        .expect("run onnx-workbench")
}

fn inspect_json(extra: &[&str]) -> serde_json::Value {
    let mut args = vec!["--json"];
    args.extend_from_slice(extra);
    let output = inspect(&args);
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(output.status.success(), "{extra:?} failed: {stderr}");
    serde_json::from_slice(&output.stdout).expect("json")
}

/// The fixture's Conv FLOPs: N*H*W*1868 for even H and W.
fn expected_flops(n: u64, h: u64, w: u64) -> u64 {
    n * h * w * 1868
}

#[test]
fn shape_dim_and_batch_set_the_flops() {
    let by_shape = inspect_json(&["--shape", "x=1,3,32,32"]);
    let flops = &by_shape["flops"];
    assert_eq!(flops["total"], expected_flops(1, 32, 32));
    assert_eq!(
        flops["input_shapes"]["x"],
        serde_json::json!([1, 3, 32, 32])
    );
    // All four Convs are counted: after Resize (scales and sizes), Expand and Tile.
    let convs = flops["by_node"]
        .as_array()
        .expect("by_node")
        .iter()
        .filter(|node| node["op_type"] == "Conv")
        .count();
    assert_eq!(convs, 4, "{flops}");

    let by_dims = inspect_json(&["--batch", "2", "--dim", "H=64", "--dim", "W=32"]);
    assert_eq!(by_dims["flops"]["total"], expected_flops(2, 64, 32));
    assert_eq!(
        by_dims["flops"]["dims_used"],
        serde_json::json!({"N": 2, "H": 64, "W": 32})
    );
    // --shape and --dim agree: the same figure.
    let both = inspect_json(&["--shape", "x=2,3,64,32", "--dim", "H=64"]);
    assert_eq!(both["flops"]["total"], by_dims["flops"]["total"]);
}

#[test]
fn the_text_names_what_it_could_not_count() {
    let output = inspect(&["--shape", "x=1,3,32,32"]);
    assert!(output.status.success());
    let text = String::from_utf8_lossy(&output.stdout);
    assert!(
        text.contains("FLOPs per inference with x=1x3x32x32 (H=32, N=1, W=32): 1,912,832"),
        "{text}"
    );
    assert!(text.contains("MatMul  1 node  shapes unknown"), "{text}");
    assert!(
        text.contains("Shapes lost first at: nonzero (NonZero: output shape depends on the data)"),
        "{text}"
    );
    let json = inspect_json(&["--shape", "x=1,3,32,32"]);
    assert_eq!(
        json["flops"]["not_counted"],
        serde_json::json!([{"op_type": "MatMul", "nodes": 1, "reason": "shapes_unknown"}])
    );
    assert_eq!(
        json["flops"]["shape_losses"],
        serde_json::json!([{"node": "nonzero", "op_type": "NonZero", "reason": "data_dependent"}])
    );
}

#[test]
fn unset_dims_are_noted_and_bad_flags_refused() {
    let output = inspect(&["--dim", "H=8"]);
    assert!(output.status.success());
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        stderr.contains("dim 'W' not set (--dim W=N); using 640, the chosen default"),
        "{stderr}"
    );

    for (flags, expected) in [
        (
            &["--dim", "depth=3"][..],
            "no symbolic dimension of that name",
        ),
        (&["--shape", "x=1,4,32,32"][..], "the model fixes it at 3"),
        (&["--shape", "y=1,3,32,32"][..], "x"),
        (&["--batch", "0"][..], "batch"),
        (&["--shape", "x=2,3,32,32", "--batch", "4"][..], "--batch 4"),
    ] {
        let output = inspect(flags);
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert!(!output.status.success(), "{flags:?} was accepted");
        assert!(stderr.contains(expected), "{flags:?}: {stderr}");
    }
}
