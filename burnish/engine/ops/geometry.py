"""Delivery geometry: ``resize`` to a size or scale, ``crop`` to a box or an aspect ratio."""

from __future__ import annotations

import numpy as np

from burnish.engine.edit_masks import Frame, parse_box
from burnish.engine.ops.declare import Op, Outcome, Param, StepInput
from burnish.engine.ops.params import Choice, Number, Text
from burnish.engine.ops.region import BOX
from burnish.engine.tiling.chain import CropStage, ResizeStage, RowMapStage, Stage
from burnish.errors import InputError, OptionError

FITS = ("contain", "cover", "stretch")
FILTERS = {"lanczos": 1, "bicubic": 3, "bilinear": 2, "nearest": 0}  # PIL.Image.Resampling
GRAVITIES = ("center", "top", "bottom", "left", "right")
# No delivery needs a side longer than this; a longer one is a typo, refused in the recipe.
# (Sizes that are absurd only for some inputs are refused by the run's plan, before any step.)
MAX_SIDE = 1_000_000


# Pillow's filter supports, in input pixels at scale 1 (widened by the scale when shrinking)
SUPPORT = {"lanczos": 3.0, "bicubic": 2.0, "bilinear": 1.0, "nearest": 0.5}


def _resampled(window: np.ndarray, box: tuple[float, float, float, float],
               size: tuple[int, int], resample: int) -> np.ndarray:
    """Pillow's resampling of ``box`` of ``window`` to ``size`` (width, height), each channel
    as float32 ("F" mode): any dtype, any channels, no 8-bit round trip for 16-bit and float
    images. A band of a resize is its rows' source box of the rows under the filter: the
    weights are those of resizing the whole image."""
    from PIL import Image

    from burnish.engine.pixels import from_float, to_float

    planes = to_float(window)
    out = np.empty((size[1], size[0], window.shape[2]), np.float32)
    for c in range(window.shape[2]):
        plane = Image.fromarray(np.ascontiguousarray(planes[..., c]))
        out[..., c] = np.asarray(plane.resize(size, resample, box=box))
    return from_float(out, window.dtype)


def _nearest_rows(upstream: Stage, height: int, width: int) -> Stage:
    """Nearest-neighbour resampling: each output pixel takes the input pixel under its centre
    (:meth:`~burnish.engine.edit_masks.Frame.warp`'s rule, which moves masks), band by band."""
    rows, cols = Frame.resampled((upstream.height, upstream.width),
                                 (height, width)).nearest_sources()

    def compute(window: np.ndarray, first: int, start: int, stop: int) -> np.ndarray:
        return np.ascontiguousarray(window[rows[start:stop] - first][:, cols])

    return RowMapStage(upstream, height, width, rows, compute)


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


def _resize(upstream: Stage, step: StepInput, outcome: Outcome) -> Stage:
    width, height, crop = _target_size((upstream.height, upstream.width), step.params)
    name = step.params["filter"]
    if name == "nearest":
        stage = _nearest_rows(upstream, height, width)
    else:
        def resample(window, box, size):
            return _resampled(window, box, size, FILTERS[name])

        stage = ResizeStage(upstream, height, width, support=SUPPORT[name], resample=resample)
    return stage if crop is None else CropStage(stage, crop)


def _resize_geometry(shape: tuple[int, int], p: dict) -> Frame:
    width, height, crop = _target_size(shape, p)
    frame = Frame.resampled(shape, (height, width))
    return frame if crop is None else frame.cropped(*crop)


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


def _crop(upstream: Stage, step: StepInput, outcome: Outcome) -> Stage:
    try:
        box = _crop_box((upstream.height, upstream.width), step.params)
    except InputError as error:
        raise InputError(error.problem, path=step.image) from None
    return CropStage(upstream, box)


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
