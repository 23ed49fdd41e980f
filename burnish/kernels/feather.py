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
"""

from __future__ import annotations

import numpy as np

from burnish.kernels.masks import binary_mask
from burnish.kernels.morphology import distance_transform

SIDES = ("inside", "outside", "center")


def signed_edge_distance(mask: np.ndarray) -> np.ndarray:
    """Signed distance from each pixel centre to the mask's edge: > 0 inside, < 0 outside."""
    binary = binary_mask(mask)
    inside = distance_transform(binary)  # 0 on unset pixels
    outside = distance_transform(~binary)  # 0 on set pixels
    return np.where(binary, inside - 0.5, 0.5 - outside).astype(np.float32)


def feather(mask: np.ndarray, width: float, side: str = "center") -> np.ndarray:
    """A float32 mask in [0, 1] whose edge ramps smoothly over ``width`` pixels.

    Parameters
    ----------
    mask : ndarray, shape (H, W)
        bool, uint8 (set where > 127) or float32 (set where > 0.5).
    width : float
        Ramp width in pixels; 0 returns the binary mask as float32.
    side : {"inside", "outside", "center"}
        Where the ramp lies relative to the edge (see the module notes).

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
    if width == 0:
        return binary.astype(np.float32)
    distance = signed_edge_distance(binary)
    # Inside a mask with no unset pixel (or outside one with no set pixel) the distance is
    # infinite, which the ramp below sends to exactly 1 (or 0).
    offset = {"inside": 0.0, "outside": width, "center": width / 2}[side]
    t = np.clip((distance + offset) / width, 0.0, 1.0)
    return (t * t * (3.0 - 2.0 * t)).astype(np.float32)
