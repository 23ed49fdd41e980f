"""burnish's own text detector: the ``text-mask`` contract (random-weight networks of the
shipped architecture, exported by the training recipe's exporter), tiled equal to untiled,
bad files as one-line errors, the shipped model on an overlay with a known mask, the
overlays' masks, and the training recipe's checkpoint and resume."""

from __future__ import annotations

import json
import shutil

import numpy as np
import onnx
import pytest
import torch
from PIL import Image, ImageDraw, ImageFont

from burnish.engine.detection import Detector, tiled_map
from burnish.errors import ModelError
from burnish.export.overlays import font_files, overlay_case
from burnish.export.text_masks import SIZE_MULTIPLE, TextMaskNet, export_onnx
from burnish.kernels import dilate
from burnish.models import segmentation
from burnish.models.segmentation import MapModel, shipped_text_mask
from tests.conftest import run_cli


@pytest.fixture(scope="module")
def random_net(tmp_path_factory):
    """A random-weight TextMaskNet, its ONNX export (threshold 0.37) and the network."""
    torch.manual_seed(3)
    net = TextMaskNet().eval()
    with torch.no_grad():  # centre a random net's map on the threshold, spread round it
        net.head.weight.mul_(8.0)
        net.head.bias.fill_(0.0)
        found = net(torch.rand(1, 3, 64, 64, generator=torch.Generator().manual_seed(1)))
        logits = torch.logit(found.clamp(1e-6, 1 - 1e-6))
        net.head.bias.fill_(float(torch.logit(torch.tensor(0.37)) - logits.median()))
    path = tmp_path_factory.mktemp("text-mask") / "tm.onnx"
    export_onnx(net, path, threshold=0.37)
    return path, net


def _torch_map(net, rgb: np.ndarray) -> np.ndarray:
    """The network's map of an RGB float image, padded by edge replication as the contract
    says, cropped back."""
    height, width = rgb.shape[:2]
    padded = np.pad(rgb, ((0, -height % SIZE_MULTIPLE), (0, -width % SIZE_MULTIPLE), (0, 0)),
                    mode="edge")
    with torch.no_grad():
        found = net(torch.from_numpy(padded.transpose(2, 0, 1).copy())[None])
    return found[0, 0, :height, :width].numpy()


def test_a_text_mask_model_is_known_by_its_metadata_and_runs_at_full_resolution(random_net,
                                                                                  rng):
    path, net = random_net
    model = MapModel(path, contract="text")
    assert model.is_text_mask and model.threshold == pytest.approx(0.37)
    assert model.multiple == SIZE_MULTIPLE and model.input_size(37, 53) == (48, 64)
    pixels = rng.integers(0, 256, (37, 53, 3), dtype=np.uint8)
    found = model.predict(pixels)
    assert found.shape == (37, 53)
    np.testing.assert_allclose(found, _torch_map(net, pixels.astype(np.float32) / 255),
                               atol=2e-5)
    mask = Detector("text", model=path).mask(pixels)
    np.testing.assert_array_equal(mask, found > 0.37)
    assert 0 < mask.mean() < 1  # the threshold cuts through the map: the check can fail


def test_a_lower_threshold_adds_the_pixels_connected_to_text(random_net, tmp_path, rng):
    """``burnish.threshold_low``: pixels above it count where 8-connected to a pixel above
    ``burnish.threshold``, through such pixels (the same as SciPy's labelling keeps)."""
    from scipy import ndimage

    pixels = rng.integers(0, 256, (61, 83, 3), dtype=np.uint8)
    found = MapModel(random_net[0], contract="text").predict(pixels)
    low, high = (float(np.quantile(found, q)) for q in (0.75, 0.97))  # a random net's spread
    path = _with_metadata(random_net[0], tmp_path / "low.onnx", threshold=f"{high}",
                          threshold_low=f"{low}")
    model = MapModel(path, contract="text")
    assert (model.threshold, model.threshold_low) == pytest.approx((high, low))
    labels, _ = ndimage.label(found > low, structure=np.ones((3, 3)))
    kept = np.unique(labels[found > high])
    expected = np.isin(labels, kept[kept > 0])
    mask = Detector("text", model=path).mask(pixels)
    np.testing.assert_array_equal(mask, expected)
    assert (found > high).sum() < mask.sum() < (found > low).sum()


@pytest.mark.parametrize("shape", [(301, 263, 3), (97, 411, 3)])
def test_tiles_give_what_the_whole_image_gives(random_net, rng, shape):
    """Tiles far smaller than the image, read with the detector's halo: equal on every core
    to one call on the whole image (the halo covers the network's receptive field)."""
    path, _ = random_net
    model = MapModel(path, contract="text")
    pixels = rng.random(shape, dtype=np.float32)
    whole = model.predict(pixels)
    tiled = tiled_map(model.predict, pixels, tile=64, multiple=model.multiple)
    np.testing.assert_allclose(tiled, whole, atol=1e-5)


def _with_metadata(source, target, **fields):
    graph = onnx.load(str(source))
    for entry in graph.metadata_props:
        key = entry.key.removeprefix("burnish.")
        if key in fields:
            entry.value = fields[key]
    onnx.save(graph, str(target))
    return target


@pytest.mark.parametrize("field, value, problem", [
    ("threshold", "high", "burnish.threshold 'high' is not a number between 0 and 1"),
    ("threshold", "1.5", "is not a number between 0 and 1"),
    ("size_multiple", "zero", "size_multiple"),
    ("threshold_low", "-1", "burnish.threshold_low '-1' is not a number between 0 and 1"),
    ("threshold_low", "0.9", "burnish.threshold_low 0.9 is above burnish.threshold 0.37"),
])
def test_bad_text_mask_metadata_is_a_one_line_error(random_net, tmp_path, field, value,
                                                    problem):
    path = _with_metadata(random_net[0], tmp_path / "bad.onnx", **{field: value})
    with pytest.raises(ModelError) as caught:
        Detector("text", model=path)
    message = str(caught.value)
    assert problem in message and "bad.onnx" in message and "\n" not in message


def test_a_shipped_model_that_does_not_match_its_hash_is_refused(random_net, tmp_path,
                                                                 monkeypatch):
    shutil.copy(random_net[0], tmp_path / "text-mask.onnx")
    (tmp_path / "manifest.json").write_text(json.dumps({"models": [], "mask_models": [
        {"name": "text-mask", "file": "text-mask.onnx", "sha256": "0" * 64}]}))
    monkeypatch.setattr(segmentation, "SHIPPED_DIR", tmp_path)
    with pytest.raises(ModelError, match="does not match its manifest hash"):
        shipped_text_mask()
    (tmp_path / "manifest.json").write_text(json.dumps({"models": []}))
    assert shipped_text_mask() is None


def _font(size: int):
    faces = font_files(holdout=False) + font_files(holdout=True)
    return ImageFont.truetype(str(faces[0]), size) if faces else ImageFont.load_default(size)


@pytest.mark.skipif(shipped_text_mask() is None, reason="this installation has no text-mask")
def test_the_shipped_model_finds_text_over_a_photo_like_image():
    """White and black words over a photo it was not trained on (scikit-image's moon):
    most of their pixels found, little else (both masks grown by the default 4 pixels, as
    burnish remove grows them). Not over synthetic texture: its sharp random edges are
    marked as text (13% of ``structured_image``), a known weakness (BENCHMARKS.md)."""
    skimage_data = pytest.importorskip("skimage.data")

    image = np.asarray(Image.fromarray(skimage_data.moon()).convert("RGB").resize((400, 240)))
    layer = Image.new("L", (400, 240), 0)
    draw = ImageDraw.Draw(layer)
    draw.text((20, 20), "Proof 2026", font=_font(48), fill=255)
    draw.text((60, 150), "sample only", font=_font(28), fill=255)
    alpha = np.asarray(layer, np.float32)[..., None] / 255
    colour = np.zeros_like(image, np.float32)
    colour[120:] = 255  # the second line white, the first black
    pixels = np.rint(image * (1 - alpha) + colour * alpha).astype(np.uint8)
    truth = np.asarray(layer) > 0
    found = Detector("text").mask(pixels)
    truth, found = dilate(truth, 4), dilate(found, 4)
    recall = (found & truth).sum() / truth.sum()
    iou = (found & truth).sum() / (found | truth).sum()
    assert recall > 0.8 and iou > 0.5, (recall, iou)
    plain = Detector("text").mask(image)
    assert plain.mean() < 0.02  # the scene without text: (almost) nothing


def test_overlay_masks_cover_what_was_drawn(rng):
    """Each overlay's mask is where the composite differs from the photo (an overlay in
    the photo's own colour hides some of its pixels, never the other way round)."""
    photo = np.full((96, 128, 3), 120, np.uint8)
    faces = font_files(holdout=False) or pytest.skip("no TrueType faces on this machine")
    drawn = 0
    for _ in range(20):
        image, truth = overlay_case(rng, photo, faces)
        changed = np.any(image != photo, axis=2)
        assert not (changed & ~truth).any()
        drawn += truth.any()
    assert drawn > 0


def test_hard_negatives_are_crops_around_where_the_model_fires(tmp_path, rng):
    """A stand-in model that says text on the bright square of a clean photo: every
    mined crop holds a pixel of that square; one that finds nothing mines nothing."""
    from burnish.export.text_masks import CROP, OverlaySampler

    faces = font_files(holdout=False) or pytest.skip("no TrueType faces on this machine")
    photo = rng.integers(0, 100, (480, 640, 3), dtype=np.uint8)
    square = (slice(300, 340), slice(500, 540))
    photo[square] = 255
    Image.fromarray(photo).save(tmp_path / "p.png")

    class Bright(torch.nn.Module):
        def forward(self, image):
            return (image.mean(dim=1, keepdim=True) > 0.99).float()

    sampler = OverlaySampler([tmp_path / "p.png"], faces, seed=int(rng.integers(2**31)))
    assert sampler.mine(Bright()) > 0
    for number, top, left in sampler.hard:
        image = sampler.images[number]
        crop = image[top:top + CROP, left:left + CROP]
        assert crop.shape[:2] == (CROP, CROP)
        assert (crop.min(axis=2) == 255).any(), "a mined crop misses what the model found"

    class Silent(torch.nn.Module):
        def forward(self, image):
            return torch.zeros_like(image[:, :1])

    assert sampler.mine(Silent()) == 0 and not sampler.hard


def test_training_checkpoints_and_resumes(tmp_path):
    """Two steps, then a resume to four: the checkpoint carries the step count, and the
    export opens as a text-mask model with its manifest entry beside the upscalers'."""
    from burnish.export import text_masks

    if not font_files(holdout=False):
        pytest.skip("no TrueType faces on this machine")
    photos = tmp_path / "photos"
    photos.mkdir()
    for number in range(2):
        Image.fromarray(np.random.default_rng(number).integers(0, 256, (300, 400, 3),
                                                                dtype=np.uint8)
                        ).save(photos / f"p{number}.jpg")
    out, work = tmp_path / "out", tmp_path / "work"
    common = ["--photos", str(photos), "--out", str(out), "--work", str(work), "--batch", "2",
              "--threads", "1"]
    text_masks.main([*common, "--max-steps", "2"])
    assert torch.load(work / "checkpoint.pt", weights_only=False)["step"] == 2
    text_masks.main([*common, "--max-steps", "4", "--resume"])
    entry = json.loads((out / "manifest.json").read_text())["mask_models"][0]
    assert entry["name"] == "text-mask" and entry["training"]["steps"] == 4
    assert MapModel(out / "text-mask.onnx", contract="text").is_text_mask


def test_models_list_shows_the_mask_models(monkeypatch, capsys):
    code, out, _ = run_cli(monkeypatch, capsys, "models", "list")
    assert code == 0 and "compact-x4" in out
    assert ("text-mask" in out and "--detect text" in out) == (shipped_text_mask() is not None)
