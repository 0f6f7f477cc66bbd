"""Generate the generative-decoder (KV cache) fixtures used by the onnx-workbench tests.

Run from the repository root:

    python3 tests/data/models/make_decoders.py

Requires (pip): onnx==1.23.2 numpy
Optional, for the smoke run at the end: onnxruntime==1.31.1
(the full cached-vs-uncached check is tests/data/models/check_decoders.py)

Writes next to this script (see README.md in this folder):

    decoder_hf.onnx        Hugging Face / optimum "decoder with past" layout
    decoder_hf_nopos.onnx  the same without position_ids (positions from attention_mask)
    decoder_merged.onnx    optimum "merged" layout (If on use_cache_branch)
    decoder_gqa.onnx       ONNX Runtime GenAI model-builder layout (GroupQueryAttention)
    decoder_bad_kv.onnx    malformed KV layout (past without present, head-dim mismatch)

All are tiny GPT-style decoders with random weights (not trained): vocab 64,
hidden 32, 2 layers, 4 query heads of size 8, MLP 128 with the tanh GELU,
learned position table `wpe` [64, 32] read with Gather (so the models know 64
positions), token table `wte` [64, 32] read with Gather, pre-LN blocks
(LayerNormalization), final LayerNormalization, lm_head MatMul 32->64. Opset 17
(default domain; decoder_gqa also com.microsoft 1), IR version 8, every node
named. decoder_hf, decoder_hf_nopos, decoder_merged and decoder_bad_kv share the
same weights (seed SEED), so the first three produce the same tokens;
decoder_gqa has its own (seed SEED + 1, 2 KV heads). Reruns are byte-identical.

Calling conventions (B batch, S new tokens, P cached tokens, T = P + S):

decoder_hf: prefill with past_key_values.* of shape [B, 4, 0, 8] (zero-length;
    ONNX Runtime 1.31.1 accepts the zero-sized Concat input), attention_mask
    [B, S], position_ids = cumsum(attention_mask) - 1 with 1 where the mask is 0
    (what transformers' generate does), last S columns. Decode: input_ids [B, 1],
    past = the previous present.*, attention_mask [B, T] (append a 1), position_ids
    the last column of the same formula. Left padding works (mask 0 on the pads).
decoder_hf_nopos: the same without position_ids; the graph computes them from
    attention_mask with that formula (CumSum, Sub, Equal, Where, Slice).
decoder_merged: use_cache_branch bool [1]. False (prefill): the past inputs are
    ignored; pass a dummy of sequence length 1 ([B, 4, 1, 8], zeros, as optimum
    does), attention_mask [B, S] (the prompt only). True (decode): as decoder_hf.
    present.* have the same names and meaning in both branches ([B, 4, S, 8] after
    prefill, [B, 4, T, 8] after decode).
decoder_gqa: past_key_values.* are a shared buffer of maximum length,
    [B, 2, max_sequence_length, 8]: allocate it at max length (64, the length
    of the position table) filled with zeros for prefill; feed present.* (same
    shape, 64 long, ONNX Runtime copies the past into present and writes the new
    keys at rows seqlens_k - S + 1 .. seqlens_k) back as past for the next step.
    attention_mask [B, total_sequence_length] grows by one per step as in
    decoder_hf; inside the graph seqlens_k = ReduceSum(attention_mask, -1) - 1
    (int32 [B]) and total_sequence_length = Shape(attention_mask)[1] (int32
    scalar). GroupQueryAttention treats rows [0, seqlens_k] of each batch entry
    as the valid tokens, so a batch of unequal prompts must be right-padded;
    left-padded rows come out wrong (the unpadded rows are unaffected).
    position ids for wpe come from attention_mask as in decoder_hf_nopos.
    A growing cache also works (past of length 0, then the previous present):
    present's length is max(past length, total_sequence_length).
    No rotary: the ONNX Runtime 1.31.1 CPU kernel rejects do_rotary=1 with head
    size 8 ("head_size shall be a multiple of 16. Got head_size % 16 == 8").
decoder_bad_kv: decoder_hf's inputs, but layer 1 has no present.1.key output
    (past_key_values.1.key is still an input and is used) and present.1.value is
    [B, 4, T, 16] (head dim 16, the past is 8). Loads and runs once in ONNX
    Runtime; the present cannot be fed back.
"""

import os
import sys

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper

OPSET = 17
MS_OPSET = 1
IR_VERSION = 8
PRODUCER = "onnx-workbench tests/data/models/make_decoders.py"
SEED = 20240607
OUT_DIR = os.path.dirname(os.path.abspath(__file__))

VOCAB = 64
HIDDEN = 32
LAYERS = 2
HEADS = 4
HEAD_DIM = HIDDEN // HEADS
KV_HEADS_GQA = 2
POSITIONS = 64  # rows of wpe, and the max_sequence_length of the GQA buffer
MLP = 4 * HIDDEN
EPS = 1e-5
NEG = -1e9

# symbolic dims
B = "batch_size"
S = "sequence_length"
P = "past_sequence_length"
T = "past_sequence_length + sequence_length"
TOTAL = "total_sequence_length"
MAXLEN = "max_sequence_length"


def vi(name, dtype, shape):
    return helper.make_tensor_value_info(name, dtype, shape)


class Consts:
    """Initializers of the top-level graph (weights and small constants), in insertion order."""

    def __init__(self):
        self.tensors = {}

    def add(self, name, array):
        array = np.ascontiguousarray(array)
        if name in self.tensors:
            old = numpy_helper.to_array(self.tensors[name])
            assert old.dtype == array.dtype and np.array_equal(old, array), name
        else:
            self.tensors[name] = numpy_helper.from_array(array, name)
        return name

    def i64(self, name, values):
        return self.add(name, np.array(values, dtype=np.int64))

    def f32(self, name, values):
        return self.add(name, np.array(values, dtype=np.float32))

    def list(self):
        return list(self.tensors.values())


class Graph:
    """Collects the nodes of one graph (or If branch). Node names and intermediate
    value names get `prefix`, so the two branches of an If do not collide."""

    def __init__(self, consts, prefix=""):
        self.c = consts
        self.prefix = prefix
        self.nodes = []

    def op(self, op_type, inputs, name, out=None, outputs=None, domain=None, **attrs):
        """Adds a node named prefix+name; its output is prefix+name+'_out' unless
        `out` (one output) or `outputs` (several) gives the names."""
        if outputs is None:
            outputs = [out if out is not None else self.prefix + name + "_out"]
        kw = {"domain": domain} if domain else {}
        self.nodes.append(helper.make_node(op_type, inputs, outputs, name=self.prefix + name, **kw,
                                           **attrs))
        return outputs[0] if len(outputs) == 1 else outputs


def make_weights(rng, kv_heads):
    """Random weights; scales chosen so greedy tokens vary from step to step."""
    w = {}

    def normal(shape, scale):
        return (rng.standard_normal(shape) * scale).astype(np.float32)

    w["wte"] = normal((VOCAB, HIDDEN), 1.0)
    w["wpe"] = normal((POSITIONS, HIDDEN), 1.0)
    kv_dim = kv_heads * HEAD_DIM
    for i in range(LAYERS):
        p = f"layers.{i}."
        w[p + "ln_1.scale"] = (1.0 + normal((HIDDEN,), 0.1)).astype(np.float32)
        w[p + "ln_1.bias"] = normal((HIDDEN,), 0.1)
        for name, fout, gain in [("q_proj", HIDDEN, 2.0), ("k_proj", kv_dim, 2.0),
                                 ("v_proj", kv_dim, 1.0), ("o_proj", HIDDEN, 1.0)]:
            w[p + f"attn.{name}.weight"] = normal((HIDDEN, fout), gain / np.sqrt(HIDDEN))
            w[p + f"attn.{name}.bias"] = normal((fout,), 0.02)
        w[p + "ln_2.scale"] = (1.0 + normal((HIDDEN,), 0.1)).astype(np.float32)
        w[p + "ln_2.bias"] = normal((HIDDEN,), 0.1)
        w[p + "mlp.fc.weight"] = normal((HIDDEN, MLP), 1.0 / np.sqrt(HIDDEN))
        w[p + "mlp.fc.bias"] = normal((MLP,), 0.02)
        w[p + "mlp.proj.weight"] = normal((MLP, HIDDEN), 1.0 / np.sqrt(MLP))
        w[p + "mlp.proj.bias"] = normal((HIDDEN,), 0.02)
    w["ln_f.scale"] = (1.0 + normal((HIDDEN,), 0.1)).astype(np.float32)
    w["ln_f.bias"] = normal((HIDDEN,), 0.1)
    w["lm_head.weight"] = normal((HIDDEN, VOCAB), 3.0 / np.sqrt(HIDDEN))
    return w


def positions_from_mask(g, mask, ids):
    """position_ids = cumsum(mask) - 1, 1 where mask == 0, last S columns (optimum/transformers)."""
    c = g.c
    cs = g.op("CumSum", [mask, c.i64("axis_1_scalar", 1)], "pos_cumsum")
    pm1 = g.op("Sub", [cs, c.i64("one_i64", 1)], "pos_minus_one")
    pad = g.op("Equal", [mask, c.i64("zero_i64", 0)], "pos_is_pad")
    full = g.op("Where", [pad, c.i64("one_i64", 1), pm1], "pos_masked_fill")
    s1 = g.op("Shape", [ids], "pos_seq_len", start=1, end=2)
    neg = g.op("Neg", [s1], "pos_neg_seq_len")
    return g.op("Slice", [full, neg, c.i64("int64_max", [np.iinfo(np.int64).max]), c.i64("axes_1", [1])],
                "pos_last_s")


def attention_bias(g, mask, ids):
    """[B, 1, S, T] additive bias: 0 where key j <= query position (P + i) and mask[b, j] == 1."""
    c = g.c
    t1 = g.op("Shape", [mask], "mask_total_len", start=1, end=2)
    s1 = g.op("Shape", [ids], "ids_seq_len", start=1, end=2)
    p1 = g.op("Sub", [t1, s1], "past_len")
    t0 = g.op("Squeeze", [t1, c.i64("axes_0", [0])], "total_len_scalar")
    p0 = g.op("Squeeze", [p1, c.i64("axes_0", [0])], "past_len_scalar")
    qpos = g.op("Range", [p0, t0, c.i64("one_i64", 1)], "query_positions")
    kpos = g.op("Range", [c.i64("zero_i64", 0), t0, c.i64("one_i64", 1)], "key_positions")
    qcol = g.op("Unsqueeze", [qpos, c.i64("axes_1", [1])], "query_positions_col")
    causal = g.op("LessOrEqual", [kpos, qcol], "causal_mask")  # [S, T]
    keep = g.op("Cast", [mask], "mask_to_bool", to=TensorProto.BOOL)
    keep = g.op("Unsqueeze", [keep, c.i64("axes_1_2", [1, 2])], "mask_unsqueeze")  # [B, 1, 1, T]
    allowed = g.op("And", [causal, keep], "attn_allowed")  # [B, 1, S, T]
    return g.op("Where", [allowed, c.f32("zero_f32", 0.0), c.f32("neg_big_f32", NEG)], "attn_bias")


def linear(g, x, prefix):
    y = g.op("MatMul", [x, prefix + ".weight"], prefix + ".matmul")
    return g.op("Add", [y, prefix + ".bias"], prefix + ".add")


def layer_norm(g, x, prefix):
    return g.op("LayerNormalization", [x, prefix + ".scale", prefix + ".bias"], prefix, axis=-1,
                epsilon=EPS)


def gelu_tanh(g, x, p):
    """0.5 * x * (1 + tanh(sqrt(2 / pi) * (x + 0.044715 * x^3)))"""
    c = g.c
    x3 = g.op("Pow", [x, c.f32("three_f32", 3.0)], p + "gelu.pow")
    x3 = g.op("Mul", [x3, c.f32("gelu_coeff", 0.044715)], p + "gelu.mul_coeff")
    inner = g.op("Add", [x, x3], p + "gelu.add_cubic")
    inner = g.op("Mul", [inner, c.f32("gelu_sqrt_2_over_pi", np.sqrt(2.0 / np.pi))], p + "gelu.mul_sqrt")
    th = g.op("Tanh", [inner], p + "gelu.tanh")
    th = g.op("Add", [th, c.f32("one_f32", 1.0)], p + "gelu.add_one")
    y = g.op("Mul", [x, th], p + "gelu.mul_x")
    return g.op("Mul", [y, c.f32("half_f32", 0.5)], p + "gelu.mul_half")


def build_decoder(g, *, ids, mask, pos, past, presents, logits, attn="mha", gqa_aux=None,
                  bad_kv=False):
    """Emits the decoder into `g`.

    past: list of (key, value) input names per layer, or None (no past: prefill branch).
    presents: list of (key, value) output names per layer (None entries: not an output).
    attn: "mha" (MatMul/Softmax attention with Concat KV cache) or "gqa".
    """
    c = g.c
    x = g.op("Gather", ["wte", ids], "wte_gather", axis=0)
    pe = g.op("Gather", ["wpe", pos], "wpe_gather", axis=0)
    x = g.op("Add", [x, pe], "embed_add")
    if attn == "mha":
        bias = attention_bias(g, mask, ids)
        split_heads = c.i64("shape_split_heads", [0, 0, HEADS, HEAD_DIM])
        merge_heads = c.i64("shape_merge_heads", [0, 0, HIDDEN])
    for i in range(LAYERS):
        p = f"layers.{i}."
        h = layer_norm(g, x, p + "ln_1")
        q = linear(g, h, p + "attn.q_proj")
        k = linear(g, h, p + "attn.k_proj")
        v = linear(g, h, p + "attn.v_proj")
        pk, pv = presents[i]
        if attn == "gqa":
            seqlens_k, total_len = gqa_aux
            ctx = g.op("GroupQueryAttention", [q, k, v, past[i][0], past[i][1], seqlens_k, total_len],
                       p + "attn.gqa", outputs=[g.prefix + p + "attn.gqa_out", pk, pv],
                       domain="com.microsoft", num_heads=HEADS, kv_num_heads=KV_HEADS_GQA,
                       scale=float(1.0 / np.sqrt(HEAD_DIM)))[0]
        else:
            heads = {}
            for n, t in [("q", q), ("k", k), ("v", v)]:
                t = g.op("Reshape", [t, split_heads], p + f"attn.{n}_reshape")
                heads[n] = g.op("Transpose", [t], p + f"attn.{n}_transpose", perm=[0, 2, 1, 3])
            kv = []
            for n, pres in [("k", pk), ("v", pv)]:
                if bad_kv and i == 1:
                    pres = None  # an intermediate, not a graph output
                idx = 0 if n == "k" else 1
                if past is not None:
                    t = g.op("Concat", [past[i][idx], heads[n]], p + f"attn.{n}_concat_past", out=pres,
                             axis=2)
                else:
                    t = g.op("Identity", [heads[n]], p + f"attn.{n}_present", out=pres)
                kv.append(t)
            if bad_kv and i == 1:
                # present.1.value with head dim 16 (the past has 8); present.1.key missing.
                g.op("Concat", [kv[1], kv[1]], p + "attn.v_bad_head_dim", out=pv, axis=3)
            kt = g.op("Transpose", [kv[0]], p + "attn.k_transpose_t", perm=[0, 1, 3, 2])
            sc = g.op("MatMul", [heads["q"], kt], p + "attn.qk_matmul")
            sc = g.op("Mul", [sc, c.f32("attn_scale", 1.0 / np.sqrt(HEAD_DIM))], p + "attn.scale")
            sc = g.op("Add", [sc, bias], p + "attn.add_bias")
            pr = g.op("Softmax", [sc], p + "attn.softmax", axis=-1)
            ctx = g.op("MatMul", [pr, kv[1]], p + "attn.v_matmul")
            ctx = g.op("Transpose", [ctx], p + "attn.context_transpose", perm=[0, 2, 1, 3])
            ctx = g.op("Reshape", [ctx, merge_heads], p + "attn.context_reshape")
        o = linear(g, ctx, p + "attn.o_proj")
        x = g.op("Add", [x, o], p + "residual_attn")
        h = layer_norm(g, x, p + "ln_2")
        m = linear(g, h, p + "mlp.fc")
        m = gelu_tanh(g, m, p + "mlp.")
        m = linear(g, m, p + "mlp.proj")
        x = g.op("Add", [x, m], p + "residual_mlp")
    x = layer_norm(g, x, "ln_f")
    return g.op("MatMul", [x, "lm_head.weight"], "lm_head", out=logits)


def past_names():
    return [(f"past_key_values.{i}.key", f"past_key_values.{i}.value") for i in range(LAYERS)]


def present_names(prefix=""):
    return [(f"{prefix}present.{i}.key", f"{prefix}present.{i}.value") for i in range(LAYERS)]


def kv_vis(names, shape):
    return [vi(n, TensorProto.FLOAT, shape) for pair in names for n in pair if n is not None]


def finish(name, g, consts, inputs, outputs, doc, ms=False):
    graph = helper.make_graph(g.nodes, name, inputs, outputs, initializer=consts.list(), doc_string=doc)
    opsets = [helper.make_opsetid("", OPSET)]
    if ms:
        opsets.append(helper.make_opsetid("com.microsoft", MS_OPSET))
    m = helper.make_model(graph, opset_imports=opsets, producer_name=PRODUCER, producer_version="1",
                          doc_string=doc)
    m.ir_version = IR_VERSION
    return m


def weight_consts(weights):
    consts = Consts()
    for n, a in weights.items():
        consts.add(n, a)
    return consts


HF_INPUTS = [
    vi("input_ids", TensorProto.INT64, [B, S]),
    vi("attention_mask", TensorProto.INT64, [B, T]),
    vi("position_ids", TensorProto.INT64, [B, S]),
]
PAST_SHAPE = [B, HEADS, P, HEAD_DIM]
PRESENT_SHAPE = [B, HEADS, T, HEAD_DIM]
LOGITS = vi("logits", TensorProto.FLOAT, [B, S, VOCAB])


def decoder_hf(weights, with_position_ids=True, bad_kv=False):
    consts = weight_consts(weights)
    g = Graph(consts)
    pos = "position_ids" if with_position_ids else positions_from_mask(g, "attention_mask", "input_ids")
    presents = present_names()
    build_decoder(g, ids="input_ids", mask="attention_mask", pos=pos, past=past_names(),
                  presents=presents, logits="logits", bad_kv=bad_kv)
    inputs = (HF_INPUTS if with_position_ids else HF_INPUTS[:2]) + kv_vis(past_names(), PAST_SHAPE)
    if bad_kv:
        outputs = [LOGITS] + kv_vis(presents[:1], PRESENT_SHAPE) + [
            vi("present.1.value", TensorProto.FLOAT, [B, HEADS, T, 2 * HEAD_DIM])]
        return finish("decoder_bad_kv", g, consts, inputs, outputs,
                      "Fixture: malformed KV-cache layout. Looks like the Hugging Face decoder-with-past "
                      "layout, but past_key_values.1.key has no matching present.1.key output, and "
                      "present.1.value has head dim 16 while past_key_values.1.value has 8. Loads and "
                      "runs in ONNX Runtime (prefill with zero-length past); its present cannot be fed "
                      "back as past. Random weights (not trained).")
    if with_position_ids:
        name = "decoder_hf"
        doc = ("Fixture: tiny GPT-style decoder (vocab 64, hidden 32, 2 layers, 4 heads of 8, "
               "position table wpe of 64 rows) in the Hugging Face/optimum decoder-with-past layout. "
               "Prefill: past_key_values.* of shape [batch, 4, 0, 8], attention_mask [batch, S], "
               "position_ids = cumsum(attention_mask) - 1 (1 where the mask is 0). Decode: feed "
               "present.* back as past_key_values.*, input_ids [batch, 1], attention_mask "
               "[batch, past + 1], position_ids the last column of the same formula. Random "
               "weights (not trained).")
    else:
        name = "decoder_hf_nopos"
        doc = ("Fixture: decoder_hf without the position_ids input: the graph derives the positions "
               "from attention_mask (cumsum - 1, 1 where the mask is 0, last sequence_length "
               "columns), so left padding works. Prefill with zero-length past_key_values.*, decode "
               "by feeding present.* back. Random weights (not trained).")
    return finish(name, g, consts, inputs, [LOGITS] + kv_vis(presents, PRESENT_SHAPE), doc)


MERGED_DOC = (
    "Fixture: optimum-style merged decoder (same weights as decoder_hf). The graph is one If on "
    "use_cache_branch (bool [1]). use_cache_branch = false (prefill, no cache): the "
    "past_key_values.* inputs are ignored; pass a dummy of sequence length 1, shape "
    "[batch, 4, 1, 8], filled with zeros, as optimum does, and attention_mask of shape "
    "[batch, sequence_length] (the prompt only); present.* are the prompt's keys/values "
    "[batch, 4, sequence_length, 8]. use_cache_branch = true (decode): as decoder_hf, "
    "past_key_values.* are the previous present.*, attention_mask [batch, past + sequence_length]; "
    "present.* = past concatenated with the new keys/values. position_ids = cumsum(attention_mask) "
    "- 1 (1 where the mask is 0), last sequence_length columns, in both branches. Random weights "
    "(not trained).")


def decoder_merged(weights):
    consts = weight_consts(weights)
    outer = Graph(consts)
    branches = []
    for prefix, past, pres_shape in [("with_past/", past_names(), PRESENT_SHAPE),
                                     ("no_past/", None, [B, HEADS, S, HEAD_DIM])]:
        g = Graph(consts, prefix)
        presents = present_names(prefix)
        build_decoder(g, ids="input_ids", mask="attention_mask", pos="position_ids", past=past,
                      presents=presents, logits=prefix + "logits")
        outs = [vi(prefix + "logits", TensorProto.FLOAT, [B, S, VOCAB])] + kv_vis(presents, pres_shape)
        branches.append(helper.make_graph(g.nodes, prefix.rstrip("/"), [], outs))
    out_names = ["logits"] + [n for pair in present_names() for n in pair]
    outer.op("If", ["use_cache_branch"], "use_cache_branch_if", outputs=out_names,
             then_branch=branches[0], else_branch=branches[1])
    inputs = HF_INPUTS + kv_vis(past_names(), PAST_SHAPE) + [vi("use_cache_branch", TensorProto.BOOL, [1])]
    outputs = [LOGITS] + kv_vis(present_names(), PRESENT_SHAPE)
    return finish("decoder_merged", outer, consts, inputs, outputs, MERGED_DOC)


GQA_DOC = (
    "Fixture: ONNX Runtime GenAI (model builder) style decoder with com.microsoft "
    "GroupQueryAttention (num_heads 4, kv_num_heads 2, head size 8, no rotary; learned position "
    "table wpe of 64 rows). past_key_values.* and present.* are a shared buffer of maximum length "
    "[batch, 2, max_sequence_length, 8]: allocate it with max_sequence_length = 64 filled with "
    "zeros for the prompt, then feed present.* (same shape) back as past_key_values.* each step. "
    "attention_mask [batch, total_sequence_length] covers all tokens so far (prompt: "
    "[batch, S]; each decode step appends one column); the graph computes seqlens_k = "
    "ReduceSum(attention_mask, -1) - 1 (int32) and total_sequence_length = "
    "Shape(attention_mask)[1] (int32 scalar). Batched prompts of unequal length must be "
    "right-padded (GroupQueryAttention treats the first seqlens_k + 1 rows of each entry as valid). "
    "Position ids for wpe: cumsum(attention_mask) - 1 (1 where the mask is 0), last S columns. "
    "Random weights (not trained).")


def decoder_gqa(weights):
    consts = weight_consts(weights)
    g = Graph(consts)
    c = consts
    mask = "attention_mask"
    red = g.op("ReduceSum", [mask, c.i64("axes_1", [1])], "attn_mask_reduce_sum", keepdims=0)
    red = g.op("Sub", [red, c.i64("one_i64", 1)], "attn_mask_sub_one")
    seqlens_k = g.op("Cast", [red], "seqlens_k_cast", out="seqlens_k", to=TensorProto.INT32)
    shape = g.op("Shape", [mask], "attn_mask_shape")
    total = g.op("Gather", [shape, c.i64("one_i64", 1)], "attn_mask_shape_gather", axis=0)
    total = g.op("Cast", [total], "total_seq_len_cast", out="total_sequence_length_i32",
                 to=TensorProto.INT32)
    pos = positions_from_mask(g, mask, "input_ids")
    presents = present_names()
    build_decoder(g, ids="input_ids", mask=mask, pos=pos, past=past_names(), presents=presents,
                  logits="logits", attn="gqa", gqa_aux=(seqlens_k, total))
    buf = [B, KV_HEADS_GQA, MAXLEN, HEAD_DIM]
    inputs = [vi("input_ids", TensorProto.INT64, [B, S]), vi("attention_mask", TensorProto.INT64, [B, TOTAL])]
    inputs += kv_vis(past_names(), buf)
    outputs = [LOGITS] + kv_vis(presents, buf)
    return finish("decoder_gqa", g, consts, inputs, outputs, GQA_DOC, ms=True)


def write(name, model):
    onnx.checker.check_model(model, full_check=True)
    data = model.SerializeToString()
    assert len(data) < 300 * 1024, (name, len(data))
    path = os.path.join(OUT_DIR, name)
    with open(path, "wb") as f:
        f.write(data)
    ops = sorted({n.op_type for n in model.graph.node})
    print(f"{name}: {len(data)} bytes, {len(model.graph.node)} top-level nodes, ops {ops}")
    return path


def smoke(paths):
    """Loads each fixture in ONNX Runtime and runs a prefill (full check: check_decoders.py)."""
    try:
        import onnxruntime as ort
    except ImportError:
        print("onnxruntime not installed; skipping the smoke run")
        return
    ids = np.array([[3, 14, 15, 9, 26]], dtype=np.int64)
    mask = np.ones_like(ids)
    for name, path in paths.items():
        sess = ort.InferenceSession(path, providers=["CPUExecutionProvider"])
        feeds = {"input_ids": ids, "attention_mask": mask}
        names = {i.name for i in sess.get_inputs()}
        if "position_ids" in names:
            feeds["position_ids"] = np.arange(ids.shape[1], dtype=np.int64)[None]
        past_len = {"decoder_merged.onnx": 1, "decoder_gqa.onnx": POSITIONS}.get(name, 0)
        heads = KV_HEADS_GQA if name == "decoder_gqa.onnx" else HEADS
        for i in sess.get_inputs():
            if i.name.startswith("past_key_values."):
                feeds[i.name] = np.zeros((1, heads, past_len, HEAD_DIM), np.float32)
        if "use_cache_branch" in names:
            feeds["use_cache_branch"] = np.array([False])
        outs = sess.run(None, feeds)
        shapes = {o.name: list(v.shape) for o, v in zip(sess.get_outputs(), outs)}
        assert all(np.isfinite(v).all() for v in outs), name
        print(f"  ort ok {name}: {shapes}")


def main():
    hf_weights = make_weights(np.random.default_rng(SEED), HEADS)
    gqa_weights = make_weights(np.random.default_rng(SEED + 1), KV_HEADS_GQA)
    paths = {
        "decoder_hf.onnx": write("decoder_hf.onnx", decoder_hf(hf_weights)),
        "decoder_hf_nopos.onnx": write("decoder_hf_nopos.onnx", decoder_hf(hf_weights, False)),
        "decoder_merged.onnx": write("decoder_merged.onnx", decoder_merged(hf_weights)),
        "decoder_gqa.onnx": write("decoder_gqa.onnx", decoder_gqa(gqa_weights)),
        "decoder_bad_kv.onnx": write("decoder_bad_kv.onnx", decoder_hf(hf_weights, bad_kv=True)),
    }
    smoke(paths)
    return 0


if __name__ == "__main__":
    sys.exit(main())
