"""The composite kernel against a float64 NumPy reference."""

from __future__ import annotations

import numpy as np
import pytest

from burnish.kernels.blend import blend

from conftest import random_image


def srgb_to_linear(v):
    return np.where(v <= 0.04045, v / 12.92, ((v + 0.055) / 1.055) ** 2.4)


def linear_to_srgb(v):
    return np.where(v <= 0.0031308, v * 12.92, 1.055 * np.maximum(v, 0) ** (1 / 2.4) - 0.055)


def reference_blend(fg, bg, alpha, linear):
    """Slow and obvious: float64, whole arrays."""
    top = np.iinfo(fg.dtype).max if fg.dtype.kind == "u" else 1.0
    f, b = fg / top, bg / top
    colour = slice(0, fg.shape[2] - 1 if fg.shape[2] in (2, 4) else fg.shape[2])
    if linear:
        f, b = f.copy(), b.copy()
        f[..., colour], b[..., colour] = srgb_to_linear(f[..., colour]), srgb_to_linear(b[..., colour])
    a = np.clip(alpha.astype(np.float64), 0, 1)[..., None]
    mixed = a * f + (1 - a) * b
    if linear:
        mixed[..., colour] = linear_to_srgb(mixed[..., colour])
    mixed = mixed * top
    out = np.rint(mixed).astype(fg.dtype) if fg.dtype.kind == "u" else mixed.astype(fg.dtype)
    return np.where(a == 0, bg, np.where(a == 1, fg, out))


@pytest.mark.parametrize("dtype", [np.uint8, np.uint16, np.float32])
@pytest.mark.parametrize("channels", [1, 2, 3, 4])
@pytest.mark.parametrize("linear", [False, True])
def test_blend_matches_reference(rng, dtype, channels, linear):
    height, width = (int(v) for v in rng.integers(1, 37, size=2))
    fg, bg = (random_image(rng, height, width, channels, dtype) for _ in range(2))
    alpha = rng.random((height, width), dtype=np.float32) * 1.2 - 0.1
    alpha[rng.random((height, width)) < 0.2] = 0.0
    alpha[rng.random((height, width)) < 0.2] = 1.0
    out = blend(fg, bg, alpha, linear=linear)
    expected = reference_blend(fg, bg, alpha, linear)
    assert out.dtype == np.dtype(dtype)
    tolerance = 1 if np.dtype(dtype).kind == "u" else 2e-6
    assert np.abs(out.astype(np.float64) - expected).max() <= tolerance


def test_outside_and_inside_the_mask_are_bit_identical(rng):
    fg, bg = (random_image(rng, 41, 29, 3, np.uint16) for _ in range(2))
    alpha = np.zeros((41, 29), np.float32)
    alpha[10:20, 5:15] = 1.0
    alpha[20:25, 5:15] = 0.5
    out = blend(fg, bg, alpha, linear=True)
    np.testing.assert_array_equal(out[alpha == 0], bg[alpha == 0])
    np.testing.assert_array_equal(out[alpha == 1], fg[alpha == 1])


def test_bad_shapes_are_refused():
    image = np.zeros((4, 5, 3), np.uint8)
    with pytest.raises(ValueError, match="one shape and dtype"):
        blend(image, image.astype(np.uint16), np.zeros((4, 5), np.float32))
    with pytest.raises(ValueError, match="alpha must be"):
        blend(image, image, np.zeros((5, 4), np.float32))
