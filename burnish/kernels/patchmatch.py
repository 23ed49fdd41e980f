"""Hole filling by PatchMatch: multi-scale, texture-preserving, no weights.

The method is Wexler, Shechtman and Irani's "Space-Time Completion of Video" (2007) with the
nearest-neighbour field found by Barnes et al.'s PatchMatch (2009), the combination that
Photoshop's Content-Aware Fill and PyPatchMatch use:

- A pyramid halves the image until the hole is a few patches across. On the coarsest level
  the hole starts as an onion-peel average of its rim.
- On each level, expectation-maximisation alternates two steps. *Matching*: every *target*
  patch (a patch that overlaps the hole) is given the most similar *source* patch (a patch
  wholly inside the image that contains no hole pixel), by PatchMatch's propagation (a
  neighbour's match shifted by one is a good guess) and random search (guesses at
  exponentially shrinking distances around the best so far). *Voting*: every hole pixel
  becomes the average of what the source patches of the target patches that cover it say it
  should be, each weighted by ``exp(-d / 2 sigma^2)`` with ``d`` the patch's mean squared
  difference and ``sigma^2`` the 75th percentile of ``d`` over the level (Wexler's rule),
  times Wexler's confidence ``1.6^-distance`` of the patch's centre from the known pixels, so
  that patches anchored by known pixels lead and the fill stays continuous with its rim.
  The finest level's last vote takes each pixel from its heaviest patch alone instead of the
  average, which would blur the texture.
- That leaves a mosaic of copied blocks, each with its own level and colour: where two meet,
  or a block meets the rim, the step is a seam, straight along the patch grid, and the
  finished fill looked edited. So the finest fill is re-solved in the gradient domain
  (:func:`~burnish.kernels.poisson.poisson_fill`, the rim held fixed): the guidance for each
  pair of neighbours is the step each end's *source* pixel had to the same neighbour (their
  mean where both ends are hole pixels). Inside a block copied whole that is the block's own
  step, so its texture is kept; at a seam it is what the sources had there, never the jump
  between them, and every level mismatch is spread smoothly over the hole (Darabi et al.'s
  "Image Melding", 2012, blends copied patches the same way). BENCHMARKS.md ("Object
  removal") has what it changed.
- The field is carried to the next finer level by doubling it; a vote through the doubled
  field gives the first guess there.

Distances are sums of squared differences over all channels of the patch, hole pixels
included with their current estimate, plus two *texture features* (Newson, Almansa, Fradet,
Gousseau and Pérez, "Video Inpainting of Complex Scenes", 2014): the mean absolute
horizontal and vertical step over the patch around each pixel, weighted by
``texture_weight`` and carried through the pyramid and the votes like extra channels. The
estimate is a vote of many copies, smoother than each of them, and on colour alone the
smoothest sources match it best, so the fill came out flatter than its surroundings; the
features make a source as busy as the texture around the hole win. Patches are clipped at
the image edge (a target patch at the border compares only its pixels inside the image), so
holes may touch the border.

Parallel and reproducible: a matching pass splits the targets' columns into a fixed number
of strips (a function of the hole's width, never of the thread count), and runs the strips in
parallel, each in scan order. Inside a strip propagation reads the current pass's results;
across a strip edge it reads the previous pass's field. Random guesses come from a counter-
based generator keyed by (seed, level, iteration, pixel). The result therefore depends on the
seed only: the same seed gives the same bytes on any number of cores.

CPU only: the propagation is a scan-order recursion inside each strip, and on a 2-core
machine the whole fill of a 1-megapixel image takes about a second; a CUDA version (jump
flooding in place of scan-order propagation) is not written yet. The blend's solver is serial
and in a fixed order, so it keeps the result independent of the thread count.
"""

from __future__ import annotations

import math
from collections.abc import Callable

import numpy as np
from numba import njit

from burnish.kernels.masks import binary_mask
from burnish.kernels.morphology import distance_transform
from burnish.kernels.poisson import poisson_fill
from burnish.kernels.threads import band_driver, parallel_for

# The coarsest level is reached when the hole's inradius is at most this many patch widths,
# or when halving again would leave fewer than MIN_LEVEL_SIDE pixels a side.
COARSEST_HOLE_PATCHES = 4.0
MIN_LEVEL_SIDE_PATCHES = 3
# Iterations of expectation-maximisation per level, and matching passes per iteration. The
# coarsest levels decide the layout of the fill and cost little; the finest level only
# sharpens what the level below it laid out.
EM_ITERATIONS_COARSEST = 4
EM_ITERATIONS_MIDDLE = 4
EM_ITERATIONS_FINEST = 2
MATCH_PASSES = 2
# Strips of a matching pass: enough for any core count a desktop has, each at least
# STRIP_PATCHES patch widths wide so that propagation inside it still carries far.
MAX_STRIPS = 16
STRIP_PATCHES = 4
SIGMA_PERCENTILE = 75.0
CONFIDENCE_BASE = 1.6
# Weight of the texture features in the patch distance (module notes). Patches are compared
# with the hole's current estimate, a vote of many copies and so smoother than any of them:
# on colour alone the smoothest sources win and the fill is flatter than its surroundings.
# The features, also filled level by level, ask the source to be as busy as the estimate's
# surroundings. Chosen on 5 of the inpainting benchmark's 15 photos (BENCHMARKS.md).
TEXTURE_WEIGHT = 12.0
# Deeper than this the confidence stops falling: 1.6^-185 is below float32's smallest
# normal number, and a pixel whose every covering patch had confidence 0 was voted 0 / 0
# (NaN) in holes more than about 370 pixels across. 1.6^-120 (3.6e-25) keeps the best
# covering patch's weight well above zero; shallower pixels are unchanged.
CONFIDENCE_MAX_DISTANCE = 120.0
# How far around a source the blend looks for the texture's steepest step, to tell a seam
# from a step the texture has (_copied_gradients): past the largest patch one would use.
NEAR_STEPS_RADIUS = 8

_GOLDEN = np.uint64(0x9E3779B97F4A7C15)


# --- counter-based random numbers (splitmix64) ---------------------------------------------

@njit(cache=True, inline="always")
def _mix(z):
    z = (z ^ (z >> np.uint64(30))) * np.uint64(0xBF58476D1CE4E5B9)
    z = (z ^ (z >> np.uint64(27))) * np.uint64(0x94D049BB133111EB)
    return z ^ (z >> np.uint64(31))


@njit(cache=True, inline="always")
def _pixel_state(key, y, x, width):
    return _mix(key ^ _mix(np.uint64(y * width + x + 1) * _GOLDEN))


@njit(cache=True, inline="always")
def _draw(state, span):
    """The next state and an integer in ``[0, span)``."""
    state = state + _GOLDEN
    return state, np.int64(_mix(state) % np.uint64(span))


# --- per-patch bodies ----------------------------------------------------------------------

@njit(cache=True)
def _patch_distance(image, ty, tx, sy, sx, radius, stop):
    """Sum of squared differences between the target patch at (ty, tx), clipped to the image,
    and the source patch at (sy, sx), wholly inside; gives up (returns a value >= ``stop``)
    as soon as a row of the patch takes the sum past ``stop``. Callers pass int64 coordinates
    (field entries are int32): each mix of integer types would be compiled anew."""
    height, width, channels = image.shape
    y0, y1 = max(-radius, -ty), min(radius, height - 1 - ty)
    x0, x1 = max(-radius, -tx), min(radius, width - 1 - tx)
    total = np.float32(0.0)
    for dy in range(y0, y1 + 1):
        target_row, source_row = ty + dy, sy + dy
        for dx in range(x0, x1 + 1):
            for c in range(channels):
                diff = image[target_row, tx + dx, c] - image[source_row, sx + dx, c]
                total += diff * diff
        if total >= stop:
            return total
    return total


@njit(cache=True, inline="always")
def _clipped_area(y, x, radius, height, width):
    return ((min(radius, height - 1 - y) + min(radius, y) + 1)
            * (min(radius, width - 1 - x) + min(radius, x) + 1))


@njit(cache=True, inline="always")
def _try(image, source_ok, ty, tx, sy, sx, radius, best_y, best_x, best_d):
    """The better of the current best and the candidate source (sy, sx), if it is one."""
    height, width = source_ok.shape
    if sy < 0 or sy >= height or sx < 0 or sx >= width or not source_ok[sy, sx]:
        return best_y, best_x, best_d
    if sy == best_y and sx == best_x:
        return best_y, best_x, best_d
    d = _patch_distance(image, ty, tx, np.int64(sy), np.int64(sx), radius, best_d)
    if d < best_d:
        return sy, sx, d
    return best_y, best_x, best_d


# --- level drivers -------------------------------------------------------------------------

def _onion_peel(image: np.ndarray, hole: np.ndarray) -> None:
    """Fill the hole ring by ring from its rim, each pixel the mean of its filled 8-neighbours
    (summed in raster order, in float32). NumPy, not Numba: it runs once, on the coarsest
    level, as a few whole-array operations per ring, and compiling it cost 2 s on first use."""
    height, width = hole.shape
    filled = ~hole
    pending = hole.copy()
    while pending.any():
        known_around = np.pad(filled, 1)
        image_around = np.pad(image, ((1, 1), (1, 1), (0, 0)))
        count = np.zeros((height, width), np.int32)
        total = np.zeros(image.shape, np.float32)
        for dy in range(3):
            for dx in range(3):
                known = known_around[dy: dy + height, dx: dx + width]
                count += known
                total += np.where(known[..., None], image_around[dy: dy + height, dx: dx + width],
                                  np.float32(0))
        newly = pending & (count > 0)
        if not newly.any():
            break  # unreachable pixels (no known pixel at all): left as they are
        image[newly] = total[newly] / count[newly][:, None].astype(np.float32)
        filled |= newly
        pending &= ~newly


@band_driver
def _random_field(target, source_y, source_x, key, field, first_row, stop_row):
    height, width = target.shape
    for y in range(first_row, stop_row):
        for x in range(width):
            if target[y, x]:
                _, pick = _draw(_pixel_state(key, y, x, width), source_y.size)
                field[y, x, 0] = source_y[pick]
                field[y, x, 1] = source_x[pick]


@band_driver
def _upsampled_field(coarse, target, source_ok, source_y, source_x, radius, key, field,
                     first_row, stop_row):
    """Double the coarse field: pixel (y, x) takes 2 * match(y // 2, x // 2) + (y % 2, x % 2),
    moved inside the image; a random source where that is not a source patch."""
    height, width = target.shape
    coarse_height, coarse_width = coarse.shape[:2]
    for y in range(first_row, stop_row):
        for x in range(width):
            if not target[y, x]:
                continue
            parent_y, parent_x = min(y // 2, coarse_height - 1), min(x // 2, coarse_width - 1)
            sy = min(max(2 * coarse[parent_y, parent_x, 0] + y % 2, radius), height - 1 - radius)
            sx = min(max(2 * coarse[parent_y, parent_x, 1] + x % 2, radius), width - 1 - radius)
            if not source_ok[sy, sx]:
                _, pick = _draw(_pixel_state(key, y, x, width), source_y.size)
                sy, sx = source_y[pick], source_x[pick]
            field[y, x, 0] = sy
            field[y, x, 1] = sx


@band_driver
def _distances(image, target, field, radius, distance, first_row, stop_row):
    height, width = target.shape
    for y in range(first_row, stop_row):
        for x in range(width):
            if target[y, x]:
                distance[y, x] = _patch_distance(image, y, x, np.int64(field[y, x, 0]),
                                                 np.int64(field[y, x, 1]), radius,
                                                 np.float32(np.inf))


@band_driver
def _match_pass(image, target, source_ok, field, previous, distance, radius, strip_edges,
                rows, reverse, key, first_strip, stop_strip):
    """One PatchMatch pass: propagation then random search, strips in parallel (module notes)."""
    height, width = target.shape
    step = -1 if reverse else 1
    largest = max(height, width)
    for strip in range(first_strip, stop_strip):
        left, right = strip_edges[strip], strip_edges[strip + 1]
        for i in range(rows[1] - rows[0]):
            y = rows[1] - 1 - i if reverse else rows[0] + i
            for j in range(right - left):
                x = right - 1 - j if reverse else left + j
                if not target[y, x]:
                    continue
                best_y, best_x, best_d = field[y, x, 0], field[y, x, 1], distance[y, x]
                # Propagation: the neighbour before this pixel, its match shifted by one.
                nx = x - step
                if 0 <= nx < width and target[y, nx]:
                    inside = left <= nx < right
                    source = field if inside else previous
                    best_y, best_x, best_d = _try(image, source_ok, y, x, source[y, nx, 0],
                                                  source[y, nx, 1] + step, radius, best_y,
                                                  best_x, best_d)
                ny = y - step
                if 0 <= ny < height and target[ny, x]:
                    best_y, best_x, best_d = _try(image, source_ok, y, x, field[ny, x, 0] + step,
                                                  field[ny, x, 1], radius, best_y, best_x, best_d)
                # Random search in windows halving from the whole image down to one pixel.
                state = _pixel_state(key, y, x, width)
                span = largest
                while span >= 1:
                    state, dy = _draw(state, 2 * span + 1)
                    state, dx = _draw(state, 2 * span + 1)
                    sy = min(max(best_y + dy - span, radius), height - 1 - radius)
                    sx = min(max(best_x + dx - span, radius), width - 1 - radius)
                    best_y, best_x, best_d = _try(image, source_ok, y, x, sy, sx, radius, best_y,
                                                  best_x, best_d)
                    span //= 2
                field[y, x, 0] = best_y
                field[y, x, 1] = best_x
                distance[y, x] = best_d


@njit(cache=True, inline="always")
def _mean_distance(distance, y, x, radius, channels):
    height, width = distance.shape
    return distance[y, x] / np.float32(_clipped_area(y, x, radius, height, width) * channels)


@njit(cache=True)
def _target_mean_distances(distance, target, radius, channels, out):
    """The targets' mean squared differences per value, in raster order, as the vote sees them,
    into ``out`` (one value per target: counted by the caller, which costs Numba's
    ``count_nonzero`` half a second to compile)."""
    count = 0
    for y in range(target.shape[0]):
        for x in range(target.shape[1]):
            if target[y, x]:
                out[count] = _mean_distance(distance, y, x, radius, channels)
                count += 1
    return out


@band_driver
def _vote(image, hole, field, distance, confidence, radius, two_sigma2, winner, sources,
          first_row, stop_row):
    """Every hole pixel from the source pixels the patches covering it point at, weighted by
    the patch's ``confidence`` times ``exp(-(d - d_best) / 2 sigma^2)``: relative to the best
    covering patch, so that the weights never all underflow where every patch matches worse
    than the level's typical. With ``winner``, each pixel is its heaviest patch's source
    pixel instead, whose coordinates go into ``sources``."""
    height, width, channels = image.shape
    for y in range(first_row, stop_row):
        total = np.empty(channels, np.float32)
        for x in range(width):
            if not hole[y, x]:
                continue
            top, bottom = max(y - radius, 0), min(y + radius, height - 1)
            left, right = max(x - radius, 0), min(x + radius, width - 1)
            best = np.float32(np.inf)
            for ty in range(top, bottom + 1):
                for tx in range(left, right + 1):
                    best = min(best, _mean_distance(distance, ty, tx, radius, channels))
            total[:] = 0.0
            weights = np.float32(0.0)
            heaviest, heaviest_y, heaviest_x = np.float32(-1.0), 0, 0
            for ty in range(top, bottom + 1):
                for tx in range(left, right + 1):
                    excess = _mean_distance(distance, ty, tx, radius, channels) - best
                    weight = confidence[ty, tx] * np.float32(math.exp(-excess / two_sigma2))
                    sy, sx = field[ty, tx, 0] + y - ty, field[ty, tx, 1] + x - tx
                    if weight > heaviest:
                        heaviest, heaviest_y, heaviest_x = weight, sy, sx
                    for c in range(channels):
                        total[c] += weight * image[sy, sx, c]
                    weights += weight
            if winner:
                sources[y, x, 0], sources[y, x, 1] = heaviest_y, heaviest_x
            for c in range(channels):
                image[y, x, c] = image[heaviest_y, heaviest_x, c] if winner else total[c] / weights


# --- the pyramid ---------------------------------------------------------------------------

def _window_sums(values: np.ndarray, radius: int) -> np.ndarray:
    """The sum of ``values`` over the (2r+1)^2 window around each pixel (clipped)."""
    padded = np.pad(values, radius + 1)
    summed = padded.cumsum(0).cumsum(1)
    size = 2 * radius + 1
    return (summed[size:, size:] - summed[:-size, size:] - summed[size:, :-size]
            + summed[:-size, :-size])[: values.shape[0], : values.shape[1]]


def _window_counts(hole: np.ndarray, radius: int) -> np.ndarray:
    """How many hole pixels lie in the (2r+1)^2 window around each pixel (clipped)."""
    return _window_sums(hole.astype(np.int32), radius)


def _texture_features(image: np.ndarray, hole: np.ndarray, radius: int) -> np.ndarray:
    """Newson et al.'s texture features: the mean absolute horizontal and vertical step of
    the channels' mean over the patch around each pixel, from known pixel pairs only (zero
    where a patch has none: the hole's features are filled like its colour)."""
    known = ~hole
    grey = np.where(known, image.mean(axis=2, dtype=np.float64), 0.0)  # hole pixels: any value
    features = np.zeros(hole.shape + (2,), np.float32)
    for channel, axis in enumerate((1, 0)):
        pair = np.zeros(hole.shape, bool)
        step = np.zeros(hole.shape)
        inner = (slice(None), slice(None, -1)) if axis == 1 else (slice(None, -1), slice(None))
        pair[inner] = known[inner] & np.delete(known, 0, axis=axis)
        step[inner] = np.abs(np.diff(grey, axis=axis)) * pair[inner]
        count = _window_sums(pair.astype(np.int32), radius)
        features[..., channel] = np.where(
            count > 0, _window_sums(step, radius) / np.maximum(count, 1), 0.0)
    return features


class _Level:
    """One pyramid level: pixels (hole pixels are the current estimate), hole, and the patch
    sets derived from it."""

    def __init__(self, image: np.ndarray, hole: np.ndarray, radius: int):
        self.image, self.hole, self.radius = image.copy(), hole, radius
        height, width = hole.shape
        counts = _window_counts(hole, radius)
        self.target = counts > 0
        self.source_ok = counts == 0
        self.source_ok[:radius] = self.source_ok[height - radius:] = False
        self.source_ok[:, :radius] = self.source_ok[:, width - radius:] = False
        self.source_y, self.source_x = (v.astype(np.int32) for v in np.nonzero(self.source_ok))
        # Wexler's confidence: a patch centred deep in the hole knows little; one near its edge
        # is anchored by known pixels. Keeps the fill continuous with its surroundings.
        depth = np.minimum(distance_transform(hole), CONFIDENCE_MAX_DISTANCE)
        self.confidence = (CONFIDENCE_BASE ** -depth).astype(np.float32)
        rows = np.flatnonzero(self.target.any(axis=1))
        cols = np.flatnonzero(self.target.any(axis=0))
        self.rows = np.array([rows[0], rows[-1] + 1], np.int64)
        left, right = int(cols[0]), int(cols[-1]) + 1
        strips = max(1, min(MAX_STRIPS, (right - left) // (STRIP_PATCHES * (2 * radius + 1))))
        self.strip_edges = np.linspace(left, right, strips + 1).round().astype(np.int64)


def _halved(image: np.ndarray, hole: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Box-filtered half size; a coarse pixel is hole if any of its fine pixels is."""
    height, width = hole.shape
    even_h, even_w = height + height % 2, width + width % 2
    image = np.pad(image, ((0, even_h - height), (0, even_w - width), (0, 0)), mode="edge")
    hole = np.pad(hole, ((0, even_h - height), (0, even_w - width)), mode="edge")
    coarse = image.reshape(even_h // 2, 2, even_w // 2, 2, -1).mean(axis=(1, 3), dtype=np.float32)
    coarse_hole = hole.reshape(even_h // 2, 2, even_w // 2, 2).any(axis=(1, 3))
    return np.ascontiguousarray(coarse), coarse_hole


def _pyramid(image: np.ndarray, hole: np.ndarray, patch_size: int) -> list[tuple]:
    """Levels from fine to coarse (see COARSEST_HOLE_PATCHES)."""
    inradius = float(distance_transform(hole).max())
    levels = [(image, hole)]
    while (inradius / 2 ** (len(levels) - 1) > COARSEST_HOLE_PATCHES * patch_size
           and min(levels[-1][1].shape) // 2 >= MIN_LEVEL_SIDE_PATCHES * patch_size):
        coarse_image, coarse_hole = _halved(*levels[-1])
        if coarse_hole.all() or not _has_source(coarse_hole, patch_size // 2):
            break
        levels.append((coarse_image, coarse_hole))
    return levels


def _has_source(hole: np.ndarray, radius: int) -> bool:
    height, width = hole.shape
    if height <= 2 * radius or width <= 2 * radius:
        return False
    return bool((_window_counts(hole, radius)[radius:height - radius, radius:width - radius] == 0)
                .any())


def _key(seed: int, *counters: int) -> np.uint64:
    return np.uint64(np.random.SeedSequence([seed, *counters]).generate_state(1, np.uint64)[0])


def _two_sigma2(level: _Level, distance: np.ndarray) -> np.float32:
    """Twice Wexler's sigma^2: the 75th percentile of the targets' mean squared differences."""
    mean = _target_mean_distances(distance, level.target, level.radius, level.image.shape[2],
                                  np.empty(np.count_nonzero(level.target), np.float32))
    sigma2 = float(np.percentile(mean, SIGMA_PERCENTILE))
    return np.float32(2.0 * max(sigma2, 1e-8))


def _em_iterations(index: int, count: int) -> int:
    """The coarsest level lays the fill out from a rough guess and needs the most; with one
    level only, that level is the coarsest."""
    if index == count - 1:
        return EM_ITERATIONS_COARSEST
    return EM_ITERATIONS_FINEST if index == 0 else EM_ITERATIONS_MIDDLE


def _first_guess(level: _Level, seed: int, index: int) -> np.ndarray:
    """The coarsest level: the hole peeled in from its rim, every target matched at random."""
    _onion_peel(level.image, level.hole)
    field = np.zeros(level.hole.shape + (2,), np.int32)
    parallel_for(_random_field, field.shape[0], level.target, level.source_y, level.source_x,
                 _key(seed, index, 0), field)
    return field


def _doubled_guess(level: _Level, coarse_image: np.ndarray, coarse_field: np.ndarray,
                   seed: int, index: int) -> np.ndarray:
    """A finer level: the coarse field doubled, and the hole voted through it."""
    height, width = level.hole.shape
    doubled = np.repeat(np.repeat(coarse_image, 2, axis=0), 2, axis=1)[:height, :width]
    level.image[level.hole] = doubled[level.hole]
    field = np.zeros((height, width, 2), np.int32)
    parallel_for(_upsampled_field, height, coarse_field, level.target, level.source_ok,
                 level.source_y, level.source_x, level.radius, _key(seed, index, 1), field)
    # Voting once through the doubled field replaces the blocky doubled pixels by this
    # level's own texture before any matching compares patches with them.
    distance = np.zeros((height, width), np.float32)
    parallel_for(_distances, height, level.image, level.target, field, level.radius, distance)
    parallel_for(_vote, height, level.image, level.hole, field, distance, level.confidence,
                 level.radius, _two_sigma2(level, distance), False, field)  # (sources unused)
    return field


def _refine(level: _Level, field: np.ndarray, seed: int, index: int,
            iterations: int) -> np.ndarray:
    """Expectation-maximisation on one level: match, then vote, ``iterations`` times. The
    finest level's last vote takes each pixel from its heaviest patch alone: averaging
    overlapping patches blurs texture (energy ratio 0.4 against about 1 measured, see
    BENCHMARKS.md). Returns where each hole pixel was taken from in that last vote (on other
    levels, zeros)."""
    height = level.hole.shape[0]
    distance = np.zeros(level.hole.shape, np.float32)
    sources = np.zeros_like(field)
    for iteration in range(iterations):
        parallel_for(_distances, height, level.image, level.target, field, level.radius,
                     distance)
        for match in range(MATCH_PASSES):
            previous = field.copy()
            parallel_for(_match_pass, level.strip_edges.size - 1, level.image, level.target,
                         level.source_ok, field, previous, distance, level.radius,
                         level.strip_edges, level.rows, match % 2 == 1,
                         _key(seed, index, iteration, match, 2))
        last_of_finest = index == 0 and iteration == iterations - 1
        parallel_for(_vote, height, level.image, level.hole, field, distance, level.confidence,
                     level.radius, _two_sigma2(level, distance), last_of_finest, sources)
    return sources


@njit(cache=True, inline="always")
def _source_difference(image, hole, sources, y, x, dy, dx, channel):
    """``image[s + (dy, dx)] - image[s]`` at the source ``s`` of hole pixel (y, x): what the
    step from it to its neighbour was where it was copied from; NaN where that neighbour of
    the source is outside the image or in the hole."""
    height, width = hole.shape
    sy, sx = sources[y, x, 0], sources[y, x, 1]
    ny, nx = sy + dy, sx + dx
    if ny < 0 or ny >= height or nx < 0 or nx >= width or hole[ny, nx]:
        return np.float32(np.nan)
    return image[ny, nx, channel] - image[sy, sx, channel]


@njit(cache=True, inline="always")
def _sources_step(image, hole, sources, y, x, dy, dx, side, channel):
    """The mean of the steps that the sources of the hole ends of the pair (y, x) ->
    (y + dy, x + dx) had: ``side`` 1, each source's step to its corresponding neighbour;
    -1, the step on its other side, away from that neighbour, continued across the pair.
    NaN where no source has that neighbour (off the image or in the hole)."""
    qy, qx = y + dy, x + dx
    total, count = np.float32(0.0), 0
    if hole[y, x]:
        step = side * _source_difference(image, hole, sources, y, x, side * dy, side * dx,
                                         channel)
        if step == step:
            total += step
            count += 1
    if hole[qy, qx]:
        step = -side * _source_difference(image, hole, sources, qy, qx, -side * dy,
                                          -side * dx, channel)
        if step == step:
            total += step
            count += 1
    return total / np.float32(count) if count else np.float32(np.nan)


@njit(cache=True, inline="always")
def _steepest_step_near_sources(image, hole, sources, y, x, dy, dx, channel):
    """The largest ``|image[p + (dy, dx)] - image[p]|`` over known pairs within
    ``NEAR_STEPS_RADIUS`` of the sources of the pair's hole ends: how steep the copied
    texture's steps get there."""
    height, width = hole.shape
    steepest = np.float32(0.0)
    for ey, ex in ((y, x), (y + dy, x + dx)):
        if not hole[ey, ex]:
            continue
        sy, sx = sources[ey, ex, 0], sources[ey, ex, 1]
        for py in range(max(sy - NEAR_STEPS_RADIUS, 0),
                        min(sy + NEAR_STEPS_RADIUS + 1, height - dy)):
            for px in range(max(sx - NEAR_STEPS_RADIUS, 0),
                            min(sx + NEAR_STEPS_RADIUS + 1, width - dx)):
                if not (hole[py, px] or hole[py + dy, px + dx]):
                    steepest = max(steepest, abs(image[py + dy, px + dx, channel]
                                                 - image[py, px, channel]))
    return steepest


@band_driver
def _copied_gradients(image, hole, sources, gx, gy, first_row, stop_row):
    """The guidance of the seam-hiding blend (module notes): for each pair of 4-neighbours
    touching the hole, the mean of the steps that each hole end's source had to the
    corresponding neighbour. Inside a block copied whole both are the block's own step; across
    a seam between two blocks, or between a block and the rim, they are what each source had
    there, never the jump between them. Where neither source has that neighbour (off the
    image or in the hole: a block copied from the image's edge meeting one copied from the
    hole's rim), the fill's own step if no steeper than the steepest step near the sources
    (a step this texture has, exact where the texture repeats), else the steps on the
    sources' other sides, the nearest estimate of the local slope (a jump steeper than all
    the texture around is a seam); where those are missing too, the fill's own step."""
    height, width, channels = image.shape
    for y in range(first_row, stop_row):
        for x in range(width):
            for axis in range(2):
                dy, dx = (0, 1) if axis == 0 else (1, 0)
                qy, qx = y + dy, x + dx
                if qy >= height or qx >= width or not (hole[y, x] or hole[qy, qx]):
                    continue
                for c in range(channels):
                    # the fill's own step: keeps a seam, but a flat 0 would add one
                    own = image[qy, qx, c] - image[y, x, c]
                    value = _sources_step(image, hole, sources, y, x, dy, dx, 1, c)
                    if value != value:
                        value = _sources_step(image, hole, sources, y, x, dy, dx, -1, c)
                        if value != value or abs(own) <= _steepest_step_near_sources(
                                image, hole, sources, y, x, dy, dx, c):
                            value = own
                    if axis == 0:
                        gx[y, x, c] = value
                    else:
                        gy[y, x, c] = value


def _blend_seams(image: np.ndarray, hole: np.ndarray, sources: np.ndarray) -> np.ndarray:
    """The finest level's fill, re-solved in the gradient domain (module notes)."""
    gx, gy = np.zeros_like(image), np.zeros_like(image)
    parallel_for(_copied_gradients, image.shape[0], image, hole, sources, gx, gy)
    blended = poisson_fill(image, hole, gx, gy)
    return np.clip(blended, np.float32(0.0), np.float32(1.0), out=blended)


def patchmatch_inpaint(image: np.ndarray, hole: np.ndarray, *, patch_size: int = 7,
                       seed: int = 0, texture_weight: float = TEXTURE_WEIGHT,
                       progress: Callable[[int, int], None] | None = None) -> np.ndarray:
    """Fill ``hole`` with texture from the rest of the image (module notes).

    Parameters
    ----------
    image : ndarray, float32, shape (H, W, C)
        Any channel count; values in [0, 1] (distances compare all channels alike).
    hole : ndarray, shape (H, W)
        bool, uint8 (> 127) or float32 (> 0.5): the pixels to fill.
    patch_size : int
        Side of the square patches, odd, at least 3. Larger patches keep larger structures
        and cost about the square of the side.
    seed : int
        Seed of the random search; the same seed gives the same bytes.
    texture_weight : float
        Weight of the texture features in the patch distance (module notes); 0 compares
        the channels alone.
    progress : callable(done, total) or None
        Called after each pyramid level.

    Returns
    -------
    ndarray, float32, shape (H, W, C)
        ``image`` bit for bit outside the hole.

    Raises
    ------
    ValueError
        On a bad argument, or when no whole patch of the image lies outside the hole.

    Examples
    --------
    >>> import numpy as np
    >>> image = np.tile(np.float32([0, 1]), (16, 8))[..., None]   # vertical stripes
    >>> hole = np.zeros((16, 16), bool); hole[6:10, 6:10] = True
    >>> filled = patchmatch_inpaint(image, hole, patch_size=3)
    >>> bool((filled == image).all())
    True
    """
    if not isinstance(image, np.ndarray) or image.ndim != 3 or image.dtype != np.float32:
        raise ValueError("image must be a float32 H x W x C array")
    hole = binary_mask(hole, image.shape[:2], name="hole")
    if patch_size < 3 or patch_size % 2 == 0:
        raise ValueError(f"patch size must be odd and at least 3, got {patch_size}")
    radius = patch_size // 2
    if not hole.any():
        return image.copy()
    if not _has_source(hole, radius):
        raise ValueError(f"no {patch_size}x{patch_size} patch of the image lies outside the "
                         "hole: nothing to fill from")
    if texture_weight < 0 or not math.isfinite(texture_weight):
        raise ValueError(f"texture weight must be 0 or more, got {texture_weight}")
    channels = image.shape[2]
    matched = image
    if texture_weight > 0:
        features = _texture_features(image, hole, radius) * np.float32(texture_weight)
        matched = np.concatenate([image, features], axis=2)
    pyramid = _pyramid(np.ascontiguousarray(matched), hole, patch_size)
    coarse_image = coarse_field = None
    for index in reversed(range(len(pyramid))):
        level = _Level(*pyramid[index], radius)
        if coarse_field is None:
            field = _first_guess(level, seed, index)
        else:
            field = _doubled_guess(level, coarse_image, coarse_field, seed, index)
        sources = _refine(level, field, seed, index, _em_iterations(index, len(pyramid)))
        coarse_image, coarse_field = level.image, field
        if progress is not None:
            progress(len(pyramid) - index, len(pyramid))
    out = image.copy()
    out[hole] = _blend_seams(np.ascontiguousarray(coarse_image[..., :channels]), hole,
                             sources)[hole]
    return out
