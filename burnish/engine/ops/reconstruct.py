"""The ``remove`` op: object removal and inpainting (:mod:`burnish.engine.removal.object_removal`)."""

from __future__ import annotations

import numpy as np

from burnish.engine.ops.declare import Op, Outcome, Param, StepInput, whole_stage
from burnish.engine.ops.params import Flag, Method, Number
from burnish.engine.ops.region import ALPHA, NOTHING_MATCHED, region_mask, region_params
from burnish.engine.removal.object_removal import (
    DEFAULT_DILATE,
    DEFAULT_FEATHER,
    DEFAULT_PATCH_SIZE,
    METHODS,
    composite_weight,
)
from burnish.engine.tiling.chain import Stage


def _remove(upstream: Stage, step: StepInput, outcome: Outcome) -> Stage:
    """Removal needs the whole image for now: its regions, and the patches PatchMatch
    copies from, may lie anywhere in it (not streamed yet)."""
    return whole_stage(upstream, outcome, lambda pixels: _removed(pixels, step))


def _removed(pixels: np.ndarray, step: StepInput) -> Outcome:
    from burnish.engine.removal.object_removal import remove

    p = step.params
    mask = region_mask(pixels, step)
    reconstructor = step.resources.reconstructor(p["method"], p["patch"], step.context.base)
    out = remove(pixels, mask, method=reconstructor, dilate=p["dilate"], feather=p["feather"],
                 harmonize=p["harmonize"], seed=p["seed"], opaque=p["alpha"])
    edited = composite_weight(mask, dilate=p["dilate"], feather=p["feather"]) > 0
    model = step.resources.fill_record(reconstructor)
    note = None if mask.any() else NOTHING_MATCHED
    return Outcome(out, edited=edited, fill=bool(mask.any()), model=model, note=note)


def _check_remove(params: dict) -> None:
    if params["patch"] % 2 == 0:
        raise ValueError(f"patch: must be odd, got {params['patch']}")
    if not (params["mask"] or params["boxes"] or params["polygons"] or params["key"]
            or params["alpha"]):
        raise ValueError("say what to remove: mask, boxes, polygons, key or alpha")


REMOVE = Op(
    "remove", "Remove what a region covers and fill the hole (PatchMatch, Telea or a "
    "LaMa-style ONNX model), matched in colour and grain.",
    (
        *region_params(feather=float(DEFAULT_FEATHER), what="removed"),
        ALPHA,
        Param("dilate", Number(0, 1000, integer=True), "Grow the region by this many pixels "
              "first.", DEFAULT_DILATE),
        Param("method", Method(METHODS), "How the hole is filled.", "patchmatch"),
        Param("patch", Number(3, 31, integer=True), "PatchMatch patch side (odd).",
              DEFAULT_PATCH_SIZE),
        Param("harmonize", Flag(), "Match the fill's colour and grain to its surroundings.",
              True),
        Param("seed", Number(0, 2**32 - 1, integer=True), "The same seed gives the same "
              "bytes.", 0),
    ),
    _remove,
    check_together=_check_remove,
)
