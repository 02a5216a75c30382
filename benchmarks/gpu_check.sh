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

# score end to end: workers decode, this process counts and measures on the device; the same
# report as the CPU workers' (distances to 1e-6)
echo "== polymask score --surface, --device cuda against --device cpu"
DATA=$(mktemp -d)
trap 'rm -rf "$DATA"' EXIT
"$PY" - "$DATA" "${PAIRS}" <<'PY'
import sys
from pathlib import Path

import nibabel as nib
import numpy as np

root, pairs = Path(sys.argv[1]), int(sys.argv[2])
rng = np.random.default_rng(0)
z, y, x = np.ogrid[:256, :256, :128]
for i in range(pairs):
    gt = np.zeros((256, 256, 128), np.uint8)
    for c in range(1, 5):
        cz, cy, cx, r = rng.integers(40, 216), rng.integers(40, 216), rng.integers(20, 108), 30
        gt[(z - cz) ** 2 + (y - cy) ** 2 + ((x - cx) * 2) ** 2 < r * r] = c
    pred = np.roll(gt, tuple(rng.integers(-3, 4, 3)), axis=(0, 1, 2))
    for side, a in (("gt", gt), ("pred", pred)):
        (root / side).mkdir(exist_ok=True)
        nib.save(nib.Nifti1Image(a, np.diag([0.8, 0.8, 2.5, 1.0])), str(root / side / f"{i}.nii.gz"))
PY
for device in cuda cpu; do
    /usr/bin/time -f "$device: %e s wall, %M KB peak" "$PY" -m polymask score "$DATA/pred" \
        "$DATA/gt" --surface --device "$device" --json "$DATA/$device.json" > /dev/null
done
"$PY" - "$DATA" <<'PY'
import json, sys

import numpy as np

a, b = (json.load(open(f"{sys.argv[1]}/{d}.json")) for d in ("cuda", "cpu"))
for ia, ib in zip(a["images"], b["images"], strict=True):
    for name in ("hd", "hd95", "assd", "surface_dice"):
        x = np.array(ia["surface"][name], dtype=float)
        y = np.array(ib["surface"][name], dtype=float)
        np.testing.assert_allclose(x, y, rtol=1e-6, atol=1e-9, equal_nan=True)
print("cuda and cpu reports agree:", len(a["images"]), "cases")
PY
