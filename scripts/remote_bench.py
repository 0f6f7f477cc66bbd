#!/usr/bin/env python3
"""Side-by-side closed-loop comparison against one KServe ModelServer or one
Triton Inference Server: onnx-workbench `profile --target` versus a Python
`tritonclient` loop at the same concurrency, over gRPC and REST, with the
client's CPU time per request and the server's own split.

Run it with the Python of a venv that has the server (kserve, or
nvidia-pytriton for `--server triton`), onnxruntime and
tritonclient[grpc,http] (the server runs from the same interpreter):

    python scripts/remote_bench.py --workbench target/debug/onnx-workbench \
        [--server kserve|triton] \
        [--model tests/data/models/dynamic_image.onnx --shape 1,3,32,32] \
        [--concurrency 4] [--duration 10] [--layouts]

Against Triton the workbench reads the server's statistics with the access
token PyTriton puts on tritonserver's command line (`--header`, from the
environment).

`--layouts` also compares the gRPC layouts of the workbench: one connection
and runtime per worker (default) against `--grpc-channels 1` and `2`.
"""

import argparse
import json
import os
import resource
import socket
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request

import numpy as np

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)


def free_port():
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def start_server(kind, model, name, threads, shape):
    http_port, grpc_port, metrics_port = free_port(), free_port(), free_port()
    log = tempfile.NamedTemporaryFile(prefix=f"{kind}-", suffix=".log", delete=False)
    if kind == "triton":
        command = [
            sys.executable, os.path.join(ROOT, "tests", "remote", "triton_server.py"),
            "--model_path", model, "--model_name", name,
            "--http_port", str(http_port), "--grpc_port", str(grpc_port),
            "--metrics_port", str(metrics_port),
            "--shape", ",".join(shape.split(",")[1:]), "--exit_with_parent",
        ]
        ready = f"http://127.0.0.1:{http_port}/v2/models/{name}/ready"
    else:
        command = [
            sys.executable, os.path.join(ROOT, "tests", "remote", "onnx_model_server.py"),
            "--model_path", model, "--model_name", name,
            "--http_port", str(http_port), "--grpc_port", str(grpc_port),
            "--threads", str(threads), "--exit_with_parent",
        ]
        ready = f"http://127.0.0.1:{http_port}/v2/health/ready"
    proc = subprocess.Popen(command, stdout=log, stderr=log)
    deadline = time.time() + 120
    while time.time() < deadline:
        try:
            with urllib.request.urlopen(ready, timeout=2):
                socket.create_connection(("127.0.0.1", grpc_port), timeout=2).close()
                return proc, http_port, grpc_port, metrics_port
        except OSError:
            time.sleep(0.3)
    proc.kill()
    sys.exit(f"server not ready; log in {log.name}")


def triton_token(grpc_port):
    """The access token on the command line of the tritonserver on grpc_port."""
    for pid in os.listdir("/proc"):
        try:
            with open(f"/proc/{pid}/cmdline", "rb") as cmdline:
                args = cmdline.read().decode(errors="replace").split("\0")
        except OSError:
            continue
        if args and args[0].endswith("tritonserver") and str(grpc_port) in args:
            for arg in args:
                if "triton-access-token=" in arg:
                    return arg.split("triton-access-token=", 1)[1]
    return None


def children_cpu():
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def self_cpu():
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def run_workbench(binary, url, name, shape, concurrency, duration, extra=(), env=None):
    before = children_cpu()
    out = subprocess.run(
        [binary, "profile", "--target", url, "--model-name", name,
         "--shape", f"x={shape}", "--concurrency", str(concurrency),
         "--duration", f"{duration}s", "--warmup", "1s", "--quiet", "--json", *extra],
        capture_output=True, text=True, check=False, env=env,
    )
    whole_cpu = children_cpu() - before
    doc = json.loads(out.stdout)
    summary = doc["summary"]
    # The process's own CPU samples (1 Hz) during the measured period, so
    # start-up (loading ONNX Runtime, connecting) is not charged to requests.
    samples = [s["process_cpu_percent"] for s in doc.get("telemetry", []) if s["t_secs"] >= 1.5]
    cpu_cores = (sum(samples) / len(samples) / 100.0) if samples else whole_cpu / (duration + 1.0)
    total = ((doc.get("remote") or {}).get("server_stats") or {}).get("total") or {}
    server = None
    if total.get("requests"):
        server = {
            "queue_ms": total["queue_micros"] / 1e3,
            "compute_ms": (total["compute_input_micros"] + total["compute_infer_micros"]
                           + total["compute_output_micros"]) / 1e3,
            "batch": (total["inferences"] / total["executions"]) if total.get("executions") else None,
            "client_mean_ms": summary["latency"]["mean_micros"] / 1e3,
        }
    return {
        "req_s": summary["requests_per_sec"],
        "p50_ms": summary["latency"]["p50_micros"] / 1e3,
        "p99_ms": summary["latency"]["p99_micros"] / 1e3,
        "failed": summary["requests_failed"],
        "cpu_us_per_req": cpu_cores / max(summary["requests_per_sec"], 1e-9) * 1e6,
        "server": server,
    }


def run_tritonclient(protocol, port, name, shape, concurrency, duration):
    dims = [int(d) for d in shape.split(",")]
    data = np.random.default_rng(0).standard_normal(dims).astype(np.float32)
    if protocol == "grpc":
        import tritonclient.grpc as client_lib
    else:
        import tritonclient.http as client_lib
    latencies, lock = [], threading.Lock()
    stop_at = [0.0]
    measure_from = [0.0]

    def worker():
        client = client_lib.InferenceServerClient(url=f"127.0.0.1:{port}")
        inputs = [client_lib.InferInput("x", dims, "FP32")]
        if protocol == "grpc":
            inputs[0].set_data_from_numpy(data)
        else:
            inputs[0].set_data_from_numpy(data, binary_data=True)
        mine = []
        while True:
            start = time.perf_counter()
            if start >= stop_at[0]:
                break
            client.infer(name, inputs)
            end = time.perf_counter()
            if start >= measure_from[0]:
                mine.append(end - start)
        with lock:
            latencies.extend(mine)

    now = time.perf_counter()
    measure_from[0] = now + 1.0
    stop_at[0] = now + 1.0 + duration
    threads = [threading.Thread(target=worker) for _ in range(concurrency)]
    for thread in threads:
        thread.start()
    # CPU of the measured period only, like the workbench's samples.
    time.sleep(max(0.0, measure_from[0] - time.perf_counter()))
    cpu_before = self_cpu()
    for thread in threads:
        thread.join()
    cpu = self_cpu() - cpu_before
    lat = np.array(latencies)
    return {
        "req_s": len(lat) / duration,
        "p50_ms": float(np.percentile(lat, 50) * 1e3),
        "p99_ms": float(np.percentile(lat, 99) * 1e3),
        "failed": 0,
        "cpu_us_per_req": cpu / max(len(lat), 1) * 1e6,
        "server": None,
    }


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--workbench", required=True)
    parser.add_argument("--server", choices=["kserve", "triton"], default="kserve")
    parser.add_argument("--model", default=os.path.join(ROOT, "tests/data/models/dynamic_image.onnx"))
    parser.add_argument("--name", default="bench")
    parser.add_argument("--shape", default="1,3,32,32")
    parser.add_argument("--concurrency", type=int, default=4)
    parser.add_argument("--duration", type=float, default=10.0)
    parser.add_argument("--server-threads", type=int, default=1)
    parser.add_argument("--layouts", action="store_true")
    args = parser.parse_args()

    proc, http_port, grpc_port, metrics_port = start_server(
        args.server, args.model, args.name, args.server_threads, args.shape)
    rows = []
    try:
        env, headers = None, {"grpc": (), "rest": ()}
        if args.server == "triton":
            token = triton_token(grpc_port)
            if token:
                env = dict(os.environ, BENCH_TRITON_TOKEN=token)
                headers = {
                    "grpc": ("--header",
                             "triton-grpc-protocol-triton-access-token=env:BENCH_TRITON_TOKEN"),
                    "rest": ("--header", "triton-access-token=env:BENCH_TRITON_TOKEN"),
                }
        for protocol, port, url in [
            ("grpc", grpc_port, f"grpc://127.0.0.1:{grpc_port}"),
            ("rest", http_port, f"http://127.0.0.1:{http_port}"),
        ]:
            rows.append((f"workbench {protocol}", run_workbench(
                args.workbench, url, args.name, args.shape, args.concurrency, args.duration,
                headers[protocol], env)))
            rows.append((f"tritonclient {protocol}", run_tritonclient(
                "grpc" if protocol == "grpc" else "http", port, args.name, args.shape,
                args.concurrency, args.duration)))
        if args.layouts:
            for channels in (1, 2):
                rows.append((f"workbench grpc, {channels} shared channel(s)", run_workbench(
                    args.workbench, f"grpc://127.0.0.1:{grpc_port}", args.name, args.shape,
                    args.concurrency, args.duration, ("--grpc-channels", str(channels)))))
    finally:
        proc.kill()
        proc.wait()

    print(f"{args.server}: closed loop, concurrency {args.concurrency}, {args.duration:.0f} s measured "
          f"(1 s warm-up), input x={args.shape}, model {os.path.basename(args.model)}")
    print(f"{'client':<36} {'req/s':>8} {'p50 ms':>8} {'p99 ms':>8} {'client CPU/req':>15} {'failed':>7}")
    for label, row in rows:
        print(f"{label:<36} {row['req_s']:>8.0f} {row['p50_ms']:>8.2f} {row['p99_ms']:>8.2f} "
              f"{row['cpu_us_per_req']:>12.0f} µs {row['failed']:>7}")
    for label, row in rows:
        server = row.get("server")
        if server:
            batch = f", executed batch {server['batch']:.2f}" if server["batch"] else ""
            print(f"{label}: server queue {server['queue_ms']:.2f} ms + compute "
                  f"{server['compute_ms']:.2f} ms per request against the client's mean "
                  f"{server['client_mean_ms']:.2f} ms{batch}")


if __name__ == "__main__":
    main()
