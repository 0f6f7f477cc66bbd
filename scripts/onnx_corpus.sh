#!/usr/bin/env bash
# Parity with Python onnxruntime on ONNX's backend test corpus: downloads the
# pinned onnx wheel into a temporary folder, runs every model.onnx it ships
# with `onnx-workbench profile` (one request, synthetic inputs) and with a
# Python onnxruntime loop on naive inputs (scripts/onnx_corpus.py), and
# prints both counts and the models where the two disagree.
#
# usage: scripts/onnx_corpus.sh [PYTHON]
#   PYTHON     an interpreter with onnxruntime and numpy (default python3)
#   WORKBENCH  the binary to test (default: target/debug/onnx-workbench, built if missing)
#   ONNX_VERSION  the onnx wheel (default 1.23.2)
#   KEEP=1     keep the temporary folder (its path is printed)
set -euo pipefail

PYTHON=${1:-python3}
ONNX_VERSION=${ONNX_VERSION:-1.23.2}
ROOT=$(cd "$(dirname "$0")/.." && pwd)
WORKBENCH=${WORKBENCH:-$ROOT/target/debug/onnx-workbench}
if [[ ! -x $WORKBENCH ]]; then
    (cd "$ROOT" && cargo build --locked)
fi

TMP=$(mktemp -d)
if [[ ${KEEP:-0} == 1 ]]; then
    echo "working folder: $TMP"
else
    trap 'rm -rf "$TMP"' EXIT
fi

"$PYTHON" -m pip download --quiet --no-deps --only-binary=:all: \
    "onnx==$ONNX_VERSION" -d "$TMP/wheel"
"$PYTHON" - "$TMP" <<'PY'
import glob, sys, zipfile
tmp = sys.argv[1]
with zipfile.ZipFile(glob.glob(f"{tmp}/wheel/*.whl")[0]) as wheel:
    for name in wheel.namelist():
        if name.startswith("onnx/backend/test/data/") and name.endswith("/model.onnx"):
            wheel.extract(name, f"{tmp}/corpus")
PY
find "$TMP/corpus" -name model.onnx | sort > "$TMP/models.txt"
TOTAL=$(wc -l < "$TMP/models.txt")
echo "models: $TOTAL (onnx $ONNX_VERSION wheel)"

# The workbench: one request, no warm-up, no per-layer pass.
: > "$TMP/workbench.txt"
while read -r model; do
    if timeout 120 "$WORKBENCH" profile "$model" --requests 1 --warmup 0s \
        --no-layer-profile --quiet > "$TMP/out.txt" 2>&1; then
        echo "ok $model" >> "$TMP/workbench.txt"
    else
        echo "fail $model: $(grep -m1 -i 'error' "$TMP/out.txt" | cut -c1-300)" >> "$TMP/workbench.txt"
    fi
done < "$TMP/models.txt"

# Python onnxruntime on naive inputs.
"$PYTHON" "$ROOT/scripts/onnx_corpus.py" "$TMP/models.txt" > "$TMP/python.txt"

short() { sed "s|$TMP/corpus/onnx/backend/test/data/||; s|/model.onnx||"; }
WB_OK=$(grep -c '^ok ' "$TMP/workbench.txt" || true)
PY_OK=$(grep -c '^ok ' "$TMP/python.txt" || true)
echo "onnx-workbench runs $WB_OK of $TOTAL"
echo "python onnxruntime runs $PY_OK of $TOTAL"
echo "disagreements:"
status() { awk '{sub(":$", "", $2); print $2, $1}' "$1" | sort; }
join <(status "$TMP/workbench.txt") <(status "$TMP/python.txt") \
    | awk '$2 != $3 {print}' | while read -r model wb py; do
        reason=$(grep -h -F "$model:" "$TMP/workbench.txt" "$TMP/python.txt" | sed 's/^[^ ]* [^ ]* //' | head -1)
        echo "  $(echo "$model" | short): workbench $wb, python $py${reason:+ ($reason)}"
    done
