"""The regions a hole mask asks to fill: one box per group of nearby holes.

:func:`hole_boxes` finds the 8-connected components of a hole mask, grows each bounding box by a
margin of context, and merges boxes that overlap, so that every hole pixel lies in exactly one
box and every box holds whole components.
"""

from __future__ import annotations

import numba
import numpy as np

from burnish.errors import OptionError

# Compile cost: these functions avoid what makes Numba compile far more than the loop itself,
# slice assignment from an array (it compiles a formatted shape-mismatch error, string
# machinery included: about 4 s on first use) and sorting (a merge sort: about 2 s); sorting and
# boolean indexing are NumPy's, on the host.


@numba.njit(cache=True)
def _component_boxes(hole, stack):
    """Bounding boxes ``(top, left, bottom, right)``, half-open, of the 8-connected components of
    a bool mask, as a ``K x 4`` int64 array, by flood fill with an explicit stack: ``stack``
    holds flat pixel indices, each pushed at most once, so one slot per hole pixel suffices."""
    height, width = hole.shape
    seen = np.zeros((height, width), np.uint8)
    boxes = np.empty((16, 4), np.int64)
    count = 0
    for start_y in range(height):
        for start_x in range(width):
            if not hole[start_y, start_x] or seen[start_y, start_x]:
                continue
            top, left, bottom, right = start_y, start_x, start_y, start_x
            seen[start_y, start_x] = 1
            stack[0] = start_y * width + start_x
            size = 1
            while size:
                size -= 1
                y, x = divmod(stack[size], width)
                top, bottom = min(top, y), max(bottom, y)
                left, right = min(left, x), max(right, x)
                for ny in range(max(y - 1, 0), min(y + 2, height)):
                    for nx in range(max(x - 1, 0), min(x + 2, width)):
                        if hole[ny, nx] and not seen[ny, nx]:
                            seen[ny, nx] = 1
                            stack[size] = ny * width + nx
                            size += 1
            if count == boxes.shape[0]:
                grown = np.empty((2 * count, 4), np.int64)
                for i in range(count):
                    for j in range(4):
                        grown[i, j] = boxes[i, j]
                boxes = grown
            boxes[count, 0], boxes[count, 1] = top, left
            boxes[count, 2], boxes[count, 3] = bottom + 1, right + 1
            count += 1
    return boxes[:count].copy()


@numba.njit(cache=True)
def _overlap(boxes, a, b):
    return boxes[a, 0] < boxes[b, 2] and boxes[b, 0] < boxes[a, 2] and \
        boxes[a, 1] < boxes[b, 3] and boxes[b, 1] < boxes[a, 3]


@numba.njit(cache=True)
def _merge_pass(boxes):
    """One sweep down boxes sorted by top, returning the merged boxes and whether any pair
    overlapped. Each box absorbs, until none is left to absorb, the unions made so far whose
    rows still reach its top (the active ones); a union that grows sideways can overlap a box
    the sweep has already passed, which the next sweep catches. Only active unions are
    compared, so many small holes cost about n log n, not n squared. The merged boxes are
    ``unions[alive]``."""
    count = boxes.shape[0]
    unions = boxes.copy()
    active = np.empty(count, np.int64)
    alive = np.ones(count, np.bool_)
    active_count = 0
    overlapped = False
    for index in range(count):
        top = unions[index, 0]
        absorbed = True
        while absorbed:
            absorbed = False
            kept = 0
            for slot in range(active_count):
                other = active[slot]
                if unions[other, 2] <= top:
                    continue  # its rows end above this box: it can no longer meet anything
                if _overlap(unions, index, other):
                    unions[index, 0] = min(unions[index, 0], unions[other, 0])
                    unions[index, 1] = min(unions[index, 1], unions[other, 1])
                    unions[index, 2] = max(unions[index, 2], unions[other, 2])
                    unions[index, 3] = max(unions[index, 3], unions[other, 3])
                    alive[other] = False
                    absorbed = overlapped = True
                else:
                    active[kept] = other
                    kept += 1
            active_count = kept
        active[active_count] = index
        active_count += 1
    return unions, alive, overlapped


def merge_overlapping(boxes: np.ndarray) -> np.ndarray:
    """Union boxes that overlap until none do. A sweep that finds no overlapping pair proves
    there is none: of any two overlapping boxes the lower one meets the other while active."""
    overlapped = True
    while overlapped:
        boxes = boxes[np.argsort(boxes[:, 0], kind="stable")]
        unions, alive, overlapped = _merge_pass(boxes)
        boxes = unions[alive]
    return boxes


def component_boxes(mask: np.ndarray) -> np.ndarray:
    """Bounding boxes ``(top, left, bottom, right)``, half-open, of the 8-connected components
    of a bool ``H x W`` mask, as a ``K x 4`` int64 array in raster order of their first pixel."""
    mask = np.ascontiguousarray(mask, dtype=bool)
    return _component_boxes(mask, np.empty(np.count_nonzero(mask), np.int64))


def hole_boxes(hole: np.ndarray, margin: int) -> list[tuple[int, int, int, int]]:
    """Boxes around the holes of a mask, with ``margin`` pixels of context, merged where they
    overlap.

    Parameters
    ----------
    hole : ndarray
        bool ``H x W``, True where pixels are to be filled.
    margin : int
        Pixels each component's bounding box grows by on every side (clipped to the image).

    Returns
    -------
    list of tuple
        ``(top, left, bottom, right)`` boxes, half-open, sorted by top then left, no two
        overlapping; every hole pixel is in exactly one. Empty for a mask without holes.

    Examples
    --------
    >>> hole = np.zeros((10, 20), bool)
    >>> hole[2:4, 3:5] = True
    >>> hole[7, 9] = True
    >>> hole_boxes(hole, 1)
    [(1, 2, 5, 6), (6, 8, 9, 11)]
    >>> hole_boxes(hole, 3)
    [(0, 0, 10, 13)]
    """
    hole = np.ascontiguousarray(hole, dtype=bool)
    if hole.ndim != 2:
        raise OptionError(f"a hole mask is H x W, got shape {hole.shape}")
    if margin < 0:
        raise OptionError(f"margin {margin} is negative")
    if not hole.any():
        return []
    return grown_boxes(component_boxes(hole), margin, hole.shape)


def grown_boxes(boxes: np.ndarray, margin: int,
                shape: tuple[int, int]) -> list[tuple[int, int, int, int]]:
    """``K x 4`` boxes ``(top, left, bottom, right)`` grown by ``margin`` on every side,
    clipped to an image of ``shape``, merged where they overlap, sorted by top then left
    (what :func:`hole_boxes` does with a mask's component boxes)."""
    if len(boxes) == 0:
        return []
    boxes = np.array(boxes, np.int64).reshape(-1, 4)
    boxes[:, :2] = np.maximum(boxes[:, :2] - margin, 0)
    boxes[:, 2] = np.minimum(boxes[:, 2] + margin, shape[0])
    boxes[:, 3] = np.minimum(boxes[:, 3] + margin, shape[1])
    merged = merge_overlapping(boxes)
    return sorted(tuple(int(v) for v in box) for box in merged)


def fill_regions(image: np.ndarray, hole: np.ndarray, margin: int, fill_crop,
                 progress=None, *, origin: tuple[int, int] = (0, 0)) -> np.ndarray:
    """Fill the holes of ``image`` box by box (:func:`hole_boxes` with ``margin``).

    ``fill_crop(crop, crop_hole, at)`` gets a C-contiguous crop, its hole and where the crop
    lies (``(top, left)`` in the coordinates of a larger image of which ``image`` is the
    window at ``origin``), and returns the crop filled; only its hole pixels are pasted back,
    so the result is ``image`` bit for bit outside the hole, whatever the filler does
    elsewhere. A filler that seeds its randomness from ``at`` gives a window the same bytes
    as the whole image would get there. ``progress(done, total)`` after each box. Returns a
    new array; ``image`` is not modified.
    """
    out = np.array(image, order="C")
    boxes = hole_boxes(hole, margin)
    for index, (top, left, bottom, right) in enumerate(boxes):
        crop_hole = np.ascontiguousarray(hole[top:bottom, left:right])
        filled = fill_crop(np.ascontiguousarray(image[top:bottom, left:right]), crop_hole,
                           (origin[0] + top, origin[1] + left))
        out[top:bottom, left:right][crop_hole] = filled[crop_hole]
        if progress is not None:
            progress(index + 1, len(boxes))
    return out


def sub_seed(seed: int, at: tuple[int, int]) -> int:
    """The seed of the region whose crop starts at ``at`` (``(top, left)`` in the image):
    from where it is, not its rank, so that a window of the image draws what the whole
    image draws there."""
    return int(np.random.SeedSequence([seed, *at]).generate_state(1)[0])
