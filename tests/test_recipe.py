"""Recipes: every mistake is one line naming the step and the key, before any image is read;
nothing in a recipe can run code or name a file outside the output folder."""

from __future__ import annotations

import json
import os
from pathlib import Path

import numpy as np
import pytest

from burnish.engine.ops import OPS
from burnish.engine.ops.params import Context, render_template
from burnish.engine.recipes.recipe import load_recipe, parse_step, recipe_from_data
from burnish.errors import OptionError


def _load(tmp_path: Path, text: str, suffix: str = ".toml"):
    path = tmp_path / f"recipe{suffix}"
    path.write_text(text)
    return load_recipe(path)


def _error(tmp_path: Path, text: str, suffix: str = ".toml") -> str:
    with pytest.raises(OptionError) as caught:
        _load(tmp_path, text, suffix)
    message = str(caught.value)
    assert "\n" not in message and "Traceback" not in message
    assert message.startswith(str(tmp_path / f"recipe{suffix}"))
    return message


def test_a_full_recipe_loads_with_defaults_filled_in(tmp_path):
    (tmp_path / "grade.cube").write_text("LUT_3D_SIZE 2\n" + "0 0 0\n1 0 0\n0 1 0\n1 1 0\n"
                                         "0 0 1\n1 0 1\n0 1 1\n1 1 1\n")
    recipe = _load(tmp_path, """
name = "campaign"
[[steps]]
op = "upscale"
scale = 2
[[steps]]
op = "remove"
boxes = ["1,2,3,4"]
[[steps]]
op = "lut"
file = "grade.cube"
polygons = ["0,0 10,0 0,10"]
[[steps]]
op = "encode"
format = "jpeg"
quality = 90
name = "{stem}_final"
""")
    assert [s.op.name for s in recipe.steps] == ["upscale", "remove", "lut", "encode"]
    assert recipe.steps[1].params["dilate"] == 4 and recipe.steps[1].params["boxes"] == ["1,2,3,4"]
    assert recipe.encode["quality"] == 90 and recipe.encode["format"] == "jpeg"
    assert recipe.name == "campaign"


def test_json_recipes_are_the_same_recipe(tmp_path):
    toml = _load(tmp_path, '[[steps]]\nop = "adjust"\nexposure = 0.5\n')
    as_json = _load(tmp_path, json.dumps({"steps": [{"op": "adjust", "exposure": 0.5}]}), ".json")
    assert toml.sha256 == as_json.sha256


@pytest.mark.parametrize("text, expected", [
    ('[[steps]]\nop = "upscael"\n', "step 1: unknown op 'upscael' (did you mean 'upscale'?)"),
    ('[[steps]]\nop = "upscale"\n[[steps]]\nop = "remove"\ndilat = 3\nboxes = ["1,1,2,2"]\n',
     "step 2 (remove): unknown parameter 'dilat' (did you mean 'dilate'?)"),
    ('[[steps]]\nop = "upscale"\nscale = 0\n', "step 1 (upscale): scale: 0 is out of range"),
    ('[[steps]]\nop = "upscale"\nscale = 2.5\n', "step 1 (upscale): scale: must be a whole number"),
    ('[[steps]]\nop = "upscale"\nscale = "two"\n', "step 1 (upscale): scale: must be a number"),
    ('[[steps]]\nop = "adjust"\nsaturation = -1\n', "step 1 (adjust): saturation: -1.0 is out of "
     "range [0, 4]"),
    ('[[steps]]\nop = "remove"\n', "step 1 (remove): say what to remove"),
    ('[[steps]]\nop = "remove"\nboxes = ["1,2,3"]\n', "step 1 (remove): boxes: box '1,2,3' needs "
     "four numbers"),
    ('[[steps]]\nop = "remove"\nboxes = ["1,1,4,4"]\npatch = 8\n', "step 1 (remove): patch: must "
     "be odd"),
    ('[[steps]]\nop = "match_colour"\n', "step 1 (match_colour): reference: required"),
    ('[[steps]]\nop = "match_colour"\nreference = "missing.png"\n', "step 1 (match_colour): "
     "reference: file not found"),
    ('[[steps]]\nop = "lut"\nfile = "look.cube"\n', "step 1 (lut): file: file not found"),
    ('[[steps]]\nop = "upscale"\nmodel = "weights.onnx"\n', "step 1 (upscale): model: file not "
     "found"),
    ('[[steps]]\nop = "upscale"\nmodel = "nonsense"\n', "step 1 (upscale): model: unknown model"),
    ('[[steps]]\nop = "crop"\n', "step 1 (crop): give either box or aspect"),
    ('[[steps]]\nop = "crop"\naspect = "4:0"\n', "step 1 (crop): aspect: aspect '4:0' must be two "
     "positive numbers"),
    ('[[steps]]\nop = "resize"\nwidth = 10\nscale = 2.0\n', "step 1 (resize): give either scale"),
    ('[[steps]]\nop = "encode"\n[[steps]]\nop = "upscale"\n', "step 1 (encode): encode must be "
     "the last step"),
    ('[[steps]]\nop = "encode"\nformat = "gif"\n', "step 1 (encode): format: must be one of"),
    ('steps = []\n', "no steps"),
    ('title = "x"\n[[steps]]\nop = "upscale"\n', "unknown key 'title'"),
    ('[[steps]\nop = "upscale"\n', "not valid TOML"),
])
def test_every_mistake_is_one_line_naming_the_step_and_key(tmp_path, text, expected):
    assert expected in _error(tmp_path, text)


def test_bad_json_and_unreadable_recipes(tmp_path):
    assert "not valid JSON" in _error(tmp_path, '{"steps": [', ".json")
    with pytest.raises(OptionError, match="no such recipe"):
        load_recipe(tmp_path / "absent.toml")


def _nested(kind: str, depth: int) -> str:
    if kind == "json":
        return '{"steps": [{"op": "adjust", "exposure": ' + "[" * depth + "]" * depth + "}]}"
    return '[[steps]]\nop = "adjust"\nexposure = ' + "[" * depth + "]" * depth + "\n"


@pytest.mark.parametrize("kind", ["json", "toml"])
@pytest.mark.parametrize("depth", [40, 5000, 200_000])
def test_deeply_nested_recipes_are_one_line(tmp_path, kind, depth):
    """Nesting deep enough to overflow a recursive parser or walker is refused by depth."""
    path = tmp_path / f"deep.{kind}"
    path.write_text(_nested(kind, depth))
    with pytest.raises(OptionError) as caught:
        load_recipe(path)
    message = str(caught.value)
    assert message.startswith(str(path)) and "nested" in message and "\n" not in message


def test_nesting_within_the_limit_reaches_the_checks(tmp_path):
    """Below the limit the recipe is parsed and checked as usual (the depth rule is not a
    blanket refusal of lists)."""
    path = tmp_path / "shallow.toml"
    path.write_text(_nested("toml", 3))
    with pytest.raises(OptionError, match="exposure"):
        load_recipe(path)


@pytest.mark.parametrize("special", ["fifo", "/dev/zero", "folder"])
def test_a_recipe_that_is_not_a_regular_file_is_refused_at_once(tmp_path, special):
    import threading

    if special == "fifo":
        path = tmp_path / "recipe.toml"
        os.mkfifo(path)
    elif special == "folder":
        path = tmp_path / "recipe.toml"
        path.mkdir()
    else:
        path = Path(special)
        if not path.exists():
            pytest.skip("no /dev/zero here")
    outcome = {}

    def load():
        try:
            load_recipe(path)
        except OptionError as error:
            outcome["error"] = str(error)

    worker = threading.Thread(target=load, daemon=True)
    worker.start()
    worker.join(timeout=20)  # a regression would block (FIFO) or read forever (/dev/zero)
    assert not worker.is_alive(), "loading the recipe did not return"
    assert outcome["error"].startswith(str(path))
    assert "directory" in outcome["error"] if special == "folder" else "not a regular file" in outcome["error"]


@pytest.mark.parametrize("name", ["../escape", "/etc/passwd", "sub/dir", "..", ".hidden",
                                  "{stem}/../../x", "a\\b"])
def test_output_names_cannot_leave_the_output_folder(tmp_path, name):
    text = f'[[steps]]\nop = "encode"\nname = {json.dumps(name)}\n'
    assert "step 1 (encode): name:" in _error(tmp_path, text)


@pytest.mark.parametrize("template", ["{stem.__class__}", "{stem[0]}", "{0}", "{}",
                                      "{stem!r}", "{stem:>10}", "{os}", "{stem.__init__.__globals__}"])
def test_templates_cannot_reach_into_objects(tmp_path, template):
    text = f'[[steps]]\nop = "encode"\nname = {json.dumps(template)}\n'
    assert "may only use {stem}, {name} and {ext}" in _error(tmp_path, text)


def test_templates_fill_in_plain_names():
    assert render_template("{stem}_x.{ext}", Path("a/b/cat.jpg")) == "cat_x.jpg"
    assert render_template("masks/{name}", Path("cat.jpg")) == "masks/cat.jpg"


def test_a_recipe_is_data_only(tmp_path):
    """Keys that look like code are just unknown keys or bad values, never evaluated."""
    marker = tmp_path / "ran"
    evil = f"__import__('pathlib').Path({str(marker)!r}).touch()"
    for text in (f'[[steps]]\nop = {json.dumps(evil)}\n',
                 f'[[steps]]\nop = "adjust"\nexposure = {json.dumps(evil)}\n',
                 f'[[steps]]\nop = "upscale"\nmodel = {json.dumps(evil)}\n'):
        _error(tmp_path, text)
    assert not marker.exists()


def test_per_image_files_may_be_missing_at_load_time(tmp_path):
    recipe = _load(tmp_path, '[[steps]]\nop = "remove"\nmask = "masks/{stem}.png"\n')
    assert recipe.steps[0].params["mask"] == "masks/{stem}.png"


def test_the_hash_follows_content_not_location(tmp_path):
    text = '[[steps]]\nop = "lut"\nfile = "look.cube"\n'
    cube = "LUT_3D_SIZE 2\n" + "0 0 0\n1 0 0\n0 1 0\n1 1 0\n0 0 1\n1 0 1\n0 1 1\n1 1 1\n"
    first, second = tmp_path / "a", tmp_path / "b"
    for folder in (first, second):
        folder.mkdir()
        (folder / "look.cube").write_text(cube)
    assert _load(first, text).sha256 == _load(second, text).sha256
    (second / "look.cube").write_text(cube.replace("1 1 1\n", "1 1 0.5\n"))
    assert _load(first, text).sha256 != _load(second, text).sha256
    changed = _load(first, text.replace('"look.cube"', '"look.cube"\ninterpolation = "trilinear"'))
    assert changed.sha256 != _load(first, text).sha256


def test_command_line_steps(tmp_path):
    step = parse_step('adjust exposure=0.5 saturation=1.2', tmp_path)
    assert step.op.name == "adjust" and step.params["exposure"] == 0.5
    step = parse_step('remove boxes=["1,2,3,4"] method=telea', tmp_path)
    assert step.params["boxes"] == ["1,2,3,4"] and step.params["method"] == "telea"
    assert parse_step("upscale scale=2 model=lanczos", tmp_path).params["model"] == "lanczos"
    with pytest.raises(OptionError, match="unknown op 'blur'"):
        parse_step("blur radius=2", tmp_path)
    with pytest.raises(OptionError, match="'exposure' is not KEY=VALUE"):
        parse_step("adjust exposure", tmp_path)


def test_ops_declare_every_parameter_once():
    for op in OPS.values():
        names = [p.name for p in op.params]
        assert len(names) == len(set(names)), op.name
        defaults = {p.name: p.default for p in op.params if not p.required}
        required = {p.name for p in op.params if p.required}
        # the defaults are themselves valid values
        given = {name: value for name, value in defaults.items() if value is not None}
        if op.name in ("remove", "cutout", "background"):
            given["boxes"] = ["0,0,1,1"]
        if op.name == "background":
            given["colour"] = "#000000"
        if op.name == "crop":
            given["aspect"] = "1:1"
        if op.name == "resize":
            given["scale"] = 1.0
        if required:
            continue
        op.check(given, Context(Path(".")))


def test_recipe_data_in_memory():
    recipe = recipe_from_data({"steps": [{"op": "resize", "width": 10}]}, base=Path("."))
    assert recipe.steps[0].params["height"] is None
    assert np.isclose(recipe.steps[0].params["width"], 10)


@pytest.mark.parametrize("template", ["{stem}/x", ".{stem}", "{name}\\y", "../{stem}", "{ext}/.."])
def test_a_bad_name_template_is_named_as_written(tmp_path, template):
    """The message quotes the template, not the sample file name it was tried on."""
    from burnish.engine.ops.params import TEMPLATE_FIELDS

    with pytest.raises(OptionError) as raised:
        recipe_from_data({"steps": [{"op": "encode", "name": template}]}, base=tmp_path)
    message = str(raised.value)
    assert repr(template) in message
    assert all(sample not in message.replace(template, "") for sample in TEMPLATE_FIELDS.values())
