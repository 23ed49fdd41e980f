"""Distance feathering: a smooth ramp of a given width across a mask's edge.

The edge lies halfway between set and unset pixel centres, so the signed distance of a pixel
to it is ``d_in - 1/2`` for set pixels (``d_in``: distance to the nearest unset pixel) and
``1/2 - d_out`` for unset ones (``d_out``: distance to the nearest set pixel), both from the
exact Euclidean distance transform. The ramp is a smoothstep (``3t^2 - 2t^3``, flat at both
ends, so the feathered edge shows no kink) over ``width`` pixels of signed distance:

- ``side="inside"``: from 0 at the edge to 1 at ``width`` inside; the mask does not grow.
- ``side="outside"``: from 1 at the edge to 0 at ``width`` outside; the mask keeps its core.
- ``side="center"``: across ``[-width/2, width/2]``.

Pixels beyond the ramp are exactly 0 or 1, so a composite leaves them bit-identical.

Border rule: pixels outside the image are neither set nor unset; distances are measured to
pixels inside it only (a mask with no unset pixel is infinitely far inside everywhere).

Drivers: both distance transforms run on the requested device
(:func:`burnish.kernels.morphology.distance_transform`); then one per-pixel body,
:func:`_edge_sample`, turns each pixel's two distances into its signed distance or its ramp
value, on the CPU in a parallel loop over rows, on CUDA with one thread per pixel. Float32
throughout, so both devices give identical results.
"""

from __future__ import annotations

import numpy as np
from numba import njit

from burnish.kernels.dispatch import Out, check_device, cuda, cuda_kernel, run
from burnish.kernels.masks import binary_mask
from burnish.kernels.morphology import distance_transform
from burnish.kernels.threads import band_driver

SIDES = ("inside", "outside", "center")


@njit(cache=True, inline="always")
def _edge_sample(is_set, inside, outside, offset, width, ramp):
    """One pixel: its signed distance to the edge, or with ``ramp`` the smoothstep of
    ``(distance + offset) / width`` (infinite distances give exactly 0 or 1)."""
    half = np.float32(0.5)
    distance = inside - half if is_set else half - outside
    if not ramp:
        return distance
    t = min(max((distance + offset) / width, np.float32(0)), np.float32(1))
    return t * t * (np.float32(3) - np.float32(2) * t)


@band_driver
def _edge_cpu(binary, inside, outside, offset, width, ramp, out, first_row, stop_row):
    for y in range(first_row, stop_row):
        for x in range(binary.shape[1]):
            out[y, x] = _edge_sample(binary[y, x], inside[y, x], outside[y, x], offset, width,
                                     ramp)


@cuda_kernel
def _edge_cuda(binary, inside, outside, offset, width, ramp, out):
    y, x = cuda.grid(2)
    if y < binary.shape[0] and x < binary.shape[1]:
        out[y, x] = _edge_sample(binary[y, x], inside[y, x], outside[y, x], offset, width, ramp)


def _edge_map(binary: np.ndarray, offset: float, width: float, ramp: bool,
              device: str) -> np.ndarray:
    inside = distance_transform(binary, device=device)  # 0 on unset pixels
    outside = distance_transform(~binary, device=device)  # 0 on set pixels
    out = np.empty(binary.shape, np.float32)
    # Bytes, not bools: Numba's bool loads keep the row loop from vectorising.
    run(device, _edge_cpu, _edge_cuda, binary.shape, binary.view(np.uint8), inside, outside,
        np.float32(offset), np.float32(width), ramp, Out(out))
    return out


def signed_edge_distance(mask: np.ndarray, *, device: str = "cpu") -> np.ndarray:
    """Signed distance from each pixel centre to the mask's edge: > 0 inside, < 0 outside.

    float32; ``inf`` (``-inf``) everywhere in a mask with no unset (set) pixel. ``device``
    ({"cpu", "cuda"}) is where the kernels run; results are identical.

    >>> import numpy as np
    >>> signed_edge_distance(np.array([[0, 0, 1, 1, 1]], bool))[0].tolist()
    [-1.5, -0.5, 0.5, 1.5, 2.5]
    """
    binary = binary_mask(mask)
    check_device(device)
    return _edge_map(binary, 0.0, 1.0, False, device)


def feather(mask: np.ndarray, width: float, *, side: str = "center",
            device: str = "cpu") -> np.ndarray:
    """A float32 mask in [0, 1] whose edge ramps smoothly over ``width`` pixels.

    Parameters
    ----------
    mask : ndarray, shape (H, W)
        bool, uint8 (set where > 127) or float32 (set where > 0.5).
    width : float
        Ramp width in pixels; 0 returns the binary mask as float32.
    side : {"inside", "outside", "center"}
        Where the ramp lies relative to the edge (see the module notes).
    device : {"cpu", "cuda"}
        Where the kernels run; results are identical.

    Examples
    --------
    >>> import numpy as np
    >>> row = np.array([[0, 0, 0, 1, 1, 1]], bool)
    >>> [round(float(v), 3) for v in feather(row, 2, side="center")[0]]
    [0.0, 0.0, 0.156, 0.844, 1.0, 1.0]
    """
    if side not in SIDES:
        raise ValueError(f"side must be one of {', '.join(SIDES)}, got {side!r}")
    if width < 0:
        raise ValueError("width must be >= 0")
    binary = binary_mask(mask)
    check_device(device)
    if width == 0:
        return binary.astype(np.float32)
    offset = {"inside": 0.0, "outside": width, "center": width / 2}[side]
    return _edge_map(binary, offset, width, True, device)
