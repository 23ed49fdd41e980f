"""Bring your own model: community checkpoints detected, exported, validated and upscaled.

Each architecture is built small with random weights (``spandrel_builders``), saved as a
``.pth`` pickle and as ``.safetensors``, and must come out of the other end equal to what
PyTorch gives on the whole image: through ONNX Runtime and through the PyTorch runner, with
tiles far smaller than the image.
"""

from __future__ import annotations

import os

import numpy as np
import pytest

torch = pytest.importorskip("torch")
pytest.importorskip("spandrel")
pytest.importorskip("onnx")

import spandrel_builders  # noqa: E402
from test_cli import run_cli  # noqa: E402

import burnish  # noqa: E402
from burnish.errors import ModelError, OptionError  # noqa: E402
from burnish.export.onnx_export import export_checkpoint  # noqa: E402
from burnish.models.checkpoint import load_checkpoint  # noqa: E402
from burnish.models.registry import inspect_model, open_model  # noqa: E402

from conftest import random_image  # noqa: E402

SCALES = {"ESRGAN": 4, "RealESRGAN Compact": 4, "SwinIR": 2, "SPAN": 2}
# Each architecture is exported from one format; both formats are detected.
EXPORT_FORMAT = {"ESRGAN": ".pth", "RealESRGAN Compact": ".safetensors", "SwinIR": ".pth",
                 "SPAN": ".safetensors"}


@pytest.fixture(scope="module")
def exported(tmp_path_factory):
    """Every architecture saved, exported with --validate, once for the module."""
    folder = tmp_path_factory.mktemp("exported")
    out = {}
    for name in spandrel_builders.ARCHITECTURES:
        stem = name.replace(" ", "_")
        checkpoint = spandrel_builders.save(spandrel_builders.build(name),
                                            folder / (stem + EXPORT_FORMAT[name]))
        result = export_checkpoint(checkpoint, folder / f"{stem}.onnx", validate=True)
        out[name] = (checkpoint, result)
    return out


def torch_untiled(checkpoint, image: np.ndarray) -> np.ndarray:
    """PyTorch's own result on the whole image (spandrel pads and clamps), as uint8."""
    model = load_checkpoint(checkpoint)
    tensor = torch.from_numpy(image.astype(np.float32) / 255).permute(2, 0, 1)[None]
    with torch.no_grad():
        out = model(tensor)[0].permute(1, 2, 0).numpy()
    return np.rint(np.clip(out, 0, 1) * 255).astype(np.uint8)


@pytest.mark.parametrize("suffix", [".pth", ".safetensors"])
@pytest.mark.parametrize("name", spandrel_builders.ARCHITECTURES)
def test_checkpoints_are_detected_in_both_formats(tmp_path, name, suffix):
    network = spandrel_builders.build(name)
    path = spandrel_builders.save(network, tmp_path / f"model{suffix}")
    model = load_checkpoint(path)
    assert model.architecture.name == name
    assert model.scale == SCALES[name]
    loaded = model.model.state_dict()
    for key, value in network.state_dict().items():
        assert torch.equal(loaded[key], value), key
    probe = torch.rand(1, 3, 24, 32)
    with torch.no_grad():
        torch.testing.assert_close(model.model(probe), network(probe))


@pytest.mark.parametrize("name", spandrel_builders.ARCHITECTURES)
def test_export_carries_the_descriptor_and_passes_validation(exported, name):
    checkpoint, result = exported[name]
    assert result.validation is not None and result.validation.passed, str(result.validation)
    assert result.validation.relative_error <= 1e-3
    described = inspect_model(result.path)  # from the file's metadata alone
    assert described.architecture == name and described.scale == SCALES[name]
    assert described.halo == result.descriptor.halo > 0
    assert described.pad_mode == "reflect"
    if name == "SwinIR":
        assert described.size_multiple == 8 and described.tile == 512  # tiling discouraged


@pytest.mark.parametrize("name", spandrel_builders.ARCHITECTURES)
def test_tiled_upscale_of_the_export_matches_pytorch_untiled(exported, name, rng):
    checkpoint, result = exported[name]
    image = random_image(rng, 45, 58, 3)   # odd sizes: SwinIR pads to its window multiple
    expected = torch_untiled(checkpoint, image)
    scale = SCALES[name]
    for tile in (16, 24):
        got = burnish.upscale(image, model=result.path, scale=scale, tile=tile, device="cpu")
        assert got.shape == expected.shape
        assert np.abs(got.astype(int) - expected).max() <= 1, tile


@pytest.mark.parametrize("name", ["ESRGAN", "SwinIR"])
def test_pytorch_backend_tiles_exactly_too(exported, name, rng):
    checkpoint, _ = exported[name]
    image = random_image(rng, 37, 29, 3)
    expected = torch_untiled(checkpoint, image)
    with open_model(checkpoint, device="cpu") as runner:   # auto: PyTorch for checkpoints
        assert type(runner).__name__ == "TorchRunner"
        got = burnish.upscale(image, model=runner, scale=SCALES[name], tile=16)
    assert np.abs(got.astype(int) - expected).max() <= 1


@pytest.mark.parametrize("name", ["RealESRGAN Compact", "SPAN"])
def test_fp16_export_validates_within_its_tolerance(tmp_path, name):
    checkpoint = spandrel_builders.save(spandrel_builders.build(name), tmp_path / "m.pth")
    result = export_checkpoint(checkpoint, tmp_path / "m16.onnx", fp16=True, validate=True)
    assert result.validation.passed and result.validation.tolerance == 1e-2
    assert result.descriptor.precisions == ("fp16",)
    import onnx

    graph = onnx.load(str(result.path))
    conv_weights = {n.input[1] for n in graph.graph.node if n.op_type == "Conv"}
    types = {t.data_type for t in graph.graph.initializer if t.name in conv_weights}
    assert types == {onnx.TensorProto.FLOAT16}   # really fp16 inside, float32 at the edges


def test_fp16_is_refused_for_architectures_that_do_not_support_it(exported, tmp_path):
    checkpoint, _ = exported["SwinIR"]
    with pytest.raises(OptionError, match="fp16"):
        export_checkpoint(checkpoint, tmp_path / "x.onnx", fp16=True)
    assert not (tmp_path / "x.onnx").exists()


def test_failed_validation_writes_nothing(exported, tmp_path, monkeypatch):
    from burnish.export import onnx_export

    checkpoint, _ = exported["RealESRGAN Compact"]
    monkeypatch.setitem(onnx_export.TOLERANCE, "fp32", 0.0)   # no export can be that exact
    with pytest.raises(ModelError, match="validation FAILED") as error:
        export_checkpoint(checkpoint, tmp_path / "strict.onnx", validate=True)
    assert "\n" not in str(error.value)
    assert list(tmp_path.iterdir()) == []


def assert_one_line(error: BaseException, path, *phrases):
    text = str(error)
    assert "\n" not in text and str(path) in text, text
    for phrase in phrases:
        assert phrase in text, text


@pytest.mark.parametrize("suffix", [".pth", ".safetensors"])
@pytest.mark.parametrize("damage", ["truncated", "garbage", "empty"])
def test_corrupt_checkpoints_are_one_line_errors(tmp_path, suffix, damage, rng):
    path = spandrel_builders.save(spandrel_builders.build("RealESRGAN Compact"),
                                  tmp_path / f"m{suffix}")
    data = path.read_bytes()
    cut = int(rng.integers(1, len(data)))
    garbage = [rng.bytes(int(rng.integers(1, 4096))) for _ in range(20)]
    for content in {"truncated": [data[:cut], data[: len(data) // 2]], "garbage": garbage,
                    "empty": [b""]}[damage]:
        path.write_bytes(content)
        with pytest.raises(ModelError) as error:
            load_checkpoint(path)
        assert_one_line(error.value, path, "corrupt")


@pytest.mark.parametrize("suffix", [".pth", ".safetensors"])
def test_flipped_bytes_load_or_give_one_line(tmp_path, suffix, rng):
    """Damage anywhere (header, zip directory, pickle, tensor data) either still loads or is a
    one-line ModelError: never another exception."""
    path = spandrel_builders.save(spandrel_builders.build("RealESRGAN Compact"),
                                  tmp_path / f"m{suffix}")
    data = path.read_bytes()
    refused = 0
    for trial in range(40):
        damaged = bytearray(data)
        # Most of the file is tensor data, where flipped bytes load as other weights; every
        # other trial also hits the first 256 bytes (the header, or the zip's first entry).
        positions = rng.integers(0, len(data), size=5)
        if trial % 2:
            positions[0] = rng.integers(0, min(256, len(data)))
        for position in positions:
            damaged[position] = int(rng.integers(0, 256))
        path.write_bytes(bytes(damaged))
        try:
            load_checkpoint(path)
        except ModelError as error:
            assert_one_line(error, path)
            refused += 1
    assert refused > 0   # the damage is real: some of it must be caught


@pytest.mark.parametrize("suffix", [".pth", ".safetensors"])
def test_unsupported_architecture_is_a_one_line_error(tmp_path, suffix):
    network = torch.nn.Sequential(torch.nn.Linear(7, 5), torch.nn.ReLU(), torch.nn.Linear(5, 2))
    path = spandrel_builders.save(network, tmp_path / f"mlp{suffix}")
    with pytest.raises(ModelError) as error:
        load_checkpoint(path)
    assert_one_line(error.value, path, "not an architecture spandrel knows")


class _RunsCode:
    """A pickle payload that would create a file when unpickled."""

    def __init__(self, marker):
        self.marker = str(marker)

    def __reduce__(self):
        return (os.system, (f"touch {self.marker}",))


def test_a_pickle_that_would_run_code_is_refused(tmp_path):
    marker = tmp_path / "pwned"
    path = tmp_path / "evil.pth"
    state = dict(spandrel_builders.build("RealESRGAN Compact").state_dict())
    state["payload"] = _RunsCode(marker)
    torch.save(state, path)
    with pytest.raises(ModelError) as error:
        load_checkpoint(path)
    assert_one_line(error.value, path, "refused", "system")
    assert not marker.exists()
    torch.load(path, weights_only=False)   # proves the file really carries code
    assert marker.exists()


def test_torchscript_programs_are_refused(tmp_path):
    path = tmp_path / "scripted.pt"
    torch.jit.script(torch.nn.Conv2d(3, 3, 3)).save(str(path))
    with pytest.raises(ModelError) as error:
        load_checkpoint(path)
    assert_one_line(error.value, path, "TorchScript")


def test_backend_mismatches_are_option_errors(exported):
    checkpoint, result = exported["SPAN"]
    with pytest.raises(OptionError, match="checkpoint"):
        open_model(checkpoint, backend="ort")
    with pytest.raises(OptionError, match="ONNX"):
        open_model(result.path, backend="torch")
    with pytest.raises(OptionError, match="backend"):
        open_model(result.path, backend="tensorflow")


def test_cli_export_validate_then_upscale_with_no_other_flag(monkeypatch, capsys, tmp_path, rng):
    from PIL import Image

    checkpoint = spandrel_builders.save(spandrel_builders.build("SPAN"), tmp_path / "span.pth")
    code, out, err = run_cli(monkeypatch, capsys, "export", checkpoint, "--validate")
    assert code == 0, err
    onnx_path = tmp_path / "span.onnx"
    assert str(onnx_path) in out and "validation passed" in out
    image = random_image(rng, 21, 26, 3)
    Image.fromarray(image).save(tmp_path / "in.png")
    code, out, err = run_cli(monkeypatch, capsys, "upscale", tmp_path / "in.png", "--model",
                             onnx_path, "--scale", 2, "--tile", 16, "--quiet")
    assert code == 0, err
    got = np.asarray(Image.open(tmp_path / "in_x2.png"))
    assert np.abs(got.astype(int) - torch_untiled(checkpoint, image)).max() <= 1
    code, out, err = run_cli(monkeypatch, capsys, "models", "inspect", onnx_path)
    assert code == 0 and "SPAN" in out and "halo" in out


def test_cli_export_of_a_corrupt_checkpoint_is_one_line(monkeypatch, capsys, tmp_path):
    path = tmp_path / "broken.safetensors"
    path.write_bytes(b"\x00" * 100)
    code, out, err = run_cli(monkeypatch, capsys, "export", path)
    assert code == 1 and "Traceback" not in err
    lines = [line for line in err.splitlines() if line.strip()]
    assert lines == [lines[0]] and str(path) in lines[0]
    assert not path.with_suffix(".onnx").exists()
