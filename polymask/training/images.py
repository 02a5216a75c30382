"""Decoding the image a mask belongs to, for a training sample.

Images are turned upright by their EXIF orientation, as annotation tools (LabelMe, CVAT, a
browser showing Label Studio or VIA) show them to the person drawing: a phone photo stored
upside down is annotated upright. An image is decoded only once its header says it is, upright,
the size of its mask (a photo that is not the annotated one would pair every pixel with the
wrong class) and that the decoded image and
its float tensor fit the memory budget (:mod:`polymask.limits`). A special file is refused
unopened (a FIFO would block the read forever), and a truncated file is an error naming it,
never a picture padded with grey.
"""

from __future__ import annotations

import io
from pathlib import Path

import numpy as np

IMAGE_COST = 16
"""Bytes a pixel of what a sample holds of its image: the decoded RGB (3) and its float32
tensor (12). The image is decoded only when that fits the budget."""


class SampleError(ValueError):
    """An image of the dataset that cannot be made into a sample: its annotation or its image
    is missing or bad. The message names the file, the place and the problem.

    A ``ValueError`` built from its message alone, so that a DataLoader worker can raise it
    again in the main process with that message intact."""


def decode_image(
    source: str | Path | bytes, size: tuple[int, int], name: str, mode: str = "RGB"
) -> np.ndarray:
    """The pixels of an image file (or of encoded bytes) converted to Pillow ``mode``: uint8
    (H, W, 3) for ``RGB``, (H, W) for ``L``.

    Args:
        size: (width, height) the image must have: its mask's.
        name: how messages name the image (its path, or ``imageData of a.json``).

    Raises:
        SampleError: the file is missing, special, not an image, truncated, of another size
            than ``size``, or over the memory budget.
    """
    from PIL import ExifTags, Image, ImageOps

    from polymask.io.masks import quiet_bomb_warning
    from polymask.io.storage import as_path
    from polymask.io.walk import special_kind
    from polymask.limits import check_size

    if not isinstance(source, bytes):
        kind = special_kind(as_path(source))
        if kind is not None:
            raise SampleError(f"{name}: is {kind}, not a regular file")
    try:
        stream = io.BytesIO(source) if isinstance(source, bytes) else as_path(source).open("rb")
        with stream, quiet_bomb_warning(), Image.open(stream) as img:
            orientation = img.getexif().get(ExifTags.Base.Orientation, 1)
            upright = img.size[::-1] if orientation in (5, 6, 7, 8) else img.size  # turned 90°
            if upright != size:
                raise SampleError(
                    f"{name}: image is {upright[0]}x{upright[1]}, its mask {size[0]}x{size[1]}"
                )
            reason = check_size(*size, IMAGE_COST)
            if reason:
                raise SampleError(f"{name}: {reason}")
            picture = ImageOps.exif_transpose(img) if orientation != 1 else img
            return np.array(picture.convert(mode))  # writable: transforms may work in place
    except FileNotFoundError:
        raise SampleError(f"{name}: image not found") from None
    except (OSError, SyntaxError, Image.DecompressionBombError) as exc:
        raise SampleError(f"{name}: cannot read image: {exc}") from None
