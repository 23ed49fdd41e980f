"""Gaussian blur beside OpenCV's on a 3840x2160 float32 mask, 2 cores.

    python3 -m pytest benches/test_kernels_gaussian.py --benchmark-only -s -p no:cacheprovider

Each test times burnish with pytest-benchmark and ``cv2.GaussianBlur`` (same sigma, edges
replicated) with the same min-of-rounds rule in the same run, and stores both, the ratio and
the largest difference between the two results in extra_info. sigma = 32 is the case the
recursive filter is for (its cost does not depend on sigma, OpenCV's grows with it); 4 is the
feathering sigma the blend bench uses; 1.5 runs the finite-kernel path. The input is random
blobs: the cost does not depend on content.
"""

from __future__ import annotations

import numpy as np
import pytest

from burnish.kernels.gaussian import gaussian_blur

from conftest import blob_mask, compare

cv2 = pytest.importorskip("cv2")
HEIGHT, WIDTH = 2160, 3840


@pytest.fixture(scope="module")
def plane():
    return blob_mask(HEIGHT, WIDTH).astype(np.float32)


@pytest.mark.parametrize("sigma", [1.5, 4.0, 32.0])
def test_gaussian_against_cv2(benchmark, plane, sigma):
    def ours():
        return gaussian_blur(plane, sigma)

    def peer():
        return cv2.GaussianBlur(plane, (0, 0), sigma, borderType=cv2.BORDER_REPLICATE)

    # Check that the two agree: OpenCV truncates its kernel at 4 sigma, the blur
    # approximates the untruncated Gaussian.
    difference = float(np.abs(ours() - peer()).max())
    assert difference <= 2e-3
    compare(benchmark, ours, peer, f"Gaussian sigma={sigma:g} vs cv2.GaussianBlur", rounds=5,
            max_abs_difference=difference)
