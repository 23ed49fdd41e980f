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

import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from burnish.engine.edit_masks import Frame
from burnish.engine.imageio import DEFAULT_MAX_PIXELS
from burnish.engine.ops.declare import Outcome, StepInput
from burnish.engine.ops.params import Context
from burnish.engine.recipes.recipe import Step
from burnish.engine.recipes.resources import Resources
from burnish.errors import BurnishError, InputError, OptionError


@dataclass
class StepRecord:
    """What one step did: ``region`` is None for the whole image, else a bool mask in the
    final output's coordinates (moved there by later geometry steps)."""

    step: Step
    seconds: float
    region: np.ndarray | None
    fill: bool = False
    model: dict | None = None
    note: str | None = None


@dataclass
class Applied:
    """The result of the steps: ``pixels``, or None when the last step streamed its result
    to a sink (``shape`` and ``dtype`` say what was written either way)."""

    pixels: np.ndarray | None
    records: list[StepRecord] = field(default_factory=list)
    shape: tuple[int, int, int] = (0, 0, 0)
    dtype: np.dtype = np.dtype(np.uint8)

    @property
    def fill(self) -> bool:
        """Whether any step made up content (a removal), rather than only enhancing."""
        return any(r.fill for r in self.records)

    @property
    def edited_region(self) -> np.ndarray | None:
        """The union of the local edits, or None when no step was local."""
        local = [r.region for r in self.records if r.region is not None and r.region.any()]
        if not local:
            return None
        union = local[0].copy()
        for region in local[1:]:
            union |= region
        return union

    def add(self, step: Step, outcome: Outcome, seconds: float, moved: Frame | None) -> None:
        """Take a step's outcome: move earlier regions through its geometry (``moved``: the
        step's own frame, None when it keeps the image in place), keep its record."""
        if moved is not None:
            for record in self.records:
                if record.region is not None:
                    record.region = moved.warp(record.region)
        self.pixels = outcome.pixels
        if outcome.pixels is not None:
            self.shape, self.dtype = outcome.pixels.shape, outcome.pixels.dtype
        self.records.append(StepRecord(step, seconds, outcome.edited, outcome.fill,
                                       outcome.model, outcome.note))


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


def apply_steps(pixels: np.ndarray, steps: Sequence[Step], resources: Resources, *,
                image: Path, context: Context, open_sink: Callable | None = None,
                on_step: Callable[[int, int], None] | None = None,
                max_pixels: int | None = None) -> Applied:
    """Run ``steps`` on ``pixels`` (``H x W x C``) in order.

    With ``open_sink(applied, height, width, channels, dtype)`` (a file writer, say; ``applied``
    holds the records of the steps before), a last step that can stream
    (:attr:`~burnish.engine.ops.declare.Op.stream`: an upscale) writes its result through it
    instead of returning it, so the largest image of the chain is never held whole; the
    result's ``pixels`` are then None.

    Problems a user can fix are raised as :class:`~burnish.errors.BurnishError` naming
    ``image`` and the step; the geometry of all the steps is checked first
    (:func:`plan_geometry`, with ``max_pixels``, by default the reader's
    :data:`~burnish.engine.imageio.DEFAULT_MAX_PIXELS`), so an absurd size fails before
    any step has run.
    """
    try:
        plan = plan_geometry(pixels.shape[:2], steps, max_pixels=max_pixels or DEFAULT_MAX_PIXELS)
    except BurnishError as error:
        raise type(error)(error.problem, path=error.path or image) from None
    applied = Applied(pixels, shape=pixels.shape, dtype=pixels.dtype)

    def opened(height: int, width: int, channels: int, dtype):
        applied.shape, applied.dtype = (height, width, channels), np.dtype(dtype)
        return open_sink(applied, height, width, channels, dtype)

    for number, step in enumerate(steps, 1):
        started = time.perf_counter()
        streams = open_sink is not None and number == len(steps) and step.op.stream is not None
        step_input = StepInput(step.params, resources, image, context, plan.entering[number - 1])
        try:
            outcome = (step.op.stream(applied.pixels, step_input, opened) if streams
                       else step.op.run(applied.pixels, step_input))
        except BurnishError as error:
            raise type(error)(f"step {number} ({step.op.name}): {error.problem}",
                              path=error.path or image) from None
        except ValueError as error:  # a kernel refusing these pixels
            raise InputError(f"step {number} ({step.op.name}): {error}", path=image) from None
        planned = plan.entering[number].target
        if outcome.pixels is not None and outcome.pixels.shape[:2] != planned:
            raise RuntimeError(f"step {number} ({step.op.name}) made a {outcome.pixels.shape} "
                               f"image; its declared geometry says {planned}")
        applied.add(step, outcome, time.perf_counter() - started, plan.moves[number - 1])
        if on_step is not None:
            on_step(number, len(steps))
    return applied
