"""``burnish models list`` and ``burnish models inspect``: what a model is, as the engine sees it."""

from __future__ import annotations

from typing import Annotated

import typer

from burnish import defaults
from burnish.cli.render import CommandWithPlainUsage

app = typer.Typer(no_args_is_help=True, help="List and inspect models.")


def _render(descriptor) -> None:
    d = descriptor
    rows = [("name", d.name), ("architecture", d.architecture or "unknown"), ("task", d.task),
            ("scale", f"x{d.scale}"), ("channels", d.channels),
            ("halo", f"{d.halo} input pixels (receptive radius)"),
            ("size", f"multiple of {d.size_multiple}, at least {d.min_size}, padded by {d.pad_mode}"),
            ("tile advice", d.tile or f"none (engine default {defaults.TILE})"),
            ("precisions", ", ".join(d.precisions)), ("source", d.source)]
    if d.sha256:
        rows.append(("sha256", d.sha256))
    for key, value in rows:
        typer.echo(f"{key + ':':<14} {value}")


@app.command("list", cls=CommandWithPlainUsage)
def list_models() -> None:
    """The shipped models and classical resamplers, by name."""
    from burnish.models.registry import CLASSICAL, shipped_models
    from burnish.models.segmentation import shipped_mask_models

    for name, d in shipped_models().items():
        typer.echo(f"{name:<14} {d.architecture}, x{d.scale}, halo {d.halo}, "
                   f"{','.join(d.precisions)} (shipped)")
        typer.echo(f"{'':<14} {provenance(d.extra)}")
    for entry in shipped_mask_models():
        quality = entry.get("quality", {})
        typer.echo(f"{entry['name']:<14} {entry['architecture']}, {entry['task']} for "
                   f"--detect text, {entry['parameters']:,} parameters, validation IoU "
                   f"{quality.get('validation_iou_grown', 'unmeasured')} (shipped)")
    for name in CLASSICAL:
        typer.echo(f"{name:<14} classical resampling, any integer scale")


def provenance(entry: dict) -> str:
    """One line of a shipped upscaler's manifest entry: its size, how it was made, and what it
    scored on Set14 where that was measured (``benches/set14.py --record``)."""
    training = entry.get("training", {})
    parts = [f"{entry['parameters']:,} parameters" if "parameters" in entry else None]
    if "quantized_from" in training:
        parts.append(f"{training['quantized_from']} quantized ({training['format']}, "
                     f"{training['weights']}, calibrated on {plural(training['images'], 'photo')})")
    elif "steps" in training:
        parts.append(f"trained {training['steps']:,} steps in {training['minutes']:g} min on "
                     f"{training.get('machine', 'an unrecorded machine')} "
                     f"({plural(len(training.get('data', [])), 'photo')})")
    quality = entry.get("quality", {}).get(f"set14_x{entry['scale']}")
    parts.append(f"Set14 x{entry['scale']} {quality['psnr_y']:.2f} dB Y, "
                 f"{quality['over_bicubic']:+.2f} over bicubic" if quality
                 else "Set14 unmeasured")
    return "; ".join(part for part in parts if part)


def plural(count: int, noun: str) -> str:
    return f"{count} {noun}{'' if count == 1 else 's'}"


@app.command("inspect", cls=CommandWithPlainUsage)
def inspect(model: Annotated[str, typer.Argument(
        help="A shipped name, or an .onnx, .engine, .pth or .safetensors file.",
        show_default=False)]) -> None:
    """Show a model's descriptor; files without burnish metadata are probed (scale, halo)."""
    from burnish.models.registry import inspect_model

    _render(inspect_model(model))
