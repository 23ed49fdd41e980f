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

import json
import os
import stat
import sys

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover - Python 3.10
    import tomli as tomllib

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
        raise error(f"is a directory, not {_a(what)}", path=path)
    if not stat.S_ISREG(info.st_mode):
        # a FIFO blocks until a writer comes; a device such as /dev/zero never ends
        raise error(f"not a regular file (a pipe, socket or device): refusing to read it as "
                    f"{_a(what)}", path=path)
    if info.st_size == 0:
        raise error(f"empty {what}", path=path)
    return info


def read_limited(path: str | os.PathLike, *, error: type[BurnishError] = InputError,
                 what: str = "file", limit: int = MAX_TEXT_BYTES) -> bytes:
    """The bytes of a small regular file, refusing one larger than ``limit``."""
    info = check_regular_file(path, error=error, what=what)
    if info.st_size > limit:
        raise error(f"{what} is {info.st_size} bytes, more than the {limit} {_a(what)} may be",
                    path=path)
    try:
        with open(path, "rb") as file:
            data = file.read(limit + 1)
    except OSError as failure:
        raise error(f"cannot read {what}: {failure.strerror or failure}", path=path) from None
    if len(data) > limit:  # it grew while we read it
        raise error(f"{what} is more than the {limit} bytes {_a(what)} may be", path=path)
    return data


def _a(noun: str) -> str:
    return f"{'an' if noun[:1] in 'aeiou' else 'a'} {noun}"


MAX_NESTING = 32
"""The deepest nesting of tables and lists a recipe or sidecar may have (a real one has 4)."""


class TooDeep(ValueError):
    """Data nested deeper than :data:`MAX_NESTING`."""


def parse_data(text: str, *, kind: str) -> object:
    """Parse JSON or TOML text (``kind``: ``"json"`` or ``"toml"``) into Python data nested at
    most :data:`MAX_NESTING` deep; any problem is a ``ValueError`` with one line of text.

    The depth is checked here, once, so that no later step (validation, hashing, writing a
    sidecar) can meet a ``RecursionError``.
    """
    try:
        if kind == "json":
            data = json.loads(text)
        else:
            data = tomllib.loads(text)
    except RecursionError:
        raise TooDeep(f"nested more than {MAX_NESTING} levels deep") from None
    except (json.JSONDecodeError, tomllib.TOMLDecodeError) as error:
        raise ValueError(f"not valid {kind.upper()}: {error}") from None
    depth = _nesting(data)
    if depth > MAX_NESTING:
        raise TooDeep(f"nested {depth} levels deep; at most {MAX_NESTING} are allowed")
    return data


def _nesting(data: object) -> int:
    """How deep lists and tables nest in ``data`` (iteratively: no recursion to overflow)."""
    deepest, stack = 0, [(data, 1)]
    while stack:
        value, depth = stack.pop()
        if isinstance(value, dict):
            children = value.values()
        elif isinstance(value, list):
            children = value
        else:
            continue
        deepest = max(deepest, depth)
        if depth > MAX_NESTING:
            return depth  # deep enough to refuse; no need to walk the rest
        stack.extend((child, depth + 1) for child in children)
    return deepest
