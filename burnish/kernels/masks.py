"""The one rule for reading masks (DESIGN.md), shared by every kernel that takes one."""

from __future__ import annotations

import numpy as np


def binary_mask(mask, shape: tuple[int, int] | None = None, *, name: str = "mask") -> np.ndarray:
    """A C-contiguous bool ``H x W`` array from a mask; ``None`` means all of ``shape``.

    bool masks are taken as they are, uint8 masks are set where > 127 (0/255 at the edges),
    float masks where > 0.5 (float32 in [0, 1] inside). ``shape``, when given, must match.
    """
    if mask is None:
        if shape is None:
            raise ValueError(f"{name} is None and no shape was given")
        return np.ones(shape, np.bool_)
    mask = np.asarray(mask)
    if shape is not None and mask.shape != tuple(shape):
        raise ValueError(f"{name} must be H x W {tuple(shape)}, got shape {mask.shape}")
    if mask.ndim != 2:
        raise ValueError(f"a {name} is H x W, got shape {mask.shape}")
    if mask.dtype == np.bool_:
        return np.ascontiguousarray(mask)
    if mask.dtype == np.uint8:
        return np.ascontiguousarray(mask > 127)
    if mask.dtype in (np.float32, np.float64):
        return np.ascontiguousarray(mask > 0.5)
    raise ValueError(f"unsupported {name} type {mask.dtype}: use bool, uint8 or float32")
