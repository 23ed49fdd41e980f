"""The composite kernel against a float64 NumPy reference."""

from __future__ import annotations

import numpy as np
import pytest

from burnish.kernels.blend import blend

from conftest import assert_cuda_matches_cpu, random_image, random_size


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
def test_blend_matches_reference(rng, device, dtype, channels, linear):
    height, width = random_size(rng, device)
    fg, bg = (random_image(rng, height, width, channels, dtype) for _ in range(2))
    alpha = rng.random((height, width), dtype=np.float32) * 1.2 - 0.1
    alpha[rng.random((height, width)) < 0.2] = 0.0
    alpha[rng.random((height, width)) < 0.2] = 1.0
    out = blend(fg, bg, alpha, linear=linear, device=device)
    expected = reference_blend(fg, bg, alpha, linear)
    assert out.dtype == np.dtype(dtype)
    tolerance = 1 if np.dtype(dtype).kind == "u" else 2e-6
    assert np.abs(out.astype(np.float64) - expected).max() <= tolerance


def test_outside_and_inside_the_mask_are_bit_identical(rng, device):
    fg, bg = (random_image(rng, 13, 11, 3, np.uint16) for _ in range(2))
    alpha = np.zeros((13, 11), np.float32)
    alpha[2:6, 1:8] = 1.0
    alpha[6:9, 1:8] = 0.5
    out = blend(fg, bg, alpha, linear=True, device=device)
    np.testing.assert_array_equal(out[alpha == 0], bg[alpha == 0])
    np.testing.assert_array_equal(out[alpha == 1], fg[alpha == 1])


def test_bad_shapes_are_refused():
    image = np.zeros((4, 5, 3), np.uint8)
    with pytest.raises(ValueError, match="one shape and dtype"):
        blend(image, image.astype(np.uint16), np.zeros((4, 5), np.float32))
    with pytest.raises(ValueError, match="alpha must be"):
        blend(image, image, np.zeros((5, 4), np.float32))


@pytest.mark.parametrize("dtype", [np.uint8, np.uint16, np.float32])
def test_cuda_driver_equals_cpu_driver(rng, dtype):
    fg, bg = (random_image(rng, 9, 14, 3, dtype) for _ in range(2))
    alpha = rng.random((9, 14), dtype=np.float32)
    for linear in (False, True):
        assert_cuda_matches_cpu(blend(fg, bg, alpha, linear=linear, device="cuda"),
                                blend(fg, bg, alpha, linear=linear))


def test_unknown_device_is_refused():
    image = np.zeros((2, 2, 3), np.uint8)
    with pytest.raises(ValueError, match="device must be cpu, cuda or cuda:N"):
        blend(image, image, np.zeros((2, 2), np.float32), device="tpu")
