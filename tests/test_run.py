"""``burnish run``: batches, resume, provenance (sidecar, XMP, C2PA) and each op's contract."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pytest

from burnish.engine.imageio import read_image, write_image
from burnish.engine.ops.params import Context
from burnish.engine.provenance.sidecar import (
    COMPOSITE,
    ENHANCED,
    decode_mask,
    encode_mask,
    read_xmp_fields,
    sidecar_path,
)
from burnish.engine.recipes.batch_run import RunOptions, expand_inputs, run_recipe
from burnish.engine.recipes.pipeline import apply_steps
from burnish.engine.recipes.recipe import load_recipe, recipe_from_data
from burnish.engine.recipes.resources import Resources
from burnish.errors import OptionError
from burnish.models.descriptor import file_sha256

from conftest import random_image, run_cli

UPSCALE_AND_FILL = """
name = "test"
[[steps]]
op = "upscale"
scale = 2
model = "lanczos"
[[steps]]
op = "remove"
boxes = ["6,6,8,8"]
method = "telea"
dilate = 1
feather = 1
[[steps]]
op = "encode"
name = "{stem}_done"
"""


def _recipe(folder: Path, text: str = UPSCALE_AND_FILL, name: str = "recipe.toml") -> Path:
    path = folder / name
    path.write_text(text)
    return path


def _images(folder: Path, rng, count: int, corrupt: tuple[int, ...] = (), size=(24, 30)) -> list[Path]:
    folder.mkdir(parents=True, exist_ok=True)
    paths = []
    for i in range(count):
        path = folder / f"img{i:02d}.png"
        if i in corrupt:
            path.write_bytes(b"\x89PNG\r\n\x1a\n" + bytes(rng.integers(0, 256, 40, dtype=np.uint8)))
        else:
            write_image(path, random_image(rng, *size, 3))
        paths.append(path)
    return paths


@pytest.fixture
def invoke(monkeypatch, capsys):
    """``burnish ARGS`` through the real entry point: (exit code, stdout + stderr)."""
    def run(*args):
        code, out, err = run_cli(monkeypatch, capsys, *args)
        return code, out + err

    return run


def test_twenty_files_two_corrupt_write_eighteen_and_report_two(tmp_path, rng, invoke):
    inputs = _images(tmp_path / "in", rng, 20, corrupt=(3, 11))
    out = tmp_path / "out"
    code, output = invoke("run", _recipe(tmp_path), tmp_path / "in", "-o", out, "--jobs", "2")
    assert code == 1
    assert "18 written, 2 failed" in output
    for bad in (inputs[3], inputs[11]):
        assert f"burnish: error: {bad}:" in output
    written = sorted(p.name for p in out.iterdir())
    expected = sorted([f"img{i:02d}_done.png" for i in range(20) if i not in (3, 11)]
                      + [f"img{i:02d}_done.png.burnish.json" for i in range(20) if i not in (3, 11)])
    assert written == expected
    for path in out.glob("*_done.png"):
        pixels, _ = read_image(path)
        assert pixels.shape == (48, 60, 3)


def test_sidecar_and_xmp_round_trip(tmp_path, rng):
    inputs = _images(tmp_path / "in", rng, 2)
    out = tmp_path / "out"
    recipe = load_recipe(_recipe(tmp_path))
    results = run_recipe(recipe, [str(p) for p in inputs], RunOptions(output=out))
    assert all(r.ok for r in results)
    target = out / "img00_done.png"
    record = json.loads(sidecar_path(target).read_text())

    assert record["input"]["sha256"] == file_sha256(inputs[0])
    assert record["output"]["sha256"] == file_sha256(target)
    assert (record["output"]["width"], record["output"]["height"]) == (60, 48)
    assert record["recipe"]["sha256"] == recipe.sha256
    assert [s["op"] for s in record["steps"]] == ["upscale", "remove"]  # encode is not an edit
    assert record["encode"]["name"] == "{stem}_done"
    assert record["steps"][0]["model"]["backend"] == "pillow"
    assert record["steps"][0]["region"] == "whole image"
    assert record["digital_source_type"] == COMPOSITE
    assert record["environment"]["burnish"]

    # The removal's region (it ran on the 2x image): the box grown by the dilation and the
    # feather.
    removed = decode_mask(record["steps"][1]["region"]["mask"])
    assert removed.shape == (48, 60)
    assert removed[6:14, 6:14].all() and removed.sum() < 14 * 14
    assert np.array_equal(decode_mask(record["edited_regions"]["mask"]), removed)
    x, y, w, h = record["edited_regions"]["boxes"][0]
    assert x <= 6 and y <= 6 and x + w >= 14 and y + h >= 14

    # The pixels outside that region are the upscale's, bit for bit.
    pixels, meta = read_image(target)
    source, _ = read_image(inputs[0])
    only_upscaled = apply_steps(source, recipe.steps[:1], Resources(), image=inputs[0],
                                context=recipe.context).pixels
    assert np.array_equal(pixels[~removed], only_upscaled[~removed])

    fields = read_xmp_fields(meta.xmp)
    assert fields["digital_source_type"] == COMPOSITE
    assert fields["recipe_sha256"] == recipe.sha256
    assert fields["input_sha256"] == record["input"]["sha256"]
    assert fields["steps"] == ["upscale", "remove"]
    assert fields["creator_tool"].startswith("burnish ")


def test_a_last_upscale_streams_into_the_file(tmp_path, rng, monkeypatch):
    """remove -> upscale: the upscale writes its rows straight into the output file (no
    whole-image array), with the same pixels, XMP and regions as in memory."""
    import burnish.engine.tiling.scheduler

    inputs = _images(tmp_path / "in", rng, 1)
    recipe = recipe_from_data({"steps": [
        {"op": "remove", "boxes": ["5,5,6,6"], "method": "telea"},
        {"op": "upscale", "scale": 3, "model": "lanczos", "tile": 16},
        {"op": "encode", "name": "{stem}_big"}]}, base=tmp_path)
    source, _ = read_image(inputs[0])
    in_memory = _apply(source, [s.describe() for s in recipe.edits], tmp_path, inputs[0])

    class NoWholeImage:
        def __init__(self, *args):
            raise AssertionError("the last upscale was not streamed")

    monkeypatch.setattr(burnish.engine.tiling.scheduler, "ArraySink", NoWholeImage)
    results = run_recipe(recipe, inputs, RunOptions(output=tmp_path / "out"))
    assert results[0].ok, results[0].error
    target = tmp_path / "out" / "img00_big.png"
    pixels, meta = read_image(target)
    assert np.array_equal(pixels, in_memory.pixels)
    record = json.loads(sidecar_path(target).read_text())
    assert (record["output"]["width"], record["output"]["height"]) == (90, 72)
    assert record["output"]["dtype"] == "uint8"
    assert np.array_equal(decode_mask(record["steps"][0]["region"]["mask"]),
                          in_memory.records[0].region)
    fields = read_xmp_fields(meta.xmp)
    assert fields["digital_source_type"] == COMPOSITE
    assert fields["steps"] == ["remove", "upscale"]
    assert fields["models"][0]["name"] == "lanczos"


def test_pure_enhancement_is_marked_algorithmically_enhanced(tmp_path, rng):
    inputs = _images(tmp_path / "in", rng, 1)
    recipe = recipe_from_data({"steps": [{"op": "upscale", "scale": 2, "model": "lanczos"},
                                         {"op": "adjust", "contrast": 1.2},
                                         {"op": "encode", "format": "jpeg", "quality": 90}]},
                              base=tmp_path)
    run_recipe(recipe, inputs, RunOptions(output=tmp_path / "out"))
    target = tmp_path / "out" / "img00.jpg"
    _, meta = read_image(target)
    assert read_xmp_fields(meta.xmp)["digital_source_type"] == ENHANCED
    record = json.loads(sidecar_path(target).read_text())
    assert record["digital_source_type"] == ENHANCED and record["edited_regions"] is None


def test_same_input_recipe_and_model_give_the_same_bytes(tmp_path, rng):
    inputs = _images(tmp_path / "in", rng, 3)
    text = UPSCALE_AND_FILL.replace('model = "lanczos"', "") + \
        '\n[[steps]]\nop = "match_grain"\nreference = "in/img02.png"\n'
    text = text.replace('[[steps]]\nop = "encode"\nname = "{stem}_done"\n', "") + \
        '[[steps]]\nop = "encode"\nname = "{stem}_done"\n'
    recipe = load_recipe(_recipe(tmp_path, text))
    for out in ("a", "b"):
        results = run_recipe(recipe, inputs, RunOptions(output=tmp_path / out))
        assert all(r.ok for r in results), [r.error for r in results]
    for path in (tmp_path / "a").glob("*.png"):
        assert path.read_bytes() == (tmp_path / "b" / path.name).read_bytes()


def test_the_worker_count_does_not_change_the_bytes(tmp_path, rng):
    """One process with every core, or two with one core each: the same files."""
    inputs = _images(tmp_path / "in", rng, 4)
    recipe = load_recipe(_recipe(tmp_path, UPSCALE_AND_FILL.replace('model = "lanczos"', "")
                                 .replace('method = "telea"', 'method = "patchmatch"')))
    for out, jobs in (("one", 1), ("two", 2)):
        results = run_recipe(recipe, inputs, RunOptions(output=tmp_path / out, jobs=jobs))
        assert all(r.ok for r in results), [r.error for r in results]
    for path in (tmp_path / "one").glob("*.png"):
        assert path.read_bytes() == (tmp_path / "two" / path.name).read_bytes(), path.name


def test_resume_skips_complete_outputs_and_redoes_the_rest(tmp_path, rng):
    inputs = _images(tmp_path / "in", rng, 4)
    recipe_path = _recipe(tmp_path)
    out = tmp_path / "out"
    options = RunOptions(output=out, resume=True)
    first = run_recipe(load_recipe(recipe_path), inputs, options)
    assert not any(r.skipped for r in first)
    again = run_recipe(load_recipe(recipe_path), inputs, options)
    assert all(r.skipped and r.ok for r in again)

    # a damaged output, a lost sidecar and a changed input are each done again
    damaged = out / "img00_done.png"
    damaged.write_bytes(damaged.read_bytes()[:-20])
    sidecar_path(out / "img01_done.png").unlink()
    write_image(inputs[2], random_image(rng, 24, 30, 3))
    third = run_recipe(load_recipe(recipe_path), inputs, options)
    assert [r.skipped for r in third] == [False, False, False, True]
    assert read_image(damaged)[0].shape == (48, 60, 3)

    # another recipe (here: another parameter) makes every output stale
    _recipe(tmp_path, UPSCALE_AND_FILL.replace("dilate = 1", "dilate = 2"))
    fourth = run_recipe(load_recipe(recipe_path), inputs, options)
    assert not any(r.skipped for r in fourth)


def test_stale_temporary_files_are_cleared(tmp_path, rng):
    inputs = _images(tmp_path / "in", rng, 1)
    out = tmp_path / "out"
    out.mkdir()
    (out / ".img00_done.png.partial-1234abcd").write_bytes(b"half")
    (out / ".img00_done.png.burnish.json.partial-99999999").write_bytes(b"{")
    (out / ".unrelated.partial-00000000").write_bytes(b"keep")
    run_recipe(load_recipe(_recipe(tmp_path)), inputs, RunOptions(output=out, resume=True))
    assert sorted(p.name for p in out.iterdir()) == [
        ".unrelated.partial-00000000", "img00_done.png", "img00_done.png.burnish.json"]


def test_output_names_stay_in_the_folder_and_never_collide(tmp_path, rng):
    first = _images(tmp_path / "a", rng, 1)
    second = _images(tmp_path / "b", rng, 1)
    recipe = load_recipe(_recipe(tmp_path))
    with pytest.raises(OptionError, match="img00_done.png: both .* would be written to this file"):
        run_recipe(recipe, first + second, RunOptions(output=tmp_path / "out"))
    assert not (tmp_path / "out").exists()
    # nor over an input
    with pytest.raises(OptionError, match="its own output would overwrite this input"):
        run_recipe(recipe_from_data({"steps": [{"op": "adjust", "exposure": 1.0}]},
                                    base=tmp_path), first, RunOptions(output=tmp_path / "a"))
    # a recipe cannot name a file outside the output folder, whatever the input is called
    traversal = {"steps": [{"op": "encode", "name": "../{stem}"}]}
    with pytest.raises(OptionError, match="is a path"):
        recipe_from_data(traversal, base=tmp_path)


def test_per_image_masks_and_a_missing_one(tmp_path, rng):
    inputs = _images(tmp_path / "in", rng, 3)
    masks = tmp_path / "masks"
    masks.mkdir()
    for path in inputs[:2]:
        mask = np.zeros((24, 30), np.uint8)
        mask[5:12, 8:20] = 255
        write_image(masks / f"{path.stem}.png", mask)
    recipe = recipe_from_data({"steps": [{"op": "remove", "mask": "masks/{stem}.png",
                                          "method": "telea", "dilate": 0, "feather": 0}]},
                              base=tmp_path)
    results = run_recipe(recipe, inputs, RunOptions(output=tmp_path / "out"))
    assert [r.ok for r in results] == [True, True, False]
    assert "img02.png" in results[2].error and "masks/img02.png" in results[2].error
    assert "\n" not in results[2].error
    out, _ = read_image(tmp_path / "out" / "img00.png")
    source, _ = read_image(inputs[0])
    outside = np.ones((24, 30), bool)
    outside[5:12, 8:20] = False
    assert np.array_equal(out[outside], source[outside])


def test_inputs_from_folders_and_globs(tmp_path, rng):
    _images(tmp_path / "in", rng, 3)
    _images(tmp_path / "in" / "deeper", rng, 2)
    (tmp_path / "in" / "notes.txt").write_text("not an image")
    assert [p.name for p in expand_inputs([tmp_path / "in"])] == ["img00.png", "img01.png",
                                                                   "img02.png"]
    assert len(expand_inputs([str(tmp_path / "in" / "**" / "*.png")])) == 5
    assert len(expand_inputs([tmp_path / "in", str(tmp_path / "in" / "*.png")])) == 3
    with pytest.raises(OptionError, match="no file matches"):
        expand_inputs([str(tmp_path / "nothing" / "*.png")])
    assert expand_inputs([tmp_path / "missing.png"]) == [tmp_path / "missing.png"]


def test_batch_level_errors_come_before_any_work(tmp_path, rng, invoke):
    inputs = _images(tmp_path / "in", rng, 1)
    recipe = _recipe(tmp_path)
    code, output = invoke("run", recipe, *inputs, "-o", tmp_path / "out", "--sign-cert",
                          tmp_path / "cert.pem")
    assert code == 1 and "needs both a certificate chain (--sign-cert) and its key (--sign-key)" in output
    bad = _recipe(tmp_path, '[[steps]]\nop = "adjust"\nexposur = 1\n', "bad.toml")
    code, output = invoke("run", bad, *inputs, "-o", tmp_path / "out")
    assert code == 1
    assert output.strip().endswith("step 1 (adjust): unknown parameter 'exposur' (did you "
                                          "mean 'exposure'?); adjust takes exposure, temperature, "
                                          "tint, saturation, contrast, mask, boxes, polygons, "
                                          "key, key_tolerance, detect, detect_model, "
                                          "detect_box, detect_points, feather, coordinates")
    assert len(output.strip().splitlines()) == 1
    assert not (tmp_path / "out").exists()


def test_ops_lists_every_op_from_the_declarations(invoke):
    code, output = invoke("ops")
    assert code == 0
    for op in ("upscale", "remove", "match_colour", "match_grain", "lut", "adjust", "resize",
               "crop", "encode"):
        assert f"\n{op}: " in "\n" + output
    assert "dilate (integer in [0, 1000]; default 4)" in output


def test_signed_outputs_carry_content_credentials(tmp_path, rng, invoke):
    pytest.importorskip("c2pa")
    from certificates import make_chain

    from burnish.engine.provenance.content_credentials import read_credentials

    chain = make_chain(tmp_path)
    inputs = _images(tmp_path / "in", rng, 1)
    code, output = invoke("run", _recipe(tmp_path), *inputs, "-o", tmp_path / "out",
                          "--sign-cert", chain.chain, "--sign-key", chain.key)
    assert code == 0, output
    target = tmp_path / "out" / "img00_done.png"
    store = read_credentials(target)
    assert [s["code"] for s in store["validation_status"]] in ([], ["signingCredential.untrusted"])
    manifest = store["manifests"][store["active_manifest"]]
    actions = next(a for a in manifest["assertions"] if a["label"].startswith("c2pa.actions"))
    names = [a["action"] for a in actions["data"]["actions"]]
    assert names[0] == "c2pa.opened" and "c2pa.resized" in names and "c2pa.edited" in names
    edited = next(a for a in actions["data"]["actions"] if a["action"] == "c2pa.edited")
    assert edited["digitalSourceType"] == COMPOSITE
    record = json.loads(sidecar_path(target).read_text())
    assert record["content_credentials"]["signed"] is True
    assert record["output"]["sha256"] == file_sha256(target)  # the hash of the signed file


# ---- each op's contract -----------------------------------------------------------------


def _apply(pixels: np.ndarray, steps: list[dict], base: Path, image: Path | None = None):
    recipe = recipe_from_data({"steps": steps}, base=base)
    with Resources() as resources:
        return apply_steps(pixels, recipe.steps, resources, image=image or base / "x.png",
                           context=Context(base))


@pytest.mark.parametrize("op", [
    {"op": "adjust", "exposure": 0.7, "saturation": 0.3},
    {"op": "match_colour", "reference": "ref.png"},
    {"op": "match_colour", "reference": "ref.png", "method": "mkl"},
    {"op": "match_colour", "reference": "ref.png", "method": "histogram"},
    {"op": "match_grain", "reference": "ref.png", "amount": 2.0},
    {"op": "lut", "file": "look.cube"},
])
@pytest.mark.parametrize("dtype", [np.uint8, np.uint16])
def test_masked_grades_leave_everything_outside_bit_identical(tmp_path, rng, op, dtype):
    reference = random_image(rng, 40, 40, 3, dtype)
    reference[:20] //= 3  # structure, so the statistics differ from the image's
    write_image(tmp_path / "ref.png", reference)
    (tmp_path / "look.cube").write_text("LUT_3D_SIZE 2\n" + "0 0 0\n0.5 0 0\n0 1 0\n1 1 0\n"
                                        "0 0 1\n1 0 1\n0 1 1\n1 1 0.5\n")
    image = np.ascontiguousarray(random_image(rng, 33, 47, 4, dtype))
    image[..., :3] = np.clip(image[..., :3], 0, np.iinfo(dtype).max // 2 + 7)
    box = "5,7,20,11"
    applied = _apply(image, [{**op, "boxes": [box], "feather": 3}], tmp_path)
    assert applied.records[0].region is not None
    region = applied.records[0].region.dense()
    assert region[7:18, 5:25].all() and not region.all()
    assert np.array_equal(applied.pixels[~region], image[~region])
    assert np.array_equal(applied.pixels[..., 3], image[..., 3])  # alpha kept
    assert not np.array_equal(applied.pixels[7:18, 5:25, :3], image[7:18, 5:25, :3])
    whole = _apply(image, [op], tmp_path)
    assert whole.records[0].region is None
    assert np.array_equal(whole.pixels[10:15, 8:22], applied.pixels[10:15, 8:22])  # full weight


@pytest.mark.parametrize("method", ["reinhard", "mkl", "histogram"])
def test_an_8_bit_reference_grades_a_16_bit_image(tmp_path, rng, method):
    write_image(tmp_path / "ref.png", random_image(rng, 20, 20, 3) // 2)
    image = random_image(rng, 15, 17, 3, np.uint16)
    out = _apply(image, [{"op": "match_colour", "reference": "ref.png", "method": method}],
                 tmp_path).pixels
    assert out.dtype == np.uint16 and out.mean() < image.mean()


@pytest.mark.parametrize("params, shape", [
    ({"width": 40}, (22, 40)),  # 21.6 rows
    ({"height": 10}, (10, 19)),  # 18.5 columns
    ({"width": 30, "height": 30, "fit": "contain"}, (16, 30)),
    ({"width": 30, "height": 30, "fit": "cover"}, (30, 30)),
    ({"width": 30, "height": 31, "fit": "stretch"}, (31, 30)),
    ({"scale": 0.5}, (14, 25)),  # 13.5 rows round to even
])
def test_resize_sizes(tmp_path, rng, params, shape):
    image = random_image(rng, 27, 50, 3, np.uint16)
    out = _apply(image, [{"op": "resize", **params}], tmp_path).pixels
    assert out.shape == (*shape, 3) and out.dtype == np.uint16


def test_resize_matches_pillow_on_8_bit(tmp_path, rng):
    from PIL import Image

    image = random_image(rng, 27, 50, 1)
    out = _apply(image, [{"op": "resize", "width": 20, "filter": "bicubic"}], tmp_path).pixels
    expected = np.asarray(Image.fromarray(image[..., 0]).resize((20, 11), Image.BICUBIC))
    assert np.abs(out[..., 0].astype(int) - expected).max() <= 1


@pytest.mark.parametrize("params, box", [
    ({"box": "3,4,10,6"}, (3, 4, 10, 6)),
    ({"aspect": "1:1"}, (10, 0, 30, 30)),
    ({"aspect": "1:1", "gravity": "left"}, (0, 0, 30, 30)),
    ({"aspect": "4:1", "gravity": "bottom"}, (0, 18, 50, 12)),
])
def test_crops(tmp_path, rng, params, box):
    image = random_image(rng, 30, 50, 3)
    out = _apply(image, [{"op": "crop", **params}], tmp_path).pixels
    x, y, w, h = box
    assert np.array_equal(out, image[y:y + h, x:x + w])


def test_a_crop_outside_the_image_is_that_files_error(tmp_path, rng):
    from burnish.errors import InputError

    with pytest.raises(InputError, match=r"x\.png: step 1 \(crop\): crop box 40,0,20,20 is "
                                         r"outside the 50x30 image"):
        _apply(random_image(rng, 30, 50, 3), [{"op": "crop", "box": "40,0,20,20"}], tmp_path)


def test_regions_follow_geometry(tmp_path, rng):
    image = random_image(rng, 30, 40, 3)
    steps = [{"op": "adjust", "exposure": 1.0, "boxes": ["4,6,10,8"]},
             {"op": "upscale", "scale": 2, "model": "lanczos"},
             {"op": "crop", "box": "2,4,60,50"}]
    region = _apply(image, steps, tmp_path).records[0].region
    expected = np.zeros((30, 40), bool)
    expected[6:14, 4:14] = True
    expected = np.repeat(np.repeat(expected, 2, 0), 2, 1)[4:54, 2:62]
    assert np.array_equal(region, expected)


def test_encode_converts_depth_for_eight_bit_formats(tmp_path, rng):
    inputs = [tmp_path / "deep.png"]
    image = random_image(rng, 12, 14, 3, np.uint16)
    write_image(inputs[0], image)
    recipe = recipe_from_data({"steps": [{"op": "encode", "format": "jpeg", "quality": 100,
                                          "name": "{stem}_8"}]}, base=tmp_path)
    results = run_recipe(recipe, inputs, RunOptions(output=tmp_path / "out"))
    assert results[0].ok and results[0].note == "written as 8-bit"
    out, meta = read_image(tmp_path / "out" / "deep_8.jpg")
    assert out.dtype == np.uint8 and meta.format == "JPEG"


def test_mask_run_lengths_round_trip(rng):
    for shape in ((1, 1), (7, 13), (40, 33)):
        for density in (0.0, 0.3, 1.0):
            mask = rng.random(shape) < density
            rle = encode_mask(mask)
            assert sum(rle["counts"]) == mask.size
            assert np.array_equal(decode_mask(json.loads(json.dumps(rle))), mask)


def test_recipe_files_travel_with_the_recipe(tmp_path, rng):
    """Relative paths start at the recipe's folder, not the working directory."""
    kit = tmp_path / "kit"
    kit.mkdir()
    write_image(kit / "ref.png", random_image(rng, 20, 20, 3))
    _recipe(kit, '[[steps]]\nop = "match_colour"\nreference = "ref.png"\n')
    moved = shutil.move(kit, tmp_path / "elsewhere")
    recipe = load_recipe(Path(moved) / "recipe.toml")
    inputs = _images(tmp_path / "in", rng, 1)
    assert run_recipe(recipe, inputs, RunOptions(output=tmp_path / "out"))[0].ok
