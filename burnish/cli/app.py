"""The Typer app. Commands import the engine lazily so that ``--help`` answers at once."""

from __future__ import annotations

import os
import sys
from typing import Annotated

import typer

from burnish import __version__
from burnish.cli import edit as edit_command
from burnish.cli import export as export_command
from burnish.cli import info as info_command
from burnish.cli import models as models_command
from burnish.cli import remove as remove_command
from burnish.cli import run as run_command
from burnish.cli import upscale as upscale_command
from burnish.errors import BurnishError

app = typer.Typer(name="burnish", no_args_is_help=True, add_completion=False,
                  help="The last mile of AI image work: upscaling, object removal and refinement.")


def _version(value: bool) -> None:
    if value:
        typer.echo(f"burnish {__version__}")
        raise typer.Exit()


@app.callback()
def main_options(version: Annotated[bool, typer.Option(
        "--version", callback=_version, is_eager=True, help="Show the version and exit.")] = False):
    """burnish: upscale images, remove objects, and finish them."""


app.command("upscale")(upscale_command.upscale)
app.command("remove")(remove_command.remove)
app.command("run")(run_command.run)
app.command("edit")(edit_command.edit)
app.command("history")(edit_command.history)
app.command("revert")(edit_command.revert)
app.command("ops")(run_command.ops)
app.command("export")(export_command.export)
app.add_typer(models_command.app, name="models")
app.command("info")(info_command.info)


def main() -> None:
    """Console entry point: one line per error, a traceback only with BURNISH_DEBUG=1."""
    try:
        app()
    except BurnishError as error:
        if os.environ.get("BURNISH_DEBUG"):
            raise
        typer.echo(f"burnish: error: {error}", err=True)
        sys.exit(1)
    except KeyboardInterrupt:
        typer.echo("burnish: interrupted", err=True)
        sys.exit(130)


if __name__ == "__main__":
    main()
