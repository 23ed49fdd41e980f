"""The ``upscale`` op: a super-resolution model (or Lanczos) through the tile scheduler."""

from __future__ import annotations

from burnish import defaults
from burnish.engine.edit_masks import Frame
from burnish.engine.ops.declare import Op, Outcome, Param, StepInput
from burnish.engine.ops.params import ModelSpec, Number
from burnish.engine.tiling.chain import Stage


def _upscale(upstream: Stage, step: StepInput, outcome: Outcome) -> Stage:
    """The model over the stage before it, through the tile scheduler in a thread of its
    own (:func:`burnish.engine.upscaling.upscale_stage`)."""
    from burnish.engine.upscaling import upscale_stage

    scale = step.params["scale"]
    runner = step.resources.runner(step.params["model"], scale, step.context.base)
    outcome.model = step.resources.model_record(runner)
    return upscale_stage(upstream, runner=runner, scale=scale, tile=step.params["tile"])


def _upscale_geometry(shape: tuple[int, int], params: dict) -> Frame:
    height, width = shape
    return Frame.resampled(shape, (height * params["scale"], width * params["scale"]))


UPSCALE = Op(
    "upscale", "Upscale with a super-resolution model, tile by tile.",
    (
        Param("scale", Number(1, 16, integer=True), "Output scale.", 4),
        Param("model", ModelSpec(), "Shipped model name, 'lanczos', or a model file "
              "(default: the shipped model of the scale, compact-x2 for 2 where it ships, else "
              "compact-x4).", None),
        Param("tile", Number(0, 8192, integer=True), "Tile size in input pixels (0: whole "
              f"image; default: the model's advice, else {defaults.TILE}).", None),
    ),
    _upscale,
    geometry=_upscale_geometry,
)
