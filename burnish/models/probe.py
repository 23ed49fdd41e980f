"""Learn a model's scale and receptive field by running it, for models that do not say.

The receptive radius is measured with an impulse: change one input pixel in the middle of a
random image and see how far from the matching output position the output changes. For
convolutional networks this is exact; for attention models it reports the probe's size, and
the scheduler then works with large halos (correct, just slower).
"""

from __future__ import annotations

import numpy as np

from burnish.errors import ModelError
from burnish.models.descriptor import MAX_SCALE
from burnish.models.runner import Runner

PROBE_SIZE = 64
MAX_PROBE_SIZE = 512


def _probe_input(runner: Runner, size: int, seed: int) -> np.ndarray:
    d = runner.descriptor
    size += (-size) % d.size_multiple
    size = max(size, d.min_size)
    rng = np.random.default_rng(seed)
    return rng.random((1, d.channels, size, size), dtype=np.float32)


def probe_scale(runner: Runner) -> int:
    """The model's integer upscaling factor, from one small run.

    Raises :class:`~burnish.errors.ModelError` naming the model when its output is not the
    input enlarged by one positive integer factor along both axes, with the same batch and
    channels (a downscaler, a fractional or anisotropic scale, another shape).
    """
    probe = _probe_input(runner, 16, seed=0)
    out = runner._infer_checked(probe)  # a 4-dimensional, finite array
    n, c, h, w = probe.shape
    scale = out.shape[2] // h
    maps = f"the model maps a {n} x {c} x {h} x {w} input to {' x '.join(map(str, out.shape))}"
    if out.shape[:2] != (n, c):
        raise ModelError(f"{maps}: another batch or channel count than its input",
                         path=runner.model_name)
    if not 1 <= scale <= MAX_SCALE or out.shape[2:] != (h * scale, w * scale):
        raise ModelError(f"{maps}: not an upscale by a whole factor from 1 to {MAX_SCALE} "
                         "(downscalers and fractional scales are not supported)",
                         path=runner.model_name)
    return scale


def probe_receptive_radius(runner: Runner, size: int = PROBE_SIZE,
                           max_size: int = MAX_PROBE_SIZE) -> int:
    """Input pixels on each side that one output pixel depends on.

    Probes at ``size``, doubling while the change reaches the probe's edge, up to
    ``max_size``; two random backgrounds, so that a change hidden by one (a unit that happens
    to be off) shows in the other.
    """
    while True:
        radius, limit = max(_impulse_extent(runner, size, seed) for seed in (1, 2))
        if radius < limit or size >= max_size:
            return radius
        size *= 2


def _run(runner: Runner, probe: np.ndarray) -> np.ndarray:
    """The model's finite output for a probe, refused unless it is the probe scaled by the
    descriptor's scale: what the probes' index arithmetic relies on."""
    out = runner._infer_checked(probe)
    n, c, h, w = probe.shape
    s = runner.descriptor.scale
    if out.shape != (n, c, h * s, w * s):
        raise ModelError(f"the model maps a {n} x {c} x {h} x {w} input to "
                         f"{' x '.join(map(str, out.shape))}, not to that input scaled by {s}",
                         path=runner.model_name)
    return out


def _impulse_extent(runner: Runner, size: int, seed: int) -> tuple[int, int]:
    """How far an impulse at the probe's centre changes the output, and how far it could."""
    scale = runner.descriptor.scale
    base = _probe_input(runner, size, seed=seed)
    size = base.shape[2]
    centre = size // 2
    impulse = base.copy()
    impulse[:, :, centre, centre] = 1.0 - impulse[:, :, centre, centre]
    changed = np.abs(_run(runner, impulse) - _run(runner, base)).max(axis=(0, 1)) > 0
    rows, cols = np.nonzero(changed)
    if rows.size == 0:
        return 0, centre
    # Output pixel o depends on input pixels around o // scale: convert the changed extent to
    # input pixels and take the farthest side.
    extent = max(centre - rows.min() // scale, rows.max() // scale - centre,
                 centre - cols.min() // scale, cols.max() // scale - centre)
    return int(extent), size - 1 - centre


ALIGNMENTS = (1, 2, 4, 8, 16, 32, 64)


def probe_alignment(runner: Runner, halo: int) -> int:
    """The smallest shift (in input pixels) under which the model is translation-equivariant.

    A convolutional network gives the same output for content shifted by one pixel; a
    windowed transformer (SwinIR: attention in 8x8 windows laid from the image's corner) only
    for shifts by whole windows. Tiles must start at multiples of this, so it becomes the
    descriptor's ``size_multiple``. Measured by running two crops of one random image, offset
    by each candidate, and comparing them where neither crop's edge reaches (``halo`` away).
    """
    d = runner.descriptor
    s = d.scale
    rng = np.random.default_rng(3)
    for shift in ALIGNMENTS:
        if shift % d.size_multiple:
            continue  # the model already demands a coarser grid
        size = max(2 * halo + 2 * shift + 32, d.min_size)
        size += (-size) % shift
        image = rng.random((1, d.channels, size + shift, size + shift), dtype=np.float32)
        first = _run(runner, np.ascontiguousarray(image[:, :, :size, :size]))
        second = _run(runner, np.ascontiguousarray(image[:, :, shift:, shift:]))
        # Input rows [shift + halo, size - halo) lie away from both crops' edges.
        start, stop = (shift + halo) * s, (size - halo) * s
        if stop <= start:
            continue
        a = first[:, :, start:stop, start:stop]
        b = second[:, :, start - shift * s: stop - shift * s, start - shift * s: stop - shift * s]
        if np.abs(a - b).max() <= 1e-4 * max(float(np.abs(a).max()), 1.0):
            return shift
    return max(ALIGNMENTS[-1], d.size_multiple)
