"""Label Studio partial loads: with a ``problems`` list, a task's error rides on that task's
image and the other tasks load; without it, any error raises for the whole file."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from polymask.errors import AnnotationError
from polymask.formats import InputFile, load_annotations
from polymask.labels import LabelMap
from polymask.raster import burn
from tests.conftest import REPO
from tests.helpers import mutate

CASES = REPO / "tests" / "formats" / "label-studio"
EXPORT = CASES / "invalid" / "partly_bad.json"


def _partial(path: Path, fmt: str | None = None):
    problems: list = []
    images = load_annotations(path, fmt, problems=problems)
    return {a.key: a for a in images}, problems


def _errors(image) -> list[tuple[str, int, str]]:
    return [(e.path, e.line, e.code) for e in image.errors]


def test_each_bad_task_fails_alone():
    images, problems = _partial(EXPORT)
    assert problems == []
    assert list(images) == [
        "0f1e2d-field_01",
        "field_03",
        "field_04",
        "partly_bad[3]",
        "field_05",
        "partly_bad[5]",
        "field_02",
    ]
    # a malformed result (a polygon of 2 points): validation's path and line, no shapes
    assert _errors(images["field_03"]) == [
        ("[1].annotations[0].result[0].value.points", 25, "PM013")
    ]
    assert images["field_03"].shapes == () and images["field_03"].width == 0
    # a bad brush RLE: the task's other result still loads, at the task's size
    bad_brush = images["field_04"]
    assert _errors(bad_brush) == [("[2].annotations[0].result[0].value.rle", 38, "PM049")]
    assert (bad_brush.width, bad_brush.height) == (4, 4)
    assert [s.where for s in bad_brush.shapes] == ["[2].annotations[0].result[1]"]
    # a second task naming the same image: an error naming the first, under its own name
    (duplicate,) = images["partly_bad[3]"].errors
    assert (duplicate.path, duplicate.line, duplicate.code) == ("[3].data.image", 49, "PM043")
    assert "'0f1e2d-field_01', as task [0] does" in duplicate.message
    # results that disagree on the image size
    assert _errors(images["field_05"]) == [
        ("[4].annotations[0].result[1].original_width", 72, "PM067")
    ]
    # an image name that cannot be a file name (a line break, %0A in its URL)
    assert _errors(images["partly_bad[5]"]) == [("[5].data.image", 81, "PM042")]
    for good in ("0f1e2d-field_01", "field_02"):
        assert images[good].errors == () and images[good].warnings == ()


def test_good_tasks_burn_as_they_do_alone():
    images, _ = _partial(EXPORT)
    labels = LabelMap.from_names(["weed", "crop"])
    weed = burn(images["0f1e2d-field_01"], labels, convention="center").classes
    expected = np.zeros((8, 10), np.uint8)
    expected[2:6, 1:6] = 1  # x 10..60 % of 10 px, y 25..75 % of 8 px: pixel centres inside
    np.testing.assert_array_equal(weed, expected)
    crop = burn(images["field_02"], labels, convention="center").classes
    expected = np.zeros((4, 4), np.uint8)
    expected[1:3, 1:3] = 2
    np.testing.assert_array_equal(crop, expected)


def test_without_a_problems_list_the_file_fails_as_before():
    with pytest.raises(AnnotationError) as caught:
        load_annotations(EXPORT)
    # validation stops the file first: its one error, as validate has always reported it
    assert [(p.path, p.line, p.code) for p in caught.value.problems] == [
        ("[1].annotations[0].result[0].value.points", 25, "PM013")
    ]


def test_without_a_problems_list_every_later_error_is_listed(tmp_path):
    tasks = json.loads(EXPORT.read_text())
    del tasks[1]  # the malformed task: what is left parses, and fails task by task
    path = tmp_path / "export.json"
    path.write_text(json.dumps(tasks))
    with pytest.raises(AnnotationError) as caught:
        load_annotations(path)
    assert [(p.path, p.code) for p in caught.value.problems] == [
        ("[1].annotations[0].result[0].value.rle", "PM049"),
        ("[2].data.image", "PM043"),
        ("[3].annotations[0].result[1].original_width", "PM067"),
        ("[4].data.image", "PM042"),
    ]


def test_duplicate_names_are_per_file_and_keep_the_first(tmp_path):
    """Exports of one project each name image1 and image2; within a file, a second task for
    image1 (an image imported twice) fails while the first is drawn."""
    rect = {
        "type": "rectanglelabels",
        "original_width": 4,
        "original_height": 4,
        "value": {"x": 0, "y": 0, "width": 50, "height": 50, "rectanglelabels": ["a"]},
    }
    tasks = [
        {"id": i, "data": {"image": f"/data/upload/1/{name}"}, "annotations": [{"result": [rect]}]}
        for i, name in enumerate(["image1.jpg", "image2.jpg", "image1.jpg"])
    ]
    (tmp_path / "a").mkdir()
    path = tmp_path / "a" / "export.json"
    path.write_text(json.dumps(tasks))
    problems: list = []
    images = load_annotations(InputFile(path, tmp_path), problems=problems)
    assert [(a.key, bool(a.errors)) for a in images] == [
        ("a/image1", False),
        ("a/image2", False),
        ("a/export[2]", True),
    ]
    assert images[2].errors[0].path == "[2].data.image"
    assert "as task [0] does" in images[2].errors[0].message


def test_a_task_that_is_not_an_object_is_an_error_of_no_image(tmp_path):
    good = json.loads(EXPORT.read_text())[0]
    path = tmp_path / "export.json"
    path.write_text(json.dumps([good, "task"]))
    images, problems = _partial(path)
    assert list(images) == ["0f1e2d-field_01"] and images["0f1e2d-field_01"].errors == ()
    assert [(p.path, p.code) for p in problems] == [("[1]", "PM019")]


def test_a_task_without_data_is_named_by_its_id(tmp_path):
    path = tmp_path / "export.json"
    path.write_text(json.dumps([{"id": 7, "annotations": [{"result": []}]}]))
    images, problems = _partial(path)
    assert problems == [] and _errors(images["task-7"]) == [("[0].data", 1, "PM010")]


def test_a_single_task_object_fails_with_paths_into_it(tmp_path):
    task = json.loads(EXPORT.read_text())[1]
    path = tmp_path / "one.json"
    path.write_text(json.dumps(task, indent=1))
    images, problems = _partial(path)
    assert problems == []
    (error,) = images["field_03"].errors
    assert error.path == "annotations[0].result[0].value.points"


@pytest.mark.parametrize(
    ("text", "code"),
    [("[{", "PM001"), ('"tasks"', "PM019"), ("42", "PM019")],
    ids=["invalid JSON", "a string", "a number"],
)
def test_a_file_that_cannot_be_read_still_raises(tmp_path, text, code):
    path = tmp_path / "export.json"
    path.write_text(text)
    problems: list = []
    with pytest.raises(AnnotationError) as caught:
        load_annotations(path, "label-studio", problems=problems)
    assert [p.code for p in caught.value.problems] == [code] and problems == []


def test_tasks_that_give_no_image_are_problems_of_the_file(tmp_path):
    tasks = [
        {"id": 1, "data": {"image": "a.jpg"}, "annotations": [{"result": []}]},
        {"id": 2, "data": {"image": "b.jpg"}, "annotations": [{"was_cancelled": True}]},
    ]
    path = tmp_path / "export.json"
    path.write_text(json.dumps(tasks))
    images, problems = _partial(path)
    assert images == {}
    assert [(p.path, p.code, p.severity) for p in problems] == [
        ("[0].annotations[0]", "PM062", "warning"),
        ("[1]", "PM060", "warning"),
        ("", "PM066", "error"),
    ]


# Mutations of the example exports: the partial load agrees with the whole-file load.

EXAMPLES = sorted([*(CASES / "valid").glob("*.json"), EXPORT])
json_values = st.recursive(
    st.none() | st.booleans() | st.integers(-3, 300) | st.floats() | st.text(max_size=6),
    lambda children: (
        st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=8), children, max_size=4)
    ),
    max_leaves=10,
)


def _summary(image) -> tuple:
    shapes = tuple(
        (s.label, s.kind, s.points, s.where, None if s.mask is None else s.mask.tobytes())
        for s in image.shapes
    )
    return image.key, image.width, image.height, shapes, image.warnings


@settings(max_examples=120, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(data=st.data())
def test_partial_and_whole_file_loads_agree(tmp_path_factory, data):
    source = data.draw(st.sampled_from(EXAMPLES), label="example")
    doc = json.loads(source.read_text())
    mutate(doc, data, json_values)
    file = tmp_path_factory.mktemp("mutated") / "export.json"
    file.write_text(json.dumps(doc))
    try:
        whole = load_annotations(file, "label-studio")
    except AnnotationError as exc:
        whole, refused = None, {p for p in exc.problems if p.severity == "error"}
    problems: list = []
    try:
        partial = load_annotations(file, "label-studio", problems=problems)
    except AnnotationError as exc:  # only a file unreadable as a whole, refused both ways
        assert whole is None and refused == set(exc.problems)
        return
    if whole is not None:
        assert problems == [] and all(a.errors == () for a in partial)
        assert [_summary(a) for a in partial] == [_summary(a) for a in whole]
        return
    reported = {p for a in partial for p in a.errors} | set(problems)
    assert refused <= reported  # every error the whole-file load names rides somewhere
    for image in partial:
        assert image.errors or (image.width > 0 and image.height > 0)
