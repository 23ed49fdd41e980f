"""Inputs that are not regular files, and damaged files met along the way: each is refused in
one line at once (never a hang, a traceback or a MemoryError), and the rest of a batch is
written."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from PIL import Image

from conftest import random_image

# A recipe of Pillow-only steps: nothing to compile, so a slow first process cannot be mistaken
# for a hang.
CROP = '[[steps]]\nop = "crop"\nbox = "1,1,8,8"\n'


def burnish(*args, timeout=180) -> subprocess.CompletedProcess:
    """The real command in a new process; a hang fails the test at ``timeout``."""
    return subprocess.run([sys.executable, "-m", "burnish.cli.app", *map(str, args)],
                          capture_output=True, text=True, timeout=timeout,
                          stdin=subprocess.DEVNULL)


def error_lines(stderr: str) -> list[str]:
    assert "Traceback" not in stderr, stderr
    return [line for line in stderr.splitlines() if line.startswith("burnish: error:")]


@pytest.fixture
def fifo(tmp_path) -> Path:
    path = tmp_path / "pipe.png"
    os.mkfifo(path)
    return path


@pytest.fixture
def good(tmp_path, rng) -> Path:
    path = tmp_path / "good.png"
    Image.fromarray(random_image(rng, 16, 14, 3)).save(path)
    return path


@pytest.mark.parametrize("special", ["fifo", "/dev/zero"])
def test_run_refuses_a_pipe_or_device_and_writes_the_rest(tmp_path, fifo, good, special):
    source = fifo if special == "fifo" else Path(special)
    if not source.exists():
        pytest.skip(f"no {special} here")
    recipe = tmp_path / "r.toml"
    recipe.write_text(CROP)
    out = tmp_path / "out"
    done = burnish("run", recipe, source, good, "-o", out, "--quiet")
    assert done.returncode == 1
    lines = error_lines(done.stderr)
    assert len(lines) == 1 and str(source) in lines[0] and "not a regular file" in lines[0]
    assert sorted(p.name for p in out.iterdir()) == ["good.png", "good.png.burnish.json"]


@pytest.mark.parametrize("command", [["upscale", "--model", "lanczos", "--scale", "2"],
                                     ["remove", "--box", "1,1,4,4", "--method", "telea"]])
def test_upscale_and_remove_refuse_a_pipe(tmp_path, fifo, good, command):
    done = burnish(command[0], fifo, good, *command[1:], "-o", tmp_path / "out", "--quiet")
    assert done.returncode == 1
    lines = error_lines(done.stderr)
    assert len(lines) == 1 and str(fifo) in lines[0] and "not a regular file" in lines[0]
    assert len(list((tmp_path / "out").iterdir())) == 1


def test_resume_meets_a_deeply_nested_sidecar(tmp_path, good):
    """A sidecar replaced by deeply nested JSON is not this job's record: the output is
    redone, with no RecursionError."""
    recipe = tmp_path / "r.toml"
    recipe.write_text(CROP)
    out = tmp_path / "out"
    assert burnish("run", recipe, good, "-o", out, "--quiet").returncode == 0
    sidecar = out / "good.png.burnish.json"
    sidecar.write_text("[" * 100_000 + "]" * 100_000)
    done = burnish("run", recipe, good, "-o", out, "--resume", "--quiet")
    assert done.returncode == 0, done.stderr
    assert "Traceback" not in done.stderr
    assert json.loads(sidecar.read_text())["format"]  # a fresh, real sidecar


def test_a_killed_upscale_leaves_a_partial_the_next_one_removes(tmp_path, good):
    """What a killed ``burnish upscale`` leaves (``.NAME.partial-XXXXXXXX``) is removed by the
    next ``burnish upscale`` to the same output, as ``burnish run`` does."""
    target = tmp_path / "big.png"
    stale = tmp_path / ".big.png.partial-0123abcd"
    stale.write_bytes(b"half an image")
    other = tmp_path / ".other.png.partial-0123abcd"  # another output's: not ours to remove
    other.write_bytes(b"someone else's")
    done = burnish("upscale", good, "-o", target, "--model", "lanczos", "--scale", "2")
    assert done.returncode == 0, done.stderr
    assert not stale.exists() and other.exists()
    assert "removed 1 temporary files left by an interrupted run" in done.stderr
    assert Image.open(target).size == (28, 32)


def test_quiet_silences_notes_but_not_warnings(tmp_path, good):
    stale = tmp_path / ".big.png.partial-0123abcd"
    stale.write_bytes(b"half")
    done = burnish("upscale", good, "-o", tmp_path / "big.png", "--model", "lanczos",
                   "--scale", "2", "--quiet")
    assert done.returncode == 0 and not stale.exists()
    assert "removed" not in done.stderr
