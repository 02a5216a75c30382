"""Inputs to ``score`` that would give a wrong number without a word, and NumPy label maps.

Each lossy or renumbering format is made by the library a user would save it with (Pillow), so
the tests show why it is refused; NumPy arrays are checked against the arrays written.
"""

from __future__ import annotations

import io
import json
import struct
import tracemalloc
import zipfile
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner
from PIL import Image

from polymask.cli.main import cli
from polymask.io.masks import MaskReadError, load_mask, read_mask, voc_palette, write_png
from polymask.limits import BUDGET_ENV
from polymask.score.pairing import pair_folders
from polymask.score.run import score_folders

JPEG_WHY = "JPEG is lossy, its values are not class ids"
GIF_WHY = "GIF encoders reorder the palette, so its indices are not class ids: save masks as PNG"


def class_map() -> np.ndarray:
    """Four classes with ids 0, 3, 7 and 15 (sparse, as label maps of a subset of classes are)."""
    gt = np.zeros((40, 60), np.uint8)
    gt[5:20, 5:30] = 3
    gt[22:35, 30:55] = 7
    gt[0:4, :] = 15
    return gt


def pillow_bytes(array: np.ndarray, fmt: str, **kwargs) -> bytes:
    img = Image.fromarray(array, "P")
    img.putpalette(voc_palette())
    buf = io.BytesIO()
    img.save(buf, fmt, **kwargs)
    return buf.getvalue()


def jpeg_bytes(array: np.ndarray) -> bytes:
    buf = io.BytesIO()
    Image.fromarray(array).save(buf, "JPEG")
    return buf.getvalue()


def _run(*args):
    return CliRunner().invoke(cli, ["score", "-j", "1", "--device", "cpu", *map(str, args)])


def _problems(report, root: Path) -> dict[str, str]:
    return {Path(p.file).relative_to(root).as_posix(): p.message for p in report.problems}


# GIF


@pytest.mark.parametrize("mode", ["P", "L"])
def test_pillow_renumbers_the_classes_of_a_gif(mode):
    """Why GIF is refused: Pillow keeps only the colours used, renumbered from 0, so ids
    0, 3, 7, 15 come back as 0, 1, 2, 3 (a palette mask or a grayscale one alike)."""
    ids = class_map()
    img = Image.fromarray(ids, mode)
    if mode == "P":
        img.putpalette(voc_palette())
    buf = io.BytesIO()
    img.save(buf, "GIF")
    back = np.asarray(Image.open(io.BytesIO(buf.getvalue())))
    renumbered = {i: np.unique(back[ids == i]).tolist() for i in (0, 3, 7, 15)}
    assert sorted(sum(renumbered.values(), [])) == [0, 1, 2, 3]  # one new number per class


def test_a_gif_prediction_is_refused_not_scored(tmp_path):
    gt = class_map()
    write_png(tmp_path / "gt" / "a.png", gt)
    (tmp_path / "pred").mkdir()
    (tmp_path / "pred" / "a.gif").write_bytes(pillow_bytes(gt, "GIF"))
    report = score_folders(tmp_path / "pred", tmp_path / "gt", workers=1, device="cpu").report
    assert report.images_scored == 0 and report.missing_predictions == []
    message = _problems(report, tmp_path)["pred/a.gif"]
    assert (
        message
        == f"not a mask format: {GIF_WHY}; the ground truth {tmp_path}/gt/a.png is not scored"
    )
    r = _run(tmp_path / "pred", tmp_path / "gt", "--missing", "zero")
    assert r.exit_code == 2 and "a.gif" in r.output


def test_gif_data_under_a_mask_name_is_refused(tmp_path):
    path = tmp_path / "a.png"
    path.write_bytes(pillow_bytes(class_map(), "GIF"))
    with pytest.raises(MaskReadError) as caught:
        load_mask(path)
    assert str(caught.value) == f"{path}: GIF data in a .png file: {GIF_WHY}"


def test_a_gif_ground_truth_is_a_problem_not_dropped(tmp_path):
    gt = class_map()
    (tmp_path / "gt").mkdir()
    (tmp_path / "gt" / "a.gif").write_bytes(pillow_bytes(gt, "GIF"))
    write_png(tmp_path / "gt" / "b.png", gt)
    write_png(tmp_path / "pred" / "a.png", gt)
    write_png(tmp_path / "pred" / "b.png", gt)
    report = score_folders(tmp_path / "pred", tmp_path / "gt", workers=1, device="cpu").report
    assert report.images_scored == 1 and report.extra_predictions == []
    problems = _problems(report, tmp_path)
    assert problems == {
        "gt/a.gif": f"not a mask format: {GIF_WHY}; this ground truth is not scored"
    }


# content, not name


@pytest.mark.parametrize("suffix", [".png", ".tif", ".bmp", ".npy", ".npz"])
@pytest.mark.parametrize(
    ("fmt", "content", "why"),
    [
        ("JPEG", lambda a: jpeg_bytes(a), JPEG_WHY),
        ("GIF", lambda a: pillow_bytes(a, "GIF"), GIF_WHY),
        # the first bytes the specifications give (RIFF container; JP2 signature box)
        ("WebP", lambda a: b"RIFF\x24\0\0\0WEBPVP8L" + bytes(24), "WebP stores colours"),
        ("JPEG 2000", lambda a: b"\0\0\0\x0cjP  \r\n\x87\n" + bytes(24), "JPEG 2000 stores"),
    ],
)
def test_content_that_is_not_a_mask_is_named_whatever_the_suffix(
    tmp_path, suffix, fmt, content, why
):
    path = tmp_path / f"m{suffix}"
    path.write_bytes(content(class_map()))
    with pytest.raises(MaskReadError) as caught:
        read_mask(path)
    assert str(caught.value).startswith(f"{path}: {fmt} data in a {suffix} file: {why}")


def test_jpeg_in_a_png_is_an_input_error_not_a_score(tmp_path):
    """Read as a mask, the JPEG's ringing would be classes never predicted."""
    gt = class_map()
    write_png(tmp_path / "gt" / "a.png", gt)
    (tmp_path / "pred").mkdir()
    (tmp_path / "pred" / "a.png").write_bytes(jpeg_bytes(gt))
    decoded = np.asarray(Image.open(tmp_path / "pred" / "a.png"))
    assert len(np.unique(decoded)) > 4  # what reading it as a mask would have scored
    r = _run(tmp_path / "pred", tmp_path / "gt", "--output-format", "json")
    assert r.exit_code == 2
    report = json.loads(r.stdout)
    assert report["images_scored"] == 0
    assert [(p["file"], p["message"]) for p in report["problems"]] == [
        (str(tmp_path / "pred" / "a.png"), f"JPEG data in a .png file: {JPEG_WHY}")
    ]


def test_a_jpeg_compressed_tiff_is_refused_a_lossless_one_read(tmp_path):
    gt = class_map()
    for compression in ("jpeg", "tiff_lzw", "raw"):
        Image.fromarray(gt).save(tmp_path / f"{compression}.tif", compression=compression)
    with pytest.raises(MaskReadError, match=r"jpeg\.tif: JPEG-compressed TIFF: JPEG is lossy"):
        load_mask(tmp_path / "jpeg.tif")
    for name in ("tiff_lzw.tif", "raw.tif"):
        np.testing.assert_array_equal(read_mask(tmp_path / name), gt)


# files that are not masks


def test_files_that_are_not_masks_are_listed_or_refused(tmp_path):
    gt, pred = tmp_path / "gt", tmp_path / "pred"
    m = class_map()
    for key in ("b", "c", "vol"):
        write_png(gt / f"{key}.png", m)
    (gt / "b.jpg").write_bytes(jpeg_bytes(m))  # the photo beside its mask
    write_png(pred / "b.png", m)
    (pred / "b.jpg").write_bytes(jpeg_bytes(m))
    (pred / "c.jpeg").write_bytes(jpeg_bytes(m))  # the prediction of c, saved as JPEG
    (pred / "vol.mha").write_bytes(b"ObjectType")  # a volume format not read, for vol
    (pred / "photo.jpg").write_bytes(jpeg_bytes(m))  # no ground truth
    (pred / "scores.pt").write_bytes(b"PK")
    (pred / "notes.txt").write_text("not image-like: not listed")
    pairing = pair_folders(pred, gt)
    assert [p.key for p in pairing.pairs] == ["b"]
    assert pairing.missing == {} and pairing.extra == []
    assert {Path(p.file).name: p.message for p in pairing.problems} == {
        "c.jpeg": f"not a mask format: {JPEG_WHY}; the ground truth {gt / 'c.png'} is not scored",
        "vol.mha": "a volume format polymask does not read: save the class ids as NIfTI "
        f"(.nii.gz); the ground truth {gt / 'vol.png'} is not scored",
    }
    assert pairing.unreadable == {
        gt / "b.jpg": f"not a mask format: {JPEG_WHY}",
        pred / "b.jpg": f"not a mask format: {JPEG_WHY}",
        pred / "photo.jpg": f"not a mask format: {JPEG_WHY}",
        pred / "scores.pt": "a PyTorch file is not a mask format: save the class ids as PNG or "
        "with numpy.save (.npy)",
    }


def test_a_folder_of_jpeg_predictions_says_why_nothing_paired(tmp_path):
    m = class_map()
    for key in ("a", "b"):
        write_png(tmp_path / "gt" / f"{key}.png", m)
        (tmp_path / "pred").mkdir(exist_ok=True)
        (tmp_path / "pred" / f"{key}.jpg").write_bytes(jpeg_bytes(m))
    r = _run(tmp_path / "pred", tmp_path / "gt", "--missing", "skip")
    assert r.exit_code == 2
    assert r.output.count(JPEG_WHY) == 2


# NumPy label maps


def _save(path: Path, array: np.ndarray, how: str) -> Path:
    if how == "npy":
        np.save(path, array)
    elif how == "npz":
        np.savez(path, array)
    else:
        np.savez_compressed(path, scores=np.zeros(2), mask=array)
    return path


@pytest.mark.parametrize("how", ["npy", "npz", "npz-named"])
@pytest.mark.parametrize(
    "dtype", ["bool", "u1", "i1", "u2", "<i2", ">i2", "i4", ">u4", "i8", "u8", "int"]
)
@pytest.mark.parametrize("layout", ["hw", "1hw", "hw1", "fortran"])
def test_integer_arrays_read_as_their_values(tmp_path, how, dtype, layout):
    rng = np.random.default_rng(1)
    high = 2 if dtype == "bool" else 128 if dtype in ("u1", "i1") else 300
    values = rng.integers(0, high, (7, 9))
    array = values.astype(dtype)
    stored = {"hw": array, "1hw": array[None], "hw1": array[..., None]}.get(layout)
    stored = np.asfortranarray(array) if stored is None else stored
    suffix = ".npy" if how == "npy" else ".npz"
    path = _save(tmp_path / f"m{suffix}", stored, how)
    sources = [path, io.BytesIO(path.read_bytes())]  # mapped, and read from memory
    for source in sources:
        mask = read_mask(source)
        assert type(mask) is np.ndarray
        np.testing.assert_array_equal(mask, values)
        # stored bytes stay bytes, 16-bit stays 16-bit; wider ids narrow to what they need
        small = dtype in ("bool", "u1", "i1") or dtype != "u2" and values.max() < 256
        assert mask.dtype == (np.uint8 if small else np.uint16)


def test_bool_arrays_read_as_zero_and_one(tmp_path):
    raw = np.array([[0, 1, 2], [255, 0, 7]], np.uint8)  # bytes a bool array may hold
    path = tmp_path / "b.npy"
    np.save(path, raw.view(bool))
    np.testing.assert_array_equal(read_mask(path), (raw != 0).astype(np.uint8))


ARGMAX = "save class ids as integers (argmax of the scores)"
NOT_IDS = "is not a label map: save class ids as integers"
PLANE = "is not a label map: expected (H, W) class ids, or (1, H, W) / (H, W, 1)"


@pytest.mark.parametrize(
    ("array", "message"),
    [
        (np.zeros((4, 5), np.float32), f"float32 array: {ARGMAX}"),
        (np.zeros((4, 5), np.float64), f"float64 array: {ARGMAX}"),
        (np.zeros((4, 5), np.complex64), f"complex64 array {NOT_IDS}"),
        (np.zeros((4, 5), "U3"), f"<U3 array {NOT_IDS}"),
        (np.full((4, 5), -1, np.int16), "value -1 is negative: class ids are 0 or more"),
        (
            np.full((4, 5), 70000, np.int32),
            "value 70000 is over 65535, the largest class id a mask holds",
        ),
        (
            np.zeros((3, 4, 5), np.uint8),
            f"shape (3, 4, 5) {PLANE}; take the argmax over the class axis",
        ),
        (np.zeros(5, np.uint8), f"shape (5,) {PLANE}"),
        (np.zeros((1, 1, 4, 5), np.uint8), f"shape (1, 1, 4, 5) {PLANE}"),
    ],
)
def test_arrays_that_are_not_label_maps_are_named(tmp_path, array, message):
    path = tmp_path / "m.npy"
    np.save(path, array)
    with pytest.raises(MaskReadError) as caught:
        read_mask(path)
    assert str(caught.value) == f"{path}: {message}"


def test_an_object_array_is_refused_without_unpickling(tmp_path):
    marker = tmp_path / "unpickled"

    class Payload:
        def __reduce__(self):
            return (open, (str(marker), "w"))

    array = np.empty((2, 2), object)
    array[0, 0] = Payload()
    np.save(tmp_path / "m.npy", array, allow_pickle=True)
    np.savez(tmp_path / "m.npz", array)
    for name in ("m.npy", "m.npz"):
        with pytest.raises(MaskReadError, match="object array is not a label map"):
            read_mask(tmp_path / name)
    assert not marker.exists()


def test_which_array_of_an_npz_is_the_label_map(tmp_path):
    a, b = np.zeros((3, 4), np.uint8), np.ones((3, 4), np.uint8)
    np.savez(tmp_path / "named.npz", scores=a, mask=b)
    np.testing.assert_array_equal(read_mask(tmp_path / "named.npz"), b)
    np.savez(tmp_path / "two.npz", a, b)
    with pytest.raises(MaskReadError) as caught:
        read_mask(tmp_path / "two.npz")
    assert str(caught.value).endswith(
        ".npz holds 2 arrays (arr_0, arr_1): save one array, or name the label map 'mask'"
    )
    with zipfile.ZipFile(tmp_path / "none.npz", "w") as zf:
        zf.writestr("readme.txt", "no arrays")
    with pytest.raises(MaskReadError, match="a ZIP archive holding no .npy array"):
        read_mask(tmp_path / "none.npz")


def npy_header_bytes(shape: tuple[int, ...], descr: str = "<i8") -> bytes:
    """A version 1.0 ``.npy`` header, written from the format's specification."""
    text = f"{{'descr': '{descr}', 'fortran_order': False, 'shape': {shape}, }}"
    text += " " * (-(10 + len(text) + 1) % 64) + "\n"
    return b"\x93NUMPY\x01\x00" + struct.pack("<H", len(text)) + text.encode("latin-1")


def test_the_header_writer_is_numpys(tmp_path):
    np.save(tmp_path / "r.npy", np.zeros((3, 4), np.int64))
    assert (tmp_path / "r.npy").read_bytes()[:128] == npy_header_bytes((3, 4))


@pytest.mark.parametrize(
    ("shape", "budget", "message"),
    [
        (
            (100000, 100000),
            None,
            r"image size 100000x100000 \(10000 Mpx\)( at 8 bytes a pixel)? "
            "exceeds the limit of 268 Mpx",
        ),
        ((2**40, 3), None, "exceeds the limit of 131072 px a side"),
        ((3000, 3000), 10**9, r"cut short: its header declares a \(3000, 3000\) int64 array"),
    ],
)
def test_a_hostile_npy_header_allocates_nothing(tmp_path, monkeypatch, shape, budget, message):
    """A few bytes that claim a huge array are refused from the header, before anything of
    that size is made: locally (mapped) and from memory alike."""
    if budget:
        monkeypatch.setenv(BUDGET_ENV, str(budget))
    else:
        monkeypatch.delenv(BUDGET_ENV, raising=False)
    data = npy_header_bytes(shape) + bytes(64)
    (tmp_path / "h.npy").write_bytes(data)
    tracemalloc.start()
    try:
        for source in (tmp_path / "h.npy", io.BytesIO(data)):
            with pytest.raises(MaskReadError, match=message):
                read_mask(source)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert peak < 1 << 20


def test_a_hostile_npz_member_allocates_nothing(tmp_path, monkeypatch):
    monkeypatch.setenv(BUDGET_ENV, str(10**9))
    with zipfile.ZipFile(tmp_path / "h.npz", "w", zipfile.ZIP_DEFLATED) as zf:
        zf.writestr("arr_0.npy", npy_header_bytes((3000, 3000)) + bytes(64))
    tracemalloc.start()
    try:
        with pytest.raises(MaskReadError, match=r"arr_0.npy holds 64 bytes of data, less than"):
            read_mask(tmp_path / "h.npz")
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert peak < 1 << 20


def test_a_huge_header_length_is_refused_before_it_is_read(tmp_path):
    data = b"\x93NUMPY\x02\x00" + struct.pack("<I", 2**32 - 1) + b"{"
    (tmp_path / "h.npy").write_bytes(data)
    with pytest.raises(MaskReadError, match="header of 4294967295 bytes is longer than 10000"):
        read_mask(tmp_path / "h.npy")


def test_npy_predictions_pair_with_png_ground_truth(tmp_path):
    """A prediction saved as .npy (int64, as argmax gives it) scores as its PNG does; a .npy
    ground truth too."""
    rng = np.random.default_rng(3)
    gt = rng.integers(0, 4, (30, 40)).astype(np.uint8)
    pred = np.where(rng.random((30, 40)) < 0.2, 0, gt)
    for key in ("a", "b"):
        write_png(tmp_path / "gt" / f"{key}.png", gt)
        write_png(tmp_path / "png" / f"{key}.png", pred)
        (tmp_path / "npy").mkdir(exist_ok=True)
        np.save(tmp_path / "npy" / f"{key}.npy", pred.astype(np.int64))
    np.save(tmp_path / "gt_npy.npy", gt)
    (tmp_path / "gt2").mkdir()
    np.save(tmp_path / "gt2" / "a.npy", gt.astype(np.int32))
    write_png(tmp_path / "gt2" / "b.png", gt)

    def classes(preds, gts):
        report = score_folders(tmp_path / preds, tmp_path / gts, workers=1, device="cpu").report
        assert report.images_scored == 2 and not report.problems
        return [c.model_dump() for c in report.classes]

    assert classes("npy", "gt") == classes("png", "gt") == classes("png", "gt2")


def test_two_masks_of_one_key_are_ambiguous(tmp_path):
    m = class_map()
    write_png(tmp_path / "gt" / "a.png", m)
    write_png(tmp_path / "pred" / "a.png", m)
    np.save(tmp_path / "pred" / "a.npy", m)
    pairing = pair_folders(tmp_path / "pred", tmp_path / "gt")
    assert [p.message for p in pairing.problems] == ["two masks for 'a': a.npy and a.png"]


# unreadable files are named


@pytest.mark.parametrize(
    "content",
    [
        b"",
        b"garbage bytes, not an image at all",
        b"II*\0" + b"\xff" * 40,  # a TIFF's first bytes, then nothing Pillow can parse
        b"BM" + b"\0" * 40,
    ],
)
def test_unreadable_bytes_are_named_by_their_file(tmp_path, content):
    path = tmp_path / "bad.png"
    path.write_bytes(content)
    for source, name in ((path, str(path)), (io.BytesIO(content), "mask data")):
        with pytest.raises(MaskReadError) as caught:
            read_mask(source)
        message = str(caught.value)
        assert message.startswith(f"{name}: cannot read image: ")
        assert "BytesIO" not in message and " at 0x" not in message


def test_a_truncated_png_is_named_in_the_report(tmp_path):
    m = class_map()
    write_png(tmp_path / "gt" / "a.png", m)
    write_png(tmp_path / "pred" / "a.png", m)
    full = (tmp_path / "pred" / "a.png").read_bytes()
    (tmp_path / "pred" / "a.png").write_bytes(full[: len(full) // 2])
    report = score_folders(tmp_path / "pred", tmp_path / "gt", workers=1, device="cpu").report
    (message,) = _problems(report, tmp_path).values()
    assert list(_problems(report, tmp_path)) == ["pred/a.png"]
    assert message.startswith("cannot read image: ") and "0x" not in message


def test_a_float_tiff_is_named_as_scores_not_ids(tmp_path):
    path = tmp_path / "probs.tif"
    Image.fromarray(np.full((4, 5), 0.7, np.float32)).save(path)
    with pytest.raises(MaskReadError) as caught:
        read_mask(path)
    assert str(caught.value) == f"{path}: float image: {ARGMAX}"
