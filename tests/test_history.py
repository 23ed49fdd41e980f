"""Non-destructive editing: versions recorded per step, reverts that restore exact bytes, and
an original image that is never written to."""

from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
import pytest
from PIL import Image
from typer.testing import CliRunner

from burnish.cli.app import app
from burnish.engine import history
from burnish.engine.imageio import read_image, write_image
from burnish.engine.ops.params import Context
from burnish.engine.pipeline import apply_steps
from burnish.engine.recipe import parse_step
from burnish.engine.resources import Resources
from burnish.errors import BurnishError, InputError, OptionError

from conftest import random_image

EXPOSURE = "adjust exposure=0.5"
SATURATION = "adjust saturation=0.2"
CROP = 'crop box="2,2,10,10"'
UPSCALE = "upscale scale=2 model=lanczos"
REMOVE = 'remove boxes=["4,4,6,6"] method=telea'


@pytest.fixture
def cat(tmp_path, rng):
    path = tmp_path / "cat.png"
    write_image(path, random_image(rng, 24, 32, 3))
    return path


def applied_directly(image: Path, steps: list[str]) -> np.ndarray:
    """What the pipeline makes of ``image`` with ``steps`` in one go, without any history."""
    with Resources(device="cpu") as resources:
        return apply_steps(read_image(image)[0], [parse_step(s, image.parent) for s in steps],
                           resources, image=image, context=Context(image.parent)).pixels


def assert_one_line(error: BaseException, *phrases: str) -> None:
    text = str(error)
    assert len(text.splitlines()) == 1, text
    for phrase in phrases:
        assert phrase in text, text


@pytest.mark.parametrize("dtype, suffix", [(np.uint8, ".png"), (np.uint16, ".png"),
                                           (np.float32, ".tif")])
def test_edit_records_a_chain_of_versions_equal_to_the_pipeline(tmp_path, rng, dtype, suffix):
    image = tmp_path / f"cat{suffix}"
    write_image(image, random_image(rng, 24, 32, 3, dtype))
    steps = [EXPOSURE, CROP, UPSCALE]

    made = history.edit(image, steps, device="cpu")

    assert [v.number for v in made] == [1, 2, 3]
    versions = history.history(image)
    assert [(v.number, v.parent) for v in versions] == [(0, None), (1, 0), (2, 1), (3, 2)]
    work = history.working_copy(image)
    assert work == tmp_path / ".burnish" / "work" / f"cat{suffix}"
    assert work.read_bytes() == versions[-1].object.read_bytes()
    np.testing.assert_array_equal(read_image(work)[0], applied_directly(image, steps))


def test_history_lists_versions_in_order_with_ops_and_given_params(cat):
    history.edit(cat, [EXPOSURE, REMOVE], device="cpu")
    history.edit(cat, [CROP], device="cpu")

    versions = history.history(cat)

    assert [(v.op, v.params) for v in versions] == [
        ("original", {}), ("adjust", {"exposure": 0.5}),
        ("remove", {"boxes": ["4,4,6,6"], "method": "telea"}), ("crop", {"box": "2,2,10,10"})]
    assert [v.head for v in versions] == [False, False, False, True]
    assert [v.summary for v in versions[1:]] == [EXPOSURE, REMOVE, CROP]
    assert all(v.object.read_bytes() for v in versions)


def test_revert_restores_the_bytes_of_that_version_and_edits_continue_from_it(cat):
    history.edit(cat, [EXPOSURE], device="cpu")
    work = history.working_copy(cat)
    after_exposure = work.read_bytes()
    history.edit(cat, [CROP, SATURATION], device="cpu")

    reverted = history.revert(cat, 1)

    assert (reverted.number, reverted.parent, reverted.op, reverted.params) == (
        4, 1, "revert", {"to": 1})
    assert reverted.head and reverted.result_sha256 == history.history(cat)[1].result_sha256
    assert work.read_bytes() == after_exposure
    [continued] = history.edit(cat, [UPSCALE], device="cpu")
    assert (continued.number, continued.parent) == (5, 4)
    np.testing.assert_array_equal(read_image(work)[0], applied_directly(cat, [EXPOSURE, UPSCALE]))


def test_the_original_is_never_written_and_deleting_the_catalogue_starts_afresh(cat):
    before, mtime = cat.read_bytes(), cat.stat().st_mtime_ns
    history.edit(cat, [EXPOSURE, REMOVE], device="cpu")
    history.revert(cat, 0)
    history.edit(cat, [UPSCALE], device="cpu")
    assert (cat.read_bytes(), cat.stat().st_mtime_ns) == (before, mtime)
    assert sorted(p.name for p in cat.parent.iterdir()) == [".burnish", "cat.png"]

    shutil.rmtree(cat.parent / ".burnish")

    assert (cat.read_bytes(), cat.stat().st_mtime_ns) == (before, mtime)
    history.edit(cat, [SATURATION], device="cpu")
    assert [(v.number, v.op) for v in history.history(cat)] == [(0, "original"), (1, "adjust")]


def test_same_image_and_steps_give_the_same_objects_in_any_folder(cat, tmp_path):
    elsewhere = tmp_path / "elsewhere" / "cat.png"
    elsewhere.parent.mkdir()
    shutil.copyfile(cat, elsewhere)
    steps = [EXPOSURE, REMOVE, UPSCALE, CROP]

    def object_hashes(image):
        history.edit(image, steps, device="cpu")
        return [v.result_sha256 for v in history.history(image)]

    here, there = object_hashes(cat), object_hashes(elsewhere)

    assert here == there
    assert len(set(here)) == len(steps) + 1


def test_a_bad_step_fails_before_anything_is_computed_or_recorded(cat):
    with pytest.raises(OptionError) as fresh:
        history.edit(cat, [EXPOSURE, "adjust exposur=1"])
    assert_one_line(fresh.value, "adjust exposur=1", "'exposur'")
    assert not (cat.parent / ".burnish").exists()

    history.edit(cat, [EXPOSURE], device="cpu")
    recorded = history.history(cat)
    work = history.working_copy(cat).read_bytes()
    with pytest.raises(OptionError):
        history.edit(cat, [SATURATION, "adjust exposur=1"])
    assert history.history(cat) == recorded
    assert history.working_copy(cat).read_bytes() == work


def test_a_step_that_fails_while_running_records_nothing(cat):
    history.edit(cat, [EXPOSURE], device="cpu")
    recorded = history.history(cat)

    with pytest.raises(BurnishError) as failed:
        history.edit(cat, [SATURATION, 'remove boxes=["0,0,32,24"] method=telea'], device="cpu")

    assert_one_line(failed.value, "remove boxes=")
    assert history.history(cat) == recorded


def test_revert_to_an_unknown_version_names_the_valid_range(cat):
    history.edit(cat, [EXPOSURE, SATURATION], device="cpu")
    with pytest.raises(OptionError) as unknown:
        history.revert(cat, 3)
    assert_one_line(unknown.value, "no version 3", "0 to 2")


def test_a_corrupt_or_missing_object_is_refused(cat):
    history.edit(cat, [EXPOSURE, SATURATION], device="cpu")
    first = history.history(cat)[1].object
    first.write_bytes(first.read_bytes()[:-1] + b"\0")
    with pytest.raises(InputError) as corrupt:
        history.revert(cat, 1)
    assert_one_line(corrupt.value, "version 1", "corrupt")

    history.history(cat)[2].object.unlink()
    with pytest.raises(InputError) as missing:
        history.edit(cat, [CROP], device="cpu")
    assert_one_line(missing.value, "version 2", "missing")


def test_an_original_changed_since_import_is_refused(cat, rng):
    history.edit(cat, [EXPOSURE], device="cpu")
    write_image(cat, random_image(rng, 24, 32, 3))
    with pytest.raises(InputError) as changed:
        history.edit(cat, [SATURATION], device="cpu")
    assert_one_line(changed.value, str(cat), "changed", ".burnish")
    assert len(history.history(cat)) == 2


def test_images_in_one_folder_keep_separate_histories(cat, rng):
    dog = cat.with_name("dog.png")
    write_image(dog, random_image(rng, 24, 32, 3))
    same_stem = cat.with_name("cat.jpg")
    Image.fromarray(random_image(rng, 24, 32, 3)).save(same_stem, quality=90)

    history.edit(cat, [EXPOSURE, SATURATION], device="cpu")
    history.edit(dog, [CROP], device="cpu")
    history.edit(same_stem, [UPSCALE], device="cpu")

    assert [v.op for v in history.history(cat)] == ["original", "adjust", "adjust"]
    assert [v.op for v in history.history(dog)] == ["original", "crop"]
    assert [v.op for v in history.history(same_stem)] == ["original", "upscale"]
    work = [history.working_copy(image) for image in (cat, dog, same_stem)]
    assert [p.name for p in work] == ["cat.png", "dog.png", "cat.jpg.png"]
    assert read_image(work[1])[0].shape == (10, 10, 3)
    assert read_image(work[2])[0].shape == (48, 64, 3)
    history.revert(dog, 0)
    assert [v.op for v in history.history(cat)][-1] == "adjust"


def test_no_history_and_working_copies_are_refused(cat):
    with pytest.raises(InputError) as none:
        history.history(cat)
    assert_one_line(none.value, str(cat), "no edit history")
    assert not (cat.parent / ".burnish").exists()

    history.edit(cat, [EXPOSURE], device="cpu")
    with pytest.raises(OptionError) as working:
        history.edit(history.working_copy(cat), [SATURATION])
    assert_one_line(working.value, "edit the original")
    with pytest.raises(OptionError) as encode:
        history.edit(cat, ["encode format=jpeg"])
    assert_one_line(encode.value, "encode", "lossless")


def burnish(*args) -> tuple[int, str, BaseException | None]:
    """``burnish ARGS`` through the Typer app: (exit code, output, the BurnishError if any)."""
    result = CliRunner().invoke(app, [str(arg) for arg in args])
    error = result.exception if isinstance(result.exception, BurnishError) else None
    assert result.exception is None or error is not None, result.exception
    return result.exit_code, result.output, error


def test_cli_edit_history_and_revert(cat, monkeypatch):
    monkeypatch.chdir(cat.parent)
    work = Path(".burnish", "work", "cat.png")

    code, out, _ = burnish("edit", "cat.png", EXPOSURE, CROP, "--device", "cpu")
    assert code == 0, out
    lines = out.splitlines()
    assert len(lines) == 2
    assert lines[0].startswith(f"v1 {EXPOSURE} -> {work} (") and lines[0].endswith(" s)")
    assert lines[1].startswith(f"v2 {CROP} -> {work} (")

    code, out, _ = burnish("revert", "cat.png", "--to", "1")
    assert code == 0, out
    assert out.strip() == f"v3 revert to=1 -> {work}"

    code, out, _ = burnish("history", "cat.png")
    assert code == 0, out
    rows = out.splitlines()
    versions = history.history(cat)
    assert len(rows) == 5 and rows[-1] == f"working copy: {work}"
    for row, version in zip(rows, versions):
        assert row.startswith(("* " if version.head else "  ") + f"v{version.number} ")
        assert version.summary in row and version.result_sha256[:12] in row
        assert version.created in row
    assert rows[3].startswith("* v3")


def test_cli_errors_are_one_line(cat, monkeypatch):
    monkeypatch.chdir(cat.parent)
    code, _, error = burnish("history", "cat.png")
    assert code == 1
    assert_one_line(error, "cat.png", "no edit history")

    code, _, error = burnish("edit", "cat.png", "adjust exposur=1")
    assert code == 1
    assert_one_line(error, "adjust exposur=1", "exposur")

    assert burnish("edit", "cat.png", EXPOSURE, "--device", "cpu")[0] == 0
    code, _, error = burnish("revert", "cat.png", "--to", "7")
    assert code == 1
    assert_one_line(error, "no version 7", "0 to 1")
