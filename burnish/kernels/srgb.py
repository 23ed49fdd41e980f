"""The sRGB transfer functions (IEC 61966-2-1), as inlined Numba bodies in two precisions.

float32 versions for per-pixel mixing, where the kernels must round like their float32
references; float64 versions for colour-space conversions (CIELAB), where statistics need
the extra digits. Inputs are in [0, 1].
"""

from __future__ import annotations

import numpy as np
from numba import njit


@njit(cache=True, inline="always")
def srgb_to_linear_f32(value):
    if value <= np.float32(0.04045):
        return value / np.float32(12.92)
    return ((value + np.float32(0.055)) / np.float32(1.055)) ** np.float32(2.4)


@njit(cache=True, inline="always")
def linear_to_srgb_f32(value):
    if value <= np.float32(0.0031308):
        return value * np.float32(12.92)
    return np.float32(1.055) * value ** np.float32(1 / 2.4) - np.float32(0.055)


@njit(cache=True, inline="always")
def srgb_to_linear_f64(value):
    if value <= 0.04045:
        return value / 12.92
    return ((value + 0.055) / 1.055) ** 2.4


@njit(cache=True, inline="always")
def linear_to_srgb_f64(value):
    if value <= 0.0031308:
        return value * 12.92
    return 1.055 * value ** (1.0 / 2.4) - 0.055
