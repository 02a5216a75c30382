"""Regenerate ``examples/volumes/``: two small CT-like label volumes (NIfTI, anisotropic voxels)
and a pretend model's predictions, for the surface-distance demo.

Three organs as ellipsoids in a 64x64x24 grid of 0.8 x 0.8 x 2.5 mm voxels; the predictions
shift each organ by a voxel or two and shrink the last one, so the distances are a few mm.

    python examples/make_volume_example.py     # needs nibabel (pip install "polymask[medical]")
"""

from __future__ import annotations

from pathlib import Path

import nibabel as nib
import numpy as np

HERE = Path(__file__).resolve().parent / "volumes"
SHAPE, SPACING = (64, 64, 24), (0.8, 0.8, 2.5)
NAMES = ["_background_", "liver", "kidney", "spleen"]
ORGANS = [  # centre (voxels), radii (mm)
    ((24, 28, 12), (12.0, 9.0, 20.0)),
    ((42, 36, 10), (8.0, 10.0, 15.0)),
    ((30, 46, 14), (5.0, 5.0, 10.0)),
]


def draw(shifts: list[tuple[int, int, int]], scale: float) -> np.ndarray:
    grid = np.stack(np.meshgrid(*(np.arange(n) for n in SHAPE), indexing="ij"), axis=-1)
    labels = np.zeros(SHAPE, np.uint8)
    for k, ((centre, radii), shift) in enumerate(zip(ORGANS, shifts, strict=True), 1):
        shrink = scale if k == len(ORGANS) else 1.0
        d = (grid - np.add(centre, shift)) * SPACING / (np.asarray(radii) * shrink)
        labels[(d**2).sum(axis=-1) <= 1] = k
    return labels


def save(array: np.ndarray, path: Path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    image = nib.Nifti1Image(array, np.diag([*SPACING, 1.0]))
    image.header.set_zooms(SPACING)
    image.header["descrip"] = b"polymask example"
    nib.save(image, str(path))


def main() -> None:
    rng = np.random.default_rng(3)
    (HERE / "gt").mkdir(parents=True, exist_ok=True)
    (HERE / "gt" / "labels.txt").write_text("\n".join(NAMES) + "\n")
    for case in ("case_001", "case_002"):
        save(draw([(0, 0, 0)] * 3, 1.0), HERE / "gt" / f"{case}.nii.gz")
        shifts = [tuple(int(v) for v in rng.integers(-2, 3, 3)) for _ in ORGANS]
        save(draw(shifts, 0.8), HERE / "pred" / f"{case}.nii.gz")


if __name__ == "__main__":
    main()
