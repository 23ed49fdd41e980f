"""The streaming TIFF encoder: tiled, deflated, written by tifffile in a second thread."""

from __future__ import annotations

import inspect
import os
import queue
import threading
from collections.abc import Iterator

import numpy as np
import tifffile

from burnish.engine.imageio.common import _one_line, log
from burnish.engine.imageio.exif import _TIFF_EXIF_TAGS, _exif_with_prefix, _load_exif

BIGTIFF_THRESHOLD_BYTES: int = 2_000_000_000
"""Uncompressed size above which TIFF output is BigTIFF (classic TIFF offsets stop at 4 GiB)."""

TIFF_TILE: int = 256
"""Tile edge of TIFF output; the TIFF writer holds one band of this many rows."""

# ---- TIFF: streamed, tiled, tifffile in a writer thread -------------------------------------


class _WriterAborted(Exception):
    """Raised inside the TIFF writer thread to stop tifffile when the writer is aborted."""


# older tifffile releases (the project allows 2023.7) have no ``buffersize``
_TIFF_WRITE_HAS_BUFFERSIZE = "buffersize" in inspect.signature(tifffile.TiffWriter.write).parameters


class _TiffEncoder:
    """Streams rows into a tiled TIFF written by tifffile in a second thread.

    tifffile takes an iterator of tiles; rows are collected into a band of ``TIFF_TILE`` rows,
    and each full band goes through a small bounded queue to the thread, where the iterator
    cuts it into tiles. Memory: a few bands. Tiles are deflate-compressed with the horizontal
    predictor (integers), which tifffile does with the standard library's zlib, no imagecodecs
    needed. The output is BigTIFF when its uncompressed size passes ``BIGTIFF_THRESHOLD_BYTES``.
    EXIF: only the tags that are also TIFF tags are kept (see :func:`open_writer`); XMP goes
    in tag 700.
    """

    QUEUE_BANDS = 2
    POLL_SECONDS = 0.1

    def __init__(self, file, width, height, channels, dtype, icc, exif, dpi, xmp):
        self._width = width
        self._height = height
        self._channels = channels
        self._dtype = dtype
        self._band = self._new_band()
        self._band_rows = 0
        self._queue: queue.Queue = queue.Queue(maxsize=self.QUEUE_BANDS)
        self._aborted = threading.Event()
        self._error: BaseException | None = None
        options = self._options(icc, exif, dpi, xmp)
        self._thread = threading.Thread(
            target=self._run, args=(file, options), name="burnish-tiff-writer", daemon=True
        )
        self._thread.start()

    def _options(self, icc, exif, dpi, xmp) -> dict:
        uncompressed = self._width * self._height * self._channels * self._dtype.itemsize
        options = dict(
            # one sample: a 2-D shape, else tifffile reads the trailing 1 as the image width
            shape=(self._height, self._width) + ((self._channels,) if self._channels > 1 else ()),
            dtype=self._dtype,
            tile=(TIFF_TILE, TIFF_TILE),
            photometric="minisblack" if self._channels <= 2 else "rgb",
            planarconfig="contig" if self._channels > 1 else None,
            extrasamples=["unassalpha"] if self._channels in (2, 4) else None,
            compression="zlib",
            compressionargs={"level": 6},
            # the floating-point predictor would need imagecodecs
            predictor=self._dtype.kind == "u",
            bigtiff=uncompressed > BIGTIFF_THRESHOLD_BYTES,
            iccprofile=icc,
            metadata=None,  # no tifffile JSON in ImageDescription
            software=False,
            extratags=_tiff_exif_tags(exif) + _tiff_xmp_tags(xmp),
            maxworkers=min(4, os.cpu_count() or 1),
        )
        if _TIFF_WRITE_HAS_BUFFERSIZE:  # bounds how many tiles tifffile pulls ahead to compress
            options["buffersize"] = 8 << 20
        if dpi:
            options.update(resolution=(float(dpi[0]), float(dpi[1])), resolutionunit="INCH")
        return options

    def _new_band(self) -> np.ndarray:
        return np.empty((min(TIFF_TILE, self._height), self._width, self._channels), self._dtype)

    def write(self, rows: np.ndarray) -> None:
        while rows.shape[0]:
            take = min(rows.shape[0], self._band.shape[0] - self._band_rows)
            self._band[self._band_rows : self._band_rows + take] = rows[:take]
            self._band_rows += take
            rows = rows[take:]
            if self._band_rows == self._band.shape[0]:
                self._send(self._band)
                self._band = self._new_band()
                self._band_rows = 0

    def finish(self) -> None:
        if self._band_rows:
            self._send(self._band[: self._band_rows])  # the last, shorter band
        self._thread.join()
        self._raise_writer_error()

    def abort(self) -> None:
        self._aborted.set()
        self._thread.join(timeout=60)

    def _send(self, band: np.ndarray) -> None:
        """Hand a band to the writer thread, without waiting forever if the thread died."""
        while True:
            self._raise_writer_error()
            if not self._thread.is_alive():
                raise RuntimeError("TIFF writer stopped unexpectedly")
            try:
                self._queue.put(band, timeout=self.POLL_SECONDS)
                return
            except queue.Full:
                continue

    def _raise_writer_error(self) -> None:
        if self._error is not None:
            raise self._error

    def _run(self, file, options: dict) -> None:
        try:
            tifffile.imwrite(file, self._tiles(), **options)
        except _WriterAborted:
            pass
        except BaseException as error:  # noqa: BLE001 - handed to the caller's thread
            self._error = error

    def _tiles(self) -> Iterator[np.ndarray]:
        """Tiles in TIFF order (left to right, then top to bottom), one band at a time."""
        for _ in range(0, self._height, TIFF_TILE):
            band = self._receive()
            for x in range(0, self._width, TIFF_TILE):
                tile = band[:, x : x + TIFF_TILE]  # tifffile zero-pads tiles cut by the edges
                yield tile if self._channels > 1 else tile[:, :, 0]

    def _receive(self) -> np.ndarray:
        while True:
            if self._aborted.is_set():
                raise _WriterAborted
            try:
                return self._queue.get(timeout=self.POLL_SECONDS)
            except queue.Empty:
                continue


def _tiff_exif_tags(exif: bytes | None) -> list[tuple]:
    """tifffile ``extratags`` for the EXIF tags that are plain TIFF tags (strings)."""
    if not exif:
        return []
    try:
        loaded = _load_exif(_exif_with_prefix(exif))
    except Exception as error:  # noqa: BLE001 - bad EXIF is dropped, not fatal
        log.warning("dropping unreadable EXIF: %s", _one_line(error))
        return []
    tags = []
    for code in _TIFF_EXIF_TAGS:
        value = loaded.get(code)
        if isinstance(value, bytes):
            value = value.rstrip(b"\x00").decode("utf-8", "replace")
        if isinstance(value, str) and value:
            tags.append((code, "s", 0, value.encode("utf-8"), True))
    return tags


def _tiff_xmp_tags(xmp: bytes | None) -> list[tuple]:
    """tifffile ``extratags`` for tag 700 (XMLPacket): BYTE data, as the XMP specification says."""
    if not xmp:
        return []
    return [(700, 1, len(xmp), xmp, True)]
