"""Hand-written kernels: pure array functions, a Numba CPU driver over one per-pixel body.

Now (CPU drivers): tile stitching (:mod:`~burnish.kernels.stitch`), disk morphology with
the exact Euclidean distance transform (:mod:`~burnish.kernels.morphology`) and the feathered
composite (:mod:`~burnish.kernels.blend`). Feathering, colour and grain matching, LUTs and the
numba-cuda drivers come with the kernels issue.
"""
