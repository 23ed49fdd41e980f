"""Hand-written kernels: pure array functions, Numba CPU drivers over per-pixel bodies.

| module | what |
| --- | --- |
| :mod:`~burnish.kernels.stitch` | tile stitching: crop, clip, round, interleave in one pass |
| :mod:`~burnish.kernels.morphology` | exact Euclidean distance transform, disk dilate / erode |
| :mod:`~burnish.kernels.gaussian` | Gaussian blur at sigma-independent cost (Deriche) |
| :mod:`~burnish.kernels.feather` | distance feathering inside / outside / centred |
| :mod:`~burnish.kernels.blend` | feathered composite, encoded or linear light |
| :mod:`~burnish.kernels.accumulate` | overlap-blending tile accumulator |
| :mod:`~burnish.kernels.colour` | Reinhard (CIELAB), histogram matching, MKL |
| :mod:`~burnish.kernels.grain` | grain estimation and seeded synthesis |
| :mod:`~burnish.kernels.lut` | .cube LUTs (trilinear, tetrahedral, 1D) and basic adjustments |

Not yet: the public ``device=`` argument and the numba-cuda drivers (the kernels issue), and
speed against the peers (only the stitching kernel and the Gaussian have been timed).
"""
