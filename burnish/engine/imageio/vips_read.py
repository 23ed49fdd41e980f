"""Decoding pixels with libvips: PNG, JPEG and WebP, whole or a band of rows at a time.

libvips decodes sequentially as rows are asked for, so :class:`RowReader` holds only the
rows of the band it returns (and the decoder's own few lines), whatever the image's size,
and a whole read is the same loop into one array. 16-bit PNGs decode at libvips' speed
(libspng), not pypng's pure-Python unfilter (40x slower, ``benches/imageio_speed.py``).
What the pixels mean (size after orientation, channels, dtype) is decided from the header
first (:func:`burnish.engine.imageio.probe_image`); libvips' output is checked against it.

Metadata (ICC, EXIF, XMP, DPI) is read from the headers by the format modules, not here:
libvips reports 72 dpi for a file that states no resolution, and burnish keeps "not stated"
as ``None``.
"""

from __future__ import annotations

import logging
import os

import numpy as np

from burnish.engine.imageio.common import _one_line
from burnish.engine.imageio.meta import ImageHeader

_FORMATS = {"uchar": np.dtype(np.uint8), "ushort": np.dtype(np.uint16),
            "float": np.dtype(np.float32)}
BAND_ROWS = 256  # rows per fetch in a whole-image read


class VipsDecodeError(Exception):
    """libvips could not decode the file; the message is libvips' own reason, one line."""


def _pyvips():
    import pyvips

    # libvips caches recent operations (with their decoded pixels) for reuse; burnish reads
    # each input once, and a cache would keep images alive after their run.
    pyvips.cache_set_max(0)
    # libvips' warnings (a decoder's remarks on an ICC chunk, say) reach Python's logging as
    # "pyvips" records; burnish judges metadata itself and says what matters in one line.
    logging.getLogger("pyvips").setLevel(logging.ERROR)
    return pyvips


def _reason(error) -> str:
    """libvips' error in one line, without pyvips' "unable to call ..." preamble."""
    detail = getattr(error, "detail", None) or str(error)
    lines = [line.strip() for line in str(detail).splitlines() if line.strip()]
    return _one_line("; ".join(dict.fromkeys(lines))) or type(error).__name__


class RowReader:
    """Rows of a PNG, JPEG, WebP or plain TIFF file, decoded top to bottom as :meth:`read`
    asks.

    ``header`` is the file's probed header in its stored layout (before orientation); rows
    come in the stored order, which the caller orients. CMYK JPEGs come as sRGB
    (``converted_cmyk``; ``profile`` is then the sRGB profile the pixels are in, or None).
    Raises :class:`VipsDecodeError` for a file libvips cannot decode (truncated, corrupt),
    when opening or mid-way.
    """

    def __init__(self, path: str | os.PathLike, header: ImageHeader):
        pyvips = _pyvips()
        self.header = header
        try:
            image = pyvips.Image.new_from_file(os.fspath(path), access="sequential",
                                               fail_on="error")
            self.converted_cmyk = image.interpretation == "cmyk"
            if self.converted_cmyk:
                image = _cmyk_to_srgb(image, has_profile=_has(image, "icc-profile-data"))
            self.profile = (image.get("icc-profile-data")
                            if self.converted_cmyk and _has(image, "icc-profile-data") else None)
            self._image = image
            self._region = pyvips.Region.new(image)
        except pyvips.Error as error:
            raise VipsDecodeError(_reason(error)) from None
        self.width, self.height, self.channels = image.width, image.height, image.bands
        dtype = _FORMATS.get(image.format)
        if dtype is None or (self.channels, dtype) != (header.channels, header.dtype) or (
                (self.width, self.height) != (header.width, header.height)):
            raise VipsDecodeError(
                f"libvips decodes a {self.width} x {self.height} {image.format} image with "
                f"{self.channels} band(s), the header says {header.width} x {header.height} "
                f"{header.dtype} with {header.channels}")
        self.dtype = dtype
        self.next_row = 0
        self._pyvips = pyvips

    def read(self, count: int) -> np.ndarray:
        """The next ``count`` rows (fewer at the bottom), ``count x W x C``, read-only."""
        count = min(count, self.height - self.next_row)
        if count <= 0:
            return np.empty((0, self.width, self.channels), self.dtype)
        try:
            data = self._region.fetch(0, self.next_row, self.width, count)
        except self._pyvips.Error as error:
            raise VipsDecodeError(_reason(error)) from None
        self.next_row += count
        return np.frombuffer(data, self.dtype).reshape(count, self.width, self.channels)

    def read_all(self) -> np.ndarray:
        """Every row left, into one C-contiguous, writable array."""
        pixels = np.empty((self.height - self.next_row, self.width, self.channels), self.dtype)
        top = 0
        while self.next_row < self.height:
            band = self.read(BAND_ROWS)
            pixels[top: top + band.shape[0]] = band
            top += band.shape[0]
        return pixels

    def close(self) -> None:
        self._region = self._image = None


def _has(image, field: str) -> bool:
    return image.get_typeof(field) != 0


def _cmyk_to_srgb(image, *, has_profile: bool):
    """CMYK to sRGB: colour-managed through the file's profile when it carries one (the
    result then carries libvips' sRGB profile), else the plain complement Pillow also uses,
    ``(255 - C) * (255 - K) / 255``, with no profile: the CMYK one would describe the wrong
    colour space."""
    if has_profile:
        return image.icc_transform("srgb", embedded=True, intent="relative")
    white = 255 - image[3]
    rgb = [(white - image[band] * white / 255).rint().cast("uchar") for band in range(3)]
    stacked = rgb[0].bandjoin(rgb[1:])
    stacked = stacked.copy(interpretation="srgb")
    stacked.remove("icc-profile-data")
    return stacked
