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

Modules: :mod:`.read` (identification and dispatch) over :mod:`.png_read`, :mod:`.tiff_read`
and :mod:`.pillow_read` (with :mod:`.png_chunks`, :mod:`.exif` and :mod:`.meta`);
:mod:`.write` (:class:`ImageWriter` and its temporary file) over :mod:`.formats` and the
encoders :mod:`.png_write`, :mod:`.tiff_write` (streamed) and :mod:`.pillow_write`
(buffered); :mod:`.common` holds what they share.
"""

from burnish.engine.imageio.formats import SUPPORTED_FORMATS, output_format
from burnish.engine.imageio.meta import ImageHeader, ImageMeta
from burnish.engine.imageio.read import DEFAULT_MAX_PIXELS, probe_image, read_image
from burnish.engine.imageio.tiff_write import BIGTIFF_THRESHOLD_BYTES, TIFF_TILE
from burnish.engine.imageio.write import ImageWriter, open_writer, write_image

__all__ = [
    "BIGTIFF_THRESHOLD_BYTES",
    "DEFAULT_MAX_PIXELS",
    "SUPPORTED_FORMATS",
    "TIFF_TILE",
    "ImageHeader",
    "ImageMeta",
    "ImageWriter",
    "open_writer",
    "output_format",
    "probe_image",
    "read_image",
    "write_image",
]
