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
from numba import njit

from burnish.kernels.dispatch import Out, check_device, cuda, cuda_kernel, run
from burnish.kernels.threads import band_driver

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


@njit(cache=True, inline="always")
def _accumulated(total, window, value):
    return total + window * value


@njit(cache=True, inline="always")
def _normalised(total, weight):
    return total / weight if weight > 0 else np.float32(0)


@band_driver
def _accumulate_cpu(accumulator, weights, planar, window, top, left, first_row, stop_row):
    channels, width = planar.shape[0], planar.shape[2]
    for y in range(first_row, stop_row):
        for x in range(width):
            w = window[y, x]
            weights[top + y, left + x] = _accumulated(weights[top + y, left + x], w, np.float32(1))
            for c in range(channels):
                accumulator[top + y, left + x, c] = _accumulated(
                    accumulator[top + y, left + x, c], w, planar[c, y, x])


@cuda_kernel
def _accumulate_cuda(accumulator, weights, planar, window, top, left):
    y, x = cuda.grid(2)
    if y < planar.shape[1] and x < planar.shape[2]:
        w = window[y, x]
        weights[top + y, left + x] = _accumulated(weights[top + y, left + x], w, np.float32(1))
        for c in range(planar.shape[0]):
            accumulator[top + y, left + x, c] = _accumulated(
                accumulator[top + y, left + x, c], w, planar[c, y, x])


@band_driver
def _normalise_cpu(accumulator, weights, out, first_row, stop_row):
    width, channels = accumulator.shape[1], accumulator.shape[2]
    for y in range(first_row, stop_row):
        for x in range(width):
            for c in range(channels):
                out[y, x, c] = _normalised(accumulator[y, x, c], weights[y, x])


@cuda_kernel
def _normalise_cuda(accumulator, weights, out):
    y, x = cuda.grid(2)
    if y < accumulator.shape[0] and x < accumulator.shape[1]:
        for c in range(accumulator.shape[2]):
            out[y, x, c] = _normalised(accumulator[y, x, c], weights[y, x])


def accumulate_tile(accumulator: np.ndarray, weights: np.ndarray, planar: np.ndarray,
                    window: np.ndarray, *, top: int, left: int, device: str = "cpu") -> None:
    """Add ``window * planar`` (``C x h x w``) at ``(top, left)`` of the accumulator, in place.

    With ``device="cuda"`` the accumulator and weights may live on the GPU (device arrays),
    where a GPU pipeline keeps them between tiles.
    """
    check_device(device)
    channels, height, width = planar.shape
    if accumulator.dtype != np.float32 or weights.dtype != np.float32 or planar.dtype != np.float32:
        raise ValueError("accumulator, weights and tile must be float32")
    if window.shape != (height, width) or accumulator.shape[2] != channels:
        raise ValueError(f"tile {planar.shape}, window {window.shape} and accumulator "
                         f"{accumulator.shape} do not fit together")
    if top < 0 or left < 0 or top + height > accumulator.shape[0] or left + width > accumulator.shape[1]:
        raise ValueError("tile out of bounds")
    run(device, _accumulate_cpu, _accumulate_cuda, (height, width), Out(accumulator), Out(weights),
        planar, np.ascontiguousarray(window, np.float32), top, left)


def normalise(accumulator: np.ndarray, weights: np.ndarray, *, device: str = "cpu") -> np.ndarray:
    """``accumulator / weights`` as a new float32 array (0 where nothing was added)."""
    check_device(device)
    out = np.empty(accumulator.shape, np.float32)
    run(device, _normalise_cpu, _normalise_cuda, accumulator.shape[:2], accumulator, weights,
        Out(out))
    return out
