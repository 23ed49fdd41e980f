"""Gaussian blur against SciPy's exact Gaussian with the same border rule (edge replication)."""

from __future__ import annotations

import numpy as np
import pytest
from scipy import ndimage

from burnish.kernels.gaussian import RECURSIVE_FROM_SIGMA, gaussian_blur


@pytest.mark.parametrize("sigma", [0.6, 1.3, RECURSIVE_FROM_SIGMA, 3.7, 12.0, 40.0])
@pytest.mark.parametrize("height,width", [(1, 1), (1, 23), (19, 2), (37, 61), (120, 97)])
def test_blur_within_2e3_of_exact_gaussian_up_to_the_border(rng, sigma, height, width):
    mask = (rng.random((height, width)) > rng.uniform(0.2, 0.8)).astype(np.float32)
    expected = ndimage.gaussian_filter(mask.astype(np.float64), sigma, mode="nearest", truncate=12)
    out = gaussian_blur(mask, sigma)
    assert out.dtype == np.float32 and out.shape == mask.shape
    assert np.abs(out - expected).max() <= 2e-3


def test_constant_planes_stay_constant(rng):
    level = np.float32(rng.random())
    assert np.abs(gaussian_blur(np.full((33, 44), level, np.float32), 16.0) - level).max() <= 1e-6


def test_bad_arguments():
    with pytest.raises(ValueError, match="H x W"):
        gaussian_blur(np.zeros((3, 3, 3), np.float32), 2.0)
    with pytest.raises(ValueError, match="sigma"):
        gaussian_blur(np.zeros((3, 3), np.float32), 0.0)
