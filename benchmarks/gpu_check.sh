#!/usr/bin/env bash
# Device checks of the surface distances, for a machine with a CUDA GPU: the torch backend's
# tests on the device (held to the numpy backend to 1e-6), then the volume benchmark with the
# distances on the GPU and, for comparison, on this machine's CPU.
#
#   benchmarks/gpu_check.sh            # 20 pairs of 256x256x128
#   PAIRS=4 benchmarks/gpu_check.sh    # fewer pairs
#   MONAI=1 benchmarks/gpu_check.sh    # MONAI's metrics too (on the CPU: minutes)
#
# Uses .venv/bin/python when there is one, else $PYTHON or python3. Needs torch with CUDA, scipy
# and numpy (volumes are written as .npy, so nibabel is not needed).
set -euo pipefail
cd "$(dirname "$0")/.."
if [ -x .venv/bin/python ]; then PY=.venv/bin/python; else PY=${PYTHON:-python3}; fi
PAIRS=${PAIRS:-20}

"$PY" - <<'PY'
import torch
assert torch.cuda.is_available(), "no CUDA device: these checks need one"
print("device:", torch.cuda.get_device_name(0), "| torch", torch.__version__)
PY

echo "== device tests"
"$PY" -m pytest -q -p no:cacheprovider tests/test_surface.py -k "torch or cuda or device"

# MONAI's metrics run on the CPU here (numpy inputs) and take minutes: MONAI=1 adds them
SKIP=deepmind,monai
if [ "${MONAI:-0}" = 1 ] && "$PY" -c "import monai" 2>/dev/null; then SKIP=deepmind; fi
echo "== volume benchmark, distances on the GPU"
"$PY" -m benchmarks.volumes --pairs "$PAIRS" --format npy --backend torch --device cuda --skip "$SKIP"
echo "== volume benchmark, distances on the CPU (numpy backend)"
"$PY" -m benchmarks.volumes --pairs "$PAIRS" --format npy --backend numpy --skip deepmind,monai
