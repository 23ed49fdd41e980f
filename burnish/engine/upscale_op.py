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
    """Upscale ``channels``-channel float32 tiles (1 grey, 2 grey+alpha, 3 RGB, 4 RGBA)."""

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
        """Upscale an ``N x H x W x channels`` float32 batch to ``N x sH x sW x channels``."""
        colour = windows[..., : self.channels - 1] if self.has_alpha else windows
        planes = [colour]
        if self.has_alpha:
            alpha = windows[..., -1:]
            planes = [colour * alpha, alpha]
        upscaled = [self._reduce(p) for p in self._run_model(planes)]
        if self.has_alpha:
            # Divide the unclipped values: ringing lifts colour and alpha by the same factor,
            # which cancels here but would not after clipping alpha alone.
            colour_up, alpha_up = upscaled
            safe_alpha = np.maximum(alpha_up, ALPHA_EPSILON)
            colour_up = np.where(alpha_up > ALPHA_EPSILON, colour_up / safe_alpha, 0.0)
            upscaled = [colour_up.astype(np.float32), alpha_up]
        out = np.concatenate(upscaled, axis=-1) if len(upscaled) > 1 else upscaled[0]
        return np.clip(out, 0.0, 1.0)

    def _run_model(self, planes: list[np.ndarray]) -> list[np.ndarray]:
        """One model call for all planes (colour and alpha tiles are batched together)."""
        model_channels = self.runner.descriptor.channels
        items, owners = [], []
        for index, plane in enumerate(planes):
            nchw = np.ascontiguousarray(plane.transpose(0, 3, 1, 2))
            if model_channels == 3 and nchw.shape[1] == 1:
                nchw = np.repeat(nchw, 3, axis=1)
                items.append(nchw)
                owners.append((index, "mean"))
            elif model_channels == 3:
                items.append(nchw)
                owners.append((index, "rgb"))
            else:  # single-channel model: every channel is its own batch item
                n, c, h, w = nchw.shape
                items.append(nchw.reshape(n * c, 1, h, w))
                owners.append((index, "split"))
        result = self.runner.infer(np.concatenate(items, axis=0))
        outputs, offset = [], 0
        for item, (index, how) in zip(items, owners):
            part = result[offset: offset + item.shape[0]]
            offset += item.shape[0]
            if how == "mean":
                part = part.mean(axis=1, keepdims=True)
            elif how == "split":
                c = planes[index].shape[-1]
                part = part.reshape(-1, c, *part.shape[2:])
            outputs.append(np.ascontiguousarray(part.transpose(0, 2, 3, 1)))
        return outputs

    def _reduce(self, out: np.ndarray) -> np.ndarray:
        factor = self.runner.descriptor.scale // self.scale
        if factor == 1:
            return out
        n, h, w, c = out.shape
        return out.reshape(n, h // factor, factor, w // factor, factor, c).mean(axis=(2, 4))
