"""What the engine needs to know about a model, so that it never has to guess.

Exported models carry their descriptor with them as ``burnish.*`` string properties (ONNX
metadata, or the JSON beside a TensorRT engine); :func:`to_metadata` and
:func:`from_metadata` are the one place that format is written and read.
"""

from __future__ import annotations

import hashlib
import json
import os
from dataclasses import dataclass, field, fields, replace

METADATA_PREFIX = "burnish."
PAD_MODES = ("edge", "reflect")


@dataclass(frozen=True)
class ModelDescriptor:
    """A model's contract with the tile scheduler.

    Parameters
    ----------
    name : str
        Short name (``compact-x4``) or the file's stem for user models.
    task : str
        ``"super-resolution"`` for everything burnish upscales with (spandrel's purposes
        "SR" and "Restoration" both map here; restoration models have scale 1).
    scale : int
        Output pixels per input pixel along each axis.
    halo : int
        Input pixels on each side of an output region that the model reads (its receptive
        radius). Tiles are read with this margin and cropped back, which makes tiled output
        equal untiled output.
    channels : int
        Colour channels the model takes and returns (3 for RGB models).
    size_multiple : int
        Input height and width must be multiples of this (windowed transformers need 8+).
    min_size : int
        Smallest input height and width the model accepts.
    precisions : tuple of str
        Precisions the model may run in (``"fp32"``, ``"fp16"``).
    architecture : str
        Human-readable architecture name.
    source : str
        Where the model came from: a file path, or ``"builtin"``.
    sha256 : str or None
        Hash of the model file, when there is one.
    pad_mode : {"edge", "reflect"}
        How an image is padded up to ``size_multiple`` / ``min_size``: the padding the
        model's own framework uses (spandrel pads with reflection), so that burnish's
        untiled and tiled runs equal the framework's.
    tile : int
        Advised tile size in input pixels (0: no advice; the engine's default applies).
    """

    name: str
    scale: int
    halo: int
    task: str = "super-resolution"
    channels: int = 3
    size_multiple: int = 1
    min_size: int = 1
    precisions: tuple[str, ...] = ("fp32",)
    architecture: str = ""
    source: str = "builtin"
    sha256: str | None = None
    pad_mode: str = "edge"
    tile: int = 0
    extra: dict = field(default_factory=dict, compare=False, hash=False)


# Fields that travel with an exported model (``name``, ``source`` and ``sha256`` describe the
# file itself and are recomputed when it is opened).
_PORTABLE = ("task", "scale", "halo", "channels", "size_multiple", "min_size", "precisions",
             "architecture", "pad_mode", "tile")


def to_metadata(descriptor: ModelDescriptor) -> dict[str, str]:
    """``burnish.*`` string properties for a model file (``extra`` goes in as JSON)."""
    out = {}
    for name in _PORTABLE:
        value = getattr(descriptor, name)
        out[METADATA_PREFIX + name] = ",".join(value) if name == "precisions" else str(value)
    if descriptor.extra:
        out[METADATA_PREFIX + "extra"] = json.dumps(descriptor.extra, sort_keys=True)
    return out


def metadata_fields(metadata: dict[str, str]) -> dict[str, str]:
    """The ``burnish.*`` properties of a metadata map, prefix removed."""
    return {k[len(METADATA_PREFIX):]: v for k, v in metadata.items()
            if k.startswith(METADATA_PREFIX)}


def from_metadata(metadata: dict[str, str], base: ModelDescriptor) -> ModelDescriptor:
    """``base`` with every field the metadata states replaced by the stated value.

    Raises ``ValueError`` naming the property when a value does not parse.
    """
    stated = metadata_fields(metadata)
    types = {f.name: f.type for f in fields(ModelDescriptor)}
    changes: dict = {}
    for name in _PORTABLE:
        if name not in stated:
            continue
        text = stated[name]
        try:
            if name == "precisions":
                value = tuple(p for p in text.split(",") if p)
            elif types[name] == "int":
                value = int(text)
            else:
                value = text
        except ValueError:
            raise ValueError(f"{METADATA_PREFIX}{name} is {text!r}, not a number") from None
        changes[name] = value
    if changes.get("pad_mode", base.pad_mode) not in PAD_MODES:
        raise ValueError(f"{METADATA_PREFIX}pad_mode is {changes['pad_mode']!r}; expected "
                         f"one of {', '.join(PAD_MODES)}")
    if "extra" in stated:
        try:
            changes["extra"] = json.loads(stated["extra"])
        except json.JSONDecodeError:
            raise ValueError(f"{METADATA_PREFIX}extra is not JSON") from None
    return replace(base, **changes)


def file_sha256(path: str | os.PathLike, *more: str | os.PathLike) -> str:
    """The SHA-256 of a model file (and of files that belong to it, in order), read in
    blocks: models can be gigabytes."""
    digest = hashlib.sha256()
    for each in (path, *more):
        with open(each, "rb") as file:
            for block in iter(lambda: file.read(1 << 20), b""):
                digest.update(block)
    return digest.hexdigest()
