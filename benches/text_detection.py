"""Text and watermark detection on synthetic overlays with known masks.

    python3 benches/text_detection.py [--count 200] [--removals 40] [--model DET.onnx]

Each case is a shared photo (``../shared/data/photos``, resized to 640 px wide) with text
rendered over it: DejaVu and Liberation fonts (sans, serif, mono, bold), sizes 12-200 px,
opacity 0.3-1, any colour, rotated up to 45 degrees, and one case in four a tiled watermark
pattern; the truth is the rendered glyphs' coverage (alpha > 0). Per case: the detector's
mask after the default grow (``burnish remove``'s dilate of 4 pixels) against the truth,
pixel recall and IoU; then, for the first ``--removals`` cases, ``burnish.remove`` with the
detected mask and with the true mask (both grown by the default), PSNR against the clean
photo. The model is ``--model`` or the installed ``rapidocr_onnxruntime`` wheel's PP-OCR
detector (``pip install --no-deps rapidocr_onnxruntime==1.4.4`` brings only the files;
burnish reads its model, never its code). Prints a Markdown table.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw, ImageFont

PHOTOS = Path(__file__).resolve().parent.parent.parent / "shared" / "data" / "photos"
FONTS = Path("/usr/share/fonts/truetype")
WORDS = ["SAMPLE", "© 2026 Studio", "Proof only", "burnish", "DRAFT", "Not for sale",
         "Photo by A. Person", "www.example.com", "CONFIDENTIAL", "Summer sale -40%",
         "Lorem ipsum dolor", "Signature", "#1 Choice", "Preview", "Copyright"]


def overlay_case(rng: np.random.Generator, photo: np.ndarray, fonts: list[Path]):
    """(image with text, the text's true mask)."""
    height, width = photo.shape[:2]
    layer = Image.new("RGBA", (width, height), (0, 0, 0, 0))
    colour = tuple(int(c) for c in rng.integers(0, 256, 3))
    opacity = float(rng.uniform(0.3, 1.0))
    font = ImageFont.truetype(str(fonts[rng.integers(len(fonts))]), int(rng.integers(12, 201)))
    text = WORDS[rng.integers(len(WORDS))]
    tiled = rng.random() < 0.25
    draw = ImageDraw.Draw(layer)
    if tiled:
        font = ImageFont.truetype(str(fonts[rng.integers(len(fonts))]), int(rng.integers(14, 40)))
        step_x, step_y = int(rng.integers(140, 260)), int(rng.integers(60, 120))
        for y in range(-step_y, height + step_y, step_y):
            for x in range(-step_x, width + step_x, step_x):
                draw.text((x + (y // step_y % 2) * step_x // 2, y), text, font=font,
                          fill=(*colour, 255))
    else:
        box = draw.textbbox((0, 0), text, font=font)
        x = int(rng.integers(0, max(1, width - (box[2] - box[0]))))
        y = int(rng.integers(0, max(1, height - (box[3] - box[1]))))
        draw.text((x, y), text, font=font, fill=(*colour, 255))
    angle = float(rng.uniform(-45, 45)) if rng.random() < 0.5 else 0.0
    if angle:
        layer = layer.rotate(angle, resample=Image.BICUBIC, center=(width / 2, height / 2))
    rgba = np.asarray(layer).astype(np.float32)
    alpha = rgba[..., 3:] / 255 * opacity
    image = photo.astype(np.float32) * (1 - alpha) + rgba[..., :3] * alpha
    return np.clip(np.rint(image), 0, 255).astype(np.uint8), rgba[..., 3] > 0


def psnr(a: np.ndarray, b: np.ndarray) -> float:
    error = np.mean((a.astype(np.float64) - b.astype(np.float64)) ** 2)
    return float("inf") if error == 0 else 10 * np.log10(255 ** 2 / error)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--count", type=int, default=200)
    parser.add_argument("--removals", type=int, default=40)
    parser.add_argument("--model", type=Path, default=None)
    args = parser.parse_args()

    import burnish
    from burnish.engine.detection import Detector
    from burnish.kernels import dilate
    from burnish.models.segmentation import installed_text_model

    model = args.model or installed_text_model()
    photos = sorted(p for p in PHOTOS.glob("*.jpg")) if PHOTOS.is_dir() else []
    fonts = sorted(FONTS.rglob("*.ttf"))
    if model is None or not photos or not fonts:
        print("skipped: needs a PP-OCR det model (rapidocr_onnxruntime), the shared photos "
              "and TrueType fonts")
        return 0
    detector = Detector("text", model=model)
    rng = np.random.default_rng(2026)
    loaded = []
    for path in photos:
        image = Image.open(path).convert("RGB")
        loaded.append(np.asarray(image.resize((640, round(image.height * 640 / image.width)))))
    recalls, ious, seconds, gaps, kinds = [], [], [], [], []
    for number in range(args.count):
        photo = loaded[number % len(loaded)]
        image, truth = overlay_case(rng, photo, fonts)
        started = time.perf_counter()
        found = dilate(detector.mask(image), 4)
        seconds.append(time.perf_counter() - started)
        recalls.append((found & truth).sum() / max(1, truth.sum()))
        ious.append((found & truth).sum() / max(1, (found | truth).sum()))
        if number < args.removals:
            by_detection = burnish.remove(image, found, dilate=0)
            by_truth = burnish.remove(image, dilate(truth, 4), dilate=0)
            gaps.append(psnr(by_truth, photo) - psnr(by_detection, photo))
        kinds.append(number)
    recalls, ious = np.array(recalls), np.array(ious)
    print(f"| detector | cases | pixel recall (mean / median) | IoU (mean / median) | "
          f"recall >= 0.9 | PSNR gap to the true mask (mean, {len(gaps)} removals) | "
          f"s per 640 px image |")
    print("| --- | --- | --- | --- | --- | --- | --- |")
    print(f"| {Path(model).name} | {len(recalls)} | {recalls.mean():.3f} / "
          f"{np.median(recalls):.3f} | {ious.mean():.3f} / {np.median(ious):.3f} | "
          f"{(recalls >= 0.9).mean() * 100:.0f}% | {np.mean(gaps):.2f} dB | "
          f"{np.median(seconds):.2f} |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
