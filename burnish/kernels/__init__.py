"""Hand-written kernels (Numba CPU and numba-cuda drivers over one per-pixel body).

Empty for now: the upscaling engine stitches tiles by exact cropping, which needs no kernel.
Morphology, feathering, blending, colour and grain matching and LUTs arrive with the kernels
issue.
"""
