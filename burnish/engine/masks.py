"""Edit masks from what users give: boxes, polygons, a mask image, the alpha channel, a key.

Every builder returns a bool ``H x W`` mask, True where the image is to be edited, and
raises :class:`~burnish.errors.OptionError` (bad option text) or
:class:`~burnish.errors.InputError` (a mask file that is unreadable or of the wrong size)
with one line that says what is wrong. Geometry is in pixel coordinates with the origin at
the top-left corner of the top-left pixel: pixel ``(x, y)`` covers ``[x, x + 1) x [y, y + 1)``
and is inside a shape when its centre ``(x + 0.5, y + 0.5)`` is.
"""

from __future__ import annotations

import os

import numpy as np

from burnish.errors import InputError, OptionError


def _numbers(text: str, what: str, example: str) -> list[float]:
    try:
        values = [float(part) for part in text.replace(",", " ").split()]
    except ValueError:
        raise OptionError(f"{what} {text!r} is not a list of numbers (example: {example})") from None
    if not all(np.isfinite(values)):
        raise OptionError(f"{what} {text!r} has a value that is not finite")
    return values


def parse_box(text: str) -> tuple[float, float, float, float]:
    """``"x,y,w,h"`` (left, top, width, height in pixels) as four floats.

    >>> parse_box("10,20,30,40")
    (10.0, 20.0, 30.0, 40.0)
    """
    values = _numbers(text, "box", "10,20,300,200")
    if len(values) != 4:
        raise OptionError(f"box {text!r} needs four numbers x,y,w,h (example: 10,20,300,200)")
    if values[2] <= 0 or values[3] <= 0:
        raise OptionError(f"box {text!r} has a width or height that is not positive")
    return values[0], values[1], values[2], values[3]


def parse_polygon(text: str) -> np.ndarray:
    """``"x1,y1 x2,y2 x3,y3 ..."`` as an ``N x 2`` float64 array of vertices (N >= 3).

    >>> parse_polygon("0,0 10,0 0,10").tolist()
    [[0.0, 0.0], [10.0, 0.0], [0.0, 10.0]]
    """
    values = _numbers(text, "polygon", '"0,0 100,0 50,80"')
    if len(values) % 2:
        raise OptionError(f"polygon {text!r} has an odd count of numbers: give x,y pairs")
    points = np.array(values, np.float64).reshape(-1, 2)
    if len(points) < 3:
        raise OptionError(f"polygon {text!r} needs at least 3 points, got {len(points)}")
    doubled_area = np.dot(points[:, 0], np.roll(points[:, 1], -1)) - np.dot(
        points[:, 1], np.roll(points[:, 0], -1))
    if doubled_area == 0:
        raise OptionError(f"polygon {text!r} is empty: its points enclose no area")
    return points


def box_mask(shape: tuple[int, int], box: tuple[float, float, float, float]) -> np.ndarray:
    """Pixels whose centres lie inside ``box`` (clipped to the image)."""
    height, width = shape
    x, y, w, h = box
    mask = np.zeros((height, width), bool)
    # Pixel centres c + 0.5 inside [x, x + w): c from ceil(x - 0.5) to ceil(x + w - 0.5) - 1.
    left, right = (int(np.clip(np.ceil(v - 0.5), 0, width)) for v in (x, x + w))
    top, bottom = (int(np.clip(np.ceil(v - 0.5), 0, height)) for v in (y, y + h))
    mask[top:bottom, left:right] = True
    return mask


def polygon_mask(shape: tuple[int, int], points: np.ndarray) -> np.ndarray:
    """Pixels whose centres lie inside the polygon (even-odd rule), one scanline per row."""
    height, width = shape
    mask = np.zeros((height, width), bool)
    start, end = points, np.roll(points, -1, axis=0)
    for row in range(height):
        centre_y = row + 0.5
        # Edges crossing this scanline, half-open in y so a vertex on it counts once.
        crossing = (start[:, 1] <= centre_y) != (end[:, 1] <= centre_y)
        if not crossing.any():
            continue
        a, b = start[crossing], end[crossing]
        xs = np.sort(a[:, 0] + (centre_y - a[:, 1]) * (b[:, 0] - a[:, 0]) / (b[:, 1] - a[:, 1]))
        for x0, x1 in zip(xs[0::2], xs[1::2]):
            # Centres c + 0.5 in [x0, x1): the same half-open rule as boxes.
            left, right = (int(np.clip(np.ceil(v - 0.5), 0, width)) for v in (x0, x1))
            mask[row, left:right] = True
    return mask


def alpha_mask(image: np.ndarray) -> np.ndarray:
    """Where the image is more than half transparent: the holes someone erased."""
    if image.ndim != 3 or image.shape[2] not in (2, 4):
        raise OptionError("the image has no alpha channel to take a mask from")
    alpha = image[..., -1]
    top = np.iinfo(image.dtype).max if image.dtype.kind == "u" else 1.0
    return alpha < top / 2


def parse_colour(text: str) -> tuple[int, int, int]:
    """``"#rrggbb"``, ``"rrggbb"`` or ``"r,g,b"`` (0-255) as three ints.

    >>> parse_colour("#ff8000"), parse_colour("0,255,0")
    ((255, 128, 0), (0, 255, 0))
    """
    hex_digits = text[1:] if text.startswith("#") else text
    if len(hex_digits) == 6 and all(c in "0123456789abcdefABCDEF" for c in hex_digits):
        return tuple(int(hex_digits[i: i + 2], 16) for i in (0, 2, 4))
    values = _numbers(text, "colour", "#00ff00 or 0,255,0")
    if len(values) != 3 or not all(0 <= v <= 255 and v == int(v) for v in values):
        raise OptionError(f"colour {text!r} is not #rrggbb or r,g,b with values 0-255")
    return int(values[0]), int(values[1]), int(values[2])


def key_mask(image: np.ndarray, colour: tuple[int, int, int], tolerance: float = 0.0) -> np.ndarray:
    """Pixels within ``tolerance`` (0-255 units, per channel) of an 8-bit ``colour`` key."""
    if image.ndim != 3 or image.shape[2] < 3:
        raise OptionError("a colour key needs an RGB image")
    if tolerance < 0:
        raise OptionError("the key tolerance must be >= 0")
    top = np.iinfo(image.dtype).max if image.dtype.kind == "u" else 1.0
    scaled = image[..., :3].astype(np.float32) * np.float32(255 / top)
    return (np.abs(scaled - np.asarray(colour, np.float32)) <= tolerance + 1e-3).all(axis=2)


def mask_from_file(path: str | os.PathLike, shape: tuple[int, int]) -> np.ndarray:
    """A mask image (grey, or the alpha of an image with alpha), set where above half scale."""
    from burnish.engine.imageio import read_image

    image, _ = read_image(path)  # a missing or broken file is an InputError naming it
    if image.shape[:2] != tuple(shape):
        raise InputError(f"mask is {image.shape[1]}x{image.shape[0]}, the image is "
                         f"{shape[1]}x{shape[0]}", path=path)
    plane = image[..., -1] if image.shape[2] in (2, 4) else image[..., 0]
    top = np.iinfo(plane.dtype).max if plane.dtype.kind == "u" else 1.0
    return plane > top / 2
