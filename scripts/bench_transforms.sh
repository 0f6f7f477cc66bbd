#!/usr/bin/env bash
# Speed, size and accuracy of each transform side by side: for mlp, cnn and
# transformer on the CPU execution provider, `profile` runs every transform
# (closed loop, concurrency 1, 1 intra-op thread, 5 s measured) and a
# Markdown table is printed. Interpretation is left to the reader.
#
# usage: scripts/bench_transforms.sh [SECONDS]
set -euo pipefail
cd "$(dirname "$0")/.."
seconds=${1:-5}
session=$(mktemp)
trap 'rm -f "$session"' EXIT

cargo build --release --quiet
bin=./target/release/onnx-workbench

echo "## machine"
echo "- CPU: $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2- | xargs), $(nproc) logical cores"
echo "- CPU flags: $(grep -m1 -o -w -E 'avx512_vnni|avx_vnni|avx512f|avx2' /proc/cpuinfo | sort -u | xargs || true)"
$bin --version | sed 's/^/- /' | grep -v library

echo
echo "## transforms, CPU EP, closed loop, concurrency 1, intra 1, ${seconds} s measured, 1 s warm-up"
echo "| model | transform | inferences/s | p99 ms | model size | relative L2 error |"
echo "|---|---|---|---|---|---|"
for model in mlp cnn transformer; do
  dims=()
  if [ "$model" = transformer ]; then dims=(--dim seq=16); fi
  while IFS='|' read -r label flags; do
    # shellcheck disable=SC2086 # flags are deliberately split into words
    if ! $bin profile "sample_models/$model.onnx" $flags "${dims[@]}" --ep cpu \
        --concurrency 1 --intra-threads 1 --duration "${seconds}s" --warmup 1s \
        --no-layer-profile --quiet --json >"$session" 2>/dev/null; then
      echo "| $model | $label | failed | | | |"
      continue
    fi
    python3 -c '
import json, sys
d = json.load(open(sys.argv[3]))
s = d.get("summary") or {}
lat = s.get("latency") or {}
t = d.get("transform")
size = t["size_after_bytes"] if t else d["model"]["size_bytes"]
acc = (t or {}).get("accuracy")
err = max((o["relative_l2_error"] for o in acc["outputs"]), default=0.0) if acc else 0.0
print("| %s | %s | %.0f | %.3f | %.1f kB | %.2e |" % (sys.argv[1], sys.argv[2],
      s.get("inferences_per_sec", 0.0), lat.get("p99_micros", 0.0) / 1e3, size / 1e3, err))
 ' "$model" "$label" "$session"
  done <<'TRANSFORMS'
fp32|
fp16|--precision fp16
int8 (dynamic)|--precision int8 --int8-mode dynamic
50 % unstructured|--prune 0.5
50 % structured|--prune 0.5 --prune-mode structured
TRANSFORMS
done
