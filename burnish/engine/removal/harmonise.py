"""Make a fill look like it belongs: its colour matched to the hole's surroundings and the
grain of the untouched image put back where the fill lost it.

Per group of nearby holes (:func:`~burnish.engine.removal.fill_regions.hole_boxes`, with
:data:`CONTEXT` pixels of surroundings):

1. **Colour.** Reinhard transfer in CIELAB (:func:`~burnish.kernels.reinhard`) from the ring of
   :data:`RING` pixels around the hole onto the fill. A fill copied from elsewhere (PatchMatch)
   or predicted at low resolution (a model) often lands a little off in brightness or cast;
   the ring is what the eye compares it with. RGB only: grey fills keep their levels.
2. **Grain.** The grain of the untouched surroundings is estimated
   (:func:`~burnish.kernels.estimate_grain`); the fill's own fine-detail strength (the std of
   what a sigma-2 blur removes) is compared with the ring's, and only the missing part is
   synthesised on top: ``sigma * sqrt(1 - (fill / ring)^2)`` per channel. A smooth fill
   (Telea, Navier-Stokes, most models) gets nearly the full grain; a PatchMatch fill, which
   copied real grain, gets little or none. Where no flat block of surroundings exists to
   estimate from, no grain is added.

Pixels outside the hole are never changed.
"""

from __future__ import annotations

import numpy as np

from burnish.engine.removal.fill_regions import fill_regions, sub_seed
from burnish.kernels import (
    Grain,
    dilate,
    erode,
    estimate_grain,
    gaussian_blur,
    reinhard,
    synthesize_grain,
)
from burnish.kernels.grain import SMOOTH_SIGMA

RING = 16
CONTEXT = 128
# Hole pixels this close to the edge are left out of the fill's detail measure: the edge
# itself is detail the fill did not make.
RIM = 2


def _fine_detail(plane: np.ndarray) -> np.ndarray:
    """What a sigma-2 blur removes: grain and fine texture (the grain model's residual)."""
    return plane - gaussian_blur(plane, SMOOTH_SIGMA)


def _missing_grain(crop: np.ndarray, hole: np.ndarray, ring: np.ndarray) -> Grain | None:
    try:
        grain = estimate_grain(crop, mask=~dilate(hole, RIM))
    except ValueError:  # no flat block of surroundings to learn the grain from
        return None
    inner = erode(hole, RIM)
    inner = inner if inner.any() else hole
    scale = np.zeros(crop.shape[2], np.float32)
    for c in range(crop.shape[2]):
        detail = _fine_detail(crop[..., c])
        ring_detail = float(detail[ring].std())
        if ring_detail > 0:
            ratio = min(float(detail[inner].std()) / ring_detail, 1.0)
            scale[c] = np.sqrt(1.0 - ratio * ratio)
    if not scale.any():
        return None
    return Grain(grain.levels, grain.sigma * scale[:, None], grain.ar, grain.weights)


def harmonise(filled: np.ndarray, hole: np.ndarray, *, colour: bool = True, grain: bool = True,
              seed: int = 0, origin: tuple[int, int] = (0, 0)) -> np.ndarray:
    """Match a fill's colour to its surroundings and restore missing grain (module notes).

    Parameters
    ----------
    filled : ndarray, float32, shape (H, W, C), C in {1, 3}
        The image with its holes filled, values in [0, 1].
    hole : ndarray, bool, shape (H, W)
        The filled pixels: the only ones that may change.
    colour, grain : bool
        Which of the two steps to run.
    seed : int
        Seed of the synthesised grain; the same seed gives the same bytes.
    origin : (int, int)
        Where ``filled`` lies in the whole image (a window of it): each region's grain is
        seeded by its place in the whole image, so a window gets the whole image's bytes.

    Returns
    -------
    ndarray, float32, shape (H, W, C)
        ``filled`` bit for bit outside ``hole``.
    """
    def harmonise_crop(crop: np.ndarray, region: np.ndarray, at: tuple[int, int]) -> np.ndarray:
        ring = dilate(region, RING) & ~region
        if not ring.any():
            return crop  # the hole is the whole crop: nothing to match it to
        if colour and crop.shape[2] == 3:
            edge = region & ~erode(region, RING)
            crop = reinhard(crop, crop, mask=region, reference_mask=ring, spread=False, measured=edge)
        missing = _missing_grain(crop, region, ring) if grain else None
        if missing is not None:
            crop = synthesize_grain(crop, missing, mask=region, seed=sub_seed(seed, at))
        return crop

    return fill_regions(filled, hole, CONTEXT, harmonise_crop, origin=origin)
