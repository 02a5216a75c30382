"""COCO files as tools really write them: crowd flags as booleans, a polygon without its
enclosing list, image ids of two types, a results file where the instances file belongs, and
``area`` as pycocotools counts it."""

from __future__ import annotations

import json

import numpy as np
import pytest
from click.testing import CliRunner

from polymask.cli.main import cli
from polymask.errors import AnnotationError
from polymask.formats import coco, detect_format, load_annotations
from polymask.formats.options import FormatOptions
from polymask.labels import IGNORE

# pycocotools 2.0.x on numpy 2 warns about its own __array__; nothing of ours
pytestmark = pytest.mark.filterwarnings("ignore::DeprecationWarning")

SQUARE = [2, 2, 6, 2, 6, 6, 2, 6]


def write(path, annotations, image_id=1, width=10, height=8):
    doc = {
        "images": [{"id": image_id, "file_name": "a.jpg", "width": width, "height": height}],
        "categories": [{"id": 1, "name": "car"}],
        "annotations": annotations,
    }
    path.write_text(json.dumps(doc, indent=1))
    return path


@pytest.mark.parametrize(
    ("written", "crowd"), [("true", 1), ("false", 0), ("True", 1), (True, 1), (False, 0)]
)
def test_crowd_flags_written_as_words(tmp_path, written, crowd):
    ann = {"image_id": 1, "category_id": 1, "iscrowd": written, "segmentation": [SQUARE]}
    path = write(tmp_path / "a.json", [ann])
    (image,) = load_annotations(path, "coco", options=FormatOptions(crowd="ignore"))
    assert image.shapes[0].label == (IGNORE if crowd else "car")


def test_other_crowd_values_are_still_refused(tmp_path):
    ann = {"image_id": 1, "category_id": 1, "iscrowd": "maybe", "segmentation": [SQUARE]}
    with pytest.raises(AnnotationError) as raised:
        load_annotations(write(tmp_path / "a.json", [ann]), "coco")
    assert [p.path for p in raised.value.problems] == ["annotations[0].iscrowd"]


def test_a_polygon_without_its_list_is_named(tmp_path):
    ann = {"image_id": 1, "category_id": 1, "segmentation": SQUARE}
    path = write(tmp_path / "a.json", [ann])
    with pytest.raises(AnnotationError) as raised:
        load_annotations(path, "coco")
    (problem,) = raised.value.problems
    assert problem.path == "annotations[0].segmentation"
    assert problem.message == (
        "segmentation is a flat list of numbers; COCO polygons are a list of lists: [[x1, y1, ...]]"
    )
    line = path.read_text().splitlines()[problem.line - 1]
    assert line.strip() == '"segmentation": [' and line[problem.column - 1 :] == "["


def test_other_wrong_segmentations_keep_their_message(tmp_path):
    for seg in (["a", "b"], 5, "counts"):
        ann = {"image_id": 1, "category_id": 1, "segmentation": seg}
        with pytest.raises(AnnotationError) as raised:
            load_annotations(write(tmp_path / "a.json", [ann]), "coco")
        (problem,) = raised.value.problems
        assert "list of polygons or an RLE object" in problem.message


@pytest.mark.parametrize(
    ("image_id", "named", "message"),
    [
        ("1", 1, 'image_id 1 is not in images (images use string ids such as "1")'),
        (1, "1", "image_id '1' is not in images (images use numeric ids such as 1)"),
        ("img-7", 7, 'image_id 7 is not in images (images use string ids such as "img-7")'),
        (1, 2, "image_id 2 is not in images"),
    ],
)
def test_image_ids_of_another_type_are_named(tmp_path, image_id, named, message):
    ann = {"image_id": named, "category_id": 1, "segmentation": [SQUARE]}
    path = write(tmp_path / "a.json", [ann], image_id=image_id)
    problems = []
    coco.load(path, "a", tmp_path, problems=problems)
    assert [(p.path, p.message) for p in problems] == [("annotations[0].image_id", message)]


RESULTS = [
    {"image_id": 42, "category_id": 18, "bbox": [258.2, 41.3, 348.3, 243.6], "score": 0.24},
    {"image_id": 73, "category_id": 11, "segmentation": {"size": [4, 5], "counts": "04L4"},
     "score": 0.31},
]  # fmt: skip


@pytest.mark.parametrize("command", ["validate", "rasterize"])
@pytest.mark.parametrize("forced", [[], ["--format", "coco"]])
def test_a_results_file_is_named_as_such(tmp_path, command, forced):
    path = tmp_path / "detections.json"
    path.write_text(json.dumps(RESULTS))
    assert detect_format(path) == "coco"
    args = [command, str(path), "-j", "1", *forced]
    args += ["-o", str(tmp_path / "out")] if command == "rasterize" else []
    result = CliRunner().invoke(cli, args)
    assert result.exit_code == 1
    lines = [line for line in result.stdout.splitlines() if str(path) in line]
    assert lines == [
        f"{path}: this is a COCO results (predictions) file, a list of detections with "
        "image_id, category_id and score: rasterize and validate need the ground-truth "
        "instances file, an object with images, annotations and categories"
    ]


def test_an_annotation_list_of_another_kind_is_not_called_results(tmp_path):
    path = tmp_path / "a.json"
    path.write_text(json.dumps([{"image_id": 1, "label": "x"}]))
    with pytest.raises(AnnotationError) as raised:
        load_annotations(path, "coco")
    assert "results" not in str(raised.value)


def _pycocotools_area(polygons, height, width) -> int:
    mask = pytest.importorskip("pycocotools.mask")
    return int(mask.area(mask.merge(mask.frPyObjects(polygons, height, width))))


def _random_polygons(rng, height, width):
    parts = []
    for _ in range(int(rng.integers(1, 3))):
        n = int(rng.integers(3, 7))
        cx, cy = rng.uniform(0, width), rng.uniform(0, height)
        angles = np.sort(rng.uniform(0, 2 * np.pi, n))
        radius = rng.uniform(0.5, 6, n)
        xs = np.clip(cx + radius * np.cos(angles), -2, width + 2)
        ys = np.clip(cy + radius * np.sin(angles), -2, height + 2)
        parts.append(np.round(np.stack([xs, ys], 1), 1).ravel().tolist())
    return parts


def _outline_area(polygons) -> float:
    total = 0.0
    for flat in polygons:
        x, y = np.array(flat[0::2]), np.array(flat[1::2])
        total += abs(float(x @ np.roll(y, -1) - y @ np.roll(x, -1))) / 2
    return total


def test_area_is_checked_as_pycocotools_counts_it(tmp_path):
    """Small objects whose stated area is pycocotools' pixel count (COCO's own meaning) are
    not warned about, though their outline's area differs by more than the tolerance; a
    wrong area still is."""
    rng = np.random.default_rng(11)
    height, width = 24, 30
    right, wrong = [], []
    for _ in range(300):
        polygons = _random_polygons(rng, height, width)
        pixels = _pycocotools_area(polygons, height, width)
        if pixels < 4:
            continue
        base = {"image_id": 1, "category_id": 1, "segmentation": polygons}
        right.append({**base, "area": pixels})
        wrong.append({**base, "area": 3 * pixels + 5})
    outline_off = [
        abs(a["area"] - _outline_area(a["segmentation"])) > max(0.1 * a["area"], 2.0) for a in right
    ]
    assert sum(outline_off) > 20  # the outline alone would have warned about these
    path = write(tmp_path / "right.json", right, width=width, height=height)
    (image,) = load_annotations(path, "coco")
    assert [w.path for w in image.warnings if w.path.endswith(".area")] == []
    path = write(tmp_path / "wrong.json", wrong, width=width, height=height)
    (image,) = load_annotations(path, "coco")
    warned = [w for w in image.warnings if w.path.endswith(".area")]
    assert [w.path for w in warned] == [f"annotations[{i}].area" for i in range(len(wrong))]
    first = wrong[0]
    assert warned[0].message.startswith(f"area {first['area']:g} does not match")
    assert f"{(first['area'] - 5) // 3} px as pycocotools fills it" in warned[0].message
