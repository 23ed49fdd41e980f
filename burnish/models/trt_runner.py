"""TensorRT runner: a prebuilt ``.engine`` file run through cuda-python.

Engines come from :func:`burnish.export.tensorrt.build_engine`, which writes the model's
descriptor beside each engine. The runner needs only TensorRT's runtime: the full
``tensorrt`` package, or the lean runtime ``tensorrt-lean`` for engines built with
``version_compatible=True``.

Every batch goes host -> pinned staging buffer -> device, runs, and comes back the same way,
all queued on one CUDA stream and waited for once. Buffers grow to the largest batch seen and
are reused, so steady-state tiling allocates nothing.
"""

from __future__ import annotations

import ctypes
import logging
import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from burnish.errors import BackendOutOfMemory, ModelError, OptionError
from burnish.files import check_regular_file
from burnish.models.descriptor import ModelDescriptor
from burnish.models.extras import missing_extra, require_extra
from burnish.models.runner import Runner
from burnish.models.trt_engine import cached_engine_for, read_engine_descriptor

log = logging.getLogger(__name__)

RUNNING = "running TensorRT engines"
RUNTIME_MISSING = missing_extra("tensorrt-runtime", purpose=RUNNING).problem


@dataclass(frozen=True)
class TrtOptions:
    """Per-backend options of :class:`TrtRunner`: the CUDA device that runs the engine."""

    device_id: int = 0


def _cudart(path: str | os.PathLike | None = None):
    """cuda-python's runtime module (its home moved to ``cuda.bindings`` in 12.6); ``path``
    is the engine named when it is not installed. Once imported, this is a dictionary
    lookup: cheap enough for every CUDA call."""
    return require_extra("gpu", ("cuda.bindings.runtime", "cuda.cudart"),
                         purpose=f"{RUNNING} (cuda-python)", path=path)


def _check(result):
    """The values of a cuda-python call, which returns ``(error, *values)``; raises on error.

    Allocation failures raise :class:`~burnish.errors.BackendOutOfMemory`, so the scheduler
    can retry with smaller batches; other errors raise :class:`~burnish.errors.ModelError`.
    """
    cudart = _cudart()
    error, *values = result
    if error != cudart.cudaError_t.cudaSuccess:
        name = cudart.cudaGetErrorName(error)[1].decode()
        text = cudart.cudaGetErrorString(error)[1].decode()
        if error == cudart.cudaError_t.cudaErrorMemoryAllocation:
            raise BackendOutOfMemory(f"out of GPU memory ({name})")
        raise ModelError(f"CUDA call failed: {name} ({text})")
    if not values:
        return None
    return values[0] if len(values) == 1 else tuple(values)


def cuda_device_name(device_id: int = 0) -> str:
    """The GPU model and compute capability of a CUDA device (``"NVIDIA H100 (sm_90)"``).

    Raises :class:`~burnish.errors.ModelError` when there is no such device (or no driver).
    """
    cudart = _cudart()
    error, count = cudart.cudaGetDeviceCount()
    if error != cudart.cudaError_t.cudaSuccess or not 0 <= device_id < count:
        reason = (cudart.cudaGetErrorString(error)[1].decode()
                  if error != cudart.cudaError_t.cudaSuccess else f"{count} device(s)")
        raise ModelError(f"no CUDA device {device_id} ({reason}); TensorRT engines need an "
                         "NVIDIA GPU")
    properties = _check(cudart.cudaGetDeviceProperties(device_id))
    name = properties.name
    if isinstance(name, bytes):
        name = name.split(b"\0", 1)[0].decode(errors="replace")
    return f"{name.strip()} (sm_{properties.major}{properties.minor})"


def _import_trt_runtime(path: str | os.PathLike | None = None):
    """``tensorrt``, else the lean runtime ``tensorrt_lean`` (same API for running)."""
    return require_extra("tensorrt-runtime", ("tensorrt", "tensorrt_lean"), purpose=RUNNING,
                         path=path)


def find_cached_engine(onnx_path: str | os.PathLike, *, descriptor: ModelDescriptor | None,
                      device_id: int = 0, model_name: str | None = None,
                      cache_dir: str | os.PathLike | None = None) -> Path:
    """The engine built for this ONNX model, this TensorRT and this GPU, from the cache;
    a one-line ModelError saying how to build it when there is none (opening never builds)."""
    trt = _import_trt_runtime(onnx_path)
    return cached_engine_for(onnx_path, tensorrt_version=trt.__version__,
                             gpu_name=cuda_device_name(device_id), descriptor=descriptor,
                             cache_dir=cache_dir, model_name=model_name)


def check_profile_fit(shape: tuple[int, ...], min_shape: tuple[int, ...],
                      max_shape: tuple[int, ...]) -> None:
    """Raise :class:`~burnish.errors.OptionError` unless an N x C x H x W batch lies between
    an engine profile's smallest and largest shapes, dimension by dimension."""
    if len(shape) == len(min_shape) == len(max_shape) == 4 and all(
            low <= value <= high for low, value, high in zip(min_shape, shape, max_shape)):
        return
    low, high = min_shape, max_shape
    raise OptionError(
        f"a {' x '.join(map(str, shape))} batch is outside this engine's profile (batch "
        f"{low[0]}-{high[0]}, channels {low[1]}, sides {low[2]}-{high[2]} x "
        f"{low[3]}-{high[3]}): use smaller tiles or batches, or rebuild the engine")


class _GrowingBuffer:
    """One CUDA allocation (device or pinned host) that is replaced when too small."""

    def __init__(self, allocate, free):
        self._allocate, self._free = allocate, free
        self.pointer, self.nbytes = 0, 0

    def reserve(self, nbytes: int) -> int:
        if nbytes > self.nbytes:
            self.release()  # before allocating: old and new together may not fit
            self.pointer = _check(self._allocate(nbytes))
            self.nbytes = nbytes
        return int(self.pointer)

    def release(self) -> None:
        if self.nbytes:
            pointer, self.pointer, self.nbytes = self.pointer, 0, 0
            _check(self._free(pointer))


def _host_view(pointer: int, dtype: np.dtype, shape: tuple[int, ...]) -> np.ndarray:
    """A NumPy array over pinned host memory (no copy)."""
    count = int(np.prod(shape)) * dtype.itemsize
    raw = (ctypes.c_ubyte * count).from_address(pointer)
    return np.frombuffer(raw, dtype=dtype).reshape(shape)


class TrtRunner(Runner):
    """Runs a TensorRT engine built by :func:`burnish.export.tensorrt.build_engine`.

    The descriptor comes from the JSON beside the engine. Batches must fit the engine's
    optimisation profile (:func:`check_profile_fit`); inputs and outputs are float32 at this interface
    whatever the engine's own I/O types.
    """

    def __init__(self, path: str | os.PathLike, *, options: TrtOptions = TrtOptions()):
        self.path = Path(path)
        self._device_id = options.device_id
        self._stream = None
        self._buffers: list[_GrowingBuffer] = []
        self.context = self.engine = self._runtime = None
        check_regular_file(self.path, error=ModelError, what="engine")
        self.descriptor, self.build_info = read_engine_descriptor(self.path)
        trt = _import_trt_runtime(self.path)
        cudart = _cudart(self.path)
        cuda_device_name(self._device_id)  # a clear error when there is no such GPU
        _check(cudart.cudaSetDevice(self._device_id))
        try:
            self._load(trt)
        except BaseException:
            self.close()
            raise

    def _load(self, trt) -> None:
        cudart = _cudart()
        self._logger = trt.Logger(trt.Logger.WARNING)
        self._runtime = trt.Runtime(self._logger)
        if self.build_info.get("version_compatible"):
            # Version-compatible plans embed TensorRT's lean runtime (host code): allowed
            # for engines burnish built, whose sidecar says so.
            self._runtime.engine_host_code_allowed = True
        self.engine = self._runtime.deserialize_cuda_engine(self.path.read_bytes())
        if self.engine is None:
            info = self.build_info
            raise ModelError(
                f"TensorRT {trt.__version__} cannot load this engine (built by TensorRT "
                f"{info.get('tensorrt_version')} for {info.get('gpu_name')}): rebuild it",
                path=self.path)
        names = [self.engine.get_tensor_name(i) for i in range(self.engine.num_io_tensors)]
        inputs = [n for n in names if self.engine.get_tensor_mode(n) == trt.TensorIOMode.INPUT]
        outputs = [n for n in names if n not in inputs]
        if len(inputs) != 1 or len(outputs) != 1:
            raise ModelError(f"expected one input and one output, found {len(inputs)} and "
                             f"{len(outputs)}", path=self.path)
        self.input_name, self.output_name = inputs[0], outputs[0]
        dtypes = {trt.DataType.FLOAT: np.dtype(np.float32), trt.DataType.HALF: np.dtype(np.float16)}
        try:
            self._input_dtype = dtypes[self.engine.get_tensor_dtype(self.input_name)]
            self._output_dtype = dtypes[self.engine.get_tensor_dtype(self.output_name)]
        except KeyError:
            raise ModelError("engine inputs and outputs must be float32 or float16",
                             path=self.path) from None
        # The engine's own profile, not the sidecar's copy: it is what TensorRT enforces.
        minimum, _, maximum = self.engine.get_tensor_profile_shape(self.input_name, 0)
        self.min_shape = tuple(int(v) for v in minimum)
        self.max_shape = tuple(int(v) for v in maximum)
        self.context = self.engine.create_execution_context()
        if self.context is None:
            raise BackendOutOfMemory("not enough GPU memory for this engine's activations")
        self._stream = _check(cudart.cudaStreamCreate())
        self._device_input = _GrowingBuffer(cudart.cudaMalloc, cudart.cudaFree)
        self._device_output = _GrowingBuffer(cudart.cudaMalloc, cudart.cudaFree)
        self._host_input = _GrowingBuffer(cudart.cudaMallocHost, cudart.cudaFreeHost)
        self._host_output = _GrowingBuffer(cudart.cudaMallocHost, cudart.cudaFreeHost)
        self._buffers = [self._device_input, self._device_output, self._host_input,
                         self._host_output]

    @property
    def device(self) -> str:
        return f"cuda:{self._device_id}"

    def _infer_impl(self, batch: np.ndarray) -> np.ndarray:
        if self.context is None:
            raise ModelError("the runner is closed", path=self.path)
        check_profile_fit(batch.shape, self.min_shape, self.max_shape)
        cudart = _cudart()
        # The CUDA device is per thread, and the scheduler may call from another thread than
        # the one that opened the runner.
        _check(cudart.cudaSetDevice(self._device_id))
        if not self.context.set_input_shape(self.input_name, batch.shape):
            raise ModelError(f"TensorRT refused input shape {batch.shape}", path=self.path)
        output_shape = tuple(int(v) for v in self.context.get_tensor_shape(self.output_name))
        n, c, h, w = batch.shape
        scale = self.descriptor.scale
        if output_shape != (n, c, h * scale, w * scale):
            raise ModelError(f"engine output {output_shape} is not the input scaled by "
                             f"{scale}", path=self.path)
        input_bytes = batch.size * self._input_dtype.itemsize
        output_bytes = int(np.prod(output_shape)) * self._output_dtype.itemsize
        device_input = self._device_input.reserve(input_bytes)
        device_output = self._device_output.reserve(output_bytes)
        host_input = self._host_input.reserve(input_bytes)
        host_output = self._host_output.reserve(output_bytes)

        np.copyto(_host_view(host_input, self._input_dtype, batch.shape), batch,
                  casting="same_kind")
        stream = self._stream
        to_device = cudart.cudaMemcpyKind.cudaMemcpyHostToDevice
        to_host = cudart.cudaMemcpyKind.cudaMemcpyDeviceToHost
        _check(cudart.cudaMemcpyAsync(device_input, host_input, input_bytes, to_device, stream))
        self.context.set_tensor_address(self.input_name, device_input)
        self.context.set_tensor_address(self.output_name, device_output)
        if not self.context.execute_async_v3(int(stream)):
            raise ModelError("TensorRT could not run this batch (its log above says why)",
                             path=self.path)
        _check(cudart.cudaMemcpyAsync(host_output, device_output, output_bytes, to_host, stream))
        _check(cudart.cudaStreamSynchronize(stream))
        # A copy: the staging buffer is overwritten by the next call.
        return _host_view(host_output, self._output_dtype, output_shape).astype(np.float32)

    def close(self) -> None:
        """Free the buffers, the stream, the context, the engine; safe to call twice."""
        for buffer in self._buffers:
            buffer.release()
        self._buffers = []
        if self._stream is not None:
            stream, self._stream = self._stream, None
            _check(_cudart().cudaStreamDestroy(stream))
        # TensorRT objects go in dependency order: the context before its engine before
        # the runtime that made it.
        self.context = None
        self.engine = None
        self._runtime = None
