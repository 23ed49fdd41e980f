"""Building TensorRT engines from ONNX models, into the cache that running reads.

What an engine file is (its profile, build key, cache path and the descriptor beside it) is
:mod:`burnish.models.trt_engine`; this module only builds, and only :func:`build_engine`
imports ``tensorrt``, when called. Opening a model never builds: ``burnish export --engine``
does, once per model, TensorRT version and GPU.
"""

from __future__ import annotations

import logging
import os
from dataclasses import replace
from pathlib import Path

from burnish.errors import ModelError, OptionError
from burnish.models.descriptor import ModelDescriptor, metadata_fields
from burnish.models.extras import missing_extra, require_extra
from burnish.models.trt_engine import (
    PRECISIONS,
    ShapeProfile,
    build_key,
    engine_cache_path,
    engine_descriptor_content,
    engine_descriptor_path,
    engine_request,
    load_onnx,
    model_sha256,
    onnx_descriptor_of,
    write_atomically,
    write_engine_descriptor,
)

log = logging.getLogger(__name__)

# Scratch memory TensorRT may use for one layer's tactic; more only widens its choice.
WORKSPACE_BYTES = 2 * 2**30
BUILDING = "building TensorRT engines"
BUILDER_MISSING = missing_extra("tensorrt", purpose=BUILDING).problem


def import_tensorrt_builder(path: str | os.PathLike | None = None):
    """The ``tensorrt`` module, or a one-line ModelError naming ``path`` (the model to build)
    when it is not installed (the lean runtime installs ``tensorrt_lean``, which has no
    builder)."""
    return require_extra("tensorrt", "tensorrt", purpose=BUILDING, path=path)


def build_engine(onnx_path: str | os.PathLike, *, precision: str = "fp16",
                 profile: ShapeProfile, cache_dir: str | os.PathLike | None = None,
                 force: bool = False, version_compatible: bool = False,
                 device_id: int = 0, descriptor: ModelDescriptor | None = None) -> Path:
    """Build (or find in the cache) a TensorRT engine for an ONNX model.

    Parameters
    ----------
    onnx_path : path
        The model. Its ``burnish.*`` metadata becomes the engine's descriptor (see
        :func:`onnx_descriptor`), unless ``descriptor`` is given.
    precision : {"fp16", "fp32"}
        ``"fp16"`` lets TensorRT choose half-precision kernels (inputs and outputs stay
        float32); refused when the model lists its precisions without fp16.
    profile : ShapeProfile
        Input shapes the engine accepts (:func:`profile_for` derives one).
    cache_dir : path or None
        Folder of cached engines (default :func:`default_cache_dir`).
    force : bool
        Build even when the cache holds this engine.
    version_compatible : bool
        Build an engine that later TensorRT versions, and the lean runtime
        (``tensorrt-lean``), can load; it may run slower.
    device_id : int
        The CUDA device to build on: the engine is specialised to its GPU model.
    descriptor : ModelDescriptor or None
        The model's descriptor when the caller has it (shipped models carry theirs in the
        manifest); written beside the engine instead of the one read from the file.

    Returns
    -------
    Path
        ``KEY.engine`` in the cache folder, with ``KEY.engine.json`` beside it.
    """
    if precision not in PRECISIONS:
        raise OptionError(f"unknown precision {precision!r}; choose one of "
                          f"{', '.join(PRECISIONS)}")
    onnx_path = Path(onnx_path)
    trt = import_tensorrt_builder(onnx_path)
    from burnish.models.trt_runner import cuda_device_name

    gpu_name = cuda_device_name(device_id)
    if descriptor is None:
        model, metadata = load_onnx(onnx_path)
        descriptor = onnx_descriptor_of(onnx_path, model, metadata)
        # Only a model that lists its precisions can rule fp16 out; the default ("fp32")
        # means "not stated", and ONNX Runtime's TensorRT provider runs those in fp16 too.
        states_precisions = "precisions" in metadata_fields(metadata)
    else:
        if not onnx_path.is_file():
            raise ModelError("no such model file", path=onnx_path)
        descriptor = replace(descriptor, sha256=model_sha256(onnx_path))
        states_precisions = True
    if states_precisions and precision not in descriptor.precisions:
        raise OptionError(f"the model states it runs in {', '.join(descriptor.precisions)} "
                          f"only, not {precision}")
    key = build_key(descriptor.sha256, precision, profile, trt.__version__, gpu_name,
                    version_compatible=version_compatible)
    engine_path = engine_cache_path(cache_dir, key)
    if not force and engine_path.is_file() and engine_descriptor_path(engine_path).is_file():
        log.info("%s: cached TensorRT engine %s", onnx_path.name, engine_path)
        return engine_path
    log.info("%s: building a TensorRT %s engine for %s (minutes)", onnx_path.name, precision,
             gpu_name)
    serialized = _serialize_engine(trt, onnx_path, descriptor, precision=precision,
                                   profile=profile, version_compatible=version_compatible)
    # The sidecar goes first: an engine file in the cache then always has its descriptor.
    write_engine_descriptor(engine_path, engine_descriptor_content(
        descriptor, profile=profile, precision=precision, tensorrt_version=trt.__version__,
        gpu_name=gpu_name, build_key=key, version_compatible=version_compatible))
    write_atomically(engine_path, serialized)
    return engine_path


def _serialize_engine(trt, onnx_path: Path, descriptor: ModelDescriptor, *, precision: str,
                      profile: ShapeProfile, version_compatible: bool) -> memoryview:
    logger = trt.Logger(trt.Logger.WARNING)
    builder = trt.Builder(logger)
    network = builder.create_network(0)  # TensorRT 10: every network is explicit-batch
    parser = trt.OnnxParser(network, logger)
    # parse_from_file (not parse) so that external-data weights next to the file are found.
    if not parser.parse_from_file(str(onnx_path)):
        reason = parser.get_error(0).desc() if parser.num_errors else "no reason given"
        raise ModelError(f"TensorRT cannot parse this model ({reason})", path=onnx_path)
    if network.num_inputs != 1 or network.num_outputs != 1:
        raise ModelError("expected one N x C x H x W image input and one output",
                         path=onnx_path)
    minimum, optimum, maximum = profile.nchw_shapes(
        descriptor.channels, size_multiple=descriptor.size_multiple,
        min_size=descriptor.min_size)
    shapes = builder.create_optimization_profile()
    shapes.set_shape(network.get_input(0).name, minimum, optimum, maximum)
    config = builder.create_builder_config()
    config.add_optimization_profile(shapes)
    config.set_memory_pool_limit(trt.MemoryPoolType.WORKSPACE, WORKSPACE_BYTES)
    if precision == "fp16":
        if not hasattr(trt.BuilderFlag, "FP16"):
            # TensorRT 11 removed weak typing: precision then comes from the ONNX graph.
            raise OptionError(f"TensorRT {trt.__version__} has no fp16 builder flag: build "
                              "with precision 'fp32' from an ONNX model exported in fp16")
        config.set_flag(trt.BuilderFlag.FP16)
    if version_compatible:
        config.set_flag(trt.BuilderFlag.VERSION_COMPATIBLE)
    serialized = builder.build_serialized_network(network, config)
    if serialized is None:
        raise ModelError("TensorRT could not build an engine (its log above says why)",
                         path=onnx_path)
    return memoryview(serialized)


def build_engine_for(onnx_path: str | os.PathLike, *, descriptor: ModelDescriptor | None = None,
                     tile: int | None = None, batch: int | None = None,
                     precision: str | None = None,
                     cache_dir: str | os.PathLike | None = None) -> Path:
    """:func:`build_engine` for the engine running looks for by default
    (:func:`burnish.models.trt_engine.engine_request`: ``tile`` and ``batch`` as in its
    profile, fp16 where the model lists it, else fp32)."""
    onnx_path = Path(onnx_path)
    import_tensorrt_builder(onnx_path)  # before probing the model: without a builder it is wasted
    request = engine_request(onnx_path, descriptor=descriptor, tile=tile, batch=batch,
                             precision=precision)
    return build_engine(onnx_path, precision=request.precision, profile=request.profile,
                        cache_dir=cache_dir, descriptor=request.descriptor)
