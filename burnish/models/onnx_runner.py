"""ONNX Runtime runner: TensorRT -> CUDA -> CPU providers, chosen from what is installed."""

from __future__ import annotations

import logging
import os
from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np

from burnish.device import Device, resolve_device
from burnish.errors import BackendOutOfMemory, ModelError, OptionError
from burnish.files import check_regular_file
from burnish.models.descriptor import ModelDescriptor, from_metadata, metadata_fields
from burnish.models.runner import DeviceRunner

log = logging.getLogger(__name__)

GPU_PROVIDERS = ("TensorrtExecutionProvider", "CUDAExecutionProvider")


@dataclass(frozen=True)
class OrtOptions:
    """Per-backend options of :class:`OrtRunner`.

    ``device`` (a request or a :class:`~burnish.device.Device`): on a GPU, TensorRT then
    CUDA, whichever onnxruntime offers, with the CPU behind them.
    ``intra_op_threads=None`` lets onnxruntime use one thread per physical core.
    """

    device: str | Device = "auto"
    intra_op_threads: int | None = None
    trt_cache_dir: str = os.path.join(os.path.expanduser("~"), ".cache", "burnish", "trt")


def choose_providers(device: str | Device = "auto", *,
                     trt_cache_dir: str | None = None) -> tuple[list[str], list[dict]]:
    """The provider chain for a device (:func:`burnish.device.resolve_device`), from the
    providers this onnxruntime has, and each provider's options: the GPU's ``device_id``,
    and for TensorRT fp16 and its engine cache in ``trt_cache_dir``. A GPU chosen by
    ``auto`` falls back to the CPU when this onnxruntime has no GPU provider; one asked for
    is an error."""
    import onnxruntime as ort

    device = resolve_device(device)
    if not device.is_cuda:
        return ["CPUExecutionProvider"], [{}]
    gpu = [p for p in GPU_PROVIDERS if p in ort.get_available_providers()]
    if not gpu:
        if device.auto:
            log.info("this onnxruntime has no GPU provider: models run on the CPU")
            return ["CPUExecutionProvider"], [{}]
        raise OptionError(f"device {device} asked for, but this onnxruntime has no CUDA "
                          "provider (install burnish[gpu], which brings onnxruntime-gpu)")
    options = []
    for provider in gpu:
        chosen = {"device_id": device.index}
        if provider == "TensorrtExecutionProvider" and trt_cache_dir is not None:
            chosen.update(trt_fp16_enable=True, trt_engine_cache_enable=True,
                          trt_engine_cache_path=trt_cache_dir)
        options.append(chosen)
    return [*gpu, "CPUExecutionProvider"], [*options, {}]


def open_session(path: Path, *, providers: list[str], provider_options: list[dict] | None = None,
                 session_options=None):
    """An onnxruntime session for a model file, or a one-line ModelError naming it.

    The file is checked first (:func:`burnish.files.check_regular_file`): onnxruntime would
    block on a FIFO and read a device without end.
    """
    import onnxruntime as ort

    check_regular_file(path, error=ModelError, what="model")
    try:
        return ort.InferenceSession(str(path), sess_options=session_options,
                                    providers=providers, provider_options=provider_options)
    except Exception as error:  # onnxruntime raises its own untyped-by-cause errors here
        reason = (str(error).split(":")[-1].strip().splitlines() or [type(error).__name__])[0]
        raise ModelError(f"not a usable ONNX model ({reason})", path=path) from None


class OrtRunner(DeviceRunner):
    """Runs an ONNX super-resolution model with ONNX Runtime.

    The descriptor comes from the caller (shipped models carry it in their manifest), else
    from ``burnish.*`` metadata in the ONNX file, else from probing the model.
    """

    def __init__(self, path: str | os.PathLike, *, descriptor: ModelDescriptor | None = None,
                 options: OrtOptions = OrtOptions()):
        import onnxruntime as ort

        self.path = Path(path)
        self._device = resolve_device(options.device)
        providers, provider_options = choose_providers(self._device,
                                                       trt_cache_dir=options.trt_cache_dir)
        session_options = ort.SessionOptions()
        if options.intra_op_threads:
            session_options.intra_op_num_threads = options.intra_op_threads
        self.session = open_session(self.path, providers=providers,
                                    provider_options=provider_options,
                                    session_options=session_options)
        inputs, outputs = self.session.get_inputs(), self.session.get_outputs()
        if len(inputs) != 1 or len(outputs) < 1 or len(inputs[0].shape) != 4:
            raise ModelError("expected one N x C x H x W image input", path=self.path)
        self.input_name, self.output_name = inputs[0].name, outputs[0].name
        self.providers = self.session.get_providers()
        self.descriptor = descriptor or self._descriptor_from_model()

    @property
    def device(self) -> str:
        return str(self._device) if self.providers[0] in GPU_PROVIDERS else "cpu"

    def _descriptor_from_model(self) -> ModelDescriptor:
        from burnish.models.probe import probe_receptive_radius, probe_scale

        metadata = self.session.get_modelmeta().custom_metadata_map
        stated = metadata_fields(metadata)
        channels = self.session.get_inputs()[0].shape[1]
        base = ModelDescriptor(name=self.path.stem, scale=1, halo=0,
                               channels=channels if isinstance(channels, int) else 3,
                               source=str(self.path), architecture="unknown (ONNX)")
        self.descriptor = base = from_metadata(metadata, base, path=self.path)
        if "scale" not in stated:
            self.descriptor = base = replace(base, scale=probe_scale(self))
        if "halo" not in stated:
            self.descriptor = base = replace(base, halo=probe_receptive_radius(self))
        log.info("%s: scale %d, halo %d%s", self.path.name, base.scale, base.halo,
                 "" if "halo" in stated else " (probed)")
        return base

    def _run_tensor_impl(self, batch):
        """Run on a CUDA torch tensor without a trip through host memory (IO binding); for
        the GPU path. The output is a new float32 CUDA tensor."""
        import torch

        batch = batch.float().contiguous()
        n, c, h, w = batch.shape
        s = self.descriptor.scale
        out = torch.empty((n, c, h * s, w * s), dtype=torch.float32, device=batch.device)
        binding = self.session.io_binding()
        device_id = batch.device.index or 0
        binding.bind_input(self.input_name, "cuda", device_id, np.float32, tuple(batch.shape),
                           batch.data_ptr())
        binding.bind_output(self.output_name, "cuda", device_id, np.float32, tuple(out.shape),
                            out.data_ptr())
        self.session.run_with_iobinding(binding)
        return out

    def _infer_impl(self, batch: np.ndarray) -> np.ndarray:
        try:
            if self.device != "cpu":
                # IO binding: the output stays in one device buffer and comes back in one
                # copy, instead of ONNX Runtime's allocate-copy-free round per call.
                binding = self.session.io_binding()
                binding.bind_cpu_input(self.input_name, batch)
                binding.bind_output(self.output_name, "cuda", self._device.index)
                self.session.run_with_iobinding(binding)
                return binding.copy_outputs_to_cpu()[0]
            return self.session.run([self.output_name], {self.input_name: batch})[0]
        except MemoryError:
            raise BackendOutOfMemory(f"out of memory for a {batch.shape} batch") from None
        except Exception as error:
            # The CUDA provider's allocator reports exhaustion only in its message: this is the
            # one place that text is read, so the scheduler deals with a typed error.
            if "Failed to allocate memory" in str(error):
                raise BackendOutOfMemory(f"out of memory for a {batch.shape} batch") from None
            raise ModelError(f"inference failed ({str(error).splitlines()[0]})",
                             path=self.path) from None

    def close(self) -> None:
        self.session = None
