"""Automatic masks: what to edit found in the image itself.

:class:`Detector` is one mask source, opened once (its model loaded) and applied to any
number of images; its mask is united with the other region sources (boxes, polygons, mask
files, keys) and then grown and feathered by the step like every region.

- ``text``: text, captions, signatures and watermarks. By default the shipped ``text-mask``
  model (:mod:`burnish.models.segmentation`, ``text-mask`` contract; trained by
  :mod:`burnish.export.text_masks` on synthetic overlays): it marks the glyphs' own pixels,
  at the image's resolution, in tiles of :data:`TEXT_TILE` pixels read with a halo past its
  receptive field (so tiles give what the whole image gives), thresholded at the model's
  ``burnish.threshold`` with hysteresis down to its ``burnish.threshold_low`` (over the
  whole map, after the tiles). A PP-OCR text detector (``text`` contract: ``--detect-model``, or
  the one the ``rapidocr_onnxruntime`` wheel installs, where the package has no text-mask
  model) marks each line's shrunk core instead; its regions are kept and grown back as
  PaddleOCR does (:func:`grow_like_db`), so the mask covers each line whole (its box, not
  only its glyphs' strokes).
- ``subject`` / ``background``: a saliency model of rembg's contract (u2net, isnet,
  BiRefNet), the subject where the map is above one half, limited to ``box`` when one is
  given; a prompted model of Segment Anything's encoder/decoder contract (SAM, MobileSAM),
  the subject that ``box`` and ``points`` point at; without a model, GrabCut (OpenCV) from
  ``box``.
"""

from __future__ import annotations

import os

import numpy as np

from burnish.errors import InputError, ModelError, OptionError

KINDS = ("text", "subject", "background")
TEXT_THRESHOLD = 0.3  # PaddleOCR's DB thresholds: a pixel's, and a region's mean
TEXT_REGION_THRESHOLD = 0.5
TEXT_MIN_SIDE = 4  # regions thinner than this are noise (PaddleOCR drops them too)
SUBJECT_THRESHOLD = 0.5
UNCLIP_RATIO = 1.5
GRABCUT_ITERATIONS = 5
TEXT_TILE = 1024
TEXT_HALO = 128  # past the text-mask network's receptive radius (under 100 pixels)


class Detector:
    """One automatic mask source (see the module's docstring).

    Parameters
    ----------
    kind : {"text", "subject", "background"}
    model : path, optional
        An ONNX model of the kind's contract; for ``text`` the installed PP-OCR detector by
        default, for ``subject``/``background`` GrabCut from ``box`` without one.
    box : str, optional
        ``"x,y,w,h"``: where the subject is (GrabCut's rectangle; a prompted model's box;
        with a saliency model, the subject is kept inside it).
    points : list of str, optional
        ``"x,y"`` (on the subject) or ``"x,y,0"`` (not on it): a prompted model's points.
    """

    def __init__(self, kind: str, *, model: str | os.PathLike | None = None,
                 box: str | None = None, points: list[str] | tuple[str, ...] = (),
                 device: str = "auto"):
        from burnish.engine.edit_masks import parse_box, parse_point
        from burnish.models.segmentation import (
            MapModel,
            PromptedModel,
            installed_text_model,
            shipped_text_mask,
        )

        self.prompted = check_prompts(kind, model, box, points)
        self.kind, self.box = kind, None if box is None else parse_box(box)
        self.points = tuple(parse_point(point) for point in points)
        if kind == "text":
            model = model or shipped_text_mask() or installed_text_model()
            if model is None:
                raise ModelError("text detection needs a text detector: this installation "
                                 "has no text-mask model; pip install 'burnish[detect]' (the "
                                 "rapidocr_onnxruntime wheel carries PP-OCR's), or give one")
            self.model = MapModel(model, contract="text", device=device)
        elif self.prompted:
            self.model = PromptedModel(model, device=device)
        elif model is not None:
            self.model = MapModel(model, contract="saliency", device=device)
        else:
            self.model = None

    @property
    def label(self) -> str:
        source = self.model.path.name if self.model is not None else "GrabCut"
        return f"{self.kind} ({source})"

    def mask(self, pixels: np.ndarray, *, frame=None) -> np.ndarray:
        """The bool ``H x W`` mask of ``pixels`` (``H x W`` or ``H x W x C``). ``frame``
        (an :class:`~burnish.engine.edit_masks.Frame` onto ``pixels``): the box and points
        are in its source's coordinates (a recipe's input, before an upscale or crop)."""
        from burnish.engine.edit_masks import box_piece

        if self.kind == "text" and self.model.is_text_mask:
            from burnish.kernels import hysteresis

            probability = tiled_map(self.model.predict, pixels, multiple=self.model.multiple)
            return hysteresis(probability > self.model.threshold_low,
                              probability > self.model.threshold)
        if self.kind == "text":
            return grow_like_db(self.model.predict(pixels))
        box, points = self.box, self.points
        if frame is not None:
            box = None if box is None else frame.box(box)
            moved = frame.points(np.array([point[:2] for point in points], np.float64)
                                 .reshape(-1, 2))
            points = tuple((x, y, label) for (x, y), (_, _, label) in zip(moved, points))
        if self.model is None:
            subject = self._grabcut(pixels, box)
        elif self.prompted:
            if box is not None:  # a box that misses the image is an error
                box_piece(pixels.shape[:2], box, label=f"the {self.kind} box")
            for x, y, _ in points:
                if not (0 <= x < pixels.shape[1] and 0 <= y < pixels.shape[0]):
                    raise InputError(f"the point {x:g},{y:g} is outside the "
                                     f"{pixels.shape[1]}x{pixels.shape[0]} image")
            return self._as_kind(self.model.predict(pixels, box=box, points=points))
        else:
            subject = self.model.predict(pixels) > SUBJECT_THRESHOLD
            if box is not None:
                subject &= self._box_mask(pixels.shape[:2], box)
        return self._as_kind(subject)

    def _as_kind(self, subject: np.ndarray) -> np.ndarray:
        return subject if self.kind == "subject" else ~subject

    def _box_mask(self, shape, box) -> np.ndarray:
        from burnish.engine.edit_masks import box_mask

        return box_mask(shape, box, label=f"the {self.kind} box")

    def _grabcut(self, pixels: np.ndarray, box) -> np.ndarray:
        try:
            import cv2
        except ImportError:
            raise OptionError("GrabCut needs OpenCV: pip install opencv-python-headless, or "
                              "give a saliency model") from None
        inside = self._box_mask(pixels.shape[:2], box)
        if inside.all():
            raise InputError("the subject box covers the whole image: GrabCut needs "
                             "background outside it")
        rows, columns = np.nonzero(inside)
        rect = (int(columns.min()), int(rows.min()), int(np.ptp(columns)) + 1,
                int(np.ptp(rows)) + 1)
        labels = np.zeros(pixels.shape[:2], np.uint8)
        background, foreground = np.zeros((1, 65), np.float64), np.zeros((1, 65), np.float64)
        cv2.setRNGSeed(0)  # the same image and box give the same mask
        cv2.grabCut(_bgr8(pixels), labels, rect, background, foreground, GRABCUT_ITERATIONS,
                    cv2.GC_INIT_WITH_RECT)
        return (labels == cv2.GC_FGD) | (labels == cv2.GC_PR_FGD)


def check_prompts(kind: str, model, box: str | None, points) -> bool:
    """The rules of a detector's kind, model and prompts, checked before any model is
    opened (a recipe checks them when it is loaded): :class:`OptionError` for a broken
    one. Whether the model is a prompted (SAM) pair."""
    from burnish.models.segmentation import is_prompted

    if kind not in KINDS:
        raise OptionError(f"unknown detection {kind!r}: use {', '.join(KINDS)}")
    prompted = model is not None and kind != "text" and is_prompted(model)
    if points and not prompted:
        raise OptionError("points are prompts for a prompted model (SAM's encoder and "
                          "decoder); GrabCut and saliency models take a box")
    if kind == "text" and box is not None:
        raise OptionError("a box is a prompt for subject and background, not text")
    if prompted and box is None and not points:
        raise OptionError("a prompted (SAM) model needs a box or points on the subject")
    if kind != "text" and model is None and box is None:
        raise OptionError(f"{kind} without a model needs a box around the subject "
                          "(GrabCut), or a saliency model (rembg's contract)")
    return prompted


def _bgr8(pixels: np.ndarray) -> np.ndarray:
    pixels = np.asarray(pixels)
    if pixels.ndim == 2:
        pixels = pixels[:, :, None]
    if pixels.dtype == np.uint16:
        pixels = (pixels >> 8).astype(np.uint8)
    elif pixels.dtype.kind == "f":
        pixels = np.clip(np.rint(pixels * 255), 0, 255).astype(np.uint8)
    colour = pixels[:, :, :1] if pixels.shape[2] in (1, 2) else pixels[:, :, :3]
    colour = np.repeat(colour, 3, axis=2) if colour.shape[2] == 1 else colour
    return np.ascontiguousarray(colour[:, :, ::-1])


def tiled_map(predict, pixels: np.ndarray, *, tile: int = TEXT_TILE, halo: int = TEXT_HALO,
              multiple: int = 1) -> np.ndarray:
    """``predict(pixels)`` (an ``H x W`` map at the image's resolution) computed tile by
    tile on the tile scheduler's grid (:class:`~burnish.engine.tiling.grid.TileGrid`):
    equal to one call on the whole image for a model whose receptive radius is at most
    ``halo``, with windows of at most ``tile + 2 * halo`` pixels a side."""
    from burnish.engine.tiling.grid import TileGrid

    height, width = pixels.shape[:2]
    grid = TileGrid.build(height, width, tile_height=tile, tile_width=tile, halo=halo,
                          multiple=multiple)
    if grid.tile_count == 1:
        return predict(pixels)
    padding = ((0, grid.padded_height - height), (0, grid.padded_width - width))
    padded = np.pad(pixels, padding + ((0, 0),) * (pixels.ndim - 2), mode="edge")
    found = np.empty((height, width), np.float32)
    for band in grid.bands():
        for piece in band:
            rows, cols = piece.rows, piece.cols
            window = predict(padded[rows.window_start:rows.window_stop,
                                    cols.window_start:cols.window_stop])
            found[rows.core_start:rows.core_stop, cols.core_start:cols.core_stop] = window[
                rows.core_start - rows.window_start:rows.core_stop - rows.window_start,
                cols.core_start - cols.window_start:cols.core_stop - cols.window_start]
    return found


def grow_like_db(probability: np.ndarray) -> np.ndarray:
    """Text regions from a DB detector's map, as PaddleOCR finds them: the pixels above
    0.3, in connected regions whose mean is at least 0.5 and whose box is at least 4 pixels
    a side, each grown by ``area * 1.5 / perimeter`` pixels (its bounding box's: PaddleOCR's
    *unclip* of the shrunk kernels a DB detector marks)."""
    from scipy import ndimage

    from burnish.kernels import distance_transform

    cores = probability > TEXT_THRESHOLD
    labels, count = ndimage.label(cores)
    grown = np.zeros_like(cores)
    if not count:
        return grown
    means = ndimage.mean(probability, labels, np.arange(1, count + 1))
    height, width = cores.shape
    for number, window in enumerate(ndimage.find_objects(labels), 1):
        box_h, box_w = window[0].stop - window[0].start, window[1].stop - window[1].start
        if means[number - 1] < TEXT_REGION_THRESHOLD or min(box_h, box_w) < TEXT_MIN_SIDE:
            continue
        distance = box_h * box_w * UNCLIP_RATIO / (2 * (box_h + box_w))
        reach = int(np.ceil(distance))
        top, left = max(0, window[0].start - reach), max(0, window[1].start - reach)
        bottom = min(height, window[0].stop + reach)
        right = min(width, window[1].stop + reach)
        region = labels[top:bottom, left:right] == number
        grown[top:bottom, left:right] |= distance_transform(~region) <= distance
    return grown
