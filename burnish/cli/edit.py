"""``burnish edit``, ``burnish history`` and ``burnish revert``: non-destructive editing of one
image, with every version kept in a ``.burnish/`` folder beside it."""

from __future__ import annotations

from datetime import datetime
from pathlib import Path
from typing import Annotated

import typer

from burnish.cli import options as opt

Image = Annotated[Path, typer.Argument(help="The original image (never written to).",
                                       show_default=False)]


def edit(
    image: Image,
    steps: Annotated[list[str], typer.Argument(
        help='Steps, each quoted as one argument: "OP KEY=VALUE ..." (burnish ops lists them), '
        'e.g. "adjust exposure=0.5".', show_default=False)],
    device: opt.Device = opt.DeviceChoice.auto,
    backend: opt.Backend = "auto",
) -> None:
    """Apply steps to the current version of IMAGE, keeping each result as a new version in
    .burnish/ beside it; the image file itself is never changed."""
    from burnish.engine.provenance import history as catalogue

    versions = catalogue.edit(image, steps, device=opt.resolved_device(device), backend=backend)
    work = catalogue.working_copy(image)
    for version in versions:
        typer.echo(f"v{version.number} {version.summary} -> {work} ({version.seconds:.1f} s)")


def history(image: Image) -> None:
    """List the versions of IMAGE (* marks the current one) and where its working copy is."""
    from burnish.engine.provenance import history as catalogue

    versions = catalogue.history(image)
    width = max(len(version.summary) for version in versions)
    for version in versions:
        marker = "*" if version.head else " "
        note = f"  ({version.note})" if version.note else ""
        typer.echo(f"{marker} v{version.number:<3} {version.summary:<{width}}  "
                   f"{version.result_sha256[:12]}  {local_time(version.created)}{note}")
    typer.echo(f"working copy: {catalogue.working_copy(image)}")


def local_time(moment: datetime) -> str:
    """When a version was made, in this machine's time zone, to the second."""
    return moment.astimezone().strftime("%Y-%m-%d %H:%M:%S")


def revert(
    image: Image,
    to: Annotated[int, typer.Option("--to", min=0, help="The version to make current again "
                                    "(burnish history lists them).", show_default=False)],
) -> None:
    """Make an earlier version of IMAGE current again; the history keeps every version."""
    from burnish.engine.provenance import history as catalogue

    version = catalogue.revert(image, to)
    typer.echo(f"v{version.number} {version.summary} -> {catalogue.working_copy(image)}")
