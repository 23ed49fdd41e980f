"""Learn a model's scale and receptive field by running it, for models that do not say.

The receptive radius is measured with an impulse: change one input pixel in the middle of a
random image and see how far from the matching output position the output changes. For
convolutional networks this is exact; for attention models it reports the probe's size, and
the scheduler then works with large halos (correct, just slower).
"""

from __future__ import annotations

import numpy as np

from burnish.models.runner import Runner

PROBE_SIZE = 64


def _probe_input(runner: Runner, size: int, seed: int) -> np.ndarray:
    d = runner.descriptor
    size += (-size) % d.size_multiple
    size = max(size, d.min_size)
    rng = np.random.default_rng(seed)
    return rng.random((1, d.channels, size, size), dtype=np.float32)


def probe_scale(runner: Runner) -> int:
    """The model's integer upscaling factor, from one small run."""
    probe = _probe_input(runner, 16, seed=0)
    out = runner._infer_impl(probe)
    scale = out.shape[2] // probe.shape[2]
    if scale < 1 or out.shape[2] != scale * probe.shape[2] or out.shape[3] != scale * probe.shape[3]:
        raise ValueError(f"model maps {probe.shape[2:]} to {out.shape[2:]}: not an integer scale")
    return scale


def probe_receptive_radius(runner: Runner, size: int = PROBE_SIZE) -> int:
    """Input pixels on each side that one output pixel depends on (at most ``size // 2``)."""
    scale = runner.descriptor.scale
    base = _probe_input(runner, size, seed=1)
    size = base.shape[2]
    centre = size // 2
    impulse = base.copy()
    impulse[:, :, centre, centre] = 1.0 - impulse[:, :, centre, centre]
    changed = np.abs(runner._infer_impl(impulse) - runner._infer_impl(base)).max(axis=(0, 1)) > 0
    rows, cols = np.nonzero(changed)
    if rows.size == 0:
        return 0
    # Output pixel o depends on input pixels around o // scale: convert the changed extent to
    # input pixels and take the farthest side.
    extent = max(centre - rows.min() // scale, rows.max() // scale - centre,
                 centre - cols.min() // scale, cols.max() // scale - centre)
    return int(extent)
