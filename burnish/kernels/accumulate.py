"""Overlap blending of tiles: weighted accumulation, then normalisation.

For ops whose halo is unbounded (their output near a tile border depends on more than any
margin can hold), tiles overlap and are cross-faded: each tile's planar output is added into
an ``H x W x C`` float32 accumulator multiplied by a smooth window, the window itself is added
into an ``H x W`` weight plane, and the result is ``accumulator / weights``. Because the
division renormalises, windows need not sum to one; they only need to be positive wherever a
pixel is covered. :func:`blend_window` ramps from a small positive floor to 1 over ``overlap``
pixels with a raised cosine, so seams fade out smoothly and a lone tile still covers its edges.
"""

from __future__ import annotations

import numpy as np
from numba import njit, prange

# The window never drops to zero, so every covered pixel has positive weight.
WINDOW_FLOOR = 1e-3


def _ramp(length: int, overlap: int) -> np.ndarray:
    ramp = np.ones(length, np.float32)
    overlap = min(overlap, length // 2)
    if overlap > 0:
        t = (np.arange(overlap, dtype=np.float64) + 0.5) / overlap
        rise = WINDOW_FLOOR + (1 - WINDOW_FLOOR) * 0.5 * (1 - np.cos(np.pi * t))
        ramp[:overlap] = rise
        ramp[length - overlap:] = rise[::-1]
    return ramp


def blend_window(height: int, width: int, overlap: int) -> np.ndarray:
    """Separable ``height x width`` float32 window: raised-cosine ramps over ``overlap`` pixels."""
    return np.outer(_ramp(height, overlap), _ramp(width, overlap)).astype(np.float32)


@njit(parallel=True, cache=True)
def _accumulate_cpu(accumulator, weights, planar, window, top, left):
    channels, height, width = planar.shape
    for y in prange(height):
        for x in range(width):
            w = window[y, x]
            weights[top + y, left + x] += w
            for c in range(channels):
                accumulator[top + y, left + x, c] += w * planar[c, y, x]


@njit(parallel=True, cache=True)
def _normalise_cpu(accumulator, weights, out):
    height, width, channels = accumulator.shape
    for y in prange(height):
        for x in range(width):
            w = weights[y, x]
            for c in range(channels):
                out[y, x, c] = accumulator[y, x, c] / w if w > 0 else np.float32(0)


def accumulate_tile(accumulator: np.ndarray, weights: np.ndarray, planar: np.ndarray,
                    window: np.ndarray, *, top: int, left: int) -> None:
    """Add ``window * planar`` (``C x h x w``) at ``(top, left)`` of the accumulator, in place."""
    channels, height, width = planar.shape
    if accumulator.dtype != np.float32 or weights.dtype != np.float32 or planar.dtype != np.float32:
        raise ValueError("accumulator, weights and tile must be float32")
    if window.shape != (height, width) or accumulator.shape[2] != channels:
        raise ValueError(f"tile {planar.shape}, window {window.shape} and accumulator "
                         f"{accumulator.shape} do not fit together")
    if top < 0 or left < 0 or top + height > accumulator.shape[0] or left + width > accumulator.shape[1]:
        raise ValueError("tile out of bounds")
    _accumulate_cpu(accumulator, weights, planar, np.ascontiguousarray(window, np.float32), top, left)


def normalise(accumulator: np.ndarray, weights: np.ndarray) -> np.ndarray:
    """``accumulator / weights`` as a new float32 array (0 where nothing was added)."""
    out = np.empty_like(accumulator)
    _normalise_cpu(accumulator, weights, out)
    return out
