"""The ``cutout`` and ``background`` recipe ops (``burnish.engine.ops.matte``): the same
matte as ``burnish cutout``, the new background laid under it as the compositing equation
says, the input's pixels kept where the alpha is 1, and their mistakes one line each."""

from __future__ import annotations

import json

import numpy as np
import pytest
from PIL import Image

from burnish.engine.cutout import cutout
from tests.conftest import run_cli
from tests.test_detection import _composite

pytest.importorskip("pymatting")

BOX = "35,15,130,130"


def _run(tmp_path, monkeypatch, capsys, recipe: str, *inputs, out="out"):
    (tmp_path / "recipe.toml").write_text(recipe)
    return run_cli(monkeypatch, capsys, "run", tmp_path / "recipe.toml", *inputs, "-o",
                   tmp_path / out)


def _laid(tmp_path, monkeypatch, capsys, **background) -> np.ndarray:
    """portrait.png through one background step (the subject: mask.png), read back."""
    params = "".join(f"{key} = {json.dumps(value)}\n" for key, value in background.items())
    code, _, err = _run(tmp_path, monkeypatch, capsys,
                        f'[[steps]]\nop = "background"\nmask = "mask.png"\n{params}',
                        tmp_path / "portrait.png")
    assert code == 0, err
    return np.asarray(Image.open(tmp_path / "out" / "portrait.png")).astype(np.float64)


@pytest.fixture()
def portrait(tmp_path):
    image, alpha, foreground = _composite()
    Image.fromarray(image).save(tmp_path / "portrait.png")
    Image.fromarray(((alpha > 0.5) * 255).astype(np.uint8)).save(tmp_path / "mask.png")
    return image, alpha, foreground


def test_a_recipes_cutout_is_burnish_cutouts(tmp_path, monkeypatch, capsys, portrait):
    image, alpha, _ = portrait
    code, _, err = run_cli(monkeypatch, capsys, "cutout", tmp_path / "portrait.png", "--box",
                           BOX, "-o", tmp_path / "cli.png")
    assert code == 0, err
    code, _, err = _run(tmp_path, monkeypatch, capsys, f"""
[[steps]]
op = "cutout"
detect = "subject"
detect_box = "{BOX}"
""", tmp_path / "portrait.png")
    assert code == 0, err
    by_recipe = np.asarray(Image.open(tmp_path / "out" / "portrait.png"))
    assert by_recipe.shape == (*image.shape[:2], 4)
    np.testing.assert_array_equal(by_recipe, np.asarray(Image.open(tmp_path / "cli.png")))
    code, _, err = _run(tmp_path, monkeypatch, capsys, """
[[steps]]
op = "cutout"
mask = "mask.png"
band = 6
""", tmp_path / "portrait.png", out="masked")
    assert code == 0, err
    np.testing.assert_array_equal(np.asarray(Image.open(tmp_path / "masked" / "portrait.png")),
                                  cutout(image, alpha > 0.5, band=6))


def test_a_new_colour_is_laid_under_the_matte(tmp_path, monkeypatch, capsys, portrait):
    """Against the truth (the known foreground over the new colour): closer than the hard
    mask's paste, in the soft band; the input bit for bit where the alpha is 1; the colour
    itself far from the subject."""
    image, alpha, foreground = portrait
    laid = _laid(tmp_path, monkeypatch, capsys, colour="#20c040")
    assert laid.shape == image.shape
    green = np.float64([0x20, 0xC0, 0x40])
    truth = alpha[..., None] * foreground * 255 + (1 - alpha[..., None]) * green
    matte = cutout(image, alpha > 0.5)[..., 3]
    np.testing.assert_array_equal(laid[matte == 255], image[matte == 255])
    assert (laid[matte == 0] == green).all() and (matte == 0).sum() > 0.5 * (alpha == 0).sum()
    pasted = np.where((alpha > 0.5)[..., None], image, green)
    soft = (alpha > 0.05) & (alpha < 0.95)
    assert np.abs(laid - truth)[soft].mean() < 0.5 * np.abs(pasted - truth)[soft].mean()


def test_a_background_image_covers_the_frame(tmp_path, monkeypatch, capsys, portrait):
    image, alpha, _ = portrait
    ramp = np.zeros((90, 300, 3), np.uint8)  # wider than the frame: scaled to its height
    ramp[..., 0] = np.linspace(0, 255, 300).astype(np.uint8)
    ramp[..., 2] = 200
    Image.fromarray(ramp).save(tmp_path / "sky.png")
    laid = _laid(tmp_path, monkeypatch, capsys, backdrop="sky.png")
    far = alpha == 0
    assert np.abs(laid[..., 2][far] - 200).max() <= 1
    # 90 x 300 scaled by 160 / 90 to 160 x 533, centred: the frame's left edge is the
    # sky's column (533 - 200) / 2 / 533 * 300, about 94 (red 80)
    assert abs(laid[80, 2, 0] - 80) <= 4 and laid[80, 197, 0] > laid[80, 2, 0] + 80


def test_a_blurred_background_leaves_the_subject_out_of_the_blur(tmp_path, monkeypatch,
                                                                   capsys, portrait):
    """Just outside the subject the blur is the background's colour, not a halo of the
    subject's (a plain blur of the image spreads the subject's red there)."""
    from scipy import ndimage

    image, alpha, _ = portrait
    laid = _laid(tmp_path, monkeypatch, capsys, blur=12)
    y, x = np.mgrid[0:160, 0:200]
    ring = (np.hypot(x - 100, y - 80) > 70) & (np.hypot(x - 100, y - 80) < 76)
    plain = np.stack([ndimage.gaussian_filter(image[..., c].astype(float), 12)
                      for c in range(3)], -1)
    background_red = image[..., 0][alpha == 0].mean()
    assert abs(laid[..., 0][ring].mean() - background_red) < 0.5 * abs(
        plain[..., 0][ring].mean() - background_red)


@pytest.mark.parametrize("step, problem", [
    ('op = "background"\nmask = "mask.png"', "give one new background: colour, backdrop (an image) or blur"),
    ('op = "background"\nmask = "mask.png"\ncolour = "#fff000"\nblur = 3',
     "not colour and blur"),
    ('op = "cutout"', "say what the subject is"),
    ('op = "cutout"\ndetect = "text"', "not text"),
    ('op = "cutout"\nmask = "mask.png"\nband = 0', "band"),
    ('op = "cutout"\nmask = "mask.png"\nfeather = 3', "unknown parameter 'feather'"),
])
def test_recipe_mistakes_are_one_line(tmp_path, monkeypatch, capsys, portrait, step, problem):
    code, _, err = _run(tmp_path, monkeypatch, capsys, f"[[steps]]\n{step}\n",
                        tmp_path / "portrait.png")
    assert code != 0 and problem in err and len(err.strip().splitlines()) == 1, err


def test_a_cutout_to_jpeg_is_refused_per_file_and_the_rest_written(tmp_path, monkeypatch,
                                                                    capsys, portrait):
    image, _, _ = portrait
    Image.fromarray(image).save(tmp_path / "portrait.jpg", quality=95)
    Image.fromarray(np.full((80, 100, 3), 90, np.uint8)).save(tmp_path / "plain.png")
    code, _, err = _run(tmp_path, monkeypatch, capsys, """
[[steps]]
op = "cutout"
mask = "mask.png"
""", tmp_path / "portrait.jpg", tmp_path / "portrait.png", tmp_path / "plain.png")
    assert code != 0
    lines = err.strip().splitlines()
    assert any("portrait.jpg" in line and "alpha is not supported by JPEG" in line
               for line in lines), err
    assert any("the image is 100x80" in line for line in lines), err  # plain.png's
    assert lines[-1] == "1 written, 2 failed"
    assert (tmp_path / "out" / "portrait.png").is_file()
    assert not (tmp_path / "out" / "portrait.jpg").exists()
    assert not (tmp_path / "out" / "plain.png").exists()


def test_the_python_api_has_both_ops_and_the_detector(portrait):
    import burnish

    image, alpha, _ = portrait
    subject = burnish.Detector("subject", box=BOX).mask(image)
    np.testing.assert_array_equal(
        burnish.cutout(image, detect="subject", detect_box=BOX), cutout(image, subject))
    laid = burnish.background(image, detect="subject", detect_box=BOX, colour="#ffffff")
    assert laid.shape == image.shape and laid.dtype == np.uint8
