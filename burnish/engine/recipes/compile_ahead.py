"""Compiling on the second core when a command first runs (a cold Numba cache).

Numba compiles on one core: one lock per process. When a command has to compile at all
(:func:`burnish.kernels.compiling.on_first_compile` tells), a helper process starts and
compiles, into the same cache, the kernels of the command's *later* steps while the command
compiles its first ones. It runs *rehearsals*: the engine's own functions on tiny inputs of the
types the command will pass, so that Numba compiles the same signatures. When the command
reaches those steps their machine code is in the cache and loads in milliseconds.

The helper only adds to the cache, and is never started when nothing compiles. A signature
it misses, or has not finished, is compiled by the command as before, so results never
depend on it. It dies with the command (PR_SET_PDEATHSIG on Linux) and is stopped when the
command exits. ``BURNISH_COMPILE_AHEAD=0`` turns it off.

    python -m burnish.engine.recipes.compile_ahead PARENT_PID DTYPE REHEARSAL ...
"""

from __future__ import annotations

import atexit
import os
import subprocess
import sys
import threading

import numpy as np

from burnish.kernels.compiling import first_compile_done, on_first_compile

_planned: list[tuple[str, tuple[str, ...]]] = []
_lock = threading.Lock()
_helpers: list[subprocess.Popen] = []


# Large enough for grain estimation's flat blocks and for harmonising's ring of context.
SIZE = 96


def _tiny_image(dtype: np.dtype, channels: int = 3) -> np.ndarray:
    rng = np.random.default_rng(0)
    unit = (0.45 + 0.1 * rng.random((SIZE, SIZE, channels))).astype(np.float32)
    if dtype == np.float32:
        return unit
    return np.rint(unit * np.iinfo(dtype).max).astype(dtype)


def _hole() -> np.ndarray:
    hole = np.zeros((SIZE, SIZE), bool)
    hole[36:60, 30:66] = True
    return hole


def _harmonise(dtype: np.dtype) -> None:
    """``remove``'s harmonising: float32 crops whatever the image (a flat fill in noise, so
    that grain is missing and synthesised too)."""
    from burnish.engine.removal.harmonise import harmonise

    filled = _tiny_image(np.dtype(np.float32))
    filled[_hole()] = 0.5
    harmonise(filled, _hole())


def _composite(dtype: np.dtype) -> None:
    """``remove``'s composite of the fill over the image, in the image's dtype."""
    from burnish import kernels

    image = _tiny_image(dtype)
    kernels.blend(image, image[::-1].copy(), np.full(image.shape[:2], 0.5, np.float32))


def _match_colour(dtype: np.dtype) -> None:
    from burnish import kernels

    image = _tiny_image(dtype)
    kernels.limit_fine_detail(kernels.reinhard(image, image[::-1].copy()), image)


def _match_grain(dtype: np.dtype) -> None:
    from burnish import kernels

    image = _tiny_image(dtype)
    grain = kernels.estimate_grain(_tiny_image(np.dtype(np.float32)))
    kernels.synthesize_grain(image, grain, seed=0)


def _adjust(dtype: np.dtype) -> None:
    from burnish import kernels

    kernels.exposure(_tiny_image(dtype), 0.1)


REHEARSALS = {"harmonise": _harmonise, "composite": _composite,
              "match_colour": _match_colour, "match_grain": _match_grain, "adjust": _adjust}


def compile_ahead(dtype, *rehearsals: str) -> None:
    """If this process starts compiling kernels, a helper compiles ``rehearsals``' kernels
    (names in :data:`REHEARSALS`) for images of ``dtype`` meanwhile (module notes)."""
    unknown = [name for name in rehearsals if name not in REHEARSALS]
    if unknown:
        raise ValueError(f"no rehearsal named {', '.join(unknown)}")
    if os.environ.get("BURNISH_COMPILE_AHEAD", "1") == "0" or first_compile_done():
        return
    with _lock:
        _planned.append((np.dtype(dtype).name, rehearsals))
    on_first_compile(_start_helpers)


def _start_helpers() -> None:
    """One helper per dtype, each rehearsal once: a recipe's plan and its remove step's plan
    name the same rehearsals, which one helper compiles."""
    with _lock:
        planned, _planned[:] = list(_planned), []
    by_dtype: dict[str, dict[str, None]] = {}
    for dtype, names in planned:
        by_dtype.setdefault(dtype, {}).update(dict.fromkeys(names))
    for dtype, rehearsals in by_dtype.items():
        helper = subprocess.Popen(
            [sys.executable, "-m", "burnish.engine.recipes.compile_ahead", str(os.getpid()), dtype,
             *rehearsals],
            stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        _helpers.append(helper)
    atexit.register(_stop_helpers)


def _stop_helpers() -> None:
    for helper in _helpers:
        if helper.poll() is None:
            helper.terminate()


def main(arguments: list[str]) -> int:
    from burnish.engine.recipes.batch_run import die_with_parent

    parent, dtype, *rehearsals = arguments
    die_with_parent(int(parent))
    for name in rehearsals:
        REHEARSALS[name](np.dtype(dtype))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
