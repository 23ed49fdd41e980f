"""Delivery geometry: ``resize`` to a size or scale, ``crop`` to a box or an aspect ratio."""

from __future__ import annotations

import numpy as np

from burnish.engine.edit_masks import Frame, parse_box
from burnish.engine.ops.declare import Op, Outcome, Param, StepInput
from burnish.engine.ops.params import Choice, Number, Text
from burnish.engine.ops.region import BOX
from burnish.errors import InputError, OptionError

FITS = ("contain", "cover", "stretch")
FILTERS = {"lanczos": 1, "bicubic": 3, "bilinear": 2, "nearest": 0}  # PIL.Image.Resampling
GRAVITIES = ("center", "top", "bottom", "left", "right")
# No delivery needs a side longer than this; a longer one is a typo, refused in the recipe.
# (Sizes that are absurd only for some inputs are refused by the run's plan, before any step.)
MAX_SIDE = 1_000_000


def _resized(pixels: np.ndarray, width: int, height: int, resample: int) -> np.ndarray:
    """Pillow's resampling of each channel as float32 ("F" mode): any dtype, any channels,
    no 8-bit round trip for 16-bit and float images."""
    from PIL import Image

    from burnish.engine.pixels import from_float, to_float

    if resample == FILTERS["nearest"]:
        return _nearest(pixels, width, height)
    planes = to_float(pixels)
    out = np.empty((height, width, pixels.shape[2]), np.float32)
    for c in range(pixels.shape[2]):
        plane = Image.fromarray(np.ascontiguousarray(planes[..., c]))
        out[..., c] = np.asarray(plane.resize((width, height), resample))
    return from_float(out, pixels.dtype)


def _nearest(array: np.ndarray, width: int, height: int) -> np.ndarray:
    """Nearest-neighbour resampling: each output pixel takes the input pixel under its centre
    (the same rule as :meth:`~burnish.engine.edit_masks.Frame.warp`, which moves masks)."""
    return Frame.resampled(array.shape[:2], (height, width)).warp(array)


def _target_size(shape: tuple[int, int], p: dict) -> tuple[int, int, tuple | None]:
    """Output width and height, and the crop box that ``fit = "cover"`` takes after it."""
    height, width = shape
    if p["scale"] is not None:
        return max(1, round(width * p["scale"])), max(1, round(height * p["scale"])), None
    want_w, want_h = p["width"], p["height"]
    if want_w is None or want_h is None or p["fit"] == "stretch":
        # one side given: keep the aspect ratio
        want_w = want_w or max(1, round(width * want_h / height))
        want_h = want_h or max(1, round(height * want_w / width))
        return want_w, want_h, None
    ratio = (max if p["fit"] == "cover" else min)(want_w / width, want_h / height)
    scaled_w, scaled_h = max(1, round(width * ratio)), max(1, round(height * ratio))
    if p["fit"] == "contain":
        return scaled_w, scaled_h, None
    left, top = (scaled_w - want_w) // 2, (scaled_h - want_h) // 2
    return scaled_w, scaled_h, (left, top, want_w, want_h)


def _resize(pixels: np.ndarray, step: StepInput) -> Outcome:
    width, height, crop = _target_size(pixels.shape[:2], step.params)
    out = _resized(pixels, width, height, FILTERS[step.params["filter"]])
    return Outcome(out if crop is None else _cut(out, crop))


def _resize_geometry(shape: tuple[int, int], p: dict) -> Frame:
    width, height, crop = _target_size(shape, p)
    frame = Frame.resampled(shape, (height, width))
    return frame if crop is None else frame.cropped(*crop)


def _cut(array: np.ndarray, box: tuple[int, int, int, int]) -> np.ndarray:
    left, top, width, height = box
    return np.ascontiguousarray(array[top:top + height, left:left + width])


def _crop_box(shape: tuple[int, int], p: dict) -> tuple[int, int, int, int]:
    height, width = shape
    if p["box"] is not None:
        left, top, w, h = (int(round(v)) for v in parse_box(p["box"]))
        if left < 0 or top < 0 or left + w > width or top + h > height:
            raise InputError(f"crop box {p['box']} is outside the {width}x{height} image")
        return left, top, w, h
    aspect_w, aspect_h = _parse_aspect(p["aspect"])
    w, h = width, round(width * aspect_h / aspect_w)
    if h > height:
        w, h = round(height * aspect_w / aspect_h), height
    w, h = max(1, w), max(1, h)
    gravity = p["gravity"]
    left = {"left": 0, "right": width - w}.get(gravity, (width - w) // 2)
    top = {"top": 0, "bottom": height - h}.get(gravity, (height - h) // 2)
    return left, top, w, h


def _parse_aspect(text: str) -> tuple[float, float]:
    """``"4:5"`` (or ``"1.91:1"``) as two positive numbers."""
    parts = text.split(":")
    try:
        values = [float(part) for part in parts]
    except ValueError:
        values = []
    if len(values) != 2 or not all(np.isfinite(values)) or min(values) <= 0:
        raise OptionError(f"aspect {text!r} must be two positive numbers W:H, like 4:5")
    return values[0], values[1]


def _crop(pixels: np.ndarray, step: StepInput) -> Outcome:
    try:
        box = _crop_box(pixels.shape[:2], step.params)
    except InputError as error:
        raise InputError(error.problem, path=step.image) from None
    return Outcome(_cut(pixels, box))


def _crop_geometry(shape: tuple[int, int], p: dict) -> Frame:
    return Frame.identity(shape).cropped(*_crop_box(shape, p))


def _check_resize(p: dict) -> None:
    sized = p["width"] is not None or p["height"] is not None
    if sized == (p["scale"] is not None):
        raise ValueError("give either scale, or width and/or height")


def _check_crop(p: dict) -> None:
    if (p["box"] is None) == (p["aspect"] is None):
        raise ValueError("give either box or aspect")


RESIZE = Op(
    "resize", "Resize to a width and/or height (fit contain, cover or stretch) or by a scale.",
    (Param("width", Number(1, MAX_SIDE, integer=True), "Output width in pixels.", None),
     Param("height", Number(1, MAX_SIDE, integer=True), "Output height in pixels.", None),
     Param("scale", Number(0.001, 64), "Scale factor (instead of width and height).", None),
     Param("fit", Choice(FITS), "With both width and height: contain (inside), cover (fill, "
           "then centre-crop) or stretch.", "contain"),
     Param("filter", Choice(tuple(FILTERS)), "Resampling filter.", "lanczos")),
    _resize,
    check_together=_check_resize,
    geometry=_resize_geometry,
)
CROP = Op(
    "crop", "Crop to a box, or to an aspect ratio placed by gravity.",
    (Param("box", BOX, "Box x,y,w,h in pixels.", None),
     Param("aspect", Text(_parse_aspect, "4:5"), "Aspect ratio W:H (the largest crop that "
           "fits).", None),
     Param("gravity", Choice(GRAVITIES), "Where an aspect crop sits.", "center")),
    _crop,
    check_together=_check_crop,
    geometry=_crop_geometry,
)
