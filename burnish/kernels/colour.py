"""Colour transfer from a reference image: Reinhard, histogram matching and MKL.

Three global transfers, each fitted on a *target region* of ``image`` (``mask``) and a
*reference region* of ``reference`` (``reference_mask``), and applied to the target region
only: pixels outside ``mask`` come back bit-identical. Without masks the regions are the
whole images. ``reference`` may have another height and width than ``image``.

- :func:`reinhard` (Reinhard et al. 2001, done in CIELAB): per channel,
  ``L' = (L - mean_t) * gain + mean_r``, ``gain = std_r / std_t`` bounded as below.
  Statistics are population (ddof 0); where the target's std is 0 only the mean shifts.
- :func:`match_histograms`: per-channel quantile mapping, the same arithmetic as
  ``skimage.exposure.match_histograms(..., channel_axis=-1)`` and bit-identical to it without
  masks, for uint8, uint16 and float32 alike (see its docstring for the cast rule).
- :func:`mkl`: the Monge-Kantorovich linear map (Pitie and Kokaram 2007), the affine map
  with the least mean squared displacement that sends the target's RGB mean and covariance
  to the reference's: ``T = A^-1/2 (A^1/2 B A^1/2)^1/2 A^-1/2``,
  ``out = (x - mean_t) T + mean_r``. It works on the stored (sRGB-encoded) values scaled to
  [0, 1]; covariances are population (ddof 0). ``T`` is symmetric: along each of its
  eigenvectors it multiplies the target's std by its eigenvalue, which is bounded as below.

The spread bound. Neither transfer stretches noise into visible structure. A gain below 1
(the reference has less spread) is never limited. A gain above 1 is at most
:data:`MAX_SPREAD_GAIN` (3), and at most ``std_t / floor``, where ``floor`` is a noise floor
(:data:`LAB_NOISE_FLOOR`, 1 Lab unit, for Reinhard; :data:`RGB_NOISE_FLOOR`, 0.02 of full
scale, about 5 8-bit levels, for MKL): ``gain <= max(1, min(3, std_t / floor))``. So a
region whose spread is no more than the floor (a flat JPEG sky, whose std of a level or two
is mostly 8 x 8 block noise) keeps its spread and only moves to the reference's mean, and
the allowed stretch grows with the target's own spread, to 3x at three times the floor. A
global transfer cannot tell noise from structure, so the cap is what bounds how much block
noise a stretched region gains (by at most 3x, never more).

Conventions. Images are H x W x 3, uint8, uint16 or float32 in [0, 1]; integer values are
scaled by the dtype's maximum. Results are clipped to the valid range and, for integer
images, rounded to nearest (half to even), except in :func:`match_histograms`, which casts
like scikit-image. Masks follow DESIGN.md: bool, uint8 (set where > 127) or float32 (set
where > 0.5). CIELAB is D65: sRGB is decoded to linear light, taken to XYZ by the IEC
61966-2-1 matrix, and the white point is that matrix's row sums (the XYZ of RGB white), so
that neutral greys have a* = b* = 0 (to within 1e-4 in the float32 kernels).

How it runs. Each per-pixel map is an ``@njit`` body with two drivers, a loop over a band of
rows on the CPU (bands in threads, :mod:`~burnish.kernels.threads`) and a ``@cuda.jit``
kernel on the GPU, chosen by :func:`burnish.kernels.dispatch.run` (``device=``); both devices
give the same results (see tests/conftest.py's ``assert_cuda_matches_cpu`` for a GPU's fused
multiply-adds). Statistics the host can afford stay on the host.

Compile cost. Scalar bodies are inlined (``inline="always"``) where a loop calls them, so that
the loop vectorises (without it Reinhard runs 3-4x slower); the span functions that hold
those loops are not inlined, so that each is compiled once and shared: by both Reinhard
passes, and, for the spans that work on float32 buffers only (:func:`_lab_from_linear`,
:func:`_transfer_span`, :func:`_add_span`: the cube roots and powers, which are most of the
compiling), by every image dtype. What is compiled per dtype is the reading of samples
(:func:`_linear_span`) and the drivers' casting stores. No driver is a parfor.

- Reinhard computes in float32, within about 2e-5 of full scale of a float64 computation
  (so within a level of uint8 and uint16 after rounding). Integer samples are decoded through a
  table with one entry per level; cube roots come from a polynomial and one Halley step
  (:func:`_cube_root`), so the CPU loops vectorise. Lab is never stored: the statistics
  pass converts a row a chunk of :data:`_CHUNK` pixels at a time and adds each chunk into
  per-position partial sums, shifted by the row's first pixel; one CPU thread or one CUDA
  thread per row, the same order of additions on both, and the host combines the rows. The
  transfer pass converts each pixel again (one CUDA thread per pixel) and maps it back.
- Histogram matching counts levels on the host (integer images: per-thread counts in
  parallel; float32: ``numpy.unique``) and builds one table per channel as scikit-image does;
  the device maps the pixels, by a table read for integer images and a binary search
  (:func:`_lower_bound`) for float32.
- MKL's means and covariances are NumPy on the host; the device runs the affine map in
  float64.

The CUDA simulator (which the tests use) calls the CPU-compiled bodies with Python floats
where a device function hands them on, so float32 bodies cast their inputs on entry; bodies
that take arrays run on CUDA through their :func:`~burnish.kernels.dispatch.device_function`
twins and call only scalar bodies, the simulator's arrays being unfit for compiled code.
"""

from __future__ import annotations

import functools
import math

import numpy as np
from numba import njit

from burnish.kernels.dispatch import Out, check_device, cuda, cuda_kernel, device_function, run
from burnish.kernels.dtypes import check_pixel_dtype, full_scale
from burnish.kernels.gaussian import gaussian_blur
from burnish.kernels.masks import binary_mask
from burnish.kernels.primitives import round_half_even
from burnish.kernels.srgb import srgb_to_linear_f64
from burnish.kernels.threads import band_driver, parallel_for, thread_count

# IEC 61966-2-1 (sRGB, D65), linear RGB -> XYZ.
_RGB_TO_XYZ = np.array([[0.4124564, 0.3575761, 0.1804375],
                        [0.2126729, 0.7151522, 0.0721750],
                        [0.0193339, 0.1191920, 0.9503041]])
_XYZ_TO_RGB = np.linalg.inv(_RGB_TO_XYZ)
# The white the matrix maps RGB (1, 1, 1) to; normalising by it makes greys neutral in Lab.
_WHITE = _RGB_TO_XYZ.sum(axis=1)
# The two matrices the float32 kernels use, with the white point folded in:
# linear RGB -> XYZ / white, and XYZ / white -> linear RGB.
_TO_LAB_MATRIX = (_RGB_TO_XYZ / _WHITE[:, None]).astype(np.float32)
_FROM_LAB_MATRIX = (_XYZ_TO_RGB * _WHITE[None, :]).astype(np.float32)

# CIE's break between the cube root and the linear toe of the Lab companding function, and
# the toe's slope and offset, in float32 (a Python float would promote the kernels to float64).
# The kernels multiply by reciprocals rather than divide by constants: division is the
# slowest vector operation.
_DELTA = np.float32(6 / 29)
_DELTA_CUBED = np.float32((6 / 29) ** 3)
_TOE_SLOPE = np.float32(3 * (6 / 29) ** 2)
_TOE_INVERSE_SLOPE = np.float32(1 / (3 * (6 / 29) ** 2))
_TOE_OFFSET = np.float32(4 / 29)

# t^(1/3) on [1/8, 1] to 0.52% (relative minimax, degree 3); one Halley step then brings it
# within 3.2e-7 (4.6 ulp) of the exact root for every float32 in [2^-9, 1].
_CUBE_ROOT_GUESS = tuple(np.float32(c) for c in
                         (0.34084173, 1.45811387, -1.3859257, 0.59218509))

# Eigenvalues of covariance matrices are clamped at this before square roots and inverses:
# a variance below 1e-10 (a std of 1e-5, under one 16-bit level) counts as a flat direction,
# which keeps A^-1/2 finite for grey or single-colour regions. In such a direction the
# region's pixels do not vary, so the large inverse meets a zero (x - mean) component.
EIGEN_FLOOR = 1e-10

# The spread bound (see the module docstring): the largest factor by which a transfer
# multiplies the target's std, and the noise floors below which it does not stretch at all.
MAX_SPREAD_GAIN = 3.0
LAB_NOISE_FLOOR = 1.0
RGB_NOISE_FLOOR = 0.02

# Fine detail, for limit_fine_detail: variation at scales up to about this Gaussian sigma, in
# pixels. JPEG's 8 x 8 block steps live there (a blur of sigma 4 keeps under 1% of a pattern
# of period 8), and so do sensor noise and compression ringing.
FINE_DETAIL_SIGMA = 4.0
# How far, in pixels, limit_fine_detail reaches: its blur is Deriche's recursive filter, whose
# slowest pole decays by exp(-1.723 / sigma) = 0.65 a pixel at sigma 4; after 40 pixels a
# pixel's weight is below 4e-8, far under a level of any dtype. Cutting an image into bands
# with this much context above and below gives the whole image's result.
FINE_DETAIL_REACH = math.ceil(10 * FINE_DETAIL_SIGMA)

# Pixels per step of the Reinhard passes: a row is converted a chunk at a time into small
# buffers (loops the CPU vectorises). It also fixes the order in which the statistics pass
# adds, which both devices follow.
_CHUNK = 64


# --- per-pixel bodies (float32 CIELAB for Reinhard) -----------------------------------------


@njit(cache=True, inline="always")
def _cube_root(t):
    """``t ** (1/3)`` in float32 to a few ulp, for ``t`` in [2^-9, 1] (all that CIELAB and the
    sRGB encoding ask for); no library call, so the CPU loops vectorise."""
    # Exact range reduction to [1/8, 1]: the cube root of 8^k t is 2^k times that of t.
    scale = np.float32(1)
    if t < np.float32(1 / 64):
        t *= np.float32(64)
        scale = np.float32(1 / 4)
    if t < np.float32(1 / 8):
        t *= np.float32(8)
        scale *= np.float32(1 / 2)
    c0, c1, c2, c3 = _CUBE_ROOT_GUESS
    y = c0 + t * (c1 + t * (c2 + t * c3))
    cube = y * y * y
    return scale * (y * (cube + np.float32(2) * t) / (np.float32(2) * cube + t))


@njit(cache=True, inline="always")
def _lab_f(t):
    if t > _DELTA_CUBED:
        return _cube_root(t)
    return t * _TOE_INVERSE_SLOPE + _TOE_OFFSET


@njit(cache=True, inline="always")
def _lab_f_inverse(f):
    if f > _DELTA:
        return f * f * f
    return _TOE_SLOPE * (f - _TOE_OFFSET)


@njit(cache=True, inline="always")
def _encode(value):
    """Linear light in [0, 1] -> sRGB-encoded, float32; ``x^(1/2.4) = sqrt(sqrt(x) x^(1/3))``."""
    if value <= np.float32(0.0031308):
        return value * np.float32(12.92)
    power = math.sqrt(math.sqrt(value) * _cube_root(value))
    return np.float32(1.055) * power - np.float32(0.055)


@njit(cache=True, inline="always")
def _linear_sample(value):
    """A float32 sample's linear light, clipped to [0, 1] first, as float32.

    Computed in float64 and rounded once, so that the GPU's ``pow`` and the CPU's agree after
    rounding. (Integer samples are looked up in a table built by the same formula.)
    """
    return np.float32(srgb_to_linear_f64(min(max(np.float64(value), 0.0), 1.0)))


@njit(cache=True, inline="always")
def _to_xyz(red, green, blue):
    """Linear-light RGB -> XYZ relative to the white point (what CIELAB's ``f`` takes),
    float32.

    The inputs are cast on entry: the CUDA simulator hands Python floats to bodies called from
    device functions, which would otherwise compile this in float64.
    """
    r, g, b = np.float32(red), np.float32(green), np.float32(blue)
    m = _TO_LAB_MATRIX
    return (m[0, 0] * r + m[0, 1] * g + m[0, 2] * b, m[1, 0] * r + m[1, 1] * g + m[1, 2] * b,
            m[2, 0] * r + m[2, 1] * g + m[2, 2] * b)


@njit(cache=True, inline="always")
def _lab_from_f(fx, fy, fz):
    """CIELAB's ``f`` of X, Y and Z -> (L*, a*, b*), float32."""
    return (np.float32(116) * fy - np.float32(16), np.float32(500) * (fx - fy),
            np.float32(200) * (fy - fz))


@njit(cache=True, inline="always")
def _from_lab(lightness, a, b):
    """(L*, a*, b*) -> linear-light RGB clipped to [0, 1], float32.

    Clipped in linear light: the transfer can leave the gamut, and the encoding's power is
    undefined below 0; it is monotonic with 0 -> 0 and 1 -> 1, so this equals clipping after.
    """
    fy = (lightness + np.float32(16)) * np.float32(1 / 116)
    x = _lab_f_inverse(fy + a * np.float32(1 / 500))
    y = _lab_f_inverse(fy)
    z = _lab_f_inverse(fy - b * np.float32(1 / 200))
    m = _FROM_LAB_MATRIX
    zero, one = np.float32(0), np.float32(1)
    return (min(max(m[0, 0] * x + m[0, 1] * y + m[0, 2] * z, zero), one),
            min(max(m[1, 0] * x + m[1, 1] * y + m[1, 2] * z, zero), one),
            min(max(m[2, 0] * x + m[2, 1] * y + m[2, 2] * z, zero), one))


@njit(cache=True, inline="always")
def _stored_sample(value, top, rounded):
    """A linear-light [0, 1] sample encoded and brought to the stored scale, float32 (the
    caller's store casts). Cast on entry, as :func:`_to_xyz`: one body, so that the CUDA
    simulator never hands a Python float from one to the next."""
    scaled = _encode(np.float32(value)) * top
    return round_half_even(scaled) if rounded else scaled


@njit(cache=True, error_model="numpy")  # as the drivers: module notes
def _linear_span(image, y, start, n, decode, linear):
    """Pixels ``start .. start + n - 1`` of row ``y`` in linear light, into ``linear[:, :n]``
    (3 x n or more, float32): integer samples through ``decode``, which has one entry per
    level; float32 ones, whose ``decode`` is empty, one by one. On the CPU the table reads stay
    scalar (cheaper here than vector gathers). The one span compiled per image dtype."""
    row = image[y]
    # (np.intp: float32 images compile the table branch too, though they never run it.)
    if decode.shape[0]:
        for i in range(n):
            x = start + i
            linear[0, i] = decode[np.intp(row[x, 0])]
            linear[1, i] = decode[np.intp(row[x, 1])]
            linear[2, i] = decode[np.intp(row[x, 2])]
    else:
        for i in range(n):
            x = start + i
            linear[0, i] = _linear_sample(row[x, 0])
            linear[1, i] = _linear_sample(row[x, 1])
            linear[2, i] = _linear_sample(row[x, 2])


@njit(cache=True, error_model="numpy")  # as the drivers: module notes
def _lab_from_linear(linear, n, lab):
    """``lab[:, :n]``, the Lab of the linear-light ``linear[:, :n]``, float32 whatever the
    image: one compiled copy for all.

    Three loops over the buffers, ``lab`` holding XYZ, then ``f`` of it, then Lab: the loop
    over the flattened channels inlines the cube root once, where one pixel at a time inlined
    it three times (a third of the compiling); each loop reads buffers only and vectorises.
    """
    for i in range(n):
        lab[0, i], lab[1, i], lab[2, i] = _to_xyz(linear[0, i], linear[1, i], linear[2, i])
    for c in range(3):
        for i in range(n):
            lab[c, i] = _lab_f(lab[c, i])
    for i in range(n):
        lab[0, i], lab[1, i], lab[2, i] = _lab_from_f(lab[0, i], lab[1, i], lab[2, i])


@njit(cache=True, error_model="numpy")  # as the drivers: module notes
def _transfer_span(lab, n, transfer, top, rounded):
    """Transfers ``lab[:, :n]`` in place (``Lab * scale + shift``, ``transfer`` holding the
    three scales then the three shifts) to stored-scale sRGB, still float32: one compiled copy
    for all image dtypes, whose drivers then only cast and store. As in
    :func:`_lab_from_linear`, the encoding (a cube root) runs over the flattened channels."""
    for i in range(n):
        lab[0, i], lab[1, i], lab[2, i] = _from_lab(
            lab[0, i] * transfer[0] + transfer[3], lab[1, i] * transfer[1] + transfer[4],
            lab[2, i] * transfer[2] + transfer[5])
    for c in range(3):
        for i in range(n):
            lab[c, i] = _stored_sample(lab[c, i], top, rounded)


@njit(cache=True, inline="always")
def _accumulate(partial, i, lightness, a, b, pivot_l, pivot_a, pivot_b, inside):
    """Adds one pixel's Lab less the row's pivot, its squares, and 1, to position ``i`` of the
    partial sums (7 x _CHUNK), if it is ``inside`` the region (as selects, not a branch)."""
    d_l = np.float64(lightness) - pivot_l if inside else 0.0
    d_a = np.float64(a) - pivot_a if inside else 0.0
    d_b = np.float64(b) - pivot_b if inside else 0.0
    partial[0, i] += d_l
    partial[1, i] += d_a
    partial[2, i] += d_b
    partial[3, i] += d_l * d_l
    partial[4, i] += d_a * d_a
    partial[5, i] += d_b * d_b
    partial[6, i] += inside


@njit(cache=True, error_model="numpy")  # as the drivers: module notes
def _add_span(lab, n, mask_row, start, whole, pivot_l, pivot_a, pivot_b, partial):
    """Adds a span's pixels inside the region to the partial sums, by position in the span.

    Shifting by a pixel of the row keeps the squares free of cancellation, and makes a flat
    region's sums exactly 0.
    """
    if whole:
        # The same loop knowing that every pixel is inside: it runs faster on the CPU than one
        # reading the row of ones.
        for i in range(n):
            _accumulate(partial, i, lab[0, i], lab[1, i], lab[2, i], pivot_l, pivot_a, pivot_b,
                        True)
    else:
        for i in range(n):
            _accumulate(partial, i, lab[0, i], lab[1, i], lab[2, i], pivot_l, pivot_a, pivot_b,
                        mask_row[start + i] != 0)


@njit(cache=True)
def _row_sums(partial, pivot_l, pivot_a, pivot_b, sums):
    """A row's statistics from its partial sums, in ``sums``: the sums of ``v - pivot`` (3) and
    of its squares (3), the pixel count, and the pivot (3); partials are added in order."""
    for k in range(7):
        total = 0.0
        for i in range(partial.shape[1]):
            total += partial[k, i]
        sums[k] = total
    sums[7], sums[8], sums[9] = pivot_l, pivot_a, pivot_b


_linear_span_device = device_function(_linear_span)
_lab_from_linear_device = device_function(_lab_from_linear)
_transfer_span_device = device_function(_transfer_span)
_add_span_device = device_function(_add_span)
_row_sums_device = device_function(_row_sums)


# --- per-pixel bodies (MKL, histogram matching) ----------------------------------------------


@njit(cache=True, inline="always")
def _affine_sample(red, green, blue, from_red, from_green, from_blue, offset, top, rounded):
    """One output sample of ``clip(x @ matrix + offset)``, ``x`` the stored RGB scaled to
    [0, 1] (float64); ``from_*`` is the matrix column of this output channel."""
    value = (np.float64(red) / top * from_red + np.float64(green) / top * from_green
             + np.float64(blue) / top * from_blue + offset)
    scaled = min(max(value, 0.0), 1.0) * top
    return round_half_even(scaled) if rounded else scaled


@njit(cache=True)
def _lower_bound(keys, c, value):
    """The first index ``i`` with ``keys[c, i] >= value`` (``numpy.searchsorted``'s left side,
    which CUDA lacks); rows of ``keys`` are sorted ascending."""
    low, high = 0, keys.shape[1]
    while low < high:
        middle = (low + high) // 2
        if keys[c, middle] < value:
            low = middle + 1
        else:
            high = middle
    return low


_lower_bound_device = device_function(_lower_bound)


# --- drivers ---------------------------------------------------------------------------------
# ``mask`` is a uint8 H x W region or, with ``whole`` set, a 1 x W row of ones standing for
# every row (nothing to allocate or fill per pixel). The CPU drivers take rows in parallel;
# the CUDA ones run a thread per pixel, or per row for the statistics pass.
#
# The statistics pass: a row's first pixel inside the region starts its first chunk and gives
# its pivot; each chunk is converted to Lab and added to per-position partial sums, which are
# added up at the end of the row. The order of additions depends on _CHUNK alone, so both
# devices produce the same sums.


@band_driver
def _lab_sums_cpu(image, decode, mask, whole, sums, first_row, stop_row):
    width = image.shape[1]
    for y in range(first_row, stop_row):
        linear = np.empty((3, _CHUNK), np.float32)
        lab = np.empty((3, _CHUNK), np.float32)
        partial = np.zeros((7, _CHUNK), np.float64)
        mask_row = mask[0] if whole else mask[y]
        first = 0
        while first < width and mask_row[first] == 0:
            first += 1
        pivot_l = pivot_a = pivot_b = 0.0
        for start in range(first, width, _CHUNK):
            n = min(_CHUNK, width - start)
            _linear_span(image, y, start, n, decode, linear)
            _lab_from_linear(linear, n, lab)
            if start == first:
                pivot_l, pivot_a, pivot_b = lab[0, 0], lab[1, 0], lab[2, 0]
            _add_span(lab, n, mask_row, start, whole, pivot_l, pivot_a, pivot_b, partial)
        _row_sums(partial, pivot_l, pivot_a, pivot_b, sums[y])


@cuda_kernel
def _lab_sums_cuda(image, decode, mask, whole, sums):
    y = cuda.grid(1)
    height, width, _ = image.shape
    if y < height:
        linear = cuda.local.array((3, _CHUNK), np.float32)
        lab = cuda.local.array((3, _CHUNK), np.float32)
        partial = cuda.local.array((7, _CHUNK), np.float64)
        for k in range(7):
            for i in range(_CHUNK):
                partial[k, i] = 0.0
        mask_row = mask[0] if whole else mask[y]
        first = 0
        while first < width and mask_row[first] == 0:
            first += 1
        pivot_l = pivot_a = pivot_b = 0.0
        for start in range(first, width, _CHUNK):
            n = min(_CHUNK, width - start)
            _linear_span_device(image, y, start, n, decode, linear)
            _lab_from_linear_device(linear, n, lab)
            if start == first:
                pivot_l, pivot_a, pivot_b = lab[0, 0], lab[1, 0], lab[2, 0]
            _add_span_device(lab, n, mask_row, start, whole, pivot_l, pivot_a, pivot_b, partial)
        _row_sums_device(partial, pivot_l, pivot_a, pivot_b, sums[y])


@band_driver
def _reinhard_cpu(image, decode, mask, whole, transfer, top, rounded, out, first_row, stop_row):
    width = image.shape[1]
    for y in range(first_row, stop_row):
        # A chunk is converted and transferred in place, then stored: the loops over the chunk
        # vectorise, where one writing three interleaved samples per pixel does not.
        linear = np.empty((3, _CHUNK), np.float32)
        lab = np.empty((3, _CHUNK), np.float32)
        row, out_row = image[y], out[y]
        for start in range(0, width, _CHUNK):
            n = min(_CHUNK, width - start)
            _linear_span(image, y, start, n, decode, linear)
            _lab_from_linear(linear, n, lab)
            _transfer_span(lab, n, transfer, top, rounded)
            # One line per channel, cast to the output type before any choice; and without a
            # region, a loop that reads no mask.
            if whole:
                for i in range(n):
                    out_row[start + i, 0] = out.dtype.type(lab[0, i])
                    out_row[start + i, 1] = out.dtype.type(lab[1, i])
                    out_row[start + i, 2] = out.dtype.type(lab[2, i])
            else:
                mask_row = mask[y]
                for i in range(n):
                    x = start + i
                    inside = mask_row[x] != 0
                    out_row[x, 0] = out.dtype.type(lab[0, i]) if inside else row[x, 0]
                    out_row[x, 1] = out.dtype.type(lab[1, i]) if inside else row[x, 1]
                    out_row[x, 2] = out.dtype.type(lab[2, i]) if inside else row[x, 2]


@cuda_kernel
def _reinhard_cuda(image, decode, mask, whole, transfer, top, rounded, out):
    y, x = cuda.grid(2)
    if y < image.shape[0] and x < image.shape[1]:
        if (mask[0, x] if whole else mask[y, x]) != 0:
            linear = cuda.local.array((3, 1), np.float32)
            lab = cuda.local.array((3, 1), np.float32)
            _linear_span_device(image, y, x, 1, decode, linear)
            _lab_from_linear_device(linear, 1, lab)
            _transfer_span_device(lab, 1, transfer, top, rounded)
            out[y, x, 0], out[y, x, 1], out[y, x, 2] = lab[0, 0], lab[1, 0], lab[2, 0]
        else:
            for c in range(image.shape[2]):
                out[y, x, c] = image[y, x, c]


@band_driver
def _affine_cpu(image, mask, whole, matrix, offset, top, rounded, out, first_row, stop_row):
    width, channels = image.shape[1], image.shape[2]
    for y in range(first_row, stop_row):
        mask_row = mask[0] if whole else mask[y]
        for x in range(width):
            inside = mask_row[x] != 0
            for c in range(channels):
                out[y, x, c] = _affine_sample(
                    image[y, x, 0], image[y, x, 1], image[y, x, 2], matrix[0, c], matrix[1, c],
                    matrix[2, c], offset[c], top, rounded) if inside else image[y, x, c]


@cuda_kernel
def _affine_cuda(image, mask, whole, matrix, offset, top, rounded, out):
    y, x = cuda.grid(2)
    if y < image.shape[0] and x < image.shape[1]:
        inside = (mask[0, x] if whole else mask[y, x]) != 0
        for c in range(image.shape[2]):
            out[y, x, c] = _affine_sample(
                image[y, x, 0], image[y, x, 1], image[y, x, 2], matrix[0, c], matrix[1, c],
                matrix[2, c], offset[c], top, rounded) if inside else image[y, x, c]


# The integer histogram map is one table read per sample, with no arithmetic to share: both
# drivers read ``table[c, value]`` themselves.


@band_driver
def _lookup_cpu(image, table, mask, whole, out, first_row, stop_row):
    width = image.shape[1]
    for y in range(first_row, stop_row):
        # Row views and one line per channel: indexing the 3-D arrays in a loop over channels
        # compiles to slower code; and without a region, a loop that reads no mask.
        row, out_row = image[y], out[y]
        if whole:
            for x in range(width):
                out_row[x, 0] = table[0, row[x, 0]]
                out_row[x, 1] = table[1, row[x, 1]]
                out_row[x, 2] = table[2, row[x, 2]]
        else:
            mask_row = mask[y]
            for x in range(width):
                inside = mask_row[x] != 0
                out_row[x, 0] = table[0, row[x, 0]] if inside else row[x, 0]
                out_row[x, 1] = table[1, row[x, 1]] if inside else row[x, 1]
                out_row[x, 2] = table[2, row[x, 2]] if inside else row[x, 2]


@cuda_kernel
def _lookup_cuda(image, table, mask, whole, out):
    y, x = cuda.grid(2)
    if y < image.shape[0] and x < image.shape[1]:
        inside = (mask[0, x] if whole else mask[y, x]) != 0
        for c in range(image.shape[2]):
            out[y, x, c] = table[c, image[y, x, c]] if inside else image[y, x, c]


@band_driver
def _search_cpu(image, keys, values, mask, whole, out, first_row, stop_row):
    """Float images: the sample's position among the sorted ``keys[c]`` picks ``values[c]``.

    Every sample inside the mask is one of its channel's keys (they are the region's distinct
    values); rows are padded with +inf, which no finite sample reaches.
    """
    width, channels = image.shape[1], image.shape[2]
    for y in range(first_row, stop_row):
        mask_row = mask[0] if whole else mask[y]
        for x in range(width):
            inside = mask_row[x] != 0
            for c in range(channels):
                out[y, x, c] = (values[c, _lower_bound(keys, c, image[y, x, c])] if inside
                                else image[y, x, c])


@cuda_kernel
def _search_cuda(image, keys, values, mask, whole, out):
    y, x = cuda.grid(2)
    if y < image.shape[0] and x < image.shape[1]:
        inside = (mask[0, x] if whole else mask[y, x]) != 0
        for c in range(image.shape[2]):
            out[y, x, c] = (values[c, _lower_bound_device(keys, c, image[y, x, c])] if inside
                            else image[y, x, c])


# --- statistics on the host ------------------------------------------------------------------


@njit(cache=True, inline="always")
def _count_pixel(counts, row, x):
    """Counts pixel ``x`` of ``row``: two tables per channel, alternating pixel by pixel, so
    that neighbours sharing a level (smooth areas) do not wait for each other's stores."""
    parity = x & 1
    counts[parity, row[x, 0]] += 1
    counts[2 + parity, row[x, 1]] += 1
    counts[4 + parity, row[x, 2]] += 1


@band_driver
def _count_levels(image, mask, whole, partial, first_band, stop_band):
    """``partial[band, c, v]``: how many pixels inside the region, in band ``band`` of rows,
    have value ``v`` in channel ``c``; one band per thread, counted into its own tables."""
    height, width, _ = image.shape
    bands, levels = partial.shape[0], partial.shape[2]
    for band in range(first_band, stop_band):
        counts = np.zeros((6, levels), np.uint32)
        for y in range(np.intp(band) * height // bands, (np.intp(band) + 1) * height // bands):
            row = image[y]
            if whole:  # no mask to read: the common case, and a faster loop
                for x in range(width):
                    _count_pixel(counts, row, x)
            else:
                mask_row = mask[y]
                for x in range(width):
                    if mask_row[x]:
                        _count_pixel(counts, row, x)
        for c in range(3):
            for v in range(levels):
                partial[band, c, v] = counts[2 * c, v] + counts[2 * c + 1, v]


def _regions_argument(region: np.ndarray | None, width: int) -> tuple[np.ndarray, bool]:
    """The (mask, whole) pair the drivers take for a bool region, or for None (every pixel of
    an image ``width`` wide)."""
    if region is None:
        return np.ones((1, width), np.uint8), True
    # Bytes, not bools: Numba's bool loads keep loops from vectorising.
    return region.view(np.uint8), False


@functools.cache
def _decode_table(dtype: np.dtype) -> np.ndarray:
    """What the Reinhard kernels take as ``decode``: the linear light of every level of an
    integer dtype (float32, from the float64 formula), or an empty array for float32 images."""
    if dtype.kind != "u":
        table = np.empty(0, np.float32)
    else:
        levels = np.arange(np.iinfo(dtype).max + 1) / np.iinfo(dtype).max
        table = np.where(levels <= 0.04045, levels / 12.92,
                         ((levels + 0.055) / 1.055) ** 2.4).astype(np.float32)
    table.flags.writeable = False  # shared by every call
    return table


def _lab_statistics(image: np.ndarray, region: np.ndarray | None, device: str):
    """Mean and population std of the region's CIELAB values, float64, per channel."""
    return _combine_lab_rows(_lab_row_sums(image, region, device))


def _lab_row_sums(image: np.ndarray, region: np.ndarray | None, device: str) -> np.ndarray:
    """Each row's CIELAB sums (``H x 10``: shifted sums, squares, count, pivot)."""
    mask, whole = _regions_argument(region, image.shape[1])
    sums = np.empty((image.shape[0], 10), np.float64)
    run(device, _lab_sums_cpu, _lab_sums_cuda, (image.shape[0],), image,
        _decode_table(image.dtype), mask, whole, Out(sums))
    return sums


def _combine_lab_rows(sums: np.ndarray):
    """Mean and std from rows' sums, in row order (so bands of rows give the same numbers as
    the whole image)."""
    # Combine the rows (Chan et al.): each row's mean and squared deviations about it, then
    # the spread of the row means about the overall mean.
    sums = sums[sums[:, 6] > 0]
    shifted, squares, count, pivot = sums[:, 0:3], sums[:, 3:6], sums[:, 6:7], sums[:, 7:10]
    row_mean = pivot + shifted / count
    row_squares = squares - shifted ** 2 / count
    mean = (count * row_mean).sum(axis=0) / count.sum()
    spread = row_squares.sum(axis=0) + (count * (row_mean - mean) ** 2).sum(axis=0)
    return mean, np.sqrt(np.maximum(spread, 0.0) / count.sum())


def _spread_limit(target_std: np.ndarray, noise_floor: float) -> np.ndarray:
    """The largest gain a transfer may apply to a target spread ``target_std``: 1 (no
    stretch) up to the noise floor, then ``target_std / noise_floor``, at most
    :data:`MAX_SPREAD_GAIN`."""
    return np.maximum(1.0, np.minimum(MAX_SPREAD_GAIN, target_std / noise_floor))


def _region_samples(image: np.ndarray, region: np.ndarray | None) -> np.ndarray:
    """The region's pixels as an N x 3 array (a view of all of them without a region)."""
    return image.reshape(-1, 3) if region is None else image[region]


def _symmetric_power(matrix: np.ndarray, power: float) -> np.ndarray:
    """``matrix ** power`` for a symmetric PSD matrix, eigenvalues clamped at EIGEN_FLOOR."""
    eigenvalues, eigenvectors = np.linalg.eigh(matrix)
    eigenvalues = np.maximum(eigenvalues, EIGEN_FLOOR) ** power
    return (eigenvectors * eigenvalues) @ eigenvectors.T


def _bounded_stretch(transfer: np.ndarray, covariance: np.ndarray) -> np.ndarray:
    """The symmetric MKL matrix with each eigenvalue (the gain along its eigenvector) capped
    by :func:`_spread_limit` of the target's std along that eigenvector."""
    gains, directions = np.linalg.eigh(transfer)
    target_std = np.sqrt(np.maximum(np.einsum("ij,ik,kj->j", directions, covariance,
                                              directions), 0.0))
    gains = np.minimum(gains, _spread_limit(target_std, RGB_NOISE_FLOOR))
    return (directions * gains) @ directions.T


def _mean_and_covariance(samples: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    mean = samples.mean(axis=0)
    centred = samples - mean
    return mean, centred.T @ centred / len(samples)


# --- validation ------------------------------------------------------------------------------


def _checked_image(image: np.ndarray, name: str) -> np.ndarray:
    image = np.asarray(image)
    if image.ndim != 3 or image.shape[2] != 3:
        raise ValueError(f"{name} must be H x W x 3 (RGB), got shape {image.shape}")
    check_pixel_dtype(image.dtype, name)
    return np.ascontiguousarray(image)


def _checked_region(mask, image: np.ndarray, name: str) -> np.ndarray | None:
    """A bool H x W region of ``image``, or None for all of it (nothing to allocate)."""
    return None if mask is None else binary_mask(mask, image.shape[:2], name=name)


def _validated(image, reference, mask, reference_mask, device):
    image = _checked_image(image, "image")
    reference = _checked_image(reference, "reference")
    target = _checked_region(mask, image, "mask")
    source = _checked_region(reference_mask, reference, "reference_mask")
    if source is None and reference.shape[0] * reference.shape[1] == 0:
        raise ValueError("reference has no pixel: there are no reference statistics")
    if source is not None and not source.any():
        raise ValueError("reference_mask selects no pixel: there are no reference statistics")
    check_device(device)
    return image, reference, target, source


def _nothing_to_change(image: np.ndarray, target: np.ndarray | None) -> bool:
    return image.size == 0 or (target is not None and not target.any())


# --- public functions ----------------------------------------------------------------------


def reinhard(image: np.ndarray, reference: np.ndarray, *, mask: np.ndarray | None = None,
             reference_mask: np.ndarray | None = None, spread: bool = True,
             measured: np.ndarray | None = None, device: str = "cpu") -> np.ndarray:
    """Reinhard colour transfer in CIELAB: match each Lab channel's mean and std.

    The std is matched up to the spread bound: a channel is stretched by at most
    ``max(1, min(MAX_SPREAD_GAIN, std_t / LAB_NOISE_FLOOR))`` (3x, and not at all for a
    target std under 1 Lab unit), so a flat, block-compressed region keeps its small spread
    instead of having its JPEG blocks amplified (module docstring). Shrinking is not limited.

    Parameters
    ----------
    image : ndarray, shape (H, W, 3), uint8, uint16 or float32 (float32 in [0, 1])
        sRGB-encoded image to recolour.
    reference : ndarray, shape (H', W', 3), uint8, uint16 or float32
        sRGB-encoded image whose colours are taken; its dtype may differ from ``image``'s.
    mask : ndarray, shape (H, W), optional
        Target pixels: the ones changed, and the ones whose statistics are matched.
    reference_mask : ndarray, shape (H', W'), optional
        Reference pixels whose statistics are used.
    spread : bool
        Match the std as well as the mean; False moves the means only (brightness and cast),
        keeping the target's own contrast.
    measured : ndarray, shape (H, W), optional
        Target pixels whose statistics are measured, when not all of ``mask`` should be
        (a fill compared with its surroundings only near its edge); default ``mask``.
    device : {"cpu", "cuda"}
        Where the kernels run; results are identical.

    Returns
    -------
    ndarray
        Same shape and dtype as ``image``: converted back to sRGB, clipped in linear light,
        rounded to nearest for integer dtypes; bit-identical outside ``mask``. Computed in
        float32: within about 2e-5 of full scale of a float64 computation.

    Examples
    --------
    >>> import numpy as np
    >>> image = np.array([[[100, 100, 100], [150, 150, 150]]], np.uint8)
    >>> reference = np.full((1, 1, 3), 128, np.uint8)
    >>> reinhard(image, reference)[0, :, 0].tolist()  # reference std 0: all to its mean
    [128, 128]
    """
    image, reference, target, source = _validated(image, reference, mask, reference_mask,
                                                  device)
    if _nothing_to_change(image, target):
        return image.copy()
    statistics = target if measured is None else _checked_region(measured, image, "measured")
    if statistics is not None and not statistics.any():
        raise ValueError("measured selects no pixel: there are no target statistics")
    transfer = _reinhard_transfer(_lab_statistics(image, statistics, device),
                                  _lab_statistics(reference, source, device), spread)
    return _apply_reinhard(image, transfer, target, device)


def _reinhard_transfer(target, source, spread: bool = True) -> np.ndarray:
    """The per-channel Lab scale and shift from target and source (mean, std)."""
    (target_mean, target_std), (source_mean, source_std) = target, source
    # A flat target channel has no spread to rescale: shift its mean only. A stretch is
    # bounded, so that compression noise is not amplified into blocks.
    flat = (target_std < 1e-9) | (not spread)
    scale = np.where(flat, 1.0, np.minimum(source_std / np.where(flat, 1.0, target_std),
                                           _spread_limit(target_std, LAB_NOISE_FLOOR)))
    shift = source_mean - target_mean * scale
    return np.concatenate([scale, shift]).astype(np.float32)


def _apply_reinhard(image, transfer, target, device) -> np.ndarray:
    mask, whole = _regions_argument(target, image.shape[1])
    out = np.empty_like(image)
    run(device, _reinhard_cpu, _reinhard_cuda, image.shape[:2], image,
        _decode_table(image.dtype), mask, whole, transfer, np.float32(full_scale(image.dtype)),
        image.dtype.kind == "u", Out(out))
    return out


def mkl(image: np.ndarray, reference: np.ndarray, *, mask: np.ndarray | None = None,
        reference_mask: np.ndarray | None = None, device: str = "cpu") -> np.ndarray:
    """Monge-Kantorovich linear colour transfer (Pitie and Kokaram 2007).

    The target region's RGB covariance ``A`` and the reference region's ``B`` (population,
    on the encoded values scaled to [0, 1]) give ``T = A^-1/2 (A^1/2 B A^1/2)^1/2 A^-1/2``;
    each target pixel ``x`` (a row vector) becomes ``(x - mean_t) T + mean_r``, clipped to
    [0, 1]. Square roots come from ``numpy.linalg.eigh`` with eigenvalues clamped at
    :data:`EIGEN_FLOOR` (1e-10). ``T``'s eigenvalues, its gains along its eigenvectors, are
    capped at ``max(1, min(MAX_SPREAD_GAIN, std / RGB_NOISE_FLOOR))``, ``std`` the target's
    along the eigenvector (module docstring), so that noise is not stretched into blocks.

    Parameters
    ----------
    image : ndarray, shape (H, W, 3), uint8, uint16 or float32 (float32 in [0, 1])
    reference : ndarray, shape (H', W', 3), uint8, uint16 or float32
        Its dtype may differ from ``image``'s.
    mask : ndarray, shape (H, W), optional
        Target pixels: the ones changed, and the ones whose statistics are matched.
    reference_mask : ndarray, shape (H', W'), optional
        Reference pixels whose statistics are used.
    device : {"cpu", "cuda"}
        Where the per-pixel map runs (the statistics are NumPy); results are identical.

    Returns
    -------
    ndarray
        Same shape and dtype as ``image``; rounded to nearest for integer dtypes,
        bit-identical outside ``mask``.

    Examples
    --------
    >>> import numpy as np
    >>> image = np.array([[[10, 20, 30], [30, 40, 50]]], np.uint8)
    >>> reference = np.array([[[100, 100, 100], [140, 140, 140]]], np.uint8)
    >>> mkl(image, reference).tolist()
    [[[100, 100, 100], [140, 140, 140]]]
    """
    image, reference, target, source = _validated(image, reference, mask, reference_mask,
                                                  device)
    if _nothing_to_change(image, target):
        return image.copy()
    top, reference_top = full_scale(image.dtype), full_scale(reference.dtype)
    # float64 before scaling: float32 / a Python float stays float32 under NumPy 2, and a thin
    # region's small covariance eigenvalues amplify float32 rounding in A^-1/2.
    target_mean, a = _mean_and_covariance(
        _region_samples(image, target).astype(np.float64) / top)
    source_mean, b = _mean_and_covariance(
        _region_samples(reference, source).astype(np.float64) / reference_top)
    return _apply_affine(image, *_mkl_transfer(target_mean, a, source_mean, b), target, device)


def _mkl_transfer(target_mean, a, source_mean, b) -> tuple[np.ndarray, np.ndarray]:
    """MKL's matrix and offset from the target's and source's means and covariances."""
    a_half = _symmetric_power(a, 0.5)
    a_inverse_half = _symmetric_power(a, -0.5)
    transfer = _bounded_stretch(
        a_inverse_half @ _symmetric_power(a_half @ b @ a_half, 0.5) @ a_inverse_half, a)
    return np.ascontiguousarray(transfer), source_mean - target_mean @ transfer


def _apply_affine(image, transfer, offset, target, device) -> np.ndarray:
    mask, whole = _regions_argument(target, image.shape[1])
    out = np.empty_like(image)
    run(device, _affine_cpu, _affine_cuda, image.shape[:2], image, mask, whole, transfer,
        offset, full_scale(image.dtype), image.dtype.kind == "u", Out(out))
    return out


def match_histograms(image: np.ndarray, reference: np.ndarray, *,
                     mask: np.ndarray | None = None,
                     reference_mask: np.ndarray | None = None,
                     device: str = "cpu") -> np.ndarray:
    """Per-channel histogram matching, scikit-image's quantile mapping restricted to regions.

    For each channel, each value ``v`` present in the target region gets the quantile
    ``q(v)`` = (number of target pixels <= ``v``) / (target pixel count); the reference
    region's distinct values ``u`` get theirs the same way, and ``v`` maps to
    ``numpy.interp(q(v), q_ref, u)`` in float64. The distinct values are exact for every
    dtype: full-range level counts for uint8 and uint16, ``numpy.unique`` for float32 (no
    binning). The float64 result is then cast to the image's dtype as scikit-image does,
    which for integer images *truncates* (floor, the values being >= 0) rather than rounds.
    So without masks the result is bit-identical to
    ``skimage.exposure.match_histograms(image, reference, channel_axis=-1)`` for uint8,
    uint16 and float32.

    Parameters
    ----------
    image : ndarray, shape (H, W, 3), uint8, uint16 or float32 (float32 in [0, 1])
    reference : ndarray, shape (H', W', 3), same dtype as ``image``
    mask : ndarray, shape (H, W), optional
        Target pixels: the ones changed, and the ones whose histogram is matched.
    reference_mask : ndarray, shape (H', W'), optional
        Reference pixels whose histogram is used.
    device : {"cpu", "cuda"}
        Where the per-pixel map runs (the histograms are counted on the host); results are
        identical.

    Returns
    -------
    ndarray
        Same shape and dtype as ``image``; bit-identical outside ``mask``.

    Examples
    --------
    >>> import numpy as np
    >>> image = np.array([[[0, 0, 0], [1, 1, 1], [2, 2, 2]]], np.uint8)
    >>> reference = np.array([[[10, 10, 10], [50, 50, 50], [90, 90, 90]]], np.uint8)
    >>> match_histograms(image, reference)[0, :, 0].tolist()
    [10, 50, 90]
    """
    image, reference, target, source = _validated(image, reference, mask, reference_mask,
                                                  device)
    if reference.dtype != image.dtype:
        raise ValueError(f"image and reference must share a dtype for histogram matching, got "
                         f"{image.dtype} and {reference.dtype}")
    if _nothing_to_change(image, target):
        return image.copy()
    mask, whole = _regions_argument(target, image.shape[1])
    out = np.empty_like(image)
    if image.dtype.kind == "u":
        return _apply_table(image, _integer_table(image, target, reference, source), target,
                            device)
    keys, values = _float_tables(_region_samples(image, target),
                                 _region_samples(reference, source))
    run(device, _search_cpu, _search_cuda, image.shape[:2], image, keys, values, mask, whole,
        Out(out))
    return out


def _apply_table(image, table, target, device) -> np.ndarray:
    mask, whole = _regions_argument(target, image.shape[1])
    out = np.empty_like(image)
    run(device, _lookup_cpu, _lookup_cuda, image.shape[:2], image, table, mask, whole,
        Out(out))
    return out


def _level_counts(image: np.ndarray, region: np.ndarray | None) -> np.ndarray:
    """``counts[c, v]``: how many pixels of the region have value ``v`` in channel ``c``."""
    # uint32 partial counts: a band holds fewer than 2^32 pixels.
    partial = np.empty((thread_count(), 3, int(np.iinfo(image.dtype).max) + 1),
                       np.uint32)
    parallel_for(_count_levels, partial.shape[0], image,
                 *_regions_argument(region, image.shape[1]), partial)
    return partial.sum(axis=0, dtype=np.int64)


def _integer_table(image, target, reference, source) -> np.ndarray:
    """Per channel, the matched value of every level, as scikit-image computes it."""
    return _table_from_counts(_level_counts(image, target), _level_counts(reference, source),
                              image.dtype)


def _table_from_counts(counts, reference_counts, dtype) -> np.ndarray:
    table = np.empty(counts.shape, dtype)
    for c in range(3):
        # Trailing zero counts past the largest value change no earlier quantile, so the
        # full-range table equals scikit-image's bincount-length one where it is read.
        quantiles = np.cumsum(counts[c]) / counts[c].sum()
        reference_values = np.nonzero(reference_counts[c])[0]
        reference_quantiles = (np.cumsum(reference_counts[c, reference_values])
                               / reference_counts[c].sum())
        # Assigning the float64 result to the integer table casts as scikit-image's does.
        table[c] = np.interp(quantiles, reference_quantiles, reference_values)
    return table


def _float_tables(target_samples: np.ndarray, source_samples: np.ndarray):
    """Per channel, the region's sorted distinct values (``keys``, padded with +inf) and what
    each maps to (``values``)."""
    channel_keys, channel_values = [], []
    for c in range(3):
        values, counts = np.unique(target_samples[:, c], return_counts=True)
        quantiles = np.cumsum(counts) / len(target_samples)
        reference_values, reference_counts = np.unique(source_samples[:, c], return_counts=True)
        reference_quantiles = np.cumsum(reference_counts) / len(source_samples)
        channel_keys.append(values)
        channel_values.append(np.interp(quantiles, reference_quantiles, reference_values)
                              .astype(np.float32))
    width = max(len(k) for k in channel_keys)
    keys = np.full((3, width), np.inf, np.float32)
    values = np.zeros((3, width), np.float32)
    for c in range(3):
        keys[c, :len(channel_keys[c])] = channel_keys[c]
        values[c, :len(channel_values[c])] = channel_values[c]
    return keys, values


def limit_fine_detail(graded: np.ndarray, original: np.ndarray, *,
                      sigma: float = FINE_DETAIL_SIGMA, device: str = "cpu") -> np.ndarray:
    """``graded``, a transfer of ``original``, with its fine detail no stronger than the
    original's.

    A global transfer cannot tell compression noise from structure, so a gain above 1 (the
    reference has more spread) stretches a flat JPEG sky's block steps along with its tones.
    Per channel, with ``smooth`` a Gaussian blur of ``sigma`` and ``d = original -
    smooth(original)``, the result is ``smooth(graded) + clip(graded - smooth(graded), -|d|,
    |d|)``: tones and colours follow the transfer at large scale; fine variation follows it
    where it shrinks and stays as it was where it would grow.

    Parameters
    ----------
    graded, original : ndarray, shape (H, W, C), one dtype (uint8, uint16, float32)
    sigma : float
        The scale of fine detail, in pixels (:data:`FINE_DETAIL_SIGMA`).
    device : {"cpu", "cuda"}
        Where the blurs run.

    Returns
    -------
    ndarray
        Same shape and dtype as ``graded``: rounded half to even and clipped to the range.
    """
    graded, original = _checked_image(graded, "graded"), _checked_image(original, "original")
    if graded.shape != original.shape or graded.dtype != original.dtype:
        raise ValueError(f"graded {graded.shape} {graded.dtype} and original {original.shape} "
                         f"{original.dtype} must have one shape and dtype")
    check_device(device)
    out = np.empty_like(graded)
    for c in range(graded.shape[2]):
        plane = graded[..., c].astype(np.float32)
        coarse = gaussian_blur(plane, sigma, device=device)
        detail = plane - coarse
        original_plane = original[..., c].astype(np.float32)
        allowed = np.abs(original_plane - gaussian_blur(original_plane, sigma, device=device))
        limited = coarse + np.clip(detail, -allowed, allowed)
        if graded.dtype.kind == "u":
            limited = np.rint(limited)
        out[..., c] = np.clip(limited, 0, full_scale(graded.dtype))
    return out


# --- transfers fitted band by band (a streamed image) --------------------------------------

TRANSFERS = ("reinhard", "mkl", "histogram")


class TargetStatistics:
    """A target image's statistics for a colour transfer, gathered band by band.

    Give every band of full-width rows to :meth:`add` (in order), then :meth:`fit` a
    reference: the result maps any band of the image, as :func:`reinhard`, :func:`mkl` or
    :func:`match_histograms` of the whole image would map it. Reinhard's row sums and the
    level counts of integer histograms are the whole image's numbers whatever the bands;
    MKL's mean and covariance are summed in float64 about the first band's mean (equal to
    the whole image's two-pass numbers within float64 rounding). Histogram matching of
    float32 images needs every distinct value and is not offered here.

    >>> import numpy as np
    >>> image = np.array([[[100, 100, 100]], [[150, 150, 150]]], np.uint8)
    >>> statistics = TargetStatistics("reinhard", image.dtype)
    >>> statistics.add(image[:1]); statistics.add(image[1:])
    >>> statistics.fit(np.full((1, 1, 3), 128, np.uint8))(image)[:, 0, 0].tolist()
    [128, 128]
    """

    def __init__(self, method: str, dtype, *, device: str = "cpu"):
        if method not in TRANSFERS:
            raise ValueError(f"unknown transfer {method!r}; choose one of {', '.join(TRANSFERS)}")
        self.method, self.dtype, self.device = method, np.dtype(check_pixel_dtype(dtype)), device
        check_device(device)
        if method == "histogram" and self.dtype.kind != "u":
            raise ValueError("histogram matching of float32 images needs the whole image")
        self._rows: list[np.ndarray] = []  # Reinhard: each band's row sums
        self._count = 0  # MKL: pixels, sum and outer products about a pivot
        self._pivot = self._sum = self._outer = None
        self._levels = None  # histogram: level counts

    def add(self, band: np.ndarray) -> None:
        band = _checked_image(band, "band")
        if band.dtype != self.dtype:
            raise ValueError(f"band is {band.dtype}, the statistics are of {self.dtype}")
        if self.method == "reinhard":
            self._rows.append(_lab_row_sums(band, None, self.device))
        elif self.method == "mkl":
            samples = band.reshape(-1, 3).astype(np.float64) / full_scale(self.dtype)
            if self._pivot is None:
                self._pivot = samples.mean(axis=0) if len(samples) else np.zeros(3)
                self._sum, self._outer = np.zeros(3), np.zeros((3, 3))
            shifted = samples - self._pivot
            self._count += len(samples)
            self._sum += shifted.sum(axis=0)
            self._outer += shifted.T @ shifted
        else:
            counts = _level_counts(band, None)
            self._levels = counts if self._levels is None else self._levels + counts

    def fit(self, reference: np.ndarray):
        """The transfer onto ``reference``'s statistics: a function of a band of the image
        (or all of it) that returns it recoloured, same shape and dtype."""
        reference = _checked_image(reference, "reference")
        if reference.shape[0] * reference.shape[1] == 0:
            raise ValueError("reference has no pixel: there are no reference statistics")
        if self.method == "reinhard":
            if not self._rows:
                raise ValueError("no band was added: there are no target statistics")
            transfer = _reinhard_transfer(_combine_lab_rows(np.concatenate(self._rows)),
                                          _lab_statistics(reference, None, self.device))
            return lambda band: _apply_reinhard(_checked_image(band, "band"), transfer, None,
                                                self.device)
        if self.method == "mkl":
            if not self._count:
                raise ValueError("no band was added: there are no target statistics")
            mean_shift = self._sum / self._count
            target_mean = self._pivot + mean_shift
            a = self._outer / self._count - np.outer(mean_shift, mean_shift)
            source_mean, b = _mean_and_covariance(
                _region_samples(reference, None).astype(np.float64) / full_scale(reference.dtype))
            matrix, offset = _mkl_transfer(target_mean, a, source_mean, b)
            return lambda band: _apply_affine(_checked_image(band, "band"), matrix, offset,
                                              None, self.device)
        if reference.dtype != self.dtype:
            raise ValueError(f"image and reference must share a dtype for histogram matching, "
                             f"got {self.dtype} and {reference.dtype}")
        if self._levels is None:
            raise ValueError("no band was added: there are no target statistics")
        table = _table_from_counts(self._levels, _level_counts(reference, None), self.dtype)
        return lambda band: _apply_table(_checked_image(band, "band"), table, None, self.device)
