"""Peak memory of ``burnish run`` with a recipe, on a 4 MP and a 16 MP photo.

    python3 benches/recipe_memory.py [streamed | issue | grain | huge]

Each run is a fresh process under ``/usr/bin/time`` (peak RSS, wall time), on photos from
/work/shared/data/photos (``BURNISH_PHOTOS`` overrides; skipped with a line when missing):
Aqua.jpg (2560 x 1600, 4.1 MP) and Infinite-Sea_by_Aury88.jpg (4096 x 4096, 16.8 MP). The
16 MP photo is a progressive JPEG, which any decoder (libjpeg) must hold whole as DCT
coefficients (about 100 MB here) before the first row comes out; so it runs twice: as it is,
and re-encoded by libvips as a baseline JPEG (quality 95), which decodes row by row. The
ratio is taken with the baseline copy.

- ``streamed``: ``upscale x4 -> adjust -> resize width=8000 -> encode jpeg``, steps that all
  stream: the 16 MP run should need about what the 4 MP run needs;
- ``issue``: issue 13's ``remove (box) -> upscale x4 -> match_colour -> adjust -> encode
  jpeg`` (goal: 16 MP within 1.2x of 4 MP, under 500 MB).
- ``grain``: ``upscale x4 -> match_grain -> encode jpeg``: the grain matched in two passes
  (the image's own grain measured as it spills, then each band grained), flat like the rest;
- ``huge``: a generated 20000 x 20000 RGB PNG (400 MP, made by libvips in the temporary
  folder first, not measured) through ``remove (box) -> adjust -> resize width=5000 ->
  encode jpeg`` (goal: under 600 MB; the input alone is 1.2 GB decoded).

Prints a Markdown table (with the ratio of the two photos' runs).
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
import tempfile
from pathlib import Path

PHOTOS = Path(os.environ.get("BURNISH_PHOTOS", "/work/shared/data/photos"))
INPUTS = ("Aqua.jpg", "Infinite-Sea_by_Aury88.jpg")
BURNISH = [sys.executable, "-c", "from burnish.cli.app import main; main()"]
RECIPES = {
    "streamed": """
[[steps]]
op = "upscale"
scale = 4
[[steps]]
op = "adjust"
exposure = 0.2
saturation = 1.1
[[steps]]
op = "resize"
width = 8000
[[steps]]
op = "encode"
format = "jpeg"
quality = 90
""",
    "issue": """
[[steps]]
op = "remove"
boxes = ["400,300,160,120"]
[[steps]]
op = "upscale"
scale = 4
[[steps]]
op = "match_colour"
reference = "{reference}"
[[steps]]
op = "adjust"
exposure = 0.2
[[steps]]
op = "encode"
format = "jpeg"
quality = 90
""",
    "grain": """
[[steps]]
op = "upscale"
scale = 4
[[steps]]
op = "match_grain"
reference = "{reference}"
amount = 1.0
[[steps]]
op = "encode"
format = "jpeg"
quality = 90
""",
    "huge": """
[[steps]]
op = "remove"
boxes = ["9000,9000,300,240"]
[[steps]]
op = "adjust"
exposure = 0.2
saturation = 1.1
[[steps]]
op = "resize"
width = 5000
[[steps]]
op = "encode"
format = "jpeg"
quality = 90
""",
}
HUGE_SIDE = 20000


def generated_input(folder: Path) -> Path:
    """A 20000 x 20000 RGB PNG with structure to fill from (rings and diagonal bands), made
    by libvips as a stream."""
    import pyvips

    xy = pyvips.Image.xyz(HUGE_SIDE, HUGE_SIDE)
    x, y = xy[0], xy[1]
    rings = ((x - HUGE_SIDE / 2) ** 2 + (y - HUGE_SIDE / 3) ** 2) ** 0.5
    image = (x % 256).bandjoin([(y // 3) % 256, (rings / 2) % 256]).cast("uchar")
    path = folder / "huge.png"
    image.pngsave(str(path), compression=1)
    return path


def baseline_copy(photo: Path, folder: Path) -> Path:
    """``photo`` re-encoded as a baseline (not progressive) JPEG, quality 95."""
    import pyvips

    path = folder / f"{photo.stem}-baseline.jpg"
    pyvips.Image.new_from_file(str(photo)).jpegsave(str(path), Q=95, interlace=False)
    return path


def measure(command: list[str], name: str, show: bool = True) -> float:
    """Peak RSS in MB of one fresh process (printed as a table row with its wall time)."""
    done = subprocess.run(["/usr/bin/time", "-f", "%M %e", *command], capture_output=True,
                          text=True, env={**os.environ, "BURNISH_COMPILE_AHEAD": "0"})
    if done.returncode != 0:
        raise SystemExit(f"{name} failed:\n{done.stderr[-2000:]}")
    kilobytes, seconds = re.findall(r"^(\d+) ([\d.]+)$", done.stderr, re.M)[-1]
    if show:
        print(f"| {name} | {int(kilobytes) / 1024:.0f} | {float(seconds):.1f} |", flush=True)
    return int(kilobytes) / 1024


def main() -> None:
    which = sys.argv[1] if len(sys.argv) > 1 else "streamed"
    needed = ("Dune.jpg", *INPUTS) if which != "huge" else ()
    missing = [name for name in needed if not (PHOTOS / name).is_file()]
    if missing:
        print(f"skipped: {', '.join(missing)} missing from {PHOTOS}")
        return
    with tempfile.TemporaryDirectory() as folder:
        folder = Path(folder)
        recipe = folder / "recipe.toml"
        recipe.write_text(RECIPES[which].format(reference=PHOTOS / "Dune.jpg"))
        if which == "huge":
            inputs = [generated_input(folder)]
        else:
            inputs = [PHOTOS / INPUTS[0], baseline_copy(PHOTOS / INPUTS[1], folder),
                      PHOTOS / INPUTS[1]]
        # One unmeasured run on a small crop first: the kernels' compile (with an empty
        # Numba cache, LLVM's memory) belongs to first use, not to the recipe's size.
        warm = folder / "warm.png"
        import pyvips

        pyvips.Image.new_from_file(str(inputs[0])).crop(0, 0, 64, 64).write_to_file(str(warm))
        warm_recipe = folder / "warm.toml"
        warm_recipe.write_text(re.sub(r"boxes = \[.*\]", 'boxes = ["8,8,16,16"]',
                                      recipe.read_text()))
        measure([*BURNISH, "run", str(warm_recipe), str(warm), "-o", f"{folder}/warm/"],
                "warm-up", show=False)
        print(f"recipe {which!r}, {os.cpu_count()} cores")
        print("| input | peak RSS (MB) | wall (s) |")
        print("| --- | --- | --- |")
        results = [measure([*BURNISH, "run", str(recipe), str(path), "-o", f"{folder}/out/"],
                           path.name) for path in inputs]
    if len(results) == 3:
        print(f"16 MP (baseline) / 4 MP peak RSS: {results[1] / results[0]:.2f}x; "
              f"16 MP progressive / 4 MP: {results[2] / results[0]:.2f}x")


if __name__ == "__main__":
    main()
