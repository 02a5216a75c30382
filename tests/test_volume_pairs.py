"""One pair of volumes scored end to end: counts and surfaces from files, the spacing rule, and
problems that name the file at fault."""

from __future__ import annotations

import math

import numpy as np
import pytest

from polymask.score import metrics as M
from polymask.score import surface as S
from polymask.score.volume_pairs import SurfaceOptions, pair_spacing, score_volume_pair

nib = pytest.importorskip("nibabel")
pytest.importorskip("scipy")

SPACING = (0.8, 0.8, 2.5)


def volumes(seed=0):
    """Two boxes per class, the prediction's moved by known steps."""
    gt = np.zeros((20, 18, 10), np.uint8)
    pred = np.zeros_like(gt)
    gt[2:8, 3:9, 2:6] = 1
    pred[3:9, 3:9, 2:6] = 1  # one step along axis 0
    gt[10:16, 10:15, 4:8] = 2
    pred[10:16, 10:15, 5:9] = 2  # one step along axis 2
    return gt, pred


def save(path, array, spacing=SPACING):
    nib.save(nib.Nifti1Image(array, np.diag([*spacing, 1.0])), str(path))
    return path


def test_counts_and_surfaces_from_nifti_files(tmp_path):
    gt, pred = volumes()
    out = score_volume_pair(
        "a",
        save(tmp_path / "g.nii.gz", gt),
        save(tmp_path / "p.nii.gz", pred),
        3,
        255,
        SurfaceOptions(tolerance=1.0),
    )
    assert out.problems == [] and out.spacing == pytest.approx(SPACING)
    # counts: independent of the engine, by boolean masks
    for c in (1, 2):
        tp = np.sum((gt == c) & (pred == c))
        assert out.counts[0, c] == tp
        assert out.counts[1, c] == np.sum((gt != c) & (pred == c))
    dice = M.from_counts(*out.counts)["dice"]
    assert dice[1] == pytest.approx(2 * 5 * 36 * 4 / (2 * 6 * 36 * 4))
    # a shift of one step: HD is that step's length in mm
    assert out.surface[0, 1] == pytest.approx(0.8) and out.surface[0, 2] == pytest.approx(2.5)
    # surface Dice at 1 mm: every class-1 surface voxel lies within 0.8 mm of the other surface
    assert out.surface[3, 1] == 1.0
    expected = S.surface_metrics(gt, pred, 3, out.spacing, 1.0, ignore_index=255)
    for i, name in enumerate(S.SURFACE_METRICS):
        np.testing.assert_array_equal(out.surface[i], expected[name])
    assert math.isnan(out.surface[0, 0])


def test_npy_pair_takes_the_given_spacing_or_voxels(tmp_path):
    gt, pred = volumes()
    np.save(tmp_path / "g.npy", gt)
    np.save(tmp_path / "p.npy", pred)
    given = score_volume_pair(
        "a", tmp_path / "g.npy", tmp_path / "p.npy", 3, None, SurfaceOptions(spacing=SPACING)
    )
    assert given.spacing == SPACING and given.surface[0, 2] == pytest.approx(2.5)
    plain = score_volume_pair(
        "a", tmp_path / "g.npy", tmp_path / "p.npy", 3, None, SurfaceOptions()
    )
    assert plain.spacing == (1.0, 1.0, 1.0) and plain.surface[0, 2] == 1.0


def test_problems_name_the_file(tmp_path):
    gt, pred = volumes()
    g = save(tmp_path / "g.nii", gt)
    p = save(tmp_path / "p.nii", pred, spacing=(0.8, 0.8, 3.0))
    out = score_volume_pair("a", g, p, 3, None, SurfaceOptions())
    assert out.counts is None and out.problems[0].file == str(p)
    assert "spacing (0.8, 0.8, 3), not (0.8, 0.8, 2.5)" in out.problems[0].message
    bad = tmp_path / "x.nii"
    bad.write_bytes(b"nonsense")
    out = score_volume_pair("a", g, bad, 3, None, SurfaceOptions())
    assert out.problems[0].file == str(bad)
    p = save(tmp_path / "q.nii", pred)
    out = score_volume_pair("a", g, p, 3, None, SurfaceOptions(spacing=(1.0, 1.0, 1.0)))
    assert out.problems[0].file == str(g) and "header says" in out.problems[0].message


def test_values_outside_the_classes_are_a_problem(tmp_path):
    gt, pred = volumes()
    pred[0, 0, 0] = 7
    out = score_volume_pair(
        "a", save(tmp_path / "g.nii", gt), save(tmp_path / "p.nii", pred), 3, None, SurfaceOptions()
    )
    assert out.counts is None and out.problems
    assert any("p.nii" in p.file and "7" in p.message for p in out.problems)


def test_pair_spacing_rule():
    assert pair_spacing((0.8, 0.8, 2.5), None, 3) == (0.8, 0.8, 2.5)
    assert pair_spacing(None, (1.0, 2.0), 2) == (1.0, 2.0)
    assert pair_spacing(None, None, 2) == (1.0, 1.0)
    assert pair_spacing((0.8, 0.8, 2.5), (0.8, 0.8, 2.5000001), 3) == (0.8, 0.8, 2.5)
    with pytest.raises(ValueError, match="header says"):
        pair_spacing((0.8, 0.8, 2.5), (1.0, 1.0, 1.0), 3)
