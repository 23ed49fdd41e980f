"""int8 models (burnish.export.quantize, ``burnish export --int8``, ``--precision int8``):
random-weight checkpoints exported and quantized with a calibration folder, the metadata
they carry, tiles against the whole image, closeness to the float model, the shipped
``compact-x4-int8`` (hash, closeness, selection), and the mistakes refused in one line."""

from __future__ import annotations

import json

import numpy as np
import pytest
from PIL import Image

import burnish

pytest.importorskip("onnxruntime.quantization")
pytest.importorskip("torch")

import spandrel_builders  # noqa: E402

from burnish.errors import OptionError  # noqa: E402
from burnish.export.quantize import quantize_int8  # noqa: E402
from burnish.models.registry import (  # noqa: E402
    default_model,
    open_model,
    shipped_models,
    with_precision,
)
from tests.conftest import run_cli, structured_image  # noqa: E402


@pytest.fixture(scope="module")
def calibration(tmp_path_factory):
    folder = tmp_path_factory.mktemp("calibration")
    for number in range(3):
        Image.fromarray(structured_image(90 + 7 * number, 120, seed=number)).save(
            folder / f"c{number}.png")
    (folder / "notes.txt").write_text("not an image: skipped")
    return folder


@pytest.fixture(scope="module")
def compact(tmp_path_factory, calibration):
    """A random-weight Compact checkpoint, its float export and its int8 model."""
    folder = tmp_path_factory.mktemp("compact")
    checkpoint = spandrel_builders.save(spandrel_builders.build("RealESRGAN Compact"),
                                        folder / "m.pth")
    from burnish.export.onnx_export import export_checkpoint

    float_path = export_checkpoint(checkpoint, folder / "m.onnx").path
    result = quantize_int8(float_path, folder / "m-int8.onnx", calibration)
    return float_path, result


def test_the_int8_model_states_its_descriptor_and_is_integer_inside(compact):
    import onnx

    float_path, result = compact
    with open_model(float_path, device="cpu") as runner:
        expected = runner.descriptor
    with open_model(result.path, device="cpu") as runner:
        stated = runner.descriptor
    assert stated.precisions == ("int8",)
    assert (stated.scale, stated.halo, stated.channels) == (expected.scale, expected.halo,
                                                            expected.channels)
    assert result.images == 3 and stated.extra["quantization"]["images"] == 3
    graph = onnx.load(str(result.path)).graph
    ops = {node.op_type for node in graph.node}
    assert {"QuantizeLinear", "DequantizeLinear", "Conv"} <= ops
    int8_weights = [t for t in graph.initializer if t.data_type == onnx.TensorProto.INT8]
    assert int8_weights, "no int8 weights in the graph"


def test_int8_tiles_give_what_the_whole_image_gives_and_stay_near_the_float_model(compact,
                                                                                   rng):
    float_path, result = compact
    image = structured_image(45, 61, seed=int(rng.integers(1000)))
    whole = burnish.upscale(image, model=result.path, tile=0, device="cpu")
    for tile in (16, 23):
        tiled = burnish.upscale(image, model=result.path, tile=tile, device="cpu")
        np.testing.assert_array_equal(tiled, whole)
    reference = burnish.upscale(image, model=float_path, tile=0, device="cpu")
    error = np.abs(whole.astype(int) - reference.astype(int))
    spread = max(float(reference.std()), 1.0)
    assert error.mean() < 0.05 * spread, (error.mean(), spread)


def test_the_shipped_int8_variant_is_close_to_its_float_model_and_tiles_exactly():
    if "compact-x4-int8" not in shipped_models():
        pytest.skip("no shipped int8 model")
    skimage_data = pytest.importorskip("skimage.data")
    photo = np.asarray(Image.fromarray(skimage_data.astronaut()).resize((96, 96)))
    float_out = burnish.upscale(photo, model="compact-x4", device="cpu")
    int8_out = burnish.upscale(photo, model="compact-x4-int8", device="cpu", tile=0)
    error = float(np.mean((float_out.astype(float) - int8_out) ** 2))
    assert 10 * np.log10(255 ** 2 / max(error, 1e-12)) > 40  # the two agree to 40 dB
    tiled = burnish.upscale(photo, model="compact-x4-int8", device="cpu", tile=32)
    np.testing.assert_array_equal(tiled, int8_out)


def test_precision_int8_chooses_the_shipped_variant(monkeypatch, capsys, tmp_path):
    if "compact-x4-int8" not in shipped_models():
        pytest.skip("no shipped int8 model")
    assert with_precision(None, "int8") == "compact-x4-int8"
    assert with_precision("compact-x4", "fp32") == "compact-x4"
    assert with_precision("compact-x4-int8", "int8") == "compact-x4-int8"
    source = tmp_path / "in.png"
    Image.fromarray(structured_image(30, 40)).save(source)
    for args, name in ((["--precision", "int8"], "a.png"), (["-m", "compact-x4-int8"], "b.png")):
        code, _, err = run_cli(monkeypatch, capsys, "upscale", source, *args, "-o",
                               tmp_path / name)
        assert code == 0, err
    assert (tmp_path / "a.png").read_bytes() == (tmp_path / "b.png").read_bytes()
    code, _, err = run_cli(monkeypatch, capsys, "upscale", source, "--precision", "int8",
                           "-m", "lanczos", "-o", tmp_path / "c.png")
    assert code != 0 and "no int8 variant of lanczos" in err and err.count("\n") == 1


def test_scale_2_goes_to_the_native_x2_and_has_no_int8_variant():
    """``--scale 2`` opens ``compact-x2``; its int8 copy was no faster and is not shipped,
    so ``--precision int8`` at x2 is a clear error, not a silent switch to a slower model."""
    if "compact-x2" not in shipped_models():
        pytest.skip("no shipped x2 model")
    assert default_model(2) == "compact-x2" and default_model(4) == "compact-x4"
    with pytest.raises(OptionError, match="no int8 variant of compact-x2"):
        with_precision(None, "int8", scale=2)


def test_export_int8_from_a_checkpoint_writes_both_models(monkeypatch, capsys, tmp_path,
                                                          calibration):
    checkpoint = spandrel_builders.save(spandrel_builders.build("RealESRGAN Compact"),
                                        tmp_path / "net.pth")
    code, out, err = run_cli(monkeypatch, capsys, "export", checkpoint, "--int8",
                             "--calibrate", calibration, "--reduce-range")
    assert code == 0, err
    assert (tmp_path / "net.onnx").is_file() and (tmp_path / "net-int8.onnx").is_file()
    assert "reduced range" in out
    import onnx

    props = {p.key: p.value for p in onnx.load(str(tmp_path / "net-int8.onnx")).metadata_props}
    assert props["burnish.precisions"] == "int8"
    assert json.loads(props["burnish.extra"])["quantization"]["reduce_range"] is True


@pytest.mark.parametrize("args, phrase", [
    (["--int8"], "--int8 needs --calibrate"),
    (["--calibrate", "."], "go with --int8"),
    (["--int8", "--calibrate", "EMPTY"], "no images"),
    (["--int8", "--calibrate", "MISSING"], "not a folder"),
    (["--int8", "--fp16", "--calibrate", "."], "without --fp16"),
])
def test_int8_mistakes_are_one_line_errors(monkeypatch, capsys, tmp_path, compact, args,
                                           phrase):
    (tmp_path / "EMPTY").mkdir()
    args = [str(tmp_path / a) if a in ("EMPTY", "MISSING") else a for a in args]
    code, _, err = run_cli(monkeypatch, capsys, "export", compact[0], *args, "-o",
                           tmp_path / "out.onnx")
    assert code != 0 and phrase in err and err.count("\n") == 1, err
    assert not (tmp_path / "out.onnx").exists()


def test_quantizing_an_int8_model_again_is_refused(compact, calibration, tmp_path):
    with pytest.raises(OptionError, match="float32"):
        quantize_int8(compact[1].path, tmp_path / "again.onnx", calibration)
    assert not (tmp_path / "again.onnx").exists()
