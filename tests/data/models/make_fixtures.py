"""Generate the bad-input and edge-case ONNX fixtures used by the onnx-workbench tests.

Run from the repository root:

    python3 tests/data/models/make_fixtures.py

Requires (pip): onnx==1.23.2 numpy
Optional, for the self-check run at the end: onnxruntime==1.31.1

Writes the fixtures next to this script (see README.md in this folder). Opset 17
(default domain), IR version 8, fixed numpy seed: reruns are byte-identical.

Error texts observed with onnxruntime 1.31.1 (CPUExecutionProvider, session created
from the file path; <path>/<dir> stand for the path passed in and its folder):

unsupported_op.onnx, at session creation:
    [ONNXRuntimeError] : 10 : INVALID_GRAPH : Load model from <path> failed:This is an
    invalid model. In Node, ("no_such_op", NoSuchOp, "", -1) : ("x": tensor(float),) ->
    ("y": tensor(float),) , Error No Op registered for NoSuchOp with domain_version of 17

escape_external/model.onnx (location ../outside.bin), at session creation:
    [ONNXRuntimeError] : 1 : FAIL : External data path validation failed for
    initializer: W. Error: External data path escapes model directory. External data
    path: "../outside.bin" resolved path: "<absolute parent of dir>/outside.bin"
    allowed directory: "<dir>"

escape_external/absolute.onnx (location /etc/passwd), at session creation:
    [ONNXRuntimeError] : 1 : FAIL : External data path validation failed for
    initializer: W. Error: tensorprotoutils.cc:434 ValidateExternalDataPathFromDir
    Absolute path not allowed for external data location

not_a_model.pb (a serialized TensorProto), at session creation:
    [ONNXRuntimeError] : 7 : INVALID_PROTOBUF : Load model from <path> failed:Protobuf
    parsing failed.
(onnx.load raises google.protobuf.message.DecodeError: Error parsing message with
type 'onnx.ModelProto': Wire format was corrupt.)

The self-check below re-observes these and prints the exact texts.
"""

import os
import sys

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper

OPSET = 17
IR_VERSION = 8
PRODUCER = "onnx-workbench tests/data/models/make_fixtures.py"
SEED = 20240602
OUT_DIR = os.path.dirname(os.path.abspath(__file__))


def vi(name, dtype, shape):
    return helper.make_tensor_value_info(name, dtype, shape)


def make_model(name, nodes, inputs, outputs, doc, initializers=()):
    graph = helper.make_graph(nodes, name, inputs, outputs, initializer=list(initializers),
                              doc_string=doc)
    m = helper.make_model(graph, opset_imports=[helper.make_opsetid("", OPSET)],
                          producer_name=PRODUCER, producer_version="1", doc_string=doc)
    m.ir_version = IR_VERSION
    return m


def f32(rng, shape, scale):
    return (rng.standard_normal(shape) * scale).astype(np.float32)


def write(rel, model, check=True):
    if check:
        onnx.checker.check_model(model, full_check=True)
    path = os.path.join(OUT_DIR, rel)
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with open(path, "wb") as f:
        f.write(model.SerializeToString())
    return path


def fixed_batch(rng):
    w = numpy_helper.from_array(f32(rng, (16, 4), 0.25), "W")
    nodes = [helper.make_node("MatMul", ["x", "W"], ["y"], name="matmul")]
    return make_model("fixed_batch", nodes, [vi("x", TensorProto.FLOAT, [1, 16])],
                      [vi("y", TensorProto.FLOAT, [1, 4])],
                      "Fixture: fixed batch dimension 1 (no symbolic dims). MatMul 16->4.", [w])


def string_input(rng):
    nodes = [helper.make_node("Identity", ["text"], ["text_out"], name="identity")]
    return make_model("string_input", nodes, [vi("text", TensorProto.STRING, ["batch"])],
                      [vi("text_out", TensorProto.STRING, ["batch"])],
                      "Fixture: string input tensor passed through Identity.")


def unsupported_op(rng):
    nodes = [helper.make_node("NoSuchOp", ["x"], ["y"], name="no_such_op")]
    return make_model("unsupported_op", nodes, [vi("x", TensorProto.FLOAT, ["batch", 4])],
                      [vi("y", TensorProto.FLOAT, ["batch", 4])],
                      "Fixture: node with unknown op_type NoSuchOp in the default domain. "
                      "Invalid on purpose; ORT fails at session creation.")


def mlp_weights(rng):
    return [
        ("W1", f32(rng, (32, 16), np.sqrt(2.0 / 32))),
        ("B1", f32(rng, (16,), 0.01)),
        ("W2", f32(rng, (16, 8), np.sqrt(2.0 / 16))),
        ("B2", f32(rng, (8,), 0.01)),
    ]


def mlp_nodes():
    return [
        helper.make_node("MatMul", ["x", "W1"], ["h1"], name="fc1_matmul"),
        helper.make_node("Add", ["h1", "B1"], ["h1b"], name="fc1_add"),
        helper.make_node("Relu", ["h1b"], ["h1r"], name="relu1"),
        helper.make_node("MatMul", ["h1r", "W2"], ["h2"], name="fc2_matmul"),
        helper.make_node("Add", ["h2", "B2"], ["y"], name="fc2_add"),
    ]


MLP_IO = ([vi("x", TensorProto.FLOAT, ["batch", 32])], [vi("y", TensorProto.FLOAT, ["batch", 8])])


def constant_weights(rng):
    consts = [
        helper.make_node("Constant", [], [n], name=f"const_{n}",
                         value=numpy_helper.from_array(a, n + "_value"))
        for n, a in mlp_weights(rng)
    ]
    return make_model("constant_weights", consts + mlp_nodes(), *MLP_IO,
                      "Fixture: MLP 32->16->8 whose weights and biases are Constant nodes "
                      "(value attribute), not initializers.")


def external_data(rng):
    inits = [numpy_helper.from_array(a, n) for n, a in mlp_weights(rng)]
    m = make_model("external_data", mlp_nodes(), *MLP_IO,
                   "Fixture: MLP 32->16->8 whose initializers are stored as external data "
                   "in weights.bin next to the model.", inits)
    onnx.checker.check_model(m, full_check=True)
    folder = os.path.join(OUT_DIR, "external_data")
    os.makedirs(folder, exist_ok=True)
    path = os.path.join(folder, "model.onnx")
    # onnx appends to an existing data file, so start from scratch every run.
    weights = os.path.join(folder, "weights.bin")
    if os.path.exists(weights):
        os.remove(weights)
    onnx.save_model(m, path, save_as_external_data=True, all_tensors_to_one_file=True,
                    location="weights.bin", size_threshold=0)
    onnx.checker.check_model(path, full_check=True)
    return path


def escaping_external(location, name):
    w = TensorProto()
    w.name = "W"
    w.data_type = TensorProto.FLOAT
    w.dims.extend([4, 4])
    w.data_location = TensorProto.EXTERNAL
    for k, v in (("location", location), ("offset", "0"), ("length", "64")):
        e = w.external_data.add()
        e.key = k
        e.value = v
    nodes = [helper.make_node("MatMul", ["x", "W"], ["y"], name="matmul")]
    return make_model(name, nodes, [vi("x", TensorProto.FLOAT, ["batch", 4])],
                      [vi("y", TensorProto.FLOAT, ["batch", 4])],
                      f"Fixture: initializer W is external data with location {location!r}, "
                      "which points outside the model folder. Must be rejected.", [w])


def not_a_model(rng):
    t = numpy_helper.from_array(f32(rng, (4,), 1.0), "not_a_model")
    return t.SerializeToString()


def fp16_model(rng):
    nodes = [helper.make_node("Relu", ["x"], ["y"], name="relu")]
    return make_model("fp16_model", nodes, [vi("x", TensorProto.FLOAT16, ["batch", 8])],
                      [vi("y", TensorProto.FLOAT16, ["batch", 8])],
                      "Fixture: float16 input and output, single Relu.")


ALL_DTYPES = [
    ("x_bool", TensorProto.BOOL),
    ("x_int8", TensorProto.INT8),
    ("x_uint8", TensorProto.UINT8),
    ("x_int32", TensorProto.INT32),
    ("x_int64", TensorProto.INT64),
    ("x_float64", TensorProto.DOUBLE),
    ("x_float32", TensorProto.FLOAT),
]


def all_dtypes(rng):
    nodes = [helper.make_node("Cast", [n], [f"{n}_f"], name=f"cast_{n[2:]}", to=TensorProto.FLOAT)
             for n, _ in ALL_DTYPES]
    nodes.append(helper.make_node("Concat", [f"{n}_f" for n, _ in ALL_DTYPES], ["y"],
                                  name="concat", axis=1))
    return make_model("all_dtypes", nodes, [vi(n, t, ["batch", 4]) for n, t in ALL_DTYPES],
                      [vi("y", TensorProto.FLOAT, ["batch", 4 * len(ALL_DTYPES)])],
                      "Fixture: one [batch, 4] input per dtype (bool, int8, uint8, int32, int64, "
                      "float64, float32), each Cast to float32, concatenated on axis 1.")


def unnamed_dims(rng):
    axes = numpy_helper.from_array(np.array([1], dtype=np.int64), "axes")
    nodes = [helper.make_node("ReduceSum", ["x", "axes"], ["y"], name="reduce_sum", keepdims=0)]
    return make_model("unnamed_dims", nodes, [vi("x", TensorProto.FLOAT, ["batch", None, 8])],
                      [vi("y", TensorProto.FLOAT, ["batch", 8])],
                      "Fixture: input x has shape [batch, ?, 8]; the middle dim has neither "
                      "dim_value nor dim_param. ReduceSum over axis 1.", [axes])


def self_check(p):
    try:
        import onnxruntime as ort
    except ImportError:
        print("onnxruntime not installed; skipping self-check")
        return

    so = ort.SessionOptions()
    so.log_severity_level = 4
    cpu = ["CPUExecutionProvider"]

    def run(rel, feeds):
        sess = ort.InferenceSession(p[rel], so, providers=cpu)
        outs = sess.run(None, feeds)
        shapes = {o.name: list(v.shape) for o, v in zip(sess.get_outputs(), outs)}
        print(f"  ort ok {rel}: outputs {shapes}")
        return outs

    def expect_fail(rel):
        try:
            ort.InferenceSession(p[rel], so, providers=cpu)
        except Exception as e:
            msg = str(e).replace(OUT_DIR, "<fixtures>")
            print(f"  ort expected failure {rel}: {msg}")
        else:
            raise AssertionError(f"{rel} loaded but should not")

    rng = np.random.default_rng(0)
    x32 = rng.standard_normal((3, 32)).astype(np.float32)
    run("fixed_batch.onnx", {"x": rng.standard_normal((1, 16)).astype(np.float32)})
    (s,) = run("string_input.onnx", {"text": np.array(["a", "bc", ""], dtype=object)})
    assert list(s) == ["a", "bc", ""]
    expect_fail("unsupported_op.onnx")
    (a,) = run("constant_weights.onnx", {"x": x32})
    (b,) = run(os.path.join("external_data", "model.onnx"), {"x": x32})
    assert np.array_equal(a, b), "constant_weights and external_data use the same weights"
    expect_fail(os.path.join("escape_external", "model.onnx"))
    expect_fail(os.path.join("escape_external", "absolute.onnx"))
    expect_fail("not_a_model.pb")
    (h,) = run("fp16_model.onnx", {"x": rng.standard_normal((2, 8)).astype(np.float16)})
    assert h.dtype == np.float16
    np_types = [np.bool_, np.int8, np.uint8, np.int32, np.int64, np.float64, np.float32]
    feeds = {n: (rng.integers(0, 2, (2, 4)).astype(t)) for (n, _), t in zip(ALL_DTYPES, np_types)}
    run("all_dtypes.onnx", feeds)
    for mid in (1, 5):
        run("unnamed_dims.onnx", {"x": np.ones((2, mid, 8), dtype=np.float32)})


def accuracy_fixtures():
    """Fixtures of the accuracy checks (own seed, so the others stay as they are):

    - dynamic_image.onnx: x [N, 3, H, W] (all symbolic) -> Conv 3->8 3x3 pad 1,
      Relu, GlobalAveragePool, Flatten, Gemm 8->5 -> logits [N, 5]. Any H, W run.
    - saturated_sigmoid.onnx: x [N, 16] -> Gemm 16->8 with weights scaled by 100
      -> Sigmoid -> y: almost every value is 0 or 1 (saturated).
    - dead_relu.onnx: x [N, 16] -> Gemm 16->8 with bias -100 -> Relu -> y: all
      zero (near-zero).
    """
    rng = np.random.default_rng(SEED + 11)
    written = {}
    conv_w = numpy_helper.from_array(f32(rng, (8, 3, 3, 3), 0.3), "conv.weight")
    conv_b = numpy_helper.from_array(f32(rng, (8,), 0.1), "conv.bias")
    fc_w = numpy_helper.from_array(f32(rng, (5, 8), 0.5), "fc.weight")
    fc_b = numpy_helper.from_array(f32(rng, (5,), 0.1), "fc.bias")
    nodes = [
        helper.make_node("Conv", ["x", "conv.weight", "conv.bias"], ["c"], name="conv",
                         kernel_shape=[3, 3], pads=[1, 1, 1, 1]),
        helper.make_node("Relu", ["c"], ["r"], name="relu"),
        helper.make_node("GlobalAveragePool", ["r"], ["g"], name="pool"),
        helper.make_node("Flatten", ["g"], ["f"], name="flatten", axis=1),
        helper.make_node("Gemm", ["f", "fc.weight", "fc.bias"], ["logits"], name="fc",
                         transB=1),
    ]
    model = make_model("dynamic_image", nodes,
                       [vi("x", TensorProto.FLOAT, ["N", 3, "H", "W"])],
                       [vi("logits", TensorProto.FLOAT, ["N", 5])],
                       "image input with symbolic batch, height and width",
                       [conv_w, conv_b, fc_w, fc_b])
    written["dynamic_image.onnx"] = write("dynamic_image.onnx", model)

    def gemm_then(name, op, weight_scale, bias, doc):
        w = numpy_helper.from_array(f32(rng, (8, 16), 1.0) * weight_scale, "fc.weight")
        b = numpy_helper.from_array(np.full((8,), bias, dtype=np.float32), "fc.bias")
        nodes = [
            helper.make_node("Gemm", ["x", "fc.weight", "fc.bias"], ["h"], name="fc",
                             transB=1),
            helper.make_node(op, ["h"], ["y"], name=op.lower()),
        ]
        return make_model(name, nodes, [vi("x", TensorProto.FLOAT, ["N", 16])],
                          [vi("y", TensorProto.FLOAT, ["N", 8])], doc, [w, b])

    written["saturated_sigmoid.onnx"] = write(
        "saturated_sigmoid.onnx",
        gemm_then("saturated_sigmoid", "Sigmoid", 100.0, 0.0,
                  "Sigmoid of a large scaled input: outputs at 0 or 1"))
    written["dead_relu.onnx"] = write(
        "dead_relu.onnx",
        gemm_then("dead_relu", "Relu", 1.0, -100.0, "Relu of a large negative bias: all zero"))
    for rel, path in written.items():
        print(f"{rel}: {os.path.getsize(path)} bytes")
    try:
        import onnxruntime as ort
    except ImportError:
        return
    feeds = {
        "dynamic_image.onnx": {"x": f32(np.random.default_rng(0), (2, 3, 16, 24), 1.0)},
        "saturated_sigmoid.onnx": {"x": f32(np.random.default_rng(0), (4, 16), 1.0)},
        "dead_relu.onnx": {"x": f32(np.random.default_rng(0), (4, 16), 1.0)},
    }
    for rel, path in written.items():
        (out,) = ort.InferenceSession(path, providers=["CPUExecutionProvider"]).run(
            None, feeds[rel])
        ends = float(((out < 1e-3) | (out > 1 - 1e-3)).mean())
        print(f"  ort ok {rel}: {list(out.shape)}, |v|<1e-3 {float((abs(out) < 1e-3).mean()):.3f}, "
              f"at 0/1 {ends:.3f}")


def main():
    p = {}
    p["fixed_batch.onnx"] = write("fixed_batch.onnx", fixed_batch(np.random.default_rng(SEED)))
    p["string_input.onnx"] = write("string_input.onnx", string_input(None))
    p["unsupported_op.onnx"] = write("unsupported_op.onnx", unsupported_op(None), check=False)
    # Same seed for both MLPs so they compute the same function.
    p["constant_weights.onnx"] = write("constant_weights.onnx",
                                       constant_weights(np.random.default_rng(SEED + 1)))
    p[os.path.join("external_data", "model.onnx")] = external_data(np.random.default_rng(SEED + 1))
    # The checker would reject these external-data locations, so it is not run on them.
    p[os.path.join("escape_external", "model.onnx")] = write(
        os.path.join("escape_external", "model.onnx"),
        escaping_external("../outside.bin", "escape_relative"), check=False)
    p[os.path.join("escape_external", "absolute.onnx")] = write(
        os.path.join("escape_external", "absolute.onnx"),
        escaping_external("/etc/passwd", "escape_absolute"), check=False)
    path = os.path.join(OUT_DIR, "not_a_model.pb")
    with open(path, "wb") as f:
        f.write(not_a_model(np.random.default_rng(SEED + 2)))
    p["not_a_model.pb"] = path
    p["fp16_model.onnx"] = write("fp16_model.onnx", fp16_model(None))
    p["all_dtypes.onnx"] = write("all_dtypes.onnx", all_dtypes(None))
    p["unnamed_dims.onnx"] = write("unnamed_dims.onnx", unnamed_dims(None))
    for rel, path in p.items():
        print(f"{rel}: {os.path.getsize(path)} bytes")
    print(f"external_data/weights.bin: "
          f"{os.path.getsize(os.path.join(OUT_DIR, 'external_data', 'weights.bin'))} bytes")
    self_check(p)
    opset_fixtures()
    write_pruning_fixtures()
    accuracy_fixtures()
    graph_input_fixtures()
    cost_fixtures()
    static_flops_fixtures()
    source_map_fixtures()
    load_fixtures()
    return 0


# ---------------------------------------------------------------- old opsets
# Models at opsets 9 and 8 (IR 3: initializers also listed as graph inputs),
# built from the ops whose schema changed before opset 13, for the opset
# upgrade: the upgraded model must compute the same outputs.

def _legacy_model(name, opset, nodes, inputs, outputs, inits, doc):
    graph_inputs = list(inputs) + [vi(t.name, t.data_type, list(t.dims)) for t in inits]
    graph = helper.make_graph(nodes, name, graph_inputs, outputs, initializer=list(inits),
                              doc_string=doc)
    m = helper.make_model(graph, opset_imports=[helper.make_opsetid("", opset)],
                          producer_name=PRODUCER, producer_version="1", doc_string=doc)
    m.ir_version = 3
    return m


def opset9_legacy(rng):
    t = numpy_helper.from_array
    inits = [
        t(f32(rng, (8, 3, 3, 3), 0.3), "w1"), t(f32(rng, (8,), 0.1), "b1"),
        t((1.0 + f32(rng, (8,), 0.1)), "bn_scale"), t(f32(rng, (8,), 0.1), "bn_bias"),
        t(f32(rng, (8,), 0.1), "bn_mean"), t((0.5 + np.abs(f32(rng, (8,), 0.2))), "bn_var"),
        t(np.array([1, 1, 2, 2], dtype=np.float32), "up_scales"),
        t(f32(rng, (4, 8, 3, 3), 0.2), "w2"), t(f32(rng, (4,), 0.1), "b2"),
        t(f32(rng, (256, 10), 0.1), "w3"), t(f32(rng, (10,), 0.1), "b3"),
        t(np.array([1, 4, 64], dtype=np.int64), "heat_shape"),
        t(np.array(0.0, dtype=np.float32), "zero"),
    ]
    n = helper.make_node
    nodes = [
        n("Conv", ["x", "w1", "b1"], ["c1"], name="conv1", pads=[1, 1, 1, 1]),
        n("BatchNormalization", ["c1", "bn_scale", "bn_bias", "bn_mean", "bn_var"], ["bn"],
          name="bn1", epsilon=1e-3),
        n("Relu", ["bn"], ["r1"], name="relu1"),
        n("MaxPool", ["r1"], ["p1"], name="pool1", kernel_shape=[2, 2], strides=[2, 2]),
        n("Upsample", ["p1", "up_scales"], ["up"], name="up_nearest", mode="nearest"),
        n("Upsample", ["p1", "up_scales"], ["up_lin"], name="up_linear", mode="linear"),
        n("Clip", ["up"], ["cl"], name="clip6", min=0.0, max=0.6),
        n("Pad", ["cl"], ["pd"], name="pad", pads=[0, 0, 1, 1, 0, 0, 1, 1], value=0.5),
        n("Slice", ["pd"], ["sl"], name="slice", starts=[1, 0], ends=[17, 16], axes=[2, 3]),
        n("Conv", ["sl", "w2", "b2"], ["c2"], name="conv2", pads=[1, 1, 1, 1], strides=[2, 2]),
        n("Softmax", ["c2"], ["sm1"], name="softmax_flat", axis=1),
        n("Reshape", ["sm1", "heat_shape"], ["heat"], name="reshape_heat"),
        n("Dropout", ["c2"], ["dr"], name="dropout", ratio=0.3),
        n("Flatten", ["dr"], ["fl"], name="flatten", axis=1),
        n("Gemm", ["fl", "w3", "b3"], ["g"], name="fc"),
        n("Unsqueeze", ["g"], ["u"], name="unsqueeze", axes=[1]),
        n("Softmax", ["u"], ["probs"], name="softmax_last", axis=2),
        n("TopK", ["g"], ["top_values", "top_indices"], name="topk", k=3),
        n("ReduceSum", ["up_lin"], ["rs"], name="reduce_sum", axes=[1], keepdims=1),
        n("Squeeze", ["rs"], ["sq"], name="squeeze", axes=[1]),
        n("ReduceMax", ["x"], ["x_max"], name="reduce_max", keepdims=0),
        n("Greater", ["x_max", "zero"], ["positive"], name="greater"),
        n("If", ["positive"], ["branch"], name="if_positive",
          then_branch=helper.make_graph(
              [n("Unsqueeze", ["g"], ["then_out"], name="then_unsqueeze", axes=[0])], "then",
              [], [vi("then_out", TensorProto.FLOAT, [1, 1, 10])]),
          else_branch=helper.make_graph(
              [n("Unsqueeze", ["g"], ["else_out"], name="else_unsqueeze", axes=[1])], "else",
              [], [vi("else_out", TensorProto.FLOAT, [1, 1, 10])])),
    ]
    outputs = [vi("heat", TensorProto.FLOAT, [1, 4, 64]),
               vi("probs", TensorProto.FLOAT, [1, 1, 10]),
               vi("top_values", TensorProto.FLOAT, [1, 3]),
               vi("top_indices", TensorProto.INT64, [1, 3]),
               vi("sq", TensorProto.FLOAT, [1, 16, 16]),
               vi("branch", TensorProto.FLOAT, [1, 1, 10])]
    return _legacy_model("opset9_legacy", 9, nodes, [vi("x", TensorProto.FLOAT, [1, 3, 16, 16])],
                         outputs, inits,
                         "Fixture: opset 9, IR 3 (initializers also graph inputs). Conv, "
                         "BatchNormalization, Relu, MaxPool, Upsample nearest and linear, Clip, "
                         "Pad, Slice, Softmax on a non-last and on the last axis, Reshape, "
                         "Dropout, Flatten, Gemm, Unsqueeze, TopK, ReduceSum, Squeeze; an If whose "
                         "branches Unsqueeze an outer value.")


def opset8_legacy(rng):
    t = numpy_helper.from_array
    inits = [
        t(f32(rng, (6, 3, 3, 3), 0.3), "w1"),
        t((1.0 + f32(rng, (6,), 0.1)), "bn_scale"), t(f32(rng, (6,), 0.1), "bn_bias"),
        t(f32(rng, (6,), 0.1), "bn_mean"), t((0.5 + np.abs(f32(rng, (6,), 0.2))), "bn_var"),
        t(f32(rng, (6 * 16 * 16, 5), 0.05), "w2"), t(f32(rng, (5,), 0.1), "b2"),
    ]
    n = helper.make_node
    nodes = [
        n("Conv", ["x", "w1"], ["c1"], name="conv1", pads=[1, 1, 1, 1]),
        n("BatchNormalization", ["c1", "bn_scale", "bn_bias", "bn_mean", "bn_var"], ["bn"],
          name="bn1", spatial=1),
        n("LeakyRelu", ["bn"], ["r1"], name="leaky", alpha=0.1),
        n("Upsample", ["r1"], ["up"], name="upsample7", mode="nearest", scales=[1.0, 1.0, 2.0, 2.0]),
        n("MaxPool", ["up"], ["p1"], name="pool", kernel_shape=[2, 2], strides=[2, 2]),
        n("Dropout", ["p1"], ["dr"], name="dropout", ratio=0.2),
        n("Flatten", ["dr"], ["fl"], name="flatten"),
        n("Gemm", ["fl", "w2", "b2"], ["g"], name="fc"),
        n("Softmax", ["g"], ["y"], name="softmax"),
    ]
    return _legacy_model("opset8_legacy", 8, nodes, [vi("x", TensorProto.FLOAT, [2, 3, 16, 16])],
                         [vi("y", TensorProto.FLOAT, [2, 5])], inits,
                         "Fixture: opset 8, IR 3. BatchNormalization with spatial=1, Upsample "
                         "with a scales attribute, Dropout, Flatten, Gemm, Softmax.")


def opset_fixtures():
    paths = {
        "opset9_legacy.onnx": write("opset9_legacy.onnx", opset9_legacy(np.random.default_rng(SEED + 9))),
        "opset8_legacy.onnx": write("opset8_legacy.onnx", opset8_legacy(np.random.default_rng(SEED + 8))),
    }
    for rel, path in paths.items():
        print(f"{rel}: {os.path.getsize(path)} bytes")
    try:
        import onnxruntime as ort
    except ImportError:
        return
    so = ort.SessionOptions()
    so.log_severity_level = 4
    for rel, path in paths.items():
        sess = ort.InferenceSession(path, so, providers=["CPUExecutionProvider"])
        feeds = {i.name: np.random.default_rng(0).standard_normal(i.shape).astype(np.float32)
                 for i in sess.get_inputs() if i.name == "x"}
        outs = sess.run(None, feeds)
        print(f"  ort ok {rel}: outputs {[list(o.shape) for o in outs]}")


def mobilenet_v2_blocks(rng):
    """MobileNetV2-style stack for structured pruning: expand 1x1 Conv, BN, Clip(0, 6),
    depthwise 3x3, BN, Clip, project 1x1, BN, residual Add where shapes match; one
    squeeze-excitation block (GlobalAveragePool, Conv, Relu, Conv, HardSigmoid, Mul);
    a Concat of two branches; then GlobalAveragePool, Flatten, Gemm. Weights of every
    other layer in Constant nodes, some nodes unnamed."""
    nodes, inits = [], []
    counter = [0]

    def const(name, array, as_node):
        array = np.asarray(array, dtype=np.float32)
        if as_node:
            nodes.append(helper.make_node("Constant", [], [name], name="",
                                          value=numpy_helper.from_array(array, name)))
        else:
            inits.append(numpy_helper.from_array(array, name))
        return name

    def add(op, inputs, output, named=True, **attrs):
        counter[0] += 1
        nodes.append(helper.make_node(op, inputs, [output],
                                      name=output if named else "", **attrs))
        return output

    def conv(x, name, c_in, c_out, k, stride=1, group=1, as_node=False, named=True):
        # Filter scales differ so that L1 norms rank the channels.
        scale = rng.uniform(0.2, 1.5, size=(c_out, 1, 1, 1)) / np.sqrt(c_in // group * k * k)
        w = const(f"{name}.w", f32(rng, (c_out, c_in // group, k, k), 1.0) * scale, as_node)
        b = const(f"{name}.b", f32(rng, (c_out,), 0.1), as_node)
        return add("Conv", [x, w, b], name, named, kernel_shape=[k, k], strides=[stride, stride],
                   pads=[k // 2] * 4, group=group)

    def bn(x, name, c, as_node=False, named=True):
        params = [const(f"{name}.scale", rng.uniform(0.5, 1.5, c), as_node),
                  const(f"{name}.bias", f32(rng, (c,), 0.1), as_node),
                  const(f"{name}.mean", f32(rng, (c,), 0.1), as_node),
                  const(f"{name}.var", rng.uniform(0.5, 1.5, c), as_node)]
        return add("BatchNormalization", [x] + params, name, named)

    const("relu6.min", np.array(0.0), False)
    const("relu6.max", np.array(6.0), False)

    def relu6(x, name, named=True):
        return add("Clip", [x, "relu6.min", "relu6.max"], name, named)

    def block(x, name, c_in, expand, c_out, stride, as_node, se=False):
        c_mid = c_in * expand
        h = relu6(bn(conv(x, f"{name}.expand", c_in, c_mid, 1, as_node=as_node),
                     f"{name}.bn1", c_mid, as_node), f"{name}.act1")
        h = relu6(bn(conv(h, f"{name}.dw", c_mid, c_mid, 3, stride, group=c_mid,
                          as_node=as_node, named=False), f"{name}.bn2", c_mid, as_node,
                     named=False), f"{name}.act2", named=False)
        if se:
            s = add("GlobalAveragePool", [h], f"{name}.se_pool")
            s = add("Relu", [conv(s, f"{name}.se_reduce", c_mid, c_mid // 4, 1)],
                    f"{name}.se_relu")
            s = add("HardSigmoid", [conv(s, f"{name}.se_expand", c_mid // 4, c_mid, 1)],
                    f"{name}.se_gate", alpha=1.0 / 6, beta=0.5)
            h = add("Mul", [h, s], f"{name}.se_scale")
        h = bn(conv(h, f"{name}.project", c_mid, c_out, 1, as_node=as_node),
               f"{name}.bn3", c_out, as_node)
        if stride == 1 and c_in == c_out:
            h = add("Add", [x, h], f"{name}.residual", named=False)
        return h

    x = relu6(bn(conv("x", "stem", 3, 16, 3, 2), "stem.bn", 16), "stem.act")
    x = block(x, "b1", 16, 2, 16, 1, as_node=False)
    x = block(x, "b2", 16, 3, 24, 2, as_node=True, se=True)
    x = block(x, "b3", 24, 2, 24, 1, as_node=False)
    a = add("Relu", [conv(x, "branch_a", 24, 16, 1, as_node=True)], "branch_a.relu")
    b = add("Relu", [conv(x, "branch_b", 24, 16, 3)], "branch_b.relu")
    x = add("Concat", [a, b], "concat", axis=1)
    x = relu6(bn(conv(x, "head", 32, 64, 1, as_node=True), "head.bn", 64, True), "head.act")
    x = add("GlobalAveragePool", [x], "pool")
    x = add("Flatten", [x], "flatten", axis=1)
    w = const("fc.w", f32(rng, (10, 64), 0.2), True)
    fc_b = const("fc.b", f32(rng, (10,), 0.1), True)
    nodes.append(helper.make_node("Gemm", [x, w, fc_b], ["logits"], name="fc", transB=1))
    return make_model("mobilenet_v2_blocks", nodes,
                      [vi("x", TensorProto.FLOAT, ["batch", 3, 32, 32])],
                      [vi("logits", TensorProto.FLOAT, ["batch", 10])],
                      "Fixture: MobileNetV2-style blocks (expand, depthwise, project, "
                      "residual Add), one squeeze-excitation block, a Concat of two branches, "
                      "GlobalAveragePool, Flatten, Gemm; for structured pruning.", inits)


def write_pruning_fixtures():
    """The structured pruning fixture, checked in ONNX Runtime when installed."""
    path = write("mobilenet_v2_blocks.onnx", mobilenet_v2_blocks(np.random.default_rng(SEED + 3)))
    print(f"mobilenet_v2_blocks.onnx: {os.path.getsize(path)} bytes")
    try:
        import onnxruntime as ort
    except ImportError:
        return
    sess = ort.InferenceSession(path, providers=["CPUExecutionProvider"])
    x = np.random.default_rng(0).standard_normal((2, 3, 32, 32)).astype(np.float32)
    (y,) = sess.run(None, {"x": x})
    print(f"  ort ok mobilenet_v2_blocks.onnx: outputs {list(y.shape)}")



# ---------------------------------------------------------------- graph-aware inputs
# Inputs whose valid values the graph decides: indices into a small table
# (through a Cast), shape tensors fed to Expand and Reshape, two unnamed dims,
# and a dim of 2^31 that no machine should try to allocate.

def gather_table(rng):
    table = numpy_helper.from_array(f32(rng, (4, 3), 1.0), "table")
    nodes = [helper.make_node("Cast", ["ids"], ["ids64"], name="cast", to=TensorProto.INT64),
             helper.make_node("Gather", ["table", "ids64"], ["rows"], name="embed", axis=0)]
    return make_model("gather_table", nodes, [vi("ids", TensorProto.INT32, ["batch", 6])],
                      [vi("rows", TensorProto.FLOAT, ["batch", 6, 3])],
                      "Fixture: int32 ids, cast to int64, index a 4-row table (Gather axis 0).",
                      [table])


def shape_inputs(rng):
    nodes = [helper.make_node("Expand", ["x", "target"], ["expanded"], name="expand"),
             helper.make_node("Reshape", ["x", "new_shape"], ["reshaped"], name="reshape")]
    return make_model("shape_inputs", nodes,
                      [vi("x", TensorProto.FLOAT, [3, 1]), vi("target", TensorProto.INT64, [2]),
                       vi("new_shape", TensorProto.INT64, [3])],
                      [vi("expanded", TensorProto.FLOAT, [None, None]),
                       vi("reshaped", TensorProto.FLOAT, [None, None, None])],
                      "Fixture: shape tensors from graph inputs: Expand's shape and Reshape's shape.")


def two_unnamed_dims(rng):
    nodes = [helper.make_node("Relu", ["x"], ["y"], name="relu")]
    return make_model("two_unnamed_dims", nodes, [vi("x", TensorProto.FLOAT, [None, 3, None, None])],
                      [vi("y", TensorProto.FLOAT, [None, 3, None, None])],
                      "Fixture: input x of shape [?, 3, ?, ?] (three unnamed dims). Relu.")


def huge_dim(rng):
    nodes = [helper.make_node("Relu", ["x"], ["y"], name="relu")]
    return make_model("huge_dim", nodes, [vi("x", TensorProto.FLOAT, [2 ** 31, 3])],
                      [vi("y", TensorProto.FLOAT, [2 ** 31, 3])],
                      "Fixture: a declared dim of 2^31 (25.8 GB of float inputs).")


def graph_input_fixtures():
    """Fixtures of tests/integration/inputs.rs, checked in ONNX Runtime when installed."""
    paths = {
        "gather_table.onnx": write("gather_table.onnx", gather_table(np.random.default_rng(SEED + 4))),
        "shape_inputs.onnx": write("shape_inputs.onnx", shape_inputs(None)),
        "two_unnamed_dims.onnx": write("two_unnamed_dims.onnx", two_unnamed_dims(None)),
        "huge_dim.onnx": write("huge_dim.onnx", huge_dim(None)),
    }
    for rel, path in paths.items():
        print(f"{rel}: {os.path.getsize(path)} bytes")
    try:
        import onnxruntime as ort
    except ImportError:
        return
    sess = ort.InferenceSession(paths["gather_table.onnx"], providers=["CPUExecutionProvider"])
    (rows,) = sess.run(None, {"ids": np.array([[0, 1, 2, 3, 3, 0]], dtype=np.int32)})
    print(f"  ort ok gather_table.onnx: {list(rows.shape)}")
    sess = ort.InferenceSession(paths["shape_inputs.onnx"], providers=["CPUExecutionProvider"])
    x = np.ones((3, 1), dtype=np.float32)
    out = sess.run(None, {"x": x, "target": np.array([1, 1], dtype=np.int64),
                          "new_shape": np.array([1, 1, -1], dtype=np.int64)})
    print(f"  ort ok shape_inputs.onnx: {[list(o.shape) for o in out]}")


# ---------------------------------------------------------------- node cost
# Convolutions and matrix products whose FLOPs are computed by hand in
# tests/integration/profile.rs (per-node cost from ONNX Runtime's profile).

def conv_cost(rng):
    x = vi("x", TensorProto.FLOAT, [1, 16, 32, 32])
    inits = [
        numpy_helper.from_array(f32(rng, (32, 4, 3, 3), 0.2), "w_grouped"),
        numpy_helper.from_array(f32(rng, (16, 32, 3, 3), 0.1), "w_dilated"),
        numpy_helper.from_array(f32(rng, (24, 16, 3, 3), 0.1), "w_strided"),
        numpy_helper.from_array(f32(rng, (24, 8, 2, 2), 0.2), "w_up"),
        numpy_helper.from_array(f32(rng, (10, 784), 0.05), "w_fc"),
        numpy_helper.from_array(np.array([8, 784], dtype=np.int64), "shape_fc"),
        numpy_helper.from_array(np.array([8, 28, 28], dtype=np.int64), "shape_bmm"),
    ]
    nodes = [
        # 2 · 32·32·32 · 4·3·3 = 2,359,296
        helper.make_node("Conv", ["x", "w_grouped"], ["a"], name="conv_grouped",
                         group=4, pads=[1, 1, 1, 1]),
        # 2 · 16·28·28 · 32·3·3 = 7,225,344
        helper.make_node("Conv", ["a", "w_dilated"], ["b"], name="conv_dilated",
                         dilations=[2, 2]),
        # 2 · 24·14·14 · 16·3·3 = 1,354,752
        helper.make_node("Conv", ["b", "w_strided"], ["c"], name="conv_strided",
                         strides=[2, 2], pads=[1, 1, 1, 1]),
        # 2 · 24·14·14 · 8·2·2 = 301,056
        helper.make_node("ConvTranspose", ["c", "w_up"], ["d"], name="conv_transpose",
                         strides=[2, 2]),
        helper.make_node("Reshape", ["d", "shape_fc"], ["e"], name="flatten_rows"),
        # 2 · 8·10 · 784 = 125,440
        helper.make_node("Gemm", ["e", "w_fc"], ["logits"], name="fc", transB=1),
        helper.make_node("Reshape", ["d", "shape_bmm"], ["f"], name="to_batches"),
        # 2 · 8·28·28 · 28 = 351,232
        helper.make_node("MatMul", ["f", "f"], ["products"], name="batched_matmul"),
    ]
    return make_model("conv_cost", nodes, [x],
                      [vi("logits", TensorProto.FLOAT, [8, 10]),
                       vi("products", TensorProto.FLOAT, [8, 28, 28])],
                      "Fixture: grouped, dilated and strided Conv, ConvTranspose, Gemm with "
                      "transB and a batched MatMul, for the per-node FLOP counts.", inits)


def cost_fixtures():
    path = write("conv_cost.onnx", conv_cost(np.random.default_rng(SEED + 12)))
    print(f"conv_cost.onnx: {os.path.getsize(path)} bytes")
# ---------------------------------------------------------------- static FLOPs
# A small detector-like graph whose FLOPs after Resize (scales and sizes
# forms), Expand and Tile are only counted when shapes propagate through
# them, and a data-dependent branch (NonZero) whose MatMul cannot be counted.

def resize_expand(rng):
    def conv_weight(name, shape):
        return numpy_helper.from_array(f32(rng, shape, 0.2), name)

    inits = [
        conv_weight("w1", (8, 3, 3, 3)),
        conv_weight("w2", (8, 8, 3, 3)),
        conv_weight("w3", (4, 8, 3, 3)),
        conv_weight("w4", (2, 8, 1, 1)),
        numpy_helper.from_array(np.array([1, 1, 2, 2], dtype=np.float32), "scales"),
        numpy_helper.from_array(np.array([0], dtype=np.int64), "zero"),
        numpy_helper.from_array(np.array([2], dtype=np.int64), "two"),
        numpy_helper.from_array(np.array([4], dtype=np.int64), "four"),
        numpy_helper.from_array(np.full((1, 1, 1, 1), 0.5, dtype=np.float32), "gate"),
        numpy_helper.from_array(np.array([1, 2, 1, 1], dtype=np.int64), "repeats"),
        numpy_helper.from_array(f32(rng, (4, 2), 0.5), "w_points"),
    ]
    nodes = [
        helper.make_node("Conv", ["x", "w1"], ["c1"], name="conv1", pads=[1, 1, 1, 1],
                         strides=[2, 2]),
        # Scales form: [N, 8, H/2, W/2] -> [N, 8, H, W].
        helper.make_node("Resize", ["c1", "", "scales"], ["up_scales"], name="up_scales",
                         mode="nearest"),
        helper.make_node("Conv", ["up_scales", "w2"], ["c2"], name="conv2", pads=[1, 1, 1, 1]),
        # Sizes form: sizes = Shape(c1)[0:2] ++ Shape(x)[2:4].
        helper.make_node("Shape", ["c1"], ["c1_shape"], name="c1_shape"),
        helper.make_node("Slice", ["c1_shape", "zero", "two"], ["nc"], name="nc"),
        helper.make_node("Shape", ["x"], ["x_shape"], name="x_shape"),
        helper.make_node("Slice", ["x_shape", "two", "four"], ["hw"], name="hw"),
        helper.make_node("Concat", ["nc", "hw"], ["sizes"], name="sizes", axis=0),
        helper.make_node("Resize", ["c1", "", "", "sizes"], ["up_sizes"], name="up_sizes",
                         mode="linear"),
        helper.make_node("Conv", ["up_sizes", "w3"], ["c3"], name="conv3", pads=[1, 1, 1, 1]),
        # Expand a gate to c3's shape, Tile the gated map to 8 channels.
        helper.make_node("Shape", ["c3"], ["c3_shape"], name="c3_shape"),
        helper.make_node("Expand", ["gate", "c3_shape"], ["gate_map"], name="expand_gate"),
        helper.make_node("Mul", ["c3", "gate_map"], ["gated"], name="gated"),
        helper.make_node("Tile", ["gated", "repeats"], ["tiled"], name="tile"),
        helper.make_node("Add", ["c2", "tiled"], ["merged"], name="merge"),
        helper.make_node("Conv", ["merged", "w4"], ["y"], name="conv4"),
        # Data-dependent branch: the points above a threshold.
        helper.make_node("NonZero", ["y"], ["nz"], name="nonzero"),
        helper.make_node("Cast", ["nz"], ["nz_f"], name="nz_float", to=TensorProto.FLOAT),
        helper.make_node("Transpose", ["nz_f"], ["points"], name="points", perm=[1, 0]),
        helper.make_node("MatMul", ["points", "w_points"], ["projected"], name="project"),
    ]
    return make_model(
        "resize_expand", nodes, [vi("x", TensorProto.FLOAT, ["N", 3, "H", "W"])],
        [vi("y", TensorProto.FLOAT, ["N", 2, "H", "W"]),
         vi("projected", TensorProto.FLOAT, [None, 2])],
        "Fixture: Conv, Resize by scales and by sizes (from Shape/Slice/Concat), Expand, "
        "Tile, Conv; FLOPs = N*H*W*1868 for even H and W. A NonZero branch ends in a MatMul "
        "whose shape depends on the data.",
        inits)


def static_flops_fixtures():
    """Fixtures of the static FLOPs estimate (inspect), checked in ONNX Runtime when installed."""
    path = write("resize_expand.onnx", resize_expand(np.random.default_rng(SEED + 12)))
    print(f"resize_expand.onnx: {os.path.getsize(path)} bytes")
    try:
        import onnxruntime as ort
    except ImportError:
        return
    sess = ort.InferenceSession(path, providers=["CPUExecutionProvider"])
    x = np.random.default_rng(SEED).standard_normal((2, 3, 16, 24)).astype(np.float32)
    y, projected = sess.run(None, {"x": x})
    assert list(y.shape) == [2, 2, 16, 24], y.shape
    print(f"  ort ok resize_expand.onnx: {list(y.shape)}, {list(projected.shape)}")
# ---------------------------------------------------------------- source mapping
# Models ONNX Runtime (CPU, level all) is known to rewrite: Conv+BatchNorm+Relu
# (BatchNorm folded, NCHWc layout, ReorderInput/ReorderOutput inserted),
# MatMul+Add into Gemm, a layer-norm pattern into LayerNormalization, and a
# model whose nodes have no names (ids #<index>) with weights in Constant nodes.

def fusion_conv_bn_relu(rng):
    c0, c1, c2, k = 3, 16, 16, 10
    inits = [
        numpy_helper.from_array(f32(rng, (c1, c0, 3, 3), 0.3), "w1"),
        numpy_helper.from_array(np.abs(f32(rng, (c1,), 1.0)) + 0.5, "bn_scale"),
        numpy_helper.from_array(f32(rng, (c1,), 0.1), "bn_bias"),
        numpy_helper.from_array(f32(rng, (c1,), 0.1), "bn_mean"),
        numpy_helper.from_array(np.abs(f32(rng, (c1,), 1.0)) + 0.5, "bn_var"),
        numpy_helper.from_array(f32(rng, (c2, c1, 3, 3), 0.1), "w2"),
        numpy_helper.from_array(f32(rng, (c2,), 0.1), "b2"),
        numpy_helper.from_array(f32(rng, (c2, k), 0.2), "fc_w"),
        numpy_helper.from_array(f32(rng, (k,), 0.1), "fc_b"),
    ]
    nodes = [
        helper.make_node("Conv", ["x", "w1"], ["c1"], name="conv1", pads=[1, 1, 1, 1]),
        helper.make_node("BatchNormalization", ["c1", "bn_scale", "bn_bias", "bn_mean", "bn_var"],
                         ["b1"], name="bn1"),
        helper.make_node("Relu", ["b1"], ["r1"], name="relu1"),
        helper.make_node("Conv", ["r1", "w2", "b2"], ["c2"], name="conv2", pads=[1, 1, 1, 1]),
        helper.make_node("Relu", ["c2"], ["r2"], name="relu2"),
        helper.make_node("Add", ["r1", "r2"], ["sum"], name="residual"),
        helper.make_node("GlobalAveragePool", ["sum"], ["gap"], name="gap"),
        helper.make_node("Flatten", ["gap"], ["flat"], name="flatten"),
        helper.make_node("MatMul", ["flat", "fc_w"], ["mm"], name="fc_matmul"),
        helper.make_node("Add", ["mm", "fc_b"], ["y"], name="fc_add"),
    ]
    return make_model("fusion_conv_bn_relu", nodes, [vi("x", TensorProto.FLOAT, [1, c0, 32, 32])],
                      [vi("y", TensorProto.FLOAT, [1, k])],
                      "Fixture: Conv+BatchNorm+Relu, Conv+Relu, residual Add, MatMul+Add (Gemm).",
                      inits)


def fusion_layer_norm(rng):
    d = 64
    inits = [
        numpy_helper.from_array(np.array(2.0, dtype=np.float32), "two"),
        numpy_helper.from_array(np.array(1e-5, dtype=np.float32), "eps"),
        numpy_helper.from_array(np.abs(f32(rng, (d,), 1.0)) + 0.5, "gamma"),
        numpy_helper.from_array(f32(rng, (d,), 0.1), "beta"),
        numpy_helper.from_array(f32(rng, (d, d), 0.1), "proj_w"),
        numpy_helper.from_array(f32(rng, (d,), 0.1), "proj_b"),
    ]
    nodes = [
        helper.make_node("ReduceMean", ["x"], ["mean"], name="ln_mean", axes=[-1]),
        helper.make_node("Sub", ["x", "mean"], ["centered"], name="ln_sub"),
        helper.make_node("Pow", ["centered", "two"], ["sq"], name="ln_pow"),
        helper.make_node("ReduceMean", ["sq"], ["var"], name="ln_var", axes=[-1]),
        helper.make_node("Add", ["var", "eps"], ["var_eps"], name="ln_add_eps"),
        helper.make_node("Sqrt", ["var_eps"], ["std"], name="ln_sqrt"),
        helper.make_node("Div", ["centered", "std"], ["normed"], name="ln_div"),
        helper.make_node("Mul", ["normed", "gamma"], ["scaled"], name="ln_scale"),
        helper.make_node("Add", ["scaled", "beta"], ["ln_out"], name="ln_shift"),
        helper.make_node("MatMul", ["ln_out", "proj_w"], ["proj"], name="proj_matmul"),
        helper.make_node("Add", ["proj", "proj_b"], ["y"], name="proj_add"),
    ]
    return make_model("fusion_layer_norm", nodes, [vi("x", TensorProto.FLOAT, [1, 16, d])],
                      [vi("y", TensorProto.FLOAT, [1, 16, d])],
                      "Fixture: a layer-norm pattern (ReduceMean, Sub, Pow, Sqrt, Div), then MatMul+Add.",
                      inits)


def unnamed_nodes(rng):
    c0, c1 = 3, 8
    const = lambda out, arr: helper.make_node("Constant", [], [out],
                                              value=numpy_helper.from_array(arr, out))
    nodes = [
        const("w1", f32(rng, (c1, c0, 3, 3), 0.3)),
        const("b1", f32(rng, (c1,), 0.1)),
        helper.make_node("Conv", ["x", "w1", "b1"], ["t0"], pads=[1, 1, 1, 1]),
        helper.make_node("Relu", ["t0"], ["t1"]),
        const("w2", f32(rng, (c1, c1, 3, 3), 0.1)),
        helper.make_node("Conv", ["t1", "w2"], ["t2"], pads=[1, 1, 1, 1]),
        helper.make_node("Add", ["t1", "t2"], ["t3"]),
        helper.make_node("Sigmoid", ["t3"], ["t4"]),
        helper.make_node("Mul", ["t3", "t4"], ["t5"]),
        helper.make_node("GlobalAveragePool", ["t5"], ["y"]),
    ]
    return make_model("unnamed_nodes", nodes, [vi("x", TensorProto.FLOAT, [1, c0, 16, 16])],
                      [vi("y", TensorProto.FLOAT, [1, c1, 1, 1])],
                      "Fixture: nodes without names, weights in Constant nodes, Conv+Relu, residual Add.")


def source_map_fixtures():
    """Fixtures of tests/integration/source_map.rs."""
    paths = {
        "fusion_conv_bn_relu.onnx": write("fusion_conv_bn_relu.onnx",
                                          fusion_conv_bn_relu(np.random.default_rng(SEED + 5))),
        "fusion_layer_norm.onnx": write("fusion_layer_norm.onnx",
                                        fusion_layer_norm(np.random.default_rng(SEED + 6))),
        "unnamed_nodes.onnx": write("unnamed_nodes.onnx",
                                    unnamed_nodes(np.random.default_rng(SEED + 7))),
    }
    for rel, path in paths.items():
        print(f"{rel}: {os.path.getsize(path)} bytes")


def tiny_mlp(rng):
    """A model whose run costs a few µs in ONNX Runtime: what the load
    generator's own cost is measured against."""
    inits = [
        numpy_helper.from_array(f32(rng, (16, 16), 0.25), "W1"),
        numpy_helper.from_array(f32(rng, (16,), 0.01), "B1"),
        numpy_helper.from_array(f32(rng, (16, 16), 0.25), "W2"),
    ]
    nodes = [
        helper.make_node("MatMul", ["x", "W1"], ["h"], name="fc1"),
        helper.make_node("Add", ["h", "B1"], ["hb"], name="bias1"),
        helper.make_node("Relu", ["hb"], ["hr"], name="relu1"),
        helper.make_node("MatMul", ["hr", "W2"], ["y"], name="fc2"),
    ]
    return make_model("tiny_mlp", nodes, [vi("x", TensorProto.FLOAT, ["batch", 16])],
                      [vi("y", TensorProto.FLOAT, ["batch", 16])],
                      "Fixture: a 16-16-16 MLP that runs in a few µs (generator overhead and "
                      "lateness tests and benchmarks).", inits)


def load_fixtures():
    """Fixtures of the load generator's tests and benchmarks."""
    path = write("tiny_mlp.onnx", tiny_mlp(np.random.default_rng(SEED + 8)))
    print(f"tiny_mlp.onnx: {os.path.getsize(path)} bytes")


if __name__ == "__main__":
    sys.exit(main())
