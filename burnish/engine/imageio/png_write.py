"""The streaming PNG encoder: rows are Paeth-filtered and deflated as they arrive."""

from __future__ import annotations

import zlib

import numpy as np
import png

from burnish.engine.imageio.common import _UINT16
from burnish.engine.imageio.exif import _exif_body
from burnish.engine.imageio.png_chunks import _XMP_KEYWORD

# ---- PNG: streamed, one zlib stream across all rows -----------------------------------------


class _PngEncoder:
    """Streams rows into a PNG: rows are Paeth-filtered and deflated as they arrive.

    pypng writes the header (``Writer.write_preamble``) and every chunk (``png.write_chunk``);
    the IDAT stream is fed here directly instead of through ``Writer.write_packed``, which
    would have to pull rows from a generator in a second thread. Memory: one row of state and
    a few MiB of work space, whatever the image size. ICC (iCCP), EXIF (eXIf) and XMP (iTXt),
    which pypng does not write, follow IHDR (and pHYs) before any IDAT: where the PNG
    specification wants iCCP, and where readers that stop at the pixel data still find them.
    """

    IDAT_BYTES = 1 << 20  # compressed bytes per IDAT chunk
    WORK_BYTES = 1 << 20  # raw bytes filtered at once: the int16 temporaries stay ~20 MiB

    def __init__(self, file, width, height, channels, dtype, icc, exif, dpi, xmp):
        self._file = file
        bit_depth = 16 if dtype == _UINT16 else 8
        resolution = {}
        if dpi:
            resolution = dict(
                x_pixels_per_unit=round(dpi[0] / 0.0254),
                y_pixels_per_unit=round(dpi[1] / 0.0254),
                unit_is_meter=True,
            )
        writer = png.Writer(
            width,
            height,
            greyscale=channels <= 2,
            alpha=channels in (2, 4),
            bitdepth=bit_depth,
            compression=6,
            **resolution,
        )
        writer.write_preamble(file)
        if icc:
            # iCCP: profile name, NUL, compression method 0 (zlib), compressed profile
            png.write_chunk(file, b"iCCP", b"ICC Profile\x00\x00" + zlib.compress(icc))
        if exif:
            png.write_chunk(file, b"eXIf", _exif_body(exif))
        if xmp:
            # iTXt: keyword, NUL, compression flag 0 and method 0, empty language tag and
            # translated keyword (each NUL-terminated), then the packet as is (XMP readers
            # expect it uncompressed)
            png.write_chunk(file, b"iTXt", _XMP_KEYWORD + b"\x00\x00\x00\x00\x00" + xmp)
        self._pixel_bytes = channels * (bit_depth // 8)
        self._row_bytes = width * self._pixel_bytes
        self._previous = np.zeros(self._row_bytes, dtype=np.uint8)  # the row above the first
        self._compressor = zlib.compressobj(6)
        self._pending = bytearray()

    def write(self, rows: np.ndarray) -> None:
        # PNG samples are big-endian
        raw = rows.astype(rows.dtype.newbyteorder(">"), copy=False).reshape(rows.shape[0], -1)
        raw = raw.view(np.uint8)
        step = max(1, self.WORK_BYTES // self._row_bytes)
        for start in range(0, raw.shape[0], step):
            block = raw[start : start + step]
            filtered = _paeth_filter(block, self._previous, self._pixel_bytes)
            self._previous = block[-1].copy()
            self._emit(self._compressor.compress(filtered))

    def finish(self) -> None:
        self._emit(self._compressor.flush())
        if self._pending:
            png.write_chunk(self._file, b"IDAT", self._pending)
        png.write_chunk(self._file, b"IEND")

    def abort(self) -> None:
        pass

    def _emit(self, compressed: bytes) -> None:
        # IDAT chunks of a fixed size: the file does not depend on how rows were batched
        self._pending += compressed
        while len(self._pending) >= self.IDAT_BYTES:
            png.write_chunk(self._file, b"IDAT", self._pending[: self.IDAT_BYTES])
            del self._pending[: self.IDAT_BYTES]


def _paeth_filter(raw: np.ndarray, previous: np.ndarray, pixel_bytes: int) -> bytes:
    """PNG filter type 4 (Paeth) for ``k x row_bytes`` raw rows, each prefixed by its type byte.

    Encoding only looks at raw bytes (left, up, up-left), so all rows filter at once.
    Paeth usually deflates far better than no filter on photographs and renders.
    """
    current = raw.astype(np.int16)
    up = np.empty_like(current)
    up[0] = previous
    up[1:] = current[:-1]
    left = np.zeros_like(current)
    left[:, pixel_bytes:] = current[:, :-pixel_bytes]
    up_left = np.zeros_like(current)
    up_left[:, pixel_bytes:] = up[:, :-pixel_bytes]
    distance_left = np.abs(up - up_left)  # |p - left| with p = left + up - up_left
    distance_up = np.abs(left - up_left)
    distance_up_left = np.abs(left + up - 2 * up_left)
    predictor = np.where(
        (distance_left <= distance_up) & (distance_left <= distance_up_left),
        left,
        np.where(distance_up <= distance_up_left, up, up_left),
    )
    out = np.empty((raw.shape[0], raw.shape[1] + 1), dtype=np.uint8)
    out[:, 0] = 4
    out[:, 1:] = (current - predictor).astype(np.uint8)  # modulo 256
    return out.tobytes()
