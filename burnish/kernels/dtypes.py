"""The pixel types burnish computes on, and the value that stands for full scale in each.

uint8 and uint16 map 0..max to 0..1 by their type (never by the values present); float32 is
already in [0, 1]. Kernels and the engine read this rule from here only.
"""

from __future__ import annotations

import numpy as np

SUPPORTED_DTYPES = (np.dtype(np.uint8), np.dtype(np.uint16), np.dtype(np.float32))


def check_pixel_dtype(dtype, name: str = "image") -> np.dtype:
    """``dtype`` as a NumPy dtype, or ValueError naming ``name`` if burnish cannot compute on it."""
    dtype = np.dtype(dtype)
    if dtype not in SUPPORTED_DTYPES:
        raise ValueError(f"unsupported {name} type {dtype}: use uint8, uint16 or float32")
    return dtype


def full_scale(dtype) -> float:
    """The stored value that means 1.0: 255, 65535, or 1.0 for float32."""
    dtype = np.dtype(dtype)
    return float(np.iinfo(dtype).max) if dtype.kind == "u" else 1.0
