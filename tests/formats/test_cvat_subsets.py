"""CVAT for images project exports: the subset is part of the output name when the images of a
file span more than one subset; output names are unique in a file."""

from __future__ import annotations

import pytest
from click.testing import CliRunner

from polymask.cli.main import cli
from polymask.errors import AnnotationError
from polymask.formats import InputFile, load_annotations
from tests.conftest import REPO

PROJECT = REPO / "tests" / "formats" / "cvat" / "valid" / "project_subsets.xml"


def _images(tmp_path, *images: tuple[str, str | None], name: str = "annotations.xml"):
    """A CVAT for images file of empty 8x6 images, each (name, subset or None)."""
    path = tmp_path / name
    path.parent.mkdir(parents=True, exist_ok=True)
    elements = "".join(
        f'<image id="{i}" name="{n}"'
        + (f' subset="{s}" task_id="{i}"' if s else "")
        + ' width="8" height="6"></image>\n'
        for i, (n, s) in enumerate(images)
    )
    path.write_text(
        f'<?xml version="1.0" encoding="utf-8"?>\n<annotations>\n{elements}</annotations>\n'
    )
    return path


def test_the_same_name_in_two_subsets_gives_two_masks():
    """project_subsets.xml: street_01.jpg is in Train and in Test, with different shapes."""
    images = {ann.key: ann for ann in load_annotations(PROJECT)}
    assert sorted(images) == ["Test/street_01", "Train/street_01", "Train/street_02"]
    assert [s.label for s in images["Train/street_01"].shapes] == ["road"]
    assert [s.label for s in images["Test/street_01"].shapes] == ["car"]


def test_subset_names_sit_below_the_folder_of_the_file(tmp_path):
    path = _images(tmp_path, ("a.jpg", "Train"), ("a.jpg", "Validation"), name="cvat/export.xml")
    keys = [ann.key for ann in load_annotations(InputFile(path, tmp_path), "cvat")]
    assert keys == ["cvat/Train/a", "cvat/Validation/a"]


@pytest.mark.parametrize(
    "images",
    [
        [("a.jpg", None), ("b.jpg", None)],  # a task export
        [("a.jpg", "Train"), ("b.jpg", "Train")],  # a project of one subset
    ],
)
def test_one_subset_keeps_the_plain_names(tmp_path, images):
    keys = [ann.key for ann in load_annotations(_images(tmp_path, *images), "cvat")]
    assert keys == ["a", "b"]


def test_a_duplicate_output_name_is_an_error_of_the_second_image(tmp_path):
    path = _images(tmp_path, ("x/a.jpg", "Train"), ("x/a.png", "Train"), ("b.jpg", "Test"))
    problems: list = []
    images = load_annotations(path, "cvat", problems=problems)
    assert problems == []
    assert [(a.key, len(a.errors)) for a in images] == [
        ("Train/x/a", 0),
        ("annotations/image[2]", 1),  # no output name of its own
        ("Test/b", 0),
    ]
    (error,) = images[1].errors
    assert error.path == "/annotations/image[2]/@name" and error.line == 4
    assert error.message == (
        "image 'Train/x/a.png' has the output name 'Train/x/a' of /annotations/image[1] (line 3)"
    )
    with pytest.raises(AnnotationError) as raised:
        load_annotations(path, "cvat")
    assert raised.value.problems == [error]


def test_a_subset_that_leads_outside_the_output_folder_is_refused(tmp_path):
    path = _images(tmp_path, ("a.jpg", "../up"), ("a.jpg", "Train"))
    problems: list = []
    escaping, kept = load_annotations(path, "cvat", problems=problems)
    assert "leads outside the output folder" in escaping.errors[0].message
    assert (kept.key, kept.errors) == ("Train/a", ())


def test_rasterize_writes_one_folder_per_subset(tmp_path):
    out = tmp_path / "masks"
    result = CliRunner().invoke(cli, ["rasterize", str(PROJECT), "-o", str(out), "-j1"])
    assert result.exit_code == 0, result.output
    written = sorted(p.relative_to(out).as_posix() for p in out.rglob("*.png"))
    assert written == ["Test/street_01.png", "Train/street_01.png", "Train/street_02.png"]
