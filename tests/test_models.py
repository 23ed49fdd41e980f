"""Model registry, ONNX Runtime runner, descriptors and receptive-field probing."""

from __future__ import annotations

import json

import numpy as np
import pytest

import burnish
from burnish.errors import ModelError, OptionError
from burnish.models.probe import probe_receptive_radius
from burnish.models.registry import DEFAULT_MODEL, open_model, shipped_models

from conftest import random_image


def test_shipped_default_model_is_described_by_its_manifest():
    descriptor = shipped_models()[DEFAULT_MODEL]
    assert descriptor.scale == 4 and descriptor.channels == 3 and descriptor.task == "super-resolution"
    entry = descriptor.extra
    for key in ("architecture", "parameters", "sha256", "training", "quality"):
        assert key in entry
    assert entry["training"]["holdout"], "the manifest names the held-out photos"
    measured = entry["quality"]["holdout_x4"]  # written by benches/quality.py --record
    assert measured["photos"] == entry["training"]["holdout"]
    assert measured["compact-x4_psnr_y"] > measured["bicubic_psnr_y"]


def test_manifest_halo_is_the_probed_receptive_field(default_runner):
    assert probe_receptive_radius(default_runner) == default_runner.descriptor.halo


def test_onnx_without_metadata_is_probed(tmp_path, rng):
    onnx_builders = pytest.importorskip("onnx_builders")
    path = onnx_builders.conv_pixelshuffle_model(tmp_path / "tiny.onnx", rng=rng, scale=3, convs=3)
    with open_model(path, device="cpu") as runner:
        assert (runner.descriptor.scale, runner.descriptor.halo) == (3, 3)
        image = random_image(rng, 30, 41, 3)
        whole = burnish.upscale(image, model=runner, scale=3, tile=0)
        tiled = burnish.upscale(image, model=runner, scale=3, tile=16)
        assert np.abs(whole.astype(int) - tiled).max() <= 1


def test_onnx_metadata_is_trusted_over_probing(tmp_path, rng):
    onnx_builders = pytest.importorskip("onnx_builders")
    path = onnx_builders.conv_pixelshuffle_model(
        tmp_path / "meta.onnx", rng=rng, scale=2, convs=2,
        metadata={"burnish.scale": 2, "burnish.halo": 5, "burnish.architecture": "tiny"})
    with open_model(str(path), device="cpu") as runner:
        assert (runner.descriptor.halo, runner.descriptor.architecture) == (5, "tiny")


@pytest.mark.parametrize("content", [b"", b"not an onnx model at all", b"\x08\x07\x12\x04garb"])
def test_corrupt_onnx_is_a_one_line_model_error(tmp_path, content):
    path = tmp_path / "broken.onnx"
    path.write_bytes(content)
    with pytest.raises(ModelError) as error:
        open_model(path, device="cpu")
    assert str(path) in str(error.value) and "\n" not in str(error.value)


def test_unknown_model_name_lists_the_choices():
    with pytest.raises(ModelError, match="unknown model 'nope'.*compact-x4.*lanczos"):
        open_model("nope")


def test_missing_model_file():
    with pytest.raises(ModelError, match="no such model file"):
        open_model("/nonexistent/model.onnx")


SHIPPED_UPSCALERS = sorted(shipped_models())


@pytest.mark.parametrize("name", SHIPPED_UPSCALERS)
@pytest.mark.parametrize("flaw", ["tampered", "one byte changed"])
def test_tampered_shipped_model_is_refused(monkeypatch, tmp_path, name, flaw):
    from burnish.models import registry

    folder = tmp_path / "default"
    folder.mkdir()
    entry = dict(shipped_models()[name].extra)
    content = (registry.SHIPPED_DIR / entry["file"]).read_bytes()
    if flaw == "tampered":
        content = b"tampered"
    else:  # a flipped byte in the middle of the weights still loads, and must not
        middle = len(content) // 2
        content = content[:middle] + bytes([content[middle] ^ 1]) + content[middle + 1:]
    (folder / entry["file"]).write_bytes(content)
    (folder / "manifest.json").write_text(json.dumps({"models": [entry]}))
    monkeypatch.setattr(registry, "SHIPPED_DIR", folder)
    registry.shipped_models.cache_clear()
    try:
        with pytest.raises(ModelError, match="does not match its manifest hash"):
            open_model(name)
    finally:
        registry.shipped_models.cache_clear()


@pytest.mark.parametrize("name", SHIPPED_UPSCALERS)
def test_each_shipped_upscaler_tiles_exactly_and_records_its_making(rng, name):
    descriptor = shipped_models()[name]
    image = random_image(rng, *(int(v) for v in rng.integers(40, 70, 2)), 3)
    scale = descriptor.scale
    whole = burnish.upscale(image, model=name, scale=scale, device="cpu", tile=0)
    assert whole.shape == (image.shape[0] * scale, image.shape[1] * scale, 3)
    for tile in (int(rng.integers(17, 30)), 33):  # tiles smaller than the image, odd sizes
        np.testing.assert_array_equal(
            burnish.upscale(image, model=name, scale=scale, device="cpu", tile=tile), whole)
    training = descriptor.extra["training"]
    if "quantized_from" in training:
        assert training["quantized_from"] in shipped_models() and training["calibration_data"]
    else:
        assert training["data"] and training["steps"] > 0 and training["minutes"] > 0


def test_unknown_device_is_an_option_error():
    with pytest.raises(OptionError, match="unknown device"):
        open_model(device="tpu")


def test_cuda_request_without_cuda_provider_is_a_clear_error():
    import onnxruntime

    if "CUDAExecutionProvider" in onnxruntime.get_available_providers():
        pytest.skip("this onnxruntime has a CUDA provider")
    with pytest.raises(OptionError, match="no CUDA provider"):
        open_model(device="cuda")


def test_runner_validates_its_input(default_runner):
    with pytest.raises(ValueError, match="float32"):
        default_runner.infer(np.zeros((1, 3, 8, 8), np.float64))
    with pytest.raises(ValueError):
        default_runner.infer(np.zeros((1, 1, 8, 8), np.float32))


def test_exported_compact_network_matches_pytorch(tmp_path, rng):
    """The training recipe's export path: ONNX through the engine equals PyTorch, tiled too."""
    torch = pytest.importorskip("torch")
    from burnish.export.compact import SRVGGNetCompact, receptive_radius
    from burnish.export.train_default import export_onnx

    torch.manual_seed(int(rng.integers(1 << 31)))
    network = SRVGGNetCompact(num_feat=8, num_conv=3, upscale=4).eval()
    export_onnx(network, tmp_path / "compact.onnx")
    image = random_image(rng, 29, 35, 3)
    with torch.no_grad():
        expected = network(torch.from_numpy(image.transpose(2, 0, 1)[None] / 255).float())
    expected = np.rint(expected[0].clamp(0, 1).numpy().transpose(1, 2, 0) * 255)
    with open_model(tmp_path / "compact.onnx", device="cpu") as runner:
        assert runner.descriptor.halo == receptive_radius(3)
        for tile in (0, 16):
            out = burnish.upscale(image, model=runner, tile=tile)
            assert np.abs(out - expected).max() <= 1


def test_the_default_model_is_the_scales_own_where_one_ships(monkeypatch):
    from burnish.models import registry

    four = registry.shipped_models()[registry.DEFAULT_MODEL]
    monkeypatch.setattr(registry, "shipped_models", lambda: {"compact-x4": four})
    assert registry.default_model(2) == registry.default_model(4) == "compact-x4"
    monkeypatch.setattr(registry, "shipped_models",
                        lambda: {"compact-x4": four, "compact-x2": four})
    assert registry.default_model(2) == "compact-x2"
    assert registry.default_model(4) == registry.default_model(3) == "compact-x4"


def test_models_list_line_tells_how_each_shipped_upscaler_was_made():
    from burnish.cli.models import provenance

    for name, descriptor in shipped_models().items():
        entry, line = descriptor.extra, provenance(descriptor.extra)
        assert f"{entry['parameters']:,} parameters" in line, name
        training = entry["training"]
        assert (f"{training['quantized_from']} quantized" if "quantized_from" in training
                else f"trained {training['steps']:,} steps in {training['minutes']:g} min") in line
    measured = {"parameters": 1234, "scale": 2, "training": {
        "steps": 5000, "minutes": 12.5, "machine": "Some CPU, 2 threads", "data": ["a.jpg"]},
        "quality": {"set14_x2": {"psnr_y": 32.5678, "over_bicubic": 2.2449}}}
    assert provenance(measured) == ("1,234 parameters; trained 5,000 steps in 12.5 min on "
                                    "Some CPU, 2 threads (1 photo); Set14 x2 32.57 dB Y, "
                                    "+2.24 over bicubic")
