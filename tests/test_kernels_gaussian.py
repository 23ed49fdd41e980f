"""Gaussian blur against the exact Gaussian (SciPy, and OpenCV's) with the same border rule,
edge replication, compared everywhere including the border rows and columns; on the CPU and
through the CUDA drivers (small inputs: the simulator runs each thread in Python)."""

from __future__ import annotations

import numpy as np
import pytest
from numba import config
from scipy import ndimage

from burnish.kernels.gaussian import RECURSIVE_FROM_SIGMA, gaussian_blur

from conftest import random_size

# The bound against an exact Gaussian; the blur measures below 2e-4 on masks.
EXACT_TOLERANCE = 2e-3
SIGMAS = [0.6, 1.3, RECURSIVE_FROM_SIGMA, 3.7, 12.0, 40.0]
SIZES = [(1, 1), (1, 23), (19, 2), (37, 61), (120, 97)]
# Through the CUDA drivers, with 4-thread blocks: less than one block, and several.
CUDA_SIZES = [(1, 1), (3, 2), (2, 13), (13, 11)]
# In the simulator the CUDA bodies run the CPU's float32 operations in the same order: results
# are identical. On a GPU, NVVM fuses a * b + c into one rounding (its default, which numba
# keeps), so there the two agree to float32 rounding as the recursion carries it along a line
# (1e-5 is a budget for that, not yet measured on a GPU).
CUDA_TOLERANCE = 0.0 if config.ENABLE_CUDASIM else 1e-5


def exact_gaussian(plane, sigma):
    """The reference: SciPy's sampled Gaussian in float64, edges replicated, tails to 12 sigma."""
    return ndimage.gaussian_filter(plane.astype(np.float64), sigma, mode="nearest", truncate=12)


def random_mask(rng, height, width):
    return (rng.random((height, width)) > rng.uniform(0.2, 0.8)).astype(np.float32)


@pytest.mark.parametrize("sigma", SIGMAS)
def test_blur_within_2e3_of_exact_gaussian_up_to_the_border(rng, device, sigma):
    sizes = (SIZES if device == "cpu" else CUDA_SIZES) + [random_size(rng, device)]
    for height, width in sizes:
        mask = random_mask(rng, height, width)
        out = gaussian_blur(mask, sigma, device=device)
        assert out.dtype == np.float32 and out.shape == mask.shape
        assert np.abs(out - exact_gaussian(mask, sigma)).max() <= EXACT_TOLERANCE, (height, width)


@pytest.mark.parametrize("sigma", [0.6, 1.7, RECURSIVE_FROM_SIGMA, 2.9, 12.0])
def test_worst_case_input_stays_within_2e3(sigma):
    """The input that maximises the error at the centre: 1 where the blur's impulse response
    exceeds the exact Gaussian's, 0 elsewhere; there the error is the kernels' positive
    difference summed, so no input in [0, 1] does worse at any interior pixel."""
    half = int(6 * sigma) + 4
    impulse = np.zeros((2 * half + 1, 2 * half + 1), np.float32)
    impulse[half, half] = 1
    adversary = (gaussian_blur(impulse, sigma) > exact_gaussian(impulse, sigma)).astype(np.float32)
    error = gaussian_blur(adversary, sigma)[half, half] - exact_gaussian(adversary, sigma)[half, half]
    assert abs(error) <= EXACT_TOLERANCE


@pytest.mark.parametrize("sigma", [3.7, 32.0])
def test_blur_within_2e3_of_opencv_with_replicated_border(rng, sigma):
    cv2 = pytest.importorskip("cv2")
    mask = random_mask(rng, 181, 263)
    expected = cv2.GaussianBlur(mask, (0, 0), sigma, borderType=cv2.BORDER_REPLICATE)
    assert np.abs(gaussian_blur(mask, sigma) - expected).max() <= EXACT_TOLERANCE


# Float32 rounding in the recursion weighs more as sigma grows (its poles come nearer 1).
@pytest.mark.parametrize("sigma,tolerance", [(1.3, 1e-6), (16.0, 1e-6), (500.0, 1e-5)])
def test_constant_planes_stay_constant(rng, device, sigma, tolerance):
    level = np.float32(rng.random())
    shape = (33, 44) if device == "cpu" else (13, 11)
    out = gaussian_blur(np.full(shape, level, np.float32), sigma, device=device)
    assert np.abs(out - level).max() <= tolerance


@pytest.mark.parametrize("device", ["cuda"], indirect=True)
@pytest.mark.parametrize("sigma", [0.8, RECURSIVE_FROM_SIGMA, 7.0, 40.0])
def test_cuda_driver_equals_cpu_driver(rng, device, sigma):
    for height, width in CUDA_SIZES + [random_size(rng, device)]:
        plane = rng.random((height, width), dtype=np.float32)
        difference = gaussian_blur(plane, sigma, device="cuda") - gaussian_blur(plane, sigma)
        assert np.abs(difference).max() <= CUDA_TOLERANCE, (height, width)


def test_any_real_dtype_and_layout_gives_the_float32_contiguous_result(rng):
    plane = rng.random((40, 30))
    expected = gaussian_blur(plane.astype(np.float32), 5.0)
    np.testing.assert_array_equal(gaussian_blur(plane, 5.0), expected)  # float64 in
    np.testing.assert_array_equal(gaussian_blur(np.asfortranarray(plane), 5.0), expected)
    strided = np.zeros((80, 60), np.float32)
    strided[::2, ::2] = plane
    np.testing.assert_array_equal(gaussian_blur(strided[::2, ::2], 5.0), expected)
    assert gaussian_blur(np.zeros((0, 7), np.float32), 5.0).shape == (0, 7)


def test_bad_arguments():
    with pytest.raises(ValueError, match="H x W"):
        gaussian_blur(np.zeros((3, 3, 3), np.float32), 2.0)
    with pytest.raises(ValueError, match="sigma"):
        gaussian_blur(np.zeros((3, 3), np.float32), 0.0)
    with pytest.raises(ValueError, match="device"):
        gaussian_blur(np.zeros((3, 3), np.float32), 2.0, device="tpu")
