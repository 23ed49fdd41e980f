"""Batch throughput: ``burnish run`` over 50 small images against ``burnish upscale`` run once
per file (a new process, imports and model load for every image), on this machine's cores.

    python -m pytest benches/test_batch_speed.py --benchmark-only -s

Both sides are whole processes timed from launch to exit, and both upscale x4 with the
shipped default model. Two peers are timed in the same run: a plain loop (one file after
another, as a shell ``for`` loop runs it: the issue's baseline) and two at a time (``xargs
-P 2``). The outputs are checked to hold the same pixels.
"""

from __future__ import annotations

import os
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np

from conftest import photo_crop

FILES = 50
SIDE = 96
PHOTOS = ("Garden.jpg",)
RECIPE = '[[steps]]\nop = "upscale"\nscale = 4\n'


def _burnish(*args) -> list[str]:
    return [sys.executable, "-m", "burnish.cli.app", *map(str, args)]


def _inputs(folder: Path) -> list[Path]:
    """50 different 96x96 crops (a grid over the middle of a shared photo)."""
    from burnish.engine.imageio import write_image

    big = photo_crop(PHOTOS[0], SIDE * 5, SIDE * 10)
    folder.mkdir()
    paths = []
    for i in range(FILES):
        y, x = divmod(i, 10)
        path = folder / f"tile{i:02d}.png"
        write_image(path, big[y * SIDE:(y + 1) * SIDE, x * SIDE:(x + 1) * SIDE])
        paths.append(path)
    return paths


def _timed(function) -> float:
    started = time.perf_counter()
    function()
    return time.perf_counter() - started


def test_batch_run_against_one_process_per_file(benchmark, tmp_path):
    from burnish.engine.imageio import read_image

    inputs = _inputs(tmp_path / "in")
    recipe = tmp_path / "x4.toml"
    recipe.write_text(RECIPE)
    jobs = os.cpu_count() or 1

    def ours():
        out = tmp_path / "run"
        subprocess.run(_burnish("run", recipe, tmp_path / "in", "-o", out, "--jobs", jobs,
                                "--quiet"), check=True, capture_output=True)

    def one_file(path: Path, folder: Path) -> None:
        subprocess.run(_burnish("upscale", path, "-o", folder / path.name, "--quiet"),
                       check=True, capture_output=True)

    def loop():
        folder = tmp_path / "loop"
        folder.mkdir(exist_ok=True)
        for path in inputs:
            one_file(path, folder)

    def two_at_a_time():
        folder = tmp_path / "pairs"
        folder.mkdir(exist_ok=True)
        with ThreadPoolExecutor(2) as pool:
            list(pool.map(lambda path: one_file(path, folder), inputs))

    ours()  # the first run fills Numba's on-disk cache, as any installed burnish has it
    benchmark.pedantic(ours, rounds=2, iterations=1)
    mine = benchmark.stats.stats.min
    looped = _timed(loop)
    paired = _timed(two_at_a_time)
    for path in inputs:
        run_pixels, _ = read_image(tmp_path / "run" / path.name)
        loop_pixels, _ = read_image(tmp_path / "loop" / path.name)
        assert np.array_equal(run_pixels, loop_pixels), path.name
    benchmark.extra_info.update(burnish_s=mine, loop_s=looped, pairs_s=paired,
                                speedup_vs_loop=looped / mine, speedup_vs_pairs=paired / mine,
                                files=FILES, jobs=jobs)
    print(f"\n{FILES} files of {SIDE}x{SIDE}, x4: burnish run --jobs {jobs} {mine:.1f} s; "
          f"burnish upscale per file: loop {looped:.1f} s ({looped / mine:.2f}x), two at a "
          f"time {paired:.1f} s ({paired / mine:.2f}x)")
