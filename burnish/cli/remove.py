"""``burnish remove``: remove what a mask covers from one or more image files."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Annotated

import typer

from burnish.cli import options as opt
from burnish.errors import OptionError


def remove(
    inputs: opt.ImageFiles,
    mask: Annotated[Path | None, typer.Option(
        "--mask", help="Mask image of the input's size: grey (or alpha) above half scale is "
        "removed.")] = None,
    box: Annotated[list[str] | None, typer.Option(
        "--box", metavar="X,Y,W,H", help="Box to remove, x,y,w,h in pixels; repeat for several.")] = None,
    polygon: Annotated[list[str] | None, typer.Option(
        "--polygon", metavar='"X1,Y1 X2,Y2 ..."', help="Polygon to remove, \"x1,y1 x2,y2 x3,y3 ...\"; repeat for several.")]
    = None,
    alpha: Annotated[bool, typer.Option(
        "--alpha", help="Remove (fill) where the input is more than half transparent; the "
        "filled pixels become opaque.")] = False,
    key: Annotated[str | None, typer.Option(
        "--key", help="Remove pixels of this colour, #rrggbb or r,g,b.")] = None,
    key_tolerance: Annotated[float, typer.Option(
        "--key-tolerance", min=0, help="How far (0-255, per channel) a pixel may be from the "
        "--key colour.")] = 12.0,
    detect: Annotated[str | None, typer.Option(
        "--detect", metavar="KIND", help=f"Also remove what a detector finds: "
        f"{opt.DETECT_KIND_HELP}.")] = None,
    detect_model: opt.detect_model("--detect-model") = None,
    detect_box: opt.detect_box("--detect-box") = None,
    detect_point: opt.detect_points("--detect-point") = None,
    output: opt.output_file_or_folder("NAME_removed.EXT") = None,
    method: Annotated[str, typer.Option(
        "--method", help="patchmatch (texture from the image, no weights), telea (fast, "
        "smooth: scratches and spots), or a path to an ONNX inpainting model with LaMa's "
        "inputs (image, mask).")] = "patchmatch",
    dilate: Annotated[int, typer.Option(
        "--dilate", min=0, help="Grow the mask by this many pixels first.")] = 4,
    feather: Annotated[float, typer.Option(
        "--feather", min=0, help="Soft edge, in pixels, outside the grown mask.")] = 4.0,
    harmonize: Annotated[bool, typer.Option(
        "--harmonize/--no-harmonize", help="Match the fill's colour and grain to its "
        "surroundings.")] = True,
    patch: Annotated[int, typer.Option(
        "--patch", min=3, help="PatchMatch patch side (odd); larger keeps larger structures "
        "and costs more.")] = 7,
    seed: Annotated[int, typer.Option("--seed", min=0, help="The same seed gives the same bytes.")] = 0,
    device: opt.Device = opt.DeviceChoice.auto,
    max_pixels: opt.MaxPixels = None,
    quality: opt.Quality = 95,
    quiet: opt.Quiet = False,
) -> None:
    """Remove objects, watermarks or blemishes and fill the hole so the edit does not show."""
    from burnish.cli.progress import TileProgress
    from burnish.cli.results import report
    from burnish.engine.removal.object_removal import MaskSpec, remove_files

    detector = None
    if detect is not None or detect_model is not None or detect_box is not None or detect_point:
        from burnish.engine.detection import Detector

        if detect is None:
            raise OptionError("--detect-model, --detect-box and --detect-point go with "
                              "--detect KIND")
        detector = Detector(detect, model=detect_model, box=detect_box,
                            points=detect_point or (), device=opt.resolved_device(device))
    masks = MaskSpec(mask_file=mask, boxes=tuple(box or ()), polygons=tuple(polygon or ()),
                     alpha=alpha, key=key, key_tolerance=key_tolerance, detect=detector)
    with TileProgress(enabled=not quiet and sys.stderr.isatty(), unit="regions") as bar:
        results = remove_files(
            inputs, output, masks=masks, method=method, dilate=dilate, feather=feather,
            harmonize=harmonize, seed=seed, patch_size=patch, device=opt.resolved_device(device),
            max_pixels=max_pixels, quality=quality, on_start=bar.start_file,
            progress=bar.update, on_done=bar.finish_file)
    report(results)
