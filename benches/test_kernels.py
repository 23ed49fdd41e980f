"""The kernels beside their peers on a 3840x2160 mask or image, 2 cores.

    python3 -m pytest benches/test_kernels.py --benchmark-only -s

Each test times burnish with pytest-benchmark and the peer with the same min-of-rounds rule
in the same run, and stores both and the ratio in extra_info. Inputs are synthetic (random
blobs for masks, random pixels for images): these kernels' cost does not depend on content.
"""

from __future__ import annotations

import numpy as np
import pytest

from burnish.kernels.blend import blend
from burnish.kernels.gaussian import gaussian_blur
from burnish.kernels.morphology import dilate

from conftest import blob_mask, compare

cv2 = pytest.importorskip("cv2")
HEIGHT, WIDTH = 2160, 3840


@pytest.fixture(scope="module")
def mask():
    return blob_mask(HEIGHT, WIDTH)


@pytest.fixture(scope="module")
def images():
    rng = np.random.default_rng(1)
    return [rng.integers(0, 256, (HEIGHT, WIDTH, 3), dtype=np.uint8) for _ in range(2)]


@pytest.mark.parametrize("radius", [16, 64])
def test_dilate_against_cv2_ellipse(benchmark, mask, radius):
    """Both give the disk x^2 + y^2 <= r^2 (OpenCV's ellipse of size 2r + 1 is that disk)."""
    as_u8 = mask.astype(np.uint8)
    kernel = cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (2 * radius + 1, 2 * radius + 1))
    compare(benchmark, lambda: dilate(mask, radius), lambda: cv2.dilate(as_u8, kernel),
            f"dilate r={radius} vs cv2.dilate ellipse")


def test_dilate_against_cv2_distance_transform(benchmark, mask):
    outside = (~mask).astype(np.uint8)
    compare(benchmark, lambda: dilate(mask, 40),
            lambda: cv2.distanceTransform(outside, cv2.DIST_L2, cv2.DIST_MASK_PRECISE) <= 40,
            "dilate any r vs cv2.distanceTransform + threshold")


def test_blend_against_cv2(benchmark, mask, images):
    fg, bg = images
    alpha = gaussian_blur(mask.astype(np.float32), 4.0)
    inverse = 1.0 - alpha
    compare(benchmark, lambda: blend(fg, bg, alpha),
            lambda: cv2.blendLinear(fg, bg, alpha, inverse), "blend uint8 RGB vs cv2.blendLinear")
