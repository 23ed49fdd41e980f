"""``burnish export``: a PyTorch checkpoint to ONNX (and a TensorRT engine)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from burnish import defaults
from burnish.errors import OptionError


def export(
    checkpoint: Annotated[Path, typer.Argument(
        help="A .pth, .ckpt or .safetensors checkpoint of any architecture spandrel knows; "
        "with --engine also an .onnx file or a shipped model's name (only the engine is "
        "built).", show_default=False)],
    output: Annotated[Path | None, typer.Option(
        "--output", "-o", help="The .onnx file; default: NAME.onnx (NAME-fp16.onnx) beside the "
        "checkpoint.")] = None,
    fp16: Annotated[bool, typer.Option("--fp16", help="Compute in fp16 inside the graph "
                                       "(float32 in and out).")] = False,
    opset: Annotated[int, typer.Option("--opset", min=17, help="ONNX opset.")] = 17,
    validate: Annotated[bool, typer.Option(
        "--validate", help="Compare ONNX Runtime with PyTorch on a random batch; write nothing "
        "if they differ by more than 1e-3 (fp32) or 1e-2 (fp16) relative.")] = False,
    engine: Annotated[bool, typer.Option(
        "--engine", help="Also build a TensorRT engine (fp16, dynamic tile shapes), cached under "
        "a key of everything that affects the build. Needs TensorRT's builder and a GPU.")] = False,
    int8: Annotated[bool, typer.Option(
        "--int8", help="Write an int8 model (static QDQ: int8 weights per channel, uint8 "
        "activations) for edge CPUs: NAME-int8.onnx. Takes a checkpoint (exported first), an "
        ".onnx file or a shipped model's name; needs --calibrate.")] = False,
    calibrate: Annotated[Path | None, typer.Option(
        "--calibrate", help="With --int8: a folder of images like the ones the model will "
        "upscale, to measure the activations' ranges (up to 64 images, 4 crops each).",
        show_default=False)] = None,
    reduce_range: Annotated[bool | None, typer.Option(
        "--reduce-range/--full-range", help="With --int8: 7-bit weights, for x86 CPUs "
        "without VNNI (default: chosen by this CPU).", show_default=False)] = None,
    tile: Annotated[int | None, typer.Option(
        "--tile", min=defaults.SMALLEST_TILE, help="The engine's largest tile, in input "
        f"pixels (default: the model's advice, else {defaults.TILE}).")] = None,
    batch: Annotated[int, typer.Option("--batch", min=1, help="The engine's largest batch.")
                     ] = defaults.BATCH["cuda"],
) -> None:
    """Export a checkpoint to ONNX with its descriptor (scale, halo, sizes) in the metadata;
    with --engine, build the TensorRT engine that upscaling with --backend trt runs; with
    --int8 --calibrate DIR, an int8 model for edge CPUs."""
    from burnish.export.onnx_export import export_checkpoint
    from burnish.models.registry import shipped_models

    if (calibrate is not None or reduce_range is not None) and not int8:
        raise OptionError("--calibrate and --reduce-range/--full-range go with --int8")
    if int8 and (calibrate is None or fp16 or engine):
        raise OptionError("--int8 needs --calibrate DIR, and goes without --fp16 and --engine")
    shipped = shipped_models().get(str(checkpoint))
    if int8 and (shipped is not None or checkpoint.suffix.lower() == ".onnx"):
        _quantize(str(checkpoint), output or Path(checkpoint.name if shipped else checkpoint)
                  .with_name(checkpoint.stem + "-int8.onnx"), calibrate, reduce_range)
        return
    if shipped is not None or checkpoint.suffix.lower() == ".onnx":
        if not engine:
            raise OptionError(f"{checkpoint} is already an ONNX model: add --engine to build "
                              "its TensorRT engine")
        _build_engine(Path(shipped.source) if shipped else checkpoint, shipped, tile, batch)
        return
    int8_output = output if int8 else None
    if output is None or int8:
        output = checkpoint.with_name(checkpoint.stem + ("-fp16" if fp16 else "") + ".onnx")
    result = export_checkpoint(checkpoint, output, fp16=fp16, opset=opset, validate=validate)
    d = result.descriptor
    typer.echo(f"{result.path}: {d.architecture} x{d.scale}, halo {d.halo}, {d.channels} "
               f"channels, precisions {','.join(d.precisions)} ({result.seconds:.1f} s)")
    if result.validation is not None:
        typer.echo(str(result.validation))
    if engine:
        _build_engine(result.path, d, tile, batch)
    if int8:
        _quantize(str(result.path), int8_output or result.path.with_name(
            result.path.stem + "-int8.onnx"), calibrate, reduce_range)


def _quantize(model: str, output: Path, calibrate: Path, reduce_range: bool | None) -> None:
    from burnish.export.quantize import quantize_int8

    result = quantize_int8(model, output, calibrate, reduce_range=reduce_range)
    d = result.descriptor
    typer.echo(f"{result.path}: int8 x{d.scale}, halo {d.halo}, calibrated on "
               f"{result.images} images{', reduced range' if result.reduce_range else ''} "
               f"({result.seconds:.1f} s)")


def _build_engine(onnx_path: Path, descriptor, tile: int | None, batch: int) -> None:
    from burnish.export.tensorrt import build_engine_for

    path = build_engine_for(onnx_path, descriptor=descriptor, tile=tile, batch=batch)
    typer.echo(f"{path}: TensorRT engine")
