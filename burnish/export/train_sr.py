"""Training recipe of re-parameterised Compact super-resolution models, x2 or x4, resumable.

Run it from the repository root with the ``export`` extra installed::

    python -m burnish.export.train_sr --scale 2 --steps 200000 --work runs/sr-x2 --minutes 60
    python -m burnish.export.train_sr --scale 2 --steps 200000 --work runs/sr-x2 --resume
    python -m burnish.export.train_sr --scale 2 --work runs/sr-x2 --resume --export-only \\
        --name compact-x2 --out burnish/models/default

What differs from :mod:`burnish.export.train_default` (the recipe of the shipped
``compact-x4``), following the efficient-SR literature:

- **Architecture**: :class:`~burnish.export.rep_compact.RepCompact`, trained with 3x3 + 1x1 +
  identity branches and exported merged into a plain ``SRVGGNetCompact`` (structural
  re-parameterisation): the capacity of the branches in training, the cost of the shipped
  network at inference.
- **Schedule by steps, not by the clock**: a warm-up, then cosine decay over ``--steps``, so a
  run stopped by ``--minutes`` and resumed (``--resume``, on this machine or a GPU) follows the
  schedule it would have followed in one go. The checkpoint (``--work/checkpoint.pt``) holds
  the model, the optimiser, the step, the time spent, the machines, the best validation
  state and the random states, written whole or not at all. On a machine of unknown speed
  (a GPU lent for minutes) ``--fit-minutes`` sets ``--steps`` from the rate of the first
  steps, so that the decay ends when the time does.
- **Loss**: L1 for the first ``1 - --l2-share`` of the steps, then L2 (fine-tuning towards
  PSNR, as NAPS and RLFN do).
- **Activation**: PReLU, as Real-ESRGAN's Compact, or with ``--relu-by STEP`` ReLU: the
  slopes are scaled down after each step until they are 0 at ``STEP``, a continuous path
  from a PReLU network (a warm start from a shipped one, say) to a ReLU one. The export
  writes zero-slope PReLUs as ReLU, which ONNX Runtime fuses into the convolutions (fp32
  and int8): on 2 cores a ReLU Compact runs in about 0.6 of a PReLU one's time, so the same
  budget buys a deeper network.
- **Weight averaging**: with ``--ema DECAY`` (Real-ESRGAN trains with 0.999) the network
  scored, kept as the best and exported is an exponential moving average of the trained
  one's weights (:class:`torch.optim.swa_utils.AveragedModel`): the noise of the last steps
  averages out instead of deciding which checkpoint wins. The slope fade applies to it too,
  so it is a ReLU network from ``--relu-by`` on, as the trained one is. Off by default: in
  a warm restart on the CPU (x2, 12 000 steps, the same seed both ways) it ended where the
  trained weights did, within 0.01 dB (BENCHMARKS.md); a cosine schedule that ends near 0
  already averages the last steps.
- **Patches**: with ``--informative-share`` below 1, only from the positions where bicubic
  interpolation errs most (:class:`~burnish.export.train_default.PatchSampler`), so the
  steps go to detail instead of sky.
- **Device**: ``--device cuda`` trains on a GPU (bf16 autocast with ``--amp``); the data
  pipeline (random patches of pre-degraded photos, flips and rotations) stays on the CPU and
  hands over uint8, converted to float on the device.

Data as the default recipe: the shared photos minus :data:`~burnish.export.data.HOLDOUT`, plus
scikit-image's photos; each target degraded by antialiased bicubic by ``--scale``. Never Set14
or the other standard test sets. Validation: centre crops of the held-out photos.
"""

from __future__ import annotations

import argparse
import logging
import math
import platform
import time
from pathlib import Path

import torch
from torch.nn import functional as F
from torch.optim.swa_utils import AveragedModel, get_ema_multi_avg_fn

from burnish.export.compact import receptive_radius
from burnish.export.data import HOLDOUT, degrade, load_target, training_paths
from burnish.export.rep_compact import RepCompact, merged, warm_started
from burnish.export.train_default import (
    PatchSampler,
    evaluate,
    export_onnx,
    sha256_of,
    validation_crops,
    write_manifest_entry,
)

log = logging.getLogger("burnish.train")

WARMUP_STEPS = 1000
# --fit-minutes times this many steps (after the first few, which compile and warm caches) to
# size the schedule; short enough to be a sliver of a GPU run.
FIT_STEPS = 200
FIT_SKIPPED_STEPS = 20


def learning_rate(step: int, total: int, peak: float) -> float:
    """Linear warm-up over :data:`WARMUP_STEPS`, then cosine decay to 0 at ``total``."""
    if step < WARMUP_STEPS:
        return peak * (step + 1) / WARMUP_STEPS
    progress = min(1.0, (step - WARMUP_STEPS) / max(1, total - WARMUP_STEPS))
    return peak * 0.5 * (1 + math.cos(math.pi * progress))


def fitted_steps(step: int, steps_per_second: float, seconds_left: float) -> int:
    """The schedule's length that ends ``seconds_left`` from now at this rate, keeping 5% for
    the scores and checkpoints on the way; at least the warm-up and the steps done."""
    return max(step + 1, WARMUP_STEPS, step + int(0.95 * steps_per_second * seconds_left))


def loss_at(step: int, total: int, l2_share: float, out: torch.Tensor,
            target: torch.Tensor) -> torch.Tensor:
    if step >= total * (1 - l2_share):
        return F.mse_loss(out, target)
    return F.l1_loss(out, target)


@torch.no_grad()
def fade_slopes(model: torch.nn.Module, step: int, relu_by: int) -> None:
    """After optimiser step ``step`` (counted from 1): scale every PReLU slope so that the
    slopes shrink linearly with what training leaves them, to exactly 0 from ``relu_by`` on
    (nothing when ``relu_by`` is 0)."""
    if relu_by <= 0:
        return
    keep = 0.0 if step >= relu_by else (relu_by - step) / (relu_by - step + 1)
    for layer in model.modules():
        if isinstance(layer, torch.nn.PReLU):
            layer.weight.mul_(keep)


def machine(device: torch.device, threads: int) -> str:
    """What trained it, for the manifest: the GPU's name, or the CPU's and the threads used."""
    if device.type == "cuda":  # unnamed where an old checkpoint from a GPU is read without one
        return torch.cuda.get_device_name(device) if torch.cuda.is_available() else "a CUDA GPU"
    cpuinfo = Path("/proc/cpuinfo")
    names = [line.split(":", 1)[1].strip() for line in
             (cpuinfo.read_text().splitlines() if cpuinfo.exists() else [])
             if line.startswith("model name")]
    cpu = names[0] if names else platform.machine()
    return f"{cpu} CPU, {threads} thread{'' if threads == 1 else 's'}"


def parse(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--photos", type=Path, default=Path("../shared/data/photos"),
                        help="the shared photos (their held-out ones validate)")
    parser.add_argument("--more-photos", type=Path, action="append", default=[],
                        help="another folder of training images, JPEG, PNG or WebP "
                             "(repeatable)")
    parser.add_argument("--init", type=Path, default=None,
                        help="start from a trained plain Compact's state dict (.pth), as "
                             "deep or shallower (burnish.export.rep_compact.warm_started)")
    parser.add_argument("--scale", type=int, choices=(2, 4), default=4)
    parser.add_argument("--num-feat", type=int, default=32)
    parser.add_argument("--num-conv", type=int, default=8)
    parser.add_argument("--patch", type=int, default=48, help="low-resolution patch side")
    parser.add_argument("--informative-share", type=float, default=1.0,
                        help="draw patches only from this share of positions, those bicubic "
                             "misses most (SamplingAug; 1: anywhere)")
    parser.add_argument("--batch", type=int, default=16)
    parser.add_argument("--lr", type=float, default=1e-3)
    parser.add_argument("--steps", type=int, default=100_000, help="the whole schedule")
    parser.add_argument("--relu-by", type=int, default=0,
                        help="fade the PReLU slopes to 0 by this step: a ReLU network "
                             "(0: keep PReLU)")
    parser.add_argument("--ema", type=float, default=0.0,
                        help="score and export a moving average of the weights with this "
                             "decay per step (0.999, say; 0: the weights themselves)")
    parser.add_argument("--l2-share", type=float, default=0.2,
                        help="the last share of the steps trained with L2")
    parser.add_argument("--minutes", type=float, default=None,
                        help="stop this run after this long (checkpointed; --resume goes on)")
    parser.add_argument("--fit-minutes", type=float, default=None,
                        help="size the schedule (--steps) to end after this many minutes, "
                             "from the rate of the first steps (a machine of unknown speed)")
    parser.add_argument("--work", type=Path, default=Path("runs/sr"))
    parser.add_argument("--resume", action="store_true")
    parser.add_argument("--export-only", action="store_true",
                        help="export the checkpoint's best state, train nothing")
    parser.add_argument("--every", type=int, default=500, help="steps between checkpoints")
    parser.add_argument("--validate", type=int, default=1000, help="steps between scores")
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--amp", action="store_true", help="bf16 autocast (GPU)")
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--name", default=None, help="model name (default compact-xSCALE)")
    parser.add_argument("--out", type=Path, default=None,
                        help="where the ONNX and manifest entry go (default --work/out)")
    args = parser.parse_args(argv)
    if args.export_only and not args.resume:
        parser.error("--export-only exports a checkpoint: add --resume")
    if not 0.0 <= args.ema < 1.0:
        parser.error(f"--ema {args.ema}: a decay in [0, 1)")
    if args.fit_minutes is not None and (args.resume or args.fit_minutes <= 0):
        parser.error("--fit-minutes sizes a new schedule: a positive number, without --resume")
    return args


def main(argv: list[str] | None = None) -> None:
    args = parse(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(message)s")
    torch.manual_seed(args.seed)
    torch.set_num_threads(args.threads)
    device = torch.device(args.device)
    torch.backends.cudnn.benchmark = True  # the patches are all one size: time the algorithms once
    checkpoint_path = args.work / "checkpoint.pt"
    saved = torch.load(checkpoint_path, weights_only=False) if args.resume else None
    if saved is not None:  # the architecture is the checkpoint's, whatever the flags say
        for key in ("scale", "num_feat", "num_conv", "steps", "l2_share", "lr", "batch",
                    "patch"):
            setattr(args, key, saved["args"][key])
        # checkpoints older than the fade and the informative patches
        args.relu_by = saved["args"].get("relu_by", 0)
        args.informative_share = saved["args"].get("informative_share", 1.0)
        args.ema = saved["args"].get("ema", 0.0)
        # the data and the start too, unless the flags name other folders
        args.more_photos = args.more_photos or [Path(p) for p in saved["args"]["more_photos"]]
        args.init = Path(saved["args"]["init"]) if saved["args"]["init"] else None

    paths = training_paths(args.photos, args.more_photos)
    if not paths:
        raise SystemExit(f"no training photos in {args.photos}")
    crops = validation_crops(args.photos, scale=args.scale)
    model = RepCompact(num_feat=args.num_feat, num_conv=args.num_conv,
                       upscale=args.scale).to(device)
    optimizer = torch.optim.AdamW(model.parameters(), lr=args.lr, betas=(0.9, 0.99),
                                  weight_decay=0.0)
    step, spent, best = 0, 0.0, {"psnr": -1.0, "state": None, "step": 0}
    machines: list[str] = []  # what trained it, each machine once, in order
    sampler = None
    if args.init is not None and saved is None:
        warm_started(model, torch.load(args.init, weights_only=True, map_location=device))
    # the network scored and exported: the weights' moving average (a copy of the network as
    # it starts, warm-started or not), or the weights
    average = (AveragedModel(model, multi_avg_fn=get_ema_multi_avg_fn(args.ema),
                             use_buffers=True) if args.ema else None)
    scored = average.module if average is not None else model
    if not args.export_only:
        pairs = []
        for path in paths:
            target = load_target(path)
            pairs.append((degrade(target, args.scale), target))
        sampler = PatchSampler(pairs, args.patch, args.seed, scale=args.scale,
                               informative_share=args.informative_share)
        log.info("x%d on %d images, %.1f MP of targets; %d steps", args.scale, len(pairs),
                 sum(t.shape[0] * t.shape[1] for _, t in pairs) / 1e6, args.steps)
    if saved is not None:
        model.load_state_dict(saved["model"])
        optimizer.load_state_dict(saved["optimizer"])
        if average is not None:
            average.load_state_dict(saved["average"])
        step, spent, best = saved["step"], saved["seconds"], saved["best"]
        # a checkpoint older than this record names the machine its own flags described
        machines = saved.get("machines") or [
            machine(torch.device(saved["args"]["device"]), saved["args"]["threads"])]
        torch.set_rng_state(saved["torch_rng"])
        if sampler is not None:
            sampler.rng.bit_generator.state = saved["numpy_rng"]
        log.info("resumed at step %d, %.0f s spent", step, spent)
    args.work.mkdir(parents=True, exist_ok=True)
    if not args.export_only and machine(device, args.threads) not in machines:
        machines.append(machine(device, args.threads))

    def save() -> None:
        partial = checkpoint_path.with_suffix(".partial")
        torch.save({"model": model.state_dict(), "optimizer": optimizer.state_dict(),
                    "average": average.state_dict() if average is not None else None,
                    "step": step, "seconds": spent, "best": best,
                    "args": {**{k: v for k, v in vars(args).items()
                                if not isinstance(v, (Path, list))},
                             "more_photos": [str(p) for p in args.more_photos],
                             "init": str(args.init) if args.init else None},
                    "machines": machines,
                    "numpy_rng": sampler.rng.bit_generator.state if sampler else None,
                    "torch_rng": torch.get_rng_state()}, partial)
        partial.replace(checkpoint_path)

    def score() -> None:
        model_db, bicubic_db = evaluate(scored, crops, args.scale)
        log.info("step %d  %.0fs  val PSNR %.2f dB (bicubic %.2f, %+.2f)", step, spent,
                 model_db, bicubic_db, model_db - bicubic_db)
        if model_db > best["psnr"] and step >= args.relu_by:  # the best of the ReLU network
            best.update(psnr=model_db, step=step,
                        state={k: v.detach().cpu().clone() for k, v in scored.state_dict().items()})

    started = time.monotonic() - spent
    minutes = args.minutes
    if args.fit_minutes is not None and minutes is None:  # a stop in case the rate drops
        minutes = args.fit_minutes * 1.2
    stop_at = None if minutes is None else time.monotonic() + minutes * 60
    fit_from = None
    model.train()
    while (not args.export_only and step < args.steps
           and (stop_at is None or time.monotonic() < stop_at)):
        for group in optimizer.param_groups:
            group["lr"] = learning_rate(step, args.steps, args.lr)
        low, high = (t.to(device, non_blocking=True).float().div_(255.0)
                     for t in sampler.batch_bytes(args.batch))
        with torch.autocast(device.type, dtype=torch.bfloat16, enabled=args.amp):
            out = model(low)
        loss = loss_at(step, args.steps, args.l2_share, out.float(), high)
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()
        step += 1
        fade_slopes(model, step, args.relu_by)
        if average is not None:
            average.update_parameters(model)
            fade_slopes(average.module, step, args.relu_by)  # its slopes lag the model's
        spent = time.monotonic() - started
        if args.fit_minutes is not None:
            if step == FIT_SKIPPED_STEPS:
                fit_from = spent
            elif step == FIT_SKIPPED_STEPS + FIT_STEPS:
                args.steps = fitted_steps(step, FIT_STEPS / (spent - fit_from),
                                          args.fit_minutes * 60 - spent)
                log.info("schedule fitted to %.1f minutes: %d steps", args.fit_minutes,
                         args.steps)
        if step % 100 == 0:
            log.info("step %d  %.0fs  loss %.5f  lr %.2e", step, spent, loss.item(),
                     optimizer.param_groups[0]["lr"])
        if step % args.validate == 0 and crops:
            score()
        if step % args.every == 0:
            save()
    if not args.export_only:
        if crops and step % args.validate:
            score()
        save()
        if step < args.steps:
            log.info("stopped at step %d of %d: --resume goes on", step, args.steps)
            return

    if best["state"] is not None:
        scored.load_state_dict(best["state"])
    plain = merged(scored.cpu())
    relu = all(not layer.weight.any() for layer in plain.body
               if isinstance(layer, torch.nn.PReLU))
    model_db, bicubic_db = evaluate(plain, crops, args.scale) if crops else (float("nan"),) * 2
    name = args.name or f"compact-x{args.scale}"
    out = args.out or args.work / "out"
    out.mkdir(parents=True, exist_ok=True)
    torch.save(plain.state_dict(), out / f"{name}.pth")
    export_onnx(plain, out / f"{name}.onnx")
    write_manifest_entry(out, {
        "name": name, "file": f"{name}.onnx", "task": "super-resolution",
        "architecture": "SRVGGNetCompact (Real-ESRGAN Compact), trained re-parameterised"
                        + (", ReLU" if relu else ""),
        "hyperparameters": {"num_feat": args.num_feat, "num_conv": args.num_conv,
                            "activation": "relu" if relu else "prelu"},
        "scale": args.scale, "channels": 3, "halo": receptive_radius(args.num_conv),
        "size_multiple": 1, "precisions": ["fp32"],
        "parameters": sum(p.numel() for p in plain.parameters()),
        "sha256": sha256_of(out / f"{name}.onnx"),
        "training": {
            "recipe": "burnish/export/train_sr.py", "data": [p.name for p in paths],
            "holdout": list(HOLDOUT),
            "degradation": f"antialiased bicubic x{args.scale} (Pillow BICUBIC resize); "
                           "photos over 4 MP first reduced by 2 with Lanczos",
            "steps": step, "schedule_steps": args.steps, "best_step": best["step"],
            "batch": args.batch, "patch": args.patch, "lr": args.lr,
            "patches_from": "anywhere" if args.informative_share == 1 else
                            f"the {args.informative_share:.0%} of positions with the largest "
                            "bicubic error (SamplingAug)",
            "started_from": args.init.name if args.init else None,
            "relu_by": args.relu_by or None,
            "loss": f"L1, then L2 for the last {args.l2_share:.0%}",
            "weights": f"moving average, decay {args.ema} per step" if args.ema else "as trained",
            "minutes": round(spent / 60, 1),
            "machine": ", then ".join(machines) or machine(device, args.threads),
            "seed": args.seed, "torch": torch.__version__,
        },
        "quality": {"holdout_crops_psnr_rgb": round(model_db, 3),
                    "holdout_crops_bicubic_psnr_rgb": round(bicubic_db, 3)},
    })
    log.info("exported %s: val PSNR %.2f dB (bicubic %.2f)", out / f"{name}.onnx", model_db,
             bicubic_db)


if __name__ == "__main__":
    main()
