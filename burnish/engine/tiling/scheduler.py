"""The streaming tile scheduler.

Three stages run at once, joined by bounded queues, so memory holds a few bands of tiles and
never the whole output:

    reader thread   reads each tile's window from the source, converts it to planar float32
    calling thread  batches windows, runs the op, stitches each tile's core into its band
                    (one kernel pass: crop, clip, round, cast, interleave)
    writer thread   hands finished bands to the sink, top to bottom, no gaps

Model backends release the GIL while they compute and encoders while they compress, so the
stages overlap. A backend's :class:`~burnish.errors.BackendOutOfMemory` first splits the
batch, then splits the tile into four smaller ones, which stays exact (each sub-tile reads its
own halo).
"""

from __future__ import annotations

import contextvars
import logging
import queue
import threading
from collections.abc import Callable
from dataclasses import dataclass
from typing import Protocol

import numpy as np

from burnish import defaults
from burnish.engine.pixels import to_planar_float
from burnish.engine.tiling.grid import Span, Tile, TileGrid
from burnish.errors import BackendOutOfMemory, BurnishError
from burnish.kernels.stitch import stitch_tile

log = logging.getLogger(__name__)

ProgressCallback = Callable[[int, int], None]
# Cores smaller than this are not split further on out-of-memory: the error is reported.


class RegionSource(Protocol):
    """Where pixels come from. ``read`` may be called from several threads."""

    height: int
    width: int
    channels: int
    dtype: np.dtype

    def read(self, y0: int, y1: int, x0: int, x1: int) -> np.ndarray:
        """Pixels of ``[y0, y1) x [x0, x1)``; parts outside the image repeat the edge."""

    def release(self, row: int) -> None:
        """Rows above ``row`` will not be read again: a streamed source may free them."""


class RowSink(Protocol):
    """Where rows go. Called from one thread, rows in order, no gaps (like libvips's sinks)."""

    def write_rows(self, rows: np.ndarray) -> None: ...


class TileOp(Protocol):
    """What the scheduler runs: planar float32 ``N x C x h x w`` windows to ``N x C x sh x sw``.

    Outputs need not be clipped: stitching clips to [0, 1].
    """

    scale: int
    halo: int
    size_multiple: int
    min_size: int

    def __call__(self, windows: np.ndarray) -> np.ndarray: ...


class ArraySource:
    """A :class:`RegionSource` over an in-memory ``H x W x C`` array.

    Reads past the image are padded like the model's own framework pads (its descriptor's
    ``pad_mode``): ``"edge"`` repeats the last row or column; ``"reflect"`` mirrors it
    without repeating the edge (as far as the image allows, then repeats, as spandrel does),
    so that a model padded up to its size multiple sees what it sees in PyTorch.
    """

    def __init__(self, pixels: np.ndarray, pad_mode: str = "edge"):
        self.pixels = pixels
        self.height, self.width, self.channels = pixels.shape
        self.dtype = pixels.dtype
        self.pad_mode = pad_mode

    def read(self, y0: int, y1: int, x0: int, x1: int) -> np.ndarray:
        inside = self.pixels[max(y0, 0): min(y1, self.height), max(x0, 0): min(x1, self.width)]
        return padded_window(inside, y0, y1, x0, x1, self.height, self.width, self.pad_mode)

    def release(self, row: int) -> None:
        """Rows above ``row`` will not be read again (nothing to free in memory)."""


def padded_window(inside: np.ndarray, y0: int, y1: int, x0: int, x1: int, height: int,
                  width: int, pad_mode: str) -> np.ndarray:
    """``inside`` (the part of ``[y0, y1) x [x0, x1)`` within the image) padded out to the
    whole window, as :class:`ArraySource` describes."""
    pad = [(max(-y0, 0), max(y1 - height, 0)), (max(-x0, 0), max(x1 - width, 0)), (0, 0)]
    if all(p == (0, 0) for p in pad[:2]):
        return inside
    if pad_mode == "reflect":
        reflected = [(min(before, n - 1), min(after, n - 1))
                     for (before, after), n in zip(pad[:2], inside.shape[:2])]
        inside = np.pad(inside, reflected + [(0, 0)], mode="reflect")
        pad = [(before - rb, after - ra) for (before, after), (rb, ra)
               in zip(pad[:2], reflected)] + [(0, 0)]
    return np.pad(inside, pad, mode="edge")


class ArraySink:
    """A :class:`RowSink` that fills a preallocated array."""

    def __init__(self, height: int, width: int, channels: int, dtype):
        self.pixels = np.empty((height, width, channels), dtype=dtype)
        self.rows_written = 0

    def write_rows(self, rows: np.ndarray) -> None:
        self.pixels[self.rows_written: self.rows_written + rows.shape[0]] = rows
        self.rows_written += rows.shape[0]


@dataclass(frozen=True)
class SchedulerOptions:
    """How the scheduler cuts and batches the work.

    ``tile`` is the core size in input pixels (``0``: the whole image in one call).
    ``band_bytes`` bounds one finished row of tiles of output: for very wide images the
    tile height shrinks so that it stays within it, which keeps memory flat as images grow
    (:data:`burnish.defaults.TILE_ROW_BYTES`).
    """

    tile: int = defaults.TILE
    batch_size: int = defaults.BATCH["cuda"]
    band_bytes: int = defaults.TILE_ROW_BYTES
    queue_bands: int = 1


def plan_grid(source: RegionSource, op: TileOp, options: SchedulerOptions) -> TileGrid:
    """The grid for ``source``: square tiles, shorter ones if a band would pass the budget."""
    tile_height = tile_width = options.tile
    if options.tile > 0:
        row_bytes = source.width * op.scale * op.scale * source.channels * np.dtype(source.dtype).itemsize
        tile_height = min(options.tile, max(defaults.SMALLEST_TILE * 2, options.band_bytes // row_bytes))
    return TileGrid.build(source.height, source.width, tile_height=tile_height,
                          tile_width=tile_width, halo=op.halo, multiple=op.size_multiple,
                          min_size=op.min_size)


class StageStopped(Exception):
    """Raised inside a stage when another stage failed."""


class StagePipeline:
    """The three stages of one run, and the failure of any of them."""

    def __init__(self):
        self.stop = threading.Event()
        self.errors: list[BaseException] = []

    def put(self, q: queue.Queue, item) -> None:
        while True:
            if self.stop.is_set():
                raise StageStopped
            try:
                q.put(item, timeout=0.05)
                return
            except queue.Full:
                continue

    def get(self, q: queue.Queue):
        while True:
            if self.stop.is_set():
                raise StageStopped
            try:
                return q.get(timeout=0.05)
            except queue.Empty:
                continue

    def thread(self, target) -> threading.Thread:
        def run():
            try:
                target()
            except StageStopped:
                pass
            except BaseException as error:  # handed to the calling thread, re-raised there
                self.errors.append(error)
                self.stop.set()

        # in the caller's context (contextvars), like the chain's model stage
        worker = threading.Thread(target=contextvars.copy_context().run, args=(run,),
                                  daemon=True)
        worker.start()
        return worker


_END = object()


def run_tiled(source: RegionSource, op: TileOp, sink: RowSink, *,
              options: SchedulerOptions = SchedulerOptions(),
              progress: ProgressCallback | None = None) -> None:
    """Run ``op`` over ``source`` tile by tile and stream the output rows into ``sink``.

    The output has ``source.height * op.scale`` rows, ``source.width * op.scale`` columns,
    and the source's channels and dtype.
    """
    grid = plan_grid(source, op, options)
    total = grid.tile_count
    log.debug("grid: %d x %d tiles for %dx%d", len(grid.row_spans), len(grid.col_spans),
              source.width, source.height)
    windows: queue.Queue = queue.Queue(maxsize=2 * max(options.batch_size, 1))
    bands: queue.Queue = queue.Queue(maxsize=max(options.queue_bands, 1))
    pipeline = StagePipeline()

    def read_windows():
        for band in grid.bands():
            for tile in band:
                window = source.read(tile.rows.window_start, tile.rows.window_stop,
                                     tile.cols.window_start, tile.cols.window_stop)
                pipeline.put(windows, (tile, to_planar_float(window)))
        pipeline.put(windows, _END)

    def write_bands():
        while (band := pipeline.get(bands)) is not _END:
            sink.write_rows(band)

    stitcher = _BandStitcher(grid, op.scale, source.channels, np.dtype(source.dtype))
    reader = pipeline.thread(read_windows)
    writer = pipeline.thread(write_bands)
    done = 0
    try:
        finished = False
        while not finished:
            batch = []
            while len(batch) < max(options.batch_size, 1):
                item = pipeline.get(windows)
                if item is _END:
                    finished = True
                    break
                batch.append(item)
            if not batch:
                continue
            tiles = [tile for tile, _ in batch]
            cores = _run_batch(op, source, grid, tiles, np.stack([w for _, w in batch]))
            for tile, (output, top, left) in zip(tiles, cores):
                band = stitcher.add(tile, output, top, left)
                done += 1
                if progress is not None:
                    progress(done, total)
                if band is not None:
                    pipeline.put(bands, band)
                    _release_finished(source, grid, tile.row)
        pipeline.put(bands, _END)
        writer.join()
    except StageStopped:
        pass  # another stage failed: its error is raised below
    finally:
        pipeline.stop.set()  # a no-op after success; otherwise it ends the other stages
        reader.join()
        writer.join()
    if pipeline.errors:
        raise pipeline.errors[0]


def _release_finished(source: RegionSource, grid: TileGrid, row: int) -> None:
    """Band ``row`` is stitched: no later tile reads above the next band's window."""
    if row + 1 < len(grid.row_spans):
        source.release(grid.row_spans[row + 1].window_start)


class _BandStitcher:
    """Collects tile cores into bands of output rows, in the output dtype."""

    def __init__(self, grid: TileGrid, scale: int, channels: int, dtype: np.dtype):
        self.grid, self.scale, self.channels, self.dtype = grid, scale, channels, dtype
        self.pending: dict[int, tuple[np.ndarray, int]] = {}

    def add(self, tile: Tile, output: np.ndarray, top: int, left: int) -> np.ndarray | None:
        """Stitch the core at ``(top, left)`` of a tile's planar output; returns the band
        when its last tile arrived."""
        s = self.scale
        if tile.row not in self.pending:
            height = (tile.rows.core_stop - tile.rows.core_start) * s
            band = np.empty((height, self.grid.width * s, self.channels), dtype=self.dtype)
            self.pending[tile.row] = (band, 0)
        band, filled = self.pending[tile.row]
        stitch_tile(output, band, src_top=top, src_left=left, height=band.shape[0],
                    width=(tile.cols.core_stop - tile.cols.core_start) * s,
                    dst_left=tile.cols.core_start * s)
        filled += 1
        if filled == len(self.grid.col_spans):
            del self.pending[tile.row]
            return band
        self.pending[tile.row] = (band, filled)
        return None


Core = tuple[np.ndarray, int, int]  # a planar output and where the tile's core starts in it


def core_offset(rows: Span, cols: Span, scale: int) -> tuple[int, int]:
    return (rows.core_start - rows.window_start) * scale, (cols.core_start - cols.window_start) * scale


def _run_batch(op: TileOp, source: RegionSource, grid: TileGrid, tiles: list[Tile],
               windows: np.ndarray) -> list[Core]:
    """Cores of a batch of tiles; on out-of-memory, halve the batch, then split tiles."""
    try:
        outputs = op(windows)
        return [(out, *core_offset(t.rows, t.cols, op.scale)) for t, out in zip(tiles, outputs)]
    except BackendOutOfMemory:
        if len(tiles) > 1:
            half = len(tiles) // 2
            log.info("out of memory with %d tiles per call: trying %d", len(tiles), half)
            return (_run_batch(op, source, grid, tiles[:half], windows[:half])
                    + _run_batch(op, source, grid, tiles[half:], windows[half:]))
        return [(run_split_tile(op, source, grid, tiles[0].rows, tiles[0].cols), 0, 0)]


def _split_span(span: Span, op: TileOp, limit: int) -> list[Span]:
    """Two halves of a core, each with its own halo window inside ``[0, limit)``."""
    m = op.size_multiple
    middle = (span.core_start + span.core_stop) // 2
    halves = []
    for start, stop in ((span.core_start, middle), (middle, span.core_stop)):
        window_start = max(start - op.halo, 0)
        window_start -= window_start % m
        window_stop = min(-(-(stop + op.halo) // m) * m, limit)
        window_stop = max(window_stop, min(window_start + max(op.min_size, 1), limit))
        halves.append(Span(start, stop, window_start, window_stop))
    return halves


def run_split_tile(op: TileOp, source: RegionSource, grid: TileGrid, rows: Span,
                   cols: Span) -> np.ndarray:
    """Recompute one tile as four smaller tiles (each with its full halo), splitting again
    while they do not fit: its planar float32 core. The out-of-memory rule of both the host
    scheduler and the GPU placement (:mod:`burnish.engine.tiling.device_placement`); the
    result equals the unsplit tile's, since every smaller tile keeps its halo."""
    if min(rows.core_stop - rows.core_start, cols.core_stop - cols.core_start) < defaults.SMALLEST_TILE:
        raise BurnishError("out of memory even with the smallest tiles; free memory or run "
                           "on the CPU (device cpu)")
    log.info("out of memory on a %dx%d tile: splitting it", cols.core_stop - cols.core_start,
             rows.core_stop - rows.core_start)
    s = op.scale
    core = np.empty((source.channels, (rows.core_stop - rows.core_start) * s,
                     (cols.core_stop - cols.core_start) * s), dtype=np.float32)
    for sub_rows in _split_span(rows, op, grid.padded_height):
        for sub_cols in _split_span(cols, op, grid.padded_width):
            try:
                window = to_planar_float(source.read(sub_rows.window_start, sub_rows.window_stop,
                                                      sub_cols.window_start, sub_cols.window_stop))
                output = op(window[None])[0]
                top, left = core_offset(sub_rows, sub_cols, s)
            except BackendOutOfMemory:
                output, top, left = run_split_tile(op, source, grid, sub_rows, sub_cols), 0, 0
            height = (sub_rows.core_stop - sub_rows.core_start) * s
            width = (sub_cols.core_stop - sub_cols.core_start) * s
            y, x = (sub_rows.core_start - rows.core_start) * s, (sub_cols.core_start - cols.core_start) * s
            core[:, y: y + height, x: x + width] = output[:, top: top + height, left: left + width]
    return core
