"""Where a step acts: the region parameters shared by every op that can be masked.

A grade (colour match, grain, LUT, adjustments) acts on the whole image unless the step
gives a region; then the graded result is composited over the original with a feathered
weight, so pixels outside the region (and its feather) stay bit-identical. Removal uses the
same parameters to say what to remove.
"""

from __future__ import annotations

import numpy as np

from burnish.engine import masks
from burnish.engine.ops.declare import Outcome, Param, StepInput
from burnish.engine.ops.params import File, Flag, Number, Text, TextList, resolve_file
from burnish.errors import InputError

BOX = Text(masks.parse_box, "10,20,300,200")
POLYGON = Text(masks.parse_polygon, "0,0 100,0 50,80")
COLOUR = Text(masks.parse_colour, "#00ff00")


def region_params(*, feather: float, what: str) -> tuple[Param, ...]:
    """The region parameters; ``what`` says what the region is for, in the help text."""
    return (
        Param("mask", File(template=True), f"Mask image of the input's size: grey (or alpha) "
              f"above half scale is {what}.", None),
        Param("boxes", TextList(BOX), f"Boxes x,y,w,h in pixels: what is {what}.", []),
        Param("polygons", TextList(POLYGON), f"Polygons \"x1,y1 x2,y2 ...\": what is {what}.",
              []),
        Param("key", COLOUR, f"Pixels of this colour are {what}.", None),
        Param("key_tolerance", Number(0, 255), "How far (0-255, per channel) a pixel may be "
              "from the key colour.", 12.0),
        Param("feather", Number(0, 1000), "Soft edge, in pixels, outside the region.",
              feather),
    )


ALPHA = Param("alpha", Flag(), "Also where the image is more than half transparent (the "
              "filled pixels become opaque).", False)


def region_mask(pixels: np.ndarray, step: StepInput) -> np.ndarray | None:
    """The step's region as a bool mask, or None when the step gives no region."""
    from burnish.engine.remove import MaskSpec

    p = step.params
    mask_file = None
    if p["mask"] is not None:
        try:
            mask_file = resolve_file(p["mask"], step.context, step.image)
        except ValueError as error:
            raise InputError(f"mask: {error}", path=step.image) from None
    spec = MaskSpec(mask_file=mask_file, boxes=tuple(p["boxes"]), polygons=tuple(p["polygons"]),
                    alpha=p.get("alpha", False), key=p["key"], key_tolerance=p["key_tolerance"])
    if not (spec.mask_file or spec.boxes or spec.polygons or spec.alpha or spec.key):
        return None
    return spec.build(pixels)


def colour_channels(pixels: np.ndarray) -> int:
    """How many of the channels are colour (the last of 2 or 4 is alpha)."""
    return pixels.shape[2] - 1 if pixels.shape[2] in (2, 4) else pixels.shape[2]


def graded(pixels: np.ndarray, step: StepInput, grade) -> Outcome:
    """Apply ``grade`` (colour pixels -> colour pixels, same dtype) to the colour channels,
    inside the step's region (feathered) or everywhere; alpha is kept as it was."""
    from burnish.engine.remove import composite_weight
    from burnish.kernels import blend

    n = colour_channels(pixels)
    changed = pixels.copy()
    changed[..., :n] = grade(np.ascontiguousarray(pixels[..., :n]))
    mask = region_mask(pixels, step)
    if mask is None:
        return Outcome(changed)
    weight = composite_weight(mask, dilate=0, feather=step.params["feather"])
    out = blend(changed, pixels, weight)
    out[..., n:] = pixels[..., n:]
    return Outcome(out, edited=weight > 0)
