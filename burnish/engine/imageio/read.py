"""The reading entry points: format identification, dispatch to a reader, one-line errors."""

from __future__ import annotations

import numpy as np
from PIL import Image

from burnish.engine.imageio.common import _one_line, _Unsupported
from burnish.engine.imageio.exif import _apply_orientation
from burnish.engine.imageio.frames import _warn_if_several_frames
from burnish.engine.imageio.meta import ImageHeader, ImageMeta
from burnish.engine.imageio.pillow_read import _pillow_format_name, _probe_pillow, _read_pillow
from burnish.engine.imageio.png_chunks import _png_is_cut_short
from burnish.engine.imageio.png_read import _probe_png, _read_png
from burnish.engine.imageio.tiff_read import _probe_tiff, _read_tiff
from burnish.errors import InputError
from burnish.files import check_regular_file

DEFAULT_MAX_PIXELS: int = 400_000_000
"""Largest input (width x height) read without ``--max-pixels``: a decompression-bomb guard."""


# --------------------------------------------------------------------------------------------
# Reading
# --------------------------------------------------------------------------------------------


def probe_image(path, *, max_pixels: int = DEFAULT_MAX_PIXELS) -> ImageHeader:
    """Read an image's size, channels and dtype from its header, without decoding pixels.

    Parameters
    ----------
    path : str or os.PathLike
        The image file.
    max_pixels : int
        Largest ``width * height`` accepted.

    Returns
    -------
    ImageHeader

    Raises
    ------
    InputError
        The file is missing, empty, not an image, unsupported, or larger than ``max_pixels``.
    """
    fmt = _identify(path)
    try:
        if fmt == "TIFF":
            header = _probe_tiff(path, max_pixels)
        elif fmt == "PNG":
            header = _probe_png(path, max_pixels)
        else:
            header = _probe_pillow(path, fmt, max_pixels)
    except InputError:
        raise
    except _Unsupported as error:
        raise InputError(str(error), path=path) from None
    except Exception as error:  # noqa: BLE001 - any decoder failure on a bad file is the file's fault
        raise _decode_error(path, fmt, error) from error
    return header


def read_image(path, *, max_pixels: int = DEFAULT_MAX_PIXELS) -> tuple[np.ndarray, ImageMeta]:
    """Decode an image file into an ``H x W x C`` array and its metadata.

    Parameters
    ----------
    path : str or os.PathLike
        A PNG, JPEG, TIFF (classic or BigTIFF) or WebP file; the format is told from the
        content, not the suffix.
    max_pixels : int
        Largest ``width * height`` accepted; checked from the header before decoding.

    Returns
    -------
    pixels : numpy.ndarray
        ``H x W x C``, C-contiguous and writable; C is 1 (grey), 2 (grey + alpha), 3 (RGB) or
        4 (RGBA). ``uint8`` for 8-bit (and 1-bit) files, ``uint16`` for 16-bit files,
        ``float32`` for float TIFFs. EXIF orientation is applied. Of an animated PNG or WebP
        or a multi-page TIFF only the first frame (page) is read, with one warning naming the
        file and the count (reduced-resolution TIFF previews are not counted). Palette
        images become RGB, or RGBA when they have transparency; 1-bit images become grey
        0/255; CMYK JPEGs become RGB (through their ICC profile when they carry one).
    meta : ImageMeta

    Raises
    ------
    InputError
        Missing, empty, truncated, corrupt or unsupported file, or more than ``max_pixels``.

    Examples
    --------
    >>> import tempfile, pathlib
    >>> from burnish.engine.imageio import write_image
    >>> target = pathlib.Path(tempfile.mkdtemp()) / "grey.png"
    >>> write_image(target, np.full((2, 3, 1), 7, np.uint16))
    >>> pixels, meta = read_image(target)
    >>> pixels.shape, pixels.dtype.name, meta.format
    ((2, 3, 1), 'uint16', 'PNG')
    """
    fmt = _identify(path)
    try:
        if fmt == "TIFF":
            pixels, meta, orientation = _read_tiff(path, max_pixels)
        elif fmt == "PNG":
            pixels, meta, orientation = _read_png(path, max_pixels)
        else:
            pixels, meta, orientation = _read_pillow(path, fmt, max_pixels)
    except InputError:
        raise
    except _Unsupported as error:
        raise InputError(str(error), path=path) from None
    except MemoryError as error:
        raise InputError("not enough memory to decode this image", path=path) from error
    except Exception as error:  # noqa: BLE001 - any decoder failure on a bad file is the file's fault
        raise _decode_error(path, fmt, error) from error
    pixels = _apply_orientation(pixels, orientation)
    _warn_if_several_frames(path, fmt)
    return pixels, meta


def _identify(path) -> str:
    """Check that ``path`` is a readable, non-empty file and tell its format from its content."""
    check_regular_file(path)
    try:
        with open(path, "rb") as file:
            head = file.read(16)
    except PermissionError:
        raise InputError("permission denied", path=path) from None
    except OSError as error:
        raise InputError(
            f"cannot read file: {_one_line(error.strerror or error)}", path=path
        ) from None
    fmt = _sniff(head)
    if fmt is None:
        other = _pillow_format_name(path)
        if other is None:
            raise InputError("not an image (unrecognised image format)", path=path)
        raise InputError(
            f"unsupported image format {other}; supported formats are PNG, JPEG, TIFF and WebP",
            path=path,
        )
    return fmt


def _sniff(head: bytes) -> str | None:
    """The format named by a file's magic bytes, if burnish reads it."""
    if head.startswith(b"\x89PNG\r\n\x1a\n"):
        return "PNG"
    if head.startswith(b"\xff\xd8\xff"):
        return "JPEG"
    if head[:4] in (b"II*\x00", b"MM\x00*", b"II+\x00", b"MM\x00+"):  # classic and BigTIFF
        return "TIFF"
    if head[:4] == b"RIFF" and head[8:12] == b"WEBP":
        return "WEBP"
    return None


def _decode_error(path, fmt: str, error: Exception) -> InputError:
    """Turn a decoder's exception into one line that says what is wrong with the file."""
    if isinstance(error, Image.DecompressionBombError):
        return InputError(f"image too large: {_one_line(error)}; raise the limit (max_pixels) if you trust this file", path=path)
    message = _one_line(error) or type(error).__name__
    lowered = message.lower()
    truncated = isinstance(error, EOFError) or any(
        word in lowered
        for word in ("truncat", "end of file", "eof", "premature", "not enough data")
    )
    if fmt == "PNG" and not truncated:
        truncated = _png_is_cut_short(path)
    if truncated:
        return InputError(f"truncated {fmt} file: {message}", path=path)
    return InputError(f"corrupt {fmt} file: {message}", path=path)
