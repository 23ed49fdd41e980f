"""The streaming chain: every op that streams gives, band by band, what it gives on the whole
image, for band sizes from the smallest (16 rows) to one band, odd sizes, uint8, uint16 and
float32, grey to RGBA; and chains of them. The whole-image results are checked against
independent references (Pillow's resize of the whole image, the kernels on the whole image,
slicing, the tile scheduler's upscale)."""

from __future__ import annotations

import numpy as np
import pytest
from PIL import Image

import burnish
from burnish.engine.edit_masks import Frame
from burnish.engine.imageio import write_image
from burnish.engine.ops import OPS
from burnish.engine.ops.declare import Outcome, StepInput
from burnish.engine.ops.params import Context
from burnish.engine.pixels import from_float, to_float
from burnish.engine.recipes.pipeline import apply_steps
from burnish.engine.recipes.recipe import recipe_from_data
from burnish.engine.recipes.resources import Resources
from burnish.engine.tiling import chain
from burnish.engine.tiling.chain import ArrayStage, TiledStage, collect

# band budgets in bytes: 1 gives the smallest bands (16 rows), 10**12 one band for all
BUDGETS = [1, 3_000, 50_000, 10**12]
LAYOUTS = [(1, np.uint8), (2, np.uint16), (3, np.float32), (4, np.uint8), (3, np.uint16)]


def random_image(rng, height, width, channels, dtype) -> np.ndarray:
    if np.dtype(dtype).kind == "f":
        return rng.random((height, width, channels), dtype=np.float32)
    return rng.integers(0, np.iinfo(dtype).max, (height, width, channels), dtype=dtype,
                        endpoint=True)


def run_steps(pixels, steps, tmp_path, budget, monkeypatch):
    monkeypatch.setattr(chain, "BAND_BYTES", budget)
    recipe = recipe_from_data({"steps": steps}, base=tmp_path)
    with Resources() as resources:
        return apply_steps(pixels, recipe.steps, resources, image=tmp_path / "x.png",
                           context=Context(tmp_path)).pixels


def assert_close(actual, expected, dtype):
    assert actual.shape == expected.shape and actual.dtype == expected.dtype
    if np.dtype(dtype).kind == "f":
        np.testing.assert_allclose(actual, expected, atol=1e-5)
    else:  # <= 1/255 of full scale, the engine's tiled-equals-untiled contract
        top = np.iinfo(dtype).max
        assert np.abs(actual.astype(np.int64) - expected).max() <= top // 255


def pillow_resize(pixels, width, height, resample):
    planes = to_float(pixels)
    out = np.stack([np.asarray(Image.fromarray(np.ascontiguousarray(planes[..., c]))
                               .resize((width, height), resample))
                    for c in range(pixels.shape[2])], axis=-1)
    return from_float(out, pixels.dtype)


@pytest.mark.parametrize(("channels", "dtype"), LAYOUTS)
@pytest.mark.parametrize("budget", BUDGETS)
def test_resize_in_bands_is_pillows_whole_resize(tmp_path, monkeypatch, rng, channels, dtype,
                                                 budget):
    pixels = random_image(rng, 97, 61, channels, dtype)
    for size, name, code in (((37, 203), "lanczos", Image.LANCZOS),
                             ((140, 41), "bicubic", Image.BICUBIC),
                             ((61, 250), "bilinear", Image.BILINEAR)):
        out = run_steps(pixels, [{"op": "resize", "width": size[0], "height": size[1],
                                  "fit": "stretch", "filter": name}], tmp_path, budget,
                        monkeypatch)
        assert_close(out, pillow_resize(pixels, *size, code), dtype)


@pytest.mark.parametrize("budget", BUDGETS)
def test_nearest_resize_and_crop_in_bands_are_exact(tmp_path, monkeypatch, rng, budget):
    pixels = random_image(rng, 83, 59, 3, np.uint16)
    out = run_steps(pixels, [{"op": "resize", "width": 131, "height": 29, "fit": "stretch",
                              "filter": "nearest"}], tmp_path, budget, monkeypatch)
    np.testing.assert_array_equal(out, Frame.resampled((83, 59), (29, 131)).warp(pixels))
    out = run_steps(pixels, [{"op": "crop", "box": "7,11,40,53"}], tmp_path, budget,
                    monkeypatch)
    np.testing.assert_array_equal(out, pixels[11:64, 7:47])


@pytest.mark.parametrize(("channels", "dtype"), LAYOUTS)
@pytest.mark.parametrize("budget", BUDGETS)
def test_adjust_and_lut_in_bands_are_the_kernels_on_the_whole_image(
        tmp_path, monkeypatch, rng, channels, dtype, budget):
    from burnish import kernels

    if channels < 3:
        pytest.skip("adjust and lut need RGB")
    pixels = random_image(rng, 75, 43, channels, dtype)
    out = run_steps(pixels, [{"op": "adjust", "exposure": 0.4, "saturation": 1.3,
                              "temperature": 0.2, "contrast": 1.1}], tmp_path, budget,
                    monkeypatch)
    colour = np.ascontiguousarray(pixels[..., :3])
    expected = kernels.contrast(kernels.saturation(kernels.white_balance(
        kernels.exposure(colour, 0.4), temperature=0.2, tint=0.0), 1.3), 1.1)
    np.testing.assert_array_equal(out[..., :3], expected)
    np.testing.assert_array_equal(out[..., 3:], pixels[..., 3:])  # alpha kept


@pytest.mark.parametrize("budget", BUDGETS)
@pytest.mark.parametrize("model", ["lanczos", None])
def test_upscale_in_bands_is_the_schedulers_upscale(tmp_path, monkeypatch, rng, budget, model):
    pixels = random_image(rng, 45, 38, 4, np.uint8)
    steps = [{"op": "upscale", "scale": 2 if model is None else 3, "tile": 16,
              **({"model": model} if model else {})}]
    out = run_steps(pixels, steps, tmp_path, budget, monkeypatch)
    expected = burnish.upscale(pixels, model=model, scale=2 if model is None else 3, tile=16)
    np.testing.assert_array_equal(out, expected)


@pytest.mark.parametrize(("channels", "dtype"), [(3, np.uint8), (4, np.uint16), (3, np.float32)])
def test_a_chain_in_bands_equals_the_chain_in_one_band(tmp_path, monkeypatch, rng, channels,
                                                        dtype):
    pixels = random_image(rng, 71, 53, channels, dtype)
    steps = [{"op": "adjust", "exposure": -0.3}, {"op": "upscale", "model": "lanczos",
                                                  "scale": 2},
             {"op": "crop", "box": "5,9,90,120"},
             {"op": "resize", "width": 57, "fit": "contain", "filter": "lanczos"},
             {"op": "adjust", "saturation": 0.7}]
    whole = run_steps(pixels, steps, tmp_path, 10**12, monkeypatch)
    assert whole.shape[:2] == (76, 57)
    for budget in BUDGETS[:3]:
        assert_close(run_steps(pixels, steps, tmp_path, budget, monkeypatch), whole, dtype)


def test_whole_image_ops_run_in_a_chain_with_streamed_ones(tmp_path, monkeypatch, rng):
    """Steps that need the whole image (a colour match, a removal) sit between streamed ones
    and give what they give alone."""
    pixels = random_image(rng, 64, 48, 3, np.uint8)
    Image.fromarray(random_image(rng, 30, 30, 3, np.uint8)).save(tmp_path / "look.png")
    steps = [{"op": "remove", "boxes": ["10,10,12,9"]},
             {"op": "match_colour", "reference": "look.png"},
             {"op": "upscale", "model": "lanczos", "scale": 2}]
    whole = run_steps(pixels, steps, tmp_path, 10**12, monkeypatch)
    for budget in BUDGETS[:3]:
        np.testing.assert_array_equal(run_steps(pixels, steps, tmp_path, budget, monkeypatch),
                                      whole)


def test_a_stage_refuses_rows_it_released_and_bands_of_the_wrong_kind(rng):
    pixels = random_image(rng, 40, 10, 1, np.uint8)
    stage = TiledStage(ArrayStage(pixels), lambda window, top: window)
    stage.rows(0, 40)
    stage.release(30)
    with pytest.raises(RuntimeError, match="released"):
        stage.rows(20, 40)
    wrong = TiledStage(ArrayStage(pixels), lambda window, top: window.astype(np.float32))
    with pytest.raises(RuntimeError, match="float32 band"):
        collect(wrong)


def test_an_op_run_is_its_stage_over_the_whole_image(tmp_path, rng):
    pixels = random_image(rng, 33, 21, 3, np.uint8)
    adjust = OPS["adjust"]
    params = adjust.check({"exposure": 0.5}, Context(tmp_path))
    with Resources() as resources:
        step = StepInput(params, resources, tmp_path / "x.png", Context(tmp_path))
        outcome = adjust.run(pixels, step)
        staged = collect(adjust.stage(ArrayStage(pixels), step, Outcome()))
    np.testing.assert_array_equal(outcome.pixels, staged)


@pytest.mark.parametrize(("method", "dtype"), [("reinhard", np.uint8), ("reinhard", np.float32),
                                               ("mkl", np.uint16), ("histogram", np.uint8),
                                               ("histogram", np.uint16)])
@pytest.mark.parametrize("budget", BUDGETS[:3])
@pytest.mark.parametrize("size", [(131, 47), (45, 703)])  # wide: several tiles per band
def test_match_colour_in_two_passes_is_the_whole_image_transfer(tmp_path, monkeypatch, rng,
                                                                method, dtype, budget, size):
    """The statistics gathered band by band and each band recoloured tile by tile with its
    context give the kernels' transfer and fine-detail limit of the whole image."""
    from burnish import kernels

    pixels = random_image(rng, *size, 4 if method == "mkl" else 3, dtype)
    look = random_image(rng, 40, 30, 3, dtype)
    write_image(tmp_path / "look.tif", look)
    out = run_steps(pixels, [{"op": "match_colour", "reference": "look.tif",
                              "method": method}], tmp_path, budget, monkeypatch)
    match = {"reinhard": kernels.reinhard, "mkl": kernels.mkl,
             "histogram": kernels.match_histograms}[method]
    colour = np.ascontiguousarray(pixels[..., :3])
    expected = kernels.limit_fine_detail(match(colour, look), colour)
    assert_close(out[..., :3], expected, dtype)
    np.testing.assert_array_equal(out[..., 3:], pixels[..., 3:])


@pytest.mark.parametrize(("channels", "dtype"), [(3, np.uint8), (1, np.uint16), (4, np.float32),
                                             (2, np.uint8)])
@pytest.mark.parametrize("budget", BUDGETS[:3])
@pytest.mark.parametrize("size", [(131, 47), (45, 703)])
def test_match_grain_in_two_passes_is_the_whole_image_grain(tmp_path, monkeypatch, rng,
                                                            channels, dtype, budget, size):
    """The image's own grain measured band by band and the noise field made band by band
    give the bytes of the grade of the whole image (the kernels on the whole image)."""
    from burnish import kernels

    colours = 1 if channels <= 2 else 3
    pixels = random_image(rng, *size, channels, dtype)  # alpha stays random
    height, width = size
    ramp = 0.3 + 0.4 * np.linspace(0, 1, width)[None, :, None] + 0.002 * rng.standard_normal(
        (height, width, colours))  # smooth, with less grain than the reference
    pixels[..., :colours] = from_float(np.clip(ramp, 0, 1).astype(np.float32), np.dtype(dtype))
    look = (np.clip(0.5 + 0.1 * rng.standard_normal((64, 80, colours)), 0, 1) * 255
            ).astype(np.uint8)
    write_image(tmp_path / "look.png", look)
    out = run_steps(pixels, [{"op": "match_grain", "reference": "look.png", "seed": 5,
                              "amount": 1.5}], tmp_path, budget, monkeypatch)
    colour = np.ascontiguousarray(pixels[..., :colours])
    reference = kernels.estimate_grain(look)
    try:
        own = kernels.estimate_grain(colour)
        own_sigma = np.stack([np.interp(reference.levels, own.levels, s) for s in own.sigma])
    except ValueError:  # an image with no whole block has no grain of its own
        own_sigma = np.zeros_like(reference.sigma)
    missing = np.sqrt(np.maximum(reference.sigma ** 2 - own_sigma ** 2, 0.0)) * 1.5
    grain = kernels.Grain(reference.levels, missing, reference.ar)
    expected = kernels.synthesize_grain(colour, grain, seed=5)
    np.testing.assert_array_equal(out[..., :colours], expected)
    np.testing.assert_array_equal(out[..., colours:], pixels[..., colours:])
    assert not np.array_equal(out, pixels)  # grain was added


# --- regional stages: removal and masked grades, window by window -------------------------

TALL = (400, 61)  # two boxes far apart: windows of their own, rows between them pass through
REGIONS = {
    "boxes": {"boxes": ["7,10,12,9", "30,371,15,8"]},
    "polygons": {"polygons": ["5,12 25,9 18,30", "40,360 55,380 33,385"]},
    "mask": {"mask": "hole.png"},
    "key": {"key": "#ff00ff", "key_tolerance": 0},
}


def regional_image(rng, channels, dtype, tmp_path):
    """Noise with two magenta patches (the key) and a mask file of the same two patches."""
    pixels = random_image(rng, *TALL, channels, dtype)
    hole = np.zeros(TALL, bool)
    hole[12:20, 9:17] = hole[365:378, 40:49] = True
    top = 1.0 if np.dtype(dtype).kind == "f" else np.iinfo(dtype).max
    if channels >= 3:
        pixels[..., :3][hole] = (top, 0, top)
    write_image(tmp_path / "hole.png", hole[..., None].astype(np.uint8) * 255)
    return pixels, hole


def whole_image_mask(pixels, region, tmp_path):
    from burnish.engine.edit_masks import build_mask

    given = dict(region)
    if "mask" in given:
        given["mask_file"] = tmp_path / given.pop("mask")
    return build_mask(pixels, **given)


@pytest.mark.parametrize(("channels", "dtype", "method", "source"), [
    (3, np.uint8, "patchmatch", "boxes"), (4, np.uint16, "telea", "polygons"),
    (1, np.float32, "telea", "mask"), (3, np.uint16, "patchmatch", "key"),
    (3, np.float32, "telea", "key")])
@pytest.mark.parametrize("budget", [1, 50_000, 10**12])
def test_removal_window_by_window_is_the_whole_image_removal(tmp_path, monkeypatch, rng,
                                                             channels, dtype, method, source,
                                                             budget):
    """The remove step streams: only windows around the holes are computed, from their own
    pixels, and the result is burnish.remove of the whole image with the same mask."""
    pixels, _ = regional_image(rng, channels, dtype, tmp_path)
    region = REGIONS[source]
    step = {"op": "remove", "method": method, "dilate": 2, "feather": 3, **region}
    out = run_steps(pixels, [step], tmp_path, budget, monkeypatch)
    mask = whole_image_mask(pixels, region, tmp_path)
    expected = burnish.remove(pixels, mask, method=method, dilate=2, feather=3)
    np.testing.assert_array_equal(out, expected)
    # the rows between the two windows were never touched
    np.testing.assert_array_equal(out[200:230], pixels[200:230])


@pytest.mark.parametrize("source", ["boxes", "polygons", "mask", "key"])
@pytest.mark.parametrize("budget", [1, 50_000, 10**12])
def test_a_masked_grade_window_by_window_is_the_grade_composited_over_the_whole_image(
        tmp_path, monkeypatch, rng, source, budget):
    from burnish import kernels
    from burnish.engine.removal.composite_plan import composite_weight

    pixels, _ = regional_image(rng, 4, np.uint16, tmp_path)
    region = REGIONS[source]
    out = run_steps(pixels, [{"op": "adjust", "exposure": 0.7, "feather": 4, **region}],
                    tmp_path, budget, monkeypatch)
    mask = whole_image_mask(pixels, region, tmp_path)
    graded = pixels.copy()
    graded[..., :3] = kernels.exposure(np.ascontiguousarray(pixels[..., :3]), 0.7)
    expected = kernels.blend(graded, pixels, composite_weight(mask, dilate=0, feather=4))
    expected[..., 3] = pixels[..., 3]
    np.testing.assert_array_equal(out, expected)


def test_far_apart_holes_are_removed_as_if_alone(rng):
    """A hole's fill depends only on its surroundings (its window) and where it is: removing
    two far-apart holes at once equals removing one, then the other."""
    pixels = random_image(rng, 420, 70, 3, np.uint8)
    first, second = np.zeros((420, 70), bool), np.zeros((420, 70), bool)
    first[20:30, 10:22] = True
    second[380:392, 40:55] = True
    together = burnish.remove(pixels, first | second, seed=5)
    one_by_one = burnish.remove(burnish.remove(pixels, first, seed=5), second, seed=5)
    np.testing.assert_array_equal(together, one_by_one)
    assert not np.array_equal(together[20:30, 10:22], pixels[20:30, 10:22])
