"""Peak memory of ``burnish upscale`` x4 to PNG on disk, for a 4 MP and a 16 MP photo.

    python -m pytest benches/test_memory.py --benchmark-only -s

Each command runs in its own process; its peak resident set comes from ``getrusage`` of the
children of a small wrapper. The peer, in the same run, is Pillow's Lanczos x4 of the same
16 MP photo to PNG (the whole image in memory, as most tools do).
"""

from __future__ import annotations

import subprocess
import sys

import pytest

from conftest import photo

WRAPPER = ("import resource, subprocess, sys; subprocess.run(sys.argv[1:], check=True); "
           "print(resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss)")
PILLOW_X4 = ("import sys; from PIL import Image; Image.MAX_IMAGE_PIXELS = None; "
             "im = Image.open(sys.argv[1]); im.resize((im.width * 4, im.height * 4), "
             "Image.LANCZOS).save(sys.argv[2])")


def peak_rss_mb(command: list[str]) -> float:
    out = subprocess.run([sys.executable, "-c", WRAPPER, *command], check=True,
                         capture_output=True, text=True).stdout
    return int(out.strip().splitlines()[-1]) / 1024  # ru_maxrss is in KiB on Linux


@pytest.fixture(scope="module")
def results():
    return {}


@pytest.mark.parametrize("name", ["Aqua.jpg", "Infinite-Sea_by_Aury88.jpg"])
def test_burnish_peak_memory(benchmark, tmp_path, results, name):
    source = photo(name)
    command = [sys.executable, "-m", "burnish.cli.app", "upscale", str(source), "-o",
               str(tmp_path / "out.png"), "--quiet", "--max-pixels", "2000000000"]
    peak = benchmark.pedantic(lambda: peak_rss_mb(command), rounds=1, iterations=1)
    results[name] = peak
    benchmark.extra_info.update(peak_rss_mb=peak)
    print(f"\n{name}: burnish peak RSS {peak:.0f} MB")


def test_memory_stays_flat_and_beats_pillow(benchmark, tmp_path, results):
    if len(results) < 2:
        pytest.skip("needs both burnish measurements of this module")
    source = photo("Infinite-Sea_by_Aury88.jpg")
    pillow = benchmark.pedantic(
        lambda: peak_rss_mb([sys.executable, "-c", PILLOW_X4, str(source), str(tmp_path / "p.png")]),
        rounds=1, iterations=1)
    small, large = results["Aqua.jpg"], results["Infinite-Sea_by_Aury88.jpg"]
    benchmark.extra_info.update(pillow_peak_rss_mb=pillow, growth=large / small,
                                burnish_vs_pillow=large / pillow)
    print(f"\n16 MP: burnish {large:.0f} MB, Pillow {pillow:.0f} MB ({large / pillow:.2f}x); "
          f"16 MP / 4 MP = {large / small:.2f}")
