"""Reading the photo an annotation was drawn on, upright, for overlays and training samples.

Annotation tools show a photo turned upright by its EXIF orientation: LabelMe applies it when it
loads an image (and the ``imageData`` it embeds is that upright picture, its ``imageWidth`` x
``imageHeight`` the upright size); CVAT, and the browsers that show Label Studio and VIA, do the
same. Polygons are drawn in that frame, so a mask burned from them is upright, and the photo is
turned upright before it meets its mask: in an overlay, an error map and a training sample
alike, by this one function. A phone photo stored sideways (orientation 6) is annotated, masked
and shown standing.

An image is decoded only once its header says that, upright, it has its mask's size (a photo
that is not the annotated one would put every class on the wrong pixels) and that the arrays
the caller makes of it fit the memory budget (:mod:`polymask.limits`). A special file is refused
unopened (a FIFO would block the read forever), and a truncated file is an error naming it,
never a picture padded with grey.
"""

from __future__ import annotations

import io
from pathlib import Path

import numpy as np

TURNED = (5, 6, 7, 8)
"""EXIF orientations that turn the picture by 90 degrees: width and height swap."""


class ImageReadError(ValueError):
    """An image that cannot be used with its mask; the message names the image and the
    problem."""


def read_upright(
    source: str | Path | bytes,
    size: tuple[int, int],
    name: str,
    cost: int,
    mode: str = "RGB",
) -> np.ndarray:
    """The pixels of an image file (or of encoded bytes) turned upright by their EXIF
    orientation and converted to Pillow ``mode``: writable uint8 (H, W, 3) for ``RGB``, (H, W)
    for ``L``.

    Args:
        source: a local path or URL of the image, or its encoded bytes (LabelMe's imageData).
        size: (width, height) the upright image must have: its mask's.
        name: how messages name the image (``image a.jpg``, ``imageData of a.json``).
        cost: bytes a pixel of the largest array the caller makes of the image, checked
            against the memory budget before a pixel is decoded.

    Raises:
        ImageReadError: the file is missing, special, not an image, truncated, of another
            size than ``size`` upright, or over the memory budget.
    """
    from PIL import ExifTags, Image, ImageOps

    from polymask.io.masks import quiet_bomb_warning
    from polymask.io.storage import as_path
    from polymask.io.walk import special_kind
    from polymask.limits import check_size

    if not isinstance(source, bytes):
        kind = special_kind(as_path(source))
        if kind is not None:
            raise ImageReadError(f"{name}: is {kind}, not a regular file")
    try:
        stream = io.BytesIO(source) if isinstance(source, bytes) else as_path(source).open("rb")
        with stream, quiet_bomb_warning(), Image.open(stream) as img:
            orientation = img.getexif().get(ExifTags.Base.Orientation, 1)
            upright = img.size[::-1] if orientation in TURNED else img.size
            if upright != tuple(size):
                raise ImageReadError(
                    f"{name}: image is {upright[0]}x{upright[1]}, its mask {size[0]}x{size[1]}"
                )
            reason = check_size(*upright, cost)
            if reason:
                raise ImageReadError(f"{name}: {reason}")
            picture = ImageOps.exif_transpose(img) if orientation != 1 else img
            return np.array(picture.convert(mode))  # writable: transforms may work in place
    except FileNotFoundError:
        raise ImageReadError(f"{name}: image not found") from None
    except (OSError, SyntaxError, Image.DecompressionBombError) as exc:
        raise ImageReadError(f"{name}: {exc}") from None
