"""``burnish info``: versions, devices, ONNX Runtime providers, shipped models."""

from __future__ import annotations

import typer


def info() -> None:
    """Show versions, compute devices, ONNX Runtime providers and the shipped models."""
    from burnish.engine.provenance.environment import describe_environment

    for key, value in describe_environment().items():
        typer.echo(f"{key + ':':<22} {value}")
