"""The buffered JPEG and WebP encoder: the whole image is kept, then encoded by Pillow."""

from __future__ import annotations

import numpy as np
from PIL import Image

from burnish.engine.imageio.exif import _exif_with_prefix
from burnish.engine.imageio.formats import _stores_grey

# ---- JPEG and WebP: buffered, encoded by Pillow at close ------------------------------------


class _PillowEncoder:
    """Buffers the whole image, then encodes it with Pillow in :meth:`finish`.

    Neither format has a streaming encoder available here, so memory is the size of the output
    image. Grey (and grey + alpha) is written to WebP as RGB (RGBA): WebP has no grey mode.
    """

    def __init__(self, file, fmt, width, height, channels, dtype, icc, exif, dpi, xmp, quality):
        self._file = file
        self._format = fmt
        self._pixels = np.empty((height, width, channels), dtype=dtype)
        self._rows = 0
        options: dict = {}
        if icc:
            options["icc_profile"] = icc
        if exif:
            options["exif"] = _exif_with_prefix(exif)
        if xmp:
            options["xmp"] = xmp  # a JPEG APP1 segment, a WebP "XMP " chunk
        if fmt == "JPEG":
            options["quality"] = quality
            if quality >= 90:
                options["subsampling"] = 0  # 4:4:4: no chroma blur on high-quality output
            if dpi:
                options["dpi"] = (round(dpi[0]), round(dpi[1]))  # JFIF stores integers
        else:
            options.update(quality=quality, lossless=quality == 100, exact=True)
        self._options = options

    def write(self, rows: np.ndarray) -> None:
        self._pixels[self._rows : self._rows + rows.shape[0]] = rows
        self._rows += rows.shape[0]

    def finish(self) -> None:
        pixels = self._pixels
        if pixels.shape[2] == 1:
            pixels = pixels[:, :, 0]
        image = Image.fromarray(pixels)
        if image.mode in ("L", "LA") and not _stores_grey(self._format, self._pixels.shape[2]):
            image = image.convert("RGB" if image.mode == "L" else "RGBA")
        image.save(self._file, format=self._format, **self._options)
        self._pixels = None

    def abort(self) -> None:
        self._pixels = None
