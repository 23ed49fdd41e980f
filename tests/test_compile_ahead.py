"""Compiling ahead (burnish.engine.recipes.compile_ahead): the rehearsals compile the signatures the
real steps use, so that after them the steps compile nothing; and a cold command starts the
helper, a warm one does not. Fresh processes, each with its own Numba cache folder."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest

from burnish.engine.recipes.compile_ahead import REHEARSALS, compile_ahead

# Records the burnish functions Numba compiles while ``CALL`` runs, and prints them.
RECORD = """
import json, sys
import numpy as np
from numba.core import event

compiled = []

class Record(event.Listener):
    def on_start(self, ev):
        function = ev.data["dispatcher"].py_func
        if function.__module__.startswith("burnish."):
            compiled.append(function.__module__ + "." + function.__qualname__)
    def on_end(self, ev):
        pass

event.register("numba:compile", Record())
{call}
print(json.dumps(compiled))
"""

# The real steps, on inputs of other sizes and content than the rehearsals' tiny ones.
REMOVE = """
from burnish.engine.removal.object_removal import remove
rng = np.random.default_rng(3)
image = (rng.random((90, 110, 3)) * 255).astype(np.uint8)
mask = np.zeros((90, 110), bool)
mask[30:52, 40:75] = True
remove(image, mask)
"""
GRADES = """
from burnish import kernels
rng = np.random.default_rng(4)
image = (rng.random((70, 50, 3)) * 255).astype(np.uint8)
look = (rng.random((30, 60, 3)) * 255).astype(np.uint8)
kernels.limit_fine_detail(kernels.reinhard(image, look), image)
kernels.synthesize_grain(image, kernels.estimate_grain(look / np.float32(255)), seed=7)
kernels.exposure(image, 0.3)
"""


def python(code: str, cache, **environment) -> subprocess.CompletedProcess:
    env = dict(os.environ, NUMBA_CACHE_DIR=str(cache), **environment)
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                            env=env, timeout=900)
    assert result.returncode == 0, result.stderr[-3000:]
    return result


def rehearse(cache, *names: str) -> None:
    python(f"from burnish.engine.recipes.compile_ahead import main; main(['{os.getpid()}', 'uint8', "
           f"{', '.join(repr(n) for n in names)}])", cache)


def compiled_by(code: str, cache, **environment) -> list[str]:
    return json.loads(python(RECORD.format(call=code), cache, **environment)
                      .stdout.splitlines()[-1])


def test_after_the_rehearsals_the_grading_steps_compile_nothing(tmp_path):
    rehearse(tmp_path / "cache", "match_colour", "match_grain", "adjust")
    assert compiled_by(GRADES, tmp_path / "cache") == []
    assert compiled_by(GRADES, tmp_path / "cold")  # the control: a cold cache compiles


def test_after_the_rehearsals_remove_compiles_only_its_first_steps(tmp_path):
    rehearse(tmp_path / "cache", "harmonise", "composite")
    late = ("burnish.kernels.colour.", "burnish.kernels.grain.", "burnish.kernels.blend.")
    compiled = compiled_by(REMOVE, tmp_path / "cache")
    assert compiled and not [name for name in compiled if name.startswith(late)]
    cold = compiled_by(REMOVE, tmp_path / "cold")  # the control
    assert [name for name in cold if name.startswith(late)]


HELPERS = """
import subprocess, sys, time
started = []
original = subprocess.Popen
def recording(arguments, **options):
    started.append(arguments[1:3])
    return original(arguments, **options)
subprocess.Popen = recording
from burnish.engine.recipes.compile_ahead import compile_ahead
from burnish import kernels
compile_ahead("uint8", "composite")
kernels.dilate(np.zeros((9, 9), bool), 2)
print(json.dumps(started), file=sys.stderr)
"""


def test_a_cold_process_starts_one_helper_and_a_warm_one_none(tmp_path):
    def helpers_started() -> list:
        code = "import json\nimport numpy as np\n" + HELPERS
        result = python(code, tmp_path / "cache", BURNISH_COMPILE_AHEAD="1")
        return json.loads(result.stderr.strip().splitlines()[-1])

    assert helpers_started() == [["-m", "burnish.engine.recipes.compile_ahead"]]
    assert helpers_started() == []  # the cache is filled: nothing compiles, no helper


def test_unknown_rehearsals_are_refused():
    with pytest.raises(ValueError, match="no rehearsal named shine"):
        compile_ahead("uint8", "shine")
    assert set(REHEARSALS) == {"harmonise", "composite", "match_colour", "match_grain",
                               "adjust"}
