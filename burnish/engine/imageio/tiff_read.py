"""Reading TIFF (classic and BigTIFF) with tifffile, falling back to Pillow."""

from __future__ import annotations

import os
from contextlib import contextmanager

import numpy as np
import tifffile
from PIL import Image

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
    _ORIENTATION,
    _TIFF_EXIF_TAGS,
    _oriented_size,
    _reset_orientation,
)
from burnish.engine.imageio.meta import ImageHeader, ImageMeta
from burnish.engine.imageio.pillow_read import _probe_pillow, _read_pillow
from burnish.errors import InputError

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


@contextmanager
def _first_page(path, max_pixels: int):
    """The file's first page and its tifffile layout (None: Pillow's), once its size is
    within ``max_pixels`` and its samples are a type burnish reads."""
    with tifffile.TiffFile(path) as tif:
        page = tif.pages[0]
        check_size(path, page.imagewidth, page.imagelength, max_pixels)
        try:
            layout = _tifffile_layout(page)
        except _Unsupported as error:
            raise InputError(str(error), path=path) from None
        yield page, layout


def _tiff_meta(page, icc: bytes | None) -> tuple[ImageMeta, int]:
    """The page's metadata (EXIF with its orientation reset) and that orientation."""
    meta_exif, orientation = _reset_orientation(_tiff_exif(page))
    return ImageMeta(format="TIFF", icc_profile=icc, exif=meta_exif, dpi=_tiff_dpi(page),
                     xmp=_tiff_xmp(page)), orientation


def _probe_tiff(path, max_pixels: int) -> ImageHeader:
    with _first_page(path, max_pixels) as (page, layout):
        if layout is None:
            return _probe_pillow(path, "TIFF", max_pixels)
        width, height = _oriented_size(page.imagewidth, page.imagelength, _tiff_orientation(page))
    return ImageHeader(width, height, layout[0], layout[1], "TIFF")


def _streamable_tiff(path, max_pixels: int) -> tuple[ImageHeader, ImageMeta] | None:
    """The header and metadata of a TIFF that libvips can give row by row as burnish would
    read it whole: grey or RGB(A) (black is 0), 8, 16 or 32-bit float samples, not turned,
    complete; else None (the caller reads it whole). libvips reads these as they are stored;
    the rest (1-bit, white-is-0, palette, CMYK, YCbCr, a turned image) keep the whole-image
    path, which converts them as burnish always has."""
    with _first_page(path, max_pixels) as (page, layout):
        if (layout is None or int(page.photometric) == 0 or _tiff_orientation(page) != 1
                or np.dtype(page.dtype) == np.bool_
                or np.dtype(page.dtype).itemsize != layout[1].itemsize):
            return None
        _check_tiff_complete(path, page)
        if int(page.photometric) == 2 and layout[0] == 4 and _tiff_premultiplied(page):
            log.warning("TIFF has premultiplied alpha; it is read as is (not un-premultiplied)")
        header = ImageHeader(page.imagewidth, page.imagelength, layout[0], layout[1], "TIFF")
        meta, _ = _tiff_meta(page, _tiff_tag_bytes(page, 34675))
    return header, meta


def _read_tiff(path, max_pixels: int) -> tuple[np.ndarray, ImageMeta, int]:
    with _first_page(path, max_pixels) as (page, layout):
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
        meta, orientation = _tiff_meta(page, icc)
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


_XMP_PACKET = 700


def _tiff_xmp(page) -> bytes | None:
    """The XMP packet of tag 700 (XMLPacket), as stored.

    The standard type is BYTE (or UNDEFINED), which tifffile returns as bytes; a writer that
    chose ASCII gets a str back (tifffile decodes UTF-8 first), encoded here to UTF-8 again.
    """
    tag = page.tags.get(_XMP_PACKET)
    if tag is None:
        return None
    value = tag.value
    if isinstance(value, str):
        value = value.encode("utf-8")
    return bytes(value) or None


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


_IMAGE_DESCRIPTION = 270


def _tiff_exif(page) -> Image.Exif | None:
    """The EXIF a TIFF carries in its first IFD (Make, Model, Software, ... and orientation)."""
    exif = Image.Exif()
    for code in (*_TIFF_EXIF_TAGS, _ORIENTATION):
        tag = page.tags.get(code)
        if tag is not None:
            value = tag.value
            if isinstance(value, bytes):
                value = value.decode("utf-8", "replace")
            if code == _IMAGE_DESCRIPTION and page.is_shaped:
                continue  # tifffile's own {"shape": ...} JSON, wrong for any other size
            exif[code] = int(value) if code == _ORIENTATION else value  # not tifffile's enum
    return exif
