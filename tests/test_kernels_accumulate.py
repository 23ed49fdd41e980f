"""Overlap blending: accumulation against NumPy, and cross-faded tiles rebuilding an image."""

from __future__ import annotations

import numpy as np
import pytest

from burnish.kernels.accumulate import accumulate_tile, blend_window, normalise


def test_accumulate_matches_numpy(rng):
    accumulator = rng.random((30, 41, 3), dtype=np.float32)
    weights = rng.random((30, 41), dtype=np.float32)
    planar = rng.random((3, 11, 17), dtype=np.float32)
    window = rng.random((11, 17), dtype=np.float32)
    expected_acc, expected_w = accumulator.copy(), weights.copy()
    expected_acc[5:16, 9:26] += window[..., None] * planar.transpose(1, 2, 0)
    expected_w[5:16, 9:26] += window
    accumulate_tile(accumulator, weights, planar, window, top=5, left=9)
    np.testing.assert_allclose(accumulator, expected_acc, rtol=1e-6)
    np.testing.assert_allclose(weights, expected_w, rtol=1e-6)


@pytest.mark.parametrize("tile,overlap", [(16, 4), (24, 8), (7, 3)])
def test_overlapping_tiles_of_an_image_rebuild_it(rng, tile, overlap):
    image = rng.random((53, 47, 2), dtype=np.float32)
    accumulator = np.zeros_like(image)
    weights = np.zeros(image.shape[:2], np.float32)
    step = tile - overlap
    for top in range(0, image.shape[0], step):
        for left in range(0, image.shape[1], step):
            crop = image[top: top + tile, left: left + tile]
            window = blend_window(crop.shape[0], crop.shape[1], overlap)
            accumulate_tile(accumulator, weights, np.ascontiguousarray(crop.transpose(2, 0, 1)),
                            window, top=top, left=left)
    np.testing.assert_allclose(normalise(accumulator, weights), image, atol=1e-6)


def test_window_is_positive_smooth_and_flat_in_the_middle():
    window = blend_window(20, 30, 6)
    assert window.min() > 0 and window.max() == 1.0
    assert (window[6:14, 6:24] == 1.0).all()
    row = window[10]
    assert (np.diff(row[:7]) > 0).all() and (np.diff(row[-7:]) < 0).all()


def test_uncovered_pixels_normalise_to_zero():
    assert (normalise(np.zeros((3, 4, 1), np.float32), np.zeros((3, 4), np.float32)) == 0).all()


def test_bad_tiles_are_refused():
    acc, w = np.zeros((8, 8, 3), np.float32), np.zeros((8, 8), np.float32)
    with pytest.raises(ValueError, match="out of bounds"):
        accumulate_tile(acc, w, np.zeros((3, 4, 4), np.float32), np.ones((4, 4), np.float32), top=6, left=0)
    with pytest.raises(ValueError, match="do not fit"):
        accumulate_tile(acc, w, np.zeros((1, 4, 4), np.float32), np.ones((4, 4), np.float32), top=0, left=0)
