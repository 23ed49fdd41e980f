"""Inpainting models through ONNX Runtime, with the LaMa input contract.

The contract (LaMa, big-lama, and their ONNX exports: IOPaint's, Carve's LaMa-ONNX,
CoreMLaMa): two inputs, an image ``1 x 3 x H x W`` float32 in [0, 1] and a mask
``1 x 1 x H x W`` float32 (1 = hole, 0 = keep), and one output ``1 x 3 x H x W``. Exports
differ in two ways that :class:`InpaintModel` finds out once, when it opens the file:

- size: dynamic height and width that must be multiples of 8 (LaMa downsamples three times),
  or static ones (Carve's LaMa-ONNX is 512 x 512), to which every crop is resized;
- output range: [0, 1] (IOPaint) or [0, 255] (Carve's LaMa-ONNX, CoreMLaMa), read from the
  ``burnish.output_range`` metadata ("1" or "255") or probed.
"""

from __future__ import annotations

import logging
import os
from pathlib import Path

import numpy as np

from burnish.device import resolve_device
from burnish.errors import ModelError
from burnish.models.descriptor import ModelDescriptor, metadata_fields, read_field
from burnish.models.onnx_runner import choose_providers, open_session
from burnish.models.runner import Runner, check_finite

log = logging.getLogger(__name__)

CONTRACT = "expected an image input 1x3xHxW and a mask input 1x1xHxW (the LaMa contract)"
DEFAULT_SIZE_MULTIPLE = 8
# Probe size for dynamic models: LaMa's bottleneck runs reflect-padded 3x3 convolutions at 1/8
# of the input, which need at least 2 x 2 there, so the probe image is never smaller than 64.
PROBE_SIZE = 64


def resize_pixels(pixels: np.ndarray, height: int, width: int) -> np.ndarray:
    """``H x W x C`` float32 pixels resampled to ``height x width`` (bicubic, each plane in
    Pillow's float mode; Pillow widens the kernel when it downscales, so downscaling averages
    like an area filter). Values may overshoot [0, 1] slightly; callers clip.

    >>> resize_pixels(np.ones((4, 6, 3), np.float32), 2, 3).shape
    (2, 3, 3)
    """
    from PIL import Image

    if pixels.shape[:2] == (height, width):
        return np.array(pixels, dtype=np.float32)
    planes = [np.asarray(Image.fromarray(np.ascontiguousarray(pixels[:, :, c], np.float32))
                         .resize((width, height), Image.Resampling.BICUBIC))
              for c in range(pixels.shape[2])]
    return np.stack(planes, axis=2).astype(np.float32, copy=False)


def resize_hole(hole: np.ndarray, height: int, width: int) -> np.ndarray:
    """A bool hole mask resampled to ``height x width``, conservatively: a pixel of the result
    is hole when the hole covers any noticeable part of it, so thin holes never vanish.

    >>> hole = np.zeros((10, 10), bool); hole[5, 5] = True
    >>> int(resize_hole(hole, 5, 5).sum()) >= 1
    True
    """
    from PIL import Image

    if hole.shape == (height, width):
        return hole.copy()
    coverage = np.asarray(Image.fromarray(hole.astype(np.float32))
                          .resize((width, height), Image.Resampling.BILINEAR))
    return coverage > 1e-3


def _pad_to_multiple(pixels: np.ndarray, multiple: int) -> np.ndarray:
    """Pad bottom and right to a multiple: reflect, or edge where a side is too short to
    reflect (numpy's reflect needs more pixels than the pad)."""
    height, width = pixels.shape[:2]
    pad_h, pad_w = -height % multiple, -width % multiple
    if not pad_h and not pad_w:
        return pixels
    pads = [(0, pad_h), (0, pad_w)] + [(0, 0)] * (pixels.ndim - 2)
    mode = "reflect" if pad_h < height and pad_w < width else "edge"
    return np.pad(pixels, pads, mode=mode)


class InpaintModel(Runner):
    """An ONNX inpainting model with the LaMa contract, as a :class:`Runner` of task
    ``"inpainting"``: :meth:`infer` takes the image and its hole as one ``N x 4 x H x W``
    batch (RGB, then the hole: 1 = fill) and returns ``N x 3 x H x W`` in [0, 1], validated
    and checked finite like every runner's; :meth:`inpaint` fits a crop to the model first.

    Parameters
    ----------
    path : str or path
        The ``.onnx`` file.
    device : {"auto", "cpu", "cuda", "cuda:N"} or :class:`~burnish.device.Device`
        Where to run it (:func:`burnish.models.onnx_runner.choose_providers`).

    Attributes
    ----------
    fixed_size : tuple of int or None
        ``(height, width)`` for a model with static spatial input dimensions, else None.
    size_multiple : int
        Height and width of a dynamic model's input are padded to multiples of this (8, or the
        ``burnish.size_multiple`` metadata).
    output_range : int
        1 or 255: what the model's output is divided by to get [0, 1].
    providers : list of str
        The onnxruntime providers the session uses, best first.

    Raises
    ------
    ModelError
        One line naming the file: not an ONNX model, not the LaMa contract, an output range
        that cannot be told, or (from :meth:`inpaint`) a failed inference.
    """

    def __init__(self, path: str | os.PathLike, *, device: str = "auto"):  # or a Device
        self.path = Path(path)
        providers, provider_options = choose_providers(device)
        self.session = open_session(self.path, providers=providers,
                                    provider_options=provider_options)
        self.providers = self.session.get_providers()
        self._device = resolve_device(device)
        self.image_name, self.mask_name, self.fixed_size = self._contract()
        self.output_name = self.session.get_outputs()[0].name
        metadata = self.session.get_modelmeta().custom_metadata_map
        fields = metadata_fields(metadata)
        self.size_multiple = (read_field(fields, "size_multiple", path=self.path)
                              if "size_multiple" in fields else DEFAULT_SIZE_MULTIPLE)
        if "output_range" in fields:
            self.output_range = read_field(fields, "output_range", path=self.path)
        else:
            self.output_range = self._probe_output_range()
            log.info("%s: output range [0, %d] (probed)", self.path.name, self.output_range)
        self.descriptor = ModelDescriptor(
            name=self.path.name, scale=1, halo=0, task="inpainting", channels=3,
            size_multiple=1 if self.fixed_size else self.size_multiple,
            architecture="LaMa contract (image and hole in, image out)",
            source=str(self.path))

    def _contract(self) -> tuple[str, str, tuple[int, int] | None]:
        """The image and mask input names, and the static size if there is one."""
        inputs, outputs = self.session.get_inputs(), self.session.get_outputs()
        if len(inputs) != 2 or len(outputs) < 1 or any(len(i.shape) != 4 for i in inputs):
            raise ModelError(CONTRACT, path=self.path)
        by_channels = {i.shape[1]: i for i in inputs if isinstance(i.shape[1], int)}
        if 3 in by_channels and 1 in by_channels:
            image, mask = by_channels[3], by_channels[1]
        else:
            images = [i for i in inputs if "image" in i.name.lower()]
            masks = [i for i in inputs if "mask" in i.name.lower()]
            if len(images) != 1 or len(masks) != 1 or images[0] is masks[0]:
                raise ModelError(CONTRACT, path=self.path)
            image, mask = images[0], masks[0]
        for tensor, channels in ((image, 3), (mask, 1)):
            if isinstance(tensor.shape[1], int) and tensor.shape[1] != channels:
                raise ModelError(CONTRACT, path=self.path)
        spatial = [tuple(d if isinstance(d, int) and d > 0 else None for d in i.shape[2:])
                   for i in (image, mask)]
        static = [s for s in spatial if None not in s]
        if len(set(static)) > 1:
            raise ModelError(f"image and mask inputs have different static sizes {static[0]} "
                             f"and {static[1]}", path=self.path)
        return image.name, mask.name, (static[0] if static else None)

    def _probe_output_range(self) -> int:
        # LaMa exports differ in output range and most carry no metadata that says which. A
        # LaMa returns (close to) its input away from the hole, so one run on flat mid-grey
        # tells: about 0.5 there means [0, 1], about 127.5 means [0, 255].
        height, width = self.fixed_size or (_round_up(PROBE_SIZE, self.size_multiple),) * 2
        image = np.full((1, 3, height, width), 0.5, np.float32)
        mask = np.zeros((1, 1, height, width), np.float32)
        mask[..., height * 3 // 8:height * 5 // 8, width * 3 // 8:width * 5 // 8] = 1.0
        output = check_finite(self._run(image, mask), model=self.path,
                              batch_shape=image.shape)
        grow_h, grow_w = max(height // 8, 1), max(width // 8, 1)  # stay clear of the hole
        away = np.ones((height, width), bool)
        away[max(height * 3 // 8 - grow_h, 0):height * 5 // 8 + grow_h,
             max(width * 3 // 8 - grow_w, 0):width * 5 // 8 + grow_w] = False
        level = float(np.median(output[0][:, away]))
        if abs(level - 0.5) <= 0.1:
            return 1
        if abs(level - 127.5) <= 25.5:
            return 255
        raise ModelError("cannot tell the output range; set burnish.output_range metadata",
                         path=self.path)

    def infer(self, batch: np.ndarray) -> np.ndarray:
        """The model on ``N x 4 x H x W`` float32 (RGB in [0, 1], then the hole, 1 = fill):
        ``N x 3 x H x W`` in [0, 1] (not clipped). A fixed-size model takes only its size;
        a dynamic one multiples of :attr:`size_multiple`."""
        if batch.dtype != np.float32 or batch.ndim != 4 or batch.shape[1] != 4:
            raise ValueError(f"expected float32 N x 4 x H x W (RGB and the hole), got "
                             f"{batch.dtype} {batch.shape}")
        size = tuple(batch.shape[2:])
        if self.fixed_size is not None and size != tuple(self.fixed_size):
            raise ValueError(f"this model takes {self.fixed_size[0]}x{self.fixed_size[1]}, "
                             f"not {size[0]}x{size[1]}")
        if any(side % self.size_multiple for side in size):
            raise ValueError(f"{size[0]}x{size[1]} is not a multiple of {self.size_multiple}")
        return self._infer_checked(np.ascontiguousarray(batch))

    def _infer_impl(self, batch: np.ndarray) -> np.ndarray:
        output = self._run(np.ascontiguousarray(batch[:, :3]),
                           np.ascontiguousarray(batch[:, 3:]))
        return output if self.output_range == 1 else output * np.float32(1 / self.output_range)

    def _run(self, image: np.ndarray, mask: np.ndarray) -> np.ndarray:
        """The session on an image and a mask batch: its raw output (the model's range)."""
        if self.session is None:
            raise ModelError("the model is closed", path=self.path)
        try:
            output = self.session.run([self.output_name],
                                      {self.image_name: image, self.mask_name: mask})[0]
        except Exception as error:  # onnxruntime's errors are untyped by cause
            lines = str(error).strip().splitlines() or [type(error).__name__]
            raise ModelError(f"inference failed ({lines[0]})", path=self.path) from None
        if output.shape != image.shape:
            raise ModelError(f"output shape {tuple(output.shape)} for an input of "
                             f"{tuple(image.shape)}: {CONTRACT}", path=self.path)
        return output

    def inpaint(self, image: np.ndarray, hole: np.ndarray) -> np.ndarray:
        """Run the model once on exactly this crop.

        Parameters
        ----------
        image : ndarray
            float32 ``H x W x 3`` in [0, 1].
        hole : ndarray
            bool ``H x W``, True where pixels are to be filled.

        Returns
        -------
        ndarray
            float32 ``H x W x 3`` in [0, 1]: the model's output for the whole crop (callers
            paste only the hole pixels). A dynamic-size model sees the crop padded at the
            bottom and right to :attr:`size_multiple` (reflect padding, never hole); a
            fixed-size model sees it resized to :attr:`fixed_size` and its output is resized
            back.
        """
        image = np.asarray(image, dtype=np.float32)
        hole = np.asarray(hole, dtype=bool)
        if image.ndim != 3 or image.shape[2] != 3 or hole.shape != image.shape[:2]:
            raise ValueError(f"inpaint takes H x W x 3 pixels and an H x W hole, got "
                             f"{image.shape} and {hole.shape}")
        height, width = hole.shape
        if self.fixed_size is not None:
            model_h, model_w = self.fixed_size
            model_image = np.clip(resize_pixels(image, model_h, model_w), 0.0, 1.0)
            model_hole = resize_hole(hole, model_h, model_w)
        else:
            model_image = _pad_to_multiple(image, self.size_multiple)
            model_hole = np.pad(hole, [(0, model_image.shape[0] - height),
                                       (0, model_image.shape[1] - width)])
        batch = np.concatenate([model_image.transpose(2, 0, 1),
                                model_hole.astype(np.float32)[None]])[None]
        output = self.infer(batch)[0].transpose(1, 2, 0)
        if self.fixed_size is not None:
            output = resize_pixels(output, height, width)
        else:
            output = output[:height, :width]
        return np.clip(output, 0.0, 1.0).astype(np.float32, copy=False)

    @property
    def device(self) -> str:
        """Where it runs, for provenance: ``"cuda:N"`` on a GPU provider, else ``"cpu"``."""
        from burnish.models.onnx_runner import GPU_PROVIDERS

        return str(self._device) if self.providers[0] in GPU_PROVIDERS else "cpu"

    def close(self) -> None:
        self.session = None

    def __repr__(self) -> str:
        size = "x".join(map(str, self.fixed_size)) if self.fixed_size else \
            f"dynamic (multiple of {self.size_multiple})"
        return f"InpaintModel({str(self.path)!r}, size {size}, output [0, {self.output_range}])"


def _round_up(value: int, multiple: int) -> int:
    return -(-value // multiple) * multiple
