#!/usr/bin/env bash
# Speed, size and accuracy of each transform side by side: for mlp, cnn and
# transformer on the CPU execution provider, `profile` runs every transform
# (closed loop, concurrency 1, 1 intra-op thread, 5 s measured) and a
# Markdown table is printed. Interpretation is left to the reader.
#
# A second table does the same for the trained digits sample with its task
# accuracy (top-1/top-5 on its labelled evaluation set) and with accuracy
# budgets.
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

# The trained digits CNN: task accuracy on its 450 held-out digits (labels
# bundled), and what an accuracy budget keeps. The load itself runs batch 1
# synthetic inputs; only the accuracy check uses the evaluation set.
eval_flags=(--eval-input sample_models/digits_eval_images.npy
            --labels sample_models/digits_eval_labels.npy)
echo
echo "## trained digits CNN (sample_models/digits_cnn.onnx), same load; accuracy on its 450 labelled held-out digits"
echo "| transform | inferences/s | p99 ms | model size | top-1 | top-5 | min cosine | budget result |"
echo "|---|---|---|---|---|---|---|---|"
while IFS='|' read -r label flags; do
  # shellcheck disable=SC2086 # flags are deliberately split into words
  if ! $bin profile sample_models/digits_cnn.onnx $flags "${eval_flags[@]}" --ep cpu \
      --concurrency 1 --intra-threads 1 --duration "${seconds}s" --warmup 1s \
      --no-layer-profile --quiet --json >"$session" 2>"$session.err"; then
    echo "| $label | failed: $(tail -1 "$session.err" | cut -c1-120) | | | | | | |"
    continue
  fi
  python3 -c '
import json, sys
d = json.load(open(sys.argv[2]))
s = d.get("summary") or {}
lat = s.get("latency") or {}
t = d.get("transform")
size = t["size_after_bytes"] if t else d["model"]["size_bytes"]
acc = (t or {}).get("accuracy") or {}
task = acc.get("task")
cos = min((o["cosine_similarity"] for o in acc.get("outputs", [])), default=1.0)
top1 = "%.2f %% -> %.2f %%" % (100 * task["top1_before"], 100 * task["top1_after"]) if task else "97.78 % (original)"
top5 = "%.2f %% -> %.2f %%" % (100 * task["top5_before"], 100 * task["top5_after"]) if task else "100.00 % (original)"
b = (t or {}).get("budget")
budget = ("%d of %d units converted, kept: %s, %d checks" % (
    b["converted_units"], len(b["sensitivity"]), ", ".join(b["keep_nodes"]) or "none",
    b["sensitivity_checks"] + b["search_checks"])) if b else ""
print("| %s | %.0f | %.3f | %.1f kB | %s | %s | %.6f | %s |" % (sys.argv[1],
      s.get("inferences_per_sec", 0.0), lat.get("p99_micros", 0.0) / 1e3, size / 1e3,
      top1, top5, cos, budget))
 ' "$label" "$session"
done <<'TRANSFORMS'
fp32|
fp16|--precision fp16
int8 (dynamic)|--precision int8 --int8-mode dynamic
int8 (qdq)|--precision int8 --int8-mode qdq
50 % unstructured|--prune 0.5
50 % structured|--prune 0.5 --prune-mode structured
int8 (dynamic) within top-1 drop 0.5 %|--precision int8 --accuracy-budget top1=0.5%
30 % structured within top-1 drop 2 %|--prune 0.3 --prune-mode structured --accuracy-budget top1=2%
50 % structured within cosine 0.95|--prune 0.5 --prune-mode structured --accuracy-budget 0.95
TRANSFORMS
rm -f "$session.err"
