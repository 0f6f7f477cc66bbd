"""A KServe ModelServer that serves one ONNX model through onnxruntime.

Used by the remote-target integration tests and by the benchmark script: it
speaks the Open Inference Protocol (KServe v2) over REST and gRPC, and its
metadata reports the model's inputs and outputs as ONNX declares them
(symbolic dims as -1), so clients can derive their requests from it.

    python onnx_model_server.py --model_path MODEL.onnx --model_name NAME \
        --http_port 8080 --grpc_port 8081 [--require_header KEY=VALUE]

With --require_header, an inference without that header (HTTP header or
gRPC metadata) is refused with HTTP 400 / INVALID_ARGUMENT, as a server
behind an access token refuses it.
"""

import argparse
import uuid

import numpy as np
import onnxruntime as ort
from kserve import InferOutput, InferRequest, InferResponse, Model, ModelServer
from kserve.errors import InvalidInput
from kserve import model_server

from fixture_process import exit_with_parent

# ONNX Runtime's type strings to the protocol's datatypes.
DATATYPES = {
    "tensor(float)": "FP32",
    "tensor(float16)": "FP16",
    "tensor(double)": "FP64",
    "tensor(int8)": "INT8",
    "tensor(int16)": "INT16",
    "tensor(int32)": "INT32",
    "tensor(int64)": "INT64",
    "tensor(uint8)": "UINT8",
    "tensor(uint16)": "UINT16",
    "tensor(uint32)": "UINT32",
    "tensor(uint64)": "UINT64",
    "tensor(bool)": "BOOL",
    "tensor(string)": "BYTES",
}


def describe(args):
    """Metadata entries for ONNX Runtime's inputs or outputs."""
    return [
        {
            "name": arg.name,
            "datatype": DATATYPES.get(arg.type, "BYTES"),
            "shape": [d if isinstance(d, int) and d >= 0 else -1 for d in arg.shape],
        }
        for arg in args
    ]


class OnnxModel(Model):
    """One ONNX model, one onnxruntime session."""

    def __init__(self, name: str, path: str, threads: int, required_header=None):
        super().__init__(name)
        self.path = path
        self.threads = threads
        self.required_header = required_header
        self.session = None
        self.load()

    def load(self) -> bool:
        options = ort.SessionOptions()
        options.intra_op_num_threads = self.threads
        options.inter_op_num_threads = 1
        self.session = ort.InferenceSession(
            self.path, options, providers=["CPUExecutionProvider"]
        )
        self.ready = True
        return self.ready

    def get_input_types(self):
        return describe(self.session.get_inputs())

    def get_output_types(self):
        return describe(self.session.get_outputs())

    async def predict(self, payload: InferRequest, headers=None, response_headers=None):
        if self.required_header is not None:
            key, value = self.required_header
            if (headers or {}).get(key) != value:
                raise InvalidInput(f"this server requires the header {key!r}")
        feeds = {item.name: item.as_numpy() for item in payload.inputs}
        outputs = self.session.run(None, feeds)
        results = []
        for meta, value in zip(self.session.get_outputs(), outputs):
            value = np.asarray(value)
            output = InferOutput(
                name=meta.name,
                shape=list(value.shape),
                datatype=DATATYPES.get(meta.type, "BYTES"),
            )
            output.set_data_from_numpy(value, binary_data=False)
            results.append(output)
        return InferResponse(
            model_name=self.name, infer_outputs=results, response_id=payload.id or str(uuid.uuid4())
        )




if __name__ == "__main__":
    parser = argparse.ArgumentParser(parents=[model_server.parser])
    parser.add_argument("--model_path", required=True)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--exit_with_parent", action="store_true")
    parser.add_argument("--require_header", default=None)
    args, _ = parser.parse_known_args()
    if args.exit_with_parent:
        exit_with_parent()
    required = None
    if args.require_header:
        key, _, value = args.require_header.partition("=")
        required = (key.lower(), value)
    model = OnnxModel(args.model_name, args.model_path, args.threads, required)
    ModelServer(
        http_port=args.http_port,
        grpc_port=args.grpc_port,
        enable_latency_logging=False,
    ).start([model])
