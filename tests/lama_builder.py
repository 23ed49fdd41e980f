"""A tiny LaMa-shaped inpainting network with random weights, exported to ONNX by the tests.

Nothing is downloaded or shipped: the tests build the network with PyTorch, export it, and
open the file with :class:`burnish.models.inpaint_model.InpaintModel`.

The network keeps LaMa's contract and its shape in miniature:

- inputs ``image`` (``1 x 3 x H x W``, [0, 1]) and ``mask`` (``1 x 1 x H x W``, 1 = hole);
- the image is multiplied by ``1 - mask`` and concatenated with the mask (4 channels);
- a 3x3 stem, a strided 3x3 convolution that halves the size;
- one Fast Fourier Convolution block: a local 3x3 branch beside a spectral branch
  (``torch.fft.rfft2`` -> real and imaginary parts stacked as channels -> 1x1 convolution ->
  ``torch.fft.irfft2``, as LaMa's ``FourierUnit``), summed, with a residual connection;
- a transposed convolution back to full size, a 3x3 convolution and a sigmoid, so the
  prediction is in [0, 1];
- the prediction is composited into the input, ``mask * predicted + (1 - mask) * image``, as
  LaMa's inpainting module does before it returns ``inpainted``: away from the hole the output
  is the input, which is what :class:`InpaintModel` probes to tell the output range.

Export: the legacy TorchScript exporter (``dynamo=False``) has no ONNX symbolic for
``aten::fft_rfft2`` ("Exporting the operator 'aten::fft_rfft2' to ONNX opset version 18 is
not supported", torch 2.14), so the spectral branch is exported with the dynamo exporter
(``dynamo=True``), which needs ``onnxscript``. Where ``onnxscript`` is not installed,
:func:`build_network` replaces the spectral branch with a global-context branch (global
average pooling -> 1x1 convolution -> broadcast back over the image) that the legacy exporter
handles; :data:`SPECTRAL_EXPORTS` says which one this machine builds.
"""

from __future__ import annotations

import importlib.util
import warnings

import onnx
import torch
from torch import nn

SPECTRAL_EXPORTS = importlib.util.find_spec("onnxscript") is not None


class FourierUnit(nn.Module):
    """LaMa's spectral transform: a 1x1 convolution over the real and imaginary parts."""

    def __init__(self, channels: int):
        super().__init__()
        self.conv = nn.Conv2d(2 * channels, 2 * channels, 1)

    def forward(self, x):
        batch, channels, height, width = x.shape
        spectrum = torch.fft.rfft2(x, norm="ortho")
        stacked = torch.stack((spectrum.real, spectrum.imag), dim=2)  # B x C x 2 x H x W/2+1
        stacked = stacked.reshape(batch, 2 * channels, height, -1)
        stacked = torch.relu(self.conv(stacked)).reshape(batch, channels, 2, height, -1)
        spectrum = torch.complex(stacked[:, :, 0], stacked[:, :, 1])
        return torch.fft.irfft2(spectrum, s=(height, width), norm="ortho")


class GlobalContext(nn.Module):
    """Stand-in for :class:`FourierUnit` where FFTs cannot be exported: image-wide context
    through global average pooling and a 1x1 convolution, broadcast back."""

    def __init__(self, channels: int):
        super().__init__()
        self.conv = nn.Conv2d(channels, channels, 1)

    def forward(self, x):
        context = torch.relu(self.conv(x.mean(dim=(2, 3), keepdim=True)))
        return x * 0 + context


class FFCBlock(nn.Module):
    """A local 3x3 branch beside a global (spectral) branch, summed, with a residual."""

    def __init__(self, channels: int, spectral: bool):
        super().__init__()
        self.local = nn.Conv2d(channels, channels, 3, padding=1, padding_mode="reflect")
        self.spectral = FourierUnit(channels) if spectral else GlobalContext(channels)

    def forward(self, x):
        return x + torch.relu(self.local(x) + self.spectral(x))


class TinyLama(nn.Module):
    """``forward(image, mask) -> inpainted`` (``1 x 3 x H x W``), H and W even."""

    def __init__(self, *, features: int = 8, spectral: bool = SPECTRAL_EXPORTS):
        super().__init__()
        self.spectral = spectral
        self.stem = nn.Conv2d(4, features, 3, padding=1, padding_mode="reflect")
        self.down = nn.Conv2d(features, 2 * features, 3, stride=2, padding=1)
        self.ffc = FFCBlock(2 * features, spectral)
        self.up = nn.ConvTranspose2d(2 * features, features, 4, stride=2, padding=1)
        self.head = nn.Conv2d(features, 3, 3, padding=1, padding_mode="reflect")

    def forward(self, image, mask):
        x = torch.cat([image * (1 - mask), mask], dim=1)
        x = torch.relu(self.stem(x))
        x = self.ffc(torch.relu(self.down(x)))
        predicted = torch.sigmoid(self.head(torch.relu(self.up(x))))
        return mask * predicted + (1 - mask) * image


class Scaled(nn.Module):
    """A network whose output is multiplied by ``factor`` (LaMa exports that give [0, 255])."""

    def __init__(self, network: nn.Module, factor: float):
        super().__init__()
        self.network, self.factor = network, factor

    def forward(self, image, mask):
        return self.network(image, mask) * self.factor


def build_network(seed: int, *, features: int = 8) -> TinyLama:
    """A :class:`TinyLama` with random weights from ``seed``, in eval mode."""
    torch.manual_seed(seed)
    network = TinyLama(features=features)
    with torch.no_grad():
        for parameter in network.parameters():  # larger than default init: visible fills
            parameter.mul_(2.0)
    return network.eval()


def export(network: nn.Module, path, *, fixed_size: tuple[int, int] | None = None,
           output_scale: float = 1.0, metadata: dict | None = None):
    """Export ``network`` (times ``output_scale``) to ``path``; returns the path.

    Height and width are dynamic unless ``fixed_size`` is given. ``metadata`` entries are
    written as ONNX metadata properties (``burnish.output_range`` and the like).
    """
    module = network if output_scale == 1.0 else Scaled(network, output_scale)
    height, width = fixed_size or (32, 48)
    example = (torch.rand(1, 3, height, width), torch.zeros(1, 1, height, width))
    names = dict(input_names=["image", "mask"], output_names=["inpainted"])
    spectral = getattr(network, "spectral", False)
    with warnings.catch_warnings(), torch.no_grad():
        warnings.simplefilter("ignore")
        if spectral:
            dynamic = None
            if fixed_size is None:
                h, w = torch.export.Dim("h", min=8), torch.export.Dim("w", min=8)
                dynamic = {"image": {2: h, 3: w}, "mask": {2: h, 3: w}}
            torch.onnx.export(module, example, str(path), dynamo=True, opset_version=18,
                              dynamic_shapes=dynamic, verbose=False, **names)
        else:
            axes = None
            if fixed_size is None:
                axes = {"image": {2: "h", 3: "w"}, "mask": {2: "h", 3: "w"},
                        "inpainted": {2: "h", 3: "w"}}
            torch.onnx.export(module, example, str(path), dynamo=False, opset_version=17,
                              dynamic_axes=axes, **names)
    return with_metadata(path, path, metadata or {})


def with_metadata(source, destination, metadata: dict):
    """Copy the ONNX file ``source`` to ``destination`` with ``metadata`` added as metadata
    properties (``{"burnish.output_range": "255"}``); returns ``destination``."""
    model = onnx.load(str(source))
    for key, value in metadata.items():
        entry = model.metadata_props.add()
        entry.key, entry.value = key, str(value)
    onnx.save(model, str(destination))
    return destination
