"""The writing entry points and :class:`ImageWriter`: a temporary file renamed when complete."""

from __future__ import annotations

import io
import os
import secrets

import numpy as np

from burnish.engine.imageio.common import _one_line, log
from burnish.engine.imageio.formats import _check_writable, _check_xmp_fits, output_format
from burnish.engine.imageio.meta import ImageMeta
from burnish.engine.imageio.output_meta import _meta_for_output
from burnish.engine.imageio.tiff_write import _TiffEncoder
from burnish.engine.imageio.vips_write import _VipsEncoder
from burnish.errors import OutputError

# --------------------------------------------------------------------------------------------
# Writing
# --------------------------------------------------------------------------------------------


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
        ICC profile, EXIF, dpi and XMP to embed, first brought up to date with the image
        written (:mod:`.output_meta`): EXIF and XMP sizes become ``width x height``,
        orientation 1 and Software ``burnish <version>``; an ICC profile that does not parse
        or fit the channels, and an XMP packet that does not parse, are dropped with a
        warning; dpi is kept as given. TIFF keeps only the EXIF tags that are plain TIFF tags
        (ImageDescription, Make, Model, Software, DateTime, Artist, HostComputer, Copyright):
        the Exif sub-IFD (camera settings) and GPS are dropped. WebP has no dpi. The XMP
        packet goes in a PNG iTXt chunk ``XML:com.adobe.xmp`` (uncompressed, before the pixel
        data), a JPEG APP1 segment, TIFF tag 700 (BYTE) or a WebP ``XMP `` chunk.
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
        alpha in JPEG), a size past the format's limits, an XMP packet larger than one JPEG
        segment holds (65,502 bytes), or an output folder that is missing or not writable.
        Raised before any pixel is encoded.
    """
    fmt = output_format(path, format)
    dtype = np.dtype(dtype)
    _check_writable(path, fmt, width, height, channels, dtype, quality)
    meta = _meta_for_output(meta or ImageMeta(format=fmt), path, fmt, width, height, channels)
    _check_xmp_fits(path, fmt, meta.xmp)
    temp_path, file = create_temp(path)
    try:
        encoder = _make_encoder(fmt, file, width, height, channels, dtype, meta, quality)
    except BaseException as error:
        file.close()
        remove_quietly(temp_path)
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
            remove_quietly(self._temp_path)

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


def create_temp(path) -> tuple[str, io.BufferedRandom]:
    """Create the temporary file beside ``path``, with the permissions a new file gets.

    Every file burnish writes goes through here (images, signed copies, sidecars, the edit
    history's working copies), so an interrupted run leaves only ``.NAME.partial-XXXXXXXX``
    files, which ``burnish run`` knows to clear."""
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


def write_bytes_atomically(path, data: bytes) -> None:
    """Write ``data`` to a temporary file beside ``path`` (:func:`create_temp`), then
    rename it over ``path``: readers see the old file or the new one, never a part."""
    temp, file = create_temp(path)
    try:
        with file:
            file.write(data)
            file.flush()
            os.fsync(file.fileno())
        os.replace(temp, path)
    except BaseException:
        remove_quietly(temp)
        raise


def remove_quietly(path: str) -> None:
    """Remove a temporary file; a failure is logged, not raised (an error is on its way)."""
    try:
        os.remove(path)
    except FileNotFoundError:
        pass
    except OSError as error:
        log.warning("cannot remove temporary file %s: %s", path, error)


def _make_encoder(fmt, file, width, height, channels, dtype, meta: ImageMeta, quality: int):
    icc, exif, dpi, xmp = meta.icc_profile, meta.exif, meta.dpi, meta.xmp
    if fmt == "TIFF":
        return _TiffEncoder(file, width, height, channels, dtype, icc, exif, dpi, xmp)
    return _VipsEncoder(file, fmt, width, height, channels, dtype, icc, exif, dpi, xmp, quality)
