"""What a Compact's activation costs in ONNX Runtime on the CPU: PReLU against ReLU, fp32
and int8, in one run.

    python3 benches/activation_cost.py [--model compact-x4] [--side 276] [--rounds 15]

The shipped model's state dict is exported twice by the training recipe's export
(``burnish.export.train_default.export_onnx``): with every PReLU slope set to 0.25 (PyTorch's
initial slope), which stays PReLU, and with every slope 0, which goes out as ReLU (the
weights are otherwise the same, so only the times mean anything: this measures the graphs,
not two trained networks). Each is also quantized to int8 (QDQ, reduced range, calibrated on
random tiles: again for the times only). Bare ONNX Runtime sessions, 2 threads, one tile of
``--side`` pixels (a 256-pixel tile with its halo), the sessions called in turn so that load
on the machine falls on all of them alike; minimum and median over ``--rounds``. Then
ONNX Runtime's profiler gives each operator's share of one session's time.

Why: ONNX Runtime fuses Conv + ReLU into one kernel, while a PReLU (a slope per channel) is
a pass of its own over the activations, in float even inside an int8 graph.
"""

from __future__ import annotations

import argparse
import collections
import json
import statistics
import sys
import tempfile
import time
from pathlib import Path

import numpy as np


def export_with_slopes(model: str, slope: float, target: Path) -> None:
    """The shipped ``model``'s network with every PReLU slope ``slope``, as ONNX."""
    import torch

    from burnish.export.compact import SRVGGNetCompact
    from burnish.export.train_default import export_onnx
    from burnish.models.registry import shipped_models

    descriptor = shipped_models()[model]
    hyper = descriptor.extra["hyperparameters"]
    network = SRVGGNetCompact(num_feat=hyper["num_feat"], num_conv=hyper["num_conv"],
                              upscale=descriptor.scale)
    network.load_state_dict(torch.load(Path(descriptor.source).with_suffix(".pth"),
                                       weights_only=True))
    with torch.no_grad():
        for layer in network.body:
            if isinstance(layer, torch.nn.PReLU):
                layer.weight.fill_(slope)
    export_onnx(network, target)


def session(path: Path, profile_prefix: Path | None = None):
    import onnxruntime

    options = onnxruntime.SessionOptions()
    options.intra_op_num_threads = 2
    if profile_prefix is not None:
        options.enable_profiling = True
        options.profile_file_prefix = str(profile_prefix)
    options.log_severity_level = 3
    return onnxruntime.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])


def operator_shares(path: Path, feed: dict, work: Path) -> dict[str, float]:
    profiled = session(path, profile_prefix=work / f"profile-{path.stem}")  # not beside it
    for _ in range(3):
        profiled.run(None, feed)
    events = json.loads(Path(profiled.end_profiling()).read_text())
    times = collections.Counter()
    for event in events:
        if event.get("cat") == "Node" and event["name"].endswith("_kernel_time"):
            times[event["args"]["op_name"]] += event["dur"]
    total = sum(times.values())
    return {op: value / total for op, value in times.most_common()}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", default="compact-x4")
    parser.add_argument("--side", type=int, default=276)
    parser.add_argument("--rounds", type=int, default=15)
    args = parser.parse_args()
    from PIL import Image

    from burnish.export.quantize import quantize_int8

    rng = np.random.default_rng(0)
    with tempfile.TemporaryDirectory() as work:
        work = Path(work)
        (work / "calibration").mkdir()
        for number in range(4):
            Image.fromarray(rng.integers(0, 256, (160, 160, 3), dtype=np.uint8)).save(
                work / "calibration" / f"{number}.png")
        models = {}
        for name, slope in (("PReLU", 0.25), ("ReLU", 0.0)):
            models[f"{name} fp32"] = work / f"{name}.onnx"
            export_with_slopes(args.model, slope, models[f"{name} fp32"])
        for name in ("PReLU", "ReLU"):
            models[f"{name} int8"] = work / f"{name}-int8.onnx"
            quantize_int8(models[f"{name} fp32"], models[f"{name} int8"], work / "calibration",
                          reduce_range=True)
        feed_image = rng.random((1, 3, args.side, args.side), dtype=np.float32)
        sessions = {name: session(path) for name, path in models.items()}
        feeds = {name: {s.get_inputs()[0].name: feed_image} for name, s in sessions.items()}
        times = {name: [] for name in sessions}
        for name, s in sessions.items():
            s.run(None, feeds[name])
        for _ in range(args.rounds):
            for name, s in sessions.items():
                started = time.perf_counter()
                s.run(None, feeds[name])
                times[name].append(time.perf_counter() - started)
        base = min(times["PReLU fp32"])
        print(f"{args.model}, one {args.side} x {args.side} tile, 2 threads, "
              f"{args.rounds} rounds\n")
        print("| graph | min s | median s | speed vs PReLU fp32 | largest operator shares |")
        print("| --- | --- | --- | --- | --- |")
        for name, path in models.items():
            shares = operator_shares(path, feeds[name], work)
            top = ", ".join(f"{op} {share:.0%}" for op, share in list(shares.items())[:3])
            print(f"| {name} | {min(times[name]):.4f} | {statistics.median(times[name]):.4f} "
                  f"| {base / min(times[name]):.2f}x | {top} |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
