"""Hand-written kernels: pure array functions, a Numba CPU driver over one per-pixel body.

Now (CPU drivers): tile stitching (:mod:`~burnish.kernels.stitch`), disk morphology with
the exact Euclidean distance transform (:mod:`~burnish.kernels.morphology`), the feathered
composite (:mod:`~burnish.kernels.blend`), the sigma-independent Gaussian blur
(:mod:`~burnish.kernels.gaussian`), distance feathering (:mod:`~burnish.kernels.feather`) and
the overlap-blending tile accumulator (:mod:`~burnish.kernels.accumulate`). Grain, the
public ``device=`` dispatch and the numba-cuda drivers come with the kernels issue.
"""
