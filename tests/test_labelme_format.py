"""The LabelMe schema: what loads, and the precise problems reported for what does not."""

from __future__ import annotations

import base64
import io
import json
import struct
import zlib

import numpy as np
import pytest
from PIL import Image

from polymask.errors import AnnotationError
from polymask.formats import InputFile, load_annotations
from tests.helpers import labelme_doc, labelme_shape, write_labelme

SQUARE = [(1, 1), (8, 1), (8, 8), (1, 8)]


def problems_of(tmp_path, doc, name="a.json"):
    path = tmp_path / name
    path.write_text(json.dumps(doc, indent=2) if not isinstance(doc, str) else doc)
    with pytest.raises(AnnotationError) as err:
        load_annotations(path)
    return err.value.problems


def png_b64(array) -> str:
    buf = io.BytesIO()
    Image.fromarray(array).save(buf, "PNG")
    return base64.b64encode(buf.getvalue()).decode()


def test_every_shape_type_loads(tmp_path):
    patch = np.zeros((3, 3), np.uint8)
    patch[1, 1] = 255
    shapes = [
        labelme_shape("a", SQUARE),
        labelme_shape("a", [(1, 1), (5, 5)], "rectangle"),
        labelme_shape("a", [(5, 5), (7, 5)], "circle"),
        labelme_shape("a", [(1, 1), (5, 5)], "line"),
        labelme_shape("a", [(1, 1), (5, 5), (9, 1)], "linestrip"),
        labelme_shape("a", [(3, 3)], "point"),
        labelme_shape("a", [(1, 1), (5, 1), (5, 5), (1, 5)], "oriented_rectangle"),
        labelme_shape("a", [(2, 2), (4, 4)], "mask", mask=png_b64(patch)),
        {"label": "old", "points": SQUARE},  # LabelMe 3: no shape_type means polygon
    ]
    (ann,) = load_annotations(write_labelme(tmp_path / "a.json", shapes))
    kinds = [s.kind for s in ann.shapes]
    assert kinds == [
        "polygon",
        "rectangle",
        "circle",
        "line",
        "linestrip",
        "point",
        "polygon",
        "mask",
        "polygon",
    ]
    assert ann.shapes[7].mask.tolist() == [[False] * 3, [False, True, False], [False] * 3]
    assert (ann.width, ann.height, ann.key) == (40, 30, "a")


@pytest.mark.parametrize(
    "shape, path, words",
    [
        (labelme_shape("a", [(1, 1), (2, 2)]), "shapes[1].points", "at least 3 points, got 2"),
        (labelme_shape("a", SQUARE[:3], "rectangle"), "shapes[1].points", "exactly 2 points"),
        (labelme_shape("a", [(1, 1)], "circle"), "shapes[1].points", "exactly 2 points"),
        (labelme_shape("a", SQUARE, "hexagon"), "shapes[1]", "hexagon"),
        (labelme_shape("", SQUARE), "shapes[1].label", "at least 1 character"),
        (labelme_shape("a", [(1, 1), (2, "x"), (3, 1)]), "shapes[1].points[1][1]", "number"),
        (labelme_shape("a", [(1, 1), (2, 1e30), (3, 1)]), "shapes[1].points[1][1]", "less than"),
    ],
)
def test_bad_shape_is_named_by_json_path(tmp_path, shape, path, words):
    doc = labelme_doc([labelme_shape("a", SQUARE), shape])
    problems = problems_of(tmp_path, doc)
    assert [p.path for p in problems] == [path]
    assert words in problems[0].message
    assert problems[0].file.endswith("a.json") and problems[0].line is not None


def test_non_finite_coordinates_refused(tmp_path):
    text = json.dumps(labelme_doc([labelme_shape("a", SQUARE)])).replace("8", "NaN", 1)
    problems = problems_of(tmp_path, text)
    assert problems[0].path.startswith("shapes[0].points")


def test_invalid_json_names_line_and_column(tmp_path):
    (problem,) = problems_of(tmp_path, '{\n  "shapes": [\n    {"label": "a",,}\n  ]\n}')
    assert (problem.line, problem.column) == (3, 19)
    assert problem.message.startswith("invalid JSON")


def test_line_numbers_point_at_the_value(tmp_path):
    doc = labelme_doc([labelme_shape("a", SQUARE), labelme_shape("a", [(1, 1), (2, 2)])])
    (problem,) = problems_of(tmp_path, doc)
    lines = json.dumps(doc, indent=2).splitlines()
    assert lines[problem.line - 1].strip() == '"points": ['
    assert sum('"points"' in line for line in lines[: problem.line]) == 2


@pytest.mark.parametrize("size", [(0, 10), (10, -1), (200_000, 10), (40_000, 40_000)])
def test_absurd_sizes_refused_before_allocating(tmp_path, size):
    doc = labelme_doc([labelme_shape("a", SQUARE)], width=size[0], height=size[1])
    problems = problems_of(tmp_path, doc)
    assert problems and all(p.path in ("imageWidth", "imageHeight", "") for p in problems)


def test_missing_fields(tmp_path):
    doc = labelme_doc([labelme_shape("a", SQUARE)])
    del doc["imagePath"]
    del doc["shapes"][0]["points"]
    paths = {p.path: p.message for p in problems_of(tmp_path, doc)}
    assert paths == {
        "shapes[0].points": "required field is missing",
        "imagePath": "required field is missing",
    }


def test_image_data_not_an_image(tmp_path):
    doc = labelme_doc([labelme_shape("a", SQUARE)], imageData=base64.b64encode(b"hello").decode())
    (problem,) = problems_of(tmp_path, doc)
    assert problem.path == "imageData" and "not an image" in problem.message
    doc["imageData"] = "%%%not base64"
    (problem,) = problems_of(tmp_path, doc)
    assert "base64" in problem.message


def bomb_png(width, height) -> bytes:
    """A PNG whose header declares a huge size (its pixel data is never reached)."""

    def chunk(kind, data):
        return (
            struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))
        )

    ihdr = struct.pack(">IIBBBBB", width, height, 8, 0, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IDAT", zlib.compress(b"\0" * 64))


def test_decompression_bomb_refused(tmp_path):
    data = base64.b64encode(bomb_png(60_000, 60_000)).decode()
    doc = labelme_doc([labelme_shape("a", SQUARE)], imageData=data)
    (problem,) = problems_of(tmp_path, doc)
    assert problem.path == "imageData" and "too large" in problem.message
    mask = labelme_shape("a", [(0, 0), (5, 5)], "mask", mask=data)
    problems = problems_of(tmp_path, labelme_doc([mask]))
    assert problems[0].path == "shapes[0].mask"


def test_embedded_image_size_must_agree(tmp_path):
    data = png_b64(np.zeros((30, 41), np.uint8))
    (problem,) = problems_of(tmp_path, labelme_doc([], imageData=data))
    assert problem.path == "imageData" and "41x30" in problem.message


def test_size_read_from_the_image_when_not_declared(tmp_path):
    Image.new("RGB", (17, 11)).save(tmp_path / "img.jpg")
    doc = labelme_doc([labelme_shape("a", SQUARE)])
    del doc["imageWidth"], doc["imageHeight"]
    path = tmp_path / "a.json"
    path.write_text(json.dumps(doc))
    (ann,) = load_annotations(path)
    assert (ann.width, ann.height) == (17, 11)


def test_image_path_escaping_the_dataset_is_never_opened(tmp_path):
    Image.new("RGB", (17, 11)).save(tmp_path / "secret.jpg")
    doc = labelme_doc([labelme_shape("a", SQUARE)], image_path="../secret.jpg")
    del doc["imageWidth"], doc["imageHeight"]
    path = write_labelme(tmp_path / "data" / "a.json", [])
    path.write_text(json.dumps(doc))
    with pytest.raises(AnnotationError) as err:
        load_annotations(InputFile(path, tmp_path / "data"))
    assert err.value.problems[0].path == "imagePath"
    assert "outside the dataset folder" in err.value.problems[0].message


def test_symlinks_are_followed_before_judging_the_image_path(tmp_path):
    """A link inside the dataset to a file outside it is refused; a dataset reached through a
    linked folder, or a prefix of another folder's name, is judged by where it really is."""
    from polymask.formats.common import resolve_image

    Image.new("RGB", (5, 5)).save(tmp_path / "secret.jpg")
    data = tmp_path / "data"
    data.mkdir()
    (data / "ok.jpg").write_bytes(b"")
    (data / "leak.jpg").symlink_to(tmp_path / "secret.jpg")
    (tmp_path / "data-other").mkdir()
    (tmp_path / "data-other" / "x.jpg").write_bytes(b"")
    (tmp_path / "link").symlink_to(data)
    source = data / "a.json"
    assert resolve_image(source, "leak.jpg", data) is None
    assert resolve_image(source, "../data-other/x.jpg", data) is None
    assert resolve_image(source, "ok.jpg", data) == (data / "ok.jpg").resolve()
    via_link = tmp_path / "link" / "a.json"
    assert resolve_image(via_link, "ok.jpg", tmp_path / "link") == (data / "ok.jpg").resolve()
    assert resolve_image(via_link, "leak.jpg", tmp_path / "link") is None


def test_windows_image_path(tmp_path):
    (tmp_path / "img").mkdir()
    Image.new("RGB", (9, 7)).save(tmp_path / "img" / "a.jpg")
    doc = labelme_doc([], image_path="img\\a.jpg")
    del doc["imageWidth"], doc["imageHeight"]
    path = tmp_path / "a.json"
    path.write_text(json.dumps(doc))
    (ann,) = load_annotations(path)
    assert (ann.width, ann.height) == (9, 7)


def test_strict_mode_refuses_coercion(tmp_path):
    doc = labelme_doc([labelme_shape("a", SQUARE)])
    doc["imageWidth"] = "40"
    path = tmp_path / "a.json"
    path.write_text(json.dumps(doc))
    assert load_annotations(path)[0].width == 40
    with pytest.raises(AnnotationError) as err:
        load_annotations(path, strict=True)
    assert err.value.problems[0].path == "imageWidth"
