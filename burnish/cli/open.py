"""``burnish open IMAGE...``: the workspace page on these images, on a free local port."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Annotated
from urllib.parse import quote

import typer

from burnish.cli import options as opt
from burnish.errors import OptionError


def open_images(
    images: Annotated[list[Path], typer.Argument(
        help="Images to review; the workspace's folder is the one that holds them all.",
        show_default=False)],
    browser: Annotated[bool, typer.Option(
        "--browser/--no-browser", help="Open the page in the default browser (else only "
        "print its address).")] = True,
    device: opt.Device = opt.DeviceChoice.auto,
    backend: opt.Backend = "auto",
) -> None:
    """Start the workspace on a free port of this machine and open the page on the first
    image: mask, run steps, compare, approve. Ctrl-C stops it."""
    from burnish.cli.serve import run_server, serve_modules
    from burnish.files import check_regular_file

    _, ServeConfig, _, concurrency_defaults = serve_modules()
    for image in images:
        check_regular_file(image, error=OptionError, what="image")
    resolved = [image.resolve() for image in images]
    root = Path(os.path.commonpath([image.parent for image in resolved]))
    first = resolved[0].relative_to(root).as_posix()
    device = opt.resolved_device(device)
    workers, max_queue = concurrency_defaults(device, None, None)
    config = ServeConfig(root=root, device=device, backend=backend, workers=workers,
                         max_queue=max_queue)

    def started(url: str) -> None:
        page = f"{url}#image={quote(first)}"
        typer.echo(f"burnish: the workspace on {root} is at {page} (Ctrl-C stops it)")
        if browser:
            import webbrowser

            webbrowser.open(page)

    run_server(config, host="127.0.0.1", port=0, on_started=started)
