"""Models that map an image to a per-pixel map: saliency (what the subject is), text, and
prompted segmentation (SAM).

Two contracts are one image in and one map out, run through ONNX Runtime (:class:`MapModel`):

- **saliency**, rembg's (u2net, u2netp, isnet, BiRefNet exports): an input ``1 x 3 x S x S``
  (static sides are used as they are; a dynamic model gets ``burnish.input_size``, else 320,
  u2net's), normalised with ImageNet's mean and spread (or ``burnish.normalize = "half"``:
  ``(x - 0.5) / 1``, isnet's); the first output ``1 x 1 x S x S`` (or ``1 x S x S``) is
  stretched to [0, 1] by its own minimum and maximum, as rembg does, then resized back;
- **text**, the DB detector's (PaddleOCR's PP-OCR ``det`` models, such as the one the
  ``rapidocr_onnxruntime`` wheel carries): a dynamic input ``1 x 3 x H x W``, the image
  resized so its short side is 736 (at most 2560 on the long side) and both sides are
  multiples of 32, normalised to ``(x - 0.5) / 0.5``; the output is the text probability
  ``1 x 1 x H x W`` in [0, 1], resized back;
- **text-mask**, burnish's own (the shipped ``text-mask`` model, trained by
  :mod:`burnish.export.text_masks`), told apart from PP-OCR's by its metadata
  ``burnish.contract = text-mask``: a dynamic input ``1 x 3 x H x W`` in [0, 1] at the
  image's own resolution (no resize: thin strokes survive), padded by edge replication to a
  multiple of ``burnish.size_multiple``; the output is the probability of text ``1 x 1 x H x
  W``, text where it is above ``burnish.threshold``, and also where it is above the optional
  ``burnish.threshold_low`` and 8-connected through such pixels to text (hysteresis: the
  faint parts of a stroke join it, unsure specks elsewhere stay out).

The third, **prompted** (:class:`PromptedModel`), is Segment Anything's pair of files as its
ONNX export writes them (SAM, MobileSAM, and the exports that keep SAM's contract):

- the **encoder**: an input ``1 x 3 x S x S`` (``S`` static, else 1024), the image resized so
  its long side is ``S``, normalised with SAM's mean and spread on a 0-255 scale, padded with
  zeros to the bottom and right; one output, the embedding ``1 x C x h x w``;
- the **decoder**: inputs ``image_embeddings``, ``point_coords`` (``1 x N x 2``, in the
  resized image's pixels), ``point_labels`` (``1 x N``: 1 subject, 0 not, 2 and 3 a box's
  corners, -1 padding), and, where the export has them, ``mask_input`` (zeros, ``1 x 1 x 4h
  x 4w``), ``has_mask_input`` (0) and ``orig_im_size`` (``H, W``); outputs ``masks`` (logits,
  ``1 x M x H x W``, the subject where > 0) and ``iou_predictions`` (``1 x M``: the mask
  predicted best is taken).

The pair is found from either file's name (``encoder`` <-> ``decoder``: ``mobile_sam.encoder
.onnx`` and ``mobile_sam.decoder.onnx``) or a folder holding one of each.

A file that does not follow its contract is a one-line :class:`~burnish.errors.ModelError`
naming it, when it is opened (shapes) or run (what comes out).
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from burnish.errors import ModelError
from burnish.models.descriptor import (
    metadata_fields,
    padded_length,
    read_field,
    verify_shipped_file,
)
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
    full_resolution: bool = False  # run at the image's size, padded to a multiple

    def describe(self) -> str:
        return (f"expected one image input 1x3xHxW and a map output 1x1xHxW "
                f"({self.name} contract)")


CONTRACTS = {
    "saliency": Contract("rembg's saliency", IMAGENET_MEAN, IMAGENET_STD, default_size=320,
                         stretch=True),
    "text": Contract("PP-OCR's text detection", (0.5, 0.5, 0.5), (0.5, 0.5, 0.5),
                     default_size=None),
    "text-mask": Contract("burnish's text mask", (0.0, 0.0, 0.0), (1.0, 1.0, 1.0),
                          default_size=None, multiple=16, full_resolution=True),
}
TEXT_MASK_DEFAULT_THRESHOLD = 0.5
SHIPPED_DIR = Path(__file__).parent / "default"
HALF_NORMALISATION = ((0.5, 0.5, 0.5), (1.0, 1.0, 1.0))


class MapModel:
    """An ONNX model of one of :data:`CONTRACTS`: :meth:`predict` gives its map of an image,
    ``H x W`` float32 in [0, 1] at the image's size. ``contract="text"`` opens either text
    contract, by the model's metadata."""

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
        if contract == "text" and fields.get("contract") == "text-mask":
            self.contract = CONTRACTS["text-mask"]
        self.threshold = _threshold(fields, "threshold", TEXT_MASK_DEFAULT_THRESHOLD, self.path)
        self.threshold_low = _threshold(fields, "threshold_low", self.threshold, self.path)
        if self.threshold_low > self.threshold:
            raise ModelError(f"burnish.threshold_low {self.threshold_low} is above "
                             f"burnish.threshold {self.threshold}", path=self.path)
        self.multiple = self.contract.multiple
        if self.contract.full_resolution and "size_multiple" in fields:
            self.multiple = read_field(fields, "size_multiple", path=self.path)
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

    @property
    def is_text_mask(self) -> bool:
        return self.contract is CONTRACTS["text-mask"]

    def input_size(self, height: int, width: int) -> tuple[int, int]:
        """The model's input size for an image of ``height x width``."""
        if self.fixed_size is not None:
            return self.fixed_size
        c = self.contract
        if c.full_resolution:
            return padded_length(height, self.multiple), padded_length(width, self.multiple)
        ratio = min(c.short_side / min(height, width), c.long_side_max / max(height, width))
        return tuple(max(c.multiple, round(side * ratio / c.multiple) * c.multiple)
                     for side in (height, width))

    def predict(self, pixels: np.ndarray) -> np.ndarray:
        """The map of ``pixels`` (``H x W`` or ``H x W x C``; uint8, uint16 or float32 in
        [0, 1]; grey is repeated to RGB, alpha ignored)."""
        rgb = _rgb_float(pixels)
        height, width = rgb.shape[:2]
        size = self.input_size(height, width)
        if self.contract.full_resolution:  # padded, never resized
            resized = np.pad(rgb, ((0, size[0] - height), (0, size[1] - width), (0, 0)),
                             mode="edge")
        else:
            resized = np.clip(resize_pixels(rgb, *size), 0.0, 1.0)
        batch = ((resized - np.float32(self.mean)) / np.float32(self.std)).transpose(2, 0, 1)
        output = run_session(self.session, None,
                             {self.input_name: batch[None].astype(np.float32)}, self.path,
                             f" on a {size[1]}x{size[0]} input")
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
            raise ModelError("the text map is not a probability in [0, 1] (a text detector "
                             "ends in a sigmoid)", path=self.path)
        if self.contract.full_resolution:
            if found.shape != size:
                raise ModelError(f"the model's map is {found.shape[1]}x{found.shape[0]} for "
                                 f"a {size[1]}x{size[0]} input ({self.contract.describe()})",
                                 path=self.path)
            return np.clip(found[:height, :width], 0.0, 1.0)
        return np.clip(resize_pixels(found[:, :, None], height, width)[:, :, 0], 0.0, 1.0)


def _threshold(fields: dict[str, str], name: str, default: float, path: Path) -> float:
    """A text-mask model's ``burnish.threshold`` (above it a pixel is text) or
    ``burnish.threshold_low`` (hysteresis' lower bound)."""
    text = fields.get(name, str(default))
    try:
        value = float(text)
    except ValueError:
        value = float("nan")
    if not 0.0 < value < 1.0:
        raise ModelError(f"burnish.{name} {text!r} is not a number between 0 and 1",
                         path=path)
    return value


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


SAM_MEAN = (123.675, 116.28, 103.53)  # SAM's pixel mean and spread, on a 0-255 scale
SAM_STD = (58.395, 57.12, 57.375)
SAM_DEFAULT_SIDE = 1024
SAM_DECODER_INPUTS = ("image_embeddings", "point_coords", "point_labels")
SAM_LABELS = {"subject": 1, "not": 0, "box_start": 2, "box_end": 3, "padding": -1}


def is_prompted(path: str | os.PathLike) -> bool:
    """Whether ``path`` names a SAM pair: a folder, or a file named as an encoder or
    decoder."""
    path = Path(path)
    return path.is_dir() or any(part in path.name.lower() for part in ("encoder", "decoder"))


def sam_pair(path: str | os.PathLike) -> tuple[Path, Path]:
    """The ``(encoder, decoder)`` files of the SAM pair ``path`` names (see the module)."""
    path = Path(path)
    if path.is_dir():
        found = [sorted(p for p in path.glob("*.onnx") if part in p.name.lower())
                 for part in ("encoder", "decoder")]
        if [len(files) for files in found] != [1, 1]:
            raise ModelError("a folder of a prompted (SAM) model needs one *encoder*.onnx and "
                             "one *decoder*.onnx", path=path)
        return found[0][0], found[1][0]
    name = path.name
    lower = name.lower()
    mine, other = ("encoder", "decoder") if "encoder" in lower else ("decoder", "encoder")
    at = lower.index(mine)
    partner = path.with_name(name[:at] + _same_case(other, name[at:at + len(mine)])
                             + name[at + len(mine):])
    if not partner.is_file():
        raise ModelError(f"a prompted (SAM) model is two files: the {other} "
                         f"{partner.name} is not beside it", path=path)
    return (path, partner) if mine == "encoder" else (partner, path)


def _same_case(word: str, like: str) -> str:
    return word.upper() if like.isupper() else word.capitalize() if like[:1].isupper() else word


class PromptedModel:
    """Segment Anything's encoder/decoder pair (see the module): :meth:`predict` gives the
    subject a box and points prompt, a bool ``H x W`` mask at the image's size."""

    def __init__(self, path: str | os.PathLike, *, device: str = "auto"):
        self.encoder_path, self.decoder_path = sam_pair(path)
        self.path = self.decoder_path
        providers, provider_options = choose_providers(device)
        self.encoder = open_session(self.encoder_path, providers=providers,
                                    provider_options=provider_options)
        self.decoder = open_session(self.decoder_path, providers=providers,
                                    provider_options=provider_options)
        inputs = self.encoder.get_inputs()
        shape = inputs[0].shape if len(inputs) == 1 else []
        if len(shape) != 4 or (isinstance(shape[1], int) and shape[1] != 3):
            raise ModelError("expected a SAM encoder: one image input 1x3xSxS",
                             path=self.encoder_path)
        sides = [side for side in shape[2:] if isinstance(side, int) and side > 0]
        self.side = sides[0] if len(sides) == 2 and sides[0] == sides[1] else SAM_DEFAULT_SIDE
        self.encoder_input = inputs[0].name
        names = {i.name: i for i in self.decoder.get_inputs()}
        missing = [name for name in SAM_DECODER_INPUTS if name not in names]
        if missing:
            raise ModelError(f"expected a SAM decoder with inputs {', '.join(SAM_DECODER_INPUTS)}"
                             f"; it has no {', '.join(missing)}", path=self.decoder_path)
        self.decoder_inputs = set(names)
        outputs = [o.name for o in self.decoder.get_outputs()]
        if len(outputs) < 2:
            raise ModelError("expected a SAM decoder with outputs masks and iou_predictions",
                             path=self.decoder_path)
        self.masks_output = "masks" if "masks" in outputs else outputs[0]
        self.scores_output = "iou_predictions" if "iou_predictions" in outputs else outputs[1]

    def predict(self, pixels: np.ndarray, *, box=None, points=()) -> np.ndarray:
        """The subject of ``pixels`` (``H x W [x C]``) that ``box`` (``x, y, w, h``) and
        ``points`` (``(x, y, label)``, label 1 subject or 0 not) point at."""
        if box is None and not points:
            raise ModelError("a prompted (SAM) model needs a prompt: a box or points",
                             path=self.decoder_path)
        rgb = _rgb_float(pixels)
        height, width = rgb.shape[:2]
        ratio = self.side / max(height, width)
        size = (max(1, int(height * ratio + 0.5)), max(1, int(width * ratio + 0.5)))
        resized = np.clip(resize_pixels(rgb, *size), 0.0, 1.0) * np.float32(255)
        batch = np.zeros((1, 3, self.side, self.side), np.float32)
        batch[0, :, :size[0], :size[1]] = ((resized - np.float32(SAM_MEAN))
                                           / np.float32(SAM_STD)).transpose(2, 0, 1)
        embedding = run_session(self.encoder, None, {self.encoder_input: batch},
                                self.encoder_path)[0]
        coords, labels = [], []
        for x, y, label in points:
            coords.append((x, y))
            labels.append(SAM_LABELS["subject"] if label else SAM_LABELS["not"])
        if box is None:
            coords.append((0.0, 0.0))  # SAM's padding point when no box is given
            labels.append(SAM_LABELS["padding"])
        else:
            x, y, w, h = box
            coords += [(x, y), (x + w, y + h)]
            labels += [SAM_LABELS["box_start"], SAM_LABELS["box_end"]]
        scale = np.float32([size[1] / width, size[0] / height])
        feed = {"image_embeddings": np.asarray(embedding, np.float32),
                "point_coords": (np.float32(coords) * scale)[None],
                "point_labels": np.float32(labels)[None]}
        if "mask_input" in self.decoder_inputs:
            low = tuple(4 * side for side in np.shape(embedding)[2:])
            feed["mask_input"] = np.zeros((1, 1, *low), np.float32)
        if "has_mask_input" in self.decoder_inputs:
            feed["has_mask_input"] = np.zeros(1, np.float32)
        if "orig_im_size" in self.decoder_inputs:
            feed["orig_im_size"] = np.float32([height, width])
        masks, scores = run_session(self.decoder, [self.masks_output, self.scores_output],
                                    feed, self.decoder_path)
        masks, scores = np.asarray(masks, np.float32), np.asarray(scores, np.float32).ravel()
        if masks.ndim != 4 or masks.shape[1] != scores.size or scores.size == 0:
            raise ModelError(f"the decoder's masks {masks.shape} and scores {scores.shape} "
                             "are not 1 x M x H x W and 1 x M", path=self.decoder_path)
        best = masks[0, int(np.argmax(scores))]
        if not np.all(np.isfinite(best)):
            raise ModelError("the decoder's mask has NaN or infinite values",
                             path=self.decoder_path)
        if best.shape != (height, width):
            # An export without SAM's postprocessing: its mask covers the padded square;
            # the image is its top-left part.
            rows = max(1, round(best.shape[0] * size[0] / self.side))
            columns = max(1, round(best.shape[1] * size[1] / self.side))
            best = resize_pixels(np.ascontiguousarray(best[:rows, :columns, None]),
                                 height, width)[:, :, 0]
        return best > 0


def run_session(session, outputs, feed: dict, path: Path, where: str = ""):
    """``session.run``, its failure a one-line :class:`ModelError` naming ``path``
    (``where``: what it was given, for the message)."""
    try:
        return session.run(outputs, feed)
    except Exception as error:  # noqa: BLE001 - onnxruntime's errors are untyped
        raise ModelError(f"the model failed{where}: "
                         f"{str(error).strip().splitlines()[-1][:200]}", path=path) from None


def shipped_mask_models() -> list[dict]:
    """The manifest entries of the package's mask models (``mask_models``: detectors, which
    the upscaling registry never offers)."""
    import json

    manifest = SHIPPED_DIR / "manifest.json"
    return json.loads(manifest.read_text()).get("mask_models", []) if manifest.is_file() else []


def shipped_text_mask() -> Path | None:
    """The package's text-mask model, checked against its manifest's hash, or None where
    the installation has none."""
    entry = next((e for e in shipped_mask_models() if e["name"] == "text-mask"), None)
    if entry is None:
        return None
    path = SHIPPED_DIR / entry["file"]
    verify_shipped_file(path, entry["sha256"])
    return path


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
