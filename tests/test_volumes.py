"""Label volumes: NIfTI, TIFF stacks and .npy read back as written; hostile headers, float data
and grids that differ refused by name."""

from __future__ import annotations

import gzip
import sys

import numpy as np
import pytest
from PIL import Image

from polymask.io import volumes as V

nib = pytest.importorskip("nibabel")

SPACING = (0.8, 0.8, 2.5)


def labels(shape=(12, 10, 6), high=4, seed=0):
    return np.random.default_rng(seed).integers(0, high + 1, shape).astype(np.uint8)


def affine(spacing=SPACING, flip=False, origin=(0.0, 0.0, 0.0)):
    a = np.diag([*spacing, 1.0])
    if flip:  # LPS-style: first two axes run the other way
        a[0, 0], a[1, 1] = -a[0, 0], -a[1, 1]
    a[:3, 3] = origin
    return a


def write_nifti(path, data, spacing=SPACING, **kwargs):
    img = nib.Nifti1Image(data, affine(spacing, **kwargs), dtype=data.dtype)
    nib.save(img, str(path))
    return path


@pytest.mark.parametrize("suffix", [".nii", ".nii.gz"])
@pytest.mark.parametrize("dtype", [np.uint8, np.int16, np.uint16, np.float32, np.int64])
def test_nifti_read_back(tmp_path, suffix, dtype):
    data = labels().astype(dtype)
    path = write_nifti(tmp_path / f"a{suffix}", data)
    array, meta = V.read_volume(path)
    np.testing.assert_array_equal(array, data)
    assert array.dtype == np.uint8
    assert meta.shape == data.shape
    assert meta.spacing == pytest.approx(SPACING)
    np.testing.assert_allclose(meta.affine, affine())
    assert meta.orientation == "RAS"


def test_nifti_sixteen_bit_ids_and_channel_axis(tmp_path):
    data = labels((5, 6, 4, 1)).astype(np.uint16) * 300  # ids over 255, a trailing channel of one
    array, meta = V.read_volume(write_nifti(tmp_path / "a.nii.gz", data))
    assert array.dtype == np.uint16 and meta.shape == (5, 6, 4)
    np.testing.assert_array_equal(array, data[..., 0])


def test_nifti_scaling_is_applied(tmp_path):
    img = nib.Nifti1Image(labels().astype(np.int16), affine())
    img.header.set_slope_inter(2.0, 1.0)
    nib.save(img, str(tmp_path / "s.nii"))
    array, _ = V.read_volume(tmp_path / "s.nii")
    np.testing.assert_array_equal(array, labels().astype(np.int64) * 2 + 1)


def test_float_volume_of_scores_is_refused_naming_a_voxel(tmp_path):
    data = labels().astype(np.float32)
    data[3, 2, 1] = 0.4
    path = write_nifti(tmp_path / "probs.nii.gz", data)
    with pytest.raises(V.VolumeReadError, match=r"probs\.nii\.gz: value 0\.4.* voxel \(3, 2, 1\)"):
        V.read_volume(path)


def test_nan_in_a_float_volume_is_refused(tmp_path):
    data = labels().astype(np.float32)
    data[0, 0, 0] = np.nan
    with pytest.raises(V.VolumeReadError, match="not a whole number"):
        V.read_volume(write_nifti(tmp_path / "n.nii", data))


@pytest.mark.parametrize(("value", "why"), [(-1, "negative"), (70000, "over 65535")])
def test_values_outside_class_ids_are_refused(tmp_path, value, why):
    data = labels().astype(np.int32)
    data[1, 1, 1] = value
    with pytest.raises(V.VolumeReadError, match=why):
        V.read_volume(write_nifti(tmp_path / "v.nii", data))


def test_four_dimensional_scores_are_refused(tmp_path):
    path = write_nifti(tmp_path / "c.nii.gz", labels((4, 4, 3, 2)))
    with pytest.raises(V.VolumeReadError, match="not a label volume.*argmax"):
        V.volume_header(path)


def hostile_nifti(path, shape, gz):
    """A NIfTI whose header declares ``shape`` and whose file holds a few bytes of data."""
    header = nib.Nifti1Header()
    header.set_data_shape(shape)
    header.set_data_dtype(np.uint8)
    header.set_zooms((1.0,) * len(shape))
    raw = header.binaryblock + b"\0" * 4 + b"\0" * 64
    path.write_bytes(gzip.compress(raw) if gz else raw)
    return path


@pytest.mark.parametrize("gz", [False, True])
def test_huge_header_is_refused_before_reading(tmp_path, gz, monkeypatch):
    path = hostile_nifti(tmp_path / ("h.nii.gz" if gz else "h.nii"), (30000, 30000, 30000), gz)
    with pytest.raises(V.VolumeReadError, match=r"h\.nii.*exceeds the limit.*--max-pixels"):
        V.read_volume(path)
    monkeypatch.setenv("POLYMASK_MAX_PIXELS", "1000")  # the one budget every reader checks
    small = hostile_nifti(tmp_path / "s.nii", (20, 20, 20), False)
    with pytest.raises(V.VolumeReadError, match="8,000 voxels.*the limit of 1000 px"):
        V.volume_header(small)


def test_truncated_nifti_is_named(tmp_path):
    path = hostile_nifti(tmp_path / "t.nii", (40, 40, 40), False)
    with pytest.raises(V.VolumeReadError, match=r"^.*t\.nii: "):
        V.read_volume(path)


def test_not_a_nifti_is_named(tmp_path):
    path = tmp_path / "x.nii.gz"
    path.write_bytes(b"not a nifti at all")
    with pytest.raises(V.VolumeReadError, match=r"x\.nii\.gz: "):
        V.read_volume(path)


def test_a_cut_gzip_stream_is_named_as_such(tmp_path):
    """A download cut short: the .gz is named as damaged, not as some other file type; a
    whole gzip stream of something else is still not a NIfTI file."""
    import gzip

    whole = write_nifti(tmp_path / "a.nii.gz", labels()).read_bytes()
    cut = tmp_path / "cut.nii.gz"
    cut.write_bytes(whole[: len(whole) // 2])
    with pytest.raises(V.VolumeReadError, match=r"cut\.nii\.gz: a damaged gzip stream \(trunc"):
        V.read_volume(cut)
    other = tmp_path / "other.nii.gz"
    other.write_bytes(gzip.compress(b"just some text, long enough " * 20))
    with pytest.raises(V.VolumeReadError, match=r"other\.nii\.gz: not a NIfTI file"):
        V.read_volume(other)


def test_missing_nibabel_names_the_extra(tmp_path, monkeypatch):
    path = write_nifti(tmp_path / "a.nii", labels())
    monkeypatch.setitem(sys.modules, "nibabel", None)  # import nibabel now raises ImportError
    with pytest.raises(V.VolumeReadError, match=r'a\.nii: .*pip install "polymask\[medical\]"'):
        V.read_volume(path)


def test_tiff_stack_read_back(tmp_path):
    data = labels((5, 9, 7))
    pages = [Image.fromarray(page) for page in data]
    pages[0].save(tmp_path / "s.tif", save_all=True, append_images=pages[1:])
    array, meta = V.read_volume(tmp_path / "s.tif")
    np.testing.assert_array_equal(array, data)
    assert meta.shape == (5, 9, 7) and meta.spacing is None and meta.affine is None


def test_tiff_stack_of_sixteen_bit_pages(tmp_path):
    data = labels((3, 6, 5)).astype(np.uint16) * 1000
    pages = [Image.fromarray(page) for page in data]
    pages[0].save(tmp_path / "s.tiff", save_all=True, append_images=pages[1:])
    array, _ = V.read_volume(tmp_path / "s.tiff")
    assert array.dtype == np.uint16
    np.testing.assert_array_equal(array, data)


def test_tiff_pages_of_different_sizes_are_refused(tmp_path):
    a = Image.fromarray(labels((6, 5))[..., 0].copy())
    b = Image.fromarray(labels((7, 5))[..., 0].copy())
    a.save(tmp_path / "m.tif", save_all=True, append_images=[b])
    with pytest.raises(V.VolumeReadError, match=r"m\.tif: page 1 is"):
        V.read_volume(tmp_path / "m.tif")


def test_tiff_of_a_huge_declared_size_is_refused(tmp_path, monkeypatch):
    Image.fromarray(np.zeros((40, 50), np.uint8)).save(tmp_path / "big.tif")
    monkeypatch.setenv("POLYMASK_MAX_PIXELS", "1500")
    with pytest.raises(V.VolumeReadError, match=r"big\.tif: volume shape \(1, 40, 50\)"):
        V.read_volume(tmp_path / "big.tif")


def test_colour_tiff_is_refused(tmp_path):
    Image.new("RGB", (4, 4)).save(tmp_path / "c.tif")
    with pytest.raises(V.VolumeReadError, match="mode RGB"):
        V.read_volume(tmp_path / "c.tif")


@pytest.mark.parametrize("order", ["C", "F"])
def test_npy_volume_read_back(tmp_path, order):
    data = np.asarray(labels((1, 8, 7, 5)).astype(np.int32), order=order)
    np.save(tmp_path / "a.npy", data)
    array, meta = V.read_volume(tmp_path / "a.npy")
    assert meta.shape == (8, 7, 5) and meta.spacing is None
    np.testing.assert_array_equal(array, data[0])


def test_npy_cut_short_and_object_arrays_are_refused(tmp_path):
    np.save(tmp_path / "a.npy", labels())
    raw = (tmp_path / "a.npy").read_bytes()
    (tmp_path / "cut.npy").write_bytes(raw[:-10])
    with pytest.raises(V.VolumeReadError, match=r"cut\.npy: cut short"):
        V.read_volume(tmp_path / "cut.npy")
    np.save(tmp_path / "o.npy", np.array([[[None]]], dtype=object), allow_pickle=True)
    with pytest.raises(V.VolumeReadError, match=r"o\.npy: object values are not class ids"):
        V.read_volume(tmp_path / "o.npy")


def test_unknown_suffix_is_refused(tmp_path):
    with pytest.raises(V.VolumeReadError, match=r"a\.png: not a volume file"):
        V.volume_header(tmp_path / "a.png")


def meta(tmp_path, name, **kwargs):
    return V.volume_header(write_nifti(tmp_path / name, labels(), **kwargs))


def test_check_pair_accepts_the_same_grid(tmp_path):
    V.check_pair(meta(tmp_path, "g.nii"), meta(tmp_path, "p.nii"))


@pytest.mark.parametrize(
    ("kwargs", "what"),
    [
        ({"spacing": (0.8, 0.8, 3.0)}, r"spacing \(0\.8, 0\.8, 3\)"),
        ({"flip": True}, "orientation LPS, not RAS"),
        ({"origin": (5.0, 0.0, 0.0)}, "affine"),
    ],
)
def test_check_pair_names_what_differs(tmp_path, kwargs, what):
    gt = meta(tmp_path, "g.nii")
    pred = meta(tmp_path, "p.nii", **kwargs)
    with pytest.raises(
        V.VolumePairError, match=rf"p\.nii: differs from the ground truth .*g\.nii: {what}"
    ):
        V.check_pair(gt, pred)


def test_check_pair_shape_and_formats_without_spacing(tmp_path):
    np.save(tmp_path / "p.npy", labels((12, 10, 5)))
    with pytest.raises(V.VolumePairError, match=r"shape \(12, 10, 5\), not \(12, 10, 6\)"):
        V.check_pair(meta(tmp_path, "g.nii"), V.volume_header(tmp_path / "p.npy"))
    np.save(tmp_path / "q.npy", labels())
    V.check_pair(meta(tmp_path, "g.nii"), V.volume_header(tmp_path / "q.npy"))  # no spacing


def test_axis_codes_agree_with_nibabel():
    rng = np.random.default_rng(4)
    for _ in range(20):
        perm = rng.permutation(3)
        a = np.eye(4)
        a[:3, :3] = np.eye(3)[:, perm] * rng.choice([-1, 1], 3) * rng.uniform(0.5, 3, 3)
        assert V.axis_codes(a) == "".join(nib.aff2axcodes(a))


def test_volume_benchmark_runs_small(monkeypatch, capsys):
    """benchmarks/volumes.py end to end on one tiny pair (a smoke test: no timing asserted);
    its Dice loop and polymask's engine must agree exactly."""
    pytest.importorskip("scipy")
    from benchmarks import volumes as bench

    gt, pred = bench.make_pair((24, 24, 12), 4, seed=3)
    assert set(np.unique(gt)) == {0, 1, 2, 3} and set(np.unique(pred)) == {0, 1, 2, 3}
    argv = ["volumes", "--pairs", "1", "--size", "24", "24", "12", "--classes", "4"]
    monkeypatch.setattr(sys, "argv", [*argv, "--format", "npy", "--skip", "monai,deepmind"])
    bench.main()
    out = capsys.readouterr().out
    assert "polymask surface (numpy)" in out
    assert "nnU-Net Dice/IoU loop" in out and "dice 0  iou 0" in out
