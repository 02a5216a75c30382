"""The results file ``benchmarks.coco_scale --results`` generates is what it says: detections of
the instances file's images and categories, polygons moved by at most 2 px inside the image,
crowd regions as compressed RLE strings of the same mask; and ``polymask score`` reads it. A
smoke test: nothing here asserts a timing."""

from __future__ import annotations

import json
import math

import numpy as np
import pytest

pytest.importorskip("pycocotools", reason="the COCO benchmark's generator needs it")

from benchmarks import coco_scale  # noqa: E402


def test_generated_results_are_detections_of_the_instances(tmp_path):
    from pycocotools import mask as mu

    instances = tmp_path / "coco.json"
    coco_scale.write_coco(instances, 30, seed=3)
    results = tmp_path / "results.json"
    counts = coco_scale.write_results(instances, results, seed=3)
    gt = json.loads(instances.read_text())
    found = json.loads(results.read_text())
    assert counts["detections"] == len(found)
    assert len(gt["annotations"]) <= len(found) <= 4 * len(gt["annotations"])
    crowd = [a for a in gt["annotations"] if a["iscrowd"]]
    assert counts["rle"] == sum(isinstance(d["segmentation"], dict) for d in found)
    assert crowd and counts["rle"] >= len(crowd)  # seed 3 has a crowd region: 1-4 detections
    assert {d["image_id"] for d in found} <= {i["id"] for i in gt["images"]}
    assert {d["category_id"] for d in found} <= set(coco_scale.CATEGORIES)
    assert all(0.05 <= d["score"] < 1 for d in found)
    # each detection is one of its image's annotations, moved: match it by vertex count
    by_image = {}
    for a in gt["annotations"]:
        by_image.setdefault(a["image_id"], []).append(a)
    for d in found:
        seg = d["segmentation"]
        if isinstance(seg, dict):
            masks = [mu.decode(mu.frPyObjects(a["segmentation"], 480, 640)) for a in crowd]
            mine = mu.decode({"size": seg["size"], "counts": seg["counts"].encode()})
            assert any(np.array_equal(mine, m) for m in masks)
            continue
        near = [
            a
            for a in by_image[d["image_id"]]
            if not a["iscrowd"] and [len(p) for p in a["segmentation"]] == [len(p) for p in seg]
        ]
        assert any(
            all(
                np.abs(np.subtract(p, q)).max() <= 2 + 1e-9
                for p, q in zip(seg, a["segmentation"], strict=True)
            )
            for a in near
        )
        xy = np.concatenate([np.reshape(p, (-1, 2)) for p in seg])
        assert (xy >= 0).all() and (xy <= (640, 480)).all()
        assert d["bbox"] == pytest.approx([*xy.min(0), *(xy.max(0) - xy.min(0))], abs=0.011)


def test_polymask_scores_the_generated_results(tmp_path):
    instances, _ = coco_scale.coco_file(tmp_path, 12, 0)
    results, counts = coco_scale.results_file(tmp_path, instances, 0)
    assert results.exists() and counts["detections"] > 0
    wall, rss, failed = coco_scale.measure_score(results, instances, 1, tmp_path)
    assert not failed and wall > 0 and rss > 0 and not math.isnan(rss)
