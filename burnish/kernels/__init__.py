"""Hand-written kernels: pure array functions, each a per-pixel (or per-line) body run by a
Numba CPU driver and a numba-cuda driver, chosen by the ``device="cpu"|"cuda"`` argument
(:mod:`~burnish.kernels.dispatch`). The hole fillers, PatchMatch, Telea and the Poisson fill, run on the CPU
only (their modules say why).

| module | what |
| --- | --- |
| :mod:`~burnish.kernels.stitch` | tile stitching: crop, clip, round, interleave in one pass |
| :mod:`~burnish.kernels.morphology` | exact Euclidean distance transform, disk dilate / erode |
| :mod:`~burnish.kernels.hysteresis` | hysteresis thresholding of a detector's map (CPU) |
| :mod:`~burnish.kernels.gaussian` | Gaussian blur at sigma-independent cost (Deriche) |
| :mod:`~burnish.kernels.feather` | distance feathering inside / outside / centred |
| :mod:`~burnish.kernels.blend` | feathered composite, encoded or linear light |
| :mod:`~burnish.kernels.accumulate` | overlap-blending tile accumulator |
| :mod:`~burnish.kernels.colour` | Reinhard (CIELAB), histogram matching, MKL; fine-detail limit |
| :mod:`~burnish.kernels.grain` | grain estimation and seeded synthesis |
| :mod:`~burnish.kernels.lut` | .cube LUTs (trilinear, tetrahedral, 1D) and basic adjustments |
| :mod:`~burnish.kernels.patchmatch` | multi-scale PatchMatch hole filling (CPU) |
| :mod:`~burnish.kernels.telea` | Telea's fast-marching hole filling, as OpenCV's (CPU) |
| :mod:`~burnish.kernels.poisson` | gradient-domain (Poisson) hole filling from a guidance field (CPU) |
| :mod:`~burnish.kernels.dispatch` | device names, driver dispatch, CUDA launches |
| :mod:`~burnish.kernels.threads` | CPU drivers' parallel loops: bands of rows in threads |
| :mod:`~burnish.kernels.compiling` | the one log line before a first-use compile |

Images are ``H x W x C`` NumPy arrays and masks ``H x W`` (DESIGN.md); the public names below
are what the engine, the CLI and outside scripts use.
"""

from burnish.kernels.accumulate import accumulate_tile, blend_window, normalise
from burnish.kernels.blend import blend
from burnish.kernels.colour import (
    FINE_DETAIL_REACH,
    TargetStatistics,
    limit_fine_detail,
    match_histograms,
    mkl,
    reinhard,
)
from burnish.kernels.compiling import announce_first_compile
from burnish.kernels.dispatch import DEVICES
from burnish.kernels.feather import feather, signed_edge_distance
from burnish.kernels.gaussian import gaussian_blur
from burnish.kernels.grain import (
    Grain,
    GrainField,
    GrainStatistics,
    estimate_grain,
    synthesize_grain,
)
from burnish.kernels.hysteresis import hysteresis
from burnish.kernels.lut import (
    Lut,
    apply_lut,
    contrast,
    exposure,
    read_cube,
    saturation,
    white_balance,
)
from burnish.kernels.morphology import dilate, distance_transform, erode
from burnish.kernels.patchmatch import patchmatch_inpaint
from burnish.kernels.poisson import poisson_fill
from burnish.kernels.stitch import stitch_tile
from burnish.kernels.telea import telea_inpaint

# Kernels compile on their first call, never at import: from here on a first-use compile is
# announced in one log line.
announce_first_compile()

__all__ = [
    "DEVICES", "FINE_DETAIL_REACH", "Grain", "GrainField", "GrainStatistics", "TargetStatistics", "Lut", "accumulate_tile", "apply_lut", "blend", "blend_window",
    "contrast", "dilate", "distance_transform", "erode", "estimate_grain", "exposure", "feather",
    "gaussian_blur", "hysteresis", "limit_fine_detail", "match_histograms", "mkl", "normalise",
    "patchmatch_inpaint", "poisson_fill", "read_cube", "reinhard", "saturation", "signed_edge_distance", "stitch_tile", "synthesize_grain",
    "telea_inpaint", "white_balance",
]
