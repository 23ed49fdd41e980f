"""What this installation can run on, for ``burnish info`` and provenance."""

from __future__ import annotations

import platform
from importlib import metadata

from burnish import __version__


def _version(distribution: str) -> str:
    try:
        return metadata.version(distribution)
    except metadata.PackageNotFoundError:
        return "not installed"


def _cuda_devices() -> str:
    try:
        from numba import cuda

        if not cuda.is_available():
            return "none"
        return ", ".join(f"{i}: {d.name.decode() if isinstance(d.name, bytes) else d.name}"
                         for i, d in enumerate(cuda.gpus))
    except Exception as error:  # a broken driver install must not break `burnish info`
        return f"unavailable ({type(error).__name__})"


def _tensorrt_version() -> str:
    """The full TensorRT (builder and runtime), else the lean runtime (runs engines only)."""
    full, lean = _version("tensorrt"), _version("tensorrt-lean")
    if full != "not installed" or lean == "not installed":
        return full
    return f"{lean} (lean runtime: runs engines, cannot build them)"


def describe_environment() -> dict[str, str]:
    """Versions, devices and providers, as display strings."""
    import onnxruntime

    from burnish.models.registry import model_names

    return {
        "burnish": __version__,
        "python": platform.python_version(),
        "platform": platform.platform(),
        "numpy": _version("numpy"),
        "numba": _version("numba"),
        "onnxruntime": _version("onnxruntime") if _version("onnxruntime-gpu") == "not installed"
        else _version("onnxruntime-gpu") + " (gpu)",
        "onnxruntime providers": ", ".join(onnxruntime.get_available_providers()),
        "pillow": _version("pillow"),
        # The optional backends: PyTorch checkpoints (export extra) and TensorRT engines.
        "torch": _version("torch"),
        "spandrel": _version("spandrel"),
        "tensorrt": _tensorrt_version(),
        "cuda devices": _cuda_devices(),
        "models": ", ".join(model_names()),
    }
