"""Write the models the load-generator benchmarks use but the repository
does not carry (they are megabytes): an MLP of about 2M parameters
(512-1024-1024-1000, ReLU), the shape of a small classifier head.

    python3 scripts/bench_models.py OUT_DIR

Requires (pip): onnx==1.23.2 numpy. Weights come from a fixed seed, so
reruns write the same file.
"""

import os
import sys

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper


def mlp_2m(rng):
    sizes = [512, 1024, 1024, 1000]
    nodes, inits = [], []
    current = "x"
    for index, (fan_in, fan_out) in enumerate(zip(sizes, sizes[1:])):
        w = (rng.standard_normal((fan_in, fan_out)) * np.sqrt(2.0 / fan_in)).astype(np.float32)
        b = np.zeros(fan_out, dtype=np.float32)
        inits += [numpy_helper.from_array(w, f"W{index}"), numpy_helper.from_array(b, f"B{index}")]
        out = f"h{index}"
        nodes.append(helper.make_node("Gemm", [current, f"W{index}", f"B{index}"], [out],
                                      name=f"fc{index}"))
        current = out
        if index < len(sizes) - 2:
            nodes.append(helper.make_node("Relu", [out], [f"{out}r"], name=f"relu{index}"))
            current = f"{out}r"
    nodes[-1].output[0] = "y"
    graph = helper.make_graph(nodes, "mlp_2m",
                              [helper.make_tensor_value_info("x", TensorProto.FLOAT, ["batch", 512])],
                              [helper.make_tensor_value_info("y", TensorProto.FLOAT, ["batch", 1000])],
                              initializer=inits)
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)],
                              producer_name="onnx-workbench scripts/bench_models.py")
    model.ir_version = 8
    onnx.checker.check_model(model)
    return model


def main():
    out_dir = sys.argv[1] if len(sys.argv) > 1 else "."
    os.makedirs(out_dir, exist_ok=True)
    path = os.path.join(out_dir, "mlp_2m.onnx")
    model = mlp_2m(np.random.default_rng(20261206))
    with open(path, "wb") as f:
        f.write(model.SerializeToString())
    params = sum(int(np.prod(t.dims)) for t in model.graph.initializer)
    print(f"{path}: {params:,} parameters, {os.path.getsize(path):,} bytes")


if __name__ == "__main__":
    main()
