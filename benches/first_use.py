"""First use of every command with an empty Numba cache, a filled one, and warm.

    python3 benches/first_use.py [upscale remove run edit] [--json FILE]

For each CLI command, on photos from /work/shared/data/photos (``BURNISH_PHOTOS`` overrides;
commands whose photos are missing are skipped with a line saying so), in fresh processes
whose ``NUMBA_CACHE_DIR`` is a new, empty temporary folder:

- **cold**: the command (``burnish ...`` as a user types it) with the empty cache: it
  compiles every kernel it uses;
- **cached**: the same command again in a new process, the cache now filled: what every
  later run costs (imports, loading the cached code, the work);
- **warm**: the library function behind the command, called twice in one Python process
  (with the filled cache); the second call is warm: no compiling, no loading.

Then, to show where the time goes, the library call once more in a fresh process with a new
empty cache and a recorder of Numba's compile events (each kernel's own compile time, its
callees' subtracted), and in a fresh process with that cache filled, timing each cached
entry's load. Commands: ``upscale`` (a 256 x 256 crop, the shipped 4x model), ``remove``
(a ~1 MP crop, one box, PatchMatch and harmonising), ``run`` (README's example recipe on a
640 x 427 photo, its reference built in the temp folder), ``edit`` (two steps: an
adjustment and a colour match). Prints Markdown tables for BENCHMARKS.md.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

PHOTOS = Path(os.environ.get("BURNISH_PHOTOS", "/work/shared/data/photos"))
CLI = [sys.executable, "-c", "from burnish.cli.app import main; main()"]

README = Path(__file__).resolve().parents[1] / "README.md"


def _readme_recipe() -> str:
    """The README's example recipe (its first TOML block), so that this measures what a user
    copies from it."""
    return README.read_text().split("```toml\n", 1)[1].split("```", 1)[0]


EDIT_STEPS = ["adjust exposure=0.3 saturation=1.1", "match_colour reference=look.jpg"]
REMOVE_BOX = "500,300,160,120"


def _crop(source: str, target: Path, box: tuple[int, int, int, int],
          size: tuple[int, int] | None = None) -> None:
    from PIL import Image

    with Image.open(PHOTOS / source) as image:
        image = image.convert("RGB").crop(box)
        if size is not None:
            image = image.resize(size, Image.Resampling.LANCZOS)
        image.save(target, **({"quality": 92} if target.suffix == ".jpg" else {}))


def _prepare(command: str, folder: Path) -> bool:
    """Writes the command's inputs into ``folder``; False when its photos are missing."""
    needed = {"upscale": ["FreshFlower.jpg"], "remove": ["Dune.jpg"],
              "run": ["Garden.jpg", "Dune.jpg"], "edit": ["Garden.jpg", "Dune.jpg"]}[command]
    if not all((PHOTOS / name).is_file() for name in needed):
        return False
    if command == "upscale":
        _crop("FreshFlower.jpg", folder / "small.png", (600, 400, 856, 656))
    elif command == "remove":
        _crop("Dune.jpg", folder / "photo.png", (200, 100, 1432, 916))  # 1232 x 816: 1.0 MP
    else:
        _crop("Garden.jpg", folder / "photo.png", (0, 0, 2560, 1600), (640, 400))
        _crop("Dune.jpg", folder / "look.jpg", (0, 0, 1680, 1050), (600, 375))
        (folder / "campaign.toml").write_text(_readme_recipe())
    return True


def _cli_arguments(command: str, folder: Path, run: int) -> list[str]:
    """The command line a user would type; ``run`` keeps the outputs of runs apart."""
    if command == "upscale":
        return ["upscale", str(folder / "small.png"), "-o", str(folder / f"up{run}.png")]
    if command == "remove":
        return ["remove", str(folder / "photo.png"), "--box", REMOVE_BOX,
                "-o", str(folder / f"removed{run}.png")]
    if command == "run":
        return ["run", str(folder / "campaign.toml"), str(folder / "photo.png"),
                "-o", str(folder / f"out{run}")]
    image = folder / f"edit{run}.png"
    shutil.copyfile(folder / "photo.png", image)
    return ["edit", str(image), *EDIT_STEPS]


# The library call behind each command; ``{run}`` keeps outputs apart, ``folder`` is given.
LIBRARY_CALLS = {
    "upscale": "from burnish.engine.upscaling import upscale_files\n"
               "results = upscale_files([folder / 'small.png'], folder / f'lib_up{run}.png')",
    "remove": "from burnish.engine.removal.object_removal import MaskSpec, remove_files\n"
              f"results = remove_files([folder / 'photo.png'], folder / f'lib_removed{{run}}.png', "
              f"masks=MaskSpec(boxes=({REMOVE_BOX!r},)))",
    "run": "from burnish.engine.recipes.recipe import load_recipe\n"
           "from burnish.engine.recipes.batch_run import RunOptions, run_recipe\n"
           "results = run_recipe(load_recipe(folder / 'campaign.toml'), "
           "[str(folder / 'photo.png')], RunOptions(output=folder / f'lib_out{run}'))",
    "edit": "import shutil\nfrom burnish.engine.provenance.history import edit\n"
            "shutil.copyfile(folder / 'photo.png', folder / f'lib_edit{run}.png')\n"
            f"edit(folder / f'lib_edit{{run}}.png', {EDIT_STEPS!r})\nresults = []",
}

# Runs the library call ``calls`` times in this process; with ``record`` set, records every
# Numba compile (own time, nested compiles subtracted) and every cache load, by kernel.
PROBE = """
import json, os, sys, time
from collections import defaultdict
from pathlib import Path
folder = Path(sys.argv[1])
compiled, loaded = defaultdict(float), defaultdict(float)
if {record}:
    from numba.core import caching, event

    class Compiles(event.Listener):
        def __init__(self):
            self.stack = []
        def on_start(self, ev):
            self.stack.append([time.perf_counter(), 0.0])
        def on_end(self, ev):
            start, nested = self.stack.pop()
            spent = time.perf_counter() - start
            function = ev.data["dispatcher"].py_func
            compiled[f"{{function.__module__}}.{{function.__qualname__}}"] += spent - nested
            if self.stack:
                self.stack[-1][1] += spent

    event.register("numba:compile", Compiles())
    original_load = caching.Cache.load_overload
    def timed_load(self, sig, target_context):
        start = time.perf_counter()
        try:
            return original_load(self, sig, target_context)
        finally:
            function = self._py_func
            loaded[f"{{function.__module__}}.{{function.__qualname__}}"] += (
                time.perf_counter() - start)
    caching.Cache.load_overload = timed_load
seconds = []
for run in range({calls}):
    start = time.perf_counter()
{call}
    seconds.append(time.perf_counter() - start)
    failed = [result.error for result in results if not result.ok]
    if failed:
        sys.exit(f"failed: {{failed}}")
print(json.dumps({{"seconds": seconds, "compiled": compiled, "loaded": loaded}}))
"""


def _environment(cache: Path) -> dict[str, str]:
    return dict(os.environ, NUMBA_CACHE_DIR=str(cache), BURNISH_DEBUG="1")


def _timed_cli(command: str, folder: Path, cache: Path, run: int) -> float:
    arguments = _cli_arguments(command, folder, run)
    start = time.perf_counter()
    result = subprocess.run(CLI + arguments, env=_environment(cache), capture_output=True,
                            text=True, cwd=folder)
    seconds = time.perf_counter() - start
    if result.returncode != 0:
        raise RuntimeError(f"burnish {' '.join(arguments)} failed:\n{result.stderr[-3000:]}")
    return seconds


def _probe(command: str, folder: Path, cache: Path, calls: int, record: bool) -> dict:
    call = "\n".join("    " + line for line in LIBRARY_CALLS[command].splitlines())
    code = PROBE.format(record=record, calls=calls, call=call)
    result = subprocess.run([sys.executable, "-c", code, str(folder)], env=_environment(cache),
                            capture_output=True, text=True, cwd=folder)
    if result.returncode != 0:
        raise RuntimeError(f"{command} probe failed:\n{result.stderr[-3000:]}")
    return json.loads(result.stdout.splitlines()[-1])


def measure(command: str) -> dict | None:
    with tempfile.TemporaryDirectory(prefix=f"first_use_{command}_") as work:
        folder = Path(work) / "files"
        folder.mkdir()
        if not _prepare(command, folder):
            return None
        cache, profile_cache = Path(work) / "cache", Path(work) / "profile_cache"
        cache.mkdir()
        profile_cache.mkdir()
        cold = _timed_cli(command, folder, cache, 0)
        cached = _timed_cli(command, folder, cache, 1)
        in_process = _probe(command, folder, cache, calls=2, record=False)["seconds"]
        profile = _probe(command, folder, profile_cache, calls=1, record=True)
        loads = _probe(command, folder, profile_cache, calls=1, record=True)
    return {"cold_s": cold, "cached_s": cached, "first_call_cached_s": in_process[0],
            "warm_s": in_process[1], "compile_s": profile["compiled"],
            "load_s": loads["loaded"], "recompiled_when_cached": loads["compiled"]}


def markdown(results: dict[str, dict]) -> str:
    lines = ["| command | cold (empty cache) | cached, new process | warm, in process "
             "| cold - warm | cached / warm | compiling (sum) | cache loads (sum, count) |",
             "| --- | --- | --- | --- | --- | --- | --- | --- |"]
    for command, r in results.items():
        lines.append(
            f"| {command} | {r['cold_s']:.1f} s | {r['cached_s']:.2f} s | {r['warm_s']:.2f} s "
            f"| {r['cold_s'] - r['warm_s']:.1f} s | {r['cached_s'] / r['warm_s']:.2f}x "
            f"| {sum(r['compile_s'].values()):.1f} s | {sum(r['load_s'].values()):.2f} s, "
            f"{len(r['load_s'])} |")
    for command, r in results.items():
        lines += ["", f"{command}: compile time by kernel (own time, callees subtracted; "
                  "the ten largest), and its cache load in a new process", "",
                  "| kernel | compile | load |", "| --- | --- | --- |"]
        ranked = sorted(r["compile_s"].items(), key=lambda item: -item[1])
        for name, seconds in ranked[:10]:
            load = r["load_s"].get(name)
            lines.append(f"| {name.removeprefix('burnish.')} | {seconds:.2f} s | "
                         f"{'' if load is None else f'{load:.3f} s'} |")
        if r["recompiled_when_cached"]:
            lines.append(f"\nCompiled again with the cache filled: "
                         f"{', '.join(sorted(r['recompiled_when_cached']))}")
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("commands", nargs="*", default=list(LIBRARY_CALLS),
                        choices=list(LIBRARY_CALLS))
    parser.add_argument("--json", type=Path, help="also write the raw figures here")
    args = parser.parse_args()
    results = {}
    for command in args.commands:
        started = time.perf_counter()
        result = measure(command)
        if result is None:
            print(f"{command}: skipped, photos not found in {PHOTOS}", file=sys.stderr)
            continue
        results[command] = result
        print(f"{command}: cold {result['cold_s']:.1f} s, cached {result['cached_s']:.2f} s, "
              f"warm {result['warm_s']:.2f} s ({time.perf_counter() - started:.0f} s to "
              f"measure)", file=sys.stderr)
    if args.json:
        args.json.write_text(json.dumps(results, indent=1))
    print(markdown(results))


if __name__ == "__main__":
    main()
