"""``burnish run``: a recipe over a batch of files, in parallel, resumable, with provenance.

- **Inputs**: files, folders (their image files, not recursive) and glob patterns
  (``**`` recurses). Output names come from the recipe's ``encode`` step (default
  ``{stem}`` and the input's format); two inputs that would get one name are refused before
  any work.
- **Workers**: with ``jobs > 1``, worker processes (spawned, so no thread state is forked),
  each opening the recipe's models once and splitting the cores between them. A worker dies
  with its parent (Linux), so a killed batch leaves no orphan writing files.
- **Atomic results**: the image goes to a temporary file renamed over the target, then
  (optionally) is signed the same way, then its sidecar is written the same way. An output
  is complete when its sidecar exists and the hashes in it match.
- **Resume**: ``resume=True`` skips every output whose sidecar carries this job's key (the
  input's content hash, the recipe's hash, which covers its models and files, per-image files,
  backend and device) and whose image still has the hash the sidecar recorded. Temporary
  files a killed run left behind are removed first. A batch killed at any point and run
  again with ``resume`` ends with every output complete, none twice, none partial.
"""

from __future__ import annotations

import glob
import hashlib
import json
import logging
import os
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from pathlib import Path

from burnish.engine.ops.encode import suffix_for
from burnish.engine.ops.params import (
    File,
    check_file_name,
    recipe_path,
    render_template,
    template_fields,
)
from burnish.engine.provenance.sidecar import sidecar_path
from burnish.engine.recipes.batch_plan import (
    FileResult,
    PlannedOutput,
    attempt,
    check_plan,
    clear_interrupted_run,
    make_folder,
    process_each,
    remove_stale_partials,
    unique_inputs,
)
from burnish.engine.recipes.recipe import Recipe
from burnish.engine.recipes.resources import Resources
from burnish.errors import BurnishError, OptionError, OutputError

log = logging.getLogger(__name__)

IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".tif", ".tiff", ".webp")
GLOB_CHARACTERS = "*?["


@dataclass(frozen=True)
class RunOptions:
    """How a batch runs. ``sign_cert`` and ``sign_key`` (both or neither) add C2PA Content
    Credentials to every output."""

    output: Path
    jobs: int = 1
    resume: bool = False
    device: str = "auto"
    backend: str = "auto"
    max_pixels: int | None = None
    sign_cert: Path | None = None
    sign_key: Path | None = None


def expand_inputs(specs: Sequence[str | os.PathLike]) -> list[Path]:
    """Files as given, folders' image files, and glob matches; each file once, in order.

    A named file that does not exist stays in the list (it is reported as that file's
    failure); a folder with no images or a pattern that matches nothing is an error.
    """
    paths: list[Path] = []
    for spec in specs:
        text = os.fspath(spec)
        path = Path(text)
        if path.is_dir():
            found = sorted(p for p in path.iterdir() if p.is_file() and not p.name.startswith(".")
                           and p.suffix.lower() in IMAGE_SUFFIXES)
            if not found:
                raise OptionError("no image files (PNG, JPEG, TIFF, WebP) in this folder",
                                  path=path)
        elif not path.exists() and text.endswith((os.sep, "/")):
            raise OptionError("no such folder", path=text)
        elif any(c in text for c in GLOB_CHARACTERS) and not path.exists():
            found = sorted(Path(p) for p in glob.glob(text, recursive=True) if Path(p).is_file())
            if not found:
                raise OptionError(f"no file matches {text!r}")
        else:
            found = [path]
        paths.extend(found)
    unique = unique_inputs(paths)
    if not unique:
        raise OptionError("no input files given")
    return unique


def plan_outputs(recipe: Recipe, inputs: Sequence[Path], output: Path) -> list[PlannedOutput]:
    """Each input's output (named by the encode step) and sidecar in ``output``, checked as
    a whole (:func:`~burnish.engine.recipes.batch_plan.check_plan`): names stay in the folder, fit its file
    system, and no file is an input or written twice."""
    encode = recipe.encode
    plan = []
    for path in inputs:
        try:
            name = check_file_name(render_template(encode["name"], path))
        except ValueError as error:
            raise OptionError(f"output name for {path}: {error}") from None
        target = output / (name + suffix_for(encode, path.suffix))
        plan.append(PlannedOutput(path, target, companions=(sidecar_path(target),)))
    check_plan(plan, inputs, hint="choose another output folder, or an encode name with a "
               "part that differs, such as '{stem}_final' or '{name}'")
    return plan


def _check_signing(options: RunOptions) -> None:
    if (options.sign_cert is None) != (options.sign_key is None):
        raise OptionError("signing needs both a certificate chain (sign_cert) and its key (sign_key)")
    for path in (options.sign_cert, options.sign_key):
        if path is not None and not Path(path).is_file():
            raise OptionError("no such file", path=path)
    if options.sign_cert is not None:
        from burnish.engine.provenance.content_credentials import require_c2pa

        require_c2pa()


def run_recipe(recipe: Recipe, inputs: Sequence[str | os.PathLike], options: RunOptions, *,
               on_plan: Callable[[int], None] | None = None,
               on_done: Callable[[FileResult], None] | None = None) -> list[FileResult]:
    """Run ``recipe`` over ``inputs`` into ``options.output``; one bad file never stops the
    rest. Problems with the batch as a whole raise :class:`~burnish.errors.BurnishError`
    before any file is touched. Results are in input order."""
    if options.jobs < 1:
        raise OptionError("at least one worker is needed (jobs)")
    pairs, written = prepare_batch(recipe, inputs, options)
    if on_plan is not None:
        on_plan(len(pairs))
    jobs = min(options.jobs, len(pairs))
    if jobs == 1:
        results = _run_here(recipe, options, pairs, on_done)
    else:
        results = _run_in_workers(recipe, options, pairs, jobs, on_done, written)
    return in_input_order(results, pairs)


def prepare_batch(recipe: Recipe, inputs: Sequence[str | os.PathLike], options: RunOptions
                  ) -> tuple[list[tuple[Path, Path]], list[Path]]:
    """What every way of running a batch does first (here, in workers, on a cluster): the
    inputs expanded, the outputs planned and checked, the output folder made and what an
    interrupted run left there cleared. ``(pairs, written)``: each ``(input, target)``, and
    every file the batch may write (targets and sidecars)."""
    _check_signing(options)
    paths = expand_inputs(inputs)
    output = Path(options.output)
    if output.exists() and not output.is_dir():
        raise OutputError("is a file: burnish run writes into an output folder", path=output)
    plan = plan_outputs(recipe, paths, output)
    make_folder(output)
    pairs = [(item.input, item.target) for item in plan]
    written = [path for item in plan for path in item.written]
    clear_interrupted_run(written)
    return pairs, written


def in_input_order(results: list[FileResult], pairs) -> list[FileResult]:
    order = {path: i for i, (path, _) in enumerate(pairs)}
    return sorted(results, key=lambda r: order[r.input])


def _run_here(recipe, options, pairs, on_done) -> list[FileResult]:
    worker = Worker(recipe, options, threads=None)
    try:
        return process_each(pairs, worker.process, on_done)
    finally:
        worker.close()


def _run_in_workers(recipe, options, pairs, jobs, on_done, written) -> list[FileResult]:
    import multiprocessing
    from concurrent.futures import FIRST_COMPLETED, ProcessPoolExecutor, wait
    from concurrent.futures.process import BrokenProcessPool

    threads = max(1, (os.cpu_count() or 1) // jobs)
    results = []
    with ProcessPoolExecutor(max_workers=jobs, mp_context=multiprocessing.get_context("spawn"),
                             initializer=_start_worker,
                             initargs=(os.getpid(), recipe, options, threads)) as pool:
        futures = {pool.submit(_work, input_path, target): (input_path, target)
                   for input_path, target in pairs}
        pending = set(futures)
        try:
            while pending:
                # Short waits, not one long one: the signal that Ctrl-C sends may land on
                # another thread, and only a waking main thread runs Python's handler.
                done, pending = wait(pending, timeout=0.25, return_when=FIRST_COMPLETED)
                for future in done:
                    input_path, target = futures[future]
                    try:
                        result = future.result()
                    except BrokenProcessPool:
                        result = FileResult(input_path, None, error=f"{input_path}: the "
                                            "worker process died (out of memory?); nothing "
                                            "was written")
                    results.append(result)
                    if on_done is not None:
                        on_done(result)
        except BaseException:  # Ctrl-C: stop now, not after every queued or running file
            _stop_workers(pool)
            remove_stale_partials(written)
            raise
    return results


def _stop_workers(pool) -> None:
    """Cancel what is queued and end the running workers at once (their outputs are
    atomic: what they leave is only temporary files, removed next). Python 3.14 has
    ``terminate_workers()``; before it, the pool's process table is the only handle."""
    processes = list((getattr(pool, "_processes", None) or {}).values())  # shutdown drops it
    pool.shutdown(wait=False, cancel_futures=True)
    for process in processes:
        process.terminate()
    for process in processes:
        process.join(timeout=10)


# ---- the worker ----------------------------------------------------------------------------

_worker: Worker | None = None


def _start_worker(parent: int, recipe: Recipe, options: RunOptions, threads: int) -> None:
    """Process-pool initializer: die with the parent, share the cores, open models lazily."""
    global _worker
    die_with_parent(parent)
    import signal

    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C is the parent's to handle
    from burnish.kernels.threads import set_thread_count

    set_thread_count(threads)
    _worker = Worker(recipe, options, threads=threads)


def _work(input_path: Path, target: Path) -> FileResult:
    return _worker.process(input_path, target)


def die_with_parent(parent: int) -> None:
    """Ask Linux to SIGKILL this process when its parent dies (PR_SET_PDEATHSIG), so a
    killed batch leaves no worker behind; elsewhere the pool's own shutdown applies.

    A worker cannot notice its parent's death otherwise: every worker holds the write end of
    the task queue, so waiting for a task never ends. The parent may also have died while
    this worker was starting, before the request was made (the signal is then never sent):
    that is checked right after it.
    """
    import signal
    import sys

    if sys.platform.startswith("linux"):
        import ctypes

        try:
            ctypes.CDLL("libc.so.6", use_errno=True).prctl(1, signal.SIGKILL)  # PR_SET_PDEATHSIG
        except OSError:
            pass
    if os.getppid() != parent:
        os._exit(1)


def _compile_ahead_for(recipe: Recipe) -> None:
    """Asks for the kernels of the recipe's later steps to be compiled on the second core if
    this process has to compile (:mod:`burnish.engine.recipes.compile_ahead`); for 8-bit images, the
    common case (a file's type is not known before it is read)."""
    from burnish.engine.recipes.compile_ahead import compile_ahead

    removing = ("harmonise", "composite")  # removal's late steps, slow to compile
    grading = {"match_colour": "match_colour", "match_grain": "match_grain", "adjust": "adjust"}
    later = [step.op.name for step in recipe.steps[1:]]
    # Removal's late steps first: the command reaches them only after its own slow first
    # steps. Then the grades from the last: the command, compiling the first of them itself
    # while the helper starts on the last, meets it in the middle.
    rehearsals = [*(removing if "remove" in later else ()),
                  *reversed(list(dict.fromkeys(grading[op] for op in later if op in grading)))]
    if rehearsals:
        compile_ahead("uint8", *rehearsals)


class Worker:
    """Runs the recipe on one file at a time, keeping models and references warm.

    ``resources`` shares another owner's open models (the server's, for every recipe); by
    default the worker opens its own and closes them with itself.
    """

    def __init__(self, recipe: Recipe, options: RunOptions, threads: int | None,
                 resources: Resources | None = None):
        from burnish.engine.recipes.resources import Resources

        self.recipe, self.options = recipe, options
        self.resources = (resources.view() if resources is not None else
                          Resources(device=options.device, backend=options.backend,
                                    threads=threads))
        self._environment = None
        _compile_ahead_for(recipe)

    def close(self) -> None:
        self.resources.close()  # a view of shared resources closes nothing

    def environment(self) -> dict:
        if self._environment is None:
            from burnish.engine.provenance.environment import describe_environment

            self._environment = describe_environment()
        return self._environment

    def process(self, input_path: Path, target: Path) -> FileResult:
        started = time.perf_counter()
        skipped = []

        def job(input_path: Path, target: Path) -> str | None:
            input_sha256 = self._input_sha256(input_path)
            key = self.job_key(input_sha256, input_path)
            if self.options.resume and _complete(target, key):
                skipped.append(True)
                return "already complete"
            return self._process(input_path, target, input_sha256, key, started)

        result = attempt(input_path, target, job, started)
        return replace(result, skipped=bool(skipped)) if skipped else result

    def job_key(self, input_sha256: str, input_path: Path) -> str:
        """What decides the output's bytes: input, recipe (with its models and files),
        per-image files, backend and device, and the burnish version."""
        from burnish import __version__

        per_image = {}
        for number, step in enumerate(self.recipe.steps, 1):
            for param in step.op.params:
                value = step.params.get(param.name)
                if isinstance(param.kind, File) and isinstance(value, str) and template_fields(value):
                    path = recipe_path(value, self.recipe.context, input_path)
                    per_image[f"{number}.{param.name}"] = (self.resources.sha256(path)
                                                           if path.is_file() else None)
        data = {"input": input_sha256, "recipe": self.recipe.sha256, "per_image": per_image,
                "backend": self.options.backend, "device": self.options.device,
                "burnish": __version__}
        return hashlib.sha256(json.dumps(data, sort_keys=True).encode()).hexdigest()

    def _process(self, input_path: Path, target: Path, input_sha256: str, key: str,
                 started: float) -> str | None:
        from burnish.engine.imageio import DEFAULT_MAX_PIXELS, open_image, open_writer
        from burnish.engine.ops.encode import output_dtype
        from burnish.engine.provenance.sidecar import sidecar, write_json_atomically
        from burnish.engine.recipes.pipeline import apply_steps, plan_geometry
        from burnish.models.descriptor import file_sha256

        max_pixels = self.options.max_pixels or DEFAULT_MAX_PIXELS
        encode, edits = self.recipe.encode, self.recipe.edits
        notes = []
        with open_image(input_path, max_pixels=max_pixels) as rows:
            header, meta = rows.header, rows.meta
            # Every step's size from the header, before any pixel is decoded: an absurd
            # resize or upscale is refused before any work.
            try:
                plan_geometry((header.height, header.width), edits, max_pixels=max_pixels)
            except BurnishError as error:
                raise type(error)(error.problem, path=error.path or input_path) from None

            def open_output(applied, height: int, width: int, channels: int, dtype):
                written = output_dtype(encode, input_path.suffix, dtype)
                applied.dtype = written
                writer = open_writer(
                    target, width=width, height=height, channels=channels, dtype=written,
                    meta=replace(meta, xmp=self._xmp(applied, input_sha256),
                                 exif=None if encode["strip_exif"] else meta.exif),
                    quality=encode["quality"])
                if written == dtype:
                    return writer
                notes.append(f"written as {written.itemsize * 8}-bit")
                return _Converting(writer, written)

            applied = apply_steps(rows, edits, self.resources, image=input_path,
                                  context=self.recipe.context, open_sink=open_output,
                                  max_pixels=max_pixels)
        notes = [r.note for r in applied.records if r.note] + notes
        credentials = self._sign(input_path, target, applied)
        record = sidecar(input_path=input_path, input_sha256=input_sha256,
                         input_shape=(header.height, header.width, header.channels),
                         output_path=target,
                         output_sha256=file_sha256(target, error=OutputError, what="output"), recipe=self.recipe, job_key=key,
                         applied=applied,
                         environment={**self.environment(),
                                      "device": str(self.resources.device),
                                      "kernel device": str(self.resources.kernel_device),
                                      "backend requested": self.options.backend},
                         seconds=time.perf_counter() - started, credentials=credentials)
        write_json_atomically(sidecar_path(target), record)
        return "; ".join(notes) or None

    def _input_sha256(self, input_path: Path) -> str:
        from burnish.models.descriptor import file_sha256

        return file_sha256(input_path, what="image")  # refuses pipes and devices first

    def _xmp(self, applied, input_sha256: str) -> bytes:
        from burnish.engine.provenance.sidecar import xmp_packet

        return xmp_packet(fill=applied.fill, recipe_sha256=self.recipe.sha256,
                          input_sha256=input_sha256,
                          steps=[step.op.name for step in self.recipe.edits],
                          models=self.resources.models_opened())

    def _sign(self, input_path: Path, target: Path, applied) -> dict | None:
        if self.options.sign_cert is None:
            return None
        from burnish.engine.provenance.content_credentials import sign_image
        from burnish.engine.provenance.sidecar import c2pa_actions, digital_source_type

        sign_image(target, target, cert_chain=self.options.sign_cert, key=self.options.sign_key,
                   title=target.name, digital_source_type=digital_source_type(applied.fill),
                   actions=c2pa_actions(applied.records), ingredient=input_path)
        return {"signed": True, "certificate": str(self.options.sign_cert)}


class _Converting:
    """A file writer fed rows in another dtype: each band converted (rounded to nearest)."""

    def __init__(self, writer, dtype):
        self._writer, self._dtype = writer, dtype

    def write_rows(self, rows) -> None:
        from burnish.engine.pixels import from_float, to_float

        self._writer.write_rows(from_float(to_float(rows), self._dtype))

    def __enter__(self):
        self._writer.__enter__()
        return self

    def __exit__(self, *exc_info):
        return self._writer.__exit__(*exc_info)


def _complete(target: Path, key: str) -> bool:
    """Whether ``target`` is a finished output of the job ``key`` (see the module notes)."""
    from burnish.engine.provenance.sidecar import read_sidecar
    from burnish.models.descriptor import file_sha256

    record = read_sidecar(target)
    if record is None or record.get("job_key") != key:
        return False
    try:
        return file_sha256(target, what="output") == record.get("output", {}).get("sha256")
    except BurnishError:  # gone, emptied, replaced by a folder: not complete, redo it
        return False
