"""Running a recipe's steps on one image, keeping a record of what each step did and where.

Every step's edited region is kept as a mask and moved along with the image through later
geometry steps (upscale, resize, crop), so the provenance of the output names its regions
in the output's own pixel coordinates.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from burnish.engine.ops.declare import Outcome, StepInput
from burnish.engine.ops.params import Context
from burnish.engine.recipe import Step
from burnish.engine.resources import Resources
from burnish.errors import BurnishError, InputError


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

    def add(self, step: Step, outcome: Outcome, seconds: float) -> None:
        """Take a step's outcome: move earlier regions through its geometry, keep its record."""
        if outcome.remap is not None:
            for record in self.records:
                if record.region is not None:
                    record.region = outcome.remap(record.region)
        self.pixels = outcome.pixels
        if outcome.pixels is not None:
            self.shape, self.dtype = outcome.pixels.shape, outcome.pixels.dtype
        self.records.append(StepRecord(step, seconds, outcome.edited, outcome.fill,
                                       outcome.model, outcome.note))


def apply_steps(pixels: np.ndarray, steps: Sequence[Step], resources: Resources, *,
                image: Path, context: Context, open_sink: Callable | None = None,
                on_step: Callable[[int, int], None] | None = None) -> Applied:
    """Run ``steps`` on ``pixels`` (``H x W x C``) in order.

    With ``open_sink(applied, height, width, channels, dtype)`` (a file writer, say; ``applied``
    holds the records of the steps before), a last step that can stream
    (:attr:`~burnish.engine.ops.declare.Op.stream`: an upscale) writes its result through it
    instead of returning it, so the largest image of the chain is never held whole; the
    result's ``pixels`` are then None.

    Problems a user can fix are raised as :class:`~burnish.errors.BurnishError` naming
    ``image`` and the step.
    """
    applied = Applied(pixels, shape=pixels.shape, dtype=pixels.dtype)

    def opened(height: int, width: int, channels: int, dtype):
        applied.shape, applied.dtype = (height, width, channels), np.dtype(dtype)
        return open_sink(applied, height, width, channels, dtype)

    for number, step in enumerate(steps, 1):
        started = time.perf_counter()
        streams = open_sink is not None and number == len(steps) and step.op.stream is not None
        step_input = StepInput(step.params, resources, image, context)
        try:
            outcome = (step.op.stream(applied.pixels, step_input, opened) if streams
                       else step.op.run(applied.pixels, step_input))
        except BurnishError as error:
            raise type(error)(f"step {number} ({step.op.name}): {error.problem}",
                              path=error.path or image) from None
        except ValueError as error:  # a kernel refusing these pixels
            raise InputError(f"step {number} ({step.op.name}): {error}", path=image) from None
        applied.add(step, outcome, time.perf_counter() - started)
        if on_step is not None:
            on_step(number, len(steps))
    return applied
