"""Classical resampling as a runner, so baselines go through the same tiled engine as models."""

from __future__ import annotations

import numpy as np
from PIL import Image

from burnish.models.descriptor import ModelDescriptor
from burnish.models.runner import Runner

# Pillow's Lanczos has 3 lobes: an output pixel reads input pixels up to 3 away from its
# centre; one more covers the half-pixel offset of the centres.
LANCZOS_HALO = 4


class LanczosRunner(Runner):
    """Lanczos-3 upscaling (Pillow, float32 per channel), in the encoded colour space."""

    def __init__(self, scale: int, channels: int = 3):
        self.descriptor = ModelDescriptor(name="lanczos", scale=scale, halo=LANCZOS_HALO,
                                          channels=channels, architecture="Lanczos-3 resampling")

    def _infer_impl(self, batch: np.ndarray) -> np.ndarray:
        n, c, h, w = batch.shape
        s = self.descriptor.scale
        out = np.empty((n, c, h * s, w * s), dtype=np.float32)
        for i in range(n):
            for j in range(c):
                plane = Image.fromarray(batch[i, j])  # float32 -> mode "F"
                out[i, j] = np.asarray(plane.resize((w * s, h * s), Image.LANCZOS))
        return out
