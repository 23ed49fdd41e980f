"""Small community architectures with random weights, saved the way users bring them.

Each builder makes a real architecture from spandrel (the same classes spandrel detects in
OpenModelDB checkpoints), small enough for CI. Random weights give outputs far outside an
image's range (SPAN's ``img_range`` of 255) or squeezed into a few levels (ESRGAN), which
would make comparisons after 8-bit quantisation say little; so the last convolution is
rescaled to put the output around 0.5 +- 0.2, where every level counts.
"""

from __future__ import annotations

from pathlib import Path

import torch

ARCHITECTURES = ("ESRGAN", "RealESRGAN Compact", "SwinIR", "SPAN")


def _build(name: str) -> torch.nn.Module:
    if name == "ESRGAN":
        from spandrel.architectures.ESRGAN import ESRGAN

        return ESRGAN(in_nc=3, out_nc=3, num_filters=16, num_blocks=1, scale=4)
    if name == "RealESRGAN Compact":
        from spandrel.architectures.Compact import Compact

        return Compact(num_feat=16, num_conv=4, upscale=4)
    if name == "SwinIR":
        from spandrel.architectures.SwinIR import SwinIR

        return SwinIR(img_size=32, in_chans=3, embed_dim=24, depths=[2, 2], num_heads=[2, 2],
                      window_size=8, mlp_ratio=2.0, upscale=2, upsampler="pixelshuffledirect")
    if name == "SPAN":
        from spandrel.architectures.SPAN import SPAN

        return SPAN(num_in_ch=3, num_out_ch=3, feature_channels=16, upscale=2)
    raise ValueError(name)


def build(name: str, seed: int = 0) -> torch.nn.Module:
    """The architecture ``name`` with random weights, its output centred in [0, 1]."""
    torch.manual_seed(seed)
    return centre_output(_build(name).eval())


def centre_output(network: torch.nn.Module) -> torch.nn.Module:
    """Rescale the last convolution so that the output is about 0.5 +- 0.2 on noise."""
    last = [m for m in network.modules() if isinstance(m, torch.nn.Conv2d)][-1]
    probe = torch.rand(1, 3, 32, 32)
    with torch.no_grad():
        for _ in range(3):  # the output is affine in the last conv only up to a residual: iterate
            out = network(probe)
            last.weight.mul_(0.2 / max(float(out.std()), 1e-6))
            if last.bias is not None:
                last.bias.add_(0.5 - float(network(probe).mean()))
    return network


def save(network: torch.nn.Module, path: Path) -> Path:
    """Save a state dict as ``.pth`` (a pickle) or ``.safetensors``, by the suffix."""
    state = {k: v.detach().contiguous() for k, v in network.state_dict().items()}
    if path.suffix == ".safetensors":
        from safetensors.torch import save_file

        save_file(state, str(path))
    else:
        torch.save(state, path)
    return path
