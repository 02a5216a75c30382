"""Pictures for people: annotation overlays (image + translucent classes + outlines)."""

from __future__ import annotations

import numpy as np

from polymask.masks import voc_palette


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
        raise ValueError(f"image is {image.shape[1]}x{image.shape[0]}, mask is "
                         f"{classes.shape[1]}x{classes.shape[0]}")
    colors = class_colors(classes)
    out = image.astype(np.float32)
    fg = classes != 0
    out[fg] = (1 - alpha) * out[fg] + alpha * colors[fg]
    edge = outline(classes)
    out[edge] = colors[edge]
    return np.clip(np.rint(out), 0, 255).astype(np.uint8)
