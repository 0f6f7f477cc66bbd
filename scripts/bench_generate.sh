#!/usr/bin/env bash
# Reproduces the "Generative decoders" figures in BENCHMARKS.md: onnx-workbench's
# token loop against a Python onnxruntime token loop (scripts/gen_peer.py) on
# the same decoder and lengths, side by side in one run, then the harness's
# cost per token against a bare Rust token loop (benches/generate.rs).
#
# usage: scripts/bench_generate.sh [MODEL] [SECONDS] [PROMPT] [NEW]
set -euo pipefail
cd "$(dirname "$0")/.."
model=${1:-sample_models/decoder.onnx}
seconds=${2:-15}
prompt=${3:-128}
new=${4:-32}

python3 -m pip install -q --disable-pip-version-check onnxruntime==1.31.1 numpy
cargo build --release --quiet

echo "## machine"
echo "- CPU: $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2- | xargs), $(nproc) logical cores"
echo "- memory: $(free -g | awk '/Mem:/ {print $2}') GiB; $(uname -sr)"

echo
echo "## token loop, $model, prompt $prompt, output $new, intra 1, ${seconds} s measured, 2 s warm-up"
echo "| concurrency | tool | output tokens/s | requests/s | TTFT p50 ms | TTFT p99 ms | ITL p50 ms | ITL p99 ms |"
echo "|---|---|---|---|---|---|---|---|"
for concurrency in 1 2; do
  python3 scripts/gen_peer.py "$model" --prompt "$prompt" --new "$new" --intra 1 \
      --concurrency "$concurrency" --seconds "$seconds" --warmup 2 |
    python3 -c 'import json,sys; d=json.loads(sys.stdin.read()); print("| %s | %s | %.1f | %.2f | %.2f | %.2f | %.3f | %.3f |" % (sys.argv[1], d["tool"], d["output_tokens_per_s"], d["requests_per_s"], d["ttft_ms"]["p50"], d["ttft_ms"]["p99"], d["itl_ms"]["p50"], d["itl_ms"]["p99"]))' "$concurrency"
  ./target/release/onnx-workbench profile "$model" --generate --prompt-tokens "$prompt" \
      --new-tokens "$new" --concurrency "$concurrency" --intra-threads 1 \
      --duration "${seconds}s" --warmup 2s --no-layer-profile --quiet --json |
    python3 -c 'import json,sys; d=json.load(sys.stdin); g=d["summary"]["generation"]; print("| %s | onnx-workbench %s | %.1f | %.2f | %.2f | %.2f | %.3f | %.3f |" % (sys.argv[1], d["tool"]["version"], g["output_tokens_per_sec"], g["requests_per_sec"], g["ttft"]["p50_micros"]/1e3, g["ttft"]["p99_micros"]/1e3, g["itl"]["p50_micros"]/1e3, g["itl"]["p99_micros"]/1e3))' "$concurrency"
done

echo
echo "## harness cost per token against a bare Rust token loop"
cargo bench --quiet --bench generate -- "$model" 8 3
