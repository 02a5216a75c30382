"""Small pictures for the report pages: the worst images of a score (image, ground truth,
prediction, error map) and, for a dataset, an example of each rarest class.

Pictures are shrunk before they are drawn (class maps by sampling, error kinds by keeping each
block's heaviest kind so that a thin miss stays visible), then embedded as ``data:`` URIs:
JPEG over photographs, PNG for flat colours. Only the few images shown are read again, each
one at a time, so memory does not grow with the dataset.
"""

from __future__ import annotations

import io
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from polymask.report.html.page import class_label, data_uri, esc, fmt, image, legend
from polymask.score.sources import Burned, Drawing, SourceError, picture_slices, read_source
from polymask.visualize import (
    ERROR_KINDS,
    class_color,
    class_colors,
    error_kinds,
    find_image,
    overlay,
    paint_kinds,
    sample,
    shrink_max,
)

THUMB_SIDE = 320
"""Longest side of a picture in the page, in pixels."""
PHOTO_QUALITY = 80
PHOTO_COST = 4
"""Bytes a pixel to decode an image (RGB, and a copy while it is converted): checked against
the memory budget (:mod:`polymask.limits`) before a pixel is decoded."""
RARE_SHOWN = 4
"""Rarest classes a dataset page shows an example of."""
DIM = 0.3
"""Brightness of the other classes around the rare class shown."""


@dataclass
class Picture:
    uri: str
    width: int
    height: int
    alt: str
    flat: bool
    """Flat colours (a class map, an error map): drawn with sharp pixels when enlarged."""


@dataclass
class Panel:
    title: str
    picture: Picture | None
    why_none: str = ""


@dataclass
class Card:
    title: str
    facts: list[str]
    panels: list[Panel] = field(default_factory=list)
    classes: list[tuple[tuple[int, int, int], str]] = field(default_factory=list)
    kinds: list[tuple[tuple[int, int, int], str]] = field(default_factory=list)
    problem: str = ""


def thumb_size(height: int, width: int, side: int = THUMB_SIDE) -> tuple[int, int]:
    """(height, width) scaled to fit ``side``; never enlarged."""
    scale = min(1.0, side / max(height, width))
    return max(1, round(height * scale)), max(1, round(width * scale))


def encode(rgb: np.ndarray, alt: str, photo: bool) -> Picture:
    """A picture as a data URI: JPEG for a photograph, PNG (exact, small) for flat colours."""
    from PIL import Image

    buf = io.BytesIO()
    if photo:
        Image.fromarray(rgb).save(buf, "JPEG", quality=PHOTO_QUALITY)
        uri = data_uri("image/jpeg", buf.getvalue())
    else:
        _flat_image(rgb).save(buf, "PNG")
        uri = data_uri("image/png", buf.getvalue())
    return Picture(uri, rgb.shape[1], rgb.shape[0], alt, flat=not photo)


def _flat_image(rgb: np.ndarray):
    """A picture of few colours as a palette image (a third of the bytes to deflate, and a
    smaller file); RGB when it has more than 256."""
    from PIL import Image

    packed = (
        (rgb[..., 0].astype(np.uint32) << 16) | (rgb[..., 1].astype(np.uint32) << 8) | rgb[..., 2]
    )
    colours, index = np.unique(packed, return_inverse=True)
    if colours.size > 256:
        return Image.fromarray(rgb)
    img = Image.fromarray(index.reshape(rgb.shape[:2]).astype(np.uint8), "P")
    img.putpalette(
        np.stack([colours >> 16, (colours >> 8) & 255, colours & 255], 1).astype(np.uint8).tobytes()
    )
    return img


def load_photo(path: Path, shape: tuple[int, int], size: tuple[int, int]) -> np.ndarray | str:
    """The image at ``path`` turned upright by its EXIF orientation (the frame its masks are
    in: :mod:`polymask.io.images`) and shrunk to ``size`` (height, width) as RGB, or why it
    cannot be used: upright, it must have the masks' ``shape`` and fit the memory budget,
    checked from its header before its pixels are decoded (a JPEG is decoded at a reduced
    scale)."""
    from PIL import ExifTags, Image, ImageOps

    from polymask.io.images import TURNED
    from polymask.io.masks import quiet_bomb_warning
    from polymask.limits import check_size

    try:
        with quiet_bomb_warning(), Image.open(path) as img:
            turned = img.getexif().get(ExifTags.Base.Orientation, 1) in TURNED
            width, height = img.size[::-1] if turned else img.size
            if (height, width) != shape:
                return f"{path} is {width}x{height} upright, the masks {shape[1]}x{shape[0]}"
            reason = check_size(width, height, PHOTO_COST)
            if reason:
                return f"{path}: {reason}"
            img.draft("RGB", (size[0], size[1]) if turned else (size[1], size[0]))
            upright = ImageOps.exif_transpose(img).convert("RGB")
            rgb = upright.resize((size[1], size[0]), Image.Resampling.BOX)
            return np.asarray(rgb)
    except (OSError, SyntaxError, ValueError, Image.DecompressionBombError) as exc:
        return f"{path}: {exc}"


def _class_label(class_id: int, names: Sequence[str], ignore_index: int | None) -> str:
    if class_id == ignore_index:
        return f"{class_id} ignored"
    return class_label(class_id, names[class_id] if class_id < len(names) else None)


def _present(*maps: np.ndarray) -> list[int]:
    found: set[int] = set()
    for m in maps:
        found.update(np.flatnonzero(np.bincount(m.ravel())).tolist())
    return sorted(found)


# ---- the worst images of a score -------------------------------------------------------------


def worst_cards(result, images: Path | None) -> list[Card]:
    """A card for each of the report's worst images: the image (from ``images``, found by
    key), ground truth and prediction drawn over it (or alone), and the error map."""
    ignore = result.report.settings.ignore_index
    cards = []
    for w in result.report.worst:
        card = Card(w.key, [f"mean Dice {fmt(w.mean_dice)}", f"mean IoU {fmt(w.mean_iou)}"])
        cards.append(card)
        pair = result.pairs[w.key]
        try:
            gt = read_source(pair.gt, result.drawing)
            pred = read_source(pair.pred, result.drawing) if pair.pred is not None else None
            gt, pred = picture_slices(gt, pred)  # a volume: its worst slice
        except SourceError as exc:
            card.problem = f"cannot be read again: {exc}"
            continue
        if pred is None:
            card.facts.append("no prediction: all of it counted as background")
            pred = np.zeros_like(gt)
        _draw_pair(card, w.key, gt, pred, ignore, result.class_names, images)
    return cards


def _draw_pair(card: Card, key, gt, pred, ignore, names, images: Path | None) -> None:
    th, tw = thumb_size(*gt.shape)
    found = find_image(images, key)
    photo = load_photo(found, gt.shape, (th, tw)) if found is not None else None
    if isinstance(photo, str):
        why, photo = photo, None
    elif photo is None:
        why = "no image: give --images DIR" if images is None else f"no {key}.* under {images}"
    kinds = error_kinds(gt, pred, ignore)
    counts = np.bincount(kinds.ravel(), minlength=len(ERROR_KINDS) + 1)
    small_gt, small_pred = sample(gt, th, tw), sample(pred, th, tw)
    small_kinds = shrink_max(kinds, th, tw)
    width = 2 if min(th, tw) >= 120 else 1
    on_photo = photo is not None
    if on_photo:
        card.panels.append(Panel("image", encode(photo, f"{key}: image", True)))
        drawn_gt, drawn_pred = (
            overlay(photo, small_gt, 0.4, width),
            overlay(photo, small_pred, 0.4, width),
        )
        errors = paint_kinds(small_kinds, photo, 0.6)
    else:
        card.panels.append(Panel("image", None, why))
        drawn_gt, drawn_pred = class_colors(small_gt), class_colors(small_pred)
        errors = paint_kinds(small_kinds, None, 1.0)
    card.panels += [
        Panel("ground truth", encode(drawn_gt, f"{key}: ground truth", on_photo)),
        Panel("prediction", encode(drawn_pred, f"{key}: prediction", on_photo)),
        Panel("errors", encode(errors, f"{key}: error map", on_photo)),
    ]
    card.classes = [
        (class_color(c), _class_label(c, names, ignore)) for c in _present(gt, pred) if c != 0
    ]
    card.kinds = [(color, f"{short} {counts[kind]:,} px") for kind, short, _, color in ERROR_KINDS]


# ---- an example of each rarest class of a dataset -----------------------------------------------


def rare_class_cards(
    work: Sequence,
    source: str,
    settings,
    label_map,
    report,
    richest: Mapping[int, int],
) -> list[Card]:
    """A card for each of the :data:`RARE_SHOWN` foreground classes with the fewest pixels,
    showing the image where it has the most pixels whole and cropped around the class, the class
    in full colour and the rest dimmed.

    ``richest`` maps a class to the index in ``work`` of that image (the first input on ties),
    as the counting pass found it (:attr:`polymask.stats.compute.ClassTotals.richest`): only
    the images shown are read again.
    """
    rare = sorted((c for c in report.classes if c.id != 0 and c.pixels > 0), key=lambda c: c.pixels)
    rare = rare[:RARE_SHOWN]
    drawing = Drawing(settings, label_map) if source == "annotations" else None
    cards = []
    for c in rare:
        label = class_label(c.id, c.name)
        card = Card(label, [f"{c.pixels:,} px in {c.images:,} images"])
        cards.append(card)
        item = work[richest[c.id]]
        try:
            classes = read_source(item.path if source == "masks" else Burned(item), drawing)
        except SourceError as exc:
            card.problem = f"cannot be read again: {exc}"
            continue
        if not (classes == c.id).any():
            card.problem = f"{item.key} changed since it was counted: the class is gone"
            continue
        _draw_rare(card, item.key, classes, c.id)
        card.classes = [(class_color(c.id), label)]
    return cards


def _dimmed(classes: np.ndarray, class_id: int) -> np.ndarray:
    rgb = class_colors(classes)
    others = classes != class_id
    rgb[others] = (rgb[others] * DIM).astype(np.uint8)
    return rgb


def _draw_rare(card: Card, key: str, classes: np.ndarray, class_id: int) -> None:
    h, w = classes.shape
    ys, xs = np.nonzero(classes == class_id)
    n = ys.size
    if not n:
        card.problem = f"{key}: the class is gone from this image since it was counted"
        return
    y0, y1, x0, x1 = int(ys.min()), int(ys.max()) + 1, int(xs.min()), int(xs.max()) + 1
    pad = max(8, max(y1 - y0, x1 - x0) // 2)
    y0, y1, x0, x1 = max(0, y0 - pad), min(h, y1 + pad), max(0, x0 - pad), min(w, x1 + pad)
    card.facts += [
        f"shown: {key} ({w}x{h})",
        f"{n:,} px of the class there ({100 * n / (h * w):.3g}% of the image)",
    ]
    th, tw = thumb_size(h, w)
    whole = _dimmed(sample(classes, th, tw), class_id)
    sy, sx = th / h, tw / w
    box = (
        int(y0 * sy),
        max(int(y0 * sy) + 1, int(y1 * sy)),
        int(x0 * sx),
        max(int(x0 * sx) + 1, int(x1 * sx)),
    )
    _frame(whole, *box)
    card.panels.append(Panel("whole mask (box: the crop)", encode(whole, f"{key}: whole", False)))
    crop = classes[y0:y1, x0:x1]
    ch, cw = thumb_size(*crop.shape)
    picture = encode(_dimmed(sample(crop, ch, cw), class_id), f"{key}: crop", False)
    card.panels.append(Panel(f"crop x {x0}..{x1}, y {y0}..{y1}", picture))


def _frame(rgb: np.ndarray, y0: int, y1: int, x0: int, x1: int) -> None:
    """A white rectangle on the picture, one pixel wide, around rows y0..y1 and columns x0..x1."""
    y1, x1 = min(y1, rgb.shape[0]) - 1, min(x1, rgb.shape[1]) - 1
    rgb[y0, x0 : x1 + 1] = rgb[y1, x0 : x1 + 1] = 255
    rgb[y0 : y1 + 1, x0] = rgb[y0 : y1 + 1, x1] = 255


# ---- as HTML -----------------------------------------------------------------------------------


def cards_html(cards: Sequence[Card]) -> str:
    return '<div class="cards">' + "".join(_card_html(c) for c in cards) + "</div>"


def _card_html(card: Card) -> str:
    facts = " · ".join(esc(f) for f in card.facts)
    out = [f'<figure class="card"><figcaption><b>{esc(card.title)}</b> — {facts}</figcaption>']
    if card.problem:
        out.append(f'<p class="bad">{esc(card.problem)}</p>')
    panels = []
    for p in card.panels:
        if p.picture is None:  # as large as the pictures beside it
            shape = next((q.picture for q in card.panels if q.picture), None)
            ratio = f"{shape.width} / {shape.height}" if shape else "4 / 3"
            inner = f'<div class="empty" style="aspect-ratio:{ratio}">{esc(p.why_none)}</div>'
        else:
            pic = p.picture
            inner = image(pic.uri, pic.alt, pic.width, pic.height, pixelated=pic.flat)
        panels.append(f'<div class="panel">{inner}<span class="label">{esc(p.title)}</span></div>')
    if panels:
        columns = f"--n:{len(card.panels)}"
        out.append(f'<div class="panels" style="{columns}">{"".join(panels)}</div>')
    if card.classes:
        out.append(legend(card.classes))
    if card.kinds:
        out.append(legend(card.kinds))
    out.append("</figure>")
    return "".join(out)
