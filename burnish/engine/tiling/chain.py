"""A recipe's steps as a chain of stages that the sink pulls, band by band, from the source.

Each step of a recipe becomes a :class:`Stage`: the rows of that step's output, made in
bands of full-width rows top to bottom, held until the stage after it releases them. The
sink (a file writer) pulls the last stage's rows in order; a stage makes its next band by
reading the rows it needs from the stage before it (its band plus its halo), so what is held
at any time is a few bands per stage, whatever the image's size.

Kinds of stages (the op declares which, :attr:`burnish.engine.ops.declare.Op.stage`):

- **tiled** (:class:`TiledStage`): each band from the rows above and below it within the
  op's halo: LUTs, adjustments, a region's feathered composite. Bands span the full width,
  so only the vertical cut needs the halo; tiled equals untiled whenever the halo covers the
  op's vertical reach.
- **model** (:class:`ModelStage`): the streaming tile scheduler
  (:func:`~burnish.engine.tiling.scheduler.run_tiled`) runs the model over the stage before
  it, in a thread of its own, and its finished bands are this stage's bands.
- **geometry** (:class:`ResizeStage`, :class:`CropStage`): resampling a band from the input
  rows under its filter's support; cropping is reading an offset window.
- **two-pass** (:class:`SpillStage` then a tiled stage): global statistics (a colour
  match's) are gathered band by band while the rows spill to a temporary file, then the
  bands are read back and changed tiled.
- **regional** (:class:`RegionalStage`): the op changes only windows around its region (a
  removal's holes with the context the fill reads, a masked grade's feathered region);
  each window is computed from its own pixels when the first band meets it, and every other
  row passes through.
- **whole** (:class:`WholeStage`): the op needs the whole image (grain matching, a colour
  match inside a region): the rows before it are gathered into one array first. This stage
  is what keeps a chain from streaming, and is named so where it is used.

Every stage reads the stage before it with :meth:`Stage.read` and says which rows it is done
with through :meth:`Stage.release`; the first stage is a file (:class:`SourceStage`) or an
array (:class:`ArrayStage`).
"""

from __future__ import annotations

import contextlib
import contextvars
import queue
import tempfile
import threading
import time
from collections.abc import Callable

import numpy as np

from burnish import defaults
from burnish.engine.tiling.scheduler import padded_window

# Bands are as many rows as fit this many bytes (at least SMALLEST_TILE rows): a few bands
# per stage stay within a few tens of MB however wide the image is.
BAND_BYTES = defaults.BAND_BYTES


def band_rows(width: int, channels: int, dtype, band_bytes: int | None = None) -> int:
    """How many full-width rows make one band (:data:`BAND_BYTES` unless given)."""
    row = max(1, width * channels * np.dtype(dtype).itemsize)
    return max(defaults.SMALLEST_TILE, (BAND_BYTES if band_bytes is None else band_bytes) // row)


class Stage:
    """The rows of one step's output, made band by band on demand, held until released.

    Subclasses make bands with :meth:`_make_band` (the rows from :attr:`made` on, full
    width, any count > 0). Reads may ask for windows past the image's edges: they are padded
    with ``pad_mode`` like :class:`~burnish.engine.tiling.scheduler.ArraySource` pads, which
    is what the tile scheduler gives a model. Reads and releases may come from several
    threads. Rows above the lowest released row may not be read again.
    """

    pad_mode = "edge"
    # What an error raised while making this stage's bands is attributed to (a recipe's
    # step): set by whoever builds the chain, kept by the first stage the error leaves.
    label: object = None
    # Called once, when the last row has been made.
    on_finished: Callable[[], None] | None = None

    def __init__(self, height: int, width: int, channels: int, dtype):
        self.height, self.width, self.channels = height, width, channels
        self.dtype = np.dtype(dtype)
        # The rows made and not yet released, as the bands they were made in (joined only
        # when a read spans two: joining on every band would copy the held rows each time).
        self._held: list[np.ndarray] = []
        self._top = 0  # the image row of the first held row
        self._count = 0  # how many rows are held
        self._lock = threading.RLock()
        self.busy = 0.0  # seconds spent making bands, the stages before it included

    @property
    def made(self) -> int:
        """How many rows have been made so far (the next band starts here)."""
        return self._top + self._count

    def _make_band(self) -> np.ndarray:
        raise NotImplementedError

    def read(self, y0: int, y1: int, x0: int, x1: int) -> np.ndarray:
        """Pixels of ``[y0, y1) x [x0, x1)`` (read-only), padded past the image."""
        top, bottom = max(y0, 0), min(y1, self.height)
        with self._lock:
            if top < self._top:
                raise RuntimeError(f"rows from {top} were released (held from {self._top})")
            while self.made < bottom:
                self._append(self._timed_band())
            inside = self._held_rows(top, bottom)[:, max(x0, 0): min(x1, self.width)]
        return padded_window(inside, y0, y1, x0, x1, self.height, self.width, self.pad_mode)

    def _timed_band(self) -> np.ndarray:
        started = time.perf_counter()
        try:
            return self._make_band()
        except Exception as error:
            if getattr(error, "stage_label", None) is None:
                error.stage_label = self.label  # raised here, not in a stage before this one
            raise
        finally:
            self.busy += time.perf_counter() - started

    def _append(self, band: np.ndarray) -> None:
        if (band.shape[0] == 0 or band.shape[1:] != (self.width, self.channels)
                or band.dtype != self.dtype):
            raise RuntimeError(f"{type(self).__name__} made a {band.dtype} band of shape "
                               f"{band.shape} at row {self.made}, expected {self.dtype} rows of "
                               f"{(self.width, self.channels)}")
        self._held.append(band)
        self._count += band.shape[0]
        if self.made == self.height and self.on_finished is not None:
            self.on_finished()

    def _held_rows(self, top: int, bottom: int) -> np.ndarray:
        """Held rows ``[top, bottom)``: a view when one band holds them, else joined."""
        pieces, start = [], self._top
        for band in self._held:
            stop = start + band.shape[0]
            if start < bottom and top < stop:
                pieces.append(band[max(top - start, 0): min(bottom, stop) - start])
            start = stop
        if len(pieces) == 1:
            return pieces[0]
        if not pieces:
            return np.empty((0, self.width, self.channels), self.dtype)
        return np.concatenate(pieces)

    def rows(self, y0: int, y1: int) -> np.ndarray:
        """Full-width rows ``[y0, y1)`` clipped to the image."""
        return self.read(max(y0, 0), min(y1, self.height), 0, self.width)

    def release(self, row: int) -> None:
        """Rows above ``row`` will not be read again: they are freed."""
        with self._lock:
            drop = min(max(row - self._top, 0), self._count)
            self._top, self._count = self._top + drop, self._count - drop
            while drop:
                first = self._held[0]
                if first.shape[0] <= drop:  # the whole band: freed
                    self._held.pop(0)
                    drop -= first.shape[0]
                else:  # a view of its rest: the band is freed once it is all released
                    self._held[0] = first[drop:]
                    drop = 0

    def close(self) -> None:
        """Stop any work in progress (a model stage's thread); idempotent."""


class ArrayStage(Stage):
    """An image in memory as the first stage: all its rows are made from the start."""

    def __init__(self, pixels: np.ndarray, pad_mode: str = "edge"):
        super().__init__(*pixels.shape, pixels.dtype)
        self.pad_mode = pad_mode
        self._held, self._count = [pixels], pixels.shape[0]


class SourceStage(Stage):
    """An image file's rows (:class:`~burnish.engine.imageio.ImageRows`) as the first
    stage: decoded as the stages below ask for them."""

    def __init__(self, rows, pad_mode: str = "edge"):
        header = rows.header
        super().__init__(header.height, header.width, header.channels, header.dtype)
        self.pad_mode = pad_mode
        self._rows = rows
        # reads are small: a source's rows are copied into the stages below it anyway
        self._band = max(1, band_rows(header.width, header.channels, header.dtype) // 4)

    def _make_band(self) -> np.ndarray:
        return self._rows.read(self._band)


class TiledStage(Stage):
    """Each band is made tile by tile: ``compute(window, top)`` of the pixels before it
    within ``halo`` pixels of the tile on every side (clipped to the image, so the image's
    own edges stay edges), returning the window's pixels changed, in this stage's dtype and
    channels; the tile is cut out of them. Tiled equals untiled whenever ``halo`` covers
    the computation's reach. ``top`` is the window's first row.

    A band is at least eight halos tall and its tiles at least eight halos wide, so the
    pixels computed twice stay a small part of the work; a tile's window is about one
    band's worth of float32 pixels, so the computation's own arrays stay that small however
    wide the image is."""

    def __init__(self, upstream: Stage, compute: Callable[[np.ndarray, int], np.ndarray], *,
                 halo: int = 0, channels: int | None = None, dtype=None):
        super().__init__(upstream.height, upstream.width,
                         upstream.channels if channels is None else channels,
                         upstream.dtype if dtype is None else dtype)
        self.pad_mode = upstream.pad_mode
        self._upstream, self._compute, self._halo = upstream, compute, halo
        widest = max(self.channels, upstream.channels)
        self._band = max(band_rows(self.width, widest, np.float32), 8 * halo)
        window_rows = self._band + 2 * halo
        window_columns = BAND_BYTES // (window_rows * widest * 4)
        self._tile_width = min(max(window_columns - 2 * halo, 8 * halo, 1), self.width)

    def _make_band(self) -> np.ndarray:
        start = self.made
        stop = min(start + self._band, self.height)
        top, bottom = max(start - self._halo, 0), min(stop + self._halo, self.height)
        band = None
        for x0 in range(0, self.width, self._tile_width):
            x1 = min(x0 + self._tile_width, self.width)
            left, right = max(x0 - self._halo, 0), min(x1 + self._halo, self.width)
            computed = self._compute(self._upstream.read(top, bottom, left, right), top)
            if x1 - x0 == self.width:
                band = computed[start - top: stop - top]  # one tile: the band itself
                break
            if band is None:
                band = np.empty((stop - start, self.width, self.channels), self.dtype)
            band[:, x0:x1] = computed[start - top: stop - top, x0 - left: x1 - left]
        self._upstream.release(stop - self._halo)
        return band

    def close(self) -> None:
        self._upstream.close()


class WholeStage(Stage):
    """The op needs the whole image: the rows before it are gathered into one array and
    ``compute(pixels)`` returns this stage's whole image. Not streamed: the image (and the
    op's work on it) is held whole."""

    def __init__(self, upstream: Stage, compute: Callable[[np.ndarray], np.ndarray],
                 shape: tuple[int, int, int] | None = None, dtype=None):
        height, width, channels = shape or (upstream.height, upstream.width, upstream.channels)
        super().__init__(height, width, channels, upstream.dtype if dtype is None else dtype)
        self.pad_mode = upstream.pad_mode
        self._upstream, self._compute = upstream, compute

    def _make_band(self) -> np.ndarray:
        pixels = np.ascontiguousarray(self._upstream.rows(0, self._upstream.height))
        self._upstream.release(self._upstream.height)
        result = self._compute(pixels)
        if result.shape != (self.height, self.width, self.channels):
            raise RuntimeError(f"a whole-image step made {result.shape}, planned "
                               f"{(self.height, self.width, self.channels)}")
        return result

    def close(self) -> None:
        self._upstream.close()


class SpillStage(Stage):
    """The first pass of a two-pass op: on the first read (or :meth:`measure_all`) the
    stage before it is read once through, band by band, each band given to
    ``measure(band, top)`` (``top``: its first row) and written to a temporary file; then
    this stage's rows (the same pixels) are read back from the file, so that the second pass
    needs no second run of the stages before. Holds a band in memory; the file (in the
    system's temporary folder) holds the image."""

    def __init__(self, upstream: Stage, measure: Callable[[np.ndarray, int], None]):
        super().__init__(upstream.height, upstream.width, upstream.channels, upstream.dtype)
        self.pad_mode = upstream.pad_mode
        self._upstream, self._measure = upstream, measure
        self._file = None
        self._row_bytes = self.width * self.channels * self.dtype.itemsize
        self._band = band_rows(self.width, self.channels, self.dtype)

    def measure_all(self) -> None:
        """Run the first pass now (once): every band measured and spilled."""
        with self._lock:
            if self._file is not None:
                return
            started = time.perf_counter()
            try:
                self._file = tempfile.TemporaryFile(prefix="burnish-spill-")
                for top in range(0, self.height, self._band):
                    bottom = min(top + self._band, self.height)
                    band = np.ascontiguousarray(self._upstream.rows(top, bottom))
                    self._measure(band, top)
                    self._file.write(band.data)
                    self._upstream.release(bottom)
            finally:
                self.busy += time.perf_counter() - started

    def _make_band(self) -> np.ndarray:
        self.measure_all()
        count = min(self._band, self.height - self.made)
        self._file.seek(self.made * self._row_bytes)
        data = self._file.read(count * self._row_bytes)
        return np.frombuffer(data, self.dtype).reshape(count, self.width, self.channels)

    def close(self) -> None:
        if self._file is not None:
            self._file.close()
        self._upstream.close()


class RegionalStage(Stage):
    """The op changes only windows of the image: the rows before it pass through, except
    inside each window ``(top, left, bottom, right)``, which is replaced by
    ``compute(pixels, window)`` of the window's own pixels. A window is computed once, when
    the first band that meets it is made (its rows, full width, are held until then); so
    what is held is a band and the windows it meets, whatever the image's size.

    ``plan()`` gives ``(windows, compute)`` (windows sorted by top, none overlapping); it is
    called on the first band, so that a first pass (a :class:`SpillStage` finding the
    region) can run before the windows are known.
    """

    def __init__(self, upstream: Stage, plan: Callable[[], tuple[list, Callable]]):
        super().__init__(upstream.height, upstream.width, upstream.channels, upstream.dtype)
        self.pad_mode = upstream.pad_mode
        self._upstream, self._plan = upstream, plan
        self._pending: list | None = None  # windows not computed yet, top first
        self._computed: list = []  # (window, pixels) that bands below may still meet
        self._band = band_rows(self.width, self.channels, np.float32)

    def _make_band(self) -> np.ndarray:
        if self._pending is None:
            windows, self._compute = self._plan()
            self._pending = sorted(windows)
        start = self.made
        stop = min(start + self._band, self.height)
        while self._pending and self._pending[0][0] < stop:
            window = top, left, bottom, right = self._pending.pop(0)
            crop = np.ascontiguousarray(self._upstream.read(top, bottom, left, right))
            self._computed.append((window, self._compute(crop, window)))
        band = np.array(self._upstream.rows(start, stop))
        for (top, left, bottom, right), pixels in self._computed:
            y0, y1 = max(top, start), min(bottom, stop)
            if y0 < y1:
                band[y0 - start:y1 - start, left:right] = pixels[y0 - top:y1 - top]
        self._computed = [(w, pixels) for w, pixels in self._computed if w[2] > stop]
        self._upstream.release(stop)
        return band

    def close(self) -> None:
        self._upstream.close()


class CropStage(Stage):
    """Rows ``[top, top + height) x [left, left + width)`` of the stage before it."""

    def __init__(self, upstream: Stage, box: tuple[int, int, int, int]):
        left, top, width, height = box
        super().__init__(height, width, upstream.channels, upstream.dtype)
        self.pad_mode = upstream.pad_mode
        self._upstream, self._left, self._offset = upstream, left, top
        self._band = band_rows(width, upstream.channels, upstream.dtype)

    def _make_band(self) -> np.ndarray:
        start = self.made
        stop = min(start + self._band, self.height)
        band = self._upstream.read(start + self._offset, stop + self._offset,
                                   self._left, self._left + self.width)
        self._upstream.release(stop + self._offset)
        return band

    def close(self) -> None:
        self._upstream.close()


_END = object()


class ModelStage(Stage):
    """A model over the stage before it, through the streaming tile scheduler: ``run(source,
    sink)`` (a :func:`~burnish.engine.tiling.scheduler.run_tiled` call, or the device
    path) runs in a thread of its own, reading the upstream stage as its source, and each
    band it writes to its sink is this stage's next band."""

    def __init__(self, upstream: Stage, run: Callable, *, scale: int, pad_mode: str):
        super().__init__(upstream.height * scale, upstream.width * scale, upstream.channels,
                         upstream.dtype)
        upstream.pad_mode = pad_mode  # what the model's own framework pads with
        self._upstream = upstream
        self._bands: queue.Queue = queue.Queue(maxsize=1)
        self._stop = threading.Event()
        self._error: BaseException | None = None
        # in the caller's context (contextvars): a server's per-request state reaches the
        # model calls made in this thread
        self._thread = threading.Thread(target=contextvars.copy_context().run,
                                        args=(self._produce, run),
                                        name="burnish-model-stage", daemon=True)
        self._started = False

    def _produce(self, run) -> None:
        try:
            run(self._upstream, self)
        except _Stopped:
            pass
        except BaseException as error:  # noqa: BLE001 - handed to the reading thread
            self._error = error
        finally:
            self._offer(_END)

    # the scheduler's sink: finished bands, top to bottom
    def write_rows(self, rows: np.ndarray) -> None:
        self._offer(rows)  # the scheduler makes a new array for every band

    def _offer(self, item) -> None:
        while True:
            if self._stop.is_set() and item is not _END:
                raise _Stopped
            try:
                self._bands.put(item, timeout=0.05)
                return
            except queue.Full:
                if self._stop.is_set():
                    return

    def _make_band(self) -> np.ndarray:
        if not self._started:
            self._started = True
            self._thread.start()
        band = self._bands.get()
        if band is _END:
            if self._error is not None:
                raise self._error
            raise RuntimeError(f"the model stage ended after {self.made} of {self.height} rows")
        return band

    def close(self) -> None:
        self._stop.set()
        if self._started:
            while self._thread.is_alive():
                try:
                    self._bands.get(timeout=0.05)
                except queue.Empty:
                    pass
            self._thread.join()
        self._upstream.close()


class _Stopped(Exception):
    """The chain was closed while the model stage was still making bands."""


class ResizeStage(Stage):
    """Resampling to ``height x width``: each band of output rows from the input rows under
    its filter's support, by ``resample(window, box, size)`` (Pillow's resize of ``window``
    with the source ``box`` it maps from, in the window's coordinates): the same weights as
    resizing the whole image, since the box keeps the whole image's scale."""

    def __init__(self, upstream: Stage, height: int, width: int, *, support: float,
                 resample: Callable[[np.ndarray, tuple, tuple[int, int]], np.ndarray]):
        super().__init__(height, width, upstream.channels, upstream.dtype)
        self.pad_mode = upstream.pad_mode
        self._upstream, self._resample = upstream, resample
        self._scale = upstream.height / height  # input rows per output row
        # input rows an output row reaches: the filter's support, widened when shrinking
        self._reach = int(np.ceil(support * max(self._scale, 1.0))) + 2
        self._band = band_rows(max(width, upstream.width), upstream.channels, np.float32)

    def _make_band(self) -> np.ndarray:
        start = self.made
        stop = min(start + max(1, int(self._band / max(self._scale, 1.0))), self.height)
        first, last = start * self._scale, stop * self._scale  # the source rows they map from
        top = max(int(np.floor(first)) - self._reach, 0)
        bottom = min(int(np.ceil(last)) + self._reach, self._upstream.height)
        window = self._upstream.rows(top, bottom)
        band = self._resample(window, (0.0, first - top, float(self._upstream.width),
                                       last - top), (self.width, stop - start))
        self._upstream.release(max(int(np.floor(last)) - self._reach, 0))
        return band

    def close(self) -> None:
        self._upstream.close()


class RowMapStage(Stage):
    """Each output row from one input row, ``sources[row]`` (non-decreasing): a band
    ``[start, stop)`` is ``compute(window, first, start, stop)`` of the input rows
    ``[first, last]`` its rows come from (nearest-neighbour resampling)."""

    def __init__(self, upstream: Stage, height: int, width: int, sources: np.ndarray,
                 compute: Callable[[np.ndarray, int, int, int], np.ndarray]):
        super().__init__(height, width, upstream.channels, upstream.dtype)
        self.pad_mode = upstream.pad_mode
        self._upstream, self._sources, self._compute = upstream, sources, compute
        self._band = band_rows(max(width, upstream.width), upstream.channels, upstream.dtype)

    def _make_band(self) -> np.ndarray:
        start = self.made
        stop = min(start + self._band, self.height)
        first, last = int(self._sources[start]), int(self._sources[stop - 1])
        band = self._compute(self._upstream.rows(first, last + 1), first, start, stop)
        self._upstream.release(last)
        return band

    def close(self) -> None:
        self._upstream.close()


def drain(stage: Stage, sink) -> None:
    """Pull every row of ``stage`` into ``sink`` (``write_rows``), band by band, releasing
    each band once written."""
    drain_into(stage, lambda: contextlib.nullcontext(sink))


def drain_into(stage: Stage, open_sink: Callable[[], object]) -> None:
    """:func:`drain` into the sink ``open_sink()`` gives (a context manager, a file writer)
    once the first rows are made: by then every stage that needs its whole input has run,
    and what it found can go into the file's header."""
    try:
        # Quarter bands: a read that spans two of the stage's bands is a copy of its rows.
        step = max(1, band_rows(stage.width, stage.channels, stage.dtype) // 4)
        first = stage.rows(0, min(step, stage.height))
        with open_sink() as sink:
            sink.write_rows(first)
            stage.release(first.shape[0])
            for top in range(first.shape[0], stage.height, step):
                bottom = min(top + step, stage.height)
                sink.write_rows(stage.rows(top, bottom))
                stage.release(bottom)
    finally:
        stage.close()


def collect(stage: Stage) -> np.ndarray:
    """Every row of ``stage`` as one array."""
    out = np.empty((stage.height, stage.width, stage.channels), stage.dtype)

    class _Into:
        row = 0

        def write_rows(self, rows):
            out[self.row: self.row + rows.shape[0]] = rows
            self.row += rows.shape[0]

    drain(stage, _Into())
    return out
