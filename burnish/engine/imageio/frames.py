"""Files with more than one image: burnish reads the first and says so, once, as a warning."""

from __future__ import annotations

import tifffile

from burnish.engine.imageio.common import _one_line, log
from burnish.engine.imageio.pillow_read import _pillow_open

# TIFF NewSubfileType bits of pages that belong to another page rather than being images of
# their own: bit 0 a reduced-resolution copy (a preview or an EXIF-style thumbnail), bit 2 a
# transparency mask
_TIFF_DEPENDENT_PAGE = 0b101


def _warn_if_several_frames(path, fmt: str) -> None:
    """One WARNING when ``path`` holds more images than the first one that was read.

    Animated PNG (APNG) and WebP count their frames, TIFF its pages other than
    reduced-resolution previews and masks. JPEG is not counted: the images a JPEG's MPF
    segment adds are previews (or the second view of a stereo pair), not further images.
    """
    try:
        count = _image_count(path, fmt)
    except Exception as error:  # noqa: BLE001 - the first image was read; counting is advice
        log.debug("%s: cannot count the images in the file: %s", path, _one_line(error))
        return
    if count > 1:
        unit = "pages" if fmt == "TIFF" else "frames"
        log.warning(
            "%s: %d %s; only the first is read (burnish edits still images)", path, count, unit
        )


def _image_count(path, fmt: str) -> int:
    if fmt == "TIFF":
        with tifffile.TiffFile(path) as tif:
            # parses each IFD's tags, never pixels
            return sum(
                1
                for page in tif.pages
                if not getattr(page, "subfiletype", 0) & _TIFF_DEPENDENT_PAGE  # TiffFrame: 0
            )
    if fmt in ("PNG", "WEBP"):
        with _pillow_open(path) as image:  # reads the chunks before the pixels, decodes none
            return int(getattr(image, "n_frames", 1))
    return 1
