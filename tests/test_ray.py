"""``burnish run --ray`` (``burnish.ray``) on a local cluster, one for the module (``ray.init
(num_cpus=2)``, as Ray's testing guide advises): the bytes of ``burnish run``, resume, a
corrupt file among good ones, an actor killed mid-batch with its file retried, and the
driver killed and the job resumed."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest
from PIL import Image

ray = pytest.importorskip("ray")

from burnish.engine.recipes.batch_run import RunOptions  # noqa: E402
from burnish.engine.recipes.batch_run import run_recipe as run_here  # noqa: E402
from burnish.engine.recipes.recipe import load_recipe  # noqa: E402
from burnish.ray import ClusterOptions, run_recipe  # noqa: E402
from tests.conftest import run_cli, structured_image  # noqa: E402

GRADE = '[[steps]]\nop = "adjust"\nexposure = 0.4\nsaturation = 1.2\n'
# Slow enough per file (a removal) that a batch is still running when something is killed.
REMOVAL = '[[steps]]\nop = "remove"\nboxes = ["60,50,90,80"]\n'


@pytest.fixture(scope="module")
def cluster():
    ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False,
             logging_level="WARNING")
    yield ray.get_runtime_context().gcs_address
    ray.shutdown()


def _batch(folder: Path, count: int, size=(150, 200)) -> list[Path]:
    folder.mkdir(parents=True, exist_ok=True)
    paths = []
    for number in range(count):
        path = folder / f"img{number:03d}.png"
        Image.fromarray(structured_image(*size, seed=number)).save(path)
        paths.append(path)
    return paths


def _recipe(tmp_path: Path, text: str):
    path = tmp_path / "recipe.toml"
    path.write_text(text)
    return load_recipe(path)


def _images(folder: Path) -> dict[str, bytes]:
    return {p.name: p.read_bytes() for p in sorted(folder.glob("*.png"))}


def _left_over(folder: Path) -> list[str]:
    return [p.name for p in folder.iterdir() if ".partial-" in p.name]


def test_the_same_bytes_as_burnish_run_and_a_bad_file_reported(cluster, tmp_path):
    inputs = _batch(tmp_path / "in", 4)
    (tmp_path / "in" / "broken.png").write_bytes(b"\x89PNG\r\n\x1a\n not really")
    recipe = _recipe(tmp_path, GRADE)
    here = run_here(recipe, [tmp_path / "in"], RunOptions(output=tmp_path / "here"))
    seen = []
    there = run_recipe(recipe, [tmp_path / "in"], RunOptions(output=tmp_path / "ray"),
                       ClusterOptions(max_actors=2), on_done=seen.append)
    assert [r.input.name for r in there] == [r.input.name for r in here]
    failed = [r for r in there if not r.ok]
    assert len(seen) == 5 and [r.input.name for r in failed] == ["broken.png"]
    assert "broken.png" in failed[0].error and "\n" not in failed[0].error
    assert _images(tmp_path / "ray") == _images(tmp_path / "here") and len(inputs) == 4
    assert len(list((tmp_path / "ray").glob("*.burnish.json"))) == 4
    assert not _left_over(tmp_path / "ray")


def test_resume_skips_complete_outputs_and_redoes_the_rest(cluster, tmp_path):
    _batch(tmp_path / "in", 3)
    recipe = _recipe(tmp_path, GRADE)
    options = RunOptions(output=tmp_path / "out")
    run_recipe(recipe, [tmp_path / "in"], options, ClusterOptions(max_actors=1))
    first = _images(tmp_path / "out")
    (tmp_path / "out" / "img001.png").write_bytes(b"damaged")  # its sidecar no longer matches
    again = run_recipe(recipe, [tmp_path / "in"], RunOptions(output=tmp_path / "out",
                                                             resume=True),
                       ClusterOptions(max_actors=1))
    assert [r.skipped for r in again] == [True, False, True]
    assert _images(tmp_path / "out") == first


def _actor_pids() -> list[int]:
    import psutil

    found = []
    for process in psutil.process_iter(["pid", "cmdline"]):
        if "_RecipeActor" in " ".join(process.info["cmdline"] or ()):
            found.append(process.info["pid"])
    return found


def test_an_actor_killed_mid_batch_has_its_work_retried(cluster, tmp_path):
    """SIGKILL to an actor's process while files are in flight: Ray restarts it and the
    file is retried; every output complete, once, with the bytes of a local run."""
    pytest.importorskip("psutil")
    _batch(tmp_path / "in", 6, size=(200, 260))
    recipe = _recipe(tmp_path, REMOVAL)
    reference = run_here(recipe, [tmp_path / "in"], RunOptions(output=tmp_path / "here"))
    assert all(r.ok for r in reference)
    killed: list[int] = []

    def kill_one_when_started():
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline and not killed:
            done = list((tmp_path / "out").glob("*.burnish.json")) if (
                tmp_path / "out").is_dir() else []
            pids = _actor_pids()
            if done and pids and len(done) < 4:
                os.kill(pids[0], signal.SIGKILL)
                killed.append(len(done))
            time.sleep(0.05)

    killer = threading.Thread(target=kill_one_when_started)
    killer.start()
    results = run_recipe(recipe, [tmp_path / "in"], RunOptions(output=tmp_path / "out"),
                         ClusterOptions(max_actors=2))
    killer.join()
    assert killed, "no actor was killed while the batch ran"
    assert all(r.ok for r in results), [r.error for r in results if not r.ok]
    assert _images(tmp_path / "out") == _images(tmp_path / "here")
    assert len(list((tmp_path / "out").glob("*.burnish.json"))) == 6
    assert not _left_over(tmp_path / "out")


def _driver_under_way(tmp_path: Path, cluster: str) -> tuple[subprocess.Popen, list[str]]:
    """The CLI's driver over six slow files, joined to the cluster, once its first output
    exists (still running); the driver and its command line."""
    _batch(tmp_path / "in", 6, size=(200, 260))
    (tmp_path / "recipe.toml").write_text(REMOVAL)
    out = tmp_path / "out"
    command = [sys.executable, "-m", "burnish.cli.app", "run", str(tmp_path / "recipe.toml"),
               str(tmp_path / "in"), "-o", str(out), "--ray", "--ray-address", cluster,
               "--quiet"]
    # A command started with & by a non-interactive shell has SIGINT ignored, and so does
    # every process under it (pytest run in the background: the driver never saw the
    # test's Ctrl-C and ran to the end). A handled signal is reset to its default by exec,
    # an ignored one is not: handled here while the driver starts (not in a preexec_fn,
    # unsafe with the cluster's threads in this process).
    previous = signal.signal(signal.SIGINT, signal.default_int_handler)
    try:
        driver = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    finally:
        signal.signal(signal.SIGINT, previous)
    deadline = time.monotonic() + 180
    while time.monotonic() < deadline and driver.poll() is None:
        if out.is_dir() and list(out.glob("*.burnish.json")):
            break
        time.sleep(0.05)
    assert driver.poll() is None, driver.stderr.read().decode()[-2000:]
    return driver, command


def test_a_killed_driver_is_resumed_to_complete_outputs(cluster, tmp_path, monkeypatch,
                                                        capsys):
    """The CLI's driver, joined to the cluster, SIGKILLed once some outputs exist; the job's
    actors end with it; ``--resume`` completes the batch, leaving what was done as it was."""
    driver, command = _driver_under_way(tmp_path, cluster)
    out = tmp_path / "out"
    driver.kill()
    driver.wait()
    done_before = {p.name: p.stat().st_mtime_ns for p in out.glob("*.burnish.json")}
    assert 1 <= len(done_before) < 6
    code, _, err = run_cli(monkeypatch, capsys, *command[3:], "--resume")
    assert code == 0, err
    written = {p.name: p.stat().st_mtime_ns for p in out.glob("*.burnish.json")}
    assert len(written) == 6
    assert all(written[name] == before for name, before in done_before.items())
    reference = run_here(load_recipe(tmp_path / "recipe.toml"), [tmp_path / "in"],
                         RunOptions(output=tmp_path / "here"))
    assert all(r.ok for r in reference)
    assert _images(out) == _images(tmp_path / "here")
    assert not _left_over(out)


def test_cli_mistakes_are_one_line(tmp_path, monkeypatch, capsys):
    _batch(tmp_path / "in", 1)
    (tmp_path / "recipe.toml").write_text(GRADE)
    for extra, problem in ((["--ray-cpus", "2"], "--ray-cpus goes with --ray"),
                           (["--ray-address", "auto"], "--ray-address goes with --ray"),
                           (["--ray", "--ray-actors", "x"], "is not N or MIN:MAX"),
                           (["--ray", "--jobs", "2"], "on Ray the pool is --ray-actors"),
                           (["--ray", "--ray-actors", "3:2"], "1 <= min <= max")):
        code, _, err = run_cli(monkeypatch, capsys, "run", tmp_path / "recipe.toml",
                               tmp_path / "in", "-o", tmp_path / "out", *extra)
        assert code != 0 and problem in err and len(err.strip().splitlines()) == 1, err
    assert not (tmp_path / "out").exists()


def test_a_cluster_without_room_for_one_actor_is_refused(cluster, tmp_path):
    from burnish.errors import OptionError

    _batch(tmp_path / "in", 1)
    with pytest.raises(OptionError, match="not enough for one actor of 3 CPUs and 0 GPUs"):
        run_recipe(_recipe(tmp_path, GRADE), [tmp_path / "in"],
                   RunOptions(output=tmp_path / "out"), ClusterOptions(cpus=3))


def test_ctrl_c_stops_the_job_and_its_actors(cluster, tmp_path):
    """SIGINT to the CLI's driver once some outputs exist: it exits at once, non-zero, and
    nothing more is written afterwards (the job's actors end with it), no partial file."""
    driver, _ = _driver_under_way(tmp_path, cluster)
    out = tmp_path / "out"
    driver.send_signal(signal.SIGINT)
    driver.wait(timeout=60)
    assert driver.returncode != 0, driver.stderr.read().decode()[-2000:]
    time.sleep(3)
    written = sorted(p.name for p in out.iterdir())
    time.sleep(3)
    assert sorted(p.name for p in out.iterdir()) == written  # nothing goes on writing
    assert len([name for name in written if name.endswith(".burnish.json")]) < 6
    assert not _left_over(out)
