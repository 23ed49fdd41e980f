"""What an op is: a name, declared parameters, and how it computes its output as a stage of
the streaming chain (:mod:`burnish.engine.tiling.chain`).

Declarations are the single source for recipe validation, ``burnish edit`` step parsing and
the ``burnish ops`` listing, so the three can never disagree. An op is computed one way
only: its stage. Run on a whole image (:meth:`Op.run`) the same stage is built over the
image in memory and drained into an array.
"""

from __future__ import annotations

import difflib
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from burnish.engine.edit_masks import Frame
from burnish.engine.ops.params import Context, Kind
from burnish.engine.sparse_mask import SparseMask
from burnish.engine.tiling.chain import ArrayStage, Stage, WholeStage, collect

REQUIRED = object()  # a parameter without a default must be given


@dataclass(frozen=True)
class Param:
    name: str
    kind: Kind
    help: str
    default: object = REQUIRED

    @property
    def required(self) -> bool:
        return self.default is REQUIRED


@dataclass
class Outcome:
    """What one step did to an image.

    A step's stage fills it in as it computes (a region's mask, a note that nothing matched),
    so it is complete once the stage's last row is made; ``pixels`` is set only by
    :meth:`Op.run`. ``edited`` is where the step changed pixels on purpose (a
    :class:`~burnish.engine.sparse_mask.SparseMask` in the step's output coordinates);
    ``None`` means the whole image. ``fill`` says the step made up
    content (a removal), which decides the IPTC digital source type. (Where earlier regions
    go when a step changes the geometry is its op's :attr:`Op.geometry`, not its outcome.)
    """

    pixels: np.ndarray | None = None
    edited: SparseMask | None = None
    fill: bool = False
    model: dict | None = None
    note: str | None = None


@dataclass
class StepInput:
    """What an op's function receives besides the pixels."""

    params: dict
    resources: object  # burnish.engine.recipes.resources.Resources
    image: Path  # the input file, for per-image templates
    context: Context
    # From the run's input image to the pixels this step receives (through the geometry of
    # the steps before it); None: the pixels are the input (a region's coordinates = "input"
    # then means this image).
    frame: Frame | None = None


@dataclass(frozen=True)
class Op:
    """One operation: ``stage(upstream, step, outcome)`` builds the op's
    :class:`~burnish.engine.tiling.chain.Stage` over the stage before it, filling in
    ``outcome`` as it computes.

    ``role`` is ``"edit"`` for ops that change pixels and ``"encode"`` for the one that only
    says how the result is written (it must come last).

    ``geometry(shape, params)``, for ops that change the image's size or placement (upscale,
    resize, crop), says from the input's ``(height, width)`` alone, before any pixel is
    touched, where the step puts its input: a :class:`~burnish.engine.edit_masks.Frame` onto
    its output. A run plans every step's size with it first (and refuses absurd ones), regions
    given in the input's coordinates are moved with it, and the provenance moves earlier
    steps' regions with it. Ops without it keep the image's size and place.
    """

    name: str
    summary: str
    params: tuple[Param, ...]
    stage: Callable[[Stage, StepInput, Outcome], Stage]
    role: str = "edit"
    check_together: Callable[[dict], None] | None = None  # rules across parameters
    geometry: Callable[[tuple[int, int], dict], Frame] | None = None

    def run(self, pixels: np.ndarray, step: StepInput) -> Outcome:
        """The op on a whole ``H x W x C`` image: its stage over the image, drained."""
        outcome = Outcome()
        outcome.pixels = collect(self.stage(ArrayStage(pixels), step, outcome))
        return outcome

    def param(self, name: str) -> Param | None:
        return next((p for p in self.params if p.name == name), None)

    def check(self, given: dict, context: Context) -> dict:
        """Every parameter normalised, defaults filled in; :class:`ValueError` names the key."""
        known = [p.name for p in self.params]
        for key in given:
            if key not in known:
                close = difflib.get_close_matches(key, known, n=1)
                hint = f" (did you mean {close[0]!r}?)" if close else ""
                raise ValueError(f"unknown parameter {key!r}{hint}; {self.name} takes "
                                 f"{', '.join(known)}")
        checked = {}
        for param in self.params:
            if param.name in given:
                try:
                    checked[param.name] = param.kind.check(given[param.name], context)
                except ValueError as error:
                    raise ValueError(f"{param.name}: {error}") from None
            elif param.required:
                raise ValueError(f"{param.name}: required ({param.kind.describe()})")
            else:
                checked[param.name] = param.default
        if self.check_together is not None:
            self.check_together(checked)
        return checked


def whole_stage(upstream: Stage, outcome: Outcome, compute: Callable[[np.ndarray], Outcome],
                shape: tuple[int, int, int] | None = None) -> Stage:
    """The stage of an op that needs the whole image at once: ``compute(pixels)`` gives its
    outcome, whose fields fill ``outcome`` in. Not streamed (see
    :class:`~burnish.engine.tiling.chain.WholeStage`)."""
    def computed(pixels: np.ndarray) -> np.ndarray:
        result = compute(pixels)
        outcome.edited, outcome.fill = result.edited, result.fill
        outcome.model, outcome.note = result.model, result.note
        return result.pixels

    return WholeStage(upstream, computed, shape)

