"""Film grain: estimate it from an image, and synthesize it back onto a (restored) image.

The model follows the spirit of AV1 film grain synthesis (AV1 spec, section 7.18.3): per
channel, the grain strength is a piecewise-linear function of intensity (``sigma`` at ``K``
fixed intensity levels), and its texture is a causal auto-regressive (AR) filter of lag 2
run over white Gaussian noise in raster order. The AR neighbourhood is the 12 pixels before
the current one in a 5-wide window (:data:`AR_OFFSETS`: rows ``dy = -2, -1`` at
``dx = -2..2``, then ``dx = -2, -1`` in the current row).

Estimation. The grain is taken as the residual ``image - gaussian_blur(image,``
:data:`SMOOTH_SIGMA` ``)``, each row of blocks smoothed from its own rows and
:data:`_STRIP_MARGIN` more above and below (so an image given band by band,
:class:`GrainStatistics`, gets the statistics of the whole). 2.0 keeps most of the grain's energy in the residual (fine grain
is almost entirely above the blur's cut-off) while staying short enough that only a little
of the picture's own texture leaks into it; that leak is then kept out by using only the
flattest blocks (lowest gradient energy of the smoothed image). The region is cut into
:data:`BLOCK` x :data:`BLOCK` blocks on a grid from the top-left corner; a block counts only if
it lies fully inside the mask. Each flat block gives (mean smoothed intensity, residual std);
blocks are binned into ``K`` equal intensity bins and the level's sigma is the median of its
blocks (robust to a block that caught an edge). Empty levels are interpolated linearly from
their neighbours and held constant past the first and last filled level. The AR coefficients
are fitted per channel by least squares on the flat blocks' residuals, each block first
divided by its own std so that the fit describes correlation, not strength.

Calibration: ``sigma`` is *residual strength*, the std of what the blur leaves behind, not the
std of the grain itself (which is somewhat larger, by an amount that depends on how coarse
the grain is). Synthesis therefore normalises its AR-filtered noise so that *its* residual
under the same blur has unit std (measured once per texture on a probe field) before scaling
by ``sigma``: estimating the grain of a
synthesized image returns the sigma it was synthesized with, whatever the AR texture. The
AR model itself is the texture of the residual, which is what re-estimation compares.

Dtype policy: images are H x W x C (C = 1 or 3) uint8, uint16 or float32 in [0, 1]; work is
float32 in [0, 1]; integer outputs are rounded to nearest and clipped, float32 outputs are
clipped to [0, 1]. Masks are H x W bool, uint8 (> 127 is inside) or float32 (> 0.5 is
inside); ``None`` is the whole image. Pixels outside the mask are returned bit for bit.

Devices (see :mod:`burnish.kernels.dispatch`). ``synthesize_grain(device="cuda")`` adds the grain
to the pixels on the GPU: one ``@njit`` body per output sample, driven by an
loop over bands of rows in threads on the CPU and by a ``@cuda.jit`` kernel with one thread per
pixel, calling the body's :func:`~burnish.kernels.dispatch.device_function` twin because the body
reads the sigma table. The noise field is made on the host for either device: the AR filter
is a raster-order recursion, in which every pixel waits for the ones before it in its row and
in the two rows above, so a GPU could run it only as a skewed wavefront (about W / 3 pixels
at a time, each step waiting for the previous one). It runs on the CPU (channels in
parallel, each from its own generator spawned from the seed, the recursion carried from band
to band: :class:`GrainField`), and the field is copied to the GPU. The same seed
therefore gives the same field, and, the per-pixel step being the same float32 operations in
the same order, the same bytes on both devices (checked in Numba's CUDA simulator; on a real
GPU, Numba's default fused multiply-adds may move a result at a rounding tie by one level). Estimation is statistics over a few flat blocks (NumPy, the CPU blur and the AR fit):
``estimate_grain`` runs on the CPU whatever its ``device``, which it accepts so that a pipeline
can pass one device to every kernel.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from numba import njit

from burnish.kernels.dispatch import Out, check_device, cuda, cuda_kernel, device_function, run
from burnish.kernels.dtypes import check_pixel_dtype, full_scale
from burnish.kernels.gaussian import gaussian_blur
from burnish.kernels.masks import binary_mask
from burnish.kernels.primitives import clip_value, round_half_even
from burnish.kernels.threads import band_driver, parallel_for

SMOOTH_SIGMA = 2.0
BLOCK = 16
LEVELS = 8
FLAT_FRACTION = 0.5
MIN_FLAT_BLOCKS = 4
# Causal lag-2 neighbourhood in raster order, (dy, dx); the AR coefficients follow this order.
AR_OFFSETS = tuple((dy, dx) for dy in (-2, -1) for dx in range(-2, 3)) + ((0, -2), (0, -1))
_AR_DY = np.array([dy for dy, _ in AR_OFFSETS], np.int64)
_AR_DX = np.array([dx for _, dx in AR_OFFSETS], np.int64)
# Noise generated around the image and thrown away, so the AR recursion (which starts from
# zeros) has reached its stationary state where the image begins.
_AR_WARMUP = 16
_AR_LAG = 2  # rows above a pixel that its AR neighbourhood reaches
# The side of the probe field that measures an AR texture's residual strength.
_PROBE = 256
# A block row is smoothed from its own rows and this many above and below (4 sigmas: the
# blur's weight beyond is below 4e-4), never from the rest of the image: statistics gathered
# band by band then equal the whole image's.
_STRIP_MARGIN = 8
# Rows of an image estimate_grain converts to float32 at a time.
_ESTIMATE_BAND = 256


@dataclass(frozen=True, eq=False)
class Grain:
    """Grain of one image: intensity-dependent strength and AR texture per channel.

    Attributes
    ----------
    levels : ndarray, shape (K,), float32
        Intensity bin centres in [0, 1], increasing.
    sigma : ndarray, shape (C, K), float32
        Residual strength (see the module notes) at each level, in [0, 1] units; linear in
        between levels and constant beyond the first and last.
    ar : ndarray, shape (C, len(AR_OFFSETS)), float32
        Causal AR coefficients over :data:`AR_OFFSETS`.
    weights : ndarray, shape (C, K), float32, optional
        How many estimation blocks fell in each level (0 where interpolated).
    """

    levels: np.ndarray
    sigma: np.ndarray
    ar: np.ndarray
    weights: np.ndarray | None = None

    def __post_init__(self):
        levels = np.asarray(self.levels, np.float32)
        sigma = np.atleast_2d(np.asarray(self.sigma, np.float32))
        ar = np.atleast_2d(np.asarray(self.ar, np.float32))
        if levels.ndim != 1 or sigma.shape[1:] != levels.shape:
            raise ValueError(f"sigma must be C x K for K = {levels.shape} levels, got {sigma.shape}")
        if ar.shape != (sigma.shape[0], len(AR_OFFSETS)):
            raise ValueError(f"ar must be C x {len(AR_OFFSETS)}, got {ar.shape}")
        object.__setattr__(self, "levels", levels)
        object.__setattr__(self, "sigma", sigma)
        object.__setattr__(self, "ar", ar)
        if self.weights is not None:
            weights = np.asarray(self.weights, np.float32)
            if weights.shape != sigma.shape:
                raise ValueError(f"weights must be {sigma.shape}, got {weights.shape}")
            object.__setattr__(self, "weights", weights)

    @property
    def channels(self) -> int:
        return self.sigma.shape[0]

    def strength(self) -> float:
        """Mean of ``sigma`` over channels and levels, each level weighted by its block count.

        Weighting by blocks makes the figure describe the intensities the image actually has,
        not levels that were only extrapolated. Without weights (or with all zero), the plain
        mean.
        """
        if self.weights is None or not self.weights.sum() > 0:
            return float(self.sigma.mean())
        return float((self.sigma * self.weights).sum() / self.weights.sum())


# --- kernels -------------------------------------------------------------------------------

@njit(cache=True)
def _ar_filter_plane(noise, ar, dy, dx, first_row):
    """Run the causal AR recursion in place over ``noise`` in raster order, from
    ``first_row`` on (the rows above it are already filtered: a band's carry).

    Neighbours outside the plane count as 0; callers add a warm-up margin and crop it. Rows
    cannot run in parallel: each depends on the two above it.
    """
    height, width = noise.shape
    taps = ar.shape[0]
    for y in range(first_row, height):
        for x in range(width):
            acc = noise[y, x]
            for k in range(taps):
                yy, xx = y + dy[k], x + dx[k]
                if yy >= 0 and 0 <= xx < width:
                    acc += ar[k] * noise[yy, xx]
            noise[y, x] = acc


@band_driver
def _ar_filter_cpu(noise, ar, dy, dx, first_row, first_channel, stop_channel):
    """Channels are independent, so they are the parallel axis (``noise`` is C x H x W)."""
    for c in range(first_channel, stop_channel):
        _ar_filter_plane(noise[c], ar[c], dy, dx, first_row)


def _ar_filter(noise: np.ndarray, ar: np.ndarray, first_row: int = 0) -> None:
    """Filters ``noise`` (C x H x W, float64) in place by the AR coefficients ``ar[c]``,
    from row ``first_row`` on."""
    parallel_for(_ar_filter_cpu, noise.shape[0], noise, ar.astype(np.float64), _AR_DY, _AR_DX,
                 first_row)


@njit(cache=True, inline="always")
def _intensity(stored, top):
    return np.float32(stored) / top


@njit(cache=True, inline="always")
def _grained(stored, noise, top, rounded, level0, level1, sigma0, sigma1, between):
    """One stored output sample: ``stored`` plus ``noise`` times sigma at its intensity.

    Sigma is linear between ``(level0, sigma0)`` and ``(level1, sigma1)`` when ``between``,
    else ``sigma0`` (the sample is beyond the first or the last level).
    """
    value = _intensity(stored, top)
    sigma = sigma0
    if between:
        t = (value - level0) / (level1 - level0)
        sigma = sigma0 + t * (sigma1 - sigma0)
    value = value + sigma * noise
    value = clip_value(value, np.float32(0), np.float32(1)) * top
    return round_half_even(value) if rounded else value


@njit(cache=True, inline="always")
def _grain_sample(stored, noise, inside, c, levels, sigma, top, rounded):
    """Output sample of channel ``c`` at a pixel: itself outside the mask, else grained.

    Looks up the pixel's segment of the piecewise-linear sigma (``levels``, ``sigma[c]``), so
    the CUDA driver calls its :func:`~burnish.kernels.dispatch.device_function` twin. It only
    compares and indexes: the float arithmetic is in the scalar helpers, which the CUDA
    simulator runs compiled for the CPU (it runs this twin itself as Python, where a float32
    computed here could silently become a float64).
    """
    if not inside:
        return np.float32(stored)
    value = _intensity(stored, top)
    last = levels.shape[0] - 1
    k, between = 0, False
    if value <= levels[0]:
        k = 0
    elif value >= levels[last]:
        k = last
    else:
        while levels[k + 1] < value:
            k += 1
        between = True
    k1 = k + 1 if between else k
    return _grained(stored, noise, top, rounded, levels[k], levels[k1], sigma[c, k],
                    sigma[c, k1], between)


_grain_sample_gpu = device_function(_grain_sample)


@band_driver
def _add_grain_cpu(image, field, inside, levels, sigma, top, rounded, out, first_row, stop_row):
    for y in range(first_row, stop_row):
        for x in range(image.shape[1]):
            for c in range(image.shape[2]):
                out[y, x, c] = _grain_sample(image[y, x, c], field[c, y, x], inside[y, x], c,
                                             levels, sigma, top, rounded)


@cuda_kernel
def _add_grain_cuda(image, field, inside, levels, sigma, top, rounded, out):
    y, x = cuda.grid(2)
    if y < image.shape[0] and x < image.shape[1]:
        for c in range(image.shape[2]):
            out[y, x, c] = _grain_sample_gpu(image[y, x, c], field[c, y, x], inside[y, x], c,
                                             levels, sigma, top, rounded)


# --- helpers -------------------------------------------------------------------------------

def _check_image(image: np.ndarray) -> None:
    if image.ndim != 3 or image.shape[2] not in (1, 3):
        raise ValueError(f"image must be H x W x C with C = 1 or 3, got shape {image.shape}")
    check_pixel_dtype(image.dtype)


def _inside(mask: np.ndarray | None, shape: tuple[int, int]) -> np.ndarray:
    return binary_mask(mask, shape)


def _blocks(plane: np.ndarray, rows: int, cols: int) -> np.ndarray:
    """``plane`` cut into a (rows * cols, BLOCK, BLOCK) stack, grid from the top-left."""
    cropped = plane[: rows * BLOCK, : cols * BLOCK]
    return cropped.reshape(rows, BLOCK, cols, BLOCK).swapaxes(1, 2).reshape(-1, BLOCK, BLOCK)


def _ar_design(blocks: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Regressors (n, taps) and targets (n,) from every block pixel whose neighbours are in it."""
    target = blocks[:, 2:, 2:-2]
    columns = [blocks[:, 2 + dy: BLOCK + dy, 2 + dx: BLOCK - 2 + dx] for dy, dx in AR_OFFSETS]
    return np.stack([c.reshape(-1) for c in columns], axis=1), target.reshape(-1)


def _stable_ar(ar: np.ndarray) -> np.ndarray:
    """Shrink an AR fit until its recursion stays bounded (least squares does not promise it)."""
    probe = np.random.default_rng(0).standard_normal((1, 96, 96))
    for _ in range(50):
        field = probe.copy()
        _ar_filter(field, ar[None])
        if np.isfinite(field).all() and field[0, 48:].std() < 100:
            return ar
        ar = ar * 0.9
    return np.zeros_like(ar)


def _unit_scale(grain: Grain) -> np.ndarray:
    """Per channel, what makes AR-filtered unit noise have unit residual strength (see the
    module notes): measured once on a probe field of :data:`_PROBE` pixels a side, so that it
    is a property of the AR coefficients and not of how an image is cut into bands."""
    pad = _AR_WARMUP
    noise = np.random.default_rng(0).standard_normal((grain.channels, _PROBE + pad,
                                                      _PROBE + 2 * pad))
    _ar_filter(noise, grain.ar)
    probe = np.ascontiguousarray(noise[:, pad:, pad: pad + _PROBE], dtype=np.float32)
    scale = np.ones(grain.channels, np.float32)
    for c in range(grain.channels):
        residual_std = float((probe[c] - gaussian_blur(probe[c], SMOOTH_SIGMA)).std())
        if residual_std > 0:
            scale[c] = np.float32(1 / residual_std)
    return scale


class GrainField:
    """The noise :func:`synthesize_grain` adds: AR-filtered Gaussian noise scaled to unit
    residual strength, ``C x rows x W`` float32, made top to bottom a band at a time with
    :meth:`next`. Each channel has its own generator (spawned from the seed) and the AR
    recursion carries its last two rows from band to band, so the field's numbers are the
    same however it is cut into bands."""

    def __init__(self, grain: Grain, height: int, width: int, seed: int):
        self.grain, self.height, self.width = grain, height, width
        self._generators = [np.random.default_rng(child) for child in
                            np.random.SeedSequence(seed).spawn(grain.channels)]
        self._scale = _unit_scale(grain)
        self._carry: np.ndarray | None = None
        self.made = 0

    def next(self, count: int) -> np.ndarray:
        """The field's next ``count`` rows."""
        if count < 1 or self.made + count > self.height:
            raise ValueError(f"{count} more rows of a {self.height}-row field with "
                             f"{self.made} made")
        pad = _AR_WARMUP
        # the first band starts with the warm-up rows, which are thrown away
        drawn = count + (pad if self._carry is None else 0)
        noise = np.stack([generator.standard_normal((drawn, self.width + 2 * pad))
                          for generator in self._generators])
        carried = 0
        if self._carry is not None:
            noise = np.concatenate([self._carry, noise], axis=1)
            carried = self._carry.shape[1]
        _ar_filter(noise, self.grain.ar, carried)
        self._carry = noise[:, -_AR_LAG:].copy()
        self.made += count
        field = np.ascontiguousarray(noise[:, -count:, pad: pad + self.width], dtype=np.float32)
        return field * self._scale[:, None, None]


def _unit_residual_field(grain: Grain, height: int, width: int, seed: int) -> np.ndarray:
    """The whole field of an image (C x H x W)."""
    return GrainField(grain, height, width, seed).next(height)


def _strip(block_row: int, height: int) -> tuple[int, int]:
    """The rows a block row's statistics read: its own and the margin's (within the image)."""
    top = block_row * BLOCK
    return max(0, top - _STRIP_MARGIN), min(height, top + BLOCK + _STRIP_MARGIN)


def _block_row(unit: np.ndarray, block_row: int, first_row: int, height: int,
               residuals: bool = False):
    """Statistics of the blocks of one block row: gradient energy of the smoothed image
    (``cols``), mean smoothed intensity and residual std (``C x cols``), and, if asked, the
    residual blocks (``C x cols x BLOCK x BLOCK``, float64).

    ``unit`` holds the image's rows from ``first_row`` on (float32 in [0, 1]), at least the
    block row's strip: its rows and :data:`_STRIP_MARGIN` more above and below (within the
    image). The smoothing reads the strip only, so the statistics are the same whether the
    image comes whole or band by band (:class:`GrainStatistics`).
    """
    top = block_row * BLOCK
    low, high = _strip(block_row, height)
    strip = unit[low - first_row: high - first_row]
    channels, cols = strip.shape[2], strip.shape[1] // BLOCK
    smooth = np.stack([gaussian_blur(np.ascontiguousarray(strip[..., c]), SMOOTH_SIGMA)
                       for c in range(channels)])
    gy, gx = np.gradient(smooth, axis=(1, 2))
    inner = slice(top - low, top - low + BLOCK)
    energy = _blocks((gy * gy + gx * gx).sum(axis=0)[inner], 1, cols).mean(axis=(1, 2))
    intensity = np.stack([_blocks(smooth[c, inner], 1, cols).mean(axis=(1, 2))
                          for c in range(channels)])
    residual = strip[inner].transpose(2, 0, 1) - smooth[:, inner]
    blocks = np.stack([_blocks(residual[c], 1, cols) for c in range(channels)]).astype(np.float64)
    return energy, intensity, blocks.std(axis=(2, 3)), (blocks if residuals else None)


class GrainStatistics:
    """The block statistics :func:`estimate_grain` reads, gathered from an image given band
    by band, top to bottom (:meth:`add`); they equal the whole image's. Holds a block row's
    strip of rows, not the image."""

    def __init__(self, height: int, width: int, channels: int, dtype):
        if channels not in (1, 3):
            raise ValueError(f"grain is estimated on 1 or 3 channels, not {channels}")
        self.height, self.width, self.channels = height, width, channels
        self._top = np.float32(full_scale(check_pixel_dtype(np.dtype(dtype))))
        self._held: list[np.ndarray] = []  # unit float32 rows from self._first on
        self._first = self._seen = self._next = 0
        self._rows: list[tuple] = []  # per block row: energy, intensity, std

    def add(self, rows: np.ndarray) -> None:
        """The image's next rows (``k x W x C``, the image's dtype)."""
        if rows.ndim != 3 or rows.shape[1:] != (self.width, self.channels):
            raise ValueError(f"rows must be k x {self.width} x {self.channels}, got {rows.shape}")
        self._held.append(self.unit(rows))
        self._seen += rows.shape[0]
        block_rows = self.height // BLOCK
        while (self._next < block_rows and self._seen
               >= min(self.height, self._next * BLOCK + BLOCK + _STRIP_MARGIN)):
            held = np.concatenate(self._held) if len(self._held) > 1 else self._held[0]
            self._rows.append(_block_row(held, self._next, self._first, self.height)[:3])
            self._next += 1
            keep = max(0, self._next * BLOCK - _STRIP_MARGIN)  # the next strip's first row
            self._held = [held[keep - self._first:]]
            self._first = keep

    def unit(self, rows: np.ndarray) -> np.ndarray:
        """``rows`` as float32 in [0, 1]."""
        unit = np.ascontiguousarray(rows, dtype=np.float32)
        return unit / self._top if self._top != 1 else unit

    def blocks(self) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Energy ``(n,)``, intensity and residual std ``(C, n)`` of every block, in raster
        order (``n`` = block rows x block columns); after every row was added."""
        if self._seen != self.height:
            raise ValueError(f"{self._seen} of {self.height} rows were added")
        cols = self.width // BLOCK
        if not self._rows:
            return (np.zeros(0), np.zeros((self.channels, 0)), np.zeros((self.channels, 0)))
        energy = np.concatenate([row[0] for row in self._rows])
        intensity = np.concatenate([row[1] for row in self._rows], axis=1)
        std = np.concatenate([row[2] for row in self._rows], axis=1)
        assert energy.shape == (len(self._rows) * cols,)
        return energy, intensity, std

    def strength(self) -> Grain:
        """The grain's strength from every block (what :func:`estimate_grain` gives for no
        mask), without fitting its texture (``ar`` is zero). ValueError when the image has
        no whole block."""
        energy, intensity, std = self.blocks()
        if energy.size == 0:
            raise ValueError("no flat area to estimate grain from")
        flat = _flattest(energy, np.ones(energy.size, bool))
        levels, sigma, weights = _strength(intensity[:, flat], std[:, flat])
        return Grain(levels=levels, sigma=sigma, weights=weights,
                     ar=np.zeros((self.channels, len(AR_OFFSETS)), np.float32))


def _flattest(energy: np.ndarray, usable: np.ndarray) -> np.ndarray:
    """The indices of the flattest usable blocks, flattest first."""
    candidates = np.flatnonzero(usable)
    keep = max(min(MIN_FLAT_BLOCKS, candidates.size), int(round(candidates.size * FLAT_FRACTION)))
    return candidates[np.argsort(energy[candidates], kind="stable")[:keep]]


def _strength(intensity: np.ndarray, std: np.ndarray):
    """Levels, sigma and weights from the flat blocks' intensities and residual stds
    (``C x n``): per level the median std of its blocks (see the module notes)."""
    channels = intensity.shape[0]
    levels = (np.arange(LEVELS, dtype=np.float32) + np.float32(0.5)) / np.float32(LEVELS)
    sigma = np.zeros((channels, LEVELS), np.float32)
    weights = np.zeros((channels, LEVELS), np.float32)
    for c in range(channels):
        bins = np.clip((intensity[c] * LEVELS).astype(np.int64), 0, LEVELS - 1)
        filled = np.unique(bins)
        medians = np.array([np.median(std[c][bins == k]) for k in filled])
        sigma[c] = np.interp(levels, levels[filled], medians)  # constant past the ends
        weights[c] = np.bincount(bins, minlength=LEVELS)
    return levels, sigma, weights


# --- public API ----------------------------------------------------------------------------

def estimate_grain(image: np.ndarray, *, mask: np.ndarray | None = None,
                   device: str = "cpu") -> Grain:
    """Estimate the grain of ``image`` from its flattest blocks inside ``mask``.

    Parameters
    ----------
    image : ndarray, shape (H, W, C), uint8, uint16 or float32 (float32 in [0, 1])
    mask : ndarray, shape (H, W), bool, uint8 (> 127) or float32 (> 0.5), optional
        Only blocks fully inside it are used; None is the whole image.
    device : {"cpu", "cuda"}
        Accepted for a uniform kernel API; estimation runs on the CPU either way and gives the
        same result (see the module notes).

    Returns
    -------
    Grain
        ``sigma`` is residual strength in [0, 1] units (see the module notes).

    Raises
    ------
    ValueError
        "no flat area to estimate grain from" when no whole block fits in the mask.

    Examples
    --------
    >>> import numpy as np
    >>> flat = np.full((64, 64, 1), 0.5, np.float32)
    >>> estimate_grain(flat).strength()
    0.0
    """
    check_device(device)
    _check_image(image)
    height, width, channels = image.shape
    inside = _inside(mask, (height, width))
    rows, cols = height // BLOCK, width // BLOCK
    if rows == 0 or cols == 0:
        raise ValueError("no flat area to estimate grain from")
    usable = _blocks(inside, rows, cols).all(axis=(1, 2))
    if not usable.any():
        raise ValueError("no flat area to estimate grain from")
    # fed in bands, each made float32 as it goes: never a float copy of the whole image
    statistics = GrainStatistics(height, width, channels, image.dtype)
    for top in range(0, height, _ESTIMATE_BAND):
        statistics.add(image[top: top + _ESTIMATE_BAND])
    energy, intensity, std = statistics.blocks()
    flat = _flattest(energy, usable)
    levels, sigma, weights = _strength(intensity[:, flat], std[:, flat])

    # the texture: the flat blocks' residuals, block row by block row as they were measured
    residuals = np.empty((channels, flat.size, BLOCK, BLOCK))
    for block_row in np.unique(flat // cols):
        chosen = np.flatnonzero(flat // cols == block_row)
        low, high = _strip(int(block_row), height)
        unit = statistics.unit(image[low:high])
        blocks = _block_row(unit, int(block_row), low, height, residuals=True)[3]
        residuals[:, chosen] = blocks[:, flat[chosen] % cols]
    ar = np.zeros((channels, len(AR_OFFSETS)), np.float32)
    for c in range(channels):
        textured = std[c, flat] > 1e-6  # a noiseless block says nothing about correlation
        if textured.any():
            normalised = residuals[c, textured] / std[c, flat][textured, None, None]
            design, target = _ar_design(normalised)
            # The normal equations (least squares on the taps x taps Gram matrix: the
            # same minimum-norm answer) cost a fraction of an SVD of the tall design.
            coefficients = np.linalg.lstsq(design.T @ design, design.T @ target,
                                           rcond=None)[0]
            ar[c] = _stable_ar(coefficients).astype(np.float32)
    return Grain(levels=levels, sigma=sigma, ar=ar, weights=weights)


def synthesize_grain(image: np.ndarray, grain: Grain, *, mask: np.ndarray | None = None,
                     seed: int = 0, field: GrainField | None = None,
                     device: str = "cpu") -> np.ndarray:
    """Add grain described by ``grain`` to ``image`` inside ``mask``.

    White Gaussian noise from ``np.random.default_rng(seed)`` is run through the AR filter in
    raster order, normalised to unit residual strength (see the module notes) and scaled per
    pixel by ``sigma`` at that pixel's own intensity. The same seed gives the same bytes.

    Parameters
    ----------
    image : ndarray, shape (H, W, C), uint8, uint16 or float32 (float32 in [0, 1])
    grain : Grain
        With C channels, as from :func:`estimate_grain`.
    mask : ndarray, shape (H, W), bool, uint8 (> 127) or float32 (> 0.5), optional
        Where to add grain; None is the whole image. Outside it the output is ``image``
        bit for bit.
    seed : int
        Seed of the noise.
    field : GrainField, optional
        The noise of a larger image grained band by band (as wide as ``image``): its next
        ``H`` rows are used, and ``seed`` is not. The bands of an image then get the bytes
        the whole image would.
    device : {"cpu", "cuda"}
        Where the grain is added to the pixels; the noise field is made on the host either
        way, so a seed gives the same bytes on both (see the module notes).

    Returns
    -------
    ndarray
        Same shape and dtype as ``image``; integers rounded to nearest, all values clipped to
        the dtype's range ([0, 1] for float32).

    Examples
    --------
    >>> import numpy as np
    >>> grain = Grain(levels=[0.5], sigma=[[0.02]], ar=np.zeros((1, 12)))
    >>> image = np.full((8, 8, 1), 128, np.uint8)
    >>> out = synthesize_grain(image, grain, seed=3)
    >>> out.dtype, bool((out == synthesize_grain(image, grain, seed=3)).all())
    (dtype('uint8'), True)
    """
    check_device(device)
    _check_image(image)
    height, width, channels = image.shape
    if grain.channels != channels:
        raise ValueError(f"grain has {grain.channels} channels, image {channels}")
    inside = _inside(mask, (height, width))
    integer = image.dtype.kind == "u"
    top = np.float32(full_scale(image.dtype))
    # the field is made on the host for either device (see the module notes)
    if field is None:
        field = GrainField(grain, height, width, seed)
    elif field.grain is not grain or field.width != width:
        raise ValueError("the field was made for another grain or width")
    noise = field.next(height)
    out = np.empty_like(image)
    run(device, _add_grain_cpu, _add_grain_cuda, (height, width), np.ascontiguousarray(image),
        noise, inside, grain.levels, grain.sigma, top, integer, Out(out))
    return out
