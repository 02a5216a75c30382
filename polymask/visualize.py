"""Pictures for people: annotation overlays (image + translucent classes + outlines), bar charts
of class frequencies, and error maps of predictions.

Error maps show where a prediction is right and wrong, in three colours, to look at by eye.

Green: true positive (the right foreground class). Red: false positive (a foreground class where
the ground truth has another class, background included). Blue: false negative (ground-truth
foreground predicted as background). Ignored pixels are grey; correct background is left as the
image (or black without one).
"""

from __future__ import annotations

import io
from pathlib import Path

import numpy as np

from polymask.io.masks import FINGERPRINT_KEY, atomic_write, read_mask, voc_palette
from polymask.io.ownership import ERROR_MAP_MARK, check_free_or_ours


def class_colors(classes: np.ndarray) -> np.ndarray:
    """RGB colour of every pixel's class (VOC colormap; ids above 255 wrap)."""
    palette = np.asarray(voc_palette(), dtype=np.uint8).reshape(256, 3)
    return palette[classes.astype(np.intp) & 255]


def outline(classes: np.ndarray) -> np.ndarray:
    """Pixels of a non-background class that touch a pixel of another class (4-neighbourhood)."""
    edge = np.zeros(classes.shape, dtype=bool)
    diff_x = classes[:, 1:] != classes[:, :-1]
    diff_y = classes[1:, :] != classes[:-1, :]
    edge[:, 1:] |= diff_x
    edge[:, :-1] |= diff_x
    edge[1:, :] |= diff_y
    edge[:-1, :] |= diff_y
    return edge & (classes != 0)


def overlay(image: np.ndarray, classes: np.ndarray, alpha: float = 0.5) -> np.ndarray:
    """``image`` (H, W, 3 uint8) with every labelled pixel tinted by its class colour and each
    region outlined in its full colour, so misplaced vertices and gaps stand out."""
    if image.shape[:2] != classes.shape:
        raise ValueError(
            f"image is {image.shape[1]}x{image.shape[0]}, mask is "
            f"{classes.shape[1]}x{classes.shape[0]}"
        )
    colors = class_colors(classes)
    out = image.astype(np.float32)
    fg = classes != 0
    out[fg] = (1 - alpha) * out[fg] + alpha * colors[fg]
    edge = outline(classes)
    out[edge] = colors[edge]
    return np.clip(np.rint(out), 0, 255).astype(np.uint8)


def frequency_chart(ids: list[int], names: list[str], pixels: list[int]) -> bytes:
    """PNG bytes of a horizontal bar chart of pixels per class on a log scale.

    A log scale keeps a class of 100 pixels visible next to a background of millions. Bars are
    drawn in each class's mask colour (VOC colormap) with a grey edge, so black and near-white
    classes still show; a class without pixels gets no bar and the word "absent".
    """
    import io
    import math

    from PIL import Image, ImageDraw, ImageFont

    font = ImageFont.load_default()
    labels = [f"{i} {n}".strip() for i, n in zip(ids, names, strict=True)]
    label_w = max([int(font.getlength(s)) for s in labels] + [40]) + 12
    row, plot_w, top, bottom, right = 22, 560, 34, 34, 70
    width = label_w + plot_w + right
    height = top + row * max(len(ids), 1) + bottom
    img = Image.new("RGB", (width, height), "white")
    draw = ImageDraw.Draw(img)
    draw.text((8, 8), "pixels per class (log scale)", fill="black", font=font)

    present = [p for p in pixels if p > 0]
    lo = 10 ** math.floor(math.log10(min(present))) if present else 1
    hi = 10 ** math.ceil(math.log10(max(present) + 1)) if present else 10
    span = math.log10(hi) - math.log10(lo)

    def x_of(value: float) -> int:
        return label_w + round(plot_w * (math.log10(value) - math.log10(lo)) / span)

    total = sum(pixels) or 1
    axis_y = top + row * len(ids) + 4
    for k in range(round(math.log10(lo)), round(math.log10(hi)) + 1):
        x = x_of(10**k)
        draw.line([(x, top - 4), (x, axis_y)], fill=(220, 220, 220))
        draw.text((x - 8, axis_y + 4), f"1e{k}", fill="black", font=font)
    palette = voc_palette()
    for r, (cid, label, n) in enumerate(zip(ids, labels, pixels, strict=True)):
        y = top + r * row
        draw.text((8, y + 4), label, fill="black", font=font)
        if n <= 0:
            draw.text((label_w + 4, y + 4), "absent", fill=(150, 150, 150), font=font)
            continue
        colour = tuple(palette[3 * (cid & 255) : 3 * (cid & 255) + 3])
        x1 = max(x_of(n), label_w + 1)
        draw.rectangle([(label_w, y + 3), (x1, y + row - 3)], fill=colour, outline=(120, 120, 120))
        draw.text((x1 + 4, y + 4), f"{100 * n / total:.3g}%", fill="black", font=font)
    draw.line([(label_w, top - 4), (label_w, axis_y)], fill="black")
    buf = io.BytesIO()
    img.save(buf, "PNG")
    return buf.getvalue()


TP_COLOR, FP_COLOR, FN_COLOR, IGNORE_COLOR = (0, 200, 0), (230, 30, 30), (30, 80, 255), (128,) * 3
IMAGE_SUFFIXES = (".jpg", ".jpeg", ".png", ".tif", ".tiff", ".bmp", ".webp")


def error_map(
    gt: np.ndarray,
    pred: np.ndarray,
    ignore_index: int | None = None,
    image: np.ndarray | None = None,
    alpha: float = 0.6,
) -> np.ndarray:
    """(H, W, 3) uint8: the error colours blended over ``image`` (H, W, 3) when given."""
    base = np.zeros((*gt.shape, 3), np.float32) if image is None else image.astype(np.float32)
    out = base.copy()
    ignored = gt == ignore_index if ignore_index is not None else np.zeros(gt.shape, bool)
    wrong = (gt != pred) & ~ignored
    layers = [
        ((gt == pred) & (gt != 0) & ~ignored, TP_COLOR),
        (wrong & (pred != 0), FP_COLOR),
        (wrong & (pred == 0), FN_COLOR),
        (ignored, IGNORE_COLOR),
    ]
    for where, color in layers:
        out[where] = (1 - alpha) * base[where] + alpha * np.asarray(color, np.float32)
    return np.clip(np.rint(out), 0, 255).astype(np.uint8)


def find_image(images: Path | None, key: str) -> Path | None:
    if images is None:
        return None
    for suffix in IMAGE_SUFFIXES:
        for candidate in (images / f"{key}{suffix}", images / f"{key}{suffix.upper()}"):
            if candidate.is_file():
                return candidate
    return None


def write_error_map(
    out: Path,
    key: str,
    gt_path: Path,
    pred_path: Path | None,
    ignore_index: int | None,
    images: Path | None = None,
) -> Path:
    """Write ``out/KEY.png``; the image under ``images`` is used when found at the right size.

    The PNG is marked as an error map (a text chunk), so a later run may replace it and nothing
    else: a file under that name without the mark raises
    :class:`~polymask.io.ownership.ForeignFile`.
    """
    from PIL import Image, PngImagePlugin

    gt = read_mask(gt_path)
    pred = read_mask(pred_path) if pred_path is not None else np.zeros_like(gt)
    picture = None
    found = find_image(images, key)
    if found is not None:
        with Image.open(found) as img:
            rgb = np.asarray(img.convert("RGB"))
        picture = rgb if rgb.shape[:2] == gt.shape else None
    path = out / f"{key}.png"
    check_free_or_ours(path, "error-map")
    mark = PngImagePlugin.PngInfo()
    mark.add_text(FINGERPRINT_KEY, ERROR_MAP_MARK)
    buf = io.BytesIO()
    Image.fromarray(error_map(gt, pred, ignore_index, picture)).save(buf, "PNG", pnginfo=mark)
    atomic_write(path, buf.getvalue())
    return path
