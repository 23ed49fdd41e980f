"""A word before the kernels compile: one log line, the first time a process compiles one.

Numba compiles each kernel for each type signature on its first call and caches the machine
code on disk (``cache=True``; Numba's ``NUMBA_CACHE_DIR`` says where). On a fresh install, or
after an upgrade, the first command therefore spends seconds compiling before any progress
shows. Numba announces a compile (the ``numba:compile`` event) only after the disk cache has
missed, so listening to it costs nothing on a warm cache and tells exactly when there is
compiling left: then the ``burnish.kernels`` logger says so at INFO, once per process, which
the CLI prints as ``burnish: compiling ...`` (``--quiet`` hides it).
"""

from __future__ import annotations

import logging
import threading

from numba.core import event

log = logging.getLogger("burnish.kernels")

FIRST_COMPILE_MESSAGE = ("compiling image kernels for first use: this happens once, later "
                         "runs load them from Numba's cache")

_announced = threading.Event()
_registered = False
_lock = threading.Lock()
_at_first_compile: list = []


class _FirstCompile(event.Listener):
    def on_start(self, ev: event.Event) -> None:
        if _announced.is_set():
            return
        function = getattr(ev.data.get("dispatcher"), "py_func", None)
        if not (getattr(function, "__module__", None) or "").startswith("burnish."):
            return  # another library's Numba function: not ours to announce
        with _lock:
            if _announced.is_set():
                return
            _announced.set()
            callbacks, _at_first_compile[:] = list(_at_first_compile), []
        log.info(FIRST_COMPILE_MESSAGE)
        for callback in callbacks:
            callback()

    def on_end(self, ev: event.Event) -> None:
        pass


def on_first_compile(callback) -> None:
    """``callback()`` when this process first compiles a kernel, right after the line; never
    if it has compiled one already (the cache was cold then, and that moment has passed) or
    never does. Each callback runs once."""
    with _lock:
        if not _announced.is_set() and callback not in _at_first_compile:
            _at_first_compile.append(callback)


def first_compile_done() -> bool:
    """Whether this process has compiled a kernel."""
    return _announced.is_set()


def announce_first_compile() -> None:
    """Listen for Numba's compiles (once per process; module notes)."""
    global _registered
    with _lock:
        if not _registered:
            event.register("numba:compile", _FirstCompile())
            _registered = True
