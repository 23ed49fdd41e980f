"""``burnish upscale``: upscale one or more image files."""

from __future__ import annotations

import sys

from burnish.cli import options as opt


def upscale(
    inputs: opt.ImageFiles,
    output: opt.output_file_or_folder("NAME_x4.EXT") = None,
    scale: opt.Scale = 4,
    model: opt.Model = None,
    precision: opt.Precision = "fp32",
    tile: opt.Tile = None,
    device: opt.Device = opt.DeviceChoice.auto,
    backend: opt.Backend = "auto",
    batch: opt.Batch = None,
    max_pixels: opt.MaxPixels = None,
    quality: opt.Quality = 95,
    quiet: opt.Quiet = False,
) -> None:
    """Upscale images with a super-resolution model, tile by tile, streaming to disk."""
    from burnish.cli.progress import TileProgress
    from burnish.cli.results import report
    from burnish.engine.upscaling import upscale_files
    from burnish.models.registry import with_precision

    model = with_precision(model, precision, scale=scale)

    with TileProgress(enabled=not quiet and sys.stderr.isatty()) as bar:
        results = upscale_files(
            inputs, output, scale=scale, model=model, tile=tile, device=opt.resolved_device(device), backend=backend,
            batch_size=batch, max_pixels=max_pixels, quality=quality,
            on_start=bar.start_file, progress=bar.update, on_done=bar.finish_file)
    report(results)
