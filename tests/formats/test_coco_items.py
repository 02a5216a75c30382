"""A COCO file read image by image: ``index`` then ``load_part`` gives exactly what ``load``
gives, problems included, and a malformed part of a file fails only its own image.

The file ``load`` reads whole is the reference here: every image that ``load_part`` builds is
compared with it field by field (paths, lines and columns of every problem too), over the
example files and over the same documents written pretty-printed, on one line, with CRLF or
CR line ends, a byte order mark and non-ASCII names, with and without msgspec. The partial
failures are checked by hand against a file whose every image and annotation was written to
fail one way.
"""

from __future__ import annotations

import json
import pickle
from pathlib import Path

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from polymask.errors import AnnotationError
from polymask.formats import coco, coco_scan, load_annotations
from polymask.formats.options import FormatOptions
from polymask.labels import IGNORE
from tests.helpers import mutate

EXAMPLES = Path(__file__).parent / "coco"


def assert_same(a, b):
    """Two annotations are equal, field by field (arrays by value)."""
    assert a.model_dump(exclude={"shapes"}) == b.model_dump(exclude={"shapes"})
    assert len(a.shapes) == len(b.shapes)
    for s, t in zip(a.shapes, b.shapes, strict=True):
        assert s.__dict__.keys() == t.__dict__.keys()
        for name, value in s.__dict__.items():
            other = t.__dict__[name]
            if isinstance(value, np.ndarray) or isinstance(other, np.ndarray):
                assert type(value) is type(other) and np.array_equal(value, other), name
            else:
                assert value == other, name


def read_by_parts(path: Path, key: str = "k", options=None):
    """(annotations, problems) through ``index`` and ``load_part``, the parts pickled first
    (as they travel to workers)."""
    found = coco.index(path, key, path.parent, options=options)
    entries = pickle.loads(pickle.dumps(found.images))
    parts = [coco.load_part(path, key, path.parent, e, options=options) for e in entries]
    return parts, found.problems, found


def read_whole(path: Path, key: str = "k", options=None):
    problems: list = []
    return coco.load(path, key, path.parent, options=options, problems=problems), problems


def assert_parts_equal_whole(path: Path, options=None):
    whole, problems = read_whole(path, options=options)
    parts, part_problems, found = read_by_parts(path, options=options)
    assert len(parts) == len(whole)
    for a, b in zip(whole, parts, strict=True):
        assert_same(a, b)
    assert part_problems == problems
    assert [(e.key, e.width, e.height) for e in found.images] == [
        (a.key, a.width, a.height) for a in whole
    ]
    return whole, problems


def polygon(x, y, w, h):
    return [x, y, x + w, y, x + w, y + h, x, y + h]


def uncompressed_rle(mask: np.ndarray) -> list[int]:
    """COCO's run lengths (column-major, zeros first), by hand."""
    flat = mask.T.ravel().astype(np.int8)
    edges = np.flatnonzero(np.diff(np.concatenate([[0], flat, [1 - flat[-1]]])))
    return np.diff(np.concatenate([[0], edges])).tolist()


def sample_doc() -> dict:
    """Two images with non-ASCII names and labels; polygons of several parts, an RLE, crowd
    regions, and annotations whose bbox, area or segmentation give warnings."""
    mask = np.zeros((6, 9), dtype=bool)
    mask[1:4, 2:7] = True
    return {
        "info": {"description": "naïve ☃"},
        "images": [
            {"id": 7, "file_name": "żółw/ñandú.jpg", "width": 9, "height": 6},
            {"id": "b", "file_name": "b.png", "width": 12, "height": 10},
        ],
        "categories": [
            {"id": 3, "name": "gâteau"},
            {"id": 1, "name": "thing"},
            {"id": 90, "name": "never used"},
        ],
        "annotations": [
            {"id": 1, "image_id": 7, "category_id": 3, "iscrowd": 0, "area": 10.0,
             "bbox": [1, 1, 5, 3], "segmentation": [polygon(1, 1, 2, 2), polygon(4, 1, 2, 3)]},
            {"id": 2, "image_id": 7, "category_id": 1, "iscrowd": 1, "area": 54,
             "bbox": [0, 0, 9, 6], "segmentation": {"size": [6, 9], "counts": [0, 54]}},
            {"id": 3, "image_id": 7, "category_id": 1, "iscrowd": 1, "area": 15,
             "bbox": [2, 1, 5, 3], "segmentation": {"size": [6, 9],
                                                   "counts": uncompressed_rle(mask)}},
            {"id": 4, "image_id": "b", "category_id": 3, "area": 99, "bbox": [0, 0, 1, 1],
             "segmentation": [polygon(0.5, 0.5, 8, 6.25)]},
            {"image_id": "b", "category_id": 1, "bbox": [1, 1, 3, 3]},
        ],
    }  # fmt: skip


def variants(doc: dict) -> dict[str, bytes]:
    """The same document in the ways files are written."""
    pretty = json.dumps(doc, indent=2, ensure_ascii=False)
    return {
        "pretty": pretty.encode(),
        "one-line": json.dumps(doc, separators=(",", ":"), ensure_ascii=False).encode(),
        "ascii-escapes": json.dumps(doc).encode(),
        "crlf": pretty.replace("\n", "\r\n").encode(),
        "cr": pretty.replace("\n", "\r").encode(),
        "bom": b"\xef\xbb\xbf" + pretty.encode(),
    }


@pytest.fixture(params=["msgspec", "standard-library"])
def scanner(request, monkeypatch):
    """Run a test with both ways of finding the elements of a file."""
    if request.param == "msgspec":
        if coco_scan.msgspec is None:
            pytest.skip("msgspec is not installed")
    else:
        monkeypatch.setattr(coco_scan, "msgspec", None)
    return request.param


@pytest.mark.parametrize("name", sorted(p.name for p in (EXAMPLES / "valid").glob("*.json")))
def test_parts_of_the_examples_equal_the_whole(name, scanner):
    whole, problems = assert_parts_equal_whole(EXAMPLES / "valid" / name)
    assert whole and problems == []


@pytest.mark.parametrize("name", sorted(p.name for p in (EXAMPLES / "invalid").glob("*.json")))
def test_parts_of_the_invalid_examples_fail_as_the_whole(name, scanner):
    """Each invalid example either fails as a whole, with the same problems both ways, or
    loads partly, with the same images and problems both ways."""
    path = EXAMPLES / "invalid" / name
    try:
        whole, problems = read_whole(path)
    except AnnotationError as exc:
        with pytest.raises(AnnotationError) as raised:
            coco.index(path, "k", path.parent)
        assert raised.value.problems == exc.problems
        return
    assert_parts_equal_whole(path)
    assert problems or any(a.errors for a in whole)


@pytest.mark.parametrize("form", list(variants({})))
def test_parts_equal_the_whole_however_the_file_is_written(form, scanner, tmp_path):
    path = tmp_path / "instances.json"
    path.write_bytes(variants(sample_doc())[form])
    whole, _ = assert_parts_equal_whole(path)
    warnings = [w for a in whole for w in a.warnings]
    # the warnings are where the file has them, whatever its line ends
    assert {w.path for w in warnings} == {
        "annotations[3].bbox",
        "annotations[3].area",
        "annotations[4]",
    }
    # each at the line and column (in characters) of its value, as an editor shows them
    lines = path.read_text(encoding="utf-8-sig").split("\n")  # universal newlines
    starts = {"annotations[3].bbox": "[", "annotations[3].area": "99", "annotations[4]": "{"}
    for w in warnings:
        assert lines[w.line - 1][w.column - 1 :].startswith(starts[w.path]), w
    assert whole[0].key == "żółw/ñandú" and whole[0].shapes[0].label == "gâteau"


def test_partial_failures_ride_on_their_image(scanner, tmp_path):
    """Every image of this file fails in its own way but the first; errors of no image go to
    ``problems``; both ways of reading agree on all of it."""
    path = tmp_path / "sub" / "instances.json"
    path.parent.mkdir()
    path.write_text(
        """{"images": [
  {"id": 1, "file_name": "a.jpg", "width": 10, "height": 8},
  {"id": 2, "file_name": "b.jpg", "width": -4, "height": 8},
  {"id": 3, "file_name": "../c.jpg", "width": 10, "height": 8},
  {"id": 4, "file_name": "a.png", "width": 10, "height": 8},
  {"id": 1, "file_name": "d.jpg", "width": 10, "height": 8},
  {"id": 5, "file_name": "e.jpg", "width": 10, "height": 8}
 ],
 "categories": [{"id": 1, "name": "thing"}, {"id": 2, "name": "other"}, {"id": 2, "name": "x"}],
 "annotations": [
  {"id": 1, "image_id": 1, "category_id": 1, "segmentation": [[1, 1, 4, 1, 4, 4]]},
  {"id": 2, "image_id": 2, "category_id": 1, "segmentation": [[1, 1, 4, 1, 4, 4]]},
  {"id": 3, "image_id": 5, "category_id": 1, "segmentation": [1, 1, 4, 1, 4, 4]},
  {"id": 4, "image_id": 9, "category_id": 1, "segmentation": [[1, 1, 4, 1, 4, 4]]},
  {"id": 5, "image_id": 9, "category_id": 1, "segmentation": 7},
  {"id": 6, "image_id": 5, "category_id": 77, "segmentation": [[1, 1, 4, 1, 4, 4]]},
  {"id": 7, "image_id": 1, "category_id": 2, "segmentation": [[2, 2, 5, 2, 5, 5]]},
  {"id": 8, "image_id": 2, "category_id": 1, "segmentation": {"size": [1]}}
 ]}"""
    )
    whole, problems = assert_parts_equal_whole(path)
    assert [a.key for a in whole] == [
        "a",
        "k/images[1]",  # malformed record: keyed by its place below the file's key
        "k/images[2]",
        "k/images[3]",
        "k/images[4]",
        "e",
    ]
    errors = [[(e.path, e.line, e.code) for e in a.errors] for a in whole]
    assert errors == [
        [],
        [("images[1].width", 3, "PM019"),  # and the annotation naming it is only validated
         ("annotations[7].segmentation.size[1]", 18, "PM010"),
         ("annotations[7].segmentation.counts", 18, "PM010")],
        [("images[2].file_name", 4, "PM042")],
        [("images[3].file_name", 5, "PM043")],
        [("images[4].id", 6, "PM041")],
        [("annotations[2].segmentation", 13, "PM019"), ("annotations[5].category_id", 16, "PM045")],
    ]  # fmt: skip
    assert "greater than 0" in whole[1].errors[0].message
    assert "flat list of numbers" in whole[5].errors[0].message
    assert [(p.path, p.line, p.code) for p in problems] == [
        ("categories[2].id", 9, "PM040"),
        ("annotations[3].image_id", 14, "PM044"),
        ("annotations[4].segmentation", 15, "PM019"),
    ]
    assert [s.label for s in whole[0].shapes] == ["thing", "other"]
    assert (whole[1].width, whole[1].height, whole[1].shapes) == (0, 0, ())
    # without the list, the first error raises for the whole file, listing every problem
    with pytest.raises(AnnotationError) as raised:
        coco.load(path, "k", path.parent)
    assert {p.path for p in raised.value.problems} == {
        "images[1].width",
        "annotations[2].segmentation",
        "annotations[4].segmentation",
        "annotations[7].segmentation.size[1]",
        "annotations[7].segmentation.counts",
    }


def test_a_file_wrong_as_a_whole_raises_the_same_both_ways(scanner, tmp_path):
    cases = {
        "syntax": '{"images": [], "categories": [], "annotations": [}',
        "no categories": '{"images": [], "annotations": []}',
        "bad category": '{"images": [], "categories": [{"id": "x"}], "annotations": []}',
        "images not a list": '{"images": {}, "categories": [], "annotations": []}',
        "a list": '[{"images": []}]',
        "trailing": '{"images": [], "categories": [], "annotations": []} []',
    }
    for name, text in cases.items():
        path = tmp_path / "f.json"
        path.write_text(text)
        with pytest.raises(AnnotationError) as whole:
            coco.load(path, "k", tmp_path, problems=[])
        with pytest.raises(AnnotationError) as parts:
            coco.index(path, "k", tmp_path)
        assert parts.value.problems == whole.value.problems, name
        assert whole.value.problems, name


def test_every_image_carries_the_declared_categories(tmp_path):
    path = tmp_path / "instances.json"
    path.write_text(json.dumps(sample_doc()))
    expected = ((3, "gâteau"), (1, "thing"), (90, "never used"))
    whole, _ = read_whole(path)
    assert [a.categories for a in whole] == [expected, expected]
    assert coco.index(path, "k", tmp_path).categories == expected
    assert all(a.categories == expected for a in load_annotations(path))


def test_polygon_points_are_float64_arrays(tmp_path):
    path = tmp_path / "instances.json"
    path.write_text(json.dumps(sample_doc()))
    shapes = [s for a in load_annotations(path) for s in a.shapes if s.kind == "polygon"]
    assert len(shapes) == 3
    for s in shapes:
        assert isinstance(s.points, np.ndarray) and s.points.dtype == np.float64
        assert s.points.ndim == 2 and s.points.shape[1] == 2 and s.points.flags.c_contiguous
    np.testing.assert_array_equal(shapes[0].points, [[1, 1], [3, 1], [3, 3], [1, 3]])


def test_crowd_ignore_reaches_the_parts(tmp_path):
    path = tmp_path / "instances.json"
    path.write_text(json.dumps(sample_doc()))
    options = FormatOptions(crowd="ignore")
    whole, _ = assert_parts_equal_whole(path, options)
    assert [s.label for s in whole[0].shapes] == ["gâteau", "gâteau", IGNORE, IGNORE]


def test_a_part_reads_only_its_own_annotations(tmp_path, monkeypatch):
    """The index parses no annotation that names an image (only those that name none, whose
    problems are the file's); load_part validates the annotations of its image and no other."""
    path = tmp_path / "instances.json"
    doc = sample_doc()
    doc["annotations"].append({"image_id": 404, "category_id": 1, "segmentation": []})
    path.write_text(json.dumps(doc, indent=1))
    seen = []
    real = coco.CocoAnnotation.model_validate_json

    def spy(text, **kw):
        seen.append(json.loads(text)["image_id"])
        return real(text, **kw)

    monkeypatch.setattr(coco.CocoAnnotation, "model_validate_json", spy)
    monkeypatch.setattr(coco.coco_scan, "msgspec", None)  # every element through pydantic
    found = coco.index(path, "k", tmp_path)
    assert seen == [404] and [p.code for p in found.problems] == ["PM044"]
    seen.clear()
    coco.load_part(path, "k", tmp_path, found.images[0])
    assert seen == [7, 7, 7]


json_values = st.recursive(
    st.none() | st.booleans() | st.integers(-3, 30) | st.floats() | st.text(max_size=4),
    lambda children: (
        st.lists(children, max_size=3) | st.dictionaries(st.text(max_size=4), children, max_size=3)
    ),
    max_leaves=6,
)


@settings(
    max_examples=150,
    deadline=None,
    # the scanner fixture is the same for every example
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture],
)
@given(data=st.data())
def test_mutated_files_read_the_same_both_ways(tmp_path_factory, scanner, data):
    """Whatever is changed in a file, both ways give the same images and problems, or raise
    the same problems."""
    doc = sample_doc()
    mutate(doc, data, json_values)
    form = data.draw(st.sampled_from(["pretty", "one-line", "crlf"]), label="form")
    path = tmp_path_factory.mktemp("mutated") / "instances.json"
    path.write_bytes(variants(doc)[form])
    try:
        read_whole(path)
    except AnnotationError as exc:
        with pytest.raises(AnnotationError) as raised:
            coco.index(path, "k", path.parent)
        assert raised.value.problems == exc.problems
        return
    assert_parts_equal_whole(path)


@pytest.mark.parametrize("convention", ["coco", "center", "labelme"])
def test_array_points_burn_as_tuple_points(convention, tmp_path):
    """Points as arrays paint the pixels the tuples of pairs painted, under every convention,
    for the polygons COCO files give and for polygons with holes."""
    from polymask.labels import LabelMap
    from polymask.model import Shape
    from polymask.raster import burn

    path = tmp_path / "instances.json"
    path.write_text(json.dumps(sample_doc()))
    hole = ((3.0, 2.5), (6.5, 2.5), (5.0, 4.5))
    outer = np.array([[1, 1], [10.5, 1.5], [11, 8], [0.5, 9]], dtype=np.float64)
    holed = Shape(label="thing", kind="polygon", points=outer, holes=(hole,), where="h")
    label_map = LabelMap.from_names(["gâteau", "thing"])
    for ann in load_annotations(path):
        shapes = ann.shapes + (holed,)
        as_tuples = tuple(
            s.model_copy(update={"points": tuple(map(tuple, s.points.tolist()))})
            if isinstance(s.points, np.ndarray)
            else s
            for s in shapes
        )
        arrays = ann.model_copy(update={"shapes": shapes})
        tuples = ann.model_copy(update={"shapes": as_tuples})
        for instances in (False, True):
            a = burn(arrays, label_map, convention, unknown="void", instances=instances)
            b = burn(tuples, label_map, convention, unknown="void", instances=instances)
            np.testing.assert_array_equal(a.classes, b.classes)
            assert (a.instances is None) == (b.instances is None)
            if a.instances is not None:
                np.testing.assert_array_equal(a.instances, b.instances)
        assert np.count_nonzero(a.classes)  # something was painted: the test can fail
