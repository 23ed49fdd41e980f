"""Gaussian blur at a cost independent of sigma (Deriche's 4th-order recursive filter).

A Gaussian is approximated by the sum of a causal and an anticausal 4th-order recursive
filter (R. Deriche, "Recursively implementing the Gaussian and its derivatives", INRIA RR-1893,
1993; coefficients as laid out in P. Getreuer, "A Survey of Gaussian Convolution Algorithms",
IPOL 2013): 16 multiply-adds per sample and pass whatever sigma is. Sigmas below
:data:`RECURSIVE_FROM_SIGMA`, where recursive approximations lose accuracy, use an exact
finite kernel, which is short there anyway.

Border rule: the image is extended by repeating its edge pixels (SciPy's ``mode="nearest"``,
OpenCV's ``BORDER_REPLICATE``). Each recursive pass starts in the steady state of a constant
signal equal to the edge sample, which is exactly that extension, so the rule holds up to the
border, not only away from it. The filter's gain on a constant is normalised to exactly 1.
Arithmetic is float64 inside, float32 out.
"""

from __future__ import annotations

import math

import numpy as np
from numba import njit, prange

RECURSIVE_FROM_SIGMA = 2.0
# Deriche's optimised 4th-order parameters: the causal impulse response is
# sum_k alpha_k exp(-lambda_k n / sigma) / (sigma sqrt(2 pi)), in conjugate pairs.
_DERICHE_ALPHA = (0.84 + 1.8675j, 0.84 - 1.8675j, -0.34015 - 0.1299j, -0.34015 + 0.1299j)
_DERICHE_LAMBDA = (1.783 + 0.6318j, 1.783 - 0.6318j, 1.723 + 1.997j, 1.723 - 1.997j)


def deriche_coefficients(sigma: float) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Causal numerator ``b+`` (4), anticausal numerator ``b-`` (5) and denominator ``a`` (5).

    The causal pass computes ``y[n] = sum_k b+[k] x[n-k] - sum_{k>=1} a[k] y[n-k]``; the
    anticausal pass the same on the reversed signal with ``b-`` (whose ``b-[0]`` is 0), and the
    blur is their sum. Numerators are scaled so that the total gain on a constant is 1.
    """
    poles = [-np.exp(-lam / sigma) for lam in _DERICHE_LAMBDA]  # beta_k, paired with alpha_k
    # Sum of alpha_k / (1 + beta_k z^-1) as one rational function b(z) / a(z).
    numerator = np.array([_DERICHE_ALPHA[0]], dtype=complex)
    denominator = np.array([1, poles[0]], dtype=complex)
    for alpha, beta in zip(_DERICHE_ALPHA[1:], poles[1:]):
        term_denominator = np.array([1, beta], dtype=complex)
        numerator = (np.convolve(numerator, term_denominator)[: len(denominator)]
                     + alpha * denominator)
        denominator = np.convolve(denominator, term_denominator)
    b_causal = numerator.real[:4] / (sigma * math.sqrt(2 * math.pi))
    a = denominator.real[:5]
    b_anticausal = np.zeros(5)
    b_anticausal[1:4] = b_causal[1:4] - a[1:4] * b_causal[0]
    b_anticausal[4] = -a[4] * b_causal[0]
    gain = (b_causal.sum() + b_anticausal.sum()) / a.sum()
    return b_causal / gain, b_anticausal / gain, a


@njit(cache=True)
def _deriche_line(x, out, b_causal, b_anticausal, a, causal, anticausal):
    """One line, edges replicated: ``out = causal(x) + reversed(anticausal(reversed(x)))``."""
    n = x.shape[0]
    dc = 1.0 + a[1] + a[2] + a[3] + a[4]
    steady_causal = x[0] * (b_causal[0] + b_causal[1] + b_causal[2] + b_causal[3]) / dc
    for i in range(n):
        acc = 0.0
        for k in range(4):
            acc += b_causal[k] * x[max(i - k, 0)]
        for k in range(1, 5):
            acc -= a[k] * (causal[i - k] if i - k >= 0 else steady_causal)
        causal[i] = acc
    last = x[n - 1]
    steady_anticausal = last * (b_anticausal[1] + b_anticausal[2] + b_anticausal[3]
                                + b_anticausal[4]) / dc
    for j in range(n):  # j runs over the reversed line: sample n - 1 - j
        acc = 0.0
        for k in range(1, 5):
            acc += b_anticausal[k] * x[min(n - 1 - j + k, n - 1)]
        for k in range(1, 5):
            acc -= a[k] * (anticausal[j - k] if j - k >= 0 else steady_anticausal)
        anticausal[j] = acc
    for i in range(n):
        out[i] = causal[i] + anticausal[n - 1 - i]


@njit(parallel=True, cache=True)
def _deriche_rows(plane, b_causal, b_anticausal, a):
    height, width = plane.shape
    out = np.empty((height, width), np.float64)
    for y in prange(height):
        line = np.empty(width, np.float64)
        for x in range(width):
            line[x] = plane[y, x]
        _deriche_line(line, out[y], b_causal, b_anticausal, a, np.empty(width, np.float64),
                      np.empty(width, np.float64))
    return out


@njit(parallel=True, cache=True)
def _fir_rows(plane, taps):
    height, width = plane.shape
    radius = (taps.shape[0] - 1) // 2
    out = np.empty((height, width), np.float64)
    for y in prange(height):
        for x in range(width):
            acc = 0.0
            for k in range(-radius, radius + 1):
                acc += taps[k + radius] * plane[y, min(max(x + k, 0), width - 1)]
            out[y, x] = acc
    return out


def _blur_rows(plane: np.ndarray, sigma: float) -> np.ndarray:
    if sigma >= RECURSIVE_FROM_SIGMA:
        return _deriche_rows(plane, *deriche_coefficients(sigma))
    radius = max(1, math.ceil(4 * sigma))
    taps = np.exp(-0.5 * (np.arange(-radius, radius + 1) / sigma) ** 2)
    return _fir_rows(plane, taps / taps.sum())


def gaussian_blur(plane: np.ndarray, sigma: float) -> np.ndarray:
    """Blur an ``H x W`` float plane (a mask, or one channel) with a Gaussian of ``sigma``.

    Edges are replicated (see the module notes); the result is float32. The cost does not
    depend on ``sigma`` from :data:`RECURSIVE_FROM_SIGMA` up.

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
    rows = _blur_rows(np.ascontiguousarray(plane, dtype=np.float32), float(sigma))
    columns = _blur_rows(np.ascontiguousarray(rows.T), float(sigma))
    return np.ascontiguousarray(columns.T, dtype=np.float32)
