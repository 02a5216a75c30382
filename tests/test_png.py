"""The PNG writer against Pillow: Pillow decodes our files to the same pixels, mode and palette
as a mask Pillow itself encodes, with either deflate library; the rows against a plain reading
of the PNG specification's filters; the C unfilter against both."""

from __future__ import annotations

import io
import struct
import zlib
from unittest.mock import patch

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays
from PIL import Image, ImageDraw, PngImagePlugin

from polymask.io import png
from polymask.io.masks import FINGERPRINT_KEY, encode_png, read_mask, voc_palette

DEFLATES = [pytest.param(zlib, id="zlib")]
try:
    from zlib_ng import zlib_ng

    DEFLATES.append(pytest.param(zlib_ng, id="zlib-ng"))
except ImportError:
    pass


def pillow_png(array: np.ndarray, palette: bool, fingerprint: str) -> bytes:
    """The reference: Pillow's own encoder at its default settings."""
    img = Image.fromarray(array)
    if palette:
        img.putpalette(voc_palette())
    info = PngImagePlugin.PngInfo()
    info.add_text(FINGERPRINT_KEY, fingerprint)
    buf = io.BytesIO()
    img.save(buf, "PNG", pnginfo=info)
    return buf.getvalue()


def decoded(data: bytes):
    with Image.open(io.BytesIO(data)) as img:
        img.load()
        return img.mode, img.getpalette(), img.info.get(FINGERPRINT_KEY), np.asarray(img)


def filtered_rows(array: np.ndarray, filters: list[int]) -> bytes:
    """The raw image data of a grayscale PNG whose row r is written with PNG filter
    ``filters[r]`` (0-4), by a plain Python reading of the specification."""
    bpp = array.dtype.itemsize
    raw = array.astype(">u2" if bpp == 2 else np.uint8).view(np.uint8).reshape(array.shape[0], -1)
    rows, prior = [], [0] * raw.shape[1]
    for r, kind in enumerate(filters):
        line = raw[r].tolist()
        out = [kind]
        for i, x in enumerate(line):
            a = line[i - bpp] if i >= bpp else 0
            b, c = prior[i], prior[i - bpp] if i >= bpp else 0
            if kind == 4:
                p = a + b - c
                pa, pb, pc = abs(p - a), abs(p - b), abs(p - c)
                pred = a if pa <= pb and pa <= pc else b if pb <= pc else c
            else:
                pred = [0, a, b, (a + b) // 2][kind]
            out.append((x - pred) % 256)
        rows.append(bytes(out))
        prior = line
    return b"".join(rows)


label_maps = st.one_of(
    arrays(np.uint8, st.tuples(st.integers(1, 40), st.integers(1, 40))),
    arrays(np.uint16, st.tuples(st.integers(1, 40), st.integers(1, 40))),
)


@st.composite
def runny_label_maps(draw):
    """Label maps as masks are: rows of runs, some longer than a deflate match (258 bytes)."""
    dtype = draw(st.sampled_from([np.uint8, np.uint16]))
    h, w = draw(st.integers(1, 12)), draw(st.integers(1, 700))
    values = st.integers(0, 255 if dtype == np.uint8 else 65535)
    rows = []
    for _ in range(h):
        row, lengths = [], draw(st.lists(st.integers(1, 400), min_size=1, max_size=8))
        for n in lengths:
            row += [draw(values)] * n
        rows.append((row * (w // len(row) + 1))[:w])
    return np.array(rows, dtype=dtype)


@pytest.mark.parametrize("deflate", DEFLATES)
@settings(max_examples=80, deadline=None)
@given(
    array=st.one_of(label_maps, runny_label_maps()),
    piece=st.sampled_from([1, 7, 600, png.INFLATE_PIECE]),
)
def test_idat_inflates_to_the_specified_rows(deflate, array, piece):
    """8-bit rows unfiltered, 16-bit rows Up-filtered, as the specification's reading builds
    them, whether the rows are deflated in one piece or many (pieces of a row or more)."""
    with patch("polymask.io.png.INFLATE_PIECE", piece):
        stream = png.zlib_stream(array, deflate)
    kind = png.UP if array.dtype == np.uint16 else png.NONE
    assert zlib.decompress(stream) == filtered_rows(array, [kind] * array.shape[0])


def test_sixteen_bit_rows_are_big_endian_and_up_filtered():
    """Hand-decoded: PNG stores 16-bit samples most significant byte first; each byte of a row
    is stored as its difference (modulo 256) from the byte above, the first row's from zero."""
    data = png.encode(np.array([[0x0102, 0xA0B0], [0x0103, 0x00B0]], np.uint16))
    idat = data[data.index(b"IDAT") + 4 : data.index(b"IEND") - 8]
    assert zlib.decompress(idat) == bytes([2, 0x01, 0x02, 0xA0, 0xB0, 2, 0, 1, 0x60, 0])


def drawn_label_map(dtype, seed: int) -> np.ndarray:
    """A mask as annotations make it: overlapping polygons drawn by Pillow, ids 1 to 40."""
    rng = np.random.default_rng(seed)
    img = Image.new("I", (640, 480))
    draw = ImageDraw.Draw(img)
    for label in range(1, 41):
        cx, cy, r = rng.uniform(0, 640), rng.uniform(0, 480), rng.uniform(10, 120)
        angles = np.sort(rng.uniform(0, 2 * np.pi, 8))
        ring = [(cx + r * np.cos(a), cy + r * np.sin(a)) for a in angles]
        draw.polygon(ring, fill=int(label))
    return np.asarray(img).astype(dtype)


@pytest.mark.parametrize("deflate", DEFLATES)
@pytest.mark.parametrize("dtype", [np.uint8, np.uint16])
def test_masks_are_about_as_small_as_pillows(deflate, dtype):
    """One fixed filter and a run-length deflate lose little in size on label maps against
    Pillow's per-row filter choice at its default level (a few percent either way); for 16-bit
    maps the Up filter is what makes that so: the same rows unfiltered deflate to several times
    the size."""
    array = drawn_label_map(dtype, seed=1)
    ours = len(png.zlib_stream(array, deflate))
    assert ours <= 1.1 * len(pillow_png(array, False, "x"))
    if dtype == np.uint16:
        unfiltered = array.astype(">u2").view(np.uint8).reshape(array.shape[0], -1)
        rows = np.concatenate([np.zeros((array.shape[0], 1), np.uint8), unfiltered], axis=1)
        z = deflate.compressobj(1, zlib.DEFLATED, 15, 9, zlib.Z_RLE)
        assert 3 * ours < len(z.compress(rows.tobytes()) + z.flush())


@pytest.mark.parametrize("deflate", DEFLATES)
@settings(max_examples=60, deadline=None)
@given(array=label_maps, palette=st.booleans())
def test_decodes_like_pillows_own_png(deflate, array, palette):
    palette = palette and array.dtype == np.uint8
    ours = png.encode(
        array,
        bytes(voc_palette()) if palette else None,
        {FINGERPRINT_KEY: "sha256:x"},
        deflate=deflate,
    )
    mode, pal, text, pixels = decoded(ours)
    r_mode, r_pal, r_text, r_pixels = decoded(pillow_png(array, palette, "sha256:x"))
    assert (mode, pal, text) == (r_mode, r_pal, r_text)
    np.testing.assert_array_equal(pixels, r_pixels)
    np.testing.assert_array_equal(pixels.astype(array.dtype), array)


def test_mask_files_are_palette_or_16_bit():
    a = np.arange(256, dtype=np.uint8).reshape(16, 16)
    mode, pal, text, pixels = decoded(encode_png(a, "fp"))
    assert (mode, pal, text) == ("P", voc_palette(), "fp")
    np.testing.assert_array_equal(pixels, a)
    wide = np.array([[0, 1, 256, 65535]], np.uint16)
    mode, _, _, pixels = decoded(encode_png(wide))
    assert mode == "I;16"
    np.testing.assert_array_equal(pixels, wide)
    mode, _, _, pixels = decoded(encode_png(a, palette=False))  # instance maps
    assert mode == "I;16"
    np.testing.assert_array_equal(pixels, a)


@pytest.mark.parametrize("deflate", DEFLATES)
def test_same_input_same_bytes(tmp_path, deflate):
    """The fingerprint chunk and the deflate's settings are fixed: equal input, equal bytes."""
    rng = np.random.default_rng(0)
    for a in (rng.integers(0, 5, (50, 70), dtype=np.uint8), drawn_label_map(np.uint16, seed=2)):
        text = {FINGERPRINT_KEY: "fp"}
        first = png.encode(a, None, text, deflate=deflate)
        assert png.encode(a.copy(), None, text, deflate=deflate) == first
        assert png.encode(np.asfortranarray(a), None, text, deflate=deflate) == first
    a = rng.integers(0, 5, (50, 70), dtype=np.uint8)
    assert encode_png(a, "fp") == encode_png(a.copy(), "fp")
    path = tmp_path / "m.png"
    path.write_bytes(encode_png(a, "fp"))
    np.testing.assert_array_equal(read_mask(path), a)


@pytest.mark.parametrize(
    "bad", [np.zeros((2, 2, 2), np.uint8), np.zeros((2, 2), np.int32), np.zeros((0, 3), np.uint8)]
)
def test_refuses_what_is_not_a_label_map(bad):
    with pytest.raises(ValueError):
        encode_png(bad)


@settings(max_examples=60, deadline=None)
@given(
    data=st.data(),
    shape=st.tuples(st.integers(1, 40), st.integers(1, 40)),
    wide=st.booleans(),
    palette=st.booleans(),
)
def test_fast_reader_equals_pillow_on_our_pngs(data, shape, wide, palette):
    """read_mask's inflate-and-reshape path gives Pillow's pixels, dtype and shape; 16-bit rows
    (Up-filtered) take it where the C unfilter is built and go to Pillow where it is not."""
    dtype = np.uint16 if wide else np.uint8
    values = st.integers(0, 65535 if wide else 255)
    array = data.draw(arrays(dtype, shape, elements=values))
    encoded = encode_png(array, "fp", palette=palette and not wide)
    filtered = wide or not palette  # written as 16-bit grayscale
    for c_rows in {png.C_ROWS, None}:
        with patch("polymask.io.png.C_ROWS", c_rows):
            fast = png.decode(encoded, 1 << 30)
            assert (fast is None) == (filtered and c_rows is None)
            if fast is not None:
                np.testing.assert_array_equal(fast, np.asarray(Image.open(io.BytesIO(encoded))))
            mask = read_mask(io.BytesIO(encoded))
        np.testing.assert_array_equal(mask, array)
        # 8-bit maps without a palette are written as 16-bit grayscale (instance masks)
        assert mask.dtype == (np.uint16 if filtered else np.uint8)


def test_fast_reader_declines_what_it_does_not_handle(tmp_path):
    """Interlaced, damaged or foreign PNGs go to Pillow (or fail there clearly); filtered rows
    too where the C module is not built."""
    from polymask.io.masks import MaskReadError
    from polymask.io.png import decode

    rng = np.random.default_rng(0)
    array = rng.integers(0, 20, (30, 50), dtype=np.uint8)
    for kwargs in ({}, {"interlace": 1}, {"optimize": True}):
        buf = io.BytesIO()
        Image.fromarray(array).save(buf, "PNG", **kwargs)  # Pillow filters its rows
        fast = decode(buf.getvalue(), 1 << 30)
        interlaced = buf.getvalue()[28] == 1  # IHDR's last byte (Pillow may not interlace)
        if interlaced or png.C_ROWS is None:
            assert fast is None, kwargs
        else:
            np.testing.assert_array_equal(fast, array)
        np.testing.assert_array_equal(read_mask(io.BytesIO(buf.getvalue())), array)
    assert decode(b"GIF89a...", 1 << 30) is None
    ours = bytearray(encode_png(array))
    ours[-20] ^= 0xFF  # damage the IDAT: its CRC no longer matches
    assert decode(bytes(ours), 1 << 30) is None
    (tmp_path / "bad.png").write_bytes(bytes(ours))
    with pytest.raises(MaskReadError):
        read_mask(tmp_path / "bad.png")
    assert decode(encode_png(array), max_pixels=100) is None  # over the limit


def _with_idat(png_bytes: bytes, stream: bytes) -> bytes:
    """The PNG with its (single) IDAT replaced by ``stream``, CRC recomputed."""
    start = png_bytes.index(b"IDAT") - 4
    (length,) = struct.unpack_from(">I", png_bytes, start)
    return png_bytes[:start] + png.chunk(b"IDAT", stream) + png_bytes[start + 12 + length :]


@settings(max_examples=40, deadline=None)
@given(
    array=label_maps,
    palette=st.booleans(),
    piece=st.sampled_from([1, 7, 64, png.INFLATE_PIECE]),
)
def test_decoding_into_a_work_buffer_gives_the_same_pixels(array, palette, piece):
    """Inflating a piece at a time into a reused buffer (the scorer's reads) equals Pillow."""
    data = encode_png(array, palette=palette and array.dtype == np.uint8)
    reference = np.asarray(Image.open(io.BytesIO(data)))
    buffer = np.full(array.size * 2 + 64, 7, np.uint8)  # stale contents

    def take(size):
        return buffer[:size]

    with patch("polymask.io.png.INFLATE_PIECE", piece):
        own = png.decode(data, 1 << 30)
        shared = png.decode(data, 1 << 30, take)
    if png.C_ROWS is None and reference.dtype != np.uint8:
        assert own is shared is None  # Up-filtered rows: Pillow's job without the C module
        return
    np.testing.assert_array_equal(own, reference)
    np.testing.assert_array_equal(shared, reference)
    assert own.dtype == shared.dtype == reference.dtype
    assert own.flags.c_contiguous and own.flags.writeable
    assert not np.shares_memory(own, buffer)
    if shared.dtype == np.uint8:
        assert np.shares_memory(shared, buffer)  # a view of the work buffer, no copy


def test_inflated_size_must_match_the_header():
    """A stream that stops short or runs past the rows the header promises is declined."""
    array = np.arange(12, dtype=np.uint8).reshape(3, 4)
    data = encode_png(array)
    rows = png.scanlines(array).tobytes()
    assert png.decode(_with_idat(data, zlib.compress(rows)), 1 << 30) is not None
    for stream in (
        zlib.compress(rows[:-1]),  # one byte short
        zlib.compress(rows + b"\0"),  # one byte too many
        zlib.compress(rows)[:-6],  # truncated: the stream never ends
    ):
        for piece in (2, png.INFLATE_PIECE):
            with patch("polymask.io.png.INFLATE_PIECE", piece):
                assert png.decode(_with_idat(data, stream), 1 << 30) is None


def filtered_png(array: np.ndarray, filters: list[int]) -> bytes:
    """A grayscale PNG whose row r is written with PNG filter ``filters[r]`` (see
    :func:`filtered_rows`): the reference the C unfilter is checked against."""
    h, w = array.shape
    bits = 8 * array.dtype.itemsize
    header = png.chunk(b"IHDR", struct.pack(">IIBBBBB", w, h, bits, 0, 0, 0, 0))
    idat = png.chunk(b"IDAT", zlib.compress(filtered_rows(array, filters)))
    return png.SIGNATURE + header + idat + png.chunk(b"IEND", b"")


@pytest.mark.skipif(png.C_ROWS is None, reason="built without a C compiler")
@settings(max_examples=80, deadline=None)
@given(
    data=st.data(),
    shape=st.tuples(st.integers(1, 12), st.integers(1, 30)),
    wide=st.booleans(),
)
def test_filtered_rows_are_undone_as_pillow_undoes_them(data, shape, wide):
    """Random maps, and maps of runs (whose filtered rows are mostly zeros: the stretches the
    unfilter copies instead of predicting)."""
    dtype = np.uint16 if wide else np.uint8
    if data.draw(st.booleans()):
        array = data.draw(runny_label_maps())
    else:
        array = data.draw(arrays(dtype, shape, elements=st.integers(0, 65535 if wide else 255)))
    rows = array.shape[0]
    filters = data.draw(st.lists(st.integers(0, 4), min_size=rows, max_size=rows))
    encoded = filtered_png(array, filters)
    fast = png.decode(encoded, 1 << 30)
    np.testing.assert_array_equal(fast, array)
    np.testing.assert_array_equal(fast, np.asarray(Image.open(io.BytesIO(encoded))))


@pytest.mark.skipif(png.C_ROWS is None, reason="built without a C compiler")
def test_an_unknown_filter_type_is_left_to_pillow():
    encoded = bytearray(filtered_png(np.zeros((2, 3), np.uint8), [0, 0]))
    rows = bytearray(zlib.decompress(bytes(encoded[8 + 25 + 8 : -12 - 4])))
    rows[4] = 7  # the second row's filter type
    stream = zlib.compress(bytes(rows))
    bad = png.SIGNATURE + encoded[8 : 8 + 25] + png.chunk(b"IDAT", stream) + png.chunk(b"IEND", b"")
    assert png.decode(bytes(bad), 1 << 30) is None


@pytest.mark.skipif(png.C_ROWS is None, reason="built without a C compiler")
@pytest.mark.parametrize("kind", [1, 2, 3, 4])
def test_filtered_columns_under_a_boundary(kind):
    """Rows that repeat the row above, with boundaries: Paeth predicts from above at each
    boundary (a zero filtered byte that is not a copy of the byte before), wherever it falls
    in the row (in the eight-byte steps or the tail)."""
    for width in range(1, 21):
        for edge in range(width):
            row = np.where(np.arange(width) < edge, 5, 9).astype(np.uint8)
            array = np.stack([row, row, row[::-1]])
            encoded = filtered_png(array, [kind] * 3)
            np.testing.assert_array_equal(png.decode(encoded, 1 << 30), array)


@pytest.mark.skipif(png.C_ROWS is None, reason="built without a C compiler")
@pytest.mark.parametrize(
    "height, stride",
    [(2**62 + 1, 4), (4, 2**62 + 1), (2**61 + 1, 8), (2**63 - 1, 2), (5, 4), (17, 1)],
)
def test_unfilter_refuses_rows_beyond_the_buffer(height, stride):
    """height x stride must fit the buffer. The first four products overflow 64 bits to 16 or
    less (the last of them to -2), which a multiplying check would let through, to write and
    read far past the 16 bytes."""
    rows = np.full(16, png.UP, np.uint8)
    with pytest.raises(ValueError, match="smaller than height x stride"):
        png.C_ROWS.unfilter_scanlines(rows, height, stride, 1)
    for fits in ((4, 4), (16, 1), (1, 16)):  # exactly the buffer: accepted
        assert png.C_ROWS.unfilter_scanlines(np.full(16, png.UP, np.uint8), *fits, 1)


def test_text_value_reads_what_pillow_writes_and_trusts_only_intact_files():
    """Pillow, an independent writer, puts the text chunk before the pixels; the whole-file
    reading gives it only while every byte is as written."""
    from polymask.io.png import text_value

    info = PngImagePlugin.PngInfo()
    info.add_text("polymask", "sha256:abc")
    buf = io.BytesIO()
    Image.fromarray(np.arange(64, dtype=np.uint8).reshape(8, 8)).save(buf, "PNG", pnginfo=info)
    data = buf.getvalue()
    assert text_value(data, "polymask", whole=True) == "sha256:abc"
    assert text_value(data[:100], "polymask") == "sha256:abc"  # the first bytes suffice
    assert text_value(data, "other", whole=True) is None
    idat = data.index(b"IDAT") + 6
    damaged = data[:idat] + bytes([data[idat] ^ 1]) + data[idat + 1 :]
    assert text_value(damaged, "polymask", whole=True) is None
    assert text_value(damaged, "polymask") == "sha256:abc"  # marked as ours all the same
    assert text_value(data + b"\0", "polymask", whole=True) is None  # bytes after IEND
    assert text_value(b"GIF89a" + data[6:], "polymask") is None
