"""The upscale op: adapts any image layout to a model and back, one batch of tiles at a time.

Everything here is per pixel or per model call, so it works on tiles exactly as on a whole
image.

Alpha. Colour is premultiplied by alpha before upscaling and divided by the upscaled alpha
afterwards; alpha itself goes through the same model (as a grey image). Premultiplying is
what makes semi-transparent edges correct: the colour stored under fully transparent pixels
(often black or garbage) then has no weight, so it cannot bleed a dark or coloured fringe
into the visible edge, and colour and alpha edges move together.

Grey. Grey images are replicated into the model's three channels and averaged back.

Scale. A model of scale 4 can deliver scale 2 (or 1): its output is reduced by averaging
2x2 (4x4) blocks, which stays tile-exact because tile origins in the model's output are
multiples of the model's scale.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from burnish.errors import ModelError, OptionError
from burnish.models.runner import Runner

# Below this upscaled alpha the colour is undefined (fully transparent): it is set to 0.
ALPHA_EPSILON = 1.0 / 65535.0


@dataclass
class UpscaleOp:
    """Upscale planar float32 tiles of ``channels`` channels (1 grey, 2 grey+alpha, 3 RGB, 4 RGBA)."""

    runner: Runner
    scale: int
    channels: int

    def __post_init__(self):
        d = self.runner.descriptor
        if d.channels not in (1, 3):
            raise ModelError(f"model {d.name} has {d.channels} channels; burnish runs 1- or "
                             "3-channel models")
        if self.scale < 1 or d.scale % self.scale:
            raise OptionError(f"scale {self.scale} is not available from model {d.name} "
                              f"(scale {d.scale}); choose a divisor of {d.scale}, or --model "
                              "lanczos for any scale")
        if self.channels not in (1, 2, 3, 4):
            raise OptionError(f"images with {self.channels} channels are not supported")

    @property
    def halo(self) -> int:
        return self.runner.descriptor.halo

    @property
    def size_multiple(self) -> int:
        return self.runner.descriptor.size_multiple

    @property
    def min_size(self) -> int:
        return self.runner.descriptor.min_size

    @property
    def has_alpha(self) -> bool:
        return self.channels in (2, 4)

    def __call__(self, windows: np.ndarray) -> np.ndarray:
        """Upscale an ``N x channels x H x W`` float32 batch to ``N x channels x sH x sW``.

        The result is not clipped: the stitching kernel clips while it quantises.
        """
        colour = windows[:, : self.channels - 1] if self.has_alpha else windows
        planes = [colour]
        if self.has_alpha:
            alpha = windows[:, -1:]
            planes = [colour * alpha, alpha]
        upscaled = [self._reduce(p) for p in self._run_model(planes)]
        if not self.has_alpha:
            return upscaled[0]
        # Divide the unclipped values: ringing lifts colour and alpha by the same factor,
        # which cancels here but would not after clipping alpha alone.
        colour_up, alpha_up = upscaled
        safe_alpha = np.maximum(alpha_up, ALPHA_EPSILON)
        colour_up = np.where(alpha_up > ALPHA_EPSILON, colour_up / safe_alpha, np.float32(0))
        return np.concatenate([colour_up.astype(np.float32), alpha_up], axis=1)

    def _run_model(self, planes: list[np.ndarray]) -> list[np.ndarray]:
        """One model call for all planes (colour and alpha tiles are batched together)."""
        model_channels = self.runner.descriptor.channels
        items = []
        for plane in planes:
            n, c, h, w = plane.shape
            if model_channels == 3 and c == 1:
                items.append(np.repeat(plane, 3, axis=1))
            elif model_channels == 3:
                items.append(plane)
            else:  # single-channel model: every channel is its own batch item
                items.append(plane.reshape(n * c, 1, h, w))
        result = self.runner.infer(np.ascontiguousarray(np.concatenate(items, axis=0))
                                   if len(items) > 1 else items[0])
        outputs, offset = [], 0
        for plane, item in zip(planes, items):
            part = result[offset: offset + item.shape[0]]
            offset += item.shape[0]
            n, c = plane.shape[:2]
            if model_channels == 3 and c == 1:
                part = part.mean(axis=1, keepdims=True)
            elif model_channels == 1:
                part = part.reshape(n, c, *part.shape[2:])
            outputs.append(part)
        return outputs

    def _reduce(self, out: np.ndarray) -> np.ndarray:
        factor = self.runner.descriptor.scale // self.scale
        if factor == 1:
            return out
        n, c, h, w = out.shape
        return out.reshape(n, c, h // factor, factor, w // factor, factor).mean(axis=(3, 5))
