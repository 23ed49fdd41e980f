"""Finding models by name or path: the shipped defaults, classical baselines, user files."""

from __future__ import annotations

import json
import os
from functools import lru_cache
from pathlib import Path

from burnish.device import resolve_device
from burnish.errors import ModelError, OptionError
from burnish.files import check_regular_file
from burnish.models.checkpoint import CHECKPOINT_SUFFIXES, is_checkpoint
from burnish.models.descriptor import ModelDescriptor, verify_shipped_file
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


def default_model(scale: int = 4) -> str:
    """The model ``--scale`` gets when none is named: the shipped native model of that scale
    (``compact-x2`` for 2) where there is one, else :data:`DEFAULT_MODEL` (reduced to the
    scale by the engine)."""
    native = f"compact-x{scale}"
    return native if native in shipped_models() else DEFAULT_MODEL


def model_names() -> list[str]:
    return [*shipped_models(), *CLASSICAL]


VARIANT_PRECISIONS = ("fp32", "int8")  # fp32: the model as named; int8: its NAME-int8


def with_precision(spec: str | os.PathLike | None, precision: str, *, scale: int = 4
                   ) -> str | os.PathLike | None:
    """The model to open for ``--precision``: ``spec`` itself for fp32, else the shipped
    variant ``NAME-int8`` of the shipped model ``spec`` (the default for ``scale`` when
    None)."""
    if precision not in VARIANT_PRECISIONS:
        raise OptionError(f"unknown precision {precision!r}; choose one of "
                          f"{', '.join(VARIANT_PRECISIONS)}")
    if precision == "fp32":
        return spec
    name = default_model(scale) if spec is None else os.fspath(spec)
    if name in CLASSICAL:
        raise OptionError(f"no {precision} variant of {name}: a classical resampler has no "
                          "weights to quantize")
    shipped = shipped_models()
    if name in shipped and precision in shipped[name].precisions:
        return name
    if f"{name}-{precision}" in shipped:
        return f"{name}-{precision}"
    raise OptionError(f"no {precision} variant of {name} ships with burnish: quantize it "
                      "(burnish.export.quantize.quantize_int8; burnish export with int8 and "
                      "calibrate) and open that file as the model")


BACKENDS = ("auto", "ort", "trt", "torch")
ENGINE_SUFFIXES = (".engine", ".plan", ".trt")


def open_model(spec: str | os.PathLike | None = None, *, scale: int = 4,
               device: str = "auto", backend: str = "auto", threads: int | None = None) -> Runner:
    """Open a model by shipped name, classical name, or file.

    Parameters
    ----------
    spec : str, path or None
        ``None`` for the default model of ``scale`` (:func:`default_model`), a shipped name,
        ``"lanczos"``,
        an ``.onnx`` file, a TensorRT engine (``.engine``, ``.plan``, ``.trt``, built by
        ``burnish export --engine``), or a PyTorch checkpoint (``.pth``, ``.safetensors``,
        ...) that spandrel can load.
    scale : int
        The requested output scale; classical resamplers are built for it, models keep their
        own scale (the engine reduces a larger model scale to the requested one).
    device : {"auto", "cpu", "cuda", "cuda:N"} or :class:`~burnish.device.Device`
        Resolved once here (:func:`burnish.device.resolve_device`); the runner's ``device``
        says where it runs.
    backend : {"auto", "ort", "trt", "torch"}
        ``auto`` runs ONNX files with ONNX Runtime, engines with TensorRT and checkpoints
        with PyTorch. ``trt`` with an ONNX file (or a shipped model) runs the TensorRT engine
        ``burnish export --engine`` built for it, from the cache; opening never builds one.
    threads : int or None
        CPU threads of one model call (ONNX Runtime, PyTorch); None lets the backend use one
        per core. Parallel workers each take their share.
    """
    from burnish.models.classical import LanczosRunner

    if backend not in BACKENDS:
        raise OptionError(f"unknown backend {backend!r}; choose one of {', '.join(BACKENDS)}")
    spec = default_model(scale) if spec is None else spec
    name = os.fspath(spec)
    if name == "lanczos":
        return LanczosRunner(scale)
    device = resolve_device(device)
    shipped = shipped_models()
    descriptor = shipped.get(name)
    if descriptor is not None:
        _verify_hash(descriptor)
        path = Path(descriptor.source)
    else:
        path = Path(name)
        if path.suffix.lower() not in (".onnx", *ENGINE_SUFFIXES, *CHECKPOINT_SUFFIXES):
            raise ModelError(f"unknown model {name!r}: use one of {', '.join(model_names())} "
                             "or a path to an .onnx, .engine, .pth or .safetensors file")
        check_regular_file(path, error=ModelError, what="model file")
    kind = ("engine" if path.suffix.lower() in ENGINE_SUFFIXES
            else "checkpoint" if is_checkpoint(path) else "onnx")
    chosen = {"engine": "trt", "checkpoint": "torch", "onnx": "ort"}[kind] if backend == "auto" else backend
    if kind == "checkpoint" and chosen != "torch":
        raise OptionError(f"{path.name} is a PyTorch checkpoint: run it with PyTorch "
                          "(backend torch), or export it first (burnish export)")
    if kind == "engine" and chosen != "trt":
        raise OptionError(f"{path.name} is a TensorRT engine: only TensorRT runs it (backend trt)")
    if kind == "onnx" and chosen == "torch":
        raise OptionError(f"{path.name} is an ONNX file: PyTorch (backend torch) runs checkpoints")
    if chosen == "torch":
        from burnish.models.torch_runner import TorchOptions, TorchRunner

        return TorchRunner.open(path, options=TorchOptions(device=device, threads=threads))
    if chosen == "trt":
        from burnish.models.trt_runner import TrtOptions, TrtRunner

        if not device.is_cuda:
            raise OptionError("TensorRT runs on CUDA devices only: on the CPU use ONNX Runtime "
                              "(backend ort) or PyTorch (backend torch)")
        if kind == "onnx":
            from burnish.models.trt_runner import find_cached_engine

            path = find_cached_engine(path, descriptor=descriptor,
                                      model_name=name if descriptor is not None else None)
        return TrtRunner(path, options=TrtOptions(device_id=device.index))
    from burnish.models.onnx_runner import OrtOptions, OrtRunner

    return OrtRunner(path, descriptor=descriptor,
                     options=OrtOptions(device, intra_op_threads=threads))


def inspect_model(spec: str | os.PathLike) -> ModelDescriptor:
    """The descriptor of a model, as :func:`open_model` would run it, without a GPU.

    Engines are described by the JSON written beside them; ONNX files and checkpoints are
    opened on the CPU (and probed where they do not state their scale and halo).
    """
    name = os.fspath(spec)
    if Path(name).suffix.lower() in ENGINE_SUFFIXES:
        from burnish.models.trt_engine import read_engine_descriptor

        check_regular_file(name, error=ModelError, what="model file")
        return read_engine_descriptor(name)[0]
    if name in CLASSICAL:
        raise ModelError(f"{name} is a classical resampler: any integer scale, no weights")
    with open_model(spec, device="cpu") as runner:
        return runner.descriptor


def _verify_hash(descriptor: ModelDescriptor) -> None:
    verify_shipped_file(descriptor.source, descriptor.sha256)
