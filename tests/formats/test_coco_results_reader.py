"""The COCO results reader, one detection at a time: what it keeps and what it names equals what
the schema gives for the whole list, and its memory stays a small multiple of the file.

The truth here is the schema itself: pydantic validating the whole list parsed by ``json.loads``
(the file read as any JSON is), whose values must come back from the compact form exactly and
whose errors must be the reader's problems, in order and place. Both ways of reading (msgspec,
and the standard library alone) are held to it, over mutated files and files that are not JSON.
"""

from __future__ import annotations

import json
import tracemalloc

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from polymask.errors import AnnotationError
from polymask.formats import coco_results, coco_scan
from polymask.formats.coco_results import CocoResultsFile, load_results
from tests.helpers import mutate


@pytest.fixture(params=["msgspec", "standard-library"])
def scanner(request, monkeypatch):
    """Run a test with both ways of reading a results file."""
    if request.param == "msgspec":
        if coco_scan.msgspec is None:
            pytest.skip("msgspec is not installed")
    else:
        monkeypatch.setattr(coco_scan, "msgspec", None)
    return request.param


def detections() -> list[dict]:
    return [
        {"image_id": 1, "category_id": 1, "score": 0.9, "bbox": [1, 1, 8, 8],
         "segmentation": [[1, 1, 9, 1, 9, 9, 1.25, 9.5]]},
        {"image_id": "a", "category_id": 3, "score": 0.8,
         "segmentation": {"size": [10, 10], "counts": "52203"}},
        {"image_id": 2, "category_id": 7, "score": 1,
         "segmentation": {"size": [4, 5], "counts": [3, 4, 13]}},
        {"image_id": 2, "category_id": 7, "score": 0.1, "extra": {"x": [1, 2]},
         "segmentation": []},
        {"image_id": 5, "category_id": 1, "score": 0.3,
         "segmentation": [[0, 0, 3, 0, 3, 3], [5.5, 5, 6, 5, 6, 6.125, 5, 6]]},
    ]  # fmt: skip


def kept(results) -> list[tuple]:
    """Every detection kept, in file order, as the values it gives back."""
    out = []
    for image_id, found in results.by_image.items():
        for d in found:
            if d.rle is not None:
                (h, w), counts = d.rle
                if not isinstance(counts, str):
                    counts = np.frombuffer(counts, dtype=np.uint32).tolist()
                seg = {"size": [h, w], "counts": counts}
            else:
                seg = [p.ravel().tolist() for p in coco_results._polygons(d)]
            out.append((d.index, image_id, d.category_id, d.score, seg))
    return sorted(out, key=lambda t: t[0])


def reference(text: str) -> tuple[list[tuple], list[str]]:
    """(the detections, "[i].path: message" of each error) as the schema gives them for the
    whole list: the valid elements validated again without the others."""
    raw = json.loads(text)
    bad, errors = set(), []
    try:
        CocoResultsFile.model_validate(raw)
    except Exception as exc:  # noqa: BLE001 (pydantic's ValidationError)
        for err in exc.errors(include_url=False):
            loc = [p for p in err["loc"] if p not in ("polygon-list", "rle-object")]
            bad.add(loc[0])
            errors.append((loc, err["type"], err["msg"]))
    good = [i for i in range(len(raw)) if i not in bad]
    valid = CocoResultsFile.model_validate([raw[i] for i in good]).root
    found = []
    for i, d in zip(good, valid, strict=True):
        seg = d.segmentation
        if not isinstance(seg, list):
            seg = {"size": list(seg.size), "counts": seg.counts}
        found.append((i, d.image_id, d.category_id, d.score, seg))
    return found, errors


def problems_as_reference(problems) -> list[tuple]:
    return [(p.path, p.message) for p in problems]


def reference_problems(errors) -> list[tuple]:
    out = []
    for loc, kind, msg in errors:
        path = "".join(f"[{p}]" if isinstance(p, int) else f".{p}" for p in loc)
        if kind == "missing":
            msg = "required field is missing"
            if loc[1:2] == ["segmentation"]:
                msg = "no segmentation: a box alone cannot be scored as a mask"
        out.append((path, msg.removeprefix("Value error, ")))
    return out


def test_the_kept_values_are_the_files(scanner, tmp_path):
    path = tmp_path / "results.json"
    text = json.dumps(detections(), indent=1)
    path.write_text(text)
    results = load_results(path)
    expected, errors = reference(text)
    assert errors == [] and results.problems == []
    assert kept(results) == expected
    polygons = results.by_image[5][0]
    assert polygons.sizes == (3, 4) and len(polygons.points) == 7 * 2 * 8  # float64 pairs
    assert results.by_image["a"][0].rle == ((10, 10), "52203")  # compressed: the string as is


json_values = st.recursive(
    st.none() | st.booleans() | st.integers(-3, 2**33) | st.floats() | st.text(max_size=4),
    lambda children: (
        st.lists(children, max_size=7) | st.dictionaries(st.text(max_size=4), children, max_size=3)
    ),
    max_leaves=8,
)


@settings(
    max_examples=200,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture],
)
@given(data=st.data())
def test_mutated_files_give_what_the_schema_gives(tmp_path_factory, scanner, data):
    """Whatever is changed in a file, the reader keeps the detections the schema takes, with
    their values, and names the others where the schema finds them wrong."""
    doc = detections()
    mutate(doc, data, json_values)
    text = json.dumps(doc, indent=data.draw(st.sampled_from([None, 2]), label="indent"))
    path = tmp_path_factory.mktemp("results") / "results.json"
    path.write_text(text)
    expected, errors = reference(text)
    results = load_results(path)
    assert kept(results) == expected
    assert problems_as_reference(results.problems) == reference_problems(errors)


@pytest.mark.parametrize(
    "text",
    [
        "",
        "[",
        "[1,]",
        '[{"image_id": 1}',
        '[{"image_id": 1} {"image_id": 2}]',
        "[]]",
        '[{"a": 1}]\n\n x',
        "[\n  1,\n  2,\n]",
        "[" * 3000 + "]" * 3000,
    ],
)
def test_a_file_that_is_not_json_is_named_as_json_names_it(scanner, tmp_path, text):
    path = tmp_path / "results.json"
    path.write_text(text)
    with pytest.raises(AnnotationError) as raised:
        load_results(path)
    (problem,) = raised.value.problems
    try:
        json.loads(text)
    except json.JSONDecodeError as exc:
        expected = (f"invalid JSON: {exc.msg}", exc.lineno, exc.colno)
    except RecursionError:
        expected = ("invalid JSON: nested too deeply", None, None)
    assert (problem.message, problem.line, problem.column) == expected
    assert problem.code == "PM001"


@pytest.mark.parametrize("text", ["{}", '{"image_id": 1}', "5", '"x"'])
def test_json_that_is_not_a_list_is_named(scanner, tmp_path, text):
    path = tmp_path / "results.json"
    path.write_text(text)
    with pytest.raises(AnnotationError) as raised:
        load_results(path)
    assert [p.message for p in raised.value.problems] == [coco_results.NOT_A_LIST]


def test_a_byte_order_mark_and_non_ascii_are_read(scanner, tmp_path):
    path = tmp_path / "results.json"
    doc = detections()
    doc[1]["image_id"] = "żółw ☃"
    path.write_bytes(b"\xef\xbb\xbf" + json.dumps(doc, ensure_ascii=False).encode())
    results = load_results(path)
    assert results.problems == [] and "żółw ☃" in results.by_image


def test_nan_and_infinite_scores_are_named(scanner, tmp_path):
    """JSON's standard library takes NaN and 1e400 (infinite); msgspec refuses the file then,
    and the detections are named as the schema names them."""
    path = tmp_path / "results.json"
    text = json.dumps(detections())
    text = text.replace('"score": 0.9', '"score": NaN').replace('"score": 0.3', '"score": 1e400')
    path.write_text(text)
    results = load_results(path)
    assert [(p.path, p.message) for p in results.problems] == [
        ("[0].score", "Input should be a finite number"),
        ("[4].score", "Input should be a finite number"),
    ]
    assert [t[0] for t in kept(results)] == [1, 2, 3]


def test_loading_holds_a_small_multiple_of_the_file(scanner, tmp_path):
    """Parsed whole into Python lists (and models) the detections took about ten times the
    file; read one at a time and kept compact, a few times at most."""
    rng = np.random.default_rng(0)
    doc = []
    for i in range(3000):
        xy = np.round(rng.uniform(0, 600, 2 * int(rng.integers(8, 40))), 2).tolist()
        doc.append(
            {
                "image_id": i // 20,
                "category_id": int(rng.integers(1, 90)),
                "segmentation": [xy],
                "bbox": [1.5, 2.5, 30.25, 40.75],
                "score": float(rng.random()),
            }
        )
    path = tmp_path / "results.json"
    path.write_text(json.dumps(doc, separators=(",", ":")))
    del doc
    tracemalloc.start()
    try:
        results = load_results(path)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert sum(map(len, results.by_image.values())) == 3000
    assert peak < 4 * path.stat().st_size
