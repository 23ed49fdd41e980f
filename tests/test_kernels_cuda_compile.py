"""Every CUDA driver compiles for a real GPU target, not only in the simulator.

The simulator runs kernels as Python and accepts code the CUDA target rejects, so this runs
``tests/cuda_compile_check.py`` in a process without the simulator: it compiles each driver to
sm_90 PTX for the argument types that the public functions launch it with. Needs the NVVM
library (the CUDA toolkit), not a GPU; skipped where NVVM is absent.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

SCRIPT = Path(__file__).with_name("cuda_compile_check.py")


@pytest.fixture(scope="module")
def report():
    root = Path(__file__).resolve().parents[1]
    # One Numba thread: with the CPU drivers' worker threads alive beside NVVM, the process
    # aborted on a corrupted heap in about half the runs (numba-cuda 0.30.4, NVVM 13.0).
    env = dict(os.environ, NUMBA_ENABLE_CUDASIM="0", NUMBA_NUM_THREADS="1",
               PYTHONPATH=os.pathsep.join(filter(None, [str(root), os.environ.get("PYTHONPATH")])))
    done = subprocess.run([sys.executable, str(SCRIPT)], env=env, capture_output=True,
                          text=True, cwd=root, timeout=900)
    assert done.returncode == 0, done.stderr[-3000:]
    result = json.loads(done.stdout.strip().splitlines()[-1])
    if "unavailable" in result:
        pytest.skip(f"cannot compile CUDA code here: {result['unavailable']}")
    return result


def test_every_cuda_driver_compiles_for_a_real_gpu(report):
    assert report["failed"] == {}


def test_every_cuda_driver_was_reached(report):
    assert report["missing"] == [] and len(report["compiled"]) >= 10
