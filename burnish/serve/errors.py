"""What each failure answers: an HTTP status and one line, never a traceback or a server path."""

from __future__ import annotations

import logging
import re

from burnish.errors import BackendOutOfMemory, BurnishError, ImageTooLarge, InputError
from burnish.serve.batching import Cancelled

log = logging.getLogger("burnish.serve")


class HttpError(Exception):
    """An answer with a status and a one-line message (and headers)."""

    def __init__(self, status: int, message: str, headers: dict | None = None):
        super().__init__(message)
        self.status, self.message, self.headers = status, message, headers or {}


class Refused(Exception):
    """The server holds as much as it may (queue or job space): 429 with Retry-After."""

    def __init__(self, message: str, retry_after: int):
        super().__init__(message)
        self.retry_after = retry_after


def describe_error(error: BaseException) -> tuple[int, str, dict]:
    """(status, one-line message, headers) for ``error``; a bug is logged in full and
    answered as a 500 without details."""
    if isinstance(error, HttpError):
        return error.status, error.message, error.headers
    if isinstance(error, Refused):
        return 429, str(error), {"Retry-After": str(error.retry_after)}
    if isinstance(error, Cancelled):
        return 504, str(error), {}
    if isinstance(error, BurnishError):
        return _status_of(error), _message(error), {}
    log.error("internal error", exc_info=error)
    return 500, "internal error (logged by the server)", {}


def _status_of(error: BurnishError) -> int:
    if isinstance(error, ImageTooLarge):
        return 413
    if isinstance(error, BackendOutOfMemory):
        return 503
    return 422 if isinstance(error, InputError) else 400


# The server's own folders (a request's or a job's files) as they appear in messages.
_SCRATCH = re.compile(r"/\S*?burnish-serve-[^/\s]*/(?:[^/\s]+/)*")


def without_server_paths(message: str) -> str:
    """``message`` with the server's folders cut from its paths (the file names stay)."""
    return _SCRATCH.sub("", message)


def _message(error: BurnishError) -> str:
    return without_server_paths(str(error))
