"""Small NumPy runners with known receptive fields, for testing the scheduler alone."""

from __future__ import annotations

import numpy as np

from burnish.errors import BackendOutOfMemory
from burnish.models.descriptor import ModelDescriptor
from burnish.models.runner import Runner


def box_blur(batch: np.ndarray, radius: int) -> np.ndarray:
    """Zero-padded (like a convolution) box blur of N x C x H x W, radius ``radius``."""
    padded = np.pad(batch, ((0, 0), (0, 0), (radius, radius), (radius, radius)))
    h, w = batch.shape[2:]
    out = np.zeros_like(batch)
    for dy in range(2 * radius + 1):
        for dx in range(2 * radius + 1):
            out += padded[:, :, dy: dy + h, dx: dx + w]
    return out / (2 * radius + 1) ** 2


class BlurUpscaleRunner(Runner):
    """Box blur of radius ``halo`` then nearest upscaling; optionally windowed like Swin.

    With ``window`` set, each ``window x window`` block also gets its own block mean added,
    so the output depends on where blocks start: tiling is exact only if tile windows are
    aligned to multiples of ``window``, as the grid promises for size-multiple models.
    """

    def __init__(self, *, scale=2, halo=3, window=1, oom_above_pixels=None):
        self.descriptor = ModelDescriptor(name="blur", scale=scale, halo=halo,
                                          size_multiple=window)
        self.window = window
        self.oom_above_pixels = oom_above_pixels
        self.calls = []

    def _infer_impl(self, batch):
        n, c, h, w = batch.shape
        self.calls.append(batch.shape)
        if self.oom_above_pixels and n * h * w > self.oom_above_pixels:
            raise BackendOutOfMemory("simulated")
        out = box_blur(batch, self.descriptor.halo)
        if self.window > 1:
            k = self.window
            blocks = batch.reshape(n, c, h // k, k, w // k, k).mean(axis=(3, 5), keepdims=True)
            out = out + 0.1 * np.broadcast_to(blocks, (n, c, h // k, k, w // k, k)).reshape(n, c, h, w)
        s = self.descriptor.scale
        return np.repeat(np.repeat(out, s, axis=2), s, axis=3).astype(np.float32)
