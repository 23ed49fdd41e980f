"""int8 models for edge devices: static quantization of an upscaling model with ONNX Runtime.

``burnish export MODEL --int8 --calibrate DIR`` writes a QDQ model (QuantizeLinear /
DequantizeLinear pairs around each convolution, which ONNX Runtime fuses into integer
kernels on the CPU, and TensorRT reads as explicit int8): weights int8 per output channel,
activations uint8 per tensor with scales fixed by calibration. Static, not dynamic: the
scales are the same for every tile, so tiles still give what the whole image gives, and no
tile pays for measuring its own ranges.

Calibration runs the float model on crops of the images in ``DIR`` (each image first made
at most :data:`CALIBRATION_SIDE` pixels on its long side, as the inputs an upscaler is given
are), and keeps each activation's range (min-max).

``reduce_range`` (7-bit weights) avoids the overflow of the uint8 x int8 multiply-adds on
x86 CPUs without VNNI (the AVX2 ``vpmaddubsw`` path saturates at 16 bits); where the CPU has
VNNI (or is not x86) ``burnish export --int8`` keeps the full range. The choice is recorded
in the metadata. The shipped variants (:func:`main`) always use the reduced range, since they
run on CPUs nobody has seen: on Set14 x4 ``compact-x4-int8`` loses 0.05 dB against
``compact-x4`` on an AVX2 CPU without VNNI, where a full-range copy of the previous (PReLU)
model lost 0.23 dB (it lost 0.03 dB either way on a CPU with VNNI; BENCHMARKS.md). Inside
the 0.1 dB asked of int8, so no quantization-aware fine-tuning is done.

The model keeps its descriptor (scale, halo, sizes) in its ``burnish.*`` metadata, with
``burnish.precisions = int8`` and the calibration in ``burnish.extra``.
"""

from __future__ import annotations

import os
import platform
import tempfile
import time
from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np

from burnish.errors import InputError, ModelError, OptionError, first_line
from burnish.models.descriptor import ModelDescriptor, file_sha256, to_metadata
from burnish.models.extras import require_extra

CALIBRATION_SIDE = 1024
CALIBRATION_CROP = 128
CROPS_PER_IMAGE = 4
MAX_CALIBRATION_IMAGES = 64
IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".webp", ".tif", ".tiff", ".bmp")


@dataclass(frozen=True)
class QuantizeResult:
    path: Path
    descriptor: ModelDescriptor
    images: int
    reduce_range: bool
    seconds: float


def cpu_has_vnni() -> bool:
    """Whether this CPU multiplies uint8 by int8 into int32 without saturating (VNNI), as
    Linux reports its flags; other systems count as having it (ARM's dot products do not
    saturate either)."""
    if platform.machine().lower() not in ("x86_64", "amd64", "i386", "i686"):
        return True
    try:
        flags = Path("/proc/cpuinfo").read_text()
    except OSError:
        return True
    return "avx512_vnni" in flags or "avx_vnni" in flags


def calibration_images(folder: str | os.PathLike) -> list[Path]:
    folder = Path(folder)
    if not folder.is_dir():
        raise OptionError(f"{folder}: not a folder of images (calibrate)")
    images = sorted(p for p in folder.iterdir()
                    if p.suffix.lower() in IMAGE_SUFFIXES and p.is_file())
    if not images:
        raise OptionError(f"{folder}: no images ({', '.join(IMAGE_SUFFIXES)}) to calibrate "
                          "with (calibrate)")
    return images[:MAX_CALIBRATION_IMAGES]


def _crops(paths: list[Path], channels: int, seed: int = 0) -> list[np.ndarray]:
    """``1 x C x S x S`` float32 crops in [0, 1] of each image, made at most
    :data:`CALIBRATION_SIDE` on its long side first."""
    from PIL import Image

    rng = np.random.default_rng(seed)
    crops = []
    for path in paths:
        try:
            with Image.open(path) as image:
                image = image.convert("RGB" if channels == 3 else "L")
                ratio = min(1.0, CALIBRATION_SIDE / max(image.size))
                if ratio < 1.0:
                    image = image.resize((max(1, round(image.width * ratio)),
                                          max(1, round(image.height * ratio))), Image.LANCZOS)
                pixels = np.asarray(image, np.float32) / 255
        except (OSError, ValueError) as error:
            raise InputError(f"cannot read it for calibration ({first_line(error)})",
                             path=path) from None
        pixels = pixels.reshape(pixels.shape[0], pixels.shape[1], channels)
        side = min(CALIBRATION_CROP, *pixels.shape[:2])
        for _ in range(CROPS_PER_IMAGE):
            top = int(rng.integers(0, pixels.shape[0] - side + 1))
            left = int(rng.integers(0, pixels.shape[1] - side + 1))
            crop = pixels[top:top + side, left:left + side]
            crops.append(np.ascontiguousarray(crop.transpose(2, 0, 1)[None]))
    return crops


def quantize_int8(model: str | os.PathLike, output: str | os.PathLike, calibrate: str | os.PathLike,
                  *, reduce_range: bool | None = None) -> QuantizeResult:
    """Write an int8 (QDQ) copy of an upscaling model (module notes).

    Parameters
    ----------
    model : str or path
        A shipped model's name or an ``.onnx`` file (float32).
    output : path
        The int8 ``.onnx`` file, written atomically.
    calibrate : path
        A folder of images like the ones the model will upscale.
    reduce_range : bool or None
        7-bit weights; ``None`` chooses by the CPU (:func:`cpu_has_vnni`).
    """
    started = time.perf_counter()
    onnx, quantization = require_extra(
        "export", "onnx", "onnxruntime.quantization",
        purpose="quantizing models to int8 (burnish export --int8)", path=model)
    from onnxruntime.quantization.shape_inference import quant_pre_process

    from burnish.models.registry import inspect_model, shipped_models

    output = Path(output)
    if output.suffix.lower() != ".onnx":
        raise OptionError(f"the int8 model is an .onnx file, not {output.name}")
    shipped = shipped_models().get(os.fspath(model))
    source = Path(shipped.source) if shipped is not None else Path(model)
    if source.suffix.lower() != ".onnx":
        raise OptionError(f"{source.name}: int8 quantization takes an ONNX model; export "
                          "the checkpoint first (burnish export CHECKPOINT)")
    images = calibration_images(calibrate)  # before the model: a mistake costs nothing
    descriptor = shipped or inspect_model(source)
    if "fp32" not in descriptor.precisions:
        raise OptionError(f"{source.name} runs in {', '.join(descriptor.precisions)}: "
                          "quantize its float32 export")
    crops = _crops(images, descriptor.channels)
    reduce = (not cpu_has_vnni()) if reduce_range is None else bool(reduce_range)
    input_name = _input_name(onnx, source)

    class Reader(quantization.CalibrationDataReader):
        def __init__(self):
            self.feeds = iter({input_name: crop} for crop in crops)

        def get_next(self):
            return next(self.feeds, None)

    output.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=output.parent, prefix=".int8-") as work:
        prepared, quantized = Path(work) / "prepared.onnx", Path(work) / "int8.onnx"
        try:
            # constant folding and ONNX shape inference; the symbolic pass cannot follow
            # the dynamic sizes of an upscaler's pixel shuffle and is not needed for QDQ
            quant_pre_process(str(source), str(prepared), skip_symbolic_shape=True)
            quantization.quantize_static(
                str(prepared), str(quantized), Reader(),
                quant_format=quantization.QuantFormat.QDQ, per_channel=True,
                reduce_range=reduce, activation_type=quantization.QuantType.QUInt8,
                weight_type=quantization.QuantType.QInt8,
                calibrate_method=quantization.CalibrationMethod.MinMax)
        except Exception as error:  # ONNX Runtime's tools raise anything
            raise ModelError(f"could not quantize it ({first_line(error)})",
                             path=source) from None
        graph = onnx.load(str(quantized))
        # what describes the network; a shipped model's training record stays in its manifest
        extra = {key: value for key, value in (descriptor.extra or {}).items()
                 if key in ("hyperparameters", "parameters")}
        extra["quantization"] = {
            "format": "QDQ", "weights": "int8 per channel", "activations": "uint8 per tensor",
            "calibration": "min-max", "images": len(images), "crops": len(crops),
            "reduce_range": reduce, "source_sha256": file_sha256(source, error=ModelError,
                                                                 what="model file")}
        quantized_descriptor = replace(descriptor, precisions=("int8",), extra=extra)
        del graph.metadata_props[:]
        for key, value in to_metadata(quantized_descriptor).items():
            graph.metadata_props.add(key=key, value=value)
        onnx.save(graph, str(quantized))
        os.replace(quantized, output)
    sha256 = file_sha256(output, error=ModelError, what="model file")
    return QuantizeResult(output, replace(quantized_descriptor, sha256=sha256), len(images),
                          reduce, time.perf_counter() - started)


def _input_name(onnx, path: Path) -> str:
    """The image input's name, from the graph (the model has been opened already)."""
    graph = onnx.load(str(path), load_external_data=False).graph
    weights = {initializer.name for initializer in graph.initializer}
    return next(value.name for value in graph.input if value.name not in weights)


def main(argv: list[str] | None = None) -> None:
    """The recipe of the shipped int8 variants: ``NAME-int8`` beside each float model named,
    calibrated on the default model's training photos (never Set14 or the held-out photos),
    each degraded as in training (antialiased bicubic by the model's scale), as upscaler
    inputs are; reduced range (7-bit weights) whatever this CPU has."""
    import argparse

    from PIL import Image

    from burnish.export.data import degrade, load_target, training_paths
    from burnish.export.train_default import write_manifest_entry
    from burnish.models.registry import SHIPPED_DIR, shipped_models

    parser = argparse.ArgumentParser(description=main.__doc__.splitlines()[0])
    parser.add_argument("models", nargs="+", help="shipped float models")
    parser.add_argument("--photos", type=Path, default=Path("../shared/data/photos"))
    parser.add_argument("--out", type=Path, default=SHIPPED_DIR)
    args = parser.parse_args(argv)
    paths = training_paths(args.photos)
    if not paths:
        raise SystemExit(f"needs the training photos in {args.photos}")
    for name in args.models:
        float_entry = shipped_models()[name].extra
        scale = float_entry["scale"]
        output = args.out / f"{name}-int8.onnx"
        with tempfile.TemporaryDirectory() as folder:  # the inputs of this model's scale
            for path in paths:
                Image.fromarray(degrade(load_target(path), scale)).save(
                    Path(folder) / f"{path.stem}.png")
            # 7-bit weights: exact on every CPU, VNNI or not (module notes)
            result = quantize_int8(name, output, folder, reduce_range=True)
        entry = {key: float_entry[key] for key in (
            "task", "architecture", "hyperparameters", "scale", "channels", "halo",
            "size_multiple", "parameters") if key in float_entry}
        entry.update(name=f"{name}-int8", file=output.name, precisions=["int8"],
                     sha256=result.descriptor.sha256, training={
                         "quantized_from": name, "recipe": "burnish/export/quantize.py",
                         **result.descriptor.extra["quantization"],
                         "calibration_data": [p.name for p in paths],
                         "calibration_degradation": f"antialiased bicubic x{scale}, as in "
                                                    "training"})
        write_manifest_entry(args.out, entry)
        print(f"{output}: calibrated on {result.images} images "
              f"({'reduced' if result.reduce_range else 'full'} range)")


__all__ = ["QuantizeResult", "calibration_images", "cpu_has_vnni", "quantize_int8"]


if __name__ == "__main__":
    main()
