"""Helpers shared by the readers and writers: the logger, dtypes, size check, one-line messages."""

from __future__ import annotations

import logging

import numpy as np

from burnish.errors import ImageTooLarge, InputError

# one logger for the whole package, named as before the split into modules
log = logging.getLogger("burnish.engine.imageio")

_UINT8 = np.dtype(np.uint8)
_UINT16 = np.dtype(np.uint16)
_FLOAT32 = np.dtype(np.float32)


def check_size(path, width: int, height: int, max_pixels: int) -> None:
    """Refuse absurd dimensions before any pixel is decoded."""
    if width <= 0 or height <= 0:
        raise InputError(f"invalid image size {width} x {height}", path=path)
    if width * height > max_pixels:
        raise ImageTooLarge(
            f"image is {width} x {height} = {width * height:,} pixels, more than the limit of "
            f"{max_pixels:,}; raise the limit (max_pixels) if you trust this file",
            path=path,
        )


def _one_line(text) -> str:
    """Collapse any message to a single line (users see exactly one line per error)."""
    return " ".join(str(text).split())


class _Unsupported(Exception):
    """A readable file whose pixel layout burnish does not handle."""
