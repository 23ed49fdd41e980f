"""Soft cut-outs: a subject's mask refined into an alpha matte for hair, fur and glass.

From a hard subject mask (a :class:`~burnish.engine.detection.Detector`'s, or any), a
trimap: definitely the subject ``band`` pixels inside its edge, definitely not ``band``
pixels outside, unknown between. pymatting's closed-form matting (Levin et al.) solves the
alpha in the unknown band, and its multi-level foreground estimation recovers the subject's
own colour there, so the cut-out laid on a new background carries no fringe of the old one.

Guarantees: where the alpha is 1 the colour is the input's, bit for bit; elsewhere the
estimated colour never leaves the range each channel has in the image (no invented colour).

The matting is solved window by window: the image is cut into tiles of :data:`WINDOW`
pixels (the tile scheduler's grid), and each tile that holds unknown pixels is matted on
itself plus :data:`MARGIN` pixels of context on every side, its own pixels kept. The
matting Laplacian couples only 3 x 3 neighbourhoods and its solution's reach fades within a
few pixels of known ones, so the cores agree with a whole-image solve to within a few
hundredths of alpha (``tests/test_detection.py``) while memory stays bounded by the window
(a whole-image solve holds some 300 bytes a pixel: 7 GB for 24 megapixels), and tiles away
from the edge cost nothing.
"""

from __future__ import annotations

import numpy as np

from burnish.errors import InputError, OptionError
from burnish.kernels.dtypes import full_scale

DEFAULT_BAND = 8
WINDOW = 512
MARGIN = 48


def cutout(pixels: np.ndarray, subject: np.ndarray, *, band: int = DEFAULT_BAND,
           window: int = WINDOW) -> np.ndarray:
    """RGBA (or grey + alpha) of ``pixels`` (``H x W x C``, uint8, uint16 or float32) with
    the alpha matted around ``subject`` (bool ``H x W``), in the input's dtype; matted in
    tiles of ``window`` pixels (0: the whole image in one solve)."""
    from burnish.engine.pixels import from_float
    from burnish.engine.tiling.grid import TileGrid
    from burnish.kernels import dilate, erode

    try:
        import pymatting  # noqa: F401
    except ImportError:
        raise OptionError("cut-outs need pymatting: pip install 'burnish[cutout]'") from None
    if band < 1:
        raise OptionError("the matting band must be at least 1 pixel")
    pixels = pixels if pixels.ndim == 3 else pixels[:, :, None]
    colour_channels = pixels.shape[2] - 1 if pixels.shape[2] in (2, 4) else pixels.shape[2]
    colour = pixels[..., :colour_channels]
    sure = erode(subject, band)
    unknown = dilate(subject, band) & ~sure
    if not sure.any():
        raise InputError(f"the subject is thinner than twice the band ({band} px): nothing is "
                         "surely subject; use a smaller band")
    if unknown.all() or (sure | unknown).all():
        raise InputError("the subject leaves no background to learn from")
    low = colour.min(axis=(0, 1)).astype(np.float64) / full_scale(pixels.dtype)
    high = colour.max(axis=(0, 1)).astype(np.float64) / full_scale(pixels.dtype)
    height, width = subject.shape
    alpha = sure.astype(np.float32)
    foreground = np.array(colour, np.float32) / np.float32(full_scale(pixels.dtype))
    # Every unknown pixel is within 2 * band of a sure one of each side: in the margin.
    grid = TileGrid.build(height, width, tile_height=window, tile_width=window,
                          halo=max(MARGIN, 2 * band + 16))
    for tiles in grid.bands():
        for tile in tiles:
            rows, cols = tile.rows, tile.cols
            core = (slice(rows.core_start, rows.core_stop), slice(cols.core_start, cols.core_stop))
            if not unknown[core].any():
                continue
            around = (slice(rows.window_start, min(rows.window_stop, height)),
                      slice(cols.window_start, min(cols.window_stop, width)))
            inner = (slice(rows.core_start - rows.window_start, rows.core_stop - rows.window_start),
                     slice(cols.core_start - cols.window_start, cols.core_stop - cols.window_start))
            trimap = np.where(sure[around], 1.0, np.where(unknown[around], 0.5, 0.0))
            tile_alpha, tile_colour = _matte(colour[around], trimap, colour_channels,
                                             pixels.dtype)
            alpha[core] = tile_alpha[inner]
            foreground[core] = np.clip(tile_colour[inner], low, high)
    out = np.empty((*pixels.shape[:2], colour_channels + 1), pixels.dtype)
    out[..., :colour_channels] = from_float(foreground, pixels.dtype)
    out[..., colour_channels] = from_float(alpha, pixels.dtype)
    # Fully opaque as written (alpha rounded to full scale): the input's colour, bit for bit.
    whole = out[..., colour_channels] == from_float(np.float32(1.0), pixels.dtype)
    out[whole, :colour_channels] = pixels[whole, :colour_channels]
    return out


def _matte(colour: np.ndarray, trimap: np.ndarray, channels: int, dtype):
    """Closed-form alpha and multi-level foreground of one window (float64 inside): the
    known pixels of ``trimap`` exact, the unknown solved."""
    from pymatting import estimate_alpha_cf, estimate_foreground_ml

    scaled = colour.astype(np.float64) / full_scale(dtype)
    rgb = np.repeat(scaled, 3, axis=2) if channels == 1 else scaled
    if (trimap == 0.5).all():
        raise InputError(f"a {trimap.shape[1]}x{trimap.shape[0]} matting window holds only "
                         "the unknown band: use a smaller band")
    alpha = np.clip(estimate_alpha_cf(rgb, trimap), 0.0, 1.0)
    alpha[trimap == 1.0], alpha[trimap == 0.0] = 1.0, 0.0
    foreground = estimate_foreground_ml(rgb, alpha)[..., :channels]
    return alpha.astype(np.float32), foreground.astype(np.float32)
