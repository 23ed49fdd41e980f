"""The public Python API: burnish.Recipe and the one-step functions give what `burnish run`
and the kernels give, with the ops' declared parameters as their real signatures."""

from __future__ import annotations

import inspect

import numpy as np
import pytest

import burnish
from burnish.engine.imageio import read_image, write_image
from burnish.engine.ops import OPS
from burnish.errors import OptionError

from conftest import random_image, run_cli

RECIPE = """
[[steps]]
op = "remove"
boxes = ["6,5,9,7"]
[[steps]]
op = "upscale"
model = "lanczos"
scale = 2
[[steps]]
op = "lut"
file = "look.cube"
[[steps]]
op = "adjust"
exposure = -0.4
boxes = ["3,3,20,12"]
[[steps]]
op = "encode"
format = "png"
"""


def write_cube(path, size=5):
    """A 3D LUT that swaps red and blue and darkens a little."""
    grid = np.linspace(0, 1, size)
    lines = [f"LUT_3D_SIZE {size}"]
    for b in grid:
        for g in grid:
            for r in grid:
                lines.append(f"{0.9 * b:.6f} {0.9 * g:.6f} {0.9 * r:.6f}")
    path.write_text("\n".join(lines) + "\n")


def test_a_loaded_recipe_applied_to_an_array_is_what_burnish_run_writes(tmp_path, rng,
                                                                       monkeypatch, capsys):
    write_cube(tmp_path / "look.cube")
    (tmp_path / "recipe.toml").write_text(RECIPE)
    image = random_image(rng, 31, 42, 3)
    write_image(tmp_path / "in.png", image)
    code, _, err = run_cli(monkeypatch, capsys, "run", tmp_path / "recipe.toml",
                           tmp_path / "in.png", "-o", f"{tmp_path / 'out'}/")
    assert code == 0, err
    written, _ = read_image(tmp_path / "out" / "in.png")
    recipe = burnish.Recipe.load(tmp_path / "recipe.toml")
    applied = recipe.apply(image)
    assert applied.shape == (62, 84, 3) and applied.dtype == np.uint8
    np.testing.assert_array_equal(applied, written)
    assert [step["op"] for step in recipe.steps] == ["remove", "upscale", "lut", "adjust",
                                                     "encode"]
    # the same steps given in Python, the LUT relative to base
    steps = burnish.Recipe.from_steps(recipe.steps, base=tmp_path)
    np.testing.assert_array_equal(steps.apply(image), written)
    assert steps.sha256 == recipe.sha256


def test_a_grey_image_comes_back_with_its_own_number_of_dimensions(rng):
    grey = random_image(rng, 9, 13, 1)[..., 0]
    out = burnish.Recipe.from_steps([{"op": "resize", "width": 26, "filter": "nearest"}]).apply(grey)
    np.testing.assert_array_equal(out, np.repeat(np.repeat(grey, 2, 0), 2, 1))


def test_one_step_functions_are_the_kernels(rng, tmp_path):
    from burnish import kernels

    image = random_image(rng, 17, 23, 4, np.uint16)
    out = burnish.adjust(image, exposure=0.6, saturation=1.2)
    colour = np.ascontiguousarray(image[..., :3])
    np.testing.assert_array_equal(out[..., :3],
                                  kernels.saturation(kernels.exposure(colour, 0.6), 1.2))
    np.testing.assert_array_equal(out[..., 3], image[..., 3])
    np.testing.assert_array_equal(burnish.crop(image, box="2,3,10,5"), image[3:8, 2:12])
    reference = random_image(rng, 20, 20, 3, np.uint16)
    write_image(tmp_path / "look.png", reference)
    matched = burnish.match_colour(image, reference=tmp_path / "look.png", method="mkl")
    expected = kernels.limit_fine_detail(kernels.mkl(colour, reference), colour)
    assert np.abs(matched[..., :3].astype(np.int64) - expected).max() <= 65535 // 255


@pytest.mark.parametrize("name", ["adjust", "lut", "match_colour", "match_grain", "resize",
                                  "crop"])
def test_a_step_functions_signature_is_its_ops_declaration(name):
    signature = inspect.signature(getattr(burnish, name))
    image, *params = signature.parameters.values()
    assert image.kind is inspect.Parameter.POSITIONAL_ONLY
    assert [p.name for p in params] == [p.name for p in OPS[name].params]
    assert all(p.kind is inspect.Parameter.KEYWORD_ONLY for p in params)
    for param, declared in zip(params, OPS[name].params):
        assert param.default == (inspect.Parameter.empty if declared.required
                                 else declared.default)
    assert OPS[name].summary in getattr(burnish, name).__doc__


def test_the_engines_functions_show_their_real_signatures():
    assert "scale" in inspect.signature(burnish.upscale).parameters
    assert "dilate" in inspect.signature(burnish.remove).parameters
    assert {"Recipe", "upscale", "remove", "adjust"} <= set(dir(burnish))
    with pytest.raises(AttributeError, match="no attribute 'upscal'"):
        burnish.upscal  # noqa: B018


def test_bad_steps_fail_before_any_pixel_with_the_step_named(rng):
    image = random_image(rng, 8, 8, 3)
    with pytest.raises(OptionError, match="exposur.*did you mean 'exposure'"):
        burnish.adjust(image, exposur=1.0)
    with pytest.raises(OptionError, match="reference: required"):
        burnish.match_colour(image)
    with pytest.raises(OptionError, match="step 2"):
        burnish.Recipe.from_steps([{"op": "adjust"}, {"op": "upscal"}])
    with pytest.raises(OptionError, match="NumPy array"):
        burnish.Recipe.from_steps([{"op": "adjust"}]).apply([[1, 2]])
