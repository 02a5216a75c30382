"""The COCO reader's speed paths give what the paths they shortcut give.

msgspec reads the elements of a COCO file through a mirror of the pydantic schema and leaves
every element it refuses to pydantic. The mirror is held to the schema here: on generated
annotation and image records (valid, nearly valid and malformed, in strict and lax mode) it
either refuses a record or gives exactly the values pydantic gives, numbers to the last bit;
and files read with and without msgspec give the same images and problems. The other
shortcuts are checked against the rules they skip: image keys of plain names against the
path-by-path rules, element spans found all at once against the standard library's scanner,
their lines and columns against counting, image paths of a file given by a relative path
against the resolved path.
"""

from __future__ import annotations

import json
import re
from pathlib import Path, PurePosixPath, PureWindowsPath

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from pydantic import ValidationError

from polymask.errors import AnnotationError
from polymask.formats import coco, coco_scan
from polymask.formats.common import resolve_image
from polymask.formats.options import image_key
from polymask.limits import BUDGET_ENV, MAX_COORD
from tests.formats.test_coco_items import (
    EXAMPLES,
    assert_same,
    json_values,
    read_by_parts,
    sample_doc,
    variants,
)
from tests.helpers import mutate

pytestmark = pytest.mark.skipif(coco_scan.msgspec is None, reason="msgspec is not installed")

# -- the mirror takes nothing pydantic refuses, and reads the same values ---------------------

numbers = st.one_of(
    st.integers(-3, 40),
    st.integers(-(2**70), 2**70),
    st.floats(),
    st.sampled_from([0.0, -0.0, MAX_COORD, -MAX_COORD, MAX_COORD * (1 + 2**-52), 2.0**53 + 2]),
)
coordinates = st.floats(-1e3, 1e3) | st.integers(-10, 700)
edges = st.one_of(
    st.sampled_from([-0.0, MAX_COORD, -MAX_COORD, MAX_COORD * (1 + 2**-52), 2**25]),
    st.floats(-1.01 * MAX_COORD, 1.01 * MAX_COORD),
)
odd = st.sampled_from(["true", " False ", "1", "1.5", "nan", "", True, False, None, 1.0, 2, -1])
scalars = st.one_of(numbers, odd, st.text(max_size=3))
ids = st.one_of(st.integers(-3, 9), st.integers(-(2**70), 2**70), st.text(max_size=3))
pairs = st.lists(st.tuples(coordinates, coordinates), min_size=3, max_size=6)
polygons = pairs.map(lambda xy: [v for pair in xy for v in pair])
odd_polygons = st.one_of(
    pairs.map(lambda xy: [v for pair in xy for v in pair][:-1]),
    st.lists(coordinates, max_size=5),
    st.builds(lambda p, v, k: p[:k] + [v] + p[k + 1 :], polygons, edges, st.integers(0, 5)),
)
sides = st.integers(-1, 5) | st.sampled_from([1 << 17, (1 << 17) + 1])
runs = st.integers(-1, 3) | st.sampled_from([2**32 - 1, 2**32])
rle = st.fixed_dictionaries(
    {
        "size": st.lists(sides, min_size=2, max_size=2) | st.lists(sides, max_size=3),
        "counts": st.lists(runs, max_size=5) | st.text(max_size=5),
    },
    optional={"extra": json_values},
)
segmentations = st.one_of(
    st.lists(polygons, min_size=1, max_size=3),
    st.lists(polygons | odd_polygons, min_size=1, max_size=3),
    rle,
    st.sampled_from([None, []]),
)
annotations = st.fixed_dictionaries(
    {"image_id": ids, "category_id": st.integers(-3, 9) | st.integers(-(2**70), 2**70)},
    optional={
        "id": ids | st.none(),
        "segmentation": segmentations,
        "area": st.floats(-1, 2.0**60) | st.integers(0, 2**60) | st.none(),
        "bbox": st.lists(coordinates | edges, min_size=3, max_size=5) | st.none(),
        "iscrowd": st.sampled_from([0, 1, True, False]) | odd,
        "extra": json_values,
    },
)
images = st.fixed_dictionaries(
    {
        "id": ids,
        "file_name": st.sampled_from(["a.jpg", "", "é/b.png"]) | st.text(max_size=2),
        "width": st.integers(-2, 300) | st.sampled_from([1 << 17, (1 << 17) + 1]),
        "height": st.integers(-2, 300),
    },
    optional={"license": json_values},
)


def broken(records):
    """Records as they come, or with one field deleted or replaced by any JSON value."""

    def change(value: dict, data) -> dict:
        value = dict(value)
        if value and data.draw(st.booleans(), label="change"):
            name = data.draw(st.sampled_from(sorted(value)), label="field")
            if data.draw(st.booleans(), label="delete"):
                del value[name]
            else:
                value[name] = data.draw(scalars | json_values, label="value")
        return value

    return st.builds(change, records, st.data())


def raw(value: dict, layout: int) -> bytes:
    """A JSON element as files write it: compact, spaced or indented; NaN as JSON extensions
    write it (which pydantic reads and msgspec refuses)."""
    if layout == 0:
        return json.dumps(value, separators=(",", ":")).encode()
    return json.dumps(value, indent=layout - 1 if layout > 1 else None).encode()


def shown(value) -> str:
    """A record's values with their types, floats to the bit (``repr`` tells ``-0.0``, ``1``,
    ``1.0`` and ``True`` apart)."""
    if isinstance(value, (list, tuple)):
        return f"{type(value).__name__}[{', '.join(map(shown, value))}]"
    if hasattr(value, "counts"):  # an RLE, as a model or as its mirror
        return f"rle({shown(value.size)}, {shown(value.counts)})"
    return repr(value)


def record(value, fields: tuple[str, ...]) -> dict[str, str]:
    return {name: shown(getattr(value, name)) for name in fields}


ANNOTATION_FIELDS = ("id", "image_id", "category_id", "segmentation", "area", "bbox", "iscrowd")
IMAGE_FIELDS = ("id", "file_name", "width", "height")


def assert_mirrored(model, fields, element: bytes, strict: bool) -> bool:
    """The mirror refuses ``element`` or reads what pydantic reads; whether it read it."""
    fast = coco._fast(model, [element])[0]
    try:
        reference = model.model_validate_json(element, strict=strict)
    except ValidationError:
        assert fast is None, element
        return False
    if fast is not None:
        assert record(fast, fields) == record(reference, fields), element
    return fast is not None


@settings(max_examples=600, deadline=None)
@given(value=broken(annotations), layout=st.integers(0, 3), strict=st.booleans())
def test_the_annotation_mirror_reads_what_pydantic_reads(value, layout, strict):
    assert_mirrored(coco.CocoAnnotation, ANNOTATION_FIELDS, raw(value, layout), strict)


@settings(max_examples=300, deadline=None)
@given(value=broken(images), layout=st.integers(0, 2), strict=st.booleans(), small=st.booleans())
def test_the_image_mirror_reads_what_pydantic_reads(value, layout, strict, small):
    with pytest.MonkeyPatch.context() as mp:
        if small:  # a small budget: images over it are refused by both, by its own rule
            mp.setenv(BUDGET_ENV, "5000")
        assert_mirrored(coco.CocoImage, IMAGE_FIELDS, raw(value, layout), strict)


json_numbers = st.from_regex(
    r"-?(0|[1-9][0-9]{0,24})(\.[0-9]{1,24})?([eE][+-]?[0-9]{1,3})?", fullmatch=True
)


@settings(max_examples=200, deadline=None)
@given(texts=st.lists(json_numbers, min_size=6, max_size=6))
def test_numbers_are_read_to_the_bit(texts):
    """Numbers of any length are read as Python's json module reads them (integers exactly,
    decimals correctly rounded), by both."""
    polygon = ", ".join(texts)
    element = (
        f'{{"image_id": 1, "category_id": 2, "area": {texts[0].lstrip("-")}, '
        f'"bbox": [{", ".join(texts[:4])}], "segmentation": [[{polygon}]]}}'
    ).encode()
    if assert_mirrored(coco.CocoAnnotation, ANNOTATION_FIELDS, element, strict=False):
        fast = coco._fast(coco.CocoAnnotation, [element])[0]
        assert [shown(v) for v in fast.segmentation[0]] == [
            shown(float(json.loads(t))) for t in texts
        ]


def test_valid_records_take_the_fast_path():
    """The mirror is not merely cautious: the records of a valid file are all its own."""
    doc = sample_doc()
    for model, items in (
        (coco.CocoAnnotation, doc["annotations"]),
        (coco.CocoImage, doc["images"]),
    ):
        elements = [json.dumps(item).encode() for item in items]
        assert all(value is not None for value in coco._fast(model, elements))


def test_one_refused_record_leaves_the_others_to_the_mirror():
    doc = sample_doc()
    elements = [json.dumps(a).encode() for a in doc["annotations"]]
    elements[2] = elements[2].replace(b'"iscrowd": 1', b'"iscrowd": "true"')  # pydantic's alone
    fast = coco._fast(coco.CocoAnnotation, elements)
    assert [value is None for value in fast] == [False, False, True, False, False]


ABOVE = repr(MAX_COORD * (1 + 2**-52))  # the first coordinate over the limit


@pytest.mark.parametrize(
    "element",
    [
        f'{{"image_id": 1, "category_id": 2, "segmentation": [[0, 0, 1, 0, {x}, 1]]}}'.encode()
        for x in (MAX_COORD, ABOVE, -MAX_COORD, "-" + ABOVE, "1e400")
    ]
    + [
        f'{{"image_id": 1, "category_id": 2, "bbox": [0, {x}, 1, 1]}}'.encode()
        for x in (MAX_COORD, ABOVE, "-" + ABOVE)
    ]
    + [
        f'{{"image_id": 1, "category_id": 2, "area": {x}}}'.encode()
        for x in ("9007199254740993", "1e400", "-0.0", "-1e-300")
    ]
    + [
        b'{"image_id": 1, "category_id": 2, "segmentation": '
        + json.dumps({"size": size, "counts": c}).encode()
        + b"}"
        for size, c in [
            ([131072, 1], [4294967295]),
            ([131073, 1], [0]),
            ([0, 1], [0]),
            ([1, 1], [4294967296]),
            ([1, 1], [-1]),
        ]
    ]
    + [
        f'{{"image_id": 1, "category_id": 2, "iscrowd": {v}}}'.encode()
        for v in ("2", "-1", "1.0", '"TRUE"', "null")
    ]
    + [
        b'{"image_id": 1, "image_id": "x", "category_id": 2}',
        b'{"image_id": 1, "category_id": "x", "category_id": 2}',
        b'{"image_id": 1, "category_id": 2, "category_id": "x"}',
        b'{"image\\u005fid": 1, "category_id": 2, "iscrowd": true}',
        b'{"image_id": 1, "category_id": 2, "segmentation": {"size": [2, 3], "counts": "a2"}}',
        b'{"image_id": 1, "category_id": 2, "area": -0.0, "bbox": [0, -0, 1e2, 1E-2]}',
    ],
)
@pytest.mark.parametrize("strict", [False, True])
def test_limits_repeated_keys_escapes_and_number_forms(element, strict):
    assert_mirrored(coco.CocoAnnotation, ANNOTATION_FIELDS, element, strict)


@pytest.mark.parametrize(
    "element",
    [
        f'{{"id": 1, "file_name": {name}, "width": {w}, "height": {h}}}'.encode()
        for name, w, h in [
            ('"a.jpg"', 131072, 1),
            ('"a.jpg"', 131073, 1),
            ('"a.jpg"', 0, 1),
            ('""', 1, 1),
            ('"a.jpg"', 20000, 20000),  # over the memory budget
            ('"a.jpg"', "1.0", 1),
        ]
    ],
)
def test_image_limits(element):
    assert_mirrored(coco.CocoImage, IMAGE_FIELDS, element, strict=False)


def nested(depth: int) -> bytes:
    return b'{"image_id": 1, "category_id": 2, "extra": ' + b"[" * depth + b"]" * depth + b"}"


def test_the_mirror_is_trusted_with_no_deeper_nesting_than_pydantic_takes():
    """pydantic's JSON parser refuses deep nesting that msgspec takes: an element with more
    brackets than ``NESTING`` is left to pydantic, and up to ``NESTING`` pydantic takes it."""
    coco.CocoAnnotation.model_validate_json(nested(coco.NESTING - 1))  # one more: the object
    assert coco._fast(coco.CocoAnnotation, [nested(coco.NESTING - 1)])[0] is not None
    deep = nested(coco.NESTING + 100)
    with pytest.raises(ValidationError):
        coco.CocoAnnotation.model_validate_json(deep)
    left, taken = coco._fast(coco.CocoAnnotation, [deep, nested(2)])
    assert left is None and taken is not None


# -- whole files read the same with msgspec and without ---------------------------------------


def read_both_ways(path: Path, monkeypatch):
    """(annotations, problems) or the problems raised, with msgspec and then without."""
    results = []
    for use in (True, False):
        with monkeypatch.context() as mp:
            if not use:
                mp.setattr(coco_scan, "msgspec", None)
            try:
                parts, problems, _ = read_by_parts(path)
                results.append((parts, problems))
            except AnnotationError as exc:
                results.append(exc.problems)
    return results


def assert_same_both_ways(path: Path, monkeypatch):
    fast, slow = read_both_ways(path, monkeypatch)
    if isinstance(fast, list):
        assert fast == slow
        return
    assert len(fast[0]) == len(slow[0])
    for a, b in zip(fast[0], slow[0], strict=True):
        assert_same(a, b)
    assert fast[1] == slow[1]


@pytest.mark.parametrize(
    "path", sorted(EXAMPLES.glob("*/*.json")), ids=lambda p: f"{p.parent.name}/{p.name}"
)
def test_examples_read_the_same_with_and_without_msgspec(path, monkeypatch):
    assert_same_both_ways(path, monkeypatch)


def test_a_deeply_nested_annotation_fails_alike(tmp_path, monkeypatch):
    doc = sample_doc()
    doc["annotations"][0]["extra"] = json.loads(b"[" * 300 + b"]" * 300)
    path = tmp_path / "instances.json"
    path.write_text(json.dumps(doc))
    assert_same_both_ways(path, monkeypatch)
    parts, _, _ = read_by_parts(path)
    assert [(e.path, e.code) for e in parts[0].errors] == [("annotations[0]", "PM001")]


@settings(
    max_examples=150,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture],
)
@given(data=st.data())
def test_mutated_files_read_the_same_with_and_without_msgspec(tmp_path_factory, monkeypatch, data):
    doc = sample_doc()
    mutate(doc, data, json_values | numbers)
    form = data.draw(st.sampled_from(["pretty", "one-line", "crlf", "bom"]), label="form")
    path = tmp_path_factory.mktemp("mutated") / "instances.json"
    path.write_bytes(variants(doc)[form])
    assert_same_both_ways(path, monkeypatch)


def test_a_part_decodes_only_its_own_annotations(tmp_path, monkeypatch):
    """With msgspec the index decodes no annotation that names an image, and a part only the
    annotations of its image."""
    path = tmp_path / "instances.json"
    doc = sample_doc()
    doc["annotations"].append({"image_id": 404, "category_id": 1, "segmentation": []})
    path.write_text(json.dumps(doc, indent=1))
    seen = []
    real = coco._fast

    def spy(model, elements):
        seen.extend(json.loads(e).get("id", "?") for e in elements)
        return real(model, elements)

    monkeypatch.setattr(coco, "_fast", spy)
    found = coco.index(path, "k", tmp_path)
    assert seen == [7, "b"]  # the images' records
    seen.clear()
    coco.load_part(path, "k", tmp_path, found.images[1])
    assert seen == [4, "?"]


# -- the other shortcuts ----------------------------------------------------------------------


def key_by_rules(file_key: str, image_name: str) -> str:
    """The output name, path part by path part (image_key's rules, without its shortcut)."""
    name = PureWindowsPath(image_name).as_posix() if "\\" in image_name else image_name
    path = PurePosixPath(name)
    if path.is_absolute() or ".." in path.parts or re.match(r"^[A-Za-z]:", name):
        raise ValueError("leads outside the output folder")
    parts = [p for p in path.parts if p not in ("", ".")]
    if not parts:
        raise ValueError("names no file")
    if any(any(ord(c) < 32 for c in p) or len(p.encode("utf-8", "replace")) > 240 for p in parts):
        raise ValueError("cannot be a file name (a control character, or a part over 240 bytes)")
    folder = PurePosixPath(file_key).parent
    last = PurePosixPath(parts[-1])
    stem = PurePosixPath(*parts[:-1], last.stem if last.suffix else last.name)
    return (folder / stem).as_posix() if str(folder) != "." else stem.as_posix()


def outcome(f, *args):
    try:
        return f(*args)
    except ValueError as exc:
        return f"ValueError: {exc}"


names = st.text(st.sampled_from("ab./\\:C \x01é"), max_size=12) | st.sampled_from(
    ["img_000001.jpg", "x" * 61, "é" * 61 + ".jpg", "..x", "...x", ".jpg", "a.", "C:x.jpg"]
)


@settings(max_examples=1500, deadline=None)
@given(file_key=st.sampled_from(["coco", "sub/coco", "/abs/coco", "//x", "./c", "a/"]), name=names)
def test_image_keys_follow_the_rules(file_key, name):
    assert outcome(image_key, file_key, name) == outcome(key_by_rules, file_key, name)


separators = st.sampled_from([",", ", ", ",\n", " ,", "\n,\n  ", ",\r\n", "\t,"])


@settings(max_examples=300, deadline=None)
@given(
    elements=st.lists(json_values | st.builds(dict, id=st.integers(0, 9)), max_size=6),
    between=st.lists(separators, min_size=5, max_size=5),
    same=st.booleans(),
    edges=st.sampled_from(["", " ", "\n  "]),
)
def test_element_spans_are_where_the_standard_library_finds_them(elements, between, same, edges):
    """msgspec's lengths chained at once (elements written with the same separator) or one
    by one give the spans the standard library's scanner finds element by element."""
    between = [between[0]] * 5 if same else between
    body = "".join(
        json.dumps(e) + (between[k] if k < len(elements) - 1 else "")
        for k, e in enumerate(elements)
    )
    text = f'{{"images": [{edges}{body}{edges}], "annotations": [{body}], "categories": []}}'
    data = text.encode()
    fast = coco_scan.scan(data)
    slow_spans, slow_ids = coco_scan._scan_python(data)
    for section in ("images", "annotations"):
        assert getattr(fast, section).spans[:, :2].tolist() == slow_spans[section].tolist()


@settings(max_examples=300, deadline=None)
@given(text=st.text(st.sampled_from("ab{,\n "), min_size=1, max_size=80), data=st.data())
def test_line_breaks_found_at_once_place_elements_as_counted_step_by_step(text, data):
    """Lines and columns of offsets in a file of ``\\n`` lines, both ways, against counting
    the text before each offset."""
    starts = sorted(data.draw(st.sets(st.integers(0, len(text) - 1), min_size=1), label="at"))
    truth = (
        [text[:at].count("\n") + 1 for at in starts],
        [at - text.rfind("\n", 0, at) for at in starts],
    )
    offsets = np.array(starts, dtype=np.int64)
    assert coco_scan._positions_by_breaks(text.encode(), offsets) == truth
    assert coco_scan._positions_by_steps(text.encode(), offsets, True, False) == truth


def test_images_of_a_file_given_by_a_relative_path_resolve(tmp_path, monkeypatch):
    (tmp_path / "sub").mkdir()
    monkeypatch.chdir(tmp_path)
    assert resolve_image(Path("a.json"), "x.jpg", Path(".")) == tmp_path.resolve() / "x.jpg"
    assert resolve_image(Path("sub/a.json"), "y/x.jpg", Path(".")) == (
        tmp_path.resolve() / "sub" / "y" / "x.jpg"
    )
    assert resolve_image(Path("sub/a.json"), "../../x.jpg", Path(".")) is None
