"""``burnish upscale``: upscale one or more image files."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Annotated

import typer

from burnish.cli import options as opt


def upscale(
    inputs: Annotated[list[Path], typer.Argument(help="Image files (PNG, JPEG, TIFF, WebP).",
                                                 show_default=False)],
    output: Annotated[Path | None, typer.Option(
        "--output", "-o", help="Output file for one input, or an existing folder; default: "
        "NAME_x4.EXT beside each input.")] = None,
    scale: opt.Scale = 4,
    model: opt.Model = None,
    tile: opt.Tile = None,
    device: opt.Device = "auto",
    batch: opt.Batch = None,
    max_pixels: opt.MaxPixels = None,
    quality: opt.Quality = 95,
    quiet: opt.Quiet = False,
) -> None:
    """Upscale images with a super-resolution model, tile by tile, streaming to disk."""
    from burnish.cli.progress import TileProgress
    from burnish.engine.upscale import upscale_files

    with TileProgress(enabled=not quiet and sys.stderr.isatty()) as bar:
        results = upscale_files(
            inputs, output, scale=scale, model=model, tile=tile, device=device,
            batch_size=batch, max_pixels=max_pixels, quality=quality,
            on_start=bar.start_file, progress=bar.update, on_done=bar.finish_file)
    failed = [r for r in results if not r.ok]
    for result in results:
        if result.ok:
            typer.echo(f"{result.input} -> {result.output} ({result.seconds:.1f} s)")
        else:
            typer.echo(f"burnish: error: {result.error}", err=True)
    if len(results) > 1:
        typer.echo(f"{len(results) - len(failed)} written, {len(failed)} failed", err=bool(failed))
    if failed:
        raise typer.Exit(code=1)
