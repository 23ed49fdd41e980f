"""Binary morphology by a Euclidean disk, at a cost independent of the radius.

Dilation by the disk ``x^2 + y^2 <= r^2`` marks every pixel whose squared distance to the
mask is at most ``r^2``; erosion keeps the pixels whose squared distance to the outside of
the mask is more than ``r^2``. Both read one exact squared Euclidean distance transform
(Felzenszwalb and Huttenlocher 2012: a column pass, then a row pass, each the lower envelope
of parabolas in O(n)), so r = 64 costs what r = 1 costs. Squared distances are integers, so
the comparison with ``r^2`` is exact and the result equals scikit-image's ``disk(r)``
footprint pixel for pixel.

Masks follow DESIGN.md: bool, float32 in [0, 1] (set where > 0.5) or uint8 0/255 (set where
> 127); results come back in the input's dtype (1.0 / 255 / True where set).
"""

from __future__ import annotations

import numpy as np
from numba import njit, prange

from burnish.kernels.masks import binary_mask

# Stands for "no feature on this line": larger than any squared distance in an image.
_FAR = 1e30


@njit(cache=True, inline="always")
def _envelope_1d(costs, out, sites, bounds):
    """out[q] = min_p (q - p)^2 + costs[p]: the lower envelope of parabolas rooted at p.

    ``sites[k]`` is the root of the k-th envelope parabola, which is lowest on
    ``[bounds[k], bounds[k + 1])``. Costs are finite (``_FAR``, not inf) so that no
    inf - inf appears; bounds may be infinite.
    """
    n = costs.shape[0]
    k = 0
    sites[0] = 0
    bounds[0] = -np.inf
    bounds[1] = np.inf
    for q in range(1, n):
        p = sites[k]
        s = ((costs[q] + q * q) - (costs[p] + p * p)) / (2.0 * (q - p))
        while s <= bounds[k]:  # bounds[0] is -inf: stops at k == 0 at the latest
            k -= 1
            p = sites[k]
            s = ((costs[q] + q * q) - (costs[p] + p * p)) / (2.0 * (q - p))
        k += 1
        sites[k] = q
        bounds[k] = s
        bounds[k + 1] = np.inf
    k = 0
    for q in range(n):
        while bounds[k + 1] < q:
            k += 1
        p = sites[k]
        out[q] = (q - p) * (q - p) + costs[p]


# Columns per thread in the column pass: rows of this many pixels stay contiguous in cache.
_COLUMN_BLOCK = 256


@njit(parallel=True, cache=True)
def _squared_distance_cpu(features):
    """Squared distance from every pixel to the nearest ``True`` pixel of ``features``.

    Column pass: for a binary input the distance to the nearest feature in the same column
    needs no parabolas, just a downward and an upward sweep; sweeping row by row over a block
    of columns keeps the inner loop contiguous. Row pass: the lower envelope of parabolas
    rooted at each column distance squared.
    """
    height, width = features.shape
    none = np.sqrt(_FAR)  # "no feature in this column": its square is _FAR
    columns = np.empty((height, width), np.float64)
    for block in prange((width + _COLUMN_BLOCK - 1) // _COLUMN_BLOCK):
        x0, x1 = block * _COLUMN_BLOCK, min(width, (block + 1) * _COLUMN_BLOCK)
        for x in range(x0, x1):
            columns[0, x] = 0.0 if features[0, x] else none
        for y in range(1, height):
            for x in range(x0, x1):
                columns[y, x] = 0.0 if features[y, x] else columns[y - 1, x] + 1.0
        for y in range(height - 2, -1, -1):
            for x in range(x0, x1):
                columns[y, x] = min(columns[y, x], columns[y + 1, x] + 1.0)
        for y in range(height):
            for x in range(x0, x1):
                columns[y, x] = columns[y, x] * columns[y, x]
    result = np.empty((height, width), np.float64)
    for y in prange(height):
        sites = np.empty(width, np.int64)
        bounds = np.empty(width + 1, np.float64)
        _envelope_1d(columns[y], result[y], sites, bounds)
    return result


def _like(binary: np.ndarray, template: np.ndarray) -> np.ndarray:
    if template.dtype == np.bool_:
        return binary
    if template.dtype == np.uint8:
        return binary.astype(np.uint8) * np.uint8(255)
    return binary.astype(template.dtype)


def distance_transform(mask: np.ndarray) -> np.ndarray:
    """Euclidean distance from each set pixel of ``mask`` to the nearest unset pixel.

    Unset pixels get 0 (SciPy's ``distance_transform_edt`` convention). Pixels outside the
    image do not count as unset; a mask with no unset pixel gives ``inf`` everywhere.

    >>> import numpy as np
    >>> distance_transform(np.array([[0, 1, 1, 1]], bool)).tolist()
    [[0.0, 1.0, 2.0, 3.0]]
    """
    squared = _squared_distance_cpu(~binary_mask(mask))
    return np.where(squared >= _FAR, np.inf, np.sqrt(squared)).astype(np.float32)


def dilate(mask: np.ndarray, radius: int) -> np.ndarray:
    """Grow ``mask`` by the disk ``x^2 + y^2 <= radius^2`` (outside the image counts as unset)."""
    binary = binary_mask(mask)
    if radius < 0:
        raise ValueError("radius must be >= 0")
    return _like(_squared_distance_cpu(binary) <= radius * radius, np.asarray(mask))


def erode(mask: np.ndarray, radius: int) -> np.ndarray:
    """Shrink ``mask`` by the disk ``x^2 + y^2 <= radius^2`` (outside the image counts as set,
    like scikit-image's ``binary_erosion``)."""
    binary = binary_mask(mask)
    if radius < 0:
        raise ValueError("radius must be >= 0")
    return _like(_squared_distance_cpu(~binary) > radius * radius, np.asarray(mask))
