"""Generate the sample ONNX models used by onnx-workbench.

Run from the repository root:

    python3 sample_models/generate.py

Requires (pip): onnx==1.23.2 numpy
Optional, for the self-check run at the end: onnxruntime==1.31.1

Writes mlp.onnx, cnn.onnx, transformer.onnx, multi_input.onnx, decoder.onnx (a
generative decoder with a KV cache, own seed DECODER_SEED) and the trained
digits_cnn.onnx with its evaluation set next to this script. All models use opset 17 (default domain) and IR version 8. Weights come
from a fixed numpy seed, so reruns produce byte-identical files.
"""

import os
import sys

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper

OPSET = 17
IR_VERSION = 8
PRODUCER = "onnx-workbench sample_models/generate.py"
SEED = 20240601
OUT_DIR = os.path.dirname(os.path.abspath(__file__))


class Builder:
    """Small helper that collects nodes and initializers for one graph."""

    def __init__(self, rng):
        self.rng = rng
        self.nodes = []
        self.inits = []

    def init(self, name, array):
        self.inits.append(numpy_helper.from_array(np.array(array, order="C"), name))
        return name

    def he(self, name, shape, fan_in):
        w = self.rng.standard_normal(shape) * np.sqrt(2.0 / fan_in)
        return self.init(name, w.astype(np.float32))

    def small(self, name, shape, scale=0.01):
        return self.init(name, (self.rng.standard_normal(shape) * scale).astype(np.float32))

    def i64(self, name, values):
        return self.init(name, np.array(values, dtype=np.int64))

    def f32(self, name, values):
        return self.init(name, np.array(values, dtype=np.float32))

    def node(self, op, inputs, outputs, name, **attrs):
        self.nodes.append(helper.make_node(op, inputs, outputs, name=name, **attrs))
        return outputs[0] if len(outputs) == 1 else outputs

    def model(self, graph_name, inputs, outputs, doc):
        graph = helper.make_graph(
            self.nodes, graph_name, inputs, outputs, initializer=self.inits, doc_string=doc
        )
        m = helper.make_model(
            graph,
            opset_imports=[helper.make_opsetid("", OPSET)],
            producer_name=PRODUCER,
            producer_version="1",
            doc_string=doc,
        )
        m.ir_version = IR_VERSION
        return m


def float_param_count(model):
    """Elements in floating-point initializers of rank >= 1 (weights, biases, norm params).

    Scalar constants (attention scale, GELU constants, clamp value) and int64
    shape/axes tensors are not counted.
    """
    total = 0
    for t in model.graph.initializer:
        if t.data_type in (TensorProto.FLOAT, TensorProto.FLOAT16, TensorProto.DOUBLE) and len(t.dims):
            total += int(np.prod(t.dims))
    return total


def make_mlp(rng):
    b = Builder(rng)
    x = "input"
    dims = [(256, 512), (512, 256), (256, 10)]
    for i, (fin, fout) in enumerate(dims, start=1):
        w = b.he(f"fc{i}.weight", (fin, fout), fin)
        bias = b.small(f"fc{i}.bias", (fout,))
        last = i == len(dims)
        out = "logits" if last else f"fc{i}_out"
        x = b.node("Gemm", [x, w, bias], [out], f"fc{i}")
        if not last:
            x = b.node("Relu", [x], [f"relu{i}_out"], f"relu{i}")
    doc = "Sample MLP: 256 -> 512 -> 256 -> 10 with Gemm + Relu. Random He-style weights (not trained)."
    return b.model(
        "mlp",
        [helper.make_tensor_value_info("input", TensorProto.FLOAT, ["batch", 256])],
        [helper.make_tensor_value_info("logits", TensorProto.FLOAT, ["batch", 10])],
        doc,
    )


def make_cnn(rng):
    b = Builder(rng)
    x = "image"
    for i, (cin, cout) in enumerate([(1, 16), (16, 32)], start=1):
        w = b.he(f"conv{i}.weight", (cout, cin, 3, 3), cin * 9)
        bias = b.small(f"conv{i}.bias", (cout,))
        x = b.node("Conv", [x, w, bias], [f"conv{i}_out"], f"conv{i}",
                   kernel_shape=[3, 3], pads=[1, 1, 1, 1], strides=[1, 1])
        scale = b.f32(f"bn{i}.scale", 1.0 + 0.1 * rng.standard_normal(cout))
        shift = b.f32(f"bn{i}.bias", 0.1 * rng.standard_normal(cout))
        mean = b.f32(f"bn{i}.mean", 0.1 * rng.standard_normal(cout))
        var = b.f32(f"bn{i}.var", rng.uniform(0.5, 1.5, cout))
        x = b.node("BatchNormalization", [x, scale, shift, mean, var], [f"bn{i}_out"], f"bn{i}",
                   epsilon=1e-5)
        x = b.node("Relu", [x], [f"relu{i}_out"], f"relu{i}")
        x = b.node("MaxPool", [x], [f"pool{i}_out"], f"pool{i}",
                   kernel_shape=[2, 2], strides=[2, 2])
    x = b.node("Flatten", [x], ["flatten_out"], "flatten", axis=1)
    w = b.he("fc1.weight", (32 * 7 * 7, 64), 32 * 7 * 7)
    x = b.node("Gemm", [x, w, b.small("fc1.bias", (64,))], ["fc1_out"], "fc1")
    x = b.node("Relu", [x], ["relu3_out"], "relu3")
    w = b.he("fc2.weight", (64, 10), 64)
    b.node("Gemm", [x, w, b.small("fc2.bias", (10,))], ["logits"], "fc2")
    doc = ("Sample MNIST-style CNN: 2x (Conv 3x3 + BatchNormalization + Relu + MaxPool 2x2), "
           "Flatten, Gemm 1568->64, Relu, Gemm 64->10. Random weights (not trained).")
    return b.model(
        "cnn",
        [helper.make_tensor_value_info("image", TensorProto.FLOAT, ["batch", 1, 28, 28])],
        [helper.make_tensor_value_info("logits", TensorProto.FLOAT, ["batch", 10])],
        doc,
    )


def make_transformer(rng):
    d, heads, ffn = 64, 4, 256
    hd = d // heads
    b = Builder(rng)
    shape_heads = b.i64("shape_heads", [0, 0, heads, hd])
    shape_model = b.i64("shape_model", [0, 0, d])
    scale = b.f32("attn_scale", 1.0 / np.sqrt(hd))

    def linear(prefix, x, fin, fout):
        w = b.he(f"{prefix}.weight", (fin, fout), fin)
        bias = b.small(f"{prefix}.bias", (fout,))
        y = b.node("MatMul", [x, w], [f"{prefix}_matmul_out"], f"{prefix}_matmul")
        return b.node("Add", [y, bias], [f"{prefix}_out"], f"{prefix}_add")

    x = "hidden"
    heads_out = {}
    for p, perm in [("q", [0, 2, 1, 3]), ("k", [0, 2, 3, 1]), ("v", [0, 2, 1, 3])]:
        y = linear(f"{p}_proj", x, d, d)
        y = b.node("Reshape", [y, shape_heads], [f"{p}_reshape_out"], f"{p}_reshape")
        heads_out[p] = b.node("Transpose", [y], [f"{p}_transpose_out"], f"{p}_transpose", perm=perm)
    # q: [b, h, s, hd], k: [b, h, hd, s], v: [b, h, s, hd]
    s = b.node("MatMul", [heads_out["q"], heads_out["k"]], ["attn_scores"], "attn_qk_matmul")
    s = b.node("Mul", [s, scale], ["attn_scaled"], "attn_scale_mul")
    s = b.node("Softmax", [s], ["attn_probs"], "attn_softmax", axis=-1)
    ctx = b.node("MatMul", [s, heads_out["v"]], ["attn_context"], "attn_v_matmul")
    ctx = b.node("Transpose", [ctx], ["attn_context_t"], "attn_context_transpose", perm=[0, 2, 1, 3])
    ctx = b.node("Reshape", [ctx, shape_model], ["attn_context_merged"], "attn_context_reshape")
    attn = linear("out_proj", ctx, d, d)
    r1 = b.node("Add", [x, attn], ["residual1_out"], "residual1")
    ln1 = b.node("LayerNormalization",
                 [r1, b.f32("ln1.scale", np.ones(d)), b.f32("ln1.bias", np.zeros(d))],
                 ["ln1_out"], "ln1", axis=-1, epsilon=1e-5)
    h = linear("ffn_up", ln1, d, ffn)
    # GELU, exact form: 0.5 * x * (1 + erf(x / sqrt(2)))
    g = b.node("Mul", [h, b.f32("gelu_inv_sqrt2", 1.0 / np.sqrt(2.0))], ["gelu_div_out"], "gelu_scale")
    g = b.node("Erf", [g], ["gelu_erf_out"], "gelu_erf")
    g = b.node("Add", [g, b.f32("gelu_one", 1.0)], ["gelu_add_out"], "gelu_add_one")
    g = b.node("Mul", [h, g], ["gelu_mul_out"], "gelu_mul")
    g = b.node("Mul", [g, b.f32("gelu_half", 0.5)], ["gelu_out"], "gelu_half")
    f = linear("ffn_down", g, ffn, d)
    r2 = b.node("Add", [ln1, f], ["residual2_out"], "residual2")
    b.node("LayerNormalization",
           [r2, b.f32("ln2.scale", np.ones(d)), b.f32("ln2.bias", np.zeros(d))],
           ["output"], "ln2", axis=-1, epsilon=1e-5)
    doc = ("Sample transformer encoder block (post-LN): d_model 64, 4 heads, FFN 256 with "
           "Erf-based GELU. Dynamic batch and sequence length. Random weights (not trained).")
    return b.model(
        "transformer",
        [helper.make_tensor_value_info("hidden", TensorProto.FLOAT, ["batch", "seq", d])],
        [helper.make_tensor_value_info("output", TensorProto.FLOAT, ["batch", "seq", d])],
        doc,
    )


def make_multi_input(rng):
    vocab, dim, classes = 1000, 32, 4
    b = Builder(rng)
    emb = b.f32("embedding.weight", rng.standard_normal((vocab, dim)) * 0.1)
    axis2 = b.i64("axes_2", [2])
    axis1 = b.i64("axes_1", [1])
    e = b.node("Gather", [emb, "input_ids"], ["embedded"], "embedding_gather", axis=0)
    m = b.node("Unsqueeze", ["attention_mask", axis2], ["mask_unsqueezed"], "mask_unsqueeze")
    e = b.node("Mul", [e, m], ["masked"], "mask_mul")
    s = b.node("ReduceSum", [e, axis1], ["pooled_sum"], "pool_sum", keepdims=0)
    c = b.node("ReduceSum", [m, axis1], ["mask_count"], "mask_sum", keepdims=0)
    c = b.node("Max", [c, b.f32("one", 1.0)], ["mask_count_clamped"], "mask_clamp")
    p = b.node("Div", [s, c], ["pooled_mean"], "pool_mean_div")
    w = b.he("classifier.weight", (dim, classes), dim)
    b.node("Gemm", [p, w, b.small("classifier.bias", (classes,))], ["scores"], "classifier")
    doc = ("Sample multi-input model: embedding lookup (vocab 1000 x 32) of int64 input_ids, "
           "masked mean pooling with float attention_mask, Gemm 32->4. input_ids outside "
           "[-1000, 999] make Gather fail at run time. Random weights (not trained).")
    return b.model(
        "multi_input",
        [
            helper.make_tensor_value_info("input_ids", TensorProto.INT64, ["batch", "seq"]),
            helper.make_tensor_value_info("attention_mask", TensorProto.FLOAT, ["batch", "seq"]),
        ],
        [helper.make_tensor_value_info("scores", TensorProto.FLOAT, ["batch", classes])],
        doc,
    )


MODELS = [
    ("mlp.onnx", make_mlp),
    ("cnn.onnx", make_cnn),
    ("transformer.onnx", make_transformer),
    ("multi_input.onnx", make_multi_input),
]


# ---------------------------------------------------------------------------
# decoder.onnx: a GPT-style generative decoder with a KV cache in the Hugging
# Face / optimum "decoder with past" layout. It has its own seed, so adding it
# leaves the other samples' bytes unchanged.

DECODER_SEED = 20240608
DEC_VOCAB = 8192
DEC_HIDDEN = 256
DEC_LAYERS = 4
DEC_HEADS = 4
DEC_HEAD_DIM = DEC_HIDDEN // DEC_HEADS
DEC_POSITIONS = 512
DEC_MLP = 4 * DEC_HIDDEN


def make_decoder(rng):
    """GPT-2-like decoder: vocab 8192, hidden 256, 4 pre-LN layers, 4 heads of 64, MLP 1024
    (tanh GELU), learned positions (512 rows), lm_head tied to the token table (Gemm transB)."""
    b = Builder(rng)
    h, nh, hd = DEC_HIDDEN, DEC_HEADS, DEC_HEAD_DIM
    wte = b.f32("wte", rng.standard_normal((DEC_VOCAB, h)) * 0.2)
    wpe = b.f32("wpe", rng.standard_normal((DEC_POSITIONS, h)) * 1.0)
    axes0, axes1, axes12 = b.i64("axes_0", [0]), b.i64("axes_1", [1]), b.i64("axes_1_2", [1, 2])
    zero_i, one_i = b.i64("zero_i64", 0), b.i64("one_i64", 1)
    split_heads = b.i64("shape_split_heads", [0, 0, nh, hd])
    merge_heads = b.i64("shape_merge_heads", [0, 0, h])

    def normal(name, shape, scale):
        return b.f32(name, rng.standard_normal(shape) * scale)

    def linear(prefix, x, fin, fout, gain=1.0):
        w = normal(f"{prefix}.weight", (fin, fout), gain / np.sqrt(fin))
        bias = normal(f"{prefix}.bias", (fout,), 0.02)
        y = b.node("MatMul", [x, w], [f"{prefix}.matmul_out"], f"{prefix}.matmul")
        return b.node("Add", [y, bias], [f"{prefix}.add_out"], f"{prefix}.add")

    def layer_norm(prefix, x):
        scale = b.f32(f"{prefix}.scale", 1.0 + 0.1 * rng.standard_normal(h))
        shift = normal(f"{prefix}.bias", (h,), 0.1)
        return b.node("LayerNormalization", [x, scale, shift], [f"{prefix}_out"], prefix,
                      axis=-1, epsilon=1e-5)

    # token + position embeddings
    x = b.node("Gather", [wte, "input_ids"], ["wte_gather_out"], "wte_gather", axis=0)
    p = b.node("Gather", [wpe, "position_ids"], ["wpe_gather_out"], "wpe_gather", axis=0)
    x = b.node("Add", [x, p], ["embed_add_out"], "embed_add")
    # additive attention bias [batch, 1, S, T]: causal (key j <= P + i) and attention_mask
    t1 = b.node("Shape", ["attention_mask"], ["mask_total_len_out"], "mask_total_len", start=1, end=2)
    s1 = b.node("Shape", ["input_ids"], ["ids_seq_len_out"], "ids_seq_len", start=1, end=2)
    p1 = b.node("Sub", [t1, s1], ["past_len_out"], "past_len")
    t0 = b.node("Squeeze", [t1, axes0], ["total_len_scalar_out"], "total_len_scalar")
    p0 = b.node("Squeeze", [p1, axes0], ["past_len_scalar_out"], "past_len_scalar")
    qpos = b.node("Range", [p0, t0, one_i], ["query_positions_out"], "query_positions")
    kpos = b.node("Range", [zero_i, t0, one_i], ["key_positions_out"], "key_positions")
    qcol = b.node("Unsqueeze", [qpos, axes1], ["query_positions_col_out"], "query_positions_col")
    causal = b.node("LessOrEqual", [kpos, qcol], ["causal_mask_out"], "causal_mask")
    keep = b.node("Cast", ["attention_mask"], ["mask_to_bool_out"], "mask_to_bool", to=TensorProto.BOOL)
    keep = b.node("Unsqueeze", [keep, axes12], ["mask_unsqueeze_out"], "mask_unsqueeze")
    allowed = b.node("And", [causal, keep], ["attn_allowed_out"], "attn_allowed")
    bias = b.node("Where", [allowed, b.f32("zero_f32", 0.0), b.f32("neg_big_f32", -1e9)],
                  ["attn_bias_out"], "attn_bias")
    scale = b.f32("attn_scale", 1.0 / np.sqrt(hd))
    three, coeff, one_f, half = (b.f32("three_f32", 3.0), b.f32("gelu_coeff", 0.044715),
                                 b.f32("one_f32", 1.0), b.f32("half_f32", 0.5))
    sqrt_2_pi = b.f32("gelu_sqrt_2_over_pi", np.sqrt(2.0 / np.pi))
    for i in range(DEC_LAYERS):
        pre = f"layers.{i}."
        y = layer_norm(pre + "ln_1", x)
        heads = {}
        for n, gain in [("q", 2.0), ("k", 2.0), ("v", 1.0)]:
            t = linear(pre + f"attn.{n}_proj", y, h, h, gain)
            t = b.node("Reshape", [t, split_heads], [pre + f"attn.{n}_reshape_out"], pre + f"attn.{n}_reshape")
            heads[n] = b.node("Transpose", [t], [pre + f"attn.{n}_transpose_out"],
                              pre + f"attn.{n}_transpose", perm=[0, 2, 1, 3])
        k = b.node("Concat", [f"past_key_values.{i}.key", heads["k"]], [f"present.{i}.key"],
                   pre + "attn.k_concat_past", axis=2)
        v = b.node("Concat", [f"past_key_values.{i}.value", heads["v"]], [f"present.{i}.value"],
                   pre + "attn.v_concat_past", axis=2)
        kt = b.node("Transpose", [k], [pre + "attn.k_transpose_t_out"], pre + "attn.k_transpose_t",
                    perm=[0, 1, 3, 2])
        sc = b.node("MatMul", [heads["q"], kt], [pre + "attn.qk_matmul_out"], pre + "attn.qk_matmul")
        sc = b.node("Mul", [sc, scale], [pre + "attn.scale_out"], pre + "attn.scale")
        sc = b.node("Add", [sc, bias], [pre + "attn.add_bias_out"], pre + "attn.add_bias")
        sc = b.node("Softmax", [sc], [pre + "attn.softmax_out"], pre + "attn.softmax", axis=-1)
        ctx = b.node("MatMul", [sc, v], [pre + "attn.v_matmul_out"], pre + "attn.v_matmul")
        ctx = b.node("Transpose", [ctx], [pre + "attn.context_transpose_out"],
                     pre + "attn.context_transpose", perm=[0, 2, 1, 3])
        ctx = b.node("Reshape", [ctx, merge_heads], [pre + "attn.context_reshape_out"],
                     pre + "attn.context_reshape")
        o = linear(pre + "attn.o_proj", ctx, h, h)
        x = b.node("Add", [x, o], [pre + "residual_attn_out"], pre + "residual_attn")
        y = layer_norm(pre + "ln_2", x)
        m = linear(pre + "mlp.fc", y, h, DEC_MLP)
        # GELU, tanh form: 0.5 * x * (1 + tanh(sqrt(2 / pi) * (x + 0.044715 * x^3)))
        g = b.node("Pow", [m, three], [pre + "mlp.gelu.pow_out"], pre + "mlp.gelu.pow")
        g = b.node("Mul", [g, coeff], [pre + "mlp.gelu.mul_coeff_out"],
                   pre + "mlp.gelu.mul_coeff")
        g = b.node("Add", [m, g], [pre + "mlp.gelu.add_cubic_out"], pre + "mlp.gelu.add_cubic")
        g = b.node("Mul", [g, sqrt_2_pi],
                   [pre + "mlp.gelu.mul_sqrt_out"], pre + "mlp.gelu.mul_sqrt")
        g = b.node("Tanh", [g], [pre + "mlp.gelu.tanh_out"], pre + "mlp.gelu.tanh")
        g = b.node("Add", [g, one_f], [pre + "mlp.gelu.add_one_out"], pre + "mlp.gelu.add_one")
        g = b.node("Mul", [m, g], [pre + "mlp.gelu.mul_x_out"], pre + "mlp.gelu.mul_x")
        g = b.node("Mul", [g, half], [pre + "mlp.gelu.mul_half_out"], pre + "mlp.gelu.mul_half")
        m = linear(pre + "mlp.proj", g, DEC_MLP, h)
        x = b.node("Add", [x, m], [pre + "residual_mlp_out"], pre + "residual_mlp")
    x = layer_norm("ln_f", x)
    # lm_head tied to wte: [B*S, 256] x wte^T -> [B*S, 8192] -> [B, S, 8192]
    x = b.node("Reshape", [x, b.i64("shape_flatten_tokens", [-1, h])], ["lm_head_flatten_out"],
               "lm_head_flatten")
    y = b.node("Gemm", [x, wte], ["lm_head_gemm_out"], "lm_head", transB=1)
    ids_shape = b.node("Shape", ["input_ids"], ["ids_shape_out"], "ids_shape")
    out_shape = b.node("Concat", [ids_shape, b.i64("vocab_dim", [DEC_VOCAB])], ["logits_shape_out"],
                       "logits_shape", axis=0)
    b.node("Reshape", [y, out_shape], ["logits"], "logits_reshape")

    f32 = TensorProto.FLOAT
    past = ["batch_size", nh, "past_sequence_length", hd]
    present = ["batch_size", nh, "past_sequence_length + sequence_length", hd]
    inputs = [
        helper.make_tensor_value_info("input_ids", TensorProto.INT64, ["batch_size", "sequence_length"]),
        helper.make_tensor_value_info("attention_mask", TensorProto.INT64,
                                      ["batch_size", "past_sequence_length + sequence_length"]),
        helper.make_tensor_value_info("position_ids", TensorProto.INT64, ["batch_size", "sequence_length"]),
    ]
    outputs = [helper.make_tensor_value_info("logits", f32, ["batch_size", "sequence_length", DEC_VOCAB])]
    for i in range(DEC_LAYERS):
        for kv in ("key", "value"):
            inputs.append(helper.make_tensor_value_info(f"past_key_values.{i}.{kv}", f32, past))
            outputs.append(helper.make_tensor_value_info(f"present.{i}.{kv}", f32, present))
    doc = ("Sample GPT-style generative decoder with a KV cache, Hugging Face/optimum decoder-with-past "
           "layout: vocab 8192, hidden 256, 4 pre-LN layers, 4 heads of 64, MLP 1024 (tanh GELU), "
           "learned position table wpe of 512 rows, lm_head tied to wte. Prefill: past_key_values.* "
           "[batch, 4, 0, 64], position_ids = cumsum(attention_mask) - 1 (1 where the mask is 0). "
           "Decode: feed present.* back as past_key_values.*, one token, attention_mask one longer. "
           "Random weights (not trained).")
    return b.model("decoder", inputs, outputs, doc)


def make_decoder_sample():
    """Writes decoder.onnx (own seed) and runs a prefill and one decode step in ORT."""
    m = make_decoder(np.random.default_rng(DECODER_SEED))
    onnx.checker.check_model(m, full_check=True)
    path = os.path.join(OUT_DIR, "decoder.onnx")
    data = m.SerializeToString()
    assert len(data) < 25 * 1000 * 1000, len(data)
    with open(path, "wb") as f:
        f.write(data)
    ops = sorted({n.op_type for n in m.graph.node})
    print(f"decoder.onnx: {len(data)} bytes, {float_param_count(m)} params, "
          f"{len(m.graph.node)} nodes, ops {ops}")
    try:
        import onnxruntime as ort
    except ImportError:
        return
    sess = ort.InferenceSession(path, providers=["CPUExecutionProvider"])
    ids = np.array([[5, 17, 42, 8, 33]], dtype=np.int64)
    feeds = {"input_ids": ids, "attention_mask": np.ones_like(ids),
             "position_ids": np.arange(5, dtype=np.int64)[None]}
    empty = np.zeros((1, DEC_HEADS, 0, DEC_HEAD_DIM), np.float32)
    for i in range(DEC_LAYERS):
        feeds[f"past_key_values.{i}.key"] = feeds[f"past_key_values.{i}.value"] = empty
    names = [o.name for o in sess.get_outputs()]
    outs = dict(zip(names, sess.run(None, feeds)))
    nxt = outs["logits"][:, -1].argmax(-1)[:, None]
    feeds = {"input_ids": nxt, "attention_mask": np.ones((1, 6), np.int64),
             "position_ids": np.array([[5]], np.int64)}
    for n, v in outs.items():
        if n.startswith("present."):
            feeds["past_key_values." + n[len("present."):]] = v
    outs2 = dict(zip(names, sess.run(None, feeds)))
    assert all(np.isfinite(v).all() for v in list(outs.values()) + list(outs2.values()))
    print(f"  ort ok decoder.onnx: prefill logits {list(outs['logits'].shape)}, "
          f"decode logits {list(outs2['logits'].shape)}, present.0.key "
          f"{list(outs2['present.0.key'].shape)} (full check: tests/data/models/check_decoders.py)")


def self_check(paths):
    try:
        import onnxruntime as ort
    except ImportError:
        print("onnxruntime not installed; skipping self-check")
        return
    rng = np.random.default_rng(0)
    feeds = {
        "mlp.onnx": {"input": rng.standard_normal((3, 256)).astype(np.float32)},
        "cnn.onnx": {"image": rng.standard_normal((2, 1, 28, 28)).astype(np.float32)},
        "transformer.onnx": {"hidden": rng.standard_normal((2, 7, 64)).astype(np.float32)},
        "multi_input.onnx": {
            "input_ids": rng.integers(0, 1000, (2, 5), dtype=np.int64),
            "attention_mask": np.array([[1, 1, 1, 0, 0], [1, 1, 1, 1, 1]], dtype=np.float32),
        },
    }
    for name, path in paths:
        sess = ort.InferenceSession(path, providers=["CPUExecutionProvider"])
        outs = sess.run(None, feeds[name])
        shapes = {o.name: list(v.shape) for o, v in zip(sess.get_outputs(), outs)}
        assert all(np.isfinite(v).all() for v in outs), name
        print(f"  ort ok {name}: outputs {shapes}")
        if name == "multi_input.onnx":
            bad = dict(feeds[name])
            bad["input_ids"] = bad["input_ids"].copy()
            bad["input_ids"][0, 0] = 1000
            quiet = ort.RunOptions()
            quiet.log_severity_level = 4
            try:
                sess.run(None, bad, quiet)
            except Exception as e:  # expected
                print(f"  ort expected failure for input_ids=1000: {e}")
            else:
                raise AssertionError("Gather with id 1000 did not fail")


# ---------------------------------------------------------------------------
# digits_cnn.onnx: a small CNN *trained* (numpy only) on scikit-learn's
# bundled 8x8 digits, with its held-out evaluation set and labels.

DIGITS_SEED = 20261129
DIGITS_EPOCHS = 40
DIGITS_BATCH = 32
DIGITS_LR = 2e-3


def _im2col(x, k, stride, pad):
    """x [n, c, h, w] -> columns [n, oh, ow, c*k*k] (c-major, then ky, kx)."""
    n, c, h, w = x.shape
    xp = np.pad(x, ((0, 0), (0, 0), (pad, pad), (pad, pad)))
    oh = (h + 2 * pad - k) // stride + 1
    ow = (w + 2 * pad - k) // stride + 1
    cols = np.empty((n, c, k, k, oh, ow), dtype=x.dtype)
    for ky in range(k):
        for kx in range(k):
            cols[:, :, ky, kx] = xp[:, :, ky:ky + stride * oh:stride, kx:kx + stride * ow:stride]
    return cols.transpose(0, 4, 5, 1, 2, 3).reshape(n, oh, ow, c * k * k), (oh, ow)


def _col2im(dcols, x_shape, k, stride, pad, oh, ow):
    n, c, h, w = x_shape
    dcols = dcols.reshape(n, oh, ow, c, k, k).transpose(0, 3, 4, 5, 1, 2)
    dxp = np.zeros((n, c, h + 2 * pad, w + 2 * pad), dtype=dcols.dtype)
    for ky in range(k):
        for kx in range(k):
            dxp[:, :, ky:ky + stride * oh:stride, kx:kx + stride * ow:stride] += dcols[:, :, ky, kx]
    return dxp[:, :, pad:pad + h, pad:pad + w]


def _digits_forward(params, x):
    """Forward pass; returns logits and what backward needs."""
    w1, b1, w2, b2, w3, b3, w4, b4 = params
    n = x.shape[0]
    c1, (h1, v1) = _im2col(x, 3, 1, 1)
    z1 = c1 @ w1.reshape(8, -1).T + b1  # [n, 8, 8, 8] (nhwc)
    a1 = np.maximum(z1, 0).transpose(0, 3, 1, 2)  # nchw
    c2, (h2, v2) = _im2col(a1, 3, 2, 1)
    z2 = c2 @ w2.reshape(16, -1).T + b2  # [n, 4, 4, 16]
    a2 = np.maximum(z2, 0).transpose(0, 3, 1, 2)  # [n, 16, 4, 4]
    f = a2.reshape(n, -1)
    z3 = f @ w3.T + b3
    a3 = np.maximum(z3, 0)
    logits = a3 @ w4.T + b4
    return logits, (x, c1, z1, a1, c2, z2, f, z3, a3, (h1, v1), (h2, v2))


def _digits_backward(params, cache, dlogits):
    w1, b1, w2, b2, w3, b3, w4, b4 = params
    x, c1, z1, a1, c2, z2, f, z3, a3, (h1, v1), (h2, v2) = cache
    n = x.shape[0]
    gw4 = dlogits.T @ a3
    gb4 = dlogits.sum(0)
    dz3 = (dlogits @ w4) * (z3 > 0)
    gw3 = dz3.T @ f
    gb3 = dz3.sum(0)
    df = dz3 @ w3
    dz2 = df.reshape(n, 16, h2, v2).transpose(0, 2, 3, 1) * (z2 > 0)
    gw2 = (dz2.reshape(-1, 16).T @ c2.reshape(-1, c2.shape[-1])).reshape(w2.shape)
    gb2 = dz2.reshape(-1, 16).sum(0)
    dc2 = dz2 @ w2.reshape(16, -1)
    da1 = _col2im(dc2, a1.shape, 3, 2, 1, h2, v2)
    dz1 = da1.transpose(0, 2, 3, 1) * (z1 > 0)
    gw1 = (dz1.reshape(-1, 8).T @ c1.reshape(-1, c1.shape[-1])).reshape(w1.shape)
    gb1 = dz1.reshape(-1, 8).sum(0)
    return [gw1, gb1, gw2, gb2, gw3, gb3, gw4, gb4]


def train_digits():
    """Trains the CNN with Adam on a fixed split; returns params, test set, accuracy."""
    from sklearn.datasets import load_digits
    from sklearn.model_selection import train_test_split

    digits = load_digits()
    images = (digits.images / 16.0).astype(np.float32)[:, None, :, :]
    labels = digits.target.astype(np.int64)
    x_train, x_test, y_train, y_test = train_test_split(
        images, labels, test_size=0.25, random_state=0, stratify=labels
    )
    rng = np.random.default_rng(DIGITS_SEED)

    def he(shape, fan_in):
        return (rng.standard_normal(shape) * np.sqrt(2.0 / fan_in)).astype(np.float32)

    params = [
        he((8, 1, 3, 3), 9), np.zeros(8, np.float32),
        he((16, 8, 3, 3), 72), np.zeros(16, np.float32),
        he((64, 256), 256), np.zeros(64, np.float32),
        he((10, 64), 64), np.zeros(10, np.float32),
    ]
    m = [np.zeros_like(p) for p in params]
    v = [np.zeros_like(p) for p in params]
    beta1, beta2, eps = 0.9, 0.999, 1e-8
    step = 0
    for epoch in range(DIGITS_EPOCHS):
        order = rng.permutation(len(x_train))
        for start in range(0, len(order), DIGITS_BATCH):
            idx = order[start:start + DIGITS_BATCH]
            logits, cache = _digits_forward(params, x_train[idx])
            shifted = logits - logits.max(1, keepdims=True)
            prob = np.exp(shifted)
            prob /= prob.sum(1, keepdims=True)
            dlogits = prob
            dlogits[np.arange(len(idx)), y_train[idx]] -= 1.0
            dlogits /= len(idx)
            grads = _digits_backward(params, cache, dlogits.astype(np.float32))
            step += 1
            for i, g in enumerate(grads):
                m[i] = beta1 * m[i] + (1 - beta1) * g
                v[i] = beta2 * v[i] + (1 - beta2) * g * g
                mhat = m[i] / (1 - beta1 ** step)
                vhat = v[i] / (1 - beta2 ** step)
                params[i] = (params[i] - DIGITS_LR * mhat / (np.sqrt(vhat) + eps)).astype(np.float32)
    test_logits, _ = _digits_forward(params, x_test)
    accuracy = float((test_logits.argmax(1) == y_test).mean())
    return params, x_test.astype(np.float32), y_test, accuracy


def make_digits_cnn(params):
    w1, b1, w2, b2, w3, b3, w4, b4 = params
    b = Builder(None)
    b.init("conv1.weight", w1)
    b.init("conv1.bias", b1)
    b.init("conv2.weight", w2)
    b.init("conv2.bias", b2)
    b.init("fc1.weight", w3)
    b.init("fc1.bias", b3)
    b.init("fc2.weight", w4)
    b.init("fc2.bias", b4)
    x = b.node("Conv", ["image", "conv1.weight", "conv1.bias"], ["conv1_out"], "conv1",
               kernel_shape=[3, 3], pads=[1, 1, 1, 1])
    x = b.node("Relu", [x], ["relu1_out"], "relu1")
    x = b.node("Conv", [x, "conv2.weight", "conv2.bias"], ["conv2_out"], "conv2",
               kernel_shape=[3, 3], pads=[1, 1, 1, 1], strides=[2, 2])
    x = b.node("Relu", [x], ["relu2_out"], "relu2")
    x = b.node("Flatten", [x], ["flat"], "flatten", axis=1)
    x = b.node("Gemm", [x, "fc1.weight", "fc1.bias"], ["fc1_out"], "fc1", transB=1)
    x = b.node("Relu", [x], ["relu3_out"], "relu3")
    b.node("Gemm", [x, "fc2.weight", "fc2.bias"], ["logits"], "fc2", transB=1)
    inputs = [helper.make_tensor_value_info("image", TensorProto.FLOAT, ["batch", 1, 8, 8])]
    outputs = [helper.make_tensor_value_info("logits", TensorProto.FLOAT, ["batch", 10])]
    return b.model(
        "digits_cnn", inputs, outputs,
        "Small CNN trained with numpy on scikit-learn's 8x8 digits (pixels / 16)",
    )


def make_digits():
    """Trains digits_cnn, writes it with its evaluation set, checks it in ORT."""
    params, x_test, y_test, accuracy = train_digits()
    m = make_digits_cnn(params)
    onnx.checker.check_model(m, full_check=True)
    path = os.path.join(OUT_DIR, "digits_cnn.onnx")
    data = m.SerializeToString()
    with open(path, "wb") as f:
        f.write(data)
    np.save(os.path.join(OUT_DIR, "digits_eval_images.npy"), x_test)
    np.save(os.path.join(OUT_DIR, "digits_eval_labels.npy"), y_test)
    print(f"digits_cnn.onnx: {len(data)} bytes, {float_param_count(m)} params, "
          f"test accuracy {accuracy * 100:.2f}% on {len(y_test)} held-out digits "
          f"({int(round(accuracy * len(y_test)))} correct)")
    assert accuracy > 0.9, accuracy
    try:
        import onnxruntime as ort
    except ImportError:
        return
    sess = ort.InferenceSession(path, providers=["CPUExecutionProvider"])
    (logits,) = sess.run(None, {"image": x_test})
    ort_accuracy = float((logits.argmax(1) == y_test).mean())
    print(f"  ort ok digits_cnn.onnx: top-1 {ort_accuracy * 100:.2f}%")
    assert abs(ort_accuracy - accuracy) < 1e-9, (ort_accuracy, accuracy)


def main():
    rng = np.random.default_rng(SEED)
    written = []
    for name, fn in MODELS:
        m = fn(rng)
        onnx.checker.check_model(m, full_check=True)
        path = os.path.join(OUT_DIR, name)
        data = m.SerializeToString()
        assert len(data) < 2 * 1024 * 1024, name
        with open(path, "wb") as f:
            f.write(data)
        ops = sorted({n.op_type for n in m.graph.node})
        print(f"{name}: {len(data)} bytes, {float_param_count(m)} params, "
              f"{len(m.graph.node)} nodes, ops {ops}")
        written.append((name, path))
    self_check(written)
    make_decoder_sample()
    make_digits()
    return 0


if __name__ == "__main__":
    sys.exit(main())
