"""Batches of files: where each result goes, and one bad file never stopping the rest."""

from __future__ import annotations

import os
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

from burnish.errors import BurnishError, OptionError, OutputError


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


def output_path_for(input_path: Path, output: Path | None, *, suffix: str, many: bool) -> Path:
    """Where an input's result goes.

    One input and ``output`` not an existing folder: ``output`` is the file. Otherwise
    ``output`` (or the input's own folder) holds ``NAME{suffix}.EXT``.
    """
    name = f"{input_path.stem}{suffix}{input_path.suffix}"
    if output is None:
        return input_path.with_name(name)
    if many or output.is_dir():
        if not output.is_dir():
            raise OutputError("output folder does not exist", path=output)
        return output / name
    return output


def check_not_input(input_path: Path, output_path: Path) -> None:
    """Refuse to write over the input."""
    if output_path.exists() and input_path.exists() and output_path.samefile(input_path):
        raise OutputError("output would overwrite the input", path=output_path)


def run_batch(inputs: Sequence[str | os.PathLike], output: str | os.PathLike | None, *,
              suffix: str, job: Callable[[Path, Path], str | None],
              on_start: Callable[[Path, Path], None] | None = None,
              on_done: Callable[[FileResult], None] | None = None) -> list[FileResult]:
    """Run ``job(input, output)`` on every file; problems with one file are recorded in its
    :class:`FileResult` (``job`` may return a note for it) and the batch goes on.

    Problems with the batch as a whole (no inputs; several inputs and no output folder) raise
    :class:`~burnish.errors.BurnishError` before any file is touched.
    """
    paths = [Path(p) for p in inputs]
    if not paths:
        raise OptionError("no input files given")
    output = None if output is None else Path(output)
    many = len(paths) > 1
    if many and output is not None and not output.is_dir():
        raise OutputError("several inputs need an existing output folder", path=output)
    results = []
    for input_path in paths:
        started = time.perf_counter()
        try:
            target = output_path_for(input_path, output, suffix=suffix, many=many)
            check_not_input(input_path, target)
            if on_start is not None:
                on_start(input_path, target)
            note = job(input_path, target)
            result = FileResult(input_path, target, seconds=time.perf_counter() - started,
                                note=note)
        except BurnishError as error:
            result = FileResult(input_path, None, error=str(error),
                                seconds=time.perf_counter() - started)
        results.append(result)
        if on_done is not None:
            on_done(result)
    return results
