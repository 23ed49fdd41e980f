"""Reading a 6 MP 16-bit RGB PNG: burnish's reader beside libvips and OpenCV, same file.

    python3 benches/imageio_speed.py [--repeat 3]

The file is made from a photo in /work/shared/data/photos (``BURNISH_PHOTOS`` overrides; the
script says so and stops when it is missing): a 3000 x 2000 crop of
Kleiber_by_Lukas_Baubkus.jpg scaled to 16 bits (``x * 257`` plus a little noise, so the low
byte is not a copy of the high one), written by libvips with adaptive filtering (as most
16-bit PNGs are). Prints the best of ``--repeat`` runs of each reader and the ratios.
"""

from __future__ import annotations

import argparse
import os
import tempfile
import time
from pathlib import Path

import numpy as np

PHOTOS = Path(os.environ.get("BURNISH_PHOTOS", "/work/shared/data/photos"))
SOURCE = "Kleiber_by_Lukas_Baubkus.jpg"


def make_png16(target: Path) -> np.ndarray:
    import pyvips
    from PIL import Image

    with Image.open(PHOTOS / SOURCE) as image:
        pixels = np.asarray(image.convert("RGB").crop((1000, 600, 4000, 2600)), np.uint16)
    noise = np.random.default_rng(0).integers(0, 257, pixels.shape, dtype=np.uint16)
    pixels = np.minimum(pixels * 257 + noise, 65535).astype(np.uint16)
    pyvips.Image.new_from_array(pixels).copy(interpretation="rgb16").pngsave(
        str(target), compression=6, filter="all")
    return pixels


def best_of(repeat: int, read) -> float:
    times = []
    for _ in range(repeat):
        started = time.perf_counter()
        read()
        times.append(time.perf_counter() - started)
    return min(times)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    if not (PHOTOS / SOURCE).is_file():
        print(f"skipped: {PHOTOS / SOURCE} is missing")
        return
    import cv2
    import pyvips

    from burnish.engine.imageio import read_image

    pyvips.cache_set_max(0)  # libvips caches operations: a second load would be a cache hit
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "kleiber16.png"
        expected = make_png16(path)
        pixels, _ = read_image(path)
        assert pixels.dtype == np.uint16 and np.array_equal(pixels, expected)
        results = {
            "burnish read_image": best_of(args.repeat, lambda: read_image(path)),
            "libvips (pyvips, numpy)": best_of(
                args.repeat, lambda: pyvips.Image.new_from_file(str(path)).numpy()),
            "OpenCV imread": best_of(
                args.repeat, lambda: cv2.imread(str(path), cv2.IMREAD_UNCHANGED)),
        }
    ours = results["burnish read_image"]
    print(f"6 MP 16-bit RGB PNG ({path.name}, {os.cpu_count()} cores), best of {args.repeat}:")
    print("| reader | seconds | burnish / reader |")
    print("| --- | --- | --- |")
    for name, seconds in results.items():
        print(f"| {name} | {seconds:.3f} | {ours / seconds:.2f}x |")


if __name__ == "__main__":
    main()
