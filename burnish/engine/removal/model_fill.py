"""Filling holes with an inpainting model, one crop per group of holes (IOPaint's strategies).

A LaMa sees a crop, never the whole image: the cost of a model call grows with its input, and
a hole needs context near it, not the far side of a poster. Two of IOPaint's high-resolution
strategies, combined:

- **Crop** (IOPaint's ``HDStrategy.CROP`` with ``hd_strategy_crop_margin``): each group of
  holes (:func:`burnish.engine.removal.fill_regions.hole_boxes`: 8-connected components, each bounding box
  grown by ``margin`` pixels of context and clipped to the image, overlapping boxes merged) is
  cropped with its hole, inpainted on its own, and only its hole pixels are pasted back.
  IOPaint crops only above a trigger size and shifts boxes to stay inside the image; here
  every group is cropped, and boxes are clipped.
- **Resize** (IOPaint's ``HDStrategy.RESIZE`` with ``hd_strategy_resize_limit``): a crop whose
  longer side exceeds ``resize_limit`` is downscaled so that its longer side is
  ``resize_limit``, inpainted, and the fill is upscaled back to the crop's size (bicubic)
  before its hole pixels are pasted. A fixed-size model (Carve's LaMa-ONNX at 512 x 512)
  always works this way: :class:`~burnish.models.inpaint_model.InpaintModel` resizes every
  crop to the model's size, so no second resize happens here.

Pixels outside the hole are never touched: the result equals the input bit for bit there.
"""

from __future__ import annotations

import numpy as np

from burnish.engine.removal.fill_regions import fill_regions
from burnish.errors import InputError, OptionError
from burnish.models.inpaint_model import InpaintModel, resize_hole, resize_pixels


def model_fill(image: np.ndarray, hole: np.ndarray, model: InpaintModel, *, margin: int = 128,
               resize_limit: int = 1280, progress=None) -> np.ndarray:
    """Fill the hole of ``image`` with an inpainting model, crop by crop.

    Parameters
    ----------
    image : ndarray
        float32 ``H x W x C`` in [0, 1], ``C`` 1 or 3. Grey is given to the model as three
        equal channels and the fill is averaged back to one.
    hole : ndarray
        bool ``H x W``, True where pixels are to be filled.
    model : InpaintModel
        The model (anything with ``inpaint(image, hole)`` and ``fixed_size``).
    margin : int
        Context pixels around each group of holes (IOPaint's ``hd_strategy_crop_margin``).
    resize_limit : int
        Crops with a longer side above this are inpainted at this size and the fill upscaled
        (IOPaint's ``hd_strategy_resize_limit``). Ignored for fixed-size models, which resize
        every crop to their own size.
    progress : callable, optional
        ``progress(done, total)`` after each crop.

    Returns
    -------
    ndarray
        A new float32 ``H x W x C`` array: the fill in the hole, ``image`` bit for bit elsewhere.

    Examples
    --------
    >>> class Flat:  # stands in for an InpaintModel: fills with mid-grey
    ...     fixed_size = None
    ...     def inpaint(self, image, hole):
    ...         return np.full(image.shape, 0.5, np.float32)
    >>> image = np.zeros((40, 60, 1), np.float32)
    >>> hole = np.zeros((40, 60), bool)
    >>> hole[10:15, 20:30] = True
    >>> filled = model_fill(image, hole, Flat(), margin=8)
    >>> float(filled[12, 25, 0]), float(filled[0, 0, 0])
    (0.5, 0.0)
    """
    if not isinstance(image, np.ndarray) or image.dtype != np.float32:
        raise OptionError("model_fill takes float32 pixels in [0, 1]")
    if image.ndim != 3 or image.shape[2] not in (1, 3):
        raise InputError(f"cannot inpaint {image.shape} pixels: 1 or 3 channels are needed")
    hole = np.asarray(hole, dtype=bool)
    if hole.shape != image.shape[:2]:
        raise InputError(f"the mask is {hole.shape[1]}x{hole.shape[0]} but the image is "
                         f"{image.shape[1]}x{image.shape[0]}")
    if resize_limit < 1:
        raise OptionError(f"resize limit {resize_limit} must be at least 1")
    return fill_regions(image, hole, margin,
                        lambda crop, crop_hole, _: _fill_crop(crop, crop_hole, model, resize_limit),
                        progress)


def _fill_crop(crop: np.ndarray, hole: np.ndarray, model, resize_limit: int) -> np.ndarray:
    """The model's fill for one crop, ``h x w x C`` like the crop."""
    height, width, channels = crop.shape
    colour = np.repeat(crop, 3, axis=2) if channels == 1 else np.ascontiguousarray(crop)
    longer = max(height, width)
    if model.fixed_size is None and longer > resize_limit:
        scale = resize_limit / longer
        small_h, small_w = max(round(height * scale), 1), max(round(width * scale), 1)
        small = np.clip(resize_pixels(colour, small_h, small_w), 0.0, 1.0)
        fill = model.inpaint(small, resize_hole(hole, small_h, small_w))
        fill = np.clip(resize_pixels(fill, height, width), 0.0, 1.0)
    else:
        fill = model.inpaint(colour, hole)
    if channels == 1:
        fill = fill.mean(axis=2, keepdims=True, dtype=np.float32)
    return fill.astype(np.float32, copy=False)
