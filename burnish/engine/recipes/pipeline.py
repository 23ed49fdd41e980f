"""Running a recipe's steps on one image, keeping a record of what each step did and where.

Before any step runs, the steps' geometry is planned from the input's size alone
(:func:`plan_geometry`): every step's image size, and where the input's pixel coordinates
land at each step (a :class:`~burnish.engine.edit_masks.Frame`). A step that would make an image
larger than the run's pixel limit, or empty, is refused then, naming the step. The same
frames serve regions given in the input's coordinates (``coordinates = "input"``) and the
provenance: every step's edited region is kept as a mask and moved along with the image
through later geometry steps (upscale, resize, crop), so the provenance of the output names
its regions in the output's own pixel coordinates.
"""

from __future__ import annotations

import functools
import operator
from collections.abc import Callable, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from burnish.engine.edit_masks import Frame
from burnish.engine.imageio import DEFAULT_MAX_PIXELS, ImageRows
from burnish.engine.ops.declare import Outcome, StepInput
from burnish.engine.ops.params import Context
from burnish.engine.recipes.recipe import Step
from burnish.engine.recipes.resources import Resources
from burnish.engine.sparse_mask import SparseMask
from burnish.engine.tiling.chain import ArrayStage, SourceStage, collect, drain_into
from burnish.errors import BurnishError, InputError, OptionError


@dataclass
class StepRecord:
    """What one step did: ``region`` is None for the whole image, else the pixels it edited
    in the final output's coordinates (moved there by later geometry steps)."""

    step: Step
    seconds: float
    region: SparseMask | None
    fill: bool = False
    model: dict | None = None
    note: str | None = None


@dataclass
class Applied:
    """The result of the steps: ``pixels``, or None when the result streamed into a sink
    (``shape`` and ``dtype`` say what was made either way)."""

    pixels: np.ndarray | None
    records: list[StepRecord] = field(default_factory=list)
    shape: tuple[int, int, int] = (0, 0, 0)
    dtype: np.dtype = np.dtype(np.uint8)

    @property
    def fill(self) -> bool:
        """Whether any step made up content (a removal), rather than only enhancing."""
        return any(r.fill for r in self.records)

    @property
    def edited_region(self) -> SparseMask | None:
        """The union of the local edits, or None when no step was local."""
        local = [r.region for r in self.records if r.region is not None and r.region.any()]
        return functools.reduce(operator.or_, local) if local else None


@dataclass(frozen=True)
class Plan:
    """The steps' geometry, known before any runs. ``entering[i]`` maps the input's
    coordinates onto the image step ``i + 1`` receives (``entering[-1]``: onto the output);
    ``moves[i]`` is step ``i + 1``'s own frame, or None when it keeps size and place."""

    entering: tuple[Frame, ...]
    moves: tuple[Frame | None, ...]

    @property
    def output_shape(self) -> tuple[int, int]:
        return self.entering[-1].target


def _pixel_count(count: int) -> str:
    for unit, size in (("TP", 10 ** 12), ("GP", 10 ** 9), ("MP", 10 ** 6)):
        if count >= size:
            return f"{count / size:.3g} {unit}"
    return f"{count} pixels"


def plan_geometry(shape: tuple[int, int], steps: Sequence[Step], *,
                  max_pixels: int = DEFAULT_MAX_PIXELS) -> Plan:
    """Every step's image size and frame for an input of ``shape`` (height, width), from the
    ops' declared :attr:`~burnish.engine.ops.declare.Op.geometry`, without touching pixels.

    Raises :class:`~burnish.errors.OptionError` naming the step when an image would have more
    than ``max_pixels`` pixels or none, and the op's own error (a crop box outside the image)
    likewise prefixed with the step.
    """
    frame = Frame.identity(shape)
    entering, moves = [frame], []
    for number, step in enumerate(steps, 1):
        moved = None
        if step.op.geometry is not None:
            try:
                moved = step.op.geometry(frame.target, step.params)
            except BurnishError as error:
                raise type(error)(f"step {number} ({step.op.name}): {error.problem}",
                                  path=error.path) from None
            height, width = moved.target
            if height < 1 or width < 1:
                raise OptionError(f"step {number} ({step.op.name}): the image would be empty "
                                  f"({width}x{height})")
            if height * width > max_pixels:
                raise OptionError(f"step {number} ({step.op.name}): the image would be "
                                  f"{width}x{height} ({_pixel_count(height * width)}), over the "
                                  f"{max_pixels}-pixel limit (max_pixels)")
            frame = frame.then(moved)
        entering.append(frame)
        moves.append(moved)
    return Plan(tuple(entering), tuple(moves))


def apply_steps(pixels: np.ndarray | ImageRows, steps: Sequence[Step], resources: Resources, *,
                image: Path, context: Context, open_sink: Callable | None = None,
                on_step: Callable[[int, int], None] | None = None,
                max_pixels: int | None = None) -> Applied:
    """Run ``steps`` on ``pixels`` (``H x W x C``, or the rows of an open image file) as one
    chain of stages (:mod:`burnish.engine.tiling.chain`), pulled band by band.

    With ``open_sink(applied, height, width, channels, dtype)`` (a file writer, say), the
    result is written through it as it is made, and the result's ``pixels`` are None; the
    sink is opened when the first rows are ready, when ``applied`` already says what every
    step that needed the whole image found (a removal's fill). Without it the result is
    gathered into ``pixels``. Steps that stream (per-pixel grades, upscaling, resizing,
    cropping, encoding) hold a few bands each; steps that need the whole image hold it.

    Problems a user can fix are raised as :class:`~burnish.errors.BurnishError` naming
    ``image`` and the step; the geometry of all the steps is checked first
    (:func:`plan_geometry`, with ``max_pixels``, by default the reader's
    :data:`~burnish.engine.imageio.DEFAULT_MAX_PIXELS`), so an absurd size fails before
    any step has run.
    """
    streamed = isinstance(pixels, ImageRows)
    shape = ((pixels.header.height, pixels.header.width) if streamed else pixels.shape[:2])
    try:
        plan = plan_geometry(shape, steps, max_pixels=max_pixels or DEFAULT_MAX_PIXELS)
    except BurnishError as error:
        raise type(error)(error.problem, path=error.path or image) from None
    stage = SourceStage(pixels) if streamed else ArrayStage(pixels)
    stages, outcomes = [stage], []
    for number, step in enumerate(steps, 1):
        outcome = Outcome()
        step_input = StepInput(step.params, resources, image, context, plan.entering[number - 1])
        with _attributed(image, {(number, step.op.name)}, default=(number, step.op.name)):
            stage = step.op.stage(stage, step_input, outcome)
        planned = plan.entering[number].target
        if (stage.height, stage.width) != planned:
            raise RuntimeError(f"step {number} ({step.op.name}) makes a {stage.height}x"
                               f"{stage.width} image; its declared geometry says {planned}")
        stage.label = (number, step.op.name)
        if on_step is not None:
            stage.on_finished = functools.partial(on_step, number, len(steps))
        stages.append(stage)
        outcomes.append(outcome)
    applied = Applied(None, shape=(stage.height, stage.width, stage.channels), dtype=stage.dtype)
    labels = {s.label for s in stages[1:]}
    with _attributed(image, labels):
        if open_sink is None:
            applied.pixels = collect(stage)
        else:
            def opened():
                applied.records = _records(steps, outcomes, stages, plan)
                return open_sink(applied, stage.height, stage.width, stage.channels,
                                 stage.dtype)

            drain_into(stage, opened)
    applied.records = _records(steps, outcomes, stages, plan, moved=True)
    return applied


@contextmanager
def _attributed(image: Path, labels: set, default=None):
    """Errors from a step's stage as one line naming the image and the step."""
    try:
        yield
    except (BurnishError, ValueError) as error:
        label = getattr(error, "stage_label", None) or default
        if label not in labels:
            raise
        number, name = label
        if isinstance(error, BurnishError):
            raise type(error)(f"step {number} ({name}): {error.problem}",
                              path=error.path or image) from None
        # a kernel refusing these pixels
        raise InputError(f"step {number} ({name}): {error}", path=image) from None


def _records(steps: Sequence[Step], outcomes: list[Outcome], stages: list, plan: Plan, *,
             moved: bool = False) -> list[StepRecord]:
    """Each step's record; with ``moved``, its region carried through the geometry of the
    steps after it onto the output, and its own seconds (its stage's time less the time of
    the stages before it)."""
    records = []
    for index, (step, outcome) in enumerate(zip(steps, outcomes)):
        region = outcome.edited
        if moved and region is not None:
            later = [frame for frame in plan.moves[index + 1:] if frame is not None]
            if later:
                region = region.warp(functools.reduce(Frame.then, later))
        seconds = max(stages[index + 1].busy - stages[index].busy, 0.0)
        records.append(StepRecord(step, seconds, region, outcome.fill, outcome.model,
                                  outcome.note))
    return records
