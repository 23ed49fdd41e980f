"""Reading through Pillow, and the guard around Pillow's global decompression-bomb limit."""

from __future__ import annotations

import io
import threading
from collections.abc import Iterator
from contextlib import contextmanager

import numpy as np
from PIL import Image, ImageCms

from burnish.engine.imageio.common import (
    _FLOAT32,
    _UINT8,
    _UINT16,
    _one_line,
    _Unsupported,
    check_size,
    log,
)
from burnish.engine.imageio.exif import (
    _exif_orientation,
    _image_exif,
    _load_exif,
    _oriented_size,
    _reset_orientation,
)
from burnish.engine.imageio.meta import ImageHeader, ImageMeta
from burnish.engine.imageio.png_chunks import _png_exif, _png_xmp
from burnish.errors import InputError

# Pillow's decompression-bomb limit is one global: see _pillow_open.
_PILLOW_LIMIT_LOCK = threading.Lock()
_pillow_readers = 0
_pillow_saved_limit: int | None = None


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
        check_size(path, *image.size, max_pixels)
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
        check_size(path, *source.size, max_pixels)
        try:
            _pillow_layout(source)  # refuse an unsupported mode before decoding
        except _Unsupported as error:
            raise InputError(str(error), path=path) from None
        source.load()  # the full decode: a truncated file raises here
        exif = _image_exif(source)  # after load: a PNG may keep its eXIf after the pixel data
        icc = source.info.get("icc_profile") or None
        image = source
        if image.mode == "CMYK":
            image, icc = _cmyk_to_rgb(image, icc)
        pixels = _pillow_pixels(image)
        meta_exif, orientation = _reset_orientation(exif)
        meta = ImageMeta(
            format=fmt,
            icc_profile=icc,
            exif=meta_exif,
            dpi=_pillow_dpi(source),
            xmp=_pillow_xmp(path, source),
        )
    return pixels, meta, orientation


def _pillow_meta(path, fmt: str) -> tuple[ImageMeta, int]:
    """The metadata of a JPEG or WebP (from its header, no pixel decoded), and the EXIF
    orientation the pixels still need."""
    with _pillow_open(path) as source:
        exif, orientation = _reset_orientation(_image_exif(source))
        meta = ImageMeta(format=fmt, icc_profile=source.info.get("icc_profile") or None,
                         exif=exif, dpi=_pillow_dpi(source), xmp=_pillow_xmp(path, source))
    return meta, orientation


def _exif_dpi(image: Image.Image) -> tuple[float, float] | None:
    """A JPEG's resolution from its EXIF (XResolution, YResolution, ResolutionUnit), for
    files without a JFIF segment (libvips writes none): Pillow's own ``dpi`` then repeats
    the horizontal resolution for both."""
    exif = _image_exif(image)
    if exif is None or 282 not in exif or 283 not in exif:
        return None
    per_unit = {2: 1.0, 3: 2.54}.get(exif.get(296, 2))
    if per_unit is None:
        return None
    try:
        return float(exif[282]) * per_unit, float(exif[283]) * per_unit
    except (TypeError, ValueError, ZeroDivisionError):
        return None


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


def _pillow_xmp(path, image: Image.Image) -> bytes | None:
    """The raw XMP packet: Pillow's for JPEG (APP1) and WebP (``XMP `` chunk), ours for PNG.

    Pillow's PNG reader sees only the iTXt chunks before the pixel data; the XMP may follow it.
    """
    if image.format == "PNG":
        return _png_xmp(path)
    return image.info.get("xmp") or None


def _pillow_dpi(image: Image.Image) -> tuple[float, float] | None:
    dpi = image.info.get("dpi")
    if image.format == "JPEG" and "jfif_density" not in image.info:
        dpi = _exif_dpi(image) or dpi
    if not dpi or len(dpi) != 2 or not all(float(v) > 0 for v in dpi):
        return None
    # PNG stores whole pixels per metre (300 dpi comes back as 299.9994, 150 as 150.0124):
    # a tenth of a dot is within its rounding, so round it away
    digits = 1 if image.format == "PNG" else 2
    return (round(float(dpi[0]), digits), round(float(dpi[1]), digits))
