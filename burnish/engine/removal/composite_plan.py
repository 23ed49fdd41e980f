"""Where a local edit changes an image, found from its region alone, window by window.

A removal or a masked grade changes only the pixels within reach of its region: the region
grown by ``dilate`` and feathered over ``feather`` pixels (:func:`composite_weight`). So
the whole image never needs a mask, nor a weight, of its own size: each group of nearby
regions (a *cluster*: its pieces' boxes grown by the reach, merged where they overlap) gets
its weight computed on its own window, and that weight is the whole image's there, since
dilation and the feather's distances only look within the reach. :class:`CompositePlan`
holds those weights; the steps then work on windows that hold whole clusters
(:meth:`CompositePlan.windows`), and every pixel outside them is the input's, bit for bit.
"""

from __future__ import annotations

import math

import numpy as np

from burnish.engine.removal.fill_regions import grown_boxes
from burnish.engine.sparse_mask import Piece, SparseMask
from burnish.errors import OptionError


def check_edges(dilate: float, feather: float, seed: int = 0) -> None:
    """Refuse a negative growth, feather or seed (before any file is read or model opened)."""
    for name, value in (("dilate", dilate), ("feather", feather)):
        if value < 0:
            raise OptionError(f"{name} must be >= 0, not {value}")
    if isinstance(seed, bool) or not isinstance(seed, (int, np.integer)) or seed < 0:
        raise OptionError(f"seed must be a non-negative integer, not {seed!r}")


def composite_weight(mask: np.ndarray, *, dilate: int, feather: float,
                     device: str = "cpu") -> np.ndarray:
    """The float32 composite weight: 1 on ``mask`` grown by ``dilate``, falling to 0 over
    ``feather`` pixels outside it (the kernels on ``device``). Pixels where it is 0 are
    returned untouched."""
    from burnish import kernels

    check_edges(dilate, feather)
    grown = kernels.dilate(mask, int(dilate), device=device) if dilate else mask
    return kernels.feather(grown, float(feather), side="outside", device=device)


class CompositePlan:
    """The composite weight of ``hole`` (a :class:`SparseMask`) grown by ``dilate`` and
    feathered by ``feather``, held as one weight per cluster of the hole (computed by the
    kernels on ``device``).

    :attr:`region` is where the weight is above 0 (what a removal reconstructs, and what a
    step's provenance names as edited).
    """

    def __init__(self, hole: SparseMask, *, dilate: int, feather: float, device: str = "cpu"):
        check_edges(dilate, feather)
        self.shape = hole.shape
        # Beyond this distance from the hole the weight is 0 (one pixel spare).
        reach = int(dilate) + math.ceil(feather) + 1
        self.weights: list[Piece] = []  # float32 weights, one per cluster
        for top, left, bottom, right in grown_boxes([p.box for p in hole.pieces], reach,
                                                    hole.shape):
            weight = composite_weight(hole.window(top, bottom, left, right), dilate=dilate,
                                      feather=feather, device=device)
            self.weights.append(Piece(top, left, weight))
        self.region = SparseMask(hole.shape, [Piece(w.top, w.left, w.mask > 0)
                                              for w in self.weights])

    def weight(self, top: int, bottom: int, left: int, right: int) -> np.ndarray:
        """The float32 weight in rows ``[top, bottom)``, columns ``[left, right)``."""
        out = np.zeros((bottom - top, right - left), np.float32)
        for w in self.weights:
            y0, y1 = max(top, w.top), min(bottom, w.bottom)
            x0, x1 = max(left, w.left), min(right, w.right)
            if y0 < y1 and x0 < x1:
                out[y0 - top:y1 - top, x0 - left:x1 - left] = \
                    w.mask[y0 - w.top:y1 - w.top, x0 - w.left:x1 - w.left]
        return out

    def largest(self) -> int:
        """The larger side of the largest 8-connected group of the region (0 if empty)."""
        boxes = self.region.component_boxes()
        return int(np.max(np.maximum(boxes[:, 2] - boxes[:, 0], boxes[:, 3] - boxes[:, 1]),
                          initial=0))

    def windows(self, margin: int) -> list[tuple[int, int, int, int]]:
        """Windows ``(top, left, bottom, right)`` that hold the region's groups with
        ``margin`` pixels of context on every side (clipped to the image), merged where
        they overlap: what a step that reads that much around its holes works on. Sorted by
        top then left; no two overlap; every region pixel is in exactly one."""
        return grown_boxes(self.region.component_boxes(), margin, self.shape)
