#!/usr/bin/env python3
"""Independent count of a model's FLOPs at one input shape, to check
`onnx-workbench inspect --shape` against: every node output is exposed as a
graph output, the model runs once on ONNX Runtime (CPU, no graph
optimizations) on random inputs, and the real shapes give the multiply-adds
of Conv, ConvTranspose, Gemm and MatMul (a multiply-add = 2 FLOPs, as the
tool counts). Shapes that depend on the data (NonZero) are those of this run.

usage: flops_crosscheck.py MODEL INPUT=d0,d1,... [INPUT=...]

Requires (pip): onnx, onnxruntime, numpy.
"""

import sys

import numpy as np
import onnx
import onnxruntime as ort
from onnx import helper

NUMPY_TYPES = {
    "tensor(float)": np.float32,
    "tensor(double)": np.float64,
    "tensor(float16)": np.float16,
    "tensor(int64)": np.int64,
    "tensor(int32)": np.int32,
    "tensor(bool)": np.bool_,
}


def expose_all_outputs(model):
    graph = model.graph
    existing = {output.name for output in graph.output}
    for node in graph.node:
        if node.op_type == "Constant":
            continue
        for name in node.output:
            if name and name not in existing:
                graph.output.append(helper.make_empty_tensor_value_info(name))
                existing.add(name)


def constant_shapes(graph):
    shapes = {tensor.name: list(tensor.dims) for tensor in graph.initializer}
    for node in graph.node:
        if node.op_type == "Constant":
            for attr in node.attribute:
                if attr.name == "value":
                    shapes[node.output[0]] = list(attr.t.dims)
    return shapes


def node_macs(node, shapes):
    attrs = {attr.name: helper.get_attribute_value(attr) for attr in node.attribute}
    inputs = [shapes[name] for name in node.input if name]
    output = shapes[node.output[0]]
    if node.op_type == "Conv":
        return int(np.prod(output)) * int(np.prod(inputs[1][1:]))
    if node.op_type == "ConvTranspose":
        return int(np.prod(inputs[0])) * int(np.prod(inputs[1][1:]))
    if node.op_type == "Gemm":
        a = inputs[0]
        k = a[0] if attrs.get("transA", 0) else a[1]
        return int(np.prod(output)) * k
    if node.op_type == "MatMul":
        return int(np.prod(output)) * inputs[0][-1]
    return None


def count(path, given):
    model = onnx.load(path)
    expose_all_outputs(model)
    options = ort.SessionOptions()
    options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_DISABLE_ALL
    session = ort.InferenceSession(model.SerializeToString(), options,
                                   providers=["CPUExecutionProvider"])
    rng = np.random.default_rng(0)
    feed = {}
    for declared in session.get_inputs():
        shape = given.get(declared.name)
        if shape is None:
            shape = [dim if isinstance(dim, int) and dim > 0 else 1 for dim in declared.shape]
        dtype = NUMPY_TYPES.get(declared.type, np.float32)
        feed[declared.name] = rng.standard_normal(shape).astype(dtype)
    names = [output.name for output in session.get_outputs()]
    shapes = constant_shapes(model.graph)
    shapes.update({name: list(value.shape) for name, value in zip(names, session.run(names, feed))})
    shapes.update({name: list(value.shape) for name, value in feed.items()})
    per_op = {}
    for node in model.graph.node:
        macs = node_macs(node, shapes)
        if macs is not None:
            per_op[node.op_type] = per_op.get(node.op_type, 0) + 2 * macs
    return per_op


def main(argv):
    if len(argv) < 2:
        print(__doc__, file=sys.stderr)
        return 2
    given = {}
    for spec in argv[2:]:
        name, _, dims = spec.partition("=")
        given[name] = [int(dim) for dim in dims.split(",")]
    per_op = count(argv[1], given)
    total = sum(per_op.values())
    print(f"total {total:,} FLOPs ({total / 1e9:.3f} GFLOPs)")
    for op_type, flops in sorted(per_op.items(), key=lambda item: -item[1]):
        print(f"  {op_type:<14} {flops:>16,}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
