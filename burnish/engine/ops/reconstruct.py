"""The ``remove`` op: object removal and inpainting (:mod:`burnish.engine.removal.object_removal`)."""

from __future__ import annotations

from burnish.engine.ops.declare import Op, Outcome, Param, StepInput
from burnish.engine.ops.params import Flag, Method, Number
from burnish.engine.ops.region import (
    ALPHA,
    check_region,
    has_region,
    local_stage,
    region_params,
)
from burnish.engine.removal.object_removal import (
    DEFAULT_DILATE,
    DEFAULT_FEATHER,
    DEFAULT_PATCH_SIZE,
    METHODS,
    Removal,
)
from burnish.engine.sparse_mask import SparseMask
from burnish.engine.tiling.chain import Stage


def _remove(upstream: Stage, step: StepInput, outcome: Outcome) -> Stage:
    """A regional stage: each group of holes is removed on a window that holds it and the
    context its fill reads (:class:`~burnish.engine.removal.object_removal.Removal`); the
    rest of the image streams through untouched."""
    p = step.params
    reconstructor = step.resources.reconstructor(p["method"], p["patch"], step.context.base)

    def removal(hole: SparseMask) -> Removal:
        outcome.fill = hole.any()
        outcome.model = step.resources.fill_record(reconstructor)
        return Removal(hole, reconstructor, dilate=p["dilate"], feather=p["feather"],
                       harmonize=p["harmonize"], seed=p["seed"], opaque=p["alpha"],
                       dtype=upstream.dtype, kernel_device=step.resources.kernel_device)

    return local_stage(upstream, step, outcome, removal)


def _check_remove(params: dict) -> None:
    if params["patch"] % 2 == 0:
        raise ValueError(f"patch: must be odd, got {params['patch']}")
    check_region(params)
    if not has_region(params):
        raise ValueError("say what to remove: mask, boxes, polygons, key, alpha or detect")


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
