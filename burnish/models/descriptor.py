"""What the engine needs to know about a model, so that it never has to guess.

Exported models carry their descriptor with them as ``burnish.*`` string properties (ONNX
metadata, or the JSON beside a TensorRT engine); :func:`to_metadata` and
:func:`from_metadata` are the one place that format is written and read, and
:func:`read_field` the one reader of a property (inpainting models use it too).

What each field may hold is stated once (:func:`field_problem`) and checked both when text is
read from a file and whenever a :class:`ModelDescriptor` is made, from whatever source: a
zero scale or multiple, a negative halo or an absurd size cannot reach the tile arithmetic.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
from dataclasses import dataclass, field, replace
from pathlib import Path

import numpy as np

from burnish.errors import BurnishError, InputError, ModelError
from burnish.files import check_regular_file

METADATA_PREFIX = "burnish."
PAD_MODES = ("edge", "reflect")
TASKS = ("super-resolution", "inpainting")
PRECISIONS = ("fp32", "fp16", "int8")
CHANNELS = (1, 3)  # the engine runs RGB models, and grey models once per channel
OUTPUT_RANGES = (1, 255)  # inpainting models: what the output is divided by

# Bounds on what a model may state. Each is far beyond any published model, and small enough
# that the tile arithmetic built on it stays sane: a wrong or hostile number is refused when
# it is read instead of dividing by zero, allocating without end or tiling nonsense later.
MAX_SCALE = 64          # models go up to x8; lanczos (pixel art, proofs) goes further
MAX_HALO = 1024         # probing measures up to 512-pixel probes; attention models report that
MAX_SIZE_MULTIPLE = 256  # windowed transformers need 8 to 64
MAX_MIN_SIZE = 4096
MAX_TILE = 16384
MAX_TEXT = 200          # architecture names are shown in one-line messages

# The one table of what each checked field may hold: an integer range, or a set of choices.
_INTEGER_RANGES = {"scale": (1, MAX_SCALE), "halo": (0, MAX_HALO),
                   "size_multiple": (1, MAX_SIZE_MULTIPLE), "min_size": (1, MAX_MIN_SIZE),
                   "tile": (0, MAX_TILE)}
_CHOICES = {"task": TASKS, "channels": CHANNELS, "pad_mode": PAD_MODES,
            "output_range": OUTPUT_RANGES}
_INTEGER_FIELDS = (*_INTEGER_RANGES, "channels", "output_range")


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
        Precisions the model may run in (``"fp32"``, ``"fp16"``; ``"int8"`` for a quantized
        graph, which takes and returns float32 like the others).
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

    def __post_init__(self):
        # Every descriptor is checked when it is made, whatever made it (metadata, a
        # manifest, spandrel, probing), so no later arithmetic meets a zero scale or multiple.
        for name in _INTEGER_RANGES:
            if isinstance(getattr(self, name), np.integer):  # a probe's measurement
                object.__setattr__(self, name, int(getattr(self, name)))
        if isinstance(self.precisions, list):  # from JSON
            object.__setattr__(self, "precisions", tuple(self.precisions))
        for name in _CHECKED:
            problem = field_problem(name, getattr(self, name))
            if problem is not None:  # named by its file, or by its name if it has none
                raise ModelError(f"{name} is {_shown(getattr(self, name))}: {problem}",
                                 path=self.name if self.source == "builtin" else self.source)


_CHECKED = ("task", "scale", "halo", "channels", "size_multiple", "min_size", "precisions",
            "architecture", "pad_mode", "tile", "extra")
_UNPARSED = object()  # what the text of a property that does not parse reads as


def field_problem(name: str, value) -> str | None:
    """What is wrong with a (typed) descriptor value, or None when it is acceptable.

    The one statement of what each field may hold, used for descriptors made in code and for
    values read from a model file (:func:`read_field`).

    >>> field_problem("scale", 0)
    'must be an integer from 1 to 64'
    >>> field_problem("halo", 3) is None
    True
    """
    return None if _acceptable(name, value) else _rule(name)


def _acceptable(name: str, value) -> bool:
    if name in _INTEGER_FIELDS and (isinstance(value, bool) or not isinstance(value, int)):
        return False
    if name in _INTEGER_RANGES:
        low, high = _INTEGER_RANGES[name]
        return low <= value <= high
    if name in _CHOICES:
        return value in _CHOICES[name]
    if name == "precisions":
        return (isinstance(value, tuple) and len(value) > 0
                and all(isinstance(p, str) and p in PRECISIONS for p in value))
    if name == "architecture":
        return isinstance(value, str) and len(value) <= MAX_TEXT and value.isprintable()
    if name == "extra":
        return isinstance(value, dict)
    return True


def _rule(name: str) -> str:
    if name in _INTEGER_RANGES:
        low, high = _INTEGER_RANGES[name]
        return f"must be an integer from {low} to {high}"
    if name in _CHOICES:
        return f"must be one of {', '.join(map(str, _CHOICES[name]))}"
    if name == "precisions":
        return f"must list one or more of {', '.join(PRECISIONS)}"
    if name == "architecture":
        return f"must be one line of at most {MAX_TEXT} printable characters"
    return "must be a JSON object"  # extra


def _shown(value, limit: int = 40) -> str:
    """A value as it appears in a one-line message (repr escapes line breaks), shortened."""
    text = repr(value)
    return text if len(text) <= limit else text[:limit - 3] + "..."


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


def read_field(stated: dict[str, str], name: str, *, path: str | os.PathLike):
    """The checked value of one ``burnish.*`` property (``stated`` from
    :func:`metadata_fields`): the one reader of model metadata.

    Raises :class:`~burnish.errors.ModelError` naming ``path``, the property and its value
    when the text does not parse or the value is out of bounds (:func:`field_problem`).

    >>> read_field({"scale": " 4 "}, "scale", path="m.onnx")
    4
    >>> read_field({"scale": "2.5"}, "scale", path="m.onnx")
    Traceback (most recent call last):
    ...
    burnish.errors.ModelError: m.onnx: burnish.scale is '2.5': must be an integer from 1 to 64
    """
    text = stated[name]
    value = _parse(name, text)
    problem = field_problem(name, value)
    if problem is not None:
        raise ModelError(f"{METADATA_PREFIX}{name} is {_shown(text)}: {problem}", path=path)
    return value


def _parse(name: str, text: str):
    """A property's text as a typed value, or :data:`_UNPARSED`."""
    if not isinstance(text, str):
        return _UNPARSED
    if name in _INTEGER_FIELDS:
        # Plain decimal digits only (int() also takes "1_000" and other scripts' digits);
        # at most 9 of them, so a thousand-digit number is not converted at all.
        digits = text.strip()
        return int(digits) if re.fullmatch(r"[+-]?[0-9]{1,9}", digits) else _UNPARSED
    if name == "precisions":
        return tuple(p.strip() for p in text.split(",") if p.strip())
    if name == "extra":
        try:
            return json.loads(text)
        except (ValueError, RecursionError):
            return _UNPARSED
    return text


def from_metadata(metadata: dict[str, str], base: ModelDescriptor, *,
                  path: str | os.PathLike) -> ModelDescriptor:
    """``base`` with every field the metadata states replaced by the stated value.

    ``path`` is the file the metadata was read from (a model, or an engine's JSON). Raises
    :class:`~burnish.errors.ModelError` naming it, the property and the value when a value
    does not parse or is out of bounds (see :func:`read_field`).
    """
    stated = metadata_fields(metadata)
    changes = {name: read_field(stated, name, path=path)
               for name in (*_PORTABLE, "extra") if name in stated}
    return replace(base, **changes)


def file_sha256(path: str | os.PathLike, *more: str | os.PathLike,
                error: type[BurnishError] = InputError, what: str = "file") -> str:
    """The SHA-256 of a file (and of files that belong to it, in order), read in blocks:
    models can be gigabytes.

    Each file must be a regular, non-empty file (:func:`burnish.files.check_regular_file`):
    a FIFO or a device such as ``/dev/zero`` is refused at once as ``error`` naming it,
    instead of blocking or being read without end.
    """
    digest = hashlib.sha256()
    for each in (path, *more):
        check_regular_file(each, error=error, what=what)
        try:
            with open(each, "rb") as file:
                for block in iter(lambda: file.read(1 << 20), b""):
                    digest.update(block)
        except OSError as failure:
            raise error(f"cannot read {what}: {failure.strerror or failure}", path=each) from None
    return digest.hexdigest()


def verify_shipped_file(path: str | os.PathLike, sha256: str) -> None:
    """A file the package ships, checked against its manifest's hash: a
    :class:`~burnish.errors.ModelError` naming it when it is missing or differs (a corrupt
    installation)."""
    path = Path(path)
    if not path.is_file():
        raise ModelError("shipped model file is missing from the installation", path=path)
    if file_sha256(path, error=ModelError, what="shipped model") != sha256:
        raise ModelError("shipped model file does not match its manifest hash (corrupt "
                         "installation)", path=path)


def padded_length(length: int, multiple: int = 1, min_size: int = 1) -> int:
    """The axis length a model sees: a multiple of ``multiple`` (its ``size_multiple``) and
    at least ``min_size``.

    >>> padded_length(100, 8, 16), padded_length(3, 8, 16)
    (104, 16)
    """
    return max(_round_up(length, multiple), _round_up(min_size, multiple))


def _round_up(value: int, multiple: int) -> int:
    return -(-value // multiple) * multiple

