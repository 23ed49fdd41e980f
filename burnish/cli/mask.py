"""``burnish mask``: write the mask a detector finds, for review before anything is removed."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from burnish.cli import options as opt


def mask(
    inputs: opt.ImageFiles,
    detect: Annotated[str, typer.Option(
        "--detect", metavar="KIND", help=f"What to find: {opt.DETECT_KIND_HELP}.",
        show_default=False)],
    model: opt.detect_model("--model", "-m") = None,
    box: opt.detect_box("--box") = None,
    point: opt.detect_points("--point") = None,
    grow: Annotated[int, typer.Option(
        "--grow", min=0, help="Grow the mask by this many pixels (what remove's --dilate "
        "would do), to review it as it will be used.")] = 0,
    output: opt.output_file_or_folder("masks/NAME.png") = None,
    device: opt.Device = opt.DeviceChoice.auto,
    max_pixels: opt.MaxPixels = None,
) -> None:
    """Find text, a subject or the background and write it as a grey mask (255: found), the
    file burnish remove --mask and recipes (masks/{stem}.png) read."""
    from burnish.cli.results import report
    from burnish.engine.detection import Detector
    from burnish.engine.imageio import DEFAULT_MAX_PIXELS, read_image, write_image
    from burnish.engine.recipes.batch_plan import run_batch
    from burnish.kernels import dilate

    detector = Detector(detect, model=model, box=box, points=point or (),
                        device=opt.resolved_device(device))

    def job(input_path: Path, target: Path) -> str | None:
        pixels, _ = read_image(input_path, max_pixels=max_pixels or DEFAULT_MAX_PIXELS)
        found = detector.mask(pixels)
        if grow:
            found = dilate(found, grow)
        write_image(target, found.astype("uint8") * 255, format="PNG")
        share = found.mean() * 100
        return f"{detector.label}: {share:.2f}% of the image" if found.any() else (
            f"{detector.label}: nothing found (the mask is empty)")

    report(run_batch(inputs, output, suffix="", extension=".png", job=job,
                     beside=lambda path: path.parent / "masks" / f"{path.stem}.png"))
