"""Training recipe of the shipped text-mask model (``text-mask``): a small U-Net that marks
the pixels of text, watermarks, signatures and logos laid over a photo.

Run it from the repository root with the ``export`` extra installed::

    python -m burnish.export.text_masks --minutes 75 --work runs/text-mask
    python -m burnish.export.text_masks --minutes 75 --work runs/text-mask --resume

Data: synthetic overlays (:mod:`burnish.export.overlays`) rendered with the training faces
over random 256 x 256 crops of the shared photos (minus the evaluation and validation photos)
and scikit-image's bundled ones, each photo at three scales; 30% of the crops are hard
negatives, around pixels of the clean photos where the model last said text (mined every
1,000 steps; ``--no-hard`` for random crops only). Loss: binary cross-entropy plus
soft Dice against the overlay's coverage; AdamW, a cosine learning rate over the wall-clock
budget. Every ``--every`` steps a checkpoint (model, optimiser, step, time, random states)
goes to ``--work``; ``--resume`` goes on from it to the same budget, so training can span
sessions. Every ``--validate`` steps the model is scored on fixed cases over the validation
photos (training faces): IoU of the masks after the default grow (4 pixels, both), at the
thresholds that score best (a threshold, and hysteresis' lower bound under it); the best
state is the one exported.

It writes ``text-mask.onnx`` (dynamic height and width, multiples of 16; metadata
``burnish.contract = text-mask``, ``burnish.threshold``, ``burnish.threshold_low``,
``burnish.size_multiple``) and its
entry under ``mask_models`` in ``manifest.json`` into ``--out`` (the package's
``models/default``).
"""

from __future__ import annotations

import argparse
import logging
import math
import time
from pathlib import Path

import numpy as np
import torch
from PIL import Image
from torch import nn
from torch.nn import functional as F

from burnish.export.data import SKIMAGE_PHOTOS
from burnish.export.overlays import HOLDOUT_PHOTOS, VALIDATION_PHOTOS, font_files, overlay_case
from burnish.export.train_default import sha256_of, write_manifest_entry

log = logging.getLogger("burnish.train")

NAME = "text-mask"
WIDTHS = (8, 16, 24, 32, 48)
SIZE_MULTIPLE = 2 ** (len(WIDTHS) - 1)
GROW = 4  # the default dilate of a detected region (burnish remove's)
CROP = 256
SCALES = (640, 1024, 1600)  # a photo's long side, for text of different relative sizes
# Hard negatives (OverlaySampler): a share of each batch, mined every MINE_EVERY steps from
# up to MINED_PER_PHOTO pixels per photo and scale that the model puts above MINE_THRESHOLD.
HARD_SHARE = 0.3
MINE_EVERY = 1000
MINED_PER_PHOTO = 24
MINE_THRESHOLD = 0.5
LOW_THRESHOLDS = (0.3, 0.5, 0.7, 0.85)  # hysteresis' lower bounds tried under each threshold
THRESHOLDS = np.round(np.concatenate([np.arange(0.1, 0.91, 0.05), [0.93, 0.95, 0.97, 0.98]]),
                      2)


class TextMaskNet(nn.Module):
    """A U-Net of :data:`WIDTHS` channels per level (each level halves the resolution):
    RGB in [0, 1], the probability of overlay out, at the input's size (a multiple of
    :data:`SIZE_MULTIPLE`)."""

    def __init__(self, widths: tuple[int, ...] = WIDTHS):
        super().__init__()

        def block(inputs: int, outputs: int, stride: int = 1) -> nn.Sequential:
            return nn.Sequential(nn.Conv2d(inputs, outputs, 3, stride, 1), nn.ReLU(inplace=True),
                                 nn.Conv2d(outputs, outputs, 3, 1, 1), nn.ReLU(inplace=True))

        self.down = nn.ModuleList([block(3, widths[0])] + [
            block(widths[i - 1], widths[i], stride=2) for i in range(1, len(widths))])
        self.up = nn.ModuleList([block(widths[i] + widths[i - 1], widths[i - 1])
                                 for i in range(len(widths) - 1, 0, -1)])
        self.head = nn.Conv2d(widths[0], 1, 1)

    def forward(self, image: torch.Tensor) -> torch.Tensor:
        x, skips = image - 0.5, []
        for level in self.down:
            x = level(x)
            skips.append(x)
        skips.pop()
        for level in self.up:
            x = level(torch.cat([F.interpolate(x, scale_factor=2.0, mode="nearest"),
                                 skips.pop()], 1))
        return torch.sigmoid(self.head(x))


def _load(path: Path, long_side: int) -> np.ndarray:
    with Image.open(path) as image:
        image = image.convert("RGB")
        ratio = long_side / max(image.size)
        return np.asarray(image.resize((max(CROP, round(image.width * ratio)),
                                        max(CROP, round(image.height * ratio))),
                                       Image.LANCZOS))


def training_photos(photos: Path) -> list[Path]:
    import skimage

    bundled = Path(skimage.__file__).parent / "data"
    reserved = set(HOLDOUT_PHOTOS) | set(VALIDATION_PHOTOS)
    return ([p for p in sorted(photos.glob("*.jpg")) if p.name not in reserved]
            + [bundled / name for name in SKIMAGE_PHOTOS if (bundled / name).exists()])


class OverlaySampler:
    """Batches of random crops with an overlay each, and their masks, with flips.

    :data:`HARD_SHARE` of the crops are *hard negatives*: taken around pixels of the clean
    photos where the model last said text (:meth:`mine`), such as a splash's bright rim or
    a thin lit twig. Random crops rarely hold those few structures, and they are what the
    model gets wrong on photos it has not seen."""

    def __init__(self, paths: list[Path], fonts: list[Path], seed: int):
        self.images = [_load(path, side) for path in paths for side in SCALES]
        self.fonts = fonts
        self.rng = np.random.default_rng(seed)
        self.hard: list[tuple[int, int, int]] = []  # (photo, top, left) of hard crops

    def mine(self, model: nn.Module) -> int:
        """Find where ``model`` marks text on the clean photos; returns how many crops."""
        model.eval()
        self.hard = []
        with torch.no_grad():
            for number, photo in enumerate(self.images):
                h, w = (side - side % SIZE_MULTIPLE for side in photo.shape[:2])
                tensor = torch.from_numpy(photo[:h, :w].transpose(2, 0, 1).copy())
                found = model(tensor.float()[None] / 255)[0, 0].numpy() > MINE_THRESHOLD
                ys, xs = np.nonzero(found)
                for pick in self.rng.permutation(ys.size)[:MINED_PER_PHOTO]:
                    top = int(np.clip(ys[pick] - self.rng.integers(CROP), 0, photo.shape[0] - CROP))
                    left = int(np.clip(xs[pick] - self.rng.integers(CROP), 0,
                                       photo.shape[1] - CROP))
                    self.hard.append((number, top, left))
        model.train()
        return len(self.hard)

    def batch(self, size: int) -> tuple[torch.Tensor, torch.Tensor]:
        images, masks = [], []
        for _ in range(size):
            if self.hard and self.rng.random() < HARD_SHARE:
                number, y, x = self.hard[self.rng.integers(len(self.hard))]
                photo = self.images[number]
            else:
                photo = self.images[self.rng.integers(len(self.images))]
                y = self.rng.integers(0, photo.shape[0] - CROP + 1)
                x = self.rng.integers(0, photo.shape[1] - CROP + 1)
            crop = photo[y:y + CROP, x:x + CROP]
            if self.rng.random() < 0.5:
                crop = crop[:, ::-1]
            image, mask = overlay_case(self.rng, np.ascontiguousarray(crop), self.fonts)
            images.append(image)
            masks.append(mask)
        images = torch.from_numpy(np.stack(images).transpose(0, 3, 1, 2)).float() / 255
        return images, torch.from_numpy(np.stack(masks)[:, None]).float()


def validation_cases(photos: Path, fonts: list[Path], count: int = 48):
    """Fixed cases over the validation photos, 640 pixels wide (cropped to multiples of 16)."""
    rng = np.random.default_rng(7)
    loaded = [_load(photos / name, 640) for name in VALIDATION_PHOTOS
              if (photos / name).exists()]
    cases = []
    for number in range(count if loaded else 0):
        photo = loaded[number % len(loaded)]
        h, w = (side - side % SIZE_MULTIPLE for side in photo.shape[:2])
        cases.append(overlay_case(rng, np.ascontiguousarray(photo[:h, :w]), fonts))
    return cases


def grown(mask: np.ndarray) -> np.ndarray:
    from burnish.kernels import dilate

    return dilate(mask, GROW)


def evaluate(model: nn.Module, cases) -> tuple[float, float, float, float]:
    """``(threshold, threshold_low, mean IoU, mean recall)`` at the pair of best mean IoU
    (hysteresis: above ``threshold_low`` where connected to above ``threshold``; equal
    thresholds are a plain one), both masks grown by :data:`GROW` (cases without text count
    as IoU 1 when nothing is found)."""
    from burnish.kernels import hysteresis

    pairs = [(high, low) for high in THRESHOLDS for low in (*LOW_THRESHOLDS, high)
             if low <= high]
    model.eval()
    scores = np.zeros((len(pairs), 2))
    with torch.no_grad():
        for image, truth in cases:
            tensor = torch.from_numpy(image.transpose(2, 0, 1).copy()).float()[None] / 255
            probability = model(tensor)[0, 0].numpy()
            truth = grown(truth)
            for row, (high, low) in enumerate(pairs):
                found = grown(hysteresis(probability > low, probability > high))
                union = (found | truth).sum()
                scores[row, 0] += (found & truth).sum() / union if union else 1.0
                scores[row, 1] += (found & truth).sum() / truth.sum() if truth.any() else 1.0
    model.train()
    scores /= max(1, len(cases))
    best = int(np.argmax(scores[:, 0]))
    high, low = pairs[best]
    return float(high), float(low), float(scores[best, 0]), float(scores[best, 1])


def loss_of(probability: torch.Tensor, truth: torch.Tensor) -> torch.Tensor:
    """Cross-entropy (per pixel) plus soft Dice (over the batch: thin strokes weigh as much
    as their share of the text, not of the image)."""
    bce = F.binary_cross_entropy(probability.clamp(1e-6, 1 - 1e-6), truth)
    overlap = (probability * truth).sum()
    dice = 1 - (2 * overlap + 1) / (probability.sum() + truth.sum() + 1)
    return bce + dice


def export_onnx(model: nn.Module, path: Path, threshold: float,
                threshold_low: float | None = None) -> None:
    """The model as ONNX with the ``text-mask`` contract's metadata (``threshold_low``, the
    hysteresis' lower bound, is ``threshold`` unless given)."""
    import onnx

    model.eval()
    example = torch.rand(1, 3, 64, 96)
    torch.onnx.export(model, (example,), str(path), input_names=["image"],
                      output_names=["text"], opset_version=17, dynamo=False,
                      dynamic_axes={"image": {2: "height", 3: "width"},
                                    "text": {2: "height", 3: "width"}})
    graph = onnx.load(str(path))
    low = threshold if threshold_low is None else threshold_low
    for key, value in (("burnish.contract", "text-mask"), ("burnish.threshold", f"{threshold}"),
                       ("burnish.threshold_low", f"{low}"),
                       ("burnish.size_multiple", str(SIZE_MULTIPLE))):
        entry = graph.metadata_props.add()
        entry.key, entry.value = key, value
    onnx.save(graph, str(path))


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--photos", type=Path, default=Path("../shared/data/photos"))
    parser.add_argument("--out", type=Path, default=Path(__file__).parents[1] / "models" / "default")
    parser.add_argument("--work", type=Path, default=Path("runs/text-mask"),
                        help="folder of the checkpoint")
    parser.add_argument("--minutes", type=float, default=75.0, help="the whole budget")
    parser.add_argument("--max-steps", type=int, default=None, help="stop after this many")
    parser.add_argument("--batch", type=int, default=8)
    parser.add_argument("--lr", type=float, default=2e-3)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--every", type=int, default=200, help="steps between checkpoints")
    parser.add_argument("--validate", type=int, default=1000, help="steps between scores")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--no-hard", dest="hard", action="store_false",
                        help="random crops only, no mined hard negatives")
    parser.add_argument("--resume", action="store_true", help="go on from --work's checkpoint")
    parser.add_argument("--init", type=Path, default=None,
                        help="start a new schedule from this checkpoint's best weights")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(message)s")
    torch.manual_seed(args.seed)
    torch.set_num_threads(args.threads)

    fonts, paths = font_files(holdout=False), training_photos(args.photos)
    if not fonts or not paths:
        raise SystemExit(f"needs TrueType faces under /usr/share/fonts and photos in "
                         f"{args.photos}")
    sampler = OverlaySampler(paths, fonts, args.seed)
    cases = validation_cases(args.photos, fonts)
    log.info("training on %d photos x %d scales, %d faces; %d validation cases", len(paths),
             len(SCALES), len(fonts), len(cases))
    model = TextMaskNet()
    optimizer = torch.optim.AdamW(model.parameters(), lr=args.lr, weight_decay=1e-4)
    checkpoint_path = args.work / "checkpoint.pt"
    step, spent, best = 0, 0.0, {"iou": -1.0, "threshold": 0.5, "recall": 0.0, "state": None}
    earlier: dict = {}  # the run whose weights --init starts from
    if args.init is not None:
        saved = torch.load(args.init, weights_only=False)
        model.load_state_dict(saved["best"]["state"] or saved["model"])
        earlier = {"steps": saved["step"], "minutes": round(saved["seconds"] / 60, 1)}
        log.info("starting from %s (%d steps)", args.init, saved["step"])
    if args.resume:
        saved = torch.load(checkpoint_path, weights_only=False)
        model.load_state_dict(saved["model"])
        optimizer.load_state_dict(saved["optimizer"])
        step, spent, best = saved["step"], saved["seconds"], saved["best"]
        earlier = saved.get("earlier", {})
        sampler.rng.bit_generator.state = saved["numpy_rng"]
        torch.set_rng_state(saved["torch_rng"])
        log.info("resumed at step %d, %.0f s spent", step, spent)
    args.work.mkdir(parents=True, exist_ok=True)

    def save() -> None:
        partial = checkpoint_path.with_suffix(".partial")
        torch.save({"model": model.state_dict(), "optimizer": optimizer.state_dict(),
                    "step": step, "seconds": spent, "best": best, "earlier": earlier,
                    "numpy_rng": sampler.rng.bit_generator.state,
                    "torch_rng": torch.get_rng_state()}, partial)
        partial.replace(checkpoint_path)  # a checkpoint is whole or the previous one

    def score() -> None:
        threshold, low, iou, recall = evaluate(model, cases)
        log.info("step %d  %.0fs  validation IoU %.3f recall %.3f at %.2f (low %.2f)", step,
                 spent, iou, recall, threshold, low)
        if iou > best["iou"]:
            best.update(iou=iou, threshold=threshold, threshold_low=low, recall=recall,
                        state={k: v.clone() for k, v in model.state_dict().items()})

    budget, mined_at = args.minutes * 60.0, None
    started = time.monotonic() - spent
    while spent < budget and (args.max_steps is None or step < args.max_steps):
        warmup = min(1.0, (step + 1) / 200)
        for group in optimizer.param_groups:
            group["lr"] = args.lr * warmup * 0.5 * (1 + math.cos(math.pi * spent / budget))
        if args.hard and (mined_at is None or step - mined_at >= MINE_EVERY):
            log.info("step %d  mined %d hard-negative crops", step, sampler.mine(model))
            mined_at = step
        images, masks = sampler.batch(args.batch)
        loss = loss_of(model(images), masks)
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()
        step += 1
        spent = time.monotonic() - started
        if step % 50 == 0:
            log.info("step %d  %.0fs  loss %.4f", step, spent, loss.item())
        if step % args.validate == 0 and cases:
            score()
        if step % args.every == 0:
            save()
    if cases and step % args.validate:
        score()
    save()
    if best["state"] is not None:
        model.load_state_dict(best["state"])
    if cases:  # the thresholds of the weights exported, on this recipe's grid
        best["threshold"], best["threshold_low"], best["iou"], best["recall"] = evaluate(
            model, cases)
    best.setdefault("threshold_low", best["threshold"])
    log.info("done: %d steps, %.0f min; validation IoU %.3f, recall %.3f at threshold %.2f "
             "(low %.2f)", step, spent / 60, best["iou"], best["recall"], best["threshold"],
             best["threshold_low"])

    args.out.mkdir(parents=True, exist_ok=True)
    onnx_path = args.out / f"{NAME}.onnx"
    export_onnx(model, onnx_path, best["threshold"], best["threshold_low"])
    write_manifest_entry(args.out, {
        "name": NAME,
        "file": onnx_path.name,
        "task": "text-mask",
        "architecture": f"U-Net, {len(WIDTHS)} levels of {', '.join(map(str, WIDTHS))} channels",
        "channels": 3,
        "size_multiple": SIZE_MULTIPLE,
        "threshold": best["threshold"],
        "threshold_low": best["threshold_low"],
        "parameters": sum(p.numel() for p in model.parameters()),
        "sha256": sha256_of(onnx_path),
        "training": {
            "recipe": "burnish/export/text_masks.py",
            "data": [p.name for p in paths], "scales": list(SCALES),
            "fonts": sorted({p.name for p in fonts}),
            "holdout_photos": list(HOLDOUT_PHOTOS), "validation_photos": list(VALIDATION_PHOTOS),
            "holdout_fonts": "Liberation (fonts-liberation2)",
            "steps": step, "batch": args.batch, "crop": CROP,
            "hard_negatives": ({"share": HARD_SHARE, "mined_every": MINE_EVERY}
                               if args.hard else None),
            "minutes": round(spent / 60, 1), "seed": args.seed, "torch": torch.__version__,
            "started_from": earlier or None,
        },
        "quality": {"validation_iou_grown": round(best["iou"], 3),
                    "validation_recall_grown": round(best["recall"], 3)},
    }, key="mask_models")


if __name__ == "__main__":
    main()
