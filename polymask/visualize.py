"""Pictures for people: annotation overlays (image + translucent classes + outlines), colour
renders of class maps, and error maps of predictions.

Colours are chosen to be seen on photographs, not to match the mask files: class 1 to 20 take
the twenty colours of Sasha Trubetskoy's list of distinct colours (bright and far apart, where
the PASCAL VOC palette of the mask PNGs starts with dark red, dark green and olive), later ids
hues spaced by the golden angle, and 255, the usual ignore value, light grey.

Error maps sort every pixel into one of five kinds and colour four of them:

- true positive (green, half as strong, so that errors stand out): the ground truth's
  foreground class, predicted;
- false positive (magenta): a foreground class predicted where the ground truth is background;
- false negative (blue): ground-truth foreground predicted as background;
- wrong class (amber): ground-truth foreground predicted as another foreground class;
- ignored (grey): ground truth equal to the ignore index, never counted.

Correct background is left as the image (or black without one). Green against magenta, rather
than red, stays apart for the commonest colour blindness.
"""

from __future__ import annotations

import colorsys
import io
from functools import cache
from pathlib import Path

import numpy as np

from polymask.io.masks import FINGERPRINT_KEY, atomic_write
from polymask.io.ownership import ERROR_MAP_MARK, check_free_or_ours

DISTINCT = (
    (230, 25, 75),
    (60, 180, 75),
    (255, 225, 25),
    (0, 130, 200),
    (245, 130, 48),
    (145, 30, 180),
    (70, 240, 240),
    (240, 50, 230),
    (210, 245, 60),
    (250, 190, 212),
    (0, 128, 128),
    (220, 190, 255),
    (170, 110, 40),
    (255, 250, 200),
    (128, 0, 0),
    (170, 255, 195),
    (128, 128, 0),
    (255, 215, 180),
    (0, 0, 128),
    (128, 128, 128),
)
"""Colours of classes 1..20 (Sasha Trubetskoy, "List of 20 simple, distinct colors")."""
BACKGROUND_COLOR = (0, 0, 0)
VOID_COLOR = (200, 200, 200)
"""Class 255, the usual ignore index (as VOC draws it: a light border colour)."""


def class_color(class_id: int) -> tuple[int, int, int]:
    """The RGB colour of a class in overlays, renders, charts and legends."""
    if class_id == 0:
        return BACKGROUND_COLOR
    if class_id == 255:
        return VOID_COLOR
    if class_id <= len(DISTINCT):
        return DISTINCT[class_id - 1]
    # golden-angle hues never repeat and stay apart from their neighbours
    hue = (class_id * 0.618033988749895) % 1.0
    r, g, b = colorsys.hsv_to_rgb(hue, 0.75, 0.95)
    return round(255 * r), round(255 * g), round(255 * b)


def class_colors(classes: np.ndarray) -> np.ndarray:
    """RGB colour of every pixel's class (:func:`class_color`), (H, W, 3) uint8."""
    top = int(classes.max(initial=0))
    return _color_table(256 if top < 256 else 65536)[classes.astype(np.intp)]


@cache
def _color_table(size: int) -> np.ndarray:
    return np.array([class_color(i) for i in range(size)], np.uint8)


def outline(classes: np.ndarray, width: int = 1) -> np.ndarray:
    """Pixels of a non-background class within ``width`` pixels of another class
    (4-neighbourhood steps): the inner edge of every region."""
    edge = np.zeros(classes.shape, dtype=bool)
    diff_x = classes[:, 1:] != classes[:, :-1]
    diff_y = classes[1:, :] != classes[:-1, :]
    edge[:, 1:] |= diff_x
    edge[:, :-1] |= diff_x
    edge[1:, :] |= diff_y
    edge[:-1, :] |= diff_y
    for _ in range(width - 1):
        grown = edge.copy()
        grown[:, 1:] |= edge[:, :-1] & ~diff_x
        grown[:, :-1] |= edge[:, 1:] & ~diff_x
        grown[1:, :] |= edge[:-1, :] & ~diff_y
        grown[:-1, :] |= edge[1:, :] & ~diff_y
        edge = grown
    return edge & (classes != 0)


def overlay(
    image: np.ndarray, classes: np.ndarray, alpha: float = 0.45, width: int = 1
) -> np.ndarray:
    """``image`` (H, W, 3 uint8) with every labelled pixel tinted by its class colour and each
    region outlined in its full colour, ``width`` pixels wide: the fill says which class, the
    outline where it ends, so misplaced vertices and gaps stand out on a busy photograph."""
    if image.shape[:2] != classes.shape:
        raise ValueError(
            f"image is {image.shape[1]}x{image.shape[0]}, mask is "
            f"{classes.shape[1]}x{classes.shape[0]}"
        )
    colors = class_colors(classes)
    out = image.astype(np.float32)
    fg = classes != 0
    out[fg] = (1 - alpha) * out[fg] + alpha * colors[fg]
    edge = outline(classes, width)
    out[edge] = colors[edge]
    return np.clip(np.rint(out), 0, 255).astype(np.uint8)


CORRECT, IGNORED, TP, FP, FN, WRONG = range(6)
"""Kinds of pixel in an error map, in rising order of weight: where a picture is shrunk, a
block shows the heaviest kind it holds (:func:`shrink_max`), so small errors stay visible."""
TP_COLOR, FP_COLOR, FN_COLOR = (0, 200, 90), (255, 40, 200), (30, 120, 255)
WRONG_COLOR, IGNORE_COLOR = (255, 190, 0), (128, 128, 128)
ERROR_KINDS = (
    (TP, "TP", "true positive: the right foreground class", TP_COLOR),
    (FP, "FP", "false positive: foreground predicted on background", FP_COLOR),
    (FN, "FN", "false negative: foreground predicted as background", FN_COLOR),
    (WRONG, "wrong class", "foreground predicted as another foreground class", WRONG_COLOR),
    (IGNORED, "ignored", "ground truth is the ignore index: not counted", IGNORE_COLOR),
)
"""(kind, short name, meaning, colour) of every coloured kind, for legends."""
IMAGE_SUFFIXES = (".jpg", ".jpeg", ".png", ".tif", ".tiff", ".bmp", ".webp")


def error_kinds(gt: np.ndarray, pred: np.ndarray, ignore_index: int | None = None) -> np.ndarray:
    """(H, W) uint8: the kind of every pixel (``CORRECT``, ``IGNORED``, ``TP``, ``FP``, ``FN``,
    ``WRONG``)."""
    kinds = np.full(gt.shape, CORRECT, np.uint8)
    gt_fg, pred_fg = gt != 0, pred != 0
    kinds[gt_fg & (gt == pred)] = TP
    kinds[~gt_fg & pred_fg] = FP
    kinds[gt_fg & ~pred_fg] = FN
    kinds[gt_fg & pred_fg & (gt != pred)] = WRONG
    if ignore_index is not None:
        kinds[gt == ignore_index] = IGNORED
    return kinds


def paint_kinds(
    kinds: np.ndarray, image: np.ndarray | None = None, alpha: float = 0.6
) -> np.ndarray:
    """(H, W, 3) uint8: the colour of each kind blended over ``image`` (black without one),
    true positives at half the strength of the errors, so that the errors stand out."""
    base = np.zeros((*kinds.shape, 3), np.float32) if image is None else image.astype(np.float32)
    out = base.copy()
    for kind, _, _, color in ERROR_KINDS:
        where = kinds == kind
        a = alpha / 2 if kind == TP else alpha
        out[where] = (1 - a) * base[where] + a * np.asarray(color, np.float32)
    return np.clip(np.rint(out), 0, 255).astype(np.uint8)


def error_map(
    gt: np.ndarray,
    pred: np.ndarray,
    ignore_index: int | None = None,
    image: np.ndarray | None = None,
    alpha: float = 0.6,
) -> np.ndarray:
    """(H, W, 3) uint8: the error colours blended over ``image`` (H, W, 3) when given."""
    return paint_kinds(error_kinds(gt, pred, ignore_index), image, alpha)


def shrink_max(kinds: np.ndarray, height: int, width: int) -> np.ndarray:
    """``kinds`` shrunk to ``height`` x ``width``, each pixel the heaviest kind of the block it
    covers: a one-pixel miss survives a tenfold reduction, where sampling would drop it."""
    rows = (np.arange(height) * kinds.shape[0]) // height
    cols = (np.arange(width) * kinds.shape[1]) // width
    return np.maximum.reduceat(np.maximum.reduceat(kinds, rows, axis=0), cols, axis=1)


def sample(classes: np.ndarray, height: int, width: int) -> np.ndarray:
    """``classes`` resized to ``height`` x ``width`` by taking each block's centre pixel: class
    ids are labels, never averaged."""
    rows = ((np.arange(height) + 0.5) * classes.shape[0] / height).astype(np.intp)
    cols = ((np.arange(width) + 0.5) * classes.shape[1] / width).astype(np.intp)
    return classes[np.ix_(rows, cols)]


def find_image(images: Path | None, key: str) -> Path | None:
    if images is None:
        return None
    for suffix in IMAGE_SUFFIXES:
        for candidate in (images / f"{key}{suffix}", images / f"{key}{suffix.upper()}"):
            if candidate.is_file():
                return candidate
    return None


ERROR_MAP_COST = 24
"""Bytes a pixel of the largest arrays an error map makes of its image (two float32 RGB
pictures in :func:`paint_kinds`): the image is decoded only when they fit the budget."""


def write_error_map(
    out: Path,
    key: str,
    gt: np.ndarray,
    pred: np.ndarray | None,
    ignore_index: int | None,
    images: Path | None = None,
) -> Path:
    """Write ``out/KEY.png`` of a pair's class maps (``pred`` None: a missing prediction, all
    background); the image under ``images`` is used when found and readable, upright by its
    EXIF orientation, at the masks' size and within the memory budget
    (:func:`polymask.io.images.read_upright`).

    The PNG is marked as an error map (a text chunk), so a later run may replace it and nothing
    else: a file under that name without the mark raises
    :class:`~polymask.io.ownership.ForeignFile`.
    """
    from PIL import Image, PngImagePlugin

    pred = pred if pred is not None else np.zeros_like(gt)
    from polymask.io.images import ImageReadError, read_upright

    picture = None
    found = find_image(images, key)
    if found is not None:
        try:
            picture = read_upright(found, gt.shape[::-1], f"image {found}", ERROR_MAP_COST)
        except ImageReadError:
            pass  # drawn on black, as without an image
    path = out / f"{key}.png"
    check_free_or_ours(path, "error-map")
    mark = PngImagePlugin.PngInfo()
    mark.add_text(FINGERPRINT_KEY, ERROR_MAP_MARK)
    buf = io.BytesIO()
    Image.fromarray(error_map(gt, pred, ignore_index, picture)).save(buf, "PNG", pnginfo=mark)
    atomic_write(path, buf.getvalue())
    return path
