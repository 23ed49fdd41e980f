"""Super-resolution quality on Set14 with the standard protocol, and speed, in one run.

    python3 benches/set14.py [--models compact-x4 compact-x4-int8 FILE.onnx ...]
                             [--scale 4] [--speed-side 512]

Protocol (``../shared/data/sr-eval/Set14``, evaluation only: never train or tune on it):
each HR image cropped to a multiple of the scale, reduced by antialiased bicubic (Pillow's
``BICUBIC`` resize, which filters over the whole footprint, as MATLAB's ``imresize``), brought
back by each method; PSNR on the BT.601 luma (``16 + 65.481 R + 128.553 G + 24.966 B`` on
[0, 1]), ``scale`` pixels of border left out, averaged over the 14 images. Methods: bicubic,
Lanczos (Pillow), and each model through ``burnish.upscale`` (the engine's tiles, CPU).

``--record`` stores each shipped model's score in the package's manifest, which ``burnish
models list`` shows.

Speed: the median of 3 ``burnish.upscale`` calls (after a first one) on a random-detail
``--speed-side`` square, per model, reported per input megapixel, with each model's ratio to
the first model named. Prints a Markdown table; skips cleanly (exit 0) when Set14 is absent.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import time
from pathlib import Path

import numpy as np
from PIL import Image
from quality import luma, psnr  # the held-out benchmark's BT.601 luma and PSNR

from burnish.export.data import degrade  # the training recipes' antialiased bicubic

SET14 = Path(__file__).resolve().parents[1].parent / "shared" / "data" / "sr-eval" / "Set14"


def psnr_y(truth: np.ndarray, output: np.ndarray, border: int) -> float:
    crop = (slice(border, -border), slice(border, -border))
    return psnr(luma(truth)[crop], luma(output)[crop])


def pairs(scale: int):
    for path in sorted(SET14.glob("*.png")):
        with Image.open(path) as image:
            image = image.convert("RGB")
            image = image.crop((0, 0, image.width - image.width % scale,
                                image.height - image.height % scale))
            truth = np.asarray(image)
            yield path.name, truth, degrade(truth, scale)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--models", nargs="*", default=["compact-x4"])
    parser.add_argument("--scale", type=int, default=4)
    parser.add_argument("--speed-side", type=int, default=512)
    parser.add_argument("--threads", type=int, default=None)
    parser.add_argument("--record", action="store_true",
                        help="write each shipped model's score into the package's manifest "
                             "(shown by `burnish models list`)")
    args = parser.parse_args()
    if not SET14.is_dir():
        print(f"skipped: no Set14 in {SET14}")
        return 0
    import burnish

    def resampler(method):
        return lambda low: np.asarray(Image.fromarray(low).resize(
            (low.shape[1] * args.scale, low.shape[0] * args.scale), method))

    methods = {"bicubic": resampler(Image.BICUBIC), "lanczos": resampler(Image.LANCZOS)}
    for model in args.models:
        methods[model] = (lambda name: lambda low: burnish.upscale(
            low, scale=args.scale, model=name, device="cpu"))(model)
    scores = {name: [] for name in methods}
    for _, truth, low in pairs(args.scale):
        for name, method in methods.items():
            scores[name].append(psnr_y(truth, method(low), args.scale))
    rng = np.random.default_rng(0)
    probe = rng.integers(0, 256, (args.speed_side, args.speed_side, 3), dtype=np.uint8)
    probe = np.asarray(Image.fromarray(probe).resize((args.speed_side // 2,) * 2).resize(
        (args.speed_side,) * 2, Image.BICUBIC))  # photo-like detail, not white noise
    seconds = {}
    for model in args.models:
        burnish.upscale(probe, scale=args.scale, model=model, device="cpu")
        times = []
        for _ in range(3):
            started = time.perf_counter()
            burnish.upscale(probe, scale=args.scale, model=model, device="cpu")
            times.append(time.perf_counter() - started)
        seconds[model] = statistics.median(times) / (args.speed_side ** 2 / 1e6)
    bicubic = np.mean(scores["bicubic"])
    first = args.models[0] if args.models else None
    print(f"Set14 x{args.scale}, {len(scores['bicubic'])} images, PSNR on Y, "
          f"{args.scale}-px border\n")
    print("| method | PSNR Y (dB) | over bicubic | s per input MP | speed vs "
          f"{first} |\n| --- | --- | --- | --- | --- |")
    for name, values in scores.items():
        speed = seconds.get(name)
        ratio = f"{seconds[first] / speed:.2f}x" if speed else "-"
        print(f"| {name} | {np.mean(values):.3f} | {np.mean(values) - bicubic:+.3f} | "
              f"{f'{speed:.3f}' if speed else '-'} | {ratio} |")
    if args.record:
        record(args.scale, {name: (float(np.mean(scores[name])), float(bicubic))
                            for name in args.models})
    return 0


def record(scale: int, measured: dict[str, tuple[float, float]]) -> None:
    """Store ``quality.set14_xSCALE`` in the manifest entries of the shipped models measured
    (a file given by path is not shipped and is left out)."""
    from burnish.models.registry import SHIPPED_DIR

    path = SHIPPED_DIR / "manifest.json"
    manifest = json.loads(path.read_text())
    for entry in manifest["models"]:
        if entry["name"] in measured and entry["scale"] == scale:
            model_db, bicubic_db = measured[entry["name"]]
            entry.setdefault("quality", {})[f"set14_x{scale}"] = {
                "benchmark": "benches/set14.py", "date": time.strftime("%Y-%m-%d"),
                "psnr_y": round(model_db, 3), "bicubic_psnr_y": round(bicubic_db, 3),
                "over_bicubic": round(model_db - bicubic_db, 3)}
            print(f"recorded {entry['name']} in {path}")
    path.write_text(json.dumps(manifest, indent=2) + "\n")


if __name__ == "__main__":
    sys.exit(main())
