"""Hysteresis thresholding: the pixels above a low threshold that are connected to a pixel
above a high one (Canny's rule, scikit-image's ``apply_hysteresis_threshold``).

A detector's map is confident in the middle of a stroke and unsure at its faint, thin or
half-transparent parts; one threshold either drops those parts or lets in every unsure speck
elsewhere. Keeping the unsure pixels only where they touch a sure one recovers the strokes
and leaves the specks out.

A flood fill from every strong pixel through the weak ones, 8-connected (diagonal steps
join, as a one-pixel stroke at an angle needs), with an explicit stack: each pixel is pushed
at most once, so the stack needs one slot per weak pixel. Serial and CPU only: a flood has no
useful parallel form at this size, and one pass over a 12-megapixel map takes tens of
milliseconds.
"""

from __future__ import annotations

import numpy as np
from numba import njit

from burnish.kernels.masks import binary_mask


@njit(cache=True)
def _flood(weak, strong, out, stack):
    height, width = weak.shape
    size = 0
    for y in range(height):
        for x in range(width):
            if strong[y, x] and weak[y, x] and not out[y, x]:
                out[y, x] = True
                stack[size] = y * width + x
                size += 1
    while size:
        size -= 1
        y, x = divmod(stack[size], width)
        for ny in range(max(y - 1, 0), min(y + 2, height)):
            for nx in range(max(x - 1, 0), min(x + 2, width)):
                if weak[ny, nx] and not out[ny, nx]:
                    out[ny, nx] = True
                    stack[size] = ny * width + nx
                    size += 1


def hysteresis(weak: np.ndarray, strong: np.ndarray) -> np.ndarray:
    """The pixels of ``weak`` 8-connected, through ``weak``, to a pixel of ``strong``.

    Parameters
    ----------
    weak, strong : ndarray, shape (H, W)
        Masks (bool, float32 > 0.5 or uint8 > 127), typically ``map > low`` and
        ``map > high``; a strong pixel outside ``weak`` seeds nothing.

    Returns
    -------
    ndarray, bool, shape (H, W)
        A subset of ``weak``.

    Examples
    --------
    >>> import numpy as np
    >>> values = np.array([[0.2, 0.6, 0.9, 0.6, 0.0, 0.6]])
    >>> hysteresis(values > 0.5, values > 0.8).astype(int).tolist()
    [[0, 1, 1, 1, 0, 0]]
    """
    weak = binary_mask(weak, name="weak mask")
    strong = binary_mask(strong, weak.shape, name="strong mask")
    out = np.zeros(weak.shape, bool)
    _flood(weak, strong, out, np.empty(max(int(np.count_nonzero(weak)), 1), np.int64))
    return out
