"""Non-destructive editing: versions recorded per step, reverts that restore exact bytes, and
an original image that is never written to."""

from __future__ import annotations

import os
import re
import shutil
import sqlite3
import threading
import time
from datetime import datetime, timedelta, timezone
from pathlib import Path

import numpy as np
import pytest
from PIL import Image
from typer.testing import CliRunner

from burnish.cli.app import app
from burnish.cli.edit import local_time
from burnish.engine.imageio import read_image, write_image
from burnish.engine.ops.params import Context
from burnish.engine.provenance import history
from burnish.engine.recipes.pipeline import apply_steps
from burnish.engine.recipes.recipe import parse_step
from burnish.engine.recipes.resources import Resources
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
    assert work == tmp_path / ".burnish" / "work" / f"cat{suffix}" / f"cat{suffix}"
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
    assert [p.relative_to(cat.parent / ".burnish" / "work") for p in work] == [
        Path("cat.png", "cat.png"), Path("dog.png", "dog.png"), Path("cat.jpg", "cat.png")]
    assert read_image(work[1])[0].shape == (10, 10, 3)
    assert read_image(work[2])[0].shape == (48, 64, 3)
    history.revert(dog, 0)
    assert [v.op for v in history.history(cat)][-1] == "adjust"


def test_no_history_and_working_copies_are_refused(cat):
    with pytest.raises(InputError) as none:
        history.history(cat)
    assert_one_line(none.value, str(cat), "no edit history yet", "burnish edit")
    assert not (cat.parent / ".burnish").exists()

    history.edit(cat, [EXPOSURE], device="cpu")
    with pytest.raises(OptionError) as working:
        history.edit(history.working_copy(cat), [SATURATION])
    assert_one_line(working.value, "give the original")
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
    work = Path(".burnish", "work", "cat.png", "cat.png")

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
        assert local_time(version.created) in row
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


# -- names: originals that differ only by extension or case ------------------------------

def write_photo_like(path: Path, rng) -> None:
    """``path`` as the format its suffix names (PNG, JPEG or WebP), random pixels."""
    Image.fromarray(random_image(rng, 24, 32, 3)).save(
        path, format={".png": "PNG", ".jpg": "JPEG", ".webp": "WEBP"}[path.suffix.lower()])


@pytest.mark.parametrize("names", [("cat.jpg", "cat.png"), ("cat.png", "cat.jpg"),
                                   ("cat.png", "cat.jpg", "cat.webp")])
def test_originals_that_share_a_stem_get_distinct_entries_and_working_copies(
        tmp_path, rng, names):
    originals = [tmp_path / name for name in names]
    for original in originals:
        write_photo_like(original, rng)
    for number, original in enumerate(originals):
        # a different number of steps each, so one history read through another would show
        history.edit(original, [EXPOSURE] * (number + 1), device="cpu")

    work = [history.working_copy(original) for original in originals]

    assert [len(history.history(original)) for original in originals] == [
        number + 2 for number in range(len(names))]
    assert [p.relative_to(tmp_path / ".burnish" / "work") for p in work] == [
        Path(name, "cat.png") for name in names]
    for original, copy in zip(originals, work):
        assert copy.read_bytes() == history.history(original)[-1].object.read_bytes()
        np.testing.assert_array_equal(
            read_image(copy)[0],
            applied_directly(original, [EXPOSURE] * (originals.index(original) + 1)))
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted([".burnish", *names])


def test_originals_that_differ_only_by_case_are_two_images(tmp_path, rng):
    lower, upper = tmp_path / "cat.png", tmp_path / "cat.PNG"
    write_photo_like(lower, rng)
    write_photo_like(upper, rng)
    if len(list(tmp_path.iterdir())) != 2:
        pytest.skip("this file system folds case: cat.png and cat.PNG are one file")

    history.edit(lower, [EXPOSURE], device="cpu")
    history.edit(upper, [CROP], device="cpu")

    assert [v.op for v in history.history(lower)] == ["original", "adjust"]
    assert [v.op for v in history.history(upper)] == ["original", "crop"]
    assert history.working_copy(lower) == tmp_path / ".burnish/work/cat.png/cat.png"
    assert history.working_copy(upper) == tmp_path / ".burnish/work/cat.PNG/cat.png"
    assert read_image(history.working_copy(upper))[0].shape == (10, 10, 3)


def downgrade_to_schema_1(folder: Path) -> None:
    """Rewrite a catalogue as schema 1 left it: working copies at ``work/<stem>.png`` (or
    ``work/<name>.png`` when the stem was taken) and times to the second with a Z."""
    with sqlite3.connect(folder / "catalogue.sqlite") as db:
        taken = set()
        for image_id, name in db.execute("SELECT id, name FROM images ORDER BY id").fetchall():
            old_name = name if Path(name).stem in taken else Path(name).stem
            taken.add(old_name)
            (folder / "work" / name / f"{Path(name).stem}.png").rename(
                folder / "work" / f"{old_name}.part")
            (folder / "work" / name).rmdir()
            db.execute("UPDATE images SET work_name = ? WHERE id = ?", (old_name, image_id))
        for part in (folder / "work").glob("*.part"):
            part.rename(part.with_suffix(".png"))
        db.execute("UPDATE versions SET created = substr(created, 1, 19) || 'Z'")
        db.execute("PRAGMA user_version = 1")


def test_a_catalogue_of_schema_1_is_migrated_in_place(tmp_path, rng):
    cat, same_stem = tmp_path / "cat.png", tmp_path / "cat.jpg"
    write_photo_like(cat, rng)
    write_photo_like(same_stem, rng)
    history.edit(cat, [EXPOSURE], device="cpu")
    history.edit(same_stem, [CROP], device="cpu")
    before = {image: history.history(image) for image in (cat, same_stem)}
    folder = tmp_path / ".burnish"
    downgrade_to_schema_1(folder)
    assert sorted(p.name for p in (folder / "work").iterdir()) == ["cat.jpg.png", "cat.png"]

    migrated = {image: history.history(image) for image in (cat, same_stem)}

    assert [(v.number, v.op, v.result_sha256) for v in migrated[cat]] == [
        (v.number, v.op, v.result_sha256) for v in before[cat]]
    assert [v.created for v in migrated[cat]] == [
        v.created.replace(microsecond=0) for v in before[cat]]
    assert sorted(p.name for p in (folder / "work").iterdir()) == ["cat.jpg", "cat.png"]
    for image in (cat, same_stem):
        assert history.working_copy(image).read_bytes() == migrated[image][-1].object.read_bytes()
    with sqlite3.connect(folder / "catalogue.sqlite") as db:
        assert db.execute("PRAGMA user_version").fetchone()[0] == history.SCHEMA_VERSION
    [continued] = history.edit(same_stem, [SATURATION], device="cpu")
    assert (continued.number, continued.parent) == (2, 1)


# -- times ----------------------------------------------------------------------------------

class FakeClock:
    """A UTC clock that moves on ``step`` seconds each time it is read."""

    def __init__(self, start: datetime, step: float):
        self.now, self.step = start, timedelta(seconds=step)

    def __call__(self) -> datetime:
        self.now += self.step
        return self.now


@pytest.fixture
def local_zone(monkeypatch):
    """This process in UTC+05:30 (a zone with a half hour, so local is never UTC by chance)."""
    monkeypatch.setenv("TZ", "IST-05:30")
    time.tzset()
    yield timezone(timedelta(hours=5, minutes=30))
    monkeypatch.undo()
    time.tzset()


def test_versions_made_seconds_apart_show_their_own_times(cat, monkeypatch, local_zone):
    start = datetime(2026, 12, 2, 10, 14, 0, tzinfo=timezone.utc)
    monkeypatch.setattr(history, "_utc_now", FakeClock(start, 1.5))
    monkeypatch.chdir(cat.parent)

    history.edit(cat, [EXPOSURE, SATURATION, CROP], device="cpu")  # one edit, three versions
    history.revert(cat, 1)
    versions = history.history(cat)
    code, out, _ = burnish("history", "cat.png")

    times = [v.created for v in versions]
    assert all(moment.tzinfo is not None and moment.utcoffset() == timedelta(0)
               for moment in times)
    assert len(set(times)) == len(times) == 5 and times == sorted(times)
    assert times[0] == start + timedelta(seconds=1.5)  # each version when it was made
    assert code == 0, out
    shown = [local_time(moment) for moment in times]
    assert shown[:2] == ["2026-12-02 15:44:01", "2026-12-02 15:44:03"]  # +05:30, to the second
    for row, text in zip(out.splitlines(), shown):
        assert row.endswith(f"  {text}"), row
    with sqlite3.connect(cat.parent / ".burnish" / "catalogue.sqlite") as db:
        stored = [row[0] for row in db.execute("SELECT created FROM versions ORDER BY number")]
    assert stored[:2] == ["2026-12-02T10:14:01.500+00:00", "2026-12-02T10:14:03.000+00:00"]


# -- messages -------------------------------------------------------------------------------

def test_a_missing_file_is_not_a_file_without_history(cat, monkeypatch):
    monkeypatch.chdir(cat.parent)
    missing = cat.with_name("missing.png")
    for call in (history.history, history.working_copy, lambda image: history.revert(image, 0),
                 lambda image: history.edit(image, [EXPOSURE])):
        with pytest.raises(InputError) as gone:
            call(missing)
        assert_one_line(gone.value, str(missing), "no such image")
        assert "history" not in str(gone.value)
    with pytest.raises(InputError) as none:
        history.history(cat)
    assert_one_line(none.value, str(cat), "no edit history yet", "burnish edit", "makes one")

    code, _, error = burnish("history", "missing.png")
    assert code == 1
    assert_one_line(error, "missing.png: no such image")
    code, _, error = burnish("history", "cat.png")
    assert code == 1
    assert_one_line(error, "cat.png: no edit history yet")
    assert not (cat.parent / ".burnish").exists()


@pytest.mark.parametrize("arguments, offending, whole, quoted", [
    (["adjust", "exposure=0.5"], "exposure=0.5", "adjust exposure=0.5",
     ["adjust exposure=0.5"]),
    (["adjust", "exposure=0.5", "saturation=0.2"], "exposure=0.5",
     "adjust exposure=0.5 saturation=0.2", ["adjust exposure=0.5 saturation=0.2"]),
    # crop alone is invalid: the hint must come before that message
    ([EXPOSURE, "crop", "box=2,2,10,10"], "box=2,2,10,10", "crop box=2,2,10,10",
     [EXPOSURE, "crop box=2,2,10,10"]),
    (["adjust exposure=0.5", "saturation=0.2"], "saturation=0.2",
     "adjust exposure=0.5 saturation=0.2", ["adjust exposure=0.5 saturation=0.2"]),
])
def test_an_unquoted_step_is_named_with_how_to_quote_it(cat, monkeypatch, arguments, offending,
                                                        whole, quoted):
    monkeypatch.chdir(cat.parent)
    expected = f"step {offending!r} is not an op; quote each step as one argument: \"{whole}\""
    with pytest.raises(OptionError) as split:
        history.edit(cat, arguments, device="cpu")
    assert str(split.value) == expected

    code, _, error = burnish("edit", "cat.png", *arguments, "--device", "cpu")
    assert code == 1 and str(error) == expected
    assert not (cat.parent / ".burnish").exists()
    # and the hint is right: the step it shows, quoted, is accepted
    assert burnish("edit", "cat.png", *quoted, "--device", "cpu")[0] == 0
    assert history.history(cat)[-1].summary == whole.replace("box=2,2,10,10",
                                                             'box="2,2,10,10"')


def test_a_first_step_that_is_no_op_keeps_the_list_of_ops(cat):
    with pytest.raises(OptionError) as unknown:
        history.edit(cat, ["exposure=0.5"])
    assert_one_line(unknown.value, "unknown op 'exposure=0.5'", "adjust")


def test_history_messages_carry_no_command_line_flags(cat):
    """history.py's own messages go to Python callers too, who have no flags to pass."""
    source = Path(history.__file__).read_text()
    assert not re.findall(r"""["'][^"'\n]*\s--[a-z]""", source)


# -- no hangs, no litter --------------------------------------------------------------------

def finishes(call, *, timeout: float = 20.0) -> BaseException | None:
    """Run ``call`` in a thread; the exception it raised, None if it returned, and a test
    failure (not a hang) if it is still running after ``timeout`` seconds."""
    outcome: list = []

    def target():
        try:
            call()
            outcome.append(None)
        except BaseException as error:  # noqa: BLE001 - handed to the test
            outcome.append(error)

    thread = threading.Thread(target=target, daemon=True)
    thread.start()
    thread.join(timeout)
    if thread.is_alive():
        pytest.fail(f"still running after {timeout} s: it blocked on its input")
    return outcome[0]


@pytest.fixture
def fifo(tmp_path):
    path = tmp_path / "pipe.png"
    os.mkfifo(path)
    yield path
    try:  # release a reader that a regression left blocked in open()
        os.close(os.open(path, os.O_WRONLY | os.O_NONBLOCK))
    except OSError:
        pass


@pytest.mark.parametrize("call", [
    lambda image: history.edit(image, [EXPOSURE], device="cpu"),
    history.history, history.working_copy, lambda image: history.revert(image, 0)],
    ids=["edit", "history", "working_copy", "revert"])
def test_a_fifo_is_refused_at_once_and_leaves_nothing(fifo, call):
    error = finishes(lambda: call(fifo))
    assert isinstance(error, InputError), error
    assert_one_line(error, str(fifo), "not a regular file")
    assert sorted(p.name for p in fifo.parent.iterdir()) == ["pipe.png"]


def test_dev_zero_is_refused_at_once_and_leaves_nothing():
    error = finishes(lambda: history.edit("/dev/zero", [EXPOSURE], device="cpu"))
    assert isinstance(error, InputError), error
    assert_one_line(error, "/dev/zero", "not a regular file")
    assert litter(Path("/dev")) == []  # no /dev/.burnish, no staging folder beside it


def test_cli_edit_of_a_fifo_is_one_line(fifo, monkeypatch):
    monkeypatch.chdir(fifo.parent)
    code, _, error = finishes_with(lambda: burnish("edit", "pipe.png", EXPOSURE))
    assert code == 1
    assert_one_line(error, "pipe.png", "not a regular file")


def finishes_with(call):
    """``call()``'s result, run as :func:`finishes` runs it."""
    result = []
    assert finishes(lambda: result.append(call())) is None
    return result[0]


def litter(folder: Path) -> list[str]:
    """Everything an edit leaves beside the image: the catalogue folder, staging folders."""
    return sorted(p.name for p in folder.iterdir() if p.name.startswith(".burnish"))


def store_contents(folder: Path) -> dict[str, bytes]:
    return {str(p.relative_to(folder)): p.read_bytes()
            for p in sorted(folder.rglob("*")) if p.is_file()}


@pytest.mark.parametrize("failure", ["bad step", "unreadable image", "empty image",
                                     "step fails while running", "encode step", "no steps"])
def test_a_failed_edit_leaves_no_catalogue_or_an_unchanged_one(tmp_path, rng, failure):
    image = tmp_path / "cat.png"
    other = tmp_path / "dog.png"
    write_image(other, random_image(rng, 24, 32, 3))

    def fail():
        if failure == "unreadable image":
            image.write_bytes(b"\x89PNG\r\n\x1a\n not really")
        elif failure == "empty image":
            image.write_bytes(b"")
        else:
            write_image(image, random_image(rng, 24, 32, 3))
        steps = {"bad step": [EXPOSURE, "adjust exposur=1"],
                 "step fails while running": [SATURATION,
                                              'remove boxes=["0,0,32,24"] method=telea'],
                 "encode step": [EXPOSURE, "encode format=jpeg"],
                 "no steps": []}.get(failure, [EXPOSURE])
        with pytest.raises(BurnishError) as failed:
            history.edit(image, steps, device="cpu")
        assert_one_line(failed.value)

    fail()
    assert litter(tmp_path) == []  # no .burnish/, no staging folder

    history.edit(other, [EXPOSURE], device="cpu")
    recorded = store_contents(tmp_path / ".burnish")
    image.unlink()
    fail()
    assert litter(tmp_path) == [".burnish"]
    assert store_contents(tmp_path / ".burnish") == recorded


def test_a_successful_edit_leaves_only_the_catalogue(cat):
    history.edit(cat, [EXPOSURE, SATURATION], device="cpu")
    history.edit(cat, [CROP], device="cpu")
    assert litter(cat.parent) == [".burnish"]
    objects = sorted(p.name for p in (cat.parent / ".burnish" / "objects").rglob("*.png"))
    assert objects == sorted(f"{v.result_sha256}.png" for v in history.history(cat))


def test_an_empty_catalogue_left_by_an_older_burnish_is_no_history(cat):
    folder = cat.parent / ".burnish"
    folder.mkdir()
    (folder / "catalogue.sqlite").write_bytes(b"")
    with pytest.raises(InputError) as none:
        history.history(cat)
    assert_one_line(none.value, "no edit history yet")
    history.edit(cat, [EXPOSURE], device="cpu")
    assert [v.op for v in history.history(cat)] == ["original", "adjust"]
