"""Overlap blending: accumulation against NumPy, and cross-faded tiles rebuilding an image."""

from __future__ import annotations

import numpy as np
import pytest

from burnish.kernels.accumulate import accumulate_tile, blend_window, normalise


@pytest.mark.parametrize("tile_height,tile_width", [(3, 2), (11, 13)])
def test_accumulate_matches_numpy(rng, device, tile_height, tile_width):
    accumulator = rng.random((20, 23, 3), dtype=np.float32)
    weights = rng.random((20, 23), dtype=np.float32)
    planar = rng.random((3, tile_height, tile_width), dtype=np.float32)
    window = rng.random((tile_height, tile_width), dtype=np.float32)
    expected_acc, expected_w = accumulator.copy(), weights.copy()
    region = np.s_[5: 5 + tile_height, 9: 9 + tile_width]
    expected_acc[region] += window[..., None] * planar.transpose(1, 2, 0)
    expected_w[region] += window
    accumulate_tile(accumulator, weights, planar, window, top=5, left=9, device=device)
    np.testing.assert_allclose(accumulator, expected_acc, rtol=1e-6)
    np.testing.assert_allclose(weights, expected_w, rtol=1e-6)


@pytest.mark.parametrize("tile,overlap", [(16, 4), (24, 8), (7, 3)])
def test_overlapping_tiles_of_an_image_rebuild_it(rng, device, tile, overlap):
    if device == "cuda" and tile > 7:
        pytest.skip("large tiles are slow in the CUDA simulator; 7 x 7 covers the driver")
    image = rng.random((53, 47, 2) if device == "cpu" else (13, 11, 2), dtype=np.float32)
    accumulator = np.zeros_like(image)
    weights = np.zeros(image.shape[:2], np.float32)
    step = tile - overlap
    for top in range(0, image.shape[0], step):
        for left in range(0, image.shape[1], step):
            crop = image[top: top + tile, left: left + tile]
            window = blend_window(crop.shape[0], crop.shape[1], overlap)
            accumulate_tile(accumulator, weights, np.ascontiguousarray(crop.transpose(2, 0, 1)),
                            window, top=top, left=left, device=device)
    np.testing.assert_allclose(normalise(accumulator, weights, device=device), image, atol=1e-6)


def test_window_is_positive_smooth_and_flat_in_the_middle():
    window = blend_window(20, 30, 6)
    assert window.min() > 0 and window.max() == 1.0
    assert (window[6:14, 6:24] == 1.0).all()
    row = window[10]
    assert (np.diff(row[:7]) > 0).all() and (np.diff(row[-7:]) < 0).all()


def test_uncovered_pixels_normalise_to_zero(device):
    zeros = normalise(np.zeros((3, 4, 1), np.float32), np.zeros((3, 4), np.float32), device=device)
    assert zeros.shape == (3, 4, 1) and (zeros == 0).all()


def test_bad_tiles_are_refused():
    acc, w = np.zeros((8, 8, 3), np.float32), np.zeros((8, 8), np.float32)
    with pytest.raises(ValueError, match="out of bounds"):
        accumulate_tile(acc, w, np.zeros((3, 4, 4), np.float32), np.ones((4, 4), np.float32), top=6, left=0)
    with pytest.raises(ValueError, match="do not fit"):
        accumulate_tile(acc, w, np.zeros((1, 4, 4), np.float32), np.ones((4, 4), np.float32), top=0, left=0)
