#!/usr/bin/env bash
# Reproduces the figures in BENCHMARKS.md: onnx-workbench against a Python
# onnxruntime closed loop (scripts/python_peer.py) on the same model and
# settings, side by side in one run, then the load-generator overhead
# benchmark against a bare Session::run loop.
#
# usage: scripts/bench.sh [MODEL] [SECONDS]
set -euo pipefail
cd "$(dirname "$0")/.."
model=${1:-sample_models/mlp.onnx}
seconds=${2:-5}

python3 -m pip install -q --disable-pip-version-check onnxruntime==1.31.1 numpy
cargo build --release --quiet

echo "## machine"
echo "- CPU: $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2- | xargs), $(nproc) logical cores"
echo "- memory: $(free -g | awk '/Mem:/ {print $2}') GiB; $(uname -sr)"
./target/release/onnx-workbench --version | sed 's/^/- /' | grep -v library

echo
echo "## closed loop, $model, batch 1, intra 1, ${seconds} s measured, 1 s warm-up"
echo "| concurrency | tool | inferences/s | p50 ms | p99 ms |"
echo "|---|---|---|---|---|"
for concurrency in 1 2; do
  python3 scripts/python_peer.py "$model" --batch 1 --intra 1 --concurrency "$concurrency" \
      --seconds "$seconds" --warmup 1 |
    python3 -c 'import json,sys; d=json.loads(sys.stdin.read()); print("| %s | %s | %.0f | %.3f | %.3f |" % (sys.argv[1], d["tool"], d["inferences_per_s"], d["p50_ms"], d["p99_ms"]))' "$concurrency"
  ./target/release/onnx-workbench profile "$model" --concurrency "$concurrency" --intra-threads 1 \
      --duration "${seconds}s" --warmup 1s --no-layer-profile --quiet --json |
    python3 -c 'import json,sys; d=json.load(sys.stdin); s=d["summary"]; l=s["latency"]; print("| %s | onnx-workbench %s | %.0f | %.3f | %.3f |" % (sys.argv[1], d["tool"]["version"], s["inferences_per_sec"], l["p50_micros"]/1e3, l["p99_micros"]/1e3))' "$concurrency"
done

echo
echo "## load-generator overhead"
cargo bench --quiet --bench overhead -- "$model" 4 5
