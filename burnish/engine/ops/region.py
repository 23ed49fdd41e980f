"""Where a step acts: the region parameters shared by every op that can be masked.

A grade (colour match, grain, LUT, adjustments) acts on the whole image unless the step
gives a region; then the graded result is composited over the original with a feathered
weight, so pixels outside the region (and its feather) stay bit-identical. Removal uses the
same parameters to say what to remove.

A region's numbers (and a mask file's size) are in the coordinates of the image as it is at
its step, after any earlier upscale, resize or crop; with ``coordinates = "input"`` they are
in the recipe's input image and are moved through those steps
(:class:`~burnish.engine.edit_masks.Frame`).
A box or polygon that misses the image is an error; a key or mask that selects nothing is a
note ("nothing matched; nothing done"), as a key may rightly match nothing in some images.
"""

from __future__ import annotations

import numpy as np

from burnish.engine import edit_masks as masks
from burnish.engine.ops.declare import Outcome, Param, StepInput, whole_stage
from burnish.engine.ops.params import Choice, File, Flag, Number, Text, TextList, resolve_file
from burnish.engine.tiling.chain import Stage, TiledStage
from burnish.errors import InputError

BOX = Text(masks.parse_box, "10,20,300,200")
POLYGON = Text(masks.parse_polygon, "0,0 100,0 50,80")
COLOUR = Text(masks.parse_colour, "#00ff00")
COORDINATES = ("step", "input")
NOTHING_MATCHED = "the region selects no pixel (nothing matched); nothing done"


def region_params(*, feather: float, what: str) -> tuple[Param, ...]:
    """The region parameters; ``what`` says what the region is for, in the help text."""
    return (
        Param("mask", File(template=True), f"Mask image of the image's size (see coordinates): "
              f"grey (or alpha) above half scale is {what}.", None),
        Param("boxes", TextList(BOX), f"Boxes x,y,w,h in pixels: what is {what}.", []),
        Param("polygons", TextList(POLYGON), f"Polygons \"x1,y1 x2,y2 ...\": what is {what}.",
              []),
        Param("key", COLOUR, f"Pixels of this colour are {what}.", None),
        Param("key_tolerance", Number(0, 255), "How far (0-255, per channel) a pixel may be "
              "from the key colour.", 12.0),
        Param("feather", Number(0, 1000), "Soft edge, in pixels, outside the region.",
              feather),
        Param("coordinates", Choice(COORDINATES), "What the mask, boxes and polygons are "
              "measured in: step (the image as it is at this step, after any earlier upscale, "
              "resize or crop) or input (the input image: moved through those steps; a mask "
              "file then has the input's size and is resampled, nearest neighbour).", "step"),
    )


ALPHA = Param("alpha", Flag(), "Also where the image is more than half transparent (the "
              "filled pixels become opaque).", False)


def has_region(params: dict) -> bool:
    """Whether the step acts on a region rather than the whole image."""
    return bool(params["mask"] or params["boxes"] or params["polygons"]
                or params.get("alpha", False) or params["key"])


def region_mask(pixels: np.ndarray, step: StepInput) -> np.ndarray | None:
    """The step's region as a bool mask, or None when the step gives no region."""
    p = step.params
    alpha = p.get("alpha", False)
    if not has_region(p):
        return None
    mask_file = None
    if p["mask"] is not None:
        try:
            mask_file = resolve_file(p["mask"], step.context, step.image)
        except ValueError as error:
            raise InputError(f"mask: {error}", path=step.image) from None
    frame = step.frame if p["coordinates"] == "input" else None
    return masks.build_mask(pixels, mask_file=mask_file, boxes=p["boxes"],
                            polygons=p["polygons"], alpha=alpha, key=p["key"],
                            key_tolerance=p["key_tolerance"], frame=frame)


def colour_channels(pixels: np.ndarray) -> int:
    """How many of the channels are colour (the last of 2 or 4 is alpha)."""
    return colour_count(pixels.shape[2])


def colour_count(channels: int) -> int:
    return channels - 1 if channels in (2, 4) else channels


def graded_stage(upstream: Stage, step: StepInput, outcome: Outcome, grade, *,
                 pointwise: bool) -> Stage:
    """The stage of a grade: ``grade`` (colour pixels -> colour pixels) on the colour
    channels, alpha kept. A ``pointwise`` grade of the whole image is tiled (each pixel on
    its own); a grade of a region, or one that needs the whole image, is computed whole
    (:func:`graded`) for now: regions, feathering and global statistics are not tiled yet."""
    if pointwise and not has_region(step.params):
        n = colour_count(upstream.channels)

        def compute(window: np.ndarray, top: int) -> np.ndarray:
            out = window.copy()
            out[..., :n] = grade(np.ascontiguousarray(window[..., :n]))
            return out

        return TiledStage(upstream, compute)
    return whole_stage(upstream, outcome, lambda pixels: graded(pixels, step, grade))


def graded(pixels: np.ndarray, step: StepInput, grade) -> Outcome:
    """Apply ``grade`` (colour pixels -> colour pixels, same dtype) to the colour channels,
    inside the step's region (feathered) or everywhere; alpha is kept as it was."""
    from burnish.engine.removal.object_removal import composite_weight
    from burnish.kernels import blend

    mask = region_mask(pixels, step)  # first: a region that misses fails before any work
    if mask is not None and not mask.any():
        return Outcome(pixels, edited=mask, note=NOTHING_MATCHED)
    n = colour_channels(pixels)
    changed = pixels.copy()
    changed[..., :n] = grade(np.ascontiguousarray(pixels[..., :n]))
    if mask is None:
        return Outcome(changed)
    weight = composite_weight(mask, dilate=0, feather=step.params["feather"])
    out = blend(changed, pixels, weight)
    out[..., n:] = pixels[..., n:]
    return Outcome(out, edited=weight > 0)
