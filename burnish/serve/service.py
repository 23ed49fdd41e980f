"""What the server keeps warm and how a request's work runs: the engine side of the server.

One :class:`Service` per server process holds the models (behind batching runners), the
recipes, a pool of worker threads and the admission count. A request's work is one call of
the engine's own file functions (:func:`~burnish.engine.upscaling.upscale_file`,
:func:`~burnish.engine.removal.object_removal.remove_file`, a recipe
:class:`~burnish.engine.recipes.batch_run.Worker`) on a temporary input file, in a worker
thread, so its output bytes are the CLI's. Nothing here runs on the event loop.
"""

from __future__ import annotations

import contextvars
import logging
import os
import re
import shutil
import tempfile
import threading
import time
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from burnish.engine.imageio import DEFAULT_MAX_PIXELS
from burnish.engine.ops.encode import FORMATS as ENCODE_FORMATS
from burnish.errors import BurnishError, ModelError, OptionError
from burnish.serve.batching import CURRENT_TICKET, BatchedRunner, Ticket
from burnish.serve.errors import Refused
from burnish.serve.jobs import JobStore
from burnish.serve.metrics import Metrics
from burnish.serve.workspace import Workspace

log = logging.getLogger(__name__)

# A recipe is named by its file's stem; names are looked up, never joined to a path.
RECIPE_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_-]{0,63}$")
SUFFIXES = {"PNG": ".png", "JPEG": ".jpg", "TIFF": ".tif", "WEBP": ".webp"}
# A request's output formats: the encode step's, and "jpg" as clients often spell it.
FORMATS = {name: suffix for name, suffix in ENCODE_FORMATS.items() if suffix} | {"jpg": ".jpg"}
REMOVE_METHODS = ("patchmatch", "telea")


@dataclass(frozen=True)
class ServeConfig:
    """How a server runs (the ``burnish serve`` options)."""

    recipes: Path | None = None
    models: tuple[str, ...] = ()  # model files served besides the shipped ones
    device: str = "auto"
    backend: str = "auto"
    max_queue: int = 8
    max_batch: int = 4
    max_wait_ms: float = 5.0
    workers: int = 4
    token: str | None = None
    max_upload_bytes: int = 200 * 1024 * 1024
    max_pixels: int = DEFAULT_MAX_PIXELS
    timeout: float = 600.0
    jobs_dir: Path | None = None
    jobs_space_bytes: int = 10 * 1024 ** 3
    jobs_expiry: float = 3600.0
    job_workers: int = 1
    max_jobs: int = 64
    root: Path | None = None  # the workspace's folder (None: uploads only, in a temporary one)
    approved: Path | None = None  # where approved outputs go (default: ROOT/approved)
    warm: bool = True

    def check(self) -> None:
        for name, value, low in (("max-queue", self.max_queue, 1), ("max-batch", self.max_batch, 1),
                                 ("workers", self.workers, 1), ("job-workers", self.job_workers, 1),
                                 ("max-jobs", self.max_jobs, 1)):
            if value < low:
                raise OptionError(f"--{name} must be at least {low}")
        if self.max_wait_ms < 0 or self.timeout <= 0 or self.max_upload_bytes <= 0:
            raise OptionError("--max-wait-ms must be >= 0, and the timeout and upload limit > 0")
        if self.recipes is not None and not Path(self.recipes).is_dir():
            raise OptionError("no such folder", path=self.recipes)


def concurrency_defaults(device, workers: int | None,
                         max_queue: int | None) -> tuple[int, int]:
    """``--workers`` and ``--max-queue`` where not given. On the CPU the model takes every
    core, so requests beyond one per core only wait; held requests beyond the workers make
    every accepted answer later under overload (2 cores, 4x the capacity offered: accepted
    p99 1.6x the unloaded p99 with a queue of 2, 3.1x with 4; BENCHMARKS.md). On a GPU
    batching needs concurrent requests."""
    if workers is None:
        workers = 8 if str(device).startswith("cuda") else max(1, min(4, os.cpu_count() or 1))
    if max_queue is None:
        max_queue = 2 * workers if str(device).startswith("cuda") else workers
    return workers, max_queue


class QueueFull(Refused):
    """The server holds ``max_queue`` requests already: refused at once (429)."""

    def __init__(self, retry_after: int):
        super().__init__("the server is busy: too many requests queued; retry later",
                         retry_after)


@dataclass
class Output:
    """A finished request's result: a file in the request's own folder, removed after."""

    path: Path
    folder: Path
    sidecar: dict | None = None
    note: str | None = None

    def discard(self) -> None:
        shutil.rmtree(self.folder, ignore_errors=True)


@dataclass
class _Admission:
    """At most ``capacity`` requests admitted (queued for a worker or running)."""

    capacity: int
    count: int = 0
    lock: threading.Lock = field(default_factory=threading.Lock)

    def enter(self) -> bool:
        with self.lock:
            if self.count >= self.capacity:
                return False
            self.count += 1
            return True

    def leave(self) -> None:
        with self.lock:
            self.count -= 1


class Slot:
    """One admitted request's place, given back once."""

    def __init__(self, service: Service):
        self._service = service
        self._released = False
        self._lock = threading.Lock()
        self.handed = False  # to the work, which releases it when it ends

    def release(self) -> None:
        with self._lock:
            if self._released:
                return
            self._released = True
        self._service._leave()

    def release_unless_handed(self) -> None:
        if not self.handed:
            self.release()


class Service:
    """The server's warm state and its worker pool."""

    def __init__(self, config: ServeConfig, metrics: Metrics | None = None):
        from burnish.engine.recipes.resources import Resources

        config.check()
        self.config = config
        self.metrics = metrics or Metrics()
        self.resources = Resources(device=config.device, backend=config.backend,
                                   wrap_runner=self._batched)
        self.models = _served_models(config.models)
        self.recipes = _load_recipes(config.recipes)
        self._workers: dict = {}
        self._workers_lock = threading.Lock()
        self.executor = ThreadPoolExecutor(config.workers, thread_name_prefix="burnish-request")
        self._admission = _Admission(config.max_queue)
        self._mean_seconds = 1.0  # a running mean of request time, for Retry-After
        self.ready = threading.Event()
        self.warm_error: str | None = None
        self.scratch = Path(tempfile.mkdtemp(prefix="burnish-serve-"))
        jobs_folder = (Path(config.jobs_dir) / f"burnish-serve-jobs-{os.getpid()}"
                       if config.jobs_dir else self.scratch / "jobs")
        self.jobs = JobStore(jobs_folder, space_bytes=config.jobs_space_bytes,
                             expiry=config.jobs_expiry, max_active=config.max_jobs)
        self.job_executor = ThreadPoolExecutor(config.job_workers,
                                               thread_name_prefix="burnish-job")
        self.workspace = Workspace(config.root, approved=config.approved,
                                   device=config.device, backend=config.backend,
                                   max_pixels=config.max_pixels)

    # -- lifecycle --------------------------------------------------------------------------

    def start_warming(self) -> threading.Thread:
        """Load and warm every served model in a thread; :attr:`ready` is set when done."""
        thread = threading.Thread(target=self._warm, name="burnish-warm-up", daemon=True)
        thread.start()
        return thread

    def _warm(self) -> None:
        try:
            if self.config.warm:
                for name in self.models:
                    self._warm_model(name)
                for recipe in self.recipes.values():
                    self._recipe_worker(recipe)
                    for step in recipe.edits:
                        if step.op.name == "upscale":
                            self.resources.runner(step.params["model"], step.params["scale"],
                                                  recipe.context.base)
            self.ready.set()
        except BurnishError as error:
            self.warm_error = str(error)
            log.error("warm-up failed: %s", error)
        except Exception as error:  # noqa: BLE001 - reported by /readyz, logged in full
            self.warm_error = f"internal error: {type(error).__name__}: {error}"
            log.exception("warm-up failed")

    def _warm_model(self, name: str) -> None:
        """Open the model and run the real upscale path once on a small image, so that the
        model's first call and the stitching kernels' compiles are paid here."""
        from burnish.engine.tiling.scheduler import ArraySink
        from burnish.engine.upscaling import upscale_into

        scale = self.native_scale(name)
        runner = self.runner(name, scale)
        side = max(16, runner.descriptor.min_size)
        pixels = np.zeros((side, side, 3), np.uint8)  # 8-bit: what requests mostly carry
        sink = ArraySink(side * scale, side * scale, 3, pixels.dtype)
        upscale_into(pixels, sink, runner=runner, scale=scale)

    def close(self) -> None:
        self.jobs.close()
        self.job_executor.shutdown(wait=False, cancel_futures=True)
        self.executor.shutdown(wait=False, cancel_futures=True)
        for worker in self._workers.values():
            worker.close()
        self.resources.close()
        self.workspace.close()
        shutil.rmtree(self.scratch, ignore_errors=True)

    # -- models and recipes -----------------------------------------------------------------

    def _batched(self, runner):
        name = runner.descriptor.name
        return BatchedRunner(runner, max_batch=self.config.max_batch,
                             max_wait=self.config.max_wait_ms / 1000,
                             on_call=lambda tiles, seconds: self.metrics.model_call(
                                 name, tiles, seconds))

    def runner(self, name: str | None, scale: int):
        """The batching runner of a served model (``None``: the default) for ``scale``."""
        return self.resources.runner(self.model_spec(name), scale, Path.cwd())

    def native_scale(self, name: str | None) -> int:
        """The scale a served model is made for (4 for ``lanczos``, the CLI's default)."""
        from burnish.models.registry import CLASSICAL, inspect_model

        spec = self.model_spec(name)
        return 4 if spec in CLASSICAL else inspect_model(spec).scale

    def model_spec(self, name: str | None) -> str:
        """What ``open_model`` takes for a served model's name (None: the default);
        requests name models, never paths."""
        name = name or defaults_model()
        if name not in self.models:
            raise ModelError(f"model {name!r} is not served here; GET /v1/models lists "
                             "those that are")
        return self.models[name]

    def recipe(self, name: str):
        if not RECIPE_NAME.match(name):
            raise OptionError(f"{name!r} is not a recipe name (letters, digits, _ and -)")
        if name not in self.recipes:
            raise LookupError(f"no recipe named {name!r}; GET /v1/recipes lists them")
        return self.recipes[name]

    def _recipe_worker(self, recipe):
        from burnish.engine.recipes.batch_run import RunOptions, Worker

        with self._workers_lock:
            if recipe.name not in self._workers:
                options = RunOptions(output=self.scratch, device=self.config.device,
                                     backend=self.config.backend,
                                     max_pixels=self.config.max_pixels)
                self._workers[recipe.name] = Worker(recipe, options, threads=None,
                                                    resources=self.resources)
            return self._workers[recipe.name]

    # -- running a request ------------------------------------------------------------------

    def admit(self) -> Slot:
        """A request's place in the server, or :class:`QueueFull` at once."""
        if not self._admission.enter():
            self.metrics.refused.inc()
            waiting = max(1, self._admission.count - self.config.workers + 1)
            raise QueueFull(retry_after=max(1, round(self._mean_seconds * waiting
                                                     / self.config.workers)))
        self.metrics.queue_depth.inc()
        return Slot(self)

    def _leave(self) -> None:
        self._admission.leave()
        self.metrics.queue_depth.dec()

    def submit(self, work: Callable, ticket: Ticket, slot: Slot) -> Future:
        """Run ``work()`` in a worker thread with ``ticket`` current. The work holds ``slot``
        from now on and frees it when it ends (at once if it was cancelled while queued)."""
        context = contextvars.copy_context()
        context.run(CURRENT_TICKET.set, ticket)
        slot.handed = True

        def run():
            started = time.perf_counter()
            try:
                ticket.check()
                return work()
            finally:
                seconds = time.perf_counter() - started
                self._mean_seconds = 0.9 * self._mean_seconds + 0.1 * seconds
                slot.release()

        try:
            return self.executor.submit(context.run, run)
        except RuntimeError:  # the pool is shut down: the server is stopping
            slot.release()
            raise

    def submit_job(self, job, work: Callable) -> Future:
        """Run a job's ``work(ticket, progress)`` in a jobs' worker thread."""
        context = contextvars.copy_context()
        context.run(CURRENT_TICKET.set, job.ticket)

        def progress(done: int, total: int) -> None:
            self.jobs.update(job, done=done, total=total)

        return self.job_executor.submit(context.run, self.jobs.run, job,
                                        lambda job: work(job.ticket, progress))

    def new_folder(self) -> Path:
        return Path(tempfile.mkdtemp(dir=self.scratch, prefix="request-"))

    def upscale(self, source: Path, folder: Path, *, model: str | None, scale: int,
                tile: int | None, output_format: str | None, quality: int,
                ticket: Ticket, progress: Callable | None = None) -> Output:
        """``burnish upscale SOURCE -o NAME_xS.EXT`` for one request."""
        from burnish.engine.tiling.model_tiles import check_scale
        from burnish.engine.upscaling import upscale_file

        runner = self.runner(model, scale)
        check_scale(runner, scale)
        target = folder / f"{source.stem}_x{scale}{_suffix(output_format, source)}"
        upscale_file(source, target, runner=runner, scale=scale, tile=tile,
                     max_pixels=self.config.max_pixels, quality=quality,
                     progress=_progress(ticket, progress))
        return Output(target, folder)

    def remove(self, source: Path, folder: Path, masks, *, method: str, dilate: int,
               feather: float, harmonize: bool, seed: int, patch: int,
               output_format: str | None, quality: int, ticket: Ticket,
               progress: Callable | None = None) -> Output:
        """``burnish remove SOURCE ... -o NAME_removed.EXT`` for one request."""
        from burnish.engine.removal.composite_plan import check_edges
        from burnish.engine.removal.object_removal import remove_file

        if method not in REMOVE_METHODS:
            raise OptionError(f"method must be one of {', '.join(REMOVE_METHODS)}")
        masks.check()
        check_edges(dilate, feather, seed)
        reconstructor = self.resources.reconstructor(method, patch, Path.cwd())
        target = folder / f"{source.stem}_removed{_suffix(output_format, source)}"
        note = remove_file(source, target, masks, reconstructor=reconstructor, dilate=dilate,
                           feather=feather, harmonize=harmonize, seed=seed,
                           max_pixels=self.config.max_pixels, quality=quality,
                           progress=_progress(ticket, progress))
        return Output(target, folder, note=note)

    def run_recipe(self, name: str, source: Path, folder: Path, *, shown_name: str) -> Output:
        """``burnish run RECIPE SOURCE -o FOLDER`` for one request; the sidecar comes back
        with the client's file name for the input's path."""
        import json

        from burnish.engine.provenance.sidecar import sidecar_path
        from burnish.engine.recipes.batch_run import plan_outputs

        recipe = self.recipe(name)
        worker = self._recipe_worker(recipe)
        out = folder / "out"
        out.mkdir()
        target = plan_outputs(recipe, [source], out)[0].target
        result = worker.process(source, target)
        if result.error is not None:
            raise RecipeFailed(result.error.replace(str(source), shown_name))
        sidecar = json.loads(sidecar_path(target).read_text())
        sidecar["input"]["path"] = shown_name
        sidecar["recipe"]["origin"] = name
        return Output(target, folder, sidecar=sidecar, note=result.note)


class RecipeFailed(BurnishError):
    """A recipe's run on the request's image failed (the worker's one-line error)."""


def _progress(ticket: Ticket, progress: Callable | None) -> Callable:
    """The engine's progress callback: stops cancelled work at its next tile, and tells
    ``progress(done, total)`` (a job's) how far it is."""
    def report(done: int, total: int) -> None:
        ticket.check()
        if progress is not None:
            progress(done, total)
    return report


def defaults_model() -> str:
    from burnish.models.registry import DEFAULT_MODEL

    return DEFAULT_MODEL


def _suffix(output_format: str | None, source: Path) -> str:
    if output_format is None:
        return source.suffix
    if output_format.lower() not in FORMATS:
        raise OptionError(f"format must be one of {', '.join(sorted(set(FORMATS)))}")
    return FORMATS[output_format.lower()]


def _served_models(files: tuple[str, ...]) -> dict[str, str]:
    """Name -> what ``open_model`` takes: the shipped models, ``lanczos``, and the files the
    server was started with (named by their stem). Requests name models; never paths."""
    from burnish.models.registry import CLASSICAL, model_names

    models = {name: name for name in (*model_names(), *CLASSICAL)}
    for file in files:
        path = Path(file)
        if not path.is_file():
            raise OptionError("no such model file", path=path)
        if path.stem in models:
            raise OptionError(f"model name {path.stem!r} is taken; rename the file", path=path)
        models[path.stem] = os.fspath(path.resolve())
    return models


def _load_recipes(folder: Path | None) -> dict:
    """The ``*.toml`` recipes of ``folder`` by stem, each checked now (a bad one stops the
    server from starting, with its one-line error)."""
    from burnish.engine.recipes.recipe import load_recipe

    if folder is None:
        return {}
    recipes = {}
    for path in sorted(Path(folder).glob("*.toml")):
        if not RECIPE_NAME.match(path.stem):
            raise OptionError("a served recipe's name is letters, digits, _ and -", path=path)
        recipes[path.stem] = load_recipe(path)
    return recipes


