#!/usr/bin/env bash
# Verifies the CUDA execution provider, NVML telemetry and CUPTI timings on a
# machine with an NVIDIA GPU, then profiles every sample model on CUDA and on
# the CPU side by side. Usage:
#
#   scripts/gpu_check.sh            # fetches the GPU build from PyPI
#   WHEELS=dir scripts/gpu_check.sh # offline: onnxruntime-gpu (and any
#                                   # missing nvidia-* wheels) from dir
#
# CUDA libraries already installed (an nvidia-* Python environment such as
# PyTorch's, or a CUDA toolkit) are used as they are; see ARCHITECTURE.md.
set -euo pipefail
cd "$(dirname "$0")/.."

DURATION=${DURATION:-5s}
cargo build --release --locked --quiet
bin=target/release/onnx-workbench

echo "== setup --gpu"
if [[ -n "${WHEELS:-}" ]]; then
    "$bin" setup --gpu --wheels "$WHEELS"
else
    "$bin" setup --gpu
fi
export ONNX_WORKBENCH_FLAVOUR=gpu

echo "== doctor"
"$bin" doctor
nvidia-smi --query-gpu=name,driver_version,memory.total --format=csv,noheader || true

echo "== GPU tests (ignored in ordinary runs)"
cargo test --release --locked --test integration -- --ignored --nocapture --test-threads 1 gpu::

echo "== samples: CUDA against CPU, closed loop, concurrency 1 and 4, ${DURATION} each"
for model in sample_models/*.onnx; do
    for ep in cpu cuda; do
        for concurrency in 1 4; do
            echo "-- $(basename "$model") --ep $ep --concurrency $concurrency"
            "$bin" profile "$model" --ep "$ep" --concurrency "$concurrency" \
                --duration "$DURATION" --warmup 2s --profile-runs 50 --batch 8 \
                | grep -E '^(Runtime|Throughput|  end-to-end|GPU|  providers|  GPU kernels)' || true
        done
    done
done
