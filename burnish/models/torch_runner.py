"""PyTorch runner: a spandrel model run directly, on the CPU or a CUDA device.

The reference backend: it runs what the checkpoint is, with no export in between. On CUDA it
runs fp16 where the architecture supports it (spandrel says which) and channels-last, the
layout cuDNN's fastest convolution kernels want.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np

from burnish.device import Device, resolve_device
from burnish.errors import BackendOutOfMemory, ModelError, OptionError
from burnish.models.extras import require_extra
from burnish.models.runner import DeviceRunner

PRECISIONS = ("auto", "fp32", "fp16")


@dataclass(frozen=True)
class TorchOptions:
    """Per-backend options of :class:`TorchRunner`.

    ``precision="auto"`` is fp16 on CUDA for architectures that support it, fp32 otherwise.
    ``threads=None`` leaves PyTorch's own choice (one per core).
    ``compile=True`` runs the network through ``torch.compile`` (Inductor; CUDA graphs via
    its "max-autotune" mode): minutes of compilation on first use per shape, for batch jobs
    that reuse one tile shape.
    """

    device: str | Device = "auto"
    precision: str = "auto"
    threads: int | None = None
    compile: bool = False


def _import_torch(path: str | os.PathLike | None = None):
    return require_extra("export", "torch", purpose="running PyTorch models (backend torch)",
                         path=path)


def torch_device(device: str | Device) -> str:
    """``"cpu"`` or ``"cuda:N"`` for a device (:func:`burnish.device.resolve_device`), from
    what this PyTorch can use: a GPU chosen by ``auto`` falls back to the CPU when this
    PyTorch has no CUDA; one asked for is an error."""
    torch = _import_torch()

    device = resolve_device(device)
    if not device.is_cuda:
        return "cpu"
    if device.index < torch.cuda.device_count():
        return str(device)
    if device.auto:
        return "cpu"
    raise OptionError(f"device {device} asked for, but PyTorch sees "
                      f"{torch.cuda.device_count()} CUDA device(s)")


class TorchRunner(DeviceRunner):
    """Runs a spandrel image model (a loaded checkpoint) with PyTorch.

    Build it with :meth:`open` from a checkpoint file, or directly from an already loaded
    spandrel model. The halo is measured by probing unless the caller gives one.
    """

    def __init__(self, model, source: str | os.PathLike, *, options: TorchOptions = TorchOptions(),
                 halo: int | None = None):
        torch = _import_torch(source)

        from burnish.models.checkpoint import spandrel_descriptor
        from burnish.models.probe import probe_alignment, probe_receptive_radius

        if options.precision not in PRECISIONS:
            raise OptionError(f"unknown precision {options.precision!r}; choose one of "
                              f"{', '.join(PRECISIONS)}")
        if options.threads:
            torch.set_num_threads(options.threads)
        self.spandrel_model = model
        self.torch_device = torch.device(torch_device(options.device))
        base = spandrel_descriptor(model, source)
        if base.task != "super-resolution":
            raise ModelError(f"an {base.task} model: export it to ONNX, then use it as a "
                             "removal method", path=source)
        on_gpu = self.torch_device.type == "cuda"
        precision = options.precision
        if precision == "auto":
            precision = "fp16" if on_gpu and "fp16" in base.precisions else "fp32"
        if precision == "fp16" and "fp16" not in base.precisions:
            raise OptionError(f"{base.architecture} does not run in fp16 (spandrel says so)")
        self.dtype = torch.float16 if precision == "fp16" else torch.float32
        self.network = model.model.eval().to(self.torch_device, self.dtype)
        self.memory_format = torch.channels_last if on_gpu else torch.contiguous_format
        self.network = self.network.to(memory_format=self.memory_format)
        if options.compile:
            self.network = torch.compile(self.network, mode="max-autotune", dynamic=False)
        self.descriptor = replace(base, precisions=(precision,))
        if halo is None:
            # Windowed attention also ties tiles to its window grid: measured, not assumed
            # (spandrel states only what the network's own padding needs).
            halo = probe_receptive_radius(self)
            self.descriptor = replace(self.descriptor, size_multiple=probe_alignment(self, halo))
        self.descriptor = replace(self.descriptor, halo=halo)

    @classmethod
    def open(cls, path: str | os.PathLike, *, options: TorchOptions = TorchOptions()) -> TorchRunner:
        from burnish.models.checkpoint import load_checkpoint

        return cls(load_checkpoint(path), Path(path), options=options)

    @property
    def device(self) -> str:
        return f"cuda:{self.torch_device.index or 0}" if self.torch_device.type == "cuda" else "cpu"

    def _run_tensor_impl(self, batch):
        """Run on a tensor already on the device, in the runner's dtype; for the GPU path."""
        import torch  # a runner exists: PyTorch is installed

        with torch.inference_mode():
            return self.network(batch.contiguous(memory_format=self.memory_format))

    def _infer_impl(self, batch: np.ndarray) -> np.ndarray:
        import torch  # a runner exists: PyTorch is installed

        try:
            tensor = torch.from_numpy(batch).to(self.torch_device, self.dtype)
            return self._run_tensor_impl(tensor).float().cpu().numpy()
        except torch.OutOfMemoryError:
            torch.cuda.empty_cache()
            raise BackendOutOfMemory(f"out of memory for a {batch.shape} batch") from None

    def close(self) -> None:
        self.network = self.spandrel_model = None
