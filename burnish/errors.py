"""The one error hierarchy of burnish.

Every failure a user can cause (a bad file, a bad option, an unusable model) is raised as a
:class:`BurnishError`. The CLI renders it once, as one line, and exits non-zero; library callers
catch ``BurnishError``. Anything else escaping is a bug and shows a traceback under
``BURNISH_DEBUG=1``.
"""

from __future__ import annotations

import os


class BurnishError(Exception):
    """A problem the user can fix, optionally tied to a file.

    ``str(error)`` is the one line shown to the user: ``"PATH: problem"`` when a path is known.
    """

    def __init__(self, problem: str, *, path: str | os.PathLike | None = None):
        self.problem = problem
        self.path = None if path is None else os.fspath(path)
        super().__init__(f"{self.path}: {problem}" if self.path is not None else problem)


class InputError(BurnishError):
    """An input image is missing, unreadable, corrupt, unsupported or too large."""


class ImageTooLarge(InputError):
    """An input has more pixels than the limit: the decompression-bomb guard (``max_pixels``)."""


class OutputError(BurnishError):
    """An output cannot be written (missing folder, no permission, unsupported format)."""


class ModelError(BurnishError):
    """A model is unknown, corrupt, or does not fit the request."""


class OptionError(BurnishError):
    """An option value is out of range or inconsistent with the others."""


class BackendOutOfMemory(BurnishError):
    """A backend ran out of memory for one call; the scheduler retries with smaller tiles."""


def first_line(error: BaseException, limit: int = 200) -> str:
    """The first line of a library's exception text (or its type), for a one-line message."""
    lines = str(error).strip().splitlines()
    return (lines[0] if lines else type(error).__name__)[:limit]
