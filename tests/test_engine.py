"""The folder scorer's two routes through the confusion engine give the same report.

The numpy backend counts in the workers; a torch device sends decoded masks to this process,
whose torch backend counts them in batches. Forcing the torch backend onto the CPU runs that
GPU route here, on masks with ignore pixels, 16-bit ids, bad values, a missing prediction and
classes discovered batch after batch.
"""

from __future__ import annotations

from pathlib import Path
from unittest.mock import patch

import numpy as np
import pytest

from polymask.errors import UsageError
from polymask.io.masks import write_png
from polymask.score.run import ScoreOptions, score_folders


def _dataset(root: Path) -> None:
    rng = np.random.default_rng(5)
    for i in range(9):
        dtype = np.uint16 if i % 3 == 0 else np.uint8
        classes = 3 + i  # later images add classes: C grows between batches
        gt = rng.integers(0, classes, (10 + i, 12)).astype(dtype)
        gt[rng.random(gt.shape) < 0.1] = 255
        pred = np.where(rng.random(gt.shape) < 0.7, np.where(gt == 255, 0, gt), 1).astype(dtype)
        write_png(root / "gt" / f"{i}.png", gt)
        if i != 4:  # a missing prediction
            if i == 7:
                pred[0, 0] = 255  # the ignore value in a prediction: a problem, not counted
            write_png(root / "pred" / f"{i}.png", pred)


@pytest.mark.parametrize("boundary", [None, 2])
@pytest.mark.parametrize("workers", [1, 2])
def test_gpu_route_on_cpu_torch_gives_the_numpy_report(tmp_path, boundary, workers):
    pytest.importorskip("torch")
    _dataset(tmp_path)
    options = ScoreOptions(
        device="cpu", workers=workers, missing="zero", boundary=boundary, batch_pixels=300
    )
    numpy_result = score_folders(tmp_path / "pred", tmp_path / "gt", options)
    with patch("polymask.score.run.resolve_device", lambda _: "cpu"):  # torch backend, CPU
        torch_result = score_folders(tmp_path / "pred", tmp_path / "gt", options)
    assert numpy_result.report == torch_result.report
    for name in ("tp", "fp", "fn", "band_gt", "band_pred", "band_hit"):
        a, b = getattr(numpy_result.per_image, name), getattr(torch_result.per_image, name)
        assert (a is None and b is None) or np.array_equal(a, b)
    report = numpy_result.report
    assert report.images_scored == 8 and report.settings.num_classes == 11
    assert [p.message for p in report.problems] == [
        "value 255 is the ignore index, not a class; "
        "--pred-ignore exclude leaves such pixels out of scoring"
    ]


@pytest.mark.parametrize("scheduler", ["dask", "tcp://127.0.0.1:8786"])
@pytest.mark.parametrize("device", ["cuda", "cuda:1"])
def test_cuda_with_a_dask_scheduler_is_refused(tmp_path, scheduler, device):
    """Dask workers count on their CPUs, so a CUDA device would be silently unused."""
    for folder in ("gt", "pred"):
        write_png(tmp_path / folder / "a.png", np.zeros((2, 2), np.uint8))
    with pytest.raises(UsageError, match="with a Dask scheduler the workers count on their CPUs"):
        score_folders(tmp_path / "pred", tmp_path / "gt", device=device, scheduler=scheduler)


def test_unknown_device_is_refused_with_any_scheduler(tmp_path):
    (tmp_path / "gt").mkdir()
    (tmp_path / "pred").mkdir()
    for scheduler in ("processes", "dask"):
        with pytest.raises(UsageError, match="Expected argument `device`"):
            score_folders(tmp_path / "pred", tmp_path / "gt", device="tpu", scheduler=scheduler)
