"""Where work runs: one :class:`Device` value from the command line to the kernels.

A user asks for ``auto``, ``cpu``, ``cuda`` or ``cuda:N`` (:data:`REQUESTS`, the CLI's
choices). :func:`resolve_device` turns the request into a :class:`Device` once, at the
entry of a job; runners (ONNX Runtime's provider ``device_id``, PyTorch, TensorRT), the
kernels' CUDA drivers (on that GPU) and provenance (which records it) all take that one
value. A :class:`Device` is a string (``"cpu"`` or ``"cuda:N"``), so it also reads right
wherever a device name is printed or compared.

``auto`` is the first GPU when the NVIDIA driver reports one (asked through the driver
library itself: nothing heavy is imported to find out), else the CPU. A device chosen by
``auto`` may fall back: a model whose runtime has no GPU support here runs on the CPU (its
provenance says so), where an explicit ``cuda`` request is an error instead.
"""

from __future__ import annotations

import ctypes
import os
from functools import lru_cache

from burnish.errors import OptionError

KINDS = ("cpu", "cuda")
# What a user may ask for; indices past the machine's GPUs are refused when resolved.
REQUESTS = ("auto", "cpu", "cuda", *(f"cuda:{index}" for index in range(8)))


class Device(str):
    """A resolved device: ``"cpu"`` or ``"cuda:N"`` (``Device("cuda")`` is ``"cuda:0"``).

    ``auto`` says it was chosen by ``auto`` rather than asked for (see the module notes); it
    is not part of the value.
    """

    auto: bool

    def __new__(cls, text: str, *, auto: bool = False) -> Device:
        kind, _, index = str(text).strip().lower().partition(":")
        if kind == "cpu" and not index:
            value = "cpu"
        elif kind == "cuda" and (not index or index.isdigit()):
            value = f"cuda:{int(index or 0)}"
        else:
            raise OptionError(f"unknown device {text!r}: use auto, cpu, cuda or cuda:N")
        device = super().__new__(cls, value)
        device.auto = auto
        return device

    @property
    def kind(self) -> str:
        """``"cpu"`` or ``"cuda"``."""
        return self.partition(":")[0]

    @property
    def index(self) -> int | None:
        """The GPU's index, None on the CPU."""
        return int(self.partition(":")[2]) if self.kind == "cuda" else None

    @property
    def is_cuda(self) -> bool:
        return self.kind == "cuda"


@lru_cache(maxsize=1)
def gpu_count() -> int:
    """How many CUDA GPUs the NVIDIA driver reports (0 without a driver)."""
    try:
        driver = ctypes.CDLL("libcuda.so.1" if os.name != "nt" else "nvcuda.dll")
    except OSError:
        return 0
    count = ctypes.c_int(0)
    if driver.cuInit(0) != 0 or driver.cuDeviceGetCount(ctypes.byref(count)) != 0:
        return 0
    return count.value


def resolve_device(request: str | Device = "auto") -> Device:
    """The :class:`Device` a request means on this machine (a resolved one is returned as
    it is). An explicit GPU that this machine does not have is an
    :class:`~burnish.errors.OptionError` naming it."""
    if isinstance(request, Device):
        return request
    if str(request).strip().lower() == "auto":
        return Device("cuda:0" if gpu_count() else "cpu", auto=True)
    device = Device(request)
    # Numba's CUDA simulator (NUMBA_ENABLE_CUDASIM=1: the tests' stand-in) is one GPU when
    # asked for by name; auto never picks it.
    have = gpu_count() or (1 if os.environ.get("NUMBA_ENABLE_CUDASIM") == "1" else 0)
    if device.is_cuda and device.index >= have:
        raise OptionError(f"device {device} asked for, but this machine has "
                          f"{'no CUDA GPU' if not have else f'{have} CUDA GPU(s)'} "
                          "(device cpu runs everything on the CPU)")
    return device
