"""Edit masks from what users give: boxes, polygons, a mask image, the alpha channel, a key.

Every builder returns a bool ``H x W`` mask, True where the image is to be edited, and
raises :class:`~burnish.errors.OptionError` (bad option text) or
:class:`~burnish.errors.InputError` (a region that misses this image, a mask file that is
unreadable or of the wrong size) with one line that says what is wrong. Geometry is in pixel
coordinates with the origin at the top-left corner of the top-left pixel: pixel ``(x, y)``
covers ``[x, x + 1) x [y, y + 1)`` and is inside a shape when its centre
``(x + 0.5, y + 0.5)`` is.

A box or polygon that covers no pixel of the image (wholly outside it, or thinner than a
pixel between two centres) is an error naming the region and the image's size: it is a
mistake in the region, never "nothing to do". A key colour that matches nothing or an
all-zero mask file is not: a key may rightly match nothing in some images of a batch.

:class:`Frame` says where a region given in one image's coordinates lands in another's (the
input's coordinates moved through an upscale, a resize or a crop); :func:`build_mask` takes
one so that a region can be given in the input's coordinates.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from fractions import Fraction

import numpy as np

from burnish.engine.sparse_mask import Piece, SparseMask
from burnish.errors import InputError, OptionError


def _numbers(text: str, what: str, example: str) -> list[float]:
    try:
        values = [float(part) for part in text.replace(",", " ").split()]
    except ValueError:
        raise OptionError(f"{what} {text!r} is not a list of numbers (example: {example})") from None
    if not all(np.isfinite(values)):
        raise OptionError(f"{what} {text!r} has a value that is not finite")
    return values


def _show(values) -> str:
    """Numbers as a user would write them: ``10,20.5,30,40``."""
    return ",".join(f"{float(v):g}" for v in values)


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


def parse_point(text: str) -> tuple[float, float, int]:
    """``"x,y"`` (on the subject) or ``"x,y,LABEL"`` (1 on it, 0 not) as ``(x, y, label)``.

    >>> parse_point("10,20,0")
    (10.0, 20.0, 0)
    """
    values = _numbers(text, "point", "120,80")
    if len(values) not in (2, 3) or (len(values) == 3 and values[2] not in (0, 1)):
        raise OptionError(f"point {text!r} needs x,y or x,y,LABEL with LABEL 1 (on the "
                          f"subject) or 0 (not on it)")
    return values[0], values[1], int(values[2]) if len(values) == 3 else 1


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


def _missed(shape: tuple[int, int], label: str, bounds: tuple[float, float, float, float]):
    """The error for a shape (``bounds``: left, top, right, bottom) that covers no pixel."""
    height, width = shape
    left, top, right, bottom = bounds
    outside = right <= 0 or bottom <= 0 or left >= width or top >= height
    where = "lies outside" if outside else "covers no pixel centre of"
    return InputError(f"{label} {where} the {width}x{height} image")


def box_mask(shape: tuple[int, int], box: tuple[float, float, float, float], *,
             label: str | None = None) -> np.ndarray:
    """Pixels whose centres lie inside ``box`` (clipped to the image).

    A box that covers no pixel is an :class:`~burnish.errors.InputError` naming it (as
    ``label``, by default its numbers) and the image's size.
    """
    return SparseMask(shape, [box_piece(shape, box, label=label)]).dense()


def box_piece(shape: tuple[int, int], box: tuple[float, float, float, float], *,
              label: str | None = None) -> Piece:
    """:func:`box_mask` as a :class:`~burnish.engine.sparse_mask.Piece`: only the box's own
    pixels, whatever the image's size."""
    height, width = shape
    x, y, w, h = box
    # Pixel centres c + 0.5 inside [x, x + w): c from ceil(x - 0.5) to ceil(x + w - 0.5) - 1.
    left, right = (int(np.clip(np.ceil(v - 0.5), 0, width)) for v in (x, x + w))
    top, bottom = (int(np.clip(np.ceil(v - 0.5), 0, height)) for v in (y, y + h))
    if left >= right or top >= bottom:
        raise _missed(shape, label or f"box {_show(box)}", (x, y, x + w, y + h))
    return Piece(top, left, np.ones((bottom - top, right - left), bool))


def polygon_mask(shape: tuple[int, int], points: np.ndarray, *,
                 label: str | None = None) -> np.ndarray:
    """Pixels whose centres lie inside the polygon (even-odd rule), one scanline per row.

    A polygon that covers no pixel is an :class:`~burnish.errors.InputError` naming it (as
    ``label``, by default its points) and the image's size.
    """
    return SparseMask(shape, [polygon_piece(shape, points, label=label)]).dense()


def polygon_piece(shape: tuple[int, int], points: np.ndarray, *,
                  label: str | None = None) -> Piece:
    """:func:`polygon_mask` as a :class:`~burnish.engine.sparse_mask.Piece` over the rows
    the polygon spans: only its bounding box is ever allocated."""
    height, width = shape
    start, end = points, np.roll(points, -1, axis=0)
    # Only the rows and columns the polygon spans can have centres inside it.
    first = min(max(0, int(np.floor(points[:, 1].min()))), height)
    last = max(min(height, int(np.ceil(points[:, 1].max())) + 1), first)
    left_edge = min(max(0, int(np.floor(points[:, 0].min()))), width)
    right_edge = max(min(width, int(np.ceil(points[:, 0].max())) + 1), left_edge)
    mask = np.zeros((last - first, right_edge - left_edge), bool)
    for row in range(first, last):
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
            mask[row - first, left - left_edge:right - left_edge] = True
    if not mask.any():
        shown = " ".join(_show(point) for point in points)
        raise _missed(shape, label or f'polygon "{shown}"',
                      (*points.min(axis=0), *points.max(axis=0)))
    return Piece(first, left_edge, mask)


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


def mask_from_file(path: str | os.PathLike, shape: tuple[int, int], *,
                   image: str = "the image") -> np.ndarray:
    """A mask image (grey, or the alpha of an image with alpha), set where above half scale;
    it must have ``shape`` (the size of ``image``, as the error names it)."""
    from burnish.engine.imageio import read_image

    pixels, _ = read_image(path)  # a missing or broken file is an InputError naming it
    if pixels.shape[:2] != tuple(shape):
        raise InputError(f"mask is {pixels.shape[1]}x{pixels.shape[0]}, {image} is "
                         f"{shape[1]}x{shape[0]}", path=path)
    plane = pixels[..., -1] if pixels.shape[2] in (2, 4) else pixels[..., 0]
    top = np.iinfo(plane.dtype).max if plane.dtype.kind == "u" else 1.0
    return plane > top / 2


@dataclass(frozen=True)
class Frame:
    """Where the pixel coordinates of one image (``source``, its height and width) land on
    another (``target``): ``x' = scale_x * x + offset_x`` and ``y' = scale_y * y + offset_y``.

    An upscale, a resize and a crop each declare one; :meth:`then` chains them, so a point
    of a recipe's input can be found at any step (``coordinates = "input"``) and a step's
    region followed to the output (provenance). The numbers are exact fractions: every
    scale is a ratio of two image sizes, so chaining and mapping pixel centres never round.
    """

    source: tuple[int, int]
    target: tuple[int, int]
    scale_x: Fraction = Fraction(1)
    scale_y: Fraction = Fraction(1)
    offset_x: Fraction = Fraction(0)
    offset_y: Fraction = Fraction(0)

    @classmethod
    def identity(cls, shape: tuple[int, int]) -> Frame:
        return cls(tuple(shape), tuple(shape))

    @classmethod
    def resampled(cls, source: tuple[int, int], target: tuple[int, int]) -> Frame:
        """The whole of ``source`` stretched over the whole of ``target``."""
        return cls(tuple(source), tuple(target), Fraction(target[1], source[1]),
                   Fraction(target[0], source[0]))

    def cropped(self, left: int, top: int, width: int, height: int) -> Frame:
        """This frame, then keeping only the box ``left, top, width, height`` of its target."""
        return self.then(Frame(self.target, (height, width), offset_x=Fraction(-left),
                               offset_y=Fraction(-top)))

    @property
    def is_identity(self) -> bool:
        return self == Frame.identity(self.source)

    def then(self, after: Frame) -> Frame:
        """This map followed by ``after`` (whose source is this one's target)."""
        if after.source != self.target:
            raise ValueError(f"cannot chain a frame onto {after.source}, it ends at {self.target}")
        return Frame(self.source, after.target, after.scale_x * self.scale_x,
                     after.scale_y * self.scale_y, after.scale_x * self.offset_x + after.offset_x,
                     after.scale_y * self.offset_y + after.offset_y)

    def box(self, box: tuple[float, float, float, float]) -> tuple[float, float, float, float]:
        """A box ``x, y, w, h`` of the source, in the target's coordinates."""
        x, y, w, h = (Fraction(v) for v in box)
        return (float(self.scale_x * x + self.offset_x), float(self.scale_y * y + self.offset_y),
                float(self.scale_x * w), float(self.scale_y * h))

    def points(self, points: np.ndarray) -> np.ndarray:
        """``N x 2`` points ``x, y`` of the source, in the target's coordinates."""
        return np.array([[float(self.scale_x * Fraction(x) + self.offset_x),
                          float(self.scale_y * Fraction(y) + self.offset_y)]
                         for x, y in points.tolist()], np.float64).reshape(-1, 2)

    def nearest_sources(self) -> tuple[np.ndarray, np.ndarray]:
        """The source row under each target row's centre and the source column under each
        target column's (the rule of :meth:`warp`), for a frame whose target comes wholly
        from inside its source (a resize)."""
        rows = source_indices(self.target[0], self.source[0], self.scale_y, self.offset_y)
        cols = source_indices(self.target[1], self.source[1], self.scale_x, self.offset_x)
        if (rows.size, cols.size) != self.target:
            raise ValueError("part of this frame's target lies outside its source")
        return rows.indices, cols.indices

    def warp(self, mask: np.ndarray) -> np.ndarray:
        """A mask of the source's size resampled onto the target: each target pixel takes the
        source pixel under its centre (nearest neighbour, so a bool mask stays exact and an
        integer upscale repeats pixels); pixels that come from outside the source are 0."""
        if mask.shape[:2] != self.source:
            raise ValueError(f"a mask of {mask.shape[:2]} given to a frame of {self.source}")
        rows = source_indices(self.target[0], self.source[0], self.scale_y, self.offset_y)
        cols = source_indices(self.target[1], self.source[1], self.scale_x, self.offset_x)
        if (rows.size, cols.size) == self.target:  # all from inside: no border to clear
            return cols.gather(rows.gather(mask, axis=0), axis=1)
        out = np.zeros(self.target + mask.shape[2:], mask.dtype)
        if rows.size and cols.size:
            out[rows.start:rows.start + rows.size, cols.start:cols.start + cols.size] = (
                cols.gather(rows.gather(mask, axis=0), axis=1))
        return out


@dataclass(frozen=True)
class _Indices:
    """The target positions ``start .. start + size`` that come from inside the source, and
    the source index each one takes."""

    start: int
    indices: np.ndarray

    @property
    def size(self) -> int:
        return len(self.indices)

    def gather(self, array: np.ndarray, axis: int) -> np.ndarray:
        """``array`` indexed by :attr:`indices` along ``axis``. The indices never decrease, so
        this is a repeat of each source line by how often it is taken (0 drops it): as fast
        as ``np.repeat`` for an integer upscale, and several times faster than fancy indexing."""
        first, last = int(self.indices[0]), int(self.indices[-1])
        counts = np.bincount(self.indices - first, minlength=last - first + 1)
        span = [slice(None)] * array.ndim
        span[axis] = slice(first, last + 1)
        return np.repeat(array[tuple(span)], counts, axis=axis)


def source_indices(target: int, source: int, scale: Fraction, offset: Fraction) -> _Indices:
    """For target pixels ``0 .. target - 1``, the source pixel under each centre:
    ``floor((c + 1/2 - offset) / scale)``, in exact integer arithmetic."""
    # (c + 1/2 - a/b) / (p/q) = ((2c + 1) b - 2a) q / (2 b p)
    p, q = scale.numerator, scale.denominator
    a, b = offset.numerator, offset.denominator
    indices = [((2 * c + 1) * b - 2 * a) * q // (2 * b * p) for c in range(target)]
    inside = [c for c, index in enumerate(indices) if 0 <= index < source]
    if not inside:
        return _Indices(0, np.zeros(0, np.int64))
    # Indices grow with c, so the positions inside the source are one run.
    return _Indices(inside[0], np.array(indices[inside[0]:inside[-1] + 1], np.int64))


def build_mask(image: np.ndarray, *, mask_file: str | os.PathLike | None = None,
               boxes=(), polygons=(), alpha: bool = False, key: str | None = None,
               key_tolerance: float = 0.0, frame: Frame | None = None) -> np.ndarray:
    """The union of every region source given, as a bool mask of ``image`` (``H x W x C``).

    ``boxes`` and ``polygons`` are the texts a user gives (:func:`parse_box`,
    :func:`parse_polygon`), ``key`` a colour (:func:`parse_colour`). With ``frame`` (whose
    target is ``image``'s size), boxes, polygons and the mask file are in the coordinates of
    ``frame.source`` (say the recipe's input): shapes are moved by it and the mask file, of
    the source's size, is resampled by :meth:`Frame.warp`. Alpha and key are read from
    ``image`` itself (:func:`pixel_mask`).
    """
    mask = placed_mask(image.shape[:2], mask_file=mask_file, boxes=boxes, polygons=polygons,
                       frame=frame).dense()
    if alpha or key is not None:
        mask |= pixel_mask(image, alpha=alpha, key=key, key_tolerance=key_tolerance)
    return mask


def placed_mask(shape: tuple[int, int], *, mask_file: str | os.PathLike | None = None,
                boxes=(), polygons=(), frame: Frame | None = None) -> SparseMask:
    """The region sources that do not depend on the pixels (a mask file, boxes, polygons;
    see :func:`build_mask`), united as a :class:`~burnish.engine.sparse_mask.SparseMask` of
    an image of ``shape``: boxes and polygons cost only their own pixels. (A mask file is
    read whole, a byte per pixel of the image, and kept as its set windows.)"""
    frame = frame or Frame.identity(shape)
    if frame.target != tuple(shape):
        raise ValueError(f"the frame ends at {frame.target}, the image is {shape}")
    moved = not frame.is_identity
    pieces = []
    if mask_file is not None:
        if moved:
            dense = frame.warp(mask_from_file(mask_file, frame.source, image="the input image"))
        else:
            dense = mask_from_file(mask_file, shape)
        pieces += SparseMask.from_dense(dense).pieces
    for text in boxes:
        box = frame.box(parse_box(text))
        label = f"box {text}" + (f" (at this step {_show(box)})" if moved else "")
        pieces.append(box_piece(shape, box, label=label))
    for text in polygons:
        points = frame.points(parse_polygon(text))
        shown = " ".join(_show(point) for point in points)
        label = f'polygon "{text}"' + (f' (at this step "{shown}")' if moved else "")
        pieces.append(polygon_piece(shape, points, label=label))
    return SparseMask(shape, pieces)


def pixel_mask(pixels: np.ndarray, *, alpha: bool = False, key: str | None = None,
               key_tolerance: float = 0.0) -> np.ndarray:
    """The region sources read from the pixels themselves, each pixel on its own (so a band
    of rows gives the band's rows of the whole image's mask): where the alpha is below half
    (``alpha``) and where the colour is within ``key_tolerance`` of ``key``."""
    mask = np.zeros(pixels.shape[:2], bool)
    if alpha:
        mask |= alpha_mask(pixels)
    if key is not None:
        mask |= key_mask(pixels, parse_colour(key), key_tolerance)
    return mask


# What a painted mask is made of (the workspace's mask document, masks/{stem}.json).
SHAPE_KINDS = ("stroke", "box", "polygon")
MAX_SHAPES = 10_000
MAX_STROKE_POINTS = 100_000


def draw_mask(shape: tuple[int, int], shapes: list[dict]) -> np.ndarray:
    """A painted mask as uint8 grey (255: edited), drawn in order from ``shapes``.

    Each shape is a dict: ``{"kind": "stroke", "points": [[x, y], ...], "size": D,
    "hardness": H}`` (a brush of diameter ``D`` dragged through the points, fully on within
    ``H * D / 2`` of the path and fading linearly to nothing at ``D / 2``), ``{"kind":
    "box", "box": [x, y, w, h]}`` or ``{"kind": "polygon", "points": [...]}`` (the pixel
    centres inside, as :func:`box_piece` and :func:`polygon_piece` say). ``"erase": true``
    takes the shape away from what is painted so far (a soft eraser partly). Coordinates
    are image pixels, as everywhere here. Anything malformed is a one-line
    :class:`~burnish.errors.OptionError` naming the shape.
    """
    if not isinstance(shapes, list) or len(shapes) > MAX_SHAPES:
        raise OptionError(f"a mask is a list of at most {MAX_SHAPES} shapes")
    height, width = shape
    canvas = np.zeros(shape, np.float32)
    for number, item in enumerate(shapes, 1):
        try:
            top, left, cover = _shape_coverage(shape, item)
        except (KeyError, TypeError, ValueError) as error:
            raise OptionError(f"mask shape {number}: {_shape_problem(error)}") from None
        if cover is None:
            continue  # wholly outside the image: paints nothing
        window = canvas[top:top + cover.shape[0], left:left + cover.shape[1]]
        if item.get("erase", False) is True:
            window *= 1.0 - cover
        else:
            np.maximum(window, cover, out=window)
    return np.rint(canvas * 255.0).astype(np.uint8)


def _shape_problem(error: Exception) -> str:
    if isinstance(error, KeyError):
        return f"missing {error.args[0]!r}"
    return str(error) or type(error).__name__


def _shape_coverage(shape: tuple[int, int], item: dict):
    """(top, left, coverage in [0, 1]) of one shape over its bounding window, or a None
    coverage when it misses the image."""
    if not isinstance(item, dict) or item.get("kind") not in SHAPE_KINDS:
        raise ValueError(f"kind must be one of {', '.join(SHAPE_KINDS)}")
    if item["kind"] == "stroke":
        return _stroke_coverage(shape, _points(item["points"], minimum=1),
                                float(item["size"]), float(item.get("hardness", 1.0)))
    try:
        if item["kind"] == "box":
            box = tuple(float(v) for v in item["box"])
            if len(box) != 4 or box[2] <= 0 or box[3] <= 0 or not np.all(np.isfinite(box)):
                raise ValueError("box is [x, y, w, h] with w and h above 0")
            piece = box_piece(shape, box)
        else:
            piece = polygon_piece(shape, _points(item["points"], minimum=3))
    except InputError:
        return 0, 0, None
    return piece.top, piece.left, piece.mask.astype(np.float32)


def _points(raw, *, minimum: int) -> np.ndarray:
    points = np.asarray(raw, dtype=np.float64)
    if (points.ndim != 2 or points.shape[1] != 2 or not minimum <= len(points)
            <= MAX_STROKE_POINTS or not np.all(np.isfinite(points))):
        raise ValueError(f"points must be {minimum} to {MAX_STROKE_POINTS} [x, y] pairs")
    return points


def _stroke_coverage(shape: tuple[int, int], points: np.ndarray, size: float,
                     hardness: float):
    """A round brush of diameter ``size`` along the polyline ``points``: coverage falls
    linearly from 1 at ``hardness * radius`` from the path to 0 at the radius (a hard brush
    covers the pixel centres within the radius). Each segment is drawn over its own
    bounding window, so a long stroke costs its own area, not its bounding box's."""
    if not (0.5 <= size <= 10_000 and 0.0 <= hardness <= 1.0):
        raise ValueError("size must be in [0.5, 10000] and hardness in [0, 1]")
    height, width = shape
    radius = size / 2.0
    soft = radius * (1.0 - hardness)
    low = np.floor(points.min(axis=0) - radius).astype(int)
    high = np.ceil(points.max(axis=0) + radius).astype(int) + 1
    left, top = max(0, low[0]), max(0, low[1])
    right, bottom = min(width, high[0]), min(height, high[1])
    if left >= right or top >= bottom:
        return 0, 0, None
    cover = np.zeros((bottom - top, right - left), np.float32)
    ends = np.vstack([points, points[-1:]]) if len(points) == 1 else points
    for a, b in zip(ends[:-1], ends[1:]):
        x0 = max(left, int(np.floor(min(a[0], b[0]) - radius)))
        x1 = min(right, int(np.ceil(max(a[0], b[0]) + radius)) + 1)
        y0 = max(top, int(np.floor(min(a[1], b[1]) - radius)))
        y1 = min(bottom, int(np.ceil(max(a[1], b[1]) + radius)) + 1)
        if x0 >= x1 or y0 >= y1:
            continue
        cx = np.arange(x0, x1) + 0.5
        cy = (np.arange(y0, y1) + 0.5)[:, None]
        direction = b - a
        length2 = float(direction @ direction)
        t = 0.0 if length2 == 0 else np.clip(
            ((cx - a[0]) * direction[0] + (cy - a[1]) * direction[1]) / length2, 0.0, 1.0)
        distance = np.hypot(cx - (a[0] + t * direction[0]), cy - (a[1] + t * direction[1]))
        if soft > 0:
            segment = np.clip((radius - distance) / soft, 0.0, 1.0)
        else:
            segment = (distance <= radius).astype(np.float32)
        window = cover[y0 - top:y1 - top, x0 - left:x1 - left]
        np.maximum(window, segment, out=window)
    return top, left, cover
