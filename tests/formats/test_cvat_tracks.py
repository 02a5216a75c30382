"""CVAT tracks (CVAT for video 1.1 files, and tracks in CVAT for images files): the shapes each
frame gets, stated by hand from the XML."""

from __future__ import annotations

import numpy as np
import pytest
from click.testing import CliRunner

from polymask.cli.main import cli
from polymask.errors import AnnotationError
from polymask.formats import load_annotations
from polymask.formats.cvat import MAX_FRAMES
from polymask.formats.options import FormatOptions
from polymask.io.masks import read_mask
from tests.conftest import REPO

VIDEO = REPO / "tests" / "formats" / "cvat" / "valid" / "video.xml"
CAR0 = ("car", "rectangle", ((2.0, 4.0), (10.0, 10.0)), "track 0")
CAR1 = ("car", "rectangle", ((4.0, 4.0), (12.0, 10.0)), "track 0")
CAR2 = ("car", "rectangle", ((6.0, 4.0), (14.0, 10.0)), "track 0")
PERSON = ("person", "polygon", ((20.0, 2.0), (28.0, 2.0), (24.0, 20.0)), "track 1")


def _load(path, **kw):
    """The images of a file by output name, and the errors of no image."""
    problems: list = []
    images = load_annotations(path, "cvat", problems=problems, **kw)
    return {ann.key: ann for ann in images}, problems


def _drawn(ann) -> list[tuple]:
    return [(s.label, s.kind, s.points, s.group) for s in ann.shapes]


def _box(frame: int, x: int, outside: int = 0, tag: str = "box") -> str:
    return (
        f'<{tag} frame="{frame}" keyframe="1" outside="{outside}" occluded="0" '
        f'xtl="{x}" ytl="1" xbr="{x + 2}" ybr="3" z_order="0"></{tag}>'
    )


def _video(tmp_path, tracks: str, meta: str = "", name: str = "video.xml"):
    path = tmp_path / name
    path.write_text(
        f'<?xml version="1.0" encoding="utf-8"?>\n<annotations>\n<version>1.1</version>\n'
        f"<meta>{meta}</meta>\n{tracks}\n</annotations>\n"
    )
    return path


def _task(size: int, start: int | None = None, stop: int | None = None) -> str:
    frames = (
        ""
        if start is None
        else f"<start_frame>{start}</start_frame><stop_frame>{stop}</stop_frame>"
    )
    return (
        f"<task><id>1</id><size>{size}</size><mode>interpolation</mode>{frames}"
        "<original_size><width>20</width><height>10</height></original_size></task>"
    )


def test_each_frame_takes_the_shape_the_export_gives_for_it():
    """video.xml: the car is in frames 0-2 (frame 1 interpolated by CVAT) and leaves at 3; the
    person comes in at 2 and stays to the last frame."""
    frames, problems = _load(VIDEO)
    assert problems == []
    assert {key: _drawn(ann) for key, ann in frames.items()} == {
        "frame_000000": [CAR0],
        "frame_000001": [CAR1],
        "frame_000002": [CAR2, PERSON],
        "frame_000003": [PERSON],
        "frame_000004": [PERSON],
    }
    assert all((a.width, a.height, a.errors) == (32, 24, ()) for a in frames.values())
    (car,) = frames["frame_000001"].shapes
    assert car.where == "/annotations/track[1]/box[2]"
    assert frames["frame_000002"].shapes[1].z == 1.0


def test_frames_the_export_leaves_out_hold_the_shape_before_them_until_outside(tmp_path):
    """Keyframes only: A at 1, B at 3, outside at 5; C from 2 with no end. Frames 0-6."""
    tracks = (
        f'<track id="4" label="car">{_box(1, 0)}{_box(3, 5)}{_box(5, 5, outside=1)}</track>'
        f'<track id="9" label="bus">{_box(2, 10)}</track>'
    )
    frames, problems = _load(_video(tmp_path, tracks, _task(7)))
    assert problems == []
    a = ("car", "rectangle", ((0.0, 1.0), (2.0, 3.0)), "track 4")
    b = ("car", "rectangle", ((5.0, 1.0), (7.0, 3.0)), "track 4")
    c = ("bus", "rectangle", ((10.0, 1.0), (12.0, 3.0)), "track 9")
    assert [_drawn(frames[f"frame_{n:06d}"]) for n in range(7)] == [
        [],
        [a],
        [a, c],
        [b, c],
        [b, c],
        [c],
        [c],
    ]


@pytest.mark.parametrize(
    ("meta", "named", "expected"),
    [
        # a job of frames 10-13 (its start and stop hold the frames named)
        (_task(4, 10, 13), (10, 11), range(10, 14)),
        # a trimmed video: start and stop count source frames; frames are numbered from 0
        (_task(5, 100, 104), (0, 2), range(0, 5)),
        # CVAT 2 job export: the size beside the <job>, no range: the frames named
        (
            "<job><id>3</id><mode>interpolation</mode></job>"
            "<original_size><width>20</width><height>10</height></original_size>",
            (3, 5),
            range(3, 6),
        ),
    ],
)
def test_the_frames_are_the_first_range_that_holds_every_frame_named(
    tmp_path, meta, named, expected
):
    boxes = "".join(_box(n, 1) for n in named)
    frames, problems = _load(_video(tmp_path, f'<track id="0" label="car">{boxes}</track>', meta))
    assert problems == []
    assert list(frames) == [f"frame_{n:06d}" for n in expected]


def test_a_video_with_no_track_still_has_its_empty_frames(tmp_path):
    frames, _ = _load(_video(tmp_path, "", _task(3)))
    assert list(frames) == ["frame_000000", "frame_000001", "frame_000002"]
    assert all(ann.shapes == () for ann in frames.values())


def test_the_frame_size_comes_from_meta_else_from_the_image_size_option(tmp_path):
    path = _video(tmp_path, f'<track id="0" label="car">{_box(0, 1)}</track>')
    frames, problems = _load(path)
    assert frames == {}
    assert [p.message for p in problems] == [
        "the video: no <original_size> in <meta> gives its frame size; give --image-size"
    ]
    with pytest.raises(AnnotationError, match="give --image-size"):
        load_annotations(path, "cvat")
    (only,) = load_annotations(path, "cvat", options=FormatOptions(image_size=(8, 6)))
    assert (only.key, only.width, only.height) == ("frame_000000", 8, 6)


def test_a_track_in_an_image_export_draws_on_the_images_whose_id_is_its_frame(tmp_path):
    path = tmp_path / "images.xml"
    path.write_text(
        '<?xml version="1.0" encoding="utf-8"?>\n<annotations>\n<version>1.1</version>\n'
        '<image id="0" name="a.jpg" width="20" height="10"></image>\n'
        '<image id="1" name="b.jpg" width="20" height="10">'
        '<polygon label="road" points="0,5;20,5;20,10" z_order="0"></polygon></image>\n'
        '<image id="2" name="c.jpg" width="20" height="10"></image>\n'
        '<image id="3" name="d.jpg" width="20" height="10"></image>\n'
        f'<track id="2" label="car">{_box(1, 4)}{_box(3, 4, outside=1)}</track>\n'
        "</annotations>\n"
    )
    frames, problems = _load(path)
    assert problems == []
    box = ("car", "rectangle", ((4.0, 1.0), (6.0, 3.0)), "track 2")
    road = ("road", "polygon", ((0.0, 5.0), (20.0, 5.0), (20.0, 10.0)), None)
    assert {k: _drawn(a) for k, a in frames.items()} == {
        "a": [],
        "b": [road, box],
        "c": [box],
        "d": [],
    }


def test_track_frames_that_no_image_has_are_an_error_of_no_image(tmp_path):
    path = tmp_path / "images.xml"
    path.write_text(
        "<annotations>\n"
        '<image id="0" name="a.jpg" width="20" height="10"></image>\n'
        '<image id="1" name="b.jpg" width="20" height="10"></image>\n'
        f'<track id="0" label="car">{_box(0, 1)}{_box(5, 1)}</track>\n'
        "</annotations>\n"
    )
    frames, problems = _load(path)
    box = ("car", "rectangle", ((1.0, 1.0), (3.0, 3.0)), "track 0")
    assert [_drawn(frames["a"]), _drawn(frames["b"])] == [[box], [box]]
    assert [(p.path, p.line, p.message) for p in problems] == [
        ("/annotations/track[1]", 4, "no <image> has the id of frame 5 of this track")
    ]
    with pytest.raises(AnnotationError, match="frame 5 of this track"):
        load_annotations(path, "cvat")


def test_a_bad_track_shape_fails_the_frames_it_covers_and_no_others(tmp_path):
    bad = _box(2, 1).replace('xtl="1"', 'xtl="nan"')
    path = _video(tmp_path, f'<track id="0" label="car">{_box(0, 1)}{bad}</track>', _task(4))
    frames, problems = _load(path)
    assert problems == []
    assert [len(frames[f"frame_{n:06d}"].errors) for n in range(4)] == [0, 0, 1, 1]
    assert frames["frame_000003"].errors[0].path == "/annotations/track[1]/box[2]/@xtl"
    assert len(frames["frame_000001"].shapes) == 1
    with pytest.raises(AnnotationError) as raised:  # reported once, not once per frame
        load_annotations(path, "cvat")
    assert [p.path for p in raised.value.problems] == ["/annotations/track[1]/box[2]/@xtl"]


def test_a_track_without_a_label_fails_every_frame_it_reaches(tmp_path):
    path = _video(tmp_path, f'<track id="0">{_box(1, 1)}{_box(2, 1, outside=1)}</track>', _task(4))
    frames, _ = _load(path)
    failed = [key for key, ann in frames.items() if ann.errors]
    assert failed == ["frame_000001", "frame_000002"]
    assert frames["frame_000001"].errors[0].path == "/annotations/track[1]/@label"


def test_a_frame_given_twice_in_one_track_is_an_error(tmp_path):
    path = _video(tmp_path, f'<track id="0" label="car">{_box(0, 1)}{_box(0, 5)}</track>', _task(2))
    frames, _ = _load(path)
    (error,) = frames["frame_000000"].errors
    assert error.path == "/annotations/track[1]/box[2]/@frame"
    assert "given twice" in error.message and "/annotations/track[1]/box[1]" in error.message
    assert frames["frame_000001"].errors == (error,)  # the first shape would have covered it


def test_skeleton_tracks_are_refused_on_their_frames(tmp_path):
    path = _video(
        tmp_path, f'<track id="0" label="hand">{_box(1, 1, tag="skeleton")}</track>', _task(2)
    )
    frames, _ = _load(path)
    assert frames["frame_000000"].errors == ()
    assert "<skeleton> is not supported" in frames["frame_000001"].errors[0].message


def test_a_mask_track_is_decoded_and_held(tmp_path):
    """rle="1, 2, 1" over a 2x2 box at (3, 4): background, two set pixels, background."""
    mask = (
        '<mask frame="0" keyframe="1" outside="0" occluded="0" rle="1, 2, 1" left="3" top="4" '
        'width="2" height="2" z_order="0"></mask>'
    )
    frames, _ = _load(_video(tmp_path, f'<track id="0" label="car">{mask}</track>', _task(2)))
    for key in ("frame_000000", "frame_000001"):
        (shape,) = frames[key].shapes
        assert shape.points == ((3.0, 4.0),)
        np.testing.assert_array_equal(shape.mask, [[False, True], [True, False]])


def test_a_project_video_export_keeps_each_task_apart_by_subset(tmp_path):
    def task(task_id: int, subset: str) -> str:
        return (
            f"<task><id>{task_id}</id><size>2</size><mode>interpolation</mode>"
            f"<subset>{subset}</subset><original_size><width>20</width><height>10</height>"
            "</original_size></task>"
        )

    meta = f"<project><id>1</id><tasks>{task(5, 'Train')}{task(6, 'Test')}</tasks></project>"
    tracks = (
        f'<track id="0" label="car" task_id="5" subset="Train">{_box(0, 1)}</track>'
        f'<track id="1" label="car" task_id="6" subset="Test">{_box(1, 7)}</track>'
    )
    frames, problems = _load(_video(tmp_path, tracks, meta))
    assert problems == []
    assert {k: [s.points[0][0] for s in a.shapes] for k, a in frames.items()} == {
        "Train/frame_000000": [1.0],
        "Train/frame_000001": [1.0],
        "Test/frame_000000": [],
        "Test/frame_000001": [7.0],
    }


def test_rasterize_writes_a_mask_for_every_frame(tmp_path):
    labels = tmp_path / "labels.txt"
    labels.write_text("__ignore__\n_background_\ncar\nperson\n")
    out = tmp_path / "masks"
    args = ["rasterize", str(VIDEO), "-o", str(out), "--labels", str(labels), "-j1"]
    result = CliRunner().invoke(cli, args)
    assert result.exit_code == 0, result.output
    # frame 1: the car box (4, 4)-(12, 10) takes the pixels whose centres are inside it
    expected = np.zeros((24, 32), dtype=np.uint8)
    expected[4:10, 4:12] = 1
    np.testing.assert_array_equal(read_mask(out / "frame_000001.png"), expected)
    third = read_mask(out / "frame_000003.png")
    assert 1 not in third and third[3, 24] == 2  # the car left; the person is there


def test_a_frame_range_too_long_to_hold_is_refused_before_any_frame_is_made(tmp_path):
    boxes = _box(0, 1) + _box(10**9, 1)
    meta = "<original_size><width>20</width><height>10</height></original_size>"
    path = _video(tmp_path, f'<track id="0" label="car">{boxes}</track>', meta)
    frames, problems = _load(path)
    assert frames == {}
    assert [p.message for p in problems] == [
        f"the video: frames 0 to {10**9} are over {MAX_FRAMES} frames"
    ]
