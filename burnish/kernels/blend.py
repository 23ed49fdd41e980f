"""Composite ``alpha * fg + (1 - alpha) * bg`` with correct rounding, in encoded or linear light.

Where ``alpha`` is exactly 0 the output is ``bg`` bit for bit, and where it is exactly 1 it is
``fg``: a feathered edit changes nothing outside its mask. Integer images are blended in
float32 and rounded to nearest (half to even). ``linear=True`` decodes sRGB to linear light
before mixing and encodes back (the physically right mix for colour; alpha channels, when the
images have them, are mixed as they are).
"""

from __future__ import annotations

import numpy as np
from numba import njit

from burnish.kernels.dispatch import Out, check_device, cuda, cuda_kernel, run
from burnish.kernels.dtypes import check_pixel_dtype, full_scale
from burnish.kernels.primitives import round_half_even
from burnish.kernels.srgb import linear_to_srgb_f32, srgb_to_linear_f32
from burnish.kernels.threads import band_driver


@njit(cache=True, inline="always")
def _mix(fg, bg, weight, top, linear):
    """One sample: ``fg``/``bg`` in [0, top], ``weight`` in (0, 1); float32 throughout."""
    f, b = fg / top, bg / top
    if linear:
        f, b = srgb_to_linear_f32(f), srgb_to_linear_f32(b)
    mixed = weight * f + (np.float32(1) - weight) * b
    if linear:
        mixed = linear_to_srgb_f32(max(mixed, np.float32(0)))
    return mixed * top


@njit(cache=True, inline="always")
def _blend_sample(fg, bg, alpha, top, rounded, linear, integer_path):
    """One stored sample of the composite, from stored ``fg``, ``bg`` and the pixel's alpha."""
    weight = min(max(alpha, np.float32(0)), np.float32(1))
    if integer_path:
        # Integer images in encoded light: bg + w (fg - bg), rounded, with no branch. Exact at
        # the ends without one: integers below 2^24 are exact in float32, so w = 0 gives bg
        # and w = 1 gives fg bit for bit; the CPU loop vectorises.
        b = np.float32(bg)
        return round_half_even(b + weight * (np.float32(fg) - b))
    if weight == 0:
        return np.float32(bg)
    if weight == 1:
        return np.float32(fg)
    value = _mix(np.float32(fg), np.float32(bg), weight, top, linear)
    return round_half_even(value) if rounded else value


@band_driver
def _blend_cpu(fg, bg, alpha, out, top, rounded, linear_channels, integer_path, first_row,
               stop_row):
    # Each row is run as one flat line of width x channels samples, with alpha spread over a
    # row of the same length first: the sample loop then has no channel loop inside it and
    # vectorises (a loop over 3 channels per pixel does not).
    height, width, channels = fg.shape
    samples = width * channels
    flat_fg, flat_bg = fg.reshape(height, samples), bg.reshape(height, samples)
    flat_out = out.reshape(height, samples)
    linear = np.empty(samples, np.bool_)
    for i in range(samples):
        linear[i] = i % channels < linear_channels
    for y in range(first_row, stop_row):
        weights = np.empty(samples, np.float32)
        for x in range(width):
            for c in range(channels):
                weights[x * channels + c] = alpha[y, x]
        for i in range(samples):
            flat_out[y, i] = _blend_sample(flat_fg[y, i], flat_bg[y, i], weights[i], top,
                                           rounded, linear[i], integer_path)


@cuda_kernel
def _blend_cuda(fg, bg, alpha, out, top, rounded, linear_channels, integer_path):
    y, x = cuda.grid(2)
    if y < fg.shape[0] and x < fg.shape[1]:
        for c in range(fg.shape[2]):
            out[y, x, c] = _blend_sample(fg[y, x, c], bg[y, x, c], alpha[y, x], top, rounded,
                                         c < linear_channels, integer_path)


def blend(fg: np.ndarray, bg: np.ndarray, alpha: np.ndarray, *, linear: bool = False,
          device: str = "cpu") -> np.ndarray:
    """Feathered composite of two images of the same shape and dtype.

    Parameters
    ----------
    fg, bg : ndarray, shape (H, W, C), uint8, uint16 or float32 (float32 in [0, 1])
    alpha : ndarray, shape (H, W), float32 in [0, 1]
        Weight of ``fg``; values outside [0, 1] are clipped.
    linear : bool
        Mix colour channels in linear light (sRGB decoded, mixed, encoded); alpha channels
        (the last of 2 or 4) are always mixed as stored.
    device : {"cpu", "cuda"}
        Where the kernel runs; results are identical.

    Returns
    -------
    ndarray
        Same shape and dtype as ``fg``.

    Examples
    --------
    >>> import numpy as np
    >>> fg, bg = np.full((1, 2, 3), 200, np.uint8), np.zeros((1, 2, 3), np.uint8)
    >>> blend(fg, bg, np.array([[0.0, 0.5]], np.float32))[..., 0].tolist()
    [[0, 100]]
    """
    if fg.shape != bg.shape or fg.dtype != bg.dtype or fg.ndim != 3:
        raise ValueError(f"fg and bg must be H x W x C of one shape and dtype, got "
                         f"{fg.shape} {fg.dtype} and {bg.shape} {bg.dtype}")
    if alpha.shape != fg.shape[:2]:
        raise ValueError(f"alpha must be H x W {fg.shape[:2]}, got {alpha.shape}")
    check_pixel_dtype(fg.dtype)
    check_device(device)
    integer = fg.dtype.kind == "u"
    top = np.float32(full_scale(fg.dtype))
    channels = fg.shape[2]
    linear_channels = (channels - 1 if channels in (2, 4) else channels) if linear else 0
    out = np.empty_like(fg)
    fg, bg = np.ascontiguousarray(fg), np.ascontiguousarray(bg)
    alpha = np.ascontiguousarray(alpha, dtype=np.float32)
    run(device, _blend_cpu, _blend_cuda, fg.shape[:2], fg, bg, alpha, Out(out), top, integer,
        linear_channels, integer and not linear_channels)
    return out
