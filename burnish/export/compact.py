"""The architecture of burnish's shipped default super-resolution model.

It is Real-ESRGAN's SRVGGNetCompact ("Compact"): a plain stack of 3x3 convolutions with PReLU
at low resolution, a pixel shuffle, and the nearest-neighbour upsampled input added back so
the network only learns the residual. It is the fastest family that still clearly beats
bicubic, and its state-dict layout is the one spandrel detects as "RealESRGAN Compact", so the
checkpoints this recipe saves also load in chaiNNer and friends.

Receptive field: ``num_conv + 2`` convolutions of 3x3, so an output pixel depends on input
pixels at most ``num_conv + 2`` away. The scheduler's halo comes from that number (and the
export probes it with impulses to make sure).
"""

from __future__ import annotations

import torch
from torch import nn
from torch.nn import functional as F


class SRVGGNetCompact(nn.Module):
    """Compact VGG-style super-resolution network (Wang et al., Real-ESRGAN, 2021)."""

    def __init__(self, *, num_in_ch: int = 3, num_out_ch: int = 3, num_feat: int = 32,
                 num_conv: int = 8, upscale: int = 4, conv=None):
        super().__init__()
        # ``conv(inputs, outputs)``: a 3x3 convolution, or what trains in its place
        # (burnish.export.rep_compact)
        conv = conv or (lambda inputs, outputs: nn.Conv2d(inputs, outputs, 3, 1, 1))
        self.num_in_ch, self.num_out_ch = num_in_ch, num_out_ch
        self.num_feat, self.num_conv, self.upscale = num_feat, num_conv, upscale
        layers: list[nn.Module] = [conv(num_in_ch, num_feat), nn.PReLU(num_parameters=num_feat)]
        for _ in range(num_conv):
            layers += [conv(num_feat, num_feat), nn.PReLU(num_parameters=num_feat)]
        layers.append(conv(num_feat, num_out_ch * upscale * upscale))
        self.body = nn.ModuleList(layers)
        self.upsampler = nn.PixelShuffle(upscale)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = x
        for layer in self.body:
            out = layer(out)
        out = self.upsampler(out)
        return out + F.interpolate(x, scale_factor=self.upscale, mode="nearest")


@torch.no_grad()
def relu_where_slopes_are_zero(model: SRVGGNetCompact) -> SRVGGNetCompact:
    """``model`` with each PReLU whose slopes are all 0 (a network trained into ReLU by
    ``train_sr.py``'s slope fade) replaced by ReLU, in place: the same function, but ONNX
    Runtime fuses a ReLU into the convolution before it, where a PReLU runs as a pass of its
    own over the activations (a third of a Compact's time on a CPU). The state dict, saved
    before, keeps the PReLU layout spandrel knows."""
    for index, layer in enumerate(model.body):
        if isinstance(layer, nn.PReLU) and not layer.weight.any():
            model.body[index] = nn.ReLU()
    return model


def receptive_radius(num_conv: int) -> int:
    """Input pixels on each side that one output pixel depends on."""
    return num_conv + 2
