"""Opening the files a user names (images, masks, recipes, models, references, sidecars).

Every read of a user's file goes through :func:`check_regular_file` first, so a FIFO, a
device (``/dev/zero``, ``/dev/stdin``), a directory or a missing path is refused in one line
before anything blocks on it or reads it without end. :func:`read_limited` reads small text
files (recipes, sidecars, descriptors) with a size limit, so a huge or endless file is an
error and not a ``MemoryError``.

Layer: like :mod:`burnish.errors`, this module imports nothing of burnish but the errors, so
every package may use it.
"""

from __future__ import annotations

import os
import stat

from burnish.errors import BurnishError, InputError

MAX_TEXT_BYTES = 16 * 1024 * 1024
"""The largest recipe, sidecar or descriptor read (a real one is a few kilobytes)."""


def check_regular_file(path: str | os.PathLike, *, error: type[BurnishError] = InputError,
                       what: str = "file") -> os.stat_result:
    """The ``stat`` of ``path`` if it is a regular, non-empty file; else ``error`` naming it.

    ``what`` names the kind of file in the message ("recipe", "model", ...).
    """
    try:
        info = os.stat(path)
    except (FileNotFoundError, NotADirectoryError):
        raise error(f"no such {what}", path=path) from None
    except OSError as failure:
        raise error(f"cannot read {what}: {failure.strerror or failure}", path=path) from None
    if stat.S_ISDIR(info.st_mode):
        raise error(f"is a folder, not a {what}", path=path)
    if not stat.S_ISREG(info.st_mode):
        # a FIFO blocks until a writer comes; a device such as /dev/zero never ends
        raise error(f"not a regular file (a pipe, socket or device): refusing to read it as a "
                    f"{what}", path=path)
    if info.st_size == 0:
        raise error(f"empty {what}", path=path)
    return info


def read_limited(path: str | os.PathLike, *, error: type[BurnishError] = InputError,
                 what: str = "file", limit: int = MAX_TEXT_BYTES) -> bytes:
    """The bytes of a small regular file, refusing one larger than ``limit``."""
    info = check_regular_file(path, error=error, what=what)
    if info.st_size > limit:
        raise error(f"{what} is {info.st_size} bytes, more than the {limit} a {what} may be",
                    path=path)
    try:
        with open(path, "rb") as file:
            data = file.read(limit + 1)
    except OSError as failure:
        raise error(f"cannot read {what}: {failure.strerror or failure}", path=path) from None
    if len(data) > limit:  # it grew while we read it
        raise error(f"{what} is more than the {limit} bytes a {what} may be", path=path)
    return data
