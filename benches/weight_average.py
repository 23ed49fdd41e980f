"""Uniform weight averages ("model soups") of Compact networks warm-started from one model.

    python benches/weight_average.py --scale 2 --num-feat 16 --num-conv 13 \\
        burnish/models/default/compact-x2.pth runs/A/out/compact-x2.pth ... [--export DIR]

Runs that start from the same weights and move little stay in one basin, where the average of
their weights can score above each of them. This scores every model and every average of two
or more of them on the held-out crops ``train_sr.py`` validates on (never Set14), and with
``--export`` writes the averages of the first model with each other one, and of all of them,
as ONNX for ``benches/quality.py --models``. Needs the ``export`` extra (PyTorch); skips
cleanly when the photos folder is absent.
"""

from __future__ import annotations

import argparse
import itertools
import sys
from pathlib import Path


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("models", nargs="+", type=Path, help="plain Compact state dicts (.pth)")
    parser.add_argument("--scale", type=int, choices=(2, 4), default=4)
    parser.add_argument("--num-feat", type=int, default=32)
    parser.add_argument("--num-conv", type=int, default=12)
    parser.add_argument("--photos", type=Path,
                        default=Path(__file__).parents[1] / ".." / "shared" / "data" / "photos")
    parser.add_argument("--export", type=Path, help="folder for the averages as ONNX")
    args = parser.parse_args()
    if not args.photos.is_dir():
        print(f"skipped: {args.photos} is absent")
        return 0
    import torch

    from burnish.export.compact import SRVGGNetCompact
    from burnish.export.train_default import evaluate, export_onnx, validation_crops

    crops = validation_crops(args.photos, scale=args.scale)
    states = [torch.load(path, weights_only=True, map_location="cpu") for path in args.models]

    def network(state: dict) -> torch.nn.Module:
        model = SRVGGNetCompact(num_feat=args.num_feat, num_conv=args.num_conv,
                                upscale=args.scale)
        model.load_state_dict(state)
        return model.eval()

    print(f"x{args.scale}, held-out crops, PSNR RGB (over bicubic)")
    for number, (path, state) in enumerate(zip(args.models, states)):
        model_db, bicubic_db = evaluate(network(state), crops, args.scale)
        print(f"  {number}: {path}  {model_db:.3f} dB ({model_db - bicubic_db:+.3f})")
    if args.export:
        args.export.mkdir(parents=True, exist_ok=True)
    for size in range(2, len(states) + 1):
        for members in itertools.combinations(range(len(states)), size):
            average = {key: sum(states[i][key].float() for i in members) / size
                       for key in states[0]}
            model = network(average)
            model_db, bicubic_db = evaluate(model, crops, args.scale)
            label = "+".join(map(str, members))
            print(f"  average {label}  {model_db:.3f} dB ({model_db - bicubic_db:+.3f})")
            if args.export and (size == len(states) or (size == 2 and members[0] == 0)):
                export_onnx(model, args.export / f"average-x{args.scale}-{label}.onnx")
    return 0


if __name__ == "__main__":
    sys.exit(main())
