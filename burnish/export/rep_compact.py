"""A structurally re-parameterised Compact: trained with more branches than it runs with.

During training every 3x3 convolution of :class:`~burnish.export.compact.SRVGGNetCompact`
is a *RepVGG* block (Ding et al., "RepVGG", 2021; the same idea as ECBSR and RepSR for
super-resolution): a 3x3 convolution, a 1x1 convolution and, where the channel counts agree,
the identity, summed. The extra branches make optimisation easier (the identity and 1x1 paths
carry gradients through a deep plain stack) and add capacity during training; all three are
linear and act on the same zero-padded input, so their sum is exactly one 3x3 convolution:
the 1x1 kernel sits at the 3x3's centre, the identity is a centred 1 on each channel's own
tap. :func:`merged` folds them, giving a plain ``SRVGGNetCompact`` with the same outputs (to
float rounding), the same speed as the shipped model, and the state-dict layout spandrel
knows.
"""

from __future__ import annotations

import torch
from torch import nn
from torch.nn import functional as F

from burnish.export.compact import SRVGGNetCompact


class RepConv(nn.Module):
    """3x3 + 1x1 (+ identity when ``inputs == outputs``), one 3x3 once merged."""

    def __init__(self, inputs: int, outputs: int):
        super().__init__()
        self.conv3 = nn.Conv2d(inputs, outputs, 3, 1, 1)
        self.conv1 = nn.Conv2d(inputs, outputs, 1, 1, 0)
        self.identity = inputs == outputs

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = self.conv3(x) + self.conv1(x)
        return out + x if self.identity else out

    def merged_kernel(self) -> tuple[torch.Tensor, torch.Tensor]:
        weight = self.conv3.weight + F.pad(self.conv1.weight, (1, 1, 1, 1))
        if self.identity:
            weight = weight + self.identity_kernel()
        return weight, self.conv3.bias + self.conv1.bias

    def identity_kernel(self) -> torch.Tensor:
        eye = torch.zeros_like(self.conv3.weight)
        channels = torch.arange(eye.shape[0])
        eye[channels, channels, 1, 1] = 1.0
        return eye

    @torch.no_grad()
    def set_merged(self, weight: torch.Tensor, bias: torch.Tensor) -> None:
        """Branches whose sum is this 3x3 kernel: all of it in the 3x3 branch, the 1x1 at 0."""
        self.conv3.weight.copy_(weight - self.identity_kernel() if self.identity else weight)
        self.conv3.bias.copy_(bias)
        self.conv1.weight.zero_()
        self.conv1.bias.zero_()


class RepCompact(SRVGGNetCompact):
    """:class:`SRVGGNetCompact` with :class:`RepConv` in place of each convolution."""

    def __init__(self, *, num_feat: int = 32, num_conv: int = 8, upscale: int = 4,
                 channels: int = 3):
        super().__init__(num_in_ch=channels, num_out_ch=channels, num_feat=num_feat,
                         num_conv=num_conv, upscale=upscale, conv=RepConv)


@torch.no_grad()
def merged(model: RepCompact) -> SRVGGNetCompact:
    """The plain network that computes what ``model`` computes (module notes)."""
    plain = SRVGGNetCompact(num_in_ch=model.num_in_ch, num_out_ch=model.num_out_ch,
                            num_feat=model.num_feat, num_conv=model.num_conv,
                            upscale=model.upscale)
    for source, target in zip(model.body, plain.body, strict=True):
        if isinstance(source, RepConv):
            weight, bias = source.merged_kernel()
            target.weight.copy_(weight)
            target.bias.copy_(bias)
        else:
            target.load_state_dict(source.state_dict())
    return plain.eval()


@torch.no_grad()
def warm_started(model: RepCompact, plain: dict[str, torch.Tensor]) -> RepCompact:
    """``model`` set to compute what a trained plain Compact's state dict ``plain`` computes.

    ``model`` may be deeper than ``plain`` (same width and scale): the extra body layers go
    just before the last convolution as identities (a centred 1 on each channel, PReLU slope
    1), so training goes on from the trained network's outputs instead of from noise, with
    the depth it can grow into (function-preserving widening of depth, as Net2Net's).
    """
    depth = sum(1 for key in plain if key.startswith("body.") and key.endswith(".weight")
                and plain[key].dim() == 4) - 2
    if depth > model.num_conv:
        raise ValueError(f"the plain network has {depth} body convolutions, more than the "
                         f"{model.num_conv} of the one to start")
    convs = [layer for layer in model.body if isinstance(layer, RepConv)]
    activations = [layer for layer in model.body if isinstance(layer, nn.PReLU)]
    sources = list(range(depth + 1)) + [None] * (model.num_conv - depth) + [depth + 1]
    for conv, activation, source in zip(convs, activations + [None], sources, strict=True):
        if source is None:  # an identity layer
            conv.set_merged(conv.identity_kernel(), torch.zeros_like(conv.conv3.bias))
            activation.weight.fill_(1.0)
            continue
        conv.set_merged(plain[f"body.{2 * source}.weight"], plain[f"body.{2 * source}.bias"])
        if activation is not None:
            activation.weight.copy_(plain[f"body.{2 * source + 1}.weight"])
    return model
