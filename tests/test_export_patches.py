"""ONNX export of shifted-window transformers with dynamic batch and size (burnish.export.patches).

Small random models of each architecture are built, saved and loaded back through spandrel,
exported from one example size inside ``traceable`` and compared with PyTorch in ONNX Runtime
at other batch sizes and image sizes, window multiples or not.

The attention weights are re-drawn at a larger scale than the architectures' initialisation
(std 0.02), which leaves the transformer body a near-negligible residual: with them a wrong
mask or a scrambled batch moves the output by 1e-2 to 1, far above the 1e-4 tolerance.
"""

from __future__ import annotations

import types
import warnings

import numpy as np
import pytest

torch = pytest.importorskip("torch")
spandrel = pytest.importorskip("spandrel")
safetensors_torch = pytest.importorskip("safetensors.torch")
ort = pytest.importorskip("onnxruntime")

from burnish.export.patches import (  # noqa: E402
    shifted_window_attention_mask,
    traceable,
)

TOLERANCE = 1e-4
# (batch, height, width): batch sizes 1 to 3, window multiples and a size that needs padding.
ALL_SIZES = [(1, 32, 32), (2, 40, 48), (3, 64, 96), (1, 96, 64), (2, 37, 50), (1, 128, 128)]
FEW_SIZES = [(2, 40, 48), (3, 37, 50), (1, 96, 64)]


def _swinir(upsampler):
    from spandrel.architectures.SwinIR import SwinIR

    return SwinIR(img_size=32, in_chans=3, embed_dim=24, depths=[2, 2], num_heads=[2, 2],
                  window_size=8, mlp_ratio=2.0, upscale=2, upsampler=upsampler)


def _swin2sr():
    from spandrel.architectures.Swin2SR import Swin2SR

    return Swin2SR(img_size=32, embed_dim=24, depths=[2, 2], num_heads=[2, 2], window_size=8,
                   mlp_ratio=2.0, upscale=2, upsampler="pixelshuffle")


def _hat():
    from spandrel.architectures.HAT import HAT

    return HAT(img_size=32, embed_dim=24, depths=[2, 2], num_heads=[2, 2], window_size=8,
               mlp_ratio=2.0, upscale=2, upsampler="pixelshuffle", num_feat=16,
               squeeze_factor=4, compress_ratio=3)


def _dat():
    from spandrel.architectures.DAT import DAT

    # spandrel detects DAT's img_size as 64; two groups so that one block is shifted.
    return DAT(img_size=64, embed_dim=32, split_size=[4, 8], depth=[2, 2], num_heads=[2, 2],
               expansion_factor=2.0, upscale=2)


# name: (builder, export example (batch, height, width), sizes checked)
# The examples are each model's img_size: the size at which the originals take their cached
# masks, the worst case for baking.
CASES = {
    "swinir-pixelshuffledirect": (lambda: _swinir("pixelshuffledirect"), (1, 32, 32), ALL_SIZES),
    "swinir-pixelshuffle": (lambda: _swinir("pixelshuffle"), (1, 32, 32), FEW_SIZES),
    "swinir-nearest+conv": (lambda: _swinir("nearest+conv"), (1, 32, 32), FEW_SIZES),
    "swin2sr": (_swin2sr, (1, 32, 32), FEW_SIZES),
    "hat": (_hat, (1, 32, 32), FEW_SIZES),
    "dat": (_dat, (1, 64, 64), FEW_SIZES),
}


def _load_through_spandrel(network, path):
    torch.manual_seed(0)
    safetensors_torch.save_file({k: v.contiguous() for k, v in network.state_dict().items()},
                                str(path))
    model = spandrel.ModelLoader().load_from_file(str(path)).model.eval()
    generator = torch.Generator().manual_seed(3)
    with torch.no_grad():
        for name, parameter in model.named_parameters():
            if "relative_position_bias_table" in name:
                parameter.copy_(2 * torch.randn(parameter.shape, generator=generator))
            elif parameter.dim() == 2:  # linear layers: PyTorch's default scale
                fan_in = parameter.shape[1]
                parameter.copy_(torch.randn(parameter.shape, generator=generator) / fan_in**0.5)
    return model


@pytest.fixture(scope="module")
def build(tmp_path_factory):
    built = {}

    def get(name):
        if name not in built:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")  # meshgrid indexing, timm deprecations
                torch.manual_seed(0)
                network = CASES[name][0]()
                path = tmp_path_factory.mktemp("models") / f"{name}.safetensors"
                built[name] = _load_through_spandrel(network, path)
        return built[name]

    return get


def _export(model, path, example_shape):
    batch, height, width = example_shape
    example = torch.rand(batch, 3, height, width)
    with warnings.catch_warnings(), torch.no_grad():
        warnings.simplefilter("ignore")  # the legacy exporter's deprecation notice
        torch.onnx.export(model, (example,), str(path), dynamo=False, opset_version=17,
                          input_names=["image"], output_names=["upscaled"],
                          dynamic_axes={"image": {0: "batch", 2: "height", 3: "width"},
                                        "upscaled": {0: "batch", 2: "out_height",
                                                     3: "out_width"}})
    options = ort.SessionOptions()
    options.intra_op_num_threads = 2
    return ort.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])


def _max_difference(session, model, shape):
    batch, height, width = shape
    image = torch.rand(batch, 3, height, width, generator=torch.Generator().manual_seed(1))
    with torch.no_grad():
        expected = model(image).numpy()
    got = session.run(None, {"image": image.numpy()})[0]
    assert got.shape == expected.shape
    return float(np.abs(got - expected).max())


@pytest.mark.parametrize("name", list(CASES))
def test_export_matches_pytorch_at_every_batch_and_size(name, build, tmp_path):
    model = build(name)
    _, example, sizes = CASES[name]
    with traceable(model):
        session = _export(model, tmp_path / f"{name}.onnx", example)
    for shape in sizes:
        assert _max_difference(session, model, shape) <= TOLERANCE, shape


def test_unpatched_export_is_wrong_at_other_batch_sizes(build, tmp_path):
    # The failure the patches fix, and proof that the test models are sensitive to it.
    model = build("swinir-pixelshuffledirect")
    session = _export(model, tmp_path / "unpatched.onnx", (1, 32, 32))
    assert _max_difference(session, model, (2, 32, 32)) > 100 * TOLERANCE


@pytest.mark.parametrize("name", ["swinir-pixelshuffledirect", "hat", "dat"])
def test_pytorch_results_are_identical_and_originals_restored(name, build):
    model = build(name)
    images = [torch.rand(shape[0], 3, shape[1], shape[2]) for shape in [(1, 32, 32), (2, 37, 50)]]
    with torch.no_grad():
        before = [model(image) for image in images]
        attributes = _instance_attributes(model)
        helpers = _architecture_helpers(model)
        with traceable(model) as patched:
            assert patched is model
            assert _instance_attributes(model) != attributes, "nothing was patched"
            inside = [model(image) for image in images]
        after = [model(image) for image in images]
    assert _instance_attributes(model) == attributes
    assert _architecture_helpers(model) == helpers
    for expected, got_inside, got_after in zip(before, inside, after):
        assert torch.equal(expected, got_inside) and torch.equal(expected, got_after)


def test_half_precision_masks_follow_the_model(build):
    # spandrel's SwinIR in fp16 only runs at img_size (its other-size masks are float32); the
    # patched one gives the same result there and runs at every size.
    import copy

    model = build("swinir-pixelshuffledirect")
    half = copy.deepcopy(model).half()
    image = torch.rand(1, 3, 32, 32)
    other_size = torch.rand(2, 3, 37, 50)
    with torch.no_grad():
        original = half(image.half())
        with traceable(half):
            patched = half(image.half())
            patched_other_size = half(other_size.half()).float()
        reference = model(other_size)
    assert torch.equal(original, patched)
    assert float((patched_other_size - reference).abs().max()) < 1e-2


def test_no_op_for_convolutional_models():
    from burnish.export.compact import SRVGGNetCompact

    model = SRVGGNetCompact(num_feat=8, num_conv=2, upscale=2).eval()
    attributes = _instance_attributes(model)
    with traceable(model):
        assert _instance_attributes(model) == attributes


def _instance_attributes(model):
    """Every module's own attributes, by identity: patched methods live there."""
    return {(index, name): id(value) for index, module in enumerate(model.modules())
            for name, value in vars(module).items()}


def _architecture_helpers(model):
    import sys

    architecture = sys.modules[type(model).__module__]
    return {name: getattr(architecture, name, None) for name in ("window_reverse", "windows2img")}


@pytest.mark.parametrize(("height", "width", "window", "shift"), [
    (32, 32, 8, 4), (40, 48, 8, 4), (8, 16, 8, 4), (24, 16, 8, 0), (24, 40, 4, 1),
])
def test_mask_equals_swinirs(height, width, window, shift):
    from spandrel.architectures.SwinIR.__arch.SwinIR import SwinTransformerBlock

    block = types.SimpleNamespace(window_size=window, shift_size=shift)
    original = SwinTransformerBlock.calculate_mask(block, (height, width))
    ours = shifted_window_attention_mask(height, width, (window, window), (shift, shift))
    assert ours.dtype == original.dtype and torch.equal(ours, original)


@pytest.mark.parametrize(("height", "width"), [(16, 32), (24, 16), (8, 8)])
def test_rectangular_masks_equal_dats(height, width):
    from spandrel.architectures.DAT.__arch.DAT import Adaptive_Spatial_Attention

    split, shift = (4, 8), (2, 4)
    attention = types.SimpleNamespace(split_size=list(split), shift_size=list(shift))
    original = Adaptive_Spatial_Attention.calculate_mask(attention, height, width)
    ours = (shifted_window_attention_mask(height, width, split, shift),
            shifted_window_attention_mask(height, width, split[::-1], shift[::-1]))
    assert all(torch.equal(a, b) for a, b in zip(ours, original))
