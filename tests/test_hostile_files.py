"""Hostile files: tiny inputs that declare huge images, special files, absurd options.

Each must end in a named problem (the file and what is wrong) or a bounded run, never a
traceback or a machine out of memory, and the other files of the run are still processed.
Every command runs in its own process, whose peak memory is measured (``os.wait4``): a bound
on what a hostile input may cost, not a speed test.
"""

from __future__ import annotations

import base64
import io
import json
import os
import shutil
import struct
import subprocess
import sys
import tempfile
import time
import zlib
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from polymask.io.masks import write_png
from polymask.io.png import SIGNATURE, chunk
from polymask.limits import BUDGET_ENV, MAX_PIXELS, check_size

ONE_LINE_PROBLEMS = ("--workers", "1", "--output-format", "github")
"""score: one line per problem (its text report wraps long lines)."""
MAX_RSS_MB = 500
MAX_SECONDS = 10
HANG_SECONDS = 60
TIME = shutil.which("time", path="/usr/bin:/bin") or ""
pytestmark = pytest.mark.skipif(not TIME, reason="needs /usr/bin/time to measure peak memory")


@dataclass
class Run:
    code: int
    out: str
    err: str
    rss_mb: float
    seconds: float


def polymask(*args, env: dict[str, str] | None = None) -> Run:
    """``polymask ARGS`` in a fresh process: its exit code, output, peak RSS and wall time.

    The peak is measured by ``/usr/bin/time``, a small process between: a child started
    straight from this one would count this process's memory as its own (Linux carries the
    peak of the process that execs into the new program)."""
    with tempfile.TemporaryDirectory() as tmp:
        rss = Path(tmp) / "rss"
        with open(Path(tmp) / "out", "wb") as out, open(Path(tmp) / "err", "wb") as err:
            start = time.monotonic()
            proc = subprocess.Popen(
                [
                    TIME,
                    "-q",
                    "-f",
                    "%M",
                    "-o",
                    rss,
                    sys.executable,
                    "-m",
                    "polymask",
                    *map(str, args),
                ],
                stdin=subprocess.DEVNULL,
                stdout=out,
                stderr=err,
                env={**_inherited(), **(env or {})},
            )
            try:
                proc.wait(HANG_SECONDS)  # a blocked read fails the test, never hangs it
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
            seconds = time.monotonic() - start
        return Run(
            proc.returncode,
            (Path(tmp) / "out").read_text(),
            (Path(tmp) / "err").read_text(),
            int(rss.read_text().split()[-1]) / 1024 if rss.read_text().strip() else float("inf"),
            seconds,
        )


def _inherited() -> dict[str, str]:
    """This process's environment without the budget, which commands run in-process by other
    tests publish there."""
    return {k: v for k, v in os.environ.items() if k != BUDGET_ENV}


def rasterize(data: Path, tmp_path: Path, *extra) -> Run:
    """``polymask rasterize DATA -o TMP/masks EXTRA... --workers 1``, measured."""
    return polymask("rasterize", data, "-o", tmp_path / "masks", *extra, "--workers", "1")


def assert_bounded(run: Run, code: int, *named: str) -> None:
    """The exit code, within the memory and time bounds, no traceback, and each of ``named``
    on one line of the output together with what is wrong."""
    text = run.out + run.err
    assert "Traceback" not in text and "internal error" not in text, text
    assert run.code == code, text
    assert run.rss_mb < MAX_RSS_MB, f"{run.rss_mb:.0f} MB"
    assert run.seconds < MAX_SECONDS, f"{run.seconds:.1f} s"
    for part in named:
        assert any(part in line for line in text.splitlines()), (part, text)


# ---- hostile files, written small ---------------------------------------------------------------


def claimed_png(width: int, height: int) -> bytes:
    """A valid-looking 8-bit grayscale PNG header claiming ``width`` x ``height``, with an
    empty IDAT: 69 bytes."""
    ihdr = struct.pack(">IIBBBBB", width, height, 8, 0, 0, 0, 0)
    return (
        SIGNATURE + chunk(b"IHDR", ihdr) + chunk(b"IDAT", zlib.compress(b"")) + chunk(b"IEND", b"")
    )


def zero_png(width: int, height: int) -> bytes:
    """A real all-zero 8-bit PNG of any size, deflated from one reused block of zero rows, so
    a gigapixel costs about a megabyte of file and never a gigabyte of memory."""
    z = zlib.compressobj(9, zlib.DEFLATED, 15, 9, zlib.Z_RLE)
    rows_per_piece = max(1, (1 << 21) // (width + 1))
    piece = bytes((width + 1) * rows_per_piece)
    parts = []
    for start in range(0, height, rows_per_piece):
        parts.append(z.compress(piece[: (width + 1) * min(rows_per_piece, height - start)]))
    parts.append(z.flush())
    ihdr = struct.pack(">IIBBBBB", width, height, 8, 0, 0, 0, 0)
    idat = b"".join(parts)
    return SIGNATURE + chunk(b"IHDR", ihdr) + chunk(b"IDAT", idat) + chunk(b"IEND", b"")


@pytest.fixture(scope="module")
def gigapixel_png(tmp_path_factory) -> Path:
    path = tmp_path_factory.mktemp("giga") / "giga.png"
    path.write_bytes(zero_png(32768, 32768))
    return path


def labelme(path: Path, width: int | None, height: int | None, **extra) -> Path:
    doc = {
        "version": "5.4.1",
        "shapes": [
            {"label": "a", "points": [[1, 1], [8, 1], [8, 8]], "shape_type": "polygon"},
        ],
        "imagePath": extra.pop("imagePath", path.with_suffix(".jpg").name),
        "imageData": None,
        **extra,
    }
    if width is not None:
        doc["imageWidth"], doc["imageHeight"] = width, height
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(doc))
    return path


def good_masks(folder: Path, *names: str, size=(16, 12)) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    mask = np.zeros(size[::-1], np.uint8)
    mask[2:6, 3:9] = 1
    for name in names:
        write_png(folder / name, mask)


# ---- masks: stats and score ---------------------------------------------------------------------


def test_a_png_claiming_65535x65535_is_named_in_stats(tmp_path):
    good_masks(tmp_path / "masks", "good.png")
    (tmp_path / "masks" / "bomb.png").write_bytes(claimed_png(65535, 65535))
    run = polymask("stats", tmp_path / "masks", "--workers", "1", "--json", tmp_path / "s.json")
    assert_bounded(run, 2)
    report = json.loads((tmp_path / "s.json").read_text())
    assert report["images"] == 1  # the good mask
    (problem,) = report["problems"]
    assert problem["file"].endswith("bomb.png")
    assert "65535x65535 (4295 Mpx) exceeds the limit of 268 Mpx" in problem["message"]


@pytest.mark.parametrize("side", ["preds", "gt"])
def test_a_png_claiming_65535x65535_is_named_in_score(tmp_path, side):
    good_masks(tmp_path / "preds", "a.png", "b.png")
    good_masks(tmp_path / "gt", "a.png", "b.png")
    (tmp_path / side / "b.png").write_bytes(claimed_png(65535, 65535))
    run = polymask("score", tmp_path / "preds", tmp_path / "gt", *ONE_LINE_PROBLEMS)
    assert_bounded(run, 2, f"{side}/b.png")
    assert "exceeds the limit of 268 Mpx (the memory budget, --max-pixels)" in run.out + run.err


def test_a_gigapixel_mask_is_refused_from_its_header(tmp_path, gigapixel_png):
    assert gigapixel_png.stat().st_size < 2 << 20
    good_masks(tmp_path / "masks", "good.png")
    (tmp_path / "masks" / "giga.png").symlink_to(gigapixel_png)
    run = polymask("stats", tmp_path / "masks", "--workers", "1")
    assert_bounded(run, 2, "giga.png")
    good_masks(tmp_path / "gt", "giga.png")
    run = polymask("score", tmp_path / "masks", tmp_path / "gt", *ONE_LINE_PROBLEMS)
    assert_bounded(run, 2, "giga.png")


def test_pair_sizes_are_compared_before_either_mask_is_inflated(tmp_path, gigapixel_png):
    """Even within a budget raised past it, a gigapixel prediction for a small ground truth
    is refused from the headers."""
    (tmp_path / "preds").mkdir()
    (tmp_path / "preds" / "a.png").symlink_to(gigapixel_png)
    good_masks(tmp_path / "gt", "a.png")
    run = polymask(
        "score", tmp_path / "preds", tmp_path / "gt", *ONE_LINE_PROBLEMS, env={BUDGET_ENV: "2e9"}
    )
    assert run.code == 2 and BUDGET_ENV in run.err  # a bad value is a usage error
    run = polymask(
        "score",
        tmp_path / "preds",
        tmp_path / "gt",
        *ONE_LINE_PROBLEMS,
        env={BUDGET_ENV: str(2**31)},
    )
    assert_bounded(run, 2, "size 32768x32768 differs from the ground truth")


def test_a_huge_boundary_is_bounded_by_the_image(tmp_path):
    good_masks(tmp_path / "preds", "a.png")
    good_masks(tmp_path / "gt", "a.png")
    runs = [
        polymask(
            "score",
            tmp_path / "preds",
            tmp_path / "gt",
            "--boundary",
            d,
            "--workers",
            "1",
            "--json",
            tmp_path / f"{d}.json",
        )
        for d in (6, 100000)
    ]
    for run in runs:
        assert_bounded(run, 0)
    # half the shorter side already puts every pixel in the band: wider counts the same
    narrow, wide = (json.loads((tmp_path / f"{d}.json").read_text()) for d in (6, 100000))
    assert narrow["classes"] == wide["classes"]


# ---- annotations: declared sizes, embedded and referenced images --------------------------------


def test_a_declared_32768x32768_image_is_named_by_every_command(tmp_path):
    data = tmp_path / "data"
    bomb = labelme(data / "bomb.json", 32768, 32768)
    labelme(data / "good.json", 16, 12)
    assert bomb.stat().st_size < 300
    expected = "32768x32768 (1074 Mpx) exceeds the limit of 268 Mpx"
    run = polymask("stats", data, "--annotations", "--workers", "1", "--json", tmp_path / "s.json")
    assert_bounded(run, 2)
    report = json.loads((tmp_path / "s.json").read_text())
    assert report["images"] == 1
    assert [
        p["file"].endswith("bomb.json") and expected in p["message"] for p in report["problems"]
    ] == [True]
    run = rasterize(data, tmp_path, "--instances", tmp_path / "inst")
    assert_bounded(run, 1, "bomb.json")
    assert expected in run.out + run.err
    assert (tmp_path / "masks" / "good.png").is_file()
    run = polymask("validate", data, "--workers", "1")
    assert_bounded(run, 1, "bomb.json")


def test_the_budget_comes_from_the_environment_and_the_configuration(tmp_path):
    data = tmp_path / "data"
    labelme(data / "a.json", 16, 12)
    (tmp_path / ".git").mkdir()
    (tmp_path / "polymask.toml").write_text("max-pixels = 100\n")
    run = polymask("validate", data, "--workers", "1")
    assert_bounded(run, 1, "a.json")
    assert "16x12 (192 px) exceeds the limit of 100 px" in run.out
    run = polymask("validate", data, "--workers", "1", env={BUDGET_ENV: "192"})
    assert_bounded(run, 0)  # the environment overrides the project's file


def test_resolved_budget_is_published_for_the_readers(tmp_path, monkeypatch):
    from polymask.settings import resolve_settings

    monkeypatch.delenv(BUDGET_ENV, raising=False)
    assert resolve_settings({}).max_pixels == MAX_PIXELS
    assert resolve_settings({"max_pixels": 50}).max_pixels == 50
    assert os.environ[BUDGET_ENV] == "50" and check_size(10, 6) is not None
    # what this process published is not mistaken for the user's choice on the next run
    assert resolve_settings({}).max_pixels == MAX_PIXELS
    monkeypatch.setenv(BUDGET_ENV, "70")
    assert resolve_settings({}).max_pixels == 70
    assert resolve_settings({"max_pixels": 80}).max_pixels == 80


def _jpeg(size: tuple[int, int]) -> bytes:
    buf = io.BytesIO()
    rng = np.random.default_rng(0)
    Image.fromarray(rng.integers(0, 255, (*size[::-1], 3), dtype=np.uint8)).save(buf, "JPEG")
    return buf.getvalue()


def test_an_embedded_12000x12000_png_gets_a_mask_but_no_overlay(tmp_path):
    data = tmp_path / "data"
    buf = io.BytesIO()
    Image.new("L", (12000, 12000)).save(buf, "PNG")
    embedded = base64.b64encode(buf.getvalue()).decode()
    labelme(data / "big.json", 12000, 12000, imageData=embedded)
    labelme(data / "good.json", 16, 12, imageData=base64.b64encode(_jpeg((16, 12))).decode())
    run = rasterize(data, tmp_path, "--overlay", tmp_path / "over")
    assert_bounded(
        run, 0, "big: no overlay: imageData: image size 12000x12000 (144 Mpx) at 12 bytes a pixel"
    )
    assert (tmp_path / "masks" / "big.png").is_file()
    assert not (tmp_path / "over" / "big.jpg").exists()
    assert (tmp_path / "over" / "good.jpg").is_file()


def test_truncated_images_get_no_overlay(tmp_path):
    data = tmp_path / "data"
    data.mkdir()
    whole = _jpeg((200, 150))
    (data / "small.jpg").write_bytes(whole[: len(whole) // 2])
    labelme(data / "small.json", 200, 150)
    # a whole header claiming 10000x10000 (in the baseline frame header: height, then width),
    # then a few bytes of the scan
    head = _jpeg((8, 8))
    sof, sos = head.index(b"\xff\xc0") + 5, head.index(b"\xff\xda")
    huge = head[:sof] + struct.pack(">HH", 10000, 10000) + head[sof + 4 : sos + 40]
    (data / "huge.jpg").write_bytes(huge)
    labelme(data / "huge.json", 10000, 10000)
    run = rasterize(data, tmp_path, "--overlay", tmp_path / "over")
    assert_bounded(
        run,
        0,
        f"small: no overlay: image {data / 'small.jpg'}: image file is truncated",
        f"huge: no overlay: image {data / 'huge.jpg'}: image size 10000x10000 (100 Mpx) at 12 "
        "bytes a pixel exceeds the limit",
    )
    assert not list((tmp_path / "over").glob("*.jpg"))
    assert (tmp_path / "masks" / "small.png").is_file()
    assert (tmp_path / "masks" / "huge.png").is_file()


def test_an_image_path_that_is_a_fifo_is_named_not_opened(tmp_path):
    data = tmp_path / "data"
    labelme(data / "fifo.json", None, None, imagePath="fifo.jpg")
    os.mkfifo(data / "fifo.jpg")
    labelme(data / "good.json", 16, 12)
    for command in ("validate", "rasterize"):
        args = ("-o", tmp_path / "masks") if command == "rasterize" else ()
        run = polymask(command, data, *args, "--workers", "1")
        assert_bounded(run, 1, "fifo.json")
        assert "is a FIFO, not a regular file" in run.out
    assert (tmp_path / "masks" / "good.png").is_file()


def test_an_overlay_image_that_is_a_fifo_is_named_not_opened(tmp_path):
    data = tmp_path / "data"
    labelme(data / "fifo.json", 16, 12, imagePath="fifo.jpg")
    os.mkfifo(data / "fifo.jpg")
    run = rasterize(data, tmp_path, "--overlay", tmp_path / "over")
    assert_bounded(run, 0, "fifo: no overlay: image", "is a FIFO, not a regular file")
    assert (tmp_path / "masks" / "fifo.png").is_file()


def test_counting_a_large_mask_takes_less_than_the_mask(tmp_path):
    """np.bincount copies its input as 8-byte integers: counted whole, a mask would cost 8
    bytes a pixel on top of itself."""
    import tracemalloc

    from polymask.stats.compute import histogram

    classes = np.zeros((4096, 4096), np.uint8)
    classes[:100] = 3
    instances = (classes != 0).astype(np.uint16)
    tracemalloc.start()
    try:
        hist = histogram(classes, instances)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert hist.pixels.tolist() == [4096 * 3996, 4096 * 100]
    assert hist.object_areas == {3: [4096 * 100]}
    assert peak < classes.nbytes


def test_annotations_built_in_code_are_checked_before_burning():
    from polymask.errors import AnnotationError
    from polymask.labels import LabelMap
    from polymask.model import ImageAnnotation
    from polymask.raster import burn

    huge = ImageAnnotation(source="made.json", key="made", width=20000, height=20000, shapes=())
    with pytest.raises(AnnotationError) as caught:
        burn(huge, LabelMap.discover({"a"}, 255))
    (problem,) = caught.value.problems
    assert problem.file == "made.json" and "20000x20000 (400 Mpx)" in problem.message


def test_geotiff_sizes_are_checked_from_the_header(tmp_path, monkeypatch):
    rasterio = pytest.importorskip("rasterio")
    from polymask.io.geotiff import read_geotiff, reference_frame
    from polymask.io.masks import MaskReadError

    monkeypatch.delenv(BUDGET_ENV, raising=False)
    path = tmp_path / "ref.tif"
    grid = rasterio.Affine(1, 0, 0, 0, -1, 12)
    profile = dict(driver="GTiff", width=16, height=12, count=1, dtype="uint8", transform=grid)
    with rasterio.open(path, "w", **profile) as dst:
        dst.write(np.zeros((12, 16), np.uint8), 1)
    assert read_geotiff(path).shape == (12, 16)
    monkeypatch.setenv(BUDGET_ENV, "100")
    with pytest.raises(MaskReadError, match=r"16x12 \(192 px\) exceeds the limit of 100 px"):
        read_geotiff(path)
    with pytest.raises(ValueError, match=r"reference .*ref.tif: image size 16x12"):
        reference_frame(path)
