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
    tile: Annotated[int | None, typer.Option(
        "--tile", min=defaults.SMALLEST_TILE, help="The engine's largest tile, in input "
        f"pixels (default: the model's advice, else {defaults.TILE}).")] = None,
    batch: Annotated[int, typer.Option("--batch", min=1, help="The engine's largest batch.")
                     ] = defaults.BATCH["cuda"],
) -> None:
    """Export a checkpoint to ONNX with its descriptor (scale, halo, sizes) in the metadata;
    with --engine, build the TensorRT engine that upscaling with --backend trt runs."""
    from burnish.export.onnx_export import export_checkpoint
    from burnish.models.registry import shipped_models

    shipped = shipped_models().get(str(checkpoint))
    if shipped is not None or checkpoint.suffix.lower() == ".onnx":
        if not engine:
            raise OptionError(f"{checkpoint} is already an ONNX model: add --engine to build "
                              "its TensorRT engine")
        _build_engine(Path(shipped.source) if shipped else checkpoint, shipped, tile, batch)
        return
    if output is None:
        output = checkpoint.with_name(checkpoint.stem + ("-fp16" if fp16 else "") + ".onnx")
    result = export_checkpoint(checkpoint, output, fp16=fp16, opset=opset, validate=validate)
    d = result.descriptor
    typer.echo(f"{result.path}: {d.architecture} x{d.scale}, halo {d.halo}, {d.channels} "
               f"channels, precisions {','.join(d.precisions)} ({result.seconds:.1f} s)")
    if result.validation is not None:
        typer.echo(str(result.validation))
    if engine:
        _build_engine(result.path, d, tile, batch)


def _build_engine(onnx_path: Path, descriptor, tile: int | None, batch: int) -> None:
    from burnish.export.tensorrt import build_engine_for

    path = build_engine_for(onnx_path, descriptor=descriptor, tile=tile, batch=batch)
    typer.echo(f"{path}: TensorRT engine")
