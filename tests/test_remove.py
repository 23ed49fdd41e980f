"""Object removal (burnish.engine.removal.object_removal) and harmonisation (burnish.engine.removal.harmonise).

The contract, on fresh random images, masks, dilations and feathers, for every pixel format
(uint8, uint16, float32; 1 to 4 channels, 2 and 4 carrying alpha), both built-in methods and
harmonisation on and off: pixels where the composite weight is 0 are the input's bit for bit,
pixels where it is 1 are reconstructed, alpha is kept (or made opaque on request), an empty
mask changes nothing, a seed gives the same bytes. Then the errors, harmonise's two steps,
and batches of files (one bad file never stopping the rest).

Images stay small (tens of pixels a side): the whole file runs in seconds once the kernels
are compiled (they are cached on disk).
"""

from __future__ import annotations

import numpy as np
import pytest
from scipy import ndimage

import burnish
from burnish.engine.imageio import read_image, write_image
from burnish.engine.removal.composite_plan import composite_weight
from burnish.engine.removal.harmonise import harmonise
from burnish.engine.removal.object_removal import (
    MaskSpec,
    Reconstructor,
    remove,
    remove_files,
)
from burnish.errors import InputError, OptionError
from burnish.kernels.dtypes import full_scale

from conftest import random_image

DTYPES = [np.uint8, np.uint16, np.float32]
METHODS = ["patchmatch", "telea"]


def colour_count(channels):
    return channels - 1 if channels in (2, 4) else channels


def small_hole(rng, height, width):
    """A box of 2 to 10 px a side, or a blob inside a random 10 x 10 window; never empty. Grown
    by up to 6 + 6 px it still leaves whole 7 x 7 patches outside in a 48 px image."""
    hole = np.zeros((height, width), bool)
    if rng.random() < 0.5:
        box_height, box_width = (int(v) for v in rng.integers(2, 11, size=2))
        top = int(rng.integers(0, height - box_height + 1))
        left = int(rng.integers(0, width - box_width + 1))
        hole[top: top + box_height, left: left + box_width] = True
    else:
        top, left = int(rng.integers(0, height - 10)), int(rng.integers(0, width - 10))
        field = ndimage.gaussian_filter(rng.random((10, 10)), rng.uniform(1, 2))
        hole[top: top + 10, left: left + 10] = field > np.quantile(field, rng.uniform(0.4, 0.9))
    return hole


def onnx_model(path):
    """A LaMa-contract graph (``image + 0.25 * mask``) built without PyTorch."""
    onnx = pytest.importorskip("onnx")
    pytest.importorskip("onnxruntime")
    from onnx import TensorProto, helper, numpy_helper

    nodes = [helper.make_node("Mul", ["mask", "fill"], ["filled"]),
             helper.make_node("Add", ["image", "filled"], ["inpainted"])]
    graph = helper.make_graph(
        nodes, "contract",
        [helper.make_tensor_value_info("image", TensorProto.FLOAT, [1, 3, "h", "w"]),
         helper.make_tensor_value_info("mask", TensorProto.FLOAT, [1, 1, "h", "w"])],
        [helper.make_tensor_value_info("inpainted", TensorProto.FLOAT, [1, 3, "h", "w"])],
        [numpy_helper.from_array(np.float32(0.25), "fill")])
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    model.ir_version = 8
    onnx.save(model, str(path))
    return path


# --- the composite contract -----------------------------------------------------------------


@pytest.mark.parametrize("harmonize", [True, False], ids=["harmonized", "raw"])
@pytest.mark.parametrize("method", METHODS)
@pytest.mark.parametrize("channels", [1, 2, 3, 4])
@pytest.mark.parametrize("dtype", DTYPES, ids=lambda d: np.dtype(d).name)
def test_only_the_feathered_mask_changes(rng, dtype, channels, method, harmonize):
    height, width = (int(v) for v in rng.integers(48, 65, size=2))
    image = random_image(rng, height, width, channels, dtype)
    before = image.copy()
    mask = small_hole(rng, height, width)
    dilate, feather = (int(v) for v in rng.integers(0, 7, size=2))
    out = remove(image, mask, method=method, dilate=dilate, feather=feather,
                 harmonize=harmonize, seed=int(rng.integers(2**31)))
    assert out.shape == image.shape and out.dtype == image.dtype
    assert np.array_equal(image, before), "the input was modified"

    weight = composite_weight(mask, dilate=dilate, feather=feather)
    untouched = weight == 0
    assert out[untouched].tobytes() == image[untouched].tobytes(), \
        f"a pixel with weight 0 changed (dilate {dilate}, feather {feather})"
    assert (weight[mask] == 1).all()
    colours = colour_count(channels)
    changed = (out[..., :colours] != image[..., :colours]).any(axis=2)
    assert changed[weight == 1].any(), "nothing inside the mask was reconstructed"
    if colours < channels:  # alpha is kept bit for bit (not opaque)
        assert out[..., -1].tobytes() == image[..., -1].tobytes(), "alpha changed"


@pytest.mark.parametrize("dtype", DTYPES, ids=lambda d: np.dtype(d).name)
def test_grey_2d_image_stays_2d(rng, dtype):
    image = random_image(rng, 40, 52, 1, dtype)[..., 0]
    mask = small_hole(rng, 40, 52)
    out = remove(image, mask, dilate=2, feather=3)
    assert out.shape == (40, 52) and out.dtype == image.dtype
    weight = composite_weight(mask, dilate=2, feather=3)
    assert out[weight == 0].tobytes() == image[weight == 0].tobytes()
    assert (out != image)[weight == 1].any()


def test_empty_mask_returns_the_input_for_every_method(rng, tmp_path):
    methods = METHODS + [onnx_model(tmp_path / "contract.onnx"), Reconstructor("telea")]
    for method in methods:
        for dtype in DTYPES:
            for channels in (1, 2, 3, 4):
                image = random_image(rng, 21, 27, channels, dtype)
                for mask in (np.zeros((21, 27), bool), np.zeros((21, 27), np.uint8)):
                    out = remove(image, mask, method=method, device="cpu")
                    assert out is not image
                    assert out.shape == image.shape and out.dtype == image.dtype
                    assert out.tobytes() == image.tobytes()
    grey = random_image(rng, 21, 27, 1)[..., 0]
    assert remove(grey, np.zeros((21, 27), bool)).tobytes() == grey.tobytes()


def test_onnx_method_keeps_the_contract(rng, tmp_path):
    image = random_image(rng, 40, 44, 3)
    mask = small_hole(rng, 40, 44)
    out = remove(image, mask, method=onnx_model(tmp_path / "contract.onnx"), dilate=2,
                 feather=2, device="cpu")
    weight = composite_weight(mask, dilate=2, feather=2)
    assert out.dtype == np.uint8 and out[weight == 0].tobytes() == image[weight == 0].tobytes()
    assert (out != image).any(axis=2)[weight == 1].any()


@pytest.mark.parametrize("method", METHODS)
def test_holes_at_the_border_and_several_disjoint_holes(rng, method):
    image = random_image(rng, 56, 64, 3)
    mask = np.zeros((56, 64), bool)
    mask[0:5, 0:6] = True            # top-left corner
    mask[20:26, 58:64] = True        # right border
    mask[51:56, 28:34] = True        # bottom border
    mask[24:29, 24:30] = True        # inside
    dilate, feather = (int(v) for v in rng.integers(0, 4, size=2))
    out = remove(image, mask, method=method, dilate=dilate, feather=feather,
                 seed=int(rng.integers(2**31)))
    weight = composite_weight(mask, dilate=dilate, feather=feather)
    assert out[weight == 0].tobytes() == image[weight == 0].tobytes()
    changed = (out != image).any(axis=2)
    labels, count = ndimage.label(mask)
    assert count == 4
    for label in range(1, count + 1):
        assert changed[labels == label].all(), f"hole {label} kept some of its pixels"


def test_same_seed_same_bytes(rng):
    """Harmonised: grain is synthesised from the seed on the smooth Telea fill of a grainy
    image, so the seed matters, and the same seed must give the same bytes."""
    y, x = np.mgrid[0:64, 0:72]
    base = 0.3 + 0.004 * (x + y)[..., None] + rng.normal(0, 0.03, (64, 72, 3))
    image = np.round(np.clip(base, 0, 1) * 255).astype(np.uint8)
    mask = np.zeros((64, 72), bool)
    mask[22:40, 26:46] = True
    seed = int(rng.integers(2**31))
    for method in METHODS:
        first = burnish.remove(image, mask, method=method, seed=seed)
        assert burnish.remove(image, mask, method=method, seed=seed).tobytes() == first.tobytes()
    smooth = burnish.remove(image, mask, method="telea", harmonize=False)
    grained = burnish.remove(image, mask, method="telea", seed=seed)
    assert grained.tobytes() != smooth.tobytes(), "no grain was synthesised"
    assert burnish.remove(image, mask, method="telea", seed=seed + 1).tobytes() != \
        grained.tobytes()


def test_progress_counts_groups_of_holes(rng):
    image = random_image(rng, 40, 360, 3)
    mask = np.zeros((40, 360), bool)
    mask[10:16, 10:16] = mask[20:26, 340:350] = True  # farther apart than twice the context
    calls = []
    remove(image, mask, dilate=1, feather=1,
           progress=lambda done, total: calls.append((done, total)))
    assert calls == [(1, 2), (2, 2)]


# --- alpha ----------------------------------------------------------------------------------


@pytest.mark.parametrize("channels", [2, 4])
@pytest.mark.parametrize("dtype", DTYPES, ids=lambda d: np.dtype(d).name)
def test_opaque_makes_the_grown_mask_opaque(rng, dtype, channels):
    image = random_image(rng, 48, 52, channels, dtype)
    mask = small_hole(rng, 48, 52)
    dilate, feather = (int(v) for v in rng.integers(0, 7, size=2))
    seed = int(rng.integers(2**31))
    out = remove(image, mask, dilate=dilate, feather=feather, opaque=True, seed=seed)
    weight = composite_weight(mask, dilate=dilate, feather=feather)
    alpha, before = out[..., -1], image[..., -1]
    assert (alpha[weight == 1] == full_scale(dtype)).all()
    assert alpha[weight == 0].tobytes() == before[weight == 0].tobytes()
    ramp = (weight > 0) & (weight < 1)  # between the old alpha and opaque
    assert (alpha[ramp] >= before[ramp]).all()
    # The colour channels do not depend on opaque.
    plain = remove(image, mask, dilate=dilate, feather=feather, seed=seed)
    assert out[..., :-1].tobytes() == plain[..., :-1].tobytes()


def test_opaque_is_a_no_op_without_alpha(rng):
    image = random_image(rng, 40, 40, 3)
    mask = small_hole(rng, 40, 40)
    assert remove(image, mask, opaque=True).tobytes() == remove(image, mask).tobytes()


def test_float32_alpha_is_kept_in_the_feather():
    # A fixed input on which a float mix of alpha with itself moved 14 ramp pixels by 6e-8.
    rng = np.random.default_rng(3)
    image = rng.random((40, 40, 4), dtype=np.float32)
    mask = np.zeros((40, 40), bool)
    mask[15:22, 12:20] = True
    out = remove(image, mask, method="telea", dilate=2, feather=4, harmonize=False)
    assert out[..., 3].tobytes() == image[..., 3].tobytes()


# --- errors ---------------------------------------------------------------------------------


def test_mask_of_another_size_is_an_input_error(rng):
    image = random_image(rng, 30, 40, 3)
    for mask_shape in [(40, 30), (20, 25), (30, 41)]:
        with pytest.raises(InputError) as error:
            remove(image, np.ones(mask_shape, bool))
        message = str(error.value)
        height, width = mask_shape
        assert "\n" not in message
        assert f"{width}x{height}" in message and "40x30" in message


@pytest.mark.parametrize("shape", [(30, 40, 1), (30,), (1, 30, 40)])
def test_mask_of_the_wrong_ndim_is_an_option_error(rng, shape):
    with pytest.raises(OptionError):
        remove(random_image(rng, 30, 40, 3), np.ones(shape, bool))


def test_bad_options_are_option_errors(rng):
    image = random_image(rng, 30, 40, 3)
    mask = small_hole(rng, 30, 40)
    with pytest.raises(OptionError) as error:
        remove(image, mask, method="smear")
    assert "smear" in str(error.value) and "\n" not in str(error.value)
    for method in METHODS:
        for patch_size in (4, 6, 1):
            with pytest.raises(OptionError):
                remove(image, mask, method=method, patch_size=patch_size)
    with pytest.raises(OptionError):
        remove(image, mask, dilate=-1)
    with pytest.raises(OptionError):
        remove(image, mask, feather=-1)
    with pytest.raises(OptionError):
        remove(image.astype(np.int32), mask)
    with pytest.raises(OptionError):
        remove(random_image(rng, 30, 40, 5), mask)
    with pytest.raises(OptionError):
        Reconstructor("smear")
    # A hole that leaves no whole patch to copy from is the user's to fix, not a crash.
    with pytest.raises(OptionError):
        remove(image, np.ones((30, 40), bool))


def test_bad_options_are_refused_even_with_an_empty_mask(rng):
    image = random_image(rng, 30, 40, 3)
    empty = np.zeros((30, 40), bool)
    with pytest.raises(OptionError):
        remove(image, empty, method="smear")


# --- harmonise ------------------------------------------------------------------------------


def test_harmonise_changes_only_the_hole(rng):
    for channels in (1, 3):
        image = random_image(rng, 70, 80, channels, np.float32)
        hole = small_hole(rng, 70, 80) | small_hole(rng, 70, 80)
        filled = image.copy()
        filled[hole] = rng.random((int(hole.sum()), channels), dtype=np.float32)
        for colour, grain in [(True, True), (True, False), (False, True)]:
            out = harmonise(filled, hole, colour=colour, grain=grain,
                            seed=int(rng.integers(2**31)))
            assert out.shape == filled.shape and out.dtype == np.float32
            assert out[~hole].tobytes() == filled[~hole].tobytes()
            assert np.isfinite(out).all() and out.min() >= 0 and out.max() <= 1


@pytest.mark.parametrize("method, colour", [("patchmatch", False), ("telea", True)])
def test_harmonising_a_patchmatch_fill_leaves_its_colour(rng, method, colour):
    """PatchMatch's gradient-domain blend already meets the rim's colour: the removal's
    harmonising restores grain only; other methods' fills get both steps. The removal equals
    fill, then harmonise with those steps, then the composite (weight 1 on the hole here)."""
    image = random_image(rng, 60, 70, 3, np.float32)
    hole = small_hole(rng, 60, 70)
    seed = int(rng.integers(2**31))
    with Reconstructor(method) as reconstructor:
        assert reconstructor.matches_rim_colour is not colour
        filled = reconstructor.fill(image, hole, seed=seed)
    expected = harmonise(filled, hole, colour=colour, seed=seed)
    out = remove(image, hole, method=method, dilate=0, feather=0, seed=seed)
    np.testing.assert_array_equal(out, expected)


def grainy(rng, size, channels, level, sigma):
    return np.clip(level + rng.normal(0, sigma, (size, size, channels)), 0, 1).astype(np.float32)


@pytest.mark.parametrize("channels", [1, 3])
def test_harmonise_puts_grain_back_on_a_smooth_fill(rng, channels):
    image = grainy(rng, 96, channels, 0.5, 0.03)
    hole = np.zeros((96, 96), bool)
    top, left = (int(v) for v in rng.integers(10, 47, size=2))
    hole[top: top + 40, left: left + 40] = True
    filled = image.copy()
    filled[hole] = 0.5
    out = harmonise(filled, hole, colour=False, seed=int(rng.integers(2**31)))
    outside = image[~hole].std()
    assert 0.5 * outside <= out[hole].std() <= 1.5 * outside
    assert out[hole].std() > 10 * filled[hole].std()


def test_harmonise_matches_the_fill_colour_to_its_surroundings(rng):
    image = grainy(rng, 96, 3, 0.4, 0.02) * np.float32([1.0, 0.9, 1.1])
    hole = np.zeros((96, 96), bool)
    top, left = (int(v) for v in rng.integers(10, 47, size=2))
    hole[top: top + 40, left: left + 40] = True
    filled = image.copy()
    filled[hole] += np.float32(0.1)
    surroundings = image[~hole].mean(axis=0)
    assert np.abs(filled[hole].mean(axis=0) - surroundings).min() > 0.09
    out = harmonise(filled, hole, grain=False)
    np.testing.assert_allclose(out[hole].mean(axis=0), surroundings, rtol=0, atol=0.02)


def test_harmonise_same_seed_same_bytes(rng):
    image = grainy(rng, 80, 3, 0.45, 0.03)
    hole = np.zeros((80, 80), bool)
    hole[20:50, 25:55] = True
    filled = image.copy()
    filled[hole] = image[hole].mean(axis=0)
    seed = int(rng.integers(2**31))
    first = harmonise(filled, hole, seed=seed)
    assert harmonise(filled, hole, seed=seed).tobytes() == first.tobytes()
    assert harmonise(filled, hole, seed=seed + 1).tobytes() != first.tobytes()


# --- files ----------------------------------------------------------------------------------


def test_batch_with_a_corrupt_file_in_the_middle(rng, tmp_path):
    first, second = random_image(rng, 40, 48, 3), random_image(rng, 36, 44, 4, np.uint16)
    write_image(tmp_path / "a.png", first)
    (tmp_path / "b.png").write_bytes(rng.integers(0, 256, 300, dtype=np.uint8).tobytes())
    write_image(tmp_path / "c.png", second)
    out_folder = tmp_path / "out"
    out_folder.mkdir()
    spec = MaskSpec(boxes=("10,12,9,7",))
    seed = int(rng.integers(2**31))
    results = remove_files([tmp_path / name for name in ("a.png", "b.png", "c.png")],
                           out_folder, masks=spec, dilate=2, feather=2, seed=seed)
    assert [result.ok for result in results] == [True, False, True]
    error = results[1].error
    assert "\n" not in error and "b.png" in error
    assert results[1].output is None
    assert sorted(p.name for p in out_folder.iterdir()) == ["a_removed.png", "c_removed.png"]
    # Each output holds what remove() makes of the same pixels and the same box.
    for source, result in [(first, results[0]), (second, results[2])]:
        assert result.output == out_folder / f"{result.input.stem}_removed.png"
        written, _ = read_image(result.output)
        expected = remove(source, spec.build(source), dilate=2, feather=2, seed=seed)
        assert written.dtype == source.dtype
        assert written.tobytes() == expected.tobytes()
        assert written.tobytes() != source.tobytes()


def test_batch_with_nothing_to_remove_is_refused_before_reading(rng, tmp_path):
    write_image(tmp_path / "a.png", random_image(rng, 20, 20, 3))
    with pytest.raises(OptionError):
        MaskSpec().check()
    with pytest.raises(OptionError):
        remove_files([tmp_path / "a.png"], masks=MaskSpec())
    with pytest.raises(OptionError):
        remove_files([tmp_path / "a.png"], masks=MaskSpec(boxes=("1,1,4,4",)), method="smear")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a.png"]


def test_batch_with_a_mask_file_of_the_wrong_size(rng, tmp_path):
    for name in ("a.png", "b.png"):
        write_image(tmp_path / name, random_image(rng, 30, 40, 3))
    write_image(tmp_path / "mask.png", np.full((12, 14, 1), 255, np.uint8))
    out_folder = tmp_path / "out"
    out_folder.mkdir()
    results = remove_files([tmp_path / "a.png", tmp_path / "b.png"], out_folder,
                           masks=MaskSpec(mask_file=tmp_path / "mask.png"), method="telea")
    assert [result.ok for result in results] == [False, False]
    for result in results:
        assert "\n" not in result.error and "mask.png" in result.error
        assert "14x12" in result.error and "40x30" in result.error
    assert list(out_folder.iterdir()) == []


def test_batch_with_a_mask_file_and_alpha(rng, tmp_path):
    """A mask file of the right size, united with the image's transparent pixels, which
    become opaque (MaskSpec.alpha is the CLI's --alpha)."""
    image = random_image(rng, 40, 44, 4)
    image[..., 3] = 255
    image[5:10, 30:36, 3] = 0  # erased
    mask_image = np.zeros((40, 44, 1), np.uint8)
    mask_image[25:31, 8:15] = 255
    write_image(tmp_path / "in.png", image)
    write_image(tmp_path / "mask.png", mask_image)
    spec = MaskSpec(mask_file=tmp_path / "mask.png", alpha=True)
    [result] = remove_files([tmp_path / "in.png"], tmp_path / "out.png", masks=spec,
                            method="telea", dilate=1, feather=2)
    assert result.ok and result.output == tmp_path / "out.png"
    written, _ = read_image(result.output)
    mask = spec.build(image)
    assert mask[25:31, 8:15].all() and mask[5:10, 30:36].all()
    weight = composite_weight(mask, dilate=1, feather=2)
    assert (written[..., 3][weight == 1] == 255).all()
    assert written[weight == 0].tobytes() == image[weight == 0].tobytes()


def test_single_file_errors_name_the_file(rng, tmp_path):
    (tmp_path / "broken.png").write_bytes(b"\x89PNG\r\n\x1a\n" + b"\0" * 40)
    [result] = remove_files([tmp_path / "broken.png"], masks=MaskSpec(boxes=("1,1,4,4",)))
    assert not result.ok and "broken.png" in result.error and "\n" not in result.error
    assert not (tmp_path / "broken_removed.png").exists()
