"""JPEG blocks in a flat sky after colour matching: the kernels' transfers alone, and with the
fine-detail limit that ``match_colour`` applies after them.

    python3 benches/colour_blocks.py

``Dune.jpg`` from the shared photos (``BURNISH_PHOTOS`` overrides; skipped with a line if
missing) is matched, whole, to each reference photo by Reinhard, MKL and histogram matching.
In its flat sky (rows 0-199, columns 200-759) the table gives the *block excess*: how much
larger the steps between neighbours are across 8-pixel block boundaries than across the
middle of blocks (the blocks' own visibility, without the steps a smooth gradient makes
everywhere), as a ratio to the input's; and how far the sky's mean moved between the
transfer alone and the limited result (it should not: the limit keeps the large scale).
Prints a Markdown table for BENCHMARKS.md.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

import numpy as np
from PIL import Image

from burnish.kernels import limit_fine_detail, match_histograms, mkl, reinhard

PHOTOS = Path(os.environ.get("BURNISH_PHOTOS", "/work/shared/data/photos"))
REFERENCES = ("Garden.jpg", "YellowFlower.jpg", "Aqua.jpg", "LadyBird.jpg", "Storm.jpg")
SKY = (slice(0, 200), slice(200, 760))


def block_excess(image: np.ndarray) -> float:
    pixels = image.astype(np.float64)

    def steps(offset: int) -> float:
        return (np.abs(pixels[:, offset + 1::8] - pixels[:, offset:-1:8]).mean()
                + np.abs(pixels[offset + 1::8] - pixels[offset:-1:8]).mean()) / 2

    return steps(7) - steps(3)


def main() -> None:
    if not (PHOTOS / "Dune.jpg").is_file():
        print(f"skipped: Dune.jpg not found in {PHOTOS}", file=sys.stderr)
        return
    dune = np.asarray(Image.open(PHOTOS / "Dune.jpg").convert("RGB"))
    before = block_excess(dune[SKY])
    print(f"Dune.jpg sky, block excess of the input: {before:.2f} levels\n")
    print("| reference | transfer | blocks, transfer alone | blocks, match_colour (limited) "
          "| sky mean moved by the limit |")
    print("| --- | --- | --- | --- | --- |")
    for name in REFERENCES:
        if not (PHOTOS / name).is_file():
            continue
        reference = np.asarray(Image.open(PHOTOS / name).convert("RGB"))
        for transfer in (reinhard, mkl, match_histograms):
            alone = transfer(dune, reference)
            limited = limit_fine_detail(alone, dune)
            moved = np.abs(limited[SKY].reshape(-1, 3).mean(axis=0)
                           - alone[SKY].reshape(-1, 3).mean(axis=0)).max()
            print(f"| {name} | {transfer.__name__} | {block_excess(alone[SKY]) / before:.2f}x "
                  f"| {block_excess(limited[SKY]) / before:.2f}x | {moved:.2f} levels |")


if __name__ == "__main__":
    main()
