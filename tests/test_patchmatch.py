"""PatchMatch hole filling (burnish.kernels.patchmatch) on fresh random images and holes: pixels
outside the hole bit for bit, holes at every border and corner, several holes at once, a
periodic texture continued exactly, texture kept in noise, the same bytes for a seed and for
any thread count, progress, and the arguments it refuses.

Images stay small (tens of pixels a side): the whole file runs in a few seconds once the
kernels are compiled (they are cached on disk).
"""

from __future__ import annotations

import numba
import numpy as np
import pytest
from scipy import ndimage

from burnish.kernels.patchmatch import TEXTURE_WEIGHT, patchmatch_inpaint
from burnish.kernels.threads import set_thread_count, thread_count

from conftest import boxes_or_blob

# --- inputs ---------------------------------------------------------------------------------


def noise(rng, height, width, channels):
    return rng.random((height, width, channels), dtype=np.float32)


def random_hole(rng, height, width, patch_size=7):
    """Random boxes or a random blob, never empty, always leaving a whole ``patch_size`` patch
    outside it (a corner block is kept clear; the pixel in the opposite corner is a hole when
    nothing else is)."""
    hole = boxes_or_blob(rng, height, width)
    corner = int(rng.integers(4))
    rows = slice(0, patch_size) if corner < 2 else slice(height - patch_size, height)
    cols = slice(0, patch_size) if corner % 2 == 0 else slice(width - patch_size, width)
    hole[rows, cols] = False
    if not hole.any():
        hole[-1 if corner < 2 else 0, -1 if corner % 2 == 0 else 0] = True
    return hole


def tiled(rng, height, width, channels, tile_shape=(6, 5)):
    """A random tile repeated over ``height x width``: a perfectly periodic texture."""
    tile = rng.random(tile_shape + (channels,), dtype=np.float32)
    reps = (height // tile_shape[0] + 1, width // tile_shape[1] + 1, 1)
    return np.ascontiguousarray(np.tile(tile, reps)[:height, :width])


def centred_box(height, width, box_height, box_width, top=None, left=None):
    hole = np.zeros((height, width), bool)
    top = (height - box_height) // 2 if top is None else top
    left = (width - box_width) // 2 if left is None else left
    hole[top: top + box_height, left: left + box_width] = True
    return hole


def assert_filled(out, image, hole):
    """Outside the hole bit for bit; inside finite, in [0, 1]."""
    assert out.shape == image.shape and out.dtype == np.float32
    assert out[~hole].tobytes() == image[~hole].tobytes(), "a pixel outside the hole changed"
    inside = out[hole]
    assert np.isfinite(inside).all(), "a hole pixel is not finite"
    assert inside.min() >= 0.0 and inside.max() <= 1.0


# --- the contract ---------------------------------------------------------------------------


@pytest.mark.parametrize("channels", [1, 3])
def test_outside_the_hole_is_bit_identical(rng, channels):
    for _ in range(4):
        height, width = (int(v) for v in rng.integers(20, 91, size=2))
        patch_size = int(rng.choice([3, 5, 7]))
        image = noise(rng, height, width, channels)
        hole = random_hole(rng, height, width, patch_size)
        before = image.copy()
        out = patchmatch_inpaint(image, hole, patch_size=patch_size,
                                 seed=int(rng.integers(2**31)))
        assert_filled(out, image, hole)
        assert np.array_equal(image, before), "the input was modified"


def test_empty_hole_returns_an_equal_copy(rng):
    image = noise(rng, 23, 31, 3)
    out = patchmatch_inpaint(image, np.zeros((23, 31), bool))
    assert out is not image and not np.shares_memory(out, image)
    assert out.dtype == np.float32 and out.tobytes() == image.tobytes()


def test_hole_may_be_given_as_uint8_or_float32(rng):
    image = noise(rng, 30, 34, 3)
    hole = random_hole(rng, 30, 34)
    expected = patchmatch_inpaint(image, hole, seed=5)
    as_uint8 = patchmatch_inpaint(image, np.where(hole, 255, 0).astype(np.uint8), seed=5)
    as_float = patchmatch_inpaint(image, hole.astype(np.float32), seed=5)
    assert as_uint8.tobytes() == expected.tobytes()
    assert as_float.tobytes() == expected.tobytes()


def test_non_contiguous_image_gives_the_same_result(rng):
    wide = noise(rng, 33, 2 * 41, 3)
    image = wide[:, ::2]
    assert not image.flags.c_contiguous
    hole = random_hole(rng, 33, 41)
    out = patchmatch_inpaint(image, hole, seed=2)
    assert out.tobytes() == patchmatch_inpaint(np.ascontiguousarray(image), hole,
                                               seed=2).tobytes()


# Boxes touching each border and each corner: (rows, cols) of a 48 x 56 image.
EDGE_HOLES = {
    "top": (slice(0, 9), slice(20, 32)),
    "bottom": (slice(39, 48), slice(18, 30)),
    "left": (slice(15, 27), slice(0, 8)),
    "right": (slice(22, 34), slice(47, 56)),
    "top-left": (slice(0, 10), slice(0, 12)),
    "top-right": (slice(0, 11), slice(45, 56)),
    "bottom-left": (slice(37, 48), slice(0, 10)),
    "bottom-right": (slice(36, 48), slice(44, 56)),
}


@pytest.mark.parametrize("sentinel", [np.nan, 5.0])
@pytest.mark.parametrize("where", list(EDGE_HOLES))
def test_hole_touching_a_border_or_corner_fills(rng, where, sentinel):
    """The hole's own pixels are never read: a NaN (or out-of-range 5.0) planted there must
    not reach the output."""
    channels = int(rng.choice([1, 3]))
    image = noise(rng, 48, 56, channels)
    hole = np.zeros((48, 56), bool)
    hole[EDGE_HOLES[where]] = True
    image[hole] = sentinel
    out = patchmatch_inpaint(image, hole, seed=int(rng.integers(2**31)))
    assert_filled(out, image, hole)


def test_several_disjoint_holes_are_all_filled(rng):
    image = noise(rng, 60, 72, 3)
    hole = np.zeros((60, 72), bool)
    boxes = [(slice(4, 12), slice(5, 14)), (slice(30, 41), slice(8, 15)),
             (slice(10, 17), slice(50, 66)), (slice(45, 56), slice(40, 52))]
    for rows, cols in boxes:
        hole[rows, cols] = True
    hole[25, 35] = True  # a one-pixel hole
    image[hole] = 5.0
    out = patchmatch_inpaint(image, hole, patch_size=5, seed=int(rng.integers(2**31)))
    assert_filled(out, image, hole)
    labels, count = ndimage.label(hole)
    assert count == 5
    for label in range(1, count + 1):
        assert (out[labels == label] <= 1.0).all(), f"hole {label} was not filled"


def periodic_fills(rng, patch_size, largest_hole, texture_weight):
    """Three fills of a random tile repeated, with a hole of random size and place: (the
    image, the fill, the hole, what to report on failure) each."""
    for _ in range(3):
        tile_shape = tuple(int(v) for v in rng.integers(4, 8, size=2))
        image = tiled(rng, 64, 80, 3, tile_shape)
        box_height, box_width = (int(v) for v in rng.integers(6, largest_hole + 1, size=2))
        top = int(rng.integers(8, 64 - 8 - box_height + 1))
        left = int(rng.integers(8, 80 - 8 - box_width + 1))
        hole = centred_box(64, 80, box_height, box_width, top, left)
        filled = image.copy()
        filled[hole] = 0.0
        out = patchmatch_inpaint(filled, hole, patch_size=patch_size,
                                 texture_weight=texture_weight, seed=int(rng.integers(2**31)))
        yield image, out, hole, (f"tile {tile_shape}, hole {box_height}x{box_width} "
                                 f"at ({top}, {left})")


PERIODIC_HOLES = [(5, 12), (7, 24), (9, 28)]


@pytest.mark.parametrize("patch_size, largest_hole", PERIODIC_HOLES)
def test_periodic_texture_is_continued_exactly(rng, patch_size, largest_hole):
    """A random tile repeated: the only fill consistent with every patch around the hole is
    the original, which PatchMatch on colour finds (a smooth fill such as Telea's cannot).
    Holes up to these sizes filled exactly on 750 seeds each (6,750 fills); see the xfail
    test below for larger ones."""
    for image, out, _, where in periodic_fills(rng, patch_size, largest_hole, 0.0):
        np.testing.assert_allclose(out, image, rtol=0, atol=1e-6, err_msg=where)


@pytest.mark.parametrize("patch_size, largest_hole", PERIODIC_HOLES)
def test_texture_features_still_continue_a_periodic_texture(rng, patch_size, largest_hole):
    """With the default texture features the search is not always exact: on 3 seeds in 750
    a few pixels deep in the hole kept a wrong source (one whose patch matched several times
    worse than the exact copy, which the random search never tried), and the blend spread
    their error over the hole (median error 0.015-0.018, mean 0.036-0.076). A smooth fill
    is off by about 0.25 at the median (uniform random values against their mean)."""
    for image, out, hole, where in periodic_fills(rng, patch_size, largest_hole,
                                                 TEXTURE_WEIGHT):
        error = np.abs(out - image)[hole]
        assert np.median(error) < 0.05, f"{where}: median error {np.median(error):.3f}"


@pytest.mark.xfail(strict=True, reason=(
    "KNOWN WEAKNESS (kept for photos, see BENCHMARKS.md): a periodic texture is not continued once the hole is more than a few patches "
    "across. _pyramid stops halving when the hole's inradius is <= COARSEST_HOLE_PATCHES (4) "
    "* patch_size, so the coarsest level can hold a hole ~8 patches wide, which EM cannot lay "
    "out from the onion-peel average: 6% (patch 7, 44x50 hole), 31% (patch 3, 16x20) and 4% "
    "(patch 5, 28x36) of the hole pixels come out wrong; with COARSEST_HOLE_PATCHES = 1 all "
    "three are exact."))
@pytest.mark.parametrize("patch_size, size, box", [
    (7, (96, 100), (44, 50)), (3, (64, 80), (16, 20)), (5, (64, 80), (28, 36))])
def test_periodic_texture_is_continued_exactly_in_a_larger_hole(patch_size, size, box):
    # Fixed input (the result depends only on the seed), so that the xfail is deterministic.
    image = tiled(np.random.default_rng(0), *size, 3)
    hole = centred_box(*size, *box)
    out = patchmatch_inpaint(image, hole, patch_size=patch_size, seed=0)
    np.testing.assert_allclose(out, image, rtol=0, atol=1e-6)


def test_noise_keeps_its_energy(rng):
    """A smear (an average of many sources) would have a far smaller spread than the noise it
    fills; PatchMatch copies real pixels."""
    for channels in (1, 3):
        image = noise(rng, 52, 60, channels)
        top, left = int(rng.integers(0, 33)), int(rng.integers(0, 41))
        hole = centred_box(52, 60, 20, 20, top, left)
        out = patchmatch_inpaint(image, hole, seed=int(rng.integers(2**31)))
        assert out[hole].std() >= 0.7 * image[~hole].std()


def largest_steps(image, hole):
    """The largest step between 4-neighbours (mean over channels) among the pairs touching
    the hole, and among the others."""
    plane = image.mean(axis=2)
    across = np.abs(np.diff(plane, axis=1)), hole[:, 1:] | hole[:, :-1]
    down = np.abs(np.diff(plane, axis=0)), hole[1:] | hole[:-1]
    inside = max(step[touch].max() for step, touch in (across, down))
    outside = max(step[~touch].max() for step, touch in (across, down))
    return inside, outside


def test_no_copied_block_ends_in_a_seam(rng):
    """On a ramp with fine texture every copied patch comes from another level of the ramp:
    pasted as it was, its edge against its neighbour (or the rim) is a step larger than any
    step in the image (1.7-2.9x the largest, measured before the gradient-domain blend). The
    blend keeps the copies' own steps and spreads the level mismatch over the hole, so no step
    in the fill exceeds what the image has by more than that gentle added slope (30% allows
    for it: 1 draw in 30 came within 5% of the image's largest step, and the unblended fills
    were at 2.0-2.6x on this test)."""
    from scipy import ndimage

    height, width = 80, 120
    texture = ndimage.gaussian_filter(rng.random((height, width)), 1.0)
    texture = (texture - texture.mean()) / texture.std()
    yy, xx = np.mgrid[:height, :width]
    plane = 0.2 + 0.5 * xx / width + 0.2 * yy / height + 0.01 * texture
    image = np.ascontiguousarray(np.repeat(plane.astype(np.float32)[..., None], 3, axis=2))
    hole = centred_box(height, width, 30, 40)
    out = patchmatch_inpaint(image, hole, seed=int(rng.integers(2**31)))
    inside, outside = largest_steps(out, hole)
    assert inside <= 1.3 * outside, f"a step of {inside:.4f} in the fill, {outside:.4f} at most outside"


def test_a_seam_between_sources_without_that_neighbour_is_guided_by_their_other_sides(rng):
    """A block copied from the image's top row meeting one copied from just above the hole:
    neither source has the neighbour across the seam (one is off the image, one in the hole).
    A fill's own step steeper than every step near the sources is a jump between the blocks'
    levels, which the blend would keep as a seam: the guidance is the step each source had on
    its other side. A step no steeper than the texture has there is kept (on a repeating
    texture it is the true one)."""
    from burnish.kernels.patchmatch import _copied_gradients

    height, width = 10, 5
    image = 0.4 + 0.2 * rng.random((height, width, 2), dtype=np.float32)  # steps below 0.2
    hole = np.zeros((height, width), bool)
    hole[3:7] = True
    sources = np.zeros((height, width, 2), np.int32)
    sources[..., 0], sources[..., 1] = 8, np.arange(width)  # below the hole: every step there
    sources[4, 2] = (2, 2)  # its neighbour below, (3, 2), is in the hole
    sources[5, 2] = (0, 2)  # its neighbour above is off the image

    def guidance(fill_step):
        image[4, 2], image[5, 2] = 0.5, 0.5 + fill_step
        gx, gy = np.zeros_like(image), np.zeros_like(image)
        _copied_gradients(image, hole, sources, gx, gy, 0, height)
        return gx, gy

    gx, gy = guidance(np.float32([0.45, -0.4]))  # a seam in both channels
    other_sides = ((image[2, 2] - image[1, 2]) + (image[1, 2] - image[0, 2])) / 2
    np.testing.assert_allclose(gy[4, 2], other_sides, rtol=1e-6)
    # a step inside the range of the steps around: the fill's own
    known = ~hole
    near_steps = np.abs(np.diff(image, axis=0))[known[:-1] & known[1:]]
    within = (0.9 * near_steps.reshape(-1, 2).max(axis=0) * np.float32([1, -1]))
    _, gy_within = guidance(within.astype(np.float32))
    np.testing.assert_allclose(gy_within[4, 2], image[5, 2] - image[4, 2], rtol=1e-6)
    # where the sources have it, their steps towards the neighbour, as before
    np.testing.assert_allclose(gy[3, 2], ((image[9, 2] - image[8, 2])
                                          + (image[2, 2] - image[1, 2])) / 2, rtol=1e-6)
    np.testing.assert_allclose(gy[5, 2], ((image[1, 2] - image[0, 2])
                                          + (image[8, 2] - image[7, 2])) / 2, rtol=1e-6)


def test_texture_features_match_a_scipy_reference(rng):
    """Mean absolute step over each patch, known pixel pairs only (SciPy's box filter, zeros
    outside the image: the ratio of two such means is the clipped window's)."""
    from burnish.kernels.patchmatch import _texture_features

    height, width, radius = int(rng.integers(20, 40)), int(rng.integers(20, 40)), 3
    image = noise(rng, height, width, 3)
    hole = random_hole(rng, height, width)
    image[hole] = np.nan  # what lies under the hole must not count
    grey = np.where(hole, 0, image.mean(axis=2, dtype=np.float64))
    size = 2 * radius + 1
    for channel, axis in enumerate((1, 0)):
        first = [slice(None), slice(None)]
        second = [slice(None), slice(None)]
        first[axis], second[axis] = slice(None, -1), slice(1, None)
        pair = np.zeros((height, width))
        step = np.zeros((height, width))
        pair[tuple(first)] = ~hole[tuple(first)] & ~hole[tuple(second)]
        step[tuple(first)] = np.abs(grey[tuple(second)] - grey[tuple(first)]) * pair[tuple(first)]
        count = ndimage.uniform_filter(pair, size, mode="constant")
        total = ndimage.uniform_filter(step, size, mode="constant")
        expected = np.where(count > 1e-9, total / np.maximum(count, 1e-12), 0)
        got = _texture_features(image, hole, radius)[..., channel]
        np.testing.assert_allclose(got, expected, atol=1e-5)


def test_texture_features_fill_a_busy_hole_with_texture(rng):
    """Half the image flat at the noise's mean, the hole inside the noisy half: on colour
    alone the voted estimate (smooth, near the mean) matches the flat side best and the
    fill came out flat (std about a fifth of the noise's); with the default texture weight
    it is about as busy as the noise around it."""
    height, width = 96, 128
    image = np.full((height, width, 1), 0.5, np.float32)
    image[:, 48:, 0] = rng.uniform(0.3, 0.7, (height, width - 48))
    hole = centred_box(height, width, 36, 36, left=70)
    seed = int(rng.integers(2**31))
    around = image[:, 48:][~hole[:, 48:]].std()
    textured = patchmatch_inpaint(image, hole, seed=seed)
    assert_filled(textured, image, hole)
    assert 0.6 * around <= textured[hole].std() <= 1.4 * around
    flat = patchmatch_inpaint(image, hole, seed=seed, texture_weight=0.0)
    assert flat[hole].std() < 0.5 * around


# --- reproducibility ------------------------------------------------------------------------


def test_same_seed_same_bytes_and_another_seed_differs(rng):
    image = noise(rng, 44, 52, 3)
    box_height, box_width = (int(v) for v in rng.integers(12, 21, size=2))
    hole = centred_box(44, 52, box_height, box_width, int(rng.integers(0, 44 - box_height)),
                       int(rng.integers(0, 52 - box_width)))
    seed = int(rng.integers(2**31))
    first = patchmatch_inpaint(image, hole, seed=seed)
    assert patchmatch_inpaint(image, hole, seed=seed).tobytes() == first.tobytes()
    # On noise no two sources are alike, so another random search ends elsewhere somewhere in
    # a hole this large. (A small hole can end at the same best field for two seeds, and a hole
    # leaving a single source patch fills alike for every seed.)
    assert patchmatch_inpaint(image, hole, seed=seed + 1).tobytes() != first.tobytes()


def test_result_does_not_depend_on_the_thread_count(rng):
    """Two pyramid levels (patch 3, a hole of inradius 15) and several strips per pass."""
    image = noise(rng, 72, 96, 3)
    top, left = (int(v) for v in rng.integers(0, 30, size=2))
    hole = centred_box(72, 96, 30 + int(rng.integers(0, 8)), 60, top + 4, left + 4)
    seed = int(rng.integers(2**31))
    levels = []
    saved = thread_count()
    try:
        set_thread_count(1)
        one = patchmatch_inpaint(image, hole, patch_size=3, seed=seed,
                                 progress=lambda done, total: levels.append(total))
        set_thread_count(numba.config.NUMBA_NUM_THREADS)
        every = patchmatch_inpaint(image, hole, patch_size=3, seed=seed)
    finally:
        set_thread_count(saved)
    assert levels[-1] >= 2
    assert one.tobytes() == every.tobytes()


# --- patch sizes, progress, refusals --------------------------------------------------------


@pytest.mark.parametrize("patch_size", [3, 5, 9])
def test_other_patch_sizes_work(rng, patch_size):
    image = noise(rng, 41, 47, int(rng.choice([1, 3])))
    hole = random_hole(rng, 41, 47, patch_size)
    out = patchmatch_inpaint(image, hole, patch_size=patch_size, seed=int(rng.integers(2**31)))
    assert_filled(out, image, hole)


def test_progress_counts_the_levels_up_to_the_total(rng):
    image = noise(rng, 72, 80, 3)
    hole = centred_box(72, 80, 32, 36)  # inradius 16 > 4 * 3: two levels with patch 3
    calls = []
    patchmatch_inpaint(image, hole, patch_size=3, seed=1,
                       progress=lambda done, total: calls.append((done, total)))
    total = calls[-1][1]
    assert total >= 2
    assert calls == [(done, total) for done in range(1, total + 1)]


def test_progress_on_a_single_level(rng):
    calls = []
    patchmatch_inpaint(noise(rng, 30, 30, 1), centred_box(30, 30, 6, 6),
                       progress=lambda done, total: calls.append((done, total)))
    assert calls == [(1, 1)]


def assert_one_line_value_error(call, *words):
    with pytest.raises(ValueError) as error:
        call()
    message = str(error.value)
    assert "\n" not in message
    for word in words:
        assert word in message


@pytest.mark.parametrize("patch_size", [-3, 0, 1, 2, 4, 6, 8])
def test_bad_patch_size_is_refused(rng, patch_size):
    image = noise(rng, 30, 30, 3)
    assert_one_line_value_error(
        lambda: patchmatch_inpaint(image, centred_box(30, 30, 5, 5), patch_size=patch_size),
        str(patch_size))


def test_hole_leaving_no_whole_patch_is_refused(rng):
    image = noise(rng, 34, 38, 3)
    hole = np.ones((34, 38), bool)
    hole[:2] = hole[-2:] = hole[:, :2] = hole[:, -2:] = False  # a 2-px frame is left
    assert_one_line_value_error(lambda: patchmatch_inpaint(image, hole, patch_size=7), "7x7")
    assert_one_line_value_error(lambda: patchmatch_inpaint(image, np.ones((34, 38), bool)))
    # An image smaller than one patch has no patch outside any hole.
    assert_one_line_value_error(lambda: patchmatch_inpaint(
        noise(rng, 6, 20, 1), centred_box(6, 20, 2, 2), patch_size=7))


@pytest.mark.parametrize("weight", [-1.0, float("nan"), float("inf")])
def test_bad_texture_weight_is_refused(rng, weight):
    assert_one_line_value_error(lambda: patchmatch_inpaint(
        noise(rng, 30, 30, 3), centred_box(30, 30, 5, 5), texture_weight=weight), "texture")


@pytest.mark.parametrize("image", [
    np.zeros((20, 20, 3), np.float64),
    np.zeros((20, 20, 3), np.uint8),
    np.zeros((20, 20), np.float32),
    [[[0.0]] * 20] * 20,
], ids=["float64", "uint8", "2-D", "list"])
def test_image_that_is_not_float32_hwc_is_refused(image):
    assert_one_line_value_error(lambda: patchmatch_inpaint(image, centred_box(20, 20, 4, 4)))


def test_mismatched_hole_is_refused(rng):
    image = noise(rng, 20, 24, 3)
    assert_one_line_value_error(lambda: patchmatch_inpaint(image, centred_box(24, 20, 4, 4)))
    assert_one_line_value_error(lambda: patchmatch_inpaint(image, np.zeros((20, 24, 1), bool)))


def test_confidence_never_underflows_in_a_deep_hole():
    """Wexler's confidence 1.6^-depth is 0 in float32 past about 220 pixels deep; where
    every patch covering a pixel had confidence 0 (or its weight underflowed), the vote was
    0 / 0 and the fill NaN (seen on a 640 x 400 photo with a 70% hole). The confidence stops
    falling at CONFIDENCE_MAX_DISTANCE: positive everywhere, unchanged near the edge."""
    from burnish.kernels.patchmatch import CONFIDENCE_BASE, CONFIDENCE_MAX_DISTANCE, _Level

    image = np.zeros((640, 640, 3), np.float32)
    hole = np.zeros((640, 640), bool)
    hole[10:-10, 10:-10] = True  # 310 pixels deep at the centre
    confidence = _Level(image, hole, 3).confidence
    assert confidence[hole].min() > 0
    assert confidence[320, 320] == pytest.approx(CONFIDENCE_BASE ** -CONFIDENCE_MAX_DISTANCE,
                                                 rel=1e-5)
    assert confidence[12, 320] == pytest.approx(CONFIDENCE_BASE ** -3.0, rel=1e-6)
