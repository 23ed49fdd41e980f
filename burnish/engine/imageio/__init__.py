"""Image files in and out: PNG, JPEG, TIFF and WebP, keeping bit depth, alpha, ICC and EXIF.

Reading returns ``H x W x C`` arrays (C-contiguous, C in {1 grey, 2 grey+alpha, 3 RGB,
4 RGBA}) with the file's own bit depth: ``uint8`` for 8-bit files, ``uint16`` for 16-bit files,
``float32`` for float TIFFs (in their own range). The bit depth is decided by the file's header
and the array's dtype, never by the pixel values. EXIF orientation is applied on read.

Reading streams too: :func:`open_image` gives the rows top to bottom as they are asked for
(PNG, JPEG and WebP decoded by libvips as they go; a TIFF, or an image its EXIF orientation
turns, is decoded whole first). :func:`read_image` reads them all.

Writing goes through :func:`open_writer`, a sink that receives rows top to bottom (one thread,
in order, no gaps) and writes a temporary file beside the target, renamed over the target only
when every row has arrived. Every format is encoded while the rows arrive, so memory does not
grow with the image: PNG, JPEG and WebP by libvips (:mod:`.vips_write`), TIFF by tifffile.

Every problem a user can cause with a file is raised as :class:`~burnish.errors.InputError` or
:class:`~burnish.errors.OutputError`: one line, naming the file.

Modules: :mod:`.read` (identification, dispatch, :class:`ImageRows`) over :mod:`.vips_read`
(pixels of PNG, JPEG, WebP) and :mod:`.tiff_read` (tifffile); the headers and metadata come
from :mod:`.png_read`, :mod:`.pillow_read` (Pillow opens a JPEG or WebP header, decodes no
pixel, and guards its decompression-bomb limit), :mod:`.png_chunks`, :mod:`.exif` and
:mod:`.meta`; :mod:`.write` (:class:`ImageWriter` and its temporary file) over :mod:`.formats`
and the encoders :mod:`.vips_write` and :mod:`.tiff_write`; :mod:`.common` holds what they
share.
"""

from burnish.engine.imageio.formats import SUPPORTED_FORMATS, output_format
from burnish.engine.imageio.meta import ImageHeader, ImageMeta
from burnish.engine.imageio.read import (
    DEFAULT_MAX_PIXELS,
    ImageRows,
    open_image,
    probe_image,
    read_image,
)
from burnish.engine.imageio.tiff_write import BIGTIFF_THRESHOLD_BYTES, TIFF_TILE
from burnish.engine.imageio.write import ImageWriter, open_writer, write_image

__all__ = [
    "BIGTIFF_THRESHOLD_BYTES",
    "DEFAULT_MAX_PIXELS",
    "SUPPORTED_FORMATS",
    "TIFF_TILE",
    "ImageHeader",
    "ImageMeta",
    "ImageRows",
    "ImageWriter",
    "open_image",
    "open_writer",
    "output_format",
    "probe_image",
    "read_image",
    "write_image",
]
