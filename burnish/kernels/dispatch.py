"""Where a kernel runs: the device names, the one function that picks a driver, CUDA launches.

Every kernel is written once, as a per-pixel (or per-line) *body*: an ``@njit`` function of
scalars or 1-D lines. Two *drivers* run it: a loop on the CPU (an ``@njit(nogil=True)`` band
of rows run in threads by :mod:`~burnish.kernels.threads`) and a
``@cuda.jit`` kernel on the GPU (one thread per pixel or per line, bounds-checked). The public
function of each kernel validates its arguments and calls :func:`run`, the only place where
the device decides which driver runs.

Two rules keep the drivers identical to each other and testable in Numba's CUDA simulator:

- A driver passes raw array elements and scalar parameters to *one* body per output value,
  and the body does all the arithmetic. (numba-cuda compiles ``@njit`` bodies for the GPU
  when a kernel calls them; the simulator calls the CPU-compiled body instead and boxes its
  result as a Python float, so arithmetic chained at driver level would run in float64 there.)
- Bodies that take arrays (per-line sweeps) are called through their :func:`device_function`
  twin, the same Python source compiled as a CUDA device function, because the simulator
  cannot pass its arrays to CPU-compiled functions.

NumPy arrays given to a CUDA driver are copied to the GPU for the launch; those wrapped in
:class:`Out` are copied back into the caller's array afterwards. Arrays already on the GPU
(anything with ``__cuda_array_interface__``) are used in place, so a pipeline that keeps its
buffers on the GPU pays no round trips.

Tests run the CUDA drivers in Numba's simulator (``NUMBA_ENABLE_CUDASIM=1``, set by the
test suite on machines without an NVIDIA driver) with small blocks, so that even small images
span several blocks.
"""

from __future__ import annotations

import importlib.util
import math
import sys
import threading

import numpy as np

from burnish.kernels.threads import is_band_driver, parallel_for


def _import_on_first_use(name: str):
    """The module ``name``, bound now but imported at its first attribute access (the standard
    library's LazyLoader); the module itself if it is imported already."""
    if name in sys.modules:
        return sys.modules[name]
    spec = importlib.util.find_spec(name)
    spec.loader = importlib.util.LazyLoader(spec.loader)
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    spec.loader.exec_module(module)
    return module


# numba.cuda costs about a second to import (ml_dtypes alone 0.7 s), which a process that never
# touches a GPU should not pay. The kernel modules name it (``cuda.grid`` in their CUDA
# drivers); it loads at the first CUDA use: check_device("cuda"), a launch, or
# bind_cuda_drivers().
cuda = _import_on_first_use("numba.cuda")

DEVICES = ("cpu", "cuda")

# Threads per block. 16 x 16 = 256 threads keeps an SM busy with a few resident blocks for
# per-pixel kernels; per-line kernels (one thread sweeps a whole row or column) use 1-D blocks.
# Tests shrink both so that small inputs still run several blocks.
BLOCK_2D = (16, 16)
BLOCK_1D = 128


def check_device(device: str) -> str:
    """``device`` (``"cpu"``, ``"cuda"`` or ``"cuda:N"``, such as a
    :class:`burnish.device.Device`) if burnish can run kernels on it here, else ValueError
    saying why. ``"cuda"`` is the first GPU."""
    kind, colon, index = str(device).partition(":")
    if kind not in DEVICES or (colon and (kind != "cuda" or not index.isdigit())):
        raise ValueError(f"device must be cpu, cuda or cuda:N, got {device!r}")
    if kind == "cuda" and not cuda.is_available():
        raise ValueError("device='cuda' needs an NVIDIA GPU and driver, and numba finds none "
                         "(numba.cuda.is_available() is False)")
    if index and int(index) >= len(cuda.gpus):
        raise ValueError(f"device {device!r}: numba sees {len(cuda.gpus)} GPU(s)")
    return device


def _gpu(device: str):
    """The numba GPU context of ``device`` (``"cuda"`` or ``"cuda:N"``): what is copied,
    allocated and launched inside it happens on that GPU."""
    return cuda.gpus[int(str(device).partition(":")[2] or 0)]


class _CudaFunction:
    """A CUDA kernel or device function before its ``cuda.jit``: the Python function, and the
    CUDA dispatcher once :func:`bind_cuda_drivers` has made it."""

    declared: list[_CudaFunction] = []

    def __init__(self, py_func, device: bool):
        self.py_func, self.device, self.dispatcher = py_func, device, None
        _CudaFunction.declared.append(self)


def cuda_kernel(function) -> _CudaFunction:
    """Declares a CUDA driver (``cuda.jit`` of ``function``, made on the first CUDA use)."""
    return _CudaFunction(function, device=False)


def device_function(body) -> _CudaFunction:
    """The GPU twin of an ``@njit`` body: its Python source, to be compiled as a CUDA device
    function (``cuda.jit(device=True)``, made on the first CUDA use)."""
    return _CudaFunction(body.py_func, device=True)


_binding = threading.Lock()
_bound = 0  # how many of _CudaFunction.declared are bound


def bind_cuda_drivers() -> None:
    """``cuda.jit`` every declared CUDA kernel and device function, and put each dispatcher in
    place of its declaration in the burnish modules that name it: a kernel finds its device
    functions there when Numba compiles it (still lazily, at its first launch)."""
    global _bound
    with _binding:
        if _bound == len(_CudaFunction.declared):
            return
        for declared in _CudaFunction.declared:
            if declared.dispatcher is None:
                declared.dispatcher = cuda.jit(device=declared.device)(declared.py_func)
        for name, module in list(sys.modules.items()):
            if name.startswith("burnish."):
                namespace = vars(module)
                for key, value in list(namespace.items()):
                    if isinstance(value, _CudaFunction):
                        namespace[key] = value.dispatcher
        _bound = len(_CudaFunction.declared)


class Out:
    """Marks an array argument the driver writes, so that the CUDA path copies it back."""

    __slots__ = ("array",)

    def __init__(self, array):
        self.array = array


def on_gpu(array) -> bool:
    return hasattr(array, "__cuda_array_interface__")


def to_device(array, device: str):
    """``array`` where ``device``'s drivers read it: itself on the CPU, a GPU copy for CUDA.

    For drivers launched several times on the same data, which should cross the bus once.
    """
    if device == "cpu" or on_gpu(array):
        return array
    with _gpu(device):
        return cuda.to_device(np.ascontiguousarray(array))


def empty(shape, dtype, device: str):
    """An uninitialised array where ``device``'s drivers write it: scratch, or a result that
    stays on the GPU until :func:`to_host` (nothing crosses the bus to create it)."""
    if device == "cpu":
        return np.empty(shape, dtype)
    with _gpu(device):
        return cuda.device_array(shape, dtype)


def to_host(array) -> np.ndarray:
    """``array`` as a NumPy array: itself, or a copy of a GPU array."""
    return array.copy_to_host() if on_gpu(array) else array


def launch_shape(grid: tuple[int, ...]) -> tuple[tuple[int, ...], tuple[int, ...]]:
    """Blocks and threads per block covering ``grid`` (one thread per element, 1-D or 2-D)."""
    threads = (BLOCK_1D,) if len(grid) == 1 else BLOCK_2D
    blocks = tuple(max(1, math.ceil(n / t)) for n, t in zip(grid, threads))
    return blocks, threads


def run(device: str, cpu_driver, cuda_driver, grid: tuple[int, ...], *args,
        cpu_items: int | None = None) -> None:
    """Run a kernel: ``cpu_driver(*args)``, or ``cuda_driver`` over ``grid`` threads.

    ``grid`` is the CUDA thread grid, ``(height, width)`` for per-pixel kernels or ``(n,)``
    for per-line ones; the CPU driver loops over the same range itself. Arguments are passed in
    order; :class:`Out`-wrapped arrays are the ones written. ``cpu_driver`` is None for a
    launch that the CPU driver does fused with another (where the GPU needs two launches).
    A CPU driver made by :func:`~burnish.kernels.threads.band_driver` takes a band
    ``first, stop`` of ``range(grid[0])`` (or of ``range(cpu_items)``, for a driver whose
    parallel loop is not over the grid's first axis) after ``args``; the bands run in threads.
    """
    if device == "cpu":
        if cpu_driver is None:
            raise ValueError(f"{cuda_driver} has no CPU driver of its own")
        arrays = tuple(arg.array if isinstance(arg, Out) else arg for arg in args)
        if is_band_driver(cpu_driver):
            parallel_for(cpu_driver, grid[0] if cpu_items is None else cpu_items, *arrays)
        else:
            cpu_driver(*arrays)
        return
    if any(n == 0 for n in grid):
        return
    bind_cuda_drivers()
    if isinstance(cuda_driver, _CudaFunction):  # named before the binding
        cuda_driver = cuda_driver.dispatcher
    with _gpu(device):
        _launch(cuda_driver, grid, args)


def _launch(cuda_driver, grid, args) -> None:
    """Copy the host arrays among ``args`` to the current GPU, launch, copy the written back."""
    staged, written = [], []
    for arg in args:
        value = arg.array if isinstance(arg, Out) else arg
        if isinstance(value, np.ndarray):
            on_device = cuda.to_device(np.ascontiguousarray(value))
            if isinstance(arg, Out):
                written.append((on_device, value))
            value = on_device
        staged.append(value)
    blocks, threads = launch_shape(grid)
    cuda_driver[blocks, threads](*staged)
    for on_device, host in written:
        if host.flags.c_contiguous:
            on_device.copy_to_host(host)
        else:
            host[...] = on_device.copy_to_host()
