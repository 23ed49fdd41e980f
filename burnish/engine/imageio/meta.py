"""The metadata an image file carries, and the header :func:`probe_image` reads."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class ImageMeta:
    """What an image file carries besides its pixels.

    Parameters
    ----------
    format : str
        ``"PNG"``, ``"JPEG"``, ``"TIFF"`` or ``"WEBP"``: the format of the file read.
    icc_profile : bytes or None
        The embedded ICC profile.
    exif : bytes or None
        The EXIF block as ``PIL.Image.Exif.tobytes()`` gives it (``b"Exif\\0\\0"`` then a
        TIFF header). Its orientation tag is reset to 1 once the orientation was applied.
    dpi : tuple of float or None
        Horizontal and vertical resolution in dots per inch.
    xmp : bytes or None
        The raw XMP packet (UTF-8 XML, ``<?xpacket begin=...?>`` through
        ``<?xpacket end=...?>`` when the file has the wrapper) exactly as stored in the file.
        Writing parses it to bring the properties that describe the pixels (size,
        orientation, software) up to date; a packet with none of them is written with the
        same bytes.
    """

    format: str
    icc_profile: bytes | None = None
    exif: bytes | None = None
    dpi: tuple[float, float] | None = None
    xmp: bytes | None = None


@dataclass(frozen=True)
class ImageHeader:
    """What :func:`probe_image` learns without decoding pixels.

    ``width`` and ``height`` are after EXIF orientation; ``channels`` and ``dtype`` are those
    :func:`read_image` returns (palette images count as RGB or RGBA, for example).
    """

    width: int
    height: int
    channels: int
    dtype: np.dtype
    format: str
