"""Colour transfer kernels against float64 NumPy references and scikit-image, on the CPU and
through the CUDA drivers (small inputs there: the simulator runs each thread in Python)."""

from __future__ import annotations

import io

import numpy as np
import pytest
from PIL import Image
from scipy.ndimage import gaussian_filter
from skimage.color import rgb2lab
from skimage.exposure import match_histograms as skimage_match_histograms

from burnish.kernels import colour
from burnish.kernels.colour import (
    EIGEN_FLOOR,
    LAB_NOISE_FLOOR,
    MAX_SPREAD_GAIN,
    RGB_NOISE_FLOOR,
    limit_fine_detail,
    match_histograms,
    mkl,
    reinhard,
)

from conftest import assert_cuda_matches_cpu, random_image, random_size

DTYPES = [np.uint8, np.uint16, np.float32]
TRANSFERS = [reinhard, match_histograms, mkl]
# Through the CUDA drivers, with 4 x 4 blocks: less than one block, several, and (150 wide)
# more than one chunk of the Reinhard statistics pass.
CUDA_SIZES = [(1, 1), (3, 2), (2, 13), (13, 11), (2, 150)]

# --- slow, obvious float64 references --------------------------------------------------------

RGB_TO_XYZ = np.array([[0.4124564, 0.3575761, 0.1804375],
                       [0.2126729, 0.7151522, 0.0721750],
                       [0.0193339, 0.1191920, 0.9503041]])
WHITE = RGB_TO_XYZ @ np.ones(3)
DELTA = 6 / 29


def top_of(dtype):
    return float(np.iinfo(dtype).max) if np.dtype(dtype).kind == "u" else 1.0


def unit(image):
    """Stored samples scaled to [0, 1], float64 (float32 / 1.0 would stay float32)."""
    return image.astype(np.float64) / top_of(image.dtype)


def srgb_to_lab(rgb):
    """sRGB-encoded [0, 1] (..., 3) -> Lab, float64."""
    rgb = np.clip(rgb.astype(np.float64), 0, 1)
    linear = np.where(rgb <= 0.04045, rgb / 12.92, ((rgb + 0.055) / 1.055) ** 2.4)
    t = linear @ RGB_TO_XYZ.T / WHITE
    f = np.where(t > DELTA ** 3, np.cbrt(t), t / (3 * DELTA ** 2) + 4 / 29)
    return np.stack([116 * f[..., 1] - 16, 500 * (f[..., 0] - f[..., 1]),
                     200 * (f[..., 1] - f[..., 2])], axis=-1)


def lab_to_srgb(lab):
    fy = (lab[..., 0] + 16) / 116
    f = np.stack([fy + lab[..., 1] / 500, fy, fy - lab[..., 2] / 200], axis=-1)
    t = np.where(f > DELTA, f ** 3, 3 * DELTA ** 2 * (f - 4 / 29))
    linear = np.clip((t * WHITE) @ np.linalg.inv(RGB_TO_XYZ).T, 0, 1)
    return np.where(linear <= 0.0031308, linear * 12.92, 1.055 * linear ** (1 / 2.4) - 0.055)


def stored(unit, like, mask):
    """[0, 1] float64 back to ``like``'s dtype, only where ``mask`` is set."""
    top = top_of(like.dtype)
    values = np.clip(unit, 0, 1) * top
    values = np.rint(values).astype(like.dtype) if like.dtype.kind == "u" else values.astype(like.dtype)
    return np.where(mask[..., None], values, like)


def reference_reinhard(image, reference, mask, reference_mask, spread=True, measured=None):
    lab = srgb_to_lab(unit(image))
    reference_lab = srgb_to_lab(unit(reference))
    t, r = lab[mask if measured is None else measured], reference_lab[reference_mask]
    t_std = t.std(axis=0)
    scale = np.where(t_std < 1e-9, 1.0, r.std(axis=0) / np.maximum(t_std, 1e-300))
    scale = np.minimum(scale, stretch_limit(t_std, LAB_NOISE_FLOOR))
    scale = scale if spread else np.ones_like(scale)
    moved = (lab - t.mean(axis=0)) * scale + r.mean(axis=0)
    return stored(lab_to_srgb(moved), image, mask)


def stretch_limit(std, noise_floor):
    """The spread bound: no stretch up to the noise floor, then std / floor, at most 3x."""
    return np.clip(std / noise_floor, 1.0, MAX_SPREAD_GAIN)


def symmetric_power(matrix, power):
    w, v = np.linalg.eigh(matrix)
    return v @ np.diag(np.maximum(w, EIGEN_FLOOR) ** power) @ v.T


def reference_mkl(image, reference, mask, reference_mask):
    x = unit(image)
    t = x[mask]
    r = unit(reference)[reference_mask]
    a = np.cov(t, rowvar=False, bias=True).reshape(3, 3)
    b = np.cov(r, rowvar=False, bias=True).reshape(3, 3)
    a_half, a_inv_half = symmetric_power(a, 0.5), symmetric_power(a, -0.5)
    transfer = a_inv_half @ symmetric_power(a_half @ b @ a_half, 0.5) @ a_inv_half
    # Each eigenvalue is the gain along its eigenvector: bounded by the target's std there.
    gains, directions = np.linalg.eigh(transfer)
    for i in range(3):
        direction = directions[:, i]
        gains[i] = min(gains[i], stretch_limit(np.sqrt(direction @ a @ direction),
                                               RGB_NOISE_FLOOR))
    transfer = directions @ np.diag(gains) @ directions.T
    return stored((x - t.mean(axis=0)) @ transfer + r.mean(axis=0), image, mask)


# --- inputs ----------------------------------------------------------------------------------


def smooth_image(rng, height, width, dtype, low=0.0, high=1.0, mixed=True):
    """Gaussian-filtered noise stretched per channel to [low, high]: correlated (unless not
    ``mixed``), non-trivial."""
    noise = gaussian_filter(rng.standard_normal((height, width, 3)), sigma=(3, 3, 0), mode="wrap")
    if mixed:  # mix channels so the covariance has off-diagonal terms
        noise = noise @ (np.eye(3) + 0.5 * rng.standard_normal((3, 3)))
    span = noise.max(axis=(0, 1)) - noise.min(axis=(0, 1))
    unit = (noise - noise.min(axis=(0, 1))) / np.where(span > 0, span, 1)
    unit = low + (high - low) * unit
    top = top_of(dtype)
    return (np.rint(unit * top) if np.dtype(dtype).kind == "u" else unit * top).astype(dtype)


def make_image(rng, kind, height, width, dtype):
    if kind == "noise":
        return random_image(rng, height, width, 3, dtype)
    return smooth_image(rng, height, width, dtype)


def random_mask(rng, height, width):
    """About 60% of the pixels, and always at least 4: fewer than 4 colours have a singular
    covariance, where MKL's transfer matrix is dominated by the eigenvalue floor and two
    correct implementations may legitimately disagree."""
    mask = rng.random((height, width)) < 0.6
    mask.flat[rng.choice(mask.size, size=min(4, mask.size), replace=False)] = True
    return mask


def assert_close(actual, expected):
    assert actual.dtype == expected.dtype and actual.shape == expected.shape
    if actual.dtype.kind == "u":
        difference = np.abs(actual.astype(np.int64) - expected.astype(np.int64))
        assert difference.max() <= 1, f"off by {difference.max()} levels"
    else:
        np.testing.assert_allclose(actual, expected, rtol=0, atol=1e-3)


# --- against the references ------------------------------------------------------------------


def test_lab_convention_agrees_with_skimage(rng):
    rgb = rng.random((50, 3))
    np.testing.assert_allclose(srgb_to_lab(rgb), rgb2lab(rgb), atol=0.05)
    np.testing.assert_allclose(lab_to_srgb(srgb_to_lab(rgb)), rgb, atol=1e-9)


def test_cube_root_over_its_range():
    """Checked once over every float32 in [2^-9, 1]: at most 3.2e-7 relative."""
    t = np.geomspace(2.0 ** -9, 1.0, 20001).astype(np.float32)
    got = np.array([colour._cube_root(v) for v in t])
    np.testing.assert_allclose(got, np.cbrt(t.astype(np.float64)), rtol=4e-7, atol=0)


@pytest.mark.parametrize("dtype", DTYPES)
def test_lab_statistics_match_reference(rng, device, dtype):
    """The fused Lab conversion and shifted sums against the float64 conversion's mean and std,
    with and without a region (float32 throughout: within 1e-3 Lab units)."""
    height, width = random_size(rng, device)
    image = random_image(rng, height, width, 3, dtype)
    for region in (None, random_mask(rng, height, width)):
        lab = srgb_to_lab(unit(image))[np.ones((height, width), bool) if region is None
                                        else region]
        mean, std = colour._lab_statistics(image, region, device)
        np.testing.assert_allclose(mean, lab.mean(axis=0), rtol=0, atol=1e-3)
        np.testing.assert_allclose(std, lab.std(axis=0), rtol=0, atol=1e-3)


def test_lab_statistics_of_a_flat_region_have_no_spread_and_greys_are_neutral(rng, device):
    for dtype in DTYPES:
        grey = np.full((5, 7, 3), top_of(dtype) // 2 if np.dtype(dtype).kind == "u" else 0.5,
                       dtype)
        mean, std = colour._lab_statistics(grey, None, device)
        assert np.all(std == 0)  # shifted by a pixel of the region: exactly 0, not ~1e-14
        assert np.abs(mean[1:]).max() < 1e-4  # float32 Lab: greys within 1e-4 of neutral


@pytest.mark.parametrize("transfer, slow", [(reinhard, reference_reinhard), (mkl, reference_mkl)])
@pytest.mark.parametrize("kind", ["noise", "smooth"])
@pytest.mark.parametrize("dtype", DTYPES)
def test_matches_reference(rng, device, transfer, slow, kind, dtype):
    shapes = [random_size(rng, device)] + ([(1, 5), (64, 41), (3, 200)] if device == "cpu" else [])
    for shape in shapes:
        image = make_image(rng, kind, *shape, dtype)
        reference = make_image(rng, kind, shape[1] + 3, shape[0] + 2, dtype)
        everywhere = np.ones(shape, bool)
        assert_close(transfer(image, reference, device=device),
                     slow(image, reference, everywhere, np.ones(reference.shape[:2], bool)))
        mask = random_mask(rng, *shape)
        reference_mask = random_mask(rng, *reference.shape[:2])
        assert_close(transfer(image, reference, mask=mask, reference_mask=reference_mask, device=device),
                     slow(image, reference, mask, reference_mask))


@pytest.mark.parametrize("dtype", DTYPES)
def test_reinhard_means_only_and_separately_measured_target(rng, device, dtype):
    """``spread=False`` moves the means and keeps the target's contrast; ``measured`` takes the
    target's statistics from other pixels than the ones changed."""
    shape = random_size(rng, device) if device == "cuda" else (37, 29)
    image = make_image(rng, "smooth", *shape, dtype)
    reference = make_image(rng, "noise", shape[1] + 1, shape[0] + 4, dtype)
    mask, measured = random_mask(rng, *shape), random_mask(rng, *shape)
    measured[0, 0] = True  # never empty
    reference_mask = random_mask(rng, *reference.shape[:2])
    for spread in (True, False):
        assert_close(reinhard(image, reference, mask=mask, reference_mask=reference_mask, spread=spread,
                              measured=measured, device=device),
                     reference_reinhard(image, reference, mask, reference_mask, spread, measured))


def test_reinhard_refuses_an_empty_measured_region(rng):
    image = make_image(rng, "noise", 8, 9, np.uint8)
    with pytest.raises(ValueError, match="measured selects no pixel"):
        reinhard(image, image, mask=np.ones((8, 9), bool), measured=np.zeros((8, 9), bool))


@pytest.mark.parametrize("transfer, slow", [(reinhard, reference_reinhard), (mkl, reference_mkl)])
def test_reference_dtype_may_differ(rng, transfer, slow):
    image = smooth_image(rng, 21, 17, np.uint16)
    reference = smooth_image(rng, 13, 30, np.float32, 0.2, 0.9)
    everywhere = np.ones(image.shape[:2], bool)
    assert_close(transfer(image, reference),
                 slow(image, reference, everywhere, np.ones(reference.shape[:2], bool)))


# --- the CUDA drivers ---------------------------------------------------------------------------


@pytest.mark.parametrize("transfer", TRANSFERS)
@pytest.mark.parametrize("dtype", DTYPES)
def test_cuda_drivers_equal_cpu_drivers(rng, monkeypatch, transfer, dtype):
    from burnish.kernels import dispatch as kernel_device

    monkeypatch.setattr(kernel_device, "BLOCK_2D", (4, 4))
    monkeypatch.setattr(kernel_device, "BLOCK_1D", 4)
    for height, width in CUDA_SIZES:
        image = make_image(rng, "noise" if width < 5 else "smooth", height, width, dtype)
        reference = make_image(rng, "smooth", width + 2, height + 3, dtype)
        for mask in (None, random_mask(rng, height, width)):
            reference_mask = None if mask is None else random_mask(rng, *reference.shape[:2])
            assert_cuda_matches_cpu(transfer(image, reference, mask=mask, reference_mask=reference_mask,
                                             device="cuda"),
                                    transfer(image, reference, mask=mask, reference_mask=reference_mask))


def test_lower_bound_is_numpy_left_searchsorted(rng):
    keys = np.sort(rng.random((2, 9)).astype(np.float32), axis=1)
    keys[1, 4:] = np.inf  # padded rows, as the float32 histogram tables are
    probes = np.concatenate([keys[0], keys[1, :4], rng.random(20).astype(np.float32), [0, 1]])
    for c in range(2):
        for value in probes.astype(np.float32):
            assert colour._lower_bound(keys, c, value) == np.searchsorted(keys[c], value)


# --- histogram matching ---------------------------------------------------------------------


@pytest.mark.parametrize("dtype", DTYPES)
def test_histograms_identical_to_skimage(rng, device, dtype):
    for _ in range(4 if device == "cpu" else 2):
        height, width = random_size(rng, device, largest=60)
        image = random_image(rng, height, width, 3, dtype)
        reference = smooth_image(rng, *random_size(rng, device, largest=60), dtype)
        if np.dtype(dtype).kind == "u" and rng.random() < 0.5:
            image //= rng.integers(2, 50).astype(dtype)  # few levels: many equal values
        expected = skimage_match_histograms(image, reference, channel_axis=-1)
        assert expected.dtype == image.dtype
        np.testing.assert_array_equal(match_histograms(image, reference, device=device),
                                      expected)


def test_histograms_identical_to_skimage_on_a_large_uint8_image(rng):
    """Enough rows for every thread's band of the level counts, and smooth content, whose
    neighbours repeat levels."""
    image = smooth_image(rng, 301, 257, np.uint8)
    reference = random_image(rng, 190, 230, 3, np.uint8)
    np.testing.assert_array_equal(match_histograms(image, reference),
                                  skimage_match_histograms(image, reference, channel_axis=-1))


@pytest.mark.parametrize("dtype", [np.uint8, np.float32])
def test_histograms_monotonic_and_reproduce_reference(rng, dtype):
    count = 200
    if dtype == np.uint8:
        image = np.stack([rng.permutation(256)[:count] for _ in range(3)], -1).astype(dtype)
        reference = np.stack([rng.permutation(256)[:count] for _ in range(3)], -1).astype(dtype)
    else:
        # Distinct float32 values: 200 draws from 2^24 exact multiples of 2^-24.
        image = np.stack([rng.choice(2 ** 24, count, replace=False) for _ in range(3)], -1)
        reference = np.stack([rng.choice(2 ** 24, count, replace=False) for _ in range(3)], -1)
        image, reference = (image / 2 ** 24).astype(dtype), (reference / 2 ** 24).astype(dtype)
    image, reference = image.reshape(8, 25, 3), reference.reshape(20, 10, 3)
    out = match_histograms(image, reference)
    for c in range(3):
        order = np.argsort(image[..., c], axis=None)
        assert np.all(np.diff(out[..., c].ravel()[order].astype(np.float64)) > 0)
        np.testing.assert_array_equal(np.sort(out[..., c], axis=None),
                                      np.sort(reference[..., c], axis=None))


# --- masks -------------------------------------------------------------------------------------


@pytest.mark.parametrize("transfer", TRANSFERS)
@pytest.mark.parametrize("dtype", DTYPES)
def test_outside_mask_is_untouched(rng, device, transfer, dtype):
    height, width = (31, 19) if device == "cpu" else (11, 13)
    image = random_image(rng, height, width, 3, dtype)
    reference = smooth_image(rng, 12, 40, dtype)
    mask = random_mask(rng, height, width)
    out = transfer(image, reference, mask=mask, device=device)
    np.testing.assert_array_equal(out[~mask], image[~mask])
    assert not np.array_equal(out[mask], image[mask])


@pytest.mark.parametrize("transfer", TRANSFERS)
@pytest.mark.parametrize("dtype", DTYPES)
def test_no_mask_equals_a_full_mask(rng, transfer, dtype):
    """Without masks the kernels take a shortcut (no region to allocate or read)."""
    image = smooth_image(rng, 23, 150, dtype)
    reference = smooth_image(rng, 17, 9, dtype)
    np.testing.assert_array_equal(transfer(image, reference),
                                  transfer(image, reference, mask=np.ones((23, 150), bool),
                                           reference_mask=np.ones((17, 9), bool)))


@pytest.mark.parametrize("transfer", TRANSFERS)
@pytest.mark.parametrize("dtype", DTYPES)
def test_statistics_come_only_from_the_regions(rng, transfer, dtype):
    image = smooth_image(rng, 29, 23, dtype)
    reference = smooth_image(rng, 17, 35, dtype)
    mask, reference_mask = random_mask(rng, 29, 23), random_mask(rng, 17, 35)
    wild = np.array([top_of(dtype), 0, top_of(dtype)], dtype)
    reference[~reference_mask] = wild
    image[~mask] = wild
    out = transfer(image, reference, mask=mask, reference_mask=reference_mask)
    # The same pixels, with nothing around them.
    alone = transfer(image[mask][None], reference[reference_mask][None])
    if transfer is reinhard:
        # Its statistics are summed row by row, so another layout adds them in another order.
        assert_close(out[mask], alone[0])
    else:
        np.testing.assert_array_equal(out[mask], alone[0])


@pytest.mark.parametrize("transfer", TRANSFERS)
def test_mask_encodings_agree(rng, transfer):
    image = random_image(rng, 15, 22, 3, np.uint8)
    reference = random_image(rng, 11, 9, 3, np.uint8)
    binary = random_mask(rng, 15, 22)
    expected = transfer(image, reference, mask=binary)
    as_uint8 = np.where(binary, rng.integers(128, 256, binary.shape), rng.integers(0, 128, binary.shape))
    as_float = np.where(binary, 0.75, 0.25).astype(np.float32)
    np.testing.assert_array_equal(transfer(image, reference, mask=as_uint8.astype(np.uint8)), expected)
    np.testing.assert_array_equal(transfer(image, reference, mask=as_float), expected)


@pytest.mark.parametrize("transfer", TRANSFERS)
def test_empty_mask_returns_the_image(rng, transfer):
    image = random_image(rng, 6, 7, 3, np.uint16)
    out = transfer(image, random_image(rng, 4, 4, 3, np.uint16), mask=np.zeros((6, 7), bool))
    np.testing.assert_array_equal(out, image)
    assert out is not image


@pytest.mark.parametrize("transfer", TRANSFERS)
def test_non_contiguous_input(rng, transfer):
    image = random_image(rng, 20, 30, 3, np.float32)
    reference = random_image(rng, 20, 30, 3, np.float32)
    view = image[::2, ::-1]
    np.testing.assert_array_equal(transfer(view, reference[1::2]),
                                  transfer(view.copy(), reference[1::2].copy()))


# --- properties of each transfer ---------------------------------------------------------------


def test_reinhard_matches_lab_statistics(rng):
    # Narrow ranges: no random draw can push the result to the gamut's edge.
    image = smooth_image(rng, 48, 37, np.float32, 0.35, 0.65)
    reference = smooth_image(rng, 41, 53, np.float32, 0.4, 0.55)
    reference[..., 0] += 0.1  # a warm cast, still inside the gamut
    mask, reference_mask = random_mask(rng, 48, 37), random_mask(rng, 41, 53)
    out = reinhard(image, reference, mask=mask, reference_mask=reference_mask)
    assert 0 < out.min() and out.max() < 1  # nothing clipped
    got, want = srgb_to_lab(out[mask]), srgb_to_lab(reference[reference_mask])
    np.testing.assert_allclose(got.mean(axis=0), want.mean(axis=0), atol=1e-2)
    np.testing.assert_allclose(got.std(axis=0), want.std(axis=0), atol=1e-2)


@pytest.mark.parametrize("transfer", [reinhard, mkl])
def test_flat_target_moves_to_reference_mean(rng, transfer):
    image = np.full((5, 4, 3), [0.2, 0.5, 0.4], np.float32)
    reference = smooth_image(rng, 9, 9, np.float32, 0.3, 0.6)
    out = transfer(image, reference)
    assert np.ptp(out, axis=(0, 1)).max() == 0  # std 0: the mean shifts only
    if transfer is reinhard:
        mean = srgb_to_lab(reference.reshape(-1, 3)).mean(axis=0)
        np.testing.assert_allclose(srgb_to_lab(out[0, 0]), mean, atol=1e-3)
    else:
        np.testing.assert_allclose(out[0, 0], reference.reshape(-1, 3).mean(axis=0), atol=1e-6)


def jpeg_sky(rng, height, width, quality):
    """A nearly flat sky (a gradient of 10 levels, a level of noise), JPEG-compressed at
    ``quality``: a std of a level or two, much of it 8 x 8 block noise."""
    rows, columns = np.linspace(0, 10, height)[:, None, None], np.linspace(0, 5, width)[:, None]
    sky = (np.array([110.0, 150.0, 205.0]) + rows + columns
           + rng.normal(0, 1.0, (height, width, 3)))
    buffer = io.BytesIO()
    Image.fromarray(np.clip(np.rint(sky), 0, 255).astype(np.uint8)).save(
        buffer, "JPEG", quality=quality)
    return np.asarray(Image.open(buffer).convert("RGB"))


def block_edge_energy(image):
    """Mean absolute difference between neighbours across 8-pixel block boundaries (both
    directions, all channels): what makes JPEG blocks visible."""
    pixels = image.astype(np.float64)
    across_columns = np.abs(pixels[:, 8::8] - pixels[:, 7:-1:8])
    across_rows = np.abs(pixels[8::8] - pixels[7:-1:8])
    return (across_columns.sum() + across_rows.sum()) / (across_columns.size + across_rows.size)


def unbounded_reinhard(image, reference):
    """Reinhard's rule without the spread bound (float64): the positive control."""
    lab, reference_lab = srgb_to_lab(unit(image)), srgb_to_lab(unit(reference))
    t, r = lab.reshape(-1, 3), reference_lab.reshape(-1, 3)
    moved = (lab - t.mean(axis=0)) * r.std(axis=0) / t.std(axis=0) + r.mean(axis=0)
    return stored(lab_to_srgb(moved), image, np.ones(image.shape[:2], bool))


@pytest.mark.parametrize("transfer", [reinhard, mkl])
@pytest.mark.parametrize("quality", [20, 50])
def test_a_flat_jpeg_region_does_not_gain_visible_blocks(rng, transfer, quality):
    """A flat sky matched to a busy reference moves to its colour, but the steps across its
    block edges grow by at most half, where the unbounded rule makes them several times larger
    (checked by hand: with the old rule this test fails, at 5-20x)."""
    sky = jpeg_sky(rng, 64 + int(rng.integers(0, 8)), 96 + int(rng.integers(0, 8)), quality)
    reference = smooth_image(rng, 50, 70, np.uint8)  # every channel spans 0..255
    before = block_edge_energy(sky)
    assert 0 < before < 2  # there are blocks to amplify, and the region is nearly flat
    out = transfer(sky, reference)
    assert block_edge_energy(out) <= 1.5 * before
    # The colour moved all the same: the mean is the reference's (in Lab for Reinhard, in
    # the encoded RGB for MKL), to within rounding.
    space = srgb_to_lab if transfer is reinhard else (lambda rgb: rgb)
    np.testing.assert_allclose(space(unit(out)).reshape(-1, 3).mean(axis=0),
                               space(unit(reference)).reshape(-1, 3).mean(axis=0),
                               atol=0.5 if transfer is reinhard else 2 / 255)
    # The metric sees the amplification it guards against.
    assert block_edge_energy(unbounded_reinhard(sky, reference)) > 3 * before


# --- the fine-detail limit (what match_colour applies after any transfer) -------------------


def block_excess(image):
    """How much larger the steps between neighbours are across 8-pixel block boundaries than
    across the middle of blocks: the blocks' own visibility, without the steps that a smooth
    gradient makes everywhere alike."""
    pixels = image.astype(np.float64)
    def steps(offset):
        return (np.abs(pixels[:, offset + 1::8] - pixels[:, offset:-1:8]).mean()
                + np.abs(pixels[offset + 1::8] - pixels[offset:-1:8]).mean()) / 2
    return steps(7) - steps(3)


@pytest.mark.parametrize("transfer", [reinhard, match_histograms])
def test_a_whole_image_transfer_keeps_a_jpeg_sky_from_gaining_blocks(rng, transfer):
    """A flat sky beside a busy half: the whole image's spread is large, so the spread bound
    lets the transfer stretch the sky's block steps (the positive control: more than 1.5x
    towards a reference of uniform noise); the fine-detail limit keeps them within
    1.25x while the sky still moves with the transfer."""
    height, sky_width = 64, 96  # whole 8 x 8 blocks
    sky = jpeg_sky(rng, height, sky_width, quality=30)
    busy = smooth_image(rng, height, 80, np.uint8, 0.4, 0.6)
    image = np.ascontiguousarray(np.concatenate([sky, busy], axis=1))
    # uniform noise: far more spread than the image's in every Lab channel, whatever the
    # draw (a smooth random reference sometimes narrows a chroma channel instead)
    reference = rng.integers(0, 256, (50, 70, 3)).astype(np.uint8)
    inside = (slice(None), slice(0, sky_width - 16))  # away from the blurred seam
    before = block_excess(image[inside])
    assert before > 0.2  # there are blocks
    stretched = transfer(image, reference)
    assert block_excess(stretched[inside]) > 1.5 * before
    limited = limit_fine_detail(stretched, image)
    assert block_excess(limited[inside]) <= 1.25 * before
    np.testing.assert_allclose(limited[inside].reshape(-1, 3).mean(axis=0),
                               stretched[inside].reshape(-1, 3).mean(axis=0), atol=1.0)


@pytest.mark.parametrize("dtype", DTYPES)
def test_fine_detail_that_a_transfer_shrinks_or_keeps_is_left_alone(rng, dtype):
    """The limit only binds where the graded detail is stronger than the original's: an
    unchanged image comes back as it was, and one pulled halfway to its mean (all detail
    halved) as graded, to within rounding."""
    height, width = random_size(rng, 20, 60)
    image = smooth_image(rng, height, width, dtype, 0.1, 0.9)
    tolerance = 1 if np.dtype(dtype).kind == "u" else 1e-5
    np.testing.assert_allclose(limit_fine_detail(image, image).astype(np.float64),
                               image.astype(np.float64), atol=tolerance, rtol=0)
    halved = image.astype(np.float64)
    halved = 0.5 * (halved - halved.mean(axis=(0, 1))) + halved.mean(axis=(0, 1))
    halved = (np.rint(halved) if np.dtype(dtype).kind == "u" else halved).astype(dtype)
    np.testing.assert_allclose(limit_fine_detail(halved, image).astype(np.float64),
                               halved.astype(np.float64), atol=tolerance, rtol=0)


def test_fine_detail_limit_on_cuda_matches_the_cpu(rng, device):
    image = random_image(rng, 13, 11, 3, np.uint8)
    graded = np.clip(image.astype(np.int16) * 2 - 128, 0, 255).astype(np.uint8)
    on_cpu = limit_fine_detail(graded, image)
    assert_cuda_matches_cpu(limit_fine_detail(graded, image, device=device), on_cpu)


def test_fine_detail_limit_refuses_images_that_do_not_match():
    with pytest.raises(ValueError, match="one shape and dtype"):
        limit_fine_detail(np.zeros((4, 5, 3), np.uint8), np.zeros((4, 6, 3), np.uint8))
    with pytest.raises(ValueError, match="one shape and dtype"):
        limit_fine_detail(np.zeros((4, 5, 3), np.uint8), np.zeros((4, 5, 3), np.uint16))


def test_mkl_maps_mean_and_covariance(rng):
    """Exactly, where the spread bound does not apply: the target has spread in every
    direction (its channels are not mixed), at least three noise floors, so that no gain up to
    3x is limited, and the reference's (mixed) is no larger than the target's."""
    image = smooth_image(rng, 50, 40, np.float32, 0.2, 0.8, mixed=False)
    assert np.linalg.eigvalsh(np.cov(image.reshape(-1, 3), rowvar=False)).min() > (
        3 * RGB_NOISE_FLOOR) ** 2
    reference = smooth_image(rng, 45, 45, np.float32, 0.4, 0.6)
    out = mkl(image, reference).reshape(-1, 3).astype(np.float64)
    assert 0 < out.min() and out.max() < 1  # nothing clipped
    wanted = reference.reshape(-1, 3).astype(np.float64)
    np.testing.assert_allclose(out.mean(axis=0), wanted.mean(axis=0), atol=1e-6)
    np.testing.assert_allclose(np.cov(out, rowvar=False, bias=True),
                               np.cov(wanted, rowvar=False, bias=True), atol=1e-6)


# --- bad input ---------------------------------------------------------------------------------


@pytest.mark.parametrize("transfer", TRANSFERS)
def test_bad_input(transfer):
    image = np.zeros((4, 5, 3), np.uint8)
    with pytest.raises(ValueError, match="device must be cpu, cuda or cuda:N"):
        transfer(image, image, device="tpu")
    with pytest.raises(ValueError, match=r"mask must be H x W \(4, 5\)"):
        transfer(image, image, mask=np.ones((5, 4), bool))
    with pytest.raises(ValueError, match=r"reference_mask must be H x W \(4, 5\)"):
        transfer(image, image, mask=None, reference_mask=np.ones((4, 5, 1), bool))
    with pytest.raises(ValueError, match=r"image must be H x W x 3"):
        transfer(image[..., 0], image)
    with pytest.raises(ValueError, match=r"image must be H x W x 3"):
        transfer(np.zeros((4, 5, 4), np.uint8), image)
    with pytest.raises(ValueError, match=r"reference must be H x W x 3"):
        transfer(image, image[..., 0])
    with pytest.raises(ValueError, match="unsupported image type float64"):
        transfer(image.astype(np.float64), image)
    with pytest.raises(ValueError, match="unsupported reference type int16"):
        transfer(image, image.astype(np.int16))
    with pytest.raises(ValueError, match="unsupported mask type int32"):
        transfer(image, image, mask=np.ones((4, 5), np.int32))
    with pytest.raises(ValueError, match="reference_mask selects no pixel"):
        transfer(image, image, mask=None, reference_mask=np.zeros((4, 5), bool))
    with pytest.raises(ValueError, match="reference has no pixel"):
        transfer(image, image[:0])


def test_histograms_need_one_dtype():
    image = np.zeros((4, 5, 3), np.uint8)
    with pytest.raises(ValueError, match="must share a dtype"):
        match_histograms(image, image.astype(np.uint16))
