#!/usr/bin/env python3
"""Runs every model of ONNX's backend test corpus on Python onnxruntime with
naive inputs (symbolic dims 1, floats N(0,1), integers 0, bools False,
strings "a") and prints one line per model: `ok NAME` or `fail NAME: error`.
usage: onnx_corpus.py MODEL_LIST_FILE
"""
import sys

import numpy as np
import onnxruntime as ort

NP = {
    "tensor(float)": np.float32, "tensor(float16)": np.float16, "tensor(double)": np.float64,
    "tensor(int64)": np.int64, "tensor(int32)": np.int32, "tensor(int16)": np.int16,
    "tensor(int8)": np.int8, "tensor(uint8)": np.uint8, "tensor(uint16)": np.uint16,
    "tensor(uint32)": np.uint32, "tensor(uint64)": np.uint64, "tensor(bool)": np.bool_,
    "tensor(string)": np.object_,
}


def naive(inp, rng):
    shape = [d if isinstance(d, int) and d >= 0 else 1 for d in inp.shape]
    dtype = NP[inp.type]
    if dtype is np.object_:
        return np.full(shape, "a", dtype=object)
    if np.issubdtype(dtype, np.floating):
        return rng.standard_normal(shape).astype(dtype)
    return np.zeros(shape, dtype=dtype)


def run(path):
    options = ort.SessionOptions()
    options.log_severity_level = 4
    sess = ort.InferenceSession(path, options, providers=["CPUExecutionProvider"])
    rng = np.random.default_rng(42)
    feeds = {i.name: naive(i, rng) for i in sess.get_inputs()}
    sess.run(None, feeds)


def main():
    ort.set_default_logger_severity(4)
    with open(sys.argv[1]) as listing:
        models = [line.strip() for line in listing if line.strip()]
    for name in models:
        try:
            run(name)
            print(f"ok {name}", flush=True)
        except Exception as err:  # every failure is a data point
            first = str(err).strip().splitlines()[0] if str(err).strip() else type(err).__name__
            print(f"fail {name}: {first[:300]}", flush=True)


if __name__ == "__main__":
    main()
