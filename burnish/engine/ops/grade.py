"""Grading ops: colour and grain matched to a reference, 3D LUTs, and adjustments.

Each acts on the colour channels (alpha is kept) of the whole image, or of the step's region
with a feathered edge (:mod:`burnish.engine.ops.region`).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from burnish import defaults
from burnish.engine.ops.declare import Op, Outcome, Param, StepInput
from burnish.engine.ops.params import Choice, File, Number, resolve_file
from burnish.engine.ops.region import (
    check_region,
    colour_channels,
    colour_count,
    graded_stage,
    has_region,
    region_params,
)
from burnish.engine.tiling.chain import RowMapStage, SpillStage, Stage, TiledStage
from burnish.errors import InputError

REFERENCE_SUFFIXES = (".png", ".jpg", ".jpeg", ".tif", ".tiff", ".webp")
COLOUR_METHODS = ("reinhard", "mkl", "histogram")


def _reference_path(step: StepInput, channels: int) -> Path:
    """The step's reference image file (a per-image template filled in), checked to have the
    image's count of colour channels."""
    try:
        path = resolve_file(step.params["reference"], step.context, step.image)
    except ValueError as error:
        raise InputError(f"reference: {error}", path=step.image) from None
    reference_channels = colour_channels(step.resources.image(path))
    if reference_channels != channels:
        raise InputError(f"the reference has {reference_channels} colour channels, the image "
                         f"{channels}", path=path)
    return path


def _match_colour(upstream: Stage, step: StepInput, outcome: Outcome) -> Stage:
    """Two passes: the image's statistics are gathered as its bands go to a spill file, the
    transfer is fitted to the reference, then each band is recoloured with the rows around
    it that limiting fine detail reaches. A region, or histogram matching of a float32
    image, needs the whole image (not streamed yet)."""
    from burnish import kernels

    method = step.params["method"]
    n = colour_count(upstream.channels)
    if has_region(step.params) or (method == "histogram" and upstream.dtype.kind == "f"):
        return graded_stage(upstream, step, outcome, _colour_grade(step), pointwise=False)
    if n != 3:
        raise InputError(f"match_colour needs an RGB image; this one has {n} colour "
                         "channel(s)")
    device = step.resources.kernel_device
    statistics = kernels.TargetStatistics(method, upstream.dtype, device=device)
    spilled = SpillStage(upstream, lambda band, top: statistics.add(band[..., :n]))
    fitted = []

    def compute(window: np.ndarray, top: int) -> np.ndarray:
        if not fitted:
            fitted.append(statistics.fit(_reference_in(step, n, upstream.dtype)))
        colour = np.ascontiguousarray(window[..., :n])
        out = window.copy()
        out[..., :n] = kernels.limit_fine_detail(fitted[0](colour), colour, device=device)
        return out

    return TiledStage(spilled, compute, halo=kernels.FINE_DETAIL_REACH)


def _reference_in(step: StepInput, channels: int, dtype) -> np.ndarray:
    """The step's reference image, its colour channels, in the image's dtype (an 8-bit
    look may grade a 16-bit image)."""
    from burnish.engine.pixels import from_float, to_float

    path = _reference_path(step, channels)
    reference = np.ascontiguousarray(step.resources.image(path)[..., :channels])
    return from_float(to_float(reference), dtype) if reference.dtype != dtype else reference


def _colour_grade(step: StepInput):
    """match_colour as a grade of a whole image (or region)."""
    from burnish import kernels

    match = {"reinhard": kernels.reinhard, "mkl": kernels.mkl,
             "histogram": kernels.match_histograms}[step.params["method"]]
    device = step.resources.kernel_device

    def grade(colour: np.ndarray) -> np.ndarray:
        reference = _reference_in(step, colour.shape[2], colour.dtype)
        # A global transfer would stretch compression noise (a JPEG sky's blocks) with the
        # tones: fine detail keeps at most the strength it had.
        return kernels.limit_fine_detail(match(colour, reference, device=device), colour,
                                         device=device)

    return grade


def _match_grain(upstream: Stage, step: StepInput, outcome: Outcome) -> Stage:
    """Grain only where the image has less than the reference: the missing variance,
    ``sqrt(max(reference^2 - own^2, 0))`` per level and channel, scaled by ``amount``.

    Two passes: the image's own grain is measured as its bands go to a spill file
    (:class:`~burnish.kernels.GrainStatistics`), then each band gets its rows of one noise
    field (:class:`~burnish.kernels.GrainField`): the bytes of the whole image's grade. A
    region needs the whole image (not streamed yet)."""
    from burnish import kernels

    if has_region(step.params):
        return graded_stage(upstream, step, outcome, _grain_grade(step), pointwise=False)
    n = colour_count(upstream.channels)
    if n not in (1, 3):
        raise InputError(f"match_grain needs grey or RGB colour; this image has {n} colour "
                         "channels")
    statistics = kernels.GrainStatistics(upstream.height, upstream.width, n, upstream.dtype)
    spilled = SpillStage(upstream, lambda band, top: statistics.add(band[..., :n]))
    field = []
    device = step.resources.kernel_device

    def compute(window: np.ndarray, first: int, start: int, stop: int) -> np.ndarray:
        if not field:
            grain = _missing_grain(step, n, _own_strength(statistics.strength))
            field.append(kernels.GrainField(grain, upstream.height, upstream.width,
                                            step.params["seed"]))
        out = window.copy()
        # a few rows at a time: the noise is drawn as float64, 8 bytes per sample
        chunk = max(1, defaults.BAND_BYTES // (8 * n * (upstream.width + 32)))
        for top in range(0, stop - start, chunk):
            rows = slice(top, min(top + chunk, stop - start))
            out[rows, :, :n] = kernels.synthesize_grain(
                np.ascontiguousarray(window[rows, :, :n]), field[0].grain, field=field[0],
                device=device)
        return out

    return RowMapStage(spilled, upstream.height, upstream.width,
                       np.arange(upstream.height), compute)


def _own_strength(measure):
    """The image's own grain (``measure()``), or None when it has no flat block to measure."""
    try:
        return measure()
    except ValueError:
        return None


def _missing_grain(step: StepInput, channels: int, own):
    """The grain the reference has and the image (own strength ``own``, None for none)
    lacks, times the step's amount."""
    from burnish.kernels import Grain

    reference = step.resources.grain(_reference_path(step, channels), channels)
    own_sigma = (np.zeros_like(reference.sigma) if own is None else
                 np.stack([np.interp(reference.levels, own.levels, s) for s in own.sigma]))
    missing = np.sqrt(np.maximum(reference.sigma ** 2 - own_sigma ** 2, 0.0))
    return Grain(reference.levels, missing * step.params["amount"], reference.ar)


def _grain_grade(step: StepInput):
    """match_grain as a grade of a whole image (or region): the same grain as the streamed
    grade's for the same pixels."""
    from burnish import kernels

    def grade(colour: np.ndarray) -> np.ndarray:
        def measure():
            statistics = kernels.GrainStatistics(*colour.shape, colour.dtype)
            statistics.add(colour)
            return statistics.strength()

        grain = _missing_grain(step, colour.shape[2], _own_strength(measure))
        return kernels.synthesize_grain(colour, grain, seed=step.params["seed"],
                                        device=step.resources.kernel_device)

    return grade


def _lut(upstream: Stage, step: StepInput, outcome: Outcome) -> Stage:
    from burnish.kernels import apply_lut

    def grade(colour: np.ndarray) -> np.ndarray:
        lut = step.resources.lut(resolve_file(step.params["file"], step.context))
        return apply_lut(_rgb(colour, "lut"), lut, interpolation=step.params["interpolation"],
                         device=step.resources.kernel_device)

    return graded_stage(upstream, step, outcome, grade, pointwise=True)


def _adjust(upstream: Stage, step: StepInput, outcome: Outcome) -> Stage:
    from burnish import kernels

    p, device = step.params, step.resources.kernel_device

    def grade(colour: np.ndarray) -> np.ndarray:
        colour = _rgb(colour, "adjust")
        if p["exposure"]:
            colour = kernels.exposure(colour, p["exposure"], device=device)
        if p["temperature"] or p["tint"]:
            colour = kernels.white_balance(colour, temperature=p["temperature"], tint=p["tint"], device=device)
        if p["saturation"] != 1:
            colour = kernels.saturation(colour, p["saturation"], device=device)
        if p["contrast"] != 1:
            colour = kernels.contrast(colour, p["contrast"], device=device)
        return colour

    return graded_stage(upstream, step, outcome, grade, pointwise=True)


def _rgb(colour: np.ndarray, op: str) -> np.ndarray:
    if colour.shape[2] != 3:
        raise InputError(f"{op} needs an RGB image; this one has {colour.shape[2]} colour "
                         "channel(s)")
    return colour


REFERENCE = Param("reference", File(REFERENCE_SUFFIXES, template=True),
                  "Reference image (may use {stem}, {name}, {ext} for one per image).")
REGION = region_params(feather=0.0, what="graded")
SEED = Param("seed", Number(0, 2**32 - 1, integer=True), "The same seed gives the same bytes.", 0)

MATCH_COLOUR = Op(
    "match_colour", "Match the colour statistics of a reference image (fine detail, such as "
    "noise and JPEG blocks, is never amplified).",
    (REFERENCE, Param("method", Choice(COLOUR_METHODS), "reinhard (mean and spread in CIELAB), "
                      "mkl (full colour covariance) or histogram (per channel).", "reinhard"),
     *REGION),
    _match_colour,
    check_together=check_region,
)
MATCH_GRAIN = Op(
    "match_grain", "Add the grain a reference image has and this one lacks.",
    (REFERENCE, Param("amount", Number(0, 4), "Scale of the added grain.", 1.0), SEED,
     *REGION),
    _match_grain,
    check_together=check_region,
)
LUT = Op(
    "lut", "Apply a 3D (or 1D) .cube LUT.",
    (Param("file", File((".cube",)), ".cube file."),
     Param("interpolation", Choice(("tetrahedral", "trilinear")), "3D interpolation.",
           "tetrahedral"),
     *REGION),
    _lut,
    check_together=check_region,
)
ADJUST = Op(
    "adjust", "Exposure, white balance, saturation and contrast, in that order.",
    (Param("exposure", Number(-10, 10), "Stops (linear light).", 0.0),
     Param("temperature", Number(-1, 1), "Warm (+) or cool (-).", 0.0),
     Param("tint", Number(-1, 1), "Magenta (+) or green (-).", 0.0),
     Param("saturation", Number(0, 4), "1 keeps, 0 is grey.", 1.0),
     Param("contrast", Number(0, 4), "1 keeps, around mid-grey in encoded values.", 1.0),
     *REGION),
    _adjust,
    check_together=check_region,
)
