"""Metadata brought up to date with the image being written: the one place it happens.

Everything carried from an input (EXIF, XMP, ICC) described the input. :func:`_meta_for_output`
runs in :func:`~burnish.engine.imageio.write.open_writer`, which every writer goes through
(PNG, JPEG, TIFF, WebP; streamed or buffered; ``write_image``, upscale, recipes), so no output
can carry the input's size, orientation or software, nor a profile that does not fit it:

- EXIF: ImageWidth/ImageLength (IFD0, when present) and PixelXDimension/PixelYDimension (the
  Exif sub-IFD, when there is one) are the output's size, Orientation is 1 (pixels are
  upright once read) and Software is burnish's. No EXIF is invented where none was carried.
- XMP: ``exif:PixelXDimension``, ``exif:PixelYDimension``, ``tiff:ImageWidth``,
  ``tiff:ImageLength``, ``tiff:Orientation`` and ``tiff:Software`` are set the same way,
  wherever the packet came from (the input's, or the provenance packet of a recipe). A packet
  that does not parse as XML, or holds a DTD (XMP allows none), is dropped with a warning: it
  cannot be checked, so it is not written stale. A packet with nothing to change keeps its
  exact bytes.
- ICC: a profile that does not parse, or whose colour space or class does not fit the samples
  the file holds (CMYK or grey on RGB, RGB on grey, an abstract or device-link profile; grey
  written to WebP is RGB), is dropped with a warning. Checked here rather than on read because fitting needs the output's channels, and
  because metadata built by a caller, not read from a file, must pass the same check.

DPI is kept as it is: an upscaled print gets more pixels per inch of the same physical size
only if the caller scales the dpi, which burnish does not guess.
"""

from __future__ import annotations

import io
from dataclasses import replace
from xml.dom import XMLNS_NAMESPACE, minidom
from xml.parsers.expat import ExpatError

from PIL import ImageCms

from burnish import __version__
from burnish.engine.imageio.common import _one_line, log
from burnish.engine.imageio.exif import _load_exif, _reset_orientation
from burnish.engine.imageio.formats import _stores_grey
from burnish.engine.imageio.meta import ImageMeta

SOFTWARE = f"burnish {__version__}"
"""What EXIF/TIFF ``Software`` (tag 305) and XMP ``tiff:Software`` say of every output."""

_IMAGE_WIDTH, _IMAGE_LENGTH, _SOFTWARE = 256, 257, 305  # IFD0
_EXIF_IFD = 0x8769
_PIXEL_X_DIMENSION, _PIXEL_Y_DIMENSION = 0xA002, 0xA003  # the Exif sub-IFD

_XMP_EXIF = "http://ns.adobe.com/exif/1.0/"
_XMP_TIFF = "http://ns.adobe.com/tiff/1.0/"

# ICC device classes that do not describe an image's own colours
_ICC_NOT_AN_IMAGE_CLASS = {"abst": "an abstract", "link": "a device-link", "nmcl": "a named-colour"}


def _meta_for_output(
    meta: ImageMeta, path, fmt: str, width: int, height: int, channels: int
) -> ImageMeta:
    """``meta`` as it must be written with a ``width x height`` image of ``channels`` channels
    to a ``fmt`` file."""
    width, height = int(width), int(height)  # a caller may pass numpy integers
    return replace(
        meta,
        icc_profile=_usable_icc(meta.icc_profile, path, grey=_stores_grey(fmt, channels)),
        exif=_exif_for_output(meta.exif, width, height),
        xmp=_xmp_for_output(meta.xmp, path, width, height),
    )


# ---- EXIF -----------------------------------------------------------------------------------


def _exif_for_output(data: bytes | None, width: int, height: int) -> bytes | None:
    exif = _load_exif(data)
    if not len(exif):
        return None
    for code, value in ((_IMAGE_WIDTH, width), (_IMAGE_LENGTH, height)):
        if code in exif:
            exif[code] = value
    exif[_SOFTWARE] = SOFTWARE
    if _EXIF_IFD in exif:
        # mandatory in the Exif IFD of a compressed image, so set even when the input had none
        exif_ifd = exif.get_ifd(_EXIF_IFD)
        exif_ifd[_PIXEL_X_DIMENSION] = width
        exif_ifd[_PIXEL_Y_DIMENSION] = height
    encoded, _ = _reset_orientation(exif)  # the pixels written are upright
    return encoded


# ---- XMP ------------------------------------------------------------------------------------


def _xmp_properties(width: int, height: int) -> dict[tuple[str, str], str]:
    """(namespace, name) of each XMP property that describes the pixels -> its output value."""
    return {
        (_XMP_EXIF, "PixelXDimension"): str(width),
        (_XMP_EXIF, "PixelYDimension"): str(height),
        (_XMP_TIFF, "ImageWidth"): str(width),
        (_XMP_TIFF, "ImageLength"): str(height),
        (_XMP_TIFF, "Orientation"): "1",
        (_XMP_TIFF, "Software"): SOFTWARE,
    }


def _xmp_for_output(packet: bytes | None, path, width: int, height: int) -> bytes | None:
    if not packet:
        return None
    try:
        document = _parse_xmp(packet)
    except (UnicodeDecodeError, ValueError, ExpatError) as error:
        log.warning(
            "%s: dropping an XMP packet that cannot be checked (%s)", path, _one_line(error)
        )
        return None
    if not _set_xmp_properties(document, _xmp_properties(width, height)):
        return packet  # nothing describes the pixels: the packet's bytes are kept exactly
    # minidom keeps the xpacket processing instructions, the prefixes and the attribute values;
    # it drops whitespace outside the root element (the packet's padding)
    return "".join(node.toxml() for node in document.childNodes).encode("utf-8")


def _parse_xmp(packet: bytes) -> minidom.Document:
    """Parse a packet with the standard library, refusing what XMP never needs."""
    text = packet.decode("utf-8")  # XMP in PNG, JPEG, TIFF and WebP is UTF-8
    if "<!DOCTYPE" in text:
        # entity definitions could make a few bytes expand to gigabytes; XMP allows no DTD
        raise ValueError("it holds a DTD, which XMP does not allow")
    return minidom.parseString(packet)


def _set_xmp_properties(document: minidom.Document, wanted: dict[tuple[str, str], str]) -> bool:
    """Set each ``wanted`` property, as an attribute or as an element; True when any changed.

    A property element in a form other than plain text (a structure, ``rdf:resource``, a
    qualifier) is removed: it is not rewritten, and it must not be left stale.
    """
    changed = False
    for element in document.getElementsByTagNameNS("*", "*"):
        for attribute in list(element.attributes.values()):
            value = wanted.get((attribute.namespaceURI, attribute.localName))
            if value is not None and attribute.value != value:
                attribute.value = value
                changed = True
        value = wanted.get((element.namespaceURI, element.localName))
        if value is None:
            continue
        plain = all(child.nodeType == child.TEXT_NODE for child in element.childNodes) and all(
            attribute.namespaceURI == XMLNS_NAMESPACE for attribute in element.attributes.values()
        )
        if plain:
            if element.childNodes and _text(element) == value:
                continue
            for child in list(element.childNodes):
                element.removeChild(child)
            element.appendChild(document.createTextNode(value))
        else:
            element.parentNode.removeChild(element)
        changed = True
    return changed


def _text(element) -> str:
    return "".join(child.data for child in element.childNodes)


# ---- ICC ------------------------------------------------------------------------------------


def _usable_icc(icc: bytes | None, path, *, grey: bool) -> bytes | None:
    """``icc`` when it parses and fits the samples the file holds (grey or RGB), else None."""
    if not icc:
        return None
    problem = _icc_problem(icc, grey)
    if problem is None:
        return icc
    log.warning("%s: ignoring an unusable ICC profile (%s)", path, problem)
    return None


def _icc_problem(icc: bytes, grey: bool) -> str | None:
    try:
        profile = ImageCms.ImageCmsProfile(io.BytesIO(icc)).profile  # LittleCMS parses it
    except (OSError, ImageCms.PyCMSError, ValueError, TypeError) as error:
        return f"it does not parse: {_one_line(error)}"
    space = profile.xcolor_space.strip()
    output = "grey" if grey else "RGB"
    if space != ("GRAY" if grey else "RGB"):
        return f"a {space} profile does not fit a {output} output"
    kind = _ICC_NOT_AN_IMAGE_CLASS.get(profile.device_class)
    if kind is not None:
        return f"{kind} profile does not describe an image's colours"
    return None
