"""Hostile models give one line naming the file and the problem, never a traceback, a hang or a
silent black image (issue 12).

Each class of problem is fixed by one mechanism, and tested here through it:

- metadata: every ``burnish.*`` field is read by ``descriptor.read_field`` (ONNX Runtime, the
  TensorRT build path, engine sidecars, inpainting models);
- probing: a model that is not a whole-factor upscaler is refused by the probe;
- non-finite output: every runner's output passes ``runner.check_finite``;
- optional extras: every optional import goes through ``extras.require_extra``;
- files that are not models (FIFOs, devices, folders, truncated files) are refused by
  ``burnish.files.check_regular_file`` before anything reads them.

Models are real ONNX graphs built here (``onnx_builders``) and the shipped checkpoint.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import sys
import threading

import numpy as np
import pytest
from PIL import Image

import burnish
from burnish.cli.app import main
from burnish.errors import InputError, ModelError
from burnish.models.descriptor import (
    MAX_HALO,
    MAX_MIN_SIZE,
    MAX_SCALE,
    MAX_SIZE_MULTIPLE,
    MAX_TILE,
    ModelDescriptor,
    file_sha256,
    from_metadata,
    to_metadata,
)
from burnish.models.extras import require_extra
from burnish.models.registry import SHIPPED_DIR, open_model
from burnish.models.runner import Runner, check_finite

onnx_builders = pytest.importorskip("onnx_builders")  # needs the onnx package

SHIPPED_CHECKPOINT = SHIPPED_DIR / "compact-x4.pth"
SHIPPED_ONNX = SHIPPED_DIR / "compact-x4.onnx"


def assert_one_line(error, error_type, path, *phrases):
    """``error`` is ``error_type``, one line, starts with the file's path, names each phrase
    (a tuple of phrases: any one of them)."""
    assert type(error) is error_type, repr(error)
    message = str(error)
    assert "\n" not in message and "\r" not in message, message
    assert message.startswith(f"{path}: "), message
    for phrase in phrases:
        alternatives = (phrase,) if isinstance(phrase, str) else phrase
        assert any(each in message for each in alternatives), (phrase, message)


def run_cli(monkeypatch, capsys, *args):
    """``burnish ARGS`` through the real entry point: (exit code, stderr)."""
    monkeypatch.setattr(sys, "argv", ["burnish", *map(str, args)])
    with pytest.raises(SystemExit) as stop:
        main()
    return stop.value.code, capsys.readouterr().err


def assert_cli_one_line(code, err, path, *phrases):
    assert code == 1, err
    lines = [line for line in err.splitlines() if line.strip()]
    assert len(lines) == 1 and "Traceback" not in err, err
    assert lines[0].startswith(f"burnish: error: {path}: "), lines[0]
    for phrase in phrases:
        assert phrase in lines[0], (phrase, lines[0])


def returns_within(seconds, call, *args, unblock=None, **kwargs):
    """What ``call`` raised (or returned), failing the test when it has not returned within
    ``seconds``: a regression that blocks then fails instead of hanging. ``unblock`` is a FIFO
    that a writer opens and closes on timeout, so the blocked reader ends."""
    outcome = {}

    def target():
        try:
            outcome["returned"] = call(*args, **kwargs)
        except BaseException as error:  # noqa: BLE001 (handed to the test)
            outcome["raised"] = error

    thread = threading.Thread(target=target, daemon=True)
    thread.start()
    thread.join(seconds)
    if thread.is_alive() and unblock is not None:
        os.close(os.open(unblock, os.O_WRONLY | os.O_NONBLOCK))
    assert not thread.is_alive(), f"{call.__name__} did not return within {seconds} s"
    return outcome.get("raised", outcome.get("returned"))


def png_with_a_white_pixel(path, rng, height=20, width=30):
    """Random pixels below 200 with one at 255: the poisoned models' trigger (> 0.99)."""
    pixels = rng.integers(0, 200, (height, width, 3), dtype=np.uint8)
    pixels[int(rng.integers(height)), int(rng.integers(width))] = 255
    Image.fromarray(pixels).save(path)
    return path


# --- descriptor metadata: one checked reader -------------------------------------------------

INTEGER_LIMITS = {"scale": (1, MAX_SCALE), "halo": (0, MAX_HALO),
                  "size_multiple": (1, MAX_SIZE_MULTIPLE), "min_size": (1, MAX_MIN_SIZE),
                  "tile": (0, MAX_TILE)}
NOT_INTEGERS = ("abc", "2.5", "", " ", "1_0", "1e3", "0x10", "\u0663", "3 4")


def _bad_metadata():
    cases = []
    for name, (low, high) in INTEGER_LIMITS.items():
        values = (*NOT_INTEGERS, str(low - 1), str(high + 1), "-1", str(10 ** 9),
                  "9" * 400)
        cases += [(name, value, f"must be an integer from {low} to {high}") for value in values]
    cases += [("channels", value, "must be one of 1, 3") for value in
              ("0", "2", "4", "-1", "abc", "2.5", str(10 ** 9))]
    cases += [("task", "detection", "must be one of"), ("pad_mode", "wrap", "must be one of"),
              ("precisions", "int4", "must list one or more of fp32, fp16, int8"),
              ("precisions", ",", "must list one or more"),
              ("architecture", "two\nlines", "one line"),
              ("architecture", "x" * 1000, "at most 200"),
              ("extra", "[1, 2]", "JSON object"), ("extra", "{not json", "JSON object"),
              ("extra", "[" * 100000, "JSON object")]
    return cases


BAD_METADATA = _bad_metadata()


@pytest.mark.parametrize(("name", "value", "rule"), BAD_METADATA,
                         ids=[f"{n}={v[:12]!r}" for n, v, _ in BAD_METADATA])
def test_bad_onnx_metadata_is_one_line_naming_the_file_field_and_value(tmp_path, rng, name,
                                                                        value, rule):
    path = onnx_builders.conv_pixelshuffle_model(
        tmp_path / "bad.onnx", rng=rng, metadata={f"burnish.{name}": value})
    with pytest.raises(ModelError) as caught:
        open_model(path, device="cpu")
    shown = repr(value)[:30]  # long values are shortened, line breaks escaped
    assert_one_line(caught.value, ModelError, path, f"burnish.{name} is {shown}", rule)


@pytest.mark.parametrize(("name", "value"), [("scale", "0"), ("size_multiple", "0"),
                                             ("halo", "2.5"), ("min_size", "-1"),
                                             ("tile", "abc")])
def test_the_tensorrt_build_path_reads_metadata_through_the_same_checks(tmp_path, rng, name,
                                                                        value):
    from burnish.models.trt_engine import onnx_descriptor

    metadata = {"burnish.scale": "2", "burnish.halo": "2", f"burnish.{name}": value}
    path = onnx_builders.conv_pixelshuffle_model(tmp_path / "m.onnx", rng=rng,
                                                 metadata=metadata)
    with pytest.raises(ModelError) as caught:
        onnx_descriptor(path)
    assert_one_line(caught.value, ModelError, path, f"burnish.{name} is {value!r}", "must be")


@pytest.mark.parametrize(("name", "value"), [("scale", "0"), ("size_multiple", "0"),
                                             ("halo", str(10 ** 9)), ("channels", "7"),
                                             ("precisions", "int4")])
def test_engine_descriptor_content_metadata_goes_through_the_same_checks(tmp_path, name, value):
    from burnish.models.trt_engine import (
        ShapeProfile,
        engine_descriptor_content,
        engine_descriptor_path,
        read_engine_descriptor,
        write_engine_descriptor,
    )

    engine = tmp_path / "k.engine"
    engine.write_bytes(b"engine")
    content = engine_descriptor_content(ModelDescriptor(name="m", scale=2, halo=3),
                             profile=ShapeProfile(16, 64, 64, 2, 2), precision="fp16",
                             tensorrt_version="10", gpu_name="gpu", build_key="k")
    content["metadata"][f"burnish.{name}"] = value
    write_engine_descriptor(engine, content)
    with pytest.raises(ModelError) as caught:
        read_engine_descriptor(engine)
    assert_one_line(caught.value, ModelError, engine_descriptor_path(engine), "corrupt engine descriptor",
                    f"burnish.{name} is {value!r}")


@pytest.mark.parametrize("value", [2.5, "16", True, None, -64])
def test_engine_descriptor_content_profile_sizes_must_be_integers(tmp_path, value):
    from burnish.models.trt_engine import (
        ShapeProfile,
        engine_descriptor_content,
        engine_descriptor_path,
        read_engine_descriptor,
    )

    engine = tmp_path / "k.engine"
    engine.write_bytes(b"engine")
    content = engine_descriptor_content(ModelDescriptor(name="m", scale=2, halo=3),
                             profile=ShapeProfile(16, 64, 64, 2, 2), precision="fp16",
                             tensorrt_version="10", gpu_name="gpu", build_key="k")
    content["profile"]["max_tile"] = value
    engine_descriptor_path(engine).write_text(json.dumps(content))
    with pytest.raises(ModelError) as caught:
        read_engine_descriptor(engine)
    assert_one_line(caught.value, ModelError, engine_descriptor_path(engine), "corrupt engine descriptor")


@pytest.mark.parametrize(("name", "value", "rule"), [
    ("size_multiple", "0", "from 1 to"), ("size_multiple", "-8", "from 1 to"),
    ("size_multiple", "abc", "from 1 to"), ("size_multiple", "2.5", "from 1 to"),
    ("size_multiple", str(10 ** 9), "from 1 to"),
    ("output_range", "0", "one of 1, 255"), ("output_range", "100", "one of 1, 255"),
    ("output_range", "abc", "one of 1, 255"), ("output_range", "2.5", "one of 1, 255")])
def test_inpainting_model_metadata_goes_through_the_same_checks(tmp_path, name, value, rule):
    from burnish.models.inpaint_model import InpaintModel

    path = onnx_builders.inpaint_contract_model(tmp_path / "lama.onnx",
                                                metadata={f"burnish.{name}": value})
    with pytest.raises(ModelError) as caught:
        InpaintModel(path, device="cpu")
    assert_one_line(caught.value, ModelError, path, f"burnish.{name} is {value!r}", rule)


def test_metadata_at_the_bounds_and_with_spaces_is_accepted(tmp_path, rng):
    metadata = {"burnish.scale": " 2 ", "burnish.halo": str(MAX_HALO), "burnish.tile": "0",
                "burnish.size_multiple": "+1", "burnish.min_size": "1",
                "burnish.precisions": "fp32, fp16", "burnish.extra": '{"licence": "MIT"}'}
    path = onnx_builders.conv_pixelshuffle_model(tmp_path / "edge.onnx", rng=rng,
                                                 metadata=metadata)
    with open_model(path, device="cpu") as runner:
        d = runner.descriptor
        assert (d.scale, d.halo, d.tile, d.size_multiple, d.precisions, d.extra) == (
            2, MAX_HALO, 0, 1, ("fp32", "fp16"), {"licence": "MIT"})


def test_metadata_round_trip_keeps_every_field():
    descriptor = ModelDescriptor(name="m", scale=3, halo=7, channels=1, size_multiple=8,
                                 min_size=16, precisions=("fp16",), architecture="net",
                                 pad_mode="reflect", tile=192, extra={"a": [1, 2]})
    base = ModelDescriptor(name="m", scale=1, halo=0)
    read = from_metadata(to_metadata(descriptor), base, path="m.onnx")
    assert read == descriptor and read.extra == descriptor.extra


@pytest.mark.parametrize(("field", "value"), [("scale", 0), ("scale", 10 ** 9), ("halo", -1),
                                              ("size_multiple", 0), ("min_size", 0),
                                              ("channels", 4), ("scale", 2.5), ("halo", True),
                                              ("precisions", ()), ("pad_mode", "wrap")])
def test_descriptors_made_in_code_are_checked_too(tmp_path, field, value):
    """Spandrel's, a manifest's or a probe's numbers pass the same checks as metadata."""
    source = tmp_path / "model.pth"
    with pytest.raises(ModelError) as caught:
        ModelDescriptor(**{"name": "m", "scale": 2, "halo": 1, field: value},
                        source=str(source))
    assert_one_line(caught.value, ModelError, source, f"{field} is {value!r}", "must")


def test_size_multiple_zero_no_longer_divides_by_zero_in_an_upscale(tmp_path, rng,
                                                                    monkeypatch, capsys):
    """The issue's ZeroDivisionError, through the CLI."""
    model = onnx_builders.conv_pixelshuffle_model(
        tmp_path / "zero.onnx", rng=rng,
        metadata={"burnish.scale": 2, "burnish.halo": 2, "burnish.size_multiple": 0})
    image = png_with_a_white_pixel(tmp_path / "in.png", rng)
    code, err = run_cli(monkeypatch, capsys, "upscale", image, "--model", model, "--scale", 2,
                        "-o", tmp_path / "out.png", "--quiet")
    assert_cli_one_line(code, err, model, "burnish.size_multiple is '0'")
    assert not (tmp_path / "out.png").exists()


# --- probing: only whole-factor upscalers ----------------------------------------------------

NOT_UPSCALERS = {
    "downscaler (average pool, stride 2)": (onnx_builders.average_pool_model, {},
                                            "not an upscale by a whole factor"),
    "downscaler (resize x0.5)": (onnx_builders.resize_model, {"scales": (0.5, 0.5)},
                                 "not an upscale by a whole factor"),
    "fractional scale x1.5": (onnx_builders.resize_model, {"scales": (1.5, 1.5)},
                              "not an upscale by a whole factor"),
    "anisotropic x2 by x1": (onnx_builders.resize_model, {"scales": (2, 1)},
                             "not an upscale by a whole factor"),
    "absurd scale x128": (onnx_builders.resize_model, {"scales": (128, 128)},
                         f"from 1 to {MAX_SCALE}"),
    "3-dimensional output": (onnx_builders.reduce_model, {"keepdims": 0},
                             "3-dimensional 1 x 16 x 16 array, not an N x C x H x W"),
    "1 channel out of 3": (onnx_builders.reduce_model, {}, "another batch or channel count"),
}


@pytest.mark.parametrize("kind", sorted(NOT_UPSCALERS))
def test_probing_refuses_models_that_are_not_whole_factor_upscalers(tmp_path, kind):
    build, options, phrase = NOT_UPSCALERS[kind]
    path = build(tmp_path / "model.onnx", **options)
    with pytest.raises(ModelError) as caught:
        open_model(path, device="cpu")
    assert_one_line(caught.value, ModelError, path, "the model maps" if "array" not in phrase
                    else "the model returned", phrase)


def test_a_stated_scale_the_model_does_not_have_is_refused_while_probing_the_halo(tmp_path,
                                                                                  rng):
    path = onnx_builders.conv_pixelshuffle_model(tmp_path / "x2.onnx", rng=rng, scale=2,
                                                 metadata={"burnish.scale": 4})
    with pytest.raises(ModelError) as caught:
        open_model(path, device="cpu")
    assert_one_line(caught.value, ModelError, path, "not to that input scaled by 4")


def test_a_stated_scale_the_model_does_not_have_is_refused_by_infer(tmp_path, rng):
    path = onnx_builders.conv_pixelshuffle_model(
        tmp_path / "x2.onnx", rng=rng, scale=2, metadata={"burnish.scale": 4, "burnish.halo": 2})
    with open_model(path, device="cpu") as runner, pytest.raises(ModelError) as caught:
        burnish.upscale(rng.random((20, 30, 3), dtype=np.float32), model=runner, scale=4)
    assert_one_line(caught.value, ModelError, path, "1 x 3 x 40 x 60",
                    "not the input scaled by 4")


def test_a_model_with_four_input_channels_is_refused(tmp_path):
    path = onnx_builders.identity_model(tmp_path / "rgba.onnx", channels=4)
    with pytest.raises(ModelError) as caught:
        open_model(path, device="cpu")
    assert_one_line(caught.value, ModelError, path, "channels is 4", "must be one of 1, 3")


# --- non-finite output: refused where every runner's output passes ---------------------------

KINDS = {"nan": "NaN", "inf": "infinite"}


@pytest.mark.parametrize("poison", onnx_builders.POISONS)
def test_upscale_cli_refuses_nan_or_inf_output_and_writes_nothing(tmp_path, rng, monkeypatch,
                                                                  capsys, poison):
    # The metadata states scale and halo, so nothing is probed: the bad values come from
    # the upscale's own tiles, only from the one white pixel.
    model = onnx_builders.resize_model(tmp_path / f"{poison}.onnx", poison=poison,
                                       metadata={"burnish.scale": 2, "burnish.halo": 0})
    image = png_with_a_white_pixel(tmp_path / "in.png", rng, height=40, width=50)
    before = hashlib.sha256(image.read_bytes()).hexdigest()
    code, err = run_cli(monkeypatch, capsys, "upscale", image, "--model", model, "--scale", 2,
                        "--tile", 16, "-o", tmp_path / "out.png", "--quiet")
    assert_cli_one_line(code, err, model, f"the model produced {KINDS[poison]} values")
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted(["in.png", model.name])
    assert hashlib.sha256(image.read_bytes()).hexdigest() == before


@pytest.mark.parametrize("poison", onnx_builders.POISONS)
def test_the_same_model_on_finite_input_runs(tmp_path, rng, poison):
    """The poisoned graphs are finite below their threshold: what is refused is the output."""
    model = onnx_builders.resize_model(tmp_path / f"{poison}.onnx", poison=poison,
                                       metadata={"burnish.scale": 2, "burnish.halo": 0})
    image = rng.integers(0, 200, (12, 14, 3), dtype=np.uint8)
    out = burnish.upscale(image, model=str(model), scale=2)
    assert np.abs(out.astype(int) - image.repeat(2, 0).repeat(2, 1)).max() <= 1


@pytest.mark.parametrize("poison", onnx_builders.POISONS)
def test_probing_refuses_non_finite_output(tmp_path, poison):
    path = onnx_builders.resize_model(tmp_path / "bad.onnx", poison=poison, threshold=-1.0)
    with pytest.raises(ModelError) as caught:
        open_model(path, device="cpu")
    assert_one_line(caught.value, ModelError, path, f"the model produced {KINDS[poison]} values")


@pytest.mark.parametrize("poison", onnx_builders.POISONS)
def test_inpainting_model_refuses_non_finite_output(tmp_path, rng, poison):
    from burnish.models.inpaint_model import InpaintModel

    stated = onnx_builders.inpaint_contract_model(tmp_path / "stated.onnx", poison=poison,
                                                  metadata={"burnish.output_range": "1"})
    with InpaintModel(stated, device="cpu") as model, pytest.raises(ModelError) as caught:
        model.inpaint(rng.random((16, 16, 3), dtype=np.float32), np.ones((16, 16), bool))
    assert_one_line(caught.value, ModelError, stated, f"the model produced {KINDS[poison]}")
    probed = onnx_builders.inpaint_contract_model(tmp_path / "probed.onnx", poison=poison)
    with pytest.raises(ModelError) as caught:
        InpaintModel(probed, device="cpu")  # the output-range probe meets it
    assert_one_line(caught.value, ModelError, probed, f"the model produced {KINDS[poison]}")


class _ConstantRunner(Runner):
    """Any backend: what it returns is checked by the contract, not by the backend."""

    def __init__(self, value, source="/models/any.engine"):
        self.value = value
        self.descriptor = ModelDescriptor(name="any", scale=2, halo=0, source=source)

    def _infer_impl(self, batch):
        n, c, h, w = batch.shape
        out = np.zeros((n, c, 2 * h, 2 * w), np.float32)
        out[-1, -1, -1, -1] = self.value  # one bad value in a whole batch is enough
        return out


@pytest.mark.parametrize(("value", "kind"), [(np.nan, "NaN"), (np.inf, "infinite"),
                                             (-np.inf, "infinite")])
def test_every_runner_gets_the_check_from_the_contract(value, kind):
    runner = _ConstantRunner(value)
    with pytest.raises(ModelError) as caught:
        runner.infer(np.zeros((3, 3, 8, 8), np.float32))
    assert_one_line(caught.value, ModelError, "/models/any.engine",
                    f"produced {kind} values (on a batch of 3 tiles of 8x8 pixels")
    assert _ConstantRunner(0.5).infer(np.zeros((1, 3, 8, 8), np.float32)).max() == 0.5


def test_built_in_runners_are_named_by_name():
    with pytest.raises(ModelError) as caught:
        _ConstantRunner(np.nan, source="builtin").infer(np.zeros((1, 3, 4, 4), np.float32))
    assert_one_line(caught.value, ModelError, "any", "NaN")


def test_device_tensors_are_checked_with_their_own_operations():
    torch = pytest.importorskip("torch")
    assert check_finite(torch.ones(1, 3, 2, 2), model="m.pth", batch_shape=(1, 3, 1, 1)).sum() == 12
    for value, kind in ((float("nan"), "NaN"), (float("inf"), "infinite")):
        tensor = torch.zeros(1, 3, 4, 4, dtype=torch.float16)
        tensor[0, 1, 2, 3] = value
        with pytest.raises(ModelError) as caught:
            check_finite(tensor, model="m.pth", batch_shape=(1, 3, 2, 2))
        assert_one_line(caught.value, ModelError, "m.pth", f"produced {kind} values")


@pytest.fixture(scope="module")
def nan_checkpoint(tmp_path_factory):
    """The shipped checkpoint with one weight set to NaN: a real PyTorch model that outputs
    NaN everywhere."""
    torch = pytest.importorskip("torch")
    pytest.importorskip("spandrel")
    state = torch.load(SHIPPED_CHECKPOINT, map_location="cpu", weights_only=True)
    first = next(key for key, value in state.items() if value.ndim == 4)
    state[first] = state[first].clone()
    state[first][0, 0, 1, 1] = float("nan")
    path = tmp_path_factory.mktemp("nan") / "nan.pth"
    torch.save(state, path)
    return path


def test_pytorch_runner_refuses_nan_output_while_probing(nan_checkpoint):
    with pytest.raises(ModelError) as caught:
        open_model(nan_checkpoint, device="cpu")
    assert_one_line(caught.value, ModelError, nan_checkpoint, "the model produced NaN values")


def test_pytorch_runner_refuses_nan_output_on_device_tensors(nan_checkpoint):
    import torch

    from burnish.models.checkpoint import load_checkpoint
    from burnish.models.torch_runner import TorchOptions, TorchRunner

    runner = TorchRunner(load_checkpoint(nan_checkpoint), nan_checkpoint,
                         options=TorchOptions(device="cpu"), halo=8)  # a halo: no probing
    with runner, pytest.raises(ModelError) as caught:
        runner.run_tensor(torch.rand(2, 3, 8, 8))
    assert_one_line(caught.value, ModelError, nan_checkpoint,
                    "produced NaN values (on a batch of 2 tiles of 8x8 pixels")


# --- optional extras: one helper at every import ---------------------------------------------

EXPORT_EXTRA = ("torch", "torchvision", "spandrel", "spandrel_extra_arches", "safetensors",
                "safetensors.torch", "onnx", "onnx.external_data_helper", "onnxscript")
NEEDS_EXPORT = "needs the export extra: pip install 'burnish[export]'"


@pytest.fixture
def without_export_extra(monkeypatch):
    """``import torch`` (spandrel, safetensors, onnx, ...) fails, whatever this machine has."""
    for name in EXPORT_EXTRA:
        monkeypatch.setitem(sys.modules, name, None)


@pytest.fixture
def checkpoints(tmp_path):
    """Real checkpoints: the shipped ``.pth`` copied under three suffixes (the loader
    chooses its reader by suffix, and must refuse before reading)."""
    paths = {}
    for suffix in (".pth", ".ckpt", ".safetensors"):
        paths[suffix] = tmp_path / f"compact{suffix}"
        shutil.copyfile(SHIPPED_CHECKPOINT, paths[suffix])
    return paths


@pytest.mark.parametrize("suffix", [".pth", ".ckpt", ".safetensors"])
def test_loading_a_checkpoint_without_the_export_extra(checkpoints, without_export_extra,
                                                       suffix):
    from burnish.models.checkpoint import load_checkpoint, load_state_dict

    path = checkpoints[suffix]
    expected = f"{path}: reading PyTorch checkpoints {NEEDS_EXPORT}"
    for load in (load_checkpoint, load_state_dict, lambda p: open_model(p, device="cpu"),
                 lambda p: open_model(p, backend="torch", device="cpu")):
        with pytest.raises(ModelError) as caught:
            load(path)
        assert str(caught.value) == expected


def test_export_without_the_export_extra_writes_nothing(checkpoints, without_export_extra,
                                                        tmp_path):
    from burnish.export.onnx_export import export_checkpoint

    path = checkpoints[".pth"]
    with pytest.raises(ModelError) as caught:
        export_checkpoint(path, tmp_path / "out.onnx")
    assert_one_line(caught.value, ModelError, path, NEEDS_EXPORT)
    assert not (tmp_path / "out.onnx").exists()


def test_cli_without_the_export_extra(checkpoints, without_export_extra, tmp_path, rng,
                                      monkeypatch, capsys):
    path = checkpoints[".pth"]
    code, err = run_cli(monkeypatch, capsys, "export", path, "-o", tmp_path / "out.onnx")
    assert_cli_one_line(code, err, path, NEEDS_EXPORT)
    image = png_with_a_white_pixel(tmp_path / "in.png", rng)
    for backend in ("auto", "torch"):
        code, err = run_cli(monkeypatch, capsys, "upscale", image, "--model", path, "--backend",
                            backend, "-o", tmp_path / "out.png", "--quiet")
        assert_cli_one_line(code, err, path, f"reading PyTorch checkpoints {NEEDS_EXPORT}")
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted(
        ["in.png", *(p.name for p in checkpoints.values())])


def test_tensorrt_build_path_without_onnx(tmp_path, rng, without_export_extra):
    from burnish.models.trt_engine import onnx_descriptor

    path = onnx_builders.conv_pixelshuffle_model(
        tmp_path / "m.onnx", rng=rng, metadata={"burnish.scale": 2, "burnish.halo": 2})
    with pytest.raises(ModelError) as caught:
        onnx_descriptor(path)
    assert_one_line(caught.value, ModelError, path, f"using TensorRT engines {NEEDS_EXPORT}")


def test_cuda_python_missing_names_the_gpu_extra(monkeypatch, tmp_path):
    from burnish.models import trt_runner
    from burnish.models.trt_engine import (
        ShapeProfile,
        engine_descriptor_content,
        write_engine_descriptor,
    )

    for name in ("cuda", "cuda.bindings", "cuda.bindings.runtime", "cuda.cudart"):
        monkeypatch.setitem(sys.modules, name, None)
    monkeypatch.setattr(trt_runner, "_import_trt_runtime", lambda path: None)  # TensorRT "is"
    engine = tmp_path / "k.engine"
    engine.write_bytes(b"engine")
    write_engine_descriptor(engine, engine_descriptor_content(
        ModelDescriptor(name="m", scale=2, halo=3), profile=ShapeProfile(16, 64, 64, 2, 2),
        precision="fp16", tensorrt_version="10", gpu_name="gpu", build_key="k"))
    needs_gpu = "running TensorRT engines (cuda-python) needs the gpu extra: pip install " \
                "'burnish[gpu]'"
    with pytest.raises(ModelError) as caught:
        trt_runner.TrtRunner(engine)
    assert str(caught.value) == f"{engine}: {needs_gpu}"
    with pytest.raises(ModelError) as caught:
        trt_runner.cuda_device_name(0)
    assert str(caught.value) == needs_gpu


def test_require_extra_tries_alternatives_in_order(monkeypatch):
    monkeypatch.setitem(sys.modules, "blocked_module_for_test", None)
    assert require_extra("gpu", ("blocked_module_for_test", "json"), purpose="x").__name__ == "json"
    first, second = require_extra("export", "json", "os", purpose="x")
    assert (first.__name__, second.__name__) == ("json", "os")
    with pytest.raises(ModelError) as caught:
        require_extra("export", "json", "blocked_module_for_test", purpose="doing y", path="f")
    assert str(caught.value) == f"f: doing y {NEEDS_EXPORT}"


# --- files that are not models, and hashing that never blocks --------------------------------


def _not_a_model(tmp_path, kind, suffix):
    path = tmp_path / f"model{suffix}"
    if kind == "fifo":
        os.mkfifo(path)
    elif kind == "folder":
        path.mkdir()
    elif kind == "device":
        path.symlink_to("/dev/zero")
    elif kind == "truncated":
        data = SHIPPED_ONNX.read_bytes() if suffix == ".onnx" else SHIPPED_CHECKPOINT.read_bytes()
        path.write_bytes(data[: len(data) // 2])
    elif kind == "empty":
        path.write_bytes(b"")
    elif kind == "random bytes":
        path.write_bytes(np.random.default_rng(0).bytes(4096))
    return path


FOLDER = ("is a folder", "is a directory")  # burnish.files' wording
PHRASES = {"fifo": "not a regular file", "folder": FOLDER, "device": "not a regular file",
           "empty": "empty"}
# Damaged content is found by each format's own reader.
DAMAGED = {".onnx": "not a usable ONNX model", ".safetensors": "corrupt safetensors file",
           ".pth": ("corrupt or truncated checkpoint", "pickle is not plain weights")}


@pytest.mark.parametrize("suffix", [".onnx", ".pth", ".safetensors", ".engine"])
@pytest.mark.parametrize("kind", sorted(PHRASES))
def test_files_that_are_not_models_are_refused_at_once(tmp_path, kind, suffix):
    path = _not_a_model(tmp_path, kind, suffix)
    fifo = path if kind == "fifo" else None
    error = returns_within(10, open_model, path, device="cpu", unblock=fifo)
    assert_one_line(error, ModelError, path, PHRASES[kind])


@pytest.mark.parametrize("suffix", sorted(DAMAGED))
@pytest.mark.parametrize("kind", ["truncated", "random bytes"])
def test_damaged_model_files_are_one_line_errors(tmp_path, kind, suffix):
    # (Engines are read by TensorRT, on a GPU, after their sidecar: not covered here.)
    if suffix != ".onnx":
        pytest.importorskip("torch")
        pytest.importorskip("spandrel")
    path = _not_a_model(tmp_path, kind, suffix)
    error = returns_within(30, open_model, path, device="cpu")
    assert_one_line(error, ModelError, path, DAMAGED[suffix])


@pytest.mark.parametrize("kind", ["fifo", "device", "folder", "empty"])
def test_inpainting_model_file_is_checked_before_onnxruntime_reads_it(tmp_path, kind):
    from burnish.models.inpaint_model import InpaintModel

    path = _not_a_model(tmp_path, kind, ".onnx")
    error = returns_within(10, InpaintModel, path, device="cpu",
                           unblock=path if kind == "fifo" else None)
    assert_one_line(error, ModelError, path, PHRASES[kind])


@pytest.mark.parametrize("kind", ["fifo", "device", "folder", "empty"])
def test_engine_descriptor_content_is_checked_before_it_is_read(tmp_path, kind):
    from burnish.models.trt_engine import read_engine_descriptor

    engine = tmp_path / "k.engine"
    engine.write_bytes(b"engine")
    sidecar = tmp_path / "k.engine.json"
    if kind == "fifo":
        os.mkfifo(sidecar)
    elif kind == "device":
        sidecar.symlink_to("/dev/zero")
    elif kind == "folder":
        sidecar.mkdir()
    else:
        sidecar.write_bytes(b"")
    error = returns_within(10, read_engine_descriptor, engine,
                           unblock=sidecar if kind == "fifo" else None)
    assert_one_line(error, ModelError, sidecar, PHRASES[kind])


@pytest.mark.parametrize("kind", ["fifo", "device", "folder", "missing", "empty"])
def test_file_sha256_refuses_what_would_block_or_never_end(tmp_path, kind):
    path = tmp_path / "input.png"
    if kind == "fifo":
        os.mkfifo(path)
    elif kind == "device":
        path = "/dev/zero"
    elif kind == "folder":
        path.mkdir()
    elif kind == "empty":
        path.write_bytes(b"")
    phrase = {"missing": "no such", "fifo": "not a regular file",
              "device": "not a regular file", "folder": FOLDER, "empty": "empty"}[kind]
    fifo = path if kind == "fifo" else None
    assert_one_line(returns_within(10, file_sha256, path, unblock=fifo), InputError, path,
                    phrase)
    assert_one_line(returns_within(10, file_sha256, path, error=ModelError, what="model",
                                   unblock=fifo), ModelError, path, phrase)


def test_file_sha256_hashes_a_file_and_the_files_that_belong_to_it(tmp_path, rng):
    first, second = tmp_path / "a.onnx", tmp_path / "a.data"
    first.write_bytes(rng.bytes(3 << 20 | 17))  # several blocks and a partial one
    second.write_bytes(rng.bytes(1000))
    expected = hashlib.sha256(first.read_bytes() + second.read_bytes()).hexdigest()
    assert file_sha256(first, second) == expected
    fifo = tmp_path / "b.data"
    os.mkfifo(fifo)
    error = returns_within(10, file_sha256, first, fifo, error=ModelError, unblock=fifo)
    assert_one_line(error, ModelError, fifo, "not a regular file")
