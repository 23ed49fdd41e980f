"""Tile stitching: a model's planar float output, cropped and quantised into a band of rows.

One pass does what would otherwise be five over a 12-megabyte tile (crop, planar-to-
interleaved transpose, clip, scale and round, cast): it is the whole cost of stitching by
cropping the halo, and NumPy's version of it made the engine 40% slower than the bare model
calls.

The body is written once (:func:`_quantise`); the CPU driver runs it over rows in parallel,
the CUDA driver with one thread per output pixel. The reference is :func:`burnish.engine.pixels.from_float` applied to the transposed crop.
"""

from __future__ import annotations

import numpy as np
from numba import njit

from burnish.kernels.dispatch import Out, check_device, cuda, cuda_kernel, run
from burnish.kernels.dtypes import full_scale
from burnish.kernels.primitives import round_half_even
from burnish.kernels.threads import band_driver


@njit(cache=True, inline="always")
def _quantise(value, top, rounded):
    """Clip to [0, 1] (NaN to 0); for integer outputs scale to ``top`` and round half to even
    like np.rint. All in float32 (``value`` and ``top`` are float32), as the reference
    computes it, so that ties round the same way."""
    if not value > 0:  # also catches NaN
        return np.float32(0)
    value = min(value, np.float32(1))
    return round_half_even(value * top) if rounded else value


@band_driver
def _stitch_cpu(planar, src_top, src_left, height, width, band, dst_left, top, rounded,
                first_row, stop_row):
    channels = planar.shape[0]
    for y in range(first_row, stop_row):
        for x in range(width):
            for c in range(channels):
                band[y, dst_left + x, c] = _quantise(planar[c, src_top + y, src_left + x], top,
                                                     rounded)


@cuda_kernel
def _stitch_cuda(planar, src_top, src_left, height, width, band, dst_left, top, rounded):
    y, x = cuda.grid(2)
    if y < height and x < width:
        for c in range(planar.shape[0]):
            band[y, dst_left + x, c] = _quantise(planar[c, src_top + y, src_left + x], top,
                                                 rounded)


def stitch_tile(planar: np.ndarray, band: np.ndarray, *, src_top: int, src_left: int,
                height: int, width: int, dst_left: int, device: str = "cpu") -> None:
    """Write ``planar[:, src_top:+height, src_left:+width]`` into ``band[:, dst_left:+width]``.

    Parameters
    ----------
    planar : ndarray, float32, shape (C, H, W)
        A tile's output in [0, 1] (values outside are clipped, NaN becomes 0).
    band : ndarray, shape (height, W_band, C), uint8, uint16 or float32
        The band of output rows; integers get round-to-nearest (half to even) conversion.
    device : {"cpu", "cuda"}
        Where the kernel runs; results are identical.
    """
    if planar.dtype != np.float32 or planar.ndim != 3 or band.ndim != 3:
        raise ValueError("stitch_tile takes a float32 C x H x W tile and an H x W x C band")
    if planar.shape[0] != band.shape[2]:
        raise ValueError(f"tile has {planar.shape[0]} channels, band {band.shape[2]}")
    if (src_top + height > planar.shape[1] or src_left + width > planar.shape[2]
            or height > band.shape[0] or dst_left + width > band.shape[1]):
        raise ValueError("stitch region out of bounds")
    check_device(device)
    integer = band.dtype.kind == "u"
    top = np.float32(full_scale(band.dtype))
    run(device, _stitch_cpu, _stitch_cuda, (height, width), planar, src_top, src_left, height,
        width, Out(band), dst_left, top, integer)
