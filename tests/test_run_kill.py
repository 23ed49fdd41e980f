"""A real ``burnish run`` process killed with SIGKILL at random points, then resumed: every
output ends complete, none is duplicated or half-written, and each equals an uninterrupted
run's bytes.

The first kill comes at a random time while the workers start; each later one once a random
number (1-3) of further outputs are complete, plus a random delay of up to 0.1 s, so the kills
land mid-batch whatever the machine's speed. Kills alternate between the parent alone (its
workers must die with it) and the whole process group.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from burnish.engine.imageio import read_image, write_image
from burnish.engine.provenance.sidecar import SIDECAR_SUFFIX, sidecar_path
from burnish.models.descriptor import file_sha256

from conftest import random_image

pytestmark = pytest.mark.skipif(not sys.platform.startswith("linux"),
                                reason="SIGKILL and parent-death signals as on Linux")

RECIPE = """
[[steps]]
op = "upscale"
scale = 2
[[steps]]
op = "remove"
boxes = ["20,20,30,24"]
method = "telea"
[[steps]]
op = "encode"
name = "{stem}_final"
"""
FILES = 14
KILLS = 4


def _command(recipe: Path, inputs: Path, out: Path, *more: str) -> list[str]:
    return [sys.executable, "-m", "burnish.cli.app", "run", str(recipe), str(inputs), "-o",
            str(out), "--jobs", "2", "--quiet", *more]


def _children_of(pid: int) -> list[int]:
    import psutil

    try:
        return [child.pid for child in psutil.Process(pid).children(recursive=True)]
    except psutil.NoSuchProcess:
        return []


def _wait_gone(pids: list[int], timeout: float = 20.0) -> None:
    import psutil

    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        alive = [p for p in pids if psutil.pid_exists(p)
                 and psutil.Process(p).status() != psutil.STATUS_ZOMBIE]
        if not alive:
            return
        time.sleep(0.05)
    raise AssertionError(f"worker processes {alive} outlived their killed parent")


def _complete(out: Path) -> int:
    return len(list(out.glob(f"*{SIDECAR_SUFFIX}"))) if out.is_dir() else 0


def _wait_for_outputs(out: Path, wanted: int, process: subprocess.Popen, timeout: float) -> None:
    """Until ``wanted`` outputs are complete, or the run ended, or ``timeout`` passed."""
    deadline = time.monotonic() + timeout
    while (_complete(out) < wanted and process.poll() is None
           and time.monotonic() < deadline):
        time.sleep(0.01)


def test_killed_batches_resume_to_complete_outputs(tmp_path, rng):
    pytest.importorskip("psutil")
    inputs = tmp_path / "in"
    inputs.mkdir()
    for i in range(FILES):
        write_image(inputs / f"photo{i:02d}.png", random_image(rng, 64, 80, 3))
    recipe = tmp_path / "recipe.toml"
    recipe.write_text(RECIPE)
    environment = {**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parents[1])}

    reference = tmp_path / "reference"
    started = time.monotonic()
    subprocess.run(_command(recipe, inputs, reference), check=True, env=environment,
                   capture_output=True)
    full_run = time.monotonic() - started

    out = tmp_path / "out"
    kills_mid_batch = 0
    complete_after_kill = []
    for round_number in range(KILLS):
        process = subprocess.Popen(_command(recipe, inputs, out, "--resume"), env=environment,
                                   stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                                   start_new_session=True)
        if round_number == 0:  # while the workers start, before any output exists
            time.sleep(rng.uniform(0.1, 0.5) * full_run)
        else:  # mid-batch: once a random number of further outputs are complete
            wanted = min(_complete(out) + int(rng.integers(1, 4)), FILES - 1)
            _wait_for_outputs(out, wanted, process, timeout=4 * full_run)
            time.sleep(rng.uniform(0.0, 0.1))
        workers = _children_of(process.pid)
        if round_number % 2:
            os.killpg(process.pid, signal.SIGKILL)  # the whole job, as a terminal's kill -9
        else:
            process.send_signal(signal.SIGKILL)  # the parent only: its workers must follow
        process.wait()
        kills_mid_batch += process.returncode == -signal.SIGKILL
        _wait_gone(workers)
        complete_after_kill.append(_complete(out))

    finished = subprocess.run(_command(recipe, inputs, out, "--resume"), env=environment,
                              capture_output=True, text=True)
    assert finished.returncode == 0, finished.stderr
    assert kills_mid_batch >= 1, "no run was killed before it finished"
    print("outputs complete after each kill:", complete_after_kill)
    assert any(0 < done < FILES for done in complete_after_kill), \
        f"no kill landed mid-batch: {complete_after_kill}"

    names = sorted(p.name for p in out.iterdir())
    expected = sorted([f"photo{i:02d}_final.png" for i in range(FILES)]
                      + [f"photo{i:02d}_final.png{SIDECAR_SUFFIX}" for i in range(FILES)])
    assert names == expected, "missing, duplicated or temporary files left"
    for i in range(FILES):
        target = out / f"photo{i:02d}_final.png"
        record = json.loads(sidecar_path(target).read_text())
        assert record["output"]["sha256"] == file_sha256(target)
        assert read_image(target)[0].shape == (128, 160, 3)
        assert target.read_bytes() == (reference / target.name).read_bytes()


def test_ctrl_c_stops_a_parallel_batch_promptly(tmp_path, rng):
    """Ctrl-C (SIGINT to the foreground process group) ends the batch within seconds, not
    after every queued file; it leaves no temporary file, and --resume finishes the rest."""
    pytest.importorskip("psutil")
    inputs = tmp_path / "in"
    inputs.mkdir()
    files = 24
    for i in range(files):  # larger than the kill test's: a few tenths of a second each
        write_image(inputs / f"photo{i:02d}.png", random_image(rng, 192, 240, 3))
    recipe = tmp_path / "recipe.toml"
    recipe.write_text(RECIPE)
    environment = {**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parents[1])}
    out = tmp_path / "out"
    process = subprocess.Popen(_command(recipe, inputs, out), env=environment,
                               stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                               start_new_session=True,
                               preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL))
    _wait_for_outputs(out, 2, process, timeout=120)
    workers = _children_of(process.pid)
    os.killpg(process.pid, signal.SIGINT)
    interrupted = time.monotonic()
    process.wait(timeout=60)
    assert time.monotonic() - interrupted < 15
    assert process.returncode == 130
    _wait_gone(workers)
    assert _complete(out) < files, "the batch ran to its end despite Ctrl-C"
    assert not [p.name for p in out.iterdir() if ".partial-" in p.name]
    finished = subprocess.run(_command(recipe, inputs, out, "--resume"), env=environment,
                              capture_output=True, text=True)
    assert finished.returncode == 0, finished.stderr
    assert _complete(out) == files
