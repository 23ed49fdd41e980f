"""Distance feathering: the ramp's position and shape, against analytic edges and SciPy, on the
CPU and through the CUDA drivers (small inputs: the simulator runs each thread in Python)."""

from __future__ import annotations

import numpy as np
import pytest
from numba import config
from scipy import ndimage

from burnish.kernels.feather import feather, signed_edge_distance

from conftest import random_size

# Identical in the simulator; on a GPU, NVVM's fused multiply-adds round the smoothstep once
# where the CPU rounds twice (a budget, not yet measured on a GPU).
CUDA_TOLERANCE = 0.0 if config.ENABLE_CUDASIM else 1e-6


def smoothstep(t):
    t = np.clip(t, 0, 1)
    return t * t * (3 - 2 * t)


def random_mask(rng, height, width):
    """Random blobs, with at least one set and one unset pixel where there are two pixels."""
    mask = ndimage.binary_dilation(rng.random((height, width)) < rng.uniform(0.01, 0.2),
                                   iterations=int(rng.integers(0, 3)))
    flat = mask.reshape(-1)
    chosen = rng.permutation(flat.size)[:2]
    flat[chosen[0]] = True
    flat[chosen[1:]] = False
    return mask


def reference_signed_distance(mask):
    # A mask with no unset (or no set) pixel has no edge: burnish's distances are infinite
    # there, while SciPy measures to the image border, so such masks are spelled out.
    if mask.all():
        return np.full(mask.shape, np.inf)
    if not mask.any():
        return np.full(mask.shape, -np.inf)
    return np.where(mask, ndimage.distance_transform_edt(mask) - 0.5,
                    0.5 - ndimage.distance_transform_edt(~mask))


@pytest.mark.parametrize("side,offset", [("inside", 0.0), ("outside", 1.0), ("center", 0.5)])
@pytest.mark.parametrize("width", [1.0, 3.0, 7.5])
def test_straight_edge_matches_the_analytic_ramp(device, side, offset, width):
    columns = 40 if device == "cpu" else 13
    mask = np.zeros((9 if device == "cpu" else 3, columns), bool)
    mask[:, columns // 2:] = True
    # Signed distance of each column centre to the edge, half a pixel left of columns // 2.
    distance = np.arange(columns) - (columns // 2 - 0.5)
    expected = smoothstep(distance / width + offset)
    np.testing.assert_allclose(feather(mask, width, side=side, device=device),
                               np.broadcast_to(expected, mask.shape), atol=1e-6)


def test_signed_distance_matches_scipy_on_random_masks(rng, device):
    sizes = [(53, 71), (1, 9), random_size(rng, device)] if device == "cpu" else \
        [(1, 2), (3, 2), (13, 11), random_size(rng, device)]
    for height, width in sizes:
        mask = random_mask(rng, height, width)
        np.testing.assert_allclose(signed_edge_distance(mask, device=device),
                                   reference_signed_distance(mask), atol=1e-5)


@pytest.mark.parametrize("side", ["inside", "outside", "center"])
def test_far_pixels_are_exactly_zero_or_one(rng, device, side):
    size = 60 if device == "cpu" else 13
    mask = random_mask(rng, size, size)
    width = 5.0 if device == "cpu" else 2.0
    out = feather(mask, width, side=side, device=device)
    distance = signed_edge_distance(mask)
    assert (out[distance >= width] == 1.0).all() and (out[distance <= -width] == 0.0).all()
    assert out.dtype == np.float32 and 0 <= out.min() and out.max() <= 1


def test_inside_never_grows_and_outside_never_shrinks(rng, device):
    mask = random_mask(rng, *((40, 50) if device == "cpu" else (13, 12)))
    assert (feather(mask, 4, side="inside", device=device)[~mask] == 0).all()
    assert (feather(mask, 4, side="outside", device=device)[mask] == 1).all()


def test_width_zero_and_empty_or_full_masks(device):
    mask = np.zeros((5, 6), bool)
    mask[2:4, 2:5] = True
    np.testing.assert_array_equal(feather(mask, 0, device=device), mask.astype(np.float32))
    assert (feather(np.zeros((5, 6), bool), 3, device=device) == 0).all()
    assert (feather(np.ones((5, 6), bool), 3, device=device) == 1).all()
    assert (signed_edge_distance(np.ones((3, 2), bool), device=device) == np.inf).all()


@pytest.mark.parametrize("device", ["cuda"], indirect=True)
@pytest.mark.parametrize("side", ["inside", "outside", "center"])
def test_cuda_driver_equals_cpu_driver(rng, device, side):
    for height, width in [(1, 1), (3, 2), (13, 11), random_size(rng, device)]:
        mask = random_mask(rng, height, width)
        width_px = float(rng.uniform(0.5, 6.0))
        difference = feather(mask, width_px, side=side, device="cuda") - feather(mask, width_px, side=side)
        assert np.abs(difference).max() <= CUDA_TOLERANCE
        np.testing.assert_array_equal(signed_edge_distance(mask, device="cuda"),
                                      signed_edge_distance(mask))


def test_mask_dtypes_read_alike(rng):
    mask = random_mask(rng, 20, 30)
    expected = feather(mask, 3.0)
    np.testing.assert_array_equal(feather(mask.astype(np.uint8) * 255, 3.0), expected)
    np.testing.assert_array_equal(feather(mask.astype(np.float32), 3.0), expected)


def test_bad_arguments():
    with pytest.raises(ValueError, match="side"):
        feather(np.zeros((3, 3), bool), 2, side="both")
    with pytest.raises(ValueError, match="width"):
        feather(np.zeros((3, 3), bool), -1)
    with pytest.raises(ValueError, match="device"):
        feather(np.zeros((3, 3), bool), 2, device="tpu")
    with pytest.raises(ValueError, match="device"):
        signed_edge_distance(np.zeros((3, 3), bool), device="tpu")
