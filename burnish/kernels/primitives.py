"""Arithmetic primitives for kernel bodies that compile on both targets.

numba-cuda's CUDA target compiles no NumPy ufunc such as np.rint, and the deprecated CUDA
target built into numba 0.68 not even the builtin min/max (the simulator notices neither: it
runs kernels as Python; ``tests/test_kernels_cuda_compile.py`` does). These two stand in for them in kernel bodies: on
the CPU they are exactly those (the CPU loops are up to 2x slower with conditionals or
round()), on the GPU conditionals and libdevice's rint, which give the same results. Called
from plain Python (the simulator runs device functions as Python) they are the Python
functions themselves.
"""

from __future__ import annotations

import numpy as np
from numba import types
from numba.extending import overload


def clip_value(value, low, high):
    """``value`` clipped to ``[low, high]``, in kernel bodies on either target."""
    return min(max(value, low), high)


@overload(clip_value, target="cpu")
def _clip_value_cpu(value, low, high):
    return lambda value, low, high: min(max(value, low), high)


@overload(clip_value, target="cuda")
def _clip_value_cuda(value, low, high):
    def clip(value, low, high):
        value = value if value > low else low
        return value if value < high else high
    return clip


def round_half_even(value):
    """``value`` rounded to the nearest integer, ties to even (as np.rint), on either target."""
    return np.rint(value)


@overload(round_half_even, target="cpu")
def _round_half_even_cpu(value):
    return lambda value: np.rint(value)


@overload(round_half_even, target="cuda")
def _round_half_even_cuda(value):
    from numba.cuda import libdevice  # only where the CUDA target compiles

    if value == types.float32:
        return lambda value: libdevice.rintf(value)
    return lambda value: libdevice.rint(value)
