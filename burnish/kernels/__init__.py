"""Hand-written kernels: pure array functions, a Numba CPU driver over one per-pixel body.

Now: tile stitching (:mod:`burnish.kernels.stitch`). Morphology, feathering, blending,
colour and grain matching and LUTs, with their numba-cuda drivers, come with the kernels issue.
"""
