"""Training recipe of the shipped default model (``compact-x4``).

Run it from the repository root with the ``export`` extra installed::

    python -m burnish.export.train_default --photos ../shared/data/photos --minutes 75

Data: the photographs in ``--photos`` minus the held-out validation set (:data:`HOLDOUT`),
plus scikit-image's bundled photographs (no download). Images over 4 megapixels are first
reduced by 2 (Lanczos) so that JPEG noise and lens softness do not dominate the "high
resolution" targets. The degradation is antialiased bicubic x4 downscaling, as Pillow's and
MATLAB's ``imresize`` do it. Loss: L1 on 128x128 targets, Adam, cosine learning-rate decay
over the wall-clock budget (a 2-core machine trains the shipped model in about an hour).

It writes ``compact-x4.pth`` (state dict), ``compact-x4.onnx`` (dynamic height and width)
and the model's entry in ``manifest.json`` into ``--out`` (the package's ``models/default``).
"""

from __future__ import annotations

import argparse
import copy
import hashlib
import json
import logging
import math
import time
from pathlib import Path

import numpy as np
import torch
from PIL import Image
from torch.nn import functional as F

from burnish.export.compact import SRVGGNetCompact, receptive_radius, relu_where_slopes_are_zero
from burnish.export.data import HOLDOUT, SCALE, degrade, load_target, training_paths

log = logging.getLogger("burnish.train")

class PatchSampler:
    """Random aligned (low-res, high-res) patch pairs with flips and 90-degree rotations.

    With ``informative_share`` below 1 the patches come only from that share of positions
    (on a grid of a quarter patch, jittered within it) whose targets bicubic interpolation
    misses most, ranked over all images (Wang et al., "SamplingAug", BMVC 2021). Photos and
    wallpapers are mostly sky, walls and blur, where bicubic is already right and a patch
    teaches nothing; the error a network can still remove, and so the PSNR, is in the rest.
    """

    def __init__(self, pairs: list[tuple[np.ndarray, np.ndarray]], patch: int, seed: int,
                 scale: int = SCALE, informative_share: float = 1.0):
        if not 0 < informative_share <= 1:
            raise ValueError(f"informative_share is {informative_share}, not in (0, 1]")
        self.pairs, self.scale = pairs, scale
        areas = np.array([low.shape[0] * low.shape[1] for low, _ in pairs], dtype=np.float64)
        self.weights = areas / areas.sum()
        self.patch = patch
        self.rng = np.random.default_rng(seed)
        self.stride = max(1, patch // 4)
        self.positions = (None if informative_share == 1
                          else self._informative_positions(informative_share))

    def _informative_positions(self, share: float) -> np.ndarray:
        """(image, y, x) of the grid positions whose patches have the largest bicubic error."""
        scores, positions = [], []
        for index, (low, high) in enumerate(self.pairs):
            height, width = low.shape[:2]
            s = self.scale
            upscaled = np.asarray(Image.fromarray(low).resize((width * s, height * s),
                                                              Image.BICUBIC))
            error = np.abs(high[:height * s, :width * s].astype(np.int16)
                           - upscaled.astype(np.int16)).sum(axis=2, dtype=np.float64)
            per_pixel = error.reshape(height, s, width, s).sum(axis=(1, 3))
            table = np.pad(per_pixel.cumsum(0).cumsum(1), ((1, 0), (1, 0)))
            ys = np.arange(0, height - self.patch + 1, self.stride)[:, None]
            xs = np.arange(0, width - self.patch + 1, self.stride)[None, :]
            p = self.patch
            sums = table[ys + p, xs + p] - table[ys, xs + p] - table[ys + p, xs] + table[ys, xs]
            grid_y, grid_x = np.broadcast_arrays(ys, xs)
            scores.append(sums.ravel())
            positions.append(np.stack([np.full(sums.size, index), grid_y.ravel(),
                                       grid_x.ravel()], axis=1))
        scores, positions = np.concatenate(scores), np.concatenate(positions)
        kept = max(1, round(share * len(scores)))
        return positions[np.argsort(scores, kind="stable")[::-1][:kept]]

    def _position(self) -> tuple[int, int, int]:
        if self.positions is None:
            index = self.rng.choice(len(self.pairs), p=self.weights)
            low = self.pairs[index][0]
            return (index, self.rng.integers(0, low.shape[0] - self.patch + 1),
                    self.rng.integers(0, low.shape[1] - self.patch + 1))
        index, y, x = self.positions[self.rng.integers(len(self.positions))]
        low = self.pairs[index][0]
        y = min(y + self.rng.integers(self.stride), low.shape[0] - self.patch)
        x = min(x + self.rng.integers(self.stride), low.shape[1] - self.patch)
        return index, y, x

    def batch(self, size: int) -> tuple[torch.Tensor, torch.Tensor]:
        """``size`` pairs, float32 N x 3 x H x W in [0, 1]."""
        low, high = self.batch_bytes(size)
        return low.float() / 255.0, high.float() / 255.0

    def batch_bytes(self, size: int) -> tuple[torch.Tensor, torch.Tensor]:
        """``size`` pairs, uint8 N x 3 x H x W: a quarter of the bytes to move to a GPU, and
        no float conversion on the CPU, which at a GPU's batch sizes would take longer than
        the step."""
        s, p = self.scale, self.patch
        crops = [self._crops(*self._position()) for _ in range(size)]
        transforms = self.rng.integers(0, 8, size)  # 4 quarter turns, each mirrored or not
        lows = np.empty((size, 3, p, p), np.uint8)
        highs = np.empty((size, 3, s * p, s * p), np.uint8)
        # Patches that share a transform are stacked (whole rows copied) and turned together:
        # turning each patch on its own and stacking the views copied byte by byte, 10x slower.
        for transform in np.unique(transforms):
            chosen = np.flatnonzero(transforms == transform)
            for out, side in ((lows, 0), (highs, 1)):
                stacked = np.stack([crops[i][side] for i in chosen])
                out[chosen] = _dihedral(stacked, transform).transpose(0, 3, 1, 2)
        return torch.from_numpy(lows), torch.from_numpy(highs)

    def _crops(self, index: int, y: int, x: int) -> tuple[np.ndarray, np.ndarray]:
        """The aligned low- and high-resolution patches at low-resolution (y, x) of a pair."""
        low, high = self.pairs[index]
        s, p = self.scale, self.patch
        return low[y:y + p, x:x + p], high[s * y:s * (y + p), s * x:s * (x + p)]


def _dihedral(patches: np.ndarray, transform: int) -> np.ndarray:
    """N x H x W x C ``patches`` turned by ``transform % 4`` quarter turns, then mirrored when
    ``transform >= 4`` (a view)."""
    turned = np.rot90(patches, transform % 4, axes=(1, 2))
    return turned[:, :, ::-1] if transform >= 4 else turned


def to_tensor(batch: np.ndarray) -> torch.Tensor:
    return torch.from_numpy(np.ascontiguousarray(batch.transpose(0, 3, 1, 2))).float() / 255.0


def psnr(a: torch.Tensor, b: torch.Tensor) -> float:
    mse = torch.mean((a.clamp(0, 1) - b) ** 2).item()
    return 10 * math.log10(1.0 / max(mse, 1e-12))


def validation_crops(photos: Path, size: int = 384, scale: int = SCALE
                     ) -> list[tuple[torch.Tensor, torch.Tensor]]:
    """Centre crops of the held-out photos, quick enough to check every few hundred steps."""
    crops = []
    for name in HOLDOUT:
        if not (photos / name).exists():
            continue
        target = load_target(photos / name)
        y, x = (target.shape[0] - size) // 2, (target.shape[1] - size) // 2
        y, x = y - y % scale, x - x % scale
        high = target[y:y + size, x:x + size]
        crops.append((to_tensor(degrade(high, scale)[None]), to_tensor(high[None])))
    return crops


def evaluate(model: torch.nn.Module, crops, scale: int = SCALE) -> tuple[float, float]:
    """Mean PSNR (RGB) of the model and of bicubic on the validation crops."""
    model.eval()
    model_db, bicubic_db = [], []
    device = next(model.parameters()).device
    with torch.no_grad():
        for low, high in crops:
            low, high = low.to(device), high.to(device)
            model_db.append(psnr(model(low), high))
            bicubic = F.interpolate(low, scale_factor=scale, mode="bicubic", align_corners=False)
            bicubic_db.append(psnr(bicubic, high))
    model.train()
    return float(np.mean(model_db)), float(np.mean(bicubic_db))


def export_onnx(model: torch.nn.Module, path: Path) -> None:
    """``model`` as ONNX with dynamic batch and size; a Compact's zero-slope PReLUs go out as
    ReLU (:func:`~burnish.export.compact.relu_where_slopes_are_zero`)."""
    if isinstance(model, SRVGGNetCompact):
        model = relu_where_slopes_are_zero(copy.deepcopy(model))
    model.eval()
    example = torch.rand(1, 3, 64, 64)
    torch.onnx.export(model, (example,), str(path), input_names=["image"],
                      output_names=["upscaled"], opset_version=17, dynamo=False,
                      dynamic_axes={"image": {0: "batch", 2: "height", 3: "width"},
                                    "upscaled": {0: "batch", 2: "height4", 3: "width4"}})


def sha256_of(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def write_manifest_entry(out: Path, entry: dict, *, key: str = "models") -> None:
    """Add or replace ``entry`` (by name) in ``manifest.json``'s ``key`` list: ``models``
    (upscalers) or ``mask_models`` (detectors, which the upscaling registry never offers)."""
    manifest_path = out / "manifest.json"
    manifest = json.loads(manifest_path.read_text()) if manifest_path.exists() else {"models": []}
    manifest[key] = [m for m in manifest.get(key, []) if m["name"] != entry["name"]] + [entry]
    manifest_path.write_text(json.dumps(manifest, indent=2) + "\n")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--photos", type=Path, default=Path("../shared/data/photos"))
    parser.add_argument("--out", type=Path, default=Path(__file__).parents[1] / "models" / "default")
    parser.add_argument("--minutes", type=float, default=75.0)
    parser.add_argument("--num-feat", type=int, default=32)
    parser.add_argument("--num-conv", type=int, default=8)
    parser.add_argument("--patch", type=int, default=32, help="low-resolution patch size")
    parser.add_argument("--batch", type=int, default=16)
    parser.add_argument("--lr", type=float, default=5e-4)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--resume", type=Path,
                        help="start from this state dict (a second, shorter cosine cycle)")
    args = parser.parse_args()
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(message)s")
    torch.manual_seed(args.seed)
    torch.set_num_threads(args.threads)

    paths = training_paths(args.photos)
    pairs = []
    for path in paths:
        target = load_target(path)
        pairs.append((degrade(target), target))
    log.info("training on %d images, %.1f MP of targets", len(pairs),
             sum(t.shape[0] * t.shape[1] for _, t in pairs) / 1e6)
    sampler = PatchSampler(pairs, args.patch, args.seed)
    crops = validation_crops(args.photos)

    model = SRVGGNetCompact(num_feat=args.num_feat, num_conv=args.num_conv, upscale=SCALE)
    earlier: dict = {}  # the training record of the run being resumed
    if args.resume:
        model.load_state_dict(torch.load(args.resume, weights_only=True))
        entries = json.loads((args.out / "manifest.json").read_text())["models"]
        earlier = next((m["training"] for m in entries if m["name"] == f"compact-x{SCALE}"), {})
    optimizer = torch.optim.Adam(model.parameters(), lr=args.lr, betas=(0.9, 0.99))
    budget = args.minutes * 60.0
    start = time.monotonic()
    step, best = 0, (-1.0, None)
    while (elapsed := time.monotonic() - start) < budget:
        # Cosine decay over the wall-clock budget: the recipe ends on time whatever the machine.
        for group in optimizer.param_groups:
            group["lr"] = args.lr * 0.5 * (1 + math.cos(math.pi * elapsed / budget))
        low, high = sampler.batch(args.batch)
        loss = F.l1_loss(model(low), high)
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()
        step += 1
        if step % 500 == 0:
            model_db, bicubic_db = evaluate(model, crops)
            log.info("step %d  %.0fs  loss %.4f  val PSNR %.2f dB (bicubic %.2f, %+.2f)",
                     step, elapsed, loss.item(), model_db, bicubic_db, model_db - bicubic_db)
            if model_db > best[0]:
                best = (model_db, {k: v.clone() for k, v in model.state_dict().items()})

    model_db, bicubic_db = evaluate(model, crops)
    if best[1] is not None and best[0] > model_db:
        model.load_state_dict(best[1])
        model_db, bicubic_db = evaluate(model, crops)
    log.info("done: %d steps, val PSNR %.2f dB, bicubic %.2f dB", step, model_db, bicubic_db)

    name = f"compact-x{SCALE}"
    args.out.mkdir(parents=True, exist_ok=True)
    torch.save(model.state_dict(), args.out / f"{name}.pth")
    export_onnx(model, args.out / f"{name}.onnx")
    write_manifest_entry(args.out, {
        "name": name,
        "file": f"{name}.onnx",
        "task": "super-resolution",
        "architecture": "SRVGGNetCompact (Real-ESRGAN Compact)",
        "hyperparameters": {"num_feat": args.num_feat, "num_conv": args.num_conv},
        "scale": SCALE,
        "channels": 3,
        "halo": receptive_radius(args.num_conv),
        "size_multiple": 1,
        "precisions": ["fp32"],
        "parameters": sum(p.numel() for p in model.parameters()),
        "sha256": sha256_of(args.out / f"{name}.onnx"),
        "training": {
            "recipe": "burnish/export/train_default.py",
            "data": [p.name for p in paths],
            "holdout": list(HOLDOUT),
            "degradation": "antialiased bicubic x4 (Pillow BICUBIC resize); photos over 4 MP "
                           "first reduced by 2 with Lanczos",
            "steps": earlier.get("steps", 0) + step, "batch": args.batch, "patch": args.patch,
            "minutes": earlier.get("minutes", 0) + args.minutes,
            "cycles": earlier.get("cycles", 0) + 1,
            "seed": args.seed, "torch": torch.__version__,
        },
        "quality": {"holdout_crops_psnr_rgb": round(model_db, 3),
                    "holdout_crops_bicubic_psnr_rgb": round(bicubic_db, 3)},
    })


if __name__ == "__main__":
    main()
