"""Distance feathering: the ramp's position and shape, against analytic edges and SciPy."""

from __future__ import annotations

import numpy as np
import pytest
from scipy import ndimage

from burnish.kernels.feather import feather, signed_edge_distance


def smoothstep(t):
    t = np.clip(t, 0, 1)
    return t * t * (3 - 2 * t)


@pytest.mark.parametrize("side,offset", [("inside", 0.0), ("outside", 1.0), ("center", 0.5)])
@pytest.mark.parametrize("width", [1.0, 3.0, 7.5])
def test_straight_edge_matches_the_analytic_ramp(side, offset, width):
    mask = np.zeros((9, 40), bool)
    mask[:, 20:] = True
    columns = np.arange(40) - 19.5  # signed distance of each column centre to the edge
    expected = smoothstep(columns / width + offset)
    np.testing.assert_allclose(feather(mask, width, side=side), np.broadcast_to(expected, (9, 40)),
                               atol=1e-6)


def test_signed_distance_matches_scipy_on_random_masks(rng):
    mask = ndimage.binary_dilation(rng.random((53, 71)) < 0.02, iterations=3)
    expected = np.where(mask, ndimage.distance_transform_edt(mask) - 0.5,
                        0.5 - ndimage.distance_transform_edt(~mask))
    np.testing.assert_allclose(signed_edge_distance(mask), expected, atol=1e-5)


@pytest.mark.parametrize("side", ["inside", "outside", "center"])
def test_far_pixels_are_exactly_zero_or_one(rng, side):
    mask = ndimage.binary_dilation(rng.random((60, 60)) < 0.01, iterations=4)
    width = 5.0
    out = feather(mask, width, side=side)
    distance = signed_edge_distance(mask)
    assert (out[distance >= width] == 1.0).all() and (out[distance <= -width] == 0.0).all()
    assert out.dtype == np.float32 and 0 <= out.min() and out.max() <= 1


def test_inside_never_grows_and_outside_never_shrinks(rng):
    mask = ndimage.binary_dilation(rng.random((40, 50)) < 0.03, iterations=2)
    assert (feather(mask, 4, side="inside")[~mask] == 0).all()
    assert (feather(mask, 4, side="outside")[mask] == 1).all()


def test_width_zero_and_empty_or_full_masks():
    mask = np.zeros((5, 6), bool)
    mask[2:4, 2:5] = True
    np.testing.assert_array_equal(feather(mask, 0), mask.astype(np.float32))
    assert (feather(np.zeros((5, 6), bool), 3) == 0).all()
    assert (feather(np.ones((5, 6), bool), 3) == 1).all()


def test_bad_arguments():
    with pytest.raises(ValueError, match="side"):
        feather(np.zeros((3, 3), bool), 2, side="both")
    with pytest.raises(ValueError, match="width"):
        feather(np.zeros((3, 3), bool), -1)
