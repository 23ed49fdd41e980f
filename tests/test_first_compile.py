"""The one line before a first-use compile (burnish.kernels.compiling), in fresh processes
with their own Numba cache folder: said once when kernels compile, never when they load."""

from __future__ import annotations

import json
import os
import subprocess
import sys

from burnish.kernels.compiling import FIRST_COMPILE_MESSAGE

# Records the burnish log; compiles a Numba function of another package's first (not ours to
# announce), then two signatures of one kernel (one line for both), then prints the records.
PROBE = """
import json, logging
import numba
import numpy as np

records = []

class Keep(logging.Handler):
    def emit(self, record):
        records.append([record.name, record.levelname, record.getMessage()])

logging.getLogger("burnish").addHandler(Keep())
logging.getLogger("burnish").setLevel(logging.INFO)
from burnish.kernels import blend

numba.njit(cache=False)(lambda x: x + 1)(1)
foreign = len(records)
image = np.arange(36, dtype=np.uint8).reshape(3, 4, 3)
alpha = np.full((3, 4), 0.5, np.float32)
first = blend(image, image[::-1].copy(), alpha)
blend(image / np.float32(255), image[::-1] / np.float32(255), alpha)
print(json.dumps({"foreign": foreign, "records": records, "first": first.tolist()}))
"""


def probe(cache) -> dict:
    result = subprocess.run([sys.executable, "-c", PROBE], capture_output=True, text=True,
                            env=dict(os.environ, NUMBA_CACHE_DIR=str(cache)), timeout=600)
    assert result.returncode == 0, result.stderr[-3000:]
    return json.loads(result.stdout.splitlines()[-1])


def test_a_first_compile_is_announced_once_and_a_cached_load_not_at_all(tmp_path):
    cold = probe(tmp_path / "cache")
    assert cold["foreign"] == 0
    assert cold["records"] == [["burnish.kernels", "INFO", FIRST_COMPILE_MESSAGE]]
    warm = probe(tmp_path / "cache")  # the same cache, now filled
    assert warm["records"] == []
    assert warm["first"] == cold["first"]  # and the loaded kernel computes the same


def burnish(cache, *arguments) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-c", "from burnish.cli.app import main; main()",
                           *map(str, arguments)], capture_output=True, text=True, timeout=600,
                          env=dict(os.environ, NUMBA_CACHE_DIR=str(cache)))


def test_the_cli_says_it_once_on_stderr_and_quiet_hides_it(tmp_path):
    """The cheapest command that compiles a kernel (stitching, for a Lanczos upscale)."""
    from PIL import Image

    source = tmp_path / "tiny.png"
    Image.new("RGB", (21, 13), (90, 140, 200)).save(source)
    line = f"burnish: {FIRST_COMPILE_MESSAGE}"
    cold = burnish(tmp_path / "cache", "upscale", source, "--model", "lanczos",
                   "-o", tmp_path / "a.png")
    assert cold.returncode == 0, cold.stderr
    assert cold.stderr.splitlines().count(line) == 1 and line not in cold.stdout
    warm = burnish(tmp_path / "cache", "upscale", source, "--model", "lanczos",
                   "-o", tmp_path / "b.png")
    assert warm.returncode == 0 and line not in warm.stderr
    quiet = burnish(tmp_path / "other", "upscale", source, "--model", "lanczos",
                    "-o", tmp_path / "c.png", "--quiet")
    assert quiet.returncode == 0 and line not in quiet.stderr
