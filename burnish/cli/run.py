"""``burnish run`` (a recipe over a batch) and ``burnish ops`` (what a recipe can say)."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Annotated

import typer

from burnish.cli import options as opt


def run(
    recipe: Annotated[Path, typer.Argument(help="Recipe file (.toml or .json).",
                                           show_default=False)],
    inputs: Annotated[list[str], typer.Argument(help="Image files, folders, or glob patterns "
                                                "(quote them; ** recurses).", show_default=False)],
    output: Annotated[Path, typer.Option("--output", "-o", help="Output folder (created if "
                                         "missing).", show_default=False)],
    jobs: Annotated[int, typer.Option("--jobs", "-j", min=1, help="Worker processes; each "
                                      "keeps its own models open and takes a share of the "
                                      "cores.")] = 1,
    resume: Annotated[bool, typer.Option("--resume", help="Skip outputs that are complete and "
                                         "were made from the same input, recipe and model "
                                         "(checked by content hashes).")] = False,
    sign_cert: Annotated[Path | None, typer.Option(
        "--sign-cert", help="PEM certificate chain: add C2PA Content Credentials to every "
        "output (needs c2pa-python and --sign-key).")] = None,
    sign_key: Annotated[Path | None, typer.Option("--sign-key", help="PEM private key of "
                                                  "--sign-cert.")] = None,
    device: opt.Device = opt.DeviceChoice.auto,
    backend: opt.Backend = "auto",
    max_pixels: opt.MaxPixels = None,
    quiet: opt.Quiet = False,
) -> None:
    """Run a recipe over images: every output gets a provenance sidecar and embedded XMP."""
    from burnish.cli.progress import BatchProgress
    from burnish.cli.results import report
    from burnish.engine.recipes.batch_run import RunOptions, run_recipe
    from burnish.engine.recipes.recipe import load_recipe

    options = RunOptions(output=output, jobs=jobs, resume=resume, device=opt.resolved_device(device),
                         backend=backend, max_pixels=max_pixels, sign_cert=sign_cert,
                         sign_key=sign_key)
    loaded = load_recipe(recipe)
    with BatchProgress(enabled=not quiet and sys.stderr.isatty()) as bar:
        results = run_recipe(loaded, inputs, options, on_plan=bar.plan, on_done=bar.done)
    report(results)


def ops() -> None:
    """List the ops a recipe or `burnish edit` step can use, with their parameters."""
    from burnish.engine.ops import OPS

    for op in OPS.values():
        typer.echo(f"{op.name}: {op.summary}")
        for param in op.params:
            default = ("required" if param.required else "optional" if param.default is None
                       else f"default {param.default!r}")
            typer.echo(f"    {param.name} ({param.kind.describe()}; {default}): {param.help}")
        typer.echo("")
