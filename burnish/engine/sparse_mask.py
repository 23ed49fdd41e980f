"""A bool mask of a large image held as the windows where it is set.

A step's region (what a removal filled, where a grade was composited) is a few boxes of an
image that may have hundreds of megapixels: held as a full ``H x W`` bool array it would
cost a byte per pixel of the image, for each step, and again after every upscale that moves
it. A :class:`SparseMask` keeps only *pieces*: windows of the image with a bool mask each;
every pixel outside them is unset. Pieces are kept apart by at least one unset pixel
(touching pieces are merged), so a piece's 8-connected components are the mask's own.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class Piece:
    """``mask`` (bool ``h x w``) placed with its first pixel at row ``top``, column ``left``."""

    top: int
    left: int
    mask: np.ndarray

    @property
    def bottom(self) -> int:
        return self.top + self.mask.shape[0]

    @property
    def right(self) -> int:
        return self.left + self.mask.shape[1]

    @property
    def box(self) -> tuple[int, int, int, int]:
        """``(top, left, bottom, right)``, half-open."""
        return self.top, self.left, self.bottom, self.right


def _trimmed(piece: Piece) -> Piece | None:
    """The piece cut to the bounding box of its set pixels; None when none is set."""
    rows, cols = np.flatnonzero(piece.mask.any(axis=1)), np.flatnonzero(piece.mask.any(axis=0))
    if rows.size == 0:
        return None
    mask = piece.mask[rows[0]:rows[-1] + 1, cols[0]:cols[-1] + 1]
    return Piece(piece.top + int(rows[0]), piece.left + int(cols[0]), mask)


def _merged(pieces: list[Piece]) -> list[Piece]:
    """Pieces that overlap or touch (8-adjacent) united into their bounding box."""
    from burnish.engine.removal.fill_regions import merge_overlapping

    if len(pieces) < 2:
        return pieces
    # Grown by one row and column, boxes that touch overlap; the unions shrink back after.
    grown = np.array([(p.top, p.left, p.bottom + 1, p.right + 1) for p in pieces], np.int64)
    out = []
    for top, left, bottom, right in merge_overlapping(grown).tolist():
        bottom, right = bottom - 1, right - 1
        members = [p for p in pieces if top <= p.top and p.bottom <= bottom
                   and left <= p.left and p.right <= right]
        if len(members) == 1:
            out.append(members[0])
            continue
        mask = np.zeros((bottom - top, right - left), bool)
        for p in members:
            mask[p.top - top:p.bottom - top, p.left - left:p.right - left] |= p.mask
        out.append(Piece(top, left, mask))
    return out


class SparseMask:
    """A bool mask of ``shape`` (height, width): set only inside its :attr:`pieces`.

    Pieces are trimmed to their set pixels, never touch, and are sorted by top then left.
    """

    def __init__(self, shape: tuple[int, int], pieces=()):
        self.shape = (int(shape[0]), int(shape[1]))
        kept = []
        for piece in pieces:
            if (piece.top < 0 or piece.left < 0 or piece.bottom > self.shape[0]
                    or piece.right > self.shape[1]):
                raise ValueError(f"a piece at {piece.box} lies outside a {self.shape} mask")
            trimmed = _trimmed(Piece(piece.top, piece.left, np.asarray(piece.mask, bool)))
            if trimmed is not None:
                kept.append(trimmed)
        self.pieces = sorted(_merged(kept), key=lambda p: (p.top, p.left))

    @classmethod
    def from_dense(cls, mask: np.ndarray) -> SparseMask:
        """The same mask, one piece per group of touching components."""
        from burnish.engine.removal.fill_regions import component_boxes

        mask = np.asarray(mask, bool)
        return cls(mask.shape, [Piece(t, le, mask[t:b, le:r])
                                for t, le, b, r in component_boxes(mask).tolist()])

    def any(self) -> bool:
        return bool(self.pieces)

    def count(self) -> int:
        """How many pixels are set."""
        return sum(int(np.count_nonzero(p.mask)) for p in self.pieces)

    def window(self, top: int, bottom: int, left: int, right: int) -> np.ndarray:
        """The mask's pixels in rows ``[top, bottom)``, columns ``[left, right)``."""
        out = np.zeros((bottom - top, right - left), bool)
        for p in self.pieces:
            y0, y1 = max(top, p.top), min(bottom, p.bottom)
            x0, x1 = max(left, p.left), min(right, p.right)
            if y0 < y1 and x0 < x1:
                out[y0 - top:y1 - top, x0 - left:x1 - left] = \
                    p.mask[y0 - p.top:y1 - p.top, x0 - p.left:x1 - p.left]
        return out

    def dense(self) -> np.ndarray:
        """The whole ``H x W`` bool mask (a byte per pixel: for small images and tests)."""
        return self.window(0, self.shape[0], 0, self.shape[1])

    def __array__(self, dtype=None, copy=None):
        dense = self.dense()
        return dense if dtype is None else dense.astype(dtype)

    def __eq__(self, other) -> bool:
        if not isinstance(other, SparseMask):
            return NotImplemented
        return self.shape == other.shape and len(self.pieces) == len(other.pieces) and all(
            a.box == b.box and np.array_equal(a.mask, b.mask)
            for a, b in zip(self.pieces, other.pieces))

    def __or__(self, other: SparseMask) -> SparseMask:
        if other.shape != self.shape:
            raise ValueError(f"cannot unite a {other.shape} mask with a {self.shape} one")
        return SparseMask(self.shape, [*self.pieces, *other.pieces])

    def warp(self, frame) -> SparseMask:
        """:meth:`burnish.engine.edit_masks.Frame.warp` of this mask, piece by piece."""
        from burnish.engine.edit_masks import source_indices

        if frame.source != self.shape:
            raise ValueError(f"a mask of {self.shape} given to a frame of {frame.source}")
        rows = source_indices(frame.target[0], frame.source[0], frame.scale_y, frame.offset_y)
        cols = source_indices(frame.target[1], frame.source[1], frame.scale_x, frame.offset_x)
        pieces = []
        for p in self.pieces:
            r0, r1 = np.searchsorted(rows.indices, [p.top, p.bottom])
            c0, c1 = np.searchsorted(cols.indices, [p.left, p.right])
            if r0 < r1 and c0 < c1:
                taken = p.mask[rows.indices[r0:r1] - p.top][:, cols.indices[c0:c1] - p.left]
                pieces.append(Piece(rows.start + int(r0), cols.start + int(c0), taken))
        return SparseMask(frame.target, pieces)

    def component_boxes(self) -> np.ndarray:
        """Bounding boxes ``(top, left, bottom, right)``, half-open, of the 8-connected
        components, as a ``K x 4`` int64 array sorted by top then left."""
        from burnish.engine.removal.fill_regions import component_boxes

        boxes = [component_boxes(p.mask) + np.array([p.top, p.left, p.top, p.left])
                 for p in self.pieces]
        if not boxes:
            return np.zeros((0, 4), np.int64)
        boxes = np.concatenate(boxes)
        return boxes[np.lexsort((boxes[:, 1], boxes[:, 0]))]

    def run_lengths(self) -> list[int]:
        """Run lengths of the row-major flattened mask, starting with a run of unset pixels
        (0 when the first pixel is set), computed from the pieces alone."""
        width = self.shape[1]
        starts, stops = [], []
        for p in self.pieces:
            padded = np.zeros((p.mask.shape[0], p.mask.shape[1] + 2), np.int8)
            padded[:, 1:-1] = p.mask
            edges = np.diff(padded, axis=1)
            row, col = np.nonzero(edges == 1)
            starts.append((p.top + row) * width + p.left + col)
            row, col = np.nonzero(edges == -1)
            stops.append((p.top + row) * width + p.left + col)
        total = self.shape[0] * width
        if not starts:
            return [total]
        start, stop = np.concatenate(starts), np.concatenate(stops)
        order = np.argsort(start, kind="stable")
        start, stop = start[order], stop[order]
        # A run that ends a row and one that begins the next are one run in the flat order.
        joined = np.flatnonzero(stop[:-1] == start[1:])
        start, stop = np.delete(start, joined + 1), np.delete(stop, joined)
        edges = np.concatenate(([0], np.column_stack([start, stop]).ravel(), [total]))
        counts = np.diff(edges).tolist()
        return counts[:-1] if counts[-1] == 0 else counts  # set to the last pixel
