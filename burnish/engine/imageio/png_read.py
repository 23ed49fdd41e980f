"""Reading PNG: the layout and metadata from its chunks (no pixel is decoded here); the
pixels are libvips' (:mod:`.vips_read`)."""

from __future__ import annotations

import numpy as np

from burnish.engine.imageio.common import _UINT8, _UINT16, check_size
from burnish.engine.imageio.exif import (
    _exif_orientation,
    _load_exif,
    _oriented_size,
    _reset_orientation,
)
from burnish.engine.imageio.meta import ImageHeader, ImageMeta
from burnish.engine.imageio.pillow_read import _pillow_dpi, _pillow_open
from burnish.engine.imageio.png_chunks import _png_exif, _png_has_trns, _png_ihdr, _png_xmp

# IHDR colour type -> channels: grey, RGB, palette (RGB), grey + alpha, RGBA
_CHANNELS = {0: 1, 2: 3, 3: 3, 4: 2, 6: 4}


def _png_layout(path) -> tuple[int, int, int, np.dtype]:
    """Stored width, height, and the channels and dtype the pixels decode to: a tRNS chunk
    adds alpha to grey, RGB and palette images; 1, 2 and 4-bit images decode to 8 bits."""
    width, height, bit_depth, colour_type = _png_ihdr(path)
    if colour_type not in _CHANNELS:
        raise ValueError(f"invalid PNG colour type {colour_type}")
    channels = _CHANNELS[colour_type] + (colour_type in (0, 2, 3) and _png_has_trns(path))
    return width, height, channels, _UINT16 if bit_depth == 16 else _UINT8


def _probe_png(path, max_pixels: int) -> ImageHeader:
    width, height, channels, dtype = _png_layout(path)
    check_size(path, width, height, max_pixels)
    orientation = _exif_orientation(_load_exif(_png_exif(path)))
    width, height = _oriented_size(width, height, orientation)
    return ImageHeader(width, height, channels, dtype, "PNG")


def _png_meta(path) -> tuple[ImageMeta, int]:
    """The metadata, and the EXIF orientation the pixels still need."""
    with _pillow_open(path) as image:  # reads the chunks before the pixel data, decodes none
        icc = image.info.get("icc_profile") or None
        dpi = _pillow_dpi(image)
    # eXIf and XMP may follow the pixel data: found by seeking from chunk to chunk
    exif, orientation = _reset_orientation(_load_exif(_png_exif(path)))
    return ImageMeta(format="PNG", icc_profile=icc, exif=exif, dpi=dpi, xmp=_png_xmp(path)), orientation
