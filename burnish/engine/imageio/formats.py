"""Output formats: choosing one, and what each can hold (channels, dtypes, size)."""

from __future__ import annotations

import os

import numpy as np

from burnish.engine.imageio.common import _FLOAT32, _UINT8, _UINT16
from burnish.errors import OptionError, OutputError

SUPPORTED_FORMATS = ("PNG", "JPEG", "TIFF", "WEBP")

_SUFFIX_FORMATS = {
    ".png": "PNG",
    ".jpg": "JPEG",
    ".jpeg": "JPEG",
    ".tif": "TIFF",
    ".tiff": "TIFF",
    ".webp": "WEBP",
}
_FORMAT_ALIASES = {"JPG": "JPEG", "TIF": "TIFF"}

# What each output format can hold: channel counts and dtypes. WebP has no grey mode: grey
# is written as RGB (and reads back as RGB), see _stores_grey.
_WRITABLE_CHANNELS = {
    "PNG": {1, 2, 3, 4},
    "TIFF": {1, 2, 3, 4},
    "JPEG": {1, 3},
    "WEBP": {1, 2, 3, 4},
}
_WRITABLE_DTYPES = {
    "PNG": {_UINT8, _UINT16},
    "TIFF": {_UINT8, _UINT16, _FLOAT32},
    "JPEG": {_UINT8},
    "WEBP": {_UINT8},
}
_MAX_SIDE = {"JPEG": 65_500, "WEBP": 16_383}  # limits of the libjpeg and libwebp encoders
# A JPEG holds standard XMP in one APP1 segment: 65,533 bytes of data less the 29-byte
# namespace header leave 65,504 (Pillow's own limit); burnish stops two bytes short of that.
# Larger packets need ExtendedXMP, which is not written here.
_JPEG_MAX_XMP = 65_502


def output_format(path, format: str | None = None) -> str:  # noqa: A002 - the interface's name
    """The output format: ``format`` when given, else told from the suffix of ``path``.

    Parameters
    ----------
    path : str or os.PathLike
        The output file.
    format : str, optional
        ``"PNG"``, ``"JPEG"`` (or ``"JPG"``), ``"TIFF"`` (or ``"TIF"``) or ``"WEBP"``, any case.

    Returns
    -------
    str
        One of :data:`SUPPORTED_FORMATS`.

    Raises
    ------
    OutputError
        Unknown format name or suffix.

    Examples
    --------
    >>> output_format("poster.TIF"), output_format("out.bin", "jpg")
    ('TIFF', 'JPEG')
    """
    if format is not None:
        name = str(format).upper().lstrip(".")
        name = _FORMAT_ALIASES.get(name, name)
        if name not in SUPPORTED_FORMATS:
            raise OutputError(
                f"unsupported output format {format!r}; use PNG, JPEG, TIFF or WEBP", path=path
            )
        return name
    suffix = os.path.splitext(os.fspath(path))[1].lower()
    if suffix not in _SUFFIX_FORMATS:
        raise OutputError(
            f"cannot tell the output format from the suffix {suffix or '(none)'!r}; "
            "use .png, .jpg, .jpeg, .tif, .tiff or .webp",
            path=path,
        )
    return _SUFFIX_FORMATS[suffix]


def _stores_grey(fmt: str, channels: int) -> bool:
    """Whether the file holds grey samples (else RGB): grey in, grey out, except in WebP."""
    return channels <= 2 and fmt != "WEBP"


def _check_writable(
    path,
    fmt: str,
    width: int,
    height: int,
    channels: int,
    dtype: np.dtype,
    quality: int,
) -> None:
    """Refuse what the format cannot hold, and a folder that cannot take the file."""
    if int(width) != width or int(height) != height or width < 1 or height < 1:
        raise OutputError(f"invalid image size {width} x {height}", path=path)
    if channels not in (1, 2, 3, 4):
        raise OutputError(f"unsupported channel count {channels}; use 1, 2, 3 or 4", path=path)
    if dtype not in _WRITABLE_DTYPES[fmt]:
        depths = ", ".join(sorted(d.name for d in _WRITABLE_DTYPES[fmt]))
        raise OutputError(
            f"{fmt} cannot store {dtype} pixels (it takes {depths}); write PNG or TIFF to keep "
            "16-bit or float data",
            path=path,
        )
    if channels not in _WRITABLE_CHANNELS[fmt]:
        raise OutputError(
            f"alpha is not supported by {fmt}; write PNG, TIFF or WEBP to keep it", path=path
        )
    limit = _MAX_SIDE.get(fmt)
    if limit is not None and max(width, height) > limit:
        raise OutputError(
            f"{width} x {height} is larger than {fmt} allows ({limit} pixels a side); "
            "write PNG or TIFF",
            path=path,
        )
    if fmt in ("JPEG", "WEBP") and not 0 <= quality <= 100:
        raise OptionError(f"quality must be between 0 and 100, got {quality}")
    folder = os.path.dirname(os.path.abspath(os.fspath(path)))
    if not os.path.exists(folder):
        raise OutputError("output folder does not exist", path=path)
    if not os.path.isdir(folder):
        raise OutputError("output folder is not a directory", path=path)
    if os.path.isdir(path):
        raise OutputError("is a directory", path=path)


def _check_xmp_fits(path, fmt: str, xmp: bytes | None) -> None:
    """Refuse an XMP packet larger than one JPEG segment (the packet as it will be written)."""
    if fmt == "JPEG" and xmp and len(xmp) > _JPEG_MAX_XMP:
        raise OutputError(
            f"XMP packet is {len(xmp):,} bytes, more than the {_JPEG_MAX_XMP:,} a JPEG APP1 "
            "segment holds; write PNG, TIFF or WEBP to keep it",
            path=path,
        )
