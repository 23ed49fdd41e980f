"""Telea's fast-marching inpainting, computed as OpenCV's ``cv2.inpaint(..., INPAINT_TELEA)``
computes it, on float32 images with any number of channels and without OpenCV at run time.

A. Telea, "An Image Inpainting Technique Based on the Fast Marching Method", Journal of
Graphics Tools 9(1), 2004. The hole is filled from its edge inwards, in the order in which a
front leaving the edge at unit speed reaches each pixel. The arrival time ``T`` solves the
eikonal equation ``|grad T| = 1``, upwind from two of the four neighbours; a heap holds the
narrow band of pixels reached but not yet frozen. Each hole pixel, once reached, becomes a
weighted mean of the known pixels (image pixels and pixels already filled) in the disc of
``radius`` around it, weighted by

- direction: how nearly the offset ``r`` to the source runs along the front's normal
  ``grad T`` (``|r . grad T|``, 1e-6 where the two are nearly orthogonal);
- level-set distance: ``1 / (1 + |T(source) - T(pixel)|)``, so that sources on about the
  same front count most;
- geometric distance: ``1 / |r|^3``.

Known pixels get arrival times too, negative, from a second march outwards from the edge over
the pixels the disc can reach, so that the level-set weight ranks them as well.

Fidelity to OpenCV (modules/photo/src/inpaint.cpp, 4.10 and later). For images on the 8-bit
grid (``uint8 / 255``) the fill is OpenCV's on the uint8 image, bit for bit; the tests check
this against ``cv2.inpaint``. That takes OpenCV's arithmetic, quirks included:

- It runs in 8-bit levels (values x 255, exact on the 8-bit grid), in float32 where OpenCV
  computes in ``float`` and in float64 where it computes in ``double``, operation by
  operation: the level-set weight in float64 (``fabs`` there is the double one), the
  distance weight in float64 for several channels but from a float32 ``|r|^3`` for one (the
  two code paths differ), the gradient term's norm in float32.
- Each filled pixel is stored on the 8-bit grid before its neighbours read it, as OpenCV
  stores it in the uint8 image: ``rint(estimate + 0.5)`` levels, clipped to [0, 255], kept as
  ``levels / 255``. So the fill lies on the 8-bit grid whatever the input's precision, and
  like OpenCV's it drifts upwards across large holes, since that rounding adds half a level
  on average and each ring carries it to the next (about +14 levels in the middle of a
  300 x 300 hole in flat grey, radius 5).
- The estimate adds OpenCV's form of the paper's gradient term: the weighted image gradients
  (central differences times 2 where the paper has 1/2, one-sided next to the hole) projected
  on the offsets and summed per axis, then normalised to a unit vector whose two components
  are added: a nudge of at most sqrt(2) levels.
- The heap pops the least arrival time first and ties in the order pushed (OpenCV's
  ``std::priority_queue`` with an insertion counter). The image is framed by a 1-pixel border
  that is known but never a source, with arrival time 1e6: at a hole pixel on the image's
  edge the front's normal then points straight across the edge, and sources in line with it
  dominate the direction weight.

One deliberate difference: pixels under the hole are never read. OpenCV's clamped indices read
row 1 (column 1) of the image for the gradient of a source on row 0 (column 0); where those
are hole pixels not yet filled, OpenCV reads whatever the hole holds, and this kernel reads 0.
The fill is thus OpenCV's on the image with its hole set to 0, which is OpenCV's on the image
itself unless the hole reaches row 1 or column 1. In images 1 pixel high (wide) OpenCV's
indices leave the image; here they are held inside it. OpenCV also caps the radius at 100;
this kernel takes any radius >= 1, at a cost that grows with its square.

CPU only, one thread, no CUDA driver: the marching order is inherently sequential. Which pixel
is frozen next depends on the arrival times of all the pixels frozen before it, and each fill
reads the fills before it, so there is no set of pixels to share out between threads. The heap
is a binary heap of int64 keys (the float32 arrival time's bits, which sort like the times
since times are >= 0, above a 32-bit push counter) on a NumPy array, about twice as fast in
Numba as ``heapq`` on tuples.
"""

from __future__ import annotations

import math
import operator

import numpy as np
from numba import njit

from burnish.kernels.masks import binary_mask

# Pixel states, OpenCV's names. In the outward march "inside" marks the known pixels still to
# be reached and "change" those reached (their times are negated at the end).
_KNOWN = np.uint8(0)
_BAND = np.uint8(1)
_INSIDE = np.uint8(2)
_CHANGE = np.uint8(3)

# Arrival time of pixels no march reaches, OpenCV's value: the frame, and known pixels beyond
# the disc's reach.
_FAR = np.float32(1e6)

# OpenCV fills uint8 images: levels per unit of our [0, 1] values.
_LEVELS = np.float32(255)


@njit(cache=True, inline="always")
def _push(keys, size, key):
    """Add ``key`` to the binary min-heap ``keys[:size]``; the new size."""
    position = size
    while position > 0:
        parent = (position - 1) >> 1
        if keys[parent] <= key:
            break
        keys[position] = keys[parent]
        position = parent
    keys[position] = key
    return size + 1


@njit(cache=True, inline="always")
def _pop(keys, size):
    """Remove the least key of the heap ``keys[:size]``; that key and the new size."""
    least = keys[0]
    size -= 1
    key = keys[size]
    position = 0
    while True:
        child = 2 * position + 1
        if child >= size:
            break
        if child + 1 < size and keys[child + 1] < keys[child]:
            child += 1
        if key <= keys[child]:
            break
        keys[position] = keys[child]
        position = child
    keys[position] = key
    return least, size


@njit(cache=True, inline="always")
def _queue_key(time_slot, time_bits, arrival, order):
    """Heap key ordering by arrival time, then by push order: the float32 time's bit pattern
    (``time_bits`` views ``time_slot``; times are >= 0, so the bits order like the times)
    above the 32-bit push counter."""
    time_slot[0] = arrival
    return (np.int64(time_bits[0]) << 32) | order


@njit(cache=True, inline="always")
def _solve(state, t, i1, j1, i2, j2):
    """Arrival time from the neighbours (i1, j1) and (i2, j2), one vertical and one
    horizontal: the upwind eikonal solution where both are known and within 1 of each other,
    else one step past the lesser known one. In float64, as OpenCV's FastMarching_solve."""
    a11 = np.float64(t[i1, j1])
    a22 = np.float64(t[i2, j2])
    if state[i1, j1] != _INSIDE:
        if state[i2, j2] != _INSIDE:
            if abs(a11 - a22) >= 1.0:
                solution = 1.0 + min(a11, a22)
            else:
                solution = (a11 + a22 + math.sqrt(2.0 - (a11 - a22) * (a11 - a22))) * 0.5
        else:
            solution = 1.0 + a11
    elif state[i2, j2] != _INSIDE:
        solution = 1.0 + a22
    else:
        solution = 1.0 + min(a11, a22)
    return np.float32(solution)


@njit(cache=True, inline="always")
def _arrival(state, t, i, j):
    """The least of the four quadrants' solutions at (i, j)."""
    up_left = _solve(state, t, i - 1, j, i, j - 1)
    down_left = _solve(state, t, i + 1, j, i, j - 1)
    up_right = _solve(state, t, i - 1, j, i, j + 1)
    down_right = _solve(state, t, i + 1, j, i, j + 1)
    return min(min(up_left, down_left), min(up_right, down_right))


@njit(cache=True)
def _disc(radius, single_channel):
    """The offsets (dy, dx) of the disc ``dy^2 + dx^2 <= radius^2`` but (0, 0), row by row as
    OpenCV scans them (float sums depend on the order), and each one's distance weight
    ``1 / |r|^3``, rounded as OpenCV's one- or three-channel path rounds it."""
    count = 0
    for dy in range(-radius, radius + 1):
        for dx in range(-radius, radius + 1):
            if dy * dy + dx * dx <= radius * radius and (dy != 0 or dx != 0):
                count += 1
    offsets = np.empty((count, 2), np.int64)
    weights = np.empty(count, np.float32)
    n = 0
    for dy in range(-radius, radius + 1):
        for dx in range(-radius, radius + 1):
            if dy * dy + dx * dx <= radius * radius and (dy != 0 or dx != 0):
                offsets[n, 0] = dy
                offsets[n, 1] = dx
                squared = np.float32(dx * dx + dy * dy)
                if single_channel:  # OpenCV's one-channel path: |r|^3 in float32
                    cube = np.float64(squared * np.sqrt(squared))
                else:
                    cube = np.float64(squared) * np.sqrt(np.float64(squared))
                weights[n] = np.float32(1.0 / cube)
                n += 1
    return offsets, weights


@njit(cache=True)
def _setup(hole, radius):
    """The framed state and arrival-time planes ((H + 2) x (W + 2)), and the narrow band.

    ``state`` marks the hole "inside" and all else known; ``band`` the known pixels
    4-adjacent to the hole (the frame left out), where ``t`` is 0 (1e6 elsewhere). ``reach``
    is the state for the outward march: the band, and as "inside" the other known pixels
    within Chebyshev distance ``radius`` of the hole (OpenCV dilates the hole by a square),
    the frame left out.
    """
    height, width = hole.shape
    rows, cols = height + 2, width + 2
    state = np.zeros((rows, cols), np.uint8)
    for y in range(height):
        for x in range(width):
            if hole[y, x]:
                state[y + 1, x + 1] = _INSIDE
    t = np.full((rows, cols), _FAR, np.float32)
    band = np.zeros((rows, cols), np.uint8)
    for y in range(1, rows - 1):
        for x in range(1, cols - 1):
            if state[y, x] == _KNOWN and (state[y - 1, x] | state[y + 1, x] | state[y, x - 1]
                                          | state[y, x + 1]):
                band[y, x] = 1
                t[y, x] = 0
    # The square dilation, separably: first the distance along the row to the nearest hole
    # pixel, then whether a row within ``radius`` above or below has one within ``radius``.
    far = rows + cols + 2 * radius + 2
    along_row = np.empty((rows, cols), np.int64)
    for y in range(rows):
        last = -far
        for x in range(cols):
            if state[y, x] == _INSIDE:
                last = x
            along_row[y, x] = x - last
        last = 2 * far
        for x in range(cols - 1, -1, -1):
            if state[y, x] == _INSIDE:
                last = x
            along_row[y, x] = min(along_row[y, x], last - x)
    reach = np.zeros((rows, cols), np.uint8)
    for x in range(1, cols - 1):
        last = -far
        for y in range(rows):
            if along_row[y, x] <= radius:
                last = y
            if y - last <= radius:
                reach[y, x] = 1
        last = 2 * far
        for y in range(rows - 1, -1, -1):
            if along_row[y, x] <= radius:
                last = y
            if last - y <= radius:
                reach[y, x] = 1
    for y in range(rows):
        for x in range(cols):
            if y == 0 or x == 0 or y == rows - 1 or x == cols - 1:
                reach[y, x] = _KNOWN
            elif band[y, x]:
                reach[y, x] = _BAND
            elif reach[y, x] and state[y, x] == _KNOWN:
                reach[y, x] = _INSIDE
            else:
                reach[y, x] = _KNOWN
    return state, t, band, reach


@njit(cache=True)
def _seed(band, keys, pixels, time_slot, time_bits):
    """Queue the band at time 0 in raster order (OpenCV's Add); the heap size."""
    rows, cols = band.shape
    size = 0
    for y in range(rows):
        for x in range(cols):
            if band[y, x]:
                pixels[size] = y * cols + x
                size = _push(keys, size, _queue_key(time_slot, time_bits, np.float32(0), size))
    return size


@njit(cache=True)
def _march(flags, t, band, keys, pixels, time_slot, time_bits, reached, fill, out, offsets,
           distance_weights, weighted, jx, jy):
    """Fast marching from the band over the pixels flagged ``_INSIDE``, in arrival order:
    each popped pixel is flagged ``reached``, each newly reached neighbour gets its arrival
    time (and, when ``fill``, its colour) and joins the band (OpenCV's icvCalcFMM and
    icvTeleaInpaintFMM share this loop)."""
    cols = flags.shape[1]
    size = _seed(band, keys, pixels, time_slot, time_bits)
    pushed = size
    while size > 0:
        key, size = _pop(keys, size)
        pixel = pixels[key & 0xFFFFFFFF]
        ii, jj = pixel // cols, pixel % cols
        flags[ii, jj] = reached
        for q in range(4):
            i = ii - 1 if q == 0 else (ii + 1 if q == 2 else ii)
            j = jj - 1 if q == 1 else (jj + 1 if q == 3 else jj)
            if flags[i, j] != _INSIDE:
                continue
            arrival = _arrival(flags, t, i, j)
            t[i, j] = arrival
            if fill:
                _fill_pixel(out, flags, t, i, j, offsets, distance_weights, weighted, jx, jy)
            flags[i, j] = _BAND
            pixels[pushed] = i * cols + j
            size = _push(keys, size, _queue_key(time_slot, time_bits, arrival, pushed))
            pushed += 1


@njit(cache=True, inline="always")
def _gradient_stencil(state, sy, sx, rows, cols, height, width):
    """Where OpenCV takes the image gradient at source pixel (sy, sx) (framed coordinates):
    for each axis the two image pixels it subtracts and the factor on the difference (2 for
    central differences, where the paper has 1/2; 1 one-sided, where one neighbour is in the
    hole; 0 where both are). Indices are clamped as OpenCV clamps them (``km``, ``kp``,
    ``lm``, ``lp``: the row for the horizontal gradient of a pixel on row 0 is row 1, and
    likewise for columns), the clamp held inside the image for 1-pixel-wide images."""
    km = min(sy - 1 + (sy == 1), height - 1)
    kp = max(sy - 1 - (sy == rows - 2), 0)
    lm = min(sx - 1 + (sx == 1), width - 1)
    lp = max(sx - 1 - (sx == cols - 2), 0)
    up, down = max(km - 1, 0), min(kp + 1, height - 1)
    left, right = max(lm - 1, 0), min(lp + 1, width - 1)
    x_factor = np.float32(1)
    if state[sy, sx + 1] != _INSIDE:
        if state[sy, sx - 1] != _INSIDE:
            x_plus, x_minus, x_factor = right, left, np.float32(2)
        else:
            x_plus, x_minus = right, lm
    elif state[sy, sx - 1] != _INSIDE:
        x_plus, x_minus = lp, left
    else:
        x_plus, x_minus, x_factor = lm, lm, np.float32(0)
    y_factor = np.float32(1)
    if state[sy + 1, sx] != _INSIDE:
        if state[sy - 1, sx] != _INSIDE:
            y_plus, y_minus, y_factor = down, up, np.float32(2)
        else:
            y_plus, y_minus = down, km
    elif state[sy - 1, sx] != _INSIDE:
        y_plus, y_minus = kp, up
    else:
        y_plus, y_minus, y_factor = km, km, np.float32(0)
    return km, x_plus, x_minus, x_factor, lm, y_plus, y_minus, y_factor


@njit(cache=True)
def _fill_pixel(out, state, t, i, j, offsets, distance_weights, weighted, jx, jy):
    """Fill hole pixel (i, j) (framed coordinates; its arrival time already in ``t``) from
    the known pixels of the disc: OpenCV's weighted estimate, rounded to 8-bit levels."""
    rows, cols = state.shape
    height, width, channels = out.shape
    here = t[i, j]
    # The front's normal: central differences of T where both neighbours are known.
    if state[i, j + 1] != _INSIDE:
        if state[i, j - 1] != _INSIDE:
            normal_x = (t[i, j + 1] - t[i, j - 1]) * np.float32(0.5)
        else:
            normal_x = t[i, j + 1] - here
    elif state[i, j - 1] != _INSIDE:
        normal_x = here - t[i, j - 1]
    else:
        normal_x = np.float32(0)
    if state[i + 1, j] != _INSIDE:
        if state[i - 1, j] != _INSIDE:
            normal_y = (t[i + 1, j] - t[i - 1, j]) * np.float32(0.5)
        else:
            normal_y = t[i + 1, j] - here
    elif state[i - 1, j] != _INSIDE:
        normal_y = here - t[i - 1, j]
    else:
        normal_y = np.float32(0)
    weighted[:] = 0
    jx[:] = 0
    jy[:] = 0
    total = np.float32(1e-20)
    for n in range(offsets.shape[0]):
        sy = i + offsets[n, 0]
        sx = j + offsets[n, 1]
        if sy < 1 or sx < 1 or sy > rows - 2 or sx > cols - 2 or state[sy, sx] == _INSIDE:
            continue
        ry = np.float32(-offsets[n, 0])
        rx = np.float32(-offsets[n, 1])
        level_set = np.float32(1.0 / (1.0 + abs(np.float64(t[sy, sx] - here))))
        direction = rx * normal_x + ry * normal_y
        if abs(direction) <= 0.01:
            direction = np.float32(1e-6)
        weight = abs(distance_weights[n] * level_set * direction)
        row, x_plus, x_minus, x_factor, col, y_plus, y_minus, y_factor = _gradient_stencil(
            state, sy, sx, rows, cols, height, width)
        for c in range(channels):
            # In levels before subtracting: exact for values on the 8-bit grid, as OpenCV's
            # integer differences are. A factor of 0 gives +-0, which sums as OpenCV's 0.
            gx = (out[row, x_plus, c] * _LEVELS - out[row, x_minus, c] * _LEVELS) * x_factor
            gy = (out[y_plus, col, c] * _LEVELS - out[y_minus, col, c] * _LEVELS) * y_factor
            weighted[c] += weight * (out[sy - 1, sx - 1, c] * _LEVELS)
            jx[c] -= weight * (gx * rx)
            jy[c] -= weight * (gy * ry)
        total += weight
    for c in range(channels):
        estimate = weighted[c] / total + (jx[c] + jy[c]) / (
            np.sqrt(jx[c] * jx[c] + jy[c] * jy[c]) + np.float32(1e-20))
        level = min(max(np.rint(np.float64(estimate) + 0.5), 0.0), 255.0)
        out[i - 1, j - 1, c] = np.float32(level) / _LEVELS


@njit(cache=True)
def _telea(out, hole, radius):
    """Fill the pixels of ``out`` (H x W x C float32) where ``hole`` (H x W uint8) is set, in
    place. The hole must leave at least one pixel known."""
    height, width, channels = out.shape
    for y in range(height):
        for x in range(width):
            if hole[y, x]:
                # Never read but through OpenCV's clamped indices (module docstring).
                for c in range(channels):
                    out[y, x, c] = 0
    state, t, band, reach = _setup(hole, radius)
    rows, cols = state.shape
    capacity = 0
    for y in range(rows):
        for x in range(cols):
            capacity += band[y, x] != 0 or reach[y, x] == _INSIDE or state[y, x] == _INSIDE
    keys = np.empty(capacity, np.int64)
    pixels = np.empty(capacity, np.int64)
    time_slot = np.empty(1, np.float32)
    time_bits = time_slot.view(np.int32)
    offsets, distance_weights = _disc(radius, channels == 1)
    weighted = np.empty(channels, np.float32)
    jx = np.empty(channels, np.float32)
    jy = np.empty(channels, np.float32)
    # Arrival times of the known pixels near the band, marching outwards, stored negated
    # (OpenCV's icvCalcFMM with ``negate``); then the fill, marching inwards.
    _march(reach, t, band, keys, pixels, time_slot, time_bits, _CHANGE, False, out, offsets,
           distance_weights, weighted, jx, jy)
    for y in range(rows):
        for x in range(cols):
            if reach[y, x] == _CHANGE:
                t[y, x] = -t[y, x]
    _march(state, t, band, keys, pixels, time_slot, time_bits, _KNOWN, True, out, offsets,
           distance_weights, weighted, jx, jy)


def telea_inpaint(image: np.ndarray, hole: np.ndarray, *, radius: int = 5) -> np.ndarray:
    """Fill ``hole`` in ``image`` by Telea's fast-marching method, as OpenCV's
    ``cv2.inpaint(image, hole, radius, cv2.INPAINT_TELEA)`` fills a uint8 image.

    Parameters
    ----------
    image : ndarray, shape (H, W, C), float32 in [0, 1]
        Any number of channels, filled with shared weights: one channel as OpenCV's
        one-channel path fills it, any other number each channel as its three-channel path.
    hole : ndarray, shape (H, W)
        The pixels to fill: bool, uint8 (set where > 127) or float32 (set where > 0.5).
        Disjoint holes and holes touching the image's edge are fine.
    radius : int
        Radius of the disc of known pixels each hole pixel is estimated from, >= 1 (the
        cost grows with its square).

    Returns
    -------
    ndarray
        A new float32 H x W x C array: ``image`` bit for bit outside the hole; inside, the
        fill, on the 8-bit grid (``k / 255`` for an integer ``k`` in [0, 255]). For an image
        on the 8-bit grid the fill is OpenCV's on ``round(image * 255)`` exactly, but for the
        one difference the module docstring describes when the hole reaches row or column 1:
        the hole's own pixels are never read.

    Raises
    ------
    ValueError
        If ``image`` is not float32 H x W x C, ``hole`` is not an H x W mask, ``radius`` is
        not an integer >= 1, or the hole covers the whole image.

    Examples
    --------
    >>> import numpy as np
    >>> image = np.full((5, 5, 1), 100 / 255, np.float32)
    >>> image[2, 2] = 1.0
    >>> hole = np.zeros((5, 5), bool)
    >>> hole[2, 2] = True
    >>> filled = telea_inpaint(image, hole, radius=2)
    >>> round(float(filled[2, 2, 0]) * 255), bool((filled[~hole] == image[~hole]).all())
    (100, True)
    """
    if not isinstance(image, np.ndarray) or image.dtype != np.float32 or image.ndim != 3:
        raise ValueError(f"image must be a float32 H x W x C array, got "
                         f"{getattr(image, 'dtype', type(image).__name__)} "
                         f"{getattr(image, 'shape', '')}")
    binary = binary_mask(hole, image.shape[:2], name="hole")
    try:
        radius = operator.index(radius)
    except TypeError:
        raise ValueError(f"radius must be an integer >= 1, got {radius!r}") from None
    if radius < 1:
        raise ValueError(f"radius must be an integer >= 1, got {radius}")
    out = np.array(image, dtype=np.float32, order="C", copy=True)
    if not binary.any():
        return out
    if binary.all():
        raise ValueError("the hole covers the whole image: nothing to fill from")
    _telea(out, binary.view(np.uint8), radius)
    return out
