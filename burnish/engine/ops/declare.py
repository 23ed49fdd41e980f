"""What an op is: a name, declared parameters, and a function from pixels to pixels.

Declarations are the single source for recipe validation, ``burnish edit`` step parsing and
the ``burnish ops`` listing, so the three can never disagree.
"""

from __future__ import annotations

import difflib
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from burnish.engine.edit_masks import Frame
from burnish.engine.ops.params import Context, Kind

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

    ``edited`` is the bool mask of the pixels the step changed on purpose, in the step's
    output coordinates; ``None`` means the whole image. ``fill`` says the step made up
    content (a removal), which decides the IPTC digital source type. (Where earlier regions
    go when a step changes the geometry is its op's :attr:`Op.geometry`, not its outcome.)
    """

    pixels: np.ndarray
    edited: np.ndarray | None = None
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
    """One operation: ``run(pixels, step)`` returns an :class:`Outcome` (and ``stream``, when
    the op has it, writes its result to a sink instead; the outcome's pixels are then None).

    ``role`` is ``"edit"`` for ops that change pixels and ``"encode"`` for the one that only
    says how the result is written (it must come last).

    ``geometry(shape, params)``, for ops that change the image's size or placement (upscale,
    resize, crop), says from the input's ``(height, width)`` alone, before any pixel is
    touched, where the step puts its input: a :class:`~burnish.engine.edit_masks.Frame` onto its
    output. A run plans every step's size with it first (and refuses absurd ones), regions
    given in the input's coordinates are moved with it, and the provenance moves earlier
    steps' regions with it. Ops without it keep the image's size and place.
    """

    name: str
    summary: str
    params: tuple[Param, ...]
    run: Callable[[np.ndarray, StepInput], Outcome]
    role: str = "edit"
    check_together: Callable[[dict], None] | None = None  # rules across parameters
    # As a recipe's last edit, write the result straight into a sink opened by
    # ``open_sink(height, width, channels, dtype)`` (a file writer), never holding it whole.
    stream: Callable[[np.ndarray, StepInput, Callable], Outcome] | None = None
    geometry: Callable[[tuple[int, int], dict], Frame] | None = None

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
