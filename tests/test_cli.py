"""The command line: results on disk, and one clean line for every kind of bad input."""

from __future__ import annotations

import os
import struct
import subprocess
import sys
import zlib

import numpy as np
import pytest
from PIL import Image

from conftest import random_image, run_cli


def assert_one_line_error(code, err, path, *phrases):
    assert code != 0
    lines = [line for line in err.splitlines() if line.strip()]
    assert len(lines) >= 1 and "Traceback" not in err
    error_line = next(line for line in lines if line.startswith("burnish: error:"))
    assert str(path) in error_line
    for phrase in phrases:
        assert phrase in error_line.lower(), error_line


def save_png(path, pixels):
    Image.fromarray(pixels).save(path)
    return path


@pytest.fixture
def photo_png(tmp_path, rng):
    return save_png(tmp_path / "in.png", random_image(rng, 24, 30, 3))


def leftovers(folder, keep):
    return sorted(p.name for p in folder.iterdir() if p.name not in keep)


def test_upscale_writes_x4_png_beside_input(monkeypatch, capsys, photo_png):
    code, out, err = run_cli(monkeypatch, capsys, "upscale", photo_png, "--quiet")
    assert code == 0, err
    result = photo_png.with_name("in_x4.png")
    assert Image.open(result).size == (120, 96)
    assert str(result) in out


def test_tile_option_changes_nothing_in_the_output(monkeypatch, capsys, photo_png, tmp_path):
    for tile in (0, 16):
        code, _, err = run_cli(monkeypatch, capsys, "upscale", photo_png, "-o",
                               tmp_path / f"t{tile}.png", "--tile", tile, "--quiet")
        assert code == 0, err
    a, b = (np.asarray(Image.open(tmp_path / f"t{t}.png")).astype(int) for t in (0, 16))
    assert np.abs(a - b).max() <= 1


def test_sixteen_bit_rgba_with_icc_and_exif_survives(monkeypatch, capsys, tmp_path, rng):
    from PIL import ImageCms

    from burnish.engine.imageio import ImageMeta, read_image, write_image

    icc = ImageCms.ImageCmsProfile(ImageCms.createProfile("sRGB")).tobytes()
    exif = Image.Exif()
    exif[0x010F] = "burnish-test-camera"
    source = tmp_path / "deep.png"
    write_image(source, random_image(rng, 20, 18, 4, np.uint16),
                meta=ImageMeta(format="PNG", icc_profile=icc, exif=exif.tobytes()))
    code, _, err = run_cli(monkeypatch, capsys, "upscale", source, "-o", tmp_path / "deep_x2.png",
                           "--scale", "2", "--quiet")
    assert code == 0, err
    pixels, meta = read_image(tmp_path / "deep_x2.png")
    assert pixels.dtype == np.uint16 and pixels.shape == (40, 36, 4)
    assert meta.icc_profile == icc
    loaded = Image.Exif()
    loaded.load(meta.exif)
    assert loaded[0x010F] == "burnish-test-camera"


def test_several_inputs_go_to_a_folder_and_one_bad_file_does_not_stop_the_rest(
        monkeypatch, capsys, tmp_path, rng):
    good = [save_png(tmp_path / f"g{i}.png", random_image(rng, 10, 12, 3)) for i in range(2)]
    bad = tmp_path / "bad.png"
    bad.write_text("this is not an image")
    out_dir = tmp_path / "out"
    out_dir.mkdir()
    code, out, err = run_cli(monkeypatch, capsys, "upscale", good[0], bad, good[1], "-o", out_dir,
                             "--model", "lanczos", "--scale", "3")
    assert code == 1
    assert sorted(p.name for p in out_dir.iterdir()) == ["g0_x3.png", "g1_x3.png"]
    assert_one_line_error(code, err, bad, "not")
    assert "2 written, 1 failed" in err


def truncated(path, fraction=0.5):
    data = path.read_bytes()
    path.write_bytes(data[: int(len(data) * fraction)])
    return path


def bomb_png(path, width=100_000, height=100_000):
    """A valid PNG header declaring a huge image, followed by almost no data."""
    def chunk(kind, data):
        return (struct.pack(">I", len(data)) + kind + data
                + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF))

    header = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    path.write_bytes(b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header)
                     + chunk(b"IDAT", zlib.compress(b"\x00" * 64)) + chunk(b"IEND", b""))
    return path


def make_bad_input(kind, tmp_path, rng):
    if kind == "missing":
        return tmp_path / "missing.png", "no such file"
    if kind == "empty":
        (tmp_path / "empty.png").write_bytes(b"")
        return tmp_path / "empty.png", "empty"
    if kind == "truncated png":
        return truncated(save_png(tmp_path / "cut.png", random_image(rng, 64, 64, 3))), "truncated"
    if kind == "truncated jpeg":
        path = tmp_path / "cut.jpg"
        Image.fromarray(random_image(rng, 64, 64, 3)).save(path, quality=90)
        return truncated(path), "truncated"
    if kind == "text named png":
        (tmp_path / "text.png").write_text("hello, I am text\n" * 10)
        return tmp_path / "text.png", "not"
    if kind == "unsupported mode":
        import tifffile

        tifffile.imwrite(tmp_path / "complex.tif", np.zeros((8, 8), np.complex64))
        return tmp_path / "complex.tif", "unsupported"
    if kind == "unsupported format":
        Image.fromarray(random_image(rng, 8, 8, 3)).save(tmp_path / "old.bmp")
        return tmp_path / "old.bmp", "unsupported"
    if kind == "absurd dimensions":
        return bomb_png(tmp_path / "bomb.png"), "--max-pixels"
    if kind == "directory":
        (tmp_path / "folder.png").mkdir()
        return tmp_path / "folder.png", ""
    raise AssertionError(kind)


BAD_INPUTS = ["missing", "empty", "truncated png", "truncated jpeg", "text named png",
              "unsupported mode", "unsupported format", "absurd dimensions", "directory"]


@pytest.mark.parametrize("kind", BAD_INPUTS)
def test_bad_input_is_one_line_and_leaves_no_output(monkeypatch, capsys, tmp_path, rng, kind):
    path, phrase = make_bad_input(kind, tmp_path, rng)
    before = {p.name: p.stat().st_mtime_ns for p in tmp_path.iterdir()}
    out_dir = tmp_path / "out"
    out_dir.mkdir()
    code, _, err = run_cli(monkeypatch, capsys, "upscale", path, "-o", out_dir, "--quiet")
    assert_one_line_error(code, err, path, phrase)
    assert list(out_dir.iterdir()) == []
    assert {p.name: p.stat().st_mtime_ns for p in tmp_path.iterdir() if p.name != "out"} == before


def test_pixel_limit_can_be_raised_for_print_work(monkeypatch, capsys, tmp_path, photo_png):
    code, _, err = run_cli(monkeypatch, capsys, "upscale", photo_png, "-o", tmp_path / "a.png",
                           "--max-pixels", "100", "--quiet")
    assert_one_line_error(code, err, photo_png, "--max-pixels")
    code, _, err = run_cli(monkeypatch, capsys, "upscale", photo_png, "-o", tmp_path / "a.png",
                           "--max-pixels", "1000", "--quiet")
    assert code == 0, err


def test_missing_output_folder(monkeypatch, capsys, tmp_path, photo_png):
    target = tmp_path / "nowhere" / "out.png"
    code, _, err = run_cli(monkeypatch, capsys, "upscale", photo_png, "-o", target, "--quiet")
    assert_one_line_error(code, err, "nowhere")
    assert not (tmp_path / "nowhere").exists()


def test_unwritable_output_folder(monkeypatch, capsys, tmp_path, photo_png):
    locked = tmp_path / "locked"
    locked.mkdir()
    if os.geteuid() == 0:  # root writes anywhere: make the "folder" a plain file instead
        locked.rmdir()
        locked.write_text("a file where a folder should be")
    else:
        locked.chmod(0o500)
    code, _, err = run_cli(monkeypatch, capsys, "upscale", photo_png, "-o", locked / "out.png")
    assert_one_line_error(code, err, "locked")


@pytest.mark.parametrize("command", [["upscale"], ["remove", "--box", "2,2,6,6"]])
@pytest.mark.parametrize("how", ["several inputs", "trailing slash"])
def test_output_folder_rule_is_one_for_all_commands(monkeypatch, capsys, tmp_path, rng,
                                                      command, how):
    """Several inputs, or a trailing slash, mean a folder, created if missing (as `run`)."""
    first = save_png(tmp_path / "one.png", random_image(rng, 40, 36, 3))
    second = save_png(tmp_path / "two.png", random_image(rng, 40, 36, 3))
    inputs = [first, second] if how == "several inputs" else [first]
    folder = tmp_path / "new" / "deeper"
    target = f"{folder}/" if how == "trailing slash" else folder
    code, _, err = run_cli(monkeypatch, capsys, command[0], *inputs, *command[1:], "-o", target,
                           "--quiet")
    assert code == 0, err
    suffix = "_x4" if command[0] == "upscale" else "_removed"
    assert sorted(p.name for p in folder.iterdir()) == sorted(f"{p.stem}{suffix}.png"
                                                              for p in inputs)


def test_output_that_is_a_file_where_a_folder_is_needed(monkeypatch, capsys, tmp_path,
                                                        photo_png):
    plain = tmp_path / "plain"
    plain.write_text("not a folder")
    code, _, err = run_cli(monkeypatch, capsys, "upscale", photo_png, photo_png, "-o", plain)
    assert_one_line_error(code, err, "plain", "not a folder")
    assert plain.read_text() == "not a folder"


def test_input_is_never_overwritten(monkeypatch, capsys, photo_png):
    before = photo_png.read_bytes()
    code, _, err = run_cli(monkeypatch, capsys, "upscale", photo_png, "-o", photo_png, "--quiet")
    assert_one_line_error(code, err, photo_png, "overwrite")
    assert photo_png.read_bytes() == before


def test_unknown_model(monkeypatch, capsys, photo_png):
    code, _, err = run_cli(monkeypatch, capsys, "upscale", photo_png, "--model", "esrgan-huge")
    assert code != 0 and "unknown model 'esrgan-huge'" in err and "Traceback" not in err


def test_corrupt_onnx_model(monkeypatch, capsys, tmp_path, photo_png):
    model = tmp_path / "broken.onnx"
    model.write_bytes(b"\x00garbage")
    code, _, err = run_cli(monkeypatch, capsys, "upscale", photo_png, "--model", model)
    assert_one_line_error(code, err, model, "onnx")


def test_jpeg_output_refuses_alpha(monkeypatch, capsys, tmp_path, rng):
    source = save_png(tmp_path / "rgba.png", random_image(rng, 8, 8, 4))
    code, _, err = run_cli(monkeypatch, capsys, "upscale", source, "-o", tmp_path / "o.jpg",
                           "--model", "lanczos")
    assert_one_line_error(code, err, "o.jpg", "alpha")
    assert not (tmp_path / "o.jpg").exists()


def test_info_lists_providers_and_models(monkeypatch, capsys):
    code, out, _ = run_cli(monkeypatch, capsys, "info")
    assert code == 0
    assert "CPUExecutionProvider" in out and "compact-x4" in out


def test_real_process_has_no_traceback_and_exit_code_one(tmp_path):
    bad = tmp_path / "bad.png"
    bad.write_text("text")
    done = subprocess.run([sys.executable, "-m", "burnish.cli.app", "upscale", str(bad)],
                          capture_output=True, text=True)
    assert done.returncode == 1
    assert done.stderr.strip().splitlines() == [done.stderr.strip()]
    assert str(bad) in done.stderr and "Traceback" not in done.stderr


def test_help_and_version_do_not_import_heavy_modules():
    probe = ("import sys; from burnish.cli.app import app; "
             "sys.argv = ['burnish', '--help']\n"
             "try:\n    app()\nexcept SystemExit:\n    pass\n"
             "heavy = [m for m in ('numba', 'onnxruntime', 'numpy', 'torch') if m in sys.modules]\n"
             "print('HEAVY', heavy)")
    done = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True)
    assert "HEAVY []" in done.stdout, done.stdout + done.stderr


def test_same_input_and_options_give_the_same_bytes(monkeypatch, capsys, tmp_path, photo_png):
    for name in ("a.png", "b.png"):
        code, _, err = run_cli(monkeypatch, capsys, "upscale", photo_png, "-o", tmp_path / name,
                               "--tile", "16", "--quiet")
        assert code == 0, err
    assert (tmp_path / "a.png").read_bytes() == (tmp_path / "b.png").read_bytes()
