"""Colour transfer from a reference image: Reinhard, histogram matching and MKL.

Three global transfers, each fitted on a *target region* of ``image`` (``mask``) and a
*reference region* of ``reference`` (``reference_mask``), and applied to the target region
only: pixels outside ``mask`` come back bit-identical. Without masks the regions are the
whole images. ``reference`` may have another height and width than ``image``.

- :func:`reinhard` (Reinhard et al. 2001, done in CIELAB): per channel,
  ``L' = (L - mean_t) * std_r / std_t + mean_r``. Statistics are population (ddof 0);
  where the target's std is 0 only the mean shifts.
- :func:`match_histograms`: per-channel quantile mapping, the same arithmetic as
  ``skimage.exposure.match_histograms(..., channel_axis=-1)`` and bit-identical to it without
  masks, for uint8, uint16 and float32 alike (see its docstring for the cast rule).
- :func:`mkl`: the Monge-Kantorovich linear map (Pitie and Kokaram 2007), the affine map
  with the least mean squared displacement that sends the target's RGB mean and covariance
  to the reference's: ``T = A^-1/2 (A^1/2 B A^1/2)^1/2 A^-1/2``,
  ``out = (x - mean_t) T + mean_r``. It works on the stored (sRGB-encoded) values scaled to
  [0, 1]; covariances are population (ddof 0).

Conventions. Images are H x W x 3, uint8, uint16 or float32 in [0, 1]; integer values are
scaled by the dtype's maximum. Results are clipped to the valid range and, for integer
images, rounded to nearest (half to even), except in :func:`match_histograms`, which casts
like scikit-image. Masks follow DESIGN.md: bool, uint8 (set where > 127) or float32 (set
where > 0.5). CIELAB is D65: sRGB is decoded to linear light, taken to XYZ by the IEC
61966-2-1 matrix, and the white point is that matrix's row sums (the XYZ of RGB white), so
that neutral greys get exactly a* = b* = 0. The statistics are NumPy; the per-pixel maps are
Numba kernels over one body each, in float64.
"""

from __future__ import annotations

import numpy as np
from numba import njit, prange

from burnish.kernels.dtypes import check_pixel_dtype, full_scale
from burnish.kernels.masks import binary_mask
from burnish.kernels.srgb import linear_to_srgb_f64, srgb_to_linear_f64

# IEC 61966-2-1 (sRGB, D65), linear RGB -> XYZ.
_RGB_TO_XYZ = np.array([[0.4124564, 0.3575761, 0.1804375],
                        [0.2126729, 0.7151522, 0.0721750],
                        [0.0193339, 0.1191920, 0.9503041]])
_XYZ_TO_RGB = np.linalg.inv(_RGB_TO_XYZ)
# The white the matrix maps RGB (1, 1, 1) to; normalising by it makes greys neutral in Lab.
_WHITE = _RGB_TO_XYZ.sum(axis=1)

# CIE's break between the cube root and the linear toe of the Lab companding function.
_DELTA = 6.0 / 29.0

# Eigenvalues of covariance matrices are clamped at this before square roots and inverses:
# a variance below 1e-10 (a std of 1e-5, under one 16-bit level) counts as a flat direction,
# which keeps A^-1/2 finite for grey or single-colour regions. In such a direction the
# region's pixels do not vary, so the large inverse meets a zero (x - mean) component.
EIGEN_FLOOR = 1e-10


# --- per-pixel bodies ---------------------------------------------------------------------


@njit(cache=True, inline="always")
def _lab_f(t):
    if t > _DELTA ** 3:
        return t ** (1.0 / 3.0)
    return t / (3.0 * _DELTA * _DELTA) + 4.0 / 29.0


@njit(cache=True, inline="always")
def _lab_f_inverse(f):
    if f > _DELTA:
        return f * f * f
    return 3.0 * _DELTA * _DELTA * (f - 4.0 / 29.0)


@njit(cache=True, inline="always")
def _rgb_to_lab(red, green, blue):
    """sRGB-encoded values in [0, 1] -> (L*, a*, b*)."""
    r, g, b = srgb_to_linear_f64(red), srgb_to_linear_f64(green), srgb_to_linear_f64(blue)
    fx = _lab_f((_RGB_TO_XYZ[0, 0] * r + _RGB_TO_XYZ[0, 1] * g + _RGB_TO_XYZ[0, 2] * b)
                / _WHITE[0])
    fy = _lab_f((_RGB_TO_XYZ[1, 0] * r + _RGB_TO_XYZ[1, 1] * g + _RGB_TO_XYZ[1, 2] * b)
                / _WHITE[1])
    fz = _lab_f((_RGB_TO_XYZ[2, 0] * r + _RGB_TO_XYZ[2, 1] * g + _RGB_TO_XYZ[2, 2] * b)
                / _WHITE[2])
    return 116.0 * fy - 16.0, 500.0 * (fx - fy), 200.0 * (fy - fz)


@njit(cache=True, inline="always")
def _lab_to_rgb(lightness, a, b):
    """(L*, a*, b*) -> sRGB-encoded values, clipped to [0, 1] in linear light."""
    fy = (lightness + 16.0) / 116.0
    x = _WHITE[0] * _lab_f_inverse(fy + a / 500.0)
    y = _WHITE[1] * _lab_f_inverse(fy)
    z = _WHITE[2] * _lab_f_inverse(fy - b / 200.0)
    # Clip before encoding: the transfer can leave the gamut, and the encoding's power is
    # undefined below 0; it is monotonic with 0 -> 0 and 1 -> 1, so this equals clipping after.
    r = min(max(_XYZ_TO_RGB[0, 0] * x + _XYZ_TO_RGB[0, 1] * y + _XYZ_TO_RGB[0, 2] * z, 0.0), 1.0)
    g = min(max(_XYZ_TO_RGB[1, 0] * x + _XYZ_TO_RGB[1, 1] * y + _XYZ_TO_RGB[1, 2] * z, 0.0), 1.0)
    bl = min(max(_XYZ_TO_RGB[2, 0] * x + _XYZ_TO_RGB[2, 1] * y + _XYZ_TO_RGB[2, 2] * z, 0.0), 1.0)
    return linear_to_srgb_f64(r), linear_to_srgb_f64(g), linear_to_srgb_f64(bl)


@njit(cache=True, inline="always")
def _unit(value, top):
    """A stored sample scaled to [0, 1]; float32 outside [0, 1] is clipped."""
    return min(max(np.float64(value) / top, 0.0), 1.0)


@njit(cache=True, inline="always")
def _store(value, top, rounded):
    """A [0, 1] float64 back to the stored scale (rounding is done by the caller's cast)."""
    scaled = value * top
    return np.rint(scaled) if rounded else scaled


# --- CPU drivers ---------------------------------------------------------------------------


@njit(parallel=True, cache=True)
def _to_lab_cpu(image, top, lab):
    height, width, _ = image.shape
    for y in prange(height):
        for x in range(width):
            lab[y, x, 0], lab[y, x, 1], lab[y, x, 2] = _rgb_to_lab(
                _unit(image[y, x, 0], top), _unit(image[y, x, 1], top),
                _unit(image[y, x, 2], top))


@njit(parallel=True, cache=True)
def _reinhard_cpu(image, lab, mask, scale, shift, top, rounded, out):
    height, width, channels = image.shape
    for y in prange(height):
        for x in range(width):
            if not mask[y, x]:
                for c in range(channels):
                    out[y, x, c] = image[y, x, c]
                continue
            r, g, b = _lab_to_rgb(lab[y, x, 0] * scale[0] + shift[0],
                                  lab[y, x, 1] * scale[1] + shift[1],
                                  lab[y, x, 2] * scale[2] + shift[2])
            out[y, x, 0] = _store(r, top, rounded)
            out[y, x, 1] = _store(g, top, rounded)
            out[y, x, 2] = _store(b, top, rounded)


@njit(parallel=True, cache=True)
def _affine_cpu(image, mask, matrix, offset, top, rounded, out):
    """out = clip(x @ matrix + offset) on [0, 1]-scaled samples, inside ``mask``."""
    height, width, channels = image.shape
    for y in prange(height):
        for x in range(width):
            if not mask[y, x]:
                for c in range(channels):
                    out[y, x, c] = image[y, x, c]
                continue
            r = np.float64(image[y, x, 0]) / top
            g = np.float64(image[y, x, 1]) / top
            b = np.float64(image[y, x, 2]) / top
            for c in range(channels):
                value = r * matrix[0, c] + g * matrix[1, c] + b * matrix[2, c] + offset[c]
                out[y, x, c] = _store(min(max(value, 0.0), 1.0), top, rounded)


@njit(parallel=True, cache=True)
def _lookup_cpu(image, table, mask, out):
    """Integer images: ``out = table[c, value]`` inside ``mask``."""
    height, width, channels = image.shape
    for y in prange(height):
        for x in range(width):
            for c in range(channels):
                out[y, x, c] = table[c, image[y, x, c]] if mask[y, x] else image[y, x, c]


@njit(parallel=True, cache=True)
def _search_cpu(image, keys, values, mask, out):
    """Float images: the value's position among the sorted ``keys[c]`` picks ``values[c]``.

    Every pixel inside ``mask`` is one of its channel's keys (they are the region's unique
    values); rows are padded with +inf, which no finite sample reaches.
    """
    height, width, channels = image.shape
    for y in prange(height):
        for x in range(width):
            for c in range(channels):
                if mask[y, x]:
                    out[y, x, c] = values[c, np.searchsorted(keys[c], image[y, x, c])]
                else:
                    out[y, x, c] = image[y, x, c]


# --- validation and statistics -------------------------------------------------------------


def _checked_image(image: np.ndarray, name: str) -> np.ndarray:
    image = np.asarray(image)
    if image.ndim != 3 or image.shape[2] != 3:
        raise ValueError(f"{name} must be H x W x 3 (RGB), got shape {image.shape}")
    check_pixel_dtype(image.dtype, name)
    return np.ascontiguousarray(image)


def _checked_region(mask, image: np.ndarray, name: str) -> np.ndarray:
    """A bool H x W region of ``image``: all of it when ``mask`` is None."""
    return binary_mask(mask, image.shape[:2], name=name)


def _validated(image, reference, mask, reference_mask):
    image = _checked_image(image, "image")
    reference = _checked_image(reference, "reference")
    target = _checked_region(mask, image, "mask")
    source = _checked_region(reference_mask, reference, "reference_mask")
    if not source.any():
        raise ValueError("reference_mask selects no pixel: there are no reference statistics")
    return image, reference, target, source


def _symmetric_power(matrix: np.ndarray, power: float) -> np.ndarray:
    """``matrix ** power`` for a symmetric PSD matrix, eigenvalues clamped at EIGEN_FLOOR."""
    eigenvalues, eigenvectors = np.linalg.eigh(matrix)
    eigenvalues = np.maximum(eigenvalues, EIGEN_FLOOR) ** power
    return (eigenvectors * eigenvalues) @ eigenvectors.T


def _mean_and_covariance(samples: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    mean = samples.mean(axis=0)
    centred = samples - mean
    return mean, centred.T @ centred / len(samples)


# --- public functions ----------------------------------------------------------------------


def reinhard(image: np.ndarray, reference: np.ndarray, mask: np.ndarray | None = None,
             reference_mask: np.ndarray | None = None) -> np.ndarray:
    """Reinhard colour transfer in CIELAB: match each Lab channel's mean and std.

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

    Returns
    -------
    ndarray
        Same shape and dtype as ``image``: converted back to sRGB, clipped in linear light,
        rounded to nearest for integer dtypes; bit-identical outside ``mask``.

    Examples
    --------
    >>> import numpy as np
    >>> image = np.array([[[100, 100, 100], [150, 150, 150]]], np.uint8)
    >>> reference = np.full((1, 1, 3), 128, np.uint8)
    >>> reinhard(image, reference)[0, :, 0].tolist()  # reference std 0: all to its mean
    [128, 128]
    """
    image, reference, target, source = _validated(image, reference, mask, reference_mask)
    out = np.empty_like(image)
    if not target.any():
        out[...] = image
        return out
    top, reference_top = full_scale(image.dtype), full_scale(reference.dtype)
    lab = np.empty(image.shape, np.float64)
    _to_lab_cpu(image, top, lab)
    reference_lab = np.empty(reference.shape, np.float64)
    _to_lab_cpu(reference, reference_top, reference_lab)
    target_lab, source_lab = lab[target], reference_lab[source]
    target_mean, target_std = target_lab.mean(axis=0), target_lab.std(axis=0)
    source_mean, source_std = source_lab.mean(axis=0), source_lab.std(axis=0)
    # A flat target channel has no spread to rescale (and np.std of equal values is only
    # ~1e-14, not 0): shift its mean only.
    flat = target_std < 1e-9
    scale = np.where(flat, 1.0, source_std / np.where(flat, 1.0, target_std))
    shift = source_mean - target_mean * scale
    _reinhard_cpu(image, lab, target, scale, shift, top, image.dtype.kind == "u", out)
    return out


def mkl(image: np.ndarray, reference: np.ndarray, mask: np.ndarray | None = None,
        reference_mask: np.ndarray | None = None) -> np.ndarray:
    """Monge-Kantorovich linear colour transfer (Pitie and Kokaram 2007).

    The target region's RGB covariance ``A`` and the reference region's ``B`` (population,
    on the encoded values scaled to [0, 1]) give ``T = A^-1/2 (A^1/2 B A^1/2)^1/2 A^-1/2``;
    each target pixel ``x`` (a row vector) becomes ``(x - mean_t) T + mean_r``, clipped to
    [0, 1]. Square roots come from ``numpy.linalg.eigh`` with eigenvalues clamped at
    :data:`EIGEN_FLOOR` (1e-10).

    Parameters
    ----------
    image : ndarray, shape (H, W, 3), uint8, uint16 or float32 (float32 in [0, 1])
    reference : ndarray, shape (H', W', 3), uint8, uint16 or float32
        Its dtype may differ from ``image``'s.
    mask : ndarray, shape (H, W), optional
        Target pixels: the ones changed, and the ones whose statistics are matched.
    reference_mask : ndarray, shape (H', W'), optional
        Reference pixels whose statistics are used.

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
    image, reference, target, source = _validated(image, reference, mask, reference_mask)
    out = np.empty_like(image)
    if not target.any():
        out[...] = image
        return out
    top, reference_top = full_scale(image.dtype), full_scale(reference.dtype)
    # float64 before scaling: float32 / a Python float stays float32 under NumPy 2, and a thin
    # region's small covariance eigenvalues amplify float32 rounding in A^-1/2.
    target_mean, a = _mean_and_covariance(image[target].astype(np.float64) / top)
    source_mean, b = _mean_and_covariance(reference[source].astype(np.float64) / reference_top)
    a_half = _symmetric_power(a, 0.5)
    a_inverse_half = _symmetric_power(a, -0.5)
    transfer = a_inverse_half @ _symmetric_power(a_half @ b @ a_half, 0.5) @ a_inverse_half
    offset = source_mean - target_mean @ transfer
    _affine_cpu(image, target, np.ascontiguousarray(transfer), offset, top,
                image.dtype.kind == "u", out)
    return out


def match_histograms(image: np.ndarray, reference: np.ndarray, mask: np.ndarray | None = None,
                     reference_mask: np.ndarray | None = None) -> np.ndarray:
    """Per-channel histogram matching, scikit-image's quantile mapping restricted to regions.

    For each channel, each value ``v`` present in the target region gets the quantile
    ``q(v)`` = (number of target pixels <= ``v``) / (target pixel count); the reference
    region's distinct values ``u`` get theirs the same way, and ``v`` maps to
    ``numpy.interp(q(v), q_ref, u)`` in float64. The distinct values are exact for every
    dtype: a full-range ``bincount`` for uint8 and uint16, ``numpy.unique`` for float32 (no
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
    image, reference, target, source = _validated(image, reference, mask, reference_mask)
    if reference.dtype != image.dtype:
        raise ValueError(f"image and reference must share a dtype for histogram matching, got "
                         f"{image.dtype} and {reference.dtype}")
    out = np.empty_like(image)
    if not target.any():
        out[...] = image
        return out
    target_samples, source_samples = image[target], reference[source]
    if image.dtype.kind == "u":
        levels = int(np.iinfo(image.dtype).max) + 1
        table = np.empty((3, levels), image.dtype)
        for c in range(3):
            # Trailing zero counts past the largest value change no earlier quantile, so the
            # full-range table equals scikit-image's bincount-length one where it is read.
            counts = np.bincount(target_samples[:, c], minlength=levels)
            quantiles = np.cumsum(counts) / len(target_samples)
            reference_counts = np.bincount(source_samples[:, c])
            reference_values = np.nonzero(reference_counts)[0]
            reference_quantiles = (np.cumsum(reference_counts[reference_values])
                                   / len(source_samples))
            table[c] = np.interp(quantiles, reference_quantiles, reference_values)
        _lookup_cpu(image, table, target, out)
        return out
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
    _search_cpu(image, keys, values, target, out)
    return out
