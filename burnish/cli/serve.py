"""``burnish serve``: a warm, batched HTTP service (uvicorn + Starlette, the ``serve`` extra)."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Annotated

import typer

from burnish.cli import options as opt
from burnish.errors import OptionError

M_MMAP_THRESHOLD = -3  # glibc's mallopt parameter (malloc.h)


def _steady_heap() -> None:
    """Large buffers (tiles, bands, decoded images) mapped on their own and unmapped when
    freed. glibc otherwise raises its mmap threshold to the largest block freed (up to
    32 MB), after which such buffers come from the heap, and a long-running server's
    resident memory wanders with what the requests leave fragmented (soak of 5,000 mixed
    requests: 603-688 MB). A fixed threshold turns that off; the user's own
    ``MALLOC_MMAP_THRESHOLD_`` wins."""
    import ctypes
    import sys

    if "MALLOC_MMAP_THRESHOLD_" in os.environ or not sys.platform.startswith("linux"):
        return
    try:
        ctypes.CDLL("libc.so.6").mallopt(M_MMAP_THRESHOLD, 1 << 20)
    except (OSError, AttributeError):  # not glibc: nothing to tune
        pass


def serve(
    host: Annotated[str, typer.Option("--host", help="Address to listen on; loopback unless "
                                      "you say otherwise.")] = "127.0.0.1",
    port: Annotated[int, typer.Option("--port", min=0, max=65535, help="TCP port (0: any "
                                      "free one, printed at start).")] = 8000,
    recipes: Annotated[Path | None, typer.Option(
        "--recipes", metavar="FOLDER", help="Folder of recipe .toml files, served by name (their stem) at "
        "POST /v1/recipes/NAME.")] = None,
    model: Annotated[list[Path] | None, typer.Option(
        "--model", "-m", metavar="FILE", help="A model file to serve besides the shipped ones, named by its "
        "stem; repeat for several. Requests name models, never paths.")] = None,
    device: opt.Device = opt.DeviceChoice.auto,
    backend: opt.Backend = "auto",
    max_queue: Annotated[int | None, typer.Option(
        "--max-queue", min=1, help="Requests held at once (running or waiting); more are "
        "refused with 429 and Retry-After (default: --workers on the CPU, twice that on a "
        "GPU).")] = None,
    max_batch: Annotated[int, typer.Option(
        "--max-batch", min=1, help="Tiles per model call, from concurrent requests (1: no "
        "batching).")] = 4,
    max_wait_ms: Annotated[float, typer.Option(
        "--max-wait-ms", min=0, help="How long a model call waits for more tiles to batch.")]
    = 5.0,
    workers: Annotated[int | None, typer.Option(
        "--workers", min=1, help="Requests computed at once (threads; default: the cores, "
        "at most 4, on the CPU; 8 on a GPU, where batching needs concurrent requests).")]
    = None,
    token: Annotated[str | None, typer.Option(
        "--token", envvar="BURNISH_TOKEN", show_envvar=True,
        help="Require 'Authorization: Bearer TOKEN' (all routes but /healthz and /readyz).")]
    = None,
    max_upload_mb: Annotated[float, typer.Option(
        "--max-upload-mb", min=0.001, help="Largest request body (413 past it).")] = 200.0,
    max_pixels: opt.MaxPixels = None,
    timeout: Annotated[float, typer.Option(
        "--timeout", min=0.001, help="Seconds a request may take (504 past it; its work "
        "stops).")] = 600.0,
    jobs_dir: Annotated[Path | None, typer.Option(
        "--jobs-dir", metavar="FOLDER", help="Where jobs keep uploads and results (default: "
        "a temporary folder).")] = None,
    jobs_space_gb: Annotated[float, typer.Option(
        "--jobs-space-gb", min=0.001, help="Disk space jobs may hold; a job past it is "
        "refused (429).")] = 10.0,
    jobs_expiry: Annotated[float, typer.Option(
        "--jobs-expiry", min=1, help="Seconds a finished job's result is kept.")] = 3600.0,
    job_workers: Annotated[int, typer.Option(
        "--job-workers", min=1, help="Jobs computed at once (beside the quick routes' "
        "workers).")] = 1,
    max_jobs: Annotated[int, typer.Option(
        "--max-jobs", min=1, help="Jobs queued or running at once; more are refused "
        "(429).")] = 64,
    root: Annotated[Path | None, typer.Option(
        "--root", metavar="FOLDER", help="The workspace page's folder (at /): its images "
        "open there, nothing outside it is reachable (default: uploads only, kept in a "
        "temporary folder).")] = None,
    approved: Annotated[Path | None, typer.Option(
        "--approved", metavar="FOLDER", help="Where the page's approved outputs and their "
        "sidecars go (default: ROOT/approved).")] = None,
) -> None:
    """Serve upscaling, removal and recipes over HTTP, models warm, tiles batched; and the
    workspace page at / (mask, preview at native scale, approve)."""
    _, ServeConfig, _, concurrency_defaults = serve_modules()
    from burnish.engine.imageio import DEFAULT_MAX_PIXELS

    resolved = opt.resolved_device(device)
    workers, max_queue = concurrency_defaults(resolved, workers, max_queue)
    config = ServeConfig(recipes=recipes, models=tuple(os.fspath(p) for p in model or ()),
                         device=resolved, backend=backend,
                         max_queue=max_queue, max_batch=max_batch, max_wait_ms=max_wait_ms,
                         workers=workers, token=token,
                         max_upload_bytes=int(max_upload_mb * 1024 * 1024),
                         max_pixels=max_pixels or DEFAULT_MAX_PIXELS, timeout=timeout,
                         jobs_dir=jobs_dir, jobs_space_bytes=int(jobs_space_gb * 1024 ** 3),
                         jobs_expiry=jobs_expiry, job_workers=job_workers, max_jobs=max_jobs,
                         root=root, approved=approved)
    run_server(config, host=host, port=port)


def serve_modules():
    """(create_app, ServeConfig, Service, concurrency_defaults), or the extra to install."""
    try:
        import uvicorn  # noqa: F401 - checked here, used by run_server

        from burnish.serve.app import create_app
        from burnish.serve.service import ServeConfig, Service, concurrency_defaults
    except ImportError as error:
        raise OptionError(f"burnish serve needs the serve extra ({error.name} is missing): "
                          "pip install 'burnish[serve]'") from None
    return create_app, ServeConfig, Service, concurrency_defaults


def run_server(config, *, host: str, port: int, on_started=None) -> None:
    """Serve ``config`` until stopped. With ``on_started(url)``, the socket is bound first
    (port 0: a free one) and the callback told its address once the server answers."""
    import uvicorn

    create_app, _, Service, _ = serve_modules()
    _steady_heap()
    service = Service(config)
    server = uvicorn.Server(uvicorn.Config(create_app(service), host=host, port=port,
                                           log_level="info", timeout_graceful_shutdown=5))
    try:
        if on_started is None:
            server.run()
        else:
            _serve_on_a_bound_socket(server, host, port, on_started)
    except KeyboardInterrupt:  # uvicorn re-raises the Ctrl-C it shut down on
        pass


def _serve_on_a_bound_socket(server, host: str, port: int, on_started) -> None:
    import asyncio
    import socket

    listening = socket.socket(socket.AF_INET6 if ":" in host else socket.AF_INET)
    listening.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    listening.bind((host, port))
    bound = listening.getsockname()[1]
    shown = f"[{host}]" if ":" in host else host

    async def serve_and_tell():
        task = asyncio.ensure_future(server.serve(sockets=[listening]))
        while not server.started and not task.done():
            await asyncio.sleep(0.05)
        if server.started:
            on_started(f"http://{shown}:{bound}/")
        await task

    asyncio.run(serve_and_tell())
