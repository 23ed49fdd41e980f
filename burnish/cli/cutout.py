"""``burnish cutout``: the subject as RGBA, its edge matted (hair, fur, glass)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from burnish.cli import options as opt


def cutout(
    inputs: opt.ImageFiles,
    model: opt.detect_model("--model", "-m") = None,
    box: opt.detect_box("--box") = None,
    point: opt.detect_points("--point") = None,
    band: Annotated[int, typer.Option(
        "--band", min=1, help="Pixels each side of the subject's edge whose alpha is "
        "matted.")] = 8,
    output: opt.output_file_or_folder("NAME_cutout.png") = None,
    device: opt.Device = opt.DeviceChoice.auto,
    max_pixels: opt.MaxPixels = None,
) -> None:
    """Cut the subject out as a PNG with alpha: found by a saliency model (--model), a SAM
    model (--model with --box/--point) or GrabCut (--box), its edge matted and its colour
    there freed of the old background."""
    from burnish.cli.results import report
    from burnish.engine.cutout import cutout as cut
    from burnish.engine.detection import Detector
    from burnish.engine.imageio import DEFAULT_MAX_PIXELS, read_image, write_image
    from burnish.engine.recipes.batch_plan import run_batch

    detector = Detector("subject", model=model, box=box, points=point or (),
                        device=opt.resolved_device(device))

    def job(input_path: Path, target: Path) -> str | None:
        pixels, meta = read_image(input_path, max_pixels=max_pixels or DEFAULT_MAX_PIXELS)
        out = cut(pixels, detector.mask(pixels), band=band)
        write_image(target, out, meta=meta, format="PNG")
        return None

    report(run_batch(inputs, output, suffix="_cutout", extension=".png", job=job))
