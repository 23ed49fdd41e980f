"""The tile grid: which input window each output tile reads, and which part of it is kept.

Exactness rule. Each tile keeps a *core* of the input (the cores partition the image) and
reads a *window* around it that extends at least ``halo`` pixels past the core on every side
that is not the image's own edge. Any model whose receptive radius is at most ``halo`` then
gives, on the core, exactly what it gives on the whole image: convolutions see the same
input, and the image's own edges get the same padding as in an untiled run.

All windows have the same size (windows near an edge slide inwards instead of shrinking),
so every tile of an image can go into the same batched model call. Models that need sizes
that are multiples of ``m`` (windowed attention) get the image padded, virtually, by edge
replication up to a multiple of ``m``; window starts are multiples of ``m`` too, so such
models see the same window alignment tiled and untiled.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from burnish.models.descriptor import padded_length


@dataclass(frozen=True)
class Span:
    """One axis of a tile: the kept core ``[core_start, core_stop)`` and the read window."""

    core_start: int
    core_stop: int
    window_start: int
    window_stop: int


@dataclass(frozen=True)
class Tile:
    """A tile of the grid, in input coordinates; the output region is this times the scale."""

    row: int
    col: int
    rows: Span
    cols: Span


def _round_up(value: int, multiple: int) -> int:
    return -(-value // multiple) * multiple


def split_axis(length: int, tile: int, *, halo: int, multiple: int = 1,
               min_size: int = 1) -> list[Span]:
    """Split one axis into cores of at most ``tile`` pixels and their equal-sized windows.

    ``tile <= 0`` (or a tile that would need a window as large as the axis) gives one span
    over the whole (padded) axis: the untiled case.
    """
    if length < 1:
        raise ValueError("axis length must be positive")
    padded = padded_length(length, multiple, min_size)
    count = 1 if tile <= 0 else math.ceil(length / tile)
    # Rounding the window start down to a multiple can lose up to multiple - 1 pixels on the
    # far side: the window is that much longer to keep the halo whole.
    window = _round_up(math.ceil(length / count) + 2 * halo + multiple - 1, multiple)
    if count == 1 or window >= padded:
        return [Span(0, length, 0, padded)]
    window = max(window, _round_up(min_size, multiple))
    spans = []
    for index in range(count):
        core_start, core_stop = length * index // count, length * (index + 1) // count
        start = min(max(core_start - halo, 0), padded - window)
        start -= start % multiple
        spans.append(Span(core_start, core_stop, start, start + window))
    return spans


@dataclass(frozen=True)
class TileGrid:
    """Rows of tiles covering an ``height x width`` input, in reading order."""

    height: int
    width: int
    row_spans: tuple[Span, ...]
    col_spans: tuple[Span, ...]
    padded_height: int
    padded_width: int

    @classmethod
    def build(cls, height: int, width: int, *, tile_height: int, tile_width: int, halo: int,
              multiple: int = 1, min_size: int = 1) -> TileGrid:
        rows = split_axis(height, tile_height, halo=halo, multiple=multiple, min_size=min_size)
        cols = split_axis(width, tile_width, halo=halo, multiple=multiple, min_size=min_size)
        return cls(height, width, tuple(rows), tuple(cols),
                   padded_length(height, multiple, min_size), padded_length(width, multiple, min_size))

    @property
    def tile_count(self) -> int:
        return len(self.row_spans) * len(self.col_spans)

    def band(self, row: int) -> list[Tile]:
        """The tiles of one row of the grid, left to right."""
        return [Tile(row, col, self.row_spans[row], span) for col, span in enumerate(self.col_spans)]

    def bands(self):
        for row in range(len(self.row_spans)):
            yield self.band(row)
