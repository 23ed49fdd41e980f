"""Object removal: mask -> dilate -> reconstruct -> harmonise -> feathered composite.

1. **Mask.** What to remove: a mask image, boxes, polygons, the image's own alpha, a colour
   key (:class:`MaskSpec`, built by :mod:`burnish.engine.edit_masks`), united.
2. **Dilate** by ``dilate`` pixels (a disk), so the fill also covers the object's soft edge,
   shadow and JPEG ringing: a mask drawn tight leaves a ghost outline otherwise.
3. **Feather**: the composite weight is 1 on the dilated mask and falls to 0 over ``feather``
   pixels outside it (a smoothstep of the distance). Every pixel with a weight above 0 is
   reconstructed, so the ramp mixes the original with a fill that continues it.
4. **Reconstruct** those pixels (:data:`METHODS`): ``patchmatch`` (texture from the rest of
   the image, :func:`~burnish.kernels.patchmatch.patchmatch_inpaint`, run per group of holes
   on a crop with context around it), ``telea`` (:func:`~burnish.kernels.telea.telea_inpaint`:
   fast, smooth, for thin scratches and small spots), or an ONNX inpainting model with the
   LaMa contract (:mod:`burnish.engine.removal.model_fill`).
5. **Harmonise** the fill's colour and grain with its surroundings
   (:mod:`burnish.engine.removal.harmonise`). A PatchMatch fill skips the colour step: its
   gradient-domain blend already takes the rim's levels at the rim, and a colour transfer
   from the ring then only moves fills whose truth differs from the ring (band SSIM 0.935
   against 0.940 without it, on 6 of the benchmark's photos).
6. **Composite** the fill over the original with the feathered weight
   (:func:`~burnish.kernels.blend`, in the encoded values): pixels where the weight is 0 are
   the input's, bit for bit.

Colour channels are reconstructed; an alpha channel is kept as it was, except that holes taken
from the alpha channel itself (``opaque=True``, the CLI's ``--alpha``) become opaque.
Work is float32 in [0, 1]; the result has the input's dtype.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from burnish.engine.detection import Detector
from burnish.engine.pixels import check_dtype, from_float, to_float
from burnish.engine.recipes.batch_plan import FileResult, PlannedOutput, check_plan, run_batch
from burnish.engine.removal.composite_plan import CompositePlan, check_edges
from burnish.engine.removal.fill_regions import sub_seed
from burnish.engine.sparse_mask import SparseMask
from burnish.errors import InputError, OptionError

log = logging.getLogger(__name__)

METHODS = ("patchmatch", "telea")
DEFAULT_DILATE = 4
DEFAULT_FEATHER = 4
DEFAULT_PATCH_SIZE = 7
DEFAULT_KEY_TOLERANCE = 12.0
TELEA_RADIUS = 5
# PatchMatch runs on a crop around each group of holes: at least this much context on every
# side, and at least the group's own size, so that there is as much to copy from as to fill.
PATCHMATCH_MIN_CONTEXT = 128
TELEA_CONTEXT = 2 * TELEA_RADIUS
MODEL_CONTEXT = 128  # IOPaint's hd_strategy_crop_margin

ProgressCallback = Callable[[int, int], None]


@dataclass(frozen=True)
class MaskSpec:
    """Where to remove, as the CLI gives it; every source given is united.

    ``boxes`` are ``"x,y,w,h"`` strings, ``polygons`` ``"x1,y1 x2,y2 ..."`` strings, ``key`` a
    colour ``"#rrggbb"`` or ``"r,g,b"`` matched within ``key_tolerance`` (0-255 units).
    """

    mask_file: Path | None = None
    boxes: tuple[str, ...] = ()
    polygons: tuple[str, ...] = ()
    alpha: bool = False
    key: str | None = None
    key_tolerance: float = DEFAULT_KEY_TOLERANCE
    detect: Detector | None = None  # an automatic source, opened once for a batch

    def check(self) -> None:
        """Parse every option now, so that a typo fails before any file is read."""
        from burnish.engine import edit_masks as masks

        if not (self.mask_file or self.boxes or self.polygons or self.alpha or self.key
                or self.detect):
            raise OptionError("say what to remove: --mask, --box, --polygon, --alpha, --key "
                              "or --detect")
        for box in self.boxes:
            masks.parse_box(box)
        for polygon in self.polygons:
            masks.parse_polygon(polygon)
        if self.key is not None:
            masks.parse_colour(self.key)
        if self.key_tolerance < 0:
            raise OptionError("the key tolerance must be >= 0")

    def build(self, image: np.ndarray) -> np.ndarray:
        """The bool ``H x W`` mask of ``image`` (``H x W x C``)."""
        from burnish.engine import edit_masks as masks

        self.check()
        mask = masks.build_mask(image, mask_file=self.mask_file, boxes=self.boxes,
                                polygons=self.polygons, alpha=self.alpha, key=self.key,
                                key_tolerance=self.key_tolerance)
        if self.detect is not None:
            mask |= self.detect.mask(image)
        return mask


class Reconstructor:
    """Fills holes in float32 colour pixels by one method; opens a model once for a batch."""

    def __init__(self, method: str | os.PathLike = "patchmatch", *, patch_size: int =
                 DEFAULT_PATCH_SIZE, device: str = "auto"):
        self.method, self.patch_size, self.model = str(method), patch_size, None
        if self.method not in METHODS:
            if not self.method.lower().endswith(".onnx"):
                raise OptionError(f"unknown method {self.method!r}: use "
                                  f"{', '.join(METHODS)}, or a path to an .onnx LaMa-style model")
            from burnish.models.inpaint_model import InpaintModel

            self.model = InpaintModel(self.method, device=device)
        if patch_size < 3 or patch_size % 2 == 0:
            raise OptionError(f"patch size must be odd and at least 3, got {patch_size}")

    def close(self) -> None:
        if self.model is not None:
            self.model.close()

    def __enter__(self) -> Reconstructor:
        return self

    def __exit__(self, *exc_info) -> None:
        self.close()

    @property
    def matches_rim_colour(self) -> bool:
        """Whether the fill already meets its rim's colour (PatchMatch's gradient-domain blend
        holds the rim fixed), so that harmonising leaves its colour alone."""
        return self.model is None and self.method == "patchmatch"

    def margin(self, largest: int) -> int:
        """The context, in pixels, this method reads around a group of holes whose larger
        side (of the largest group in the image) is ``largest``."""
        if self.model is not None:
            return MODEL_CONTEXT
        if self.method == "telea":
            return TELEA_CONTEXT
        return max(PATCHMATCH_MIN_CONTEXT, largest)

    def fill(self, colour: np.ndarray, hole: np.ndarray, *, seed: int = 0,
             origin: tuple[int, int] = (0, 0), largest: int | None = None) -> np.ndarray:
        """``colour`` (float32 ``H x W x C``, C 1 or 3) with ``hole`` reconstructed.

        ``colour`` may be a window of a larger image, at ``origin`` in it, whose largest
        group of holes has the larger side ``largest`` (by default: measured in ``hole``):
        the window then gets the whole image's bytes (see :class:`CompositePlan`).
        """
        from burnish.engine.removal.fill_regions import hole_boxes

        if largest is None:
            largest = max((max(b - t, r - le) for t, le, b, r in hole_boxes(hole, 0)),
                          default=0)
        margin = self.margin(largest)
        if self.model is not None:
            from burnish.engine.removal.model_fill import model_fill

            return model_fill(colour, hole, self.model, margin=margin)
        if self.method == "telea":
            from burnish.kernels.telea import telea_inpaint

            return _by_region(colour, hole, margin, origin,
                              lambda crop, crop_hole, at: telea_inpaint(
                                  crop, crop_hole, radius=TELEA_RADIUS))
        from burnish.kernels.patchmatch import patchmatch_inpaint

        return _by_region(colour, hole, margin, origin,
                          lambda crop, crop_hole, at: patchmatch_inpaint(
                              crop, crop_hole, patch_size=self.patch_size,
                              seed=sub_seed(seed, at)))


def _by_region(colour, hole, context, origin, fill_crop) -> np.ndarray:
    """:func:`~burnish.engine.removal.fill_regions.fill_regions`, with a kernel's refusal (a
    hole that leaves nothing to copy from) as the user's one-line error."""
    from burnish.engine.removal.fill_regions import fill_regions

    try:
        return fill_regions(colour, hole, context, fill_crop, origin=origin)
    except ValueError as error:
        raise OptionError(str(error)) from None


def _checked_mask(mask, shape: tuple[int, int]) -> np.ndarray:
    from burnish.kernels.masks import binary_mask

    mask = np.asarray(mask)
    if mask.ndim != 2:
        raise OptionError(f"a mask is H x W, got shape {mask.shape}")
    if mask.shape != shape:
        raise InputError(f"mask is {mask.shape[1]}x{mask.shape[0]}, the image is "
                         f"{shape[1]}x{shape[0]}")
    try:
        return binary_mask(mask, shape)
    except ValueError as error:
        raise OptionError(str(error)) from None


def remove(image: np.ndarray, mask, *, method: str | os.PathLike | Reconstructor = "patchmatch",
           dilate: int = DEFAULT_DILATE, feather: float = DEFAULT_FEATHER,
           harmonize: bool = True, seed: int = 0, patch_size: int = DEFAULT_PATCH_SIZE,
           opaque: bool = False, device: str = "auto",
           progress: ProgressCallback | None = None) -> np.ndarray:
    """Remove what ``mask`` covers and fill it so the edit does not show (module notes).

    Parameters
    ----------
    image : ndarray, shape (H, W) or (H, W, C), C in {1, 2, 3, 4}
        uint8, uint16 or float32 (float32 in [0, 1]); two and four channels carry alpha.
    mask : ndarray, shape (H, W)
        bool, uint8 (> 127) or float32 (> 0.5): what to remove.
    method : {"patchmatch", "telea"}, path to an ``.onnx`` model, or a :class:`Reconstructor`
    dilate : int
        Grow the mask by this many pixels first.
    feather : float
        Width in pixels of the soft edge outside the grown mask.
    harmonize : bool
        Match the fill's colour and grain to its surroundings.
    seed : int
        The same seed gives the same bytes.
    patch_size : int
        PatchMatch's patch side (odd, >= 3).
    opaque : bool
        Make the filled pixels opaque (for holes taken from the alpha channel).
    device : {"auto", "cpu", "cuda", "cuda:N"} or :class:`~burnish.device.Device`
        Where an ONNX model runs; the other steps run on the CPU.
    progress : callable(done, total) or None
        Called after each window (a group of nearby holes with its context) is done.

    Returns
    -------
    ndarray
        Same shape and dtype as ``image``; bit for bit ``image`` wherever the composite weight
        (:func:`~burnish.engine.removal.composite_plan.composite_weight`) is 0. An empty mask returns a copy of ``image``.

    Examples
    --------
    >>> import numpy as np, burnish
    >>> image = np.zeros((40, 40, 3), np.uint8); image[::2] = 200     # stripes
    >>> mask = np.zeros((40, 40), bool); mask[15:25, 15:25] = True
    >>> out = burnish.remove(image, mask, dilate=0, feather=0, harmonize=False)
    >>> bool((out == image).all())                                       # stripes continued
    True
    """
    if not isinstance(image, np.ndarray) or image.ndim not in (2, 3):
        raise OptionError("image must be a NumPy array of shape H x W or H x W x C")
    check_dtype(image.dtype)
    pixels = np.ascontiguousarray(image if image.ndim == 3 else image[..., None])
    if pixels.shape[2] not in (1, 2, 3, 4):
        raise OptionError(f"image has {pixels.shape[2]} channels: 1 to 4 are supported")
    hole = _checked_mask(mask, pixels.shape[:2])
    check_edges(dilate, feather, seed)
    owned = not isinstance(method, Reconstructor)
    # Built before the empty-mask shortcut, so that a bad method fails whatever the mask.
    reconstructor = Reconstructor(method, patch_size=patch_size, device=device) if owned else method
    try:
        if not hole.any():
            return image.copy()
        removal = Removal(SparseMask.from_dense(hole), reconstructor, dilate=dilate,
                          feather=feather, harmonize=harmonize, seed=seed, opaque=opaque,
                          dtype=pixels.dtype)
        out = pixels.copy()
        for index, (top, left, bottom, right) in enumerate(removal.windows):
            out[top:bottom, left:right] = removal.window(pixels[top:bottom, left:right],
                                                         (top, left, bottom, right))
            if progress is not None:
                progress(index + 1, len(removal.windows))
    finally:
        if owned:
            reconstructor.close()
    return out if image.ndim == 3 else out[..., 0]


class Removal:
    """A removal planned from its hole alone, to be done window by window (an image in
    memory, or a stream of rows: :mod:`burnish.engine.ops.reconstruct`).

    :attr:`windows` hold whole groups of holes with all the context every step reads around
    them (the method's :meth:`Reconstructor.margin`, harmonising's); each is removed on its
    own (:meth:`window`), with the randomness seeded by where each group lies, so a window
    gets the bytes the whole image would get there. Pixels outside the windows are the
    input's. :attr:`region` is what is reconstructed: the hole grown and feathered.
    The composite (weights and blend) runs on ``kernel_device``; filling and harmonising
    run on the CPU (their kernels have no CUDA driver).
    """

    def __init__(self, hole: SparseMask, reconstructor: Reconstructor, *, dilate: int,
                 feather: float, harmonize: bool, seed: int, opaque: bool, dtype,
                 kernel_device: str = "cpu"):
        from burnish.engine.recipes.compile_ahead import compile_ahead
        from burnish.engine.removal.harmonise import CONTEXT

        self.plan = CompositePlan(hole, dilate=dilate, feather=feather, device=kernel_device)
        self.region = self.plan.region
        self.largest = self.plan.largest()
        margin = reconstructor.margin(self.largest)
        self.windows = self.plan.windows(max(margin, CONTEXT) if harmonize else margin)
        self.reconstructor, self.harmonize = reconstructor, harmonize
        self.seed, self.opaque, self.kernel_device = seed, opaque, kernel_device
        if self.windows:
            # On a cold cache the last steps' kernels compile on the other core meanwhile.
            compile_ahead(np.dtype(dtype), *(("harmonise",) if harmonize else ()), "composite")

    def window(self, pixels: np.ndarray, box: tuple[int, int, int, int]) -> np.ndarray:
        """The removal's result on one of :attr:`windows` (``box``: top, left, bottom,
        right), from the input's pixels there (``h x w x C``)."""
        from burnish.kernels import blend

        top, left, bottom, right = box
        weight = self.plan.weight(top, bottom, left, right)
        region = weight > 0
        colour_channels = pixels.shape[2] - 1 if pixels.shape[2] in (2, 4) else pixels.shape[2]
        colour = np.ascontiguousarray(to_float(pixels[..., :colour_channels]))
        filled = self.reconstructor.fill(colour, region, seed=self.seed, origin=(top, left),
                                         largest=self.largest)
        if self.harmonize:
            from burnish.engine.removal.harmonise import harmonise

            filled = harmonise(filled, region, colour=not self.reconstructor.matches_rim_colour,
                               seed=self.seed, origin=(top, left))
        foreground = np.array(pixels, order="C")
        foreground[..., :colour_channels] = from_float(filled, pixels.dtype)
        if self.opaque and colour_channels < pixels.shape[2]:
            full = 1.0 if pixels.dtype == np.float32 else np.iinfo(pixels.dtype).max
            foreground[..., -1][region] = full
        out = blend(foreground, np.ascontiguousarray(pixels), weight, device=self.kernel_device)
        if not self.opaque and colour_channels < pixels.shape[2]:
            out[..., -1] = pixels[..., -1]  # kept exactly (a float mix of a with a may move an ulp)
        return out


def remove_file(input_path: str | os.PathLike, output_path: str | os.PathLike, masks: MaskSpec,
                *, reconstructor: Reconstructor, dilate: int = DEFAULT_DILATE,
                feather: float = DEFAULT_FEATHER, harmonize: bool = True, seed: int = 0,
                max_pixels: int | None = None, quality: int = 95,
                progress: ProgressCallback | None = None) -> str | None:
    """Remove from one image file into another (atomic write; ICC and EXIF kept).

    Returns a note for the user when there was nothing to remove (the output is then the
    input's pixels, re-encoded).
    """
    from burnish.engine.imageio import DEFAULT_MAX_PIXELS, read_image, write_image

    input_path, output_path = Path(input_path), Path(output_path)
    check_plan([PlannedOutput(input_path, output_path)], [input_path])
    pixels, meta = read_image(input_path, max_pixels=max_pixels or DEFAULT_MAX_PIXELS)
    try:
        mask = masks.build(pixels)
        out = remove(pixels, mask, method=reconstructor, dilate=dilate, feather=feather,
                     harmonize=harmonize, seed=seed, opaque=masks.alpha, progress=progress)
    except (InputError, OptionError) as error:
        if error.path is not None:
            raise
        raise type(error)(error.problem, path=input_path) from None
    write_image(output_path, out, meta=meta, quality=quality)
    return None if mask.any() else "the mask is empty: nothing removed"


def remove_files(inputs: Sequence[str | os.PathLike], output: str | os.PathLike | None = None,
                 *, masks: MaskSpec, method: str | os.PathLike = "patchmatch",
                 dilate: int = DEFAULT_DILATE, feather: float = DEFAULT_FEATHER,
                 harmonize: bool = True, seed: int = 0, patch_size: int = DEFAULT_PATCH_SIZE,
                 device: str = "auto", max_pixels: int | None = None, quality: int = 95,
                 on_start: Callable[[Path, Path], None] | None = None,
                 progress: ProgressCallback | None = None,
                 on_done: Callable[[FileResult], None] | None = None) -> list[FileResult]:
    """Remove from several files with one opened method; one bad file never stops the rest.

    Outputs default to ``NAME_removed.EXT`` beside each input. Problems with the job as a whole
    (bad option, unknown method or model, missing output folder) raise
    :class:`~burnish.errors.BurnishError` before any file is read.
    """
    masks.check()
    check_edges(dilate, feather, seed)
    with Reconstructor(method, patch_size=patch_size, device=device) as reconstructor:
        def job(input_path: Path, target: Path) -> str | None:
            return remove_file(input_path, target, masks, reconstructor=reconstructor,
                               dilate=dilate, feather=feather, harmonize=harmonize, seed=seed,
                               max_pixels=max_pixels, quality=quality, progress=progress)

        return run_batch(inputs, output, suffix="_removed", job=job, on_start=on_start,
                         on_done=on_done)
