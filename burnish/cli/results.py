"""How a command reports a batch: a line per file, a summary, the exit code."""

from __future__ import annotations

import typer

from burnish.cli.render import command_line_spelling


def report(results) -> None:
    """One line per file (errors on stderr), a count when there were several; exit code 1 when
    any file failed."""
    failed = [r for r in results if not r.ok]
    skipped = [r for r in results if r.skipped]
    for result in results:
        if result.ok:
            note = f"; {result.note}" if result.note else ""
            typer.echo(f"{result.input} -> {result.output} ({result.seconds:.1f} s{note})")
        else:
            typer.echo(f"burnish: error: {command_line_spelling(result.error)}", err=True)
    if len(results) > 1:
        written = len(results) - len(failed) - len(skipped)
        also = f", {len(skipped)} already complete" if skipped else ""
        typer.echo(f"{written} written{also}, {len(failed)} failed", err=bool(failed))
    if failed:
        raise typer.Exit(code=1)
