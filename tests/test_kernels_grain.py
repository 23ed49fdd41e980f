"""Grain estimation and synthesis: re-estimating synthesized grain gives back what was estimated."""

from __future__ import annotations

import numpy as np
import pytest
from scipy import ndimage

from burnish.kernels.gaussian import gaussian_blur
from burnish.kernels.grain import (
    AR_OFFSETS,
    Grain,
    GrainField,
    GrainStatistics,
    _ar_filter,
    _unit_residual_field,
    estimate_grain,
    synthesize_grain,
)

from conftest import random_image, random_size

LEFT = AR_OFFSETS.index((0, -1))
ABOVE = AR_OFFSETS.index((-1, 0))
DTYPES = [np.uint8, np.uint16, np.float32]
# Runs a test on the CUDA driver only (the simulator without a GPU), with the small blocks the
# `device` fixture sets up.
CUDA_ONLY = pytest.mark.parametrize("device", ["cuda"], indirect=True)
# Odd sizes, below one 4 x 4 block and across several.
ODD_SIZES = [(1, 1), (3, 2), (2, 5), (7, 5), (13, 9)]


def smooth_base(rng, height=256, width=256, channels=3):
    """Gaussian-filtered noise stretched into [0.2, 0.8] per channel: no texture of its own."""
    planes = []
    for _ in range(channels):
        plane = ndimage.gaussian_filter(rng.standard_normal((height, width)), 10)
        planes.append(0.2 + 0.6 * (plane - plane.min()) / (plane.max() - plane.min()))
    return np.stack(planes, axis=-1)


def real_grain(rng, shape, kernel):
    """White noise through ``kernel`` per channel, unit std: grain not made by our AR model."""
    height, width, channels = shape
    planes = [ndimage.convolve(rng.standard_normal((height, width)), kernel, mode="wrap")
              for _ in range(channels)]
    grain = np.stack(planes, axis=-1)
    return grain / grain.std(axis=(0, 1))


def blur_channels(image, sigma):
    return np.stack([gaussian_blur(image[..., c], sigma) for c in range(image.shape[2])], axis=-1)


SOFT_KERNEL = np.array([[0.2, 0.5, 0.2], [0.5, 1.0, 0.5], [0.2, 0.5, 0.2]])


def test_regrained_image_re_estimates_to_the_same_strength(rng):
    base = smooth_base(rng)
    grain = real_grain(rng, base.shape, SOFT_KERNEL)
    grainy = np.clip(base + (0.02 + 0.05 * (base - 0.2)) * grain, 0, 1).astype(np.float32)
    first = estimate_grain(grainy)
    regrained = synthesize_grain(blur_channels(grainy, 3.0), first, seed=1)
    second = estimate_grain(regrained)
    assert first.strength() > 0.015
    assert abs(second.strength() - first.strength()) / first.strength() <= 0.10
    for c in range(3):
        one = Grain(first.levels, first.sigma[c:c + 1], first.ar[c:c + 1], first.weights[c:c + 1])
        two = Grain(second.levels, second.sigma[c:c + 1], second.ar[c:c + 1],
                    second.weights[c:c + 1])
        assert abs(two.strength() - one.strength()) / one.strength() <= 0.10


def test_estimated_sigma_follows_the_true_intensity_dependence(rng):
    height, width = 256, 256
    ramp = np.linspace(0.1, 0.9, width)[None, :, None] * np.ones((height, 1, 1))
    grain = real_grain(rng, (height, width, 1), SOFT_KERNEL)
    grainy = np.clip(ramp + (0.005 + 0.05 * ramp) * grain, 0, 1).astype(np.float32)
    estimate = estimate_grain(grainy)
    filled = np.flatnonzero(estimate.weights[0] > 0)
    assert filled.size >= 4
    assert estimate.sigma[0, filled[-1]] > 2 * estimate.sigma[0, filled[0]]


def test_ar_captures_horizontal_correlation(rng):
    base = np.full((192, 192, 1), 0.5)
    grain = real_grain(rng, base.shape, np.ones((1, 5)))
    estimate = estimate_grain((base + 0.03 * grain).astype(np.float32))
    assert estimate.ar[0, LEFT] > estimate.ar[0, ABOVE] + 0.2


def reference_ar_filter(noise, ar):
    """Slow and obvious: the causal recursion in Python, zeros outside the plane."""
    out = np.zeros_like(noise)
    height, width = noise.shape
    for y in range(height):
        for x in range(width):
            out[y, x] = noise[y, x] + sum(
                a * out[y + dy, x + dx] for a, (dy, dx) in zip(ar, AR_OFFSETS)
                if y + dy >= 0 and 0 <= x + dx < width)
    return out


@pytest.mark.parametrize("height,width", [(1, 1), (3, 2), (9, 17)])
def test_ar_filter_matches_reference(rng, height, width):
    noise = rng.standard_normal((2, height, width))
    ar = rng.normal(0, 0.1, (2, len(AR_OFFSETS)))
    expected = [reference_ar_filter(noise[c], ar[c]) for c in range(2)]
    _ar_filter(noise, ar)
    assert np.allclose(noise, expected, atol=1e-12)


def test_seed_gives_same_bytes_and_outside_of_mask_is_untouched(rng, device):
    height, width = (37, 53) if device == "cpu" else (13, 11)
    image = random_image(rng, height, width, 3, np.float32)
    grain = Grain(levels=[0.25, 0.75], sigma=np.full((3, 2), 0.03), ar=rng.normal(0, 0.05, (3, 12)))
    mask = rng.random((height, width)) > 0.5
    one = synthesize_grain(image, grain, mask=mask, seed=7, device=device)
    assert one.tobytes() == synthesize_grain(image, grain, mask=mask, seed=7, device=device).tobytes()
    assert one.tobytes() != synthesize_grain(image, grain, mask=mask, seed=8, device=device).tobytes()
    assert one[~mask].tobytes() == image[~mask].tobytes()
    assert (one[mask] != image[mask]).mean() > 0.9


@pytest.mark.parametrize("as_type", [lambda m: m, lambda m: m.astype(np.uint8) * 255,
                                     lambda m: m.astype(np.float32)])
def test_mask_restricts_estimation(rng, as_type):
    image = np.full((128, 128, 1), 0.5)
    mask = np.zeros((128, 128), bool)
    mask[32:96, 32:96] = True
    image[mask] += 0.04 * real_grain(rng, (64, 64, 1), SOFT_KERNEL).reshape(-1, 1)
    image = image.astype(np.float32)
    inside = estimate_grain(image, mask=as_type(mask)).strength()
    assert inside > 0.02
    assert estimate_grain(image, mask=as_type(~mask)).strength() < 0.1 * inside


@pytest.mark.parametrize("dtype", [np.uint8, np.uint16])
def test_integer_images_keep_shape_and_dtype(rng, dtype):
    top = np.iinfo(dtype).max
    base = (smooth_base(rng, 96, 80, 3) * top).astype(dtype)
    noisy = np.clip(base + rng.normal(0, 0.03 * top, base.shape), 0, top).astype(dtype)
    grain = estimate_grain(noisy)
    assert 0.01 < grain.strength() < 0.05
    out = synthesize_grain(base, grain, seed=2)
    assert out.dtype == dtype and out.shape == base.shape
    assert 0.01 * top < np.abs(out.astype(float) - base).mean() < 0.06 * top


def test_single_channel_and_noiseless_image(rng):
    flat = np.full((64, 48, 1), 0.3, np.float32)
    grain = estimate_grain(flat)
    assert grain.strength() == pytest.approx(0, abs=1e-6)
    assert np.all(grain.ar == 0)
    assert synthesize_grain(flat, grain, seed=0).tobytes() == flat.tobytes()


def test_bad_arguments(rng):
    image = random_image(rng, 64, 64, 3, np.float32)
    with pytest.raises(ValueError, match="no flat area"):
        estimate_grain(image, mask=np.zeros((64, 64), bool))
    with pytest.raises(ValueError, match="no flat area"):
        estimate_grain(random_image(rng, 10, 64, 3, np.float32))
    with pytest.raises(ValueError, match="H x W x C"):
        estimate_grain(image[..., :2])
    with pytest.raises(ValueError, match="unsupported image"):
        estimate_grain(image.astype(np.float64))
    with pytest.raises(ValueError, match="mask"):
        estimate_grain(image, mask=np.ones((64, 63), bool))
    with pytest.raises(ValueError, match="device must be cpu, cuda or cuda:N"):
        estimate_grain(image, device="gpu")
    grain = Grain(levels=[0.5], sigma=[[0.1]], ar=np.zeros((1, 12)))
    with pytest.raises(ValueError, match="channels"):
        synthesize_grain(image, grain)
    with pytest.raises(ValueError, match="device must be cpu, cuda or cuda:N"):
        synthesize_grain(image[..., :1], grain, device="gpu")
    with pytest.raises(ValueError, match="ar must be"):
        Grain(levels=[0.5], sigma=[[0.1]], ar=np.zeros((1, 11)))


def top_of(dtype):
    return np.iinfo(dtype).max if np.dtype(dtype).kind == "u" else 1.0


def random_grain(rng, image, channels):
    """Up to four levels taken from the image's own intensities (so that some samples sit
    exactly on a level, the first and the last included; one level on a one-sample image),
    random sigma and a mild AR texture."""
    top = np.float32(top_of(image.dtype))
    levels = np.unique(image.reshape(-1)[:4].astype(np.float32) / top)
    sigma = rng.uniform(0.01, 0.08, (channels, levels.size))
    return Grain(levels=levels, sigma=sigma, ar=rng.normal(0, 0.05, (channels, len(AR_OFFSETS))))


def reference_add_grain(image, field, grain, inside):
    """Slow and obvious, float64: sigma interpolated with np.interp (constant past the ends).

    The position on the sigma curve is the float32 intensity, ``stored / top`` as the
    kernel and the float32 levels have it: two levels a couple of uint16 steps apart make
    the curve so steep that the float64 intensity, 1e-8 away, moves sigma by a whole output
    step (seed 2099135139: levels 21706 and 21708, 1.39 steps off at a sample of 21708)."""
    top = top_of(image.dtype)
    value = image.astype(np.float64) / top
    position = (image.astype(np.float32) / np.float32(top)).astype(np.float64)
    sigma = np.stack([np.interp(position[..., c], grain.levels, grain.sigma[c])
                      for c in range(image.shape[2])], axis=-1)
    out = np.clip(value + sigma * field.transpose(1, 2, 0), 0, 1) * top
    return np.where(inside[..., None], out, image)


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("channels", [1, 3])
def test_adding_grain_matches_reference(rng, device, dtype, channels):
    height, width = random_size(rng, device)
    image = random_image(rng, height, width, channels, dtype)
    grain = random_grain(rng, image, channels)
    inside = rng.random((height, width)) > 0.3
    out = synthesize_grain(image, grain, mask=inside, seed=11, device=device)
    field = _unit_residual_field(grain, height, width, 11)
    expected = reference_add_grain(image, field, grain, inside)
    assert out.dtype == np.dtype(dtype) and out.shape == image.shape
    # float32 arithmetic may round an integer to the other side of a .5 boundary
    tolerance = 0.5 + 1e-6 * top_of(dtype) if dtype != np.float32 else 1e-6
    assert np.abs(out.astype(np.float64) - expected).max() <= tolerance
    assert out[~inside].tobytes() == image[~inside].tobytes()


@CUDA_ONLY
@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("channels", [1, 3])
@pytest.mark.parametrize("masked", [False, True])
def test_synthesize_grain_cuda_equals_cpu(rng, device, dtype, channels, masked):
    for height, width in ODD_SIZES:
        image = random_image(rng, height, width, channels, dtype)
        grain = random_grain(rng, image, channels)
        mask = rng.random((height, width)) > 0.5 if masked else None
        seed = int(rng.integers(1 << 31))
        on_gpu = synthesize_grain(image, grain, mask=mask, seed=seed, device=device)
        assert on_gpu.tobytes() == synthesize_grain(image, grain, mask=mask, seed=seed).tobytes()


def test_estimate_grain_is_the_same_on_either_device(rng, device):
    base = smooth_base(rng, 64, 48, 3)
    noisy = np.clip(base + rng.normal(0, 0.03, base.shape), 0, 1).astype(np.float32)
    mask = np.ones((64, 48), bool)
    mask[:20, :20] = False
    on_cpu, here = estimate_grain(noisy, mask=mask), estimate_grain(noisy, mask=mask, device=device)
    for field in ("levels", "sigma", "ar", "weights"):
        np.testing.assert_array_equal(getattr(here, field), getattr(on_cpu, field))


@pytest.mark.parametrize("cuts", [[1], [16, 17, 50], [7] * 20, [100]])
def test_a_field_made_band_by_band_is_the_whole_field(rng, cuts):
    grain = Grain(levels=[0.5], sigma=[[0.02], [0.03]],
                  ar=rng.uniform(-0.08, 0.08, (2, len(AR_OFFSETS))))
    height = sum(cuts)
    whole = _unit_residual_field(grain, height, 37, 9)
    field = GrainField(grain, height, 37, 9)
    np.testing.assert_array_equal(np.concatenate([field.next(n) for n in cuts], axis=1), whole)
    with pytest.raises(ValueError, match="more rows"):
        field.next(1)


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("cuts", [[5, 30, 1, 64, 100], [17] * 12, [200]])
def test_statistics_gathered_band_by_band_equal_the_whole_images(rng, dtype, cuts):
    height = sum(cuts)
    image = random_image(rng, height, 75, 3, dtype)
    whole = GrainStatistics(height, 75, 3, dtype)
    whole.add(image)
    banded = GrainStatistics(height, 75, 3, dtype)
    top = 0
    for n in cuts:
        banded.add(image[top: top + n])
        top += n
    for a, b in zip(banded.blocks(), whole.blocks()):
        np.testing.assert_array_equal(a, b)
    strength = banded.strength()
    estimate = estimate_grain(image)
    np.testing.assert_array_equal(strength.sigma, estimate.sigma)
    np.testing.assert_array_equal(strength.weights, estimate.weights)


def test_block_statistics_read_only_their_strip(rng):
    """A block row's statistics do not change with rows far from it (the streaming promise)."""
    image = rng.random((96, 48, 1), dtype=np.float32)
    changed = image.copy()
    changed[64:] = rng.random((32, 48, 1), dtype=np.float32)  # block rows 4-5 and their margin
    first, second = GrainStatistics(96, 48, 1, np.float32), GrainStatistics(96, 48, 1, np.float32)
    first.add(image)
    second.add(changed)
    cols = 48 // 16
    rows_unaffected = (64 - 8) // 16  # block rows whose strip ends above row 64 - 8
    for a, b in zip(first.blocks(), second.blocks()):
        np.testing.assert_array_equal(a[..., : rows_unaffected * cols],
                                      b[..., : rows_unaffected * cols])
