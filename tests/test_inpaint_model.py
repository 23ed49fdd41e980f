"""Model inpainting: InpaintModel (the LaMa contract), hole_boxes, and model_fill's strategies.

The LaMa-shaped networks are built with random weights and exported by ``lama_builder`` once
per module; the tests that need them skip where PyTorch is not installed. Contract checks use
small graphs built with ``onnx.helper`` and need no PyTorch.
"""

from __future__ import annotations

import itertools
from collections import deque
from types import SimpleNamespace

import numpy as np
import onnx
import pytest
from onnx import TensorProto, helper

from burnish.engine.removal.fill_regions import hole_boxes
from burnish.engine.removal.model_fill import model_fill
from burnish.errors import ModelError
from burnish.models.inpaint_model import CONTRACT, InpaintModel

from onnx_builders import inpaint_contract_model

# --- models ---------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def lama(tmp_path_factory):
    """The tiny LaMa network and its ONNX exports: dynamic size ([0, 1]), fixed 64 x 64,
    dynamic times 255, and the dynamic one labelled ``burnish.output_range = 255``."""
    pytest.importorskip("torch")
    import lama_builder

    folder = tmp_path_factory.mktemp("lama")
    network = lama_builder.build_network(seed=20240611)
    dynamic = lama_builder.export(network, folder / "dynamic.onnx")
    return SimpleNamespace(
        network=network, builder=lama_builder, dynamic=dynamic,
        fixed=lama_builder.export(network, folder / "fixed.onnx", fixed_size=(64, 64)),
        scaled=lama_builder.export(network, folder / "scaled.onnx", output_scale=255.0),
        labelled=lama_builder.with_metadata(dynamic, folder / "labelled.onnx",
                                            {"burnish.output_range": "255"}))


def torch_inpaint(network, image, hole):
    """The PyTorch network on ``H x W x 3`` pixels and an ``H x W`` hole, as ``H x W x 3``."""
    import torch

    with torch.no_grad():
        output = network(torch.from_numpy(np.ascontiguousarray(image.transpose(2, 0, 1)))[None],
                         torch.from_numpy(hole.astype(np.float32))[None, None])
    return output[0].numpy().transpose(1, 2, 0)


class SessionSpy:
    """Wraps an onnxruntime session and keeps a copy of what each run was fed."""

    def __init__(self, session):
        self.session, self.feeds = session, []

    def run(self, names, feeds):
        self.feeds.append({name: array.copy() for name, array in feeds.items()})
        return self.session.run(names, feeds)


class RecordingModel:
    """Passes ``inpaint`` calls to a model and records the crop shapes it was given."""

    def __init__(self, model):
        self.model, self.shapes = model, []
        self.fixed_size = model.fixed_size

    def inpaint(self, image, hole):
        self.shapes.append(image.shape)
        return self.model.inpaint(image, hole)


def assert_one_line_model_error(error, path, text=""):
    message = str(error.value)
    assert isinstance(error.value, ModelError)
    assert str(path) in message and "\n" not in message and text in message


# --- InpaintModel ---------------------------------------------------------------------------


def test_onnx_output_matches_the_pytorch_network(lama, rng):
    image = rng.random((32, 48, 3), dtype=np.float32)
    hole = rng.random((32, 48)) < 0.3
    with InpaintModel(lama.dynamic, device="cpu") as model:
        assert (model.fixed_size, model.size_multiple, model.output_range) == (None, 8, 1)
        output = model.inpaint(image, hole)
    assert output.dtype == np.float32 and output.shape == image.shape
    np.testing.assert_allclose(output, torch_inpaint(lama.network, image, hole), atol=2e-5)
    # the network composites like LaMa: the input comes back away from the hole
    np.testing.assert_allclose(output[~hole], image[~hole], atol=1e-6)


def test_the_model_is_a_runner_of_task_inpainting(lama, rng, tmp_path):
    """One contract for every model: a validated, finite-checked infer; the descriptor and
    provenance record of any runner."""
    from burnish.engine.recipes.resources import Resources
    from burnish.models.runner import Runner

    image = rng.random((1, 3, 16, 24), dtype=np.float32)
    hole = (rng.random((1, 1, 16, 24)) < 0.3).astype(np.float32)
    with InpaintModel(lama.dynamic, device="cpu") as model, \
            InpaintModel(lama.scaled, device="cpu") as scaled:
        assert isinstance(model, Runner)
        assert (model.descriptor.task, model.descriptor.scale, model.descriptor.channels) == \
            ("inpainting", 1, 3)
        out = model.infer(np.concatenate([image, hole], axis=1))
        assert out.shape == (1, 3, 16, 24) and out.dtype == np.float32
        # in [0, 1] whatever the model's own range: the 255-range export gives the same
        np.testing.assert_allclose(scaled.infer(np.concatenate([image, hole], axis=1)), out,
                                   atol=1e-5)
        np.testing.assert_allclose(out[0][:, hole[0, 0] == 0], image[0][:, hole[0, 0] == 0],
                                   atol=1e-6)
        for bad, words in ((image, "N x 4"), (np.zeros((1, 4, 12, 24), np.float32),
                                              "multiple of 8"),
                           (np.zeros((1, 4, 16, 24), np.float64), "float32")):
            with pytest.raises(ValueError, match=words):
                model.infer(bad)
        record = Resources(device="cpu").model_record(model)
    assert record["backend"] == "onnxruntime" and record["name"] == lama.dynamic.name
    assert record["sha256"] and record["source"] == str(lama.dynamic)


@pytest.mark.parametrize("size", [(37, 53), (19, 8), (5, 3), (1, 1)])
def test_dynamic_model_pads_odd_sizes_and_crops_back(lama, rng, size):
    image = rng.random((*size, 3), dtype=np.float32)
    hole = np.zeros(size, bool)
    hole[size[0] // 2, size[1] // 2] = True
    model = InpaintModel(lama.dynamic, device="cpu")
    model.session = spy = SessionSpy(model.session)
    output = model.inpaint(image, hole)
    assert output.shape == image.shape and output.dtype == np.float32
    assert 0.0 <= output.min() and output.max() <= 1.0
    (feed,) = spy.feeds
    padded = tuple(-(-s // 8) * 8 for s in size)
    assert feed["image"].shape == (1, 3, *padded) and feed["mask"].shape == (1, 1, *padded)
    # the mask is exactly 0/1 and the padding is never hole
    assert set(np.unique(feed["mask"])) <= {0.0, 1.0}
    np.testing.assert_array_equal(feed["mask"][0, 0, :size[0], :size[1]], hole)
    assert not feed["mask"][0, 0, size[0]:].any() and not feed["mask"][0, 0, :, size[1]:].any()
    pad = [(0, padded[0] - size[0]), (0, padded[1] - size[1]), (0, 0)]
    mode = "reflect" if pad[0][1] < size[0] and pad[1][1] < size[1] else "edge"
    np.testing.assert_array_equal(feed["image"][0].transpose(1, 2, 0),
                                  np.pad(image, pad, mode=mode))
    expected = torch_inpaint(lama.network, np.pad(image, pad, mode=mode),
                             np.pad(hole, pad[:2]))[:size[0], :size[1]]
    np.testing.assert_allclose(output, expected, atol=2e-5)
    model.close()


def test_fixed_size_model_resizes_the_crop(lama):
    yy, xx = np.mgrid[:100, :70].astype(np.float32)
    image = np.stack([yy / 100, xx / 70, 0.5 + 0.3 * np.sin((yy + xx) / 15)], axis=2)
    hole = np.zeros((100, 70), bool)
    hole[40:60, 30:45] = True
    with InpaintModel(lama.fixed, device="cpu") as model:
        assert model.fixed_size == (64, 64) and model.output_range == 1
        model.session = spy = SessionSpy(model.session)
        output = model.inpaint(image, hole)
    assert output.shape == (100, 70, 3) and output.dtype == np.float32
    assert 0.0 <= output.min() and output.max() <= 1.0
    (feed,) = spy.feeds
    assert feed["image"].shape == (1, 3, 64, 64)
    mask = feed["mask"][0, 0]
    assert set(np.unique(mask)) == {0.0, 1.0}
    # the resized hole still covers the hole (rows 40:60 of 100 -> 25.6:38.4 of 64)
    assert mask[26:38, 28:41].all() and not mask[:20].any()
    # away from the hole the output is the input, blurred by the round trip through 64 x 64
    away = np.ones((100, 70), bool)
    away[30:70, 20:55] = False
    assert np.abs(output[away] - image[away]).max() < 0.02
    assert np.abs(output[hole] - image[hole]).mean() > 0.05


def test_output_range_255_is_detected_and_gives_the_same_fill(lama, rng):
    image = rng.random((24, 40, 3), dtype=np.float32)
    hole = rng.random((24, 40)) < 0.2
    with InpaintModel(lama.dynamic, device="cpu") as unit, \
            InpaintModel(lama.scaled, device="cpu") as scaled:
        assert (unit.output_range, scaled.output_range) == (1, 255)
        np.testing.assert_allclose(scaled.inpaint(image, hole), unit.inpaint(image, hole),
                                   atol=1e-5)


def test_output_range_metadata_overrides_probing(lama, monkeypatch):
    def no_probe(self):
        raise AssertionError("probed although the metadata says the range")

    monkeypatch.setattr(InpaintModel, "_probe_output_range", no_probe)
    # the [0, 1] network labelled 255: the label wins over what a probe would find
    with InpaintModel(lama.labelled, device="cpu") as model:
        assert model.output_range == 255
        output = model.inpaint(np.full((8, 8, 3), 0.5, np.float32), np.zeros((8, 8), bool))
    np.testing.assert_allclose(output, 0.5 / 255, atol=1e-6)
    with pytest.raises(AssertionError):
        InpaintModel(lama.dynamic, device="cpu")


def test_bad_output_range_metadata_is_a_model_error(lama, tmp_path):
    path = lama.builder.with_metadata(lama.dynamic, tmp_path / "bad.onnx",
                                      {"burnish.output_range": "100"})
    with pytest.raises(ModelError) as error:
        InpaintModel(path, device="cpu")
    assert_one_line_model_error(error, path, "burnish.output_range")


def test_global_context_fallback_exports(lama, tmp_path, rng):
    """The branch lama_builder uses where onnxscript (the FFT export) is missing."""
    import torch

    torch.manual_seed(7)
    network = lama.builder.TinyLama(spectral=False).eval()
    path = lama.builder.export(network, tmp_path / "context.onnx")
    image, hole = rng.random((16, 24, 3), dtype=np.float32), rng.random((16, 24)) < 0.3
    with InpaintModel(path, device="cpu") as model:
        np.testing.assert_allclose(model.inpaint(image, hole),
                                   torch_inpaint(network, image, hole), atol=2e-5)


@pytest.mark.parametrize("layout", [
    dict(mask_first=True, names=("a", "b")),  # told apart by channels
    dict(mask_first=True, channels=("c", "k")),  # symbolic channels: told apart by names
    dict(names=("input_image", "hole_mask"), channels=("c", 1)),
])
def test_inputs_are_found_by_channels_then_names(tmp_path, rng, layout):
    path = inpaint_contract_model(tmp_path / "contract.onnx", **layout)
    image = rng.random((9, 14, 3), dtype=np.float32)
    hole = np.zeros((9, 14), bool)
    hole[2:5, 3:9] = True
    with InpaintModel(path, device="cpu") as model:
        assert model.output_range == 1 and model.fixed_size is None
        output = model.inpaint(image, hole)
    np.testing.assert_array_equal(output[~hole], image[~hole])
    np.testing.assert_allclose(output[hole], np.minimum(image[hole] + 0.25, 1.0), atol=1e-6)


def test_output_range_255_is_probed_on_a_plain_graph(tmp_path):
    with InpaintModel(inpaint_contract_model(tmp_path / "x255.onnx", scale=255.0), device="cpu") as model:
        assert model.output_range == 255


def test_unknown_output_range_is_a_model_error(tmp_path):
    path = inpaint_contract_model(tmp_path / "dim.onnx", scale=0.2)
    with pytest.raises(ModelError) as error:
        InpaintModel(path, device="cpu")
    assert_one_line_model_error(error, path, "cannot tell the output range")


def test_wrong_inputs_are_a_model_error(tmp_path):
    one_input = tmp_path / "one.onnx"
    graph = helper.make_graph(
        [helper.make_node("Identity", ["image"], ["out"])], "one",
        [helper.make_tensor_value_info("image", TensorProto.FLOAT, [1, 3, "h", "w"])],
        [helper.make_tensor_value_info("out", TensorProto.FLOAT, [1, 3, "h", "w"])])
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    model.ir_version = 8
    onnx.save(model, str(one_input))
    two_images = inpaint_contract_model(tmp_path / "two.onnx", names=("left", "right"), channels=(3, 3))
    for path in (one_input, two_images):
        with pytest.raises(ModelError) as error:
            InpaintModel(path, device="cpu")
        assert_one_line_model_error(error, path, CONTRACT)


def test_a_file_that_is_not_onnx_is_a_model_error(tmp_path):
    path = tmp_path / "lama.onnx"
    path.write_bytes(b"PK\x03\x04 this is a zip of a checkpoint, not an ONNX graph")
    with pytest.raises(ModelError) as error:
        InpaintModel(path, device="cpu")
    assert_one_line_model_error(error, path, "not a usable ONNX model")


# --- hole_boxes -----------------------------------------------------------------------------


def reference_component_boxes(hole):
    """Bounding boxes of 8-connected components: scipy where installed, else a plain BFS."""
    try:
        from scipy import ndimage
    except ImportError:
        ndimage = None
    if ndimage is not None:
        labels, _ = ndimage.label(hole, structure=np.ones((3, 3)))
        return [(s[0].start, s[1].start, s[0].stop, s[1].stop)
                for s in ndimage.find_objects(labels)]
    height, width = hole.shape
    seen, boxes = np.zeros_like(hole), []
    for y, x in zip(*np.nonzero(hole)):
        if seen[y, x]:
            continue
        seen[y, x], queue, pixels = True, deque([(y, x)]), []
        while queue:
            cy, cx = queue.popleft()
            pixels.append((cy, cx))
            for ny, nx in itertools.product(range(cy - 1, cy + 2), range(cx - 1, cx + 2)):
                if 0 <= ny < height and 0 <= nx < width and hole[ny, nx] and not seen[ny, nx]:
                    seen[ny, nx] = True
                    queue.append((ny, nx))
        ys, xs = zip(*pixels)
        boxes.append((min(ys), min(xs), max(ys) + 1, max(xs) + 1))
    return boxes


def reference_hole_boxes(hole, margin):
    height, width = hole.shape
    boxes = [(max(t - margin, 0), max(left - margin, 0), min(b + margin, height),
              min(r + margin, width)) for t, left, b, r in reference_component_boxes(hole)]
    merged = True
    while merged:  # merge any overlapping pair, start again, until no pair overlaps
        merged = False
        for i, j in itertools.combinations(range(len(boxes)), 2):
            a, b = boxes[i], boxes[j]
            if a[0] < b[2] and b[0] < a[2] and a[1] < b[3] and b[1] < a[3]:
                boxes[i] = (min(a[0], b[0]), min(a[1], b[1]), max(a[2], b[2]), max(a[3], b[3]))
                del boxes[j]
                merged = True
                break
    return sorted(boxes)


def random_blobs(rng, height, width):
    """Random discs and strokes, some touching, some apart."""
    yy, xx = np.mgrid[:height, :width]
    hole = np.zeros((height, width), bool)
    for _ in range(int(rng.integers(1, 12))):
        cy, cx = rng.integers(0, height), rng.integers(0, width)
        radius = rng.uniform(0.5, 6)
        hole |= (yy - cy) ** 2 + (xx - cx) ** 2 <= radius ** 2
    hole |= rng.random((height, width)) < 0.01  # single pixels, diagonal neighbours
    return hole


def test_hole_boxes_match_the_reference_on_random_blobs(rng):
    for _ in range(40):
        height, width = (int(v) for v in rng.integers(1, 70, size=2))
        hole = random_blobs(rng, height, width)
        margin = int(rng.integers(0, 8))
        boxes = hole_boxes(hole, margin)
        assert boxes == reference_hole_boxes(hole, margin)
        covered = np.zeros_like(hole)
        for top, left, bottom, right in boxes:
            assert 0 <= top < bottom <= height and 0 <= left < right <= width
            assert not covered[top:bottom, left:right].any(), "boxes overlap"
            covered[top:bottom, left:right] = True
        assert covered[hole].all()


def test_hole_boxes_components_and_merging():
    hole = np.zeros((30, 40), bool)
    hole[10, 10] = hole[11, 11] = True  # diagonal neighbours: one component
    hole[10, 16] = True
    hole[10, 21] = True
    # grown by 2, the three boxes touch without overlapping: three boxes
    assert hole_boxes(hole, 2) == [(8, 8, 14, 14), (8, 14, 13, 19), (8, 19, 13, 24)]
    # grown by 3 they overlap, and merge into one
    assert hole_boxes(hole, 3) == [(7, 7, 15, 25)]
    # clipped at the image border
    hole[:] = False
    hole[0, 39] = hole[29, 0] = True
    assert hole_boxes(hole, 5) == [(0, 34, 6, 40), (24, 0, 30, 6)]


def test_hole_boxes_of_empty_and_full_masks():
    assert hole_boxes(np.zeros((20, 30), bool), 8) == []
    assert hole_boxes(np.zeros((0, 0), bool), 8) == []
    assert hole_boxes(np.ones((20, 30), bool), 8) == [(0, 0, 20, 30)]


# --- model_fill -----------------------------------------------------------------------------


def assert_only_hole_changed(filled, image, hole):
    assert filled.shape == image.shape and filled.dtype == np.float32
    assert filled[~hole].tobytes() == image[~hole].tobytes(), "pixels outside the hole changed"
    changed = (filled != image).any(axis=2)
    assert changed[hole].all(), "a hole pixel kept its value"


def test_model_fill_fills_disjoint_holes_and_keeps_the_rest(lama, rng):
    image = rng.random((60, 90, 3), dtype=np.float32)
    before = image.copy()
    hole = np.zeros((60, 90), bool)
    hole[5:12, 6:14] = True
    hole[40:50, 10:16] = True
    hole[20:26, 60:75] = True
    calls = []
    with InpaintModel(lama.dynamic, device="cpu") as model:
        recording = RecordingModel(model)
        filled = model_fill(image, hole, recording, margin=6,
                            progress=lambda done, total: calls.append((done, total)))
    assert calls == [(1, 3), (2, 3), (3, 3)]
    assert sorted(recording.shapes) == sorted([(18, 20, 3), (22, 18, 3), (18, 27, 3)])
    assert_only_hole_changed(filled, image, hole)
    assert np.array_equal(image, before), "the input was modified"
    assert 0.0 <= filled.min() and filled.max() <= 1.0


def test_model_fill_hole_touching_the_border(lama, rng):
    image = rng.random((33, 47, 3), dtype=np.float32)
    hole = np.zeros((33, 47), bool)
    hole[0:6, 40:47] = True  # top-right corner
    hole[25:33, 0:3] = True  # bottom-left corner
    with InpaintModel(lama.dynamic, device="cpu") as model:
        filled = model_fill(image, hole, model, margin=10)
    assert_only_hole_changed(filled, image, hole)


def test_model_fill_grey_is_the_mean_of_the_colour_fill(lama, rng):
    grey = rng.random((30, 41, 1), dtype=np.float32)
    hole = np.zeros((30, 41), bool)
    hole[8:20, 12:30] = True
    with InpaintModel(lama.dynamic, device="cpu") as model:
        filled = model_fill(grey, hole, model, margin=8)
        colour = model_fill(np.repeat(grey, 3, axis=2), hole, model, margin=8)
    assert filled.shape == (30, 41, 1)
    assert_only_hole_changed(filled, grey, hole)
    np.testing.assert_allclose(filled[..., 0], colour.mean(axis=2), atol=1e-6)


def test_model_fill_resize_strategy_for_large_boxes(lama, rng):
    image = rng.random((50, 80, 3), dtype=np.float32)
    hole = np.zeros((50, 80), bool)
    hole[10:40, 15:65] = True
    hole[12, 70] = True  # one pixel, whose grown box overlaps the large one's
    with InpaintModel(lama.dynamic, device="cpu") as model:
        recording = RecordingModel(model)
        filled = model_fill(image, hole, recording, margin=8, resize_limit=24)
    # one box, rows 2:48 and columns 7:79 (46 x 72), inpainted at 15 x 24
    assert recording.shapes == [(15, 24, 3)]
    assert_only_hole_changed(filled, image, hole)


def test_model_fill_with_a_fixed_size_model_leaves_resizing_to_it(lama, rng):
    image = rng.random((90, 120, 3), dtype=np.float32)
    hole = np.zeros((90, 120), bool)
    hole[30:60, 40:100] = True
    with InpaintModel(lama.fixed, device="cpu") as model:
        recording = RecordingModel(model)
        filled = model_fill(image, hole, recording, margin=20, resize_limit=32)
    assert recording.shapes == [(70, 100, 3)]
    assert_only_hole_changed(filled, image, hole)


def test_model_fill_without_holes_returns_a_copy(lama, rng):
    image = rng.random((12, 16, 3), dtype=np.float32)
    with InpaintModel(lama.dynamic, device="cpu") as model:
        filled = model_fill(image, np.zeros((12, 16), bool), model)
    assert filled is not image and filled.tobytes() == image.tobytes()
