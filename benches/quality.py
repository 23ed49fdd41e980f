"""Quality of the default model against bicubic and Lanczos, x4, on held-out photos.

    python benches/quality.py [--photos ../shared/data/photos] [--json OUT.json] [--record]
                              [--models compact-x4 CANDIDATE.onnx ...] [--scale 2]
                              [--images FOLDER]

``--record`` writes the means into the default model's manifest (its ``quality`` entry, x4).
``--models`` compares candidates (shipped names or ``.onnx`` files) on the same photos: this,
not Set14, is what a new model is chosen by. ``--images`` measures every JPEG, PNG and WebP of
a folder instead of the held-out photos (other content, such as rendered graphics, that the
candidates did not train on).

Each held-out photo (never seen in training, see ``burnish/export/data.py``) is prepared as a
target exactly as in training, degraded by antialiased bicubic x4, and brought back to full
size by each method. PSNR is measured on RGB and on the luma Y (ITU-R BT.601, as MATLAB's
rgb2ycbcr, the usual super-resolution convention), with ``scale`` pixels of border cropped.
Skips cleanly when the photos folder is absent.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import numpy as np
from PIL import Image

import burnish
from burnish.export.data import HOLDOUT, SCALE, degrade, folder_images, load_target

BT601_Y = np.array([65.481, 128.553, 24.966]) / 255.0


def psnr(a: np.ndarray, b: np.ndarray, peak: float = 255.0) -> float:
    mse = np.mean((a.astype(np.float64) - b.astype(np.float64)) ** 2)
    return float(10 * np.log10(peak * peak / max(mse, 1e-12)))


def luma(rgb: np.ndarray) -> np.ndarray:
    return 16.0 + rgb.astype(np.float64) @ BT601_Y


def measure(target: np.ndarray, output: np.ndarray, scale: int = SCALE) -> dict[str, float]:
    crop = (slice(scale, -scale), slice(scale, -scale))
    t, o = target[crop], output[crop]
    return {"psnr_rgb": psnr(t, o), "psnr_y": psnr(luma(t), luma(o))}


def upscalers(models: list[str], scale: int = SCALE):
    def pillow(method):
        return lambda low: np.asarray(Image.fromarray(low).resize(
            (low.shape[1] * scale, low.shape[0] * scale), method))

    def model(name):
        return lambda low: burnish.upscale(low, model=name, scale=scale, device="cpu")

    return {"bicubic": pillow(Image.BICUBIC), "lanczos": pillow(Image.LANCZOS),
            **{name: model(name) for name in models}}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--photos", type=Path, default=Path(__file__).parents[1] / ".." / "shared" / "data" / "photos")
    parser.add_argument("--json", type=Path)
    parser.add_argument("--record", action="store_true",
                        help="store the means in burnish/models/default/manifest.json")
    parser.add_argument("--models", nargs="+", default=["compact-x4"])
    parser.add_argument("--scale", type=int, default=SCALE)
    parser.add_argument("--images", type=Path,
                        help="measure every image of this folder, not the held-out photos")
    args = parser.parse_args()
    if args.record and (args.scale != SCALE or "compact-x4" not in args.models
                        or args.images):
        parser.error("--record stores the shipped compact-x4's x4 scores on the held-out "
                     "photos: measure it at x4 on them")
    if args.images:
        paths = folder_images(args.images)
    elif args.photos.is_dir():
        paths = [args.photos / name for name in HOLDOUT]
    else:
        print(f"skipped: {args.photos} is absent")
        return 0
    rows, methods = [], upscalers(args.models, args.scale)
    for path in paths:
        name = path.name
        target = load_target(path)
        target = target[:target.shape[0] - target.shape[0] % args.scale,
                        :target.shape[1] - target.shape[1] % args.scale]
        low = degrade(target, args.scale)
        for method, run in methods.items():
            started = time.perf_counter()
            result = measure(target, run(low), args.scale)
            rows.append({"photo": name, "method": method, **result,
                         "seconds": time.perf_counter() - started})
    width = max(11, *(len(method) for method in methods))
    print(f"x{args.scale}\n{'photo':<32} {'method':<{width}} {'PSNR RGB':>9} {'PSNR Y':>8}")
    for row in rows:
        print(f"{row['photo']:<32} {row['method']:<{width}} {row['psnr_rgb']:9.2f} "
              f"{row['psnr_y']:8.2f}")
    summary = {}
    for method in methods:
        mine = [r for r in rows if r["method"] == method]
        summary[method] = {k: float(np.mean([r[k] for r in mine])) for k in ("psnr_rgb", "psnr_y")}
    print(f"\nmean over {'the images' if args.images else 'held-out photos'}:")
    for method, values in summary.items():
        gain = {k: values[k] - summary["bicubic"][k] for k in values}
        print(f"  {method:<{width}} RGB {values['psnr_rgb']:.2f} dB ({gain['psnr_rgb']:+.2f} vs bicubic)"
              f"   Y {values['psnr_y']:.2f} dB ({gain['psnr_y']:+.2f})")
    if args.json:
        args.json.write_text(json.dumps({"rows": rows, "mean": summary}, indent=2))
    if args.record:
        record_in_manifest(summary)
    return 0


def record_in_manifest(summary: dict) -> None:
    from burnish.models.registry import DEFAULT_MODEL, SHIPPED_DIR

    path = SHIPPED_DIR / "manifest.json"
    manifest = json.loads(path.read_text())
    for entry in manifest["models"]:
        if entry["name"] == DEFAULT_MODEL:
            entry["quality"]["holdout_x4"] = {
                "benchmark": "benches/quality.py",
                "photos": list(HOLDOUT),
                **{f"{method}_{key}": round(value, 3) for method in ("bicubic", "lanczos", DEFAULT_MODEL)
                   for key, value in summary[method].items()},
            }
    path.write_text(json.dumps(manifest, indent=2) + "\n")


if __name__ == "__main__":
    sys.exit(main())
