"""Recipes over a Ray cluster (``burnish run RECIPE INPUTS -o OUT --ray [--ray-address
ADDRESS]``), with the guarantees of ``burnish run``.

burnish schedules nothing of its own here: the batch is a Ray Data dataset of ``(input,
target)`` rows, one block per file, mapped by an autoscaling pool of actors
(``map_batches`` with a callable class and :class:`ray.data.ActorPoolStrategy`, the pattern
Ray documents for batch inference). Each actor is a local batch worker
(:class:`~burnish.engine.recipes.batch_run.Worker`): it opens the recipe's models once and
processes its files with the same code as ``burnish run``, so an output has the same bytes
whichever node made it.

- **Where files live.** The driver lists the inputs and plans the outputs (as locally:
  names checked, collisions refused, what an interrupted run left removed) and hands the
  actors absolute paths: inputs, outputs and the recipe's files must be on storage every
  node sees at the same path (a shared folder: NFS, a mounted bucket). URLs are not taken.
- **Atomic outputs.** As locally: an image goes to a temporary file renamed over its target,
  then its sidecar; an output is complete when its sidecar's hashes match. A retried file
  is written again whole, never half, never under two names.
- **Failures.** A bad file is that file's one-line error and the others go on. An actor
  that dies (killed, out of memory, its node lost) is restarted by Ray where it fits, and
  the files it held are run again in another round on the actors there are, up to
  :data:`ATTEMPTS` rounds; a file that kills every actor it reaches is reported as failed
  rather than retried for ever.
- **Resume.** ``resume`` skips outputs that are complete for this job (the sidecar check of
  ``burnish run``), so a driver killed mid-batch is resumed by running it again.
- **Ctrl-C** on the driver stops the job: a cluster started for the run is shut down with
  its actors; on a joined cluster, the job's actors end with their driver.
"""

from __future__ import annotations

import logging
import os
import warnings
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np

from burnish.engine.ops.params import Context
from burnish.engine.recipes.batch_plan import FileResult, remove_stale_partials
from burnish.engine.recipes.batch_run import RunOptions, Worker, in_input_order, prepare_batch
from burnish.engine.recipes.recipe import Recipe
from burnish.errors import OptionError

ATTEMPTS = 3  # tries of one file, when the actors running it die
FIELDS = ("input", "output", "error", "note", "seconds", "skipped")


@dataclass(frozen=True)
class ClusterOptions:
    """Where and how wide a batch runs on Ray.

    ``address``: None starts a local cluster for the run (stopped after it), ``"auto"``
    joins the cluster running on this machine, anything else is given to ``ray.init``
    (``"host:6379"``, ``"ray://head:10001"``). ``cpus`` and ``gpus`` are one actor's
    (fractions of a GPU share it); the pool grows from ``min_actors`` to ``max_actors``
    (None: as many as the cluster's CPUs, or GPUs, hold).
    """

    address: str | None = None
    cpus: float = 1.0
    gpus: float = 0.0
    min_actors: int = 1
    max_actors: int | None = None


def run_recipe(recipe: Recipe, inputs: Sequence[str | os.PathLike], options: RunOptions,
               cluster: ClusterOptions = ClusterOptions(), *,
               on_plan: Callable[[int], None] | None = None,
               on_done: Callable[[FileResult], None] | None = None) -> list[FileResult]:
    """Run ``recipe`` over ``inputs`` into ``options.output`` on a Ray cluster (module
    notes); results in input order, as :func:`burnish.engine.recipes.batch_run.run_recipe`
    gives them."""
    try:
        import ray
    except ImportError:
        raise OptionError("--ray needs Ray: pip install 'burnish[ray]'") from None
    _check(cluster)
    pairs, written = prepare_batch(recipe, inputs, options)
    pairs = [(input_path.absolute(), target.absolute()) for input_path, target in pairs]
    recipe = replace(recipe, context=Context(Path(recipe.context.base).absolute()))
    if on_plan is not None:
        on_plan(len(pairs))
    started_here = not ray.is_initialized()
    if started_here:
        _connect(ray, cluster.address)
    try:
        results = _map(ray, recipe, options, cluster, pairs, on_done)
    except BaseException:  # Ctrl-C: what the stopped actors left is only temporary files
        if started_here:
            ray.shutdown()
        remove_stale_partials(written)
        raise
    if started_here:
        ray.shutdown()
    return in_input_order(results, pairs)


def _check(cluster: ClusterOptions) -> None:
    if cluster.cpus <= 0 or cluster.gpus < 0:
        raise OptionError("an actor needs a positive number of CPUs (--ray-cpus) and no "
                          "negative GPUs (--ray-gpus)")
    if cluster.min_actors < 1 or (cluster.max_actors is not None
                                  and cluster.max_actors < cluster.min_actors):
        raise OptionError("the actor pool needs 1 <= min <= max actors (--ray-actors MIN:MAX)")


def _connect(ray, address: str | None) -> None:
    try:
        ray.init(address=address, logging_level=logging.WARNING, log_to_driver=False,
                 include_dashboard=False, configure_logging=False)
    except ConnectionError as error:
        raise OptionError(f"cannot join the Ray cluster at {address}: {error}") from None


def _pool_size(ray, cluster: ClusterOptions) -> tuple[int, int]:
    """The pool's range: as given, or up to what the cluster holds now (refused when that
    is not one actor: the batch would wait for ever; an autoscaling cluster that adds
    nodes on demand is given its range with --ray-actors)."""
    if cluster.max_actors is not None:
        return cluster.min_actors, cluster.max_actors
    resources = ray.cluster_resources()
    fits = int(resources.get("CPU", 0) // cluster.cpus)
    if cluster.gpus > 0:
        fits = min(fits, int(resources.get("GPU", 0) // cluster.gpus))
    if fits < 1:
        raise OptionError(f"the Ray cluster has {resources.get('CPU', 0):g} CPUs and "
                          f"{resources.get('GPU', 0):g} GPUs: not enough for one actor of "
                          f"{cluster.cpus:g} CPUs and {cluster.gpus:g} GPUs (give "
                          "--ray-actors MIN:MAX where nodes are added on demand)")
    return cluster.min_actors, max(cluster.min_actors, fits)


def _map(ray, recipe, options, cluster, pairs, on_done) -> list[FileResult]:
    """The batch in rounds: each round maps the files without a result yet; a file lost
    with its actor (the actor killed, its node gone: Ray's own retries go to the same
    actor, which a lost node cannot give back) is tried again in the next round, on the
    actors there are, up to :data:`ATTEMPTS` rounds."""
    results: list[FileResult] = []
    pending = list(pairs)
    for _ in range(ATTEMPTS):
        if not pending:
            break
        for result in _map_once(ray, recipe, options, cluster, pending):
            results.append(result)
            if on_done is not None:
                on_done(result)
        done = {result.input for result in results}
        pending = [(i, t) for i, t in pending if i not in done]
    for input_path, _ in pending:  # the files whose every try died with its actor
        result = FileResult(input_path, None, error=f"{input_path}: the actors running it "
                            f"died {ATTEMPTS} times (out of memory? a node lost?); nothing "
                            "was written")
        results.append(result)
        if on_done is not None:
            on_done(result)
    return results


def _map_once(ray, recipe, options, cluster, pairs):
    """One round: the results of the files whose actor lived, as they come."""
    context = ray.data.DataContext.get_current()
    context.enable_progress_bars = False  # the driver shows its own bar over files
    context.print_on_execution_start = False
    context.enable_auto_log_stats = False
    context.max_errored_blocks = -1  # a file whose every try died is reported, not fatal
    logging.getLogger("ray.data").setLevel(logging.ERROR)  # its notes are not the user's
    rows = [{"input": str(i), "target": str(t)} for i, t in pairs]
    low, high = _pool_size(ray, cluster)
    with warnings.catch_warnings():
        # Ray 2.60 has no named parameter for a task's retries yet; the remote arguments
        # are deprecated (to go in 2.64, below the extra's bound) but are the only way to
        # bound them: the pool's default retries a file that kills its actor for ever
        # (the rounds above retry instead, on any actor).
        warnings.simplefilter("ignore", DeprecationWarning)
        mapped = ray.data.from_items(rows, override_num_blocks=len(rows)).map_batches(
            _RecipeActor, fn_constructor_args=(recipe, options, max(1, int(cluster.cpus))),
            batch_size=1, batch_format="numpy",
            compute=ray.data.ActorPoolStrategy(min_size=low, max_size=high),
            num_cpus=cluster.cpus, num_gpus=cluster.gpus or None,
            max_restarts=-1, max_task_retries=1)
    for row in mapped.iter_rows():
        yield _result(row)


def _result(row: dict) -> FileResult:
    text = {name: str(row[name]) for name in ("input", "output", "error", "note")}
    return FileResult(Path(text["input"]), Path(text["output"]) if text["output"] else None,
                      error=text["error"] or None, seconds=float(row["seconds"]),
                      note=text["note"] or None, skipped=bool(row["skipped"]))


class _RecipeActor:
    """One actor of the pool: a batch worker with the recipe's models open, its threads
    the actor's CPUs."""

    def __init__(self, recipe: Recipe, options: RunOptions, threads: int):
        from burnish.kernels.threads import set_thread_count

        set_thread_count(threads)
        self.worker = Worker(recipe, options, threads=threads)

    def __call__(self, batch: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
        out: dict[str, list] = {name: [] for name in FIELDS}
        for input_text, target_text in zip(batch["input"], batch["target"]):
            result = self.worker.process(Path(str(input_text)), Path(str(target_text)))
            out["input"].append(str(result.input))
            out["output"].append("" if result.output is None else str(result.output))
            out["error"].append(result.error or "")
            out["note"].append(result.note or "")
            out["seconds"].append(result.seconds)
            out["skipped"].append(result.skipped)
        return {name: np.array(values) for name, values in out.items()}
