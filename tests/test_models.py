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


def test_tampered_shipped_model_is_refused(monkeypatch, tmp_path):
    from burnish.models import registry

    folder = tmp_path / "default"
    folder.mkdir()
    entry = dict(shipped_models()[DEFAULT_MODEL].extra)
    (folder / entry["file"]).write_bytes(b"tampered")
    (folder / "manifest.json").write_text(json.dumps({"models": [entry]}))
    monkeypatch.setattr(registry, "SHIPPED_DIR", folder)
    registry.shipped_models.cache_clear()
    try:
        with pytest.raises(ModelError, match="does not match its manifest hash"):
            open_model(DEFAULT_MODEL)
    finally:
        registry.shipped_models.cache_clear()


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
