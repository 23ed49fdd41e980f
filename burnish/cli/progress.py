"""A per-file progress bar with ETA, fed by the scheduler's per-tile callback."""

from __future__ import annotations

from pathlib import Path


def _bar(unit: str):
    """A rich bar on stderr: description, bar, done/total ``unit``, elapsed time and ETA."""
    from rich.console import Console
    from rich.progress import (
        BarColumn,
        MofNCompleteColumn,
        Progress,
        TextColumn,
        TimeElapsedColumn,
        TimeRemainingColumn,
    )

    return Progress(TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(),
                    TextColumn(unit), TimeElapsedColumn(), TextColumn("ETA"),
                    TimeRemainingColumn(), console=Console(stderr=True), transient=True)


class TileProgress:
    """Draws one bar per file on stderr (nothing when disabled, e.g. not a terminal); ``unit``
    names what is counted (tiles, regions)."""

    def __init__(self, enabled: bool, unit: str = "tiles"):
        self.enabled, self.unit = enabled, unit
        self.task = None

    def __enter__(self) -> TileProgress:
        if self.enabled:
            self.progress = _bar(self.unit)
            self.progress.__enter__()
        return self

    def __exit__(self, *exc_info) -> None:
        if self.enabled:
            self.progress.__exit__(*exc_info)

    def start_file(self, source: Path, target: Path) -> None:
        if self.enabled:
            self.task = self.progress.add_task(source.name, total=None)

    def update(self, done: int, total: int) -> None:
        if self.enabled and self.task is not None:
            self.progress.update(self.task, completed=done, total=total)

    def finish_file(self, result) -> None:
        if self.enabled and self.task is not None:
            self.progress.remove_task(self.task)
            self.task = None


class BatchProgress:
    """One bar over the files of a batch, with each file's status printed above it as it
    finishes (nothing when disabled, e.g. not a terminal: the final report says it all)."""

    def __init__(self, enabled: bool):
        self.enabled = enabled
        self.task = None

    def __enter__(self) -> BatchProgress:
        if self.enabled:
            self.progress = _bar("files")
            self.progress.__enter__()
        return self

    def __exit__(self, *exc_info) -> None:
        if self.enabled:
            self.progress.__exit__(*exc_info)

    def plan(self, total: int) -> None:
        if self.enabled:
            self.task = self.progress.add_task("batch", total=total)

    def done(self, result) -> None:
        if self.enabled and self.task is not None:
            status = "skipped" if result.skipped else "ok" if result.ok else "FAILED"
            self.progress.console.print(f"{status:>7}  {result.input}")
            self.progress.advance(self.task)
