"""``burnish remove`` on the command line: results on disk, the composite contract, and one
clean line for every kind of bad input."""

from __future__ import annotations

import numpy as np
import pytest
from PIL import Image
from test_cli import assert_one_line_error, leftovers, run_cli, save_png

from burnish.engine.edit_masks import box_mask, parse_box
from burnish.engine.removal.composite_plan import composite_weight

from conftest import random_image


def textured(rng, height=40, width=52, channels=3):
    """Random texture: any fill changes the hole's pixels, and identity outside is exact."""
    return random_image(rng, height, width, channels)


@pytest.mark.parametrize("method", ["patchmatch", "telea"])
def test_box_removal_changes_only_the_grown_feathered_mask(monkeypatch, capsys, tmp_path, rng,
                                                           method):
    image = textured(rng)
    source = save_png(tmp_path / "in.png", image)
    code, out, err = run_cli(monkeypatch, capsys, "remove", source, "--box", "10,8,12,9",
                             "--method", method, "--dilate", 2, "--feather", 3, "--quiet")
    assert code == 0, err
    result = tmp_path / "in_removed.png"
    assert str(result) in out
    removed = np.asarray(Image.open(result))
    weight = composite_weight(box_mask(image.shape[:2], parse_box("10,8,12,9")), dilate=2,
                              feather=3)
    assert removed.shape == image.shape
    np.testing.assert_array_equal(removed[weight == 0], image[weight == 0])
    assert (removed[weight == 1] != image[weight == 1]).any()


def test_same_seed_same_bytes_and_mask_sources_unite(monkeypatch, capsys, tmp_path, rng):
    source = save_png(tmp_path / "in.png", textured(rng))
    outputs = []
    for name in ("a.png", "b.png"):
        code, _, err = run_cli(monkeypatch, capsys, "remove", source, "--box", "3,3,6,6",
                               "--polygon", "30,20 45,22 38,35", "--seed", 7, "-o",
                               tmp_path / name, "--quiet")
        assert code == 0, err
        outputs.append((tmp_path / name).read_bytes())
    assert outputs[0] == outputs[1]


def test_mask_file_and_alpha_and_key(monkeypatch, capsys, tmp_path, rng):
    image = textured(rng, channels=4)
    # Colours kept away from the key's saturated green, so that no harmonised copy of the
    # surroundings can land on it by clipping (seen once in CI with full-range noise).
    image[..., :3] = 32 + image[..., :3] // 2
    image[..., 3] = 255
    image[20:26, 30:40, 3] = 0              # an erased hole
    image[5:9, 5:9, :3] = (0, 255, 0)       # a green key
    source = save_png(tmp_path / "in.png", image)
    mask = np.zeros(image.shape[:2], np.uint8)
    mask[30:34, 10:14] = 255
    mask_file = save_png(tmp_path / "mask.png", mask)
    code, _, err = run_cli(monkeypatch, capsys, "remove", source, "--alpha", "--key", "#00ff00",
                           "--mask", mask_file, "--dilate", 0, "--feather", 0, "--quiet")
    assert code == 0, err
    removed = np.asarray(Image.open(tmp_path / "in_removed.png"))
    assert (removed[20:26, 30:40, 3] == 255).all()          # filled holes become opaque
    assert not (removed[5:9, 5:9, :3] == (0, 255, 0)).all(axis=-1).any()
    hole = (mask > 0) | (image[..., 3] < 128) | (image[..., :3] == (0, 255, 0)).all(axis=-1)
    np.testing.assert_array_equal(removed[..., :3][~hole], image[..., :3][~hole])


def test_mask_of_the_wrong_size_is_one_line_naming_the_mask(monkeypatch, capsys, tmp_path, rng):
    source = save_png(tmp_path / "in.png", textured(rng))
    mask_file = save_png(tmp_path / "small.png", np.zeros((10, 10), np.uint8))
    code, _, err = run_cli(monkeypatch, capsys, "remove", source, "--mask", mask_file)
    assert_one_line_error(code, err, mask_file, "10x10", "52x40")
    assert leftovers(tmp_path, {"in.png", "small.png"}) == []


@pytest.mark.parametrize("polygon, phrase", [("0,0 10,0 20,0", "empty"),
                                             ("1,1 2,2", "at least 3 points"),
                                             ("1,a 2,2 3,3", "not a list of numbers")])
def test_bad_polygons_are_one_line_and_write_nothing(monkeypatch, capsys, tmp_path, rng,
                                                     polygon, phrase):
    source = save_png(tmp_path / "in.png", textured(rng))
    code, _, err = run_cli(monkeypatch, capsys, "remove", source, "--polygon", polygon)
    assert_one_line_error(code, err, polygon, phrase)
    assert leftovers(tmp_path, {"in.png"}) == []


def test_nothing_to_remove_is_an_option_error(monkeypatch, capsys, tmp_path, rng):
    source = save_png(tmp_path / "in.png", textured(rng))
    code, _, err = run_cli(monkeypatch, capsys, "remove", source)
    assert_one_line_error(code, err, "", "--mask, --box, --polygon, --alpha, --key or --detect")


def test_an_empty_mask_writes_the_input_unchanged_with_a_note(monkeypatch, capsys, tmp_path,
                                                              rng):
    image = textured(rng)
    source = save_png(tmp_path / "in.png", image)
    mask_file = save_png(tmp_path / "mask.png", np.zeros(image.shape[:2], np.uint8))
    code, out, err = run_cli(monkeypatch, capsys, "remove", source, "--mask", mask_file)
    assert code == 0, err
    assert "nothing removed" in out
    np.testing.assert_array_equal(np.asarray(Image.open(tmp_path / "in_removed.png")), image)


def test_batch_goes_on_past_a_corrupt_file(monkeypatch, capsys, tmp_path, rng):
    good = [save_png(tmp_path / f"{name}.png", textured(rng)) for name in ("a", "c")]
    broken = tmp_path / "b.png"
    broken.write_bytes(b"\x89PNG\r\n\x1a\n" + b"garbage" * 10)
    out_dir = tmp_path / "out"
    out_dir.mkdir()
    code, out, err = run_cli(monkeypatch, capsys, "remove", good[0], broken, good[1], "--box",
                             "5,5,8,8", "-o", out_dir, "--quiet")
    assert_one_line_error(code, err, broken)
    assert sorted(p.name for p in out_dir.iterdir()) == ["a_removed.png", "c_removed.png"]
    assert "2 written, 1 failed" in err


def test_unknown_method_is_refused_before_any_file_is_read(monkeypatch, capsys, tmp_path, rng):
    source = save_png(tmp_path / "in.png", textured(rng))
    code, _, err = run_cli(monkeypatch, capsys, "remove", source, "--box", "1,1,4,4",
                           "--method", "magic")
    assert_one_line_error(code, err, "", "unknown method 'magic'")
    assert leftovers(tmp_path, {"in.png"}) == []


def test_onnx_inpainting_model_through_the_cli(monkeypatch, capsys, tmp_path, rng):
    """A tiny LaMa-shaped network with random weights, exported here, fills the hole."""
    pytest.importorskip("torch")
    import lama_builder

    model = lama_builder.export(lama_builder.build_network(seed=5), tmp_path / "lama.onnx")
    image = textured(rng)
    source = save_png(tmp_path / "in.png", image)
    code, _, err = run_cli(monkeypatch, capsys, "remove", source, "--box", "20,10,9,7",
                           "--method", model, "--dilate", 1, "--feather", 2, "--quiet",
                           "--device", "cpu")
    assert code == 0, err
    removed = np.asarray(Image.open(tmp_path / "in_removed.png"))
    weight = composite_weight(box_mask(image.shape[:2], (20, 10, 9, 7)), dilate=1, feather=2)
    np.testing.assert_array_equal(removed[weight == 0], image[weight == 0])
    assert (removed[weight == 1] != image[weight == 1]).any()


def test_a_broken_model_file_is_one_line(monkeypatch, capsys, tmp_path, rng):
    source = save_png(tmp_path / "in.png", textured(rng))
    model = tmp_path / "broken.onnx"
    model.write_bytes(b"not onnx")
    code, _, err = run_cli(monkeypatch, capsys, "remove", source, "--box", "1,1,4,4",
                           "--method", model)
    assert_one_line_error(code, err, model)
