"""Prompted segmentation (Segment Anything's encoder/decoder contract): a tiny random-weight
pair exported here (``tests/sam_builder.py``) whose masks say where the prompt was placed,
so each test can check the box and points reach the decoder in its frame, the best mask is
taken, and the mask comes back at the image's size; bad pairs and prompts are one-line
errors; ``burnish mask`` and ``burnish remove --detect`` take the prompts."""

from __future__ import annotations

import numpy as np
import pytest
from PIL import Image

pytest.importorskip("torch")

from burnish.engine.detection import Detector  # noqa: E402
from burnish.engine.edit_masks import box_mask  # noqa: E402
from burnish.errors import InputError, ModelError, OptionError  # noqa: E402
from burnish.models.segmentation import sam_pair  # noqa: E402
from tests.conftest import run_cli, structured_image  # noqa: E402
from tests.onnx_builders import map_contract_model  # noqa: E402
from tests.sam_builder import build_sam_pair  # noqa: E402

SIDE = 128


@pytest.fixture(scope="module")
def pair(tmp_path_factory):
    return build_sam_pair(tmp_path_factory.mktemp("sam"), side=SIDE)


@pytest.fixture(scope="module")
def low_res_pair(tmp_path_factory):
    return build_sam_pair(tmp_path_factory.mktemp("sam-low"), side=SIDE, low_res=True)


@pytest.mark.parametrize("height, width", [(97, 151), (151, 97), (64, 64)])
def test_a_box_prompt_gives_the_boxed_subject_at_the_images_size(pair, height, width):
    image = np.random.default_rng(height).integers(0, 256, (height, width, 3), np.uint8)
    box = f"{width // 5},{height // 6},{width // 3},{height // 2}"
    found = Detector("subject", model=pair[1], box=box).mask(image)
    truth = box_mask((height, width), tuple(float(v) for v in box.split(",")))
    assert found.shape == (height, width)
    # The decoder's box mask compares pixel centres with the corners carried through the
    # resize and back, in float32: equal but for rounding on the box's edge.
    assert (found != truth).sum() <= height + width
    assert (found & truth).sum() / (found | truth).sum() > 0.97
    np.testing.assert_array_equal(Detector("background", model=pair[1], box=box).mask(image),
                                  ~found)


def test_points_prompt_the_subject_and_a_point_labelled_0_takes_away(pair):
    image = structured_image(100, 140)
    radius = SIDE / 8 * 140 / SIDE  # the decoder's disk, in the image's pixels
    y, x = np.mgrid[0:100, 0:140] + 0.5
    on = Detector("subject", model=pair[0], points=["40,50"]).mask(image)
    disk = np.hypot(x - 40, y - 50) < radius
    assert (on & disk).sum() / (on | disk).sum() > 0.9
    both = Detector("subject", model=pair[0], points=["40,50", "100,30"]).mask(image)
    assert both[30, 100] and both[50, 40]
    cut = Detector("subject", model=pair[0], points=["40,50", "62,50,0"]).mask(image)
    assert cut[50, 30] and not cut[50, 52] and cut.sum() < on.sum()


def test_a_low_res_export_is_cropped_from_its_padded_square(low_res_pair):
    """Without SAM's postprocessing in the export, its masks cover the padded square: the
    image's part is cropped and resized back."""
    image = structured_image(90, 160)
    found = Detector("subject", model=low_res_pair[1], box="30,20,60,40").mask(image)
    truth = box_mask((90, 160), (30, 20, 60, 40))
    assert (found & truth).sum() / (found | truth).sum() > 0.85


def test_the_pair_is_found_from_either_file_or_their_folder(pair, tmp_path):
    encoder, decoder = pair
    assert sam_pair(encoder) == sam_pair(decoder) == sam_pair(encoder.parent) == pair
    lone = tmp_path / "lonely_decoder.onnx"
    lone.write_bytes(decoder.read_bytes())
    with pytest.raises(ModelError) as caught:
        Detector("subject", model=lone, box="1,1,5,5")
    assert "lonely_encoder.onnx is not beside it" in str(caught.value)
    assert "\n" not in str(caught.value)


def test_bad_pairs_and_prompts_are_one_line_errors(pair, tmp_path):
    encoder, _ = pair
    not_a_decoder = map_contract_model(tmp_path / "x_decoder.onnx")
    (tmp_path / "x_encoder.onnx").write_bytes(encoder.read_bytes())
    with pytest.raises(ModelError) as caught:
        Detector("subject", model=not_a_decoder, box="1,1,5,5")
    assert "expected a SAM decoder" in str(caught.value) and "x_decoder.onnx" in str(caught.value)
    problems = [
        (OptionError, {"model": pair[1]}, "needs a box or points"),
        (OptionError, {"box": "5,5,20,20", "points": ["3,3"]}, "points are prompts for a "
                                                                "prompted model"),
        (OptionError, {"model": pair[1], "points": ["3,3,2"]}, "LABEL 1"),
        (OptionError, {"model": pair[1], "points": ["3,x"]}, "not a list of numbers"),
    ]
    for error, options, problem in problems:
        with pytest.raises(error) as caught:
            Detector("subject", **options)
        assert problem in str(caught.value) and "\n" not in str(caught.value)
    image = structured_image(40, 50)
    with pytest.raises(InputError, match="outside the 50x40 image"):
        Detector("subject", model=pair[1], points=["60,10"]).mask(image)
    with pytest.raises(InputError, match="subject box"):
        Detector("subject", model=pair[1], box="80,80,5,5").mask(image)


def test_burnish_mask_and_remove_take_the_prompts(pair, tmp_path, monkeypatch, capsys):
    image = structured_image(90, 120)
    Image.fromarray(image).save(tmp_path / "scene.png")
    code, out, err = run_cli(monkeypatch, capsys, "mask", tmp_path / "scene.png", "--detect",
                             "subject", "--model", pair[0], "--box", "20,10,40,30",
                             "--point", "90,70")
    assert code == 0, err
    written = np.asarray(Image.open(tmp_path / "masks" / "scene.png")) > 0
    # A box and a point: the decoder ranks the box's mask first.
    truth = box_mask((90, 120), (20, 10, 40, 30))
    assert (written & truth).sum() / (written | truth).sum() > 0.95
    assert "subject (tiny_sam.decoder.onnx)" in out
    code, _, err = run_cli(monkeypatch, capsys, "remove", tmp_path / "scene.png", "--detect",
                           "subject", "--detect-model", pair[1], "--detect-box", "20,10,40,30",
                           "-o", tmp_path / "clean.png")
    assert code == 0, err
    code, _, err = run_cli(monkeypatch, capsys, "remove", tmp_path / "scene.png", "--mask",
                           tmp_path / "masks" / "scene.png", "-o", tmp_path / "by_mask.png")
    assert code == 0, err
    np.testing.assert_array_equal(np.asarray(Image.open(tmp_path / "clean.png")),
                                  np.asarray(Image.open(tmp_path / "by_mask.png")))
    code, _, err = run_cli(monkeypatch, capsys, "remove", tmp_path / "scene.png",
                           "--detect-point", "3,3")
    assert code != 0 and "go with --detect KIND" in err


# ---- detect in recipes ---------------------------------------------------------------------

def test_a_recipes_detect_removes_what_burnish_remove_detect_does(pair, tmp_path, monkeypatch,
                                                                   capsys):
    """``detect`` in a recipe's region (its model opened once per worker) gives the bytes of
    ``burnish remove --detect`` with the same prompt; united with a box; and with
    ``coordinates = "input"`` after an upscale its prompt is moved as a box would be."""
    image = structured_image(80, 100)
    for name in ("a.png", "b.png"):
        Image.fromarray(image).save(tmp_path / name)
    code, _, err = run_cli(monkeypatch, capsys, "remove", tmp_path / "a.png", "--detect",
                           "subject", "--detect-model", pair[1], "--detect-box", "20,10,30,25",
                           "--box", "70,50,10,10", "-o", tmp_path / "cli.png")
    assert code == 0, err
    (tmp_path / "remove.toml").write_text(f"""
[[steps]]
op = "remove"
detect = "subject"
detect_model = "{pair[1]}"
detect_box = "20,10,30,25"
boxes = ["70,50,10,10"]
""")
    code, _, err = run_cli(monkeypatch, capsys, "run", tmp_path / "remove.toml",
                           tmp_path / "a.png", tmp_path / "b.png", "-o", tmp_path / "out")
    assert code == 0, err
    by_recipe = np.asarray(Image.open(tmp_path / "out" / "a.png"))
    np.testing.assert_array_equal(by_recipe, np.asarray(Image.open(tmp_path / "cli.png")))
    np.testing.assert_array_equal(np.asarray(Image.open(tmp_path / "out" / "b.png")), by_recipe)
    assert not np.array_equal(by_recipe[10:35, 20:50], image[10:35, 20:50])

    (tmp_path / "moved.toml").write_text(f"""
[[steps]]
op = "resize"
width = 200
[[steps]]
op = "adjust"
exposure = 1.0
detect = "subject"
detect_model = "{pair[1]}"
detect_box = "20,10,30,25"
coordinates = "input"
""")
    code, _, err = run_cli(monkeypatch, capsys, "run", tmp_path / "moved.toml",
                           tmp_path / "a.png", "-o", tmp_path / "moved")
    assert code == 0, err
    moved = np.asarray(Image.open(tmp_path / "moved" / "a.png")).astype(int)
    # The same box given at the step's scale (the image was doubled).
    step_scale = (tmp_path / "moved.toml").read_text().replace(
        'detect_box = "20,10,30,25"\ncoordinates = "input"', 'detect_box = "40,20,60,50"')
    (tmp_path / "step.toml").write_text(step_scale)
    code, _, err = run_cli(monkeypatch, capsys, "run", tmp_path / "step.toml",
                           tmp_path / "a.png", "-o", tmp_path / "plain")
    assert code == 0, err
    np.testing.assert_array_equal(moved, np.asarray(Image.open(tmp_path / "plain" / "a.png")))
    resized = np.asarray(Image.fromarray(image).resize((200, 160), Image.LANCZOS)).astype(int)
    changed = np.abs(moved - resized).sum(axis=2) > 30
    rows, columns = np.nonzero(changed)
    assert 35 <= columns.min() and columns.max() <= 104 and 15 <= rows.min() and rows.max() <= 74


def test_a_recipes_detect_mistakes_are_one_line(pair, tmp_path, monkeypatch, capsys):
    Image.fromarray(structured_image(40, 50)).save(tmp_path / "a.png")
    cases = [
        ('op = "remove"\ndetect_box = "1,2,3,4"', "detect_box go with detect"),
        ('op = "remove"\ndetect = "faces"', "detect: must be one of text, subject, background"),
        ('op = "adjust"\ndetect = "subject"\ndetect_points = ["1,x"]', "not a list of numbers"),
        ('op = "remove"\ndetect = "subject"\ndetect_model = "missing.onnx"', "file not found"),
        ('op = "remove"\ndetect = "subject"', "needs a box around the subject"),
        ('op = "adjust"\ndetect = "text"\ndetect_box = "1,2,3,4"', "not text"),
    ]
    for number, (step, problem) in enumerate(cases):
        recipe = tmp_path / f"bad{number}.toml"
        recipe.write_text(f"[[steps]]\n{step}\n")
        code, _, err = run_cli(monkeypatch, capsys, "run", recipe, tmp_path / "a.png", "-o",
                               tmp_path / "out")
        assert code != 0 and problem in err, err
        assert len(err.strip().splitlines()) == 1, err
