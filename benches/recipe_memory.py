"""Peak memory of ``burnish run`` with a recipe, on a 4 MP and a 16 MP photo.

    python3 benches/recipe_memory.py [streamed | issue]

Each run is a fresh process under ``/usr/bin/time`` (peak RSS, wall time), on photos from
/work/shared/data/photos (``BURNISH_PHOTOS`` overrides; skipped with a line when missing):
Aqua.jpg (2560 x 1600, 4.1 MP) and Infinite-Sea_by_Aury88.jpg (4096 x 4096, 16.8 MP).

- ``streamed``: ``upscale x4 -> adjust -> resize width=8000 -> encode jpeg``, steps that all
  stream: the 16 MP run should need about what the 4 MP run needs;
- ``issue``: issue 13's ``remove (box) -> upscale x4 -> match_colour -> adjust -> encode
  jpeg`` (goal: 16 MP within 1.2x of 4 MP, under 500 MB).

Prints a Markdown table with the ratio of the two.
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
}


def main() -> None:
    which = sys.argv[1] if len(sys.argv) > 1 else "streamed"
    missing = [name for name in INPUTS if not (PHOTOS / name).is_file()]
    if missing:
        print(f"skipped: {', '.join(missing)} missing from {PHOTOS}")
        return
    results = []
    with tempfile.TemporaryDirectory() as folder:
        folder = Path(folder)
        recipe = folder / "recipe.toml"
        recipe.write_text(RECIPES[which].format(reference=PHOTOS / "Dune.jpg"))
        print(f"recipe {which!r}, {os.cpu_count()} cores")
        print("| input | peak RSS (MB) | wall (s) |")
        print("| --- | --- | --- |")
        for name in INPUTS:
            out = folder / "out"
            command = [*BURNISH, "run", str(recipe), str(PHOTOS / name), "-o", f"{out}/"]
            done = subprocess.run(["/usr/bin/time", "-f", "%M %e", *command],
                                  capture_output=True, text=True,
                                  env={**os.environ, "BURNISH_COMPILE_AHEAD": "0"})
            if done.returncode != 0:
                raise SystemExit(f"{name} failed:\n{done.stderr[-2000:]}")
            kilobytes, seconds = re.findall(r"^(\d+) ([\d.]+)$", done.stderr, re.M)[-1]
            results.append(int(kilobytes) / 1024)
            print(f"| {name} | {results[-1]:.0f} | {float(seconds):.1f} |", flush=True)
    print(f"16 MP / 4 MP peak RSS: {results[1] / results[0]:.2f}x")


if __name__ == "__main__":
    main()
