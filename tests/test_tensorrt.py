"""The TensorRT backend's parts that need neither TensorRT nor a GPU: shape profiles, build
keys, the cache layout, the descriptor JSON beside an engine, and the one-line errors a user
without TensorRT (or without a GPU) gets. Building and running engines needs both."""

from __future__ import annotations

import hashlib
import json
import sys
from dataclasses import asdict, replace

import pytest

from burnish.engine.tiling.grid import split_axis
from burnish.errors import BackendOutOfMemory, ModelError, OptionError
from burnish.export.tensorrt import BUILDER_MISSING, build_engine, build_engine_for
from burnish.models import trt_runner
from burnish.models.descriptor import ModelDescriptor, to_metadata
from burnish.models.trt_engine import (
    ShapeProfile,
    build_key,
    engine_cache_path,
    engine_descriptor_content,
    engine_descriptor_path,
    model_sha256,
    onnx_descriptor,
    profile_for,
    read_engine_descriptor,
    tile_window,
    write_engine_descriptor,
)
from burnish.models.trt_runner import (
    RUNTIME_MISSING,
    TrtRunner,
    check_profile_fit,
    cuda_device_name,
)

DESCRIPTOR = ModelDescriptor(
    name="tiny-x2", scale=2, halo=3, channels=3, size_multiple=8, min_size=16,
    precisions=("fp32", "fp16"), architecture="test net", source="/models/tiny-x2.onnx",
    sha256="ab" * 32, pad_mode="reflect", tile=192, extra={"licence": "MIT"})
PROFILE = ShapeProfile(min_tile=16, opt_tile=208, max_tile=208, max_batch=4, opt_batch=4)
KEY_INPUTS = dict(onnx_sha256="ab" * 32, precision="fp16", profile=PROFILE,
                  tensorrt_version="10.9.0", gpu_name="NVIDIA H100 (sm_90)")


@pytest.fixture
def without_tensorrt(monkeypatch):
    """``import tensorrt`` (and the lean runtime) fail, whatever this machine has."""
    monkeypatch.setitem(sys.modules, "tensorrt", None)
    monkeypatch.setitem(sys.modules, "tensorrt_lean", None)


def written_sidecar(folder, descriptor=DESCRIPTOR, profile=PROFILE):
    """An engine path whose JSON is written by the function build_engine uses."""
    engine_path = folder / "k.engine"
    engine_path.write_bytes(b"not a real engine")
    write_engine_descriptor(engine_path, engine_descriptor_content(
        descriptor, profile=profile, precision="fp16", tensorrt_version="10.9.0",
        gpu_name="NVIDIA H100 (sm_90)", build_key="k"))
    return engine_path


# Shape profiles


@pytest.mark.parametrize("sizes", [(0, 1, 1, 1, 1), (8, 4, 16, 1, 1), (4, 16, 8, 1, 1),
                                   (4, 8, 16, 2, 3), (4, 8, 16, 0, 0)])
def test_profile_refuses_disordered_sizes(sizes):
    with pytest.raises(OptionError):
        ShapeProfile(*sizes)


def test_profile_shapes_are_multiples_above_the_minimum_and_ordered(rng):
    for _ in range(200):
        multiple = int(rng.choice([1, 2, 4, 8, 16, 64]))
        min_size = int(rng.integers(1, 100))
        tiles = sorted(int(t) for t in rng.integers(1, 600, size=3))
        batches = sorted(int(b) for b in rng.integers(1, 9, size=2))
        profile = ShapeProfile(*tiles, max_batch=batches[1], opt_batch=batches[0])
        shapes = profile.nchw_shapes(3, size_multiple=multiple, min_size=min_size)
        assert [s[0] for s in shapes] == [1, batches[0], batches[1]]
        for shape, tile in zip(shapes, tiles):
            n, c, h, w = shape
            assert c == 3 and h == w
            assert h % multiple == 0 and h >= min_size and h >= tile
            # The smallest such size: one multiple less would break a rule.
            assert h - multiple < max(tile, min_size)
        for smaller, larger in zip(shapes, shapes[1:]):
            assert all(a <= b for a, b in zip(smaller, larger))


def test_profile_covers_every_window_the_tile_grid_reads(rng):
    for _ in range(100):
        multiple = int(rng.choice([1, 4, 8, 16]))
        descriptor = ModelDescriptor(name="m", scale=2, halo=int(rng.integers(0, 40)),
                                     size_multiple=multiple, min_size=int(rng.integers(1, 64)))
        tile = int(rng.integers(16, 300))
        low, _, high = profile_for(descriptor, tile=tile, batch=2).nchw_shapes(
            3, size_multiple=multiple, min_size=descriptor.min_size)
        for length in rng.integers(1, 1500, size=5):
            for span in split_axis(int(length), tile, halo=descriptor.halo,
                                   multiple=multiple, min_size=descriptor.min_size):
                assert low[2] <= span.window_stop - span.window_start <= high[2]


def test_profile_for_uses_the_models_tile_advice_and_refuses_untiled():
    profile = profile_for(DESCRIPTOR, batch=3)
    window = tile_window(DESCRIPTOR.tile, halo=3, size_multiple=8, min_size=16)
    assert (profile.opt_tile, profile.max_tile, profile.max_batch) == (window, window, 3)
    assert profile.min_tile == 16
    with pytest.raises(OptionError, match="tile"):
        profile_for(DESCRIPTOR, tile=0, batch=1)
    with pytest.raises(OptionError, match="batch"):
        profile_for(DESCRIPTOR, tile=64, batch=0)


def test_profile_fit_check():
    low, high = (1, 3, 16, 16), (4, 3, 208, 208)
    for shape in [(1, 3, 16, 16), (4, 3, 208, 208), (2, 3, 16, 208)]:
        check_profile_fit(shape, low, high)
    for shape in [(5, 3, 64, 64), (1, 3, 216, 64), (1, 3, 64, 8), (1, 4, 64, 64), (3, 64, 64)]:
        with pytest.raises(OptionError, match="outside this engine's profile"):
            check_profile_fit(shape, low, high)


# Build keys and the cache


def test_build_key_is_stable_and_changes_with_every_input():
    key = build_key(**KEY_INPUTS)
    assert key == build_key(**KEY_INPUTS) and len(key) == 64 and int(key, 16) >= 0
    changes = dict(onnx_sha256="cd" * 32, precision="fp32",
                   profile=replace(PROFILE, max_batch=8), tensorrt_version="10.9.1",
                   gpu_name="NVIDIA L4 (sm_89)")
    keys = {key}
    for name, value in changes.items():
        keys.add(build_key(**{**KEY_INPUTS, name: value}))
    keys.add(build_key(**KEY_INPUTS, version_compatible=True))
    for field, value in asdict(PROFILE).items():
        bigger = {**asdict(PROFILE), field: value + 1}
        if field == "opt_tile":
            bigger["max_tile"] += 1
        if field == "opt_batch":
            bigger["max_batch"] += 1
        keys.add(build_key(**{**KEY_INPUTS, "profile": ShapeProfile(**bigger)}))
    assert len(keys) == 1 + len(changes) + 1 + len(asdict(PROFILE))


def test_engine_cache_path(tmp_path, monkeypatch):
    assert engine_cache_path(tmp_path, "abc") == tmp_path / "abc.engine"
    assert engine_descriptor_path(tmp_path / "abc.engine") == tmp_path / "abc.engine.json"
    monkeypatch.setenv("BURNISH_TRT_CACHE", str(tmp_path / "env"))
    assert engine_cache_path(None, "abc") == tmp_path / "env" / "abc.engine"
    monkeypatch.delenv("BURNISH_TRT_CACHE")
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    assert engine_cache_path(None, "abc") == tmp_path / "home/.cache/burnish/trt/abc.engine"


def test_model_hash_covers_external_weights(tmp_path, rng):
    onnx = pytest.importorskip("onnx")
    onnx_builders = pytest.importorskip("onnx_builders")
    inline = onnx_builders.conv_pixelshuffle_model(tmp_path / "inline.onnx", rng=rng)
    with open(inline, "rb") as stream:
        assert model_sha256(inline) == hashlib.sha256(stream.read()).hexdigest()
    path = tmp_path / "split.onnx"
    onnx.save_model(onnx.load(str(inline)), str(path), save_as_external_data=True,
                    location="split.weights", size_threshold=0)
    before = model_sha256(path)
    weights = bytearray((tmp_path / "split.weights").read_bytes())
    weights[0] ^= 1
    (tmp_path / "split.weights").write_bytes(bytes(weights))
    assert model_sha256(path) != before
    (tmp_path / "split.weights").unlink()
    with pytest.raises(ModelError, match="split.weights"):
        model_sha256(path)


# The descriptor beside an engine


def test_onnx_metadata_becomes_the_engine_descriptor(tmp_path, rng):
    onnx_builders = pytest.importorskip("onnx_builders")
    path = onnx_builders.conv_pixelshuffle_model(tmp_path / "tiny-x2.onnx", rng=rng,
                                                 metadata=to_metadata(DESCRIPTOR))
    descriptor = onnx_descriptor(path)
    assert descriptor == replace(DESCRIPTOR, source=str(path), sha256=model_sha256(path))
    assert descriptor.extra == DESCRIPTOR.extra


def test_sidecar_round_trip(tmp_path):
    engine_path = written_sidecar(tmp_path)
    descriptor, info = read_engine_descriptor(engine_path)
    assert descriptor == replace(DESCRIPTOR, source=str(engine_path))
    assert descriptor.extra == DESCRIPTOR.extra
    assert info["profile"] == PROFILE
    assert (info["precision"], info["tensorrt_version"], info["build_key"]) == (
        "fp16", "10.9.0", "k")
    shapes = PROFILE.nchw_shapes(3, size_multiple=8, min_size=16)
    assert [tuple(info["input_shapes"][k]) for k in ("min", "opt", "max")] == list(shapes)
    # Written atomically: no temporary file is left beside it.
    assert sorted(p.name for p in tmp_path.iterdir()) == ["k.engine", "k.engine.json"]


def test_missing_sidecar_names_the_file(tmp_path):
    engine_path = tmp_path / "k.engine"
    engine_path.write_bytes(b"engine")
    with pytest.raises(ModelError) as caught:
        read_engine_descriptor(engine_path)
    assert caught.value.path == str(tmp_path / "k.engine.json")


def _corruptions():
    good = engine_descriptor_content(DESCRIPTOR, profile=PROFILE, precision="fp16",
                          tensorrt_version="10.9.0", gpu_name="gpu", build_key="k")
    no_scale = {k: v for k, v in good["metadata"].items() if k != "burnish.scale"}
    return {
        "not json": "{not json",
        "a list": "[]",
        "empty": "{}",
        "old format": json.dumps({**good, "format": 0}),
        "no scale": json.dumps({**good, "metadata": no_scale}),
        "bad number": json.dumps({**good, "metadata": {**good["metadata"],
                                                        "burnish.halo": "three"}}),
        "bad profile": json.dumps({**good, "profile": {**good["profile"], "min_tile": 999}}),
        "profile missing a field": json.dumps({**good, "profile": {"min_tile": 1}}),
        "binary": b"\xff\xfe\x00garbage",
    }


@pytest.mark.parametrize("corruption", sorted(_corruptions()))
def test_corrupt_sidecar_is_a_one_line_model_error(tmp_path, corruption):
    engine_path = written_sidecar(tmp_path)
    content = _corruptions()[corruption]
    json_path = engine_descriptor_path(engine_path)
    if isinstance(content, bytes):
        json_path.write_bytes(content)
    else:
        json_path.write_text(content)
    with pytest.raises(ModelError, match="corrupt engine descriptor") as caught:
        read_engine_descriptor(engine_path)
    assert caught.value.path == str(json_path)
    assert "\n" not in str(caught.value)


# Without TensorRT, without a GPU


def test_building_without_tensorrt_is_a_one_line_error(tmp_path, without_tensorrt):
    model = tmp_path / "model.onnx"
    with pytest.raises(ModelError) as caught:
        build_engine(model, profile=PROFILE, cache_dir=tmp_path)
    assert str(caught.value) == f"{model}: {BUILDER_MISSING}"
    with pytest.raises(ModelError) as caught:
        build_engine_for(model, descriptor=DESCRIPTOR, cache_dir=tmp_path)
    assert str(caught.value) == f"{model}: {BUILDER_MISSING}"
    assert "pip install tensorrt" in BUILDER_MISSING
    assert list(tmp_path.iterdir()) == []


def test_unknown_precision_is_refused_before_anything_else(tmp_path):
    with pytest.raises(OptionError, match="precision"):
        build_engine(tmp_path / "model.onnx", precision="int8", profile=PROFILE)


def test_runner_without_tensorrt_is_a_one_line_error(tmp_path, without_tensorrt):
    engine_path = written_sidecar(tmp_path)
    with pytest.raises(ModelError) as caught:
        TrtRunner(engine_path)
    assert str(caught.value) == f"{engine_path}: {RUNTIME_MISSING}"
    assert "pip install tensorrt" in RUNTIME_MISSING


def test_runner_reports_a_missing_engine_or_sidecar(tmp_path):
    with pytest.raises(ModelError, match="no such engine"):
        TrtRunner(tmp_path / "absent.engine")
    lonely = tmp_path / "lonely.engine"
    lonely.write_bytes(b"engine")
    with pytest.raises(ModelError) as caught:
        TrtRunner(lonely)
    assert caught.value.path == str(engine_descriptor_path(lonely))


def test_cuda_device_name_or_a_one_line_error():
    pytest.importorskip("cuda.bindings.runtime")
    try:
        name = cuda_device_name(0)
    except ModelError as error:  # this machine has no usable GPU
        assert "no CUDA device 0" in str(error) and "\n" not in str(error)
    else:
        assert name.endswith(")") and "(sm_" in name
    with pytest.raises(ModelError, match="no CUDA device 4096"):
        cuda_device_name(4096)


# cuda-python plumbing that needs no GPU


def test_cuda_results_are_checked():
    cudart = pytest.importorskip("cuda.bindings.runtime")
    ok = cudart.cudaError_t.cudaSuccess
    assert trt_runner._check((ok,)) is None
    assert trt_runner._check((ok, 1234)) == 1234
    assert trt_runner._check((ok, 1, 2)) == (1, 2)
    with pytest.raises(BackendOutOfMemory):
        trt_runner._check((cudart.cudaError_t.cudaErrorMemoryAllocation, None))
    with pytest.raises(ModelError, match="cudaErrorInvalidValue"):
        trt_runner._check((cudart.cudaError_t.cudaErrorInvalidValue, None))


def test_buffers_grow_only_when_too_small_and_free_before_allocating():
    cudart = pytest.importorskip("cuda.bindings.runtime")
    events = []

    def allocate(nbytes):
        events.append(("allocate", nbytes))
        if nbytes > 1000:
            return cudart.cudaError_t.cudaErrorMemoryAllocation, None
        return cudart.cudaError_t.cudaSuccess, 4096 * len(events)

    def free(pointer):
        events.append(("free", pointer))
        return (cudart.cudaError_t.cudaSuccess,)

    buffer = trt_runner._GrowingBuffer(allocate, free)
    first = buffer.reserve(100)
    assert buffer.reserve(50) == first and buffer.reserve(100) == first
    second = buffer.reserve(200)
    assert events == [("allocate", 100), ("free", first), ("allocate", 200)]
    with pytest.raises(BackendOutOfMemory):
        buffer.reserve(2000)
    assert events[-2:] == [("free", second), ("allocate", 2000)]
    buffer.release()  # the failed reserve left nothing held: nothing to free
    third = buffer.reserve(10)
    buffer.release()
    buffer.release()
    assert events[-3:] == [("allocate", 2000), ("allocate", 10), ("free", third)]


# Opening never builds


@pytest.fixture
def fake_tensorrt_runtime(monkeypatch):
    """TensorRT 10.9.0 on one H100, as far as finding a cached engine is concerned."""
    runtime = type("FakeTensorRT", (), {"__version__": "10.9.0"})
    monkeypatch.setattr(trt_runner, "_import_trt_runtime", lambda path: runtime)
    monkeypatch.setattr(trt_runner, "cuda_device_name", lambda device_id=0: "NVIDIA H100 (sm_90)")


def test_opening_an_onnx_model_on_tensorrt_never_builds(tmp_path, monkeypatch, rng,
                                                         fake_tensorrt_runtime):
    """backend trt with an ONNX file looks for the engine ``burnish export --engine``
    builds and, with none cached, says how to build it; it never starts a build."""
    onnx_builders = pytest.importorskip("onnx_builders")
    from burnish.models.registry import open_model

    monkeypatch.setenv("BURNISH_TRT_CACHE", str(tmp_path / "cache"))
    monkeypatch.setattr("burnish.export.tensorrt.build_engine",
                        lambda *a, **k: pytest.fail("opening a model built an engine"))
    model = onnx_builders.conv_pixelshuffle_model(
        tmp_path / "tiny.onnx", rng=rng, metadata={"burnish.scale": "2", "burnish.halo": "2"})
    with pytest.raises(ModelError) as caught:
        open_model(model, backend="trt", device="cuda")
    message = str(caught.value)
    assert message.startswith(f"{model}: no TensorRT engine for this model, TensorRT 10.9.0")
    assert f"burnish export --engine {model}" in message and "\n" not in message
    assert not (tmp_path / "cache").exists()


def test_opening_finds_the_engine_export_built(tmp_path, rng, fake_tensorrt_runtime):
    """The engine is looked up under the key build_engine_for files it under."""
    onnx_builders = pytest.importorskip("onnx_builders")
    from burnish.models.trt_engine import engine_request

    model = onnx_builders.conv_pixelshuffle_model(tmp_path / "tiny.onnx", rng=rng)
    request = engine_request(model, descriptor=DESCRIPTOR)
    assert request.precision == "fp16" and request.profile == profile_for(DESCRIPTOR)
    key = build_key(hashlib.sha256(model.read_bytes()).hexdigest(), "fp16", request.profile,
                    "10.9.0", "NVIDIA H100 (sm_90)")
    engine_path = engine_cache_path(tmp_path, key)
    engine_path.write_bytes(b"engine")
    write_engine_descriptor(engine_path, engine_descriptor_content(
        request.descriptor, profile=request.profile, precision="fp16",
        tensorrt_version="10.9.0", gpu_name="NVIDIA H100 (sm_90)", build_key=key))
    found = trt_runner.find_cached_engine(model, descriptor=DESCRIPTOR, cache_dir=tmp_path)
    assert found == engine_path
    with pytest.raises(ModelError, match="burnish export --engine compact-x4"):
        trt_runner.find_cached_engine(model, descriptor=replace(DESCRIPTOR, halo=20),
                                      cache_dir=tmp_path, model_name="compact-x4")
