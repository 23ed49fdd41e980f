"""Reading PNG: Pillow for 8-bit and grey 16-bit, pypng for 16-bit colour."""

from __future__ import annotations

import os
import struct

import numpy as np
import png

from burnish.engine.imageio.common import _UINT16, _check_size
from burnish.engine.imageio.exif import (
    _exif_orientation,
    _load_exif,
    _oriented_size,
    _reset_orientation,
)
from burnish.engine.imageio.meta import ImageHeader, ImageMeta
from burnish.engine.imageio.pillow_read import (
    _key_to_alpha,
    _pillow_dpi,
    _pillow_open,
    _probe_pillow,
    _read_pillow,
)
from burnish.engine.imageio.png_chunks import _png_exif, _png_has_trns, _png_ihdr, _png_xmp

# ---- PNG: Pillow for 8-bit and grey 16-bit, pypng for 16-bit colour ------------------------


def _png_needs_pypng(bit_depth: int, colour_type: int, has_trns: bool) -> bool:
    """Pillow keeps only the high byte of 16-bit colour and grey+alpha PNGs: those go to pypng."""
    return bit_depth == 16 and (colour_type != 0 or has_trns)


def _probe_png(path, max_pixels: int) -> ImageHeader:
    width, height, bit_depth, colour_type = _png_ihdr(path)
    _check_size(path, width, height, max_pixels)
    has_trns = _png_has_trns(path)
    if not _png_needs_pypng(bit_depth, colour_type, has_trns):
        return _probe_pillow(path, "PNG", max_pixels)
    channels = {0: 1, 2: 3, 4: 2, 6: 4}[colour_type] + (has_trns and colour_type in (0, 2))
    orientation = _exif_orientation(_load_exif(_png_exif(path)))
    width, height = _oriented_size(width, height, orientation)
    return ImageHeader(width, height, channels, _UINT16, "PNG")


def _read_png(path, max_pixels: int) -> tuple[np.ndarray, ImageMeta, int]:
    width, height, bit_depth, colour_type = _png_ihdr(path)
    _check_size(path, width, height, max_pixels)
    if not _png_needs_pypng(bit_depth, colour_type, _png_has_trns(path)):
        return _read_pillow(path, "PNG", max_pixels)
    pixels = _read_png16(path)
    with _pillow_open(path) as image:  # metadata only: Pillow reads chunks up to the pixels
        icc = image.info.get("icc_profile") or None
        dpi = _pillow_dpi(image)
    meta_exif, orientation = _reset_orientation(_load_exif(_png_exif(path)))
    meta = ImageMeta(format="PNG", icc_profile=icc, exif=meta_exif, dpi=dpi, xmp=_png_xmp(path))
    return pixels, meta, orientation


def _read_png16(path) -> np.ndarray:
    """Decode a 16-bit PNG with pypng, keeping all 16 bits (values are never rescaled).

    ``Reader.read`` rather than ``asDirect``: the latter shifts values down to an sBIT depth.
    pypng unfilters in pure Python: about a second per megapixel for Paeth-filtered files.
    """
    reader = png.Reader(filename=os.fspath(path))
    width, height, rows, info = reader.read()
    planes = info["planes"]
    pixels = np.empty((height, width * planes), dtype=_UINT16)
    count = 0
    for count, row in enumerate(rows, start=1):
        pixels[count - 1] = np.frombuffer(row, dtype=_UINT16)  # array('H'): native order
    if count != height:
        raise EOFError(f"{count} of {height} rows decoded")
    pixels = pixels.reshape(height, width, planes)
    if reader.trns is not None and planes in (1, 3):
        key = struct.unpack(f">{planes}H", reader.trns[: 2 * planes])
        pixels = _key_to_alpha(pixels, key)
    return pixels
