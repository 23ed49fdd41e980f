"""The reading entry points: format identification, dispatch to a reader, one-line errors."""

from __future__ import annotations

from contextlib import contextmanager
from dataclasses import replace

import numpy as np
from PIL import Image

from burnish.engine.imageio.common import _one_line, _Unsupported
from burnish.engine.imageio.exif import _apply_orientation
from burnish.engine.imageio.frames import _warn_if_several_frames
from burnish.engine.imageio.meta import ImageHeader, ImageMeta
from burnish.engine.imageio.pillow_read import _pillow_format_name, _pillow_meta, _probe_pillow
from burnish.engine.imageio.png_chunks import _png_is_cut_short
from burnish.engine.imageio.png_read import _png_meta, _probe_png
from burnish.engine.imageio.tiff_read import _probe_tiff, _read_tiff, _streamable_tiff
from burnish.engine.imageio.vips_read import RowReader, VipsDecodeError
from burnish.errors import ImageTooLarge, InputError
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
    with open_image(path, max_pixels=max_pixels) as rows:
        return rows.read_all(), rows.meta


class ImageRows:
    """An image file opened for reading its rows top to bottom (:func:`open_image`).

    ``header`` and ``meta`` are known at once; :meth:`read` decodes the next rows. PNG, JPEG,
    WebP and plain TIFFs (grey or RGB(A), 8/16-bit or float32) stream through libvips: only
    the rows asked for are held. Other TIFFs (1-bit, white-is-0, palette, CMYK, YCbCr), and
    files whose orientation turns them, are decoded whole first and served from memory. Decoding errors are the same one-line :class:`InputError` as
    :func:`read_image`'s, raised by the :meth:`read` that meets them.
    """

    def __init__(self, path, fmt: str, header: ImageHeader, meta: ImageMeta,
                 reader: RowReader | None, pixels: np.ndarray | None):
        self.path, self.format, self.header, self.meta = path, fmt, header, meta
        self._reader, self._pixels, self._next = reader, pixels, 0

    @property
    def next_row(self) -> int:
        return self._next

    def read(self, count: int) -> np.ndarray:
        """The next ``count`` rows (fewer at the bottom): ``count x W x C``, read-only."""
        count = max(0, min(count, self.header.height - self._next))
        if self._reader is None:
            rows = self._pixels[self._next: self._next + count]
        else:
            with _decoding(self.path, self.format):
                rows = self._reader.read(count)
        self._next += count
        return rows

    def read_all(self) -> np.ndarray:
        """Every row left, as one C-contiguous, writable array."""
        if self._reader is None:
            rows = self._pixels[self._next:]
            self._next = self.header.height
            return rows if rows.flags.writeable else rows.copy()
        with _decoding(self.path, self.format):
            rows = self._reader.read_all()
        self._next = self.header.height
        return rows

    def close(self) -> None:
        if self._reader is not None:
            self._reader.close()
        self._reader = self._pixels = None

    def __enter__(self) -> ImageRows:
        return self

    def __exit__(self, *exc) -> None:
        self.close()


def open_image(path, *, max_pixels: int = DEFAULT_MAX_PIXELS) -> ImageRows:
    """Open an image file to read its rows in order, without decoding it whole.

    Checks what :func:`read_image` checks before any pixel is decoded (readable, supported,
    within ``max_pixels``) and warns likewise about further frames; see :class:`ImageRows`.

    >>> import tempfile, pathlib
    >>> from burnish.engine.imageio import write_image
    >>> target = pathlib.Path(tempfile.mkdtemp()) / "rows.png"
    >>> write_image(target, np.arange(12, dtype=np.uint8).reshape(4, 3, 1))
    >>> with open_image(target) as rows:
    ...     rows.header.height, rows.read(3)[:, 0, 0].tolist(), rows.read(3).shape
    (4, [0, 3, 6], (1, 3, 1))
    """
    fmt = _identify(path)
    with _decoding(path, fmt):
        streamable = _streamable_tiff(path, max_pixels) if fmt == "TIFF" else None
        if streamable is not None:
            rows = _open_tiff_with_vips(path, *streamable, max_pixels)
        elif fmt == "TIFF":
            pixels, meta, orientation = _read_tiff(path, max_pixels)
            pixels = _apply_orientation(pixels, orientation)
            header = ImageHeader(pixels.shape[1], pixels.shape[0], pixels.shape[2],
                                 pixels.dtype, fmt)
            rows = ImageRows(path, fmt, header, meta, None, pixels)
        else:
            rows = _open_with_vips(path, fmt, max_pixels)
    _warn_if_several_frames(path, fmt)
    return rows


def _open_tiff_with_vips(path, header: ImageHeader, meta, max_pixels: int) -> ImageRows:
    """A plain TIFF's rows from libvips as they are read; tifffile's whole read where
    libvips decodes it otherwise than burnish would (its layout is checked against the
    header first)."""
    try:
        reader = RowReader(path, header)
    except VipsDecodeError:
        pixels, meta, _ = _read_tiff(path, max_pixels)  # not turned: _streamable_tiff
        return ImageRows(path, "TIFF", header, meta, None, pixels)
    return ImageRows(path, "TIFF", header, meta, reader, None)


def _open_with_vips(path, fmt: str, max_pixels: int) -> ImageRows:
    header = _probe_png(path, max_pixels) if fmt == "PNG" else _probe_pillow(path, fmt, max_pixels)
    meta, orientation = _png_meta(path) if fmt == "PNG" else _pillow_meta(path, fmt)
    turned = orientation in (5, 6, 7, 8)
    stored = replace(header, width=header.height, height=header.width) if turned else header
    reader = RowReader(path, stored)
    if reader.converted_cmyk:
        meta = replace(meta, icc_profile=reader.profile)
    if orientation == 1:
        return ImageRows(path, fmt, header, meta, reader, None)
    try:  # a turned image's first rows are the file's last columns: decode it whole
        pixels = _apply_orientation(reader.read_all(), orientation)
    finally:
        reader.close()
    return ImageRows(path, fmt, header, meta, None, pixels)


@contextmanager
def _decoding(path, fmt: str):
    """Every decoder failure on a bad file as the one-line InputError that names it."""
    try:
        yield
    except InputError:
        raise
    except _Unsupported as error:
        raise InputError(str(error), path=path) from None
    except MemoryError as error:
        raise InputError("not enough memory to decode this image", path=path) from error
    except Exception as error:  # noqa: BLE001 - any decoder failure on a bad file is the file's fault
        raise _decode_error(path, fmt, error) from error


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
        return ImageTooLarge(f"image too large: {_one_line(error)}; raise the limit (max_pixels) if you trust this file", path=path)
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
