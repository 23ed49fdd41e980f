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

``detect`` adds what a detector finds (:class:`~burnish.engine.detection.Detector`: text, the
subject, the background) in the image as it is at the step; its model is opened once per
worker. A detector sees the whole image: a step with ``detect`` holds its image in memory
once (the other sources are found band by band).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Protocol

import numpy as np

from burnish.engine import edit_masks as masks
from burnish.engine.detection import KINDS as DETECT_KINDS
from burnish.engine.detection import check_prompts
from burnish.engine.ops.declare import Outcome, Param, StepInput, whole_stage
from burnish.engine.ops.params import Choice, File, Flag, Number, Text, TextList, resolve_file
from burnish.engine.sparse_mask import Piece, SparseMask
from burnish.engine.tiling.chain import RegionalStage, SpillStage, Stage, TiledStage
from burnish.errors import BurnishError, InputError

BOX = Text(masks.parse_box, "10,20,300,200")
POLYGON = Text(masks.parse_polygon, "0,0 100,0 50,80")
COLOUR = Text(masks.parse_colour, "#00ff00")
POINT = Text(masks.parse_point, "120,80")
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
        Param("detect", Choice(DETECT_KINDS), f"What a detector finds is {what} too: text, "
              "subject or background (as burnish mask --detect).", None),
        Param("detect_model", File((".onnx",)), "The detector's ONNX model (text: by "
              "default the shipped text-mask model, or one of PP-OCR's det contract; "
              "subject/background: rembg's contract, or either file of a SAM encoder/decoder "
              "pair).", None),
        Param("detect_box", BOX, "Where the subject is: GrabCut's rectangle, a SAM model's "
              "box, or a saliency model's subject kept inside it.", None),
        Param("detect_points", TextList(POINT), "A SAM model's points \"x,y\" (on the "
              "subject) or \"x,y,0\" (not on it).", []),
        Param("feather", Number(0, 1000), "Soft edge, in pixels, outside the region.",
              feather),
        Param("coordinates", Choice(COORDINATES), "What the mask, boxes and polygons are "
              "measured in: step (the image as it is at this step, after any earlier upscale, "
              "resize or crop) or input (the input image: moved through those steps; a mask "
              "file then has the input's size and is resampled, nearest neighbour; a "
              "detector's box and points move too).", "step"),
    )


def check_region(params: dict) -> None:
    """The rules across the region's parameters: a detector's model and prompts need the
    detector, and go together as a detector takes them."""
    if params["detect"] is None:
        given = [name for name in ("detect_model", "detect_box", "detect_points")
                 if params[name]]
        if given:
            raise ValueError(f"{', '.join(given)} go with detect = text, subject or "
                             "background")
        return
    try:
        check_prompts(params["detect"], params["detect_model"], params["detect_box"],
                      params["detect_points"])
    except BurnishError as error:
        raise ValueError(error.problem) from None


ALPHA = Param("alpha", Flag(), "Also where the image is more than half transparent (the "
              "filled pixels become opaque).", False)


def has_region(params: dict) -> bool:
    """Whether the step acts on a region rather than the whole image."""
    return bool(params["mask"] or params["boxes"] or params["polygons"]
                or params.get("alpha", False) or params["key"] or params["detect"])


def region_mask(pixels: np.ndarray, step: StepInput) -> np.ndarray | None:
    """The step's region as a bool mask of the whole image, or None when the step gives no
    region (for the ops that still need the whole image)."""
    p = step.params
    if not has_region(p):
        return None
    mask = placed_region(step, pixels.shape[:2]).dense()
    if p.get("alpha", False) or p["key"]:
        mask |= masks.pixel_mask(pixels, alpha=p.get("alpha", False), key=p["key"],
                                 key_tolerance=p["key_tolerance"])
    if p["detect"]:
        mask |= detected(pixels, step)
    return mask


def detected(pixels: np.ndarray, step: StepInput) -> np.ndarray:
    """What the step's detector finds in ``pixels`` (its prompts moved to this step when
    the region is in the input's coordinates)."""
    p = step.params
    detector = step.resources.detector(p["detect"], p["detect_model"], p["detect_box"],
                                       tuple(p["detect_points"]), step.context.base)
    frame = step.frame if p["coordinates"] == "input" else None
    try:
        return detector.mask(pixels, frame=frame)
    except InputError as error:
        raise InputError(error.problem, path=step.image) from None


def placed_region(step: StepInput, shape: tuple[int, int]) -> SparseMask:
    """The step's region sources that do not need the pixels (mask file, boxes, polygons)
    on an image of ``shape``."""
    p = step.params
    mask_file = None
    if p["mask"] is not None:
        try:
            mask_file = resolve_file(p["mask"], step.context, step.image)
        except ValueError as error:
            raise InputError(f"mask: {error}", path=step.image) from None
    frame = step.frame if p["coordinates"] == "input" else None
    return masks.placed_mask(shape, mask_file=mask_file, boxes=p["boxes"],
                             polygons=p["polygons"], frame=frame)


class LocalEdit(Protocol):
    """A step that changes only windows of the image (a removal, a masked grade)."""

    region: SparseMask  # what it edits, for the provenance
    windows: list  # (top, left, bottom, right), sorted by top, none overlapping

    def window(self, pixels: np.ndarray, box: tuple[int, int, int, int]) -> np.ndarray:
        """The edit's result on one window, from the pixels before it there."""


def local_stage(upstream: Stage, step: StepInput, outcome: Outcome,
                edit_of: Callable[[SparseMask], LocalEdit]) -> Stage:
    """The stage of a step that changes only its region (a regional stage): ``edit_of(hole)``
    plans the edit from the step's region, which is found without holding the image: boxes,
    polygons and a mask file from the parameters alone; the alpha and key sources from the
    pixels, band by band, in a first pass that spills the rows to a temporary file
    (:class:`~burnish.engine.tiling.chain.SpillStage`). The outcome's region and note are
    filled in once the edit is planned: before the first row is made."""
    p = step.params
    shape = (upstream.height, upstream.width)
    placed = placed_region(step, shape)  # first: a region that misses fails before any work

    def planned(hole: SparseMask):
        edit = edit_of(hole)
        outcome.edited = edit.region
        outcome.note = None if hole.any() else NOTHING_MATCHED
        return edit.windows, edit.window

    alpha, key, detect = p.get("alpha", False), p["key"], p["detect"]
    if not (alpha or key or detect):
        plan = planned(placed)
        return RegionalStage(upstream, lambda: plan)
    found: list[Piece] = []
    bands: list[np.ndarray] = []  # a detector's image, whole

    def measure(band: np.ndarray, top: int) -> None:
        if detect:
            bands.append(band.copy())
        if not (alpha or key):
            return
        mask = masks.pixel_mask(band, alpha=alpha, key=key, key_tolerance=p["key_tolerance"])
        found.extend(Piece(top + piece.top, piece.left, piece.mask)
                     for piece in SparseMask.from_dense(mask).pieces)

    spilled = SpillStage(upstream, measure)

    def plan():
        spilled.measure_all()
        region = placed | SparseMask(shape, found)
        if detect:
            whole = np.concatenate(bands)
            bands.clear()
            region = region | SparseMask.from_dense(detected(whole, step))
        return planned(region)

    return RegionalStage(spilled, plan)


def colour_channels(pixels: np.ndarray) -> int:
    """How many of the channels are colour (the last of 2 or 4 is alpha)."""
    return colour_count(pixels.shape[2])


def colour_count(channels: int) -> int:
    return channels - 1 if channels in (2, 4) else channels


def graded_stage(upstream: Stage, step: StepInput, outcome: Outcome, grade, *,
                 pointwise: bool) -> Stage:
    """The stage of a grade: ``grade`` (colour pixels -> colour pixels) on the colour
    channels, alpha kept. A ``pointwise`` grade is tiled: of the whole image band by band,
    of a region window by window (:class:`MaskedGrade`). A grade that needs the whole image
    (:func:`graded`) is computed whole, region or not."""
    if not pointwise:
        return whole_stage(upstream, outcome, lambda pixels: graded(pixels, step, grade))
    if has_region(step.params):
        device = step.resources.kernel_device
        return local_stage(upstream, step, outcome,
                           lambda hole: MaskedGrade(hole, grade, step.params["feather"], device))
    n = colour_count(upstream.channels)

    def compute(window: np.ndarray, top: int) -> np.ndarray:
        out = window.copy()
        out[..., :n] = grade(np.ascontiguousarray(window[..., :n]))
        return out

    return TiledStage(upstream, compute)


class MaskedGrade:
    """A pointwise grade inside a region, composited with a feathered edge: each window (a
    group of the region's pixels) graded and blended on its own (a :class:`LocalEdit`)."""

    def __init__(self, hole: SparseMask, grade, feather: float, device: str = "cpu"):
        from burnish.engine.removal.composite_plan import CompositePlan

        self.plan = CompositePlan(hole, dilate=0, feather=feather, device=device)
        self.region, self.windows, self.grade = self.plan.region, self.plan.windows(0), grade
        self.device = device

    def window(self, pixels: np.ndarray, box: tuple[int, int, int, int]) -> np.ndarray:
        top, left, bottom, right = box
        return _composited(pixels, self.grade, self.plan.weight(top, bottom, left, right),
                           self.device)


def _composited(pixels: np.ndarray, grade, weight: np.ndarray | None,
                device: str = "cpu") -> np.ndarray:
    """``grade`` of the colour channels blended over ``pixels`` with ``weight`` (None: the
    grade everywhere; the blend on ``device``); alpha kept as it was."""
    from burnish.kernels import blend

    n = colour_channels(pixels)
    changed = np.array(pixels, order="C")
    changed[..., :n] = grade(np.ascontiguousarray(pixels[..., :n]))
    if weight is None:
        return changed
    out = blend(changed, np.ascontiguousarray(pixels), weight, device=device)
    out[..., n:] = pixels[..., n:]
    return out


def graded(pixels: np.ndarray, step: StepInput, grade) -> Outcome:
    """Apply ``grade`` (colour pixels -> colour pixels, same dtype) to the colour channels of
    the whole image, inside the step's region (feathered) or everywhere; alpha is kept."""
    from burnish.engine.removal.composite_plan import composite_weight

    mask = region_mask(pixels, step)  # first: a region that misses fails before any work
    if mask is None:
        return Outcome(_composited(pixels, grade, None))
    if not mask.any():
        return Outcome(pixels, edited=SparseMask(mask.shape), note=NOTHING_MATCHED)
    device = step.resources.kernel_device
    weight = composite_weight(mask, dilate=0, feather=step.params["feather"], device=device)
    return Outcome(_composited(pixels, grade, weight, device),
                   edited=SparseMask.from_dense(weight > 0))
