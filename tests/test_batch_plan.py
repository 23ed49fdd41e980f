"""No plan overwrites an input or writes one file twice, and every name fits: checked for the
whole batch before any work, for every command that writes files (upscale, remove, run)."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st
from PIL import Image

from burnish.engine.recipes.batch_plan import (
    TEMP_NAME_EXTRA,
    PlannedOutput,
    check_name_fits,
    check_plan,
    default_targets,
    unique_inputs,
)
from burnish.engine.recipes.batch_run import plan_outputs
from burnish.engine.recipes.recipe import recipe_from_data
from burnish.errors import BurnishError, OptionError, OutputError

from conftest import random_image, run_cli


def snapshot(folder: Path) -> dict[str, bytes]:
    return {str(p.relative_to(folder)): p.read_bytes() for p in sorted(folder.rglob("*"))
            if p.is_file()}


def error_lines(err: str) -> list[str]:
    return [line for line in err.splitlines() if line.startswith("burnish: error:")]


# ---- the data-loss cases, through the real commands ------------------------------------------

@pytest.mark.parametrize("command", [["upscale", "--model", "lanczos", "--scale", "2"],
                                     ["remove", "--box", "3,3,9,9", "--method", "telea"]])
def test_one_inputs_default_output_is_another_input(monkeypatch, capsys, tmp_path, rng, command):
    """``a.png`` and ``a_x2.png`` (or ``a_removed.png``) side by side: writing beside the
    inputs would replace the second. The batch is refused whole and nothing changes."""
    suffix = "_x2" if command[0] == "upscale" else "_removed"
    stem = "".join(rng.choice(list("abcxyz"), 5))
    first, second = tmp_path / f"{stem}.png", tmp_path / f"{stem}{suffix}.png"
    for path in (first, second):
        Image.fromarray(random_image(rng, 30, 26, 3)).save(path)
    before = snapshot(tmp_path)
    code, _, err = run_cli(monkeypatch, capsys, command[0], first, second, *command[1:])
    assert code == 1
    assert len(error_lines(err)) == 1 and "Traceback" not in err
    assert str(second) in err and "would overwrite this input" in err
    assert snapshot(tmp_path) == before


@pytest.mark.parametrize("output_format", [None, "png"])
def test_two_inputs_with_one_stem_in_a_recipe(monkeypatch, capsys, tmp_path, rng, output_format):
    """``p.png`` and ``p.jpg`` with an encode format (or ``{stem}.png`` from both): one
    output name for two inputs is refused before any work."""
    inputs = tmp_path / "in"
    inputs.mkdir()
    Image.fromarray(random_image(rng, 20, 20, 3)).save(inputs / "p.png")
    Image.fromarray(random_image(rng, 20, 20, 3)).save(inputs / "p.jpg")
    encode = f'\n[[steps]]\nop = "encode"\nformat = "{output_format}"\n' if output_format else ""
    recipe = tmp_path / "r.toml"
    recipe.write_text('[[steps]]\nop = "adjust"\nexposure = 0.2\n' + encode)
    out = tmp_path / "out"
    code, _, err = run_cli(monkeypatch, capsys, "run", recipe, inputs, "-o", out, "--quiet")
    if output_format is None:  # each keeps its own format: p.png and p.jpg, no collision
        assert code == 0, err
        assert sorted(p.name for p in out.iterdir()) == ["p.jpg", "p.jpg.burnish.json",
                                                           "p.png", "p.png.burnish.json"]
        return
    assert code == 1 and len(error_lines(err)) == 1
    assert "p.png: both" in err and "would be written to this file" in err
    assert not out.exists()


def test_hard_link_and_symbolic_link_to_an_input_are_the_input(tmp_path, rng):
    source = tmp_path / "in" / "photo.png"
    source.parent.mkdir()
    Image.fromarray(random_image(rng, 10, 10, 3)).save(source)
    out = tmp_path / "out"
    out.mkdir()
    os.link(source, out / "hard.png")
    os.symlink(source, out / "soft.png")
    for alias in ("hard.png", "soft.png"):
        with pytest.raises(OptionError, match="would overwrite this input"):
            check_plan([PlannedOutput(source, out / alias)], [source])


def test_the_same_file_named_twice_is_one_input(tmp_path):
    path = tmp_path / "a.png"
    path.write_bytes(b"x")
    assert unique_inputs([path, tmp_path / "." / "a.png", str(path)]) == [path]


# ---- names that do not fit -------------------------------------------------------------------

def _name_max(folder: Path) -> int:
    try:
        return os.pathconf(folder, "PC_NAME_MAX")
    except (OSError, ValueError):
        return 255


def test_a_name_that_fits_only_without_its_temporary_decoration(tmp_path):
    limit = _name_max(tmp_path)
    fits = tmp_path / ("a" * (limit - TEMP_NAME_EXTRA - 4) + ".png")
    check_name_fits(fits)
    over = tmp_path / ("a" * (limit - TEMP_NAME_EXTRA) + ".png")  # fits alone, not as a temp
    assert len(over.name) <= limit
    with pytest.raises(OutputError, match="file name too long"):
        check_name_fits(over)
    # multibyte names are measured in bytes, as the file system counts them
    wide = tmp_path / ("é" * ((limit - TEMP_NAME_EXTRA) // 2 + 1) + ".png")
    with pytest.raises(OutputError, match="file name too long"):
        check_name_fits(wide)


def test_temporary_decoration_matches_what_create_temp_makes(tmp_path):
    from burnish.engine.imageio.write import create_temp, remove_quietly

    target = tmp_path / "name.png"
    temp_path, file = create_temp(target)
    file.close()
    remove_quietly(temp_path)
    assert len(os.path.basename(temp_path)) - len(target.name) == TEMP_NAME_EXTRA


def test_image_name_fits_but_sidecar_name_does_not(monkeypatch, capsys, tmp_path, rng):
    """The sidecar (NAME.EXT.burnish.json) is the longest name a job writes: a batch whose
    sidecar would not fit is refused before the image is written, so no image is ever left
    without its sidecar."""
    inputs = tmp_path / "in"
    inputs.mkdir()
    limit = _name_max(tmp_path)
    stem = "s" * (limit - TEMP_NAME_EXTRA - len(".png") - 2)  # image name fits
    short = inputs / "short.png"
    Image.fromarray(random_image(rng, 12, 12, 3)).save(short)
    recipe = tmp_path / "r.toml"
    recipe.write_text(f'[[steps]]\nop = "adjust"\nexposure = 0.1\n[[steps]]\nop = "encode"\n'
                      f'name = "{stem}"\n')
    out = tmp_path / "out"
    code, _, err = run_cli(monkeypatch, capsys, "run", recipe, short, "-o", out)
    assert code == 1 and len(error_lines(err)) == 1 and "Traceback" not in err
    assert "file name too long" in err and ".burnish.json" in err
    assert not out.exists() or not any(out.iterdir())


def test_an_input_whose_output_name_is_too_long(monkeypatch, capsys, tmp_path, rng):
    """An input name near the limit gets a suffix (``_x2``) that no longer fits: one line."""
    limit = _name_max(tmp_path)
    path = tmp_path / ("n" * (limit - len(".png")) + ".png")
    Image.fromarray(random_image(rng, 8, 8, 3)).save(path)
    code, _, err = run_cli(monkeypatch, capsys, "upscale", path, "--model", "lanczos",
                           "--scale", "2")
    assert code == 1 and len(error_lines(err)) == 1 and "Traceback" not in err
    assert "file name too long" in err
    assert sorted(p.name for p in tmp_path.iterdir()) == [path.name]


# ---- the property: no plan ever overwrites an input or writes a file twice ------------------

STEMS = ["a", "a_x4", "A", "p", "p_removed", "a_x4_x4", "img"]
SUFFIXES = [".png", ".jpg", ".PNG", ".jpeg", ".tif"]
file_names = st.tuples(st.sampled_from(STEMS), st.sampled_from(SUFFIXES)).map("".join)
folders = st.sampled_from(["one", "two", "one/sub"])
batches = st.lists(st.tuples(folders, file_names), min_size=1, max_size=7, unique=True)


def _build(root: Path, batch) -> list[Path]:
    paths = []
    for folder, name in batch:
        path = root / folder / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(b"input")
        paths.append(path)
    return paths


def _truth(plan: list[PlannedOutput], inputs: list[Path]) -> bool:
    """Whether a plan is safe, decided independently: resolved paths of everything written
    are distinct and none is an input."""
    inputs_resolved = {p.resolve() for p in inputs}
    written = [p.resolve() for item in plan for p in item.written]
    return len(set(written)) == len(written) and not inputs_resolved & set(written)


def _check_outcome(plan, inputs, root):
    before = snapshot(root)
    try:
        check_plan(plan, inputs)
    except BurnishError as error:
        assert "\n" not in str(error)
        assert not _truth(plan, inputs), f"refused a safe plan: {error}"
        event("refused")
    else:
        assert _truth(plan, inputs), "accepted a plan that overwrites an input or a file twice"
        event("accepted")
    assert snapshot(root) == before  # planning touches nothing


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(batch=batches, output=st.sampled_from([None, "out", "out/", "one", "one/"]),
       suffix=st.sampled_from(["_x4", "_removed", ""]))
def test_no_upscale_or_remove_plan_overwrites_an_input_or_writes_twice(tmp_path_factory, batch,
                                                                        output, suffix):
    root = tmp_path_factory.mktemp("plan")
    inputs = unique_inputs(_build(root, batch))
    targets = default_targets(inputs, None if output is None else f"{root}/{output}",
                              suffix=suffix, many=len(inputs) > 1)
    plan = [PlannedOutput(i, t) for i, t in zip(inputs, targets, strict=True)]
    _check_outcome(plan, inputs, root)


@settings(max_examples=120, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(batch=batches, template=st.sampled_from(["{stem}", "{name}", "{stem}_x4", "a", "{ext}"]),
       output_format=st.sampled_from([None, "png", "jpeg"]),
       output=st.sampled_from(["out", "one", "one/sub", "two"]))
def test_no_recipe_plan_overwrites_an_input_or_writes_twice(tmp_path_factory, batch, template,
                                                            output_format, output):
    root = tmp_path_factory.mktemp("recipe")
    inputs = unique_inputs(_build(root, batch))
    encode = {"op": "encode", "name": template}
    if output_format:
        encode["format"] = output_format
    recipe = recipe_from_data({"steps": [{"op": "adjust", "exposure": 0.1}, encode]}, base=root)
    before = snapshot(root)
    try:
        plan = plan_outputs(recipe, inputs, root / output)
    except BurnishError as error:
        assert "\n" not in str(error)
        # refused: then the plan the recipe names really is unsafe
        from burnish.engine.ops.encode import suffix_for
        from burnish.engine.ops.params import render_template
        from burnish.engine.provenance.sidecar import sidecar_path

        naive = []
        for path in inputs:
            target = root / output / (render_template(template, path)
                                      + suffix_for(recipe.encode, path.suffix))
            naive.append(PlannedOutput(path, target, (sidecar_path(target),)))
        assert not _truth(naive, inputs), f"refused a safe recipe plan: {error}"
        event("refused")
    else:
        assert _truth(plan, inputs)
        assert all(item.target.parent == root / output for item in plan)
        event("accepted")
    assert snapshot(root) == before


def test_the_property_tests_can_fail():
    """The independent judge of the property tests says no to an unsafe plan."""
    a, b = Path("/x/a.png"), Path("/x/b.png")
    assert not _truth([PlannedOutput(a, b), PlannedOutput(b, Path("/x/c.png"))], [a, b])
    assert not _truth([PlannedOutput(a, Path("/y/c.png")), PlannedOutput(b, Path("/y/c.png"))],
                      [a, b])
    assert _truth([PlannedOutput(a, Path("/y/a.png")), PlannedOutput(b, Path("/y/b.png"))],
                  [a, b])
