"""The ``upscale`` op: a super-resolution model (or Lanczos) through the tile scheduler."""

from __future__ import annotations

import numpy as np

from burnish import defaults
from burnish.engine.edit_masks import Frame
from burnish.engine.ops.declare import Op, Outcome, Param, StepInput
from burnish.engine.ops.params import ModelSpec, Number


def _upscale_to(pixels: np.ndarray, step: StepInput, sink) -> Outcome:
    """Upscale into ``sink``: an array (:func:`_upscale`) or, as the recipe's last edit, a
    file writer that streams the output to disk (:func:`_upscale_streamed`). The outcome's
    pixels are left to the caller."""
    from burnish.engine.upscaling import upscale_into

    scale = step.params["scale"]
    runner = step.resources.runner(step.params["model"], scale, step.context.base)
    upscale_into(pixels, sink, runner=runner, scale=scale, tile=step.params["tile"])
    return Outcome(None, model=step.resources.model_record(runner))


def _upscale(pixels: np.ndarray, step: StepInput) -> Outcome:
    from burnish.engine.tiling.scheduler import ArraySink

    height, width, channels = pixels.shape
    scale = step.params["scale"]
    sink = ArraySink(height * scale, width * scale, channels, pixels.dtype)
    outcome = _upscale_to(pixels, step, sink)
    outcome.pixels = sink.pixels
    return outcome


def _upscale_streamed(pixels: np.ndarray, step: StepInput, open_sink) -> Outcome:
    height, width, channels = pixels.shape
    scale = step.params["scale"]
    # the model is opened before the sink: the file's metadata names the models opened
    step.resources.runner(step.params["model"], scale, step.context.base)
    with open_sink(height * scale, width * scale, channels, pixels.dtype) as sink:
        return _upscale_to(pixels, step, sink)


def _upscale_geometry(shape: tuple[int, int], params: dict) -> Frame:
    height, width = shape
    return Frame.resampled(shape, (height * params["scale"], width * params["scale"]))


UPSCALE = Op(
    "upscale", "Upscale with a super-resolution model, tile by tile.",
    (
        Param("scale", Number(1, 16, integer=True), "Output scale.", 4),
        Param("model", ModelSpec(), "Shipped model name, 'lanczos', or a model file "
              "(default: the shipped compact-x4).", None),
        Param("tile", Number(0, 8192, integer=True), "Tile size in input pixels (0: whole "
              f"image; default: the model's advice, else {defaults.TILE}).", None),
    ),
    _upscale,
    stream=_upscale_streamed,
    geometry=_upscale_geometry,
)
