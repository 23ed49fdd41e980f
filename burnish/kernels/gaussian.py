"""Gaussian blur at a cost independent of sigma (Deriche's 4th-order recursive filter).

A Gaussian is approximated by Deriche's sum of exponentials (R. Deriche, "Recursively
implementing the Gaussian and its derivatives", INRIA RR-1893, 1993; parameters as laid out
in P. Getreuer, "A Survey of Gaussian Convolution Algorithms", IPOL 2013): the kernel is
``h[n] = Re(c1 p1^|n| + c2 p2^|n|)`` with two complex gains ``c`` and poles ``p``. Each line
runs through it as a causal sweep (forwards) plus an anticausal one (backwards), each the sum
of two complex first-order recursions ``u <- c x + p u``: 12 multiplies per sample and sweep
whatever sigma is. This parallel form is well conditioned enough to run in float32 (the
expanded 4th-order recursion is not: its poles crowd near 1 as sigma grows). Against the
exact Gaussian the error away from the border is at most 5.3e-4 for any input in [0, 1] (the
sum of the positive differences between the two 2-D kernels, measured for sigma from 2 to
50), and about 2e-4 on masks, border included. Sigmas below :data:`RECURSIVE_FROM_SIGMA` use
the exact kernel truncated at 4 sigma, 17 taps at most.

Border rule: the image is extended by repeating its edge pixels (SciPy's ``mode="nearest"``,
OpenCV's ``BORDER_REPLICATE``). Each sweep starts in the steady state of a constant signal
equal to the edge sample, which is exactly that extension, so the rule holds up to the border,
not only away from it. The filter's gain on a constant is normalised to 1 (in float64, before
the coefficients are rounded to float32). Arithmetic is float32 throughout.

Drivers. Both filters are separable: a vertical pass, then a horizontal one.

- Recursive: the line body :func:`_deriche_lines` sweeps *lanes*, the columns of a 2-D array.
  On the CPU each thread gives it strips of adjacent columns of the plane (vertical pass),
  or bands of rows transposed into a cache-sized tile of its own (horizontal pass), so that its inner
  loop runs across contiguous lanes and vectorises. On CUDA each thread sweeps one lane: one
  thread per column (adjacent threads read adjacent pixels), then one thread per row, which
  copies its row into a column of an image-sized transposed scratch plane and back (threads
  can't allocate).
- Finite kernel: the per-pixel body :func:`_fir_sample`. CUDA runs one thread per pixel for
  each pass; the CPU runs its row forms, :func:`_fir_down` and :func:`_fir_across` (the same
  arithmetic, a tap at a time over a whole row: see there why), vectorised across pixels.

Both devices run the same float32 operations in the same order, so results are identical in
Numba's CUDA simulator. On a GPU, where NVVM fuses multiply-adds by default, they may differ
by float32 rounding, which the recursion carries along each line.
"""

from __future__ import annotations

import math

import numpy as np
from numba import njit

from burnish.kernels.dispatch import (
    check_device,
    cuda,
    cuda_kernel,
    device_function,
    empty,
    run,
    to_host,
)
from burnish.kernels.threads import band_driver, parallel_for

RECURSIVE_FROM_SIGMA = 2.0
# Deriche's optimised 4th-order parameters: the impulse response is
# sum_k alpha_k exp(-lambda_k |n| / sigma) / (sigma sqrt(2 pi)) over conjugate pairs, of which
# one member of each pair is kept (the other contributes the complex conjugate).
_DERICHE_ALPHA = (0.84 + 1.8675j, -0.34015 - 0.1299j)
_DERICHE_LAMBDA = (1.783 + 0.6318j, 1.723 + 1.997j)

# CPU tile sizes. Vertical pass: columns per thread; the strip's input and output columns
# (2 x height x _STRIP floats, 0.8 MB at 2160 rows) stay in a core's L2 cache between the
# forward and the backward sweep. Horizontal pass: rows transposed into one tile.
_STRIP = 48
_BAND = 16
# The finite kernel's reach: 4 sigma, for sigmas below RECURSIVE_FROM_SIGMA.
_FIR_RADIUS = math.ceil(4 * RECURSIVE_FROM_SIGMA)
_FIR_TAPS = 2 * _FIR_RADIUS + 1


def _bands(height: int) -> int:
    """How many bands of _BAND rows cover ``height`` rows (the last one may be short)."""
    return -(-height // _BAND)


def _deriche_coefficients(sigma: float) -> np.ndarray:
    """The two sections' float32 coefficients, one row each: ``c.re, c.im, p.re, p.im, s.re,
    s.im``.

    ``c`` is the section's gain and ``p`` its pole, so that the blur's kernel is
    ``h[n] = Re(c_1 p_1^|n| + c_2 p_2^|n|)``, normalised to a sum of exactly 1 (in float64);
    ``s = c / (1 - p)`` is the state a sweep settles to on a constant line of 1.
    """
    alpha = np.array(_DERICHE_ALPHA) / (sigma * math.sqrt(2 * math.pi))
    pole = np.exp(-np.array(_DERICHE_LAMBDA) / sigma)
    # Each member of a pair stands for itself and its conjugate: twice the real part.
    gain = 2 * alpha
    # Sum over n of Re(c p^|n|) = Re(c (1 + p) / (1 - p)).
    gain /= np.real(np.sum(gain * (1 + pole) / (1 - pole)))
    rest = gain / (1 - pole)
    return np.array([[g.real, g.imag, p.real, p.imag, s.real, s.imag]
                     for g, p, s in zip(gain, pole, rest)], np.float32)


@njit(cache=True)
def _deriche_lines(src, dst, state, first, stop, coefficients):
    """Blur the lines ``src[:, j]`` into ``dst[:, j]`` for ``first <= j < stop``.

    ``dst`` must not be ``src``; ``state[:4, j]`` is scratch (the two sections' complex
    state). The forward sweep gives the causal part, which includes the centre tap ``h[0]``;
    the backward sweep runs the same recursion, so it includes ``h[0]`` too, and subtracts it
    once. Each sweep starts from the steady state of its edge sample held constant.

    On the CPU ``first`` and ``stop`` are unsigned: Numba then drops its negative-index
    wraparound on ``j``, which would otherwise keep LLVM from vectorising the lane loop.
    """
    n = src.shape[0]
    c1r, c1i, p1r, p1i, s1r, s1i = (coefficients[0, 0], coefficients[0, 1], coefficients[0, 2],
                                    coefficients[0, 3], coefficients[0, 4], coefficients[0, 5])
    c2r, c2i, p2r, p2i, s2r, s2i = (coefficients[1, 0], coefficients[1, 1], coefficients[1, 2],
                                    coefficients[1, 3], coefficients[1, 4], coefficients[1, 5])
    centre = c1r + c2r
    for backward in range(2):
        edge = n - 1 if backward else 0
        for j in range(first, stop):
            x = src[edge, j]
            state[0, j], state[1, j], state[2, j], state[3, j] = s1r * x, s1i * x, s2r * x, s2i * x
        for step in range(n):
            i = n - 1 - step if backward else step
            for j in range(first, stop):
                x = src[i, j]
                r1, i1, r2, i2 = state[0, j], state[1, j], state[2, j], state[3, j]
                r1, i1 = c1r * x + (p1r * r1 - p1i * i1), c1i * x + (p1r * i1 + p1i * r1)
                r2, i2 = c2r * x + (p2r * r2 - p2i * i2), c2i * x + (p2r * i2 + p2i * r2)
                state[0, j], state[1, j], state[2, j], state[3, j] = r1, i1, r2, i2
                if backward:
                    dst[i, j] = dst[i, j] + ((r1 + r2) - centre * x)
                else:
                    dst[i, j] = r1 + r2


_deriche_lines_device = device_function(_deriche_lines)


@band_driver
def _deriche_columns_cpu(src, dst, state, coefficients, first_column, stop_column):
    for first in range(first_column, stop_column, _STRIP):
        _deriche_lines(src, dst, state, np.uint64(first),
                       np.uint64(min(first + _STRIP, stop_column)), coefficients)


@cuda_kernel
def _deriche_columns_cuda(src, dst, state, coefficients):
    x = cuda.grid(1)
    if x < src.shape[1]:
        _deriche_lines_device(src, dst, state, x, x + 1, coefficients)


@njit(cache=True, inline="always")
def _load_band(src, first_row, tile):
    """``tile[x, r] = src[first_row + r, x]`` for the _BAND rows from ``first_row``.

    The band size is a compile-time constant so that the transposing loops unroll. A band
    past the bottom edge repeats the last row in its spare lanes, which therefore hold that
    row's result: :func:`_store_band` writes the same values to it again.
    """
    height, width = src.shape
    for x in range(width):
        for r in range(_BAND):
            tile[x, r] = src[min(first_row + r, height - 1), x]


@njit(cache=True, inline="always")
def _store_band(tile, first_row, dst):
    height, width = dst.shape
    for x in range(width):
        for r in range(_BAND):
            dst[min(first_row + r, height - 1), x] = tile[x, r]


@band_driver
def _deriche_rows_cpu(src, dst, coefficients, first_band, stop_band):
    """Bands ``first_band .. stop_band - 1`` of _BAND rows, each transposed into a tile, swept
    and transposed back; ``dst`` may be ``src`` (a band is read whole before it is written)."""
    tile_in = np.empty((src.shape[1], _BAND), np.float32)
    tile_out = np.empty((src.shape[1], _BAND), np.float32)
    state = np.empty((4, _BAND), np.float32)
    for band in range(first_band, stop_band):
        _load_band(src, band * _BAND, tile_in)
        _deriche_lines(tile_in, tile_out, state, np.uint64(0), np.uint64(_BAND), coefficients)
        _store_band(tile_out, band * _BAND, dst)


@cuda_kernel
def _deriche_rows_cuda(src, dst, tiles_in, tiles_out, states, coefficients):
    y = cuda.grid(1)
    if y < src.shape[0]:
        tile_in, tile_out = tiles_in[0], tiles_out[0]
        for x in range(src.shape[1]):
            tile_in[x, y] = src[y, x]
        _deriche_lines_device(tile_in, tile_out, states[0], y, y + 1, coefficients)
        for x in range(src.shape[1]):
            dst[y, x] = tile_out[x, y]


def _deriche_blur(plane: np.ndarray, sigma: float, device: str) -> np.ndarray:
    height, width = plane.shape
    coefficients = _deriche_coefficients(sigma)
    # The vertical pass writes ``out``, and the horizontal pass runs in place (rows are
    # independent, and each is read whole before it is written).
    out = empty((height, width), np.float32, device)
    run(device, _deriche_columns_cpu, _deriche_columns_cuda, (width,), plane, out,
        empty((4, width), np.float32, device), coefficients)
    if device == "cpu":
        parallel_for(_deriche_rows_cpu, _bands(height), out, out, coefficients)
        return out
    # On CUDA the row pass's scratch is one image-sized transposed plane, a column per thread
    # (threads can't allocate).
    tiles_in, tiles_out = (empty((1, width, height), np.float32, device) for _ in range(2))
    states = empty((1, 4, height), np.float32, device)
    run(device, None, _deriche_rows_cuda, (height,), out, out, tiles_in, tiles_out, states,
        coefficients)
    return to_host(out)


@njit(cache=True, inline="always")
def _fir_sample(src, y, x, taps, along_rows):
    """Output ``(y, x)`` of the finite kernel along a row (``along_rows``) or a column, edges
    replicated. ``taps`` always has _FIR_TAPS values, zero-padded around shorter kernels: a
    fixed count lets the CPU compiler unroll the loop and vectorise across pixels."""
    height, width = src.shape
    acc = np.float32(0)
    for k in range(_FIR_TAPS):
        if along_rows:
            value = src[y, min(max(x + k - _FIR_RADIUS, 0), width - 1)]
        else:
            value = src[min(max(y + k - _FIR_RADIUS, 0), height - 1), x]
        acc += taps[k] * value
    return acc


_fir_sample_device = device_function(_fir_sample)


@njit(cache=True, error_model="numpy")  # as the band drivers
def _fir_down(src, first_row, stop_row, taps, sums, dst):
    """Rows ``first_row .. stop_row - 1`` of the finite kernel along axis 0 (edges
    replicated), into ``dst``: the CPU's form of :func:`_fir_sample`, with the same float32
    additions in the same order (from 0, tap by tap), so the devices agree bit for bit.

    It adds one source row at a time into the row of ``sums``: a loop over contiguous pixels
    that reads one row, which vectorises (:func:`_fir_across` does the same along rows). The per-pixel form reads all the taps' rows at once,
    and outside a parfor (whose arrays Numba declares unaliased) LLVM cannot rule out that
    one of them is ``dst``, so it stays scalar: 3x slower.
    """
    height, width = src.shape
    for y in range(first_row, stop_row):
        for x in range(width):
            sums[x] = np.float32(0)
        for k in range(_FIR_TAPS):
            row, tap = min(max(y + k - _FIR_RADIUS, 0), height - 1), taps[k]
            for x in range(width):
                sums[x] += tap * src[row, x]
        for x in range(width):
            dst[y, x] = sums[x]


@njit(cache=True, error_model="numpy")  # as the band drivers
def _fir_across(src, first_row, stop_row, taps, sums, dst):
    """:func:`_fir_down`'s twin along axis 1: a tap at a time, each a shifted read of the
    row; the ``_FIR_RADIUS`` pixels at either end, whose reads are clamped, apart."""
    width = src.shape[1]
    inner_start = min(_FIR_RADIUS, width)
    inner_stop = max(inner_start, width - _FIR_RADIUS)
    for y in range(first_row, stop_row):
        for x in range(width):
            sums[x] = np.float32(0)
        for k in range(_FIR_TAPS):
            shift, tap = k - _FIR_RADIUS, taps[k]
            for x in range(inner_start):
                sums[x] += tap * src[y, min(max(x + shift, 0), width - 1)]
            # Views, so that the loop indexes from 0: a negative shift in the index would
            # make Numba check it for wraparound, and the loop would not vectorise.
            inner, shifted = (sums[inner_start:inner_stop],
                              src[y, inner_start + shift: inner_stop + shift])
            for i in range(inner_stop - inner_start):
                inner[i] += tap * shifted[i]
            for x in range(inner_stop, width):
                sums[x] += tap * src[y, min(max(x + shift, 0), width - 1)]
        for x in range(width):
            dst[y, x] = sums[x]


@band_driver
def _fir_cpu(src, dst, taps, along_rows, first_band, stop_band):
    """Bands ``first_band .. stop_band - 1`` of _BAND rows, down the columns (the vertical
    pass) or along the rows."""
    height, width = src.shape
    first_row, stop_row = first_band * _BAND, min(height, stop_band * _BAND)
    sums = np.empty(width, np.float32)
    if along_rows:
        _fir_across(src, first_row, stop_row, taps, sums, dst)
    else:
        _fir_down(src, first_row, stop_row, taps, sums, dst)


@cuda_kernel
def _fir_cuda(src, dst, taps, along_rows):
    y, x = cuda.grid(2)
    if y < src.shape[0] and x < src.shape[1]:
        dst[y, x] = _fir_sample_device(src, y, x, taps, along_rows)


def _fir_blur(plane: np.ndarray, sigma: float, device: str) -> np.ndarray:
    radius = math.ceil(4 * sigma)  # at most _FIR_RADIUS below RECURSIVE_FROM_SIGMA
    offsets = np.arange(-_FIR_RADIUS, _FIR_RADIUS + 1)
    taps = np.where(np.abs(offsets) <= radius, np.exp(-0.5 * (offsets / sigma) ** 2), 0.0)
    taps = (taps / taps.sum()).astype(np.float32)
    columns, out = (empty(plane.shape, np.float32, device) for _ in range(2))
    bands = _bands(plane.shape[0])
    run(device, _fir_cpu, _fir_cuda, plane.shape, plane, columns, taps, False, cpu_items=bands)
    run(device, _fir_cpu, _fir_cuda, plane.shape, columns, out, taps, True, cpu_items=bands)
    return to_host(out)


def gaussian_blur(plane: np.ndarray, sigma: float, *, device: str = "cpu") -> np.ndarray:
    """Blur an ``H x W`` float plane (a mask, or one channel) with a Gaussian of ``sigma``.

    Edges are replicated (see the module notes); the result is float32, within 6e-4 of the
    exact Gaussian for inputs in [0, 1]. The cost does not depend on ``sigma`` from
    :data:`RECURSIVE_FROM_SIGMA` up.

    Parameters
    ----------
    plane : ndarray, shape (H, W)
        Any real dtype; computed in float32.
    sigma : float
        Standard deviation in pixels, > 0.
    device : {"cpu", "cuda"}
        Where the kernel runs; results agree to float32 rounding (see the module notes).

    Examples
    --------
    >>> import numpy as np
    >>> flat = np.full((20, 30), 0.25, np.float32)
    >>> bool(np.allclose(gaussian_blur(flat, 8.0), 0.25, atol=1e-6))
    True
    """
    plane = np.asarray(plane)
    if plane.ndim != 2:
        raise ValueError(f"gaussian_blur takes an H x W plane, got shape {plane.shape}")
    if not sigma > 0:
        raise ValueError("sigma must be positive")
    check_device(device)
    plane = np.ascontiguousarray(plane, dtype=np.float32)
    if plane.size == 0:
        return plane.copy()
    blur = _deriche_blur if sigma >= RECURSIVE_FROM_SIGMA else _fir_blur
    return blur(plane, float(sigma), device)
