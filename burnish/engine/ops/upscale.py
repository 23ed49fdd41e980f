"""The ``upscale`` op: a super-resolution model (or Lanczos) through the tile scheduler."""

from __future__ import annotations

import numpy as np

from burnish.engine.ops.declare import Op, Outcome, Param, StepInput
from burnish.engine.ops.params import ModelSpec, Number


def _upscale(pixels: np.ndarray, step: StepInput) -> Outcome:
    from burnish.engine.upscale import upscale

    p = step.params
    scale = p["scale"]
    runner = step.resources.runner(p["model"], scale, step.context.base)
    out = upscale(pixels, scale=scale, model=runner, tile=p["tile"])
    return Outcome(out, remap=lambda mask: np.repeat(np.repeat(mask, scale, 0), scale, 1),
                   model=step.resources.model_record(runner))


UPSCALE = Op(
    "upscale", "Upscale with a super-resolution model, tile by tile.",
    (
        Param("scale", Number(1, 16, integer=True), "Output scale.", 4),
        Param("model", ModelSpec(), "Shipped model name, 'lanczos', or a model file "
              "(default: the shipped compact-x4).", None),
        Param("tile", Number(0, 8192, integer=True), "Tile size in input pixels (0: whole "
              "image; default: the model's advice, else 256).", None),
    ),
    _upscale,
)
