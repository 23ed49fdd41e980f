"""Batches of files: where each result goes, checked as a whole before any work, and one bad
file never stopping the rest.

The plan of a batch is every file it will write (each output and its companions, such as a
provenance sidecar). :func:`check_plan` refuses, before anything is read or written, a plan
in which any written file is one of the inputs (by path, symbolic link or hard link), any file
would be written twice, or any name is too long for its file system once the temporary-file
decoration is added. Every command that writes files (``upscale``, ``remove``, ``run``) plans
through here, so no command can overwrite an input or clobber its own output.

The one rule for ``-o``: it names a folder when it ends with a path separator, is an existing
folder, or there are several inputs (the folder is created if missing); otherwise it names
the output file of the one input.
"""

from __future__ import annotations

import glob
import logging
import os
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

from burnish.errors import BurnishError, OptionError, OutputError

# What imageio's create_temp adds to a name: ".NAME.partial-" and 8 hex digits.
TEMP_NAME_EXTRA = len(".") + len(".partial-") + 8
_FALLBACK_NAME_MAX = 255
_FALLBACK_PATH_MAX = 4096

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class FileResult:
    """What happened to one file of a batch."""

    input: Path
    output: Path | None
    error: str | None = None
    seconds: float = 0.0
    note: str | None = None
    skipped: bool = False  # already complete (a resumed batch): nothing was written

    @property
    def ok(self) -> bool:
        return self.error is None


@dataclass(frozen=True)
class PlannedOutput:
    """One input of a batch, the file made from it, and the files written beside that."""

    input: Path
    target: Path
    companions: tuple[Path, ...] = ()

    @property
    def written(self) -> tuple[Path, ...]:
        return (self.target, *self.companions)


def names_folder(output: str | os.PathLike | None, *, many: bool) -> bool:
    """Whether ``output`` names a folder (see the module notes for the rule)."""
    if output is None:
        return False
    text = os.fspath(output)
    separators = (os.sep, os.altsep) if os.altsep else (os.sep,)
    return many or text.endswith(separators) or os.path.isdir(text)


def make_folder(folder: Path) -> None:
    """Create the output folder (and its parents) if missing."""
    if folder.exists() and not folder.is_dir():
        raise OutputError("is a file, not a folder: cannot write outputs into it", path=folder)
    try:
        folder.mkdir(parents=True, exist_ok=True)
    except OSError as error:
        raise OutputError(f"cannot create the output folder: {error.strerror or error}",
                          path=folder) from None


def unique_inputs(paths: Sequence[str | os.PathLike]) -> list[Path]:
    """The inputs in order, each file once (two spellings of one path are one input)."""
    seen, unique = set(), []
    for path in map(Path, paths):
        key = _identity(path)
        if key not in seen:
            seen.add(key)
            unique.append(path)
    return unique


def default_targets(inputs: Sequence[Path], output: str | os.PathLike | None, *,
                    suffix: str, many: bool, extension: str | None = None,
                    beside: Callable[[Path], Path] | None = None) -> list[Path]:
    """``NAME{suffix}.EXT`` beside each input (or ``beside(input)``), or in the output
    folder; or the output file. ``many``: several inputs were named (the same file twice
    counts as two); ``extension``: the outputs' own (a mask is a PNG whatever its image)."""
    folder = Path(output) if names_folder(output, many=many) else None
    targets = []
    for path in inputs:
        name = f"{path.stem}{suffix}{extension or path.suffix}"
        if output is None:
            targets.append(beside(path) if beside is not None else path.with_name(name))
        elif folder is not None:
            targets.append(folder / name)
        else:
            targets.append(Path(output))
    return targets


def check_plan(plan: Sequence[PlannedOutput], inputs: Sequence[Path], *,
               hint: str = "choose another output folder or name") -> None:
    """Refuse, in one line, a plan that would overwrite an input, write a file twice, or use
    a name its file system cannot hold. Nothing is read or written."""
    inputs_at = {}
    for path in inputs:
        inputs_at[_identity(path)] = path
        inode = _inode(path)
        if inode is not None:
            inputs_at[inode] = path
    written_by: dict = {}
    for item in plan:
        for path in item.written:
            check_name_fits(path)
            keys = [_identity(path)] + [k for k in [_inode(path)] if k is not None]
            overwritten = next((inputs_at[k] for k in keys if k in inputs_at), None)
            if overwritten is not None:
                whose = ("its own output" if _identity(overwritten) == _identity(item.input)
                         else f"the output of {item.input} ({path.name})")
                raise OptionError(f"{whose} would overwrite this input: {hint}",
                                  path=overwritten)
            earlier = next((written_by[k] for k in keys if k in written_by), None)
            if earlier is not None:
                raise OptionError(f"both {earlier} and {item.input} would be written to this "
                                  f"file: {hint}", path=path)
            for key in keys:
                written_by[key] = item.input


def check_name_fits(path: Path) -> None:
    """Refuse a name longer than its file system allows once ``.NAME.partial-XXXXXXXX`` (the
    temporary file it is first written as) is made of it."""
    parent = _nearest_existing(path.parent)
    name_max = _pathconf(parent, "PC_NAME_MAX", _FALLBACK_NAME_MAX)
    path_max = _pathconf(parent, "PC_PATH_MAX", _FALLBACK_PATH_MAX)
    name_bytes = len(os.fsencode(path.name)) + TEMP_NAME_EXTRA
    if name_bytes > name_max:
        raise OutputError(f"file name too long: {name_bytes} bytes with the temporary-file "
                          f"prefix and suffix, over this file system's {name_max}", path=path)
    path_bytes = len(os.fsencode(os.path.abspath(path))) + TEMP_NAME_EXTRA
    if path_bytes > path_max:
        raise OutputError(f"path too long: {path_bytes} bytes, over the {path_max} allowed",
                          path=path)


def remove_stale_partials(paths: Sequence[Path]) -> int:
    """Delete the temporary files an interrupted run left for these outputs."""
    removed = 0
    for path in paths:
        if not path.parent.is_dir():
            continue
        for stale in path.parent.glob(f".{glob.escape(path.name)}.partial-*"):
            try:
                stale.unlink()
                removed += 1
            except FileNotFoundError:
                pass
    return removed


def clear_interrupted_run(paths: Sequence[Path]) -> None:
    """Before a batch: remove what an interrupted earlier run left for these outputs, and say
    so."""
    removed = remove_stale_partials(paths)
    if removed:
        log.info("removed %d temporary files left by an interrupted run", removed)


def run_batch(inputs: Sequence[str | os.PathLike], output: str | os.PathLike | None, *,
              suffix: str, job: Callable[[Path, Path], str | None],
              on_start: Callable[[Path, Path], None] | None = None,
              on_done: Callable[[FileResult], None] | None = None,
              extension: str | None = None,
              beside: Callable[[Path], Path] | None = None) -> list[FileResult]:
    """Run ``job(input, output)`` on every file; problems with one file are recorded in its
    :class:`FileResult` (``job`` may return a note for it) and the batch goes on.

    Problems with the batch as a whole (no inputs; a plan that would overwrite an input or
    write a file twice; an output folder that cannot be made) raise
    :class:`~burnish.errors.BurnishError` before any file is touched.
    """
    many = len(inputs) > 1
    paths = unique_inputs(inputs)
    if not paths:
        raise OptionError("no input files given")
    targets = default_targets(paths, output, suffix=suffix, many=many, extension=extension,
                              beside=beside)
    plan = [PlannedOutput(path, target) for path, target in zip(paths, targets, strict=True)]
    check_plan(plan, paths, hint="give an output folder (-o DIR/) or another output name")
    if names_folder(output, many=many):
        make_folder(Path(output))
    for folder in {target.parent for target in targets} if beside and output is None else ():
        make_folder(folder)
    clear_interrupted_run(targets)

    def process(input_path: Path, target: Path) -> FileResult:
        if on_start is not None:
            on_start(input_path, target)
        return attempt(input_path, target, job)

    return process_each([(item.input, item.target) for item in plan], process, on_done)


def attempt(input_path: Path, target: Path, job: Callable[[Path, Path], str | None],
            started: float | None = None) -> FileResult:
    """``job(input, target)`` as one file of a batch: its note, or its failure as the
    file's one-line error (a user's problem, memory running out, or a bug, logged in full
    and named as one), never an exception that stops the batch."""
    started = time.perf_counter() if started is None else started
    try:
        note = job(input_path, target)
        return FileResult(input_path, target, seconds=time.perf_counter() - started, note=note)
    except BurnishError as error:
        text = str(error) if error.path else f"{input_path}: {error}"
    except MemoryError:
        text = f"{input_path}: out of memory"
    except Exception as error:  # a bug must not stop the batch; it is named as one
        log.exception("internal error on %s", input_path)
        text = f"{input_path}: internal error: {type(error).__name__}: {error}"
    return FileResult(input_path, None, error=text, seconds=time.perf_counter() - started)


def process_each(pairs: Sequence[tuple[Path, Path]],
                 process: Callable[[Path, Path], FileResult],
                 on_done: Callable[[FileResult], None] | None = None) -> list[FileResult]:
    """The one loop of a batch in this process: ``process(input, target)`` for each pair in
    order, each result told to ``on_done`` as it comes (``burnish run`` with several
    workers hands the same ``process`` to its worker processes instead)."""
    results = []
    for input_path, target in pairs:
        results.append(process(input_path, target))
        if on_done is not None:
            on_done(results[-1])
    return results


def _identity(path: Path) -> str:
    """A path as the file system resolves it (links followed, case as the OS compares)."""
    return os.path.normcase(os.path.realpath(path))


def _inode(path: Path) -> tuple[int, int] | None:
    """``(device, inode)`` of an existing file: hard links to one file are one file."""
    try:
        info = os.stat(path)
    except OSError:
        return None
    return (info.st_dev, info.st_ino)


def _nearest_existing(folder: Path) -> Path:
    folder = Path(os.path.abspath(folder))
    while not folder.exists() and folder != folder.parent:
        folder = folder.parent
    return folder


def _pathconf(folder: Path, name: str, fallback: int) -> int:
    try:
        value = os.pathconf(folder, name)
    except (OSError, ValueError):
        return fallback
    return value if value and value > 0 else fallback
