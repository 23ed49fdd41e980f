"""What the engine needs to know about a model, so that it never has to guess."""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass(frozen=True)
class ModelDescriptor:
    """A model's contract with the tile scheduler.

    Parameters
    ----------
    name : str
        Short name (``compact-x4``) or the file's stem for user models.
    task : str
        ``"super-resolution"`` for everything burnish upscales with.
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
    extra: dict = field(default_factory=dict, compare=False, hash=False)
