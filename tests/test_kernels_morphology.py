"""Disk dilation / erosion and the distance transform against SciPy and scikit-image, on the
CPU and through the CUDA drivers (small inputs: the simulator runs each thread in Python)."""

from __future__ import annotations

import numpy as np
import pytest
from scipy import ndimage
from skimage.morphology import disk

from burnish.kernels.morphology import dilate, distance_transform, erode


def random_mask(rng, height, width):
    """Random blobs of random density, so both sparse and dense masks are covered."""
    density = rng.uniform(0.002, 0.2)
    seeds = rng.random((height, width)) < density
    return ndimage.binary_dilation(seeds, iterations=int(rng.integers(0, 3)))


SIZES = [(1, 1), (1, 17), (13, 1), (7, 9), (31, 45), (64, 33), (97, 131)]
# Through the CUDA drivers, with 4-thread blocks: less than one block, and several.
CUDA_SIZES = [(1, 1), (3, 2), (2, 13), (13, 11)]


@pytest.mark.parametrize("height,width", SIZES)
def test_distance_transform_matches_scipy(rng, height, width):
    mask = random_mask(rng, height, width)
    mask[rng.integers(0, height), rng.integers(0, width)] = False  # at least one unset pixel
    expected = ndimage.distance_transform_edt(mask)
    np.testing.assert_allclose(distance_transform(mask), expected, rtol=1e-6, atol=1e-6)


def test_distance_transform_without_unset_pixels_is_infinite():
    assert np.isinf(distance_transform(np.ones((4, 5), bool))).all()


@pytest.mark.parametrize("height,width", SIZES)
@pytest.mark.parametrize("radius", [0, 1, 2, 5, 16])
def test_dilate_and_erode_equal_scikit_image_disk(rng, height, width, radius):
    mask = random_mask(rng, height, width)
    footprint = disk(radius).astype(bool)
    expected_dilation = ndimage.binary_dilation(mask, structure=footprint)
    expected_erosion = ndimage.binary_erosion(mask, structure=footprint, border_value=1)
    np.testing.assert_array_equal(dilate(mask, radius), expected_dilation)
    np.testing.assert_array_equal(erode(mask, radius), expected_erosion)


def test_large_radius_on_a_single_pixel_is_a_disk():
    mask = np.zeros((201, 201), bool)
    mask[100, 100] = True
    grown = dilate(mask, 64)
    np.testing.assert_array_equal(grown[100 - 64: 100 + 65, 100 - 64: 100 + 65], disk(64).astype(bool))
    assert grown.sum() == disk(64).sum()


@pytest.mark.parametrize("dtype,on", [(np.uint8, 255), (np.float32, 1.0), (np.bool_, True)])
def test_mask_dtypes_round_trip(rng, dtype, on):
    binary = random_mask(rng, 20, 30)
    mask = np.where(binary, on, 0).astype(dtype)
    out = dilate(mask, 2)
    assert out.dtype == np.dtype(dtype)
    np.testing.assert_array_equal(out == on, dilate(binary, 2))


@pytest.mark.parametrize("height,width", CUDA_SIZES)
def test_cuda_drivers_equal_the_references(rng, height, width, monkeypatch):
    from burnish.kernels import dispatch as device

    monkeypatch.setattr(device, "BLOCK_1D", 4)
    mask = random_mask(rng, height, width)
    mask[rng.integers(0, height), rng.integers(0, width)] = False
    np.testing.assert_allclose(distance_transform(mask, device="cuda"),
                               ndimage.distance_transform_edt(mask), rtol=1e-6, atol=1e-6)
    for radius in (0, 1, 3, 7):
        footprint = disk(radius).astype(bool)
        np.testing.assert_array_equal(dilate(mask, radius, device="cuda"),
                                      ndimage.binary_dilation(mask, structure=footprint))
        np.testing.assert_array_equal(
            erode(mask, radius, device="cuda"),
            ndimage.binary_erosion(mask, structure=footprint, border_value=1))


def test_cuda_drivers_keep_the_mask_dtype(rng):
    binary = random_mask(rng, 9, 7)
    for dtype, on in [(np.uint8, 255), (np.float32, 1.0)]:
        mask = np.where(binary, on, 0).astype(dtype)
        np.testing.assert_array_equal(dilate(mask, 2, device="cuda"), dilate(mask, 2))
        np.testing.assert_array_equal(erode(mask, 1, device="cuda"), erode(mask, 1))


def test_bad_masks_are_refused():
    with pytest.raises(ValueError, match="H x W"):
        dilate(np.zeros((2, 2, 3), bool), 1)
    with pytest.raises(ValueError, match="radius"):
        erode(np.zeros((2, 2), bool), -1)
    with pytest.raises(ValueError, match="unsupported mask type"):
        dilate(np.zeros((2, 2), np.int64), 1)
    with pytest.raises(ValueError, match="device must be cpu, cuda or cuda:N"):
        dilate(np.zeros((2, 2), bool), 1, device="gpu")
