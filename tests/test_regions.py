"""Regions: one that misses the image is its error; regions in the input's coordinates follow
earlier geometry; absurd geometry is refused before any step runs.

Each case builds its own inputs (random pixels, sizes and shapes where the property holds for
any); expected masks come from pixel centres, ray casting or plain NumPy slicing, never from
the code under test.
"""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest
from test_cli import run_cli
from test_masks import reference_polygon_mask

from burnish.engine.edit_masks import Frame, box_mask, build_mask, parse_box, polygon_mask
from burnish.engine.imageio import DEFAULT_MAX_PIXELS, write_image
from burnish.engine.ops import OPS
from burnish.engine.ops.params import Context, File
from burnish.engine.ops.region import NOTHING_MATCHED
from burnish.engine.provenance.history import history
from burnish.engine.recipes.batch_run import RunOptions, run_recipe
from burnish.engine.recipes.pipeline import apply_steps, plan_geometry
from burnish.engine.recipes.recipe import Step, recipe_from_data
from burnish.engine.recipes.resources import Resources
from burnish.errors import InputError, OptionError

from conftest import random_image

REGION_OPS = [name for name, op in OPS.items() if op.param("boxes") is not None]
# Ops whose region is the subject they keep: an empty one is the file's error, not a note.
SUBJECT_OPS = ("cutout", "background")
# Values that rules across parameters need beside the required ones.
TOGETHER = {"background": {"colour": "#808080"}}
CUBE = ("LUT_3D_SIZE 2\n0 0 0\n0.5 0 0\n0 1 0\n1 1 0\n0 0 1\n1 0 1\n0 1 1\n1 1 0.5\n")


def reference_box_mask(shape, box):
    """Slow and obvious: every pixel centre tested against the box."""
    ys, xs = np.mgrid[0:shape[0], 0:shape[1]] + 0.5
    x, y, w, h = box
    return (xs >= x) & (xs < x + w) & (ys >= y) & (ys < y + h)


def _apply(pixels, steps: list[dict], base: Path, **options):
    recipe = recipe_from_data({"steps": steps}, base=base)
    with Resources() as resources:
        return apply_steps(pixels, recipe.steps, resources, image=base / "x.png",
                           context=Context(base), **options)


def _required(op, folder: Path) -> dict:
    """Values for an op's required parameters: real files of the kind each names, so the
    step passes validation (a new kind of required parameter needs a sample here)."""
    values = dict(TOGETHER.get(op.name, {}))
    for param in op.params:
        if not param.required:
            continue
        assert isinstance(param.kind, File), f"{op.name}.{param.name}: add a sample value"
        if ".cube" in param.kind.suffixes:
            (folder / "look.cube").write_text(CUBE)
            values[param.name] = "look.cube"
        else:
            write_image(folder / "ref.png", np.full((8, 8, 3), 90, np.uint8))
            values[param.name] = "ref.png"
    return values


# ---- a box or polygon that misses the image --------------------------------------------------

def _outside_boxes(rng, width, height):
    """One box wholly outside by each side (some just touching it), with its side."""
    w, h = (float(v) for v in rng.uniform(1, 30, size=2))
    x, y = float(rng.uniform(0, width - 1)), float(rng.uniform(0, height - 1))
    gap = float(rng.choice([0.0, rng.uniform(0, 500)]))
    return {"left": (-w - gap, y, w, h), "right": (width + gap, y, w, h),
            "top": (x, -h - gap, w, h), "bottom": (x, height + gap, w, h)}


def test_a_box_outside_by_any_side_is_an_error_naming_it_and_the_size(rng):
    for _ in range(10):
        height, width = (int(v) for v in rng.integers(1, 60, size=2))
        for box in _outside_boxes(rng, width, height).values():
            text = ",".join(f"{v:g}" for v in box)
            with pytest.raises(InputError, match=f"^box {text} lies outside the "
                                                 f"{width}x{height} image$"):
                box_mask((height, width), box)
            with pytest.raises(InputError, match="lies outside"):
                build_mask(np.zeros((height, width, 3), np.uint8), boxes=[text])


def test_a_box_partly_outside_is_clipped(rng):
    for _ in range(20):
        height, width = (int(v) for v in rng.integers(1, 50, size=2))
        x, y = float(rng.uniform(-30, width)), float(rng.uniform(-30, height))
        box = (x, y, float(rng.uniform(1, 80)), float(rng.uniform(1, 80)))
        expected = reference_box_mask((height, width), box)
        if expected.any():
            np.testing.assert_array_equal(box_mask((height, width), box), expected)
        else:  # straddling the image but between pixel centres
            with pytest.raises(InputError, match=f"the {width}x{height} image"):
                box_mask((height, width), box)


def test_a_box_between_pixel_centres_covers_nothing_and_says_so():
    with pytest.raises(InputError, match="box 3.6,2,0.8,5 covers no pixel centre of the 8x6 "
                                         "image"):
        box_mask((6, 8), parse_box("3.6,2,0.8,5"))


def test_a_polygon_outside_by_any_side_is_an_error(rng):
    for _ in range(10):
        height, width = (int(v) for v in rng.integers(1, 60, size=2))
        for x, y, w, h in _outside_boxes(rng, width, height).values():
            points = np.array([[x, y], [x + w, y + h / 3], [x + w / 2, y + h]])
            with pytest.raises(InputError, match=f"^polygon .* lies outside the {width}x{height} "
                                                 "image$"):
                polygon_mask((height, width), points)


def test_a_polygon_partly_outside_is_clipped_and_a_sliver_is_an_error(rng):
    for _ in range(20):
        height, width = (int(v) for v in rng.integers(2, 40, size=2))
        points = np.stack([rng.uniform(-20, width + 20, 5), rng.uniform(-20, height + 20, 5)], 1)
        expected = reference_polygon_mask((height, width), points)
        if expected.any():
            np.testing.assert_array_equal(polygon_mask((height, width), points), expected)
    sliver = np.array([[2.6, 1.0], [3.4, 1.0], [3.0, 5.0]])  # x stays within (2.5, 3.5)
    with pytest.raises(InputError, match="covers no pixel centre of the 8x6 image"):
        polygon_mask((6, 8), sliver)


def test_a_degenerate_polygon_is_refused_when_the_recipe_is_read(tmp_path):
    with pytest.raises(OptionError, match=r"step 1 \(adjust\): polygons: polygon '0,0 5,5 9,9' "
                                          "is empty") as raised:
        recipe_from_data({"steps": [{"op": "adjust", "polygons": ["0,0 5,5 9,9"]}]},
                         base=tmp_path)
    assert "\n" not in str(raised.value)


@pytest.mark.parametrize("op", REGION_OPS)
@pytest.mark.parametrize("region", [{"boxes": ["5000,10,40,40"]},
                                    {"polygons": ["-90,-90 -10,-90 -50,-5"]}])
def test_every_op_with_a_region_refuses_one_that_misses(tmp_path, rng, op, region):
    step = {"op": op, **_required(OPS[op], tmp_path), **region}
    kind, (text,) = next(iter(region.items()))
    shown = text if kind == "boxes" else f'"{text}"'
    with pytest.raises(InputError) as raised:
        _apply(random_image(rng, 48, 64, 3), [step], tmp_path)
    what = {"boxes": "box", "polygons": "polygon"}[kind]
    assert str(raised.value) == (f"{tmp_path / 'x.png'}: step 1 ({op}): {what} {shown} lies "
                                 "outside the 64x48 image")


@pytest.mark.parametrize("op", [op for op in REGION_OPS if op not in SUBJECT_OPS])
def test_a_key_that_matches_nothing_is_a_note_and_changes_nothing(tmp_path, rng, op):
    image = random_image(rng, 20, 24, 3) // 2  # no pixel near white
    step = {"op": op, **_required(OPS[op], tmp_path), "key": "#ffffff", "key_tolerance": 10}
    applied = _apply(image, [step], tmp_path)
    assert applied.records[0].note == NOTHING_MATCHED
    assert np.array_equal(applied.pixels, image)
    assert not applied.records[0].region.any() and not applied.fill


@pytest.mark.parametrize("op", SUBJECT_OPS)
def test_a_subject_that_matches_nothing_is_the_files_error(tmp_path, rng, op):
    image = random_image(rng, 20, 24, 3) // 2  # no pixel near white
    step = {"op": op, **_required(OPS[op], tmp_path), "key": "#ffffff", "key_tolerance": 10}
    with pytest.raises(InputError) as raised:
        _apply(image, [step], tmp_path)
    assert str(raised.value) == (f"{tmp_path / 'x.png'}: step 1 ({op}): the subject region "
                                 "selects no pixel: nothing to cut out")


def test_burnish_run_reports_the_missed_box_and_writes_nothing(tmp_path, rng):
    source = tmp_path / "in.png"
    write_image(source, random_image(rng, 48, 64, 3))
    recipe = recipe_from_data({"steps": [{"op": "adjust", "exposure": 1.0,
                                          "boxes": ["10,500,20,20"]}]}, base=tmp_path)
    results = run_recipe(recipe, [source], RunOptions(output=tmp_path / "out"))
    assert not results[0].ok
    assert results[0].error == (f"{source}: step 1 (adjust): box 10,500,20,20 lies outside the "
                                "64x48 image")
    assert list((tmp_path / "out").iterdir()) == []


def test_burnish_remove_with_a_missed_box_fails_and_writes_nothing(tmp_path, rng, monkeypatch,
                                                                   capsys):
    source = tmp_path / "in.png"
    write_image(source, random_image(rng, 48, 64, 3))
    code, out, err = run_cli(monkeypatch, capsys, "remove", source, "--box", "5000,10,40,40")
    assert code != 0 and "Traceback" not in err
    error_lines = [line for line in (out + err).splitlines() if "lies outside" in line]
    assert len(error_lines) == 1
    assert f"{source}: box 5000,10,40,40 lies outside the 64x48 image" in error_lines[0]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["in.png"]
    code, out, err = run_cli(monkeypatch, capsys, "remove", source, "--box", "50,40,40,40",
                             "--method", "telea")
    assert code == 0, err  # partly outside: clipped
    assert (tmp_path / "in_removed.png").is_file()


def test_burnish_edit_with_a_missed_box_records_nothing(tmp_path, rng, monkeypatch, capsys):
    source = tmp_path / "cat.png"
    write_image(source, random_image(rng, 30, 40, 3))
    monkeypatch.chdir(tmp_path)
    code, out, err = run_cli(monkeypatch, capsys, "edit", source,
                             "adjust exposure=1 boxes=['41,0,5,5']")
    assert code != 0 and "Traceback" not in err
    assert "box 41,0,5,5 lies outside the 40x30 image" in err
    with pytest.raises(InputError):  # no version was recorded: there is no history
        history(source)


# ---- mask files ---------------------------------------------------------------------------

def test_a_mask_file_of_the_wrong_size_names_the_file_and_both_sizes(tmp_path, rng):
    write_image(tmp_path / "m.png", np.full((10, 12, 1), 255, np.uint8))
    image = random_image(rng, 20, 24, 3)
    with pytest.raises(InputError) as raised:
        _apply(image, [{"op": "adjust", "exposure": 1.0, "mask": "m.png"}], tmp_path)
    assert str(raised.value) == (f"{tmp_path / 'm.png'}: step 1 (adjust): mask is 12x10, the "
                                 "image is 24x20")
    # in input coordinates the mask must have the input's size, whatever the step's
    steps = [{"op": "upscale", "scale": 2, "model": "lanczos"},
             {"op": "adjust", "exposure": 1.0, "mask": "m.png", "coordinates": "input"}]
    with pytest.raises(InputError, match=r"m\.png: step 2 \(adjust\): mask is 12x10, the input "
                                         "image is 24x20"):
        _apply(image, steps, tmp_path)


# ---- coordinates = "input" ---------------------------------------------------------------

# input 30x40 -> upscale x3 (90x120) -> resize x0.5 (45x60) -> crop 2,3,50,36 (36x50)
GEOMETRY = [{"op": "upscale", "scale": 3, "model": "lanczos"},
            {"op": "resize", "scale": 0.5, "filter": "bilinear"},
            {"op": "crop", "box": "2,3,50,36"}]
# The same regions, the second worked out by hand: x -> 3 x / 2 - 2, y -> 3 y / 2 - 3.
INPUT_BOX, STEP_BOX = "4,6,10,8", "4,6,15,12"
INPUT_POLYGON, STEP_POLYGON = "4,6 20,6 12,20", "4,6 28,6 16,27"


def _input_mask_to_step(mask: np.ndarray) -> np.ndarray:
    """By hand: x3 repeats pixels; x0.5 takes every second pixel from the second (centre
    2c + 1); the crop cuts."""
    upscaled = np.repeat(np.repeat(mask, 3, 0), 3, 1)
    return upscaled[1::2, 1::2][3:3 + 36, 2:2 + 50]


@pytest.mark.parametrize("op", [{"op": "adjust", "exposure": 1.2, "saturation": 0.2,
                                 "feather": 2},
                                {"op": "remove", "method": "telea", "dilate": 1, "feather": 1}])
@pytest.mark.parametrize("source", ["boxes", "polygons", "mask"])
def test_input_coordinates_edit_the_same_pixels_as_step_coordinates_by_hand(tmp_path, rng, op,
                                                                            source):
    image = random_image(rng, 30, 40, 3)
    input_mask = np.zeros((30, 40), bool)
    input_mask[rng.integers(0, 30, 40), rng.integers(0, 40, 40)] = True
    input_mask[10:18, 20:31] = True
    write_image(tmp_path / "in_mask.png", input_mask[..., None].astype(np.uint8) * 255)
    write_image(tmp_path / "step_mask.png",
                _input_mask_to_step(input_mask)[..., None].astype(np.uint8) * 255)
    given = {"boxes": ([INPUT_BOX], [STEP_BOX]), "polygons": ([INPUT_POLYGON], [STEP_POLYGON]),
             "mask": ("in_mask.png", "step_mask.png")}[source]
    after = [{"op": "upscale", "scale": 2, "model": "lanczos"}]  # moves the records on
    in_input = _apply(image, [*GEOMETRY, {**op, source: given[0], "coordinates": "input"},
                              *after], tmp_path)
    in_step = _apply(image, [*GEOMETRY, {**op, source: given[1]}, *after], tmp_path)
    assert np.array_equal(in_input.pixels, in_step.pixels)
    region = in_input.records[3].region.dense()
    assert np.array_equal(region, in_step.records[3].region)
    assert region.shape == (72, 100) and region.any() and not region.all()
    # provenance: the step's edit at 36x50, moved through the last upscale by repeating
    edited_at_step = _apply(image, [*GEOMETRY, {**op, source: given[1]}], tmp_path).records[3]
    assert np.array_equal(region, np.repeat(np.repeat(edited_at_step.region.dense(), 2, 0), 2, 1))


def test_input_coordinates_follow_a_fractional_resize(tmp_path, rng):
    """Input 27x50 resized to width 73 (x1.46 across, 39/27 down): box edges land between
    pixels, mapped exactly, the same as the hand-mapped box in step coordinates."""
    image = random_image(rng, 27, 50, 3)
    resize = {"op": "resize", "width": 73}
    x, y, w, h = 7, 5, 11, 9
    step_box = f"{x * 73 / 50!r},{y * 39 / 27!r},{w * 73 / 50!r},{h * 39 / 27!r}"
    in_input = _apply(image, [resize, {"op": "adjust", "exposure": 1.0, "boxes": [f"{x},{y},{w},"
                              f"{h}"], "coordinates": "input"}], tmp_path)
    in_step = _apply(image, [resize, {"op": "adjust", "exposure": 1.0, "boxes": [step_box]}],
                     tmp_path)
    assert np.array_equal(in_input.records[1].region, in_step.records[1].region)
    assert np.array_equal(in_input.pixels, in_step.pixels)


def test_a_region_moved_outside_names_it_as_given_and_where_it_landed(tmp_path, rng):
    image = random_image(rng, 30, 40, 3)
    step = {"op": "adjust", "exposure": 1.0, "boxes": ["36,6,3,3"], "coordinates": "input"}
    with pytest.raises(InputError, match=r"step 4 \(adjust\): box 36,6,3,3 \(at this step "
                                         r"52,6,4\.5,4\.5\) lies outside the 50x36 image$"):
        _apply(image, [*GEOMETRY, step], tmp_path)


def test_input_coordinates_without_geometry_are_the_step_coordinates(tmp_path, rng):
    image = random_image(rng, 20, 24, 3)
    steps = [{"op": "adjust", "exposure": 1.0, "boxes": ["3,4,5,6"]}]
    plain = _apply(image, steps, tmp_path)
    given = _apply(image, [{**steps[0], "coordinates": "input"}], tmp_path)
    assert np.array_equal(plain.pixels, given.pixels)


def test_a_bad_coordinates_value_is_one_line_when_the_recipe_is_read(tmp_path):
    with pytest.raises(OptionError) as raised:
        recipe_from_data({"steps": [{"op": "remove", "boxes": ["1,1,2,2"],
                                     "coordinates": "inptu"}]}, base=tmp_path)
    assert str(raised.value) == ("<recipe>: step 1 (remove): coordinates: must be one of step, "
                                 "input; got 'inptu'")


def test_every_op_with_a_region_takes_coordinates():
    for name in REGION_OPS:
        param = OPS[name].param("coordinates")
        assert param is not None and param.default == "step", name
        assert "input" in param.help and "step" in param.help


# ---- frames against the obvious resampling ------------------------------------------------

def test_frames_move_masks_as_repeating_resampling_and_cutting(rng):
    for _ in range(20):
        height, width = (int(v) for v in rng.integers(1, 30, size=2))
        mask = rng.random((height, width)) < 0.5
        scale = int(rng.integers(1, 5))
        up = Frame.resampled((height, width), (height * scale, width * scale))
        assert np.array_equal(up.warp(mask), np.repeat(np.repeat(mask, scale, 0), scale, 1))
        new_h, new_w = (int(v) for v in rng.integers(1, 70, size=2))
        rows = ((np.arange(new_h) + 0.5) * height / new_h).astype(int)
        cols = ((np.arange(new_w) + 0.5) * width / new_w).astype(int)
        resized = Frame.resampled((height, width), (new_h, new_w))
        assert np.array_equal(resized.warp(mask), mask[rows][:, cols])
        left, top = int(rng.integers(0, width)), int(rng.integers(0, height))
        w, h = int(rng.integers(1, width - left + 1)), int(rng.integers(1, height - top + 1))
        cut = Frame.identity((height, width)).cropped(left, top, w, h)
        assert np.array_equal(cut.warp(mask), mask[top:top + h, left:left + w])
        # chained, the same as one after the other
        chained = up.then(Frame.resampled(up.target, (new_h, new_w)))
        assert np.array_equal(chained.warp(mask),
                              Frame.resampled(up.target, (new_h, new_w)).warp(up.warp(mask)))


def test_the_plan_knows_every_steps_size(tmp_path, rng):
    """Random chains of geometry: the planned size of each step is the size it makes (the
    pipeline also checks this on every run)."""
    for _ in range(6):
        height, width = (int(v) for v in rng.integers(5, 40, size=2))
        steps = []
        for _ in range(3):
            choice = int(rng.integers(0, 4))
            if choice == 0:
                steps.append({"op": "upscale", "scale": int(rng.integers(1, 3)),
                              "model": "lanczos"})
            elif choice == 1:
                steps.append({"op": "resize", "scale": float(rng.uniform(0.3, 1.7))})
            elif choice == 2:
                steps.append({"op": "resize", "width": int(rng.integers(4, 60)),
                              "height": int(rng.integers(4, 60)),
                              "fit": str(rng.choice(["contain", "cover", "stretch"]))})
            else:
                steps.append({"op": "crop", "aspect": f"{int(rng.integers(1, 5))}:"
                              f"{int(rng.integers(1, 5))}",
                              "gravity": str(rng.choice(["center", "left", "bottom"]))})
        recipe = recipe_from_data({"steps": steps}, base=tmp_path)
        plan = plan_geometry((height, width), recipe.steps)
        applied = _apply(random_image(rng, height, width, 3), steps, tmp_path)
        assert applied.pixels.shape[:2] == plan.output_shape


# ---- absurd geometry refused before any work ------------------------------------------------

def _spied(recipe_steps, calls: list) -> list[Step]:
    """The steps with the first one's function replaced by a spy that records its calls."""
    first = recipe_steps[0]

    def spy(upstream, step, outcome):
        calls.append(first.op.name)
        return first.op.stage(upstream, step, outcome)

    return [Step(replace(first.op, stage=spy), first.given, first.params), *recipe_steps[1:]]


def _apply_spied(pixels, steps, base, **options):
    calls: list[str] = []
    recipe = recipe_from_data({"steps": steps}, base=base)
    with Resources() as resources:
        try:
            apply_steps(pixels, _spied(recipe.steps, calls), resources, image=base / "x.png",
                        context=Context(base), **options)
        finally:
            assert calls == [], "a step ran before the plan refused the recipe"


def test_a_resize_absurd_for_every_image_is_refused_when_the_recipe_is_read(tmp_path):
    with pytest.raises(OptionError, match=r"step 1 \(resize\): width: 1048576 is out of range"):
        recipe_from_data({"steps": [{"op": "resize", "width": 1048576, "height": 1048576}]},
                         base=tmp_path)


def test_a_resize_over_the_pixel_limit_is_refused_before_any_step(tmp_path, rng):
    steps = [{"op": "adjust", "exposure": 1.0},
             {"op": "resize", "width": 100000, "height": 100000, "fit": "stretch"}]
    with pytest.raises(OptionError) as raised:
        _apply_spied(random_image(rng, 10, 12, 3), steps, tmp_path)
    assert str(raised.value) == (f"{tmp_path / 'x.png'}: step 2 (resize): the image would be "
                                 f"100000x100000 (10 GP), over the {DEFAULT_MAX_PIXELS}-pixel "
                                 "limit (max_pixels)")


def test_an_upscale_over_the_pixel_limit_is_refused_before_any_step(tmp_path, rng):
    steps = [{"op": "adjust", "exposure": 1.0},
             {"op": "upscale", "scale": 16, "model": "lanczos"}]
    with pytest.raises(OptionError, match=r"step 2 \(upscale\): the image would be 480x320 "
                                          r"\(153600 pixels\), over the "
                                          "100000-pixel limit"):
        _apply_spied(random_image(rng, 20, 30, 3), steps, tmp_path, max_pixels=100_000)
    # a big input's x16 against the default limit, from its size alone
    recipe = recipe_from_data({"steps": steps}, base=tmp_path)
    with pytest.raises(OptionError, match=r"step 2 \(upscale\): the image would be 96000x80000 "
                                          r"\(7.68 GP\), over the 400000000-pixel limit"):
        plan_geometry((5000, 6000), recipe.steps)
    assert plan_geometry((500, 600), recipe.steps).output_shape == (8000, 9600)


def test_a_crop_to_nothing_or_outside_is_refused_before_any_step(tmp_path, rng):
    image = random_image(rng, 30, 50, 3)
    head = {"op": "adjust", "exposure": 1.0}
    with pytest.raises(OptionError, match=r"step 2 \(crop\): the image would be empty \(0x0\)"):
        _apply_spied(image, [head, {"op": "crop", "box": "10,10,0.4,0.4"}], tmp_path)
    with pytest.raises(InputError, match=r"x\.png: step 2 \(crop\): crop box 40,0,20,20 is "
                                         "outside the 50x30 image"):
        _apply_spied(image, [head, {"op": "crop", "box": "40,0,20,20"}], tmp_path)


def test_burnish_run_refuses_an_absurd_step_for_that_file_and_writes_nothing(tmp_path, rng):
    source = tmp_path / "in.png"
    write_image(source, random_image(rng, 30, 40, 3))
    recipe = recipe_from_data({"steps": [{"op": "resize", "scale": 64},
                                         {"op": "resize", "scale": 64}]}, base=tmp_path)
    results = run_recipe(recipe, [source], RunOptions(output=tmp_path / "out"))
    assert results[0].error == (f"{source}: step 2 (resize): the image would be 163840x122880 "
                                f"(20.1 GP), over the {DEFAULT_MAX_PIXELS}-pixel limit "
                                "(max_pixels)")
    assert list((tmp_path / "out").iterdir()) == []


def test_max_pixels_reaches_the_plan_of_burnish_run(tmp_path, rng):
    """A larger --max-pixels raises the output limit too; the plan is made from the header."""
    source = tmp_path / "in.png"
    write_image(source, random_image(rng, 30, 40, 3))
    recipe = recipe_from_data({"steps": [{"op": "resize", "scale": 4}]}, base=tmp_path)
    refused = run_recipe(recipe, [source], RunOptions(output=tmp_path / "low", max_pixels=5000))
    assert "over the 5000-pixel limit" in refused[0].error
    allowed = run_recipe(recipe, [source], RunOptions(output=tmp_path / "high",
                                                      max_pixels=20000))
    assert allowed[0].ok, allowed[0].error
