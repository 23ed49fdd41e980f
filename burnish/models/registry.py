"""Finding models by name or path: the shipped defaults, classical baselines, user files."""

from __future__ import annotations

import hashlib
import json
import os
from functools import lru_cache
from pathlib import Path

from burnish.errors import ModelError
from burnish.models.descriptor import ModelDescriptor
from burnish.models.runner import Runner

DEFAULT_MODEL = "compact-x4"
CLASSICAL = ("lanczos",)
SHIPPED_DIR = Path(__file__).parent / "default"


@lru_cache(maxsize=1)
def shipped_models() -> dict[str, ModelDescriptor]:
    """Descriptors of the models in the package, from ``models/default/manifest.json``."""
    manifest_path = SHIPPED_DIR / "manifest.json"
    if not manifest_path.exists():
        return {}
    models = {}
    for entry in json.loads(manifest_path.read_text())["models"]:
        models[entry["name"]] = ModelDescriptor(
            name=entry["name"], task=entry["task"], scale=entry["scale"], halo=entry["halo"],
            channels=entry["channels"], size_multiple=entry["size_multiple"],
            precisions=tuple(entry["precisions"]), architecture=entry["architecture"],
            source=str(SHIPPED_DIR / entry["file"]), sha256=entry["sha256"], extra=entry)
    return models


def model_names() -> list[str]:
    return [*shipped_models(), *CLASSICAL]


def open_model(spec: str | os.PathLike | None = None, *, scale: int = 4,
               device: str = "auto") -> Runner:
    """Open a model by shipped name, classical name, or ``.onnx`` path.

    Parameters
    ----------
    spec : str, path or None
        ``None`` for the default model (:data:`DEFAULT_MODEL`), a shipped name, ``"lanczos"``,
        or a path to an ONNX file.
    scale : int
        The requested output scale; classical resamplers are built for it, models keep their
        own scale (the engine reduces a larger model scale to the requested one).
    device : {"auto", "cpu", "cuda"}
    """
    from burnish.models.classical import LanczosRunner
    from burnish.models.onnx_runner import OrtOptions, OrtRunner

    spec = DEFAULT_MODEL if spec is None else spec
    name = os.fspath(spec)
    if name == "lanczos":
        return LanczosRunner(scale)
    shipped = shipped_models()
    if name in shipped:
        descriptor = shipped[name]
        _verify_hash(descriptor)
        return OrtRunner(descriptor.source, descriptor=descriptor, options=OrtOptions(device))
    path = Path(name)
    if path.suffix.lower() == ".onnx":
        if not path.is_file():
            raise ModelError("no such model file", path=path)
        return OrtRunner(path, options=OrtOptions(device))
    raise ModelError(f"unknown model {name!r}: use one of {', '.join(model_names())} "
                     "or a path to an .onnx file")


def _verify_hash(descriptor: ModelDescriptor) -> None:
    path = Path(descriptor.source)
    if not path.is_file():
        raise ModelError("shipped model file is missing from the installation", path=path)
    digest = hashlib.sha256(path.read_bytes()).hexdigest()
    if digest != descriptor.sha256:
        raise ModelError("shipped model file does not match its manifest hash (corrupt "
                         "installation)", path=path)
