"""Option aliases shared by the commands, declared once."""

from __future__ import annotations

import enum
import logging
from pathlib import Path
from typing import Annotated

import typer

from burnish import defaults
from burnish.device import REQUESTS

Scale = Annotated[int, typer.Option("--scale", "-s", min=1, help="Output scale (the default "
                                    "model gives 4, 2 and 1; lanczos any integer).")]
Model = Annotated[str | None, typer.Option(
    "--model", "-m", help="Shipped model name (default: the scale's own, compact-x2 for 2 where "
    "it ships, else compact-x4), 'lanczos', or a path to "
    "an .onnx file, a TensorRT .engine, or a .pth/.safetensors checkpoint.")]
Precision = Annotated[str, typer.Option(
    "--precision", help="fp32, or int8 for the model's shipped int8 variant (compact-x4 -> "
    "compact-x4-int8: faster on CPUs, slightly less exact).")]
Backend = Annotated[str, typer.Option(
    "--backend", "-b", help="auto (ONNX Runtime for .onnx, TensorRT for .engine, PyTorch for "
    "checkpoints), ort, trt or torch.")]
Tile = Annotated[int | None, typer.Option(
    "--tile", "-t", min=0, help=f"Tile size in input pixels (default {defaults.TILE}); 0 = whole "
    "image at once. The output is the same for every tile size.")]
# The choices a user has (burnish.device.REQUESTS), checked by Typer before any work.
DeviceChoice = enum.Enum("DeviceChoice", {request: request for request in REQUESTS}, type=str)
Device = Annotated[DeviceChoice, typer.Option(
    "--device", "-d", case_sensitive=False, metavar="DEVICE",
    help="auto (the first GPU if there is one, else the CPU), cpu, cuda or cuda:N (N = 0-7): "
    "where models and the image kernels that have a CUDA driver run.")]


def resolved_device(choice: DeviceChoice | str):
    """The command's device, resolved once (:func:`burnish.device.resolve_device`)."""
    from burnish.device import resolve_device

    return resolve_device(getattr(choice, "value", choice))
Batch = Annotated[int | None, typer.Option("--batch", min=1, help="Tiles per model call "
                                              f"(default {defaults.BATCH['cpu']} on the CPU, "
                                              f"{defaults.BATCH['cuda']} on a GPU).")]
MaxPixels = Annotated[int | None, typer.Option(
    "--max-pixels", min=1, help="Refuse inputs with more pixels than this (a guard against "
    "decompression bombs; default 400000000). Raise it for real print work.")]
Quality = Annotated[int, typer.Option("--quality", "-q", min=1, max=100,
                                      help="JPEG/WebP quality (100 = lossless WebP).")]


def _quiet_logs(quiet: bool) -> bool:
    if quiet:  # notes (first-use compiling, cleaned-up files) go; warnings stay
        from burnish.cli.render import log_to_stderr

        log_to_stderr(logging.WARNING)
    return quiet


Quiet = Annotated[bool, typer.Option("--quiet", callback=_quiet_logs,
                                     help="No progress bar and no notes (warnings stay).")]


def output_file_or_folder(default: str):
    """``-o``: a file for one input, or a folder. A string, not a ``Path``: ``Path`` drops
    the trailing slash that says "a folder"."""
    return Annotated[str | None, typer.Option(
        "--output", "-o", metavar="PATH", help="Output file for one input, or a folder (ends "
        "with /, is an existing folder, or there are several inputs; created if missing); "
        f"default: {default} beside each input.")]


# The automatic mask sources (burnish.engine.detection), as `burnish mask` and `remove` take them.
DETECT_KIND_HELP = ("text (a PP-OCR text detector), subject or background (a saliency model, "
                    "a SAM-contract model prompted by a box or points, or GrabCut from a box)")


def detect_model(*names: str):
    return Annotated[Path | None, typer.Option(
        *names, metavar="FILE", help="The detector's ONNX model (text: PP-OCR's det contract, "
        "default the installed rapidocr_onnxruntime's; subject/background: rembg's "
        "contract, or SAM's encoder/decoder pair named by either file, NAME.encoder.onnx / "
        "NAME.decoder.onnx, or their folder).")]


def detect_box(name: str):
    return Annotated[str | None, typer.Option(
        name, metavar="X,Y,W,H", help="Where the subject is: GrabCut's rectangle, a SAM "
        "model's box prompt, or a saliency model's subject kept inside it.")]


def detect_points(name: str):
    return Annotated[list[str] | None, typer.Option(
        name, metavar="X,Y[,LABEL]", help="A SAM model's point prompt, repeatable: LABEL 1 "
        "(default) on the subject, 0 not on it.")]


ImageFiles = Annotated[list[Path], typer.Argument(help="Image files (PNG, JPEG, TIFF, WebP).",
                                                  show_default=False)]
