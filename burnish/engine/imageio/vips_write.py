"""The streaming PNG, JPEG and WebP encoder: libvips' own encoders, fed rows as they arrive.

libvips' savers pull pixels from an image; pyvips has no way to make an image whose pixels
Python computes on demand (libvips/pyvips#334), only sources of *encoded* bytes. So the rows
travel to libvips as an uncompressed PNG stream: a header, then each row with filter type 0
(none) in zlib's stored (level 0) blocks. That costs a copy and two checksums per byte,
and gives libvips a sequential source it decodes at memory speed and then encodes as asked:
the real PNG (adaptive filters, deflate), JPEG or WebP. The encoder runs in a thread of its
own, pulling rows through a bounded queue, so memory holds a few bands whatever the size.
"""

from __future__ import annotations

import queue
import struct
import threading
import zlib

import numpy as np

from burnish.engine.imageio.common import _UINT16
from burnish.engine.imageio.exif import _exif_body, _exif_with_prefix
from burnish.engine.imageio.png_chunks import _XMP_KEYWORD
from burnish.engine.imageio.vips_read import _pyvips, _reason

_END = object()
# Rows travel in pieces of about this many bytes, a few pieces queued: the transport holds a
# few MB whatever the bands the writer is given.
_PIECE_BYTES = 1 << 20
_QUEUED_PIECES = 4
_SIGNATURE = b"\x89PNG\r\n\x1a\n"
# IHDR colour type by channel count: grey, grey + alpha, RGB, RGBA
_COLOUR_TYPE = {1: 0, 2: 4, 3: 2, 4: 6}
_SUFFIX = {"PNG": ".png", "JPEG": ".jpg", "WEBP": ".webp"}


def _chunk(kind: bytes, data: bytes) -> bytes:
    return (struct.pack(">I", len(data)) + kind + data
            + struct.pack(">I", zlib.crc32(data, zlib.crc32(kind))))


class _VipsEncoder:
    """Encodes rows with libvips as they arrive (the :class:`ImageWriter` encoder protocol:
    ``write(rows)``, ``finish()``, ``abort()``)."""

    def __init__(self, file, fmt, width, height, channels, dtype, icc, exif, dpi, xmp,
                 quality):
        self._file = file
        self._format = fmt
        self._bands: queue.Queue = queue.Queue(maxsize=_QUEUED_PIECES)
        self._error: BaseException | None = None
        self._aborted = False
        bit_depth = 16 if dtype == _UINT16 else 8
        header = struct.pack(">IIBBBBB", width, height, bit_depth, _COLOUR_TYPE[channels],
                             0, 0, 0)
        self._pending = bytearray(_SIGNATURE + _chunk(b"IHDR", header))
        self._deflate = zlib.compressobj(0)
        self._done = False
        self._options = _save_options(fmt, quality) | {"keep": _kept(fmt, icc, exif, dpi, xmp)}
        # libvips writes a PNG's XMP as zTXt (readers look for iTXt) and always a pHYs: the
        # PNG's metadata chunks are ours, put in as its bytes stream out; likewise a JPEG's
        # XMP, which libvips drops over 60000 bytes (the segment holds 65502)
        if fmt == "PNG":
            self._out = _PngChunkEditor(self._raw_write,
                                        _png_metadata_chunks(icc, exif, dpi, xmp)).feed
        elif fmt == "JPEG" and xmp:
            self._out = _JpegSegmentEditor(self._raw_write, _jpeg_xmp_segment(xmp)).feed
        else:
            self._out = self._raw_write
        if fmt == "JPEG":
            xmp = None  # not libvips': see above
        self._metadata = (icc, exif, dpi, xmp)
        self._thread = threading.Thread(target=self._encode, name="burnish-vips-encoder",
                                         daemon=True)
        self._thread.start()

    # -- the caller's side --------------------------------------------------------------

    def write(self, rows: np.ndarray) -> None:
        row_bytes = rows.shape[1] * rows.shape[2] * rows.itemsize + 1
        step = max(1, _PIECE_BYTES // row_bytes)
        for top in range(0, rows.shape[0], step):
            piece = rows[top: top + step]
            # PNG samples are big-endian; each row starts with its filter type, 0
            raw = piece.astype(piece.dtype.newbyteorder(">"), copy=False)
            framed = np.zeros((piece.shape[0], row_bytes), np.uint8)
            framed[:, 1:] = raw.reshape(piece.shape[0], -1).view(np.uint8)
            self._put(framed)

    def finish(self) -> None:
        self._put(_END)
        self._thread.join()
        if self._error is not None:
            raise self._error

    def abort(self) -> None:
        self._aborted = True
        while True:  # make room for the end mark: the encoder thread then stops
            try:
                self._bands.put_nowait(_END)
                break
            except queue.Full:
                try:
                    self._bands.get_nowait()
                except queue.Empty:
                    pass
        self._thread.join(timeout=30)

    def _put(self, item) -> None:
        while True:
            if self._error is not None:
                raise self._error
            try:
                self._bands.put(item, timeout=0.1)
                return
            except queue.Full:
                continue

    # -- the encoder thread's side ------------------------------------------------------

    def _read(self, size: int) -> bytes:
        """The transport stream, for libvips' source: at most ``size`` bytes, b"" at the end."""
        while len(self._pending) < size and not self._done:
            band = self._bands.get()
            if band is _END:
                self._done = True
                if self._aborted:
                    break  # libvips sees the stream end early and fails: that is the abort
                self._pending += _chunk(b"IDAT", self._deflate.flush()) + _chunk(b"IEND", b"")
            else:
                self._pending += _chunk(b"IDAT", self._deflate.compress(band))
        data = bytes(self._pending[:size])
        del self._pending[:size]
        return data

    def _raw_write(self, data) -> None:
        self._file.write(data)

    def _write(self, data) -> int:
        self._out(bytes(data))
        return len(data)

    def _encode(self) -> None:
        pyvips = _pyvips()
        try:
            source = pyvips.SourceCustom()
            source.on_read(self._read)
            image = _with_metadata(pyvips, pyvips.Image.new_from_source(
                source, "", access="sequential", fail_on="error"), *self._metadata)
            target = pyvips.TargetCustom()
            target.on_write(self._write)
            image.write_to_target(target, _SUFFIX[self._format], **self._options)
        except pyvips.Error as error:
            if not self._aborted:
                self._error = RuntimeError(_reason(error))
        except BaseException as error:  # noqa: BLE001 - handed to the writer's thread
            self._error = error
        finally:
            if self._error is not None:
                self._drain()

    def _drain(self) -> None:
        """After a failure, take what the writer still puts, so that it sees the error."""
        while not self._done:
            try:
                if self._bands.get(timeout=0.1) is _END:
                    return
            except queue.Empty:
                if self._aborted:
                    return


def _save_options(fmt: str, quality: int) -> dict:
    if fmt == "PNG":
        # adaptive filters per row: what deflates photographs and renders best
        return {"compression": 6, "filter": "all"}
    if fmt == "JPEG":
        # 4:4:4 on high-quality output: no chroma blur
        return {"Q": quality, "subsample_mode": "off" if quality >= 90 else "auto"}
    # exact: keep the colour under transparent pixels (an edit may reveal it later)
    return {"Q": quality, "lossless": quality == 100, "exact": True}


def _kept(fmt: str, icc, exif, dpi, xmp) -> str:
    """libvips' ``keep``: the metadata the output has, no more. libvips makes an EXIF block
    of its own when asked to keep one the image does not have; a JPEG (libvips writes no
    JFIF segment) needs it for its resolution."""
    if fmt == "PNG":
        return "none"  # see _PngChunkEditor
    kept = [name for name, value in (("icc", icc), ("xmp", xmp and fmt != "JPEG")) if value]
    if exif or (dpi and fmt == "JPEG"):
        kept.append("exif")
    return ",".join(kept) or "none"


def _with_metadata(pyvips, image, icc, exif, dpi, xmp):
    """The image with the output's metadata and nothing else (the transport carries none)."""
    image = image.copy(xres=(dpi[0] if dpi else 72.0) / 25.4,
                       yres=(dpi[1] if dpi else 72.0) / 25.4)
    blob = pyvips.GValue.blob_type
    for name, value in (("icc-profile-data", icc),
                        ("exif-data", _exif_with_prefix(exif) if exif else None),
                        ("xmp-data", xmp)):
        if value:
            image.set_type(blob, name, value)
        elif image.get_typeof(name):
            image.remove(name)
    return image


def _png_metadata_chunks(icc, exif, dpi, xmp) -> bytes:
    """pHYs, iCCP, eXIf and the XMP iTXt, in the order the PNG specification places them
    (before the first IDAT), where readers that stop at the pixel data still find them."""
    chunks = b""
    if dpi:
        chunks += _chunk(b"pHYs", struct.pack(">IIB", round(dpi[0] / 0.0254),
                                              round(dpi[1] / 0.0254), 1))
    if icc:
        # profile name, NUL, compression method 0 (zlib), the compressed profile
        chunks += _chunk(b"iCCP", b"ICC Profile\x00\x00" + zlib.compress(icc))
    if exif:
        chunks += _chunk(b"eXIf", _exif_body(exif))
    if xmp:
        # keyword, NUL, compression flag and method 0, empty language tag and translated
        # keyword (each NUL-terminated), then the packet as is (XMP readers want it plain)
        chunks += _chunk(b"iTXt", _XMP_KEYWORD + b"\x00\x00\x00\x00\x00" + xmp)
    return chunks


class _PngChunkEditor:
    """Passes libvips' PNG through chunk by chunk: ``extra`` goes in right after IHDR, and
    libvips' own pHYs (written whatever the resolution) is dropped. Pixel data streams
    through without being held."""

    _DROPPED = (b"pHYs",)

    def __init__(self, write, extra: bytes):
        self._write, self._extra = write, extra
        self._buffer = bytearray()
        self._signature_done = False
        self._passing = 0  # bytes of the current chunk still to pass through
        self._dropping = 0  # bytes of the current chunk still to drop
        self._after_ihdr = False

    def feed(self, data: bytes) -> None:
        self._buffer += data
        while self._buffer:
            if not self._signature_done:
                if len(self._buffer) < len(_SIGNATURE):
                    return
                self._emit(len(_SIGNATURE))
                self._signature_done = True
            elif self._passing or self._dropping:
                count = min(self._passing or self._dropping, len(self._buffer))
                if self._passing:
                    self._emit(count)
                    self._passing -= count
                    if not self._passing and self._after_ihdr:
                        self._write(self._extra)
                        self._after_ihdr = False
                else:
                    del self._buffer[:count]
                    self._dropping -= count
            else:
                if len(self._buffer) < 8:
                    return
                length, kind = struct.unpack(">I4s", self._buffer[:8])
                if kind in self._DROPPED:
                    self._dropping = length + 12
                else:
                    self._passing = length + 12
                    self._after_ihdr = kind == b"IHDR"

    def _emit(self, count: int) -> None:
        self._write(bytes(self._buffer[:count]))
        del self._buffer[:count]


_XMP_NAMESPACE = b"http://ns.adobe.com/xap/1.0/\x00"


def _jpeg_xmp_segment(xmp: bytes) -> bytes:
    """The APP1 segment of an XMP packet (formats.py has checked it fits one)."""
    return b"\xff\xe1" + struct.pack(">H", 2 + len(_XMP_NAMESPACE) + len(xmp)) + _XMP_NAMESPACE + xmp


class _JpegSegmentEditor:
    """Passes libvips' JPEG through, putting ``extra`` after its APP0/APP1 segments (EXIF
    first, as the EXIF standard asks) and before everything else."""

    def __init__(self, write, extra: bytes):
        self._write, self._extra = write, extra
        self._buffer = bytearray()
        self._passing = 2  # SOI
        self._inserted = False

    def feed(self, data: bytes) -> None:
        if self._inserted:
            self._write(data)
            return
        self._buffer += data
        while self._buffer and not self._inserted:
            if self._passing:
                count = min(self._passing, len(self._buffer))
                self._write(bytes(self._buffer[:count]))
                del self._buffer[:count]
                self._passing -= count
                continue
            if len(self._buffer) < 4:
                return
            if self._buffer[1] in (0xE0, 0xE1):
                self._passing = 2 + struct.unpack(">H", self._buffer[2:4])[0]
            else:
                self._write(self._extra)
                self._write(bytes(self._buffer))
                self._buffer.clear()
                self._inserted = True

