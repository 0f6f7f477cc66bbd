#!/usr/bin/env python3
"""Side-by-side closed-loop comparison against one KServe ModelServer:
onnx-workbench `profile --target` versus a Python `tritonclient` loop at the
same concurrency, over gRPC and REST, with the client's CPU time per request.

Run it with the Python of a venv that has kserve, onnxruntime and
tritonclient[grpc,http] (the server runs from the same interpreter):

    python scripts/remote_bench.py --workbench target/debug/onnx-workbench \
        [--model tests/data/models/dynamic_image.onnx --shape 1,3,32,32] \
        [--concurrency 4] [--duration 10] [--layouts]

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


def start_server(model, name, threads):
    http_port, grpc_port = free_port(), free_port()
    log = tempfile.NamedTemporaryFile(prefix="kserve-", suffix=".log", delete=False)
    proc = subprocess.Popen(
        [
            sys.executable,
            os.path.join(ROOT, "tests", "remote", "onnx_model_server.py"),
            "--model_path", model, "--model_name", name,
            "--http_port", str(http_port), "--grpc_port", str(grpc_port),
            "--threads", str(threads), "--exit_with_parent",
        ],
        stdout=log, stderr=log,
    )
    deadline = time.time() + 90
    while time.time() < deadline:
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{http_port}/v2/health/ready", timeout=2):
                socket.create_connection(("127.0.0.1", grpc_port), timeout=2).close()
                return proc, http_port, grpc_port
        except OSError:
            time.sleep(0.3)
    proc.kill()
    sys.exit(f"server not ready; log in {log.name}")


def children_cpu():
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def self_cpu():
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def run_workbench(binary, url, name, shape, concurrency, duration, extra=()):
    before = children_cpu()
    out = subprocess.run(
        [binary, "profile", "--target", url, "--model-name", name,
         "--shape", f"x={shape}", "--concurrency", str(concurrency),
         "--duration", f"{duration}s", "--warmup", "1s", "--quiet", "--json", *extra],
        capture_output=True, text=True, check=False,
    )
    whole_cpu = children_cpu() - before
    doc = json.loads(out.stdout)
    summary = doc["summary"]
    # The process's own CPU samples (1 Hz) during the measured period, so
    # start-up (loading ONNX Runtime, connecting) is not charged to requests.
    samples = [s["process_cpu_percent"] for s in doc.get("telemetry", []) if s["t_secs"] >= 1.5]
    cpu_cores = (sum(samples) / len(samples) / 100.0) if samples else whole_cpu / (duration + 1.0)
    return {
        "req_s": summary["requests_per_sec"],
        "p50_ms": summary["latency"]["p50_micros"] / 1e3,
        "p99_ms": summary["latency"]["p99_micros"] / 1e3,
        "failed": summary["requests_failed"],
        "cpu_us_per_req": cpu_cores / max(summary["requests_per_sec"], 1e-9) * 1e6,
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
    }


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--workbench", required=True)
    parser.add_argument("--model", default=os.path.join(ROOT, "tests/data/models/dynamic_image.onnx"))
    parser.add_argument("--name", default="bench")
    parser.add_argument("--shape", default="1,3,32,32")
    parser.add_argument("--concurrency", type=int, default=4)
    parser.add_argument("--duration", type=float, default=10.0)
    parser.add_argument("--server-threads", type=int, default=1)
    parser.add_argument("--layouts", action="store_true")
    args = parser.parse_args()

    proc, http_port, grpc_port = start_server(args.model, args.name, args.server_threads)
    rows = []
    try:
        for protocol, port, url in [
            ("grpc", grpc_port, f"grpc://127.0.0.1:{grpc_port}"),
            ("rest", http_port, f"http://127.0.0.1:{http_port}"),
        ]:
            rows.append((f"workbench {protocol}", run_workbench(
                args.workbench, url, args.name, args.shape, args.concurrency, args.duration)))
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

    print(f"closed loop, concurrency {args.concurrency}, {args.duration:.0f} s measured "
          f"(1 s warm-up), input x={args.shape}, model {os.path.basename(args.model)}")
    print(f"{'client':<36} {'req/s':>8} {'p50 ms':>8} {'p99 ms':>8} {'client CPU/req':>15} {'failed':>7}")
    for label, row in rows:
        print(f"{label:<36} {row['req_s']:>8.0f} {row['p50_ms']:>8.2f} {row['p99_ms']:>8.2f} "
              f"{row['cpu_us_per_req']:>12.0f} µs {row['failed']:>7}")


if __name__ == "__main__":
    main()
