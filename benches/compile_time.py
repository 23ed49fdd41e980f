"""First-call cost of every public kernel: JIT compilation with an empty cache, then loading
the on-disk cache (``cache=True``) in a fresh process, against a warm call.

    python3 benches/compile_time.py

Each kernel runs in its own fresh Python process, three times: with an empty Numba cache
directory (cold: compiles), again in a new process with that directory filled (what a user
sees on every run after the first), and once more in that process (warm). Inputs are small
(64 x 48), so the calls measure compilation and dispatch, not pixels. Prints a Markdown
table for BENCHMARKS.md.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile

# One statement per public kernel; `setup` provides the inputs.
SETUP = """
import time
import numpy as np
from burnish import kernels as k
rng = np.random.default_rng(0)
image = rng.integers(0, 256, (64, 48, 3), dtype=np.uint8)
other = rng.integers(0, 256, (64, 48, 3), dtype=np.uint8)
mask = rng.random((64, 48)) > 0.7
plane = rng.random((64, 48), dtype=np.float32)
lut = k.Lut(np.stack(np.meshgrid(*[np.linspace(0, 1, 9, dtype=np.float32)] * 3,
                                 indexing="ij"), axis=-1))
grainy = np.clip(rng.normal(0.5, 0.05, (64, 48, 3)), 0, 1).astype(np.float32)
"""

CALLS = {
    "dilate": "k.dilate(mask, 5)",
    "erode": "k.erode(mask, 5)",
    "distance_transform": "k.distance_transform(mask)",
    "gaussian_blur": "k.gaussian_blur(plane, 8.0)",
    "feather": "k.feather(mask, 6.0)",
    "blend": "k.blend(image, other, plane)",
    "reinhard": "k.reinhard(image, other)",
    "match_histograms": "k.match_histograms(image, other)",
    "mkl": "k.mkl(image, other)",
    "limit_fine_detail": "k.limit_fine_detail(image, other)",
    "estimate_grain": "k.estimate_grain(grainy)",
    "synthesize_grain": "k.synthesize_grain(image, k.estimate_grain(grainy), seed=1)",
    "apply_lut": "k.apply_lut(image, lut)",
    "exposure": "k.exposure(image, 0.5)",
}

PROBE = SETUP + """
start = time.perf_counter(); {call}; first = time.perf_counter() - start
start = time.perf_counter(); {call}; second = time.perf_counter() - start
print(first, second)
"""


def _first_and_second(call: str, cache_dir: str) -> tuple[float, float]:
    env = dict(os.environ, NUMBA_CACHE_DIR=cache_dir)
    result = subprocess.run([sys.executable, "-c", PROBE.format(call=call)], env=env,
                            capture_output=True, text=True, check=True)
    first, second = (float(v) for v in result.stdout.split()[-2:])
    return first, second


def main() -> None:
    rows = {}
    for name, call in CALLS.items():
        with tempfile.TemporaryDirectory() as cache_dir:
            cold, _ = _first_and_second(call, cache_dir)
            cached, warm = _first_and_second(call, cache_dir)
        rows[name] = {"cold_s": cold, "cached_s": cached, "warm_ms": warm * 1e3}
        print(f"{name}: cold {cold:.2f} s, cached {cached * 1e3:.0f} ms, warm {warm * 1e3:.2f} ms",
              file=sys.stderr)
    print("| kernel | first call, empty cache | first call, cached | warm call |")
    print("| --- | --- | --- | --- |")
    for name, row in rows.items():
        print(f"| {name} | {row['cold_s']:.2f} s | {row['cached_s'] * 1e3:.0f} ms "
              f"| {row['warm_ms']:.2f} ms |")
    print(json.dumps(rows), file=sys.stderr)


if __name__ == "__main__":
    main()
