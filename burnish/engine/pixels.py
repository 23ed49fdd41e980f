"""The one dtype/range policy: integers are converted to float32 in [0, 1] at the edges only.

uint8 maps 0..255 to 0..1 and uint16 maps 0..65535 to 0..1 (by dtype, never by the values
present); float32 passes through. Back to integers rounds to nearest and clips.
"""

from __future__ import annotations

import numpy as np

from burnish.errors import OptionError
from burnish.kernels.dtypes import check_pixel_dtype, full_scale


def check_dtype(dtype) -> np.dtype:
    """The dtype, or the user-facing :class:`OptionError` for one burnish cannot compute on."""
    try:
        return check_pixel_dtype(dtype, "pixel")
    except ValueError as error:
        raise OptionError(str(error)) from None


def to_float(pixels: np.ndarray) -> np.ndarray:
    """float32 copy in [0, 1] for integer input; float32 input is returned as float32."""
    if pixels.dtype == np.float32:
        return pixels
    return pixels.astype(np.float32) * np.float32(1.0 / full_scale(pixels.dtype))


def to_planar_float(pixels: np.ndarray) -> np.ndarray:
    """``H x W x C`` pixels as a ``C x H x W`` float32 array in [0, 1] (what models take)."""
    return np.ascontiguousarray(to_float(pixels).transpose(2, 0, 1))


def from_float(values: np.ndarray, dtype) -> np.ndarray:
    """Round-to-nearest conversion of [0, 1] floats to ``dtype`` (float32 is only clipped).

    The reference for :func:`burnish.kernels.stitch.stitch_tile`, which the engine uses.
    """
    dtype = np.dtype(dtype)
    clipped = np.clip(values, 0.0, 1.0)
    if dtype == np.float32:
        return clipped.astype(np.float32, copy=False)
    return np.rint(clipped * np.float32(full_scale(dtype))).astype(dtype)
