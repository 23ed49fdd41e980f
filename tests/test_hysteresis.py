"""Hysteresis thresholding (burnish.kernels.hysteresis) against SciPy's 8-connected labelling
on fresh random maps of odd sizes, and the masks it refuses."""

from __future__ import annotations

import numpy as np
import pytest
from scipy import ndimage

from burnish.kernels import hysteresis


def reference(weak: np.ndarray, strong: np.ndarray) -> np.ndarray:
    labels, _ = ndimage.label(weak, structure=np.ones((3, 3)))
    kept = np.unique(labels[strong & weak])
    return np.isin(labels, kept[kept > 0])


@pytest.mark.parametrize("shape", [(1, 1), (1, 37), (29, 1), (63, 97), (200, 131)])
def test_matches_scipy_labelling(rng, shape):
    for _ in range(5):
        values = rng.random(shape)
        if rng.random() < 0.5:  # smooth maps: long components, as a detector's
            values = ndimage.gaussian_filter(values, 2.0) if min(shape) > 1 else values
            values = (values - values.min()) / max(np.ptp(values), 1e-9)
        low, high = sorted(rng.uniform(0.2, 0.95, 2))
        weak, strong = values > low, values > high
        got = hysteresis(weak, strong)
        assert got.dtype == np.bool_ and got.shape == shape
        assert np.array_equal(got, reference(weak, strong))


def test_diagonal_steps_join_and_strong_pixels_outside_weak_seed_nothing():
    weak = np.eye(6, dtype=bool)
    strong = np.zeros((6, 6), bool)
    strong[0, 0] = True
    assert np.array_equal(hysteresis(weak, strong), weak)  # one diagonal component
    lone = np.zeros((6, 6), bool)
    lone[0, 5] = True  # strong but not weak
    assert not hysteresis(weak, lone).any()


def test_mask_types_are_read_by_the_one_rule(rng):
    values = rng.random((40, 50)).astype(np.float32)
    expected = hysteresis(values > 0.4, values > 0.9)
    as_uint8 = hysteresis(np.where(values > 0.4, 255, 0).astype(np.uint8),
                          np.where(values > 0.9, 255, 0).astype(np.uint8))
    assert np.array_equal(as_uint8, expected)


def test_mismatched_masks_are_refused():
    with pytest.raises(ValueError, match="strong mask"):
        hysteresis(np.zeros((4, 5), bool), np.zeros((5, 4), bool))
