"""TensorRT engines as files: the shapes an engine accepts, the key it is cached under, and
the descriptor written beside it.

An engine is specialised to one GPU model, one TensorRT version, one precision and one range
of input shapes (its optimisation profile). Following Polygraphy, a built engine is stored as
``KEY.engine`` under the cache folder, where ``KEY`` hashes all of those plus the model's own
hash, so that a change to any of them builds a new engine instead of loading a stale one.
Beside it, ``KEY.engine.json`` carries the model's descriptor (the same ``burnish.*``
properties an exported ONNX file carries) and how the engine was built: a ``.engine`` file
alone says nothing about scale or halo.

Building is :mod:`burnish.export.tensorrt`'s job; this module is what running needs: it
finds an engine in the cache (:func:`cached_engine_for`) and reads its descriptor, and never
builds one. Nothing here imports ``tensorrt``.
"""

from __future__ import annotations

import hashlib
import json
import os
import tempfile
from dataclasses import asdict, dataclass, replace
from pathlib import Path

from burnish import defaults
from burnish.errors import BurnishError, ModelError, OptionError, first_line
from burnish.files import check_regular_file, read_limited
from burnish.models.descriptor import (
    ModelDescriptor,
    file_sha256,
    from_metadata,
    metadata_fields,
    padded_length,
    to_metadata,
)
from burnish.models.extras import require_extra

PRECISIONS = ("fp16", "fp32")
CACHE_ENV = "BURNISH_TRT_CACHE"
# Goes into every build key: bump it whenever the builder changes how it builds, so engines
# cached by an older burnish are rebuilt rather than trusted.
BUILD_RECIPE = 1
DESCRIPTOR_FORMAT = 1
USING = "using TensorRT engines"


@dataclass(frozen=True)
class ShapeProfile:
    """The range of input shapes an engine accepts: square tiles and a batch count.

    Tiles are in input pixels and bound both height and width, so any window between
    ``min_tile`` and ``max_tile`` on each side fits (windows at an image's edge can be
    narrower than they are tall). TensorRT tunes its kernels for ``opt_tile`` and
    ``opt_batch``.

    Raises :class:`~burnish.errors.OptionError` unless ``1 <= min_tile <= opt_tile <=
    max_tile`` and ``1 <= opt_batch <= max_batch``.
    """

    min_tile: int
    opt_tile: int
    max_tile: int
    max_batch: int
    opt_batch: int

    def __post_init__(self):
        if not 1 <= self.min_tile <= self.opt_tile <= self.max_tile:
            raise OptionError(f"tile sizes must satisfy 1 <= min {self.min_tile} <= opt "
                              f"{self.opt_tile} <= max {self.max_tile}")
        if not 1 <= self.opt_batch <= self.max_batch:
            raise OptionError(f"batch sizes must satisfy 1 <= opt {self.opt_batch} <= max "
                              f"{self.max_batch}")

    def nchw_shapes(self, channels: int, *, size_multiple: int = 1, min_size: int = 1
                    ) -> tuple[tuple[int, int, int, int], ...]:
        """TensorRT's ``(min, opt, max)`` input shapes, N x C x H x W.

        Each tile is rounded up to a multiple of ``size_multiple`` and to at least
        ``min_size``: the only sizes such a model is ever given.

        Examples
        --------
        >>> ShapeProfile(min_tile=1, opt_tile=100, max_tile=100, max_batch=4, opt_batch=4
        ...              ).nchw_shapes(3, size_multiple=8, min_size=16)
        ((1, 3, 16, 16), (4, 3, 104, 104), (4, 3, 104, 104))
        """
        def side(tile: int) -> int:
            return padded_length(tile, size_multiple, min_size)

        return ((1, channels, side(self.min_tile), side(self.min_tile)),
                (self.opt_batch, channels, side(self.opt_tile), side(self.opt_tile)),
                (self.max_batch, channels, side(self.max_tile), side(self.max_tile)))


def tile_window(tile: int, *, halo: int, size_multiple: int = 1, min_size: int = 1) -> int:
    """The largest window the tile grid reads for tiles of ``tile`` input pixels.

    This is :func:`burnish.engine.tiling.grid.split_axis`'s window: the core plus a halo on each
    side, plus ``size_multiple - 1`` because window starts are rounded down to a multiple,
    rounded up to the multiple and to at least ``min_size``.
    """
    return padded_length(tile + 2 * halo + size_multiple - 1, size_multiple, min_size)


def profile_for(descriptor: ModelDescriptor, tile: int | None = None,
                batch: int | None = None) -> ShapeProfile:
    """The profile that runs ``descriptor``'s model the way the engine tiles images.

    Parameters
    ----------
    descriptor : ModelDescriptor
    tile : int or None
        Tile size in input pixels (``None``: the model's advice, else the engine's default).
        ``0`` (untiled) is refused: an engine needs a largest shape.
    batch : int or None
        Tiles per model call (``None``: the engine's default for a GPU).

    The largest and optimal window is the tile grid's window for this tile; the smallest
    is the smallest input the model accepts, which is what small images and tiles split
    after running out of memory are.

    Examples
    --------
    >>> d = ModelDescriptor(name="m", scale=4, halo=10)
    >>> profile_for(d, tile=256, batch=4)
    ShapeProfile(min_tile=1, opt_tile=276, max_tile=276, max_batch=4, opt_batch=4)
    """
    if tile is None and descriptor.tile:
        tile = descriptor.tile
    if tile is None or batch is None:
        tile = defaults.TILE if tile is None else tile
        batch = defaults.BATCH["cuda"] if batch is None else batch
    if tile <= 0:
        raise OptionError("a TensorRT engine needs a tile size (its largest input); "
                          "untiled runs (tile 0) cannot use one")
    if batch < 1:
        raise OptionError("batch size must be at least 1")
    multiple, min_size = descriptor.size_multiple, descriptor.min_size
    window = tile_window(tile, halo=descriptor.halo, size_multiple=multiple, min_size=min_size)
    return ShapeProfile(min_tile=padded_length(1, multiple, min_size), opt_tile=window,
                        max_tile=window, max_batch=batch, opt_batch=batch)


def build_key(onnx_sha256: str, precision: str, profile: ShapeProfile, tensorrt_version: str,
              gpu_name: str, *, version_compatible: bool = False) -> str:
    """A hex digest over everything that changes the engine TensorRT builds."""
    payload = {"recipe": BUILD_RECIPE, "onnx_sha256": onnx_sha256, "precision": precision,
               "profile": asdict(profile), "tensorrt": tensorrt_version, "gpu": gpu_name,
               "version_compatible": version_compatible}
    return hashlib.sha256(json.dumps(payload, sort_keys=True).encode()).hexdigest()


def default_cache_dir() -> Path:
    """``$BURNISH_TRT_CACHE``, else ``~/.cache/burnish/trt`` (read on each call)."""
    configured = os.environ.get(CACHE_ENV)
    return Path(configured) if configured else Path.home() / ".cache" / "burnish" / "trt"


def engine_cache_path(cache_dir: str | os.PathLike | None, key: str) -> Path:
    """Where the engine with build key ``key`` lives (``None``: the default cache folder)."""
    return Path(cache_dir if cache_dir is not None else default_cache_dir()) / f"{key}.engine"


def engine_descriptor_path(engine_path: str | os.PathLike) -> Path:
    """The JSON file beside an engine: ``KEY.engine.json``."""
    engine_path = Path(engine_path)
    return engine_path.with_name(engine_path.name + ".json")


def model_sha256(onnx_path: str | os.PathLike, model=None) -> str:
    """SHA-256 of an ONNX file and of the external-data files its tensors name, in order.

    Weights kept in external data change the engine as much as the graph does, so they are
    part of the model's identity. ``model`` is the already loaded proto, if there is one.
    """
    onnx_path = Path(onnx_path)
    external_data = require_extra("export", "onnx.external_data_helper", purpose=USING,
                                  path=onnx_path)
    if model is None:
        model, _ = load_onnx(onnx_path)
    files = [onnx_path]
    for tensor in model.graph.initializer:
        if external_data.uses_external_data(tensor):
            location = onnx_path.parent / external_data.ExternalDataInfo(tensor).location
            if location not in files:
                files.append(location)
    return file_sha256(*files, error=ModelError, what="model file")


def onnx_descriptor(onnx_path: str | os.PathLike) -> ModelDescriptor:
    """The descriptor of an ONNX model: its ``burnish.*`` metadata, probing what is missing.

    Models exported by burnish state scale and halo; for others the model is run on the
    CPU to measure them (as :class:`~burnish.models.onnx_runner.OrtRunner` does).
    ``sha256`` is :func:`model_sha256` of the file.
    """
    onnx_path = Path(onnx_path)
    model, metadata = load_onnx(onnx_path)
    return onnx_descriptor_of(onnx_path, model, metadata)


def load_onnx(onnx_path: Path):
    """The model proto (weights left on disk) and its metadata properties."""
    check_regular_file(onnx_path, error=ModelError, what="model file")
    onnx = require_extra("export", "onnx", purpose=USING, path=onnx_path)
    try:
        model = onnx.load(str(onnx_path), load_external_data=False)
    except Exception as error:  # protobuf's DecodeError and friends: all mean "not ONNX"
        raise ModelError(f"not a readable ONNX model ({type(error).__name__})",
                         path=onnx_path) from None
    return model, {entry.key: entry.value for entry in model.metadata_props}


def onnx_descriptor_of(onnx_path: Path, model, metadata: dict[str, str]
                           ) -> ModelDescriptor:
    stated = metadata_fields(metadata)
    if "scale" in stated and "halo" in stated:
        base = ModelDescriptor(name=onnx_path.stem, scale=1, halo=0, source=str(onnx_path),
                               channels=_graph_channels(model) or 3,
                               architecture="unknown (ONNX)")
    else:
        from burnish.models.onnx_runner import OrtOptions, OrtRunner

        with OrtRunner(onnx_path, options=OrtOptions(device="cpu")) as runner:
            base = runner.descriptor
    descriptor = from_metadata(metadata, base, path=onnx_path)
    return replace(descriptor, sha256=model_sha256(onnx_path, model))


def _graph_channels(model) -> int | None:
    """The channel count of the graph's first input, when the graph fixes it."""
    inputs = model.graph.input
    if not inputs:
        return None
    dims = inputs[0].type.tensor_type.shape.dim
    return dims[1].dim_value if len(dims) == 4 and dims[1].HasField("dim_value") else None


def engine_descriptor_content(descriptor: ModelDescriptor, *, profile: ShapeProfile, precision: str,
                   tensorrt_version: str, gpu_name: str, build_key: str,
                   version_compatible: bool = False) -> dict:
    """The JSON content written beside an engine (:func:`read_engine_descriptor` reads it)."""
    shapes = profile.nchw_shapes(descriptor.channels, size_multiple=descriptor.size_multiple,
                                 min_size=descriptor.min_size)
    return {"format": DESCRIPTOR_FORMAT, "name": descriptor.name,
            "onnx_sha256": descriptor.sha256, "onnx_source": descriptor.source,
            "metadata": to_metadata(descriptor), "profile": asdict(profile),
            "input_shapes": dict(zip(("min", "opt", "max"), (list(s) for s in shapes))),
            "precision": precision, "tensorrt_version": tensorrt_version,
            "gpu_name": gpu_name, "version_compatible": version_compatible,
            "build_key": build_key}


def write_engine_descriptor(engine_path: str | os.PathLike, content: dict) -> Path:
    """Write :func:`engine_descriptor_content` content beside ``engine_path``, atomically."""
    path = engine_descriptor_path(engine_path)
    write_atomically(path, (json.dumps(content, indent=2, sort_keys=True) + "\n").encode())
    return path


def read_engine_descriptor(engine_path: str | os.PathLike) -> tuple[ModelDescriptor, dict]:
    """The descriptor and build information of an engine, from the JSON beside it.

    Returns ``(descriptor, info)``: ``descriptor.source`` is the engine,
    ``descriptor.sha256`` the hash of the ONNX model it was built from; ``info`` is the
    rest of the JSON, with ``info["profile"]`` a :class:`ShapeProfile`.

    Raises :class:`~burnish.errors.ModelError` naming the JSON file when it is missing or
    does not hold what :func:`engine_descriptor_content` writes.
    """
    engine_path = Path(engine_path)
    path = engine_descriptor_path(engine_path)
    if not path.exists():
        raise ModelError("missing: the engine's descriptor must lie beside it (rebuild the "
                         "engine with burnish)", path=path)
    data = read_limited(path, error=ModelError, what="engine descriptor")
    try:
        content = json.loads(data.decode("utf-8"))
        if not isinstance(content, dict) or content.get("format") != DESCRIPTOR_FORMAT:
            raise ValueError(f"format {_format_of(content)!r}, expected {DESCRIPTOR_FORMAT}")
        metadata = content["metadata"]
        if not isinstance(metadata, dict):
            raise ValueError("metadata is not a mapping")
        stated = metadata_fields(metadata)
        if "scale" not in stated or "halo" not in stated:
            raise ValueError("no scale or halo")
        profile = content["profile"]
        if not isinstance(profile, dict) or not all(
                type(value) is int for value in profile.values()):
            raise ValueError("the profile's sizes are not integers")
        base = ModelDescriptor(name=str(content["name"]), scale=1, halo=0,
                               source=str(engine_path), sha256=str(content["onnx_sha256"]))
        descriptor = from_metadata(metadata, base, path=path)
        info = {k: v for k, v in content.items() if k not in ("name", "metadata")}
        info["profile"] = ShapeProfile(**profile)
    except (ValueError, KeyError, TypeError, RecursionError, BurnishError) as error:
        # json.JSONDecodeError and UnicodeDecodeError are ValueErrors; a field out of bounds
        # is from_metadata's ModelError, a bad profile ShapeProfile's OptionError.
        reason = (error.problem if isinstance(error, BurnishError)
                  else f"{type(error).__name__}: {first_line(error)}")
        raise ModelError(f"corrupt engine descriptor ({reason})", path=path) from None
    return descriptor, info


def _format_of(content) -> object:
    return content.get("format") if isinstance(content, dict) else type(content).__name__


def write_atomically(path: Path, data) -> None:
    """Write to a temporary file in the same folder, then rename: readers (another burnish
    sharing the cache) see the whole file or none of it."""
    path.parent.mkdir(parents=True, exist_ok=True)
    handle, temporary = tempfile.mkstemp(dir=path.parent, prefix=path.name + ".", suffix=".tmp")
    try:
        with os.fdopen(handle, "wb") as stream:
            stream.write(data)
        os.replace(temporary, path)
    except BaseException:
        os.unlink(temporary)
        raise


def default_precision(descriptor: ModelDescriptor) -> str:
    """fp16 where the model lists it among its precisions, else fp32."""
    return "fp16" if "fp16" in descriptor.precisions else "fp32"


@dataclass(frozen=True)
class EngineRequest:
    """What a build key is made of, besides the TensorRT version and the GPU."""

    descriptor: ModelDescriptor
    precision: str
    profile: ShapeProfile


def engine_request(onnx_path: str | os.PathLike, *, descriptor: ModelDescriptor | None = None,
                   tile: int | None = None, batch: int | None = None,
                   precision: str | None = None) -> EngineRequest:
    """The engine the upscaler runs for an ONNX model by default: :func:`profile_for`'s
    profile (``tile`` and ``batch`` as there) and :func:`default_precision`. ``descriptor``
    is the model's when the caller has it (shipped models); else it is read from the file.
    ``descriptor.sha256`` becomes :func:`model_sha256` of the file."""
    onnx_path = Path(onnx_path)
    if descriptor is None:
        descriptor = onnx_descriptor(onnx_path)
    else:
        check_regular_file(onnx_path, error=ModelError, what="model file")
        descriptor = replace(descriptor, sha256=model_sha256(onnx_path))
    precision = default_precision(descriptor) if precision is None else precision
    if precision not in PRECISIONS:
        raise OptionError(f"unknown precision {precision!r}; choose one of "
                          f"{', '.join(PRECISIONS)}")
    return EngineRequest(descriptor, precision, profile_for(descriptor, tile, batch))


def cached_engine_for(onnx_path: str | os.PathLike, *, tensorrt_version: str, gpu_name: str,
                      descriptor: ModelDescriptor | None = None,
                      cache_dir: str | os.PathLike | None = None, model_name: str | None = None
                      ) -> Path:
    """The cached engine :func:`burnish.export.tensorrt.build_engine_for` would build for
    this model, TensorRT version and GPU, with its descriptor beside it.

    Raises :class:`~burnish.errors.ModelError` when the cache does not hold it: opening a
    model never builds an engine (minutes of work), the error says how to build one.
    """
    request = engine_request(onnx_path, descriptor=descriptor)
    key = build_key(request.descriptor.sha256, request.precision, request.profile,
                    tensorrt_version, gpu_name)
    path = engine_cache_path(cache_dir, key)
    if path.is_file() and engine_descriptor_path(path).is_file():
        return path
    shown = model_name or os.fspath(onnx_path)
    raise ModelError(f"no TensorRT engine for this model, TensorRT {tensorrt_version} and "
                     f"{gpu_name} in {path.parent}: build it once with "
                     f"`burnish export --engine {shown}`", path=onnx_path)
