"""Soft cut-outs: a subject's mask refined into an alpha matte for hair, fur and glass.

From a hard subject mask (a :class:`~burnish.engine.detection.Detector`'s, or any), a
trimap: definitely the subject ``band`` pixels inside its edge, definitely not ``band``
pixels outside, unknown between. pymatting's closed-form matting (Levin et al.) solves the
alpha in the unknown band, and its multi-level foreground estimation recovers the subject's
own colour there, so the cut-out laid on a new background carries no fringe of the old one.

Guarantees: where the alpha is 1 the colour is the input's, bit for bit; elsewhere the
estimated colour never leaves the range each channel has in the image (no invented colour).
The matting runs on the whole image in float64 (pymatting's sparse solve): a few
megapixels at a time.
"""

from __future__ import annotations

import numpy as np

from burnish.errors import InputError, OptionError

DEFAULT_BAND = 8


def cutout(pixels: np.ndarray, subject: np.ndarray, *, band: int = DEFAULT_BAND) -> np.ndarray:
    """RGBA (or grey + alpha) of ``pixels`` (``H x W x C``, uint8, uint16 or float32) with
    the alpha matted around ``subject`` (bool ``H x W``), in the input's dtype."""
    from burnish.engine.pixels import from_float, to_float
    from burnish.kernels import dilate, erode

    try:
        from pymatting import estimate_alpha_cf, estimate_foreground_ml
    except ImportError:
        raise OptionError("cut-outs need pymatting: pip install 'burnish[cutout]'") from None
    if band < 1:
        raise OptionError("the matting band must be at least 1 pixel")
    pixels = pixels if pixels.ndim == 3 else pixels[:, :, None]
    colour_channels = pixels.shape[2] - 1 if pixels.shape[2] in (2, 4) else pixels.shape[2]
    colour = to_float(pixels[..., :colour_channels]).astype(np.float64)
    sure = erode(subject, band)
    unknown = dilate(subject, band) & ~sure
    if not sure.any():
        raise InputError(f"the subject is thinner than twice the band ({band} px): nothing is "
                         "surely subject; use a smaller band")
    if unknown.all() or (sure | unknown).all():
        raise InputError("the subject leaves no background to learn from")
    trimap = np.where(sure, 1.0, np.where(unknown, 0.5, 0.0))
    rgb = np.repeat(colour, 3, axis=2) if colour_channels == 1 else colour
    alpha = np.clip(estimate_alpha_cf(rgb, trimap), 0.0, 1.0)
    alpha[sure], alpha[~(sure | unknown)] = 1.0, 0.0
    foreground = estimate_foreground_ml(rgb, alpha)[..., :colour_channels]
    low, high = colour.min(axis=(0, 1)), colour.max(axis=(0, 1))
    foreground = np.clip(foreground, low, high)
    out = np.empty((*pixels.shape[:2], colour_channels + 1), pixels.dtype)
    out[..., :colour_channels] = from_float(foreground.astype(np.float32), pixels.dtype)
    out[..., colour_channels] = from_float(alpha.astype(np.float32), pixels.dtype)
    # Fully opaque as written (alpha rounded to full scale): the input's colour, bit for bit.
    whole = out[..., colour_channels] == from_float(np.float32(1.0), pixels.dtype)
    out[whole, :colour_channels] = pixels[whole, :colour_channels]
    return out
