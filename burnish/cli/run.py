"""``burnish run`` (a recipe over a batch) and ``burnish ops`` (what a recipe can say)."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Annotated

import typer

from burnish.cli import options as opt
from burnish.errors import OptionError


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
    ray: Annotated[bool, typer.Option(
        "--ray", help="Run on a Ray cluster (pip install 'burnish[ray]'): a local one started "
        "for the run, or --ray-address's. Inputs, outputs and the recipe's files must be on "
        "storage every node sees.")] = False,
    ray_address: Annotated[str | None, typer.Option(
        "--ray-address", metavar="ADDRESS", help="The cluster to join: 'auto' (the one "
        "running on this machine), host:port or ray://host:port.", show_default=False)] = None,
    ray_cpus: Annotated[float, typer.Option("--ray-cpus", help="CPUs of one actor (its "
                                            "threads).")] = 1.0,
    ray_gpus: Annotated[float, typer.Option("--ray-gpus", help="GPUs of one actor (0.5: two "
                                            "actors share one).")] = 0.0,
    ray_actors: Annotated[str | None, typer.Option(
        "--ray-actors", metavar="MIN:MAX", help="The actor pool's size, grown from MIN to MAX "
        "as work waits (N: a fixed pool); by default 1 to as many as the cluster holds.",
        show_default=False)] = None,
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
    if not ray:
        for name, given in (("--ray-address", ray_address is not None),
                            ("--ray-cpus", ray_cpus != 1.0), ("--ray-gpus", ray_gpus != 0.0),
                            ("--ray-actors", ray_actors is not None)):
            if given:
                raise OptionError(f"{name} goes with --ray")
        with BatchProgress(enabled=not quiet and sys.stderr.isatty()) as bar:
            results = run_recipe(loaded, inputs, options, on_plan=bar.plan, on_done=bar.done)
    else:
        from burnish.ray import ClusterOptions
        from burnish.ray import run_recipe as run_on_ray

        if jobs != 1:
            raise OptionError("--jobs counts local worker processes; on Ray the pool is "
                              "--ray-actors")
        low, high = _actor_range(ray_actors)
        cluster = ClusterOptions(address=ray_address, cpus=ray_cpus,
                                 gpus=ray_gpus, min_actors=low, max_actors=high)
        with BatchProgress(enabled=not quiet and sys.stderr.isatty()) as bar:
            results = run_on_ray(loaded, inputs, options, cluster, on_plan=bar.plan,
                                 on_done=bar.done)
    report(results)


def _actor_range(text: str | None) -> tuple[int, int | None]:
    """``MIN:MAX`` or ``N`` (a fixed pool) as ``(min, max)``; None: ``(1, None)``."""
    if text is None:
        return 1, None
    parts = text.split(":")
    try:
        values = [int(part) for part in parts]
    except ValueError:
        values = []
    if len(values) not in (1, 2):
        raise OptionError(f"--ray-actors {text!r} is not N or MIN:MAX (whole numbers)")
    return values[0], values[-1]


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
