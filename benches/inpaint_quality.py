"""Quality of burnish's hole filling against OpenCV's Telea and Navier-Stokes inpainting.

    python benches/inpaint_quality.py [--photos DIR] [--side 1155] [--json OUT.json] [--save DIR]

Every shared photo is resized to about one megapixel (``--side`` pixels wide) and given
synthetic holes: one box and random brush strokes, each at about 3% and 10% of the area
(fixed seeds, so every run cuts the same holes). Each method fills each hole; burnish runs
``burnish.remove`` with no dilation or feathering, so all methods fill exactly the same
pixels. Two measures, on the BT.601 luma:

- **SSIM** (scikit-image, Gaussian window, sigma 1.5) between the fill and the photo, averaged
  over the *edge band*: pixels within 16 px of the hole's edge on either side. It asks
  whether the fill continues what surrounds it.
- **Energy ratio**: the variance of the Laplacian inside the hole (its 2-pixel rim left
  out) over that in the 16-pixel ring around it. 1 means the fill is as detailed as its
  surroundings; Telea and Navier-Stokes smear, far below 1. The summary counts the fills
  within 0.7-1.3, and the photo itself is measured as a reference row ("original"): its
  own ratio, which is not 1 where the hole covers a smoother or busier part than its ring.

Skips cleanly (exit 0) when the photos folder is absent.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import numpy as np
from PIL import Image

BAND = 16
HOLES = {"box 3%": ("box", 0.03), "box 10%": ("box", 0.10),
         "strokes 3%": ("strokes", 0.03), "strokes 10%": ("strokes", 0.10)}
BT601_Y = np.array([0.299, 0.587, 0.114])


def box_hole(shape: tuple[int, int], fraction: float, rng) -> np.ndarray:
    height, width = shape
    aspect = rng.uniform(0.6, 1.6)
    h = int(round(np.sqrt(fraction * height * width * aspect)))
    w = int(round(fraction * height * width / h))
    top, left = rng.integers(0, height - h), rng.integers(0, width - w)
    hole = np.zeros(shape, bool)
    hole[top: top + h, left: left + w] = True
    return hole


def stroke_hole(shape: tuple[int, int], fraction: float, rng) -> np.ndarray:
    """Brush strokes: random polylines 12-40 px thick, added until ``fraction`` is covered."""
    import cv2

    height, width = shape
    canvas = np.zeros(shape, np.uint8)
    while canvas.mean() / 255 < fraction:
        thickness = int(rng.integers(12, 41))
        points = [rng.uniform((0, 0), (width, height))]
        for _ in range(int(rng.integers(2, 6))):
            angle, length = rng.uniform(0, 2 * np.pi), rng.uniform(40, 200)
            points.append(points[-1] + length * np.array([np.cos(angle), np.sin(angle)]))
        cv2.polylines(canvas, [np.array(points, np.int32)], False, 255, thickness)
    return canvas > 0


def luma(rgb: np.ndarray) -> np.ndarray:
    return rgb.astype(np.float64) @ BT601_Y


def measure(original: np.ndarray, filled: np.ndarray, hole: np.ndarray) -> dict[str, float]:
    import cv2
    from skimage.metrics import structural_similarity

    from burnish.kernels import signed_edge_distance

    truth, ours = luma(original), luma(filled)
    _, ssim_map = structural_similarity(truth, ours, data_range=255, gaussian_weights=True,
                                        sigma=1.5, use_sample_covariance=False, full=True)
    distance = signed_edge_distance(hole)  # > 0 inside the hole
    band = np.abs(distance) <= BAND
    inside, ring = distance > 2, (distance <= 0) & (distance >= -BAND)
    laplacian = cv2.Laplacian(ours, cv2.CV_64F)
    energy = laplacian[inside].var() / max(laplacian[ring].var(), 1e-12)
    return {"ssim_band": float(ssim_map[band].mean()), "energy_ratio": float(energy)}


def methods():
    import cv2

    import burnish

    def opencv(flag):
        return lambda image, hole: cv2.inpaint(image, hole.astype(np.uint8) * 255, 5, flag)

    return {
        "burnish patchmatch": lambda image, hole: burnish.remove(
            image, hole, method="patchmatch", dilate=0, feather=0, seed=0),
        "burnish unharmonised": lambda image, hole: burnish.remove(
            image, hole, method="patchmatch", dilate=0, feather=0, seed=0, harmonize=False),
        "cv2 telea": opencv(cv2.INPAINT_TELEA),
        "cv2 navier-stokes": opencv(cv2.INPAINT_NS),
        "original": lambda image, hole: image,  # the reference: what was under the hole
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--photos", type=Path,
                        default=Path(__file__).resolve().parents[1].parent / "shared" / "data" / "photos")
    parser.add_argument("--side", type=int, default=1155, help="width after resizing")
    parser.add_argument("--json", type=Path, help="write every measurement here")
    parser.add_argument("--save", type=Path, help="write the filled images into this folder")
    parser.add_argument("--only", nargs="*", help="photos whose names contain one of these")
    args = parser.parse_args()
    paths = sorted(p for p in args.photos.glob("*") if p.suffix.lower() in (".jpg", ".png"))
    if args.only:
        paths = [p for p in paths if any(word in p.name for word in args.only)]
    if not paths:
        print(f"skipped: no photos in {args.photos}")
        return 0
    rows = []
    for path in paths:
        number = sum(ord(c) for c in path.name)  # each photo's holes stay the same
        photo = Image.open(path).convert("RGB")
        photo = photo.resize((args.side, round(args.side * photo.height / photo.width)),
                             Image.LANCZOS)
        image = np.asarray(photo)
        for kind_number, (label, (kind, fraction)) in enumerate(HOLES.items()):
            rng = np.random.default_rng([number, kind_number])
            make = box_hole if kind == "box" else stroke_hole
            hole = make(image.shape[:2], fraction, rng)
            for method, fill in methods().items():
                started = time.perf_counter()
                filled = fill(image, hole)
                seconds = time.perf_counter() - started
                row = {"photo": path.name, "hole": label, "area": float(hole.mean()),
                       "method": method, "seconds": seconds, **measure(image, filled, hole)}
                rows.append(row)
                print(f"{path.name[:24]:24s} {label:11s} {method:20s} SSIM {row['ssim_band']:.3f}  "
                      f"energy {row['energy_ratio']:.2f}  {seconds:.2f} s", flush=True)
                if args.save:
                    args.save.mkdir(parents=True, exist_ok=True)
                    name = f"{path.stem}_{label.replace(' ', '').replace('%', '')}_{method.split()[-1]}.png"
                    Image.fromarray(filled).save(args.save / name)
    print("\nmeans over every photo and hole (energy ratio: median)")
    for method in methods():
        mine = [r for r in rows if r["method"] == method]
        for label in [*HOLES, "all"]:
            chosen = [r for r in mine if label in ("all", r["hole"])]
            energy = np.array([r["energy_ratio"] for r in chosen])
            print(f"{method:20s} {label:11s} SSIM {np.mean([r['ssim_band'] for r in chosen]):.4f}"
                  f"  energy {np.median(energy):.2f}"
                  f" (middle half {np.percentile(energy, 25):.2f}-{np.percentile(energy, 75):.2f},"
                  f" {np.count_nonzero((energy >= 0.7) & (energy <= 1.3))}/{energy.size}"
                  f" in 0.7-1.3)  ({np.mean([r['seconds'] for r in chosen]):.2f} s)")
    if args.json:
        args.json.write_text(json.dumps(rows, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
