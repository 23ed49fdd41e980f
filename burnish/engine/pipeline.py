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

from burnish.engine.ops.declare import StepInput
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
    pixels: np.ndarray
    records: list[StepRecord] = field(default_factory=list)

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


def apply_steps(pixels: np.ndarray, steps: Sequence[Step], resources: Resources, *,
                image: Path, context: Context,
                on_step: Callable[[int, int], None] | None = None) -> Applied:
    """Run ``steps`` on ``pixels`` (``H x W x C``) in order.

    Problems a user can fix are raised as :class:`~burnish.errors.BurnishError` naming
    ``image`` and the step.
    """
    applied = Applied(pixels)
    for number, step in enumerate(steps, 1):
        started = time.perf_counter()
        try:
            outcome = step.op.run(applied.pixels, StepInput(step.params, resources, image, context))
        except BurnishError as error:
            raise type(error)(f"step {number} ({step.op.name}): {error.problem}",
                              path=error.path or image) from None
        except ValueError as error:  # a kernel refusing these pixels
            raise InputError(f"step {number} ({step.op.name}): {error}", path=image) from None
        if outcome.remap is not None:
            for record in applied.records:
                if record.region is not None:
                    record.region = outcome.remap(record.region)
        applied.pixels = outcome.pixels
        applied.records.append(StepRecord(step, time.perf_counter() - started, outcome.edited,
                                          outcome.fill, outcome.model, outcome.note))
        if on_step is not None:
            on_step(number, len(steps))
    return applied
