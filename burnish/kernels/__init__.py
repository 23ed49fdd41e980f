"""Hand-written kernels: pure array functions, a Numba CPU driver over one per-pixel body.

Now: tile stitching (:mod:`burnish.kernels.stitch`) and disk morphology with the exact
Euclidean distance transform (:mod:`burnish.kernels.morphology`, CPU only). Feathering,
blending, colour and grain matching and LUTs, and the numba-cuda drivers, come with the
kernels issue.
"""
