"""Models that map an image to a per-pixel map: saliency (what the subject is) and text.

Two contracts, both one image in and one map out, run through ONNX Runtime:

- **saliency**, rembg's (u2net, u2netp, isnet, BiRefNet exports): an input ``1 x 3 x S x S``
  (static sides are used as they are; a dynamic model gets ``burnish.input_size``, else 320,
  u2net's), normalised with ImageNet's mean and spread (or ``burnish.normalize = "half"``:
  ``(x - 0.5) / 1``, isnet's); the first output ``1 x 1 x S x S`` (or ``1 x S x S``) is
  stretched to [0, 1] by its own minimum and maximum, as rembg does, then resized back;
- **text**, the DB detector's (PaddleOCR's PP-OCR ``det`` models, such as the one the
  ``rapidocr_onnxruntime`` wheel carries): a dynamic input ``1 x 3 x H x W``, the image
  resized so its short side is 736 (at most 2560 on the long side) and both sides are
  multiples of 32, normalised to ``(x - 0.5) / 0.5``; the output is the text probability
  ``1 x 1 x H x W`` in [0, 1], resized back.

A file that does not follow its contract is a one-line :class:`~burnish.errors.ModelError`
naming it, when it is opened (shapes) or run (what comes out).
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from burnish.errors import ModelError
from burnish.models.descriptor import metadata_fields
from burnish.models.inpaint_model import resize_pixels
from burnish.models.onnx_runner import choose_providers, open_session

IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)


@dataclass(frozen=True)
class Contract:
    name: str
    mean: tuple[float, float, float]
    std: tuple[float, float, float]
    default_size: int | None  # a dynamic model's square side (None: fitted to the image)
    short_side: int = 736
    long_side_max: int = 2560
    multiple: int = 32
    stretch: bool = False  # min-max normalise the output (rembg)

    def describe(self) -> str:
        return (f"expected one image input 1x3xHxW and a map output 1x1xHxW "
                f"({self.name} contract)")


CONTRACTS = {
    "saliency": Contract("rembg's saliency", IMAGENET_MEAN, IMAGENET_STD, default_size=320,
                         stretch=True),
    "text": Contract("PP-OCR's text detection", (0.5, 0.5, 0.5), (0.5, 0.5, 0.5),
                     default_size=None),
}
HALF_NORMALISATION = ((0.5, 0.5, 0.5), (1.0, 1.0, 1.0))


class MapModel:
    """An ONNX model of one of :data:`CONTRACTS`: :meth:`predict` gives its map of an image,
    ``H x W`` float32 in [0, 1] at the image's size."""

    def __init__(self, path: str | os.PathLike, *, contract: str, device: str = "auto"):
        self.path = Path(path)
        self.contract = CONTRACTS[contract]
        providers, provider_options = choose_providers(device)
        self.session = open_session(self.path, providers=providers,
                                    provider_options=provider_options)
        inputs, outputs = self.session.get_inputs(), self.session.get_outputs()
        shape = inputs[0].shape if len(inputs) == 1 else []
        channels = shape[1] if len(shape) == 4 else None
        if (len(shape) != 4 or (isinstance(channels, int) and channels != 3) or not outputs
                or len(outputs[0].shape) not in (3, 4)):
            raise ModelError(self.contract.describe(), path=self.path)
        self.input_name = inputs[0].name
        fields = metadata_fields(self.session.get_modelmeta().custom_metadata_map)
        self.mean, self.std = self.contract.mean, self.contract.std
        if fields.get("normalize") == "half":
            self.mean, self.std = HALF_NORMALISATION
        static = [side if isinstance(side, int) and side > 0 else None for side in shape[2:]]
        if all(static):
            self.fixed_size: tuple[int, int] | None = (static[0], static[1])
        elif self.contract.default_size is not None:
            side = int(fields.get("input_size", self.contract.default_size))
            self.fixed_size = (side, side)
        else:
            self.fixed_size = None

    def input_size(self, height: int, width: int) -> tuple[int, int]:
        """The model's input size for an image of ``height x width``."""
        if self.fixed_size is not None:
            return self.fixed_size
        c = self.contract
        ratio = min(c.short_side / min(height, width), c.long_side_max / max(height, width))
        return tuple(max(c.multiple, round(side * ratio / c.multiple) * c.multiple)
                     for side in (height, width))

    def predict(self, pixels: np.ndarray) -> np.ndarray:
        """The map of ``pixels`` (``H x W`` or ``H x W x C``; uint8, uint16 or float32 in
        [0, 1]; grey is repeated to RGB, alpha ignored)."""
        rgb = _rgb_float(pixels)
        height, width = rgb.shape[:2]
        size = self.input_size(height, width)
        resized = np.clip(resize_pixels(rgb, *size), 0.0, 1.0)
        batch = ((resized - np.float32(self.mean)) / np.float32(self.std)).transpose(2, 0, 1)
        try:
            output = self.session.run(None, {self.input_name: batch[None].astype(np.float32)})
        except Exception as error:  # noqa: BLE001 - onnxruntime's errors are untyped
            raise ModelError(f"the model failed on a {size[1]}x{size[0]} input: "
                             f"{str(error).strip().splitlines()[-1][:200]}",
                             path=self.path) from None
        found = np.asarray(output[0], np.float32)
        plane = found.shape[-2:] if found.ndim >= 2 else ()
        if len(plane) != 2 or found.size != plane[0] * plane[1]:
            raise ModelError(f"the model's output {found.shape} is not one H x W map "
                             f"({self.contract.describe()})", path=self.path)
        found = found.reshape(plane)
        if not np.all(np.isfinite(found)):
            raise ModelError("the model's map has NaN or infinite values", path=self.path)
        if self.contract.stretch:
            low, high = float(found.min()), float(found.max())
            found = (found - low) / (high - low) if high > low else np.zeros_like(found)
        elif found.min() < -1e-3 or found.max() > 1 + 1e-3:
            raise ModelError("the text map is not a probability in [0, 1] (a DB detector "
                             "ends in a sigmoid)", path=self.path)
        return np.clip(resize_pixels(found[:, :, None], height, width)[:, :, 0], 0.0, 1.0)


def _rgb_float(pixels: np.ndarray) -> np.ndarray:
    pixels = np.asarray(pixels)
    if pixels.ndim == 2:
        pixels = pixels[:, :, None]
    if pixels.dtype.kind == "u":
        scaled = pixels.astype(np.float32) / np.float32(np.iinfo(pixels.dtype).max)
    else:
        scaled = pixels.astype(np.float32)
    channels = scaled.shape[2]
    colour = scaled[:, :, :1] if channels in (1, 2) else scaled[:, :, :3]
    return np.repeat(colour, 3, axis=2) if colour.shape[2] == 1 else colour


def installed_text_model() -> Path | None:
    """PP-OCR's text detector as the ``rapidocr_onnxruntime`` wheel installs it (found by
    its package's location, never imported: the wheel's own code is not needed), or None."""
    import importlib.util

    spec = importlib.util.find_spec("rapidocr_onnxruntime")
    if spec is None or not spec.submodule_search_locations:
        return None
    for folder in spec.submodule_search_locations:
        found = sorted((Path(folder) / "models").glob("*det*.onnx"))
        if found:
            return found[-1]
    return None
