"""Automatic masks (``burnish.engine.detection``): each source on generated images with known
masks, tiny ONNX models of each contract (built here, random or chosen weights), bad models
and prompts as one-line errors, and ``burnish mask`` / ``burnish remove --detect``."""

from __future__ import annotations

import numpy as np
import pytest
from PIL import Image

from burnish.engine.detection import Detector, grow_like_db
from burnish.errors import InputError, ModelError, OptionError
from burnish.models.segmentation import MapModel
from tests.conftest import run_cli, structured_image
from tests.onnx_builders import identity_model, inpaint_contract_model, map_contract_model


def _scene(height=120, width=160):
    """A bright disc (the subject) on a dark, textured background; its true mask."""
    rng = np.random.default_rng(0)
    y, x = np.mgrid[0:height, 0:width]
    disc = (x - 95) ** 2 + (y - 55) ** 2 < 30 ** 2
    image = rng.integers(10, 70, (height, width, 3)).astype(np.uint8)
    image[disc] = (235, 220, 60) + rng.integers(-10, 10, (int(disc.sum()), 3))
    return image, disc


def _iou(a, b):
    return (a & b).sum() / (a | b).sum()


@pytest.mark.parametrize("size", [32, None])
def test_a_saliency_model_finds_the_subject_and_the_background(tmp_path, size):
    image, disc = _scene()
    model = map_contract_model(tmp_path / "u2net.onnx", size=size,
                               metadata=None if size else {"burnish.input_size": 64})
    subject = Detector("subject", model=model).mask(image)
    assert subject.shape == disc.shape and _iou(subject, disc) > 0.85
    background = Detector("background", model=model).mask(image)
    np.testing.assert_array_equal(background, ~subject)
    assert MapModel(model, contract="saliency").fixed_size == ((32, 32) if size else (64, 64))


def test_a_box_keeps_a_saliency_subject_inside_it(tmp_path):
    image, disc = _scene()
    image[5:25, 5:25] = 250  # a second bright thing, outside the box
    model = map_contract_model(tmp_path / "isnet.onnx")
    everywhere = Detector("subject", model=model).mask(image)
    boxed = Detector("subject", model=model, box="60,20,70,70").mask(image)
    assert everywhere[10:20, 10:20].all() and not boxed[:30, :30].any()
    assert _iou(boxed, disc) > 0.85


def test_grabcut_from_a_box_finds_the_subject():
    image, disc = _scene()
    subject = Detector("subject", box="55,15,80,80").mask(image)
    assert _iou(subject, disc) > 0.9
    again = Detector("subject", box="55,15,80,80").mask(image)
    np.testing.assert_array_equal(subject, again)  # seeded: the same mask every time
    with pytest.raises(InputError, match="whole image"):
        Detector("subject", box="0,0,160,120").mask(image)


def test_text_regions_are_grown_back_like_paddleocr(tmp_path):
    """A dark image with two bright 'lines' and a faint speck: the detector's cores above
    0.3 with a mean of 0.5 are kept and unclipped by area * 1.5 / perimeter."""
    image = np.full((100, 200, 3), 20, np.uint8)
    image[30:40, 20:120] = 255  # a line of text: 100 x 10
    image[70:74, 150:154] = 255  # a 4 x 4 mark
    model = map_contract_model(tmp_path / "det.onnx")
    found = Detector("text", model=model).mask(image)
    line_grow = 100 * 10 * 1.5 / (2 * 110)  # about 6.8 pixels
    assert found[30:40, 20:120].all()
    assert found[30 - 6, 70] and not found[30 - 8, 70]
    assert found[35, 20 - 6] and not found[35, 20 - 8]
    assert found[70:74, 150:154].all() and not found[60, 152]
    assert line_grow > 6
    probability = np.zeros((50, 50), np.float32)
    probability[10:20, 10:20] = 0.35  # above the pixel threshold, below the region's mean
    probability[30:40, 30:32] = 0.9  # too thin
    assert not grow_like_db(probability).any()


def test_random_weight_models_of_each_contract_run_at_any_size(tmp_path):
    rng = np.random.default_rng(5)
    text = MapModel(map_contract_model(tmp_path / "t.onnx", rng=rng), contract="text")
    saliency = MapModel(map_contract_model(tmp_path / "s.onnx", rng=rng, size=48,
                                           output_rank=3, sigmoid=False), contract="saliency")
    for shape in [(37, 53, 3), (101, 29), (64, 64, 4)]:
        pixels = np.random.default_rng(1).integers(0, 65536, shape, dtype=np.uint16)
        for model in (text, saliency):
            found = model.predict(pixels)
            assert found.shape == shape[:2] and found.dtype == np.float32
            assert 0 <= found.min() and found.max() <= 1
    assert text.input_size(37, 53) == (736, 1056)  # short side 736, multiples of 32
    assert text.input_size(100, 4000)[1] <= 2560
    assert saliency.fixed_size == (48, 48)


@pytest.mark.parametrize("make, problem", [
    (lambda p: inpaint_contract_model(p), "one image input 1x3xHxW"),
    (lambda p: identity_model(p, channels=1), "one image input 1x3xHxW"),
    (lambda p: identity_model(p), "not one H x W map"),
    (lambda p: map_contract_model(p, sigmoid=False, gain=100), "not a probability"),
    (lambda p: p.write_bytes(b"not onnx") and p, "not a usable ONNX model"),
])
def test_bad_models_are_one_line_errors(tmp_path, make, problem):
    path = make(tmp_path / "bad.onnx")
    image, _ = _scene()
    with pytest.raises(ModelError) as caught:
        Detector("text", model=path).mask(image)
    message = str(caught.value)
    assert problem in message and "bad.onnx" in message and "\n" not in message


@pytest.mark.parametrize("kind, options, problem", [
    ("faces", {}, "unknown detection 'faces'"),
    ("subject", {}, "needs a box around the subject"),
    ("text", {"box": "1,2,3,4"}, "a box is a prompt for subject"),
    ("subject", {"box": "1,2,x,4"}, "box"),
])
def test_bad_prompts_are_one_line_errors(kind, options, problem):
    with pytest.raises(OptionError) as caught:
        Detector(kind, **options)
    assert problem in str(caught.value) and "\n" not in str(caught.value)


def test_a_box_outside_the_image_is_an_error(tmp_path):
    image, _ = _scene()
    model = map_contract_model(tmp_path / "s.onnx")
    with pytest.raises(InputError, match="subject box"):
        Detector("subject", model=model, box="500,500,10,10").mask(image)


def test_burnish_mask_writes_masks_beside_the_images(tmp_path, monkeypatch, capsys):
    image, disc = _scene()
    Image.fromarray(image).save(tmp_path / "scene.jpg", quality=98)
    (tmp_path / "broken.png").write_bytes(b"\x89PNG\r\n\x1a\n broken")
    model = map_contract_model(tmp_path / "s.onnx")
    code, out, err = run_cli(monkeypatch, capsys, "mask", tmp_path / "scene.jpg",
                             tmp_path / "broken.png", "--detect", "subject", "--model", model,
                             "--grow", "2")
    assert code == 1 and "broken.png" in err and "1 written, 1 failed" in err
    written = np.asarray(Image.open(tmp_path / "masks" / "scene.png"))
    assert written.dtype == np.uint8 and set(np.unique(written)) == {0, 255}
    assert _iou(written > 0, disc) > 0.8 and (written > 0).sum() > disc.sum()
    assert "subject (s.onnx)" in out
    assert not (tmp_path / "masks" / "broken.png").exists()


def test_burnish_remove_detect_removes_what_was_found(tmp_path, monkeypatch, capsys):
    image = structured_image(90, 120)
    image[20:30, 10:100] = 255  # a bright caption
    Image.fromarray(image).save(tmp_path / "captioned.png")
    model = map_contract_model(tmp_path / "det.onnx", gain=40)
    code, _, err = run_cli(monkeypatch, capsys, "mask", tmp_path / "captioned.png",
                           "--detect", "text", "--model", model)
    assert code == 0, err
    found = np.asarray(Image.open(tmp_path / "masks" / "captioned.png")) > 0
    assert found[20:30, 10:100].all()
    code, _, err = run_cli(monkeypatch, capsys, "remove", tmp_path / "captioned.png",
                           "--detect", "text", "--detect-model", model, "-o",
                           tmp_path / "clean.png")
    assert code == 0, err
    by_detection = np.asarray(Image.open(tmp_path / "clean.png"))
    code, _, err = run_cli(monkeypatch, capsys, "remove", tmp_path / "captioned.png",
                           "--mask", tmp_path / "masks" / "captioned.png", "-o",
                           tmp_path / "by_mask.png")
    assert code == 0, err
    np.testing.assert_array_equal(by_detection, np.asarray(Image.open(tmp_path / "by_mask.png")))
    assert by_detection[20:30, 10:100].mean() < 200  # the caption is gone
    code, _, err = run_cli(monkeypatch, capsys, "remove", tmp_path / "captioned.png",
                           "--detect-box", "1,2,3,4")
    assert code != 0 and "go with --detect KIND" in err


# ---- soft cut-outs -------------------------------------------------------------------------

def _composite(height=160, width=200, seed=3):
    """A known foreground with a soft, hair-like edge over a textured background."""
    rng = np.random.default_rng(seed)
    y, x = np.mgrid[0:height, 0:width].astype(np.float64)
    wobble = 6 * np.sin(np.arctan2(y - 80, x - 100) * 23)  # strands around the edge
    alpha = np.clip((50 + wobble - np.hypot(x - 100, y - 80)) / 10 + 0.5, 0, 1)
    foreground = np.stack([np.full_like(x, 0.85), 0.5 + 0.3 * np.sin(x / 9),
                           np.full_like(x, 0.25)], -1)
    background = np.stack([0.1 + 0.3 * rng.random((height, width)),
                           0.3 + 0.2 * np.cos(y / 15), np.full_like(x, 0.6)], -1)
    image = alpha[..., None] * foreground + (1 - alpha[..., None]) * background
    return (np.rint(image * 255).astype(np.uint8), alpha, foreground)


def test_a_cutout_mattes_the_edge_better_than_its_mask_alone():
    """From the hard mask and from GrabCut's: the matte's alpha error (SAD, MSE) and the
    fringe (colour against the true foreground where 0 < alpha < 1) are well below the
    mask's own; where the alpha is 1 the colour is the input's; no colour out of gamut."""
    from burnish.engine.cutout import cutout

    image, alpha, foreground = _composite()
    soft = (alpha > 0.05) & (alpha < 0.95)
    masks = {"hard": alpha > 0.5, "grabcut": Detector("subject", box="35,15,130,130").mask(image)}
    for name, mask in masks.items():
        rgba = cutout(image, mask)
        assert rgba.shape == (*image.shape[:2], 4) and rgba.dtype == np.uint8
        matte = rgba[..., 3] / 255.0
        assert np.abs(matte - alpha).sum() < 0.8 * np.abs(mask - alpha).sum()
        assert ((matte - alpha) ** 2).mean() < 0.8 * ((mask - alpha) ** 2).mean()
        fringe = np.abs(rgba[..., :3] / 255.0 - foreground)[soft & (matte > 0)].mean()
        # the old background's share of the edge's colour: mostly gone from a good mask's
        # matte, less from GrabCut's (its mask misses strands the band cannot reach)
        share = 0.6 if name == "hard" else 0.95
        assert fringe < share * np.abs(image / 255.0 - foreground)[soft].mean()
        whole = rgba[..., 3] == 255
        np.testing.assert_array_equal(rgba[whole, :3], image[whole])  # bit for bit
        for c in range(3):  # no colour the image does not have
            assert image[..., c].min() <= rgba[..., c].min()
            assert rgba[..., c].max() <= image[..., c].max()
    hard_matte = cutout(image, alpha > 0.5)[..., 3] / 255.0
    assert np.abs(hard_matte - alpha).sum() < 0.1 * np.abs((alpha > 0.5) - alpha).sum()


def test_a_cutout_matted_in_windows_agrees_with_one_whole_solve():
    """Windows of 96 pixels (the subject's edge crosses four of them) against one solve of
    the whole image: the alpha within 2 levels, the edge's colour within a few."""
    from burnish.engine.cutout import cutout

    image, alpha, _ = _composite(300, 420, seed=5)
    whole = cutout(image, alpha > 0.5, window=0).astype(int)
    tiled = cutout(image, alpha > 0.5, window=96).astype(int)
    band = (alpha > 0.02) & (alpha < 0.98)
    assert np.abs(whole[..., 3] - tiled[..., 3]).max() <= 2
    assert np.abs(whole[..., :3] - tiled[..., :3])[band].mean() < 5
    errors = [np.abs(matte[..., 3] / 255 - alpha)[band].mean() for matte in (whole, tiled)]
    assert errors[1] < errors[0] + 0.005


def test_cutout_refuses_what_it_cannot_matte():
    from burnish.engine.cutout import cutout

    image, alpha, _ = _composite()
    with pytest.raises(InputError, match="thinner than twice the band"):
        cutout(image, np.zeros(alpha.shape, bool) | (alpha > 0.99) & False)
    with pytest.raises(InputError, match="no background"):
        cutout(image, np.ones(alpha.shape, bool))
    with pytest.raises(OptionError, match="band"):
        cutout(image, alpha > 0.5, band=0)


def test_burnish_cutout_writes_rgba_pngs(tmp_path, monkeypatch, capsys):
    image, alpha, _ = _composite()
    Image.fromarray(image).save(tmp_path / "portrait.png")
    code, _, err = run_cli(monkeypatch, capsys, "cutout", tmp_path / "portrait.png",
                           "--box", "35,15,130,130")
    assert code == 0, err
    written = np.asarray(Image.open(tmp_path / "portrait_cutout.png"))
    assert written.shape == (*image.shape[:2], 4)
    grabcut = Detector("subject", box="35,15,130,130").mask(image)
    assert np.abs(written[..., 3] / 255.0 - alpha).mean() < np.abs(grabcut - alpha).mean()
