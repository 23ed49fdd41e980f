"""Image files in and out: PNG, JPEG, TIFF and WebP, keeping bit depth, alpha, ICC and EXIF.

Reading returns ``H x W x C`` arrays (C-contiguous, C in {1 grey, 2 grey+alpha, 3 RGB,
4 RGBA}) with the file's own bit depth: ``uint8`` for 8-bit files, ``uint16`` for 16-bit files,
``float32`` for float TIFFs (in their own range). The bit depth is decided by the file's header
and the array's dtype, never by the pixel values. EXIF orientation is applied on read.

Writing goes through :func:`open_writer`, a sink that receives rows top to bottom (one thread,
in order, no gaps) and writes a temporary file beside the target, renamed over the target only
when every row has arrived. PNG and TIFF are encoded while the rows arrive, so memory does not
grow with the image; JPEG and WebP have no streaming encoder here and keep the whole image in
memory until :meth:`ImageWriter.close`.

Every problem a user can cause with a file is raised as :class:`~burnish.errors.InputError` or
:class:`~burnish.errors.OutputError`: one line, naming the file.
"""

from __future__ import annotations

import inspect
import io
import logging
import os
import queue
import secrets
import stat
import struct
import threading
import zlib
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass

import numpy as np
import png
import tifffile
from PIL import Image, ImageCms

from burnish.errors import InputError, OptionError, OutputError

log = logging.getLogger(__name__)

DEFAULT_MAX_PIXELS: int = 400_000_000
"""Largest input (width x height) read without ``--max-pixels``: a decompression-bomb guard."""

BIGTIFF_THRESHOLD_BYTES: int = 2_000_000_000
"""Uncompressed size above which TIFF output is BigTIFF (classic TIFF offsets stop at 4 GiB)."""

TIFF_TILE: int = 256
"""Tile edge of TIFF output; the TIFF writer holds one band of this many rows."""

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

_UINT8 = np.dtype(np.uint8)
_UINT16 = np.dtype(np.uint16)
_FLOAT32 = np.dtype(np.float32)

# What each output format can hold: channel counts and dtypes. WebP has no grey mode: grey
# is written as RGB (and reads back as RGB).
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

# EXIF tags that are also plain TIFF tags of the first IFD: the part of EXIF a TIFF carries.
_TIFF_EXIF_TAGS = (270, 271, 272, 305, 306, 315, 316, 33432)
_ORIENTATION = 274
_EXIF_PREFIX = b"Exif\x00\x00"

# Pillow's decompression-bomb limit is one global: see _pillow_open.
_PILLOW_LIMIT_LOCK = threading.Lock()
_pillow_readers = 0
_pillow_saved_limit: int | None = None


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
    """

    format: str
    icc_profile: bytes | None = None
    exif: bytes | None = None
    dpi: tuple[float, float] | None = None


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
        ``float32`` for float TIFFs. EXIF orientation is applied. Palette images become RGB,
        or RGBA when they have transparency; 1-bit images become grey 0/255; CMYK JPEGs become
        RGB (through their ICC profile when they carry one).
    meta : ImageMeta

    Raises
    ------
    InputError
        Missing, empty, truncated, corrupt or unsupported file, or more than ``max_pixels``.

    Examples
    --------
    >>> import tempfile, pathlib
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
    return pixels, meta


def _identify(path) -> str:
    """Check that ``path`` is a readable, non-empty file and tell its format from its content."""
    try:
        info = os.stat(path)
    except (FileNotFoundError, NotADirectoryError):
        raise InputError("no such file", path=path) from None
    except OSError as error:
        raise InputError(
            f"cannot read file: {_one_line(error.strerror or error)}", path=path
        ) from None
    if stat.S_ISDIR(info.st_mode):
        raise InputError("is a directory, not an image file", path=path)
    if not stat.S_ISREG(info.st_mode):
        # a FIFO or a device would block or never end
        raise InputError("not a regular file", path=path)
    if info.st_size == 0:
        raise InputError("empty file", path=path)
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


def _pillow_format_name(path) -> str | None:
    """The name Pillow gives a format burnish does not read (GIF, BMP, ...), for the message."""
    try:
        with _pillow_open(path) as image:
            return image.format or None
    except Exception:  # noqa: BLE001 - anything Pillow cannot open is "not an image"
        return None


@contextmanager
def _pillow_open(path) -> Iterator[Image.Image]:
    """``Image.open`` with Pillow's own pixel limit lifted while the image is in use.

    Pillow checks its global ``MAX_IMAGE_PIXELS`` when opening, and some plugins again when
    decoding (TIFF, MPO); burnish applies its per-call ``max_pixels`` from the header instead.
    The limit is lifted while any burnish read is under way (counted, so concurrent reads
    neither serialise nor restore it early) and restored after the last one.
    """
    global _pillow_readers, _pillow_saved_limit
    with _PILLOW_LIMIT_LOCK:
        if _pillow_readers == 0:
            _pillow_saved_limit = Image.MAX_IMAGE_PIXELS
            Image.MAX_IMAGE_PIXELS = None
        _pillow_readers += 1
    try:
        with Image.open(path) as image:
            yield image
    finally:
        with _PILLOW_LIMIT_LOCK:
            _pillow_readers -= 1
            if _pillow_readers == 0:
                Image.MAX_IMAGE_PIXELS = _pillow_saved_limit


def _check_size(path, width: int, height: int, max_pixels: int) -> None:
    """Refuse absurd dimensions before any pixel is decoded."""
    if width <= 0 or height <= 0:
        raise InputError(f"invalid image size {width} x {height}", path=path)
    if width * height > max_pixels:
        raise InputError(
            f"image is {width} x {height} = {width * height:,} pixels, more than the limit of "
            f"{max_pixels:,}; raise the limit with --max-pixels if you trust this file",
            path=path,
        )


def _decode_error(path, fmt: str, error: Exception) -> InputError:
    """Turn a decoder's exception into one line that says what is wrong with the file."""
    if isinstance(error, Image.DecompressionBombError):
        return InputError(f"image too large: {_one_line(error)}; see --max-pixels", path=path)
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


def _one_line(text) -> str:
    """Collapse any message to a single line (users see exactly one line per error)."""
    return " ".join(str(text).split())


# ---- Pillow: JPEG, WebP, 8-bit PNG and the TIFFs tifffile leaves to it ----------------------


def _pillow_layout(image: Image.Image) -> tuple[str | None, int, np.dtype]:
    """How a Pillow image becomes an array: (mode to convert to or None, channels, dtype).

    Raises ``_Unsupported`` for modes burnish does not read.
    """
    mode = image.mode
    has_key = "transparency" in image.info  # a tRNS colour key or a palette alpha
    if mode == "P":
        return ("RGBA", 4, _UINT8) if has_key else ("RGB", 3, _UINT8)
    if mode in ("L", "RGB") and has_key:
        return (None, 2 if mode == "L" else 4, _UINT8)  # the key becomes alpha, see _key_to_alpha
    simple = {
        "1": ("L", 1, _UINT8),  # 0/1 bits to 0/255 grey
        "L": (None, 1, _UINT8),
        "LA": (None, 2, _UINT8),
        "La": ("LA", 2, _UINT8),
        "PA": ("RGBA", 4, _UINT8),
        "RGB": (None, 3, _UINT8),
        "RGBA": (None, 4, _UINT8),
        "RGBa": ("RGBA", 4, _UINT8),
        "RGBX": ("RGB", 3, _UINT8),
        "YCbCr": ("RGB", 3, _UINT8),
        "CMYK": ("RGB", 3, _UINT8),
        "I;16": (None, 1, _UINT16),
        "I;16L": (None, 1, _UINT16),
        "I;16B": (None, 1, _UINT16),
        "I;16N": (None, 1, _UINT16),
        "F": (None, 1, _FLOAT32),
    }
    if mode in simple:
        return simple[mode]
    if mode == "I" and image.format == "PNG":
        return (None, 1, _UINT16)  # Pillow may open 16-bit grey PNGs as 32-bit "I"
    raise _Unsupported(f"unsupported pixel mode {mode} in {image.format} file")


class _Unsupported(Exception):
    """A readable file whose pixel layout burnish does not handle."""


def _pillow_pixels(image: Image.Image) -> np.ndarray:
    """Decode a Pillow image (fully: truncation raises) into an ``H x W x C`` array."""
    target, channels, dtype = _pillow_layout(image)
    image.load()
    if target is not None:
        image = image.convert(target)
    pixels = np.asarray(image)
    if pixels.ndim == 2:
        pixels = pixels[:, :, np.newaxis]
    if "transparency" in image.info and image.mode in ("L", "RGB"):
        pixels = _key_to_alpha(pixels, image.info["transparency"])
    pixels = pixels.astype(dtype.newbyteorder("="), copy=False)  # "I;16B" is big-endian
    if not (pixels.flags.c_contiguous and pixels.flags.writeable):
        pixels = np.array(pixels, order="C")
    assert pixels.shape[2] == channels
    return pixels


def _key_to_alpha(pixels: np.ndarray, key) -> np.ndarray:
    """Add an alpha channel: 0 where a pixel equals the tRNS colour key, opaque elsewhere."""
    key = np.atleast_1d(np.asarray(key, dtype=pixels.dtype))
    opaque = np.iinfo(pixels.dtype).max
    alpha = np.where(np.all(pixels == key, axis=2), 0, opaque).astype(pixels.dtype)
    return np.concatenate([pixels, alpha[:, :, np.newaxis]], axis=2)


def _probe_pillow(path, fmt: str, max_pixels: int) -> ImageHeader:
    with _pillow_open(path) as image:
        _check_size(path, *image.size, max_pixels)
        try:
            _, channels, dtype = _pillow_layout(image)
        except _Unsupported as error:
            raise InputError(str(error), path=path) from None
        # Pillow's getexif() decodes a whole PNG to find an eXIf after the pixels: seek instead
        exif = _load_exif(_png_exif(path)) if fmt == "PNG" else _image_exif(image)
        orientation = _exif_orientation(exif)
        width, height = _oriented_size(*image.size, orientation)
    return ImageHeader(width, height, channels, dtype, fmt)


def _read_pillow(path, fmt: str, max_pixels: int) -> tuple[np.ndarray, ImageMeta, int]:
    """Read JPEG, WebP or 8-bit PNG (and TIFF layouts tifffile does not decode) with Pillow."""
    with _pillow_open(path) as source:
        _check_size(path, *source.size, max_pixels)
        try:
            _pillow_layout(source)  # refuse an unsupported mode before decoding
        except _Unsupported as error:
            raise InputError(str(error), path=path) from None
        if getattr(source, "n_frames", 1) > 1:
            log.info("%s: %d frames; reading the first", path, source.n_frames)
        source.load()  # the full decode: a truncated file raises here
        exif = _image_exif(source)  # after load: a PNG may keep its eXIf after the pixel data
        icc = source.info.get("icc_profile") or None
        image = source
        if image.mode == "CMYK":
            image, icc = _cmyk_to_rgb(image, icc)
        pixels = _pillow_pixels(image)
        meta_exif, orientation = _reset_orientation(exif)
        meta = ImageMeta(format=fmt, icc_profile=icc, exif=meta_exif, dpi=_pillow_dpi(source))
    return pixels, meta, orientation


def _cmyk_to_rgb(image: Image.Image, icc: bytes | None) -> tuple[Image.Image, bytes | None]:
    """CMYK to RGB: colour-managed to sRGB through the file's profile when it has one."""
    if icc:
        try:
            srgb = ImageCms.ImageCmsProfile(ImageCms.createProfile("sRGB"))
            source = ImageCms.ImageCmsProfile(io.BytesIO(icc))
            converted = ImageCms.profileToProfile(image, source, srgb, outputMode="RGB")
            return converted, srgb.tobytes()
        except (ImageCms.PyCMSError, OSError, ValueError) as error:
            log.warning("CMYK profile unusable (%s); converting without it", _one_line(error))
    # the CMYK profile would describe the wrong colour space once converted: drop it
    return image.convert("RGB"), None


def _pillow_dpi(image: Image.Image) -> tuple[float, float] | None:
    dpi = image.info.get("dpi")
    if not dpi or len(dpi) != 2 or not all(float(v) > 0 for v in dpi):
        return None
    # PNG stores whole pixels per metre (300 dpi comes back as 299.9994, 150 as 150.0124):
    # a tenth of a dot is within its rounding, so round it away
    digits = 1 if image.format == "PNG" else 2
    return (round(float(dpi[0]), digits), round(float(dpi[1]), digits))


# ---- PNG: Pillow for 8-bit and grey 16-bit, pypng for 16-bit colour ------------------------


def _png_ihdr(path) -> tuple[int, int, int, int]:
    """Width, height, bit depth and colour type from the IHDR chunk (bytes 16-25)."""
    with open(path, "rb") as file:
        head = file.read(33)
    if len(head) < 33 or head[12:16] != b"IHDR":
        raise InputError("corrupt PNG file: no IHDR chunk", path=path)
    width, height, bit_depth, colour_type = struct.unpack(">IIBB", head[16:26])
    return width, height, bit_depth, colour_type


def _png_chunks(path) -> Iterator[tuple[bytes, int, int]]:
    """(type, data offset, length) of each chunk, seeking past the data; stops at IEND or EOF."""
    with open(path, "rb") as file:
        size = os.fstat(file.fileno()).st_size
        file.seek(8)
        while True:
            head = file.read(8)
            if len(head) < 8:
                return
            length, kind = struct.unpack(">I4s", head)
            start = file.tell()
            yield kind, start, length
            if kind == b"IEND" or start + length + 4 > size:
                return
            file.seek(length + 4, os.SEEK_CUR)


def _png_is_cut_short(path) -> bool:
    """True when the PNG ends before its IEND chunk (or inside a chunk)."""
    try:
        size = os.path.getsize(path)
        for kind, start, length in _png_chunks(path):
            if start + length + 4 > size:
                return True
            if kind == b"IEND":
                return False
        return True
    except OSError:
        return False


def _png_exif(path) -> bytes | None:
    """The raw eXIf chunk wherever it lies (it may follow the pixel data)."""
    for kind, start, length in _png_chunks(path):
        if kind == b"eXIf":
            with open(path, "rb") as file:
                file.seek(start)
                return file.read(length)
    return None


def _png_has_trns(path) -> bool:
    return any(kind == b"tRNS" for kind, _, _ in _png_chunks(path))


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
    return pixels, ImageMeta(format="PNG", icc_profile=icc, exif=meta_exif, dpi=dpi), orientation


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


# ---- TIFF: tifffile for grey/RGB(A) of 1, 8, 16 bits and float; Pillow for the rest --------


def _tifffile_layout(page) -> tuple[int, np.dtype] | None:
    """(channels, dtype) when tifffile can decode this page directly, else None (use Pillow)."""
    photometric = int(page.photometric)
    samples = int(page.samplesperpixel)
    if page.imagedepth != 1 or page.dtype is None:
        return None
    if photometric in (0, 1):  # MINISWHITE, MINISBLACK
        if samples not in (1, 2):
            return None
    elif photometric == 2:  # RGB
        if samples not in (3, 4):
            return None
    else:
        return None  # palette, CMYK, YCbCr, CIELab, ...: Pillow converts those to RGB
    dtype = np.dtype(page.dtype)
    if dtype == np.bool_ or dtype == _UINT8:
        return samples, _UINT8
    if dtype == _UINT16:
        return samples, _UINT16
    if dtype.kind == "f" and dtype.itemsize <= 4:
        return samples, _FLOAT32
    raise _Unsupported(f"unsupported TIFF sample type {dtype} ({page.bitspersample}-bit)")


def _tiff_orientation(page) -> int:
    tag = page.tags.get(_ORIENTATION)
    value = int(tag.value) if tag is not None else 1
    return value if 1 <= value <= 8 else 1


def _probe_tiff(path, max_pixels: int) -> ImageHeader:
    with tifffile.TiffFile(path) as tif:
        page = tif.pages[0]
        _check_size(path, page.imagewidth, page.imagelength, max_pixels)
        try:
            layout = _tifffile_layout(page)
        except _Unsupported as error:
            raise InputError(str(error), path=path) from None
        if layout is None:
            return _probe_pillow(path, "TIFF", max_pixels)
        width, height = _oriented_size(page.imagewidth, page.imagelength, _tiff_orientation(page))
    return ImageHeader(width, height, layout[0], layout[1], "TIFF")


def _read_tiff(path, max_pixels: int) -> tuple[np.ndarray, ImageMeta, int]:
    with tifffile.TiffFile(path) as tif:
        page = tif.pages[0]
        _check_size(path, page.imagewidth, page.imagelength, max_pixels)
        if len(tif.pages) > 1:
            log.info("%s: several pages; reading the first", path)
        try:
            layout = _tifffile_layout(page)
        except _Unsupported as error:
            raise InputError(str(error), path=path) from None
        icc = _tiff_tag_bytes(page, 34675)
        if layout is None:
            pixels, pillow_meta, _ = _read_pillow(path, "TIFF", max_pixels)
            icc = pillow_meta.icc_profile  # a CMYK profile is replaced once converted to RGB
        else:
            _check_tiff_complete(path, page)
            try:
                pixels = _tifffile_pixels(page)
            except (ValueError, NotImplementedError, KeyError) as error:
                pixels = _read_tiff_with_pillow(path, page, layout, error, max_pixels)
        # Pillow's TIFF reader does not rotate either: orientation comes from the tag
        meta_exif, orientation = _reset_orientation(_tiff_exif(page))
        meta = ImageMeta(format="TIFF", icc_profile=icc, exif=meta_exif, dpi=_tiff_dpi(page))
    return pixels, meta, orientation


def _read_tiff_with_pillow(path, page, layout, error: Exception, max_pixels: int) -> np.ndarray:
    """Decode with Pillow what tifffile cannot (a compression that needs imagecodecs: LZW, JPEG).

    Pillow's libtiff decodes those, but only some layouts at full depth: anything it would
    return with fewer bits or other channels is refused rather than silently changed.
    """
    log.debug("tifffile cannot decode %s (%s); trying Pillow", path, error)
    try:
        pixels, _, _ = _read_pillow(path, "TIFF", max_pixels)
    except Exception:  # noqa: BLE001 - tifffile's reason is the more precise one
        pixels = None
    if pixels is None or (pixels.shape[2], pixels.dtype) != layout:
        compression = getattr(page.compression, "name", page.compression)
        raise InputError(
            f"unsupported TIFF: {compression} compression of {layout[0]} x "
            f"{page.bitspersample}-bit samples needs the imagecodecs package "
            f"({_one_line(error)})",
            path=path,
        ) from error
    return pixels


def _check_tiff_complete(path, page) -> None:
    """A truncated TIFF would decode its missing strips as zeros: refuse it from the offsets."""
    size = os.path.getsize(path)
    ends = [o + n for o, n in zip(page.dataoffsets, page.databytecounts) if n]
    if ends and max(ends) > size:
        raise InputError("truncated TIFF file: pixel data runs past the end of the file", path=path)


def _tifffile_pixels(page) -> np.ndarray:
    """Decode one page to ``H x W x C`` in burnish's conventions (black is 0, 1-bit is 0/255)."""
    pixels = page.asarray()
    if page.axes.startswith("S"):  # planar: one plane per sample
        pixels = np.moveaxis(pixels, 0, -1)
    if pixels.ndim == 2:
        pixels = pixels[:, :, np.newaxis]
    if pixels.dtype == np.bool_:
        pixels = pixels.astype(_UINT8) * np.uint8(255)
    elif pixels.dtype.kind == "f":
        pixels = pixels.astype(_FLOAT32, copy=False)
    if int(page.photometric) == 0:  # MINISWHITE: 0 is white
        grey = pixels[:, :, :1]
        grey[...] = (1.0 - grey) if grey.dtype.kind == "f" else np.iinfo(grey.dtype).max - grey
    if int(page.photometric) == 2 and pixels.shape[2] == 4 and _tiff_premultiplied(page):
        log.warning("TIFF has premultiplied alpha; it is read as is (not un-premultiplied)")
    pixels = pixels.astype(pixels.dtype.newbyteorder("="), copy=False)
    return np.ascontiguousarray(pixels)


def _tiff_premultiplied(page) -> bool:
    return any(int(kind) == 1 for kind in page.extrasamples)


def _tiff_tag_bytes(page, code: int) -> bytes | None:
    tag = page.tags.get(code)
    if tag is None:
        return None
    value = tag.value
    return bytes(value) if len(value) else None


def _tiff_dpi(page) -> tuple[float, float] | None:
    """Resolution in dots per inch from XResolution/YResolution and ResolutionUnit."""
    tags = page.tags
    if 282 not in tags or 283 not in tags:
        return None
    unit = int(tags[296].value) if 296 in tags else 2
    per_inch = {2: 1.0, 3: 2.54}.get(unit)  # 1 means "no absolute unit"
    if per_inch is None:
        return None
    values = []
    for code in (282, 283):
        numerator, denominator = tags[code].value
        if not denominator or not numerator:
            return None
        values.append(round(numerator / denominator * per_inch, 2))
    return (values[0], values[1])


def _tiff_exif(page) -> Image.Exif | None:
    """The EXIF a TIFF carries in its first IFD (Make, Model, Software, ... and orientation)."""
    exif = Image.Exif()
    for code in (*_TIFF_EXIF_TAGS, _ORIENTATION):
        tag = page.tags.get(code)
        if tag is not None:
            value = tag.value
            if isinstance(value, bytes):
                value = value.decode("utf-8", "replace")
            exif[code] = int(value) if code == _ORIENTATION else value  # not tifffile's enum
    return exif


# ---- EXIF and orientation -------------------------------------------------------------------


def _load_exif(data: bytes | None) -> Image.Exif:
    """Parse an EXIF block; unreadable EXIF is dropped (with a warning), never fatal."""
    exif = Image.Exif()
    if data:
        try:
            exif.load(data)
        except Exception as error:  # noqa: BLE001 - the pixels matter more than the tags
            log.warning("ignoring unreadable EXIF: %s", _one_line(error))
            return Image.Exif()
    return exif


def _image_exif(image: Image.Image) -> Image.Exif:
    """``image.getexif()``, or no EXIF when it cannot be parsed."""
    try:
        return image.getexif()
    except Exception as error:  # noqa: BLE001 - the pixels matter more than the tags
        log.warning("ignoring unreadable EXIF: %s", _one_line(error))
        return Image.Exif()


def _exif_orientation(exif: Image.Exif) -> int:
    value = exif.get(_ORIENTATION, 1)
    return value if isinstance(value, int) and 1 <= value <= 8 else 1


def _reset_orientation(exif: Image.Exif | None) -> tuple[bytes | None, int]:
    """The EXIF bytes to keep (orientation reset to 1) and the orientation to apply."""
    if exif is None or not len(exif):
        return None, 1
    orientation = _exif_orientation(exif)
    if _ORIENTATION in exif:
        exif[_ORIENTATION] = 1
    try:
        return exif.tobytes(), orientation
    except Exception as error:  # noqa: BLE001 - e.g. a maker note Pillow cannot write back
        log.warning("dropping EXIF that cannot be re-encoded: %s", _one_line(error))
        return None, orientation


def _oriented_size(width: int, height: int, orientation: int) -> tuple[int, int]:
    return (height, width) if orientation >= 5 else (width, height)


def _apply_orientation(pixels: np.ndarray, orientation: int) -> np.ndarray:
    """Rotate/flip ``H x W x C`` pixels as EXIF orientation asks (as Pillow's exif_transpose)."""
    if orientation == 1:
        return pixels
    transforms = {
        2: lambda a: a[:, ::-1],  # mirrored left-right
        3: lambda a: a[::-1, ::-1],  # rotated 180
        4: lambda a: a[::-1],  # mirrored top-bottom
        5: lambda a: a.transpose(1, 0, 2),  # transposed
        6: lambda a: np.rot90(a, -1),  # needs 90 degrees clockwise
        7: lambda a: a[::-1, ::-1].transpose(1, 0, 2),  # transversed
        8: lambda a: np.rot90(a, 1),  # needs 90 degrees counter-clockwise
    }
    return np.ascontiguousarray(transforms[orientation](pixels))


# --------------------------------------------------------------------------------------------
# Writing
# --------------------------------------------------------------------------------------------


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


def open_writer(
    path,
    *,
    width: int,
    height: int,
    channels: int,
    dtype,
    meta: ImageMeta | None = None,
    format: str | None = None,  # noqa: A002 - the interface's name
    quality: int = 95,
) -> ImageWriter:
    """Open a row sink that writes an image file atomically.

    Parameters
    ----------
    path : str or os.PathLike
        The target file; it appears only when :meth:`ImageWriter.close` succeeds.
    width, height, channels : int
        The image to be written; ``channels`` is 1, 2, 3 or 4 (grey, grey + alpha, RGB, RGBA).
    dtype : numpy dtype
        ``uint8``; ``uint16`` for PNG and TIFF; ``float32`` for TIFF. The file's bit depth
        follows the dtype, never the values.
    meta : ImageMeta, optional
        ICC profile, EXIF and dpi to embed. TIFF keeps only the EXIF tags that are plain TIFF
        tags (ImageDescription, Make, Model, Software, DateTime, Artist, HostComputer,
        Copyright): the Exif sub-IFD (camera settings) and GPS are dropped. WebP has no dpi.
    format : str, optional
        Overrides the format told from the suffix (see :func:`output_format`).
    quality : int
        JPEG and WebP quality, 0-100. JPEG uses 4:4:4 chroma at 90 and above; WebP is lossless
        at 100. PNG and TIFF are lossless and ignore it.

    Returns
    -------
    ImageWriter
        Use as a context manager, feeding ``write_rows`` top to bottom.

    Raises
    ------
    OutputError
        Unknown format, a dtype or channel count the format cannot hold (16-bit JPEG/WebP,
        alpha in JPEG), a size past the format's limits, or an output folder that is missing
        or not writable. Raised before any pixel is encoded.
    """
    fmt = output_format(path, format)
    dtype = np.dtype(dtype)
    _check_writable(path, fmt, width, height, channels, dtype, quality)
    meta = meta if meta is not None else ImageMeta(format=fmt)
    temp_path, file = _create_temp(path)
    try:
        encoder = _make_encoder(fmt, file, width, height, channels, dtype, meta, quality)
    except BaseException as error:
        file.close()
        _remove_quietly(temp_path)
        if isinstance(error, Exception) and not isinstance(error, OutputError):
            raise OutputError(f"cannot start writing: {_one_line(error)}", path=path) from error
        raise
    return ImageWriter(path, temp_path, file, encoder, fmt, width, height, channels, dtype)


def write_image(
    path,
    pixels: np.ndarray,
    *,
    meta: ImageMeta | None = None,
    format: str | None = None,  # noqa: A002 - the interface's name
    quality: int = 95,
) -> None:
    """Write a whole ``H x W x C`` (or ``H x W`` grey) array to ``path`` atomically.

    A convenience over :func:`open_writer` (same parameters and errors); the bit depth
    follows ``pixels.dtype``.
    """
    pixels = np.asarray(pixels)
    if pixels.ndim == 2:
        pixels = pixels[:, :, np.newaxis]
    if pixels.ndim != 3:
        raise ValueError(f"pixels must be H x W x C, got shape {pixels.shape}")
    height, width, channels = pixels.shape
    with open_writer(
        path,
        width=width,
        height=height,
        channels=channels,
        dtype=pixels.dtype,
        meta=meta,
        format=format,
        quality=quality,
    ) as writer:
        writer.write_rows(pixels)


class ImageWriter:
    """A sink for rows of one image file; made by :func:`open_writer`.

    Contract: ``write_rows`` is called from one thread, rows top to bottom with no gaps, each
    call a ``k x width x channels`` array of the declared dtype (copied: the caller may reuse
    it). The file is written to a temporary name beside the target and renamed over it by
    :meth:`close` only once all ``height`` rows arrived; :meth:`abort` (or any failure) removes
    the temporary file, so the target never holds a partial image. As a context manager it
    closes on success and aborts on an exception.
    """

    def __init__(
        self,
        path,
        temp_path: str,
        file,
        encoder,
        fmt: str,
        width: int,
        height: int,
        channels: int,
        dtype: np.dtype,
    ):
        self.path = os.fspath(path)
        self.format = fmt
        self.width = width
        self.height = height
        self.channels = channels
        self.dtype = dtype
        self.rows_written = 0
        self._temp_path = temp_path
        self._file = file
        self._encoder = encoder
        self._state = "open"  # then "closed" or "aborted"

    def __enter__(self) -> ImageWriter:
        return self

    def __exit__(self, kind, value, traceback) -> None:
        if kind is None:
            self.close()
        else:
            self.abort()

    def __del__(self) -> None:
        # a writer dropped without close() or abort(): stop its thread, remove its temp file
        if getattr(self, "_state", None) == "open":
            log.warning("%s: writer dropped before close(); nothing was saved", self.path)
            self.abort()

    def write_rows(self, rows: np.ndarray) -> None:
        """Append ``rows`` (``k x width x channels``, the declared dtype) below the last ones.

        Raises
        ------
        ValueError
            Wrong shape or dtype (a bug in the caller; the writer stays usable).
        OutputError
            More rows than ``height``, or the encoder or disk failed (the writer is aborted).
        """
        self._require_open()
        rows = np.asarray(rows)
        if rows.ndim != 3 or rows.shape[1:] != (self.width, self.channels):
            raise ValueError(
                f"rows must be k x {self.width} x {self.channels}, got shape {rows.shape}"
            )
        if rows.dtype.newbyteorder("=") != self.dtype:  # either byte order is fine
            raise ValueError(f"rows must be {self.dtype}, got {rows.dtype}")
        if self.rows_written + rows.shape[0] > self.height:
            self.abort()
            raise OutputError(
                f"more rows than the image height {self.height}; nothing was saved", path=self.path
            )
        if rows.shape[0] == 0:
            return
        self._run(self._encoder.write, np.ascontiguousarray(rows))
        self.rows_written += rows.shape[0]

    def close(self) -> None:
        """Finish the file and rename it over the target.

        Raises
        ------
        OutputError
            Fewer than ``height`` rows were written, or encoding or renaming failed; the
            temporary file is removed and the target is left as it was.
        """
        if self._state == "closed":
            return
        self._require_open()
        if self.rows_written != self.height:
            self.abort()
            raise OutputError(
                f"only {self.rows_written} of {self.height} rows were written; nothing was saved",
                path=self.path,
            )
        self._run(self._encoder.finish)
        self._run(self._sync_and_close)
        self._run(os.replace, self._temp_path, self.path)
        self._state = "closed"
        log.debug(
            "wrote %s (%d x %d x %d %s)",
            self.path,
            self.width,
            self.height,
            self.channels,
            self.dtype,
        )

    def abort(self) -> None:
        """Stop writing and remove the temporary file; the target is left as it was."""
        if self._state != "open":
            return
        self._state = "aborted"
        try:
            self._encoder.abort()
        finally:
            self._file.close()
            _remove_quietly(self._temp_path)

    def _sync_and_close(self) -> None:
        # on disk before the rename, so a crash leaves the old file or the new one, not an empty one
        self._file.flush()
        os.fsync(self._file.fileno())
        self._file.close()

    def _require_open(self) -> None:
        if self._state != "open":
            raise OutputError(f"the writer was already {self._state}", path=self.path)

    def _run(self, action, *args) -> None:
        """Run one step; on any failure abort, and report it as an OutputError."""
        try:
            action(*args)
        except BaseException as error:
            self.abort()
            if isinstance(error, OutputError) or not isinstance(error, Exception):
                raise
            reason = _one_line(getattr(error, "strerror", None) or error) or type(error).__name__
            raise OutputError(
                f"cannot write {self.format} file: {reason}", path=self.path
            ) from error


def _check_writable(
    path, fmt: str, width: int, height: int, channels: int, dtype: np.dtype, quality: int
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


def _create_temp(path) -> tuple[str, io.BufferedRandom]:
    """Create the temporary file beside ``path``, with the permissions a new file gets."""
    folder, name = os.path.split(os.path.abspath(os.fspath(path)))
    temp_path = os.path.join(folder, f".{name}.partial-{secrets.token_hex(4)}")

    def exclusive(name, flags):
        # O_EXCL: never reuse a file; mode 0o666 and the umask, like any new file (mkstemp
        # would make it owner-only)
        return os.open(name, flags | os.O_EXCL, 0o666)

    try:
        # a named file object: tifffile wants its name
        file = open(temp_path, "w+b", opener=exclusive)  # noqa: SIM115 - the writer closes it
    except PermissionError:
        raise OutputError(
            "cannot write to the output folder: permission denied", path=path
        ) from None
    except OSError as error:
        raise OutputError(
            f"cannot write to the output folder: {_one_line(error.strerror or error)}", path=path
        ) from None
    return temp_path, file


def _remove_quietly(path: str) -> None:
    try:
        os.remove(path)
    except FileNotFoundError:
        pass
    except OSError as error:
        log.warning("cannot remove temporary file %s: %s", path, error)


def _make_encoder(fmt, file, width, height, channels, dtype, meta: ImageMeta, quality: int):
    icc = meta.icc_profile if _icc_fits(meta.icc_profile, channels) else None
    if fmt == "PNG":
        return _PngEncoder(file, width, height, channels, dtype, icc, meta.exif, meta.dpi)
    if fmt == "TIFF":
        return _TiffEncoder(file, width, height, channels, dtype, icc, meta.exif, meta.dpi)
    return _PillowEncoder(
        file, fmt, width, height, channels, dtype, icc, meta.exif, meta.dpi, quality
    )


def _icc_fits(icc: bytes | None, channels: int) -> bool:
    """An ICC profile's colour space (bytes 16-19) must match grey or RGB output."""
    if not icc:
        return False
    space = icc[16:20]
    fits = space == (b"GRAY" if channels <= 2 else b"RGB ")
    if not fits:
        log.warning(
            "dropping an ICC profile for colour space %r from a %d-channel output", space, channels
        )
    return fits


def _exif_body(exif: bytes) -> bytes:
    """EXIF without the ``Exif\\0\\0`` prefix: the bare TIFF structure PNG's eXIf holds."""
    return exif[len(_EXIF_PREFIX) :] if exif.startswith(_EXIF_PREFIX) else exif


def _exif_with_prefix(exif: bytes) -> bytes:
    """EXIF with the ``Exif\\0\\0`` prefix, as JPEG's APP1 segment (and Pillow) expect."""
    return exif if exif.startswith(_EXIF_PREFIX) else _EXIF_PREFIX + exif


# ---- PNG: streamed, one zlib stream across all rows -----------------------------------------


class _PngEncoder:
    """Streams rows into a PNG: rows are Paeth-filtered and deflated as they arrive.

    pypng writes the header (``Writer.write_preamble``) and every chunk (``png.write_chunk``);
    the IDAT stream is fed here directly instead of through ``Writer.write_packed``, which
    would have to pull rows from a generator in a second thread. Memory: one row of state and
    a few MiB of work space, whatever the image size. ICC (iCCP) and EXIF (eXIf), which pypng
    does not write, follow IHDR (and pHYs) as the PNG specification wants, before any IDAT.
    """

    IDAT_BYTES = 1 << 20  # compressed bytes per IDAT chunk
    WORK_BYTES = 1 << 20  # raw bytes filtered at once: the int16 temporaries stay ~20 MiB

    def __init__(self, file, width, height, channels, dtype, icc, exif, dpi):
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


# ---- TIFF: streamed, tiled, tifffile in a writer thread -------------------------------------


class _WriterAborted(Exception):
    """Raised inside the TIFF writer thread to stop tifffile when the writer is aborted."""


# older tifffile releases (the project allows 2023.7) have no ``buffersize``
_TIFF_WRITE_HAS_BUFFERSIZE = "buffersize" in inspect.signature(tifffile.TiffWriter.write).parameters


class _TiffEncoder:
    """Streams rows into a tiled TIFF written by tifffile in a second thread.

    tifffile takes an iterator of tiles; rows are collected into a band of ``TIFF_TILE`` rows,
    and each full band goes through a small bounded queue to the thread, where the iterator
    cuts it into tiles. Memory: a few bands. Tiles are deflate-compressed with the horizontal
    predictor (integers), which tifffile does with the standard library's zlib, no imagecodecs
    needed. The output is BigTIFF when its uncompressed size passes ``BIGTIFF_THRESHOLD_BYTES``.
    EXIF: only the tags that are also TIFF tags are kept (see :func:`open_writer`).
    """

    QUEUE_BANDS = 2
    POLL_SECONDS = 0.1

    def __init__(self, file, width, height, channels, dtype, icc, exif, dpi):
        self._width = width
        self._height = height
        self._channels = channels
        self._dtype = dtype
        self._band = self._new_band()
        self._band_rows = 0
        self._queue: queue.Queue = queue.Queue(maxsize=self.QUEUE_BANDS)
        self._aborted = threading.Event()
        self._error: BaseException | None = None
        options = self._options(icc, exif, dpi)
        self._thread = threading.Thread(
            target=self._run, args=(file, options), name="burnish-tiff-writer", daemon=True
        )
        self._thread.start()

    def _options(self, icc, exif, dpi) -> dict:
        uncompressed = self._width * self._height * self._channels * self._dtype.itemsize
        options = dict(
            # one sample: a 2-D shape, else tifffile reads the trailing 1 as the image width
            shape=(self._height, self._width) + ((self._channels,) if self._channels > 1 else ()),
            dtype=self._dtype,
            tile=(TIFF_TILE, TIFF_TILE),
            photometric="minisblack" if self._channels <= 2 else "rgb",
            planarconfig="contig" if self._channels > 1 else None,
            extrasamples=["unassalpha"] if self._channels in (2, 4) else None,
            compression="zlib",
            compressionargs={"level": 6},
            # the floating-point predictor would need imagecodecs
            predictor=self._dtype.kind == "u",
            bigtiff=uncompressed > BIGTIFF_THRESHOLD_BYTES,
            iccprofile=icc,
            metadata=None,  # no tifffile JSON in ImageDescription
            software=False,
            extratags=_tiff_exif_tags(exif),
            maxworkers=min(4, os.cpu_count() or 1),
        )
        if _TIFF_WRITE_HAS_BUFFERSIZE:  # bounds how many tiles tifffile pulls ahead to compress
            options["buffersize"] = 8 << 20
        if dpi:
            options.update(resolution=(float(dpi[0]), float(dpi[1])), resolutionunit="INCH")
        return options

    def _new_band(self) -> np.ndarray:
        return np.empty((min(TIFF_TILE, self._height), self._width, self._channels), self._dtype)

    def write(self, rows: np.ndarray) -> None:
        while rows.shape[0]:
            take = min(rows.shape[0], self._band.shape[0] - self._band_rows)
            self._band[self._band_rows : self._band_rows + take] = rows[:take]
            self._band_rows += take
            rows = rows[take:]
            if self._band_rows == self._band.shape[0]:
                self._send(self._band)
                self._band = self._new_band()
                self._band_rows = 0

    def finish(self) -> None:
        if self._band_rows:
            self._send(self._band[: self._band_rows])  # the last, shorter band
        self._thread.join()
        self._raise_writer_error()

    def abort(self) -> None:
        self._aborted.set()
        self._thread.join(timeout=60)

    def _send(self, band: np.ndarray) -> None:
        """Hand a band to the writer thread, without waiting forever if the thread died."""
        while True:
            self._raise_writer_error()
            if not self._thread.is_alive():
                raise RuntimeError("TIFF writer stopped unexpectedly")
            try:
                self._queue.put(band, timeout=self.POLL_SECONDS)
                return
            except queue.Full:
                continue

    def _raise_writer_error(self) -> None:
        if self._error is not None:
            raise self._error

    def _run(self, file, options: dict) -> None:
        try:
            tifffile.imwrite(file, self._tiles(), **options)
        except _WriterAborted:
            pass
        except BaseException as error:  # noqa: BLE001 - handed to the caller's thread
            self._error = error

    def _tiles(self) -> Iterator[np.ndarray]:
        """Tiles in TIFF order (left to right, then top to bottom), one band at a time."""
        for _ in range(0, self._height, TIFF_TILE):
            band = self._receive()
            for x in range(0, self._width, TIFF_TILE):
                tile = band[:, x : x + TIFF_TILE]  # tifffile zero-pads tiles cut by the edges
                yield tile if self._channels > 1 else tile[:, :, 0]

    def _receive(self) -> np.ndarray:
        while True:
            if self._aborted.is_set():
                raise _WriterAborted
            try:
                return self._queue.get(timeout=self.POLL_SECONDS)
            except queue.Empty:
                continue


def _tiff_exif_tags(exif: bytes | None) -> list[tuple]:
    """tifffile ``extratags`` for the EXIF tags that are plain TIFF tags (strings)."""
    if not exif:
        return []
    try:
        loaded = _load_exif(_exif_with_prefix(exif))
    except Exception as error:  # noqa: BLE001 - bad EXIF is dropped, not fatal
        log.warning("dropping unreadable EXIF: %s", _one_line(error))
        return []
    tags = []
    for code in _TIFF_EXIF_TAGS:
        value = loaded.get(code)
        if isinstance(value, bytes):
            value = value.rstrip(b"\x00").decode("utf-8", "replace")
        if isinstance(value, str) and value:
            tags.append((code, "s", 0, value.encode("utf-8"), True))
    return tags


# ---- JPEG and WebP: buffered, encoded by Pillow at close ------------------------------------


class _PillowEncoder:
    """Buffers the whole image, then encodes it with Pillow in :meth:`finish`.

    Neither format has a streaming encoder available here, so memory is the size of the output
    image. Grey (and grey + alpha) is written to WebP as RGB (RGBA): WebP has no grey mode.
    """

    def __init__(self, file, fmt, width, height, channels, dtype, icc, exif, dpi, quality):
        self._file = file
        self._format = fmt
        self._pixels = np.empty((height, width, channels), dtype=dtype)
        self._rows = 0
        options: dict = {}
        if icc:
            options["icc_profile"] = icc
        if exif:
            options["exif"] = _exif_with_prefix(exif)
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
        if self._format == "WEBP" and image.mode in ("L", "LA"):
            image = image.convert("RGB" if image.mode == "L" else "RGBA")
        image.save(self._file, format=self._format, **self._options)
        self._pixels = None

    def abort(self) -> None:
        self._pixels = None
