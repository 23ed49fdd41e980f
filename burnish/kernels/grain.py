"""Film grain: estimate it from an image, and synthesize it back onto a (restored) image.

The model follows the spirit of AV1 film grain synthesis (AV1 spec, section 7.18.3): per
channel, the grain strength is a piecewise-linear function of intensity (``sigma`` at ``K``
fixed intensity levels), and its texture is a causal auto-regressive (AR) filter of lag 2
run over white Gaussian noise in raster order. The AR neighbourhood is the 12 pixels before
the current one in a 5-wide window (:data:`AR_OFFSETS`: rows ``dy = -2, -1`` at
``dx = -2..2``, then ``dx = -2, -1`` in the current row).

Estimation. The grain is taken as the residual ``image - gaussian_blur(image,``
:data:`SMOOTH_SIGMA` ``)``. 2.0 keeps most of the grain's energy in the residual (fine grain
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
under the same blur has unit std before scaling by ``sigma``: estimating the grain of a
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
parallel) from the same generator, and the field is copied to the GPU. The same seed
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
def _ar_filter_plane(noise, ar, dy, dx):
    """Run the causal AR recursion in place over ``noise`` in raster order.

    Neighbours outside the plane count as 0; callers add a warm-up margin and crop it. Rows
    cannot run in parallel: each depends on the two above it.
    """
    height, width = noise.shape
    taps = ar.shape[0]
    for y in range(height):
        for x in range(width):
            acc = noise[y, x]
            for k in range(taps):
                yy, xx = y + dy[k], x + dx[k]
                if yy >= 0 and 0 <= xx < width:
                    acc += ar[k] * noise[yy, xx]
            noise[y, x] = acc


@band_driver
def _ar_filter_cpu(noise, ar, dy, dx, first_channel, stop_channel):
    """Channels are independent, so they are the parallel axis (``noise`` is C x H x W)."""
    for c in range(first_channel, stop_channel):
        _ar_filter_plane(noise[c], ar[c], dy, dx)


def _ar_filter(noise: np.ndarray, ar: np.ndarray) -> None:
    """Filters ``noise`` (C x H x W, float64) in place by the AR coefficients ``ar[c]``."""
    parallel_for(_ar_filter_cpu, noise.shape[0], noise, ar.astype(np.float64), _AR_DY, _AR_DX)


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

def _as_unit_float(image: np.ndarray) -> tuple[np.ndarray, float]:
    if image.ndim != 3 or image.shape[2] not in (1, 3):
        raise ValueError(f"image must be H x W x C with C = 1 or 3, got shape {image.shape}")
    top = full_scale(check_pixel_dtype(image.dtype))
    return np.ascontiguousarray(image, dtype=np.float32) / np.float32(top), top


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


def _unit_residual_field(grain: Grain, height: int, width: int, seed: int) -> np.ndarray:
    """AR-filtered noise (C x H x W), scaled so its residual under the estimator has std 1."""
    rng = np.random.default_rng(seed)
    pad = _AR_WARMUP
    noise = rng.standard_normal((grain.channels, height + pad, width + 2 * pad))
    _ar_filter(noise, grain.ar)
    field = np.ascontiguousarray(noise[:, pad:, pad: pad + width], dtype=np.float32)
    for c in range(grain.channels):
        residual_std = float((field[c] - gaussian_blur(field[c], SMOOTH_SIGMA)).std())
        if residual_std > 0:
            field[c] /= np.float32(residual_std)
    return field


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
    unit, _ = _as_unit_float(image)
    height, width, channels = unit.shape
    inside = _inside(mask, (height, width))
    rows, cols = height // BLOCK, width // BLOCK
    if rows == 0 or cols == 0:
        raise ValueError("no flat area to estimate grain from")
    usable = _blocks(inside, rows, cols).all(axis=(1, 2))
    if not usable.any():
        raise ValueError("no flat area to estimate grain from")

    smooth = np.stack([gaussian_blur(unit[..., c], SMOOTH_SIGMA) for c in range(channels)])
    residual = unit.transpose(2, 0, 1) - smooth
    gy, gx = np.gradient(smooth, axis=(1, 2))
    energy = _blocks((gy * gy + gx * gx).sum(axis=0), rows, cols).mean(axis=(1, 2))

    candidates = np.flatnonzero(usable)
    keep = max(min(MIN_FLAT_BLOCKS, candidates.size), int(round(candidates.size * FLAT_FRACTION)))
    flat = candidates[np.argsort(energy[candidates], kind="stable")[:keep]]

    levels = (np.arange(LEVELS, dtype=np.float32) + np.float32(0.5)) / np.float32(LEVELS)
    sigma = np.zeros((channels, LEVELS), np.float32)
    weights = np.zeros((channels, LEVELS), np.float32)
    ar = np.zeros((channels, len(AR_OFFSETS)), np.float32)
    for c in range(channels):
        intensity = _blocks(smooth[c], rows, cols)[flat].mean(axis=(1, 2))
        res_blocks = _blocks(residual[c], rows, cols)[flat].astype(np.float64)
        stds = res_blocks.std(axis=(1, 2))
        bins = np.clip((intensity * LEVELS).astype(np.int64), 0, LEVELS - 1)
        filled = np.unique(bins)
        medians = np.array([np.median(stds[bins == k]) for k in filled])
        sigma[c] = np.interp(levels, levels[filled], medians)  # constant past the ends
        weights[c] = np.bincount(bins, minlength=LEVELS)

        textured = stds > 1e-6  # a noiseless block says nothing about correlation
        if textured.any():
            normalised = res_blocks[textured] / stds[textured, None, None]
            design, target = _ar_design(normalised)
            coefficients = np.linalg.lstsq(design, target, rcond=None)[0]
            ar[c] = _stable_ar(coefficients).astype(np.float32)
    return Grain(levels=levels, sigma=sigma, ar=ar, weights=weights)


def synthesize_grain(image: np.ndarray, grain: Grain, *, mask: np.ndarray | None = None,
                     seed: int = 0, device: str = "cpu") -> np.ndarray:
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
    _as_unit_float(image)  # validates shape and dtype
    height, width, channels = image.shape
    if grain.channels != channels:
        raise ValueError(f"grain has {grain.channels} channels, image {channels}")
    inside = _inside(mask, (height, width))
    integer = image.dtype.kind == "u"
    top = np.float32(full_scale(image.dtype))
    # the field is made on the host for either device (see the module notes)
    field = _unit_residual_field(grain, height, width, seed)
    out = np.empty_like(image)
    run(device, _add_grain_cpu, _add_grain_cuda, (height, width), np.ascontiguousarray(image),
        field, inside, grain.levels, grain.sigma, top, integer, Out(out))
    return out
