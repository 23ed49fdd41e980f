"""PyTorch checkpoint -> ONNX, with the descriptor inside and an optional check against PyTorch.

The exported graph takes ``N x C x H x W`` float32 in [0, 1] with dynamic batch, height and
width, and returns ``N x C x sH x sW`` float32. fp16 exports keep float32 inputs and
outputs and cast inside the graph, so every runner feeds them the same arrays. The file's
``burnish.*`` metadata carries the descriptor, including the receptive radius measured by
probing the network with impulses, so ``burnish upscale --model OUT.onnx`` needs no other
flag and tiles exactly.
"""

from __future__ import annotations

import copy
import logging
import os
import tempfile
import time
from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np

from burnish.errors import ModelError, OptionError, first_line
from burnish.models.descriptor import ModelDescriptor, file_sha256, to_metadata
from burnish.models.extras import require_extra

log = logging.getLogger(__name__)

DEFAULT_OPSET = 17
# --validate: the largest difference from PyTorch fp32, relative to the reference's largest
# magnitude, that an export may show in each precision.
TOLERANCE = {"fp32": 1e-3, "fp16": 1e-2}
# Validation input: an odd batch and sizes that are not the export's example size, so that a
# batch or a shape baked into the graph shows.
VALIDATION_SHAPE = (2, 44, 52)
EXAMPLE_SIZE = 64


@dataclass(frozen=True)
class Validation:
    """ONNX Runtime against PyTorch fp32 on one random batch."""

    precision: str
    relative_error: float
    tolerance: float
    shape: tuple[int, ...]

    @property
    def passed(self) -> bool:
        return self.relative_error <= self.tolerance

    def __str__(self) -> str:
        verdict = "passed" if self.passed else "FAILED"
        return (f"validation {verdict}: ONNX Runtime vs PyTorch fp32 on a random "
                f"{'x'.join(map(str, self.shape))} batch, relative error "
                f"{self.relative_error:.2e} (tolerance {self.tolerance:.0e} for {self.precision})")


@dataclass(frozen=True)
class ExportResult:
    path: Path
    descriptor: ModelDescriptor
    validation: Validation | None
    seconds: float


def _half_precision(network):
    """``network`` computing in fp16 between float32 input and output."""
    import torch

    class HalfPrecision(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.network = network.half()

        def forward(self, image):
            return self.network(image.half()).float()

    return HalfPrecision().eval()


def export_checkpoint(checkpoint: str | os.PathLike, output: str | os.PathLike, *,
                      fp16: bool = False, opset: int = DEFAULT_OPSET,
                      validate: bool = False) -> ExportResult:
    """Export a ``.pth`` / ``.safetensors`` checkpoint to an ONNX file.

    Parameters
    ----------
    checkpoint : path
        Any architecture spandrel detects (ESRGAN, Real-ESRGAN, Compact, SwinIR, SPAN, ...),
        loaded without running code from the file.
    output : path
        The ``.onnx`` file, written atomically (nothing is left on failure).
    fp16 : bool
        Compute in fp16 inside the graph (architectures that support it).
    opset : int
        ONNX opset, 17 or above.
    validate : bool
        Run the export with ONNX Runtime (CPU) and PyTorch (fp32) on one random batch and
        refuse it (:class:`ModelError`, no file written) if they differ by more than
        :data:`TOLERANCE`.
    """
    started = time.perf_counter()
    checkpoint, output = Path(checkpoint), Path(output)
    onnx, torch = require_extra("export", "onnx", "torch", purpose="exporting checkpoints to "
                                "ONNX (burnish export)", path=checkpoint)

    from burnish.export.patches import traceable
    from burnish.models.checkpoint import load_checkpoint
    from burnish.models.torch_runner import TorchOptions, TorchRunner

    if output.suffix.lower() != ".onnx":
        raise OptionError(f"the export's output must be an .onnx file, not {output.name}")
    if opset < DEFAULT_OPSET:
        raise OptionError(f"opset {opset} is too old: use {DEFAULT_OPSET} or above")
    if not output.parent.is_dir():
        raise ModelError("the output folder does not exist", path=output.parent)
    model = load_checkpoint(checkpoint)
    reference = TorchRunner(model, checkpoint, options=TorchOptions(device="cpu", precision="fp32"))
    descriptor = reference.descriptor
    if fp16 and not model.supports_half:
        raise OptionError(f"{descriptor.architecture} does not support fp16 (spandrel says so)")
    precision = "fp16" if fp16 else "fp32"
    # An fp32 graph of a half-capable architecture may still be built in fp16 (TensorRT).
    precisions = ("fp16",) if fp16 else ("fp32", "fp16") if model.supports_half else ("fp32",)
    descriptor = replace(descriptor, name=output.stem, source=str(output), precisions=precisions)
    log.info("%s: %s x%d, halo %d (probed)", checkpoint.name, descriptor.architecture,
             descriptor.scale, descriptor.halo)

    network = copy.deepcopy(reference.network)
    if fp16:
        network = _half_precision(network)
    side = EXAMPLE_SIZE + (-EXAMPLE_SIZE) % descriptor.size_multiple
    example = torch.rand(1, descriptor.channels, max(side, descriptor.min_size),
                         max(side, descriptor.min_size))
    handle, temporary = tempfile.mkstemp(suffix=".onnx", dir=output.parent, prefix=".export-")
    os.close(handle)
    temporary = Path(temporary)
    try:
        try:
            with traceable(network), torch.no_grad():
                _torch_export(network, example, temporary, opset)
        except Exception as error:
            raise ModelError(f"PyTorch could not export {descriptor.architecture} to ONNX "
                             f"({first_line(error)})", path=checkpoint) from None
        graph = onnx.load(str(temporary))
        metadata = to_metadata(descriptor)
        metadata["burnish.source_sha256"] = file_sha256(checkpoint, error=ModelError,
                                                        what="checkpoint")
        del graph.metadata_props[:]
        for key, value in metadata.items():
            graph.metadata_props.add(key=key, value=value)
        onnx.save(graph, str(temporary))
        validation = None
        if validate:
            validation = validate_export(temporary, reference, precision=precision)
            if not validation.passed:
                raise ModelError(str(validation) + "; nothing written", path=output)
        os.replace(temporary, output)
    finally:
        temporary.unlink(missing_ok=True)
        reference.close()
    sha256 = file_sha256(output, error=ModelError, what="model file")
    return ExportResult(output, replace(descriptor, sha256=sha256), validation,
                        time.perf_counter() - started)


def _torch_export(network, example, path: Path, opset: int) -> None:
    """The legacy (TorchScript tracing) exporter: with :mod:`burnish.export.patches` its graphs
    match PyTorch at every size for every architecture tested, it takes plain dynamic axes,
    and it is about ten times faster than the dynamo exporter, which also specialises size-1
    example dimensions (a batch-1 example cannot give a dynamic batch)."""
    import torch

    torch.onnx.export(network, (example,), str(path), input_names=["image"],
                      output_names=["upscaled"], opset_version=opset, dynamo=False,
                      dynamic_axes={"image": {0: "batch", 2: "height", 3: "width"},
                                    "upscaled": {0: "batch", 2: "out_height", 3: "out_width"}})


def validate_export(path: str | os.PathLike, reference, *, precision: str = "fp32",
                    seed: int = 0) -> Validation:
    """Compare an ONNX file (ONNX Runtime, CPU) with its PyTorch runner on a random batch.

    The relative error is the largest absolute difference divided by the reference's largest
    magnitude (outputs are images in about [0, 1]).
    """
    from burnish.models.onnx_runner import OrtOptions, OrtRunner

    d = reference.descriptor
    batch, height, width = VALIDATION_SHAPE
    height, width = (max(v + (-v) % d.size_multiple, d.min_size) for v in (height, width))
    rng = np.random.default_rng(seed)
    inputs = rng.random((batch, d.channels, height, width), dtype=np.float32)
    expected = reference._infer_impl(inputs)
    with OrtRunner(path, descriptor=d, options=OrtOptions("cpu")) as runner:
        got = runner._infer_impl(inputs)
    if got.shape != expected.shape:
        return Validation(precision, float("inf"), TOLERANCE[precision], inputs.shape)
    error = float(np.abs(got - expected).max() / max(float(np.abs(expected).max()), 1e-6))
    return Validation(precision, error, TOLERANCE[precision], inputs.shape)
