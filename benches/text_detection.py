"""Text and watermark detection on synthetic overlays with known masks, none of them seen in
training.

    python3 benches/text_detection.py [--count 200] [--removals 40] [--model DET.onnx ...]

Each case is one of the evaluation photos (``burnish.export.overlays.HOLDOUT_PHOTOS`` from
``../shared/data/photos``, 640 px wide) with an overlay of
:func:`burnish.export.overlays.overlay_case` rendered in the evaluation faces (Liberation,
``apt-get install fonts-liberation2``; the shipped model was trained on other faces and
other photos): text and captions at 12-200 px, tiled watermarks, signatures and logos,
opacity 0.3-1, rotated up to 45 degrees half the time; one case in ten has none. The truth
is the overlay's coverage (alpha > 0).

Per case, the detector's mask after the default grow (``burnish remove``'s dilate of 4
pixels): pixel recall and IoU against the truth grown the same (what ``remove`` is given
either way), and IoU against the ungrown truth; a case without text scores IoU 1 when
nothing is found, else 0. Then, for the first ``--removals`` cases with text,
``burnish.remove`` with the detected mask and with the true mask (both grown by 4), PSNR
against the clean photo. Detectors: the shipped ``text-mask`` model, each ``--model``, and
the ``rapidocr_onnxruntime`` wheel's PP-OCR detector where it is installed (``pip install
--no-deps rapidocr_onnxruntime==1.4.4``), all on the same cases. Prints a Markdown table.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np
from PIL import Image

PHOTOS = Path(__file__).resolve().parent.parent.parent / "shared" / "data" / "photos"
GROW = 4


def psnr(a: np.ndarray, b: np.ndarray) -> float:
    error = np.mean((a.astype(np.float64) - b.astype(np.float64)) ** 2)
    return float("inf") if error == 0 else 10 * np.log10(255 ** 2 / error)


def cases(count: int):
    from burnish.export.overlays import HOLDOUT_PHOTOS, font_files, overlay_case

    fonts = font_files(holdout=True)
    photos = [PHOTOS / name for name in HOLDOUT_PHOTOS if (PHOTOS / name).is_file()]
    if not fonts or not photos:
        return []
    loaded = []
    for path in photos:
        with Image.open(path) as image:
            image = image.convert("RGB")
            loaded.append(np.asarray(image.resize((640, round(image.height * 640 / image.width)),
                                                  Image.LANCZOS)))
    rng = np.random.default_rng(2026)
    return [(loaded[n % len(loaded)], *overlay_case(rng, loaded[n % len(loaded)], fonts))
            for n in range(count)]


def score(detector, cases, removals: int) -> dict:
    import burnish
    from burnish.kernels import dilate

    recall, iou, iou_ungrown, seconds, gaps = [], [], [], [], []
    for photo, image, truth in cases:
        started = time.perf_counter()
        found = dilate(detector.mask(image), GROW)
        seconds.append(time.perf_counter() - started)
        grown = dilate(truth, GROW)
        union, ungrown_union = (found | grown).sum(), (found | truth).sum()
        iou.append((found & grown).sum() / union if union else 1.0)
        iou_ungrown.append((found & truth).sum() / ungrown_union if ungrown_union else 1.0)
        if truth.any():
            recall.append((found & grown).sum() / grown.sum())
            if len(gaps) < removals:
                by_detection = burnish.remove(image, found, dilate=0)
                by_truth = burnish.remove(image, grown, dilate=0)
                gaps.append(psnr(by_truth, photo) - psnr(by_detection, photo))
    return {"recall": np.array(recall), "iou": np.array(iou),
            "iou_ungrown": np.array(iou_ungrown), "seconds": np.array(seconds),
            "gaps": np.array(gaps)}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--count", type=int, default=200)
    parser.add_argument("--removals", type=int, default=40)
    parser.add_argument("--model", type=Path, action="append", default=[])
    args = parser.parse_args()

    from burnish.engine.detection import Detector
    from burnish.models.segmentation import installed_text_model, shipped_text_mask

    models = [m for m in (shipped_text_mask(), *args.model, installed_text_model()) if m]
    overlays = cases(args.count)
    if not models or not overlays:
        print("skipped: needs a text detector, the shared photos and the Liberation faces "
              "(apt-get install fonts-liberation2)")
        return 0
    print(f"{len(overlays)} cases ({sum(t.any() for _, _, t in overlays)} with text), "
          f"640 px wide; masks grown by {GROW} px")
    print()
    print("| detector | pixel recall (mean / median) | IoU, both grown (mean / median) | "
          "IoU vs ungrown truth (mean) | cases with recall >= 0.9 | PSNR gap to the true "
          "mask (mean / median) | s per image (median) |")
    print("| --- | --- | --- | --- | --- | --- | --- |")
    for model in models:
        s = score(Detector("text", model=model), overlays, args.removals)
        print(f"| {Path(model).name} | {s['recall'].mean():.3f} / {np.median(s['recall']):.3f} "
              f"| {s['iou'].mean():.3f} / {np.median(s['iou']):.3f} | "
              f"{s['iou_ungrown'].mean():.3f} | {(s['recall'] >= 0.9).mean() * 100:.0f}% | "
              f"{s['gaps'].mean():.2f} / {np.median(s['gaps']):.2f} dB "
              f"({len(s['gaps'])} removals) | {np.median(s['seconds']):.3f} |", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
