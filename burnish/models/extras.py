"""Optional packages (the ``export`` and ``gpu`` extras, TensorRT), imported in one way.

Every import of an optional package in :mod:`burnish.models` and :mod:`burnish.export` goes
through :func:`require_extra`, so a missing package is a one-line
:class:`~burnish.errors.ModelError` that names the file being worked on and says what to
install, never a ``ModuleNotFoundError`` traceback.

Modules that only run on objects those packages made (a tensor, a loaded network) import
them directly: the object proves the package is there.
"""

from __future__ import annotations

import importlib
import os
from types import ModuleType

from burnish.errors import ModelError

# What each optional dependency is called in messages, and the command that installs it.
INSTALL = {
    "export": ("the export extra", "pip install 'burnish[export]'"),
    "gpu": ("the gpu extra", "pip install 'burnish[gpu]'"),
    "tensorrt": ("TensorRT's builder", "pip install tensorrt"),
    "tensorrt-runtime": ("TensorRT", "pip install tensorrt (or tensorrt-lean, which runs "
                                     "version-compatible engines)"),
}


def missing_extra(extra: str, *, purpose: str,
                  path: str | os.PathLike | None = None) -> ModelError:
    """The error for an optional dependency that is not installed.

    >>> str(missing_extra("export", purpose="reading PyTorch checkpoints", path="m.pth"))
    "m.pth: reading PyTorch checkpoints needs the export extra: pip install 'burnish[export]'"
    """
    what, command = INSTALL[extra]
    return ModelError(f"{purpose} needs {what}: {command}", path=path)


def require_extra(extra: str, *modules: str | tuple[str, ...], purpose: str,
                  path: str | os.PathLike | None = None) -> ModuleType | tuple[ModuleType, ...]:
    """Import ``modules`` (dotted names), or raise :func:`missing_extra`'s error.

    A tuple among ``modules`` lists alternatives, tried in order (a package that moved, or a
    lean variant): the first that imports is used. Returns the module, or a tuple of them
    when several are asked for.

    >>> require_extra("export", "json", purpose="testing").__name__
    'json'
    >>> require_extra("export", "no_such_module_anywhere", purpose="testing", path="x.pth")
    Traceback (most recent call last):
    ...
    burnish.errors.ModelError: x.pth: testing needs the export extra: pip install 'burnish[export]'
    """
    if extra not in INSTALL:
        raise ValueError(f"unknown optional dependency {extra!r}")
    imported = []
    for module in modules:
        for alternative in (module,) if isinstance(module, str) else module:
            try:
                imported.append(importlib.import_module(alternative))
                break
            except ImportError:  # also a module set to None in sys.modules
                continue
        else:
            raise missing_extra(extra, purpose=purpose, path=path) from None
    return imported[0] if len(imported) == 1 else tuple(imported)
