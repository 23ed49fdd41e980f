"""Soft cut-outs on composites of a known foreground and alpha over varied backgrounds.

    python3 benches/cutout_quality.py [--cases 16] [--size 320]

Each case: a subject (a smooth random blob, its edge 1-3 px soft, with 40-120 hair-like
strands of alpha 0.25-0.9 reaching out of it) whose colour is a crop of one shared photo,
over a crop of another (or a flat or graded colour, one case in four); the image is
``alpha * F + (1 - alpha) * B`` in 8 bits. Masks: the true alpha above one half (a good
segmentation) and GrabCut's from the subject's box padded by 12 px (OpenCV, 5 iterations).
For each mask, the mask itself as the alpha ("hard") against ``burnish.engine.cutout.cutout``
of it (band 8): alpha SAD (sum of absolute errors / 1000, as alphamatting.com reports it),
alpha MSE (x 1e3), the fringe (mean absolute difference, 0-255, between the cut-out's colour
and the true foreground where 0 < alpha < 1 and the estimate is not 0), and the composite
error (mean absolute difference, 0-255, of the cut-out laid over a new flat colour against
the truth laid over it, in the same band). Prints a Markdown table; the photos come from
``../shared/data/photos`` (skipped without them).
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np
from PIL import Image

PHOTOS = Path(__file__).resolve().parent.parent.parent / "shared" / "data" / "photos"


def subject_alpha(rng: np.random.Generator, size: int) -> np.ndarray:
    """A blob with a soft edge and strands of partial alpha reaching out of it."""
    from scipy import ndimage

    y, x = np.mgrid[0:size, 0:size].astype(np.float64)
    cy, cx = size / 2 + rng.uniform(-0.08, 0.08, 2) * size
    angle, radius = np.arctan2(y - cy, x - cx), np.hypot(y - cy, x - cx)
    edge = size * 0.28
    for k in range(2, 7):
        edge = edge + size * 0.03 / k * np.sin(k * angle + rng.uniform(0, 2 * np.pi))
    alpha = np.clip((edge - radius) / rng.uniform(1, 3) + 0.5, 0, 1)
    strands = np.zeros((size, size))
    for _ in range(int(rng.integers(40, 121))):
        theta = rng.uniform(0, 2 * np.pi)
        start = np.array([cy, cx]) + 0.9 * size * 0.28 * np.array([np.sin(theta), np.cos(theta)])
        step = np.array([np.sin(theta), np.cos(theta)])
        point, length = start.copy(), rng.uniform(0.05, 0.18) * size
        strength = rng.uniform(0.25, 0.9)
        for _ in range(int(length)):
            step = step + rng.normal(0, 0.12, 2)
            step /= np.linalg.norm(step)
            point = point + step
            row, col = int(round(point[0])), int(round(point[1]))
            if 0 <= row < size and 0 <= col < size:
                strands[row, col] = max(strands[row, col], strength)
    strands = ndimage.gaussian_filter(strands, 0.6) * 2.2
    return np.clip(np.maximum(alpha, strands), 0, 1)


def crop(rng, photo: np.ndarray, size: int) -> np.ndarray:
    y = int(rng.integers(0, photo.shape[0] - size + 1))
    x = int(rng.integers(0, photo.shape[1] - size + 1))
    return photo[y:y + size, x:x + size].astype(np.float64) / 255


def background(rng, photos, size: int) -> np.ndarray:
    if rng.random() < 0.25:
        low, high = rng.random(3), rng.random(3)
        ramp = np.linspace(0, 1, size)[:, None, None]
        return np.broadcast_to(low + (high - low) * ramp * rng.integers(0, 2),
                               (size, size, 3)).copy()
    return crop(rng, photos[rng.integers(len(photos))], size)


def grabcut(image: np.ndarray, alpha: np.ndarray) -> np.ndarray:
    from burnish.engine.detection import Detector

    rows, cols = np.nonzero(alpha > 0)
    top, left = max(0, rows.min() - 12), max(0, cols.min() - 12)
    bottom = min(alpha.shape[0], rows.max() + 13)
    right = min(alpha.shape[1], cols.max() + 13)
    return Detector("subject", box=f"{left},{top},{right - left},{bottom - top}").mask(image)


def scores(estimate_alpha, estimate_colour, alpha, foreground) -> tuple[float, ...]:
    band = (alpha > 0) & (alpha < 1)
    sad = np.abs(estimate_alpha - alpha).sum() / 1000
    mse = ((estimate_alpha - alpha) ** 2).mean() * 1000
    seen = band & (estimate_alpha > 0)
    fringe = np.abs(estimate_colour - foreground)[seen].mean() * 255 if seen.any() else np.nan
    new = np.array([0.1, 0.8, 0.3])
    laid = estimate_alpha[..., None] * estimate_colour + (1 - estimate_alpha[..., None]) * new
    truth = alpha[..., None] * foreground + (1 - alpha[..., None]) * new
    composite = np.abs(laid - truth)[band].mean() * 255
    return sad, mse, fringe, composite


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cases", type=int, default=16)
    parser.add_argument("--size", type=int, default=320)
    args = parser.parse_args()
    from burnish.engine.cutout import cutout
    from burnish.errors import InputError

    paths = sorted(PHOTOS.glob("*.jpg")) if PHOTOS.is_dir() else []
    if len(paths) < 2:
        print("skipped: needs the shared photos")
        return 0
    photos = []
    for path in paths:
        with Image.open(path) as image:
            image = image.convert("RGB")
            ratio = 2 * args.size / min(image.size)
            photos.append(np.asarray(image.resize((round(image.width * ratio),
                                                   round(image.height * ratio)))))
    rng = np.random.default_rng(2026)
    rows: dict[str, list] = {}
    seconds, refused = [], []
    for _ in range(args.cases):
        alpha = subject_alpha(rng, args.size)
        foreground = crop(rng, photos[rng.integers(len(photos))], args.size)
        composite = alpha[..., None] * foreground + (1 - alpha[..., None]) * background(
            rng, photos, args.size)
        image = np.clip(np.rint(composite * 255), 0, 255).astype(np.uint8)
        for name, mask in (("true alpha > 0.5", alpha > 0.5), ("GrabCut", grabcut(image, alpha))):
            rows.setdefault(f"{name}: the mask as alpha", []).append(
                scores(mask.astype(np.float64), image / 255, alpha, foreground))
            started = time.perf_counter()
            try:
                rgba = cutout(image, mask) / 255.0
            except InputError as error:  # GrabCut found nothing a band wide: scored as 0
                refused.append(f"{name}: {error}")
                rgba = np.zeros((*mask.shape, 4))
            seconds.append(time.perf_counter() - started)
            rows.setdefault(f"{name}: burnish cutout", []).append(
                scores(rgba[..., 3], rgba[..., :3], alpha, foreground))
    print(f"{args.cases} composites of {args.size} x {args.size}; cutout "
          f"{np.median(seconds):.2f} s each (median); refused (scored as alpha 0): "
          f"{refused or 'none'}")
    print()
    print("| mask -> alpha | SAD (mean) | MSE x 1e3 (mean) | fringe, 0-255 (mean) | "
          "composite error over a new colour, 0-255 (mean) |")
    print("| --- | --- | --- | --- | --- |")
    for name, values in rows.items():
        sad, mse, fringe, laid = np.nanmean(values, axis=0)  # fringe: where alpha > 0
        print(f"| {name} | {sad:.2f} | {mse:.2f} | {fringe:.1f} | {laid:.1f} |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
