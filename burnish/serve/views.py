"""Tiles of an image at every zoom level, for the workspace's viewer (libvips).

The page never loads an image whole: it asks for the 256-pixel tiles of the region in view
at the zoom level it shows, level ``z`` being the image shrunk by ``2**z``. A :class:`View`
answers them from two sources:

- an **overview**, made when the view opens: the image shrunk by a power of two to at most
  2048 pixels a side (libvips' ``thumbnail``, which shrinks a JPEG while decoding it, so a
  400-megapixel JPEG gives its overview in under a second). Levels from the overview's on
  are cut from it. A small image's overview is the image itself, and then that is all;
- for a larger image, a **pyramid**: a tiled, pyramidal TIFF in the server's cache folder,
  written once in a background thread (libvips streams it, with bounded memory, in a few
  seconds per hundred megapixels). Tiles finer than the overview wait for it; until then the
  page shows the overview's tiles enlarged.

Tiles are 8-bit for display (16-bit and float images are scaled to 0-255, alpha kept) and
sent as PNG, so at native scale the viewer shows an 8-bit image's own pixels. Views are
keyed by the file's path, size and modification time; the cache keeps the last few and
deletes the pyramids of the others.
"""

from __future__ import annotations

import logging
import math
import os
import shutil
import tempfile
import threading
from collections import OrderedDict
from pathlib import Path

import numpy as np

from burnish.errors import InputError

log = logging.getLogger(__name__)

TILE = 256
OVERVIEW_SIDE = 2048
# Pyramids build one at a time and each holds little; libvips' own operation cache is
# bounded so that panning over a large image keeps the server's memory flat.
VIPS_CACHE_BYTES = 48 * 1024 * 1024
VIEWS_KEPT = 6
PYRAMID_WAIT_S = 300.0
DIFFERENCE_GAIN = 4


class ViewError(Exception):
    """A tile that cannot be given (out of range, or the pyramid failed): one line."""


class View:
    """One image file at every zoom level (see the module's docstring)."""

    def __init__(self, path: Path, cache_dir: Path, max_pixels: int | None = None):
        import pyvips

        self.path = path
        try:
            self._open_overview(pyvips, max_pixels)
        except pyvips.Error as error:
            raise InputError(f"{path.name} cannot be read: {_vips_problem(error, path)}") from None
        self._level_images: dict[int, object] = {}
        self._lock = threading.Lock()
        self._pyramid: Path | None = None
        self._pyramid_error: str | None = None
        self._pyramid_ready = threading.Event()
        if self.overview_level == 0:
            self._pyramid_ready.set()
        else:
            self._pyramid = cache_dir / f"{id(self):x}.tif"
            threading.Thread(target=self._build_pyramid, name="burnish-pyramid",
                             daemon=True).start()

    def _open_overview(self, pyvips, max_pixels: int | None) -> None:
        from burnish.engine.imageio.common import check_size

        # EXIF orientation applied, as the engine's reader does: coordinates agree.
        header = pyvips.Image.new_from_file(os.fspath(self.path)).autorot()
        self.width, self.height = header.width, header.height
        if max_pixels is not None:  # the decompression-bomb guard, before any pixel
            check_size(self.path.name, self.width, self.height, max_pixels)
        # Levels until the whole image fits one tile.
        self.levels = max(1, math.ceil(math.log2(max(self.width, self.height) / TILE)) + 1)
        self.overview_level = max(0, math.ceil(math.log2(max(self.width, self.height)
                                                         / OVERVIEW_SIDE)))
        shrink = 2 ** self.overview_level
        overview = pyvips.Image.thumbnail(os.fspath(self.path), math.ceil(self.width / shrink),
                                          height=math.ceil(self.height / shrink),
                                          size="force", fail_on="error")
        self._overview = _for_display(overview).copy_memory()

    def describe(self) -> dict:
        return {"width": self.width, "height": self.height, "tile": TILE,
                "levels": self.levels, "overview_level": self.overview_level,
                "ready": self._pyramid_ready.is_set()}

    def tile_pixels(self, z: int, x: int, y: int) -> np.ndarray:
        """The tile's 8-bit pixels (``h x w x bands``)."""
        level = self._level(z)
        left, top = x * TILE, y * TILE
        if not (0 <= left < level.width and 0 <= top < level.height):
            raise ViewError(f"no tile {x},{y} at level {z} (the level is "
                            f"{level.width}x{level.height})")
        region = level.crop(left, top, min(TILE, level.width - left),
                            min(TILE, level.height - top))
        return np.ndarray(buffer=region.write_to_memory(), dtype=np.uint8,
                          shape=(region.height, region.width, region.bands))

    def close(self) -> None:
        with self._lock:
            self._level_images.clear()
        if self._pyramid is not None and self._pyramid_ready.is_set():
            self._pyramid.unlink(missing_ok=True)

    def _level(self, z: int):
        if not 0 <= z < self.levels:
            raise ViewError(f"no level {z}: levels are 0 to {self.levels - 1}")
        with self._lock:
            if z in self._level_images:
                return self._level_images[z]
        if z >= self.overview_level:
            level = self._overview
            if z > self.overview_level:
                level = level.resize(1 / 2 ** (z - self.overview_level),
                                     kernel="linear").copy_memory()
        else:
            level = self._pyramid_page(z)
        with self._lock:
            self._level_images[z] = level
        return level

    def _pyramid_page(self, z: int):
        import pyvips

        if not self._pyramid_ready.wait(PYRAMID_WAIT_S):
            raise ViewError("the full-resolution view is still being prepared")
        if self._pyramid_error is not None:
            raise ViewError(f"the full-resolution view failed: {self._pyramid_error}")
        return pyvips.Image.new_from_file(os.fspath(self._pyramid), page=z, access="random")

    def _build_pyramid(self) -> None:
        import pyvips

        partial = self._pyramid.with_suffix(".partial.tif")
        try:
            image = pyvips.Image.new_from_file(os.fspath(self.path), access="sequential",
                                               fail_on="error").autorot()
            _for_display(image).tiffsave(os.fspath(partial), tile=True, pyramid=True,
                                         tile_width=TILE, tile_height=TILE,
                                         compression="none", bigtiff=True)
            partial.rename(self._pyramid)
        except Exception as error:  # noqa: BLE001 - told to every tile that needs it
            partial.unlink(missing_ok=True)
            self._pyramid_error = _vips_problem(error, self.path)
            log.warning("pyramid of %s failed: %s", self.path.name, self._pyramid_error)
        finally:
            self._pyramid_ready.set()


def _vips_problem(error: Exception, path: Path) -> str:
    """libvips' error as one line: its lines joined (the first alone says little, such as
    "unable to copy to memory"), the file named by its name only."""
    text = str(error).replace(os.fspath(path), path.name)
    lines = [line.strip() for line in text.splitlines() if line.strip()]
    return "; ".join(lines[:3])[:300] or type(error).__name__


def _for_display(image):
    """8-bit bands for the screen: 16-bit scaled by 1/257, float (0-1) by 255, alpha
    kept; libvips' cast to uchar clips."""
    if image.format in ("ushort", "short"):
        image = image / 257
    elif image.format in ("float", "double"):
        image = image * 255
    if image.format != "uchar":
        image = image.cast("uchar")
    return image


def encode_png(pixels: np.ndarray) -> bytes:
    """A tile as PNG, fast (compression 1: tiles are small and made on demand)."""
    import pyvips

    height, width, bands = pixels.shape
    image = pyvips.Image.new_from_memory(np.ascontiguousarray(pixels).data, width, height,
                                         bands, "uchar")
    return image.pngsave_buffer(compression=1)


def difference(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """What changed between two tiles of the same place: the absolute difference of the
    colour bands, amplified so small changes show, opaque."""
    if a.shape != b.shape:
        raise ViewError("the two versions differ in size: a difference needs one size")
    colour = min(a.shape[2], 3) if a.shape[2] != 2 else 1
    delta = np.abs(a[..., :colour].astype(np.int16) - b[..., :colour].astype(np.int16))
    return np.minimum(delta * DIFFERENCE_GAIN, 255).astype(np.uint8)


class ViewCache:
    """The views open at once (the last :data:`VIEWS_KEPT`), and their pyramid folder."""

    def __init__(self, parent: Path | None = None):
        import pyvips

        pyvips.cache_set_max_mem(VIPS_CACHE_BYTES)
        self.folder = Path(tempfile.mkdtemp(prefix="burnish-views-", dir=parent))
        self._views: OrderedDict[tuple, View] = OrderedDict()
        self._opening: dict[tuple, threading.Lock] = {}
        self._lock = threading.Lock()

    def view(self, path: Path, max_pixels: int | None = None) -> View:
        """The view of ``path``; a file over ``max_pixels`` is refused before any pixel is
        decoded (:class:`~burnish.errors.ImageTooLarge`)."""
        stat = path.stat()
        key = (os.fspath(path.resolve()), stat.st_size, stat.st_mtime_ns)
        with self._lock:
            if key in self._views:
                self._views.move_to_end(key)
                return self._views[key]
            opening = self._opening.setdefault(key, threading.Lock())
        # One overview and one pyramid per file, however many requests ask at once; other
        # files' views are not held up meanwhile.
        with opening:
            with self._lock:
                if key in self._views:
                    return self._views[key]
            view = View(path, self.folder, max_pixels)
            with self._lock:
                self._views[key] = view
                self._opening.pop(key, None)
                while len(self._views) > VIEWS_KEPT:
                    self._views.popitem(last=False)[1].close()
        return view

    def close(self) -> None:
        with self._lock:
            for view in self._views.values():
                view.close()
            self._views.clear()
        shutil.rmtree(self.folder, ignore_errors=True)
