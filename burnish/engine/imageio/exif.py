"""EXIF parsing and re-encoding, and EXIF orientation applied to pixels."""

from __future__ import annotations

import numpy as np
from PIL import Image

from burnish.engine.imageio.common import _one_line, log

# EXIF tags that are also plain TIFF tags of the first IFD: the part of EXIF a TIFF carries.
_TIFF_EXIF_TAGS = (270, 271, 272, 305, 306, 315, 316, 33432)
_ORIENTATION = 274
_EXIF_PREFIX = b"Exif\x00\x00"


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


def _exif_body(exif: bytes) -> bytes:
    """EXIF without the ``Exif\\0\\0`` prefix: the bare TIFF structure PNG's eXIf holds."""
    return exif[len(_EXIF_PREFIX) :] if exif.startswith(_EXIF_PREFIX) else exif


def _exif_with_prefix(exif: bytes) -> bytes:
    """EXIF with the ``Exif\\0\\0`` prefix, as JPEG's APP1 segment (and Pillow) expect."""
    return exif if exif.startswith(_EXIF_PREFIX) else _EXIF_PREFIX + exif
