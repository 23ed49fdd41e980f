"""The Typer app. Commands import the engine lazily so that ``--help`` answers at once."""

from __future__ import annotations

import ctypes
import os
import sys
from typing import Annotated

import typer

from burnish import __version__
from burnish.cli import cutout as cutout_command
from burnish.cli import edit as edit_command
from burnish.cli import export as export_command
from burnish.cli import info as info_command
from burnish.cli import mask as mask_command
from burnish.cli import models as models_command
from burnish.cli import open as open_command
from burnish.cli import remove as remove_command
from burnish.cli import run as run_command
from burnish.cli import serve as serve_command
from burnish.cli import upscale as upscale_command
from burnish.cli.render import (
    CommandWithPlainUsage,
    command_line_spelling,
    log_to_stderr,
    usage_error_line,
)
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


app.command("upscale", cls=CommandWithPlainUsage)(upscale_command.upscale)
app.command("remove", cls=CommandWithPlainUsage)(remove_command.remove)
app.command("mask", cls=CommandWithPlainUsage)(mask_command.mask)
app.command("cutout", cls=CommandWithPlainUsage)(cutout_command.cutout)
app.command("run", cls=CommandWithPlainUsage)(run_command.run)
app.command("edit", cls=CommandWithPlainUsage)(edit_command.edit)
app.command("history", cls=CommandWithPlainUsage)(edit_command.history)
app.command("revert", cls=CommandWithPlainUsage)(edit_command.revert)
app.command("ops", cls=CommandWithPlainUsage)(run_command.ops)
app.command("export", cls=CommandWithPlainUsage)(export_command.export)
app.command("serve", cls=CommandWithPlainUsage)(serve_command.serve)
app.command("open", cls=CommandWithPlainUsage)(open_command.open_images)
app.add_typer(models_command.app, name="models")
app.command("info", cls=CommandWithPlainUsage)(info_command.info)


def _fewer_malloc_arenas() -> None:
    """glibc gives each thread that allocates its own malloc arena, and memory freed in an
    arena rarely goes back to the system: with the scheduler's reader, model and writer
    threads and ONNX Runtime's and libvips' own, a run's peak RSS held tens of MB of freed
    memory (a 16 MP x4 upscale: 509 MB, 479 with two arenas, at no cost in time). Two
    arenas, as ``MALLOC_ARENA_MAX=2`` sets; the user's own ``MALLOC_ARENA_MAX`` wins. The
    process is the CLI's: the library never tunes its caller's allocator."""
    if "MALLOC_ARENA_MAX" in os.environ or not sys.platform.startswith("linux"):
        return
    try:
        ctypes.CDLL("libc.so.6").mallopt(M_ARENA_MAX, 2)
    except (OSError, AttributeError):  # not glibc (musl, say): nothing to tune
        pass


M_ARENA_MAX = -8  # glibc's mallopt parameter (malloc.h)


def main() -> None:
    """Console entry point: one line per error (exit 1; usage errors exit 2), a traceback only
    with BURNISH_DEBUG=1."""
    _fewer_malloc_arenas()
    log_to_stderr()
    try:
        code = app(prog_name="burnish", standalone_mode=False)
    except BurnishError as error:
        if os.environ.get("BURNISH_DEBUG"):
            raise
        typer.echo(f"burnish: error: {command_line_spelling(str(error))}", err=True)
        sys.exit(1)
    except typer.TyperException as error:  # a usage error, found before any work
        if os.environ.get("BURNISH_DEBUG"):
            raise
        if type(error).__name__ == "NoArgsIsHelpError":  # `burnish` alone: the help
            error.show()
        else:
            typer.echo(f"burnish: error: {usage_error_line(error)}", err=True)
        sys.exit(2)
    except (KeyboardInterrupt, typer.Abort):
        typer.echo("burnish: interrupted", err=True)
        sys.exit(130)
    sys.exit(code if isinstance(code, int) else 0)


if __name__ == "__main__":
    main()
