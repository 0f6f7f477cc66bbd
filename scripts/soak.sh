#!/usr/bin/env bash
# Long runs with bounded memory: a headless run at full load, or the window
# with sampled per-layer profiling. Resident memory, threads and open file
# descriptors come from the session's own telemetry (one sample a second),
# summarised by scripts/soak_summary.py.
#
# usage: scripts/soak.sh cli|gui SECONDS OUT.json [MODEL]
#   cli: profile MODEL (default sample_models/cnn.onnx), closed loop, 2 workers,
#        no per-layer profiling, 10 s warm-up
#   gui: the window (needs DISPLAY, e.g. Xvfb) on MODEL, autorun, 2 workers,
#        per-layer profiling sampled every 20th run; closes itself at the end
set -euo pipefail
cd "$(dirname "$0")/.."
mode=${1:?cli or gui}
seconds=${2:?seconds}
out=${3:?output session JSON}
model=${4:-sample_models/cnn.onnx}

cargo build --release --locked --quiet
bin=./target/release/onnx-workbench
case "$mode" in
  cli)
    $bin profile "$model" --concurrency 2 --intra-threads 1 --duration "${seconds}s" \
      --warmup 10s --no-layer-profile --quiet --export "$out" >/dev/null
    ;;
  gui)
    # Fresh settings, so nothing remembered (a transform, other dims)
    # changes the run.
    XDG_DATA_HOME=$(mktemp -d)
    export XDG_DATA_HOME
    $bin gui "$model" --autorun --exit-after-run --concurrency 2 \
      --duration "${seconds}s" --profile-every 20 --export "$out"
    ;;
  *)
    echo "usage: $0 cli|gui SECONDS OUT.json [MODEL]" >&2
    exit 2
    ;;
esac
python3 scripts/soak_summary.py "$out"
